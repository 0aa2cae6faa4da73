"""Evaluate the exported demo models with transformers, from export/ only.

Loads CLIPModel / ASTModel / ViltForImageAndTextRetrieval with
from_pretrained(dtype=float32) (the float16 weights are upcast; all maths in
float32), the tokenizer and processors from the same folders, and the audio
projection and fusion head from their safetensors by hand. Computes on
export/eval (main generator) and export/eval_alt (alternative generator):

  image_top1      zero-shot shape: argmax over the prompts "a {shape}"
  colour_top1     argmax over the 36 prompts "a {colour} {shape}", colour of the winner
  audio_top1      argmax over the 6 prompts pipeline.audio_prompt.format(sound name)
  text_to_image_recall_at_1   query = full caption of each eval image, ranked over
                  all eval images; correct when the top image has every attribute named
  audio_to_image_recall_at_1  each eval sound ranked over all eval images; correct
                  when the top image shows the sound's bound shape
  matching_accuracy  ViLT score(true caption) > score(one-attribute-changed caption)
  fused_top1 / image_only_top1 / audio_only_top1  on the pairs, with the fusion head;
                  "only" = the head with the other modality's embedding set to zero
                  (the head was trained with such modality dropout).
                  *_zeroshot_top1 = CLIP image zero-shot / audio zero-shot (sound -> bound shape)
All CLIP-space logits are logit_scale.exp() * cosine (as CLIPModel's logits_per_image).
Writes export/eval/torch_results.json: the figures and, per example, the
embeddings and logits, for vitfuse's tests.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent
SHAPES = ["circle", "square", "triangle", "star", "cross", "diamond"]
COLOURS = ["red", "green", "blue", "yellow", "purple", "orange"]
SOUND_OF = {"circle": "low hum", "square": "buzz", "triangle": "rising chirp", "star": "high beep",
            "cross": "noise burst", "diamond": "falling chirp"}
ATTR_VALUES = {"shape": SHAPES, "colour": COLOURS, "size": ["small", "large"],
               "position": ["left", "right", "top", "bottom", "center"]}


def caption_matches(caption, e):
    words = caption.split()
    return all(not (v in words and e[k] != v) for k, vs in ATTR_VALUES.items() for v in vs)


def r6(t):
    return np.round(np.asarray(t, dtype=np.float64), 6).tolist()


def read_wav(path):
    import wave
    with wave.open(str(path), "rb") as f:
        assert f.getframerate() == 16000 and f.getnchannels() == 1 and f.getsampwidth() == 2
        pcm = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0  # the float waveform given to ASTFeatureExtractor


class Models:
    def __init__(self, export):
        from transformers import (ASTFeatureExtractor, ASTModel, AutoTokenizer, CLIPImageProcessor, CLIPModel,
                                  ViltForImageAndTextRetrieval, ViltImageProcessor)
        self.export = export
        self.pipe = json.loads((export / "pipeline.json").read_text())
        self.clip = CLIPModel.from_pretrained(export / "clip", dtype=torch.float32).eval()
        self.clip_tok = AutoTokenizer.from_pretrained(export / "clip")
        self.clip_proc = CLIPImageProcessor.from_pretrained(export / "clip")
        self.ast = ASTModel.from_pretrained(export / "audio", dtype=torch.float32).eval()
        self.fe = ASTFeatureExtractor.from_pretrained(export / "audio")
        p = load_file(str(export / self.pipe["towers"]["audio"]["projection"]))
        self.proj_w, self.proj_b = p["weight"].float(), p["bias"].float()
        self.vilt = ViltForImageAndTextRetrieval.from_pretrained(export / "vilt", dtype=torch.float32).eval()
        self.vilt_tok = AutoTokenizer.from_pretrained(export / "vilt")
        self.vilt_proc = ViltImageProcessor.from_pretrained(export / "vilt")
        fu = self.pipe["fusion"]
        self.combine = fu["combine"]
        self.fusion = {k: v.float() for k, v in load_file(str(export / fu["weights"])).items()}
        self.labels = fu["labels"]
        self.scale = float(self.clip.logit_scale.exp())

    @torch.no_grad()
    def text(self, prompts):
        enc = self.clip_tok(prompts, padding=True, return_tensors="pt")
        out = self.clip.get_text_features(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
        return F.normalize(out.pooler_output, dim=-1)

    @torch.no_grad()
    def image(self, pil_images):
        px = self.clip_proc(pil_images, return_tensors="pt")["pixel_values"]
        return F.normalize(self.clip.get_image_features(pixel_values=px).pooler_output, dim=-1)

    @torch.no_grad()
    def audio(self, waves):
        feats = self.fe(waves, sampling_rate=16000, return_tensors="pt")["input_values"]
        pooled = self.ast(input_values=feats).pooler_output
        return F.normalize(pooled @ self.proj_w.T + self.proj_b, dim=-1)

    @torch.no_grad()
    def vilt_scores(self, pil_images, captions):
        enc = self.vilt_tok(captions, padding=True, return_tensors="pt")
        px = self.vilt_proc(pil_images, return_tensors="pt")
        return self.vilt(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                         pixel_values=px["pixel_values"], pixel_mask=px["pixel_mask"]).logits[:, 0]

    @torch.no_grad()
    def fuse(self, ei, ea):
        w = self.fusion
        if self.combine == "weighted_sum":
            f = w["weights"][0] * ei + w["weights"][1] * ea
        elif self.combine == "concat_project":
            f = torch.cat([ei, ea], -1) @ w["proj.weight"].T + w["proj.bias"]
        else:
            g = torch.softmax(torch.cat([ei, ea], -1) @ w["gate.weight"].T + w["gate.bias"], -1)
            f = g[:, :1] * ei + g[:, 1:] * ea
        return f @ w["classifier.weight"].T + w["classifier.bias"]


def acc(pred, truth):
    return float(np.mean([p == t for p, t in zip(pred, truth)]))


def evaluate_set(m, folder, with_pairs):
    labels = json.loads((folder / "labels.json").read_text())
    ims = [Image.open(folder / e["file"]).convert("RGB") for e in labels["images"]]
    waves = [read_wav(folder / e["file"]) for e in labels["sounds"]]
    res, per = {}, {}

    ei = m.image(ims)
    shape_t = m.text(["a " + s for s in SHAPES])
    lg = m.scale * ei @ shape_t.T
    res["image_top1"] = acc([SHAPES[k] for k in lg.argmax(1).tolist()], [e["shape"] for e in labels["images"]])
    cs = [(c, s) for c in COLOURS for s in SHAPES]
    lc = m.scale * ei @ m.text([f"a {c} {s}" for c, s in cs]).T
    res["colour_top1"] = acc([cs[k][0] for k in lc.argmax(1).tolist()], [e["colour"] for e in labels["images"]])
    caps = [e["caption"] for e in labels["images"]]
    lt = m.scale * m.text(caps) @ ei.T
    res["text_to_image_recall_at_1"] = float(np.mean(
        [caption_matches(c, labels["images"][k]) for c, k in zip(caps, lt.argmax(1).tolist())]))
    per["images"] = [{"file": e["file"], "embedding": r6(ei[i]), "shape_logits": r6(lg[i]),
                      "colour_shape_logits": r6(lc[i])} for i, e in enumerate(labels["images"])]
    per["text_to_image_logits"] = {"queries": caps, "logits": r6(lt)}

    ea = m.audio(waves)
    snd_prompts = [m.pipe["audio_prompt"].format(SOUND_OF[s]) for s in SHAPES]
    la = m.scale * ea @ m.text(snd_prompts).T
    res["audio_top1"] = acc([SHAPES[k] for k in la.argmax(1).tolist()], [e["shape"] for e in labels["sounds"]])
    lai = m.scale * ea @ ei.T
    res["audio_to_image_recall_at_1"] = acc([labels["images"][k]["shape"] for k in lai.argmax(1).tolist()],
                                            [e["shape"] for e in labels["sounds"]])
    per["sounds"] = [{"file": e["file"], "embedding": r6(ea[i]), "sound_logits": r6(la[i]),
                      "image_logits": r6(lai[i])} for i, e in enumerate(labels["sounds"])]
    per["prompts"] = {"shape": ["a " + s for s in SHAPES], "colour_shape": [f"a {c} {s}" for c, s in cs],
                      "sound": snd_prompts}

    mt = labels["matching"]
    by_file = dict(zip([e["file"] for e in labels["images"]], ims))
    mims = [by_file[c["image"]] for c in mt]
    st = m.vilt_scores(mims, [c["true_caption"] for c in mt])
    sf = m.vilt_scores(mims, [c["changed_caption"] for c in mt])
    res["matching_accuracy"] = float((st > sf).float().mean())
    for attr in ATTR_VALUES:
        sel = [i for i, c in enumerate(mt) if c["changed_attribute"] == attr]
        res[f"matching_accuracy_{attr}"] = float((st[sel] > sf[sel]).float().mean()) if sel else None
    per["matching"] = [{"image": c["image"], "true_logit": float(st[i]), "changed_logit": float(sf[i])}
                       for i, c in enumerate(mt)]

    if with_pairs:
        pr = labels["pairs"]
        pi = m.image([Image.open(folder / p["image"]).convert("RGB") for p in pr])
        pa = m.audio([read_wav(folder / p["audio"]) for p in pr])
        y = [p["shape"] for p in pr]
        z = torch.zeros_like(pi)
        lf, li_, la_ = m.fuse(pi, pa), m.fuse(pi, z), m.fuse(z, pa)
        res["fused_top1"] = acc([m.labels[k] for k in lf.argmax(1).tolist()], y)
        res["image_only_top1"] = acc([m.labels[k] for k in li_.argmax(1).tolist()], y)
        res["audio_only_top1"] = acc([m.labels[k] for k in la_.argmax(1).tolist()], y)
        zi = m.scale * pi @ shape_t.T
        za = m.scale * pa @ m.text(snd_prompts).T
        res["image_only_zeroshot_top1"] = acc([SHAPES[k] for k in zi.argmax(1).tolist()], y)
        res["audio_only_zeroshot_top1"] = acc([SHAPES[k] for k in za.argmax(1).tolist()], y)
        for c in ("none", "image", "audio"):
            sel = [i for i, p in enumerate(pr) if p["corrupted"] == c]
            res[f"fused_top1_corrupted_{c}"] = acc([m.labels[k] for k in lf[sel].argmax(1).tolist()],
                                                   [y[i] for i in sel])
        per["pairs"] = [{"image": p["image"], "audio": p["audio"], "image_embedding": r6(pi[i]),
                         "audio_embedding": r6(pa[i]), "fused_logits": r6(lf[i]),
                         "image_only_logits": r6(li_[i]), "audio_only_logits": r6(la_[i])}
                        for i, p in enumerate(pr)]
    return res, per


def check_vilt_plain_resize(m, folder):
    """True when ViltImageProcessor equals a plain bicubic resize to 64x64 (+ /255, mean/std) here."""
    labels = json.loads((folder / "labels.json").read_text())
    ims = [Image.open(folder / e["file"]).convert("RGB") for e in labels["images"]]
    px = m.vilt_proc(ims, return_tensors="np")["pixel_values"]
    p = m.vilt_proc
    ref = np.stack([(np.asarray(im.resize((64, 64), Image.BICUBIC), np.float32).transpose(2, 0, 1) / 255
                     - np.array(p.image_mean)[:, None, None]) / np.array(p.image_std)[:, None, None] for im in ims])
    return bool(px.shape == ref.shape and np.abs(px - ref).max() < 1e-5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--export", default=str(ROOT / "export"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    export = Path(args.export)
    t = time.time()
    m = Models(export)
    res, per = evaluate_set(m, export / "eval", True)
    alt_res, alt_per = evaluate_set(m, export / "eval_alt", False)
    import transformers
    out = {
        "figures": res,
        "alt_figures": alt_res,
        "settings": {
            "image_prompt": "a {shape}", "colour_prompt": "a {colour} {shape}",
            "audio_prompt": m.pipe["audio_prompt"], "logit_scale": m.scale, "fusion_combine": m.combine,
            "only_definition": "fusion head with the other modality's embedding zeroed",
            "vilt_processor_is_plain_bicubic_resize_64": check_vilt_plain_resize(m, export / "eval"),
            "transformers": transformers.__version__, "torch": torch.__version__,
            "dtype": "float16 weights upcast to float32, float32 maths",
        },
        "per_example": per,
        "alt_per_example": alt_per,
    }
    (export / "eval" / "torch_results.json").write_text(json.dumps(out, separators=(",", ":")))
    print(json.dumps({"eval": res, "alt": alt_res, "settings": out["settings"]}, indent=1))
    print(f"evaluated in {time.time() - t:.0f}s")


if __name__ == "__main__":
    main()
