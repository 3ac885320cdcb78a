#!/usr/bin/env bash
# The test suite, as README.md gives it: install what the tests need, run `cargo test`, then
# execute every notebook headless with the "Rust (xcluster)" kernel (kernel/install.sh installs
# it and pre-builds xcluster for it). Fails on the first failing test or notebook cell.
#
#   bash scripts/test.sh            # everything
#   XCLUSTER_SKIP_NOTEBOOKS=1 bash scripts/test.sh   # cargo tests only
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
say() { printf '\n== [%dm%02ds] %s\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)) "$*"; }

# Debian's healpy-data ships the real WMAP maps that tests/fits.rs reads; python3-venv makes the
# notebook runner's virtual environment.
need=()
[ -f /usr/share/healpy/test/data/wmap_band_iqumap_r9_7yr_W_v4_udgraded32.fits ] || need+=(healpy-data)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  say "apt-get install ${need[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

# One build of the dependencies serves the tests and the notebooks: the tests build with the flags
# evcxr uses (Cargo.toml's dev profile is evcxr's; -Cprefer-dynamic; an explicit --target; foldhash
# with a fixed seed, see kernel/fixed-seed-foldhash) into the build folder of the kernel's first
# slot, which the kernel then finds compiled. The folder lives outside the clone, so later runs on
# the same machine reuse it.
patch_config="$(kernel/fixed-seed-foldhash)"
host="$(rustc -vV | sed -n 's/^host: //p')"
export CARGO_TARGET_DIR="${XCLUSTER_TEST_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xcluster/evcxr/slot-0/target}"
# The foldhash patch rewrites Cargo.lock's foldhash entries; put the committed file back afterwards.
lock_backup="$(mktemp)"
cp Cargo.lock "$lock_backup"
trap 'cp "$lock_backup" Cargo.lock; rm -f "$lock_backup"' EXIT
say "cargo test (into $CARGO_TARGET_DIR)"
RUSTFLAGS="-Cprefer-dynamic" cargo --config "$patch_config" test --target "$host"
cp "$lock_backup" Cargo.lock

if [ -n "${XCLUSTER_SKIP_NOTEBOOKS:-}" ]; then
  say "notebooks skipped (XCLUSTER_SKIP_NOTEBOOKS)"
  exit 0
fi
# The kernel's own build folders (kernel/evcxr-xcluster) persist under ~/.cache/xcluster/evcxr.
say "kernel: install evcxr_jupyter, Jupyter and the \"Rust (xcluster)\" kernel; pre-build xcluster"
env -u CARGO_TARGET_DIR -u RUSTFLAGS bash kernel/install.sh
say "notebooks"
kernel/run-notebooks --require-outputs
say "all tests and notebooks passed"
