#!/usr/bin/env bash
# The main job, as README.md gives it: `xcluster run` (the whole pipeline on the embedded synthetic
# sky, no downloads) built in the one shared build that also serves the tests and the notebooks
# (scripts/cargo-shared), so a fresh machine compiles polars and burn once, whichever it runs first.
#
#   bash scripts/run.sh                      # xcluster run with the default params
#   bash scripts/run.sh --params my.toml run # any xcluster command line
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(run)
exec "$here/cargo-shared" run --quiet --bin xcluster -- "${args[@]}"
