//! The three-modality pipeline on small towers (the tiny CLIP and AST fixtures, a seeded audio
//! projection and fusion heads of each combiner) against the CPU reference: the towers' outputs
//! from `vitfuse::reference::forward`, the projection, normalisation, zero-shot softmax and
//! fusion head in plain loops here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use vitfuse::model::{HostTensor, ImageProcessor, Tokenizer};
use vitfuse::{Modality, Options, Pipeline, Samples};

mod common;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

const E: usize = 32; // clip_tiny's projection_dim

type Rows = Vec<Vec<f32>>;
type Edit = Box<dyn Fn(&mut serde_json::Value)>;

fn seeded(n: usize, seed: u64, amp: f32) -> Vec<f32> {
    vitfuse::reference::seeded(n, seed).into_iter().map(|v| v * amp).collect()
}

fn save(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let m: std::collections::BTreeMap<String, HostTensor> =
        tensors.iter().map(|(k, s, v)| (k.to_string(), HostTensor::f32(s.clone(), v.clone()).unwrap())).collect();
    vitfuse::write_host_tensors(path, &m).unwrap();
}

/// A pipeline folder over copies of the fixtures; `combine` picks the fusion head.
fn pipeline_dir(combine: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("vitfuse-pipeline-{combine}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    for (sub, fx) in [("clip", "clip_tiny"), ("audio", "ast_tiny")] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
        for f in ["config.json", "model.safetensors"] {
            std::fs::copy(fixture(fx).join(f), d.join(sub).join(f)).unwrap();
        }
    }
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixture("tiny_tokenizer").join(f), d.join("clip").join(f)).unwrap();
    }
    std::fs::write(
        d.join("clip/preprocessor_config.json"),
        r#"{"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 32}, "crop_size": {"height": 32, "width": 32}}"#,
    )
    .unwrap();
    std::fs::copy(fixture("ast_tiny").join("preprocessor_config.json"), d.join("audio/preprocessor_config.json")).unwrap();
    let ast_d = 64; // ast_tiny's hidden size
    save(&d.join("audio/projection.safetensors"), &[("weight", vec![E, ast_d], seeded(E * ast_d, 3, 0.5)), ("bias", vec![E], seeded(E, 4, 0.1))]);
    let l = 4;
    let mut head = vec![("classifier.weight", vec![l, E], seeded(l * E, 5, 2.0)), ("classifier.bias", vec![l], seeded(l, 6, 0.2))];
    match combine {
        "weighted_sum" => head.push(("weights", vec![2], vec![0.7, 0.4])),
        "gated" => {
            head.push(("gate.weight", vec![2, 2 * E], seeded(4 * E, 7, 1.0)));
            head.push(("gate.bias", vec![2], vec![0.1, -0.2]));
        }
        _ => {
            head[0] = ("classifier.weight", vec![l, 24], seeded(l * 24, 5, 2.0));
            head.push(("proj.weight", vec![24, 2 * E], seeded(24 * 2 * E, 8, 0.5)));
            head.push(("proj.bias", vec![24], seeded(24, 9, 0.1)));
        }
    }
    save(&d.join("fusion.safetensors"), &head);
    let spec = serde_json::json!({
        "format": "vitfuse-pipeline/1",
        "embed_dim": E,
        "towers": {"text": {"model": "clip", "part": "text"}, "image": {"model": "clip", "part": "image"},
                   "audio": {"model": "audio", "projection": "audio/projection.safetensors"}},
        "audio_prompt": "the sound of a {}",
        "fusion": {"modalities": ["image", "audio"], "combine": combine, "weights": "fusion.safetensors",
                   "labels": ["cat", "dog", "bird", "fish"]}
    });
    std::fs::write(d.join("pipeline.json"), spec.to_string()).unwrap();
    d
}

fn wave(seed: u64) -> Vec<f32> {
    (0..16000).map(|i| ((i as f32) * (0.03 + 0.01 * seed as f32)).sin() * 0.3 + 0.05 * ((i * 7919 + seed as usize) % 13) as f32 / 13.0).collect()
}

fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt() as f32;
    v.iter_mut().for_each(|x| *x /= n);
}

fn host(t: &HostTensor) -> Vec<f32> {
    t.as_f32().unwrap().to_vec()
}

