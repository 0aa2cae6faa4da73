//! Plain-loop CPU references of whole models, with the semantics of Hugging Face transformers 5.
//!
//! Every model reads its weights by their Hugging Face names through [`WeightSource`] and takes its
//! configuration as a plain struct of this crate (the caller maps from `config.json`). Errors are
//! `String`s that name the missing or mis-shaped tensor (or the bad input).
//!
//! - [`vit`] — `ViTForImageClassification`;
//! - [`clip`] — `CLIPModel` (both towers, projections, logits);
//! - [`siglip`] — `SiglipModel` (attention-pooling vision head, logit bias);
//! - [`vilt`] — `ViltModel` (early fusion), with `ViltForImageAndTextRetrieval`'s `rank_output`;
//! - [`ast`] — `ASTForAudioClassification`;
//! - [`deit`] — `DeiTForImageClassificationWithTeacher` (and the other DeiT heads);
//! - [`dinov2`] — `Dinov2Model`, `Dinov2WithRegistersModel` (layer scale, SwiGLU, registers).
//!
//! The models are built from the kernel twins of this crate (`crate::patch::patch_embed`,
//! `crate::attention::attention`, `crate::kernels::*`, `crate::fusion::*`), one CPU twin per GPU
//! op; the pre-LN encoder layer here is shared by every model.

use crate::attention::{attention, Attention};
use crate::kernels::{layernorm, matmul, Activation, Matmul};

pub mod ast;
pub mod clip;
pub mod deit;
pub mod dinov2;
pub mod siglip;
pub mod vilt;
pub mod vit;

/// Where a model reads its weights: `get(name)` gives `(shape, row-major f32 data)` or `None`
/// when the checkpoint has no tensor of that name.
pub trait WeightSource {
    /// `(shape, row-major f32 data)` of the tensor called `name`, or `None` when there is none.
    fn get(&self, name: &str) -> Option<(Vec<usize>, Vec<f32>)>;
}

impl<F> WeightSource for F
where
    F: Fn(&str) -> Option<(Vec<usize>, Vec<f32>)>,
{
    fn get(&self, name: &str) -> Option<(Vec<usize>, Vec<f32>)> {
        self(name)
    }
}

impl WeightSource for std::collections::HashMap<String, (Vec<usize>, Vec<f32>)> {
    fn get(&self, name: &str) -> Option<(Vec<usize>, Vec<f32>)> {
        std::collections::HashMap::get(self, name).cloned()
    }
}

/// Reads `name`, requiring exactly `shape`.
pub(crate) fn tensor(w: &dyn WeightSource, name: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
    let (got_shape, data) = w
        .get(name)
        .ok_or_else(|| format!("missing tensor `{name}` (expected shape {shape:?})"))?;
    if got_shape != shape {
        return Err(format!("tensor `{name}` has shape {got_shape:?}, expected {shape:?}"));
    }
    if data.len() != shape.iter().product::<usize>() {
        return Err(format!(
            "tensor `{name}` holds {} values, its shape {shape:?} says otherwise",
            data.len()
        ));
    }
    Ok(data)
}

/// Reads a one-element tensor (shape `[]` or `[1]`).
pub(crate) fn scalar(w: &dyn WeightSource, name: &str) -> Result<f32, String> {
    let (shape, data) = w
        .get(name)
        .ok_or_else(|| format!("missing tensor `{name}` (a scalar)"))?;
    if data.len() != 1 || shape.iter().product::<usize>() != 1 {
        return Err(format!(
            "tensor `{name}` has shape {shape:?}, expected a scalar ([] or [1])"
        ));
    }
    Ok(data[0])
}

/// A `(N, K)` Linear weight with an optional `(N,)` bias.
pub(crate) struct Linear {
    pub w: Vec<f32>,
    pub b: Option<Vec<f32>>,
    pub n: usize,
    pub k: usize,
}

