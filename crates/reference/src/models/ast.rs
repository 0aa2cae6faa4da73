//! `ASTForAudioClassification` (transformers `modeling_audio_spectrogram_transformer.py`): the
//! (B, T, F) log-mel features viewed as one-channel (F, T) images, overlapping P×P patches with
//! strides (frequency, time), CLS and distillation tokens, learned positions, the ViT encoder,
//! final LayerNorm, pooled output = mean of the two prefix tokens, LayerNorm + Linear head.

use super::{load_layers, tensor, LayerDims, LayerStyle, Linear, Norm, WeightSource};
use crate::kernels::Activation;

/// The `ASTConfig` values the forward pass needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AstParams {
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
    /// Square patch side P in (mel bin, frame) cells (`patch_size`).
    pub patch: usize,
    /// Patch stride along the mel bins (`frequency_stride`).
    pub frequency_stride: usize,
    /// Patch stride along the frames (`time_stride`).
    pub time_stride: usize,
    /// Frames per example (T).
    pub max_length: usize,
    /// Mel bins per frame (F).
    pub num_mel_bins: usize,
    /// Classifier width; 0 means `ASTModel` without a head (`logits` is then empty).
    pub num_labels: usize,
    /// Whether query/key/value have biases (`qkv_bias`).
    pub qkv_bias: bool,
}

/// What [`forward`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct AstOutputs {
    /// (B, 2 + patches, hidden), after the final LayerNorm.
    pub last_hidden_state: Vec<f32>,
    /// (B, hidden): (token 0 + token 1) / 2.
    pub pooler_output: Vec<f32>,
    /// (B, num_labels).
    pub logits: Vec<f32>,
    /// Tokens per example (2 + patches).
    pub tokens: usize,
}

/// Runs the model on `batch` examples of (max_length, num_mel_bins) `input_values`.
pub fn forward(p: &AstParams, w: &dyn WeightSource, input_values: &[f32], batch: usize) -> Result<AstOutputs, String> {
    let (d, tl, fl, ps) = (p.hidden, p.max_length, p.num_mel_bins, p.patch);
    if input_values.len() != batch * tl * fl {
        return Err(format!("input_values holds {} values, expected {batch}×{tl}×{fl}", input_values.len()));
    }
    if tl < ps || fl < ps || p.frequency_stride == 0 || p.time_stride == 0 {
        return Err(format!("a {ps}×{ps} patch does not fit {tl} frames × {fl} mel bins"));
    }
    // (B, T, F) -> (B, 1, F, T)
    let mut img = vec![0f32; batch * fl * tl];
    for b in 0..batch {
        for t in 0..tl {
            for f in 0..fl {
                img[(b * fl + f) * tl + t] = input_values[(b * tl + t) * fl + f];
            }
        }
    }
    // `ASTFor…` checkpoints nest the model; an `ASTModel` saved alone has it at the root.
    let nested = w.get("audio_spectrogram_transformer.embeddings.cls_token").is_some();
    let at = |name: &str| if nested { format!("audio_spectrogram_transformer.{name}") } else { name.to_string() };
    let gf = (fl - ps) / p.frequency_stride + 1;
    let gt = (tl - ps) / p.time_stride + 1;
    let t = 2 + gf * gt;
    let pw = tensor(w, &at("embeddings.patch_embeddings.projection.weight"), &[d, 1, ps, ps])?;
    let pb = tensor(w, &at("embeddings.patch_embeddings.projection.bias"), &[d])?;
    let mut prefix = tensor(w, &at("embeddings.cls_token"), &[1, 1, d])?;
    prefix.extend(tensor(w, &at("embeddings.distillation_token"), &[1, 1, d])?);
    let pos = tensor(w, &at("embeddings.position_embeddings"), &[1, t, d])?;
    let mut x = crate::patch::patch_embed(
        &img,
        &pw,
        Some(&pb),
        Some(&prefix),
        Some(&pos),
        batch,
        1,
        fl,
        tl,
        d,
        ps,
        ps,
        p.frequency_stride,
        p.time_stride,
        2,
    );

    let dims = LayerDims { hidden: d, heads: p.heads, intermediate: p.intermediate, eps: p.eps, act: p.act };
    for layer in &load_layers(w, &at("encoder.layer"), p.layers, LayerStyle::Vit { qkv_bias: p.qkv_bias }, dims)? {
        x = layer.forward(&x, batch, t, None, false);
    }
    let last_hidden_state = Norm::load(w, &at("layernorm"), d, p.eps)?.apply(&x, batch * t);
    let mut pooler_output = vec![0f32; batch * d];
    for b in 0..batch {
        for n in 0..d {
            let (c, s) = (last_hidden_state[b * t * d + n] as f64, last_hidden_state[b * t * d + d + n] as f64);
            pooler_output[b * d + n] = ((c + s) / 2.0) as f32;
        }
    }
    let logits = if p.num_labels > 0 {
        let h = Norm::load(w, "classifier.layernorm", d, p.eps)?.apply(&pooler_output, batch);
        Linear::load(w, "classifier.dense", p.num_labels, d, true)?.apply(&h, batch, Activation::None, None)
    } else {
        Vec::new()
    };
    Ok(AstOutputs { last_hidden_state, pooler_output, logits, tokens: t })
}
