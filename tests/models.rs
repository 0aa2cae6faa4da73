//! Whole models on the GPU against the Hugging Face fixtures (transformers in float64):
//! every output named for the architecture, within the fixture's tolerance.

mod common;

use std::collections::HashMap;

use common::{compare, fixture, gpu};
use vitfuse::model::{read_host_tensors, ForwardOptions, HostTensor, Model};
use vitfuse::reference::Tolerance;

fn run_gpu(name: &str) -> std::collections::BTreeMap<String, HostTensor> {
    let ctx = gpu();
    let dir = fixture(name);
    let inputs: HashMap<String, HostTensor> = read_host_tensors(dir.join("inputs.safetensors")).unwrap();
    let model = Model::load(ctx, &dir).unwrap();
    model.forward(ctx, &inputs).unwrap()
}

#[test]
fn vit_tiny_matches_transformers_on_gpu() {
    compare("vit_tiny", &run_gpu("vit_tiny"));
}

#[test]
fn clip_tiny_matches_transformers_on_gpu() {
    compare("clip_tiny", &run_gpu("clip_tiny"));
}

#[test]
fn clip_tiny_eos_matches_transformers_on_gpu() {
    compare("clip_tiny_eos", &run_gpu("clip_tiny_eos"));
}

#[test]
fn siglip2_tiny_matches_transformers_on_gpu() {
    compare("siglip2_tiny", &run_gpu("siglip2_tiny"));
}

#[test]
fn chinese_clip_tiny_matches_transformers_on_gpu() {
    compare("chinese_clip_tiny", &run_gpu("chinese_clip_tiny"));
}

#[test]
fn ast_tiny_matches_transformers_on_gpu() {
    // Features from the fixture's waveforms (the `input_values` output) and the model on them.
    compare("ast_tiny", &run_gpu("ast_tiny"));
}

#[test]
fn siglip_tiny_matches_transformers_on_gpu() {
    compare("siglip_tiny", &run_gpu("siglip_tiny"));
}

#[test]
fn deit_tiny_matches_transformers_on_gpu() {
    compare("deit_tiny", &run_gpu("deit_tiny"));
}

#[test]
fn dinov2_tiny_matches_transformers_on_gpu() {
    // 40×24 input: the 4×4 position grid resized to 5×3.
    compare("dinov2_tiny", &run_gpu("dinov2_tiny"));
}

#[test]
fn dinov2_reg_tiny_matches_transformers_on_gpu() {
    compare("dinov2_reg_tiny", &run_gpu("dinov2_reg_tiny"));
}

#[test]
fn second_forward_allocates_nothing() {
    // Its own context: the shared one counts other tests' allocations too.
    let own = common::own_context();
    let ctx = &own;
    let dir = fixture("clip_tiny");
    let inputs = read_host_tensors(dir.join("inputs.safetensors")).unwrap();
    let model = Model::load(ctx, &dir).unwrap();
    let a = model.forward(ctx, &inputs).unwrap();
    let before = ctx.pool_stats().allocations;
    let b = model.forward(ctx, &inputs).unwrap();
    assert_eq!(ctx.pool_stats().allocations, before, "the second identical forward pass allocated buffers");
    assert_eq!(a, b);
}

#[test]
fn a_vit_forward_pass_is_recorded_without_submitting() {
    let own = common::own_context();
    let ctx = &own;
    let dir = fixture("vit_tiny");
    let inputs = read_host_tensors(dir.join("inputs.safetensors")).unwrap();
    let vitfuse::model::Model::Vit(m) = Model::load(ctx, &dir).unwrap() else { panic!("vit_tiny is a ViT") };
    let px = vitfuse::model::pipeline::pixel_tensor(ctx, &inputs).unwrap();
    let before = ctx.record_stats();
    let out = m.forward(ctx, &px).unwrap();
    let after = ctx.record_stats();
    assert_eq!(after.submissions, before.submissions, "the forward pass submitted before its read-back");
    assert!(after.dispatches > before.dispatches);
    out.logits.unwrap().to_vec::<f32>(ctx).unwrap();
    assert_eq!(ctx.record_stats().submissions, after.submissions + 1);
}

/// `interpolate_pos_encoding`: images of other sizes (larger, smaller, non-square; the tiny
/// models take 32² in 8² patches, so 48×40 is a 6×5 grid and 24×40 a 3×5 one) on the GPU against
/// the CPU reference, which resizes the position table with the plain-loop bicubic of PyTorch.
#[test]
fn interpolated_positions_match_the_reference() {
    let ctx = gpu();
    for name in ["vit_tiny", "clip_tiny", "siglip_tiny", "deit_tiny"] {
        let dir = fixture(name);
        let mut inputs: HashMap<String, HostTensor> = read_host_tensors(dir.join("inputs.safetensors")).unwrap();
        let b = inputs["pixel_values"].shape[0];
        let model = Model::load(ctx, &dir).unwrap();
        let opts = ForwardOptions { interpolate_pos_encoding: true };
        for (h, w) in [(48, 40), (24, 40)] {
            let px = common::values(b * 3 * h * w, (h * w) as u64);
            inputs.insert("pixel_values".into(), HostTensor::f32(vec![b, 3, h, w], px).unwrap());
            let got = model.forward_with(ctx, &inputs, &opts).unwrap();
            let want: HashMap<String, HostTensor> = vitfuse::reference::forward_with(&dir, &inputs, &opts).unwrap().into_iter().collect();
            let checks = vitfuse::reference::compare::compare_outputs(&got, &want, &inputs, Tolerance::new(2e-4, 2e-4));
            assert_eq!(checks.len(), want.len());
            for c in checks {
                let r = c.report.unwrap_or_else(|| panic!("{name} {h}x{w} {}: {:?}", c.name, c.problem));
                assert!(r.passed(), "{name} {h}x{w} {}: {r}", c.name);
            }
            // Without the flag another size is refused, naming the way out.
            let e = model.forward(ctx, &inputs).unwrap_err().to_string();
            assert!(e.contains("interpolate_pos_encoding"), "{e}");
        }
    }
}

