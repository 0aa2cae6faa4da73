"""Seeded synthetic data for the vitfuse demo world (main generator).

The world: one coloured shape per image (6 shapes x 6 colours x 2 sizes x 5
positions, rotation up to +-20 degrees, light backgrounds, 48-160 px, aspect
2:3..3:2) with captions, and one 16 kHz sound bound to each shape.

Images are drawn with PIL.ImageDraw on a 4x supersampled canvas. Shapes are
kept inside the centred min(W, H) square so CLIP's centre crop never cuts
them; "left"/"right"/... are offsets inside that square.

Splits are reproducible: every split has its own seed (SPLIT_SEEDS) and every
example its own RNG derived from (seed, kind, index).

Used as a library by train.py / export_eval.py / evaluate.py. Run directly to
write a small preview grid: `python gen_data.py --preview preview.png`.
"""
import argparse
import io
import math
import wave

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# ---------------------------------------------------------------- vocabulary
SHAPES = ["circle", "square", "triangle", "star", "cross", "diamond"]
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 210, 40),
    "purple": (140, 60, 190),
    "orange": (245, 140, 30),
}
COLOUR_NAMES = list(COLOURS)
SIZES = ["small", "large"]
POSITIONS = ["left", "right", "top", "bottom", "center"]
SOUND_OF = {
    "circle": "low hum",
    "square": "buzz",
    "triangle": "rising chirp",
    "star": "high beep",
    "cross": "noise burst",
    "diamond": "falling chirp",
}
SOUND_NAMES = [SOUND_OF[s] for s in SHAPES]
ATTRS = ("shape", "colour", "size", "position")
ATTR_VALUES = {"shape": SHAPES, "colour": COLOUR_NAMES, "size": SIZES, "position": POSITIONS}
SR = 16000
SPLIT_SEEDS = {"train": 1001, "val": 2002, "eval": 3003}


def full_caption(a):
    where = "in the center" if a["position"] == "center" else f"on the {a['position']}"
    return f"a {a['size']} {a['colour']} {a['shape']} {where}"


def colour_caption(a):
    return f"a {a['colour']} {a['shape']}"


def shape_caption(a):
    return f"a {a['shape']}"


def caption_matches(caption, a):
    """True when every attribute word in `caption` agrees with attributes `a`."""
    words = caption.split()
    for attr, values in ATTR_VALUES.items():
        for v in values:
            if v in words and a[attr] != v:
                return False
    return True


def change_one_attribute(rng, a):
    """Copy of attributes `a` with exactly one attribute set to another value."""
    attr = ATTRS[rng.integers(len(ATTRS))]
    others = [v for v in ATTR_VALUES[attr] if v != a[attr]]
    b = dict(a)
    b[attr] = others[rng.integers(len(others))]
    return b, attr


def example_rng(seed, kind, index):
    return np.random.default_rng([seed, sum(map(ord, kind)) * 7919 + len(kind), index])


def random_attrs(rng, shape=None):
    return {
        "shape": shape if shape is not None else SHAPES[rng.integers(6)],
        "colour": COLOUR_NAMES[rng.integers(6)],
        "size": SIZES[rng.integers(2)],
        "position": POSITIONS[rng.integers(5)],
    }


# -------------------------------------------------------------------- images
def image_size(rng, lo=48, hi=160):
    ratio = math.exp(rng.uniform(math.log(1.0), math.log(1.5)))
    long_side = int(rng.integers(int(math.ceil(lo * ratio)), hi + 1))
    short_side = max(lo, int(round(long_side / ratio)))
    return (long_side, short_side) if rng.random() < 0.5 else (short_side, long_side)


def _unit_polygon(shape):
    """Vertices (x, y) of a shape with circumradius ~1, unrotated, y down."""
    if shape == "square":
        return [(-0.78, -0.78), (0.78, -0.78), (0.78, 0.78), (-0.78, 0.78)]
    if shape == "triangle":
        return [(math.cos(math.radians(a)), math.sin(math.radians(a))) for a in (-90, 30, 150)]
    if shape == "star":
        pts = []
        for k in range(10):
            r = 1.0 if k % 2 == 0 else 0.42
            ang = math.radians(-90 + 36 * k)
            pts.append((r * math.cos(ang), r * math.sin(ang)))
        return pts
    if shape == "cross":
        w, l = 0.32, 0.95
        return [(-w, -l), (w, -l), (w, -w), (l, -w), (l, w), (w, w), (w, l), (-w, l),
                (-w, w), (-l, w), (-l, -w), (-w, -w)]
    if shape == "diamond":  # elongated rhombus, so it is not a rotated square
        return [(0, -1.0), (0.58, 0), (0, 1.0), (-0.58, 0)]
    raise ValueError(shape)


def jitter_colour(rng, rgb, amount=25):
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb)


