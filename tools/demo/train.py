"""Train the vitfuse demo models on CPU and export them to export/.

Stages (run all, or one with --stage):
  clip    CLIPModel (small ViT image tower + text tower), contrastive loss on
          captions, word-level tokenizer  -> export/clip/
  audio   ASTModel + linear projection into CLIP space, trained against the
          frozen CLIP image embeddings of the bound shape and the CLIP text
          embedding of the sound-name prompt  -> export/audio/
  vilt    ViltForImageAndTextRetrieval, BCE on (image, caption) with
          one-attribute-changed negatives  -> export/vilt/
  fusion  late-fusion head over (CLIP image emb, projected AST emb); tries
          weighted_sum / concat_project / gated, keeps the best on
          validation  -> export/fusion.safetensors, export/fusion.json
  pipeline export/pipeline.json

Weights are exported as float16. Every stage is seeded (torch + numpy) and
data comes from gen_data.py's seeded splits; preprocessed data is cached in
cache/. Threads: --threads (default 1; the README's final runs use 2).
"""
import argparse
import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

import gen_data as G

ROOT = Path(__file__).resolve().parent
EXPORT = ROOT / "export"
CACHE = ROOT / "cache"

# ------------------------------------------------------------------ settings
E = 64  # shared embedding size (CLIP projection_dim)
MAX_TEXT = 16  # model_max_length / max_position_embeddings of the text towers
CLIP_IMAGE = 64
VILT_IMAGE = 64
AUDIO_PROMPT = "a sound of a {}"
IMAGE_PROMPT = "a {}"  # zero-shot shape prompt (a caption form seen in training)
AST_MEL, AST_FRAMES = 64, 200

SPECIALS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]  # ids 0..3 (EOS must not be 2: see README)
WORDS = (["a", "the", "on", "in", "of", "sound"] + G.SHAPES + G.COLOUR_NAMES + G.SIZES + G.POSITIONS
         + sorted({w for n in G.SOUND_NAMES for w in n.split()}) + [".", ",", "!", "?"])


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def seed_all(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)


def save_half(model, folder):
    """save_pretrained in float16 (safetensors)."""
    model = model.to(torch.float16)
    model.save_pretrained(folder, safe_serialization=True)
    model.to(torch.float32)


def cosine_lr(step, total, base, warmup):
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))


# ----------------------------------------------------------------- tokenizer
def build_tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = {t: i for i, t in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Strip()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.post_processor = processors.TemplateProcessing(
        single="[BOS] $A [EOS]", pair="[BOS] $A [EOS] $B:1 [EOS]:1",
        special_tokens=[("[BOS]", vocab["[BOS]"]), ("[EOS]", vocab["[EOS]"])])
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    tok.enable_truncation(MAX_TEXT)
    return tok


def write_tokenizer(folder):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    tok.no_padding()  # padding is requested per call (padding=True / "max_length")
    tok.save(str(folder / "tokenizer.json"))
    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": MAX_TEXT,
        "pad_token": "[PAD]", "unk_token": "[UNK]", "bos_token": "[BOS]", "eos_token": "[EOS]",
        "padding_side": "right", "truncation_side": "right",
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2))
    (folder / "special_tokens_map.json").write_text(json.dumps(
        {"pad_token": "[PAD]", "unk_token": "[UNK]", "bos_token": "[BOS]", "eos_token": "[EOS]"}, indent=2))


class Texts:
    """Caption -> padded ids with the exact tokenizer that is exported."""

    def __init__(self):
        self.tok = build_tokenizer()
        self.cache = {}

    def ids(self, caption):
        if caption not in self.cache:
            self.cache[caption] = self.tok.encode(caption).ids
        return self.cache[caption]

    def batch(self, captions):
        seqs = [self.ids(c) for c in captions]
        n = max(map(len, seqs))
        ids = torch.zeros(len(seqs), n, dtype=torch.long)
        mask = torch.zeros(len(seqs), n, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s)
            mask[i, :len(s)] = 1
        return ids, mask


