//! Parsing of every fixture `config.json` and config error cases.

use std::path::PathBuf;

use vitfuse_model::{Activation, EncoderConfig, Family, ModelConfig, ModelError};

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");

fn load(name: &str) -> ModelConfig {
    ModelConfig::from_file(format!("{FIX}/{name}/config.json")).unwrap()
}

fn tmp(name: &str, content: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("config_tests");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[test]
fn vit_tiny() {
    let ModelConfig::Vit(c) = load("vit_tiny") else {
        panic!("not ViT")
    };
    assert_eq!(c.architectures, vec!["ViTForImageClassification"]);
    assert_eq!(
        (
            c.encoder.hidden_size,
            c.encoder.num_hidden_layers,
            c.encoder.num_attention_heads
        ),
        (64, 2, 4)
    );
    assert_eq!(c.encoder.intermediate_size, 128);
    assert_eq!(c.encoder.hidden_act, Activation::GeluErf);
    assert_eq!(c.encoder.layer_norm_eps, 1e-12);
    assert_eq!((c.image_size, c.patch_size, c.num_channels), (32, 8, 3));
    assert!(c.qkv_bias);
    assert_eq!(c.num_labels(), 5);
    assert_eq!(c.id2label[&4], "class_4");
    assert_eq!(c.grid_size(), 4);
    assert_eq!(c.head_dim(), 16);
}

#[test]
fn clip_tiny() {
    let cfg = load("clip_tiny");
    assert_eq!(cfg.architecture(), Some("CLIPModel"));
    assert_eq!(cfg.family(), Family::Clip);
    let ModelConfig::Clip(c) = cfg else {
        panic!("not CLIP")
    };
    assert_eq!(c.projection_dim, 32);
    assert!((c.logit_scale_init_value - 2.6592).abs() < 1e-12);
    let t = &c.text_config;
    assert_eq!(
        (
            t.vocab_size,
            t.encoder.hidden_size,
            t.encoder.intermediate_size
        ),
        (1000, 48, 192)
    );
    assert_eq!(
        (
            t.encoder.num_hidden_layers,
            t.encoder.num_attention_heads,
            t.max_position_embeddings
        ),
        (2, 4, 16)
    );
    assert_eq!(t.encoder.hidden_act, Activation::QuickGelu);
    assert_eq!(
        (t.eos_token_id, t.pad_token_id, t.bos_token_id),
        (2, 1, 998)
    );
    assert!(t.legacy_eos_pooling());
    let v = &c.vision_config;
    assert_eq!(
        (
            v.encoder.hidden_size,
            v.image_size,
            v.patch_size,
            v.num_channels
        ),
        (64, 32, 8, 3)
    );
    assert_eq!(v.encoder.layer_norm_eps, 1e-5);
    assert_eq!(v.grid_size(), 4);
}

#[test]
fn clip_tiny_eos() {
    let ModelConfig::Clip(c) = load("clip_tiny_eos") else {
        panic!("not CLIP")
    };
    assert_eq!(c.text_config.eos_token_id, 499);
    assert!(!c.text_config.legacy_eos_pooling());
    assert_eq!(c.projection_dim, 16);
    assert_eq!(c.vision_config.image_size, 24);
}

#[test]
fn siglip_tiny() {
    let ModelConfig::Siglip(c) = load("siglip_tiny") else {
        panic!("not SigLIP")
    };
    assert_eq!(c.text_config.encoder.hidden_act, Activation::GeluTanh);
    assert_eq!(c.text_config.projection_size(), 64);
    assert_eq!(c.text_config.max_position_embeddings, 8);
    assert_eq!(c.text_config.encoder.layer_norm_eps, 1e-6);
    assert!(c.vision_config.vision_use_head);
    assert_eq!(c.vision_config.grid_size(), 4);
}

#[test]
fn vilt_tiny() {
    let ModelConfig::Vilt(c) = load("vilt_tiny") else {
        panic!("not ViLT")
    };
    assert_eq!(
        (c.vocab_size, c.type_vocab_size, c.modality_type_vocab_size),
        (500, 2, 2)
    );
    assert_eq!(
        (c.image_size, c.patch_size, c.max_position_embeddings),
        (64, 16, 8)
    );
    assert_eq!(c.pad_token_id, None);
    assert_eq!(c.max_image_length, -1);
    assert_eq!(c.grid_size(), 4);
}

#[test]
fn ast_tiny() {
    let ModelConfig::Ast(c) = load("ast_tiny") else {
        panic!("not AST")
    };
    assert_eq!((c.num_mel_bins, c.max_length, c.patch_size), (32, 100, 16));
    assert_eq!((c.frequency_stride, c.time_stride), (10, 10));
    assert_eq!(c.num_labels(), 6);
    assert_eq!(c.patch_grid(), (2, 9));
}

#[test]
fn defaults_and_model_type_fallback() {
    let p = tmp("min_vit.json", r#"{"model_type": "vit"}"#);
    let ModelConfig::Vit(c) = ModelConfig::from_file(&p).unwrap() else {
        panic!()
    };
    assert_eq!(
        (
            c.encoder.hidden_size,
            c.encoder.num_hidden_layers,
            c.patch_size,
            c.image_size
        ),
        (768, 12, 16, 224)
    );
    assert_eq!(c.num_labels(), 2);
    let p = tmp(
        "min_clip.json",
        r#"{"architectures": ["CLIPModel"], "text_config": {}}"#,
    );
    let ModelConfig::Clip(c) = ModelConfig::from_file(&p).unwrap() else {
        panic!()
    };
    assert_eq!(c.text_config.vocab_size, 49408);
    assert_eq!(c.text_config.eos_token_id, 49407);
    assert_eq!(c.vision_config.patch_size, 32);
    assert_eq!(c.projection_dim, 512);
}

#[test]
fn activations() {
    for (s, a) in [
        ("gelu", Activation::GeluErf),
        ("gelu_new", Activation::GeluTanh),
        ("gelu_pytorch_tanh", Activation::GeluTanh),
        ("quick_gelu", Activation::QuickGelu),
        ("relu", Activation::Relu),
    ] {
        assert_eq!(Activation::parse(s).unwrap(), a);
    }
    let p = tmp(
        "bad_act.json",
        r#"{"architectures": ["ViTModel"], "hidden_act": "swish"}"#,
    );
    let err = ModelConfig::from_file(&p).unwrap_err();
    assert!(
        matches!(&err, ModelError::Unsupported { what: "hidden_act", value } if value == "swish"),
        "{err}"
    );
    assert!(err.to_string().contains("hidden_act") && err.to_string().contains("swish"));
    let p = tmp(
        "bad_act_nested.json",
        r#"{"architectures": ["CLIPModel"], "vision_config": {"hidden_act": "silu"}}"#,
    );
    let err = ModelConfig::from_file(&p).unwrap_err();
    assert!(err.to_string().contains("silu"), "{err}");
}

#[test]
fn missing_file() {
    let err = ModelConfig::from_file(format!("{FIX}/does_not_exist/config.json")).unwrap_err();
    assert!(matches!(err, ModelError::Io { .. }), "{err}");
    assert!(
        err.to_string().contains("does_not_exist/config.json"),
        "{err}"
    );
}

#[test]
fn broken_json() {
    let p = tmp(
        "broken.json",
        "{\"architectures\": [\"ViTModel\"], \"hidden_size\": ",
    );
    let err = ModelConfig::from_file(&p).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ModelError::Json { .. }), "{msg}");
    assert!(msg.contains("broken.json") && msg.contains("EOF"), "{msg}");
    let p = tmp(
        "wrong_type.json",
        r#"{"architectures": ["ViTModel"], "hidden_size": "big"}"#,
    );
    let msg = ModelConfig::from_file(&p).unwrap_err().to_string();
    assert!(
        msg.contains("wrong_type.json") && msg.contains("invalid type"),
        "{msg}"
    );
}

