#!/usr/bin/env python3
"""Writes the small seed inputs under fuzz/seeds/<target>/ (checked in; rerun after a change).

Needs Pillow for the PNG/JPEG seeds. scripts/fuzz.sh adds the repository's fixtures (configs,
images, input files, tokenizer.json) to each corpus at run time; these are the cases the
fixtures lack: every dtype and WAV encoding, odd shapes, small images of each PNG/JPEG kind.
"""

import io
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def f32(*v):
    return struct.pack(f"<{len(v)}f", *v)


def i64(*v):
    return struct.pack(f"<{len(v)}q", *v)


def host_seeds():
    return {
        "dtypes": safetensors([
            ("a", "F32", [2, 3], f32(0, 1, -2, 3.5, 1e30, -0.0)),
            ("b", "F16", [4], struct.pack("<4H", 0x3C00, 0x7C00, 0x7E00, 0x0001)),
            ("c", "BF16", [2, 2], struct.pack("<4H", 0x3F80, 0xFF80, 0x0000, 0x4049)),
            ("d", "I64", [1, 5], i64(0, 1, -1, 2**62, -(2**63))),
            ("e", "I32", [3], struct.pack("<3i", 7, -7, 2**31 - 1)),
        ], {"format": "pt"}),
        "odd_shapes": safetensors([
            ("empty", "F32", [0, 3], b""),
            ("scalar", "F32", [], f32(2.0)),
            ("wide", "I64", [1, 1, 1, 1, 2], i64(3, 4)),
        ]),
        "unsupported": safetensors([("u", "U8", [3], b"abc"), ("f", "F64", [1], struct.pack("<d", 1.0))]),
        "nan": safetensors([("w", "F32", [2], f32(float("nan"), 1.0))]),
    }


def pipeline_seeds():
    px = f32(*[i / 16 for i in range(2 * 3 * 4 * 4)])
    ids = [("input_ids", "I64", [2, 5], i64(49406, 320, 1125, 49407, 49407, 49406, 539, 49407, 0, 0)),
           ("attention_mask", "I64", [2, 5], i64(1, 1, 1, 1, 0, 1, 1, 1, 0, 0))]
    wave = f32(*[((i * 37) % 200 - 100) / 100 for i in range(400)])
    return {
        "clip": safetensors(ids + [("pixel_values", "F32", [2, 3, 4, 4], px)]),
        "vilt": safetensors(ids + [
            ("pixel_values", "F32", [2, 3, 4, 4], px),
            ("token_type_ids", "I64", [2, 5], i64(*[0] * 10)),
            ("pixel_mask", "I64", [2, 4, 4], i64(*[1] * 32)),
        ]),
        "float_ids": safetensors([("input_ids", "F32", [1, 3], f32(1, 2, 3))]),
        "ast": safetensors([("input_values", "F32", [1, 8, 4], f32(*[0.25] * 32))]),
        "waveforms": safetensors([("waveform_0", "F32", [400], wave), ("waveform_1", "F32", [410], wave + f32(*[0] * 10))]),
        # A retrieval cache: entries named by hex file name, size and mtime.
        "cache": safetensors([("636174\x1f12\x1f34", "F32", [8], f32(*[0.125] * 8)),
                              ("646f67\x1f5\x1f6", "F32", [8], f32(*[1] * 7, float("inf")))]),
    }