def check_tokenizer(folder):
    """The exported files must load in transformers and give the trained ids."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    texts = Texts()
    caps = ["a large red star on the left", "a small blue circle in the center", "a cross",
            AUDIO_PROMPT.format("rising chirp"), "A Green Diamond."]
    for cls in (PreTrainedTokenizerFast, AutoTokenizer):
        t = cls.from_pretrained(folder)
        for c in caps:
            assert t(c)["input_ids"] == texts.ids(c), (cls, c, t(c)["input_ids"], texts.ids(c))
        enc = t(caps, padding=True, return_tensors="pt")
        ref, mask = texts.batch(caps)
        assert torch.equal(enc["input_ids"], ref) and torch.equal(enc["attention_mask"], mask)
    try:  # CLIPTokenizerFast is an alias of CLIPTokenizer in transformers 5
        from transformers import CLIPTokenizerFast
        t = CLIPTokenizerFast.from_pretrained(folder)
        ok = all(t(c)["input_ids"] == texts.ids(c) for c in caps)
        log("CLIPTokenizerFast gives the trained ids:", ok)
    except Exception as e:  # noqa: BLE001 - report, do not fail
        log("CLIPTokenizerFast could not load the folder:", type(e).__name__, str(e)[:200])
    log("tokenizer check ok; vocab", len(SPECIALS + WORDS))


# ------------------------------------------------------------- image caches
def clip_processor():
    from transformers import CLIPImageProcessor
    return CLIPImageProcessor.from_pretrained(EXPORT / "clip")


def image_cache(name, split, n, processor_fn, kind="images"):
    """uint8 (N, 3, S, S) resized+cropped pixels (processor with rescale/normalize off) + attrs."""
    path = CACHE / f"{name}_{split}_{kind}_{n}.pt"
    if path.exists():
        return torch.load(path, weights_only=False)
    CACHE.mkdir(exist_ok=True)
    proc = processor_fn()
    t = time.time()
    if kind == "images":
        data = G.images(split, n)
        ims, attrs = [d[0] for d in data], [d[1] for d in data]
        extra = {"attrs": attrs}
    elif kind == "matching":
        data = G.matching(split, n)
        ims = [d[0] for d in data]
        extra = {"attrs": [d[1] for d in data], "true": [d[2] for d in data], "false": [d[3] for d in data]}
    else:
        raise ValueError(kind)
    px = []
    for i in range(0, len(ims), 256):
        out = proc(ims[i:i + 256], return_tensors="np", do_rescale=False, do_normalize=False)
        px.append(torch.from_numpy(np.asarray(out["pixel_values"], dtype=np.uint8)))
    obj = {"pixels": torch.cat(px), **extra}
    torch.save(obj, path)
    log(f"cached {path.name} in {time.time() - t:.0f}s")
    return obj


def normalise(px_u8, mean, std):
    x = px_u8.float() * (1 / 255)
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


# ---------------------------------------------------------------------- CLIP
def clip_config():
    from transformers import CLIPConfig
    v = len(SPECIALS + WORDS)
    return CLIPConfig(
        text_config=dict(vocab_size=v, hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=MAX_TEXT, pad_token_id=0,
                         bos_token_id=2, eos_token_id=3, projection_dim=E),
        vision_config=dict(image_size=CLIP_IMAGE, patch_size=8, hidden_size=64, intermediate_size=256,
                           num_hidden_layers=3, num_attention_heads=4, projection_dim=E),
        projection_dim=E)


def hard_negative(rng, a):
    if rng.random() < 0.5:
        b = dict(a)
        b["position"] = [p for p in G.POSITIONS if p != a["position"]][rng.integers(4)]
        return b
    return G.change_one_attribute(rng, a)[0]


def sample_caption(rng, a):
    u = rng.random()
    if u < 0.7:
        return G.full_caption(a)
    if u < 0.88:
        return G.colour_caption(a)
    return G.shape_caption(a)


def clip_text_embeds(model, texts, captions):
    ids, mask = texts.batch(captions)
    return F.normalize(model.get_text_features(input_ids=ids, attention_mask=mask).pooler_output, dim=-1)


def clip_image_embeds(model, px, bs=512):
    out = []
    for i in range(0, len(px), bs):
        out.append(F.normalize(model.get_image_features(pixel_values=px[i:i + bs]).pooler_output, dim=-1))
    return torch.cat(out)


@torch.no_grad()
def clip_validate(model, texts, px, attrs):
    model.eval()
    img = clip_image_embeds(model, px)
    shape_t = clip_text_embeds(model, texts, [IMAGE_PROMPT.format(s) for s in G.SHAPES])
    shape_acc = np.mean([G.SHAPES[k] == a["shape"] for k, a in zip((img @ shape_t.T).argmax(1).tolist(), attrs)])
    cs = [(c, s) for c in G.COLOUR_NAMES for s in G.SHAPES]
    cs_t = clip_text_embeds(model, texts, [f"a {c} {s}" for c, s in cs])
    col_acc = np.mean([cs[k][0] == a["colour"] for k, a in zip((img @ cs_t.T).argmax(1).tolist(), attrs)])
    caps = [G.full_caption(a) for a in attrs]
    cap_t = clip_text_embeds(model, texts, caps)
    top = (cap_t @ img.T).argmax(1).tolist()
    r1 = np.mean([G.caption_matches(c, attrs[k]) for c, k in zip(caps, top)])
    model.train()
    return {"shape_top1": float(shape_acc), "colour_top1": float(col_acc), "t2i_r1": float(r1)}


def attr_codes(attrs):
    return torch.tensor([[G.ATTR_VALUES[k].index(a[k]) for k in G.ATTRS] for a in attrs])


def caption_codes(captions):
    """Per caption, the value index it names for each attribute (-1 = not named)."""
    out = []
    for c in captions:
        w = c.split()
        out.append([next((i for i, v in enumerate(G.ATTR_VALUES[k]) if v in w), -1) for k in G.ATTRS])
    return torch.tensor(out)


def match_matrix(attrs, captions):
    """pos[i, j] = 1 when caption j is true of image i (same as gen_data.caption_matches)."""
    a, c = attr_codes(attrs)[:, None, :], caption_codes(captions)[None, :, :]
    return ((c == -1) | (c == a)).all(-1).float()


def sincos_2d(grid, dim, scale=0.5):
    """(grid*grid, dim) 2-D sine-cosine table (y in the first half, x in the second), times `scale`.

    Used only to initialise the learned patch position embeddings: with the
    default N(0, 0.02) init the tiny models never learned "left/right/top/bottom".
    """
    q = dim // 4
    freq = 1.0 / (100 ** (torch.arange(q) / q))
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32),
                            indexing="ij")
    parts = []
    for c in (ys.flatten(), xs.flatten()):
        a = c[:, None] * freq[None]
        parts += [torch.sin(a), torch.cos(a)]
    return torch.cat(parts, 1) * scale


def train_clip(args):
    from transformers import CLIPImageProcessor, CLIPModel
    seed_all(0)
    out = EXPORT / "clip"
    out.mkdir(parents=True, exist_ok=True)
    write_tokenizer(out)
    check_tokenizer(out)
    texts = Texts()

    # mean/std of the training pixels (resize 64 + centre crop 64)
    proc0 = lambda: CLIPImageProcessor(size={"shortest_edge": CLIP_IMAGE},  # noqa: E731
                                       crop_size={"height": CLIP_IMAGE, "width": CLIP_IMAGE})
    tr = image_cache("clip", "train", args.clip_n, proc0)
    va = image_cache("clip", "val", 600, proc0)
    f = tr["pixels"][:2000].float() / 255
    mean = [round(float(v), 4) for v in f.mean((0, 2, 3))]
    std = [round(float(v), 4) for v in f.std((0, 2, 3))]
    proc = CLIPImageProcessor(size={"shortest_edge": CLIP_IMAGE}, crop_size={"height": CLIP_IMAGE, "width": CLIP_IMAGE},
                              image_mean=mean, image_std=std, resample=3, do_center_crop=True, do_convert_rgb=True)
    proc.save_pretrained(out)
    xtr, xva = normalise(tr["pixels"], mean, std), normalise(va["pixels"], mean, std)

    model = CLIPModel(clip_config())
    with torch.no_grad():
        pe = model.vision_model.embeddings.position_embedding.weight
        pe[1:] = sincos_2d(CLIP_IMAGE // 8, pe.shape[1])
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.clip_lr, weight_decay=0.05)
    rng = np.random.default_rng(0)
    n, bs = len(xtr), 128
    steps_per_epoch = n // bs
    total = steps_per_epoch * args.clip_epochs
    log(f"CLIP params {sum(p.numel() for p in model.parameters())}, {total} steps")
    t0, step = time.time(), 0
    for ep in range(args.clip_epochs):
        perm = rng.permutation(n)
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            attrs = [tr["attrs"][i] for i in idx]
            caps = [sample_caption(rng, a) for a in attrs]
            # extra hard-negative captions: the full caption with one attribute changed
            # (position half of the time, the attribute CLIP learns last)
            hard = [G.full_caption(hard_negative(rng, a)) for a in attrs]
            ids, mask = texts.batch(caps + hard)
            for g in opt.param_groups:
                g["lr"] = cosine_lr(step, total, args.clip_lr, 100)
            o = model(input_ids=ids, attention_mask=mask, pixel_values=xtr[idx])
            # multi-positive contrastive loss: caption j is a positive for image i
            # when every attribute it names is true of image i
            pos = match_matrix(attrs, caps + hard)
            li = o.logits_per_image  # (B, 2B)
            l_i2t = -(pos / pos.sum(1, keepdim=True) * li.log_softmax(1)).sum(1).mean()
            p_t, l_t = pos[:, :len(idx)], li[:, :len(idx)]
            l_t2i = -(p_t / p_t.sum(0, keepdim=True) * l_t.log_softmax(0)).sum(0).mean()
            loss = 0.5 * (l_i2t + l_t2i)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            step += 1
        m = clip_validate(model, texts, xva, va["attrs"])
        log(f"clip ep {ep} loss {loss.item():.3f} scale {model.logit_scale.exp().item():.1f} val {m} "
            f"{time.time() - t0:.0f}s")
    model.config.logit_scale_init_value = float(model.logit_scale.item())
    save_half(model, out)
    log(f"CLIP trained in {time.time() - t0:.0f}s")
    return {"clip_train_s": time.time() - t0, "clip_val": m}


def load_clip():
    from transformers import CLIPModel
    m = CLIPModel.from_pretrained(EXPORT / "clip", dtype=torch.float32).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def clip_pixels(pil_images, proc):
    return torch.from_numpy(np.asarray(proc(pil_images, return_tensors="np")["pixel_values"], dtype=np.float32))


# ----------------------------------------------------------------------- AST
def ast_extractor():
    from transformers import ASTFeatureExtractor
    return ASTFeatureExtractor.from_pretrained(EXPORT / "audio")


def sound_cache(split, n, fe, noisy_frac=0.0):
    """Features of `n` sounds (shapes cycle); a fraction gets moderate extra noise (augmentation)."""
    path = CACHE / f"ast_{split}_{n}_{noisy_frac}.pt"
    if path.exists():
        return torch.load(path, weights_only=False)
    t = time.time()
    data = G.sounds(split, n)
    rng = np.random.default_rng(7)
    waves = []
    for x, _ in data:
        if rng.random() < noisy_frac:  # SNR 0..15 dB
            p = np.mean(x ** 2)
            x = G.quantise(x + rng.normal(0, 1, x.shape) * np.sqrt(p) * 10 ** (-rng.uniform(0, 15) / 20))
        waves.append(x)
    feats = torch.from_numpy(np.stack(fe(waves, sampling_rate=G.SR, return_tensors="np")["input_values"]))
    obj = {"feats": feats, "shapes": [s for _, s in data]}
    torch.save(obj, path)
    log(f"cached {path.name} in {time.time() - t:.0f}s")
    return obj


def ast_config():
    from transformers import ASTConfig
    return ASTConfig(hidden_size=64, num_hidden_layers=3, num_attention_heads=4, intermediate_size=256,
                     patch_size=16, frequency_stride=10, time_stride=10, num_mel_bins=AST_MEL,
                     max_length=AST_FRAMES, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


class AudioTower(torch.nn.Module):
    def __init__(self, ast):
        super().__init__()
        self.ast = ast
        self.proj = torch.nn.Linear(ast.config.hidden_size, E)

    def forward(self, feats):
        return F.normalize(self.proj(self.ast(input_values=feats).pooler_output), dim=-1)


def sound_prompt_embeds(clip, texts):
    with torch.no_grad():
        return clip_text_embeds(clip, texts, [AUDIO_PROMPT.format(n) for n in G.SOUND_NAMES])


def audio_features(args):
    """Write export/audio/preprocessor_config.json and cache train/val features."""
    from transformers import ASTFeatureExtractor
    out = EXPORT / "audio"
    out.mkdir(parents=True, exist_ok=True)
    # normalisation statistics of the log-mel features, from 300 extra training clips
    fe0 = ASTFeatureExtractor(num_mel_bins=AST_MEL, max_length=AST_FRAMES, do_normalize=False)
    raw = np.stack(fe0([x for x, _ in G.sounds("train", 300, seed=999)], sampling_rate=G.SR,
                       return_tensors="np")["input_values"])
    fe = ASTFeatureExtractor(num_mel_bins=AST_MEL, max_length=AST_FRAMES, do_normalize=True,
                             mean=round(float(raw.mean()), 4), std=round(float(raw.std()), 4),
                             sampling_rate=G.SR, feature_size=1, padding_value=0.0)
    fe.save_pretrained(out)
    return sound_cache("train", args.audio_n, fe, noisy_frac=0.3), sound_cache("val", 300, fe)


def train_audio(args):
    from transformers import ASTModel, CLIPImageProcessor
    seed_all(1)
    out = EXPORT / "audio"
    tr, va = audio_features(args)
    clip = load_clip()
    texts = Texts()

    # frozen CLIP targets: image embeddings of clean training images, grouped by shape
    proc = CLIPImageProcessor.from_pretrained(EXPORT / "clip")
    imgs = G.images("train", 1200, seed=4242)
    with torch.no_grad():
        img_emb = clip_image_embeds(clip, clip_pixels([i for i, _ in imgs], proc))
    img_shape = torch.tensor([G.SHAPES.index(a["shape"]) for _, a in imgs])
    by_shape = [torch.nonzero(img_shape == k).flatten() for k in range(6)]
    snd_t = sound_prompt_embeds(clip, texts)
    log("sound prompt cosines:\n", np.round((snd_t @ snd_t.T).numpy(), 3))

    tower = AudioTower(ASTModel(ast_config()))
    opt = torch.optim.AdamW(tower.parameters(), lr=args.audio_lr, weight_decay=0.05)
    y_tr = torch.tensor([G.SHAPES.index(s) for s in tr["shapes"]])
    y_va = torch.tensor([G.SHAPES.index(s) for s in va["shapes"]])
    n, bs = len(y_tr), 64
    total = (n // bs) * args.audio_epochs
    scale = 1 / 0.07
    rng = np.random.default_rng(1)
    log(f"AST params {sum(p.numel() for p in tower.ast.parameters())}, {total} steps")
    t0, step = time.time(), 0
    for ep in range(args.audio_epochs):
        tower.train()
        perm = rng.permutation(n)
        for b in range(n // bs):
            idx = perm[b * bs:(b + 1) * bs]
            y = y_tr[idx]
            # one random clean image of each clip's bound shape
            pick = torch.stack([by_shape[k][rng.integers(len(by_shape[k]))] for k in y.tolist()])
            for g in opt.param_groups:
                g["lr"] = cosine_lr(step, total, args.audio_lr, 50)
            a = tower(tr["feats"][idx])
            li = a @ img_emb[pick].T * scale
            pos = (y[:, None] == y[None, :]).float()
            l_img = 0.5 * (-(pos / pos.sum(1, keepdim=True) * li.log_softmax(1)).sum(1).mean()
                           - (pos / pos.sum(0, keepdim=True) * li.log_softmax(0)).sum(0).mean())
            l_txt = F.cross_entropy(a @ snd_t.T * scale, y)
            loss = l_img + l_txt
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        tower.eval()
        with torch.no_grad():
            av = torch.cat([tower(va["feats"][i:i + 256]) for i in range(0, len(y_va), 256)])
        acc_t = float(((av @ snd_t.T).argmax(1) == y_va).float().mean())
        acc_i = float((img_shape[(av @ img_emb.T).argmax(1)] == y_va).float().mean())
        log(f"audio ep {ep} loss {loss.item():.3f} (img {l_img.item():.3f} txt {l_txt.item():.3f}) "
            f"val audio->text {acc_t:.3f} audio->image {acc_i:.3f} {time.time() - t0:.0f}s")
    tower.ast.to(torch.float16).save_pretrained(out, safe_serialization=True)
    save_file({"weight": tower.proj.weight.detach().half().contiguous(),
               "bias": tower.proj.bias.detach().half().contiguous()}, str(out / "projection.safetensors"))
    log(f"AST trained in {time.time() - t0:.0f}s")
    return {"audio_train_s": time.time() - t0, "audio_val": {"audio_to_text": acc_t, "audio_to_image": acc_i}}


def load_audio():
    from transformers import ASTModel
    ast = ASTModel.from_pretrained(EXPORT / "audio", dtype=torch.float32).eval()
    tower = AudioTower(ast)
    p = load_file(str(EXPORT / "audio" / "projection.safetensors"))
    tower.proj.weight.data = p["weight"].float()
    tower.proj.bias.data = p["bias"].float()
    for q in tower.parameters():
        q.requires_grad_(False)
    return tower.eval()


# ---------------------------------------------------------------------- ViLT
def vilt_proc_kwargs():
    """ViltImageProcessor settings; mean/std are CLIP's so the CLIP warm start fits."""
    c = json.loads((EXPORT / "clip" / "preprocessor_config.json").read_text())
    return dict(size={"shortest_edge": VILT_IMAGE}, size_divisor=VILT_IMAGE, resample=3,
                image_mean=c["image_mean"], image_std=c["image_std"], do_pad=True, do_resize=True,
                do_rescale=True, rescale_factor=1 / 255, do_normalize=True)


