//! Hostile inputs through every command of the `vitfuse` binary. Each must be answered with exit
//! code 2 and one line on stderr — no panic, no hang — within a bounded peak memory (the child's
//! own `ru_maxrss`, from `wait4`), and nothing outside the test's temporary folder may change.
//! The hostile files are made here: sizes from files and flags far over the stated limits,
//! streams, checkpoints that disagree with their configs, and media the reference rejects.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use vitfuse::image::{ImageBuffer, Luma, Rgb};
use vitfuse::HostTensor;

/// Peak resident memory allowed to one run.
const PEAK_LIMIT_KIB: i64 = 1 << 20;
/// No run may take longer than this.
const TIMEOUT: Duration = Duration::from_secs(120);

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    peak_kib: i64,
}

/// Runs the binary in `cwd` with HOME, TMPDIR and the cache dirs (pipeline cache included) inside it; measures the
/// child's peak RSS through `wait4`.
fn run(cwd: &Path, args: &[String]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vitfuse"))
        .args(args)
        .current_dir(cwd)
        .env("HOME", cwd)
        .env("TMPDIR", cwd)
        .env("XDG_CACHE_HOME", cwd)
        // The pipeline cache goes to XDG_CACHE_HOME too, inside the test's folder.
        .env_remove("VITFUSE_PIPELINE_CACHE_DIR")
        .env_remove("VITFUSE_PIPELINE_CACHE")
        .env("XDG_RUNTIME_DIR", cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vitfuse");
    let pid = child.id() as libc::pid_t;
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let t0 = std::time::Instant::now();
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if t0.elapsed() > TIMEOUT {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return true;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            false
        })
    };
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(r, pid, "wait4 failed");
    let timed_out = watchdog.join().unwrap();
    assert!(!timed_out, "{args:?} ran past {TIMEOUT:?}");
    std::mem::forget(child); // reaped by wait4 above
    Run {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        peak_kib: usage.ru_maxrss,
    }
}

/// (path, size, modification time) of every file under `dir` (skipping `target`).
fn snapshot(dir: &Path, out: &mut BTreeMap<PathBuf, (u64, SystemTime)>, depth: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(m) = std::fs::symlink_metadata(&p) else { continue };
        if m.is_dir() {
            if depth > 0 && e.file_name() != "target" && e.file_name() != ".git" {
                snapshot(&p, out, depth - 1);
            }
        } else {
            out.insert(p, (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
        }
    }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

fn copy_model(root: &Path, fixture_name: &str, name: &str, extra: &[(&str, &Path)]) -> PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture(fixture_name).join(f), d.join(f)).unwrap();
    }
    for (f, from) in extra {
        std::fs::copy(from, d.join(f)).unwrap();
    }
    d
}

fn png_gray(path: &Path, w: u32, h: u32) {
    ImageBuffer::<Luma<u8>, _>::from_fn(w, h, |x, _| Luma([(x % 251) as u8])).save(path).unwrap();
}

fn wav(channels: u16, rate: u32, data: &[u8]) -> Vec<u8> {
    let mut v = b"RIFF".to_vec();
    v.extend((36 + data.len() as u32).to_le_bytes());
    v.extend(b"WAVEfmt ");
    v.extend(16u32.to_le_bytes());
    v.extend(1u16.to_le_bytes());
    v.extend(channels.to_le_bytes());
    v.extend(rate.to_le_bytes());
    v.extend((rate * channels as u32 * 2).to_le_bytes());
    v.extend((channels * 2).to_le_bytes());
    v.extend(16u16.to_le_bytes());
    v.extend(b"data");
    v.extend((data.len() as u32).to_le_bytes());
    v.extend(data);
    v
}

/// `edit` applied to the JSON of `dir/file`.
fn edit_json(dir: &Path, file: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join(file);
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    edit(&mut v);
    write(&p, v.to_string().as_bytes());
}

/// `edit` applied to the tensors of `dir/model.safetensors`.
fn edit_weights(dir: &Path, edit: impl FnOnce(&mut BTreeMap<String, HostTensor>)) {
    let p = dir.join("model.safetensors");
    let mut w: BTreeMap<String, HostTensor> = vitfuse::read_host_tensors(&p).unwrap().into_iter().collect();
    edit(&mut w);
    vitfuse::write_host_tensors(&p, &w).unwrap();
}

