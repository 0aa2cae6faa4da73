//! The demo that ships with vitfuse: its evaluation meets the targets and equals PyTorch's figures
//! on the same files (logits within 1e-3), its towers agree with the CPU reference, and the
//! command prints, exports and re-reads it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use vitfuse::demo::{self, TempExport};
use vitfuse::model::{HostTensor, ImageProcessor, Tokenizer};
use vitfuse::demo::Figures;
use vitfuse::{Options, Pipeline};

mod common;

fn opts() -> Options {
    Options::new().device(vitfuse::Device::from_context(common::own_context()))
}

#[test]
fn demo_evaluation_meets_the_targets_and_equals_pytorch() {
    let d = TempExport::new().unwrap();
    let mut steps = 0;
    let r = demo::evaluate(d.path(), &opts(), |_| steps += 1).unwrap();
    assert!(steps > 10, "{steps} progress reports");
    let f = &r.figures;
    println!("{f:?}\nalt {:?}\nmax logit diff {:?} over {}", r.alt, r.max_logit_diff, r.logits_compared);
    // the targets on the held-out set
    assert!(f.image_top1 > 0.9 && f.audio_top1 > 0.9 && f.matching_accuracy > 0.9, "{f:?}");
    assert!(f.colour_top1 > 0.9 && f.text_to_image_recall_at_1 > 0.9 && f.audio_to_image_recall_at_1 > 0.9, "{f:?}");
    let (fused, img, aud) = (f.fused_top1.unwrap(), f.image_only_top1.unwrap(), f.audio_only_top1.unwrap());
    assert!(fused > img && fused > aud, "fused {fused} vs image {img}, audio {aud}");
    // images and sounds from the independent generator
    let alt = r.alt.as_ref().expect("eval_alt");
    for (k, v) in alt.entries() {
        assert!(v > 0.8, "eval_alt {k} = {v}");
    }
    // the same figures as PyTorch on the same files, logit by logit
    same(f, r.torch.as_ref().unwrap(), "eval");
    same(alt, r.torch_alt.as_ref().unwrap(), "eval_alt");
    let diff = r.max_logit_diff.unwrap();
    assert!(diff < 1e-3, "max logit difference {diff}");
    // 120 images × (6 + 36 + 120) + 60 sounds × (6 + 120) + 240 + 60 × 18, and eval_alt less the pairs
    assert_eq!(r.logits_compared, 2 * (120 * 162 + 60 * 126 + 240) + 60 * 18);
    assert_eq!(r.items, [240, 120, 60, 240]);
    assert!(r.examples.iter().any(|e| e.task.starts_with("pair")) && r.examples.iter().all(|e| e.torch.is_some()));
}

/// Equal figures: each is a fraction of at most 240 items, so one answer more or less moves it
/// by over 4e-3; PyTorch's were averaged in float32.
fn same(ours: &Figures, torch: &Figures, set: &str) {
    let (a, b) = (ours.entries(), torch.entries());
    assert_eq!(a.len(), b.len(), "{set}: {a:?} vs {b:?}");
    for ((k, x), (_, y)) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-6, "{set} {k}: vitfuse {x}, PyTorch {y}");
    }
}

