//! The CPU reference models (`vitfuse forward --reference`) against the Hugging Face fixtures
//! (transformers, float64), at each fixture's own tolerance. No GPU involved.

mod common;

use common::{compare, fixture};
use vitfuse::model::{read_host_tensors, ModelConfig, Weights};
use vitfuse::reference::models::{clip, vit};
use vitfuse::reference::{vit_params, Checkpoint};

fn run(name: &str) {
    let dir = fixture(name);
    let inputs = read_host_tensors(dir.join("inputs.safetensors")).unwrap();
    compare(name, &vitfuse::reference::forward(&dir, &inputs).unwrap());
}

#[test]
fn vit_tiny_matches_transformers() {
    run("vit_tiny");
}

#[test]
fn ast_tiny_matches_transformers() {
    run("ast_tiny");
}

#[test]
fn clip_tiny_matches_transformers() {
    run("clip_tiny");
}

#[test]
fn clip_tiny_eos_matches_transformers() {
    run("clip_tiny_eos");
}

#[test]
fn siglip2_tiny_matches_transformers() {
    run("siglip2_tiny");
}

#[test]
fn chinese_clip_tiny_matches_transformers() {
    run("chinese_clip_tiny");
}

#[test]
fn siglip_tiny_matches_transformers() {
    run("siglip_tiny");
}

#[test]
fn deit_tiny_matches_transformers() {
    run("deit_tiny");
}

#[test]
fn dinov2_tiny_matches_transformers() {
    run("dinov2_tiny");
}

#[test]
fn dinov2_reg_tiny_matches_transformers() {
    run("dinov2_reg_tiny");
}

#[test]
fn clip_pool_positions_follow_eos_rule() {
    // legacy rule: argmax of the ids (first of equal maxima)
    assert_eq!(clip::pool_positions(&[5, 9, 3, 9, 0], 1, 5, 2), vec![1]);
    // eos rule: first position holding the eos id, even when padding repeats it
    assert_eq!(clip::pool_positions(&[7, 4, 8, 8, 8, 1, 8, 3], 2, 4, 8), vec![2, 0]);
    // no eos at all: position 0, as torch.argmax of an all-false row
    assert_eq!(clip::pool_positions(&[7, 4, 5], 1, 3, 8), vec![0]);
}

#[test]
fn missing_and_misshaped_tensors_are_named() {
    let dir = fixture("vit_tiny");
    let ModelConfig::Vit(c) = ModelConfig::from_file(&dir).unwrap() else { unreachable!() };
    let p = vit_params(&c);
    let w = Checkpoint(Weights::open(&dir).unwrap());
    let inputs = read_host_tensors(dir.join("inputs.safetensors")).unwrap();
    let px = &inputs["pixel_values"];
    use vitfuse::reference::models::WeightSource;
    let drop_key = |name: &str| -> Option<(Vec<usize>, Vec<f32>)> {
        if name == "vit.encoder.layer.1.output.dense.weight" {
            None
        } else {
            w.get(name)
        }
    };
    let err = vit::forward(&p, &drop_key, px.as_f32().unwrap(), px.shape[0]).unwrap_err();
    assert!(err.contains("vit.encoder.layer.1.output.dense.weight"), "{err}");
    let wrong = vit::VitParams { num_labels: 7, ..p };
    let err = vit::forward(&wrong, &w, px.as_f32().unwrap(), px.shape[0]).unwrap_err();
    assert!(err.contains("classifier.weight") && err.contains("[5, 64]"), "{err}");
}
