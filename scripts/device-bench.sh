#!/usr/bin/env bash
# Runs ON the lent GPU machine (see ../shared/device/README.md), from the repository root with
# `.gl` (the amd64 libvulkan1 and libglvnd .debs: libvulkan1 libegl1 libglvnd0 libopengl0 libgl1
# libglx0 libgles2) and `.device` (target/release/vitfuse + torch_vit_bench.py)
# carried. Checks every kernel and the tiny fixtures on the GPU, then prints our image-encoder
# and matmul figures and PyTorch's in the same run, as JSON lines under $OUT (about 100 s of
# an H200 after a start of about a minute; benches/results/ keeps a past run).
#   prepare here:  cargo build --release && mkdir -p .device && cp target/release/vitfuse .device/ \
#                  && cp ../shared/device/*.py .device/
#   run there:     bash scripts/device-bench.sh
set -u
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
export XDG_RUNTIME_DIR=/tmp
out=${OUT:-/tmp}
bin=.device/vitfuse
fx=tests/fixtures
nvidia-smi -L
$bin info > "$out/info.txt" 2>&1; head -12 "$out/info.txt"
grep -qi nvidia "$out/info.txt" || { echo "no NVIDIA adapter"; exit 3; }
$bin selfcheck > "$out/selfcheck.txt" 2>&1; tail -1 "$out/selfcheck.txt"; grep -E "FAIL|tiled" "$out/selfcheck.txt"
for m in vit_tiny clip_tiny clip_tiny_eos siglip_tiny vilt_tiny ast_tiny; do
  $bin forward --model $fx/$m --inputs $fx/$m/inputs.safetensors --output /tmp/$m.safetensors \
    --compare $fx/$m/expected.safetensors 2>&1 | tail -1
done
bm() { $bin bench model "$@" --iters 10; }
for b in 1 8 64; do
  for m in vit-b16 clip-b32; do bm $m --batch $b; done
  bm vit-b16 --batch $b --attention flash
  bm vit-b16 --batch $b --attention tiled
done > "$out/ours.jsonl" 2>&1
bm vit-b16 --batch 64 --patch composed >> "$out/ours.jsonl" 2>&1
for b in 1 8; do bm ast-b --batch $b; done >> "$out/ours.jsonl" 2>&1
$bin bench model vit-b16 --batch 64 --iters 3 --profile > "$out/split.jsonl" 2>&1
$bin bench model vit-b16 --batch 1 --iters 3 --profile >> "$out/split.jsonl" 2>&1
$bin bench model clip-b32 --batch 64 --iters 3 --profile >> "$out/split.jsonl" 2>&1
python3 .device/torch_vit_bench.py --device cuda --batch 1,8,64 --dtype float32 --models vit-b16,clip-b32 > "$out/torch.jsonl" 2>&1
for s in "197 768 768" "197 768 3072" "197 3072 768" "1576 768 2304" "12608 768 2304" "12608 768 3072" "12608 3072 768"; do
  for k in shared wide; do $bin bench matmul $s --iters 20 --kernel $k; done
done > "$out/matmul.jsonl" 2>&1
cut -c1-150 "$out/matmul.jsonl" | sed 's/"adapter":"NVIDIA H200",//'
sed 's/"adapter":"NVIDIA H200",//' "$out/ours.jsonl" "$out/torch.jsonl" | cut -c1-180
grep -v '"share": 0.0' "$out/split.jsonl" | sed 's/"adapter":"NVIDIA H200",//' | cut -c1-170
