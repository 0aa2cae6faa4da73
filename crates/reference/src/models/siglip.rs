//! `SiglipModel` (transformers `modeling_siglip.py`): a ViT image tower without CLS token whose
//! output is pooled by a multi-head attention head (learned probe query, `nn.MultiheadAttention`
//! with packed q/k/v, LayerNorm, MLP residual); a non-causal text tower pooled at the last position
//! and passed through `head`; sigmoid-loss logits `exp(logit_scale) · cos + logit_bias`.

use super::{
    key_mask, load_layers, scalar, tensor, token_ids, transpose, LayerDims, LayerStyle, Linear, Norm,
    WeightSource,
};
use crate::fusion::{attention_pool_masked, similarity, Similarity};
use crate::kernels::{embedding, l2_normalize, Activation};
use crate::patch::patch_embed;

/// The `SiglipVisionConfig` values the forward pass needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SiglipVisionParams {
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
    /// `Some((H, W))`: images of that size with interpolated position embeddings.
    pub image_hw: Option<(usize, usize)>,
    /// SigLIP 2 (NaFlex): the side g of the g×g position table; images come as flattened
    /// patches ([`Naflex`]).
    pub naflex_grid: Option<usize>,
}

/// SigLIP 2's NaFlex images: `pixel_values` (B, N, C·P·P) of flattened patches, `mask` (B·N)
/// 1 for each image's patches, `shapes` each image's (rows, cols) patch grid.
#[derive(Clone, Copy, Debug)]
pub struct Naflex<'a> {
    /// (B, N, C·P·P).
    pub pixel_values: &'a [f32],
    /// (B, N), 0/1.
    pub mask: &'a [i64],
    /// (B) grids of (rows, cols) patches.
    pub shapes: &'a [(usize, usize)],
    /// N, patches per image (padded).
    pub patches: usize,
}

/// The `SiglipTextConfig` values the forward pass needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SiglipTextParams {
    /// Token vocabulary (`vocab_size`).
    pub vocab: usize,
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
    /// Size of the position table (`max_position_embeddings`); texts are at most this long.
    pub max_positions: usize,
    /// Output width of `text_model.head` (`projection_size`, default `hidden`).
    pub projection_size: usize,
}

/// `SiglipConfig`: both towers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SiglipParams {
    /// The text tower.
    pub text: SiglipTextParams,
    /// The image tower.
    pub vision: SiglipVisionParams,
}

/// The image tower's outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct SiglipVisionOutputs {
    /// (N, patches, vision.hidden) after `post_layernorm`.
    pub last_hidden_state: Vec<f32>,
    /// (N, vision.hidden): the attention-pooling head's output.
    pub pooled: Vec<f32>,
    /// Tokens per image (patches; no CLS token).
    pub tokens: usize,
}

/// The text tower's outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct SiglipTextOutputs {
    /// (N, L, text.hidden) after `final_layer_norm`.
    pub last_hidden_state: Vec<f32>,
    /// (N, projection_size): `head(last_hidden_state[:, -1])`.
    pub pooled: Vec<f32>,
}

/// Every `SiglipModel` output, under the names of `expected.safetensors`.
#[derive(Clone, Debug, PartialEq)]
pub struct SiglipOutputs {
    /// (n_images, n_texts).
    pub logits_per_image: Vec<f32>,
    /// (n_texts, n_images).
    pub logits_per_text: Vec<f32>,
    /// (n_images, vision.hidden), L2-normalised.
    pub image_embeds: Vec<f32>,
    /// (n_texts, projection_size), L2-normalised.
    pub text_embeds: Vec<f32>,
    /// (n_images, patches, vision.hidden).
    pub vision_last_hidden_state: Vec<f32>,
    /// (n_images, vision.hidden): the pooling head's output, before normalisation.
    pub vision_pooler_output: Vec<f32>,
    /// (n_texts, seq_len, text.hidden).
    pub text_last_hidden_state: Vec<f32>,
    /// (n_texts, projection_size): the text head's output, before normalisation.
    pub text_pooler_output: Vec<f32>,
}

/// The image tower (embeddings, encoder, `post_layernorm`, attention-pooling head).
pub fn vision_forward(
    p: &SiglipParams,
    w: &dyn WeightSource,
    pixel_values: &[f32],
    n_images: usize,
) -> Result<SiglipVisionOutputs, String> {
    let v = &p.vision;
    let d = v.hidden;
    let b = n_images;
    let (h, wd, gh, gw) = super::image_grid(pixel_values, b, v.channels, v.image_size, v.patch, v.image_hw)?;
    let grid = v.image_size / v.patch;
    let t = gh * gw;

    let pw = tensor(
        w,
        "vision_model.embeddings.patch_embedding.weight",
        &[d, v.channels, v.patch, v.patch],
    )?;
    let pb = tensor(w, "vision_model.embeddings.patch_embedding.bias", &[d])?;
    let pos = tensor(w, "vision_model.embeddings.position_embedding.weight", &[grid * grid, d])?;
    let pos = super::grid_positions(&pos, 0, grid, d, gh, gw);
    // no CLS token; positions on every patch
    let ps = v.patch;
    let x = patch_embed(pixel_values, &pw, Some(&pb), None, Some(&pos), b, v.channels, h, wd, d, ps, ps, ps, ps, 0);

    encode(p, w, x, None, b, t)
}

