"""Makes tests/fixtures/vilt_preprocess: what transformers' slow (PIL) ViltImageProcessor makes of
a few PNGs of awkward sizes (upscaled, downscaled, an aspect ratio that hits the longer-side cap,
sides that round down to the size divisor), for two processor settings, as padded batches.

Writes, into the fixture folder:
  <name>.png                      the images (seeded noise over gradients)
  <proc>/preprocessor_config.json the processor settings (proc: a, b)
  expected.safetensors            <proc>_pixel_values (N, 3, H, W) f32 and <proc>_pixel_mask
                                  (N, H, W) i64 for the batch of every image in NAMES order
  fixture.json                    versions, the images' sizes and each processor's output sizes
and tests/fixtures/pil_resize.safetensors: Pillow's own resize over random size pairs, which pins
the order of its two passes (see resize_order_cases).

Run from the repository root, with transformers, pillow, numpy and safetensors installed
(torch is not needed):  python3 tools/gen_vilt_preprocess.py
"""

import json
import os

import numpy as np
import PIL
import transformers
from PIL import Image
from safetensors.numpy import save_file

try:
    from transformers import ViltImageProcessorPil as Proc
except ImportError:  # transformers 4: the slow processor has the plain name
    from transformers import ViltImageProcessor as Proc

OUT = "tests/fixtures/vilt_preprocess"
SIZES = {"tall": (37, 53), "wide": (200, 120), "strip": (160, 80), "square": (64, 64)}
PROCS = {
    "a": {"size": {"shortest_edge": 48}, "size_divisor": 16, "resample": 3},
    "b": {"size": {"shortest_edge": 40}, "size_divisor": 32, "resample": 2,
          "image_mean": [0.4, 0.45, 0.5], "image_std": [0.2, 0.25, 0.3]},
}


def image(rng, w, h):
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) * 127 / max(w + h - 2, 1)], -1)
    noisy = base + rng.normal(0, 30, base.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(7)
    images = []
    for name, (w, h) in SIZES.items():
        im = image(rng, w, h)
        im.save(f"{OUT}/{name}.png")
        images.append(Image.open(f"{OUT}/{name}.png").convert("RGB"))
    tensors, outputs = {}, {}
    for key, settings in PROCS.items():
        proc = Proc(**settings)
        os.makedirs(f"{OUT}/{key}", exist_ok=True)
        proc.save_pretrained(f"{OUT}/{key}")
        # save_pretrained names the class it was given; vitfuse reads either spelling
        out = proc(images=images, return_tensors="np")
        tensors[f"{key}_pixel_values"] = out["pixel_values"].astype(np.float32)
        tensors[f"{key}_pixel_mask"] = out["pixel_mask"].astype(np.int64)
        outputs[key] = {
            name: [int(out["pixel_mask"][i].any(1).sum()), int(out["pixel_mask"][i].any(0).sum())]
            for i, name in enumerate(SIZES)
        }
    save_file(tensors, f"{OUT}/expected.safetensors")
    with open(f"{OUT}/fixture.json", "w") as f:
        json.dump({
            "checks": "ViltImageProcessor (slow, PIL): resize (shorter side to shortest_edge, longer side capped "
                      "at int(1333/800*shortest_edge), rounded, sides floored to size_divisor), rescale, "
                      "normalize, pad the batch bottom/right with zeros, pixel_mask",
            "names": list(SIZES),
            "image_sizes_wh": SIZES,
            "processors": PROCS,
            "valid_hw": outputs,
            "batch_shape": {k: list(tensors[f"{k}_pixel_values"].shape) for k in PROCS},
            "versions": {"transformers": transformers.__version__, "pillow": PIL.__version__, "numpy": np.__version__},
        }, f, indent=2)


def resize_order_cases():
    """tests/fixtures/pil_resize.safetensors: Pillow's resize of random RGB images over random size
    pairs (both axes shrinking, one growing, both growing), bilinear and bicubic; in_<i>, out_<i>
    as f32 (H, W, 3) holding u8 values, and cases (N, 5) = (w_in, h_in, w_out, h_out, filter)."""
    rng = np.random.default_rng(11)
    tensors, cases = {}, []
    for i in range(48):
        wi, hi, wo, ho = (int(x) for x in rng.integers(5, 33, 4))
        if i % 4 < 2:  # half the cases shrink both axes, where the pass order is chosen
            wi, wo = max(wi, wo) + 1, min(wi, wo)
            hi, ho = max(hi, ho) + 1, min(hi, ho)
        f = [Image.BILINEAR, Image.BICUBIC][i % 2]
        a = rng.integers(0, 256, (hi, wi, 3)).astype(np.uint8)
        out = np.array(Image.fromarray(a, "RGB").resize((wo, ho), f))
        tensors[f"in_{i}"] = a.astype(np.float32)
        tensors[f"out_{i}"] = out.astype(np.float32)
        cases.append([wi, hi, wo, ho, int(f)])
    tensors["cases"] = np.array(cases, dtype=np.int64)
    save_file(tensors, "tests/fixtures/pil_resize.safetensors")


if __name__ == "__main__":
    main()
    resize_order_cases()
