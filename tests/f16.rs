//! f16 against f32: every fixture model and the real-size ViT-B/16 and CLIP B/32 (seeded random
//! weights of the real shapes), with f16 weights alone (`Precision::F16Weights`) and with f16
//! weights and activations (`Precision::F16`). Rounding to f16 changes a value by at most 2⁻¹¹
//! relative; arithmetic stays f32. The documented tolerance (README, "Precision"): every output
//! row has cosine ≥ 0.9999 with the f32 row and a max-abs difference within `MAX_ABS_REL` (f16
//! weights) or `MAX_ABS_REL_ACT` (f16 activations too) of the f32 output's largest magnitude;
//! zero-shot rankings are unchanged.

mod common;
mod f16_kernels;

use std::collections::{BTreeMap, HashMap};

use common::{fixture, gpu, values};
use vitfuse::model::{read_host_tensors, HostTensor, Model, ModelConfig, Precision};
use vitfuse::runtime::Tensor;

/// Cosine floor of every output row, f16 weights against f32 weights.
const MIN_COSINE: f64 = 0.9999;
/// Max-abs difference as a fraction of the f32 output's largest magnitude: f16 weights.
const MAX_ABS_REL: f64 = 5e-3;
/// The same with f16 activations as well.
const MAX_ABS_REL_ACT: f64 = 1e-2;

/// (smallest row cosine, max abs difference, largest |f32|) over rows of `row` values.
fn closeness(a: &[f32], b: &[f32], row: usize) -> (f64, f64, f64) {
    assert_eq!(a.len(), b.len());
    let mut min_cos = 1.0f64;
    for (ra, rb) in a.chunks(row.max(1)).zip(b.chunks(row.max(1))) {
        let dot: f64 = ra.iter().zip(rb).map(|(x, y)| *x as f64 * *y as f64).sum();
        let na: f64 = ra.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let nb: f64 = rb.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        // Rows of (near) zeros, e.g. a single logit: compared by max-abs alone.
        if na > 1e-12 && nb > 1e-12 && ra.len() > 1 {
            min_cos = min_cos.min(dot / (na * nb));
        }
    }
    let max_abs = a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).abs()).fold(0.0, f64::max);
    let scale = a.iter().map(|x| (*x as f64).abs()).fold(0.0, f64::max);
    (min_cos, max_abs, scale)
}

/// Checks one output; returns a failure line when it is out of tolerance.
fn check(what: &str, f32s: &[f32], f16s: &[f32], row: usize, p: Precision) -> Option<String> {
    let (cos, max_abs, scale) = closeness(f32s, f16s, row);
    let rel = if p == Precision::F16 { MAX_ABS_REL_ACT } else { MAX_ABS_REL };
    eprintln!("{what} ({p}): min row cosine {cos:.7}, max abs {max_abs:.3e} (largest |f32| {scale:.3e})");
    (cos < MIN_COSINE || max_abs > rel * scale.max(1e-6))
        .then(|| format!("{what} ({p}): cosine {cos:.7} (min {MIN_COSINE}), max abs {max_abs:.3e} (max {:.3e})", rel * scale))
}

fn forward(name: &str, precision: Precision) -> BTreeMap<String, HostTensor> {
    let ctx = gpu();
    let dir = fixture(name);
    let inputs: HashMap<String, HostTensor> = read_host_tensors(dir.join("inputs.safetensors")).unwrap();
    Model::load_with(ctx, &dir, precision).unwrap().forward(ctx, &inputs).unwrap()
}

/// Indices of `row` sorted by descending value.
fn ranking(row: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..row.len()).collect();
    idx.sort_by(|&i, &j| row[j].total_cmp(&row[i]));
    idx
}

#[test]
fn every_fixture_in_f16_is_within_tolerance_of_f32() {
    assert!(gpu().has_feature(vitfuse::runtime::wgpu::Features::SHADER_F16), "the test adapter has no SHADER_F16: f16 activations cannot run");
    let mut failures = Vec::new();
    let mut rankings = 0;
    let mut act_differs = 0;
    for name in [
        "vit_tiny", "clip_tiny", "clip_tiny_eos", "siglip_tiny", "siglip2_tiny", "chinese_clip_tiny", "ast_tiny", "deit_tiny",
        "dinov2_tiny", "dinov2_reg_tiny", "vilt_tiny",
    ] {
        let a = forward(name, Precision::F32);
        let (w16, act16) = (forward(name, Precision::F16Weights), forward(name, Precision::F16));
        for (p, b) in [(Precision::F16Weights, &w16), (Precision::F16, &act16)] {
            assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "{name}: outputs differ");
            for (out, ta) in &a {
                let (Some(x), Some(y)) = (ta.as_f32(), b[out].as_f32()) else { continue };
                if out == "input_values" || out == "pixel_values" {
                    continue; // preprocessing, not the model
                }
                let row = *ta.shape.last().unwrap_or(&1);
                failures.extend(check(&format!("{name} {out}"), x, y, row, p));
                // Zero-shot: every image's ranking of the texts (and the reverse) is unchanged.
                if out.starts_with("logits_per_") {
                    for (i, (rx, ry)) in x.chunks(row).zip(y.chunks(row)).enumerate() {
                        assert_eq!(ranking(rx), ranking(ry), "{name} {out} row {i}: {p} changed the ranking");
                        rankings += 1;
                    }
                }
            }
        }
        // f16 activations ran: their results are not those of f16 weights alone.
        let differs = w16.iter().any(|(out, t)| out != "pixel_values" && out != "input_values" && t.as_f32() != act16[out].as_f32());
        act_differs += differs as usize;
    }
    assert!(rankings >= 16, "only {rankings} zero-shot rows compared");
    assert_eq!(act_differs, 11, "f16 activations changed nothing in some fixtures");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The real-size image encoders (batch 1, seeded random weights, as `vitfuse bench model`).