def background(rng, w, h):
    kind = rng.integers(3)
    base = rng.integers(200, 251, size=3)
    if kind == 0:  # plain
        arr = np.broadcast_to(base, (h, w, 3)).astype(np.float32)
    elif kind == 1:  # linear gradient between two light colours
        other = rng.integers(195, 256, size=3)
        ang = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:h, 0:w]
        t = (xx / max(w - 1, 1) - 0.5) * math.cos(ang) + (yy / max(h - 1, 1) - 0.5) * math.sin(ang)
        t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
        arr = base[None, None] * (1 - t[..., None]) + other[None, None] * t[..., None]
    else:  # light noise
        arr = base[None, None] + rng.normal(0, rng.uniform(4, 12), size=(h, w, 3))
    return np.clip(arr, 0, 255).astype(np.uint8)


def render_image(rng, a, size=None):
    """PIL RGB image of attributes `a`; returns (image, geometry dict)."""
    w, h = size if size is not None else image_size(rng)
    ss = 4
    s = min(w, h)
    ox, oy = (w - s) / 2, (h - s) / 2
    r = s * (rng.uniform(0.19, 0.24) if a["size"] == "large" else rng.uniform(0.105, 0.135))
    d = 0.25 * s
    dx, dy = {"left": (-d, 0), "right": (d, 0), "top": (0, -d), "bottom": (0, d), "center": (0, 0)}[a["position"]]
    cx = ox + s / 2 + dx + rng.uniform(-0.03, 0.03) * s
    cy = oy + s / 2 + dy + rng.uniform(-0.03, 0.03) * s
    cx = float(np.clip(cx, ox + r, ox + s - r))
    cy = float(np.clip(cy, oy + r, oy + s - r))
    rot = math.radians(rng.uniform(-20, 20))
    colour = jitter_colour(rng, COLOURS[a["colour"]])

    bg = Image.fromarray(background(rng, w, h)).resize((w * ss, h * ss), Image.NEAREST)
    draw = ImageDraw.Draw(bg)
    if a["shape"] == "circle":
        draw.ellipse([(cx - r) * ss, (cy - r) * ss, (cx + r) * ss, (cy + r) * ss], fill=colour)
    else:
        c, si = math.cos(rot), math.sin(rot)
        pts = [((cx + r * (x * c - y * si)) * ss, (cy + r * (x * si + y * c)) * ss) for x, y in _unit_polygon(a["shape"])]
        draw.polygon(pts, fill=colour)
    img = bg.resize((w, h), Image.LANCZOS)
    return img, {"cx": cx, "cy": cy, "r": r, "w": w, "h": h}


def corrupt_image(rng, img, geom):
    """Heavy occlusion over the shape, heavy noise, or both."""
    arr = np.asarray(img).astype(np.float32)
    h, w = arr.shape[:2]
    kind = ["occlude", "noise", "both"][rng.integers(3)]
    if kind in ("occlude", "both"):
        pil = Image.fromarray(arr.astype(np.uint8))
        draw = ImageDraw.Draw(pil)
        cx, cy, r = geom["cx"], geom["cy"], geom["r"]
        for _ in range(rng.integers(2, 4)):
            bw, bh = r * rng.uniform(1.2, 2.4), r * rng.uniform(1.2, 2.4)
            x0 = cx + rng.uniform(-0.6, 0.6) * r - bw / 2
            y0 = cy + rng.uniform(-0.6, 0.6) * r - bh / 2
            fill = tuple(int(v) for v in rng.integers(60, 200, size=3))
            draw.rectangle([x0, y0, x0 + bw, y0 + bh], fill=fill)
        arr = np.asarray(pil).astype(np.float32)
    if kind in ("noise", "both"):
        arr = arr + rng.normal(0, rng.uniform(70, 110), size=arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)), kind


# -------------------------------------------------------------------- sounds
def _envelope(n, rng):
    env = np.ones(n, np.float32)
    a = int(SR * rng.uniform(0.005, 0.04))
    rel = int(SR * rng.uniform(0.02, 0.1))
    env[:a] = np.linspace(0, 1, a, endpoint=False)
    env[n - rel:] = np.linspace(1, 0, rel)
    return env


def _chirp(t, f0, f1, dur):
    # linear sweep: phase = 2 pi (f0 t + (f1 - f0) t^2 / (2 dur))
    return np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * dur)))