def wav(fmt, channels, rate, bits, data, extensible=False, extra=b""):
    if extensible:
        body = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * channels * bits // 8,
                           channels * bits // 8, bits, 22, bits, 0) + struct.pack("<H", fmt) + bytes(14)
    else:
        body = struct.pack("<HHIIHH", fmt, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    chunks = b"fmt " + struct.pack("<I", len(body)) + body + extra
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def wav_seeds():
    n = 480
    s = [((i * 53) % 400 - 200) / 200 for i in range(n)]
    return {
        "pcm8": wav(1, 1, 16000, 8, bytes(int(128 + 127 * v) for v in s)),
        "pcm16": wav(1, 1, 16000, 16, struct.pack(f"<{n}h", *[int(32767 * v) for v in s])),
        "pcm24_stereo": wav(1, 2, 16000, 24, b"".join(struct.pack("<i", int(8388607 * v))[:3] * 2 for v in s)),
        "pcm32": wav(1, 1, 8000, 32, struct.pack(f"<{n}i", *[int(2**31 - 1) * int(v > 0) for v in s])),
        "float32": wav(3, 1, 16000, 32, f32(*s)),
        "float64_ext": wav(3, 1, 44100, 64, struct.pack(f"<{n}d", *s), extensible=True),
        "odd_chunk": wav(1, 1, 16000, 16, struct.pack("<2h", 1, -1), extra=b"LIST\x03\x00\x00\x00abc\x00"),
    }


def image_seeds():
    from PIL import Image

    def enc(img, fmt, **kw):
        b = io.BytesIO()
        img.save(b, fmt, **kw)
        return b.getvalue()

    rgb = Image.new("RGB", (5, 3))
    rgb.putdata([(i * 40 % 256, i * 90 % 256, i * 15 % 256) for i in range(15)])
    files = {
        "grey_1x1.png": enc(Image.new("L", (1, 1), 200), "PNG"),
        "rgba.png": enc(rgb.convert("RGBA"), "PNG"),
        "grey16.png": enc(Image.new("I;16", (3, 2), 40000), "PNG"),
        "palette_interlaced.png": enc(rgb.convert("P"), "PNG", interlace=1),
        "baseline.jpg": enc(rgb.resize((17, 9)), "JPEG", quality=90),
        "progressive.jpg": enc(rgb.resize((9, 17)), "JPEG", progressive=True),
        "grey.jpg": enc(Image.new("L", (8, 8), 77), "JPEG"),
    }
    # Settings (see vitfuse_fuzz::image): CLIP steps with a shortest edge of 7 and crop 5x7;
    # ViT exact 3x4, bicubic; no resize, crop 9x9.
    settings = [bytes([7, 0, 5, 0, 3, 0b00011]), bytes([3, 0, 4, 0, 3, 0]), bytes([9, 0, 9, 0, 2, 0b11100])]
    return {f"{i}_{name}": settings[i % len(settings)] + data for i, (name, data) in enumerate(sorted(files.items()))}


def tokenizer_seeds():
    # Settings (see vitfuse_fuzz::tokenizer): max_length (u16) and flags.
    return {
        "plain": bytes([16, 0, 1]) + "a photo of a cat\na dog".encode(),
        "padded": bytes([77, 0, 5]) + "Hello, World! it's 2024 ünïcødé 日本語 🙂".encode(),
        "longest": bytes([0, 0, 0]) + "<|startoftext|>x<|endoftext|>\n\n  \t a".encode(),
        "too_short": bytes([1, 0, 1]) + b"cat",
        "over_limit": bytes([0, 0, 3]) + b"cat",
    }


def tokenizer_json_seeds():
    def tok(model, normalizer=None, pre=None, post=None, decoder=None, added=()):
        return json.dumps({"version": "1.0", "truncation": None, "padding": None,
                           "added_tokens": [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                                             "normalized": False, "special": True} for i, c in added],
                           "normalizer": normalizer, "pre_tokenizer": pre, "post_processor": post, "decoder": decoder,
                           "model": model}, indent=1)

    vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": 3, "b": 4, "ab": 5, "c": 6, "##b": 7, "</w>": 8, "a</w>": 9}
    bert_post = {"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 1]}
    return {
        "bpe.json": tok({"type": "BPE", "dropout": None, "unk_token": "[UNK]", "continuing_subword_prefix": None,
                         "end_of_word_suffix": "</w>", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                         "vocab": vocab, "merges": ["a b", "a </w>"]},
                        normalizer={"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"},
                                                                       {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}]},
                        pre={"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "[a-z]+|\\S"}, "behavior": "Removed", "invert": True},
                                                                   {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
                        post={"type": "RobertaProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 1], "trim_offsets": False, "add_prefix_space": False},
                        decoder={"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
                        added=[(1, "[CLS]"), (2, "[SEP]")]),
        "wordpiece.json": tok({"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                               "max_input_chars_per_word": 100, "vocab": vocab},
                              normalizer={"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True, "strip_accents": None, "lowercase": True},
                              pre={"type": "BertPreTokenizer"}, post=bert_post, decoder={"type": "WordPiece", "prefix": "##", "cleanup": True},
                              added=[(0, "[UNK]"), (1, "[CLS]"), (2, "[SEP]")]),
        "unigram.json": tok({"type": "Unigram", "unk_id": 0, "byte_fallback": False,
                             "vocab": [["<unk>", 0.0], ["▁a", -1.0], ["b", -2.0], ["▁", -3.0], ["c", -2.5]]},
                            normalizer={"type": "Nmt"},
                            pre={"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True},
                            post={"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                                  "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                                  "special_tokens": {"</s>": {"id": "</s>", "ids": [5], "tokens": ["</s>"]}}},
                            decoder={"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True},
                            added=[(5, "</s>"), (6, "<pad>")]),
        "padding_truncation.json": json.dumps({
            "version": "1.0",
            "truncation": {"direction": "Right", "max_length": 4, "strategy": "LongestFirst", "stride": 0},
            "padding": {"strategy": {"Fixed": 6}, "direction": "Left", "pad_to_multiple_of": 4, "pad_id": 3, "pad_type_id": 0, "pad_token": "a"},
            "added_tokens": [], "normalizer": {"type": "Strip", "strip_left": True, "strip_right": True},
            "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": None, "decoder": None,
            "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "a": 3, "cat": 4}, "unk_token": "[UNK]"}}, indent=1),
    }


def main():
    for name, data in host_seeds().items():
        write("host_tensors", name + ".safetensors", data)
        write("weights", name + ".safetensors", data)
    write("weights", "index.json", json.dumps({"metadata": {"total_size": 20}, "weight_map": {"x": "a.safetensors", "y": "b.safetensors", "z": "b.safetensors"}}))
    for name, data in pipeline_seeds().items():
        write("pipeline_inputs", name + ".safetensors", data)
    for name, data in wav_seeds().items():
        write("wav", name + ".wav", data)
    for name, data in image_seeds().items():
        write("image", name, data)
    for name, data in tokenizer_seeds().items():
        write("tokenizer", name + ".txt", data)
    for name, data in tokenizer_json_seeds().items():
        write("tokenizer_json", name, data)
    write("configs", "vit_labels.json", json.dumps({"architectures": ["ViTForImageClassification"], "hidden_size": 8, "num_attention_heads": 2,
                                                    "id2label": {"0": "cat", "1": "dog"}, "num_labels": 2}))
    write("configs", "clip_processor.json", json.dumps({"image_processor_type": "CLIPImageProcessorFast", "size": {"shortest_edge": 7},
                                                        "crop_size": {"height": 5, "width": 3}, "resample": 1, "image_mean": 0.5}))
    write("configs", "ast_extractor.json", json.dumps({"feature_extractor_type": "ASTFeatureExtractor", "num_mel_bins": 8, "max_length": 16,
                                                       "sampling_rate": 8000}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