fn host(t: &HostTensor) -> &[f32] {
    t.as_f32().unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn text_inputs(dir: &Path, texts: &[&str], pad: Option<usize>) -> HashMap<String, HostTensor> {
    let tok = Tokenizer::from_file(dir).unwrap();
    let enc = tok.encode_batch(texts, pad, false).unwrap();
    let t = enc[0].input_ids.len();
    let mut m = HashMap::new();
    m.insert("input_ids".into(), HostTensor::i64(vec![texts.len(), t], enc.iter().flat_map(|e| e.input_ids.clone()).collect()).unwrap());
    m.insert("attention_mask".into(), HostTensor::i64(vec![texts.len(), t], enc.iter().flat_map(|e| e.attention_mask.clone()).collect()).unwrap());
    m
}

/// ViLT's logits on the CPU reference for (image file, caption) pairs, batched with the
/// folder's processor (padding and pixel mask included).
fn cpu_vilt(dir: &Path, images: &[PathBuf], texts: &[&str]) -> Vec<f32> {
    let proc = ImageProcessor::from_file(dir).unwrap();
    let imgs: Vec<_> = images.iter().map(|p| proc.load(p).unwrap()).collect();
    let (px, mask) = proc.preprocess_batch_masked(&imgs).unwrap();
    let mut inputs = text_inputs(dir, texts, Some(40));
    inputs.insert("pixel_values".into(), px);
    inputs.insert("pixel_mask".into(), mask);
    host(&vitfuse::reference::forward(dir, &inputs).unwrap()["logits"]).to_vec()
}

/// The demo's towers on the GPU against the plain-loop CPU reference, on a few evaluation items.
#[test]
fn demo_towers_agree_with_the_cpu_reference() {
    let d = TempExport::new().unwrap();
    let d = d.path();
    let p = Pipeline::open_with(d.join("pipeline.json"), &opts()).unwrap();
    let images: Vec<PathBuf> = (0..4).map(|i| d.join(format!("eval/images/img_{i:03}.png"))).collect();
    let texts = ["a star", "a large blue star on the left", "a sound of a buzz"];
    let clips: Vec<PathBuf> = (0..3).map(|i| d.join(format!("eval/sounds/snd_{i:03}.wav"))).collect();

    // CLIP: image and text embeddings
    let clip = d.join("clip");
    let mut inputs = text_inputs(&clip, &texts, None);
    inputs.insert("pixel_values".into(), ImageProcessor::from_file(&clip).unwrap().preprocess_files(&images).unwrap());
    let out = vitfuse::reference::forward(&clip, &inputs).unwrap();
    let ei = max_diff(p.embed_images(&images).unwrap().as_slice(), host(&out["image_embeds"]));
    let et = max_diff(p.embed_texts(&texts).unwrap().as_slice(), host(&out["text_embeds"]));

    // AST + projection
    let audio = d.join("audio");
    let fx = vitfuse::model::audio::AstFeatureExtractor::from_file(&audio).unwrap();
    let mut feats = Vec::new();
    for c in &clips {
        let bytes = std::fs::read(c).unwrap();
        let (wave, rate) = vitfuse::model::audio::decode_audio(&bytes).unwrap();
        assert_eq!(rate, 16000);
        feats.extend(fx.extract(&wave).unwrap());
    }
    let mut a_in = HashMap::new();
    a_in.insert("input_values".into(), HostTensor::f32(vec![clips.len(), fx.max_length, fx.num_mel_bins], feats).unwrap());
    let pooled = host(&vitfuse::reference::forward(&audio, &a_in).unwrap()["pooler_output"]).to_vec();
    let w = vitfuse::read_host_tensors(audio.join("projection.safetensors")).unwrap();
    let (wt, b) = (host(&w["weight"]), host(&w["bias"]));
    let (e, h) = (b.len(), pooled.len() / clips.len());
    let cpu_audio: Vec<f32> = pooled
        .chunks(h)
        .flat_map(|x| normalized((0..e).map(|i| b[i] + (0..h).map(|j| wt[i * h + j] * x[j]).sum::<f32>()).collect()))
        .collect();
    let ea = max_diff(p.embed_audio(&clips).unwrap().as_slice(), &cpu_audio);
    assert!(ei < 1e-4 && et < 1e-4 && ea < 1e-4, "image {ei:e}, text {et:e}, audio {ea:e}");

    // ViLT: the score head on (image, caption) pairs
    let caps = ["a large blue star on the left", "a large orange star on the left", "a small yellow cross on the top", "a star"];
    let gpu = p.matcher().unwrap().score_pairs(&images, &caps).unwrap();
    let cpu = cpu_vilt(&d.join("vilt"), &images, &caps);
    let ev = max_diff(&gpu, &cpu);
    assert!(ev < 1e-3, "ViLT logits {gpu:?} vs {cpu:?}");
    println!("GPU vs CPU reference: image {ei:e}, text {et:e}, audio {ea:e}, ViLT {ev:e}");
}

/// ViLT with a processor that gives images of different sizes: the batch is padded and masked,
/// on the GPU as on the CPU reference (and as transformers does, see the vilt_preprocess fixture).
#[test]
fn vilt_pads_images_of_different_sizes() {
    let d = TempExport::new().unwrap();
    let vilt = d.path().join("vilt");
    std::fs::copy(common::fixture("vilt_preprocess/a/preprocessor_config.json"), vilt.join("preprocessor_config.json")).unwrap();
    let images: Vec<PathBuf> = ["tall", "wide", "strip", "square"].iter().map(|n| common::fixture("vilt_preprocess").join(format!("{n}.png"))).collect();
    let caps = ["a star", "a red circle", "a small green cross on the top", "a square"];
    let m = vitfuse::ImageTextMatcher::open_with(&vilt, &opts()).unwrap();
    let gpu = m.score_pairs(&images, &caps).unwrap();
    let cpu = cpu_vilt(&vilt, &images, &caps);
    assert!(max_diff(&gpu, &cpu) < 1e-3, "{gpu:?} vs {cpu:?}");
    // one by one equals the padded batch: the mask keeps the padding out
    for (k, (img, cap)) in images.iter().zip(caps).enumerate() {
        let one = m.score_pairs(&[img], &[cap]).unwrap()[0];
        assert!((one - gpu[k]).abs() < 1e-3, "{k}: alone {one}, in the batch {}", gpu[k]);
    }
}

fn vitfuse_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vitfuse"))
}

