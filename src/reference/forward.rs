//! The CPU reference path (`vitfuse forward --reference`): the same forward pass through the plain-loop CPU models of
//! `vitfuse-reference`, fed from the same checkpoint and inputs and returning the same names.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::{Error, Result};
use vitfuse_model::{self as model, HostTensor, ModelConfig, Weights};
use vitfuse_reference::models::ast::{self, AstParams};
use vitfuse_reference::models::clip::{self, ClipParams, ClipTextParams, ClipVisionParams};
use vitfuse_reference::models::deit::{self, DeitParams};
use vitfuse_reference::models::dinov2::{self, Dinov2Params};
use vitfuse_reference::models::siglip::{self, SiglipParams, SiglipTextParams, SiglipVisionParams};
use vitfuse_reference::models::vilt::{self, ViltParams};
use vitfuse_reference::models::vit::{self, VitParams};
use vitfuse_reference::models::WeightSource;
use vitfuse_reference::Activation;

/// A checkpoint as the reference models read it.
pub struct Checkpoint(pub Weights);

impl WeightSource for Checkpoint {
    fn get(&self, name: &str) -> Option<(Vec<usize>, Vec<f32>)> {
        self.0.get_f32_any(name).ok()
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

/// The CPU ViT model's parameters from its config.
pub fn vit_params(c: &model::ViTConfig) -> VitParams {
    VitParams {
        hidden: c.encoder.hidden_size,
        layers: c.encoder.num_hidden_layers,
        heads: c.encoder.num_attention_heads,
        intermediate: c.encoder.intermediate_size,
        eps: c.encoder.layer_norm_eps as f32,
        act: act(c.encoder.hidden_act),
        patch: c.patch_size,
        image_size: c.image_size,
        channels: c.num_channels,
        num_labels: c.num_labels(),
        qkv_bias: c.qkv_bias,
        image_hw: None,
    }
}

/// The CPU CLIP model's parameters from its config.
pub fn clip_params(c: &model::ClipConfig) -> ClipParams {
    let (t, v) = (&c.text_config, &c.vision_config);
    ClipParams {
        text: ClipTextParams {
            vocab: t.vocab_size,
            hidden: t.encoder.hidden_size,
            layers: t.encoder.num_hidden_layers,
            heads: t.encoder.num_attention_heads,
            intermediate: t.encoder.intermediate_size,
            eps: t.encoder.layer_norm_eps as f32,
            act: act(t.encoder.hidden_act),
            max_positions: t.max_position_embeddings,
            bert: t.tower == model::config::TextTower::Bert,
            type_vocab: t.type_vocab_size,
        },
        vision: ClipVisionParams {
            hidden: v.encoder.hidden_size,
            layers: v.encoder.num_hidden_layers,
            heads: v.encoder.num_attention_heads,
            intermediate: v.encoder.intermediate_size,
            eps: v.encoder.layer_norm_eps as f32,
            act: act(v.encoder.hidden_act),
            patch: v.patch_size,
            image_size: v.image_size,
            channels: v.num_channels,
            image_hw: None,
        },
        projection_dim: c.projection_dim,
    }
}

/// The CPU SigLIP model's parameters from its config.
pub fn siglip_params(c: &model::SiglipConfig) -> SiglipParams {
    let (t, v) = (&c.text_config, &c.vision_config);
    SiglipParams {
        text: SiglipTextParams {
            vocab: t.vocab_size,
            hidden: t.encoder.hidden_size,
            layers: t.encoder.num_hidden_layers,
            heads: t.encoder.num_attention_heads,
            intermediate: t.encoder.intermediate_size,
            eps: t.encoder.layer_norm_eps as f32,
            act: act(t.encoder.hidden_act),
            max_positions: t.max_position_embeddings,
            projection_size: t.projection_size(),
        },
        vision: SiglipVisionParams {
            hidden: v.encoder.hidden_size,
            layers: v.encoder.num_hidden_layers,
            heads: v.encoder.num_attention_heads,
            intermediate: v.encoder.intermediate_size,
            eps: v.encoder.layer_norm_eps as f32,
            act: act(v.encoder.hidden_act),
            patch: v.patch_size,
            image_size: v.image_size,
            channels: v.num_channels,
            image_hw: None,
            naflex_grid: v.num_patches.map(|_| v.position_grid()),
        },
    }
}

/// `ViltConfig` → the CPU model's parameters (`ViltModel`: image tokens have modality type 1).
pub fn vilt_params(c: &model::ViltConfig) -> ViltParams {
    ViltParams {
        hidden: c.encoder.hidden_size,
        layers: c.encoder.num_hidden_layers,
        heads: c.encoder.num_attention_heads,
        intermediate: c.encoder.intermediate_size,
        eps: c.encoder.layer_norm_eps as f32,
        act: act(c.encoder.hidden_act),
        patch: c.patch_size,
        image_size: c.image_size,
        channels: c.num_channels,
        vocab: c.vocab_size,
        max_positions: c.max_position_embeddings,
        type_vocab: c.type_vocab_size,
        modality_type_vocab: c.modality_type_vocab_size,
        max_image_length: (c.max_image_length >= 0).then_some(c.max_image_length as usize),
        image_token_type: 1,
        qkv_bias: c.qkv_bias,
    }
}

/// `ASTConfig` → the CPU model's parameters.
pub fn ast_params(c: &model::AstConfig) -> AstParams {
    AstParams {
        hidden: c.encoder.hidden_size,
        layers: c.encoder.num_hidden_layers,
        heads: c.encoder.num_attention_heads,
        intermediate: c.encoder.intermediate_size,
        eps: c.encoder.layer_norm_eps as f32,
        act: act(c.encoder.hidden_act),
        patch: c.patch_size,
        frequency_stride: c.frequency_stride,
        time_stride: c.time_stride,
        max_length: c.max_length,
        num_mel_bins: c.num_mel_bins,
        num_labels: c.num_labels(),
        qkv_bias: c.qkv_bias,
    }
}

/// The CPU DeiT model's parameters from its config.
pub fn deit_params(c: &model::DeitConfig) -> DeitParams {
    DeitParams {
        hidden: c.encoder.hidden_size,
        layers: c.encoder.num_hidden_layers,
        heads: c.encoder.num_attention_heads,
        intermediate: c.encoder.intermediate_size,
        eps: c.encoder.layer_norm_eps as f32,
        act: act(c.encoder.hidden_act),
        patch: c.patch_size,
        image_size: c.image_size,
        channels: c.num_channels,
        num_labels: c.num_labels(),
        qkv_bias: c.qkv_bias,
        image_hw: None,
    }
}

/// The CPU DINOv2 model's parameters from its config (with or without registers).
pub fn dinov2_params(c: &model::Dinov2Config) -> Dinov2Params {
    Dinov2Params {
        hidden: c.encoder.hidden_size,
        layers: c.encoder.num_hidden_layers,
        heads: c.encoder.num_attention_heads,
        intermediate: c.encoder.intermediate_size,
        eps: c.encoder.layer_norm_eps as f32,
        act: act(c.encoder.hidden_act),
        swiglu: c.use_swiglu_ffn,
        patch: c.patch_size,
        image_size: c.image_size,
        channels: c.num_channels,
        registers: c.num_register_tokens,
        antialias: c.with_registers,
        qkv_bias: c.qkv_bias,
    }
}

/// The AST on the CPU: features from `waveform_<i>` through the checkpoint's extractor (also an
/// output) when given, the model on `input_values` (or on those features).
fn ast_forward(
    dir: &Path,
    c: &model::AstConfig,
    w: &Checkpoint,
    inputs: &HashMap<String, HostTensor>,
) -> Result<BTreeMap<String, HostTensor>> {
    let pc = dir.join("preprocessor_config.json");
    let fx = if pc.is_file() { Some(model::audio::AstFeatureExtractor::from_file(&pc)?) } else { None };
    let (values, shape, features) = model::pipeline::audio_inputs(fx.as_ref(), inputs)?;
    if shape.len() != 3 {
        return Err(Error::InvalidInput(format!("input_values must be (B, T, F), got {shape:?}")));
    }
    let mut p = ast_params(c);
    // an ASTModel saved alone has no classifier head, whatever its config's labels say
    if w.get("classifier.dense.weight").is_none() {
        p.num_labels = 0;
    }
    let b = shape[0];
    let o = ast::forward(&p, w, &values, b).map_err(Error::InvalidInput)?;
    let mut m = BTreeMap::new();
    out(&mut m, "last_hidden_state", vec![b, o.tokens, p.hidden], o.last_hidden_state)?;
    out(&mut m, "pooler_output", vec![b, p.hidden], o.pooler_output)?;
    if p.num_labels > 0 {
        out(&mut m, "logits", vec![b, p.num_labels], o.logits)?;
    }
    if let Some((v, s)) = features {
        out(&mut m, "input_values", s, v)?;
    }
    Ok(m)
}

/// SigLIP 2 on the CPU: NaFlex patches (`pixel_values` (B, N, C·P·P), `pixel_attention_mask`,
/// `spatial_shapes`) and `input_ids`.
fn siglip2_forward(c: &model::SiglipConfig, w: &Checkpoint, inputs: &HashMap<String, HostTensor>) -> Result<BTreeMap<String, HostTensor>> {
    let (px, shape, mask, shapes) = model::pipeline::naflex_host_inputs(inputs)?;
    let (b, n) = (shape[0], shape[1]);
    let (ids, s) = ids(inputs, "input_ids")?.ok_or_else(|| Error::InvalidInput("the inputs have no `input_ids`".to_string()))?;
    if s.len() != 2 {
        return Err(Error::InvalidInput(format!("input_ids must be (B, T), got {s:?}")));
    }
    let (nt, t) = (s[0], s[1]);
    let text_mask = match ids_mask(inputs)? {
        Some((mk, ms)) if ms == [nt, t] => mk,
        Some((_, ms)) => return Err(Error::InvalidInput(format!("attention_mask has shape {ms:?} but input_ids has [{nt}, {t}]"))),
        None => Vec::new(),
    };
    let p = siglip_params(c);
    let nf = siglip::Naflex { pixel_values: px, mask: &mask, shapes: &shapes, patches: n };
    let o = siglip::forward_naflex(&p, w, &nf, b, &ids, &text_mask, nt, t).map_err(Error::InvalidInput)?;
    let (vd, td) = (p.vision.hidden, p.text.projection_size);
    let mut m = BTreeMap::new();
    out(&mut m, "logits_per_image", vec![b, nt], o.logits_per_image)?;
    out(&mut m, "logits_per_text", vec![nt, b], o.logits_per_text)?;
    out(&mut m, "image_embeds", vec![b, vd], o.image_embeds)?;
    out(&mut m, "text_embeds", vec![nt, td], o.text_embeds)?;
    out(&mut m, "vision_last_hidden_state", vec![b, n, vd], o.vision_last_hidden_state)?;
    out(&mut m, "vision_pooler_output", vec![b, vd], o.vision_pooler_output)?;
    out(&mut m, "text_last_hidden_state", vec![nt, t, p.text.hidden], o.text_last_hidden_state)?;
    out(&mut m, "text_pooler_output", vec![nt, td], o.text_pooler_output)?;
    Ok(m)
}

fn input<'a>(inputs: &'a HashMap<String, HostTensor>, name: &str) -> Result<&'a HostTensor> {
    inputs.get(name).ok_or_else(|| Error::InvalidInput(format!("the inputs have no `{name}`")))
}

