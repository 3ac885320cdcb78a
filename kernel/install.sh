#!/usr/bin/env bash
# Install the "Rust (xcluster)" Jupyter kernel and pre-build xcluster for it.
#
#   bash kernel/install.sh          # then: kernel/jupyter lab
#
# 1. evcxr_jupyter 0.22.0 (cargo install, about 12 CPU-minutes, skipped when present);
# 2. Jupyter (JupyterLab, nbclient, nbconvert) in a virtual environment, $XCLUSTER_VENV
#    (default ~/.cache/xcluster/jupyter-venv);
# 3. the kernel spec "Rust (xcluster)" in the user's Jupyter folder ($JUPYTER_DATA_DIR or
#    ~/.local/share/jupyter/kernels/xcluster), calling kernel/evcxr-xcluster;
# 4. a warm-up notebook run through that kernel: `:dep xcluster` compiles xcluster and all its
#    dependencies into the kernel's persistent build folder, so that a notebook's first
#    `:dep xcluster` cell takes seconds instead of the tens of minutes a cold build takes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
. "$here/env.sh"
venv="$XCLUSTER_VENV"
EVCXR_VERSION=0.22.0

step() { printf '\n== %s\n' "$*"; }

step "evcxr_jupyter $EVCXR_VERSION"
if command -v evcxr_jupyter >/dev/null && evcxr_jupyter --version 2>/dev/null | grep -q "$EVCXR_VERSION"; then
  echo "already installed: $(command -v evcxr_jupyter)"
else
  cargo install evcxr_jupyter --version "$EVCXR_VERSION" --locked
fi
evcxr_bin="$(command -v evcxr_jupyter || echo "${CARGO_HOME:-$HOME/.cargo}/bin/evcxr_jupyter")"
[ -x "$evcxr_bin" ] || { echo "evcxr_jupyter is not on PATH after installing it; add ~/.cargo/bin to PATH" >&2; exit 1; }

step "Jupyter in $venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || {
    echo "python3 -m venv failed: install Python 3's venv module (Debian: apt-get install python3-venv)" >&2
    exit 1
  }
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"

step "kernel spec \"Rust (xcluster)\""
kernels="${JUPYTER_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/jupyter}/kernels"
spec="$kernels/xcluster"
mkdir -p "$spec"
cat > "$spec/kernel.json.tmp" <<JSON
{
  "argv": ["$here/evcxr-xcluster", "--control_file", "{connection_file}"],
  "display_name": "Rust (xcluster)",
  "language": "rust",
  "interrupt_mode": "message",
  "env": {"EVCXR_JUPYTER": "$evcxr_bin"}
}
JSON
mv "$spec/kernel.json.tmp" "$spec/kernel.json"
echo "$spec/kernel.json"

step "pre-building xcluster for the kernel (a cold build takes tens of minutes; later runs seconds)"
"$here/run-notebooks" "$here/warmup.ipynb"

step "done"
echo "Start Jupyter with:  $here/jupyter lab   (notebooks are in $repo/notebooks)"
