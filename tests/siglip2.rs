//! SigLIP 2 (NaFlex) through the library and the command line: images of different aspect
//! ratios each at its own patch grid, equal to the CPU reference on the same patches; one by one
//! equals the padded batch; bad NaFlex inputs are clear errors.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use vitfuse::model::{HostTensor, ImageProcessor, Tokenizer};
use vitfuse::{DualEncoder, Model, Options, Task};

mod common;

/// siglip2_tiny with the tiny tokenizer and a NaFlex processor (patches of 8, at most 16).
fn folder() -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("vitfuse-siglip2-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(common::fixture("siglip2_tiny").join(f), d.join(f)).unwrap();
    }
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(common::fixture("tiny_tokenizer").join(f), d.join(f)).unwrap();
    }
    std::fs::copy(common::fixture("siglip2_preprocess/a/preprocessor_config.json"), d.join("preprocessor_config.json")).unwrap();
    d
}

fn images() -> Vec<PathBuf> {
    ["landscape.png", "portrait.png", "small.png"].iter().map(|f| common::fixture("image_preprocess").join(f)).collect()
}

fn opts() -> Options {
    Options::new().device(vitfuse::Device::from_context(common::own_context()))
}

#[test]
fn naflex_images_equal_the_reference() {
    let d = folder();
    let m = Model::open_with(&d, &opts()).unwrap();
    assert_eq!(m.architecture(), "Siglip2Model");
    assert!(m.supports(Task::EmbedImages) && m.supports(Task::ZeroShot));
    let enc = DualEncoder::open_with(&d, &opts()).unwrap();
    let got = enc.embed_images(&images()).unwrap();

    // the reference on the same patches
    let proc = ImageProcessor::from_file(&d).unwrap();
    let (patch, max) = proc.config.naflex.unwrap();
    let items: Vec<_> = images().iter().map(|p| proc.preprocess_file(p).unwrap()).collect();
    let (shape, data, mask, shapes) = vitfuse::model::preprocess::patchify_batch(&items, patch, max).unwrap();
    assert_eq!(shapes, [(3, 5), (6, 2), (4, 4)]);
    let texts = ["a photo of a cat", "a dog"];
    let tok = Tokenizer::from_file(&d).unwrap();
    let e = tok.encode_batch(&texts, Some(8), true).unwrap();
    let mut inputs = HashMap::new();
    inputs.insert("pixel_values".to_string(), HostTensor::f32(shape, data).unwrap());
    inputs.insert("pixel_attention_mask".to_string(), HostTensor::i64(vec![3, max], mask).unwrap());
    inputs.insert("spatial_shapes".to_string(), HostTensor::i64(vec![3, 2], shapes.iter().flat_map(|&(h, w)| [h as i64, w as i64]).collect()).unwrap());
    inputs.insert("input_ids".to_string(), HostTensor::i64(vec![2, 8], e.iter().flat_map(|x| x.input_ids.clone()).collect()).unwrap());
    let cpu = vitfuse::reference::forward(&d, &inputs).unwrap();
    let want = cpu["image_embeds"].as_f32().unwrap();
    let diff = got.as_slice().iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(diff < 1e-4, "image embeddings differ by {diff}");
    // the GPU forward on the same named inputs equals the reference too
    let gpu = m.forward(&inputs).unwrap();
    let lg = gpu["logits_per_image"].as_f32().unwrap();
    let lc = cpu["logits_per_image"].as_f32().unwrap();
    assert!(lg.iter().zip(lc).all(|(a, b)| (a - b).abs() < 1e-3), "{lg:?} vs {lc:?}");

    // one image at a time equals the padded batch
    for (i, img) in images().iter().enumerate() {
        let one = enc.embed_images(&[img]).unwrap();
        let d1 = one.row(0).iter().zip(got.row(i)).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(d1 < 1e-5, "image {i}: {d1}");
    }
    // zero-shot: SigLIP's sigmoid over the same logits
    let zs = enc.zero_shot(&images()[..1], &["cat", "dog"], Some("a photo of a {}")).unwrap();
    assert_eq!(zs[0].len(), 2);

    // bad NaFlex inputs
    let mut bad = inputs.clone();
    bad.insert("spatial_shapes".to_string(), HostTensor::i64(vec![3, 2], vec![5, 5, 6, 2, 4, 4]).unwrap());
    let e = m.forward(&bad).unwrap_err().to_string();
    assert!(e.contains("spatial_shapes of image 0"), "{e}");
    bad.remove("pixel_attention_mask");
    assert!(m.forward(&bad).unwrap_err().to_string().contains("pixel_attention_mask"));
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn the_command_line_embeds_siglip2_images() {
    let d = folder();
    let out = Command::new(env!("CARGO_BIN_EXE_vitfuse")).args(["embed", "--model"]).arg(&d).arg("--image").args(images()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    std::fs::remove_dir_all(&d).ok();
}
