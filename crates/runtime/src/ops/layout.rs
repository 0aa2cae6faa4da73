//! Data movement: head split/merge, embedding gather, token concatenation.

use super::{activation_dtype, f32s, fits_u32, groups, io_kernel, non_empty};
use crate::{kernels, Context, DType, Error, Result, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SplitParams {
    b: u32,
    t: u32,
    c: u32,
    offset: u32,
    nh: u32,
    hs: u32,
    _p0: u32,
    _p1: u32,
}

/// (B, T, C) → (B, NH, T, HS) from columns `offset + h·HS + d`; `offset` picks Q, K or V out of
/// a fused QKV projection. `x` is f32 or f16 (where the device has `SHADER_F16`), and so is the
/// output.
pub fn split_heads(
    ctx: &Context,
    x: &Tensor,
    offset: usize,
    nh: usize,
    hs: usize,
) -> Result<Tensor> {
    const OP: &str = "split_heads";
    let dt = activation_dtype(ctx, OP, x)?;
    let kernel = io_kernel(ctx, OP, &kernels::SPLIT_HEADS, dt, dt)?;
    non_empty(OP, x)?;
    if x.rank() != 3 || nh == 0 || hs == 0 || offset + nh * hs > x.dim_back(0) {
        return Err(Error::InvalidArgument {
            op: OP,
            message: format!("cannot take {nh} heads of {hs} at column {offset} from {:?}", x.shape()),
        });
    }
    let (b, t, c) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let out = Tensor::empty(ctx, &[b, nh, t, hs], dt)?;
    let p = SplitParams {
        b: b as u32,
        t: t as u32,
        c: c as u32,
        offset: offset as u32,
        nh: nh as u32,
        hs: hs as u32,
        _p0: 0,
        _p1: 0,
    };
    fits_u32(OP, x.numel())?;
    ctx.dispatch(kernel, &[], &p, &[x, &out], groups(out.numel(), 64))?;
    Ok(out)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MergeParams {
    b: u32,
    nh: u32,
    t: u32,
    hs: u32,
}

/// (B, NH, T, HS) → (B, T, NH·HS), f32 or f16 as `x`.
pub fn merge_heads(ctx: &Context, x: &Tensor) -> Result<Tensor> {
    const OP: &str = "merge_heads";
    let dt = activation_dtype(ctx, OP, x)?;
    let kernel = io_kernel(ctx, OP, &kernels::MERGE_HEADS, dt, dt)?;
    non_empty(OP, x)?;
    if x.rank() != 4 {
        return Err(Error::ShapeMismatch { op: OP, expected: "(B, NH, T, HS)".into(), got: x.shape().to_vec() });
    }
    let s = x.shape();
    let (b, nh, t, hs) = (s[0], s[1], s[2], s[3]);
    fits_u32(OP, x.numel())?;
    let out = Tensor::empty(ctx, &[b, t, nh * hs], dt)?;
    let p = MergeParams {
        b: b as u32,
        nh: nh as u32,
        t: t as u32,
        hs: hs as u32,
    };
    ctx.dispatch(kernel, &[], &p, &[x, &out], groups(out.numel(), 64))?;
    Ok(out)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct EmbParams {
    n: u32,
    vocab: u32,
    dim: u32,
    _pad: u32,
}

/// Gathers rows of `table` (V, D; f32 or f16, read widened) by the u32 `ids` (…) → (…, D), f32.
/// Ids outside [0, V) give zeros
/// (callers validate ids on the host, where they come from).
pub fn embedding(ctx: &Context, table: &Tensor, ids: &Tensor) -> Result<Tensor> {
    const OP: &str = "embedding";
    let kernel = if super::f16_weight(ctx, OP, table)? { &kernels::EMBEDDING_F16 } else { &kernels::EMBEDDING };
    ids.expect_dtype(OP, DType::U32)?;
    non_empty(OP, ids)?;
    if table.rank() != 2 {
        return Err(Error::ShapeMismatch { op: OP, expected: "table (V, D)".into(), got: table.shape().to_vec() });
    }
    let (vocab, dim) = (table.shape()[0], table.shape()[1]);
    let mut shape = ids.shape().to_vec();
    shape.push(dim);
    fits_u32(OP, ids.numel() * dim)?;
    let out = Tensor::empty(ctx, &shape, DType::F32)?;
    let p = EmbParams { n: ids.numel() as u32, vocab: vocab as u32, dim: dim as u32, _pad: 0 };
    ctx.dispatch(kernel, &[], &p, &[ids, table, &out], groups(out.numel(), 64))?;
    Ok(out)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ConcatParams {
    b: u32,
    t1: u32,
    t2: u32,
    d: u32,
}

/// (B, T1, D) ++ (B, T2, D) → (B, T1+T2, D).
pub fn concat_tokens(ctx: &Context, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    const OP: &str = "concat_tokens";
    f32s(OP, &[a, b])?;
    non_empty(OP, a)?;
    non_empty(OP, b)?;
    if a.rank() != 3 || b.rank() != 3 || a.shape()[0] != b.shape()[0] || a.shape()[2] != b.shape()[2] {
        return Err(Error::ShapeMismatch {
            op: OP,
            expected: format!("(B, T2, D) with B, D of {:?}", a.shape()),
            got: b.shape().to_vec(),
        });
    }
    let (bb, t1, d) = (a.shape()[0], a.shape()[1], a.shape()[2]);
    let t2 = b.shape()[1];
    fits_u32(OP, bb * (t1 + t2) * d)?;
    let out = Tensor::empty(ctx, &[bb, t1 + t2, d], DType::F32)?;
    let p = ConcatParams { b: bb as u32, t1: t1 as u32, t2: t2 as u32, d: d as u32 };
    ctx.dispatch(&kernels::CONCAT_TOKENS, &[], &p, &[a, b, &out], groups(out.numel(), 64))?;
    Ok(out)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct TakeParams {
    b: u32,
    t: u32,
    d: u32,
    fixed: u32,
}

/// One token per sequence: `x` (B, T, D), `idx` (B) u32 → (B, D).
pub fn take_tokens(ctx: &Context, x: &Tensor, idx: &Tensor) -> Result<Tensor> {
    const OP: &str = "take_tokens";
    f32s(OP, &[x])?;
    idx.expect_dtype(OP, DType::U32)?;
    non_empty(OP, x)?;
    if x.rank() != 3 || idx.shape() != [x.shape()[0]] {
        return Err(Error::ShapeMismatch {
            op: OP,
            expected: format!("x (B, T, D) and idx (B); x is {:?}", x.shape()),
            got: idx.shape().to_vec(),
        });
    }
    let (b, t, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    fits_u32(OP, x.numel())?;
    let out = Tensor::empty(ctx, &[b, d], DType::F32)?;
    let p = TakeParams { b: b as u32, t: t as u32, d: d as u32, fixed: u32::MAX };
    ctx.dispatch(&kernels::TAKE_TOKENS, &[], &p, &[x, idx, &out], groups(b * d, 64))?;
    Ok(out)
}

/// The token at position `t` of every sequence: `x` (B, T, D) → (B, D) (CLS at 0, SigLIP's
/// last position). Needs no index tensor, so nothing is uploaded inside a forward pass.
pub fn take_token(ctx: &Context, x: &Tensor, t: usize) -> Result<Tensor> {
    const OP: &str = "take_token";
    f32s(OP, &[x])?;
    non_empty(OP, x)?;
    if x.rank() != 3 || t >= x.shape()[1] {
        return Err(Error::InvalidArgument { op: OP, message: format!("token {t} of {:?}", x.shape()) });
    }
    let (b, tt, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    fits_u32(OP, x.numel())?;
    let out = Tensor::empty(ctx, &[b, d], DType::F32)?;
    let p = TakeParams { b: b as u32, t: tt as u32, d: d as u32, fixed: t as u32 };
    let dummy = ctx.dummy()?;
    ctx.dispatch(&kernels::TAKE_TOKENS, &[], &p, &[x, &dummy, &out], groups(b * d, 64))?;
    Ok(out)
}
