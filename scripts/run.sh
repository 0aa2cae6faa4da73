#!/usr/bin/env bash
# The main job: report the adapter, check every kernel against the CPU reference, run the demo
# that ships inside vitfuse (CLIP, AST and ViLT trained on a generated world of shapes, colours
# and sounds) beside PyTorch's figures, then use the exported demo through the ordinary commands,
# and check every tiny model family's forward pass against transformers' outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-adapter.sh
cargo build --release --quiet
bin=./target/release/vitfuse
fx=tests/fixtures
$bin info
$bin selfcheck
echo
echo "== vitfuse demo"
$bin demo
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
d="$out/demo"
echo
echo "== the demo as ordinary folders: vitfuse demo --export $d"
$bin demo --export "$d" | sed -n 1p   # sed reads it all: no SIGPIPE under pipefail
p="$d/pipeline.json"
echo
echo "-- zero-shot sounds over text labels"
$bin classify --model "$p" --top 2 "$d"/eval/sounds/snd_00{0,1,2,3}.wav \
  --labels "low hum,buzz,rising chirp,high beep,noise burst,falling chirp"
echo "-- zero-shot images over text labels"
$bin classify --model "$p" --top 2 "$d"/eval/images/img_00{0,1,2}.png \
  --labels "circle,square,triangle,star,cross,diamond"
echo "-- an (image, sound) pair through the fusion head, beside each modality alone"
$bin classify --model "$p" --image "$d/eval/pairs/pimg_001.png" --audio "$d/eval/sounds/snd_000.wav"
echo "-- retrieval over the evaluation images by a caption and by a sound"
$bin retrieve --model "$p" --images "$d/eval/images" --query "a small yellow cross on the top" --top 3 --no-cache
$bin retrieve --model "$p" --images "$d/eval/images" --query-audio "$d/eval/sounds/snd_003.wav" --top 3 --no-cache
echo "-- early fusion: ViLT scores captions for one image"
$bin match --model "$d/vilt" --image "$d/eval/images/img_000.png" \
  --text "a large blue star on the left" "a large orange star on the left" "a small blue star on the left"
echo
echo "== every family (tiny, random weights): forward passes vs transformers"
for m in vit_tiny clip_tiny clip_tiny_eos chinese_clip_tiny siglip_tiny siglip2_tiny vilt_tiny ast_tiny deit_tiny dinov2_tiny dinov2_reg_tiny; do
  echo "-- $m (GPU)"
  $bin forward --model $fx/$m --inputs $fx/$m/inputs.safetensors --output "$out/$m.safetensors" \
    --compare $fx/$m/expected.safetensors 2>/dev/null
done
