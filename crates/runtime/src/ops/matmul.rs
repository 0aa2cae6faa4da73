//! Batched matmul / Linear with fused bias, activation and residual epilogue.

use super::{f32s, fits_u32, groups, non_empty, Activation};
use crate::{kernels, Context, DType, Error, Result, Tensor};

/// How the second operand is stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeightLayout {
    /// (N, K), as Hugging Face stores Linear weights.
    #[default]
    NK,
    /// (K, N), e.g. V in attention's `P · V`.
    KN,
}

/// Which kernel runs the matmul.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MatmulKernel {
    /// The tiled kernel where the layout allows it, else the naive one.
    #[default]
    Auto,
    /// One output per invocation (baseline and oracle).
    Naive,
    /// The register-blocked kernel (requires `WeightLayout::NK`).
    Tiled,
}

/// Epilogue and layout of a matmul.
#[derive(Clone, Copy, Debug)]
pub struct MatmulOptions {
    pub alpha: f32,
    pub act: Activation,
    pub layout: WeightLayout,
    pub kernel: MatmulKernel,
}

impl Default for MatmulOptions {
    fn default() -> Self {
        MatmulOptions { alpha: 1.0, act: Activation::None, layout: WeightLayout::NK, kernel: MatmulKernel::Auto }
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    batch: u32,
    m: u32,
    k: u32,
    n: u32,
    flags: u32,
    act: u32,
    alpha: f32,
    _pad: u32,
}

/// Invocations per workgroup of the tiled kernel (columns are WG·RN per workgroup).
fn tiled_wg(ctx: &Context) -> u32 {
    if ctx.is_software() {
        32
    } else {
        64
    }
}
const TILED_RM: u64 = 4;
const TILED_RN: u64 = 4;

/// `out = act(alpha · a · wᵀ + bias) + residual`.
///
/// `a` is (…, M, K). `w` is (N, K) (or (K, N) with `WeightLayout::KN`), shared by every batch,
/// or (B, N, K) matching `a`'s leading dims flattened to B. `bias` is (N), `residual` has the
/// output's shape (…, M, N).
pub fn matmul(
    ctx: &Context,
    a: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    residual: Option<&Tensor>,
    opts: MatmulOptions,
) -> Result<Tensor> {
    const OP: &str = "matmul";
    f32s(OP, &[a, w])?;
    non_empty(OP, a)?;
    non_empty(OP, w)?;
    if a.rank() < 2 || w.rank() < 2 || w.rank() > 3 {
        return Err(Error::InvalidArgument {
            op: OP,
            message: format!("need a (…, M, K) and w (N, K) or (B, N, K); got {:?} and {:?}", a.shape(), w.shape()),
        });
    }
    let (m, k) = (a.dim_back(1), a.dim_back(0));
    let batch = a.numel() / (m * k);
    let (wn, wk) = match opts.layout {
        WeightLayout::NK => (w.dim_back(1), w.dim_back(0)),
        WeightLayout::KN => (w.dim_back(0), w.dim_back(1)),
    };
    let n = wn;
    if wk != k {
        return Err(Error::ShapeMismatch {
            op: OP,
            expected: format!("w with K = {k} (a is {:?}, layout {:?})", a.shape(), opts.layout),
            got: w.shape().to_vec(),
        });
    }
    let w_batched = w.rank() == 3;
    if w_batched && w.shape()[0] != batch {
        return Err(Error::ShapeMismatch { op: OP, expected: format!("w batch {batch}"), got: w.shape().to_vec() });
    }
    let mut out_shape = a.shape().to_vec();
    let last = out_shape.len() - 1;
    out_shape[last] = n;
    let mut flags = 0u32;
    if let Some(b) = bias {
        f32s(OP, &[b])?;
        b.expect_shape("matmul bias", &[n])?;
        flags |= 1;
    }
    if let Some(r) = residual {
        f32s(OP, &[r])?;
        r.expect_shape("matmul residual", &out_shape)?;
        flags |= 2;
    }
    if opts.layout == WeightLayout::KN {
        flags |= 4;
    }
    if w_batched {
        flags |= 8;
    }
    fits_u32(OP, a.numel().max(w.numel()).max(batch * m * n))?;
    let out = Tensor::empty(ctx, &out_shape, DType::F32)?;
    let dummy;
    let bias_t = match bias {
        Some(b) => b,
        None => {
            dummy = ctx.dummy()?;
            &dummy
        }
    };
    let res_t = residual.unwrap_or(bias_t);
    let params = Params {
        batch: batch as u32,
        m: m as u32,
        k: k as u32,
        n: n as u32,
        flags,
        act: opts.act.code(),
        alpha: opts.alpha,
        _pad: 0,
    };
    let tiled = match opts.kernel {
        MatmulKernel::Naive => false,
        MatmulKernel::Auto => opts.layout == WeightLayout::NK,
        MatmulKernel::Tiled => {
            if opts.layout != WeightLayout::NK {
                return Err(Error::InvalidArgument { op: OP, message: "the tiled kernel needs W as (N, K)".into() });
            }
            true
        }
    };
    let tensors = [a, w, bias_t, res_t, &out];
    if tiled {
        let wg = tiled_wg(ctx);
        let tiles = batch as u64 * (m as u64).div_ceil(TILED_RM) * (n as u64).div_ceil(wg as u64 * TILED_RN);
        ctx.dispatch(&kernels::MATMUL_TILED, &[("WG", wg as f64)], &params, &tensors, tiles)?;
    } else {
        ctx.dispatch(&kernels::MATMUL_NAIVE, &[], &params, &tensors, groups(batch * m * n, 64))?;
    }
    Ok(out)
}

/// A Hugging Face Linear layer: `act(x · wᵀ + bias) + residual` with `w` as (N, K).
pub fn linear(
    ctx: &Context,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    act: Activation,
    residual: Option<&Tensor>,
) -> Result<Tensor> {
    matmul(ctx, x, w, bias, residual, MatmulOptions { act, ..Default::default() })
}
