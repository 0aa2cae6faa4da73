//! Cross-attention and SigLIP's multihead attention pooling, composed from runtime ops and the
//! fused attention kernel, plus the row broadcast / slice kernel they need.

use crate::{expect_f32, fits_u32, groups, invalid, kernels, Context, Result, Tensor};
use vitfuse_attention::{attention, AttentionOptions, Heads, MAX_HEAD_SIZE};
use vitfuse_runtime::ops;
use vitfuse_runtime::{DType, Error};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct BroadcastParams {
    b: u32,
    r: u32,
    c: u32,
    stride: u32,
    off: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

#[allow(clippy::too_many_arguments)]
fn broadcast_raw(ctx: &Context, op: &'static str, src: &Tensor, b: usize, r: usize, c: usize, stride: usize, off: usize) -> Result<Tensor> {
    fits_u32(op, (b * r * c).max(src.numel()))?;
    let out = Tensor::empty(ctx, &[b, r, c], DType::F32)?;
    let p = BroadcastParams {
        b: b as u32,
        r: r as u32,
        c: c as u32,
        stride: stride as u32,
        off: off as u32,
        _p0: 0,
        _p1: 0,
        _p2: 0,
    };
    ctx.dispatch(&kernels::BROADCAST_ROWS, &[], &p, &[src, &out], groups(b * r * c, 64))?;
    Ok(out)
}

/// Columns `[off, off + cols)` of `src` (R, S) repeated for every batch entry: (B, R, cols).
pub fn broadcast_rows(ctx: &Context, src: &Tensor, b: usize, off: usize, cols: usize) -> Result<Tensor> {
    const OP: &str = "broadcast_rows";
    expect_f32(OP, src, 2, "src (R, S)")?;
    let (r, s) = (src.shape()[0], src.shape()[1]);
    if b == 0 || cols == 0 || off + cols > s {
        return Err(invalid(OP, format!("cannot take {cols} columns at {off} of {:?} for batch {b}", src.shape())));
    }
    broadcast_raw(ctx, OP, src, b, r, cols, s, off)
}

/// Rows `[r0, r1)` of `src` (R, …) as a new tensor (r1 − r0, …): one contiguous copy, e.g. the
/// K/V block of a packed `in_proj_weight`.
pub fn slice_rows(ctx: &Context, src: &Tensor, r0: usize, r1: usize) -> Result<Tensor> {
    const OP: &str = "slice_rows";
    src.expect_dtype(OP, DType::F32)?;
    if src.rank() == 0 || r0 >= r1 || r1 > src.shape()[0] || src.numel() == 0 {
        return Err(invalid(OP, format!("cannot take rows {r0}..{r1} of {:?}", src.shape())));
    }
    let row = src.numel() / src.shape()[0];
    let mut shape = src.shape().to_vec();
    shape[0] = r1 - r0;
    broadcast_raw(ctx, OP, src, 1, 1, (r1 - r0) * row, src.numel(), r0 * row)?.reshape(&shape)
}

/// Multi-head cross-attention: queries `q` (B, Tq, C) over keys and values packed in `kv`
/// (B, Tk, 2C), K in columns [0, C) and V in [C, 2C) (one fused K/V projection), C = NH·HS,
/// scale 1/√HS, optional additive `key_mask` (B, Tk) (e.g. from [`crate::early_fusion`]).
/// Returns (B, Tq, C), heads merged. One fused attention dispatch.
pub fn cross_attention(ctx: &Context, q: &Tensor, kv: &Tensor, key_mask: Option<&Tensor>, nh: usize, hs: usize) -> Result<Tensor> {
    const OP: &str = "cross_attention";
    expect_f32(OP, q, 3, "q (B, Tq, C)")?;
    expect_f32(OP, kv, 3, "kv (B, Tk, 2C)")?;
    let c = nh * hs;
    if q.shape()[2] != c {
        return Err(Error::ShapeMismatch { op: OP, expected: format!("q as (B, Tq, {c}) for {nh} heads of {hs}"), got: q.shape().to_vec() });
    }
    if kv.shape()[2] != 2 * c || kv.shape()[0] != q.shape()[0] {
        return Err(Error::ShapeMismatch {
            op: OP,
            expected: format!("kv as ({}, Tk, {})", q.shape()[0], 2 * c),
            got: kv.shape().to_vec(),
        });
    }
    attention(ctx, Heads::new(q, 0), Heads::new(kv, 0), Heads::new(kv, c), key_mask, AttentionOptions::new(nh, hs))
}

/// The `nn.MultiheadAttention` of transformers' `SiglipMultiheadAttentionPoolingHead`: learned
/// `probe` queries (P, D) (or the stored (1, P, D)) attend over the tokens of `x` (B, T, D).
/// `in_proj_w` (3D, D) and `in_proj_b` (3D) pack the Q, K, V projections; `out_w` (D, D),
/// `out_b` (D) project the merged heads. Returns (B, P, D). The head's LayerNorm + MLP residual
/// and `[:, 0]` follow with runtime ops.
///
/// Dispatches: probe projection (P × 3D, tiny) → broadcast of its Q columns over B → slice of
/// the K/V rows of `in_proj_w` and `in_proj_b` → K/V projection of `x` → fused attention →
/// output projection.
#[allow(clippy::too_many_arguments)]
pub fn attention_pool(
    ctx: &Context,
    x: &Tensor,
    probe: &Tensor,
    in_proj_w: &Tensor,
    in_proj_b: &Tensor,
    out_w: &Tensor,
    out_b: &Tensor,
    nh: usize,
) -> Result<Tensor> {
    attention_pool_masked(ctx, x, None, probe, in_proj_w, in_proj_b, out_w, out_b, nh)
}

/// [`attention_pool`] over the tokens that `key_mask` (an additive (B, T) mask: 0 kept, very
/// negative dropped) keeps, as SigLIP 2's head skips the padded patches.
#[allow(clippy::too_many_arguments)]
pub fn attention_pool_masked(
    ctx: &Context,
    x: &Tensor,
    key_mask: Option<&Tensor>,
    probe: &Tensor,
    in_proj_w: &Tensor,
    in_proj_b: &Tensor,
    out_w: &Tensor,
    out_b: &Tensor,
    nh: usize,
) -> Result<Tensor> {
    const OP: &str = "attention_pool";
    expect_f32(OP, x, 3, "x (B, T, D)")?;
    let (b, d) = (x.shape()[0], x.shape()[2]);
    let probe = match probe.shape() {
        [1, p, pd] if *pd == d => probe.reshape(&[*p, d])?,
        [_, pd] if *pd == d => probe.clone(),
        s => return Err(Error::ShapeMismatch { op: OP, expected: format!("probe as (P, {d}) or (1, P, {d})"), got: s.to_vec() }),
    };
    expect_f32(OP, &probe, 2, "probe (P, D)")?;
    if nh == 0 || d % nh != 0 || d / nh > MAX_HEAD_SIZE {
        return Err(invalid(OP, format!("{nh} heads do not split D = {d} into heads of at most {MAX_HEAD_SIZE}")));
    }
    for (t, want) in [(in_proj_w, vec![3 * d, d]), (in_proj_b, vec![3 * d]), (out_w, vec![d, d]), (out_b, vec![d])] {
        t.expect_dtype(OP, DType::F32)?;
        t.expect_shape(OP, &want)?;
    }
    let qp = ops::linear(ctx, &probe, in_proj_w, Some(in_proj_b), ops::Activation::None, None)?; // (P, 3D)
    let q = broadcast_rows(ctx, &qp, b, 0, d)?; // (B, P, D)
    let w_kv = slice_rows(ctx, in_proj_w, d, 3 * d)?; // (2D, D)
    let b_kv = slice_rows(ctx, in_proj_b, d, 3 * d)?; // (2D)
    let kv = ops::linear(ctx, x, &w_kv, Some(&b_kv), ops::Activation::None, None)?; // (B, T, 2D)
    let o = cross_attention(ctx, &q, &kv, key_mask, nh, d / nh)?;
    ops::linear(ctx, &o, out_w, Some(out_b), ops::Activation::None, None)
}
