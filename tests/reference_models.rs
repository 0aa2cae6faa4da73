//! The CPU reference models against the Hugging Face fixtures (transformers, float64), at each
//! fixture's own tolerance. No GPU involved.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use vitfuse::model::{self, read_host_tensors, HostTensor, ModelConfig, Weights};
use vitfuse::reference::models::clip::{self, ClipParams, ClipTextParams, ClipVisionParams};
use vitfuse::reference::models::siglip::{self, SiglipParams, SiglipTextParams, SiglipVisionParams};
use vitfuse::reference::models::vit::{self, VitParams};
use vitfuse::reference::models::WeightSource;
use vitfuse::reference::{check_close, Activation, Tolerance};

/// `WeightSource` over a memory-mapped checkpoint.
struct Checkpoint(Weights);

impl WeightSource for Checkpoint {
    fn get(&self, name: &str) -> Option<(Vec<usize>, Vec<f32>)> {
        self.0.get_f32_any(name).ok()
    }
}

struct Fixture {
    dir: PathBuf,
    config: ModelConfig,
    weights: Checkpoint,
    inputs: HashMap<String, HostTensor>,
    expected: HashMap<String, HostTensor>,
    tol: Tolerance,
}

fn fixture(name: &str) -> Fixture {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("fixture.json")).expect("fixture.json")).unwrap();
    let tol = Tolerance::new(
        meta["tolerance"]["abs"].as_f64().expect("tolerance.abs") as f32,
        meta["tolerance"]["rel"].as_f64().expect("tolerance.rel") as f32,
    );
    Fixture {
        config: ModelConfig::from_file(&dir).expect("config.json"),
        weights: Checkpoint(Weights::open(&dir).expect("model.safetensors")),
        inputs: read_host_tensors(dir.join("inputs.safetensors")).expect("inputs.safetensors"),
        expected: read_host_tensors(dir.join("expected.safetensors")).expect("expected.safetensors"),
        tol,
        dir,
    }
}

impl Fixture {
    fn input(&self, name: &str) -> &HostTensor {
        self.inputs
            .get(name)
            .unwrap_or_else(|| panic!("{}: no input `{name}`", self.dir.display()))
    }

    fn expected(&self, name: &str) -> &HostTensor {
        self.expected
            .get(name)
            .unwrap_or_else(|| panic!("{}: no expected `{name}`", self.dir.display()))
    }

    /// Compares one output (optionally only the rows where `keep` is true, rows of the last dim)
    /// and returns a failure line, if any.
    fn compare(&self, name: &str, got: &[f32], keep: Option<&[bool]>, failures: &mut Vec<String>) {
        let want_t = self.expected(name);
        let want = want_t.as_f32().expect("expected outputs are f32");
        let (got, want): (Vec<f32>, Vec<f32>) = match keep {
            None => (got.to_vec(), want.to_vec()),
            Some(keep) => {
                let d = *want_t.shape.last().unwrap();
                assert_eq!(keep.len() * d, want.len(), "{name}: mask length");
                assert_eq!(got.len(), want.len(), "{name}: length");
                let mut g = Vec::new();
                let mut w = Vec::new();
                for (r, &k) in keep.iter().enumerate() {
                    if k {
                        g.extend_from_slice(&got[r * d..(r + 1) * d]);
                        w.extend_from_slice(&want[r * d..(r + 1) * d]);
                    }
                }
                (g, w)
            }
        };
        let rep = check_close(&got, &want, self.tol);
        println!(
            "{}: {name:<26} max abs err {:.3e} ({} values)",
            self.dir.file_name().unwrap().to_string_lossy(),
            rep.max_abs_err,
            rep.len
        );
        if !rep.passed() {
            failures.push(format!("{name}: {rep}"));
        }
    }
}

