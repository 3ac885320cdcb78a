#!/usr/bin/env bash
# Make a Python with the peers (TensorFlow/Keras as the original used them, and PyTorch) and run
# `xcluster bench train` against them in the same run:
#   bash scripts/bench-peers.sh                       # every network, Keras and PyTorch beside ours
#   bash scripts/bench-peers.sh --breakdown           # where a U-Net step goes, PyTorch beside ours
#   bash scripts/bench-peers.sh --model unet --steps 5
# The environment is made once, in ~/.cache/xcluster/peer-venv (about 2.5 GB: PyTorch's wheel from PyPI
# brings CUDA libraries it does not use here). Not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${XCLUSTER_PEER_VENV:-$HOME/.cache/xcluster/peer-venv}"
if ! "$venv/bin/python" -c "import tensorflow, keras_unet_collection, torch" 2>/dev/null; then
    echo "making the peers' environment in $venv (tensorflow-cpu 2.15.1, keras-unet-collection 0.1.13, torch 2.15.0)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "tensorflow-cpu==2.15.1" "keras-unet-collection==0.1.13" "torch==2.15.0" "numpy<2" pillow
fi
export XCLUSTER_PEER_PYTHON="$venv/bin/python"
exec bash scripts/run.sh bench train "$@"
