//! `CLIPModel` (transformers `modeling_clip.py`): a ViT image tower with `pre_layrnorm` and a
//! pooled, post-LayerNormed CLS token; a causal text tower pooled at the end-of-text token; two
//! bias-free projections; L2-normalised embeddings; cosine logits scaled by `exp(logit_scale)`.

use super::{
    key_mask, load_layers, scalar, tensor, token_ids, transpose, LayerDims, LayerStyle, Linear, Norm,
    WeightSource,
};
use crate::fusion::{similarity, Similarity};
use crate::kernels::{embedding, l2_normalize, Activation};
use crate::patch::patch_embed;

/// The `CLIPVisionConfig` values the forward pass needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipVisionParams {
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
}

/// The `CLIPTextConfig` values the forward pass needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipTextParams {
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
    /// Size of the position table (`max_position_embeddings`).
    pub max_positions: usize,
    /// A BERT tower (Chinese-CLIP: post-LN, token types, [CLS] pooling) instead of CLIP's.
    pub bert: bool,
    /// Token-type vocabulary of a BERT tower (`type_vocab_size`).
    pub type_vocab: usize,
}

/// `CLIPConfig`: both towers and the shared projection width.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipParams {
    /// The text tower.
    pub text: ClipTextParams,
    /// The image tower.
    pub vision: ClipVisionParams,
    /// Width of both projections and the embeddings (`projection_dim`).
    pub projection_dim: usize,
}

/// The image tower's outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipVisionOutputs {
    /// (N, 1 + patches, vision.hidden): the encoder output (no post LayerNorm, as in transformers).
    pub last_hidden_state: Vec<f32>,
    /// (N, vision.hidden): `post_layernorm` of the CLS token.
    pub pooled: Vec<f32>,
    /// (N, projection_dim): `visual_projection(pooled)` (`get_image_features`).
    pub image_features: Vec<f32>,
    /// Tokens per image (1 + patches).
    pub tokens: usize,
}

/// The text tower's outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipTextOutputs {
    /// (N, L, text.hidden) after `final_layer_norm`; padded positions carry no meaning.
    pub last_hidden_state: Vec<f32>,
    /// (N, text.hidden): the row at the pooling position.
    pub pooled: Vec<f32>,
    /// (N, projection_dim): `text_projection(pooled)` (`get_text_features`).
    pub text_features: Vec<f32>,
    /// The pooling position of every text.
    pub pool_positions: Vec<usize>,
}

/// Every `CLIPModel` output, under the names of `expected.safetensors`.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipOutputs {
    /// (n_images, n_texts).
    pub logits_per_image: Vec<f32>,
    /// (n_texts, n_images).
    pub logits_per_text: Vec<f32>,
    /// (n_images, projection_dim), L2-normalised.
    pub image_embeds: Vec<f32>,
    /// (n_texts, projection_dim), L2-normalised.
    pub text_embeds: Vec<f32>,
    /// (n_images, 1 + patches, vision.hidden).
    pub vision_last_hidden_state: Vec<f32>,
    /// (n_images, projection_dim): projected, before normalisation.
    pub vision_pooler_output: Vec<f32>,
    /// (n_texts, seq_len, text.hidden).
    pub text_last_hidden_state: Vec<f32>,
    /// (n_texts, projection_dim): projected, before normalisation.
    pub text_pooler_output: Vec<f32>,
}

