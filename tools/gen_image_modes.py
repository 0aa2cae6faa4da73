"""Makes tests/fixtures/image_modes: small images in colour modes other than plain 8-bit RGB
(RGBA, LA, palette with tRNS, low-bit and 16-bit grey, 16-bit RGB/RGBA/LA, colour-key tRNS,
CMYK and grey JPEG) and what transformers' slow (PIL) image processors make of them.

Writes, into the fixture folder:
  <name>.png / <name>.jpg      the images (PNGs written byte by byte here, JPEGs by Pillow)
  clip/ vit/ vit_rgb/ siglip/  preprocessor_config.json for each processor (32x32 outputs)
  expected.safetensors         <processor>_<name>: pixel_values[0] as f32 (3, 32, 32), for every
                               image the processor accepts; rgba_all_rgb: Pillow's RGB (u8,
                               H x W x 3) for rgba_all.png, every value under every alpha
  fixture.json                 versions, the images, what Pillow does with each, the processors,
                               and the images a processor rejects (with transformers' message)

Run from the repository root, with transformers, pillow, numpy and safetensors installed
(torch is not needed):  python3 tools/gen_image_modes.py
"""

import json
import os
import struct
import zlib

import numpy as np
import PIL
import safetensors
import transformers
from PIL import Image
from safetensors.numpy import save_file
from transformers import CLIPImageProcessor, SiglipImageProcessor, ViTImageProcessor
from transformers.image_transforms import convert_to_rgb

OUT = os.path.join("tests", "fixtures", "image_modes")


# ---------------------------------------------------------------------------
# a minimal PNG writer, so bit depth, colour type and tRNS are exactly as stated


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _pack_row(row, depth):
    if depth == 16:
        return row.astype(">u2").tobytes()
    if depth == 8:
        return row.astype(np.uint8).tobytes()
    per = 8 // depth
    padded = np.zeros(-(-len(row) // per) * per, np.uint8)
    padded[: len(row)] = row
    out = np.zeros(len(padded) // per, np.uint8)
    for i in range(per):
        out |= padded[i::per] << (8 - depth * (i + 1))
    return out.tobytes()


def write_png(path, pixels, color_type, depth, trns=None, palette=None):
    """pixels: (H, W) or (H, W, C) integers; color_type as in the PNG spec (0 grey, 2 RGB,
    3 palette, 4 grey+alpha, 6 RGBA)."""
    pixels = np.asarray(pixels)
    h, w = pixels.shape[:2]
    flat = pixels.reshape(h, -1)
    raw = b"".join(b"\0" + _pack_row(r, depth) for r in flat)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0))
    if palette is not None:
        data += _chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).ravel()))
    if trns is not None:
        data += _chunk(b"tRNS", trns)
    data += _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------------------
# content: gradients, and alpha that is 0, 255 and in between


def grid(h, w):
    return np.mgrid[0:h, 0:w]


def ramp8(h, w, k):
    y, x = grid(h, w)
    return ((x * (7 + 2 * k) + y * (11 - k) + 40 * k) % 256).astype(np.uint8)


def alpha8(h, w):
    y, x = grid(h, w)
    return np.clip((x * 17 + y * 23) % 320 - 32, 0, 255).astype(np.uint8)


def ramp16(h, w, k):
    y, x = grid(h, w)
    v = (x * (1777 + 311 * k) + y * (2903 - 97 * k) + 5000 * k) % 65536
    # some small values (under 256) too, so clipping and high bytes both show
    return np.where((x + y + k) % 5 == 0, (x * 9 + y * 5) % 256, v).astype(np.uint16)


def rgb8(h, w):
    return np.stack([ramp8(h, w, k) for k in range(3)], -1)


def rgb16(h, w):
    return np.stack([ramp16(h, w, k) for k in range(3)], -1)


SIZES = [(23, 37), (31, 20)]  # (height, width)