impl Linear {
    /// `{prefix}.weight` (N, K) and, when `bias`, `{prefix}.bias` (N,).
    pub fn load(w: &dyn WeightSource, prefix: &str, n: usize, k: usize, bias: bool) -> Result<Self, String> {
        let wt = tensor(w, &format!("{prefix}.weight"), &[n, k])?;
        let b = if bias {
            Some(tensor(w, &format!("{prefix}.bias"), &[n])?)
        } else {
            None
        };
        Ok(Linear { w: wt, b, n, k })
    }

    /// `act(x Wᵀ + b) + residual` over `rows` rows of `x`.
    pub fn apply(&self, x: &[f32], rows: usize, act: Activation, residual: Option<&[f32]>) -> Vec<f32> {
        debug_assert_eq!(x.len(), rows * self.k);
        let p = Matmul {
            act,
            ..Matmul::linear(1, rows, self.k, self.n)
        };
        matmul(&p, x, &self.w, self.b.as_deref(), residual)
    }
}

/// LayerNorm weights `{prefix}.weight` / `{prefix}.bias`, both (D,).
pub(crate) struct Norm {
    pub g: Vec<f32>,
    pub b: Vec<f32>,
    pub eps: f32,
}

impl Norm {
    pub fn load(w: &dyn WeightSource, prefix: &str, d: usize, eps: f32) -> Result<Self, String> {
        Ok(Norm {
            g: tensor(w, &format!("{prefix}.weight"), &[d])?,
            b: tensor(w, &format!("{prefix}.bias"), &[d])?,
            eps,
        })
    }

    pub fn apply(&self, x: &[f32], rows: usize) -> Vec<f32> {
        layernorm(x, &self.g, &self.b, rows, self.g.len(), self.eps)
    }
}

/// Sizes shared by the pre-LN encoder layers of ViT, CLIP and SigLIP.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LayerDims {
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub eps: f32,
    pub act: Activation,
}

/// Tensor naming of one encoder layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LayerStyle {
    /// `layernorm_before`, `attention.attention.{query,key,value}`, `attention.output.dense`,
    /// `layernorm_after`, `intermediate.dense`, `output.dense`.
    Vit { qkv_bias: bool },
    /// `layer_norm1`, `self_attn.{q,k,v,out}_proj`, `layer_norm2`, `mlp.fc1`, `mlp.fc2` (CLIP, SigLIP).
    Clip,
    /// BERT, post-LN: `attention.self.{query,key,value}`, `attention.output.{dense,LayerNorm}`,
    /// `intermediate.dense`, `output.{dense,LayerNorm}`.
    Bert,
}

/// One pre-LN transformer block's weights.
pub(crate) struct EncoderLayer {
    ln1: Norm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ln2: Norm,
    fc1: Linear,
    fc2: Linear,
    dims: LayerDims,
    post_ln: bool,
}