@torch.no_grad()
def vilt_from_clip(model, clip):
    """Warm start: CLIP's patch conv, patch positions, CLS and vision layers, text token/position tables."""
    e, v, t = model.vilt.embeddings, clip.vision_model, clip.text_model
    e.patch_embeddings.projection.weight.copy_(v.embeddings.patch_embedding.weight)
    e.patch_embeddings.projection.bias.zero_()
    e.position_embeddings[0].copy_(v.embeddings.position_embedding.weight)
    e.cls_token[0, 0].copy_(v.embeddings.class_embedding)
    e.text_embeddings.word_embeddings.weight.copy_(t.embeddings.token_embedding.weight)
    e.text_embeddings.position_embeddings.weight.copy_(t.embeddings.position_embedding.weight)
    names = {"layer_norm1": "layernorm_before", "layer_norm2": "layernorm_after",
             "self_attn.q_proj": "attention.attention.query", "self_attn.k_proj": "attention.attention.key",
             "self_attn.v_proj": "attention.attention.value", "self_attn.out_proj": "attention.output.dense",
             "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense"}
    for i, src in enumerate(v.encoder.layers):
        dst = model.vilt.encoder.layer[i]
        for a, b in names.items():
            sm, dm = src.get_submodule(a), dst.get_submodule(b)
            dm.weight.copy_(sm.weight)
            dm.bias.copy_(sm.bias)


