//! Late fusion: CLIP / SigLIP similarity and combiners of per-modality embeddings.

use crate::{expect_f32, fits_u32, groups, invalid, kernels, Context, Result, Tensor};
use vitfuse_runtime::ops::{self, Activation, MatmulOptions};
use vitfuse_runtime::{DType, Error};

/// What [`similarity`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Similarity {
    /// `scale·a·bᵀ + bias` (CLIP's `logits_per_image`, SigLIP's logits).
    Logits,
    /// Softmax of the logits over `b` (CLIP's zero-shot probabilities; `bias` cancels).
    Softmax,
    /// Sigmoid of every logit (SigLIP's independent probabilities).
    Sigmoid,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct EpilogueParams {
    n: u32,
    kind: u32,
    bias: f32,
    _p0: u32,
}

/// Similarity of every row of `a` (Na, P) with every row of `b` (Nb, P): (Na, Nb). `scale` is
/// the already exponentiated `logit_scale.exp()`, `bias` SigLIP's `logit_bias` (0 for CLIP).
/// Rows are used as given: L2-normalise them first (`ops::l2_normalize`) for cosine logits.
/// A matmul with `alpha = scale`, then a bias + sigmoid epilogue kernel or a row softmax.
pub fn similarity(ctx: &Context, a: &Tensor, b: &Tensor, scale: f32, bias: f32, kind: Similarity) -> Result<Tensor> {
    const OP: &str = "similarity";
    expect_f32(OP, a, 2, "a (Na, P)")?;
    expect_f32(OP, b, 2, "b (Nb, P)")?;
    if b.shape()[1] != a.shape()[1] {
        return Err(Error::ShapeMismatch { op: OP, expected: format!("b as (Nb, {})", a.shape()[1]), got: b.shape().to_vec() });
    }
    if !scale.is_finite() || !bias.is_finite() {
        return Err(invalid(OP, format!("scale {scale} and bias {bias} must be finite")));
    }
    let logits = ops::matmul(ctx, a, b, None, None, MatmulOptions { alpha: scale, ..Default::default() })?;
    let code = match kind {
        Similarity::Softmax => return ops::softmax(ctx, &logits, None, 1.0),
        Similarity::Logits if bias == 0.0 => return Ok(logits),
        Similarity::Logits => 0,
        Similarity::Sigmoid => 1,
    };
    let n = logits.numel();
    let out = Tensor::empty(ctx, logits.shape(), DType::F32)?;
    let p = EpilogueParams { n: fits_u32(OP, n)?, kind: code, bias, _p0: 0 };
    ctx.dispatch(&kernels::LOGIT_EPILOGUE, &[], &p, &[&logits, &out], groups(n, 4 * 64))?;
    Ok(out)
}

/// How [`combine`] merges per-modality embeddings.
#[derive(Clone, Copy, Debug)]
pub enum Combine<'a> {
    /// `Σ_m w_m·e_m`; every embedding (N, D), one weight per embedding.
    WeightedSum(&'a [f32]),
    /// `concat(e_1, …, e_M)·wᵀ + b`: `w` (D_out, ΣD_i), `b` (D_out).
    ConcatProject {
        /// (D_out, ΣD_i) projection weight, as a Linear layer stores it.
        w: &'a Tensor,
        /// (D_out) projection bias.
        b: Option<&'a Tensor>,
    },
    /// `Σ_m g_m·e_m` with `g = softmax(concat(e)·gate_wᵀ + gate_b)` per row: `gate_w`
    /// (M, M·D), `gate_b` (M), every embedding (N, D).
    Gated {
        /// (M, M·D) weight of the gate logits.
        gate_w: &'a Tensor,
        /// (M) bias of the gate logits.
        gate_b: &'a Tensor,
    },
}

