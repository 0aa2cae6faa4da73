//! Elementwise add / multiply / scale / activation.

use super::{f32s, fits_u32, groups, non_empty, Activation};
use crate::{kernels, Context, DType, Result, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    op: u32,
    act: u32,
    s: f32,
}

fn run(ctx: &Context, op: &'static str, code: u32, a: &Tensor, b: Option<&Tensor>, act: Activation, s: f32) -> Result<Tensor> {
    f32s(op, &[a])?;
    non_empty(op, a)?;
    if let Some(b) = b {
        f32s(op, &[b])?;
        b.expect_shape(op, a.shape())?;
    }
    let n = fits_u32(op, a.numel())?;
    let out = Tensor::empty(ctx, a.shape(), DType::F32)?;
    let p = Params { n, op: code, act: act.code(), s };
    let b = b.unwrap_or(a);
    ctx.dispatch(&kernels::ELEMENTWISE, &[], &p, &[a, b, &out], groups(a.numel(), 256))?;
    Ok(out)
}

/// `a + b` (same shapes).
pub fn add(ctx: &Context, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    run(ctx, "add", 0, a, Some(b), Activation::None, 0.0)
}

/// `s · a`.
pub fn scale(ctx: &Context, a: &Tensor, s: f32) -> Result<Tensor> {
    run(ctx, "scale", 1, a, None, Activation::None, s)
}

/// `act(a)`.
pub fn activation(ctx: &Context, a: &Tensor, act: Activation) -> Result<Tensor> {
    run(ctx, "activation", 2, a, None, act, 0.0)
}

/// `a * b` (same shapes).
pub fn mul(ctx: &Context, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    run(ctx, "mul", 3, a, Some(b), Activation::None, 0.0)
}