/// `pixel_values` checked as for the GPU (no dimension 0, which ViLT's default mask needs).
fn pixels(inputs: &HashMap<String, HostTensor>) -> Result<(&[f32], usize)> {
    let (shape, v) = model::pipeline::pixel_values(inputs)?;
    Ok((v, shape[0]))
}

fn ids(inputs: &HashMap<String, HostTensor>, name: &str) -> Result<Option<(Vec<i64>, Vec<usize>)>> {
    match inputs.get(name) {
        None => Ok(None),
        Some(_) => Ok(Some(model::pipeline::int_input(inputs, name)?)),
    }
}

fn out(m: &mut BTreeMap<String, HostTensor>, name: &str, shape: Vec<usize>, v: Vec<f32>) -> Result<()> {
    m.insert(name.to_string(), HostTensor::f32(shape, v)?);
    Ok(())
}

/// Runs the CPU reference model in `dir` on `inputs`, returning transformers' output names.
pub fn forward(dir: &Path, inputs: &HashMap<String, HostTensor>) -> Result<BTreeMap<String, HostTensor>> {
    forward_with(dir, inputs, &model::ForwardOptions::default())
}

/// [`forward`] with transformers' forward flags (`interpolate_pos_encoding`).
pub fn forward_with(
    dir: &Path,
    inputs: &HashMap<String, HostTensor>,
    opts: &model::ForwardOptions,
) -> Result<BTreeMap<String, HostTensor>> {
    let config = ModelConfig::from_file(dir)?;
    let w = Checkpoint(Weights::open(dir)?);
    if let ModelConfig::Ast(c) = &config {
        return ast_forward(dir, c, &w, inputs);
    }
    if let ModelConfig::Siglip(c) = &config {
        if c.is_naflex() {
            return siglip2_forward(c, &w, inputs);
        }
    }
    let mut m = BTreeMap::new();
    let (px, b) = pixels(inputs)?;
    let shape = &input(inputs, "pixel_values")?.shape;
    let image_hw = opts.interpolate_pos_encoding.then_some((shape[2], shape[3]));
    let text = |need_mask: bool| -> Result<(Vec<i64>, Vec<i64>, usize, usize)> {
        let (ids, s) = ids(inputs, "input_ids")?.ok_or_else(|| Error::InvalidInput("the inputs have no `input_ids`".to_string()))?;
        if s.len() != 2 {
        return Err(Error::InvalidInput(format!("input_ids must be (B, T), got {s:?}")));
    }
        let mask = match ids_mask(inputs)? {
            Some((mk, ms)) => {
                if ms != s {
        return Err(Error::InvalidInput(format!("attention_mask has shape {ms:?} but input_ids has {s:?}")));
    }
                mk
            }
            None if need_mask => vec![1; ids.len()],
            None => Vec::new(),
        };
        Ok((ids, mask, s[0], s[1]))
    };
    match &config {
        ModelConfig::Vit(c) => {
            let p = VitParams { image_hw, ..vit_params(c) };
            let o = vit::forward(&p, &w, px, b).map_err(Error::InvalidInput)?;
            let t = o.tokens;
            out(&mut m, "last_hidden_state", vec![b, t, p.hidden], o.last_hidden_state)?;
            if p.num_labels > 0 {
                out(&mut m, "logits", vec![b, p.num_labels], o.logits)?;
            }
        }
        ModelConfig::Clip(c) => {
            let mut p = clip_params(c);
            p.vision.image_hw = image_hw;
            let (ids, mask, nt, t) = text(true)?;
            let types = match self::ids(inputs, "token_type_ids")? {
                Some((v, s)) if s == [nt, t] => v,
                Some((_, s)) => return Err(Error::InvalidInput(format!("token_type_ids has shape {s:?} but input_ids has [{nt}, {t}]"))),
                None => Vec::new(),
            };
            let o = clip::forward(&p, &w, px, b, &ids, &mask, &types, nt, t, c.text_config.eos_token_id).map_err(Error::InvalidInput)?;
            let (pd, vt) = (p.projection_dim, o.vision_last_hidden_state.len() / (b * p.vision.hidden));
            out(&mut m, "logits_per_image", vec![b, nt], o.logits_per_image)?;
            out(&mut m, "logits_per_text", vec![nt, b], o.logits_per_text)?;
            out(&mut m, "image_embeds", vec![b, pd], o.image_embeds)?;
            out(&mut m, "text_embeds", vec![nt, pd], o.text_embeds)?;
            out(&mut m, "vision_last_hidden_state", vec![b, vt, p.vision.hidden], o.vision_last_hidden_state)?;
            out(&mut m, "vision_pooler_output", vec![b, pd], o.vision_pooler_output)?;
            out(&mut m, "text_last_hidden_state", vec![nt, t, p.text.hidden], o.text_last_hidden_state)?;
            out(&mut m, "text_pooler_output", vec![nt, pd], o.text_pooler_output)?;
        }
        ModelConfig::Siglip(c) => {
            let mut p = siglip_params(c);
            p.vision.image_hw = image_hw;
            let (ids, mask, nt, t) = text(false)?;
            let o = siglip::forward(&p, &w, px, b, &ids, &mask, nt, t).map_err(Error::InvalidInput)?;
            let (vd, td) = (p.vision.hidden, p.text.projection_size);
            let vt = o.vision_last_hidden_state.len() / (b * vd);
            out(&mut m, "logits_per_image", vec![b, nt], o.logits_per_image)?;
            out(&mut m, "logits_per_text", vec![nt, b], o.logits_per_text)?;
            out(&mut m, "image_embeds", vec![b, o.image_embeds.len() / b], o.image_embeds)?;
            out(&mut m, "text_embeds", vec![nt, td], o.text_embeds)?;
            out(&mut m, "vision_last_hidden_state", vec![b, vt, vd], o.vision_last_hidden_state)?;
            out(&mut m, "vision_pooler_output", vec![b, o.vision_pooler_output.len() / b], o.vision_pooler_output)?;
            out(&mut m, "text_pooler_output", vec![nt, td], o.text_pooler_output)?;
        }
        ModelConfig::Vilt(c) => {
            let p = vilt_params(c);
            let (ids, mask, n, t) = text(true)?;
            let types = match self::ids(inputs, "token_type_ids")? {
                Some((v, s)) => {
                    if s != [n, t] {
        return Err(Error::InvalidInput(format!("token_type_ids has shape {s:?} but input_ids has [{n}, {t}]")));
    }
                    v
                }
                None => vec![0; n * t],
            };
            let shape = &input(inputs, "pixel_values")?.shape;
            let (ch, h, wd) = (shape[1], shape[2], shape[3]);
            let pmask = match self::ids(inputs, "pixel_mask")? {
                Some((v, s)) => {
                    if s != [b, h, wd] {
        return Err(Error::InvalidInput(format!("pixel_mask has shape {s:?}; pixel_values is {shape:?}")));
    }
                    v
                }
                None => vec![1; b * h * wd],
            };
            let o = vilt::forward(&p, &w, &ids, &mask, &types, n, t, px, &pmask, ch, h, wd).map_err(Error::InvalidInput)?;
            let (tt, d) = (o.tokens, p.hidden);
            if !o.logits.is_empty() {
                out(&mut m, "logits", vec![n, 1], o.logits)?;
            }
            out(&mut m, "last_hidden_state", vec![n, tt, d], o.last_hidden_state)?;
            out(&mut m, "pooler_output", vec![n, d], o.pooler_output)?;
            out(&mut m, "token_mask", vec![n, tt], o.token_mask)?;
            out(&mut m, "fused_embeddings", vec![n, tt, d], o.fused_embeddings)?;
        }
        ModelConfig::Deit(c) => {
            let mut p = DeitParams { image_hw, ..deit_params(c) };
            // a DeiTModel saved alone has no head, whatever its config's labels say
            if w.get("cls_classifier.weight").is_none() && w.get("classifier.weight").is_none() {
                p.num_labels = 0;
            }
            let o = deit::forward(&p, &w, px, b).map_err(Error::InvalidInput)?;
            let n = p.num_labels;
            out(&mut m, "last_hidden_state", vec![b, o.tokens, p.hidden], o.last_hidden_state)?;
            for (name, v) in [("logits", o.logits), ("cls_logits", o.cls_logits), ("distillation_logits", o.distillation_logits)] {
                if !v.is_empty() {
                    out(&mut m, name, vec![b, n], v)?;
                }
            }
        }
        ModelConfig::Dinov2(c) => {
            let p = dinov2_params(c);
            let o = dinov2::forward(&p, &w, px, b, (shape[2], shape[3])).map_err(Error::InvalidInput)?;
            out(&mut m, "last_hidden_state", vec![b, o.tokens, p.hidden], o.last_hidden_state)?;
            out(&mut m, "pooler_output", vec![b, p.hidden], o.pooler_output)?;
        }
        other => return Err(Error::InvalidInput(format!("the CPU reference has no {} model yet", other.family()))),
    }
    Ok(m)
}

fn ids_mask(inputs: &HashMap<String, HostTensor>) -> Result<Option<(Vec<i64>, Vec<usize>)>> {
    ids(inputs, "attention_mask")
}
