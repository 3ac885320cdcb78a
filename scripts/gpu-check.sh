#!/usr/bin/env bash
# The GPU path, checked on a machine with a GPU: CUDA (an NVIDIA GPU, its driver, and NVRTC from the
# CUDA toolkit), or wgpu (any GPU with Vulkan, Metal or DirectX 12; or Mesa's lavapipe, a Vulkan
# driver that runs on the CPU: README.md, "GPU training").
#
#   bash scripts/gpu-check.sh [STEPS [MODEL]]     (default: 20 training steps of every network, CUDA)
#   XCLUSTER_GPU=wgpu bash scripts/gpu-check.sh …  (burn's wgpu backend instead of CUDA)
#   XCLUSTER_BIN=path/to/xcluster bash scripts/gpu-check.sh …   (a binary built with that feature)
#   XCLUSTER_BATCH=2 bash scripts/gpu-check.sh …   (patches per step, default 20: smaller is quicker on a slow device)
#
# Without XCLUSTER_BIN it builds xcluster with `--features cuda` (scripts/build-cuda.sh, which needs
# GitHub for an LLVM bundle; where GitHub cannot be reached, or the GPU machine has no Rust:
# XCLUSTER_BIN="$(bash scripts/build-cuda.sh --without-llvm)" bash scripts/gpu-check.sh), or with
# `--features wgpu`. Then it trains every network (or MODEL) for STEPS Adam steps on the same random
# batch, once on the CPU and once on the GPU, from the same weights (drawn on the CPU from seed 1 and
# moved to the device), and prints both tables (ms per step, images/s, losses), the GPU's speed over
# the CPU's, and, on CUDA, PyTorch's U-Net on the same GPU where python3 has a PyTorch with CUDA
# (benches/peer.py).
#
# It fails unless, for every network, the untrained network's loss in inference mode agrees within
# 1 % on both devices, and training lowered the loss on the GPU. 1 %, not float rounding's 1e-6:
# burn's CUDA backend may run f32 matrix products on tensor cores as TF32 (11-bit significands). The
# one CUDA run so far (an H200) compared different weights: burn drew them lazily on the GPU, unseeded,
# so the losses differed by 0.03-2.3 % and moved between runs; the benchmark now draws them before the
# move (README.md, "GPU training"), checked since on wgpu (lavapipe), not yet on CUDA. The training
# losses themselves are printed, not compared: dropout draws its masks on the device, so the two runs drift.
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-20}"
batch="${XCLUSTER_BATCH:-20}"
models=()
[ -n "${2:-}" ] && models=(--model "$2")
gpu="${XCLUSTER_GPU:-cuda}"
case "$gpu" in
  cuda)
    command -v nvidia-smi >/dev/null || { echo "gpu-check: nvidia-smi not found: this needs an NVIDIA GPU and its driver (or XCLUSTER_GPU=wgpu)" >&2; exit 1; }
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    build() { bash scripts/build-cuda.sh; } ;;
  wgpu)
    # wgpu chooses the adapter (CUBECL_WGPU_DEFAULT_DEVICE=Cpu picks lavapipe); vulkaninfo says what is there.
    command -v vulkaninfo >/dev/null && vulkaninfo --summary 2>/dev/null | grep -E "deviceName|driverInfo" || true
    build() { cargo build --locked --release --features wgpu --bin xcluster >&2 && echo target/release/xcluster; } ;;
  *) echo "gpu-check: XCLUSTER_GPU=$gpu: use cuda or wgpu" >&2; exit 2 ;;
esac
bin="${XCLUSTER_BIN:-}"
[ -n "$bin" ] || bin="$(build)"
[ -x "$bin" ] || { echo "gpu-check: $bin is not an executable xcluster binary" >&2; exit 1; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for device in cpu "$gpu"; do
  echo "== $device"
  "$bin" bench train --steps "$steps" --batch "$batch" "${models[@]}" --device "$device" | tee "$out/$device.txt"
done
# PyTorch's U-Net on the same GPU, where python3 has a PyTorch that sees it (the peer of `bench train`).
if [ "$gpu" != cuda ] || [ "${2:-unet}" != unet ]; then
  : >"$out/torch.jsonl"
elif python3 -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
  echo "== PyTorch $(python3 -c 'import torch; print(torch.__version__)') on cuda"
  python3 benches/peer.py train-torch --model unet --steps "$steps" --batch "$batch" --device cuda | tee "$out/torch.jsonl"
else
  echo "== no PyTorch with CUDA in python3: no peer on the GPU"
  : >"$out/torch.jsonl"
fi
python3 - "$out/cpu.txt" "$out/$gpu.txt" "$out/torch.jsonl" "$gpu" <<'PY'
import json, sys

def table(path):
    """The Markdown table `bench train` prints, as {model: {column: cell}}."""
    lines = [l for l in open(path) if l.startswith("|")]
    header = [c.strip() for c in lines[0].strip().strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0]] = dict(zip(header, cells))
    return rows

cpu, gpu, name = table(sys.argv[1]), table(sys.argv[2]), sys.argv[4]
ok = True
print(f"| model | untrained loss cpu | {name} | rel. diff | first → last loss cpu | {name} | step ms cpu | {name} | speed-up | inference speed-up |")
print("|---|---:|---:|---:|---|---|---:|---:|---:|---:|")
for model, c in cpu.items():
    g = gpu[model]
    f = lambda row, col: float(row[col])
    uc, ug = f(c, "untrained_loss"), f(g, "untrained_loss")
    rel = abs(uc - ug) / abs(uc)
    learned = f(g, "last_loss") < f(g, "first_loss")
    ok &= rel <= 1e-2 and learned
    # `bench train` prints losses to 4 decimals, each rounded: equal ones differ by less than 1e-4.
    diff = f"{rel:.1e}" if rel else f"< {1e-4 / uc:.1e}"
    print(f"| {model} | {uc:.4f} | {ug:.4f} | {diff} | {f(c, 'first_loss'):.4f} → {f(c, 'last_loss'):.4f} "
          f"| {f(g, 'first_loss'):.4f} → {f(g, 'last_loss'):.4f} | {f(c, 'ms_per_step'):.1f} | {f(g, 'ms_per_step'):.1f} "
          f"| {f(c, 'ms_per_step') / f(g, 'ms_per_step'):.2f} "
          f"| {f(c, 'ms_per_inference_batch') / f(g, 'ms_per_inference_batch'):.2f} |")
torch = {row["pass"]: row["ms"] for row in map(json.loads, open(sys.argv[3]))}
if "unet" in gpu and torch:
    ours, infer = float(gpu["unet"]["ms_per_step"]), float(gpu["unet"]["ms_per_inference_batch"])
    print(f"unet on the GPU: train step {ours:.1f} ms against PyTorch's {torch['train step']:.1f} "
          f"({ours / torch['train step']:.2f}×), inference {infer:.1f} ms against {torch['inference']:.1f} "
          f"({infer / torch['inference']:.2f}×)")
print("gpu-check:", "passed" if ok else "FAILED (untrained losses differ by more than 1 %, or the GPU's training did not lower the loss)")
sys.exit(0 if ok else 1)
PY
