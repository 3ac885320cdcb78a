#!/usr/bin/env bash
# The CUDA path, checked on a machine with an NVIDIA GPU (driver, CUDA toolkit with NVRTC) and
# internet access (burn's CUDA backend downloads an LLVM bundle while it builds; see README.md).
#
#   bash scripts/gpu-check.sh [STEPS]     (default 20 training steps)
#
# Builds xcluster with `--features cuda`, then trains the original U-Net for STEPS Adam steps on the
# same random batch, once on the CPU and once on the GPU, from the same weights (drawn on the CPU from
# seed 1 and moved to the device): prints both tables (ms per step, images/s, first and last loss)
# and fails unless the last losses agree within 2 % (float sums run in another order on a GPU, so the
# two runs are close, not bit-equal).
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-20}"
command -v nvidia-smi >/dev/null || { echo "gpu-check: nvidia-smi not found: this needs an NVIDIA GPU and its driver" >&2; exit 1; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
cargo build --locked --release --features cuda --bin xcluster
bin=target/release/xcluster
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for device in cpu cuda; do
  echo "== $device"
  "$bin" bench train --model unet --steps "$steps" --device "$device" | tee "$out/$device.txt"
done
# The last loss is the last cell of the unet row of the Markdown table.
last() { grep '^| unet |' "$out/$1.txt" | awk -F'|' '{gsub(/ /, "", $(NF-1)); print $(NF-1)}'; }
cpu="$(last cpu)" gpu="$(last cuda)"
python3 - "$cpu" "$gpu" <<'PY'
import sys
cpu, gpu = map(float, sys.argv[1:])
rel = abs(cpu - gpu) / abs(cpu)
print(f"last loss: cpu {cpu:.6f}, cuda {gpu:.6f}, relative difference {rel:.2e}")
sys.exit(0 if rel <= 0.02 else 1)
PY
