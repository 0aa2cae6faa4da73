//! The library API as a user sees it: only items at the crate root (and the `image` crate it
//! re-exports). File and in-memory inputs, batching, threads, async read-back, capability
//! queries and their errors, on the tiny fixtures.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use vitfuse::{
    image, read_host_tensors, AudioClassifier, AudioEncoder, Device, DualEncoder, Embeddings, Error, ImageClassifier, ImageEncoder, ImageInput,
    ImageTextMatcher, Model, Options, RawRgb, Samples, Task,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

fn images() -> Vec<PathBuf> {
    ["landscape.png", "portrait.png", "small.png"].iter().map(|f| fixture("image_preprocess").join(f)).collect()
}

/// One device for the whole test binary (no adapter is a failure, never a skip).
fn device() -> Device {
    static D: OnceLock<Device> = OnceLock::new();
    D.get_or_init(|| Device::shared().unwrap_or_else(|e| panic!("the API tests need an adapter: {e}"))).clone()
}

fn opts() -> Options {
    Options::new().device(device())
}

/// A copy of a tiny dual encoder with the 15-word demo tokenizer.
fn dual_folder(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("vitfuse-api-{name}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture(name).join(f), d.join(f)).unwrap();
    }
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixture("tiny_tokenizer").join(f), d.join(f)).unwrap();
    }
    d
}