def make_images():
    """Writes the images; returns [(name, file, description)]."""
    items = []

    def png(name, size, pixels, ct, depth, desc, **kw):
        write_png(os.path.join(OUT, f"{name}.png"), pixels, ct, depth, **kw)
        items.append((name, f"{name}.png", desc))

    h, w = SIZES[0]
    png("rgb", SIZES[0], rgb8(h, w), 2, 8, "8-bit RGB (control)")
    png("rgba", SIZES[0], np.dstack([rgb8(h, w), alpha8(h, w)]), 6, 8, "8-bit RGBA")
    h, w = SIZES[1]
    png("la", SIZES[1], np.dstack([ramp8(h, w, 1), alpha8(h, w)]), 4, 8, "8-bit grey + alpha (LA)")
    png("l", SIZES[1], ramp8(h, w, 2), 0, 8, "8-bit grey (L)")
    g = ramp8(h, w, 0)
    png("l_trns", SIZES[1], g, 0, 8, "8-bit grey with a tRNS colour key", trns=struct.pack(">H", int(g[3, 4])))
    y, x = grid(h, w)
    png("l2_trns", SIZES[1], (x + y) % 4, 0, 2, "2-bit grey with tRNS key 2 (raw value)", trns=struct.pack(">H", 2))
    png("bilevel", SIZES[1], (x // 3 + y // 2) % 2, 0, 1, "1-bit grey")

    h, w = SIZES[0]
    y, x = grid(h, w)
    pal = np.stack([(np.arange(256) * 7) % 256, (np.arange(256) * 13 + 50) % 256, 255 - np.arange(256)], -1)
    idx = ((x * 5 + y * 3) % 256).astype(np.uint8)
    trns = bytes(np.clip((np.arange(200) * 37) % 300 - 20, 0, 255).astype(np.uint8))  # 200 of 256 entries
    png("p", SIZES[0], idx, 3, 8, "8-bit palette, no transparency", palette=pal)
    png("p_trns", SIZES[0], idx, 3, 8, "8-bit palette with tRNS alpha for the first 200 entries", palette=pal, trns=trns)
    idx4 = ((x + 2 * y) % 16).astype(np.uint8)
    png("p4_trns", SIZES[0], idx4, 3, 4, "4-bit palette with tRNS (0, 128, 255, 60)", palette=pal[:16], trns=bytes([0, 128, 255, 60]))
    c = rgb8(h, w)
    key = c[5, 6]
    png("rgb_trns", SIZES[0], c, 2, 8, "8-bit RGB with a tRNS colour key", trns=struct.pack(">HHH", *map(int, key)))

    h, w = SIZES[1]
    png("g16", SIZES[1], ramp16(h, w, 0), 0, 16, "16-bit grey (values over 255 and under)")
    g16 = ramp16(h, w, 1)
    png("g16_trns", SIZES[1], g16, 0, 16, "16-bit grey with a tRNS key", trns=struct.pack(">H", int(g16[2, 3])))
    png("la16", SIZES[1], np.dstack([ramp16(h, w, 2), alpha8(h, w).astype(np.uint16) * 257 - (alpha8(h, w) > 0) * 7]),
        4, 16, "16-bit grey + alpha")
    h, w = SIZES[0]
    png("rgb16", SIZES[0], rgb16(h, w), 2, 16, "16-bit RGB")
    a16 = alpha8(h, w).astype(np.uint16) * 257
    a16 = np.where((a16 > 0) & (a16 < 65535), a16 - 100, a16)
    png("rgba16", SIZES[0], np.dstack([rgb16(h, w), a16]), 6, 16, "16-bit RGBA")
    # a colour key whose values are under 256: Pillow compares it with the high bytes
    c16 = rgb16(h, w)
    key16 = (c16[4, 4] >> 8).astype(np.uint16)
    c16[7, 9] = key16  # this pixel equals the key in 16 bits (its high bytes are 0)
    png("rgb16_trns", SIZES[0], c16, 2, 16, "16-bit RGB with a tRNS key under 256 (matching high bytes at (4,4), 16-bit values at (7,9))",
        trns=struct.pack(">HHH", *map(int, key16)))

    # JPEGs (Pillow writes CMYK JPEGs with an Adobe APP14 marker and inverted values)
    h, w = SIZES[0]
    y, x = grid(h, w)
    cmyk = np.dstack([rgb8(h, w), ((x * 3 + y * 5) % 256).astype(np.uint8)])
    Image.fromarray(cmyk, "CMYK").save(os.path.join(OUT, "cmyk.jpg"), quality=95)
    items.append(("cmyk", "cmyk.jpg", "CMYK JPEG (Adobe marker), quality 95"))
    h, w = SIZES[1]
    Image.fromarray(ramp8(h, w, 1), "L").save(os.path.join(OUT, "l_jpeg.jpg"), quality=95)
    items.append(("l_jpeg", "l_jpeg.jpg", "grey JPEG, quality 95"))

    # every channel value under every alpha, for the compositing itself
    v = np.arange(256, dtype=np.uint8)
    allv = np.zeros((256, 256, 4), np.uint8)
    allv[..., 0] = v[None, :]
    allv[..., 1] = 255 - v[None, :]
    allv[..., 2] = v[None, :] ^ 0x5A
    allv[..., 3] = v[:, None]
    write_png(os.path.join(OUT, "rgba_all.png"), allv, 6, 8)
    return items


# ---------------------------------------------------------------------------
# processors


def processors():
    """(name, class, kwargs); each is saved and then loaded back from its folder."""
    return [
        ("clip", CLIPImageProcessor, dict(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})),
        ("vit", ViTImageProcessor, dict(size={"height": 32, "width": 32})),
        ("vit_rgb", ViTImageProcessor, dict(size={"height": 32, "width": 32}, do_convert_rgb=True)),
        ("siglip", SiglipImageProcessor, dict(size={"height": 32, "width": 32})),
    ]


def pillow_notes():
    return {
        "convert_to_rgb": "transformers' convert_to_rgb (when do_convert_rgb): an image with an A band or "
        "info['transparency'] is converted to RGBA, alpha-composited (Image.alpha_composite) over opaque white, "
        "then converted to RGB; any other image is converted to RGB directly",
        "alpha_composite": "over white: out = 255 if alpha is 0, else round-to-nearest of "
        "(c * a + 255 * (255 - a)) / 255 in Pillow's fixed point (rgba_all_rgb holds every case)",
        "RGBA, LA": "composited over white",
        "P": "palette expanded; with tRNS the palette alpha is composited over white",
        "L, 1, low-bit grey": "grey replicated; 1/2/4-bit values are scaled to 0..255 (x255, x85, x17)",
        "grey tRNS": "8-bit: pixels equal to the key are transparent (composited to white); 1-bit: key 1 means 255; "
        "2/4-bit: Pillow compares the scaled pixel with the unscaled key (so key 2 in a 2-bit image matches nothing); "
        "16-bit: the key is ignored",
        "I;16 (16-bit grey)": "converted to RGB by clipping to 0..255 (not scaled)",
        "16-bit RGB, RGBA, LA": "Pillow opens them as RGB / RGBA / RGBA keeping the high byte of each sample",
        "RGB tRNS": "8-bit: pixels equal to the key composited to white; 16-bit: the 16-bit key is compared with "
        "the high bytes, so only a key under 256 can match",
        "CMYK JPEG": "Pillow reads Adobe CMYK JPEGs as inverted (CMYK;I), then RGB = (255 - C)(255 - K)/255 rounded, "
        "which in the file's stored (inverted) values is c * k / 255",
        "do_convert_rgb off": "the PIL backend takes np.array(image): only RGB-mode images (8/16-bit RGB PNGs, with "
        "any tRNS ignored; colour JPEGs) get through; others fail at normalize (mean has 3 values, the image 1, 2 or "
        "4 channels) or, for I;16, at resize (values over 255). With do_normalize off too, RGBA/CMYK give 4 channels "
        "and L/P 1 channel (P as palette indices); vitfuse's models take 3 channels, so vitfuse rejects all of these "
        "with an error that names do_convert_rgb",
        "JPEG decoders": "Pillow uses libjpeg(-turbo), vitfuse the image crate (zune-jpeg); on cmyk.jpg and l_jpeg.jpg "
        "they differ by at most one 8-bit step",
    }


def transparency(t):
    if t is None:
        return None
    return f"{len(t)} palette alphas" if isinstance(t, bytes) else repr(t)


def main():
    os.makedirs(OUT, exist_ok=True)
    items = make_images()
    tensors = {}
    rejected = {}
    procs = {}
    for pname, cls, kwargs in processors():
        d = os.path.join(OUT, pname)
        os.makedirs(d, exist_ok=True)
        cls(**kwargs).to_json_file(os.path.join(d, "preprocessor_config.json"))
        proc = cls.from_pretrained(d)
        procs[pname] = {
            "class": type(proc).__name__,
            "do_convert_rgb": proc.do_convert_rgb,
            "config": f"{pname}/preprocessor_config.json",
        }
        for name, file, _ in items:
            with Image.open(os.path.join(OUT, file)) as im:
                im.load()
                try:
                    pv = proc(im, return_tensors="np")["pixel_values"][0]
                except ValueError as e:
                    rejected.setdefault(pname, {})[name] = str(e)
                    continue
            tensors[f"{pname}_{name}"] = np.ascontiguousarray(pv, dtype=np.float32)

    with Image.open(os.path.join(OUT, "rgba_all.png")) as im:
        im.load()
        tensors["rgba_all_rgb"] = np.ascontiguousarray(convert_to_rgb(im, return_numpy=True), dtype=np.uint8)
    save_file(tensors, os.path.join(OUT, "expected.safetensors"))

    images = []
    for name, file, desc in items:
        with Image.open(os.path.join(OUT, file)) as im:
            images.append({
                "name": name,
                "file": file,
                "written": desc,
                "pillow_mode": im.mode,
                "pillow_transparency": transparency(im.info.get("transparency")),
            })
    fixture = {
        "checks": "decoding of non-RGB images: pixel_values of transformers' slow (PIL) image processors, "
        "expected key <processor>_<image> (3, 32, 32) f32; rgba_all_rgb is convert_to_rgb of rgba_all.png (u8)",
        "generator": "tools/gen_image_modes.py",
        "versions": {"transformers": transformers.__version__, "pillow": PIL.__version__,
                     "numpy": np.__version__, "safetensors": safetensors.__version__},
        "processors": procs,
        "default_do_convert_rgb": "CLIPImageProcessor True, SiglipImageProcessor True, ViTImageProcessor None "
        "(no conversion); 'vit' uses the default, 'vit_rgb' sets do_convert_rgb true",
        "images": images,
        "rejected": rejected,
        "pillow": pillow_notes(),
        "tolerance": "PNG: same values as transformers (float rounding only); JPEG: within one 8-bit step, "
        "since the JPEG decoders differ",
    }
    with open(os.path.join(OUT, "fixture.json"), "w") as f:
        json.dump(fixture, f, indent=2)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(OUT) for fn in fns)
    print(f"wrote {len(tensors)} tensors, {len(items)} images, {total} bytes in {OUT}")


if __name__ == "__main__":
    transformers.logging.set_verbosity_error()
    main()
