"""Print parameter counts, tensor bytes and file sizes of the exported models (for the README)."""
import json
from pathlib import Path

from safetensors import safe_open

EXPORT = Path(__file__).resolve().parent / "export"


def count(path):
    n, b = 0, 0
    with safe_open(str(path), "pt") as f:
        for k in f.keys():
            t = f.get_tensor(k)
            n += t.numel()
            b += t.numel() * t.element_size()
    return n, b


if __name__ == "__main__":
    for p in ["clip/model.safetensors", "audio/model.safetensors", "audio/projection.safetensors",
              "vilt/model.safetensors", "fusion.safetensors"]:
        n, b = count(EXPORT / p)
        print(f"{p:32s} params {n:8d}  tensor bytes {b:8d}  file {(EXPORT / p).stat().st_size:8d}")
    tot = sum(f.stat().st_size for f in EXPORT.rglob("*") if f.is_file())
    for d in sorted(EXPORT.iterdir()):
        s = sum(f.stat().st_size for f in d.rglob("*") if f.is_file()) if d.is_dir() else d.stat().st_size
        print(f"{d.name:32s} {s:9d} bytes")
    print(f"total export: {tot} bytes ({tot / 1e6:.2f} MB, {tot / 2**20:.2f} MiB)")