/// The image tower plus `visual_projection` on `n_images` (C, S, S) images.
pub fn vision_forward(
    p: &ClipParams,
    w: &dyn WeightSource,
    pixel_values: &[f32],
    n_images: usize,
) -> Result<ClipVisionOutputs, String> {
    let v = &p.vision;
    let d = v.hidden;
    let (h, wd, gh, gw) = super::image_grid(pixel_values, n_images, v.channels, v.image_size, v.patch, v.image_hw)?;
    let grid = v.image_size / v.patch;
    let t = gh * gw + 1;

    let pw = tensor(
        w,
        "vision_model.embeddings.patch_embedding.weight",
        &[d, v.channels, v.patch, v.patch],
    )?;
    let cls = tensor(w, "vision_model.embeddings.class_embedding", &[d])?;
    let pos = tensor(w, "vision_model.embeddings.position_embedding.weight", &[grid * grid + 1, d])?;
    let pos = super::grid_positions(&pos, 1, grid, d, gh, gw);
    // class embedding in front, positions on every token (no conv bias)
    let ps = v.patch;
    let x = patch_embed(pixel_values, &pw, None, Some(&cls), Some(&pos), n_images, v.channels, h, wd, d, ps, ps, ps, ps, 1);
    let mut x = Norm::load(w, "vision_model.pre_layrnorm", d, v.eps)?.apply(&x, n_images * t);

    let dims = LayerDims {
        hidden: d,
        heads: v.heads,
        intermediate: v.intermediate,
        eps: v.eps,
        act: v.act,
    };
    for layer in load_layers(w, "vision_model.encoder.layers", v.layers, LayerStyle::Clip, dims)? {
        x = layer.forward(&x, n_images, t, None, false);
    }

    let cls_rows: Vec<f32> = (0..n_images)
        .flat_map(|b| x[b * t * d..b * t * d + d].to_vec())
        .collect();
    let pooled = Norm::load(w, "vision_model.post_layernorm", d, v.eps)?.apply(&cls_rows, n_images);
    let proj = Linear::load(w, "visual_projection", p.projection_dim, d, false)?;
    let image_features = proj.apply(&pooled, n_images, Activation::None, None);
    Ok(ClipVisionOutputs {
        last_hidden_state: x,
        pooled,
        image_features,
        tokens: t,
    })
}

/// Where `CLIPTextTransformer` pools each text: the position of the largest id when
/// `eos_token_id == 2` (configs older than transformers 4.31), else the first position holding
/// `eos_token_id` (position 0 when there is none, as `argmax` of an all-false row gives).
pub fn pool_positions(input_ids: &[i64], n_texts: usize, seq_len: usize, eos_token_id: i64) -> Vec<usize> {
    (0..n_texts)
        .map(|b| {
            let row = &input_ids[b * seq_len..(b + 1) * seq_len];
            if eos_token_id == 2 {
                // torch.argmax gives the first of equal maxima
                let mut best = 0;
                for (i, &id) in row.iter().enumerate() {
                    if id > row[best] {
                        best = i;
                    }
                }
                best
            } else {
                row.iter().position(|&id| id == eos_token_id).unwrap_or(0)
            }
        })
        .collect()
}

