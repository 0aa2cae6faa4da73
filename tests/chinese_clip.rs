//! Chinese-CLIP through the library and the command line: zero-shot labels in Chinese with a
//! Chinese prompt, the logits equal to the CPU reference's on the same tokens and pixels.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use vitfuse::model::{HostTensor, Tokenizer};
use vitfuse::{DualEncoder, Options, Task};

mod common;

/// chinese_clip_tiny's weights with the WordPiece test tokenizer.
fn folder() -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("vitfuse-cnclip-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(common::fixture("chinese_clip_tiny").join(f), d.join(f)).unwrap();
    }
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(common::fixture("wordpiece_tokenizer").join(f), d.join(f)).unwrap();
    }
    d
}

fn images() -> Vec<PathBuf> {
    ["landscape.png", "portrait.png"].iter().map(|f| common::fixture("image_preprocess").join(f)).collect()
}

#[test]
fn zero_shot_in_chinese_equals_the_reference() {
    let d = folder();
    let opts = Options::new().device(vitfuse::Device::from_context(common::own_context()));
    let clip = DualEncoder::open_with(&d, &opts).unwrap();
    let m = vitfuse::Model::open_with(&d, &opts).unwrap();
    assert_eq!(m.architecture(), "ChineseCLIPModel");
    assert!(m.supports(Task::ZeroShot) && m.supports(Task::EmbedTexts));
    let labels = ["猫", "狗", "红色的大车"];
    let got = clip.zero_shot(&images(), &labels, Some("一张{}的照片")).unwrap();

    // the reference on the same prompts, tokens and pixels
    let prompts: Vec<String> = labels.iter().map(|l| format!("一张{l}的照片")).collect();
    let tok = Tokenizer::from_file(&d).unwrap();
    let enc = tok.encode_batch(&prompts, Some(12), false).unwrap();
    let t = enc[0].input_ids.len();
    let n = prompts.len();
    let mut inputs = HashMap::new();
    inputs.insert("input_ids".to_string(), HostTensor::i64(vec![n, t], enc.iter().flat_map(|e| e.input_ids.clone()).collect()).unwrap());
    inputs.insert("attention_mask".to_string(), HostTensor::i64(vec![n, t], enc.iter().flat_map(|e| e.attention_mask.clone()).collect()).unwrap());
    inputs.insert("token_type_ids".to_string(), HostTensor::i64(vec![n, t], vec![0; n * t]).unwrap());
    let (proc, _) = m.image_processor().unwrap();
    inputs.insert("pixel_values".to_string(), proc.preprocess_files(&images()).unwrap());
    let out = vitfuse::reference::forward(&d, &inputs).unwrap();
    let lpi = out["logits_per_image"].as_f32().unwrap();
    for (i, ranked) in got.iter().enumerate() {
        assert_eq!(ranked.len(), labels.len());
        for s in ranked {
            let j = labels.iter().position(|l| *l == s.label).unwrap();
            let want = lpi[i * n + j];
            assert!((s.logit - want).abs() < 1e-3 * want.abs().max(1.0), "image {i} {}: {} vs {want}", s.label, s.logit);
        }
    }
    // token types: a text's embedding does not depend on the batch it is in
    let one = clip.embed_texts(&["一张猫的照片"]).unwrap();
    let all = clip.embed_texts(&prompts).unwrap();
    let diff = one.row(0).iter().zip(all.row(0)).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(diff < 1e-5, "{diff}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn the_command_line_takes_chinese_labels_and_prompts() {
    let d = folder();
    let out = Command::new(env!("CARGO_BIN_EXE_vitfuse"))
        .args(["classify", "--json", "--model"])
        .arg(&d)
        .args(images())
        .args(["--labels", "猫,狗", "--prompt", "一张{}的照片"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    for l in &lines {
        let s = l.to_string();
        assert!(s.contains("猫") && s.contains("狗"), "{s}");
    }
    std::fs::remove_dir_all(&d).ok();
}