def vilt_config():
    from transformers import ViltConfig
    return ViltConfig(vocab_size=len(SPECIALS + WORDS), hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                      intermediate_size=256, max_position_embeddings=MAX_TEXT, image_size=VILT_IMAGE,
                      patch_size=8, pad_token_id=0, max_image_length=-1, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0)


def vilt_scores(model, px, ids, mask):
    return model(input_ids=ids, attention_mask=mask, pixel_values=px,
                 pixel_mask=torch.ones(px.shape[0], px.shape[2], px.shape[3], dtype=torch.long)).logits[:, 0]


@torch.no_grad()
def vilt_validate(model, texts, va, mean, std):
    model.eval()
    px = normalise(va["pixels"], mean, std)
    sp, sn = [], []
    for i in range(0, len(px), 200):
        ids, m = texts.batch(va["true"][i:i + 200])
        sp.append(vilt_scores(model, px[i:i + 200], ids, m))
        ids, m = texts.batch(va["false"][i:i + 200])
        sn.append(vilt_scores(model, px[i:i + 200], ids, m))
    model.train()
    return float((torch.cat(sp) > torch.cat(sn)).float().mean())


NEG_WEIGHTS = {"shape": 0.35, "colour": 0.15, "size": 0.1, "position": 0.4}


def change_attribute_weighted(rng, a):
    """One attribute changed; the attribute is drawn with NEG_WEIGHTS (hard ones more often)."""
    attr = G.ATTRS[rng.choice(4, p=[NEG_WEIGHTS[k] for k in G.ATTRS])]
    b = dict(a)
    others = [v for v in G.ATTR_VALUES[attr] if v != a[attr]]
    b[attr] = others[rng.integers(len(others))]
    return b