/// The text tower plus `text_projection` on `n_texts` rows of `seq_len` ids. `attention_mask`
/// (same shape, 1 = token, 0 = padding) may be empty for "all tokens"; so may
/// `token_type_ids` (all 0; BERT towers only).
#[allow(clippy::too_many_arguments)]
pub fn text_forward(
    p: &ClipParams,
    w: &dyn WeightSource,
    input_ids: &[i64],
    attention_mask: &[i64],
    token_type_ids: &[i64],
    n_texts: usize,
    seq_len: usize,
    eos_token_id: i64,
) -> Result<ClipTextOutputs, String> {
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
    if l > tp.max_positions {
        return Err(format!(
            "sequence length {l} exceeds max_position_embeddings {}",
            tp.max_positions
        ));
    }

    if tp.bert {
        return bert_text_forward(p, w, input_ids, attention_mask, token_type_ids, b, l);
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

    // key-padding mask (B, L); the causal mask is the attention's own
    let mask = (!attention_mask.is_empty()).then(|| key_mask(attention_mask.iter().map(|&m| m != 0)));

    let dims = LayerDims {
        hidden: d,
        heads: tp.heads,
        intermediate: tp.intermediate,
        eps: tp.eps,
        act: tp.act,
    };
    for layer in load_layers(w, "text_model.encoder.layers", tp.layers, LayerStyle::Clip, dims)? {
        x = layer.forward(&x, b, l, mask.as_deref(), true);
    }
    let last_hidden_state = Norm::load(w, "text_model.final_layer_norm", d, tp.eps)?.apply(&x, b * l);

    let pool_positions = pool_positions(input_ids, b, l, eos_token_id);
    let pooled: Vec<f32> = pool_positions
        .iter()
        .enumerate()
        .flat_map(|(bi, &i)| last_hidden_state[(bi * l + i) * d..(bi * l + i + 1) * d].to_vec())
        .collect();
    let proj = Linear::load(w, "text_projection", p.projection_dim, d, false)?;
    let text_features = proj.apply(&pooled, b, Activation::None, None);
    Ok(ClipTextOutputs {
        last_hidden_state,
        pooled,
        text_features,
        pool_positions,
    })
}

/// Chinese-CLIP's BERT text tower: word + position + token-type embeddings and LayerNorm,
/// post-LN layers with a padding mask, [CLS] through `text_projection`.
fn bert_text_forward(
    p: &ClipParams,
    w: &dyn WeightSource,
    input_ids: &[i64],
    attention_mask: &[i64],
    token_type_ids: &[i64],
    b: usize,
    l: usize,
) -> Result<ClipTextOutputs, String> {
    let tp = &p.text;
    let d = tp.hidden;
    if !token_type_ids.is_empty() && token_type_ids.len() != b * l {
        return Err(format!("token_type_ids holds {} values, expected {b}×{l}", token_type_ids.len()));
    }
    let e = |s: &str| format!("text_model.embeddings.{s}");
    let word = tensor(w, &e("word_embeddings.weight"), &[tp.vocab, d])?;
    let types = tensor(w, &e("token_type_embeddings.weight"), &[tp.type_vocab, d])?;
    let pos = tensor(w, &e("position_embeddings.weight"), &[tp.max_positions, d])?;
    let mut x = embedding(&word, &token_ids(input_ids, tp.vocab)?, tp.vocab, d);
    let tt = if token_type_ids.is_empty() { vec![0; b * l] } else { token_type_ids.to_vec() };
    let ty = embedding(&types, &token_ids(&tt, tp.type_vocab)?, tp.type_vocab, d);
    x.iter_mut().zip(&ty).for_each(|(a, t)| *a += t);
    super::add_positions(&mut x, &pos[..l * d], b);
    let mut x = Norm::load(w, &e("LayerNorm"), d, tp.eps)?.apply(&x, b * l);
    let mask = (!attention_mask.is_empty()).then(|| key_mask(attention_mask.iter().map(|&m| m != 0)));
    let dims = LayerDims { hidden: d, heads: tp.heads, intermediate: tp.intermediate, eps: tp.eps, act: tp.act };
    for layer in load_layers(w, "text_model.encoder.layer", tp.layers, LayerStyle::Bert, dims)? {
        x = layer.forward(&x, b, l, mask.as_deref(), false);
    }
    let pooled: Vec<f32> = (0..b).flat_map(|bi| x[bi * l * d..(bi * l + 1) * d].to_vec()).collect();
    let proj = Linear::load(w, "text_projection", p.projection_dim, d, false)?;
    let text_features = proj.apply(&pooled, b, Activation::None, None);
    Ok(ClipTextOutputs { last_hidden_state: x, pooled, text_features, pool_positions: vec![0; b] })
}

/// Runs the whole `CLIPModel` (or `ChineseCLIPModel`): `n_images` (C, S, S) images and
/// `n_texts` × `seq_len` token ids (with `token_type_ids` for a BERT tower, or empty).
#[allow(clippy::too_many_arguments)]
pub fn forward(
    p: &ClipParams,
    w: &dyn WeightSource,
    pixel_values: &[f32],
    n_images: usize,
    input_ids: &[i64],
    attention_mask: &[i64],
    token_type_ids: &[i64],
    n_texts: usize,
    seq_len: usize,
    eos_token_id: i64,
) -> Result<ClipOutputs, String> {
    let vis = vision_forward(p, w, pixel_values, n_images)?;
    let txt = text_forward(p, w, input_ids, attention_mask, token_type_ids, n_texts, seq_len, eos_token_id)?;
    let e = p.projection_dim;
    let image_embeds = l2_normalize(&vis.image_features, n_images, e);
    let text_embeds = l2_normalize(&txt.text_features, n_texts, e);
    let logit_scale = (scalar(w, "logit_scale")? as f64).exp() as f32;
    let logits_per_text = similarity(&text_embeds, &image_embeds, n_texts, n_images, e, logit_scale, 0.0, Similarity::Logits);
    let logits_per_image = transpose(&logits_per_text, n_texts, n_images);
    Ok(ClipOutputs {
        logits_per_image,
        logits_per_text,
        image_embeds,
        text_embeds,
        vision_last_hidden_state: vis.last_hidden_state,
        vision_pooler_output: vis.image_features,
        text_last_hidden_state: txt.last_hidden_state,
        text_pooler_output: txt.text_features,
    })
}