#[test]
fn unknown_architecture() {
    let p = tmp(
        "llama.json",
        r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}"#,
    );
    let err = ModelConfig::from_file(&p).unwrap_err();
    assert!(
        matches!(err, ModelError::UnknownArchitecture { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("LlamaForCausalLM") && msg.contains("llama.json"),
        "{msg}"
    );
    // The list of supported families comes from the family table.
    assert!(
        msg.contains("(supported: ViT, CLIP, SigLIP, ViLT, AST, DeiT, DINOv2, Chinese-CLIP, SigLIP 2)"),
        "{msg}"
    );
    assert!(Family::all().all(|f| msg.contains(f.name())), "{msg}");
    let p = tmp("nothing.json", "{}");
    let msg = ModelConfig::from_file(&p).unwrap_err().to_string();
    assert!(msg.contains("unknown model architecture"), "{msg}");
}

/// Parses `json` (written to a scratch file named `name`).
fn parse(name: &str, json: &str) -> vitfuse_model::Result<ModelConfig> {
    ModelConfig::from_file(tmp(name, json))
}

#[test]
fn encoder_defaults_per_family() {
    use Activation::{GeluErf, GeluTanh, QuickGelu};
    let enc = |h, l, n, m, act, eps| EncoderConfig {
        hidden_size: h,
        num_hidden_layers: l,
        num_attention_heads: n,
        intermediate_size: m,
        hidden_act: act,
        layer_norm_eps: eps,
    };
    let bert = enc(768, 12, 12, 3072, GeluErf, 1e-12);
    let ModelConfig::Vit(c) = parse("d_vit.json", r#"{"model_type": "vit"}"#).unwrap() else {
        panic!()
    };
    assert_eq!(c.encoder, bert);
    let ModelConfig::Vilt(c) = parse("d_vilt.json", r#"{"model_type": "vilt"}"#).unwrap() else {
        panic!()
    };
    assert_eq!(c.encoder, bert);
    let ModelConfig::Ast(c) = parse(
        "d_ast.json",
        r#"{"model_type": "audio-spectrogram-transformer"}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(c.encoder, bert);
    let ModelConfig::Clip(c) = parse("d_clip.json", r#"{"architectures": ["CLIPModel"]}"#).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        c.text_config.encoder,
        enc(512, 12, 8, 2048, QuickGelu, 1e-5)
    );
    assert_eq!(
        c.vision_config.encoder,
        enc(768, 12, 12, 3072, QuickGelu, 1e-5)
    );
    let ModelConfig::Siglip(c) = parse(
        "d_siglip.json",
        r#"{"architectures": ["SiglipModel"], "text_config": {}, "vision_config": {}}"#,
    )
    .unwrap() else {
        panic!()
    };
    let siglip = enc(768, 12, 12, 3072, GeluTanh, 1e-6);
    assert_eq!(
        (c.text_config.encoder, c.vision_config.encoder),
        (siglip, siglip)
    );
    assert_eq!(c.text_config.projection_size(), 768);

    // Keys given override their default only; each tower reads its own object.
    let ModelConfig::Vit(c) = parse(
        "d_vit_ti.json",
        r#"{"model_type": "vit", "hidden_size": 192, "num_attention_heads": 3}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(c.encoder, enc(192, 12, 3, 3072, GeluErf, 1e-12));
    assert_eq!(c.head_dim(), 64);
    let ModelConfig::Clip(c) = parse(
        "d_clip_v.json",
        r#"{"architectures": ["CLIPModel"], "hidden_size": 64, "vision_config": {"num_hidden_layers": 2, "hidden_act": "gelu"}}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(
        c.vision_config.encoder,
        enc(768, 2, 12, 3072, GeluErf, 1e-5)
    );
    assert_eq!(
        c.text_config.encoder,
        enc(512, 12, 8, 2048, QuickGelu, 1e-5)
    );
}

#[test]
fn invalid_encoder_values() {
    let check = |name: &str, json: &str, field: &str, says: &str| {
        let err = parse(name, json).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(&err, ModelError::InvalidConfig { field: f, .. } if f == field),
            "{name}: {msg}"
        );
        assert!(msg.contains(name) && msg.contains(says), "{name}: {msg}");
    };
    check(
        "eps_negative.json",
        r#"{"architectures": ["ViTModel"], "layer_norm_eps": -1}"#,
        "layer_norm_eps",
        "finite and greater than 0, got -1",
    );
    check(
        "eps_zero.json",
        r#"{"model_type": "vilt", "layer_norm_eps": 0.0}"#,
        "layer_norm_eps",
        "greater than 0",
    );
    check(
        "heads_indivisible.json",
        r#"{"architectures": ["CLIPModel"], "vision_config": {"hidden_size": 100, "num_attention_heads": 3}}"#,
        "vision_config.num_attention_heads",
        "(3) must divide hidden_size (100)",
    );
    check(
        "heads_zero.json",
        r#"{"architectures": ["ASTModel"], "num_attention_heads": 0}"#,
        "num_attention_heads",
        "greater than 0",
    );
    check(
        "no_layers.json",
        r#"{"architectures": ["SiglipModel"], "text_config": {"num_hidden_layers": 0}}"#,
        "text_config.num_hidden_layers",
        "greater than 0",
    );
    check(
        "no_mlp.json",
        r#"{"architectures": ["ViTModel"], "intermediate_size": 0}"#,
        "intermediate_size",
        "greater than 0",
    );
    // A value of the wrong type names its sub-config too.
    let msg = parse(
        "sub_type.json",
        r#"{"architectures": ["SiglipModel"], "vision_config": {"hidden_size": -4}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("sub_type.json") && msg.contains("`vision_config.hidden_size`"),
        "{msg}"
    );
    let err = parse(
        "sub_not_object.json",
        r#"{"architectures": ["CLIPModel"], "text_config": 3}"#,
    )
    .unwrap_err();
    assert!(
        matches!(err, ModelError::Json { .. }) && err.to_string().contains("text_config"),
        "{err}"
    );
}

#[test]
fn family_of_every_fixture() {
    for (dir, family) in [
        ("vit_tiny", Family::Vit),
        ("clip_tiny", Family::Clip),
        ("clip_tiny_eos", Family::Clip),
        ("siglip_tiny", Family::Siglip),
        ("vilt_tiny", Family::Vilt),
        ("ast_tiny", Family::Ast),
        ("deit_tiny", Family::Deit),
        ("dinov2_tiny", Family::Dinov2),
        ("dinov2_reg_tiny", Family::Dinov2),
    ] {
        assert_eq!(load(dir).family(), family, "{dir}");
    }
    // An unknown architecture falls back to a known model_type.
    let c = parse(
        "vit_mae.json",
        r#"{"architectures": ["Mystery3Model"], "model_type": "vit"}"#,
    )
    .unwrap();
    assert_eq!(
        (c.family(), c.architecture()),
        (Family::Vit, Some("Mystery3Model"))
    );
}

#[test]
fn deit_tiny() {
    let ModelConfig::Deit(c) = load("deit_tiny") else { panic!("not DeiT") };
    assert_eq!(c.architectures, vec!["DeiTForImageClassificationWithTeacher"]);
    assert_eq!((c.encoder.hidden_size, c.encoder.intermediate_size, c.encoder.layer_norm_eps), (64, 256, 1e-12));
    assert_eq!((c.image_size, c.patch_size, c.grid_size(), c.num_labels()), (32, 8, 4, 5));
    assert_eq!(c.id2label[&4], "class_4");
}

#[test]
fn dinov2_configs() {
    // The MLP width comes from mlp_ratio: int(64 · 4) = 256, and for SwiGLU
    // (int(256 · 2/3) + 7) // 8 · 8 = 176 (the checkpoint's weights_out is (64, 176)).
    let ModelConfig::Dinov2(c) = load("dinov2_tiny") else { panic!("not DINOv2") };
    assert_eq!((c.encoder.intermediate_size, c.use_swiglu_ffn, c.num_register_tokens, c.with_registers), (256, false, 0, false));
    assert_eq!((c.encoder.layer_norm_eps, c.layerscale_value, c.image_size, c.patch_size, c.grid_size()), (1e-6, 1.0, 32, 8, 4));
    let ModelConfig::Dinov2(r) = load("dinov2_reg_tiny") else { panic!("not DINOv2") };
    assert_eq!((r.encoder.intermediate_size, r.use_swiglu_ffn, r.num_register_tokens, r.with_registers), (176, true, 4, true));
    assert_eq!(vitfuse_model::config::dinov2::swiglu_width(4 * 1536), 4096, "ViT-g/14's SwiGLU width");
    // Defaults of each class; the model_type alone selects the register model.
    let ModelConfig::Dinov2(d) = parse("dinov2_defaults.json", r#"{"model_type": "dinov2"}"#).unwrap() else { panic!() };
    assert_eq!((d.encoder.hidden_size, d.encoder.intermediate_size, d.patch_size, d.num_register_tokens, d.with_registers), (768, 3072, 14, 0, false));
    let ModelConfig::Dinov2(d) = parse("dinov2_reg_defaults.json", r#"{"model_type": "dinov2_with_registers"}"#).unwrap() else { panic!() };
    assert_eq!((d.num_register_tokens, d.with_registers, d.patch_size), (4, true, 16));
    // A ratio that gives no MLP, and too many registers, are errors naming the key.
    for (json, key) in [
        (r#"{"architectures": ["Dinov2Model"], "mlp_ratio": 0}"#, "mlp_ratio"),
        (r#"{"architectures": ["Dinov2Model"], "mlp_ratio": -1.5}"#, "mlp_ratio"),
        (r#"{"architectures": ["Dinov2WithRegistersModel"], "num_register_tokens": 100000}"#, "num_register_tokens"),
    ] {
        let e = parse("dinov2_bad.json", json).unwrap_err().to_string();
        assert!(e.contains(key), "{json}: {e}");
    }
}