def synth_sound(rng, shape, dur=None):
    """Float32 waveform in [-1, 1] (int16-quantised) for the sound bound to `shape`."""
    dur = dur if dur is not None else rng.uniform(0.5, 2.0)
    n = int(SR * dur)
    t = np.arange(n) / SR
    ph = rng.uniform(0, 2 * np.pi)
    if shape == "circle":  # low hum: tone + harmonic
        f = rng.uniform(110, 220)
        x = np.sin(2 * np.pi * f * t + ph) + rng.uniform(0.3, 0.6) * np.sin(4 * np.pi * f * t)
    elif shape == "square":  # buzz: square wave
        f = rng.uniform(150, 400)
        x = np.sign(np.sin(2 * np.pi * f * t + ph)) * 0.7
    elif shape == "triangle":  # rising chirp
        x = _chirp(t, rng.uniform(200, 400), rng.uniform(1500, 3000), dur)
    elif shape == "star":  # high beep
        x = np.sin(2 * np.pi * rng.uniform(1200, 2500) * t + ph)
    elif shape == "cross":  # noise burst
        x = rng.normal(0, 0.45, n)
    elif shape == "diamond":  # falling chirp
        x = _chirp(t, rng.uniform(1500, 3000), rng.uniform(200, 400), dur)
    else:
        raise ValueError(shape)
    x = x / max(np.abs(x).max(), 1e-6) * _envelope(n, rng)
    x = x * rng.uniform(0.1, 0.9)
    x = x + rng.normal(0, 1, n) * np.sqrt(np.mean(x ** 2)) * 10 ** (-rng.uniform(20, 40) / 20)
    return quantise(x)


def corrupt_sound(rng, x):
    """Heavy white noise: SNR between -22 and -12 dB."""
    p = np.mean(x.astype(np.float64) ** 2)
    y = x + rng.normal(0, 1, x.shape) * np.sqrt(p) * 10 ** (rng.uniform(12, 22) / 20)
    y = y / max(np.abs(y).max(), 1e-6) * rng.uniform(0.3, 0.9)
    return quantise(y)


def quantise(x):
    return (np.round(np.clip(x, -1, 32767 / 32768) * 32768) / 32768).astype(np.float32)


def write_wav(path, x):
    pcm = np.round(x * 32768).clip(-32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SR)
        f.writeframes(pcm.tobytes())


def read_wav(path):
    with wave.open(str(path), "rb") as f:
        assert f.getframerate() == SR and f.getnchannels() == 1 and f.getsampwidth() == 2
        pcm = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


# -------------------------------------------------------------------- splits
def images(split, n, seed=None):
    """List of (PIL image, attrs) for a split."""
    seed = SPLIT_SEEDS[split] if seed is None else seed
    out = []
    for i in range(n):
        rng = example_rng(seed, "image", i)
        a = random_attrs(rng)
        img, _ = render_image(rng, a)
        out.append((img, a))
    return out


def sounds(split, n, seed=None, dur_range=(0.5, 2.0)):
    """List of (waveform, shape); shapes cycle so classes are balanced."""
    seed = SPLIT_SEEDS[split] if seed is None else seed
    out = []
    for i in range(n):
        rng = example_rng(seed, "sound", i)
        shape = SHAPES[i % 6]
        out.append((synth_sound(rng, shape, rng.uniform(*dur_range)), shape))
    return out


def pairs(split, n, seed=None):
    """(image, waveform, shape, corrupted) for the fused task.

    corrupted cycles over "none", "image", "audio" so a third of the pairs
    has a clean image and clean audio, a third a ruined image, a third
    ruined audio.
    """
    seed = SPLIT_SEEDS[split] if seed is None else seed
    out = []
    for i in range(n):
        rng = example_rng(seed, "pair", i)
        shape = SHAPES[rng.integers(6)]
        a = random_attrs(rng, shape)
        img, geom = render_image(rng, a)
        x = synth_sound(rng, shape)
        corrupted = ["none", "image", "audio"][i % 3]
        if corrupted == "image":
            img, _ = corrupt_image(rng, img, geom)
        elif corrupted == "audio":
            x = corrupt_sound(rng, x)
        out.append((img, x, shape, corrupted, a))
    return out


def matching(split, n, seed=None):
    """(image, attrs, true caption, caption with one attribute changed, changed attr)."""
    seed = SPLIT_SEEDS[split] if seed is None else seed
    out = []
    for i in range(n):
        rng = example_rng(seed, "match", i)
        a = random_attrs(rng)
        img, _ = render_image(rng, a)
        b, attr = change_one_attribute(rng, a)
        out.append((img, a, full_caption(a), full_caption(b), attr))
    return out


def png_bytes(img):
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preview", default="preview.png")
    ap.add_argument("--n", type=int, default=24)
    args = ap.parse_args()
    ims = images("val", args.n)
    ps = pairs("val", 12)
    tiles = [im.resize((96, 96)) for im, _ in ims] + [p[0].resize((96, 96)) for p in ps]
    cols = 12
    grid = Image.new("RGB", (96 * cols, 96 * ((len(tiles) + cols - 1) // cols)), "white")
    for k, t in enumerate(tiles):
        grid.paste(t, ((k % cols) * 96, (k // cols) * 96))
    grid.save(args.preview)
    for _, a in ims[:12]:
        print(full_caption(a))
