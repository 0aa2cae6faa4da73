"""Writes tests/fixtures/resample/resample.safetensors: test signals at 44.1 kHz, 48 kHz and
8 kHz (`in_<rate>`, f32, 0.4 s) and soxr's very-high-quality resampling of each to 16 kHz
(`out_<rate>`), which crates/model/tests/resample.rs compares vitfuse's resampler with.

Each signal is a sum of sines, a linear sweep and low-passed noise, all below 6 kHz (3 kHz for
the 8 kHz signal), where both resamplers pass everything; the 44.1 and 48 kHz ones add an 11 kHz
tone that both must remove. Nothing lies in the band near 8 kHz where the two anti-aliasing
filters differ.

Run (from the repository root):
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy scipy soxr safetensors
    /tmp/venv/bin/python tools/gen_resample_fixture.py
"""

import os

import numpy as np
import scipy
import scipy.signal
import soxr
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "resample", "resample.safetensors")
SECONDS = 0.4


def signal(rate, rng):
    n = int(rate * SECONDS)
    t = np.arange(n) / rate
    top = 6000.0 if rate > 16000 else 3000.0
    x = np.zeros(n)
    for f, a in [(440, 0.3), (1000, 0.2), (0.525 * top, 0.1), (0.83 * top, 0.1)]:
        x += a * np.sin(2 * np.pi * f * t + f / 1000)
    x += 0.1 * scipy.signal.chirp(t, 100, SECONDS, top)
    sos = scipy.signal.butter(8, top, fs=rate, output="sos")
    noise = scipy.signal.sosfiltfilt(sos, rng.standard_normal(n))
    x += 0.05 * noise / noise.std()
    if rate > 16000:
        x += 0.05 * np.sin(2 * np.pi * 11000 * t)
    return x


def main():
    rng = np.random.default_rng(20240601)
    tensors = {}
    for rate in [44100, 48000, 8000]:
        x = signal(rate, rng).astype(np.float32)
        y = soxr.resample(x.astype(np.float64), rate, 16000, quality="VHQ").astype(np.float32)
        tensors[f"in_{rate}"] = x
        tensors[f"out_{rate}"] = y
        print(f"{rate} Hz: {len(x)} samples -> {len(y)}")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    meta = {"tool": "tools/gen_resample_fixture.py", "soxr": soxr.__version__, "numpy": np.__version__, "scipy": scipy.__version__}
    save_file(tensors, OUT, metadata=meta)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
