//! The programs in `examples/` run on the tiny fixtures (each example's `run`, included here).

use std::path::PathBuf;

#[path = "../examples/audio.rs"]
#[allow(dead_code)]
mod audio;
#[path = "../examples/embed.rs"]
#[allow(dead_code)]
mod embed;
#[path = "../examples/vilt_match.rs"]
#[allow(dead_code)]
mod vilt_match;
#[path = "../examples/zero_shot.rs"]
#[allow(dead_code)]
mod zero_shot;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

/// An example's entry point.
type Run = fn(&[String]) -> Result<(), Box<dyn std::error::Error>>;

fn example(run: Run, args: &[&str]) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    if let Err(e) = run(&args) {
        panic!("example failed on {args:?}: {e}");
    }
}
/// A scratch model folder: `files` copied from fixture `src`, the demo tokenizer added.
fn folder(tag: &str, src: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vitfuse-example-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture(src).join(f), d.join(f)).unwrap();
    }
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixture("tiny_tokenizer").join(f), d.join(f)).unwrap();
    }
    d
}

fn img(name: &str) -> String {
    fixture("image_preprocess").join(name).display().to_string()
}

#[test]
fn embed_and_zero_shot_examples_run() {
    let clip = folder("clip", "clip_tiny");
    let c = clip.to_str().unwrap();
    example(embed::run, &[c, &img("small.png"), &img("landscape.png"), "--text", "a cat", "the landscape"]);
    example(zero_shot::run, &[c, "cat,dog", &img("small.png")]);
}

#[test]
fn audio_example_runs() {
    let dir = fixture("ast_tiny");
    let inputs = vitfuse::read_host_tensors(dir.join("inputs.safetensors")).unwrap();
    let wave = inputs["waveform_0"].as_f32().unwrap();
    let data: Vec<u8> = wave.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut v = b"RIFF".to_vec();
    v.extend((36 + data.len() as u32).to_le_bytes());
    v.extend(b"WAVEfmt \x10\x00\x00\x00\x03\x00\x01\x00");
    v.extend(16000u32.to_le_bytes());
    v.extend(64000u32.to_le_bytes());
    v.extend(b"\x04\x00\x20\x00data");
    v.extend((data.len() as u32).to_le_bytes());
    v.extend(data);
    let wav = std::env::temp_dir().join(format!("vitfuse-example-{}.wav", std::process::id()));
    std::fs::write(&wav, v).unwrap();
    example(audio::run, &[dir.to_str().unwrap(), wav.to_str().unwrap()]);
}

#[test]
fn vilt_match_example_runs() {
    let dir = folder("vilt", "vilt_tiny");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    config["architectures"] = serde_json::json!(["ViltForImageAndTextRetrieval"]);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let mut w: std::collections::BTreeMap<String, vitfuse::HostTensor> =
        vitfuse::read_host_tensors(dir.join("model.safetensors")).unwrap().into_iter().map(|(k, v)| (format!("vilt.{k}"), v)).collect();
    w.insert("rank_output.weight".into(), vitfuse::HostTensor::f32(vec![1, 64], (0..64).map(|i| (i as f32 - 32.0) / 64.0).collect()).unwrap());
    w.insert("rank_output.bias".into(), vitfuse::HostTensor::f32(vec![1], vec![0.0]).unwrap());
    vitfuse::write_host_tensors(dir.join("model.safetensors"), &w).unwrap();
    example(vilt_match::run, &[dir.to_str().unwrap(), &img("small.png"), "a cat", "the landscape"]);
}
