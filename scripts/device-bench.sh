#!/usr/bin/env bash
# Runs ON the lent GPU machine (see ../shared/device/README.md), from the repository root with
# `.gl` (the amd64 libvulkan1 .deb) and `.device` (target/release/vitfuse + torch_vit_bench.py)
# carried. Prints our image-encoder figures and PyTorch's in the same run.
#   prepare here:  cargo build --release && mkdir -p .device && cp target/release/vitfuse .device/ \
#                  && cp ../shared/device/*.py .device/
#   run there:     bash scripts/device-bench.sh
set -u
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export XDG_RUNTIME_DIR=/tmp
nvidia-smi -L
.device/vitfuse info
.device/vitfuse selfcheck | tail -3
out=${OUT:-/tmp}
for b in 1 8 64; do
  for m in vit-b16 clip-b32; do .device/vitfuse bench model $m --batch $b --iters 10; done
done | tee "$out/ours.jsonl"
.device/vitfuse bench model vit-b16 --batch 64 --iters 3 --profile | tee "$out/split.jsonl"
for s in "197 768 768" "1576 768 3072" "12608 768 768"; do .device/vitfuse bench matmul $s --iters 20; done | tee "$out/matmul.jsonl"
python3 .device/torch_vit_bench.py --device cuda --batch 1,8,64 --dtype float32 --models vit-b16,clip-b32 | tee "$out/torch.jsonl"
