//! ViLT (early fusion of text and image) on the GPU and through the CPU reference path, against
//! the transformers fixture `vilt_tiny` (float64) at its tolerance; plus the retrieval head and
//! `max_image_length`, GPU against the CPU reference.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use common::{compare, fixture, gpu};
use vitfuse::model::{read_host_tensors, write_host_tensors, Family, HostTensor, Model};
use vitfuse::reference::{check_close, Tolerance};

fn inputs(dir: &Path) -> HashMap<String, HostTensor> {
    read_host_tensors(dir.join("inputs.safetensors")).unwrap()
}

fn run_gpu(dir: &Path, inputs: &HashMap<String, HostTensor>) -> BTreeMap<String, HostTensor> {
    let ctx = gpu();
    let model = Model::load(ctx, dir).unwrap();
    assert_eq!(model.family(), Family::Vilt);
    model.forward(ctx, inputs).unwrap()
}

#[test]
fn vilt_tiny_matches_transformers_on_gpu() {
    let dir = fixture("vilt_tiny");
    let got = run_gpu(&dir, &inputs(&dir));
    compare("vilt_tiny", &got);
    let expected = read_host_tensors(dir.join("expected.safetensors")).unwrap();
    assert_eq!(got["token_mask"], expected["token_mask"], "token_mask is exact");
    assert!(!got.contains_key("logits"), "ViltModel has no rank_output");
}

#[test]
fn vilt_tiny_reference_path_matches_transformers() {
    let dir = fixture("vilt_tiny");
    let got = vitfuse::reference::forward(&dir, &inputs(&dir)).unwrap();
    compare("vilt_tiny", &got);
}

/// A scratch copy of `vilt_tiny` with its config edited and its weights renamed / extended.
fn scratch(tag: &str, edit_config: impl Fn(&mut serde_json::Value), edit_weights: impl Fn(&mut BTreeMap<String, HostTensor>)) -> PathBuf {
    let src = fixture("vilt_tiny");
    let dir = std::env::temp_dir().join(format!("vitfuse-vilt-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    edit_config(&mut config);
    std::fs::write(dir.join("config.json"), serde_json::to_string_pretty(&config).unwrap()).unwrap();
    let mut w: BTreeMap<String, HostTensor> = read_host_tensors(src.join("model.safetensors")).unwrap().into_iter().collect();
    edit_weights(&mut w);
    write_host_tensors(dir.join("model.safetensors"), &w).unwrap();
    dir
}

/// Every output of `got` against `want`, `last_hidden_state` only where `token_mask` is 1.
fn agree(what: &str, got: &BTreeMap<String, HostTensor>, want: &BTreeMap<String, HostTensor>, tol: Tolerance) {
    let mask = want["token_mask"].as_f32().unwrap().to_vec();
    for (k, w) in want {
        let g = got.get(k).unwrap_or_else(|| panic!("{what}: GPU output {k} missing"));
        assert_eq!(g.shape, w.shape, "{what}: shape of {k}");
        let (mut gv, mut wv) = (g.as_f32().unwrap().to_vec(), w.as_f32().unwrap().to_vec());
        if k == "last_hidden_state" {
            let d = *w.shape.last().unwrap();
            let keep = |v: &[f32]| -> Vec<f32> { v.chunks(d).zip(&mask).filter(|(_, &m)| m != 0.0).flat_map(|(r, _)| r.to_vec()).collect() };
            gv = keep(&gv);
            wv = keep(&wv);
        }
        let rep = check_close(&gv, &wv, tol);
        eprintln!("{what} {k}: max abs err {:.3e} ({} values)", rep.max_abs_err, rep.len);
        assert!(rep.passed(), "{what} {k}: {rep}");
    }
    assert_eq!(got.len(), want.len(), "{what}: output names {:?} vs {:?}", got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
}

#[test]
fn vilt_retrieval_head_scores_pooler_output() {
    // ViltForImageAndTextRetrieval: the model under `vilt.`, logits = rank_output(pooler_output)
    let dir = scratch(
        "retrieval",
        |c| c["architectures"] = serde_json::json!(["ViltForImageAndTextRetrieval"]),
        |w| {
            let old = std::mem::take(w);
            for (k, v) in old {
                w.insert(format!("vilt.{k}"), v);
            }
            let d = 64;
            let wv: Vec<f32> = common::values(d, 7).iter().map(|v| v * 0.2).collect();
            w.insert("rank_output.weight".into(), HostTensor::f32(vec![1, d], wv).unwrap());
            w.insert("rank_output.bias".into(), HostTensor::f32(vec![1], vec![0.25]).unwrap());
        },
    );
    let inp = inputs(&fixture("vilt_tiny"));
    let got = run_gpu(&dir, &inp);
    let want = vitfuse::reference::forward(&dir, &inp).unwrap();
    assert_eq!(got["logits"].shape, vec![2, 1]);
    agree("vilt retrieval", &got, &want, Tolerance::new(3e-4, 3e-4));
    // the backbone is unchanged by the prefix
    let mut backbone = got.clone();
    backbone.remove("logits");
    compare("vilt_tiny", &backbone);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn vilt_max_image_length_caps_patches_like_the_reference() {
    let dir = scratch("maxlen", |c| c["max_image_length"] = serde_json::json!(5), |_| {});
    let inp = inputs(&fixture("vilt_tiny"));
    let got = run_gpu(&dir, &inp);
    let want = vitfuse::reference::forward(&dir, &inp).unwrap();
    // 8 text tokens + CLS + 5 patches
    assert_eq!(got["last_hidden_state"].shape, vec![2, 14, 64]);
    agree("vilt max_image_length", &got, &want, Tolerance::new(3e-4, 3e-4));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn vilt_without_masks_keeps_every_token() {
    // no attention_mask, token_type_ids or pixel_mask: all ones / zeros, as transformers defaults
    let dir = fixture("vilt_tiny");
    let mut inp = inputs(&dir);
    for k in ["attention_mask", "token_type_ids", "pixel_mask"] {
        inp.remove(k);
    }
    let got = run_gpu(&dir, &inp);
    let want = vitfuse::reference::forward(&dir, &inp).unwrap();
    // 8 text tokens + CLS + 16 patches, every one kept
    assert!(got["token_mask"].as_f32().unwrap().iter().all(|&v| v == 1.0));
    agree("vilt without masks", &got, &want, Tolerance::new(3e-4, 3e-4));
}
