#!/usr/bin/env bash
# Runs ON the lent GPU machine (see ../shared/device/README.md), from the repository root with
# `.gl` (the amd64 libvulkan1 and libglvnd .debs) and `.device` (a release `vitfuse` that has
# `bench peak`, `bench model --dtype` and the `coop` matmul) carried. In one call: adapter info,
# the GPU self-check (every kernel, f16-weight twins and the tensor-core matmul where reported),
# every tiny fixture forward against transformers, the peak figures, then ViT-B/16 and CLIP B/32 at batch 1, 8 and 64 with
# f32 weights, f16 weights and f16 weights through the tensor-core matmul (matmul_coop), batch 1
# with split-K and with the double-buffered matmul_shared_db, the largest batch with the
# double-buffered matmul_wide_db, the matmul shapes per kernel, beside
# PyTorch fp32 (TF32 off), TF32 and bf16 autocast (SDPA) from tools/torch_vit_bench.py, and a
# per-kernel split of the coop pass, and the first pass of a process with a cold, a warm and no
# pipeline cache; all as JSON lines under $OUT, then a table of ratios.
# About 3 to 5 minutes of an H200 after the machine's start; every step has its own timeout so
# the whole stays under 8 minutes even when one hangs.
#   prepare here:  cargo build --release && mkdir -p .device && strip -o .device/vitfuse target/release/vitfuse
#                  (stripped: with the release profile's debug info the binary is about 130 MB, over
#                  the 64 MiB a device call carries; stripped about 27 MB)
#   call:          bash scripts/device-bench.sh      (carry .gl and .device; timeout_s 540)
#   locally:       VITFUSE_BENCH_SUMMARY_ONLY=DIR bash scripts/device-bench.sh
#                  re-prints the table from DIR/ours.jsonl and DIR/torch.jsonl.
#   rehearsal:     VITFUSE_BENCH_REHEARSE=1 OUT=DIR bash scripts/device-bench.sh
#                  runs every step on this machine's adapter (lavapipe) with target/release/vitfuse,
#                  vit-ti16 at batch 1 and 2, 1 pass each and small matmuls, so the script's
#                  plumbing (tags, failures, summary) is checked before a GPU minute is spent
#                  (PYTHON=a python with torch for the PyTorch step, on the CPU).
# Files under $OUT (at most 8 come back): info.txt, selfcheck.txt, peak.jsonl, ours.jsonl (every
# `bench model` / `bench matmul` line, tagged "cfg"), torch.jsonl, split.jsonl, summary.txt,
# log.txt (stderr and failures of every step).
set -u
out=${OUT:-/tmp/vitfuse-bench}
mkdir -p "$out"
log=$out/log.txt

