//! The `vitfuse` binary: exact output forms other tools rely on, end-to-end runs on the
//! fixtures, and bad input answered with one line on stderr and exit code 2 (never a panic).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

fn vitfuse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vitfuse")).args(args).env("XDG_RUNTIME_DIR", "/tmp").output().expect("run vitfuse")
}

/// Runs vitfuse as on a headless machine with no session: no `XDG_RUNTIME_DIR` and no Wayland
/// display, and nothing set that would configure Mesa's device-select layer.
fn vitfuse_without_session(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vitfuse"));
    for k in ["XDG_RUNTIME_DIR", "WAYLAND_DISPLAY", "WAYLAND_SOCKET", "NODEVICE_SELECT", "MESA_VK_DEVICE_SELECT", "DRI_PRIME"] {
        cmd.env_remove(k);
    }
    cmd.args(args).output().expect("run vitfuse")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vitfuse-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// Asserts exit code 2, no panic, and a stderr line containing `needle`.
fn fails_cleanly(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit code; stderr: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or_else(|| panic!("no error line: {err}"));
    assert!(line.to_lowercase().contains(&needle.to_lowercase()), "error line {line:?} lacks {needle:?}");
}

#[test]
fn tokenize_matches_the_fixture_cases_exactly() {
    let dir = fixture("clip_tokenizer");
    let cases: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let texts: Vec<&str> = cases["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    let tok = dir.join("tokenizer.json");
    let mut args = vec!["tokenize", "--tokenizer", tok.to_str().unwrap(), "--max-length", "77"];
    args.extend(&texts);
    let out = vitfuse(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), texts.len());
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["input_ids"], cases["input_ids"][i], "ids of {:?}", texts[i]);
        assert_eq!(l["attention_mask"], cases["attention_mask"][i], "mask of {:?}", texts[i]);
    }
}