impl EncoderLayer {
    pub fn load(w: &dyn WeightSource, prefix: &str, style: LayerStyle, dims: LayerDims) -> Result<Self, String> {
        let (d, f) = (dims.hidden, dims.intermediate);
        if dims.heads == 0 || d % dims.heads != 0 {
            return Err(format!(
                "{prefix}: hidden size {d} is not a multiple of {} heads",
                dims.heads
            ));
        }
        let p = |s: &str| format!("{prefix}.{s}");
        Ok(match style {
            LayerStyle::Vit { qkv_bias } => EncoderLayer {
                ln1: Norm::load(w, &p("layernorm_before"), d, dims.eps)?,
                q: Linear::load(w, &p("attention.attention.query"), d, d, qkv_bias)?,
                k: Linear::load(w, &p("attention.attention.key"), d, d, qkv_bias)?,
                v: Linear::load(w, &p("attention.attention.value"), d, d, qkv_bias)?,
                o: Linear::load(w, &p("attention.output.dense"), d, d, true)?,
                ln2: Norm::load(w, &p("layernorm_after"), d, dims.eps)?,
                fc1: Linear::load(w, &p("intermediate.dense"), f, d, true)?,
                fc2: Linear::load(w, &p("output.dense"), d, f, true)?,
                dims,
                post_ln: false,
            },
            LayerStyle::Bert => EncoderLayer {
                ln1: Norm::load(w, &p("attention.output.LayerNorm"), d, dims.eps)?,
                q: Linear::load(w, &p("attention.self.query"), d, d, true)?,
                k: Linear::load(w, &p("attention.self.key"), d, d, true)?,
                v: Linear::load(w, &p("attention.self.value"), d, d, true)?,
                o: Linear::load(w, &p("attention.output.dense"), d, d, true)?,
                ln2: Norm::load(w, &p("output.LayerNorm"), d, dims.eps)?,
                fc1: Linear::load(w, &p("intermediate.dense"), f, d, true)?,
                fc2: Linear::load(w, &p("output.dense"), d, f, true)?,
                dims,
                post_ln: true,
            },
            LayerStyle::Clip => EncoderLayer {
                ln1: Norm::load(w, &p("layer_norm1"), d, dims.eps)?,
                q: Linear::load(w, &p("self_attn.q_proj"), d, d, true)?,
                k: Linear::load(w, &p("self_attn.k_proj"), d, d, true)?,
                v: Linear::load(w, &p("self_attn.v_proj"), d, d, true)?,
                o: Linear::load(w, &p("self_attn.out_proj"), d, d, true)?,
                ln2: Norm::load(w, &p("layer_norm2"), d, dims.eps)?,
                fc1: Linear::load(w, &p("mlp.fc1"), f, d, true)?,
                fc2: Linear::load(w, &p("mlp.fc2"), d, f, true)?,
                dims,
                post_ln: false,
            },
        })
    }

    /// `x += attn(ln1(x)); x += mlp(ln2(x))` over (B, T, D) (post-LN: `x = ln1(x + attn(x));
    /// x = ln2(x + mlp(x))`); `key_mask` is an additive (B, T) mask (see [`key_mask`]), `causal`
    /// lets token `i` see tokens `j <= i` only.
    pub fn forward(&self, x: &[f32], batch: usize, t: usize, key_mask: Option<&[f32]>, causal: bool) -> Vec<f32> {
        let rows = batch * t;
        let heads = self.dims.heads;
        let p = Attention { causal, ..Attention::separate(batch, t, t, heads, self.dims.hidden / heads) };
        if self.post_ln {
            let q = self.q.apply(x, rows, Activation::None, None);
            let k = self.k.apply(x, rows, Activation::None, None);
            let v = self.v.apply(x, rows, Activation::None, None);
            let a = attention(&p, &q, &k, &v, key_mask);
            let x = self.ln1.apply(&self.o.apply(&a, rows, Activation::None, Some(x)), rows);
            let m = self.fc1.apply(&x, rows, self.dims.act, None);
            return self.ln2.apply(&self.fc2.apply(&m, rows, Activation::None, Some(&x)), rows);
        }
        let h = self.ln1.apply(x, rows);
        let q = self.q.apply(&h, rows, Activation::None, None);
        let k = self.k.apply(&h, rows, Activation::None, None);
        let v = self.v.apply(&h, rows, Activation::None, None);
        let a = attention(&p, &q, &k, &v, key_mask);
        let x = self.o.apply(&a, rows, Activation::None, Some(x));
        let h = self.ln2.apply(&x, rows);
        let m = self.fc1.apply(&h, rows, self.dims.act, None);
        self.fc2.apply(&m, rows, Activation::None, Some(&x))
    }
}

/// Loads `layers` blocks named `{prefix}.{i}`.
pub(crate) fn load_layers(
    w: &dyn WeightSource,
    prefix: &str,
    layers: usize,
    style: LayerStyle,
    dims: LayerDims,
) -> Result<Vec<EncoderLayer>, String> {
    (0..layers)
        .map(|i| EncoderLayer::load(w, &format!("{prefix}.{i}"), style, dims))
        .collect()
}

/// (R, C) → (C, R).
pub(crate) fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = x[r * cols + c];
        }
    }
    out
}

