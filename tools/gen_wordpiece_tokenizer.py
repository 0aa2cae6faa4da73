"""Makes tests/fixtures/wordpiece_tokenizer: a small BERT WordPiece tokenizer (Chinese-CLIP's kind:
BertNormalizer with CJK characters split one by one, BertPreTokenizer, [CLS] … [SEP]) whose ids
fit chinese_clip_tiny's 1000-word vocabulary with [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102 as in
the real bert-base-chinese vocabulary, and cases.json: texts and the ids that transformers' slow
BertTokenizer (the reference WordPiece) gives them.

Run from the repository root with tokenizers and transformers installed:
  python3 tools/gen_wordpiece_tokenizer.py
"""

import json
import os

import tokenizers
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

OUT = "tests/fixtures/wordpiece_tokenizer"
CJK = "一张的照片猫狗鸟车花树人和是在我你他红绿蓝黄色大小上下左右中图像"
WORDS = ["a", "photo", "of", "the", "cat", "dog", "bird", "car", "red", "blue", "and", "is", "in", "on",
         "big", "small", "play", "##ing", "##s", "##ed", "un", "##known", ",", ".", "!", "?", "-", "'"]
TEXTS = ["一张猫的照片", "一张狗的照片", "猫", "红色的大车", "a photo of a cat", "Playing cats, dogs!",
         "我和你在图像上", "unknown 未知 words", "  spaced\tout  ", "a 猫 and 狗 mixed", ""]


def main():
    os.makedirs(OUT, exist_ok=True)
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += list(CJK) + WORDS
    assert len(vocab) <= 1000 and len(set(vocab)) == len(vocab)
    with open(f"{OUT}/vocab.txt", "w") as f:
        f.write("\n".join(vocab) + "\n")
    ids = {t: i for i, t in enumerate(vocab)}
    tok = Tokenizer(models.WordPiece(vocab=ids, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.save(f"{OUT}/tokenizer.json")
    with open(f"{OUT}/tokenizer_config.json", "w") as f:
        json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": True, "tokenize_chinese_chars": True,
                   "pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                   "mask_token": "[MASK]", "model_max_length": 12}, f, indent=2)
    slow = transformers.BertTokenizer(f"{OUT}/vocab.txt", do_lower_case=True, tokenize_chinese_chars=True)
    fast = Tokenizer.from_file(f"{OUT}/tokenizer.json")
    cases = []
    for t in TEXTS:
        ref = slow(t)["input_ids"]
        assert fast.encode(t).ids == ref, (t, fast.encode(t).ids, ref)
        cases.append({"text": t, "ids": ref, "tokens": slow.convert_ids_to_tokens(ref)})
    os.remove(f"{OUT}/vocab.txt")
    with open(f"{OUT}/cases.json", "w") as f:
        json.dump({"reference": "transformers.BertTokenizer (slow, WordPiece)", "versions": {
            "transformers": transformers.__version__, "tokenizers": tokenizers.__version__}, "cases": cases},
            f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