fn max_diff(a: &Embeddings, b: &Embeddings) -> f32 {
    assert_eq!((a.len(), a.dim()), (b.len(), b.dim()));
    a.as_slice().iter().zip(b.as_slice()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn the_issue_task_in_a_few_lines_from_files_and_memory() {
    let dir = dual_folder("clip_tiny");
    let clip = DualEncoder::open_with(&dir, &opts()).unwrap();
    let files = images();
    let from_files = clip.embed_images(&files[..2]).unwrap();
    let texts = clip.embed_texts(&["a photo of a cat", "a photo of a dog"]).unwrap();
    let sim = from_files.similarity(&texts).unwrap();
    assert_eq!((sim.rows(), sim.cols()), (2, 2));
    assert!(sim.as_slice().iter().all(|s| (-1.0..=1.0 + 1e-5).contains(s)));
    assert!(from_files.is_normalized() && texts.is_normalized());
    for row in &from_files {
        assert!((row.iter().map(|v| v * v).sum::<f32>() - 1.0).abs() < 1e-4);
    }

    // The same images from memory, in every form, give identical embeddings.
    let bytes = std::fs::read(&files[0]).unwrap();
    let decoded = image::open(&files[1]).unwrap();
    let rgb = decoded.to_rgb8();
    let raw = RawRgb { width: rgb.width(), height: rgb.height(), data: rgb.as_raw() };
    let mixed = clip.embed_images(&[ImageInput::Bytes(&bytes), ImageInput::Image(&decoded)]).unwrap();
    assert_eq!(mixed, from_files);
    assert_eq!(clip.embed_images(&[&bytes]).unwrap().row(0), from_files.row(0));
    assert_eq!(clip.embed_images(&[&rgb]).unwrap().row(0), from_files.row(1));
    assert_eq!(clip.embed_images(&[raw]).unwrap().row(0), from_files.row(1));
    assert_eq!(clip.embed_image(files[1].as_path()).unwrap(), from_files.row(1));
    assert_eq!(clip.embed_text("a photo of a dog").unwrap(), texts.row(1));

    // Logits are scale · cosine; zero-shot is their softmax per image.
    let logits = clip.logits(&from_files, &texts).unwrap();
    for (l, s) in logits.as_slice().iter().zip(sim.as_slice()) {
        assert!((l - clip.logit_scale() * s).abs() < 1e-4);
    }
    let zs = clip.zero_shot(&files[..2], &["cat", "dog"], Some("a photo of a {}")).unwrap();
    for (i, ranked) in zs.iter().enumerate() {
        assert!((ranked.iter().map(|r| r.score).sum::<f32>() - 1.0).abs() < 1e-5);
        for r in ranked {
            let j = if r.label == "cat" { 0 } else { 1 };
            assert!((r.logit - logits.get(i, j).unwrap()).abs() < 1e-4, "{i} {}", r.label);
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn image_embeddings_match_transformers() {
    // The fixture's pixel_values through the handle's GPU path give transformers' image_embeds.
    for name in ["clip_tiny", "siglip_tiny"] {
        let dir = dual_folder(name);
        let m = DualEncoder::open_with(&dir, &opts()).unwrap();
        let inputs = read_host_tensors(fixture(name).join("inputs.safetensors")).unwrap();
        let want = read_host_tensors(fixture(name).join("expected.safetensors")).unwrap();
        let px = &inputs["pixel_values"];
        let ctx = m.model().device().context();
        let t = vitfuse::runtime::Tensor::from_slice(ctx, &px.shape, px.as_f32().unwrap()).unwrap();
        let got = m.image_embeds_tensor(&t).unwrap().to_vec::<f32>(ctx).unwrap();
        let w = want["image_embeds"].as_f32().unwrap();
        let err = got.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(err < 1e-4, "{name}: {err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// A batch asked for holds fewer inputs where its widest activation would not fit one binding,
/// and, where the matmuls read texture copies (software adapters), fewer than would make their
/// operand taller than a 2D texture (whose fallback is the slower buffer kernel).
#[test]
fn batches_stay_within_a_binding_and_the_texture_height() {
    let dir = dual_folder("clip_tiny");
    let m = DualEncoder::open_with(&dir, &opts().batch_size(100_000)).unwrap();
    let dev = device();
    let ctx = dev.context();
    // clip_tiny's text tower: 16 positions, hidden 48, MLP 192 (the widest: 3 x 48 = 144 < 192)
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let t = &cfg["text_config"];
    let (rows, hidden, mlp) = (t["max_position_embeddings"].as_u64().unwrap(), t["hidden_size"].as_u64().unwrap(), t["intermediate_size"].as_u64().unwrap());
    let mut cap = ctx.limits().max_storage_buffer_binding_size / (rows * (3 * hidden).max(mlp) * 4);
    if ctx.texture_operands() {
        cap = cap.min(ctx.limits().max_texture_dimension_2d as u64 / rows);
    }
    let cap = cap as usize;
    let texts: Vec<&str> = ["a cat", "the dog"].into_iter().cycle().take(cap + 3).collect();
    let mut seen = Vec::new();
    let e = m.embed_texts_with(&texts, |p| seen.push(p.done)).unwrap();
    assert_eq!(seen, vec![cap, cap + 3], "batches of at most {cap}");
    assert_eq!(e.len(), cap + 3);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn batches_give_the_same_results_as_one_by_one() {
    let dir = dual_folder("clip_tiny");
    let files: Vec<PathBuf> = images().into_iter().cycle().take(7).collect();
    let texts = ["a cat", "a photo of a dog", "the landscape", "a dog", "a photo of a cat in the landscape", "cat", "the dog"];
    let batched = DualEncoder::open_with(&dir, &opts().batch_size(3)).unwrap();
    let single = DualEncoder::open_with(&dir, &opts().batch_size(1)).unwrap();
    let mut seen = Vec::new();
    let a = batched.embed_images_with(&files, |p| seen.push((p.done, p.total))).unwrap();
    assert_eq!(seen, vec![(3, 7), (6, 7), (7, 7)], "one progress call per batch");
    let b = single.embed_images(&files).unwrap();
    assert!(max_diff(&a, &b) <= 1e-6, "images: {}", max_diff(&a, &b));
    let a = batched.embed_texts(&texts).unwrap();
    let b = single.embed_texts(&texts).unwrap();
    assert!(max_diff(&a, &b) <= 1e-5, "texts: {}", max_diff(&a, &b));
    for (i, t) in texts.iter().enumerate() {
        let alone = single.embed_text(t).unwrap();
        let d = alone.iter().zip(a.row(i)).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(d <= 1e-5, "{t}: {d}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn two_threads_share_one_model() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Model>();
    assert_send_sync::<DualEncoder>();
    assert_send_sync::<ImageClassifier>();
    assert_send_sync::<AudioClassifier>();
    assert_send_sync::<Device>();

    let dir = dual_folder("siglip_tiny");
    let m = DualEncoder::open_with(&dir, &opts()).unwrap();
    let files = images();
    let want_i = m.embed_images(&files).unwrap();
    let want_t = m.embed_texts(&["a cat", "the landscape"]).unwrap();
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..3 {
                        assert_eq!(m.embed_images(&files).unwrap(), want_i);
                        assert_eq!(m.embed_texts(&["a cat", "the landscape"]).unwrap(), want_t);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn async_read_back_gives_the_blocking_results() {
    let dir = dual_folder("clip_tiny");
    let m = DualEncoder::open_with(&dir, &opts().batch_size(2)).unwrap();
    let files = images();
    assert_eq!(pollster::block_on(m.embed_images_async(&files)).unwrap(), m.embed_images(&files).unwrap());
    let texts = ["a cat", "a dog", "the landscape"];
    assert_eq!(pollster::block_on(m.embed_texts_async(&texts)).unwrap(), m.embed_texts(&texts).unwrap());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn capabilities_and_clear_errors() {
    let vit = Model::open_with(fixture("vit_tiny"), &opts()).unwrap();
    assert_eq!(vit.tasks(), vec![Task::EmbedImages, Task::ClassifyImages]);
    assert_eq!(vit.architecture(), "ViTForImageClassification");
    let c = ImageClassifier::try_from(vit.clone()).unwrap();
    let ranked = c.classify(&images()).unwrap();
    assert_eq!(ranked.len(), 3);
    assert!(ranked.iter().all(|r| r.len() == c.labels().len() && (r.iter().map(|x| x.score).sum::<f32>() - 1.0).abs() < 1e-5));
    let feats = ImageEncoder::try_from(vit.clone()).unwrap().embed(&images()).unwrap();
    assert_eq!(feats.dim(), 64);
    assert!(!feats.is_normalized());
    let err = vit.dual_encoder().unwrap_err().to_string();
    assert!(err.contains("ViTForImageClassification") && err.contains("text"), "{err}");

    let siglip = Model::open_with(fixture("siglip_tiny"), &opts()).unwrap();
    assert!(siglip.supports(Task::ZeroShot) && !siglip.supports(Task::ClassifyImages));
    let err = siglip.image_classifier().unwrap_err().to_string();
    assert!(err.contains("SiglipModel") && err.contains("has no classifier head; use zero-shot labels"), "{err}");
    let err = ImageClassifier::open_with(fixture("siglip_tiny"), &opts()).unwrap_err().to_string();
    assert!(err.contains("use zero-shot labels"), "{err}");

    let vilt = Model::open_with(fixture("vilt_tiny"), &opts()).unwrap();
    assert!(vilt.tasks().is_empty(), "ViltModel without rank_output: only forward");
    assert!(vilt.image_text_matcher().unwrap_err().to_string().contains("rank_output"));

    // Folders: missing, not a model, no tokenizer for text. No message names a CLI flag.
    for (path, needle) in [(PathBuf::from("/no/such/model"), "does not exist"), (fixture("image_preprocess"), "has no config.json")] {
        let e = Model::open_with(&path, &opts()).unwrap_err();
        assert!(matches!(e, Error::NotAModelFolder { .. }) && e.to_string().contains(needle), "{e}");
    }
    let clip = DualEncoder::open_with(fixture("clip_tiny"), &opts()).unwrap();
    let e = clip.embed_text("a cat").unwrap_err().to_string();
    assert!(e.contains("tokenizer.json") && !e.contains("--"), "{e}");
    let e = clip.zero_shot(&images(), &["cat"], Some("no placeholder")).unwrap_err().to_string();
    assert!(e.contains("{}"), "{e}");
    let e = clip.embed_images(&[b"not an image".as_slice()]).unwrap_err().to_string();
    assert!(e.contains("12 encoded bytes"), "{e}");
}

#[test]
fn prompts_are_not_applied_twice() {
    let dir = dual_folder("clip_tiny");
    let clip = DualEncoder::open_with(&dir, &opts()).unwrap();
    let p = clip.prompts(&["cat", "a cat", "an apple", "a photo of a dog", "The tree"], Some("a photo of a {}")).unwrap();
    assert_eq!(p, ["a photo of a cat", "a photo of a cat", "a photo of an apple", "a photo of a dog", "a photo of The tree"]);
    assert_eq!(vitfuse::apply_prompt("{} in the wild", "a cat").unwrap(), "a cat in the wild");
    assert_eq!(clip.prompts(&[" cat "], None).unwrap(), ["cat"]);
    std::fs::remove_dir_all(&dir).ok();
}

/// A float32 mono WAV.
fn wav(samples: &[f32], rate: u32) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut v = b"RIFF".to_vec();
    v.extend((36 + data.len() as u32).to_le_bytes());
    v.extend(b"WAVEfmt ");
    for x in [16u32.to_le_bytes().to_vec(), 3u16.to_le_bytes().to_vec(), 1u16.to_le_bytes().to_vec()] {
        v.extend(x);
    }
    v.extend(rate.to_le_bytes());
    v.extend((rate * 4).to_le_bytes());
    v.extend(4u16.to_le_bytes());
    v.extend(32u16.to_le_bytes());
    v.extend(b"data");
    v.extend((data.len() as u32).to_le_bytes());
    v.extend(data);
    v
}

#[test]
fn audio_from_samples_and_wav_bytes_matches_transformers() {
    let dir = fixture("ast_tiny");
    let inputs = read_host_tensors(dir.join("inputs.safetensors")).unwrap();
    let want = read_host_tensors(dir.join("expected.safetensors")).unwrap();
    let waves: Vec<&[f32]> = (0..2).map(|i| inputs[&format!("waveform_{i}")].as_f32().unwrap()).collect();
    let clf = AudioClassifier::open_with(&dir, &opts()).unwrap();
    let samples: Vec<Samples> = waves.iter().map(|w| Samples { data: w, rate: 16000 }).collect();
    let ranked = clf.classify(&samples).unwrap();
    let logits = want["logits"].as_f32().unwrap();
    for (i, r) in ranked.iter().enumerate() {
        assert_eq!(r.len(), 6);
        for l in r {
            let k: usize = l.label.rsplit('_').next().unwrap().parse().unwrap();
            assert!((l.logit - logits[i * 6 + k]).abs() < 3e-4, "{i} {}: {} vs {}", l.label, l.logit, logits[i * 6 + k]);
        }
    }
    let enc = AudioEncoder::open_with(&dir, &opts()).unwrap();
    let from_samples = enc.embed(&samples).unwrap();
    let bytes: Vec<Vec<u8>> = waves.iter().map(|w| wav(w, 16000)).collect();
    assert_eq!(enc.embed(&bytes).unwrap(), from_samples);
    let pooled = want["pooler_output"].as_f32().unwrap();
    let err = from_samples.as_slice().iter().zip(pooled).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(err < 3e-4, "{err}");
    // Another rate is resampled to the extractor's on the way in.
    let at_16k = vitfuse::model::audio::resample(waves[0], 8000, 16000).unwrap();
    assert_eq!(enc.embed(&[Samples { data: waves[0], rate: 8000 }]).unwrap(), enc.embed(&[Samples { data: &at_16k, rate: 16000 }]).unwrap());
    let e = enc.embed(&[Samples { data: waves[0], rate: 0 }]).unwrap_err().to_string();
    assert!(e.contains("0 Hz") && e.contains("samples"), "{e}");
}

#[test]
fn vilt_matcher_scores_each_pair_alone() {
    // A ViltForImageAndTextRetrieval made from the tiny ViltModel plus a score head.
    let src = fixture("vilt_tiny");
    let dir = std::env::temp_dir().join(format!("vitfuse-api-vilt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    config["architectures"] = serde_json::json!(["ViltForImageAndTextRetrieval"]);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let mut w: std::collections::BTreeMap<String, vitfuse::HostTensor> =
        read_host_tensors(src.join("model.safetensors")).unwrap().into_iter().map(|(k, v)| (format!("vilt.{k}"), v)).collect();
    let head: Vec<f32> = (0..64).map(|i| ((i * 37 % 29) as f32 / 29.0 - 0.5) * 0.5).collect();
    w.insert("rank_output.weight".into(), vitfuse::HostTensor::f32(vec![1, 64], head).unwrap());
    w.insert("rank_output.bias".into(), vitfuse::HostTensor::f32(vec![1], vec![0.0]).unwrap());
    vitfuse::write_host_tensors(dir.join("model.safetensors"), &w).unwrap();
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixture("tiny_tokenizer").join(f), dir.join(f)).unwrap();
    }
    let m = ImageTextMatcher::open_with(&dir, &opts().batch_size(2)).unwrap();
    let img = fixture("image_preprocess").join("small.png");
    let texts = ["a cat", "a photo of a dog", "the landscape"];
    let all = m.rank_texts(&img, &texts).unwrap();
    assert_eq!(all.len(), 3);
    assert!((all.iter().map(|x| x.score).sum::<f32>() - 1.0).abs() < 1e-5);
    for x in &all {
        let alone = m.score_pairs(&[img.as_path()], &[x.label.as_str()]).unwrap();
        assert!((alone[0] - x.logit).abs() < 1e-4, "{}: {} vs {}", x.label, alone[0], x.logit);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn retrieval_index_through_the_api() {
    let dir = dual_folder("clip_tiny");
    let clip = DualEncoder::open_with(&dir, &opts()).unwrap();
    let folder = std::env::temp_dir().join(format!("vitfuse-api-gallery-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    for f in images() {
        std::fs::copy(&f, folder.join(f.file_name().unwrap())).unwrap();
    }
    let idx = clip.index_folder(&folder, &vitfuse::retrieval::IndexOptions { cache: false }, |_| {}).unwrap();
    assert_eq!((idx.stats.embedded, idx.paths.len(), idx.cache_file.as_deref()), (3, 3, None::<&Path>));
    assert_eq!(idx.embeddings, clip.embed_images(&idx.paths).unwrap());
    let hits = clip.search(&idx, "a cat").unwrap();
    assert_eq!(hits.len(), 3);
    assert!(hits.windows(2).all(|w| w[0].similarity >= w[1].similarity));
    std::fs::remove_dir_all(&folder).ok();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn text_only_use_uploads_only_the_text_tower() {
    let dir = dual_folder("clip_tiny");
    let device = Device::new(&Default::default()).unwrap();
    let ctx_bytes = |d: &Device| d.context().pool_stats().bytes_allocated;
    let weights = read_host_tensors(dir.join("model.safetensors")).unwrap();
    let vision: u64 = weights.iter().filter(|(k, _)| k.starts_with("vision_model.")).map(|(_, t)| 4 * t.numel() as u64).sum();
    let clip = DualEncoder::open_with(&dir, &Options::new().device(device.clone())).unwrap();
    clip.embed_texts(&["a cat", "a dog"]).unwrap();
    let text_only = ctx_bytes(&device);
    clip.embed_images(&images()[..1]).unwrap();
    let both = ctx_bytes(&device);
    assert!(both >= text_only + vision, "the image tower ({vision} bytes) was uploaded before it was used: {text_only} then {both}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn warm_up_compiles_what_the_first_call_needs() {
    for (name, with_tokenizer) in [("vit_tiny", false), ("clip_tiny", true), ("ast_tiny", false)] {
        let dir = if with_tokenizer { dual_folder(name) } else { fixture(name) };
        let device = Device::new(&Default::default()).unwrap();
        let m = Model::open_with(&dir, &Options::new().device(device.clone())).unwrap();
        m.warm_up().unwrap();
        let compiled = device.context().record_stats().pipelines_compiled;
        assert!(compiled > 0, "{name}");
        match name {
            "vit_tiny" => drop(m.image_classifier().unwrap().classify(&images()).unwrap()),
            "clip_tiny" => drop(m.dual_encoder().unwrap().zero_shot(&images(), &["cat", "dog"], Some("a photo of a {}")).unwrap()),
            _ => {
                let wave = vec![0.1f32; 16000];
                drop(m.audio_classifier().unwrap().classify(&[Samples { data: &wave, rate: 16000 }]).unwrap());
            }
        }
        assert_eq!(device.context().record_stats().pipelines_compiled, compiled, "{name}: the first call after warm_up compiled kernels");
    }
}

/// A run that dies part-way (here: its progress callback panics after five images, batches of
/// one) leaves the embeddings of every completed save in the cache; the next run takes them.
#[test]
fn an_interrupted_index_keeps_what_it_saved() {
    let dir = dual_folder("clip_tiny");
    let clip = DualEncoder::open_with(&dir, &opts().batch_size(1)).unwrap();
    let folder = std::env::temp_dir().join(format!("vitfuse-api-interrupted-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    for i in 0..3 {
        for f in images() {
            std::fs::copy(&f, folder.join(format!("{i}-{}", f.file_name().unwrap().to_string_lossy()))).unwrap();
        }
    }
    let opts = vitfuse::retrieval::IndexOptions { cache: true };
    let mut steps = 0;
    let died = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        clip.index_folder(&folder, &opts, |ev| {
            if let vitfuse::retrieval::IndexEvent::Step = ev {
                steps += 1;
                if steps == 6 {
                    panic!("killed");
                }
            }
        })
    }));
    assert!(died.is_err());
    let idx = clip.index_folder(&folder, &opts, |_| {}).unwrap();
    assert_eq!(idx.stats.images, 9);
    assert!(idx.stats.cached >= 4 && idx.stats.cached < 9, "{:?}", idx.stats);
    assert_eq!(idx.stats.cached + idx.stats.embedded, 9);
    assert!(max_diff(&idx.embeddings, &clip.embed_images(&idx.paths).unwrap()) < 1e-6);
    std::fs::remove_file(idx.cache_file.unwrap()).ok();
    std::fs::remove_dir_all(&folder).ok();
    std::fs::remove_dir_all(&dir).ok();
}

/// An `ASTModel` saved alone has its tensors at the root (no `audio_spectrogram_transformer.`);
/// it loads, and embeds as the same weights under the `ASTFor…` prefix do.
#[test]
fn an_ast_model_saved_alone_loads() {
    let src = fixture("ast_tiny");
    let dir = std::env::temp_dir().join(format!("vitfuse-api-astmodel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    cfg["architectures"] = serde_json::json!(["ASTModel"]);
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    std::fs::copy(src.join("preprocessor_config.json"), dir.join("preprocessor_config.json")).unwrap();
    let w: std::collections::BTreeMap<String, vitfuse::HostTensor> = read_host_tensors(src.join("model.safetensors"))
        .unwrap()
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix("audio_spectrogram_transformer.").map(|k| (k.to_string(), v)))
        .collect();
    vitfuse::write_host_tensors(dir.join("model.safetensors"), &w).unwrap();
    let inputs = read_host_tensors(src.join("inputs.safetensors")).unwrap();
    let wave = inputs["waveform_0"].as_f32().unwrap();
    let clip = [Samples { data: wave, rate: 16000 }];
    let alone = AudioEncoder::open_with(&dir, &opts()).unwrap().embed(&clip).unwrap();
    let nested = AudioEncoder::open_with(&src, &opts()).unwrap().embed(&clip).unwrap();
    assert!(max_diff(&alone, &nested) < 1e-6);
    std::fs::remove_dir_all(&dir).ok();
}

/// A copy of a fixture model folder, with `preprocessor_config.json` when given.
fn model_copy(name: &str, processor: Option<serde_json::Value>) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("vitfuse-api-copy-{name}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture(name).join(f), d.join(f)).unwrap();
    }
    if let Some(p) = processor {
        std::fs::write(d.join("preprocessor_config.json"), p.to_string()).unwrap();
    }
    d
}

/// `forward` on what the model's own processor makes of `files`.
fn forward_files(m: &Model, files: &[PathBuf]) -> std::collections::BTreeMap<String, vitfuse::HostTensor> {
    let px = m.image_processor().unwrap().0.preprocess_files(files).unwrap();
    m.forward(&[("pixel_values".to_string(), px)].into_iter().collect()).unwrap()
}

#[test]
fn deit_classifies_and_embeds() {
    // No preprocessor_config.json: DeiT's checkpoint processor scaled to the 32² model
    // (resize 36², crop 32², ImageNet mean/std).
    let m = Model::open_with(fixture("deit_tiny"), &opts()).unwrap();
    assert_eq!(m.tasks(), vec![Task::EmbedImages, Task::ClassifyImages]);
    assert_eq!(m.architecture(), "DeiTForImageClassificationWithTeacher");
    let (p, from_file) = m.image_processor().unwrap();
    assert!(!from_file);
    assert_eq!((p.config.processor_type.as_str(), p.config.output_size(50, 70)), ("DeiTImageProcessor", (32, 32)));
    assert_eq!(p.config.image_mean, [0.485, 0.456, 0.406]);
    let files = images();
    let out = forward_files(&m, &files);

    // Classification: softmax over the mean of the two heads, which forward calls `logits`.
    let c = m.image_classifier().unwrap();
    assert_eq!(c.labels(), (0..5).map(|i| format!("class_{i}")).collect::<Vec<_>>());
    let ranked = c.classify(&files).unwrap();
    let logits = out["logits"].as_f32().unwrap();
    for (i, r) in ranked.iter().enumerate() {
        assert_eq!(r.len(), 5);
        assert!((r.iter().map(|x| x.score).sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(r.windows(2).all(|w| w[0].score >= w[1].score));
        for x in r {
            let k: usize = x.label.trim_start_matches("class_").parse().unwrap();
            assert!((x.logit - logits[i * 5 + k]).abs() < 1e-5, "{i} {}", x.label);
        }
    }
    let (cls, dist) = (out["cls_logits"].as_f32().unwrap(), out["distillation_logits"].as_f32().unwrap());
    for i in 0..15 {
        assert!((logits[i] - (cls[i] + dist[i]) / 2.0).abs() < 1e-5);
    }

    // Features: the mean of the CLS and distillation tokens after the final LayerNorm.
    let enc = m.image_encoder().unwrap();
    assert_eq!(enc.dim(), 64);
    let e = enc.embed(&files).unwrap();
    assert!(!e.is_normalized());
    let lhs = out["last_hidden_state"].as_f32().unwrap();
    let t = out["last_hidden_state"].shape[1];
    assert_eq!(t, 18);
    for i in 0..3 {
        for n in 0..64 {
            let want = (lhs[i * t * 64 + n] + lhs[i * t * 64 + 64 + n]) / 2.0;
            assert!((e.row(i)[n] - want).abs() < 1e-5);
        }
    }
    let err = m.dual_encoder().unwrap_err().to_string();
    assert!(err.contains("DeiTForImageClassificationWithTeacher") && err.contains("no text tower"), "{err}");

    // A DeiTModel without heads: features only.
    let dir = model_copy("deit_tiny", None);
    let w: std::collections::BTreeMap<String, vitfuse::HostTensor> =
        read_host_tensors(fixture("deit_tiny").join("model.safetensors")).unwrap().into_iter().filter(|(k, _)| k.starts_with("deit.")).collect();
    vitfuse::write_host_tensors(dir.join("model.safetensors"), &w).unwrap();
    let bare = Model::open_with(&dir, &opts()).unwrap();
    assert_eq!(bare.tasks(), vec![Task::EmbedImages]);
    assert!(bare.image_classifier().unwrap_err().to_string().contains("no classifier head"));
    assert_eq!(bare.image_encoder().unwrap().embed(&files).unwrap(), e);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn dinov2_embeds_and_retrieves_by_image() {
    // With registers, from a preprocessor_config.json at the fixture's 32² (no interpolation);
    // without, on the checkpoints' defaults (shortest edge 256, crop 224: a 28² grid from 4²).
    let bit = serde_json::json!({
        "image_processor_type": "BitImageProcessor", "do_convert_rgb": true, "do_resize": true, "size": {"shortest_edge": 40},
        "resample": 3, "do_center_crop": true, "crop_size": {"height": 32, "width": 32}, "do_rescale": true, "rescale_factor": 0.00392156862745098,
        "do_normalize": true, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]
    });
    for (name, processor, side) in [("dinov2_reg_tiny", Some(bit), 32), ("dinov2_tiny", None, 224)] {
        let dir = model_copy(name, processor);
        let m = Model::open_with(&dir, &opts()).unwrap();
        assert_eq!(m.tasks(), vec![Task::EmbedImages], "{name}");
        let (p, _) = m.image_processor().unwrap();
        assert_eq!((p.config.processor_type.as_str(), p.config.output_size(300, 200)), ("BitImageProcessor", (side, side)));
        let e = m.image_classifier().unwrap_err().to_string();
        assert!(e.contains("without a classifier head") && e.contains("image embeddings"), "{e}");
        let e = m.dual_encoder().unwrap_err().to_string();
        assert!(e.contains("no text tower"), "{e}");

        // Features = pooler_output = the CLS token after the final LayerNorm.
        let files = images();
        let out = forward_files(&m, &files);
        let enc = ImageEncoder::try_from(m.clone()).unwrap();
        let feats = enc.embed(&files).unwrap();
        assert!(!feats.is_normalized());
        let pooled = out["pooler_output"].as_f32().unwrap();
        assert!(feats.as_slice().iter().zip(pooled).all(|(a, b)| (a - b).abs() < 1e-5), "{name}");
        let regs = if name == "dinov2_reg_tiny" { 4 } else { 0 };
        assert_eq!(out["last_hidden_state"].shape, [3, 1 + regs + (side / 8) * (side / 8), 64]);

        // Image-to-image retrieval over a folder, with its cache.
        let folder = std::env::temp_dir().join(format!("vitfuse-api-{name}-gallery-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        for f in &files {
            std::fs::copy(f, folder.join(f.file_name().unwrap())).unwrap();
        }
        let opts_c = vitfuse::retrieval::IndexOptions { cache: true };
        let idx = enc.index_folder(&folder, &opts_c, |_| {}).unwrap();
        assert_eq!((idx.stats.embedded, idx.paths.len()), (3, 3));
        assert_eq!(idx.embeddings, enc.embed(&idx.paths).unwrap());
        for q in &idx.paths {
            let hits = enc.search_image(&idx, q.as_path()).unwrap();
            assert_eq!(hits.len(), 3);
            assert_eq!(&hits[0].path, q, "{name}: an image is its own best match");
            assert!((hits[0].similarity - 1.0).abs() < 1e-4 && hits[0].logit == hits[0].similarity);
            assert!(hits.windows(2).all(|w| w[0].similarity >= w[1].similarity));
        }
        let again = enc.index_folder(&folder, &opts_c, |_| {}).unwrap();
        assert_eq!((again.stats.cached, again.stats.embedded), (3, 0));
        assert_eq!(again.embeddings, idx.embeddings);
        // A query embedding of another width is refused.
        let other = Embeddings::new(8, vec![0.5; 8], false).unwrap();
        assert!(enc.search_embedded(&idx, &other).unwrap_err().to_string().contains("one model"));
        if let Some(f) = &idx.cache_file {
            std::fs::remove_file(f).ok();
        }
        std::fs::remove_dir_all(&folder).ok();
        std::fs::remove_dir_all(&dir).ok();
    }
}