def train_vilt1(args):
    """First ViLT session: CLIP warm start -> runs/vilt_1 (unless --vilt-out)."""
    a = argparse.Namespace(**vars(args))
    a.vilt_out = args.vilt_out or str(ROOT / "runs" / "vilt_1")
    return train_vilt(a)


def train_vilt2(args):
    """Second ViLT session: continue runs/vilt_1 with colour-heavier negatives -> export/vilt."""
    a = argparse.Namespace(**vars(args))
    a.vilt_init = args.vilt_init or str(ROOT / "runs" / "vilt_1")
    a.vilt_out = args.vilt_out or str(EXPORT / "vilt")
    a.vilt_seed, a.vilt_lr, a.vilt_epochs = 5, 5e-4, 6
    a.vilt_neg_weights = "0.3,0.4,0.05,0.25"
    r = train_vilt(a)
    return {k.replace("vilt_", "vilt2_"): v for k, v in r.items()}


def train_vilt(args):
    from transformers import ViltForImageAndTextRetrieval, ViltImageProcessor
    seed_all(args.vilt_seed)
    NEG_WEIGHTS.update(zip(G.ATTRS, map(float, args.vilt_neg_weights.split(","))))
    log("negative / mask attribute weights", NEG_WEIGHTS)
    out = Path(args.vilt_out) if args.vilt_out else EXPORT / "vilt"
    out.mkdir(parents=True, exist_ok=True)
    write_tokenizer(out)
    kw = vilt_proc_kwargs()
    ViltImageProcessor(**kw).save_pretrained(out)
    mean, std = kw["image_mean"], kw["image_std"]
    texts = Texts()
    proc = lambda: ViltImageProcessor(**kw)  # noqa: E731
    # resize of an aspect <= 3:2 image with shortest_edge 64 and size_divisor 64 is always 64x64
    tr = image_cache("vilt", "train", args.vilt_n, proc)
    va = image_cache("vilt", "val", 600, proc, kind="matching")
    assert tr["pixels"].shape[1:] == (3, VILT_IMAGE, VILT_IMAGE)
    xtr = normalise(tr["pixels"], mean, std)
    if args.vilt_init:  # continue from an earlier ViLT run (second 15-minute session)
        model = ViltForImageAndTextRetrieval.from_pretrained(args.vilt_init, dtype=torch.float32)
    else:
        model = ViltForImageAndTextRetrieval(vilt_config())
        vilt_from_clip(model, load_clip())
    model.train()
    mlm_head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size)  # not exported
    opt = torch.optim.AdamW(list(model.parameters()) + list(mlm_head.parameters()), lr=args.vilt_lr,
                            weight_decay=0.05)
    rng = np.random.default_rng(args.vilt_seed)
    n, bs = len(xtr), args.vilt_bs
    total = (n // bs) * args.vilt_epochs
    log(f"ViLT params {sum(p.numel() for p in model.parameters())}, {total} steps")
    t0, step = time.time(), 0
    for ep in range(args.vilt_epochs):
        perm = rng.permutation(n)
        for b in range(n // bs):
            idx = perm[b * bs:(b + 1) * bs]
            attrs = [tr["attrs"][i] for i in idx]
            pos = [G.full_caption(a) for a in attrs]
            neg = [G.full_caption(change_attribute_weighted(rng, a)) for a in attrs]
            ids, m = texts.batch(pos + neg)
            px = xtr[idx].repeat(2, 1, 1, 1)
            for g in opt.param_groups:
                g["lr"] = cosine_lr(step, total, args.vilt_lr, 100)
            if args.vilt_mlm > 0:
                # auxiliary masked-word loss (ViLT's MLM, on attribute words only): in half of the
                # positive captions one attribute word becomes [UNK] and a throw-away head predicts it
                tgt = torch.full(ids.shape, -100, dtype=torch.long)
                for i, a in enumerate(attrs):
                    if rng.random() < 0.5:
                        attr = G.ATTRS[rng.choice(4, p=[NEG_WEIGHTS[k] for k in G.ATTRS])]
                        j = texts.ids(pos[i]).index(texts.tok.token_to_id(a[attr]))
                        tgt[i, j] = ids[i, j]
                        ids[i, j] = 1  # [UNK]
                o = model.vilt(input_ids=ids, attention_mask=m, pixel_values=px,
                               pixel_mask=torch.ones(px.shape[0], px.shape[2], px.shape[3], dtype=torch.long))
                s = model.rank_output(o.pooler_output)[:, 0]
                sel = tgt != -100
                mlm = F.cross_entropy(mlm_head(o.last_hidden_state[:, :ids.shape[1]][sel]), tgt[sel])
            else:
                s = vilt_scores(model, px, ids, m)
                mlm = torch.zeros(())
            y = torch.cat([torch.ones(len(idx)), torch.zeros(len(idx))])
            loss = F.binary_cross_entropy_with_logits(s, y) + args.vilt_mlm * mlm
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(mlm_head.parameters()), 1.0)
            opt.step()
            step += 1
        acc = vilt_validate(model, texts, va, mean, std)
        log(f"vilt ep {ep} loss {loss.item():.3f} mlm {mlm.item():.3f} val matching {acc:.3f} {time.time() - t0:.0f}s")
    save_half(model, out)
    log(f"ViLT trained in {time.time() - t0:.0f}s")
    return {"vilt_train_s": time.time() - t0, "vilt_val_matching": acc}


# -------------------------------------------------------------------- fusion
class Fusion(torch.nn.Module):
    """The three combiners exactly as vitfuse's fusion kernels compute them."""

    def __init__(self, combine):
        super().__init__()
        self.combine = combine
        if combine == "weighted_sum":
            self.weights = torch.nn.Parameter(torch.ones(2))
            e_out = E
        elif combine == "concat_project":
            self.proj = torch.nn.Linear(2 * E, E)
            e_out = E
        elif combine == "gated":
            self.gate = torch.nn.Linear(2 * E, 2)
            e_out = E
        self.classifier = torch.nn.Linear(e_out, 6)

    def fuse(self, ei, ea):
        if self.combine == "weighted_sum":
            return self.weights[0] * ei + self.weights[1] * ea
        if self.combine == "concat_project":
            return self.proj(torch.cat([ei, ea], -1))
        g = torch.softmax(self.gate(torch.cat([ei, ea], -1)), -1)
        return g[:, :1] * ei + g[:, 1:] * ea

    def forward(self, ei, ea):
        return self.classifier(self.fuse(ei, ea))

    def tensors(self):
        sd = {k: v.detach().half().contiguous() for k, v in self.state_dict().items()}
        return sd


def pair_embeds(split, n, clip, tower):
    path = CACHE / f"pairs_{split}_{n}.pt"
    if path.exists():
        return torch.load(path, weights_only=False)
    from transformers import CLIPImageProcessor
    t = time.time()
    proc = CLIPImageProcessor.from_pretrained(EXPORT / "clip")
    fe = ast_extractor()
    data = G.pairs(split, n)
    with torch.no_grad():
        ei = clip_image_embeds(clip, clip_pixels([d[0] for d in data], proc))
        feats = torch.from_numpy(np.stack(fe([d[1] for d in data], sampling_rate=G.SR,
                                             return_tensors="np")["input_values"]))
        ea = torch.cat([tower(feats[i:i + 256]) for i in range(0, n, 256)])
    obj = {"ei": ei, "ea": ea, "y": torch.tensor([G.SHAPES.index(d[2]) for d in data]),
           "corrupted": [d[3] for d in data]}
    torch.save(obj, path)
    log(f"cached {path.name} in {time.time() - t:.0f}s")
    return obj


def fusion_eval(head, d):
    with torch.no_grad():
        z = torch.zeros_like(d["ei"])
        r = {}
        for name, (ei, ea) in {"fused": (d["ei"], d["ea"]), "image_only": (d["ei"], z),
                               "audio_only": (z, d["ea"])}.items():
            r[name] = float((head(ei, ea).argmax(1) == d["y"]).float().mean())
        for c in ("none", "image", "audio"):
            m = torch.tensor([x == c for x in d["corrupted"]])
            r[f"fused_corrupted_{c}"] = float((head(d["ei"][m], d["ea"][m]).argmax(1) == d["y"][m]).float().mean())
    return r


def train_fusion(args):
    seed_all(3)
    clip, tower = load_clip(), load_audio()
    tr = pair_embeds("train", args.fusion_n, clip, tower)
    va = pair_embeds("val", 600, clip, tower)
    results = {}
    best = None
    for combine in ("weighted_sum", "concat_project", "gated"):
        torch.manual_seed(3)
        head = Fusion(combine)
        opt = torch.optim.AdamW(head.parameters(), lr=1e-2, weight_decay=1e-4)
        n = len(tr["y"])
        gen = torch.Generator().manual_seed(3)
        for ep in range(60):
            perm = torch.randperm(n, generator=gen)
            for b in range(0, n, 128):
                idx = perm[b:b + 128]
                ei, ea = tr["ei"][idx].clone(), tr["ea"][idx].clone()
                # modality dropout (15% each) so single-modality inputs (other one zeroed) stay meaningful
                drop = torch.rand(len(idx), generator=gen)
                ei[drop < 0.15] = 0
                ea[(drop >= 0.15) & (drop < 0.30)] = 0
                loss = F.cross_entropy(head(ei, ea), tr["y"][idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        # evaluate with f16-rounded weights, as exported
        head.load_state_dict({k: v.float() for k, v in head.tensors().items()})
        r = fusion_eval(head, va)
        results[combine] = r
        log(f"fusion {combine}: val {r}")
        if best is None or r["fused"] > results[best[0]]["fused"]:
            best = (combine, head)
    combine, head = best
    save_file(head.tensors(), str(EXPORT / "fusion.safetensors"))
    desc = {
        "combine": combine, "modalities": ["image", "audio"], "labels": G.SHAPES, "embed_dim": E,
        "inputs": "L2-normalised E-dim embeddings: CLIP image_embeds (visual_projection of the pooler output) and "
                  "the projected AST pooler_output (projection.safetensors, then L2-normalised)",
        "formula": {
            "weighted_sum": "f = weights[0] * e_image + weights[1] * e_audio",
            "concat_project": "f = proj.weight @ concat(e_image, e_audio) + proj.bias",
            "gated": "g = softmax(gate.weight @ concat(e_image, e_audio) + gate.bias); f = g[0] e_image + g[1] e_audio",
        }[combine],
        "classifier": "logits = classifier.weight @ f + classifier.bias (6 labels)",
        "tensors": {k: list(v.shape) for k, v in head.tensors().items()},
        "validation": results,
        "training": "AdamW lr 1e-2, 60 epochs over %d train pairs, batch 128, modality dropout 15%%+15%%" % args.fusion_n,
    }
    (EXPORT / "fusion.json").write_text(json.dumps(desc, indent=2))
    return {"fusion_choice": combine, "fusion_val": results}


def write_pipeline(combine=None):
    if combine is None:
        combine = json.loads((EXPORT / "fusion.json").read_text())["combine"]
    pipe = {
        "format": "vitfuse-pipeline/1",
        "embed_dim": E,
        "towers": {"text": {"model": "clip", "part": "text"}, "image": {"model": "clip", "part": "image"},
                   "audio": {"model": "audio", "projection": "audio/projection.safetensors"}},
        "audio_prompt": AUDIO_PROMPT,
        "image_prompt": IMAGE_PROMPT,
        "matcher": {"model": "vilt"},
        "fusion": {"modalities": ["image", "audio"], "combine": combine, "weights": "fusion.safetensors",
                   "labels": G.SHAPES},
    }
    (EXPORT / "pipeline.json").write_text(json.dumps(pipe, indent=2))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stage", default="all",
                    choices=["all", "clip", "audio", "vilt", "vilt2", "fusion", "pipeline"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clip-n", type=int, default=12000)
    ap.add_argument("--clip-epochs", type=int, default=10)
    ap.add_argument("--clip-lr", type=float, default=2e-3)
    ap.add_argument("--audio-n", type=int, default=6000)
    ap.add_argument("--audio-epochs", type=int, default=15)
    ap.add_argument("--audio-lr", type=float, default=1e-3)
    ap.add_argument("--vilt-n", type=int, default=10000)
    ap.add_argument("--vilt-epochs", type=int, default=7)
    ap.add_argument("--vilt-lr", type=float, default=1e-3)
    ap.add_argument("--vilt-bs", type=int, default=64)
    ap.add_argument("--vilt-mlm", type=float, default=1.0)
    ap.add_argument("--vilt-out", default="")
    ap.add_argument("--vilt-init", default="", help="start from this ViLT folder instead of the CLIP warm start")
    ap.add_argument("--vilt-seed", type=int, default=2)
    ap.add_argument("--vilt-neg-weights", default="0.35,0.15,0.1,0.4",
                    help="how often each attribute (shape,colour,size,position) is the changed / masked one")
    ap.add_argument("--fusion-n", type=int, default=3000)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    EXPORT.mkdir(exist_ok=True)
    log_path = ROOT / "train_log.json"
    stages = ["clip", "audio", "vilt", "vilt2", "fusion", "pipeline"] if args.stage == "all" else [args.stage]
    for st in stages:
        t = time.time()
        r = {"clip": train_clip, "audio": train_audio, "vilt": train_vilt1, "vilt2": train_vilt2, "fusion": train_fusion,
             "pipeline": lambda a: write_pipeline() or {}}[st](args)
        r[f"{st}_wall_s"] = round(time.time() - t, 1)
        r[f"{st}_threads"] = args.threads
        record = json.loads(log_path.read_text()) if log_path.exists() else {}  # re-read: stages may run in parallel
        record.update(r)
        log_path.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