/// The size the images of a vision tower have: the configured `size` square, or `hw` when the
/// caller asks for position interpolation (transformers' `interpolate_pos_encoding`). Checks the
/// pixel count; returns (H, W, GH, GW) with the patch grid floored as the conv floors it.
pub(crate) fn image_grid(
    pixels: &[f32],
    batch: usize,
    channels: usize,
    size: usize,
    patch: usize,
    hw: Option<(usize, usize)>,
) -> Result<(usize, usize, usize, usize), String> {
    let (h, w) = match hw {
        None => {
            check_pixels(pixels, batch, channels, size, patch)?;
            (size, size)
        }
        Some((h, w)) => {
            if patch == 0 || h < patch || w < patch {
                return Err(format!("images of {h}x{w} are smaller than one {patch}x{patch} patch"));
            }
            if pixels.len() != batch * channels * h * w {
                return Err(format!("pixel_values holds {} values, expected {batch}×{channels}×{h}×{w}", pixels.len()));
            }
            (h, w)
        }
    };
    Ok((h, w, h / patch, w / patch))
}

/// Position embeddings for a (gh, gw) patch grid from a table of `prefix` rows followed by a
/// g×g grid (rows of `d`): the table itself for the same grid, else the prefix rows and the grid
/// resized bicubically (PyTorch `interpolate(size=(gh, gw), mode="bicubic", align_corners=False)`).
pub(crate) fn grid_positions(pos: &[f32], prefix: usize, g: usize, d: usize, gh: usize, gw: usize) -> Vec<f32> {
    grid_positions_with(pos, prefix, g, d, gh, gw, false)
}

/// [`grid_positions`]; with `antialias`, PyTorch's `antialias=True` resize.
pub(crate) fn grid_positions_with(pos: &[f32], prefix: usize, g: usize, d: usize, gh: usize, gw: usize, antialias: bool) -> Vec<f32> {
    if (gh, gw) == (g, g) {
        return pos.to_vec();
    }
    let mut out = pos[..prefix * d].to_vec();
    let grid = &pos[prefix * d..];
    out.extend(if antialias {
        crate::patch::interpolate_pos_bicubic_antialias(grid, g, g, d, gh, gw)
    } else {
        crate::patch::interpolate_pos_bicubic(grid, g, g, d, gh, gw)
    });
    out
}

/// Adds a (T, D) position table to every one of `batch` (T, D) sequences.
pub(crate) fn add_positions(x: &mut [f32], pos: &[f32], batch: usize) {
    let td = pos.len();
    for b in 0..batch {
        for (v, p) in x[b * td..(b + 1) * td].iter_mut().zip(pos) {
            *v = (*v as f64 + *p as f64) as f32;
        }
    }
}

/// Token ids (i64, as Hugging Face hands them) → u32 embedding rows, rejecting out-of-range ids.
pub(crate) fn token_ids(ids: &[i64], vocab: usize) -> Result<Vec<u32>, String> {
    ids.iter()
        .map(|&id| {
            if id < 0 || id as usize >= vocab {
                Err(format!("token id {id} outside the vocabulary of {vocab}"))
            } else {
                Ok(id as u32)
            }
        })
        .collect()
}

/// The additive (B, T) key mask of [`crate::attention::attention`]: 0 where `keep`, −∞ elsewhere.
pub(crate) fn key_mask(keep: impl IntoIterator<Item = bool>) -> Vec<f32> {
    keep.into_iter().map(|k| if k { 0.0 } else { f32::NEG_INFINITY }).collect()
}

/// Checks `pixels` is (B, C, S, S).
pub(crate) fn check_pixels(
    pixels: &[f32],
    batch: usize,
    channels: usize,
    size: usize,
    patch: usize,
) -> Result<(), String> {
    if patch == 0 || size / patch * patch != size {
        return Err(format!("image size {size} is not a multiple of patch size {patch}"));
    }
    let want = batch * channels * size * size;
    if pixels.len() != want {
        return Err(format!(
            "pixel_values holds {} values, expected {batch}×{channels}×{size}×{size} = {want}",
            pixels.len()
        ));
    }
    Ok(())
}
