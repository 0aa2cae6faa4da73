//! `ViTForImageClassification` (transformers `modeling_vit.py`): conv patch embedding, CLS token,
//! learned position embeddings, pre-LN encoder, final LayerNorm, linear classifier on the CLS token.

use super::{grid_positions, image_grid, load_layers, tensor, LayerDims, LayerStyle, Linear, Norm, WeightSource};
use crate::patch::patch_embed;
use crate::kernels::Activation;

/// The `ViTConfig` values the forward pass needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VitParams {
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
    /// Square patch side P in pixels (`patch_size`).
    pub patch: usize,
    /// Side S of the square images the position grid is for (`image_size`); the input size unless `image_hw`.
    pub image_size: usize,
    /// Image channels C (`num_channels`).
    pub channels: usize,
    /// Classifier width; 0 means a checkpoint without a head (`logits` is then empty).
    pub num_labels: usize,
    /// Whether query/key/value have biases (`qkv_bias`, true for every released ViT).
    pub qkv_bias: bool,
    /// `Some((H, W))`: images of that size, position embeddings interpolated to their patch grid
    /// (`interpolate_pos_encoding=True`); `None`: `image_size` squares.
    pub image_hw: Option<(usize, usize)>,
}

/// What [`forward`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct VitOutputs {
    /// (B, 1 + patches, hidden), after the final `vit.layernorm`.
    pub last_hidden_state: Vec<f32>,
    /// (B, num_labels).
    pub logits: Vec<f32>,
    /// Tokens per image (1 + patches).
    pub tokens: usize,
}

/// Runs `ViTForImageClassification` on `batch` images of (C, S, S) `pixel_values` (S = image_size).
/// Weight names are those of the Hugging Face checkpoint (`vit.` prefix, `classifier`).
pub fn forward(p: &VitParams, w: &dyn WeightSource, pixel_values: &[f32], batch: usize) -> Result<VitOutputs, String> {
    let d = p.hidden;
    let (h, wd, gh, gw) = image_grid(pixel_values, batch, p.channels, p.image_size, p.patch, p.image_hw)?;
    let grid = p.image_size / p.patch;
    let t = gh * gw + 1;

    // embeddings
    let pw = tensor(
        w,
        "vit.embeddings.patch_embeddings.projection.weight",
        &[d, p.channels, p.patch, p.patch],
    )?;
    let pb = tensor(w, "vit.embeddings.patch_embeddings.projection.bias", &[d])?;
    let cls = tensor(w, "vit.embeddings.cls_token", &[1, 1, d])?;
    let pos = tensor(w, "vit.embeddings.position_embeddings", &[1, grid * grid + 1, d])?;
    let pos = grid_positions(&pos, 1, grid, d, gh, gw);
    // CLS token in front, positions on every token
    let ps = p.patch;
    let mut x = patch_embed(pixel_values, &pw, Some(&pb), Some(&cls), Some(&pos), batch, p.channels, h, wd, d, ps, ps, ps, ps, 1);

    // encoder
    let dims = LayerDims {
        hidden: d,
        heads: p.heads,
        intermediate: p.intermediate,
        eps: p.eps,
        act: p.act,
    };
    let layers = load_layers(
        w,
        "vit.encoder.layer",
        p.layers,
        LayerStyle::Vit { qkv_bias: p.qkv_bias },
        dims,
    )?;
    for layer in &layers {
        x = layer.forward(&x, batch, t, None, false);
    }
    let last_hidden_state = Norm::load(w, "vit.layernorm", d, p.eps)?.apply(&x, batch * t);

    // classifier on the CLS token
    let logits = if p.num_labels > 0 {
        let head = Linear::load(w, "classifier", p.num_labels, d, true)?;
        let cls_rows: Vec<f32> = (0..batch)
            .flat_map(|b| last_hidden_state[b * t * d..b * t * d + d].to_vec())
            .collect();
        head.apply(&cls_rows, batch, Activation::None, None)
    } else {
        Vec::new()
    };
    Ok(VitOutputs {
        last_hidden_state,
        logits,
        tokens: t,
    })
}
