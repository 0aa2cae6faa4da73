#!/usr/bin/env bash
# The main job: report the adapter, check every kernel against the CPU reference, then run the
# shipped tiny models (tests/fixtures) end to end: a ViT classifier, CLIP zero-shot and
# retrieval, and ViLT-style forward passes checked against transformers' outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-adapter.sh
cargo build --release --quiet
bin=./target/release/vitfuse
fx=tests/fixtures
$bin info
$bin selfcheck
echo
echo "== ViT (tiny, random weights) classifying the sample images"
$bin classify --model $fx/vit_tiny --top 3 $fx/image_preprocess/*.png
echo
echo "== CLIP / SigLIP / ViLT / AST (tiny) forward passes vs transformers"
out=$(mktemp -d)
for m in vit_tiny clip_tiny clip_tiny_eos siglip_tiny vilt_tiny ast_tiny; do
  echo "-- $m (GPU)"
  $bin forward --model $fx/$m --inputs $fx/$m/inputs.safetensors --output "$out/$m.safetensors" \
    --compare $fx/$m/expected.safetensors 2>/dev/null
done
echo
echo "== CLIP (tiny) retrieval over the sample images, with a 15-word demo tokenizer"
demo="$out/clip-demo"; mkdir -p "$demo" "$out/images"
cp $fx/clip_tiny/config.json $fx/clip_tiny/model.safetensors $fx/tiny_tokenizer/tokenizer*.json "$demo/"
cp $fx/image_preprocess/*.png "$out/images/"
$bin retrieve --model "$demo" --images "$out/images" --query "a photo of a landscape" --top 3
$bin match --model "$demo" --image $fx/image_preprocess/small.png --text "a cat" "a dog" "a landscape"
