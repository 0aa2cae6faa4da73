"""Independent second generator of the demo world, for the generalisation check.

Same world (vocabulary, colours +-25, shapes, positions, sizes, rotation
<= 20 degrees, light backgrounds, 48-160 px, aspect 2:3..3:2, 16 kHz sounds
in the stated bands) but different code and choices everywhere:
  * images are rasterised with numpy (3x3 supersampled coverage from
    half-plane / even-odd polygon tests) instead of PIL.ImageDraw;
  * other shape proportions (fatter star, thinner cross, wider diamond...),
    other radii and offsets, other image-size sampling;
  * backgrounds: radial gradients, vertical/diagonal two-tone blends and
    low-frequency "cloudy" noise;
  * sounds: band-limited additive square wave, exponential chirps, vibrato,
    tremolo, filtered noise, exponential-decay envelopes, other levels
    (peak 0.05-0.6) and background noise (SNR 15-30 dB).
Only the vocabulary / caption helpers are imported from gen_data.
"""
import math

import numpy as np
from PIL import Image

from gen_data import COLOURS, COLOUR_NAMES, POSITIONS, SHAPES, SIZES, SR, change_one_attribute, full_caption, quantise

ALT_SEED = 77077


_KINDS = {"image": 1, "sound": 2}


def _rng(kind, i):
    return np.random.default_rng([ALT_SEED, _KINDS[kind], i])


def _attrs(rng):
    return {"shape": SHAPES[rng.integers(6)], "colour": COLOUR_NAMES[rng.integers(6)],
            "size": SIZES[rng.integers(2)], "position": POSITIONS[rng.integers(5)]}


def _size(rng):
    # area-based sampling: short side 52..106, aspect 1..1.5, long side <= 156
    short = int(rng.integers(52, 107))
    ratio = rng.uniform(1.0, 1.5)
    long_ = min(156, int(short * ratio))
    return (long_, short) if rng.random() < 0.5 else (short, long_)


def _polygon(shape):
    if shape == "square":
        h = 0.72
        return [(-h, -h), (h, -h), (h, h), (-h, h)]
    if shape == "triangle":  # slightly squat
        return [(0.0, -0.95), (0.9, 0.62), (-0.9, 0.62)]
    if shape == "star":
        return [((1.0 if k % 2 == 0 else 0.5) * math.sin(math.pi * k / 5),
                 -(1.0 if k % 2 == 0 else 0.5) * math.cos(math.pi * k / 5)) for k in range(10)]
    if shape == "cross":
        w, l = 0.27, 0.92
        return [(-w, -l), (w, -l), (w, -w), (l, -w), (l, w), (w, w), (w, l), (-w, l),
                (-w, w), (-l, w), (-l, -w), (-w, -w)]
    if shape == "diamond":
        return [(0.0, -0.98), (0.64, 0.0), (0.0, 0.98), (-0.64, 0.0)]
    raise ValueError(shape)


def _inside_polygon(px, py, poly):
    """Even-odd rule, vectorised over points."""
    inside = np.zeros(px.shape, bool)
    n = len(poly)
    for i in range(n):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % n]
        crosses = (y1 > py) != (y2 > py)
        xint = x1 + (py - y1) * (x2 - x1) / ((y2 - y1) if y2 != y1 else 1e-12)
        inside ^= crosses & (px < xint)
    return inside


def _background(rng, w, h):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c1 = rng.uniform(205, 250, 3)
    c2 = rng.uniform(205, 250, 3)
    kind = rng.integers(3)
    if kind == 0:  # radial
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        t = np.hypot(xx - cx, yy - cy)
        t = t / t.max()
    elif kind == 1:  # two-tone blend along a random axis
        t = np.clip(0.5 + ((xx - w / 2) * rng.normal() + (yy - h / 2) * rng.normal()) / (w + h), 0, 1)
    else:  # cloudy low-frequency noise
        small = rng.uniform(0, 1, (4, 4))
        t = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC),
                       np.float32) / 255
    arr = c1 * (1 - t[..., None]) + c2 * t[..., None]
    arr += rng.normal(0, 3, arr.shape)
    return arr


