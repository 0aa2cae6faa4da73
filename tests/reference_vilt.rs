//! The ViLT CPU reference (`vitfuse::reference::models::vilt`) against the transformers fixture
//! `vilt_tiny` (float64), at the fixture's tolerance. No GPU involved.

use std::path::PathBuf;

use vitfuse::model::{read_host_tensors, ModelConfig, ViltConfig, Weights};
use vitfuse::reference::models::vilt::{self, ViltParams};
use vitfuse::reference::models::WeightSource;
use vitfuse::reference::{check_close, Tolerance};
use vitfuse::reference::Checkpoint;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

fn params(c: &ViltConfig) -> ViltParams {
    vitfuse::reference::vilt_params(c)
}

fn tolerance(dir: &std::path::Path) -> Tolerance {
    let f: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("fixture.json")).unwrap()).unwrap();
    Tolerance::new(
        f["tolerance"]["abs"].as_f64().unwrap() as f32,
        f["tolerance"]["rel"].as_f64().unwrap() as f32,
    )
}

struct Run {
    params: ViltParams,
    weights: Checkpoint,
    inputs: std::collections::BTreeMap<String, vitfuse::model::HostTensor>,
}

fn load() -> Run {
    let dir = fixture("vilt_tiny");
    let ModelConfig::Vilt(c) = ModelConfig::from_file(&dir).unwrap() else {
        panic!("vilt_tiny is not a ViLT config")
    };
    let inputs = read_host_tensors(dir.join("inputs.safetensors"))
        .unwrap()
        .into_iter()
        .collect();
    Run {
        params: params(&c),
        weights: Checkpoint(Weights::open(&dir).unwrap()),
        inputs,
    }
}

fn forward(r: &Run, w: &dyn WeightSource) -> Result<vilt::ViltOutputs, String> {
    let i64s = |k: &str| r.inputs[k].as_i64().unwrap();
    let ids = &r.inputs["input_ids"];
    let px = &r.inputs["pixel_values"];
    let (n, l) = (ids.shape[0], ids.shape[1]);
    let (c, h, wd) = (px.shape[1], px.shape[2], px.shape[3]);
    vilt::forward(
        &r.params,
        w,
        i64s("input_ids"),
        i64s("attention_mask"),
        i64s("token_type_ids"),
        n,
        l,
        px.as_f32().unwrap(),
        i64s("pixel_mask"),
        c,
        h,
        wd,
    )
}

#[test]
fn vilt_tiny_matches_transformers() {
    let dir = fixture("vilt_tiny");
    let tol = tolerance(&dir);
    let r = load();
    let out = forward(&r, &r.weights).unwrap();
    let expected = read_host_tensors(dir.join("expected.safetensors")).unwrap();
    let want = |k: &str| {
        let t = &expected[k];
        (t.shape.clone(), t.as_f32().unwrap().to_vec())
    };

    let (mshape, mask) = want("token_mask");
    let (n, t) = (mshape[0], mshape[1]);
    assert_eq!(out.tokens, t, "tokens per sequence");
    assert_eq!(out.token_mask, mask, "token_mask");

    let d = r.params.hidden;
    let masked = |x: &[f32]| -> Vec<f32> {
        x.chunks(d)
            .zip(&mask)
            .filter(|(_, &m)| m != 0.0)
            .flat_map(|(row, _)| row.to_vec())
            .collect()
    };
    let mut failures = Vec::new();
    for (k, got, keep_masked) in [
        ("last_hidden_state", &out.last_hidden_state, true),
        ("fused_embeddings", &out.fused_embeddings, false),
        ("pooler_output", &out.pooler_output, false),
    ] {
        let (shape, w) = want(k);
        assert_eq!(
            got.len(),
            shape.iter().product::<usize>(),
            "{k}: length for shape {shape:?}"
        );
        let (g, w) = if keep_masked {
            (masked(got), masked(&w))
        } else {
            (got.clone(), w)
        };
        let rep = check_close(&g, &w, tol);
        eprintln!(
            "vilt_tiny {k}: max abs err {:.3e} ({} values)",
            rep.max_abs_err, rep.len
        );
        if !rep.passed() {
            failures.push(format!("{k}: {rep}"));
        }
    }
    assert_eq!(out.pooler_output.len(), n * d);
    assert!(failures.is_empty(), "vilt_tiny: {}", failures.join("\n"));
}

#[test]
fn vilt_valid_grid_follows_pixel_mask() {
    let r = load();
    let px = &r.inputs["pixel_values"];
    let sel = vilt::select_patches(
        r.inputs["pixel_mask"].as_i64().unwrap(),
        px.shape[0],
        px.shape[2],
        px.shape[3],
        r.params.patch,
        r.params.max_image_length,
    )
    .unwrap();
    // image 0 is whole (64×64 → 4×4 patches); image 1 is valid in 48×32 pixels → 3×2 patches
    assert_eq!(sel.valid_hw, vec![(4, 4), (3, 2)]);
    assert_eq!(sel.len, 16);
    assert_eq!(&sel.index[16..22], &[0, 1, 4, 5, 8, 9]);
    assert!(sel.index[22..].iter().all(|&i| i == 2));
    assert_eq!(sel.valid.iter().filter(|&&v| v).count(), 16 + 6);
}

#[test]
fn vilt_missing_and_bad_inputs_are_named() {
    let r = load();
    let drop = |name: &str| -> Option<(Vec<usize>, Vec<f32>)> {
        if name == "embeddings.token_type_embeddings.weight" {
            None
        } else {
            r.weights.get(name)
        }
    };
    let err = forward(&r, &drop).unwrap_err();
    assert!(
        err.contains("embeddings.token_type_embeddings.weight"),
        "{err}"
    );

    let wrong = Run {
        params: ViltParams {
            layers: 3,
            ..r.params
        },
        weights: Checkpoint(Weights::open(fixture("vilt_tiny")).unwrap()),
        inputs: r.inputs.clone(),
    };
    let err = forward(&wrong, &wrong.weights).unwrap_err();
    assert!(err.contains("encoder.layer.2."), "{err}");

    let mut blank = r.inputs.clone();
    let pm = blank.get_mut("pixel_mask").unwrap();
    let zeros = vec![0i64; pm.as_i64().unwrap().len()];
    *pm = vitfuse::model::HostTensor::i64(pm.shape.clone(), zeros).unwrap();
    let no_image = Run {
        params: r.params,
        weights: Checkpoint(Weights::open(fixture("vilt_tiny")).unwrap()),
        inputs: blank,
    };
    let err = forward(&no_image, &no_image.weights).unwrap_err();
    assert!(err.contains("no valid patch"), "{err}");
}