summary() {
  python3 - "$1" <<'PY'
import json, sys
d = sys.argv[1]
def lines(name):
    rows = []
    try:
        with open(f"{d}/{name}") as f:
            for l in f:
                l = l.strip()
                if l.startswith("{"):
                    try:
                        rows.append(json.loads(l))
                    except ValueError:
                        pass
    except OSError:
        pass
    return rows
ours = {(r.get("model"), r.get("batch"), r.get("cfg")): r for r in lines("ours.jsonl")
        if r.get("bench") == "model" and "images_per_s" in r}
torch = {(r.get("model"), r.get("batch"), r.get("dtype")): r for r in lines("torch.jsonl") if "images_per_s" in r}
def ips(t, k):
    r = t.get(k)
    return r["images_per_s"] if r else None
def f(v, w=8):
    return f"{v:{w}.1f}" if v is not None else " " * (w - 1) + "-"
def ratio(a, b):
    return f"{a / b:6.2f}" if a and b else "     -"
def mib(v):
    return f"{v / 2**20:7.0f}" if v else "      -"
print("images/s (higher is better); ratios ours / torch; MiB: our weights (w.), torch's peak with activations (p.)")
print(f"{'model':9} {'batch':>5} | {'f32':>8} {'f16':>8} {'coop':>8} | {'t.fp32':>8} {'t.tf32':>8} {'t.bf16':>8} |"
      f" {'f32/fp32':>8} {'coop/tf32':>9} {'coop/bf16':>9} {'coop/f32':>8} | {'w.f32':>7} {'w.f16':>7} {'p.fp32':>7} {'p.bf16':>7}")
keys = sorted({(m, b) for (m, b, _) in list(ours) + list(torch)}, key=lambda k: (str(k[0]), k[1] or 0))
for m, b in keys:
    o = {c: ips(ours, (m, b, c)) for c in ("f32", "f16", "coop")}
    t = {c: ips(torch, (m, b, c)) for c in ("fp32", "tf32", "bf16")}
    w32 = (ours.get((m, b, "f32")) or {}).get("weight_bytes")
    w16 = (ours.get((m, b, "f16")) or {}).get("weight_bytes")
    p32 = (torch.get((m, b, "fp32")) or {}).get("max_mem_bytes")
    p16 = (torch.get((m, b, "bf16")) or {}).get("max_mem_bytes")
    print(f"{m:9} {b:>5} | {f(o['f32'])} {f(o['f16'])} {f(o['coop'])} | {f(t['fp32'])} {f(t['tf32'])} {f(t['bf16'])} |"
          f"   {ratio(o['f32'], t['fp32'])}    {ratio(o['coop'], t['tf32'])}    {ratio(o['coop'], t['bf16'])}   {ratio(o['coop'], o['f32'])} |"
          f" {mib(w32)} {mib(w16)} {mib(p32)} {mib(p16)}")
for (m, b, c), r in sorted(ours.items(), key=lambda kv: str(kv[0])):
    if c == "f16w":
        print(f"{m:9} {b:>5} | f16 weights, f32 activations {r['images_per_s']:8.1f} images/s: f16 activations give"
              f" {ratio(ips(ours, (m, b, 'f16')), r['images_per_s'])} x")
    if c in ("splitk", "shared-db", "wide-db"):
        print(f"{m:9} {b:>5} | {c:9} f32 {r['images_per_s']:8.1f} images/s: {ratio(r['images_per_s'], ips(torch, (m, b, 'fp32')))} x torch fp32,"
              f" {ratio(r['images_per_s'], ips(ours, (m, b, 'f32')))} x ours f32")
    if c == "f32" and r.get("record_ms") is not None:
        print(f"{m:9} {b:>5} | host: record {r['record_ms']:.3f} ms + submit {r.get('submit_ms', 0):.3f} ms of a {r['median_ms']:.3f} ms pass")
starts = [(c[len("start-"):], r) for (m, b, c), r in ours.items() if str(c).startswith("start-")]
if starts:
    print("first pass of a process, batch 1 f32 (pipeline cache: cold = empty, warm = left by cold, nocache = off):")
    for c, r in sorted(starts, key=lambda cr: cr[0]):
        print(f"  {r['model']:9} {c:8} first {r['first_ms']:8.1f} ms, then median {r['median_ms']:8.1f} ms")
mm = [r for r in lines("ours.jsonl") if r.get("bench") == "matmul" and "gflops" in r]
if mm:
    print("matmul GFLOP/s (M K N: kernel dtype)")
    for r in mm:
        print(f"  {r['m']:>6} {r['k']:>5} {r['n']:>5}: {r.get('kernel', '?'):>9} {r.get('dtype', '?'):>4} {r['gflops']:9.0f}")
PY
}

if [ -n "${VITFUSE_BENCH_SUMMARY_ONLY:-}" ]; then
  summary "$VITFUSE_BENCH_SUMMARY_ONLY"
  exit 0
fi