/// CPU: the CLIP tower's image and text embeddings, the AST's pooled output, for these inputs.
fn cpu_towers(d: &Path, images: &[PathBuf], texts: &[&str], waves: &[Vec<f32>]) -> (Rows, Rows, Rows) {
    let pp = ImageProcessor::from_file(d.join("clip")).unwrap();
    let px = pp.preprocess_files(images).unwrap();
    let tok = Tokenizer::from_file(d.join("clip")).unwrap();
    let enc = tok.encode_batch(texts, None, false).unwrap();
    let t = enc[0].input_ids.len();
    let ids: Vec<i64> = enc.iter().flat_map(|e| e.input_ids.clone()).collect();
    let mask: Vec<i64> = enc.iter().flat_map(|e| e.attention_mask.clone()).collect();
    let mut inputs = HashMap::new();
    inputs.insert("pixel_values".to_string(), px);
    inputs.insert("input_ids".to_string(), HostTensor::i64(vec![texts.len(), t], ids).unwrap());
    inputs.insert("attention_mask".to_string(), HostTensor::i64(vec![texts.len(), t], mask).unwrap());
    let out = vitfuse::reference::forward(&d.join("clip"), &inputs).unwrap();
    let rows = |k: &str| host(&out[k]).chunks(E).map(|r| r.to_vec()).collect::<Vec<_>>();
    let fx = vitfuse::model::audio::AstFeatureExtractor::from_file(d.join("audio")).unwrap();
    let mut feats = Vec::new();
    for w in waves {
        feats.extend(fx.extract(w).unwrap());
    }
    let mut a_in = HashMap::new();
    a_in.insert("input_values".to_string(), HostTensor::f32(vec![waves.len(), fx.max_length, fx.num_mel_bins], feats).unwrap());
    let a = vitfuse::reference::forward(&d.join("audio"), &a_in).unwrap();
    let pooled = host(&a["pooler_output"]);
    let dd = pooled.len() / waves.len();
    (rows("image_embeds"), rows("text_embeds"), pooled.chunks(dd).map(|r| r.to_vec()).collect())
}

