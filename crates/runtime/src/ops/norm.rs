//! Row reductions: LayerNorm and softmax with an additive mask.

use super::{activation_dtype, f32s, fits_u32, io_kernel, non_empty};
use crate::{kernels, Context, DType, Error, Result, Tensor};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LnParams {
    rows: u32,
    cols: u32,
    eps: f32,
    _pad: u32,
}

/// Lanes per row: enough to cover the row, at most 256 (16 on software adapters, where every
/// barrier of the tree reduction suspends the whole workgroup: measured 2x faster than 64 on
/// lavapipe).
fn row_wg_for(software: bool, cols: usize) -> f64 {
    let cap = if software { 16 } else { ROW_WG_MAX };
    (cols.next_power_of_two().clamp(8, cap)) as f64
}

const ROW_WG_MAX: usize = 256;

fn row_wg(ctx: &Context, cols: usize) -> f64 {
    row_wg_for(ctx.is_software(), cols)
}

/// Every `("WG", …)` the row kernels (LayerNorm, softmax, L2 normalisation) may get.
pub(crate) fn row_override_sets() -> Vec<Vec<(&'static str, f64)>> {
    let cols = (0..=ROW_WG_MAX.ilog2() + 1).map(|e| 1usize << e);
    [true, false].into_iter().flat_map(|sw| cols.clone().map(move |c| vec![("WG", row_wg_for(sw, c))])).collect()
}

/// LayerNorm over the last dim of `x` (…, C) with `gamma`, `beta` (C) and the model's `eps`;
/// the output has `x`'s dtype (f32, or f16 where the device has `SHADER_F16`).
pub fn layernorm(
    ctx: &Context,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f32,
) -> Result<Tensor> {
    layernorm_to(ctx, x, gamma, beta, eps, x.dtype())
}

/// [`layernorm`] with the output stored as `out` (f32 or f16): e.g. the f32 residual stream
/// normalised into f16 for the next matmul. Mean and variance are f32 sums either way.
pub fn layernorm_to(
    ctx: &Context,
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f32,
    out: DType,
) -> Result<Tensor> {
    const OP: &str = "layernorm";
    f32s(OP, &[gamma, beta])?;
    let kernel = io_kernel(
        ctx,
        OP,
        &kernels::LAYERNORM,
        activation_dtype(ctx, OP, x)?,
        out,
    )?;
    non_empty(OP, x)?;
    let cols = x.dim_back(0);
    gamma.expect_shape("layernorm gamma", &[cols])?;
    beta.expect_shape("layernorm beta", &[cols])?;
    let rows = x.numel() / cols;
    let p = LnParams {
        rows: fits_u32(OP, rows)?,
        cols: cols as u32,
        eps,
        _pad: 0,
    };
    let out = Tensor::empty(ctx, x.shape(), out)?;
    ctx.dispatch(
        kernel,
        &[("WG", row_wg(ctx, cols))],
        &p,
        &[x, gamma, beta, &out],
        rows as u64,
    )?;
    Ok(out)
}

/// How an additive mask lines up with the rows of the softmax input: row `r` uses mask row
/// `(r / rows_per_group) * mask_rows + r % mask_rows`. For scores (B, NH, Tq, Tk): a key
/// padding mask (B, Tk) is `{ rows_per_group: NH·Tq, mask_rows: 1 }`, a full (B, Tq, Tk) mask
/// is `{ rows_per_group: NH·Tq, mask_rows: Tq }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaskLayout {
    /// Input rows that share one group of mask rows (non-zero, divides the input's row count).
    pub rows_per_group: usize,
    /// Mask rows per group, cycled over the group's input rows (non-zero).
    pub mask_rows: usize,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SmParams {
    rows: u32,
    cols: u32,
    scale: f32,
    has_mask: u32,
    rows_per_group: u32,
    mask_rows: u32,
    _p0: u32,
    _p1: u32,
}

/// Row softmax over the last dim of `scale · x + mask`. Rows that are entirely −∞ give zeros.
/// `x` is f32 or f16 (f16 where the device has `SHADER_F16`), and so is the output; the mask is
/// f32 and every sum is f32.
pub fn softmax(
    ctx: &Context,
    x: &Tensor,
    mask: Option<(&Tensor, MaskLayout)>,
    scale: f32,
) -> Result<Tensor> {
    const OP: &str = "softmax";
    let dt = activation_dtype(ctx, OP, x)?;
    let kernel = io_kernel(ctx, OP, &kernels::SOFTMAX, dt, dt)?;
    non_empty(OP, x)?;
    let cols = x.dim_back(0);
    let rows = x.numel() / cols;
    let (rpg, mrows) = match mask {
        Some((m, l)) => {
            f32s(OP, &[m])?;
            if l.rows_per_group == 0 || l.mask_rows == 0 || !rows.is_multiple_of(l.rows_per_group) || m.dim_back(0) != cols {
                return Err(Error::InvalidArgument {
                    op: OP,
                    message: format!("mask {:?} with {l:?} does not line up with input {:?}", m.shape(), x.shape()),
                });
            }
            let need = rows / l.rows_per_group * l.mask_rows * cols;
            if m.numel() != need {
                return Err(Error::ShapeMismatch {
                    op: OP,
                    expected: format!("mask of {need} elements ({} groups × {} rows × {cols})", rows / l.rows_per_group, l.mask_rows),
                    got: m.shape().to_vec(),
                });
            }
            (l.rows_per_group, l.mask_rows)
        }
        None => (1, 1),
    };
    let p = SmParams {
        rows: fits_u32(OP, rows)?,
        cols: cols as u32,
        scale,
        has_mask: mask.is_some() as u32,
        rows_per_group: rpg as u32,
        mask_rows: mrows as u32,
        _p0: 0,
        _p1: 0,
    };
    let out = Tensor::empty(ctx, x.shape(), dt)?;
    let dummy;
    let m = match mask {
        Some((m, _)) => m,
        None => {
            dummy = ctx.dummy()?;
            &dummy
        }
    };
    ctx.dispatch(
        kernel,
        &[("WG", row_wg(ctx, cols))],
        &p,
        &[x, m, &out],
        rows as u64,
    )?;
    Ok(out)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct L2Params {
    rows: u32,
    cols: u32,
    _p0: u32,
    _p1: u32,
}

/// Rows of `x` (…, C) divided by their L2 norm (at least 1e-12).
pub fn l2_normalize(ctx: &Context, x: &Tensor) -> Result<Tensor> {
    const OP: &str = "l2_normalize";
    f32s(OP, &[x])?;
    non_empty(OP, x)?;
    let cols = x.dim_back(0);
    let rows = x.numel() / cols;
    let p = L2Params { rows: fits_u32(OP, rows)?, cols: cols as u32, _p0: 0, _p1: 0 };
    let out = Tensor::empty(ctx, x.shape(), DType::F32)?;
    ctx.dispatch(&kernels::L2_NORMALIZE, &[("WG", row_wg(ctx, cols))], &p, &[x, &out], rows as u64)?;
    Ok(out)
}