rehearse=${VITFUSE_BENCH_REHEARSE:-}
models="vit-b16 clip-b32"
batches="1 8 64"
iters=10
mm_small="197 768 768|197 768 3072|197 3072 768|50 768 3072"
mm_big="197 768 768|12608 768 2304|12608 768 3072|12608 3072 768"
mm_clip="3200 768 768|3200 3072 768"
if [ -n "$rehearse" ]; then
  models="vit-ti16"; batches="1 2"; iters=1
  mm_small="197 192 192|50 192 768"; mm_big="197 192 192|394 192 768"; mm_clip="100 192 192"
  bin=target/release/vitfuse
else
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  bin=.device/vitfuse
fi
export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
t0=$SECONDS
step() { echo "[$((SECONDS - t0)) s] $*" | tee -a "$log"; }

[ -n "$rehearse" ] || nvidia-smi -L
step info
timeout 60 $bin info > "$out/info.txt" 2>&1
head -20 "$out/info.txt"
[ -n "$rehearse" ] || grep -qi nvidia "$out/info.txt" || { echo "no NVIDIA adapter"; summary "$out" > "$out/summary.txt"; exit 3; }

step selfcheck
timeout 150 $bin selfcheck > "$out/selfcheck.txt" 2>&1
echo "selfcheck exit $?" >> "$out/selfcheck.txt"
tail -2 "$out/selfcheck.txt"
grep -E "FAIL|coop" "$out/selfcheck.txt" | head -20

step fixtures
fx=tests/fixtures
for m in vit_tiny clip_tiny clip_tiny_eos siglip_tiny siglip2_tiny chinese_clip_tiny vilt_tiny ast_tiny deit_tiny dinov2_tiny dinov2_reg_tiny; do
  printf '%s: ' "$m"
  timeout 30 $bin forward --model $fx/$m --inputs $fx/$m/inputs.safetensors --output /tmp/$m.safetensors \
    --compare $fx/$m/expected.safetensors --dtype f32 2>&1 | tail -1
done 2>&1 | tee -a "$log"

step bench peak
timeout 90 $bin bench peak > "$out/peak.jsonl" 2>> "$log" || echo "bench peak failed: exit $?" | tee -a "$log"
cut -c1-200 "$out/peak.jsonl"

# One `bench model` run: tags each JSON line with "cfg", keeps failures in the log.
bm() {
  local cfg=$1; shift
  local res rc
  res=$(timeout 120 $bin bench model "$@" --iters $iters 2>> "$log"); rc=$?
  if [ $rc -ne 0 ]; then
    echo "bench model $* ($cfg) failed: exit $rc" | tee -a "$log"
    echo "{\"bench\":\"model-failed\",\"cfg\":\"$cfg\",\"args\":\"$*\",\"exit\":$rc}" >> "$out/ours.jsonl"
  fi
  printf '%s\n' "$res" | grep '^{' | sed "s/^{/{\"cfg\":\"$cfg\",/" >> "$out/ours.jsonl"
}
# Cold start: the first pass of a process (pipelines built) with an empty pipeline cache, then with
# the cache it left, then with the cache off; the driver's own disk cache off for all three.
step cold start
pc=$(mktemp -d)
for cfg in cold warm nocache; do
  off=1; [ $cfg = nocache ] && off=0
  res=$(__GL_SHADER_DISK_CACHE=0 VITFUSE_PIPELINE_CACHE=$off VITFUSE_PIPELINE_CACHE_DIR=$pc \
    timeout 60 $bin bench model ${models%% *} --batch 1 --iters $iters --dtype f32 2>> "$log") || echo "cold start $cfg failed" | tee -a "$log"
  printf '%s\n' "$res" | grep '^{' | sed "s/^{/{\"cfg\":\"start-$cfg\",/" >> "$out/ours.jsonl"
  printf '%s: ' "$cfg"; printf '%s\n' "$res" | grep -o '"first_ms":[0-9.]*'
done
ls -l "$pc" | tee -a "$log"

