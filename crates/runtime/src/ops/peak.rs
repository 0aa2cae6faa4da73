//! The adapter's ceilings for `vitfuse bench peak`: FMA throughput (f32, f16) and copy bandwidth.

use super::{fits_u32, groups};
use crate::{kernels, Context, DType, Error, Result, Tensor};

/// FMA lanes per invocation and loop iteration of the peak kernels (8 vec4 accumulators, 4
/// rounds each); two flops each.
pub const FMA_PER_ITER: u64 = 128;

/// Arithmetic of [`fma`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// `vec4<f32>` accumulators (`peak_fma_f32`).
    F32,
    /// `vec4<f16>` accumulators (`peak_fma_f16`); needs `Features::SHADER_F16`.
    F16,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FmaParams {
    n: u32,
    iters: u32,
    mul: f32,
    add: f32,
}

/// `n` invocations of `4 · iters` rounds of `acc = fma(acc, mul, add)` over 8 vec4 accumulators
/// each (see `shaders/runtime/peak_fma.wgsl`); out (n) holds each invocation's sum of lanes.
/// Flops: `2 · FMA_PER_ITER · n · iters`.
pub fn fma(ctx: &Context, precision: Precision, n: usize, iters: u32, mul: f32, add: f32) -> Result<Tensor> {
    const OP: &str = "peak_fma";
    if n == 0 {
        return Err(Error::InvalidArgument { op: OP, message: "need at least one invocation".into() });
    }
    let kernel = match precision {
        Precision::F32 => &kernels::PEAK_FMA_F32,
        Precision::F16 if ctx.has_feature(wgpu::Features::SHADER_F16) => &kernels::PEAK_FMA_F16,
        Precision::F16 => {
            return Err(Error::KernelUnsupported {
                op: OP,
                kernel: kernels::PEAK_FMA_F16.name,
                adapter: ctx.adapter_name().to_string(),
                reason: "needs Features::SHADER_F16".into(),
            })
        }
    };
    let p = FmaParams { n: fits_u32(OP, n)?, iters, mul, add };
    let out = Tensor::empty(ctx, &[n], DType::F32)?;
    ctx.dispatch(kernel, &[], &p, &[&out], groups(n, 64))?;
    Ok(out)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct CopyParams {
    n: u32,
    _p: [u32; 3],
}

/// A copy of the f32 tensor `x` through a kernel (one vec4 per invocation), for bandwidth:
/// it reads and writes `x.byte_len()` bytes each. `x.numel()` must be a multiple of 4.
pub fn copy(ctx: &Context, x: &Tensor) -> Result<Tensor> {
    const OP: &str = "copy_bandwidth";
    x.expect_dtype(OP, DType::F32)?;
    if x.numel() == 0 || !x.numel().is_multiple_of(4) {
        return Err(Error::InvalidArgument { op: OP, message: format!("need a non-empty multiple of 4 elements, got {:?}", x.shape()) });
    }
    let n4 = x.numel() / 4;
    let p = CopyParams { n: fits_u32(OP, n4)?, _p: [0; 3] };
    let out = Tensor::empty(ctx, x.shape(), DType::F32)?;
    ctx.dispatch(&kernels::COPY_BANDWIDTH, &[], &p, &[x, &out], groups(n4, 256))?;
    Ok(out)
}