fn project(d: &Path, pooled: &[f32]) -> Vec<f32> {
    let w = vitfuse::read_host_tensors(d.join("audio/projection.safetensors")).unwrap();
    let (wt, b) = (host(&w["weight"]), host(&w["bias"]));
    let dd = pooled.len();
    let mut out: Vec<f32> = (0..E).map(|i| b[i] + (0..dd).map(|j| wt[i * dd + j] * pooled[j]).sum::<f32>()).collect();
    normalize(&mut out);
    out
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The fusion head on the CPU: logits for (image, audio).
fn cpu_head(d: &Path, combine: &str, img: &[f32], aud: &[f32]) -> Vec<f32> {
    let w = vitfuse::read_host_tensors(d.join("fusion.safetensors")).unwrap();
    let cat: Vec<f32> = img.iter().chain(aud).copied().collect();
    let lin = |wn: &str, bn: &str, x: &[f32]| -> Vec<f32> {
        let (wt, b) = (host(&w[wn]), host(&w[bn]));
        let k = x.len();
        (0..b.len()).map(|i| b[i] + (0..k).map(|j| wt[i * k + j] * x[j]).sum::<f32>()).collect()
    };
    let fused: Vec<f32> = match combine {
        "weighted_sum" => {
            let g = host(&w["weights"]);
            (0..E).map(|i| g[0] * img[i] + g[1] * aud[i]).collect()
        }
        "gated" => {
            let z = lin("gate.weight", "gate.bias", &cat);
            let m = z[0].max(z[1]);
            let (e0, e1) = ((z[0] - m).exp(), (z[1] - m).exp());
            (0..E).map(|i| (e0 * img[i] + e1 * aud[i]) / (e0 + e1)).collect()
        }
        _ => lin("proj.weight", "proj.bias", &cat),
    };
    lin("classifier.weight", "classifier.bias", &fused)
}

#[test]
fn pipeline_matches_the_cpu_reference_for_every_combiner() {
    let opts = Options::new().device(vitfuse::Device::from_context(common::own_context()));
    let images: Vec<PathBuf> = ["landscape.png", "portrait.png", "small.png"].iter().map(|f| fixture("image_preprocess").join(f)).collect();
    let texts = ["cat", "a dog", "bird"];
    let waves = [wave(1), wave(2)];
    for combine in ["weighted_sum", "gated", "concat_project"] {
        let d = pipeline_dir(combine);
        let p = Pipeline::open_with(d.join("pipeline.json"), &opts).unwrap();
        assert_eq!(p.modalities(), [Modality::Audio, Modality::Image, Modality::Text]);
        let (ci, ct, ca) = cpu_towers(&d, &images, &texts, &waves);
        let gi = p.embed_images(&images).unwrap();
        let gt = p.embed_texts(&texts).unwrap();
        let clips: Vec<Samples> = waves.iter().map(|w| Samples { data: w, rate: 16000 }).collect();
        let ga = p.embed_audio(&clips).unwrap();
        assert!(gi.is_normalized() && gt.is_normalized() && ga.is_normalized());
        let flat = |v: &[Vec<f32>]| v.concat();
        let pa: Vec<Vec<f32>> = ca.iter().map(|r| project(&d, r)).collect();
        let (ei, et, ea) = (max_diff(gi.as_slice(), &flat(&ci)), max_diff(gt.as_slice(), &flat(&ct)), max_diff(ga.as_slice(), &flat(&pa)));
        assert!(ei < 1e-4 && et < 1e-4 && ea < 1e-4, "{combine}: image {ei:e}, text {et:e}, audio {ea:e}");

        // Zero-shot audio over text labels: softmax(scale · cos) with the prompt applied.
        let labels = ["hum", "buzz"];
        let zs = p.zero_shot_audio(&clips, &labels).unwrap();
        let prompts: Vec<String> = labels.iter().map(|l| vitfuse::apply_prompt("the sound of a {}", l).unwrap()).collect();
        let (_, pt, _) = cpu_towers(&d, &images[..1], &prompts.iter().map(String::as_str).collect::<Vec<_>>(), &waves[..1]);
        for (a, ranked) in pa.iter().zip(&zs) {
            for s in ranked {
                let j = labels.iter().position(|l| *l == s.label).unwrap();
                let want = p.logit_scale() * a.iter().zip(&pt[j]).map(|(x, y)| x * y).sum::<f32>();
                assert!((s.logit - want).abs() < 1e-3 * p.logit_scale().max(1.0), "{combine}: logit {} vs {want}", s.logit);
            }
        }

        // The fusion head over (image 0, audio 0), and each modality alone (the other zeroed).
        let pred = p.classify_pair(&images[0], Samples { data: &waves[0], rate: 16000 }).unwrap();
        let want = cpu_head(&d, combine, &ci[0], &pa[0]);
        let zero = vec![0f32; E];
        let check = |got: &[vitfuse::LabelScore], want: &[f32], what: &str| {
            let names = p.fusion_labels().unwrap();
            for s in got {
                let j = names.iter().position(|n| *n == s.label).unwrap();
                assert!((s.logit - want[j]).abs() < 1e-3, "{combine} {what}: {} vs {}", s.logit, want[j]);
            }
        };
        check(&pred.fused, &want, "fused");
        assert_eq!(pred.single[0].0, Modality::Image);
        check(&pred.single[0].1, &cpu_head(&d, combine, &ci[0], &zero), "image only");
        check(&pred.single[1].1, &cpu_head(&d, combine, &zero, &pa[0]), "audio only");
        std::fs::remove_dir_all(&d).ok();
    }
}

#[test]
fn bad_pipeline_files_are_clear_errors() {
    let d = pipeline_dir("gated");
    let file = d.join("pipeline.json");
    let spec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let cases: Vec<(Edit, &str)> = vec![
        (Box::new(|v| v["format"] = "vitfuse-pipeline/9".into()), "format"),
        (Box::new(|v| v["embed_dim"] = 31.into()), "31"),
        (Box::new(|v| v["towers"]["audio"]["projection"] = serde_json::Value::Null), "add a projection"),
        (Box::new(|v| v["towers"]["text"]["part"] = "image".into()), "text tower"),
        (Box::new(|v| v["towers"]["smell"] = serde_json::json!({"model": "clip"})), "smell"),
        (Box::new(|v| v["fusion"]["combine"] = "average".into()), "average"),
        (Box::new(|v| v["fusion"]["modalities"] = serde_json::json!(["image"])), "gate.weight"),
        (Box::new(|v| v["fusion"]["labels"] = serde_json::json!(["a", "b"])), "classifier.weight"),
        (Box::new(|v| v["towers"]["audio"]["model"] = "nowhere".into()), "nowhere"),
        (Box::new(|v| v["audio_prompt"] = "no placeholder".into()), "audio_prompt"),
        (Box::new(|v| v["extra"] = 1.into()), "extra"),
    ];
    for (edit, needle) in cases {
        let mut v = spec.clone();
        edit(&mut v);
        std::fs::write(&file, v.to_string()).unwrap();
        let e = Pipeline::open(&file).unwrap_err().to_string();
        assert!(e.contains(needle), "{needle:?} not in {e:?}");
    }
    std::fs::remove_dir_all(&d).ok();
}

fn write_wav(path: &Path, w: &[f32]) {
    let data: Vec<u8> = w.iter().flat_map(|v| ((v * 32767.0) as i16).to_le_bytes()).collect();
    let mut v = b"RIFF".to_vec();
    v.extend((36 + data.len() as u32).to_le_bytes());
    v.extend(b"WAVEfmt ");
    v.extend(16u32.to_le_bytes());
    v.extend(1u16.to_le_bytes());
    v.extend(1u16.to_le_bytes());
    v.extend(16000u32.to_le_bytes());
    v.extend(32000u32.to_le_bytes());
    v.extend(2u16.to_le_bytes());
    v.extend(16u16.to_le_bytes());
    v.extend(b"data");
    v.extend((data.len() as u32).to_le_bytes());
    v.extend(data);
    std::fs::write(path, v).unwrap();
}

fn cli(args: &[&str]) -> (String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vitfuse")).args(args).output().unwrap();
    let (o, e) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "{args:?}: {e}");
    (o, e)
}

