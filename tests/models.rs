//! Whole models on the GPU against the Hugging Face fixtures (transformers in float64):
//! every output named for the architecture, within the fixture's tolerance.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::gpu;
use vitfuse::model::{read_host_tensors, HostTensor, Model};
use vitfuse::reference::{check_close, Tolerance};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

fn tolerance(dir: &PathBuf) -> Tolerance {
    let f: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("fixture.json")).unwrap()).unwrap();
    Tolerance::new(f["tolerance"]["abs"].as_f64().unwrap() as f32, f["tolerance"]["rel"].as_f64().unwrap() as f32)
}

/// Keeps only the values of `t` (B, T, D) where the (B, T) mask is 1.
fn masked(t: &[f32], mask: &[i64], d: usize) -> Vec<f32> {
    t.chunks(d).zip(mask).filter(|(_, &m)| m != 0).flat_map(|(r, _)| r.to_vec()).collect()
}

/// Compares every expected output; `text_last_hidden_state` only where attention_mask is 1.
pub fn compare(name: &str, got: &std::collections::BTreeMap<String, HostTensor>) {
    let dir = fixture(name);
    let tol = tolerance(&dir);
    let expected = read_host_tensors(dir.join("expected.safetensors")).unwrap();
    let inputs = read_host_tensors(dir.join("inputs.safetensors")).unwrap();
    let mut failures = Vec::new();
    for (k, want) in &expected {
        let g = got.get(k).unwrap_or_else(|| panic!("{name}: output {k} missing; got {:?}", got.keys().collect::<Vec<_>>()));
        assert_eq!(g.shape, want.shape, "{name}: shape of {k}");
        let (mut gv, mut wv) = (g.as_f32().unwrap().to_vec(), want.as_f32().unwrap().to_vec());
        if k == "text_last_hidden_state" {
            let m = inputs["attention_mask"].as_i64().unwrap();
            let d = *want.shape.last().unwrap();
            gv = masked(&gv, m, d);
            wv = masked(&wv, m, d);
        }
        let rep = check_close(&gv, &wv, tol);
        eprintln!("{name} {k}: max abs err {:.3e} ({} values)", rep.max_abs_err, rep.len);
        if !rep.passed() {
            failures.push(format!("{k}: {rep}"));
        }
    }
    assert!(failures.is_empty(), "{name}: {}", failures.join("\n"));
}

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
fn second_forward_allocates_nothing() {
    let ctx = gpu();
    let dir = fixture("clip_tiny");
    let inputs = read_host_tensors(dir.join("inputs.safetensors")).unwrap();
    let model = Model::load(ctx, &dir).unwrap();
    let a = model.forward(ctx, &inputs).unwrap();
    let before = ctx.pool_stats().allocations;
    let b = model.forward(ctx, &inputs).unwrap();
    assert_eq!(ctx.pool_stats().allocations, before, "the second identical forward pass allocated buffers");
    assert_eq!(a, b);
}
