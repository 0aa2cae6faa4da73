//! The CLIP tokenizer reproduces Hugging Face's ids and masks exactly.

use vitfuse_model::{ModelError, Tokenizer};

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/clip_tokenizer"
);

#[derive(serde::Deserialize)]
struct Cases {
    texts: Vec<String>,
    max_length: usize,
    input_ids: Vec<Vec<i64>>,
    attention_mask: Vec<Vec<i64>>,
}

fn load() -> (Tokenizer, Cases) {
    let tok = Tokenizer::from_file(format!("{DIR}/tokenizer.json")).unwrap();
    let text = std::fs::read_to_string(format!("{DIR}/cases.json")).unwrap();
    (tok, serde_json::from_str(&text).unwrap())
}

#[test]
fn matches_every_fixture_case() {
    let (tok, cases) = load();
    assert_eq!(tok.pad_id(), 49407);
    assert_eq!(tok.model_max_length(), Some(77));
    let enc = tok
        .encode_batch(&cases.texts, Some(cases.max_length), true)
        .unwrap();
    assert_eq!(enc.len(), cases.texts.len());
    for (i, e) in enc.iter().enumerate() {
        assert_eq!(
            e.input_ids, cases.input_ids[i],
            "ids of case {i}: {:?}",
            cases.texts[i]
        );
        assert_eq!(
            e.attention_mask, cases.attention_mask[i],
            "mask of case {i}"
        );
    }
}

#[test]
fn pad_to_longest_and_no_padding_mask() {
    let (tok, cases) = load();
    let enc = tok.encode_batch(&cases.texts, None, false).unwrap();
    let longest = cases
        .attention_mask
        .iter()
        .map(|m| m.iter().sum::<i64>())
        .max()
        .unwrap() as usize;
    for (i, e) in enc.iter().enumerate() {
        assert_eq!(e.input_ids.len(), longest);
        let n = cases.attention_mask[i].iter().sum::<i64>() as usize;
        assert_eq!(&e.input_ids[..n], &cases.input_ids[i][..n]);
        assert_eq!(&e.attention_mask[..], &cases.attention_mask[i][..longest]);
    }
}

#[test]
fn truncation_keeps_eos_last() {
    let (tok, _) = load();
    let long = "a photo of a cat ".repeat(40);
    let enc = tok
        .encode_batch(&[long.as_str(), "dog"], Some(77), true)
        .unwrap();
    let e = &enc[0];
    assert_eq!(e.input_ids.len(), 77);
    assert_eq!(e.input_ids[0], 49406);
    assert_eq!(
        e.input_ids[76], 49407,
        "EOS must remain at the end after truncation"
    );
    assert!(e.attention_mask.iter().all(|&m| m == 1));
    // the kept prefix equals the untruncated encoding's prefix
    let full = tok.encode(&long, None).unwrap();
    assert!(full.len() > 77);
    assert_eq!(&e.input_ids[..76], &full[..76]);
    // short text: truncation does nothing, padding to 77
    assert_eq!(enc[1].attention_mask.iter().sum::<i64>(), 3);
    // a tiny max_length still keeps both specials
    let tiny = tok
        .encode_batch(&["a photo of a cat"], Some(4), false)
        .unwrap();
    assert_eq!(tiny[0].input_ids, vec![49406, 320, 1125, 49407]);
}

#[test]
fn missing_and_broken_tokenizer_files() {
    let err = Tokenizer::from_file(format!("{DIR}/no_such_tokenizer.json")).unwrap_err();
    assert!(matches!(err, ModelError::Io { .. }), "{err}");
    assert!(err.to_string().contains("no_such_tokenizer.json"), "{err}");

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tok_broken");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("tokenizer.json");
    std::fs::write(&p, "{ not json").unwrap();
    let err = Tokenizer::from_file(&p).unwrap_err();
    assert!(matches!(err, ModelError::Tokenizer { .. }), "{err}");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}

/// A BERT WordPiece tokenizer (Chinese-CLIP's kind) against transformers' slow BertTokenizer:
/// CJK characters split one by one, lower-casing, `##` continuations, [UNK], [CLS] … [SEP];
/// batches padded with [PAD] (0) and truncated keeping the final [SEP].
#[test]
fn wordpiece_matches_transformers_bert_tokenizer() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/wordpiece_tokenizer");
    let tok = Tokenizer::from_file(dir).unwrap();
    let cases: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(format!("{dir}/cases.json")).unwrap()).unwrap();
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let want: Vec<i64> = c["ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        let got = tok.encode_batch(&[text], None, false).unwrap();
        assert_eq!(got[0].input_ids, want, "{text:?}");
    }
    assert_eq!(tok.pad_id(), 0);
    let batch = tok.encode_batch(&["一张猫的照片", "猫"], Some(12), false).unwrap();
    assert_eq!(batch[1].input_ids, [101, 109, 102, 0, 0, 0, 0, 0]);
    assert_eq!(batch[1].attention_mask, [1, 1, 1, 0, 0, 0, 0, 0]);
    let cut = tok.encode_batch(&["一张猫的照片"], Some(5), false).unwrap();
    assert_eq!(cut[0].input_ids, [101, 104, 105, 109, 102]);
}