fn act(a: model::Activation) -> Activation {
    match a {
        model::Activation::GeluErf => Activation::GeluErf,
        model::Activation::GeluTanh => Activation::GeluTanh,
        model::Activation::QuickGelu => Activation::QuickGelu,
        model::Activation::Relu => Activation::Relu,
    }
}

fn finish(name: &str, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{name}: outputs out of tolerance:\n{}",
        failures.join("\n")
    );
}

#[test]
fn vit_tiny_matches_transformers() {
    let f = fixture("vit_tiny");
    let ModelConfig::Vit(c) = &f.config else {
        panic!("vit_tiny is not a ViT config")
    };
    let p = VitParams {
        hidden: c.hidden_size,
        layers: c.num_hidden_layers,
        heads: c.num_attention_heads,
        intermediate: c.intermediate_size,
        eps: c.layer_norm_eps as f32,
        act: act(c.hidden_act),
        patch: c.patch_size,
        image_size: c.image_size,
        channels: c.num_channels,
        num_labels: c.num_labels(),
        qkv_bias: c.qkv_bias,
    };
    let px = f.input("pixel_values");
    let out = vit::forward(&p, &f.weights, px.as_f32().unwrap(), px.shape[0]).unwrap();
    let mut failures = Vec::new();
    f.compare("last_hidden_state", &out.last_hidden_state, None, &mut failures);
    f.compare("logits", &out.logits, None, &mut failures);
    finish("vit_tiny", failures);
}

fn clip_params(c: &model::ClipConfig) -> ClipParams {
    let (t, v) = (&c.text_config, &c.vision_config);
    ClipParams {
        text: ClipTextParams {
            vocab: t.vocab_size,
            hidden: t.hidden_size,
            layers: t.num_hidden_layers,
            heads: t.num_attention_heads,
            intermediate: t.intermediate_size,
            eps: t.layer_norm_eps as f32,
            act: act(t.hidden_act),
            max_positions: t.max_position_embeddings,
        },
        vision: ClipVisionParams {
            hidden: v.hidden_size,
            layers: v.num_hidden_layers,
            heads: v.num_attention_heads,
            intermediate: v.intermediate_size,
            eps: v.layer_norm_eps as f32,
            act: act(v.hidden_act),
            patch: v.patch_size,
            image_size: v.image_size,
            channels: v.num_channels,
        },
        projection_dim: c.projection_dim,
    }
}

fn run_clip(name: &str) {
    let f = fixture(name);
    let ModelConfig::Clip(c) = &f.config else {
        panic!("{name} is not a CLIP config")
    };
    let p = clip_params(c);
    let px = f.input("pixel_values");
    let ids = f.input("input_ids");
    let mask = f.input("attention_mask").as_i64().unwrap();
    let (n_texts, seq_len) = (ids.shape[0], ids.shape[1]);
    let out = clip::forward(
        &p,
        &f.weights,
        px.as_f32().unwrap(),
        px.shape[0],
        ids.as_i64().unwrap(),
        mask,
        n_texts,
        seq_len,
        c.text_config.eos_token_id,
    )
    .unwrap();
    let keep: Vec<bool> = mask.iter().map(|&m| m != 0).collect();
    let mut failures = Vec::new();
    f.compare("logits_per_image", &out.logits_per_image, None, &mut failures);
    f.compare("logits_per_text", &out.logits_per_text, None, &mut failures);
    f.compare("image_embeds", &out.image_embeds, None, &mut failures);
    f.compare("text_embeds", &out.text_embeds, None, &mut failures);
    f.compare(
        "vision_last_hidden_state",
        &out.vision_last_hidden_state,
        None,
        &mut failures,
    );
    f.compare("vision_pooler_output", &out.vision_pooler_output, None, &mut failures);
    f.compare(
        "text_last_hidden_state",
        &out.text_last_hidden_state,
        Some(&keep),
        &mut failures,
    );
    f.compare("text_pooler_output", &out.text_pooler_output, None, &mut failures);
    finish(name, failures);
}

#[test]
fn clip_tiny_matches_transformers() {
    run_clip("clip_tiny");
}