#[test]
fn demo_command_prints_exports_and_rereads() {
    let out = vitfuse_cmd().args(["demo", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in [
        "image_top1",
        "colour_top1",
        "audio_top1",
        "text_to_image_recall_at_1",
        "audio_to_image_recall_at_1",
        "matching_accuracy",
        "fused_top1",
        "image_only_top1",
        "audio_only_top1",
    ] {
        let (ours, torch) = (v[k].as_f64().unwrap_or(-1.0), v["torch"][k].as_f64().unwrap_or(-2.0));
        assert!((ours - torch).abs() < 1e-6, "{k}: {ours} vs torch {torch}");
    }
    assert!(v["max_logit_diff"].as_f64().unwrap() < 1e-3);
    assert!(v["alt"]["image_top1"].as_f64().unwrap() > 0.8);

    // --export writes ordinary folders that the other commands take
    let dir = std::env::temp_dir().join(format!("vitfuse-demo-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ex = vitfuse_cmd().args(["demo", "--export"]).arg(&dir).output().unwrap();
    assert!(ex.status.success(), "{}", String::from_utf8_lossy(&ex.stderr));
    for f in ["clip/config.json", "audio/model.safetensors", "vilt/tokenizer.json", "pipeline.json", "eval/labels.json", "eval/images/img_000.png", "eval/sounds/snd_000.wav"] {
        assert!(dir.join(f).is_file(), "{f} not exported");
    }
    // into a folder that is not empty: refused, nothing overwritten
    let again = vitfuse_cmd().args(["demo", "--export"]).arg(&dir).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"), "{}", String::from_utf8_lossy(&again.stderr));
    let cls = vitfuse_cmd()
        .args(["classify", "--json", "--model"])
        .arg(dir.join("pipeline.json"))
        .arg(dir.join("eval/sounds/snd_001.wav"))
        .args(["--labels", "low hum,buzz,rising chirp,high beep,noise burst,falling chirp"])
        .output()
        .unwrap();
    assert!(cls.status.success(), "{}", String::from_utf8_lossy(&cls.stderr));
    let first = String::from_utf8_lossy(&cls.stdout);
    assert!(first.contains("\"buzz\""), "{first}");
    // --dir evaluates the exported copy: the same figures
    let re = vitfuse_cmd().args(["demo", "--json", "--dir"]).arg(&dir).output().unwrap();
    assert!(re.status.success(), "{}", String::from_utf8_lossy(&re.stderr));
    let w: serde_json::Value = serde_json::from_slice(&re.stdout).unwrap();
    assert_eq!(w["image_top1"], v["image_top1"]);
    assert_eq!(w["fused_top1"], v["fused_top1"]);
    let text = vitfuse_cmd().arg("demo").output().unwrap();
    let table = String::from_utf8_lossy(&text.stdout);
    assert!(text.status.success() && table.contains("PyTorch") && table.contains("caption matching"), "{table}");
    std::fs::remove_dir_all(&dir).ok();
}
