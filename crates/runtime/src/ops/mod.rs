//! Core ops. Each validates its inputs (typed errors naming the op and shapes), fills a
//! `#[repr(C)]` parameter struct that matches its WGSL `Params` field by field, and records one
//! dispatch. Nothing here waits for the GPU.

mod elementwise;
mod layout;
mod matmul;
mod norm;
pub mod peak;

pub use elementwise::{activation, add, mul, scale, swiglu};
pub use layout::{concat_tokens, embedding, merge_heads, split_heads, take_token, take_tokens};
pub use matmul::{linear, matmul, MatmulKernel, MatmulOptions, WeightLayout};
pub use norm::{l2_normalize, layernorm, layernorm_to, softmax, MaskLayout};

/// Epilogue activation (WGSL `activate()` codes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Activation {
    /// Identity.
    #[default]
    None,
    /// Exact GELU, `0.5·x·(1 + erf(x/√2))` (erf to ~1.2e-7): transformers' `gelu`.
    GeluErf,
    /// Tanh-approximated GELU: transformers' `gelu_pytorch_tanh` / `gelu_new`.
    GeluTanh,
    /// `x·sigmoid(1.702·x)`: CLIP's `quick_gelu`.
    QuickGelu,
    /// `max(x, 0)`.
    Relu,
    /// `tanh(x)`.
    Tanh,
}

impl Activation {
    /// Every activation (the pipelines that fix one as a constant are built for each).
    pub(crate) const ALL: [Activation; 6] =
        [Activation::None, Activation::GeluErf, Activation::GeluTanh, Activation::QuickGelu, Activation::Relu, Activation::Tanh];

    pub(crate) fn code(self) -> u32 {
        match self {
            Activation::None => 0,
            Activation::GeluErf => 1,
            Activation::GeluTanh => 2,
            Activation::QuickGelu => 3,
            Activation::Relu => 4,
            Activation::Tanh => 5,
        }
    }
}

/// Every set of `override` values the ops dispatch `k` with (empty: the shader's defaults).
pub(crate) fn override_sets(k: &crate::Kernel) -> Vec<Vec<(&'static str, f64)>> {
    use crate::kernels::*;
    match k.name {
        n if MATMUL_TILED
            .iter()
            .chain(&MATMUL_TILED_F16)
            .any(|t| t.name == n) =>
        {
            [true, false]
                .map(|sw| matmul::scalar_overrides(sw).to_vec())
                .to_vec()
        }
        n if [MATMUL_SUBGROUP_TEX, MATMUL_SUBGROUP_TEX_F16]
            .iter()
            .flatten()
            .any(|t| t.name == n) =>
        {
            Activation::ALL
                .iter()
                .flat_map(|a| (5..=7).map(move |g| matmul::subgroup_overrides(a.code(), g).to_vec()))
                .collect()
        }
        n if LAYERNORM.iter().chain(&SOFTMAX).any(|t| t.name == n) || n == L2_NORMALIZE.name => {
            norm::row_override_sets()
        }
        _ => Vec::new(),
    }
}

use crate::kernels::Io;
pub(crate) use crate::util::{fits_u32, groups};
use crate::{Context, DType, Error, Kernel, Result, Tensor};

/// Why an f16 weight cannot be read on this adapter.
const NO_F16: &str =
    "this adapter cannot read f16 weights (wgpu's SHADER_F16_IN_F32 is missing: unpack2x16float); use f32 weights";

/// Whether the weight `w` is f16 (kernels read it widened exactly to f32) rather than f32; any
/// other dtype is a [`Error::DTypeMismatch`], and f16 on an adapter that cannot read it an
/// [`Error::InvalidArgument`] that says so.
pub fn f16_weight(ctx: &Context, op: &'static str, w: &Tensor) -> Result<bool> {
    match w.dtype() {
        DType::F32 => Ok(false),
        DType::F16 if ctx.reads_f16() => Ok(true),
        DType::F16 => Err(Error::InvalidArgument { op, message: NO_F16.into() }),
        other => Err(Error::DTypeMismatch { op, expected: DType::F32, got: other }),
    }
}

/// Why f16 activations cannot run on this device.
pub(crate) const NO_F16_ACTIVATIONS: &str =
    "f16 activations need the adapter feature SHADER_F16, which this device was not opened with; use f32 activations";

/// Whether `t` holds activations the io kernels take: f32, or f16 on a device with `SHADER_F16`.
pub(crate) fn activation_dtype(ctx: &Context, op: &'static str, t: &Tensor) -> Result<DType> {
    match t.dtype() {
        DType::F32 => Ok(DType::F32),
        DType::F16 if ctx.has_feature(wgpu::Features::SHADER_F16) => Ok(DType::F16),
        DType::F16 => Err(Error::InvalidArgument {
            op,
            message: NO_F16_ACTIVATIONS.into(),
        }),
        other => Err(Error::DTypeMismatch {
            op,
            expected: DType::F32,
            got: other,
        }),
    }
}

/// The pipeline of io kernel `family` for input `x` and output `y` (each f32 or f16; f16 on a
/// device with `SHADER_F16` only).
pub(crate) fn io_kernel(
    ctx: &Context,
    op: &'static str,
    family: &'static [Kernel; 4],
    x: DType,
    y: DType,
) -> Result<&'static Kernel> {
    let io = Io::of(x, y).ok_or(Error::DTypeMismatch {
        op,
        expected: DType::F32,
        got: if x == DType::F32 || x == DType::F16 {
            y
        } else {
            x
        },
    })?;
    if io.needs_f16() && !ctx.has_feature(wgpu::Features::SHADER_F16) {
        return Err(Error::InvalidArgument {
            op,
            message: NO_F16_ACTIVATIONS.into(),
        });
    }
    Ok(&family[io.index()])
}

/// Checks that every tensor is f32.
pub(crate) fn f32s(op: &'static str, ts: &[&Tensor]) -> Result<()> {
    for t in ts {
        t.expect_dtype(op, DType::F32)?;
    }
    Ok(())
}

/// Rejects inputs with no elements: nothing to do and no valid binding.
pub(crate) fn non_empty(op: &'static str, t: &Tensor) -> Result<()> {
    if t.numel() == 0 {
        return Err(Error::InvalidArgument { op, message: format!("empty tensor {:?}", t.shape()) });
    }
    Ok(())
}