step ours f32 and f16
# f16: f16 weights and activations; f16w (largest batch only): f16 weights, f32 activations, so
# that the summary shows what the f16 activations buy.
for m in $models; do
  for b in $batches; do
    bm f32 "$m" --batch $b --dtype f32
    bm f16 "$m" --batch $b --dtype f16
  done
  bm f16w "$m" --batch ${batches##* } --dtype f16-weights
done

# PyTorch before the coop runs, so that a failing experimental kernel cannot cost the baseline.
step torch
tdev=cuda; [ -n "$rehearse" ] && tdev=cpu
timeout 300 ${PYTHON:-python3} tools/torch_vit_bench.py --device $tdev --models "${models// /,}" --batch "${batches// /,}" \
  --dtype fp32,tf32,bf16 > "$out/torch.jsonl" 2>> "$log" || echo "torch bench failed: exit $?" | tee -a "$log"

step ours splitk and the double-buffered candidates
# Batch 1: split-K (its slices are matmul_shared_db) and shared-db against Auto's matmul_shared;
# the largest batch: wide-db against Auto's matmul_wide.
for m in $models; do
  bm splitk "$m" --batch 1 --dtype f32 --matmul splitk
  bm shared-db "$m" --batch 1 --dtype f32 --matmul shared-db
  bm wide-db "$m" --batch ${batches##* } --dtype f32 --matmul wide-db
done
IFS='|' read -ra shapes <<< "$mm_small"
for s in "${shapes[@]}"; do
  for k in shared shared-db splitk; do
    # shellcheck disable=SC2086 # $s is three numbers
    res=$(timeout 60 $bin bench matmul $s --iters $((2 * iters)) --kernel $k 2>> "$log") || echo "bench matmul $s $k failed" | tee -a "$log"
    printf '%s\n' "$res" | grep '^{' | sed "s/^{/{\"cfg\":\"matmul\",/" >> "$out/ours.jsonl"
  done
done

# The large f32 shapes per kernel; CLIP B/32's batch-64 out-projection and fc2 (N = 768) make
# only 150 tiles of 128 x 128, which the 64 x 64 kernels split into 600.
IFS='|' read -ra shapes <<< "$mm_big|$mm_clip"
for s in "${shapes[@]}"; do
  for k in wide wide-db shared shared-db; do
    # shellcheck disable=SC2086 # $s is three numbers
    res=$(timeout 30 $bin bench matmul $s --iters $((2 * iters)) --kernel $k 2>> "$log") || echo "bench matmul $s $k failed" | tee -a "$log"
    printf '%s\n' "$res" | grep '^{' | sed "s/^{/{\"cfg\":\"matmul\",/" >> "$out/ours.jsonl"
  done
done

step ours coop
for m in $models; do
  for b in $batches; do bm coop "$m" --batch $b --dtype f16 --matmul coop; done
done
IFS='|' read -ra shapes <<< "$mm_big"
for s in "${shapes[@]}"; do
  for k in wide coop; do
    # shellcheck disable=SC2086 # $s is three numbers
    res=$(timeout 60 $bin bench matmul $s --iters $((2 * iters)) --kernel $k --dtype f16 2>> "$log") \
      || echo "bench matmul $s $k failed" | tee -a "$log"
    printf '%s\n' "$res" | grep '^{' | sed "s/^{/{\"cfg\":\"matmul\",/" >> "$out/ours.jsonl"
  done
done

step split
big=${batches##* }
timeout 90 $bin bench model ${models%% *} --batch $big --iters $iters --dtype f16 --matmul coop --profile > "$out/split.jsonl" 2>> "$log"
timeout 90 $bin bench model ${models%% *} --batch $big --iters $iters --dtype f16 --profile >> "$out/split.jsonl" 2>> "$log"
grep -Ev '"share": *0(\.0*)?[,}]' "$out/split.jsonl" | sed 's/"adapter":"NVIDIA H200",//' | cut -c1-170

step summary
summary "$out" | tee "$out/summary.txt"
step finished