#[test]
fn info_without_a_session_prints_no_display_errors() {
    let out = vitfuse_without_session(&["info"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "vitfuse info failed: {err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("selected: "));
    assert!(!err.contains("XDG_RUNTIME_DIR"), "stray display-probe lines on stderr: {err}");
}

#[test]
fn bench_matmul_prints_the_documented_json() {
    for (cmd, name) in [("matmul", "matmul"), ("matmul-naive", "matmul-naive")] {
        let out = vitfuse(&["bench", cmd, "17", "36", "29", "--iters", "2"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
        assert_eq!(v["bench"], name);
        assert_eq!((v["m"].as_u64(), v["k"].as_u64(), v["n"].as_u64()), (Some(17), Some(36), Some(29)));
        assert!(v["adapter"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(v["median_ms"].as_f64().unwrap() > 0.0 && v["gflops"].as_f64().unwrap() > 0.0);
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        if cmd == "matmul" {
            assert_eq!(keys, ["bench", "m", "k", "n", "adapter", "dtype", "median_ms", "gflops"]);
            assert_eq!(v["dtype"], "f32");
        } else {
            assert_eq!(keys, ["bench", "m", "k", "n", "adapter", "median_ms", "gflops"]);
        }
    }
    // f16 weights: validated against the rounded W before timing, and named in the JSON.
    let out = vitfuse(&["bench", "matmul", "17", "36", "29", "--iters", "1", "--dtype", "f16"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    assert_eq!(v["dtype"], "f16");
    fails_cleanly(&vitfuse(&["bench", "matmul", "4", "4", "4", "--dtype", "f8"]), "f8");
}

#[test]
fn bench_audio_prints_the_documented_json() {
    let flac = fixture("audio_formats").join("tone_stereo_44100.flac");
    let out = vitfuse(&["bench", "audio", "--seconds", "1", "--iters", "1", "--file", flac.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["bench", "seconds", "fbank_s", "fbank_audio_s_per_s", "extract_frames", "extract_s", "file", "file_rate", "file_seconds", "decode_s", "decode_audio_s_per_s", "resample_s", "resample_audio_s_per_s"]
    );
    assert_eq!((v["bench"].as_str(), v["file_rate"].as_u64(), v["file_seconds"].as_f64()), (Some("audio"), Some(44100), Some(0.3)));
    for k in ["fbank_audio_s_per_s", "decode_audio_s_per_s", "resample_audio_s_per_s"] {
        assert!(v[k].as_f64().unwrap() > 0.0, "{k}");
    }
    fails_cleanly(&vitfuse(&["bench", "audio", "--seconds", "0"]), "--seconds");
}

#[test]
fn selfcheck_passes() {
    let out = vitfuse(&["selfcheck"]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{s}{}", String::from_utf8_lossy(&out.stderr));
    assert!(s.contains("matmul_tiled") && s.contains(" 0 failed"), "{s}");
}

fn compare_forward(name: &str, reference: bool) {
    let dir = fixture(name);
    let out_path = tmp(&format!("{name}-{reference}.safetensors"));
    let mut args = vec![
        "forward",
        "--model",
        dir.to_str().unwrap(),
        "--inputs",
        dir.join("inputs.safetensors").to_str().unwrap().to_string().leak(),
        "--output",
        out_path.to_str().unwrap(),
    ];
    if reference {
        args.push("--reference");
    }
    let out = vitfuse(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: std::collections::BTreeMap<_, _> = vitfuse::model::read_host_tensors(&out_path).unwrap().into_iter().collect();
    let want = vitfuse::model::read_host_tensors(dir.join("expected.safetensors")).unwrap();
    let inputs = vitfuse::model::read_host_tensors(dir.join("inputs.safetensors")).unwrap();
    let tol = vitfuse::reference::compare::fixture_tolerance(&dir.join("fixture.json")).unwrap();
    for c in vitfuse::reference::compare::compare_outputs(&got, &want, &inputs, tol) {
        assert!(c.passed(), "{name} {} (reference path: {reference}): {:?} {:?}", c.name, c.problem, c.report.map(|r| r.to_string()));
    }
}

#[test]
fn forward_vit_tiny_on_gpu_matches_transformers() {
    compare_forward("vit_tiny", false);
}

#[test]
fn forward_clip_siglip_vilt_ast_on_gpu_match_transformers() {
    for name in ["clip_tiny", "clip_tiny_eos", "siglip_tiny", "vilt_tiny", "ast_tiny"] {
        compare_forward(name, false);
    }
}

#[test]
fn forward_reference_path_matches_transformers() {
    for name in ["vit_tiny", "clip_tiny", "clip_tiny_eos", "siglip_tiny", "vilt_tiny", "ast_tiny"] {
        compare_forward(name, true);
    }
}

#[test]
fn preprocess_writes_pixel_values() {
    let dir = fixture("image_preprocess");
    let out_path = tmp("pixels.safetensors");
    let out = vitfuse(&[
        "preprocess",
        "--processor",
        dir.join("clip").to_str().unwrap(),
        "--output",
        out_path.to_str().unwrap(),
        dir.join("small.png").to_str().unwrap(),
        dir.join("portrait.png").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t = vitfuse::model::read_host_tensors(&out_path).unwrap();
    assert_eq!(t["pixel_values"].shape, vec![2, 3, 224, 224]);
    let want = vitfuse::model::read_host_tensors(dir.join("expected.safetensors")).unwrap();
    let got = t["pixel_values"].as_f32().unwrap();
    let w = want["clip_portrait"].as_f32().unwrap();
    let max = got[3 * 224 * 224..].iter().zip(w).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(max <= 0.15, "max abs error {max}");
}

#[test]
fn classify_and_embed_run_end_to_end() {
    let img = fixture("image_preprocess").join("landscape.png");
    let out = vitfuse(&["classify", "--model", fixture("vit_tiny").to_str().unwrap(), img.to_str().unwrap(), "--json", "--top", "3"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    let labels = v["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 3);
    let scores: Vec<f64> = labels.iter().map(|l| l["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]) && scores.iter().all(|s| (0.0..=1.0).contains(s)));

    let out = vitfuse(&["embed", "--model", fixture("clip_tiny").to_str().unwrap(), "--image", img.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    let e: Vec<f64> = v["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(e.len(), 32);
    assert!((e.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-4, "embedding is not unit length");
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn bad_input_is_one_line_and_exit_code_2() {
    let vit = fixture("vit_tiny");
    let clip = fixture("clip_tiny");
    let inputs = vit.join("inputs.safetensors");
    let out_path = tmp("never.safetensors");
    let o = out_path.to_str().unwrap();

    // Missing model folder.
    fails_cleanly(&vitfuse(&["forward", "--model", "/no/such/model", "--inputs", inputs.to_str().unwrap(), "--output", o]), "/no/such/model");
    // Missing inputs file.
    fails_cleanly(&vitfuse(&["forward", "--model", vit.to_str().unwrap(), "--inputs", "/no/such.safetensors", "--output", o]), "no/such.safetensors");

    // Broken and truncated safetensors.
    let broken = tmp("broken.safetensors");
    write(&broken, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all");
    fails_cleanly(&vitfuse(&["forward", "--model", vit.to_str().unwrap(), "--inputs", broken.to_str().unwrap(), "--output", o]), "safetensors");
    let full = std::fs::read(&inputs).unwrap();
    let trunc = tmp("trunc.safetensors");
    write(&trunc, &full[..full.len() / 2]);
    fails_cleanly(&vitfuse(&["forward", "--model", vit.to_str().unwrap(), "--inputs", trunc.to_str().unwrap(), "--output", o]), "safetensors");

    // A model folder with a broken config, an unknown architecture, another model's weights.
    let m = tmp("model-bad");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::copy(vit.join("model.safetensors"), m.join("model.safetensors")).unwrap();
    write(&m.join("config.json"), b"{\"architectures\": [\"ViTForImageClassification\"], ");
    fails_cleanly(&vitfuse(&["forward", "--model", m.to_str().unwrap(), "--inputs", inputs.to_str().unwrap(), "--output", o]), "config.json");
    write(&m.join("config.json"), b"{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\"}");
    fails_cleanly(&vitfuse(&["forward", "--model", m.to_str().unwrap(), "--inputs", inputs.to_str().unwrap(), "--output", o]), "GPT2LMHeadModel");
    std::fs::copy(clip.join("config.json"), m.join("config.json")).unwrap();
    fails_cleanly(&vitfuse(&["forward", "--model", m.to_str().unwrap(), "--inputs", inputs.to_str().unwrap(), "--output", o]), "not found");

    // Inputs that don't fit the model: CLIP's 32x32 pixels lack input_ids; ViT with CLIP-eos 24x24 pixels.
    fails_cleanly(&vitfuse(&["forward", "--model", clip.to_str().unwrap(), "--inputs", inputs.to_str().unwrap(), "--output", o]), "input_ids");
    let eos_inputs = fixture("clip_tiny_eos").join("inputs.safetensors");
    fails_cleanly(&vitfuse(&["forward", "--model", vit.to_str().unwrap(), "--inputs", eos_inputs.to_str().unwrap(), "--output", o]), "pixel_values");

    // The audio model: image inputs (no input_values or waveforms), an image task.
    let ast = fixture("ast_tiny");
    fails_cleanly(&vitfuse(&["forward", "--model", ast.to_str().unwrap(), "--inputs", inputs.to_str().unwrap(), "--output", o]), "input_values");
    let img0 = fixture("image_preprocess").join("small.png");
    fails_cleanly(&vitfuse(&["classify", "--model", ast.to_str().unwrap(), img0.to_str().unwrap()]), "small.png: is not an audio file");
    fails_cleanly(&vitfuse(&["embed", "--model", ast.to_str().unwrap(), "--image", img0.to_str().unwrap()]), "audio");

    // Undecodable image; missing tokenizer for CLIP zero-shot.
    let bad_png = tmp("bad.png");
    write(&bad_png, b"\x89PNG\r\n\x1a\nthis is not a png");
    fails_cleanly(&vitfuse(&["classify", "--model", vit.to_str().unwrap(), bad_png.to_str().unwrap()]), "bad.png");
    let img = fixture("image_preprocess").join("small.png");
    fails_cleanly(&vitfuse(&["classify", "--model", clip.to_str().unwrap(), img.to_str().unwrap(), "--labels", "cat,dog"]), "tokenizer");
    fails_cleanly(&vitfuse(&["tokenize", "--tokenizer", "/no/tokenizer.json", "hi"]), "tokenizer.json");
    fails_cleanly(&vitfuse(&["bench", "matmul", "0", "4", "4"]), "positive");
    // Kernel names are checked by the parser, which lists the valid ones (taken from the runtime's enums).
    let rejects = |args: &[&str], names: &str| {
        let out = vitfuse(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("invalid value") && err.contains(names), "{err}");
    };
    rejects(&["bench", "matmul", "4", "4", "4", "--kernel", "fast"], "naive, tiled, subgroup");
    rejects(&["bench", "model", "vit-ti16", "--attention", "nope"], "flash, tiled, tiled-wg");
    rejects(&["bench", "model", "vit-ti16", "--patch", "nope"], "fused, composed");
    rejects(&["bench", "model", "vit-b17"], "vit-b16, vit-ti16, clip-b32, ast-b");
    fails_cleanly(&vitfuse(&["info", "--adapter", "no-such-adapter-xyz"]), "no-such-adapter-xyz");
    assert!(!out_path.exists(), "a failed command wrote its output");
}

/// A copy of a tiny dual encoder with the hand-made 15-word tokenizer (its ids fit the tiny
/// 1000-token vocabulary), so text commands run end to end.
fn dual_encoder(name: &str) -> PathBuf {
    // A folder of its own per call: tests run in parallel and the cache key covers file times.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let d = tmp(&format!("model-{name}-{}", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    std::fs::create_dir_all(&d).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture(name).join(f), d.join(f)).unwrap();
    }
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixture("tiny_tokenizer").join(f), d.join(f)).unwrap();
    }
    d
}

#[test]
fn retrieve_caches_embeddings_and_skips_undecodable_files() {
    let model = dual_encoder("clip_tiny");
    let folder = tmp("gallery");
    std::fs::create_dir_all(&folder).unwrap();
    for f in ["landscape.png", "portrait.png", "small.png"] {
        std::fs::copy(fixture("image_preprocess").join(f), folder.join(f)).unwrap();
    }
    write(&folder.join("broken.png"), b"not an image");
    let args = ["retrieve", "--model", model.to_str().unwrap(), "--images", folder.to_str().unwrap(), "--query", "a photo of a cat", "--json"];
    let first = vitfuse(&args);
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{err}");
    assert!(err.contains("broken.png") && err.contains("3 embedded, 1 skipped"), "{err}");
    let hits: Vec<serde_json::Value> = String::from_utf8(first.stdout.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(hits.len(), 3);
    let sims: Vec<f64> = hits.iter().map(|h| h["similarity"].as_f64().unwrap()).collect();
    assert!(sims.windows(2).all(|w| w[0] >= w[1]) && sims.iter().all(|s| s.abs() <= 1.0 + 1e-5));
    // One cache file next to the folder; a second query embeds nothing and ranks the same.
    let caches: Vec<_> = std::fs::read_dir(folder.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("gallery.vitfuse-"))
        .collect();
    assert_eq!(caches.len(), 1);
    let second = vitfuse(&args);
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("3 from the cache, 0 embedded"), "{err}");
    assert_eq!(second.stdout, first.stdout);
    // A changed file is embedded again.
    std::fs::copy(fixture("image_preprocess").join("landscape.png"), folder.join("small.png")).unwrap();
    let third = vitfuse(&args);
    assert!(String::from_utf8_lossy(&third.stderr).contains("2 from the cache, 1 embedded"), "{}", String::from_utf8_lossy(&third.stderr));
}

#[test]
fn match_scores_texts_with_dual_encoders() {
    let img = fixture("image_preprocess").join("small.png");
    for name in ["clip_tiny", "siglip_tiny"] {
        let model = dual_encoder(name);
        let out = vitfuse(&["match", "--model", model.to_str().unwrap(), "--image", img.to_str().unwrap(), "--text", "a cat", "a dog", "the landscape", "--json"]);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(rows.len(), 3);
        let scores: Vec<f64> = rows.iter().map(|r| r["score"].as_f64().unwrap()).collect();
        if name == "clip_tiny" {
            assert!((scores.iter().sum::<f64>() - 1.0).abs() < 1e-4, "CLIP scores are a softmax: {scores:?}");
        } else {
            // SigLIP: independent sigmoids of the logits.
            for r in &rows {
                let (l, s) = (r["logit"].as_f64().unwrap(), r["score"].as_f64().unwrap());
                assert!((s - 1.0 / (1.0 + (-l).exp())).abs() < 1e-5);
            }
        }
    }
}

#[test]
fn forward_compare_reports_and_fails_on_mismatch() {
    let vit = fixture("vit_tiny");
    let out_path = tmp("cmp.safetensors");
    let args = |expected: &Path| {
        vec![
            "forward".to_string(),
            "--model".into(),
            vit.to_str().unwrap().into(),
            "--inputs".into(),
            vit.join("inputs.safetensors").to_str().unwrap().into(),
            "--output".into(),
            out_path.to_str().unwrap().into(),
            "--compare".into(),
            expected.to_str().unwrap().into(),
        ]
    };
    let run = |a: Vec<String>| vitfuse(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let ok = run(args(&vit.join("expected.safetensors")));
    let s = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success() && s.contains("logits") && s.contains(" ok"), "{s}{}", String::from_utf8_lossy(&ok.stderr));
    let bad = run(args(&fixture("clip_tiny").join("expected.safetensors")));
    fails_cleanly(&bad, "differ");
}

/// `forward --interpolate-pos-encoding` on both paths agrees on a 40×24 input; without the flag
/// that input is one clean error.
#[test]
fn forward_interpolates_positions_on_request() {
    let dir = fixture("vit_tiny");
    let inputs = tmp("vit-40x24-inputs.safetensors");
    let px: Vec<f32> = (0..2 * 3 * 40 * 24).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
    let mut m = std::collections::BTreeMap::new();
    m.insert("pixel_values".to_string(), vitfuse::model::HostTensor::f32(vec![2, 3, 40, 24], px).unwrap());
    vitfuse::model::write_host_tensors(&inputs, &m).unwrap();
    let mut outs = Vec::new();
    for reference in [false, true] {
        let out_path = tmp(&format!("vit-40x24-{reference}.safetensors"));
        let mut args = vec!["forward", "--model", dir.to_str().unwrap(), "--inputs", inputs.to_str().unwrap()];
        args.extend(["--output", out_path.to_str().unwrap(), "--interpolate-pos-encoding"]);
        if reference {
            args.push("--reference");
        }
        let out = vitfuse(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        outs.push(vitfuse::model::read_host_tensors(&out_path).unwrap());
    }
    let (gpu, cpu) = (&outs[0], &outs[1]);
    assert_eq!(gpu["last_hidden_state"].shape, vec![2, 1 + 5 * 3, 64]);
    let cmp = vitfuse::reference::compare::compare_outputs(&gpu.clone().into_iter().collect(), cpu, &Default::default(), vitfuse::reference::Tolerance::new(2e-4, 2e-4));
    assert!(cmp.iter().all(|c| c.passed()) && cmp.len() == 2, "{:?}", cmp.iter().map(|c| (&c.name, c.report.as_ref().map(|r| r.to_string()))).collect::<Vec<_>>());
    let out = vitfuse(&["forward", "--model", dir.to_str().unwrap(), "--inputs", inputs.to_str().unwrap(), "--output", tmp("x.safetensors").to_str().unwrap()]);
    fails_cleanly(&out, "interpolate_pos_encoding");
}

/// A float32 mono WAV of `samples` at `rate`.
fn write_wav(path: &Path, samples: &[f32], rate: u32) {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut v = b"RIFF".to_vec();
    v.extend((36 + data.len() as u32).to_le_bytes());
    v.extend(b"WAVEfmt ");
    v.extend(16u32.to_le_bytes());
    v.extend(3u16.to_le_bytes());
    v.extend(1u16.to_le_bytes());
    v.extend(rate.to_le_bytes());
    v.extend((rate * 4).to_le_bytes());
    v.extend(4u16.to_le_bytes());
    v.extend(32u16.to_le_bytes());
    v.extend(b"data");
    v.extend((data.len() as u32).to_le_bytes());
    v.extend(data);
    write(path, &v);
}

/// `classify` on WAV files with the tiny AST: the fixture's two waveforms give transformers'
/// logits (same order, every label); FLAC, MP3 and Ogg files at other rates classify too, and a
/// file that is not audio is one clean error.
#[test]
fn classify_audio_files_with_ast() {
    let dir = fixture("ast_tiny");
    let inputs = vitfuse::model::read_host_tensors(dir.join("inputs.safetensors")).unwrap();
    let expected = vitfuse::model::read_host_tensors(dir.join("expected.safetensors")).unwrap();
    let want = expected["logits"].as_f32().unwrap();
    let files: Vec<PathBuf> = (0..2).map(|i| tmp(&format!("wave{i}.wav"))).collect();
    for (i, f) in files.iter().enumerate() {
        write_wav(f, inputs[&format!("waveform_{i}")].as_f32().unwrap(), 16000);
    }
    let out = vitfuse(&["classify", "--model", dir.to_str().unwrap(), files[0].to_str().unwrap(), files[1].to_str().unwrap(), "--json", "--top", "6"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["audio"], files[i].display().to_string());
        let labels = line["labels"].as_array().unwrap();
        assert_eq!(labels.len(), 6);
        let mut prev = f64::INFINITY;
        for l in labels {
            let k: usize = l["label"].as_str().unwrap().rsplit('_').next().unwrap().parse().unwrap_or_else(|_| panic!("{l}"));
            let logit = l["logit"].as_f64().unwrap();
            assert!((logit - want[i * 6 + k] as f64).abs() < 3e-4, "{i} {l} vs {}", want[i * 6 + k]);
            assert!(logit <= prev);
            prev = logit;
        }
    }
    // `embed --audio`: transformers' pooler_output per file.
    let out = vitfuse(&["embed", "--model", dir.to_str().unwrap(), "--audio", files[0].to_str().unwrap(), files[1].to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pooled = expected["pooler_output"].as_f32().unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    for (i, line) in lines.iter().enumerate() {
        let e: Vec<f64> = line["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(e.len(), 64);
        for (g, w) in e.iter().zip(&pooled[i * 64..(i + 1) * 64]) {
            assert!((g - *w as f64).abs() < 3e-4, "{g} vs {w}");
        }
    }
    // Other containers and rates: FLAC, MP3 and Ogg Vorbis at 44.1 and 48 kHz are decoded and
    // resampled to the model's 16 kHz; `embed --audio` takes them too.
    let formats = fixture("audio_formats");
    let clips: Vec<String> = ["tone_stereo_44100.flac", "tone_stereo_44100.mp3", "tone_mono_48000.ogg", "tone_s16_stereo_32000.wav"]
        .iter()
        .map(|f| formats.join(f).display().to_string())
        .collect();
    let mut args = vec!["classify", "--model", dir.to_str().unwrap(), "--json"];
    args.extend(clips.iter().map(String::as_str));
    let out = vitfuse(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.iter().map(|l| l["audio"].as_str().unwrap()).collect::<Vec<_>>(), clips);
    let out = vitfuse(&["embed", "--model", dir.to_str().unwrap(), "--audio", &clips[1]]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    // A file that is not audio: one error naming it.
    let bad = tmp("not-audio.flac");
    std::fs::write(&bad, b"fLaC but nothing after it that a decoder could read").unwrap();
    fails_cleanly(&vitfuse(&["classify", "--model", dir.to_str().unwrap(), bad.to_str().unwrap()]), &bad.display().to_string());
}

/// JSON lines print f32 values as f32 (shortest round trip), not widened to f64.
#[test]
fn json_floats_are_f32_shortest() {
    let img = fixture("image_preprocess").join("small.png");
    let out = vitfuse(&["embed", "--model", fixture("clip_tiny").to_str().unwrap(), "--image", img.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let body = &text[text.find("\"embedding\":[").unwrap() + 13..text.rfind(']').unwrap()];
    let tokens: Vec<&str> = body.split(',').collect();
    assert_eq!(tokens.len(), 32);
    for t in tokens {
        let mantissa = t.trim_start_matches('-').split(['e', 'E']).next().unwrap();
        let digits = mantissa.replace('.', "").trim_start_matches('0').len();
        assert!(digits <= 9, "{t} has {digits} significant digits: widened to f64?");
        assert!(t.parse::<f32>().is_ok(), "{t}");
    }
}

/// Help says what a model folder holds; `bench model --help` lists every model.
#[test]
fn help_describes_model_folders_and_lists_bench_models() {
    let out = vitfuse(&["classify", "--help"]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("config.json") && s.contains("model.safetensors") && s.contains("tokenizer.json"), "{s}");
    let out = vitfuse(&["bench", "model", "--help"]);
    let s = String::from_utf8_lossy(&out.stdout);
    for m in ["vit-b16", "vit-ti16", "clip-b32", "ast-b", "dinov2-b14", "dinov2-b14-reg"] {
        assert!(s.contains(m), "{m} missing from: {s}");
    }
    // Commands that use no GPU offer no --adapter.
    let s = String::from_utf8_lossy(&vitfuse(&["tokenize", "--help"]).stdout).into_owned();
    assert!(!s.contains("--adapter"), "{s}");
}

/// What users see around the results: effective zero-shot prompts, where outputs and caches
/// go, and each cause of an error once.
#[test]
fn commands_say_what_they_did() {
    let model = dual_encoder("clip_tiny");
    let m = model.to_str().unwrap();
    let img = fixture("image_preprocess").join("small.png");
    let out = vitfuse(&["classify", "--model", m, img.to_str().unwrap(), "--labels", "cat,a dog"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("\"a photo of a cat\", \"a photo of a dog\"") && !err.contains("a a dog"), "{err}");

    let emb = tmp("texts.safetensors");
    let out = vitfuse(&["embed", "--model", m, "--text", "a cat", "a dog", "--output", emb.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains(&format!("wrote embeddings [2, 32] to {}", emb.display())), "{err}");

    let folder = tmp("gallery-nocache");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(&img, folder.join("a.png")).unwrap();
    let out = vitfuse(&["retrieve", "--model", m, "--images", folder.to_str().unwrap(), "--query", "a cat", "--no-cache"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("1 embedded") && err.contains("(no cache)"), "{err}");
    let cached = std::fs::read_dir(folder.parent().unwrap()).unwrap().filter_map(|e| e.ok()).any(|e| e.file_name().to_string_lossy().starts_with("gallery-nocache.vitfuse-"));
    assert!(!cached, "--no-cache wrote a cache");
    let out = vitfuse(&["retrieve", "--model", m, "--images", folder.to_str().unwrap(), "--query", "a cat"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("(cache ") && err.contains("gallery-nocache.vitfuse-"), "{err}");

    let out = vitfuse(&["classify", "--model", fixture("vit_tiny").to_str().unwrap(), "/no/such.png"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    fails_cleanly(&out, "/no/such.png");
}

/// A reader that closes the pipe early (`vitfuse embed … | head -c 10`) ends the program quietly.
#[test]
fn a_closed_stdout_ends_quietly() {
    use std::io::Read;
    let img = fixture("image_preprocess").join("small.png");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vitfuse"))
        .args(["embed", "--model", fixture("clip_tiny").to_str().unwrap(), "--image"])
        .args(std::iter::repeat_n(img.to_str().unwrap(), 400))
        .env("XDG_RUNTIME_DIR", "/tmp")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The read end is dropped here; the rest of the output meets a closed pipe.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && !err.contains("error"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
}

/// `tokenize` truncates to the tokenizer's model_max_length by default, as its help says;
/// `--top 0` and a bad `--tolerance` are errors, not silently adjusted.
#[test]
fn tokenize_truncates_by_default_and_bad_numbers_are_errors() {
    let tok = fixture("clip_tokenizer").join("tokenizer.json");
    let long = "cat ".repeat(200);
    let out = vitfuse(&["tokenize", "--tokenizer", tok.to_str().unwrap(), &long]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    let ids = v["input_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 77);
    assert_eq!(ids[76], 49407, "the end-of-text token is kept");
    let img = fixture("image_preprocess").join("small.png");
    let out = vitfuse(&["classify", "--model", fixture("vit_tiny").to_str().unwrap(), img.to_str().unwrap(), "--top", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let vit = fixture("vit_tiny");
    let args = |t: &'static str| {
        vitfuse(&[
            "forward", "--model", vit.to_str().unwrap(), "--inputs", vit.join("inputs.safetensors").to_str().unwrap(),
            "--output", tmp("tol.safetensors").to_str().unwrap(), "--compare", vit.join("expected.safetensors").to_str().unwrap(), "--tolerance", t,
        ])
    };
    fails_cleanly(&args("abc"), "--tolerance takes ABS,REL");
    fails_cleanly(&args("-1,0"), "--tolerance takes ABS,REL");
}

/// The retrieval cache never serves stale, colliding or corrupt vectors, and a cache that cannot
/// be written is a warning (issue 9, class 3).
#[test]
fn retrieval_cache_is_keyed_by_everything_and_validated() {
    let model = dual_encoder("clip_tiny");
    let folder = tmp("gallery-keys");
    std::fs::create_dir_all(&folder).unwrap();
    let src = fixture("image_preprocess");
    std::fs::copy(src.join("small.png"), folder.join("a.png")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        for name in [&b"\xff.png"[..], &b"\xfe.png"[..]] {
            let p = folder.join(std::ffi::OsStr::from_bytes(name));
            std::fs::copy(src.join("portrait.png"), &p).unwrap();
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000)).unwrap();
        }
    }
    let n = if cfg!(unix) { 3 } else { 1 };
    let args = ["retrieve", "--model", model.to_str().unwrap(), "--images", folder.to_str().unwrap(), "--query", "a cat"];
    let run = || {
        let out = vitfuse(&args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        (err, String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (err, _) = run();
    assert!(err.contains(&format!("0 from the cache, {n} embedded")), "{err}");
    let cache_of = |err: &str| PathBuf::from(err.rsplit("(cache ").next().unwrap().trim().trim_end_matches(')'));
    let cache = cache_of(&err);
    assert_eq!(vitfuse::read_host_tensors(&cache).unwrap().len(), n, "one entry per exact file name");
    assert!(run().0.contains(&format!("{n} from the cache, 0 embedded")));

    // Entries of the wrong width are embedded again, not trusted.
    let bad: std::collections::BTreeMap<String, vitfuse::HostTensor> = vitfuse::read_host_tensors(&cache)
        .unwrap()
        .into_keys()
        .map(|k| (k, vitfuse::HostTensor::f32(vec![3], vec![1.0, 2.0, 3.0]).unwrap()))
        .collect();
    vitfuse::write_host_tensors(&cache, &bad).unwrap();
    assert!(run().0.contains(&format!("0 from the cache, {n} embedded")));

    // New weights (same config): another cache, everything embedded again.
    let mut w: std::collections::BTreeMap<String, vitfuse::HostTensor> =
        vitfuse::read_host_tensors(model.join("model.safetensors")).unwrap().into_iter().collect();
    let t = w.get_mut("visual_projection.weight").unwrap();
    let v: Vec<f32> = t.as_f32().unwrap().iter().map(|x| -x).collect();
    *t = vitfuse::HostTensor::f32(t.shape.clone(), v).unwrap();
    vitfuse::write_host_tensors(model.join("model.safetensors"), &w).unwrap();
    let (err, _) = run();
    assert!(err.contains(&format!("0 from the cache, {n} embedded")) && cache_of(&err) != cache, "{err}");

    // A cache that cannot be written: a warning, and the ranking still prints.
    let blocked = cache_of(&err);
    std::fs::remove_file(&blocked).unwrap();
    std::fs::create_dir_all(&blocked).unwrap();
    let (err, out) = run();
    assert!(err.contains("warning: the embedding cache") && out.lines().count() == n.min(5), "{err}{out}");
}

/// `--output` never destroys what its path points to: a symlink keeps its link and gets the bytes
/// in its target, a FIFO and /dev/null are written through, and a destination that cannot be
/// written fails up front, naming the path given.
#[cfg(unix)]
#[test]
fn outputs_write_through_links_fifos_and_devices() {
    use std::os::unix::fs::FileTypeExt;
    let dir = fixture("image_preprocess");
    let img = dir.join("small.png");
    let pp = dir.join("vit").join("preprocessor_config.json");
    let preprocess = |out: &Path| vitfuse(&["preprocess", "--processor", pp.to_str().unwrap(), "--output", out.to_str().unwrap(), img.to_str().unwrap()]);
    let target = tmp("link-target.safetensors");
    write(&target, b"old");
    let link = tmp("out-link.safetensors");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = preprocess(&link);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    assert!(vitfuse::read_host_tensors(&target).unwrap().contains_key("pixel_values"));

    let fifo = tmp("out.fifo");
    let _ = std::fs::remove_file(&fifo);
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let out = preprocess(&fifo);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = reader.join().unwrap();
    assert!(bytes.len() > 3 * 224 * 224 * 4, "the FIFO's reader got {} bytes", bytes.len());
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO was replaced");

    let out = preprocess(Path::new("/dev/null"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());

    // Unwritable destinations fail before any work, naming the path as given.
    let missing = tmp("no-such-dir/out.safetensors");
    fails_cleanly(&preprocess(&missing), "no-such-dir/out.safetensors");
    let folder = tmp("a-folder");
    std::fs::create_dir_all(&folder).unwrap();
    fails_cleanly(&preprocess(&folder), "a-folder");
    let m = fixture("vit_tiny");
    let out = vitfuse(&["forward", "--model", m.to_str().unwrap(), "--inputs", m.join("inputs.safetensors").to_str().unwrap(), "--output", missing.to_str().unwrap()]);
    fails_cleanly(&out, "no-such-dir/out.safetensors");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(".tmp."), "the error names the temporary file");
}

/// A checkpoint with more layers than config.json's `num_hidden_layers` runs, with one warning
/// naming the tensors it does not use.
#[test]
fn unused_tensors_are_a_warning() {
    let d = tmp("vit-extra-layers");
    std::fs::create_dir_all(&d).unwrap();
    let src = fixture("vit_tiny");
    std::fs::copy(src.join("model.safetensors"), d.join("model.safetensors")).unwrap();
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    let layers = cfg["num_hidden_layers"].as_u64().unwrap();
    assert!(layers >= 2);
    cfg["num_hidden_layers"] = serde_json::json!(layers - 1);
    write(&d.join("config.json"), cfg.to_string().as_bytes());
    let out_path = tmp("extra-layers-out.safetensors");
    let out = vitfuse(&["forward", "--model", d.to_str().unwrap(), "--inputs", src.join("inputs.safetensors").to_str().unwrap(), "--output", out_path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains(&format!("encoder.layer.{}.", layers - 1)) && warnings[0].contains("not used"), "{err}");
}

#[test]
fn forward_deit_and_dinov2_match_transformers_on_both_paths() {
    for name in ["deit_tiny", "dinov2_tiny", "dinov2_reg_tiny"] {
        compare_forward(name, false);
        compare_forward(name, true);
    }
}

/// A model folder of its own (the retrieval cache key covers the folder).
fn model_folder(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let d = tmp(&format!("own-{name}-{}", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    std::fs::create_dir_all(&d).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture(name).join(f), d.join(f)).unwrap();
    }
    d
}

#[test]
fn deit_classifies_and_dinov2_embeds_and_retrieves_by_image() {
    let img = fixture("image_preprocess").join("landscape.png");
    let i = img.to_str().unwrap();
    let deit = fixture("deit_tiny");
    let out = vitfuse(&["classify", "--model", deit.to_str().unwrap(), i, "--json", "--top", "3"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    let labels = v["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 3);
    assert!(labels.iter().all(|l| l["label"].as_str().unwrap().starts_with("class_")));
    // No preprocessor_config.json: the family's defaults, said once.
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning:") && String::from_utf8_lossy(&out.stderr).contains("DeiTImageProcessor"));

    let dino = model_folder("dinov2_reg_tiny");
    let m = dino.to_str().unwrap();
    let out = vitfuse(&["embed", "--model", m, "--image", i]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    assert_eq!(v["embedding"].as_array().unwrap().len(), 64);
    fails_cleanly(&vitfuse(&["embed", "--model", m, "--text", "a cat"]), "no text tower");
    fails_cleanly(&vitfuse(&["classify", "--model", m, i]), "without a classifier head");

    let folder = tmp("dino-gallery");
    std::fs::create_dir_all(&folder).unwrap();
    for f in ["landscape.png", "portrait.png", "small.png"] {
        std::fs::copy(fixture("image_preprocess").join(f), folder.join(f)).unwrap();
    }
    let g = folder.to_str().unwrap();
    let q = folder.join("portrait.png");
    let out = vitfuse(&["retrieve", "--model", m, "--images", g, "--query-image", q.to_str().unwrap(), "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("3 images: 0 from the cache, 3 embedded"), "{err}");
    let hits: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(hits.len(), 3);
    assert!(hits[0]["image"].as_str().unwrap().ends_with("portrait.png"), "{hits:?}");
    assert!((hits[0]["similarity"].as_f64().unwrap() - 1.0).abs() < 1e-4);
    // --no-cache neither reads nor writes the cache; a plain run reads it.
    let again = vitfuse(&["retrieve", "--model", m, "--images", g, "--query-image", q.to_str().unwrap(), "--no-cache"]);
    assert!(again.status.success() && String::from_utf8_lossy(&again.stderr).contains("no cache"));
    let cached = vitfuse(&["retrieve", "--model", m, "--images", g, "--query-image", q.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&cached.stderr).contains("3 from the cache, 0 embedded"), "{}", String::from_utf8_lossy(&cached.stderr));
    // A text query: DINOv2 has no text tower, and says how to search instead.
    let out = vitfuse(&["retrieve", "--model", m, "--images", g, "--query", "a cat"]);
    fails_cleanly(&out, "no text tower");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--query-image"));
    // An audio query still needs a pipeline.
    let wav = tmp("q.wav");
    write(&wav, b"RIFF");
    fails_cleanly(&vitfuse(&["retrieve", "--model", m, "--images", g, "--query-audio", wav.to_str().unwrap()]), "pipeline");
}

/// `--dtype f16` (and `f16-weights`) stores the weights as f16: `bench model` says so and counts
/// half the bytes.
#[test]
fn bench_model_dtype_f16_halves_the_weight_bytes() {
    let run = |dtype: &str| {
        let out = vitfuse(&["bench", "model", "vit-ti16", "--iters", "1", "--dtype", dtype]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
        assert_eq!(v["dtype"], dtype);
        // lavapipe has SHADER_F16: --dtype f16 stores activations as f16 too.
        assert_eq!(v["activations"], if dtype == "f16" { "f16" } else { "f32" }, "{v}");
        // The first pass (pipelines built, result read back) is timed apart from the median.
        assert!(v["first_ms"].as_f64().is_some_and(|t| t > 0.0) && v["median_ms"].as_f64().is_some_and(|t| t > 0.0), "{v}");
        // Host time to record and to submit a pass, each part of the median pass.
        let (rec, sub, med) = (v["record_ms"].as_f64().unwrap(), v["submit_ms"].as_f64().unwrap(), v["median_ms"].as_f64().unwrap());
        assert!(rec > 0.0 && sub > 0.0 && rec + sub < 2.0 * med, "{v}");
        // Texture copies of the weights (lavapipe's matmul operands) are counted apart, at most
        // one per weight.
        let (tex, w) = (v["texture_bytes"].as_u64().unwrap(), v["weight_bytes"].as_u64().unwrap());
        assert!(tex <= w, "{v}");
        if v["adapter"].as_str().is_some_and(|a| a.contains("llvmpipe")) {
            assert!(tex > w / 2, "{v}");
        }
        v["weight_bytes"].as_u64().unwrap()
    };
    let (full, half) = (run("f32"), run("f16"));
    // The matmul and patch weights halve; biases, LayerNorms and positions stay f32.
    assert!(full > 5_000_000 && half * 10 < full * 6 && half * 2 > full, "f32 {full} bytes, f16 {half} bytes");
    // f16 weights alone store the same (activations are not weights).
    assert_eq!(run("f16-weights"), half);
}

/// `bench model --profile` adds one line per kernel whose times account for the pass: on a
/// software adapter they are host-timed dispatches (its timestamps summed to a tenth of a pass
/// on lavapipe), so their sum is of the order of the pass's median.
#[test]
fn bench_model_profile_splits_the_pass() {
    let out = vitfuse(&["bench", "model", "vit-ti16", "--iters", "1", "--profile"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["bench"], "model");
    let split = &lines[1..];
    assert!(split.iter().all(|v| v["bench"] == "model-split"), "{lines:?}");
    let kernels: Vec<&str> = split.iter().map(|v| v["kernel"].as_str().unwrap()).collect();
    assert!(kernels.iter().any(|k| k.starts_with("matmul")) && kernels.iter().any(|k| k.starts_with("layernorm")), "{kernels:?}");
    let share: f64 = split.iter().map(|v| v["share"].as_f64().unwrap()).sum();
    assert!((share - 1.0).abs() < 1e-9, "{share}");
    if lines[0]["adapter"].as_str().is_some_and(|a| a.contains("llvmpipe")) {
        let sum: f64 = split.iter().map(|v| v["gpu_ms"].as_f64().unwrap()).sum();
        let pass = lines[0]["median_ms"].as_f64().unwrap();
        assert!(sum > 0.25 * pass && sum < 4.0 * pass, "kernels {sum} ms against a pass of {pass} ms");
    }
}

#[test]
fn bench_peak_prints_fma_and_copy_lines() {
    let out = vitfuse(&["bench", "peak", "--iters", "1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let what: Vec<&str> = lines.iter().map(|v| v["what"].as_str().unwrap()).collect();
    assert_eq!(what, ["fma-f32", "fma-f16", "copy"]);
    for v in &lines {
        assert_eq!(v["bench"], "peak");
        assert!(v["adapter"].as_str().is_some_and(|s| !s.is_empty()));
        if v["skipped"].is_string() {
            assert_eq!(v["what"], "fma-f16");
            continue;
        }
        let unit = if v["what"] == "copy" { "gbps" } else { "gflops" };
        let (best, median) = (v[format!("{unit}_best")].as_f64().unwrap(), v[format!("{unit}_median")].as_f64().unwrap());
        assert!(best > 0.0 && best >= median, "{v}");
    }
    fails_cleanly(&vitfuse(&["bench", "peak", "--iters", "0"]), "--iters");
}

/// A forward pass leaves the pipeline cache in VITFUSE_PIPELINE_CACHE_DIR (written after the
/// first pass), the next run starts from it, and VITFUSE_PIPELINE_CACHE=0 writes nothing.
#[test]
fn forward_writes_the_pipeline_cache_where_told() {
    let dir = fixture("vit_tiny");
    let inputs = dir.join("inputs.safetensors");
    let args = ["forward", "--model", dir.to_str().unwrap(), "--inputs", inputs.to_str().unwrap(), "--output", ""];
    let run = |cache: &Path, off: bool| {
        let out_path = tmp("vit-cache.safetensors");
        let mut a = args.map(String::from);
        a[6] = out_path.to_str().unwrap().into();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vitfuse"));
        cmd.args(&a).env("XDG_RUNTIME_DIR", "/tmp").env("VITFUSE_PIPELINE_CACHE_DIR", cache);
        if off {
            cmd.env("VITFUSE_PIPELINE_CACHE", "0");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let info = String::from_utf8(vitfuse(&["info"]).stdout).unwrap();
    let cache = tmp("pipelines");
    let _ = std::fs::remove_dir_all(&cache);
    run(&cache, true);
    assert!(!cache.exists(), "VITFUSE_PIPELINE_CACHE=0 wrote {}", cache.display());
    run(&cache, false);
    if info.contains("(vulkan,") {
        let files: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(files[0].metadata().unwrap().len() > 16);
        run(&cache, false);
    } else {
        assert!(!cache.exists());
    }
}