/// DINOv2 resizes its position grid to every input (transformers has no flag for it): other
/// sizes, with and without registers (whose resize is antialiased), on the GPU against the CPU
/// reference; the flag changes nothing.
#[test]
fn dinov2_takes_any_size() {
    let ctx = gpu();
    for name in ["dinov2_tiny", "dinov2_reg_tiny"] {
        let dir = fixture(name);
        let mut inputs: HashMap<String, HostTensor> = read_host_tensors(dir.join("inputs.safetensors")).unwrap();
        let model = Model::load(ctx, &dir).unwrap();
        for (h, w) in [(48, 40), (24, 40), (16, 72), (32, 32), (8, 8)] {
            let px = common::values(2 * 3 * h * w, (h * w) as u64);
            inputs.insert("pixel_values".into(), HostTensor::f32(vec![2, 3, h, w], px).unwrap());
            let got = model.forward(ctx, &inputs).unwrap();
            let want: HashMap<String, HostTensor> = vitfuse::reference::forward(&dir, &inputs).unwrap().into_iter().collect();
            assert_eq!(got["last_hidden_state"].shape[1], h / 8 * (w / 8) + 1 + if name == "dinov2_reg_tiny" { 4 } else { 0 });
            for c in vitfuse::reference::compare::compare_outputs(&got, &want, &inputs, Tolerance::new(2e-4, 2e-4)) {
                let r = c.report.unwrap_or_else(|| panic!("{name} {h}x{w} {}: {:?}", c.name, c.problem));
                assert!(r.passed(), "{name} {h}x{w} {}: {r}", c.name);
            }
            let flagged = model.forward_with(ctx, &inputs, &ForwardOptions { interpolate_pos_encoding: true }).unwrap();
            assert_eq!(flagged, got);
        }
        // Smaller than one patch: a clear error.
        inputs.insert("pixel_values".into(), HostTensor::f32(vec![1, 3, 4, 40], vec![0.0; 480]).unwrap());
        let e = model.forward(ctx, &inputs).unwrap_err().to_string();
        assert!(e.contains("[1, 3, 4, 40]") && e.contains(">= 8"), "{e}");
    }
}

/// Checkpoints with missing or mis-shaped tensors are errors that name the tensor.
#[test]
fn deit_and_dinov2_name_bad_tensors() {
    let ctx = gpu();
    for (name, drop, reshape) in [
        ("deit_tiny", "distillation_classifier.bias", "deit.embeddings.distillation_token"),
        ("dinov2_tiny", "encoder.layer.1.layer_scale2.lambda1", "encoder.layer.0.mlp.fc1.weight"),
        ("dinov2_reg_tiny", "embeddings.register_tokens", "encoder.layer.1.mlp.weights_in.weight"),
    ] {
        let src = fixture(name);
        let w: std::collections::BTreeMap<String, HostTensor> = read_host_tensors(src.join("model.safetensors")).unwrap().into_iter().collect();
        for (what, bad) in [("missing", drop), ("misshaped", reshape)] {
            let dir = std::env::temp_dir().join(format!("vitfuse-models-{name}-{what}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
            let mut w = w.clone();
            if what == "missing" {
                w.remove(bad);
            } else {
                let t = &w[bad];
                let n = t.shape.iter().product::<usize>();
                w.insert(bad.to_string(), HostTensor::f32(vec![n], t.as_f32().unwrap().to_vec()).unwrap());
            }
            vitfuse::model::write_host_tensors(dir.join("model.safetensors"), &w).unwrap();
            let e = Model::load(ctx, &dir).err().unwrap_or_else(|| panic!("{name}: a {what} {bad} loaded")).to_string();
            assert!(e.contains(bad), "{name} {what}: {e}");
            std::fs::remove_dir_all(&dir).ok();
        }
    }
}

/// At the configured size the flag changes nothing (transformers returns the table as is).
#[test]
fn interpolation_at_the_configured_size_is_the_identity() {
    let ctx = gpu();
    let dir = fixture("vit_tiny");
    let inputs: HashMap<String, HostTensor> = read_host_tensors(dir.join("inputs.safetensors")).unwrap();
    let model = Model::load(ctx, &dir).unwrap();
    let plain = model.forward(ctx, &inputs).unwrap();
    let flagged = model.forward_with(ctx, &inputs, &ForwardOptions { interpolate_pos_encoding: true }).unwrap();
    assert_eq!(plain, flagged);
}
