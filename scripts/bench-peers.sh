#!/usr/bin/env bash
# Make a Python with the peers (TensorFlow/Keras as the original used them, and PyTorch) and run
# `xcluster bench train` against them in the same run:
#   bash scripts/bench-peers.sh                       # every network, Keras and PyTorch beside ours
#   bash scripts/bench-peers.sh --breakdown           # where a U-Net step goes, PyTorch beside ours
#   bash scripts/bench-peers.sh --model unet --steps 5
#   bash scripts/bench-peers.sh mmf [--quick]        # the matched filter beside numpy's (numpy only)
# The environment is made once, in ~/.cache/xcluster/peer-venv (about 2.5 GB: PyTorch's wheel from PyPI
# brings CUDA libraries it does not use here). Not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${XCLUSTER_PEER_VENV:-$HOME/.cache/xcluster/peer-venv}"
bench=train imports="tensorflow, keras_unet_collection, torch"
packages=("tensorflow-cpu==2.15.1" "keras-unet-collection==0.1.13" "torch==2.15.0" "numpy<2" pillow)
if [ "${1:-}" = mmf ]; then
    shift
    bench=mmf imports=numpy packages=("numpy<2")
fi
if ! "$venv/bin/python" -c "import $imports" 2>/dev/null; then
    echo "making the peers' environment in $venv (${packages[*]})" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "${packages[@]}"
fi
export XCLUSTER_PEER_PYTHON="$venv/bin/python"
exec bash scripts/run.sh bench "$bench" "$@"