#[test]
fn hostile_inputs_get_one_line_and_exit_2_through_every_command() {
    let root = std::env::temp_dir().join(format!("vitfuse-bad-inputs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut before = BTreeMap::new();
    snapshot(&repo, &mut before, 4);

    // Model folders that work, with processors that match their image size (no warnings).
    let tok = fixture("tiny_tokenizer");
    let clip_pp = root.join("clip_pp.json");
    write(&clip_pp, br#"{"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 32}, "crop_size": {"height": 32, "width": 32}}"#);
    let vit_pp = root.join("vit_pp.json");
    write(&vit_pp, br#"{"image_processor_type": "ViTImageProcessor", "size": {"height": 32, "width": 32}}"#);
    let clip_files: Vec<(&str, &Path)> = vec![
        ("tokenizer.json", &*Box::leak(tok.join("tokenizer.json").into_boxed_path())),
        ("tokenizer_config.json", &*Box::leak(tok.join("tokenizer_config.json").into_boxed_path())),
        ("preprocessor_config.json", &*Box::leak(clip_pp.clone().into_boxed_path())),
    ];
    let clip = copy_model(&root, "clip_tiny", "clip", &clip_files);
    let vit = copy_model(&root, "vit_tiny", "vit", &[("preprocessor_config.json", &vit_pp)]);
    let ast_pp = fixture("ast_tiny").join("preprocessor_config.json");
    let ast = copy_model(&root, "ast_tiny", "ast", &[("preprocessor_config.json", &ast_pp)]);
    let good_png = fixture("image_preprocess").join("small.png");
    let good_wav = root.join("good.wav");
    write(&good_wav, &wav(1, 16000, &vec![0u8; 2 * 16000]));

    // Class 1: sizes from files and flags.
    png_gray(&root.join("wide.png"), 20000, 1); // resize to shortest edge 32 → 640000 × 32
    png_gray(&root.join("wider.png"), 65000, 1);
    let huge_edge = copy_model(&root, "clip_tiny", "clip_huge_edge", &clip_files);
    edit_json(&huge_edge, "preprocessor_config.json", |v| v["size"] = serde_json::json!({"shortest_edge": 1_000_000}));
    let huge_crop = copy_model(&root, "vit_tiny", "vit_huge_size", &[("preprocessor_config.json", &vit_pp)]);
    edit_json(&huge_crop, "preprocessor_config.json", |v| v["size"] = serde_json::json!({"height": 200000, "width": 200000}));
    let ast_long = copy_model(&root, "ast_tiny", "ast_long", &[("preprocessor_config.json", &ast_pp)]);
    edit_json(&ast_long, "preprocessor_config.json", |v| v["max_length"] = serde_json::json!(100_000_000_000u64));
    let ast_float_len = copy_model(&root, "ast_tiny", "ast_float_len", &[("preprocessor_config.json", &ast_pp)]);
    edit_json(&ast_float_len, "preprocessor_config.json", |v| v["max_length"] = serde_json::json!(1e11));
    // Streams where files are expected.
    let zero_config = copy_model(&root, "vit_tiny", "zero_config", &[]);
    std::fs::remove_file(zero_config.join("config.json")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", zero_config.join("config.json")).unwrap();
    let zero_tok = copy_model(&root, "clip_tiny", "zero_tokenizer", &clip_files);
    std::fs::remove_file(zero_tok.join("tokenizer.json")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", zero_tok.join("tokenizer.json")).unwrap();
    let zero_weights = copy_model(&root, "vit_tiny", "zero_weights", &[("preprocessor_config.json", &vit_pp)]);
    std::fs::remove_file(zero_weights.join("model.safetensors")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", zero_weights.join("model.safetensors")).unwrap();

    // Class 4: checkpoints and configs that disagree.
    let no_bias = copy_model(&root, "vit_tiny", "no_bias", &[("preprocessor_config.json", &vit_pp)]);
    edit_weights(&no_bias, |w| {
        let k = w.keys().find(|k| k.ends_with("intermediate.dense.bias")).unwrap().clone();
        w.remove(&k);
    });
    let few_labels = copy_model(&root, "vit_tiny", "few_labels", &[("preprocessor_config.json", &vit_pp)]);
    edit_json(&few_labels, "config.json", |v| v["id2label"] = serde_json::json!({"0": "a", "1": "b", "2": "c"}));
    let gap_labels = copy_model(&root, "vit_tiny", "gap_labels", &[("preprocessor_config.json", &vit_pp)]);
    edit_json(&gap_labels, "config.json", |v| v["id2label"] = serde_json::json!({"0": "a", "1": "b", "2": "c", "3": "d", "7": "e"}));
    let bad_eps = copy_model(&root, "vit_tiny", "bad_eps", &[("preprocessor_config.json", &vit_pp)]);
    edit_json(&bad_eps, "config.json", |v| v["layer_norm_eps"] = serde_json::json!(-1));
    // Class 5: what the reference rejects.
    let nan_weights = copy_model(&root, "vit_tiny", "nan_weights", &[("preprocessor_config.json", &vit_pp)]);
    edit_weights(&nan_weights, |w| {
        let k = w.keys().find(|k| k.ends_with("output.dense.weight")).unwrap().clone();
        let t = w.get_mut(&k).unwrap();
        if let vitfuse::model::HostData::F32(v) = &mut t.data {
            v[3] = f32::NAN;
        }
    });
    let mut jpeg = Vec::new();
    ImageBuffer::<Rgb<u8>, _>::from_fn(64, 48, |x, y| Rgb([(x * 4) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8]))
        .write_to(&mut std::io::Cursor::new(&mut jpeg), vitfuse::image::ImageFormat::Jpeg)
        .unwrap();
    write(&root.join("half.jpg"), &jpeg[..jpeg.len() / 2]);
    write(&root.join("empty.wav"), &wav(1, 16000, &[]));
    write(&root.join("one.wav"), &wav(1, 16000, &[0, 1]));
    write(&root.join("channels.wav"), &wav(65535, 16000, &vec![0u8; 65535 * 2 * 4]));
    let flac = std::fs::read(fixture("audio_formats").join("tone_stereo_44100.flac")).unwrap();
    write(&root.join("cut.flac"), &flac[..flac.len() * 3 / 4]);
    write(&root.join("text.mp3"), &b"ID3 is how this starts, but it is only text\n".repeat(40));
    write(&root.join("noise.ogg"), &(0..20000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect::<Vec<u8>>());
    let mut nan_ids = BTreeMap::new();
    nan_ids.insert("input_ids".to_string(), HostTensor::f32(vec![1, 3], vec![1.0, f32::NAN, 2.0]).unwrap());
    nan_ids.insert("pixel_values".to_string(), HostTensor::f32(vec![1, 3, 32, 32], vec![0.0; 3 * 32 * 32]).unwrap());
    vitfuse::write_host_tensors(root.join("nan_ids.safetensors"), &nan_ids).unwrap();
    let mut frac_ids = nan_ids.clone();
    frac_ids.insert("input_ids".to_string(), HostTensor::f32(vec![1, 3], vec![1.0, 2.5, 2.0]).unwrap());
    vitfuse::write_host_tensors(root.join("frac_ids.safetensors"), &frac_ids).unwrap();
    // Malformed files.
    write(&root.join("huge_header.safetensors"), &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, b'{']);
    let bad_json = copy_model(&root, "vit_tiny", "bad_json", &[("preprocessor_config.json", &vit_pp)]);
    write(&bad_json.join("config.json"), b"{\"architectures\": [\"ViTModel\"");
    let gallery = root.join("gallery");
    std::fs::create_dir_all(&gallery).unwrap();
    std::fs::copy(&good_png, gallery.join("small.png")).unwrap();

    let p = |p: &Path| p.display().to_string();
    let r = |s: &str| p(&root.join(s));
    let classify = |m: &Path, input: &str| vec!["classify".into(), "--model".into(), p(m), input.to_string()];
    let zero_shot = |m: &Path, input: &str| vec!["classify".into(), "--model".into(), p(m), "--labels".into(), "cat,dog".into(), input.to_string()];
    let embed_audio = |m: &Path, input: &str| vec!["embed".into(), "--model".into(), p(m), "--audio".into(), input.to_string()];
    let embed_image = |m: &Path, input: &str| vec!["embed".into(), "--model".into(), p(m), "--image".into(), input.to_string()];
    let matching = |m: &Path, input: &str| vec!["match".into(), "--model".into(), p(m), "--image".into(), input.to_string(), "--text".into(), "a cat".into()];
    let retrieve = |m: &Path| vec!["retrieve".into(), "--model".into(), p(m), "--images".into(), p(&gallery), "--query".into(), "a cat".into()];
    let forward = |m: &Path, inputs: &str| vec!["forward".into(), "--model".into(), p(m), "--inputs".into(), inputs.to_string(), "--output".into(), r("out.safetensors")];
    let preprocess = |pp: &Path, input: &str| vec!["preprocess".into(), "--processor".into(), p(pp), "--output".into(), r("px.safetensors"), input.to_string()];
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let good = p(&good_png);

    // (command line, a word the one error line must hold)
    let cases: Vec<(Vec<String>, &str)> = vec![
        // class 1
        (zero_shot(&clip, &r("wide.png")), "limit"),
        (embed_image(&clip, &r("wider.png")), "limit"),
        (matching(&clip, &r("wide.png")), "limit"),
        (preprocess(&clip_pp, &r("wider.png")), "limit"),
        (preprocess(&huge_edge.join("preprocessor_config.json"), &good), "limit"),
        (zero_shot(&huge_edge, &good), "limit"),
        (classify(&huge_crop, &good), "limit"),
        (classify(&ast_long, &p(&good_wav)), "limit"),
        (classify(&ast_float_len, &p(&good_wav)), "floating point"),
        (args(&["tokenize", "--tokenizer", &p(&tok), "--max-length", "100000000", "a cat"]), "limit"),
        (args(&["tokenize", "--tokenizer", &p(&tok), "--max-length", "18446744073709551615", "a cat"]), "limit"),
        (args(&["bench", "matmul", "100000", "100000", "100000", "--iters", "1"]), "bytes"),
        (args(&["bench", "model", "vit-ti16", "--batch", "100000", "--iters", "1"]), "bytes"),
        (classify(&vit, "/dev/zero"), "limit"),
        (classify(&ast, "/dev/zero"), "limit"),
        (forward(&vit, "/dev/zero"), "limit"),
        (preprocess(Path::new("/dev/zero"), &good), "limit"),
        (classify(&zero_config, &good), "limit"),
        (zero_shot(&zero_tok, &good), "limit"),
        (classify(&zero_weights, &good), "regular file"),
        (retrieve(&zero_tok), "limit"),
        // class 4
        (classify(&no_bias, &good), "bias"),
        (classify(&few_labels, &good), "classes"),
        (classify(&gap_labels, &good), "id2label"),
        (classify(&bad_eps, &good), "layer_norm_eps"),
        (retrieve(&bad_eps), "layer_norm_eps"),
        // class 5
        (classify(&nan_weights, &good), "NaN"),
        (classify(&vit, &r("half.jpg")), "truncated"),
        (classify(&vit, &r("wide.png")), "do_convert_rgb"), // grey: transformers' ViT processor fails too
        (embed_image(&vit, &r("half.jpg")), "truncated"),
        (classify(&ast, &r("empty.wav")), "no audio samples"),
        (classify(&ast, &r("cut.flac")), "truncated"),
        (classify(&ast, &r("text.mp3")), "not an audio file"),
        (embed_audio(&ast, &r("noise.ogg")), "not an audio file"),
        (classify(&ast, &r("one.wav")), "frame"),
        (classify(&ast, &r("channels.wav")), "channel count"),
        (forward(&clip, &r("nan_ids.safetensors")), "not an integer"),
        (forward(&clip, &r("frac_ids.safetensors")), "not an integer"),
        // malformed files
        (forward(&vit, &r("huge_header.safetensors")), "safetensors"),
        (classify(&bad_json, &good), "json"),
        (matching(&bad_json, &good), "json"),
    ];

    let mut failures = Vec::new();
    for (cmd, needle) in &cases {
        let out = run(&root, cmd);
        let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut problems = Vec::new();
        if out.code != Some(2) {
            problems.push(format!("exit {:?}", out.code));
        }
        if out.stderr.contains("panicked") {
            problems.push("panicked".into());
        }
        if lines.len() != 1 {
            problems.push(format!("{} stderr lines", lines.len()));
        }
        if !out.stderr.to_lowercase().contains(&needle.to_lowercase()) {
            problems.push(format!("no {needle:?} in the message"));
        }
        if out.peak_kib > PEAK_LIMIT_KIB {
            problems.push(format!("peak memory {} MiB", out.peak_kib / 1024));
        }
        if !out.stdout.is_empty() {
            problems.push(format!("stdout: {:?}", out.stdout));
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n    stderr: {}", cmd.join(" "), problems.join(", "), out.stderr.trim()));
        }
    }
    // Nothing failed to write its output file.
    assert!(!root.join("out.safetensors").exists() && !root.join("px.safetensors").exists());
    let mut after = BTreeMap::new();
    snapshot(&repo, &mut after, 4);
    assert!(before == after, "files outside the test folder changed: {:?}", after.iter().filter(|(k, v)| before.get(*k) != Some(v)).map(|(k, _)| k).collect::<Vec<_>>());
    std::fs::remove_dir_all(&root).unwrap();
    assert!(failures.is_empty(), "{} of {} hostile inputs were not answered cleanly:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