#[test]
fn real_size_vit_b16_and_clip_b32_in_f16_are_within_tolerance_of_f32() {
    use vitfuse::model::nn::{Loader, Source};
    let ctx = gpu();
    let px = Tensor::from_slice(ctx, &[1, 3, 224, 224], &values(3 * 224 * 224, 11)).unwrap();
    let mut failures = Vec::new();
    let ModelConfig::Vit(vc) = ModelConfig::from_json_str(r#"{"architectures": ["ViTModel"]}"#, "vit-b16".as_ref()).unwrap() else {
        unreachable!()
    };
    let ModelConfig::Clip(cc) = ModelConfig::from_json_str(r#"{"architectures": ["CLIPModel"]}"#, "clip-b32".as_ref()).unwrap() else {
        unreachable!()
    };
    let out = |p: Precision| {
        let l = Loader::from_source(ctx, Source::Random(7), "").with_precision(p);
        let vit = vitfuse::model::vit::Vit::load_from(&l, &vc).unwrap().forward(ctx, &px).unwrap().last_hidden_state;
        let vit = vit.to_vec::<f32>(ctx).unwrap();
        let clip = vitfuse::model::clip::ClipVision::load(&l.pp("vision_model"), &cc).unwrap().forward(ctx, &px).unwrap().embeds;
        (vit, clip.to_vec::<f32>(ctx).unwrap())
    };
    let (vit32, clip32) = out(Precision::F32);
    for p in [Precision::F16Weights, Precision::F16] {
        let (vit16, clip16) = out(p);
        failures.extend(check("ViT-B/16 last_hidden_state", &vit32, &vit16, 768, p));
        failures.extend(check("CLIP B/32 image_embeds", &clip32, &clip16, cc.projection_dim, p));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// f16 halves the device memory of a matmul weight; a value beyond f16's range is an error
/// naming the tensor, never an infinity.
#[test]
fn f16_weights_take_half_the_bytes_and_refuse_overflow() {
    use vitfuse::model::nn::{Loader, Source};
    use vitfuse::runtime::DType;
    let ctx = gpu();
    let l32 = Loader::from_source(ctx, Source::Random(3), "");
    let l16 = l32.clone().with_precision(Precision::F16);
    let (w32, w16) = (l32.weight("w", &[8, 6]).unwrap(), l16.weight("w", &[8, 6]).unwrap());
    assert_eq!((w32.dtype(), w16.dtype()), (DType::F32, DType::F16));
    assert_eq!(w16.byte_len() * 2, w32.byte_len());
    let e = l16.upload_weight("encoder.fc1.weight", &[2], &[1.0, 7.0e4]).unwrap_err().to_string();
    assert!(e.contains("encoder.fc1.weight") && e.contains("65504"), "{e}");
    assert!(l32.upload_weight("encoder.fc1.weight", &[2], &[1.0, 7.0e4]).is_ok());
}

/// The demo's CLIP is stored in f16: by default it loads as f16 (half the memory) and its
/// embeddings equal the f32 path's exactly, since widening f16 is exact; an f32 checkpoint
/// stays f32 unless asked.
#[test]
fn an_f16_checkpoint_defaults_to_f16_weights_with_the_f32_results() {
    use vitfuse::{DualEncoder, Options};
    let demo = vitfuse::demo::TempExport::new().unwrap();
    let clip = demo.path().join("clip");
    let dev = vitfuse::Device::shared().unwrap();
    let auto = vitfuse::Model::open_with(&clip, &Options::new().device(dev.clone())).unwrap();
    assert_eq!(auto.precision(), Precision::F16Weights);
    let f32_fixture =
        vitfuse::Model::open_with(fixture("clip_tiny"), &Options::new().device(dev.clone()))
            .unwrap();
    assert_eq!(f32_fixture.precision(), Precision::F32);
    let texts = ["a small red circle", "a large blue star on the left"];
    let embed = |p: Precision| {
        let enc = DualEncoder::open_with(&clip, &Options::new().device(dev.clone()).precision(p)).unwrap();
        enc.embed_texts(&texts).unwrap()
    };
    let (a, b) = (embed(Precision::F32), embed(Precision::F16Weights));
    assert_eq!(
        a.as_slice(),
        b.as_slice(),
        "f16 checkpoint: f16 and f32 storage must give the same embeddings"
    );
}