/// Weights of [`gated_sum`].
#[derive(Clone, Copy, Debug)]
pub enum SumWeights<'a> {
    /// One weight per embedding, for every row.
    Constant(&'a [f32]),
    /// (N, M) per-row weights (e.g. softmaxed gates).
    PerRow(&'a Tensor),
}

/// Checks that the embeddings are (N, D_i) f32 with one N; returns N and the D_i.
fn embed_dims(op: &'static str, embeds: &[&Tensor]) -> Result<(usize, Vec<usize>)> {
    if embeds.is_empty() {
        return Err(invalid(op, "needs at least one embedding".into()));
    }
    let mut dims = Vec::with_capacity(embeds.len());
    let n = embeds[0].shape().first().copied().unwrap_or(0);
    for (i, e) in embeds.iter().enumerate() {
        expect_f32(op, e, 2, "embedding (N, D_i)")?;
        if e.shape()[0] != n {
            return Err(Error::ShapeMismatch { op, expected: format!("embedding {i} as ({n}, D_{i})"), got: e.shape().to_vec() });
        }
        dims.push(e.shape()[1]);
    }
    Ok((n, dims))
}

fn same_width(op: &'static str, dims: &[usize]) -> Result<usize> {
    if dims.iter().any(|&d| d != dims[0]) {
        return Err(invalid(op, format!("needs embeddings of one width, got {dims:?}")));
    }
    Ok(dims[0])
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ConcatParams {
    n: u32,
    dt: u32,
    col: u32,
    wc: u32,
    d: [u32; 4],
    off: [u32; 4],
}

/// The embeddings (N, D_i) side by side: (N, ΣD_i). One dispatch per four inputs; `vec4`
/// loads when every D_i % 4 == 0.
pub fn concat_features(ctx: &Context, embeds: &[&Tensor]) -> Result<Tensor> {
    const OP: &str = "concat_features";
    let (n, dims) = embed_dims(OP, embeds)?;
    let total: usize = dims.iter().sum();
    fits_u32(OP, n * total)?;
    let w = if dims.iter().all(|d| d % 4 == 0) { 4 } else { 1 };
    let k = if w == 4 { &kernels::CONCAT_FEATURES_VEC4 } else { &kernels::CONCAT_FEATURES };
    let out = Tensor::empty(ctx, &[n, total], DType::F32)?;
    let dummy = ctx.dummy()?;
    let mut col = 0;
    for (chunk, ds) in embeds.chunks(4).zip(dims.chunks(4)) {
        let wc: usize = ds.iter().map(|d| d / w).sum();
        let mut p = ConcatParams { n: n as u32, dt: (total / w) as u32, col: col as u32, wc: wc as u32, d: [0; 4], off: [wc as u32; 4] };
        let mut bound: Vec<&Tensor> = vec![&dummy; 4];
        let mut o = 0;
        for (k, (e, &d)) in chunk.iter().zip(ds).enumerate() {
            p.d[k] = (d / w) as u32;
            p.off[k] = o as u32;
            o += d / w;
            bound[k] = e;
        }
        bound.push(&out);
        ctx.dispatch(k, &[], &p, &bound, groups(n * wc, 64))?;
        col += wc;
    }
    Ok(out)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SumParams {
    n: u32,
    dv: u32,
    cnt: u32,
    flags: u32,
    m: u32,
    m0: u32,
    _p0: u32,
    _p1: u32,
    wc: [f32; 4],
}

/// `Σ_m w_m·e_m` over embeddings (N, D) with constant or per-row (N, M) weights: (N, D). One
/// dispatch per four embeddings (later ones accumulate); `vec4` loads when D % 4 == 0.
pub fn gated_sum(ctx: &Context, embeds: &[&Tensor], weights: SumWeights) -> Result<Tensor> {
    const OP: &str = "gated_sum";
    let (n, dims) = embed_dims(OP, embeds)?;
    let d = same_width(OP, &dims)?;
    let m = embeds.len();
    match weights {
        SumWeights::Constant(ws) if ws.len() != m => {
            return Err(invalid(OP, format!("{} weights for {m} embeddings", ws.len())));
        }
        SumWeights::PerRow(t) => {
            t.expect_dtype(OP, DType::F32)?;
            t.expect_shape(OP, &[n, m])?;
        }
        _ => {}
    }
    fits_u32(OP, n * d.max(m))?;
    let vec4 = d % 4 == 0;
    let dv = if vec4 { d / 4 } else { d };
    let k = if vec4 { &kernels::GATED_SUM_VEC4 } else { &kernels::GATED_SUM };
    let out = Tensor::empty(ctx, &[n, d], DType::F32)?;
    let dummy = ctx.dummy()?;
    for (ci, chunk) in embeds.chunks(4).enumerate() {
        let m0 = ci * 4;
        let mut p = SumParams {
            n: n as u32,
            dv: dv as u32,
            cnt: chunk.len() as u32,
            flags: (ci > 0) as u32,
            m: m as u32,
            m0: m0 as u32,
            _p0: 0,
            _p1: 0,
            wc: [0.0; 4],
        };
        let wt = match weights {
            SumWeights::Constant(ws) => {
                p.wc[..chunk.len()].copy_from_slice(&ws[m0..m0 + chunk.len()]);
                &dummy
            }
            SumWeights::PerRow(t) => {
                p.flags |= 2;
                t
            }
        };
        let mut bound: Vec<&Tensor> = vec![&dummy; 4];
        for (k, e) in chunk.iter().enumerate() {
            bound[k] = e;
        }
        bound.push(wt);
        bound.push(&out);
        ctx.dispatch(k, &[], &p, &bound, groups(n * dv, 64))?;
    }
    Ok(out)
}

/// Late fusion of per-modality embeddings `embeds` (each (N, D_i)) into (N, D_out):
/// - [`Combine::WeightedSum`]: one [`gated_sum`] dispatch;
/// - [`Combine::ConcatProject`]: [`concat_features`] → `ops::linear`;
/// - [`Combine::Gated`]: [`concat_features`] → `ops::linear` (gate logits (N, M)) →
///   `ops::softmax` → [`gated_sum`] with the per-row gates.
pub fn combine(ctx: &Context, embeds: &[&Tensor], how: Combine) -> Result<Tensor> {
    const OP: &str = "combine";
    let (_, dims) = embed_dims(OP, embeds)?;
    let total: usize = dims.iter().sum();
    match how {
        Combine::WeightedSum(ws) => gated_sum(ctx, embeds, SumWeights::Constant(ws)),
        Combine::ConcatProject { w, b } => {
            w.expect_dtype(OP, DType::F32)?;
            if w.rank() != 2 || w.shape()[1] != total {
                return Err(Error::ShapeMismatch { op: OP, expected: format!("w as (D_out, {total})"), got: w.shape().to_vec() });
            }
            let cat = concat_features(ctx, embeds)?;
            ops::linear(ctx, &cat, w, b, Activation::None, None)
        }
        Combine::Gated { gate_w, gate_b } => {
            same_width(OP, &dims)?;
            let m = embeds.len();
            gate_w.expect_dtype(OP, DType::F32)?;
            gate_w.expect_shape(OP, &[m, total])?;
            gate_b.expect_dtype(OP, DType::F32)?;
            gate_b.expect_shape(OP, &[m])?;
            let cat = concat_features(ctx, embeds)?;
            let logits = ops::linear(ctx, &cat, gate_w, Some(gate_b), Activation::None, None)?;
            let gates = ops::softmax(ctx, &logits, None, 1.0)?;
            gated_sum(ctx, embeds, SumWeights::PerRow(&gates))
        }
    }
}
