//! `DeiTForImageClassificationWithTeacher` (transformers `modeling_deit.py`): conv patch
//! embedding, CLS and distillation tokens, learned positions, the ViT encoder, final LayerNorm;
//! `cls_classifier` on token 0, `distillation_classifier` on token 1, logits their mean.
//! `DeiTForImageClassification` (`classifier` on token 0) and `DeiTModel` (no head) too.

use super::{grid_positions, image_grid, load_layers, tensor, LayerDims, LayerStyle, Linear, Norm, WeightSource};
use crate::kernels::Activation;
use crate::patch::patch_embed;

/// The `DeiTConfig` values the forward pass needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeitParams {
    /// Hidden size D (`hidden_size`).
    pub hidden: usize,
    /// Encoder layers (`num_hidden_layers`).
    pub layers: usize,
    /// Attention heads per layer (`num_attention_heads`).
    pub heads: usize,
    /// MLP width (`intermediate_size`).
    pub intermediate: usize,
    /// LayerNorm epsilon (`layer_norm_eps`).
    pub eps: f32,
    /// MLP activation (`hidden_act`).
    pub act: Activation,
    /// Square patch side P (`patch_size`).
    pub patch: usize,
    /// Side S of the square images the position grid is for (`image_size`).
    pub image_size: usize,
    /// Image channels C (`num_channels`).
    pub channels: usize,
    /// Head width (`num_labels`); 0 for a checkpoint without a head.
    pub num_labels: usize,
    /// Whether query/key/value have biases (`qkv_bias`).
    pub qkv_bias: bool,
    /// `Some((H, W))`: images of that size with the positions interpolated to their grid
    /// (`interpolate_pos_encoding=True`); `None`: `image_size` squares.
    pub image_hw: Option<(usize, usize)>,
}

/// What [`forward`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct DeitOutputs {
    /// (B, 2 + patches, hidden), after the final LayerNorm.
    pub last_hidden_state: Vec<f32>,
    /// (B, num_labels): the mean of the two heads (with teacher), `classifier` (without);
    /// empty without a head.
    pub logits: Vec<f32>,
    /// (B, num_labels): `cls_classifier` on token 0; empty unless the checkpoint has the teacher heads.
    pub cls_logits: Vec<f32>,
    /// (B, num_labels): `distillation_classifier` on token 1; empty unless the checkpoint has the teacher heads.
    pub distillation_logits: Vec<f32>,
    /// (B, hidden): (token 0 + token 1) / 2 after the final LayerNorm.
    pub features: Vec<f32>,
    /// Tokens per image (2 + patches).
    pub tokens: usize,
}

/// Runs the model on `batch` images. The model is read under `deit.` (the `DeiTFor…`
/// checkpoints) or at the root (a `DeiTModel` saved alone); the heads are the checkpoint's.
pub fn forward(p: &DeitParams, w: &dyn WeightSource, pixel_values: &[f32], batch: usize) -> Result<DeitOutputs, String> {
    let d = p.hidden;
    let (h, wd, gh, gw) = image_grid(pixel_values, batch, p.channels, p.image_size, p.patch, p.image_hw)?;
    let nested = w.get("deit.embeddings.cls_token").is_some();
    let at = |name: &str| if nested { format!("deit.{name}") } else { name.to_string() };
    let g = p.image_size / p.patch;
    let t = gh * gw + 2;
    let pw = tensor(w, &at("embeddings.patch_embeddings.projection.weight"), &[d, p.channels, p.patch, p.patch])?;
    let pb = tensor(w, &at("embeddings.patch_embeddings.projection.bias"), &[d])?;
    let mut prefix = tensor(w, &at("embeddings.cls_token"), &[1, 1, d])?;
    prefix.extend(tensor(w, &at("embeddings.distillation_token"), &[1, 1, d])?);
    let pos = tensor(w, &at("embeddings.position_embeddings"), &[1, g * g + 2, d])?;
    let pos = grid_positions(&pos, 2, g, d, gh, gw);
    let ps = p.patch;
    let mut x = patch_embed(pixel_values, &pw, Some(&pb), Some(&prefix), Some(&pos), batch, p.channels, h, wd, d, ps, ps, ps, ps, 2);

    let dims = LayerDims { hidden: d, heads: p.heads, intermediate: p.intermediate, eps: p.eps, act: p.act };
    for layer in &load_layers(w, &at("encoder.layer"), p.layers, LayerStyle::Vit { qkv_bias: p.qkv_bias }, dims)? {
        x = layer.forward(&x, batch, t, None, false);
    }
    let last_hidden_state = Norm::load(w, &at("layernorm"), d, p.eps)?.apply(&x, batch * t);
    let token = |k: usize| -> Vec<f32> { (0..batch).flat_map(|b| last_hidden_state[(b * t + k) * d..(b * t + k + 1) * d].to_vec()).collect() };
    let (cls, dist) = (token(0), token(1));
    let features: Vec<f32> = cls.iter().zip(&dist).map(|(&a, &b)| ((a as f64 + b as f64) / 2.0) as f32).collect();
    let n = p.num_labels;
    let (mut logits, mut cls_logits, mut distillation_logits) = (Vec::new(), Vec::new(), Vec::new());
    if n > 0 && w.get("cls_classifier.weight").is_some() {
        cls_logits = Linear::load(w, "cls_classifier", n, d, true)?.apply(&cls, batch, Activation::None, None);
        distillation_logits = Linear::load(w, "distillation_classifier", n, d, true)?.apply(&dist, batch, Activation::None, None);
        logits = cls_logits.iter().zip(&distillation_logits).map(|(&a, &b)| ((a as f64 + b as f64) / 2.0) as f32).collect();
    } else if n > 0 {
        logits = Linear::load(w, "classifier", n, d, true)?.apply(&cls, batch, Activation::None, None);
    }
    Ok(DeitOutputs { last_hidden_state, logits, cls_logits, distillation_logits, features, tokens: t })
}