/// Every command that takes `--model` takes a pipeline file, with the library's numbers.
#[test]
fn commands_take_a_pipeline_file() {
    let d = pipeline_dir("gated");
    let file = d.join("pipeline.json");
    let f = file.to_str().unwrap();
    let p = Pipeline::open(&file).unwrap();
    let wav = d.join("a.wav");
    write_wav(&wav, &wave(1));
    let img = fixture("image_preprocess").join("small.png");
    let (w, i) = (wav.to_str().unwrap(), img.to_str().unwrap());

    let (out, _) = cli(&["embed", "--model", f, "--audio", w]);
    let row: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let got: Vec<f32> = row["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    assert!(max_diff(&got, p.embed_audio(&[&wav]).unwrap().as_slice()) < 1e-6);

    let (out, _) = cli(&["classify", "--model", f, w, i, "--labels", "hum,buzz", "--json"]);
    let rows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 2);
    let want = p.zero_shot_audio(&[&wav], &["hum", "buzz"]).unwrap();
    assert_eq!(rows[1]["audio"], w);
    assert_eq!(rows[1]["labels"][0]["label"], want[0][0].label.as_str());
    assert!((rows[1]["labels"][0]["logit"].as_f64().unwrap() as f32 - want[0][0].logit).abs() < 1e-5);
    assert_eq!(rows[0]["image"], i);

    let (out, _) = cli(&["classify", "--model", f, "--image", i, "--audio", w, "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let want = p.classify_pair(&img, &wav).unwrap();
    assert_eq!(v["fused"][0]["label"], want.fused[0].label.as_str());
    assert!((v["single"]["audio"][0]["logit"].as_f64().unwrap() as f32 - want.single[1].1[0].logit).abs() < 1e-5);

    let gallery = d.join("gallery");
    std::fs::create_dir_all(&gallery).unwrap();
    for f in ["landscape.png", "portrait.png", "small.png"] {
        std::fs::copy(fixture("image_preprocess").join(f), gallery.join(f)).unwrap();
    }
    let g = gallery.to_str().unwrap();
    let (out, _) = cli(&["retrieve", "--model", f, "--images", g, "--query-audio", w, "--json", "--no-cache"]);
    let hits: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(hits.len(), 3);
    let q = p.embed_audio(&[&wav]).unwrap();
    let imgs = p.embed_images(&[gallery.join("landscape.png"), gallery.join("portrait.png"), gallery.join("small.png")]).unwrap();
    let sims = imgs.similarity(&q).unwrap();
    let best = (0..3).max_by(|&a, &b| sims.row(a)[0].total_cmp(&sims.row(b)[0])).unwrap();
    assert!(hits[0]["image"].as_str().unwrap().ends_with(["landscape.png", "portrait.png", "small.png"][best]));
    cli(&["retrieve", "--model", f, "--images", g, "--query-image", i, "--no-cache"]);
    cli(&["retrieve", "--model", f, "--images", g, "--query", "a cat", "--no-cache"]);
    std::fs::remove_dir_all(&d).ok();
}
