//! Whole models on the GPU against the Hugging Face fixtures (transformers in float64):
//! every output named for the architecture, within the fixture's tolerance.

mod common;

use std::collections::HashMap;

use common::{compare, fixture, gpu};
use vitfuse::model::{read_host_tensors, HostTensor, Model};

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
fn siglip_tiny_matches_transformers_on_gpu() {
    compare("siglip_tiny", &run_gpu("siglip_tiny"));
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
