//! `Dinov2Model` and `Dinov2WithRegistersModel` (transformers `modeling_dinov2.py`,
//! `modeling_dinov2_with_registers.py`): conv patch embedding, CLS token, position embeddings
//! resized bicubically to every input's patch grid (size-based, `align_corners=False`;
//! `antialias=True` for the register model), register tokens inserted after CLS with no
//! position, pre-LN layers with layer scale (`x + λ ⊙ f(x)`) and a GELU or SwiGLU MLP, final
//! LayerNorm, pooler output = CLS.

use super::{grid_positions_with, image_grid, tensor, Linear, Norm, WeightSource};
use crate::attention::{attention, Attention};
use crate::kernels::{swiglu, Activation};
use crate::patch::patch_embed;

/// The `Dinov2Config` values the forward pass needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dinov2Params {
    /// Hidden size D (`hidden_size`).
    pub hidden: usize,
    /// Encoder layers (`num_hidden_layers`).
    pub layers: usize,
    /// Attention heads per layer (`num_attention_heads`).
    pub heads: usize,
    /// Input width of `fc2` / `weights_out`: `int(D · mlp_ratio)`, or the SwiGLU hidden width.
    pub intermediate: usize,
    /// LayerNorm epsilon (`layer_norm_eps`).
    pub eps: f32,
    /// MLP activation (`hidden_act`), unused with SwiGLU.
    pub act: Activation,
    /// `use_swiglu_ffn`.
    pub swiglu: bool,
    /// Square patch side P (`patch_size`).
    pub patch: usize,
    /// Side S of the square images the position grid is for (`image_size`).
    pub image_size: usize,
    /// Image channels C (`num_channels`).
    pub channels: usize,
    /// Register tokens R (`num_register_tokens`).
    pub registers: usize,
    /// Resize the position grid with antialiasing (`Dinov2WithRegisters`).
    pub antialias: bool,
    /// Whether query/key/value have biases (`qkv_bias`).
    pub qkv_bias: bool,
}

/// What [`forward`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Dinov2Outputs {
    /// (B, 1 + R + patches, hidden) after the final LayerNorm.
    pub last_hidden_state: Vec<f32>,
    /// (B, hidden): the CLS token of `last_hidden_state`.
    pub pooler_output: Vec<f32>,
    /// Tokens per image (1 + R + patches).
    pub tokens: usize,
}

/// `x + λ ⊙ y` over rows of D.
fn scale_add(x: &[f32], lambda: &[f32], y: &[f32]) -> Vec<f32> {
    let d = lambda.len();
    x.iter().zip(y).enumerate().map(|(i, (&a, &b))| (a as f64 + lambda[i % d] as f64 * b as f64) as f32).collect()
}

/// Runs the model on `batch` images of (C, H, W) `pixel_values`, H and W at least one patch.
/// The backbone is read at the root, or under `dinov2.` / `dinov2_with_registers.`.
pub fn forward(p: &Dinov2Params, w: &dyn WeightSource, pixel_values: &[f32], batch: usize, hw: (usize, usize)) -> Result<Dinov2Outputs, String> {
    let (d, r, ps) = (p.hidden, p.registers, p.patch);
    let (h, wd, gh, gw) = image_grid(pixel_values, batch, p.channels, p.image_size, ps, Some(hw))?;
    let base = ["dinov2.", "dinov2_with_registers."]
        .into_iter()
        .find(|b| w.get("embeddings.cls_token").is_none() && w.get(&format!("{b}embeddings.cls_token")).is_some())
        .unwrap_or("");
    let at = |name: &str| format!("{base}{name}");
    let g = p.image_size / ps;
    let np = gh * gw;
    let pw = tensor(w, &at("embeddings.patch_embeddings.projection.weight"), &[d, p.channels, ps, ps])?;
    let pb = tensor(w, &at("embeddings.patch_embeddings.projection.bias"), &[d])?;
    let cls = tensor(w, &at("embeddings.cls_token"), &[1, 1, d])?;
    let pos = tensor(w, &at("embeddings.position_embeddings"), &[1, g * g + 1, d])?;
    let pos = grid_positions_with(&pos, 1, g, d, gh, gw, p.antialias);
    let x = patch_embed(pixel_values, &pw, Some(&pb), Some(&cls), Some(&pos), batch, p.channels, h, wd, d, ps, ps, ps, ps, 1);
    // registers after CLS, no positions
    let t = 1 + r + np;
    let mut x = if r > 0 {
        let reg = tensor(w, &at("embeddings.register_tokens"), &[1, r, d])?;
        let mut out = Vec::with_capacity(batch * t * d);
        for b in 0..batch {
            let img = &x[b * (1 + np) * d..(b + 1) * (1 + np) * d];
            out.extend_from_slice(&img[..d]);
            out.extend_from_slice(&reg);
            out.extend_from_slice(&img[d..]);
        }
        out
    } else {
        x
    };

    if p.heads == 0 || d % p.heads != 0 {
        return Err(format!("hidden size {d} is not a multiple of {} heads", p.heads));
    }
    let (m, rows, hs) = (p.intermediate, batch * t, d / p.heads);
    for i in 0..p.layers {
        let l = |s: &str| at(&format!("encoder.layer.{i}.{s}"));
        let norm1 = Norm::load(w, &l("norm1"), d, p.eps)?;
        let q = Linear::load(w, &l("attention.attention.query"), d, d, p.qkv_bias)?;
        let k = Linear::load(w, &l("attention.attention.key"), d, d, p.qkv_bias)?;
        let v = Linear::load(w, &l("attention.attention.value"), d, d, p.qkv_bias)?;
        let o = Linear::load(w, &l("attention.output.dense"), d, d, true)?;
        let lambda1 = tensor(w, &l("layer_scale1.lambda1"), &[d])?;
        let norm2 = Norm::load(w, &l("norm2"), d, p.eps)?;
        let lambda2 = tensor(w, &l("layer_scale2.lambda1"), &[d])?;

        let hn = norm1.apply(&x, rows);
        let (qv, kv, vv) = (q.apply(&hn, rows, Activation::None, None), k.apply(&hn, rows, Activation::None, None), v.apply(&hn, rows, Activation::None, None));
        let a = attention(&Attention::separate(batch, t, t, p.heads, hs), &qv, &kv, &vv, None);
        x = scale_add(&x, &lambda1, &o.apply(&a, rows, Activation::None, None));
        let hn = norm2.apply(&x, rows);
        let y = if p.swiglu {
            let up = Linear::load(w, &l("mlp.weights_in"), 2 * m, d, true)?.apply(&hn, rows, Activation::None, None);
            Linear::load(w, &l("mlp.weights_out"), d, m, true)?.apply(&swiglu(&up, rows, m), rows, Activation::None, None)
        } else {
            let up = Linear::load(w, &l("mlp.fc1"), m, d, true)?.apply(&hn, rows, p.act, None);
            Linear::load(w, &l("mlp.fc2"), d, m, true)?.apply(&up, rows, Activation::None, None)
        };
        x = scale_add(&x, &lambda2, &y);
    }
    let last_hidden_state = Norm::load(w, &at("layernorm"), d, p.eps)?.apply(&x, rows);
    let pooler_output = (0..batch).flat_map(|b| last_hidden_state[b * t * d..b * t * d + d].to_vec()).collect();
    Ok(Dinov2Outputs { last_hidden_state, pooler_output, tokens: t })
}