/// SigLIP 2's tower on NaFlex images: a Linear over flattened patches, the g×g position table
/// resized to each image's grid (antialiased bilinear; padding rows repeat the first position),
/// the padded patches masked in the encoder and the pooling head.
pub fn vision_forward_naflex(p: &SiglipParams, w: &dyn WeightSource, nf: &Naflex, n_images: usize) -> Result<SiglipVisionOutputs, String> {
    let v = &p.vision;
    let (d, b, n) = (v.hidden, n_images, nf.patches);
    let g = v.naflex_grid.ok_or("not a NaFlex (SigLIP 2) tower")?;
    let k = v.channels * v.patch * v.patch;
    if nf.pixel_values.len() != b * n * k || nf.mask.len() != b * n || nf.shapes.len() != b {
        return Err(format!("NaFlex inputs must be ({b}, {n}, {k}) patches, a ({b}, {n}) mask and ({b}, 2) shapes"));
    }
    let pw = Linear::load(w, "vision_model.embeddings.patch_embedding", d, k, true)?;
    let mut x = pw.apply(nf.pixel_values, b * n, Activation::None, None);
    let table = tensor(w, "vision_model.embeddings.position_embedding.weight", &[g * g, d])?;
    for (i, &(h, wd)) in nf.shapes.iter().enumerate() {
        if h == 0 || wd == 0 || h * wd > n {
            return Err(format!("spatial_shapes of image {i} is {h}x{wd}; it must fit the {n} patches"));
        }
        let pos = crate::patch::interpolate_pos_bilinear_aa(&table, g, g, d, h, wd);
        for j in 0..n {
            let src = if j < h * wd { j } else { 0 };
            for c in 0..d {
                x[(i * n + j) * d + c] += pos[src * d + c];
            }
        }
    }
    let mask = key_mask(nf.mask.iter().map(|&m| m != 0));
    encode(p, w, x, Some(&mask), b, n)
}

/// The encoder, post-LayerNorm and attention-pooling head over embedded tokens (B, T, D).
fn encode(p: &SiglipParams, w: &dyn WeightSource, mut x: Vec<f32>, mask: Option<&[f32]>, b: usize, t: usize) -> Result<SiglipVisionOutputs, String> {
    let v = &p.vision;
    let d = v.hidden;
    let dims = LayerDims {
        hidden: d,
        heads: v.heads,
        intermediate: v.intermediate,
        eps: v.eps,
        act: v.act,
    };
    for layer in load_layers(w, "vision_model.encoder.layers", v.layers, LayerStyle::Clip, dims)? {
        x = layer.forward(&x, b, t, mask, false);
    }
    let last_hidden_state = Norm::load(w, "vision_model.post_layernorm", d, v.eps)?.apply(&x, b * t);

    // attention-pooling head: one probe query per image over every (kept) patch token
    let probe = tensor(w, "vision_model.head.probe", &[1, 1, d])?;
    let in_w = tensor(w, "vision_model.head.attention.in_proj_weight", &[3 * d, d])?;
    let in_b = tensor(w, "vision_model.head.attention.in_proj_bias", &[3 * d])?;
    let out_w = tensor(w, "vision_model.head.attention.out_proj.weight", &[d, d])?;
    let out_b = tensor(w, "vision_model.head.attention.out_proj.bias", &[d])?;
    let h = attention_pool_masked(&last_hidden_state, mask, &probe, &in_w, &in_b, &out_w, &out_b, b, t, 1, d, v.heads);
    let ln = Norm::load(w, "vision_model.head.layernorm", d, v.eps)?;
    let fc1 = Linear::load(w, "vision_model.head.mlp.fc1", v.intermediate, d, true)?;
    let fc2 = Linear::load(w, "vision_model.head.mlp.fc2", d, v.intermediate, true)?;
    let m = fc1.apply(&ln.apply(&h, b), b, v.act, None);
    let pooled = fc2.apply(&m, b, Activation::None, Some(&h));
    Ok(SiglipVisionOutputs {
        last_hidden_state,
        pooled,
        tokens: t,
    })
}