def render(rng, a):
    w, h = _size(rng)
    s = min(w, h)
    x0, y0 = (w - s) / 2, (h - s) / 2
    r = s * (rng.uniform(0.2, 0.23) if a["size"] == "large" else rng.uniform(0.1, 0.125))
    off = s * rng.uniform(0.23, 0.27)
    ux, uy = {"left": (-1, 0), "right": (1, 0), "top": (0, -1), "bottom": (0, 1), "center": (0, 0)}[a["position"]]
    cx = min(max(x0 + s / 2 + ux * off, x0 + r), x0 + s - r)
    cy = min(max(y0 + s / 2 + uy * off, y0 + r), y0 + s - r)
    th = math.radians(rng.uniform(-20, 20))
    col = np.clip(np.array(COLOURS[a["colour"]]) + rng.uniform(-25, 25, 3), 0, 255)
    # 3x3 supersampled coverage
    k = 3
    yy, xx = np.mgrid[0:h * k, 0:w * k].astype(np.float64)
    xx = (xx + 0.5) / k - cx
    yy = (yy + 0.5) / k - cy
    # rotate sample points by -th into the shape frame, scale by radius
    u = (xx * math.cos(th) + yy * math.sin(th)) / r
    v = (-xx * math.sin(th) + yy * math.cos(th)) / r
    if a["shape"] == "circle":
        m = u * u + v * v <= 1.0
    else:
        m = _inside_polygon(u, v, _polygon(a["shape"]))
    cov = m.reshape(h, k, w, k).mean(axis=(1, 3))[..., None]
    arr = _background(rng, w, h) * (1 - cov) + col * cov
    return Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8))


def images(n):
    out = []
    for i in range(n):
        rng = _rng("image", i)
        a = _attrs(rng)
        out.append((render(rng, a), a))
    return out


def matching_captions(attrs_list):
    """One-attribute-changed caption for each image (seeded)."""
    rng = np.random.default_rng(ALT_SEED + 1)
    out = []
    for a in attrs_list:
        b, attr = change_one_attribute(rng, a)
        out.append((full_caption(a), full_caption(b), attr))
    return out


def sound(rng, shape, dur):
    n = int(SR * dur)
    t = np.arange(n) / SR
    if shape == "circle":  # hum: fundamental + 2 harmonics + slow vibrato
        f = rng.uniform(115, 210)
        vib = 1 + 0.004 * np.sin(2 * np.pi * rng.uniform(3, 6) * t)
        ph = 2 * np.pi * np.cumsum(f * vib) / SR
        x = np.sin(ph) + rng.uniform(0.2, 0.5) * np.sin(2 * ph) + rng.uniform(0.05, 0.2) * np.sin(3 * ph)
    elif shape == "square":  # band-limited square from odd harmonics below 7 kHz
        f = rng.uniform(160, 390)
        x = sum(np.sin(2 * np.pi * m * f * t) / m for m in range(1, int(7000 / f) + 1, 2))
    elif shape in ("triangle", "diamond"):  # exponential sweep
        lo, hi = rng.uniform(220, 380), rng.uniform(1600, 2900)
        f0, f1 = (lo, hi) if shape == "triangle" else (hi, lo)
        k = math.log(f1 / f0) / dur
        x = np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)
    elif shape == "star":  # beep with tremolo
        x = np.sin(2 * np.pi * rng.uniform(1250, 2450) * t) * (1 - 0.3 * (0.5 + 0.5 * np.sin(2 * np.pi * 8 * t)))
    elif shape == "cross":  # one-pole filtered noise
        wn = rng.normal(0, 1, n)
        alpha = rng.uniform(0.0, 0.5)
        x = np.empty(n)
        acc = 0.0
        for i in range(n):
            acc = alpha * acc + (1 - alpha) * wn[i]
            x[i] = acc
    else:
        raise ValueError(shape)
    env = np.minimum(1, t / rng.uniform(0.01, 0.05)) * np.exp(-t * rng.uniform(0.0, 1.5))
    env *= np.minimum(1, (dur - t) / 0.03)
    x = x / np.abs(x).max() * env
    x = x / max(np.abs(x).max(), 1e-9) * rng.uniform(0.05, 0.6)
    x += rng.normal(0, 1, n) * np.sqrt(np.mean(x ** 2)) * 10 ** (-rng.uniform(15, 30) / 20)
    return quantise(x)


def sounds(n, dur_range=(0.6, 1.4)):
    out = []
    for i in range(n):
        rng = _rng("sound", i)
        shape = SHAPES[(i * 5) % 6]
        out.append((sound(rng, shape, rng.uniform(*dur_range)), shape))
    return out


if __name__ == "__main__":
    ims = images(24)
    grid = Image.new("RGB", (96 * 12, 96 * 2), "white")
    for k, (im, a) in enumerate(ims):
        grid.paste(im.resize((96, 96)), ((k % 12) * 96, (k // 12) * 96))
    grid.save("preview_alt.png")
    print([full_caption(a) for _, a in ims[:12]])
