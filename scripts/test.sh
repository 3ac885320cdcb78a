#!/usr/bin/env bash
# The test suite, as README.md gives it: install what the tests need, check formatting, lints and
# docs, run `cargo test`, then execute every notebook headless with the "Rust (xcluster)" kernel
# (kernel/install.sh installs it; its build reuses the tests' build). Fails on the first failure.
#
#   bash scripts/test.sh                              # everything (what CI runs)
#   XCLUSTER_SKIP_NOTEBOOKS=1 bash scripts/test.sh    # without the notebooks
#   XCLUSTER_SKIP_LINTS=1 bash scripts/test.sh        # without fmt / clippy / doc
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
say() { printf '\n== [%dm%02ds] %s\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)) "$*"; }

# Say everything that is missing before anything slow starts.
missing=()
command -v cargo >/dev/null || missing+=("cargo and rustc 1.95+ (https://rustup.rs)")
command -v cc >/dev/null || missing+=("a C compiler for cfitsio (Debian: apt-get install build-essential)")
command -v python3 >/dev/null || missing+=("python3 for the notebook runner (Debian: apt-get install python3)")
# Debian's healpy-data ships the real WMAP maps that tests/it/fits.rs reads; python3-venv makes the
# notebook runner's virtual environment. Both come from apt.
apt_need=()
[ -f /usr/share/healpy/test/data/wmap_band_iqumap_r9_7yr_W_v4_udgraded32.fits ] || apt_need+=(healpy-data)
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_need+=(python3-venv)
SUDO=""
if [ ${#apt_need[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    missing+=("Debian's packages ${apt_need[*]} (or their equivalents: healpy's WMAP test map under /usr/share/healpy, python3's venv module); apt-get is not available to install them")
  elif [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null && SUDO=sudo || missing+=("root or sudo to run apt-get install ${apt_need[*]}")
  fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  printf 'scripts/test.sh needs:\n' >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
if [ ${#apt_need[@]} -gt 0 ]; then
  say "apt-get install ${apt_need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_need[@]}"
fi

if [ -z "${XCLUSTER_SKIP_LINTS:-}" ]; then
  say "cargo fmt --check"
  cargo fmt --check
fi

# One build serves the tests, the main job and the notebooks (scripts/cargo-shared says how).
say "cargo test (the shared build, see scripts/cargo-shared)"
scripts/cargo-shared test

if [ -z "${XCLUSTER_SKIP_LINTS:-}" ]; then
  # Lints and docs only check the code (no code generation); they share one build folder beside
  # the shared build, outside the clone, so later runs reuse it.
  lint_target="${XCLUSTER_LINT_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xcluster/lint-target}"
  say "cargo clippy --all-targets -- -D warnings"
  CARGO_TARGET_DIR="$lint_target" cargo clippy --locked --all-targets --quiet -- -D warnings
  say "cargo doc (warnings are errors)"
  CARGO_TARGET_DIR="$lint_target" RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --quiet
  # The GPU code type-checks and lints (no GPU here), CUDA and wgpu in one pass. DOCS_RS=1 makes
  # cubecl-llvm's build script return before it downloads an LLVM bundle from GitHub; nothing is
  # compiled to machine code.
  say "cargo clippy --lib --features cuda,wgpu (type-check of the GPU paths)"
  DOCS_RS=1 CARGO_TARGET_DIR="$lint_target" cargo clippy --locked --lib --features cuda,wgpu --quiet -- -D warnings
fi

if [ -n "${XCLUSTER_SKIP_NOTEBOOKS:-}" ]; then
  say "notebooks skipped (XCLUSTER_SKIP_NOTEBOOKS)"
  exit 0
fi
say "kernel: install evcxr_jupyter, Jupyter and the \"Rust (xcluster)\" kernel; build xcluster for it"
bash kernel/install.sh
say "exports read by astropy and mocpy (their environment exists only now)"
( . kernel/env.sh && XCLUSTER_PYTHON="$XCLUSTER_VENV/bin/python" scripts/cargo-shared test --test it \
    query::exports_are_read_by_astropy_and_mocpy )
say "notebooks"
( . kernel/env.sh && "$XCLUSTER_VENV/bin/python" kernel/test_run_notebooks.py )
kernel/run-notebooks --require-outputs
say "all tests and notebooks passed"
