"""Makes tests/fixtures/interp_aa/cases.json: position-embedding-like grids resized by Pillow's
BICUBIC filter on float ("F" mode) images, which is the filter of PyTorch's
interpolate(mode="bicubic", align_corners=False, antialias=True) (Keys a = -0.5, support scaled
by max(in/out, 1), taps inside the image, weights normalised) that transformers'
Dinov2WithRegisters uses for its position grid. Each channel of a (GH*GW, D) grid is one image.

Run from the repository root, with pillow and numpy installed:  python3 tools/gen_interp_aa.py
"""

import json
import os

import numpy as np
import PIL
from PIL import Image

# (gh, gw, nh, nw): up and down per axis, the real DINOv2 case (37 -> 16), identity, 1-wide.
CASES = [(4, 4, 5, 3), (7, 7, 3, 5), (37, 37, 16, 16), (5, 6, 11, 2), (3, 3, 3, 3), (1, 4, 7, 1), (6, 6, 2, 9)]
D = 2

rng = np.random.default_rng(7)
out = []
for gh, gw, nh, nw in CASES:
    grid = rng.standard_normal((gh * gw, D)).astype(np.float32)
    res = np.zeros((nh * nw, D), dtype=np.float32)
    for c in range(D):
        img = Image.fromarray(np.ascontiguousarray(grid[:, c].reshape(gh, gw)))
        assert img.mode == "F"
        res[:, c] = np.asarray(img.resize((nw, nh), Image.BICUBIC), dtype=np.float32).reshape(-1)
    out.append({"gh": gh, "gw": gw, "nh": nh, "nw": nw, "d": D, "grid": grid.reshape(-1).tolist(), "expected": res.reshape(-1).tolist()})

path = os.path.join("tests", "fixtures", "interp_aa", "cases.json")
with open(path, "w") as f:
    json.dump({"pillow": PIL.__version__, "filter": "BICUBIC", "mode": "F", "cases": out}, f)
print("wrote", path)