#[test]
fn clip_tiny_eos_matches_transformers() {
    run_clip("clip_tiny_eos");
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
fn siglip_tiny_matches_transformers() {
    let f = fixture("siglip_tiny");
    let ModelConfig::Siglip(c) = &f.config else {
        panic!("siglip_tiny is not a SigLIP config")
    };
    let (t, v) = (&c.text_config, &c.vision_config);
    assert!(
        v.vision_use_head,
        "the reference implements the attention-pooling head only"
    );
    let p = SiglipParams {
        text: SiglipTextParams {
            vocab: t.vocab_size,
            hidden: t.hidden_size,
            layers: t.num_hidden_layers,
            heads: t.num_attention_heads,
            intermediate: t.intermediate_size,
            eps: t.layer_norm_eps as f32,
            act: act(t.hidden_act),
            max_positions: t.max_position_embeddings,
            projection_size: t.projection_size(),
        },
        vision: SiglipVisionParams {
            hidden: v.hidden_size,
            layers: v.num_hidden_layers,
            heads: v.num_attention_heads,
            intermediate: v.intermediate_size,
            eps: v.layer_norm_eps as f32,
            act: act(v.hidden_act),
            patch: v.patch_size,
            image_size: v.image_size,
            channels: v.num_channels,
        },
    };
    let px = f.input("pixel_values");
    let ids = f.input("input_ids");
    let mask: &[i64] = f
        .inputs
        .get("attention_mask")
        .map(|m| m.as_i64().unwrap())
        .unwrap_or(&[]);
    let out = siglip::forward(
        &p,
        &f.weights,
        px.as_f32().unwrap(),
        px.shape[0],
        ids.as_i64().unwrap(),
        mask,
        ids.shape[0],
        ids.shape[1],
    )
    .unwrap();
    let mut failures = Vec::new();
    f.compare("logits_per_image", &out.logits_per_image, None, &mut failures);
    f.compare("logits_per_text", &out.logits_per_text, None, &mut failures);
    f.compare("image_embeds", &out.image_embeds, None, &mut failures);
    f.compare("text_embeds", &out.text_embeds, None, &mut failures);
    f.compare(
        "vision_last_hidden_state",
        &out.vision_last_hidden_state,
        None,
        &mut failures,
    );
    f.compare("vision_pooler_output", &out.vision_pooler_output, None, &mut failures);
    f.compare("text_pooler_output", &out.text_pooler_output, None, &mut failures);
    finish("siglip_tiny", failures);
}

#[test]
fn missing_and_misshaped_tensors_are_named() {
    let f = fixture("vit_tiny");
    let ModelConfig::Vit(c) = &f.config else { unreachable!() };
    let p = VitParams {
        hidden: c.hidden_size,
        layers: c.num_hidden_layers,
        heads: c.num_attention_heads,
        intermediate: c.intermediate_size,
        eps: c.layer_norm_eps as f32,
        act: act(c.hidden_act),
        patch: c.patch_size,
        image_size: c.image_size,
        channels: c.num_channels,
        num_labels: c.num_labels(),
        qkv_bias: c.qkv_bias,
    };
    let px = f.input("pixel_values");
    let drop_key = |name: &str| -> Option<(Vec<usize>, Vec<f32>)> {
        if name == "vit.encoder.layer.1.output.dense.weight" {
            None
        } else {
            f.weights.get(name)
        }
    };
    let err = vit::forward(&p, &drop_key, px.as_f32().unwrap(), px.shape[0]).unwrap_err();
    assert!(err.contains("vit.encoder.layer.1.output.dense.weight"), "{err}");
    let wrong = VitParams { num_labels: 7, ..p };
    let err = vit::forward(&wrong, &f.weights, px.as_f32().unwrap(), px.shape[0]).unwrap_err();
    assert!(err.contains("classifier.weight") && err.contains("[5, 64]"), "{err}");
}
