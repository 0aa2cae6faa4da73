//! Elementwise add / multiply / scale / activation, and the SwiGLU gate.

use super::{f32s, fits_u32, groups, non_empty, Activation};
use crate::{kernels, Context, DType, Error, Result, Tensor};

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

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SwigluParams {
    rows: u32,
    h: u32,
    _p: [u32; 2],
}

/// SwiGLU gate: `x` (…, 2H) holds `[x1 | x2]` per row → `silu(x1) · x2` (…, H), f32 or f16 as
/// `x` (f16 where the device has `SHADER_F16`; computed in f32).
pub fn swiglu(ctx: &Context, x: &Tensor) -> Result<Tensor> {
    const OP: &str = "swiglu";
    let dt = super::activation_dtype(ctx, OP, x)?;
    let kernel = super::io_kernel(ctx, OP, &kernels::SWIGLU, dt, dt)?;
    non_empty(OP, x)?;
    let c = x.dim_back(0);
    if x.rank() == 0 || !c.is_multiple_of(2) {
        return Err(Error::InvalidArgument { op: OP, message: format!("the last dimension of {:?} must be even ([x1 | x2])", x.shape()) });
    }
    let h = c / 2;
    let rows = x.numel() / c;
    let mut shape = x.shape().to_vec();
    *shape.last_mut().expect("rank checked") = h;
    fits_u32(OP, x.numel())?;
    let out = Tensor::empty(ctx, &shape, dt)?;
    let p = SwigluParams { rows: rows as u32, h: h as u32, _p: [0; 2] };
    ctx.dispatch(kernel, &[], &p, &[x, &out], groups(out.numel(), 64))?;
    Ok(out)
}
