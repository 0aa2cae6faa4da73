"""Makes tests/fixtures/siglip2_preprocess: what transformers' slow (PIL) Siglip2ImageProcessor makes
of the PNGs in tests/fixtures/image_preprocess for two settings (patches of 8, at most 16, as
siglip2_tiny; patches of 16, at most 64).

Writes <proc>/preprocessor_config.json and expected.safetensors with <proc>_pixel_values
(N, max_num_patches, 3·P·P) f32, <proc>_pixel_attention_mask (N, max) i64 and
<proc>_spatial_shapes (N, 2) i64 for the images in NAMES order.

Run from the repository root with transformers, pillow, numpy and safetensors installed:
  python3 tools/gen_siglip2_preprocess.py
"""

import json
import os

import numpy as np
import PIL
import transformers
from PIL import Image
from safetensors.numpy import save_file

try:
    from transformers import Siglip2ImageProcessorPil as Proc
except ImportError:
    from transformers import Siglip2ImageProcessor as Proc

SRC = "tests/fixtures/image_preprocess"
OUT = "tests/fixtures/siglip2_preprocess"
NAMES = ["landscape", "portrait", "small"]
PROCS = {"a": {"patch_size": 8, "max_num_patches": 16}, "b": {"patch_size": 16, "max_num_patches": 64}}


def main():
    os.makedirs(OUT, exist_ok=True)
    images = [Image.open(f"{SRC}/{n}.png").convert("RGB") for n in NAMES]
    tensors, grids = {}, {}
    for key, settings in PROCS.items():
        proc = Proc(**settings)
        proc.save_pretrained(f"{OUT}/{key}")
        out = proc(images=images, return_tensors="np")
        tensors[f"{key}_pixel_values"] = out["pixel_values"].astype(np.float32)
        tensors[f"{key}_pixel_attention_mask"] = out["pixel_attention_mask"].astype(np.int64)
        tensors[f"{key}_spatial_shapes"] = np.asarray(out["spatial_shapes"], dtype=np.int64)
        grids[key] = tensors[f"{key}_spatial_shapes"].tolist()
    save_file(tensors, f"{OUT}/expected.safetensors")
    with open(f"{OUT}/fixture.json", "w") as f:
        json.dump({"checks": "Siglip2ImageProcessor (slow, PIL): size for max_num_patches keeping the aspect ratio, "
                             "bilinear resize, rescale, normalize, patches (py, px, c), padded to max_num_patches",
                   "images": [f"../image_preprocess/{n}.png" for n in NAMES], "processors": PROCS, "grids": grids,
                   "sizes_wh": {n: list(im.size) for n, im in zip(NAMES, images)},
                   "versions": {"transformers": transformers.__version__, "pillow": PIL.__version__}}, f, indent=2)


if __name__ == "__main__":
    main()