/// The text tower on `n_texts` rows of `seq_len` ids (no causal mask). `attention_mask` may be
/// empty (SigLIP checkpoints are used with max-length padding and no mask); when given, padded
/// keys are blocked.
pub fn text_forward(
    p: &SiglipParams,
    w: &dyn WeightSource,
    input_ids: &[i64],
    attention_mask: &[i64],
    n_texts: usize,
    seq_len: usize,
) -> Result<SiglipTextOutputs, String> {
    let tp = &p.text;
    let d = tp.hidden;
    let (b, l) = (n_texts, seq_len);
    if input_ids.len() != b * l {
        return Err(format!("input_ids holds {} ids, expected {b}×{l}", input_ids.len()));
    }
    if !attention_mask.is_empty() && attention_mask.len() != b * l {
        return Err(format!(
            "attention_mask holds {} values, expected {b}×{l}",
            attention_mask.len()
        ));
    }
    if l == 0 || l > tp.max_positions {
        return Err(format!("sequence length {l} outside 1..={}", tp.max_positions));
    }

    let tok = tensor(w, "text_model.embeddings.token_embedding.weight", &[tp.vocab, d])?;
    let pos = tensor(
        w,
        "text_model.embeddings.position_embedding.weight",
        &[tp.max_positions, d],
    )?;
    let ids = token_ids(input_ids, tp.vocab)?;
    let mut x = embedding(&tok, &ids, tp.vocab, d);
    super::add_positions(&mut x, &pos[..l * d], b);

    // key-padding mask (B, L) when a mask is given
    let mask = (!attention_mask.is_empty()).then(|| key_mask(attention_mask.iter().map(|&m| m != 0)));

    let dims = LayerDims {
        hidden: d,
        heads: tp.heads,
        intermediate: tp.intermediate,
        eps: tp.eps,
        act: tp.act,
    };
    for layer in load_layers(w, "text_model.encoder.layers", tp.layers, LayerStyle::Clip, dims)? {
        x = layer.forward(&x, b, l, mask.as_deref(), false);
    }
    let last_hidden_state = Norm::load(w, "text_model.final_layer_norm", d, tp.eps)?.apply(&x, b * l);
    let last: Vec<f32> = (0..b)
        .flat_map(|bi| last_hidden_state[(bi * l + l - 1) * d..(bi * l + l) * d].to_vec())
        .collect();
    let head = Linear::load(w, "text_model.head", tp.projection_size, d, true)?;
    let pooled = head.apply(&last, b, Activation::None, None);
    Ok(SiglipTextOutputs {
        last_hidden_state,
        pooled,
    })
}

/// Runs the whole `SiglipModel`.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    p: &SiglipParams,
    w: &dyn WeightSource,
    pixel_values: &[f32],
    n_images: usize,
    input_ids: &[i64],
    attention_mask: &[i64],
    n_texts: usize,
    seq_len: usize,
) -> Result<SiglipOutputs, String> {
    let vis = vision_forward(p, w, pixel_values, n_images)?;
    joint(p, w, vis, n_images, input_ids, attention_mask, n_texts, seq_len)
}

/// Runs the whole `Siglip2Model` on NaFlex images.
#[allow(clippy::too_many_arguments)]
pub fn forward_naflex(
    p: &SiglipParams,
    w: &dyn WeightSource,
    images: &Naflex,
    n_images: usize,
    input_ids: &[i64],
    attention_mask: &[i64],
    n_texts: usize,
    seq_len: usize,
) -> Result<SiglipOutputs, String> {
    let vis = vision_forward_naflex(p, w, images, n_images)?;
    joint(p, w, vis, n_images, input_ids, attention_mask, n_texts, seq_len)
}

#[allow(clippy::too_many_arguments)]
fn joint(
    p: &SiglipParams,
    w: &dyn WeightSource,
    vis: SiglipVisionOutputs,
    n_images: usize,
    input_ids: &[i64],
    attention_mask: &[i64],
    n_texts: usize,
    seq_len: usize,
) -> Result<SiglipOutputs, String> {
    if p.vision.hidden != p.text.projection_size {
        return Err(format!(
            "vision width {} differs from the text head width {}",
            p.vision.hidden, p.text.projection_size
        ));
    }
    let txt = text_forward(p, w, input_ids, attention_mask, n_texts, seq_len)?;
    let e = p.vision.hidden;
    let image_embeds = l2_normalize(&vis.pooled, n_images, e);
    let text_embeds = l2_normalize(&txt.pooled, n_texts, e);
    let scale = (scalar(w, "logit_scale")? as f64).exp() as f32;
    let bias = scalar(w, "logit_bias")?;
    let logits_per_text = similarity(&text_embeds, &image_embeds, n_texts, n_images, e, scale, bias, Similarity::Logits);
    let logits_per_image = transpose(&logits_per_text, n_texts, n_images);
    Ok(SiglipOutputs {
        logits_per_image,
        logits_per_text,
        image_embeds,
        text_embeds,
        vision_last_hidden_state: vis.last_hidden_state,
        vision_pooler_output: vis.pooled,
        text_last_hidden_state: txt.last_hidden_state,
        text_pooler_output: txt.pooled,
    })
}
