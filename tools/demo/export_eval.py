"""Write the evaluation sets as files: export/eval/ (main generator, "eval"
split) and export/eval_alt/ (gen_data_alt, generalisation check).

export/eval/labels.json:
  images:   [{file, shape, colour, size, position, caption}]           (120)
  sounds:   [{file, shape, sound}]                                     (60)
  pairs:    [{image, audio, shape, corrupted}]                         (60)
            corrupted is "none" | "image" | "audio"; clean members reuse
            files from images/ and sounds/, ruined ones live in pairs/
  matching: [{image, true_caption, changed_caption, changed_attribute}] (120,
            one per image)
export/eval_alt/labels.json: images (120), sounds (60), matching (120).

Eval sounds are 0.5-1.5 s long (the lower part of the world's 0.5-2 s) to
keep the export small. Everything is seeded; rerunning rewrites identical files.
"""
import json
import shutil
from pathlib import Path

import numpy as np

import gen_data as G
import gen_data_alt as A

ROOT = Path(__file__).resolve().parent
N_IMAGES, N_SOUNDS, N_PAIRS = 120, 60, 60


def save_png(img, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG", optimize=True)


def image_entry(file, a):
    return {"file": file, "shape": a["shape"], "colour": a["colour"], "size": a["size"],
            "position": a["position"], "caption": G.full_caption(a)}


def write_main(out):
    seed = G.SPLIT_SEEDS["eval"]
    labels = {"images": [], "sounds": [], "pairs": [], "matching": []}
    for i, (img, a) in enumerate(G.images("eval", N_IMAGES)):
        f = f"images/img_{i:03d}.png"
        save_png(img, out / f)
        labels["images"].append(image_entry(f, a))
    for i, (x, shape) in enumerate(G.sounds("eval", N_SOUNDS, dur_range=(0.5, 1.5))):
        f = f"sounds/snd_{i:03d}.wav"
        (out / "sounds").mkdir(parents=True, exist_ok=True)
        G.write_wav(out / f, x)
        labels["sounds"].append({"file": f, "shape": shape, "sound": G.SOUND_OF[shape]})
    # pairs: shape (i // 3) % 6, corruption cycles none / image / audio
    by_shape_img = {s: [e["file"] for e in labels["images"] if e["shape"] == s] for s in G.SHAPES}
    by_shape_snd = {s: [e["file"] for e in labels["sounds"] if e["shape"] == s] for s in G.SHAPES}
    for i in range(N_PAIRS):
        rng = G.example_rng(seed, "pair", i)
        shape = G.SHAPES[(i // 3) % 6]
        corrupted = ["none", "image", "audio"][i % 3]
        k = i // 18
        image = by_shape_img[shape][k % len(by_shape_img[shape])]
        audio = by_shape_snd[shape][k % len(by_shape_snd[shape])]
        if corrupted == "image":
            a = G.random_attrs(rng, shape)
            img, geom = G.render_image(rng, a)
            img, _ = G.corrupt_image(rng, img, geom)
            image = f"pairs/pimg_{i:03d}.png"
            save_png(img, out / image)
        elif corrupted == "audio":
            x = G.synth_sound(rng, shape, rng.uniform(0.5, 1.5))
            audio = f"pairs/paud_{i:03d}.wav"
            G.write_wav(out / audio, G.corrupt_sound(rng, x))
        labels["pairs"].append({"image": image, "audio": audio, "shape": shape, "corrupted": corrupted})
    rng = np.random.default_rng(seed + 1)
    for e in labels["images"]:
        a = {k: e[k] for k in G.ATTRS}
        b, attr = G.change_one_attribute(rng, a)
        labels["matching"].append({"image": e["file"], "true_caption": e["caption"],
                                   "changed_caption": G.full_caption(b), "changed_attribute": attr})
    (out / "labels.json").write_text(json.dumps(labels, indent=1))


def write_alt(out):
    labels = {"generator": "gen_data_alt.py", "images": [], "sounds": [], "matching": []}
    ims = A.images(N_IMAGES)
    for i, (img, a) in enumerate(ims):
        f = f"images/alt_{i:03d}.png"
        save_png(img, out / f)
        labels["images"].append(image_entry(f, a))
    (out / "sounds").mkdir(parents=True, exist_ok=True)
    for i, (x, shape) in enumerate(A.sounds(N_SOUNDS)):
        f = f"sounds/alt_{i:03d}.wav"
        G.write_wav(out / f, x)
        labels["sounds"].append({"file": f, "shape": shape, "sound": G.SOUND_OF[shape]})
    for e, (t, c, attr) in zip(labels["images"], A.matching_captions([a for _, a in ims])):
        labels["matching"].append({"image": e["file"], "true_caption": t, "changed_caption": c,
                                   "changed_attribute": attr})
    (out / "labels.json").write_text(json.dumps(labels, indent=1))


def du(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


if __name__ == "__main__":
    for name, fn in (("eval", write_main), ("eval_alt", write_alt)):
        out = ROOT / "export" / name
        keep = out / "torch_results.json"
        saved = keep.read_bytes() if keep.exists() else None
        for sub in ("images", "sounds", "pairs"):
            shutil.rmtree(out / sub, ignore_errors=True)
        out.mkdir(parents=True, exist_ok=True)
        fn(out)
        if saved is not None:
            keep.write_bytes(saved)
        print(f"{name}: {du(out) / 1e6:.2f} MB")
