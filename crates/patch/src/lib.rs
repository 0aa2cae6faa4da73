//! Patch embedding for ViT, CLIP, SigLIP and AST: the `Conv2d(C, D, kernel=(ph, pw),
//! stride=(sh, sw))` of the Hugging Face `*PatchEmbeddings` modules flattened to tokens, with the
//! CLS (and distillation) tokens prepended and the position embeddings added, as transformers'
//! `ViTEmbeddings` / `ASTEmbeddings` do; plus the bicubic resize of position embeddings of
//! `ViTEmbeddings.interpolate_pos_encoding` (transformers ≥ 4.45, size-based).
//!
//! [`patch_embed`] is one dispatch of `shaders/patch/patch_embed.wgsl`: a register-blocked GEMM
//! whose A operand is read straight from the image (implicit im2col) with bias, prefix tokens and
//! position embeddings fused. [`patch_embed_composed`] is its fallback and oracle: im2col →
//! [`vitfuse_runtime::ops::matmul`] → token assembly.
//!
//! ```no_run
//! use vitfuse_patch::{patch_embed, Context, PatchOptions, Tensor};
//! let ctx = Context::new(&Default::default())?;
//! let px = Tensor::from_slice(&ctx, &[1, 1, 4, 4], &[1f32; 16])?;
//! let w = Tensor::from_slice(&ctx, &[1, 1, 2, 2], &[1f32; 4])?;
//! let y = patch_embed(&ctx, &px, &w, None, None, None, PatchOptions::square(2))?;
//! assert_eq!(y.to_vec::<f32>(&ctx)?, vec![4.0; 4]);
//! # Ok::<(), vitfuse_patch::Error>(())
//! ```

#![deny(missing_docs)]

pub mod kernels;

use vitfuse_runtime::util::{fits_u32, groups, invalid};
use vitfuse_runtime::{ops, DType};
pub use vitfuse_runtime::{Context, Error, PatchKernel, Result, Tensor};

/// Patch size and stride of the patch-embedding convolution (no padding, no dilation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatchOptions {
    /// (ph, pw): the convolution kernel.
    pub patch: [usize; 2],
    /// (sh, sw): equal to `patch` for ViT, smaller for AST's overlapping patches.
    pub stride: [usize; 2],
}

impl PatchOptions {
    /// Square, non-overlapping patches of `p` (ViT, CLIP, SigLIP).
    pub fn square(p: usize) -> Self {
        PatchOptions {
            patch: [p, p],
            stride: [p, p],
        }
    }
}

/// Problem dims after validation.
#[derive(Clone, Copy, Debug)]
struct Dims {
    b: usize,
    c: usize,
    h: usize,
    w: usize,
    d: usize,
    ph: usize,
    pw: usize,
    sh: usize,
    sw: usize,
    gh: usize,
    gw: usize,
    np: usize,
    /// The weight is f16 (read widened exactly; arithmetic f32).
    w16: bool,
}

impl Dims {
    fn k(&self) -> usize {
        self.c * self.ph * self.pw
    }
    fn gp(&self) -> usize {
        self.gh * self.gw
    }
    fn tokens(&self) -> usize {
        self.np + self.gp()
    }
}

#[allow(clippy::too_many_arguments)]
fn check(
    ctx: &Context,
    op: &'static str,
    pixels: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    prefix: Option<&Tensor>,
    pos: Option<&Tensor>,
    opts: PatchOptions,
) -> Result<Dims> {
    for t in [Some(pixels), bias, prefix, pos].into_iter().flatten() {
        t.expect_dtype(op, DType::F32)?;
    }
    if pixels.rank() != 4 || pixels.numel() == 0 {
        return Err(Error::ShapeMismatch {
            op,
            expected: "pixels (B, C, H, W), non-empty".into(),
            got: pixels.shape().to_vec(),
        });
    }
    let [b, c, h, w] = [
        pixels.shape()[0],
        pixels.shape()[1],
        pixels.shape()[2],
        pixels.shape()[3],
    ];
    let [ph, pw] = opts.patch;
    let [sh, sw] = opts.stride;
    if ph == 0 || pw == 0 || sh == 0 || sw == 0 {
        return Err(invalid(
            op,
            format!(
                "patch {:?} and stride {:?} must be positive",
                opts.patch, opts.stride
            ),
        ));
    }
    if h < ph || w < pw {
        return Err(invalid(
            op,
            format!("image {h}x{w} is smaller than one patch {ph}x{pw}"),
        ));
    }
    if weight.rank() != 4 || weight.shape()[1..] != [c, ph, pw] || weight.shape()[0] == 0 {
        return Err(Error::ShapeMismatch {
            op,
            expected: format!("weight (D, {c}, {ph}, {pw})"),
            got: weight.shape().to_vec(),
        });
    }
    let d = weight.shape()[0];
    let w16 = ops::f16_weight(ctx, op, weight)?;
    if let Some(bb) = bias {
        bb.expect_shape(op, &[d])?;
    }
    let np = match prefix {
        Some(pr) => {
            if pr.rank() != 2 || pr.shape()[1] != d || pr.shape()[0] == 0 {
                return Err(Error::ShapeMismatch {
                    op,
                    expected: format!("prefix (NP, {d}) with NP > 0"),
                    got: pr.shape().to_vec(),
                });
            }
            pr.shape()[0]
        }
        None => 0,
    };
    let dims = Dims {
        b,
        c,
        h,
        w,
        d,
        ph,
        pw,
        sh,
        sw,
        gh: (h - ph) / sh + 1,
        gw: (w - pw) / sw + 1,
        np,
        w16,
    };
    if let Some(ps) = pos {
        ps.expect_shape(op, &[dims.tokens(), d])?;
    }
    fits_u32(
        op,
        pixels
            .numel()
            .max(weight.numel())
            .max(b * dims.tokens() * d)
            .max(b * dims.gp() * dims.k()),
    )?;
    Ok(dims)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FusedParams {
    b: u32,
    c: u32,
    h: u32,
    w: u32,
    d: u32,
    ph: u32,
    pw: u32,
    sh: u32,
    sw: u32,
    gh: u32,
    gw: u32,
    np: u32,
    k: u32,
    m: u32,
    flags: u32,
    tiles_n: u32,
}

/// Columns per invocation of the fused kernel (the WGSL `RN`).
const FUSED_RN: usize = 8;
/// Patches per workgroup of the fused kernel.
const FUSED_RM: usize = 8;
/// Lanes a subgroup must hold for the subgroup flavour: all `FUSED_RM` patch rows of a tile.
const ROWS_PER_TILE: u32 = FUSED_RM as u32;

/// Invocations per workgroup of the fused kernel: one lavapipe SIMD row on software adapters.
fn fused_wg(software: bool) -> usize {
    if software {
        8
    } else {
        32
    }
}

/// The fused kernel's `override`s: its workgroup width and whether pixels (`va`) and weights
/// (`vw`) are read as vec4s.
fn fused_overrides(software: bool, va: bool, vw: bool) -> [(&'static str, f64); 3] {
    [
        ("WG", fused_wg(software) as f64),
        ("VA", va as u8 as f64),
        ("VW", vw as u8 as f64),
    ]
}

/// Every override set [`patch_embed_with`] may pass to either fused kernel.
pub(crate) fn fused_override_sets() -> Vec<Vec<(&'static str, f64)>> {
    let mut sets = Vec::new();
    for sw in [false, true] {
        for va in [false, true] {
            for vw in [false, true] {
                sets.push(fused_overrides(sw, va, vw).to_vec());
            }
        }
    }
    sets
}

/// How the fused kernel hands each invocation the 8 patch rows of its tile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RowSharing {
    /// Subgroups where the adapter has them (at least 8 wide), else workgroup memory.
    #[default]
    Auto,
    /// `subgroupBroadcast` (needs `Features::SUBGROUP` and subgroups of at least 8).
    Subgroup,
    /// Workgroup memory and two barriers per k-chunk (any adapter).
    Workgroup,
}


/// Patch embedding in one dispatch: `pixels` (B, C, H, W), `weight` (D, C, ph, pw) exactly as the
/// Hugging Face Conv2d stores it, f32 or f16 (read widened exactly; every product and sum is
/// f32), `bias` (D); `prefix` (NP, D) learned tokens put in front of
/// every image (CLS, or CLS + distillation for AST); `pos` (NP + GH·GW, D) added to every token,
/// prefix included. GH = (H − ph)/sh + 1, GW = (W − pw)/sw + 1 (floor, a conv without padding);
/// patches in raster order. Returns (B, NP + GH·GW, D). The context's `patch` kernel choice
/// ([`vitfuse_runtime::KernelChoices::patch`]) picks the path; by default the fused kernel.
pub fn patch_embed(
    ctx: &Context,
    pixels: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    prefix: Option<&Tensor>,
    pos: Option<&Tensor>,
    opts: PatchOptions,
) -> Result<Tensor> {
    if ctx.kernels().patch == Some(PatchKernel::Composed) {
        return patch_embed_composed(ctx, pixels, weight, bias, prefix, pos, opts);
    }
    patch_embed_with(
        ctx,
        pixels,
        weight,
        bias,
        prefix,
        pos,
        opts,
        RowSharing::Auto,
    )
}

/// [`patch_embed`] with the row-sharing flavour of the fused kernel chosen (tests run both).
#[allow(clippy::too_many_arguments)]
pub fn patch_embed_with(
    ctx: &Context,
    pixels: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    prefix: Option<&Tensor>,
    pos: Option<&Tensor>,
    opts: PatchOptions,
    sharing: RowSharing,
) -> Result<Tensor> {
    const OP: &str = "patch_embed";
    let dm = check(ctx, OP, pixels, weight, bias, prefix, pos, opts)?;
    let out = Tensor::empty(ctx, &[dm.b, dm.tokens(), dm.d], DType::F32)?;
    let wg = fused_wg(ctx.is_software());
    let k = dm.k();
    let m = dm.b * dm.gp();
    let va = dm.pw % 4 == 0 && dm.sw % 4 == 0 && dm.w % 4 == 0;
    let vw = k % 4 == 0;
    let tiles_n = dm.d.div_ceil(wg * FUSED_RN);
    let gemm = m.div_ceil(FUSED_RM) as u64 * tiles_n as u64;
    let pre = groups(dm.b * dm.np * dm.d, wg * 8);
    let params = FusedParams {
        b: dm.b as u32,
        c: dm.c as u32,
        h: dm.h as u32,
        w: dm.w as u32,
        d: dm.d as u32,
        ph: dm.ph as u32,
        pw: dm.pw as u32,
        sh: dm.sh as u32,
        sw: dm.sw as u32,
        gh: dm.gh as u32,
        gw: dm.gw as u32,
        np: dm.np as u32,
        k: k as u32,
        m: m as u32,
        flags: bias.is_some() as u32 | (pos.is_some() as u32) << 1,
        tiles_n: tiles_n as u32,
    };
    let dummy = ctx.dummy()?;
    let px4 = if va { pixels } else { &dummy };
    let w4 = if vw { weight } else { &dummy };
    let (sg, wg_kernel) = if dm.w16 {
        (&kernels::PATCH_EMBED_SG_F16, &kernels::PATCH_EMBED_WG_F16)
    } else {
        (&kernels::PATCH_EMBED_SG, &kernels::PATCH_EMBED_WG)
    };
    let kernel = match sharing {
        RowSharing::Auto if ctx.subgroups_at_least(ROWS_PER_TILE) => sg,
        RowSharing::Auto | RowSharing::Workgroup => wg_kernel,
        RowSharing::Subgroup if ctx.subgroups_at_least(ROWS_PER_TILE) => sg,
        RowSharing::Subgroup => {
            return Err(invalid(
                OP,
                "RowSharing::Subgroup needs an adapter with subgroups of at least 8".into(),
            ));
        }
    };
    let overrides = fused_overrides(ctx.is_software(), va, vw);
    let tensors = [
        pixels,
        px4,
        weight,
        w4,
        bias.unwrap_or(&dummy),
        prefix.unwrap_or(&dummy),
        pos.unwrap_or(&dummy),
        &out,
    ];
    ctx.dispatch(kernel, &overrides, &params, &tensors, gemm + pre)?;
    Ok(out)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Im2colParams {
    b: u32,
    c: u32,
    h: u32,
    w: u32,
    ph: u32,
    pw: u32,
    sh: u32,
    sw: u32,
    gh: u32,
    gw: u32,
    k: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct AssembleParams {
    b: u32,
    gp: u32,
    np: u32,
    d: u32,
    has_pos: u32,
    _p: [u32; 3],
}

/// The composed fallback and oracle of [`patch_embed`] (same arguments and result): an im2col
/// gather to (B·GH·GW, C·ph·pw), [`ops::matmul`] with the weight viewed as (D, C·ph·pw) and the
/// bias, then a pass that prepends the prefix tokens and adds the position embeddings.
pub fn patch_embed_composed(
    ctx: &Context,
    pixels: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    prefix: Option<&Tensor>,
    pos: Option<&Tensor>,
    opts: PatchOptions,
) -> Result<Tensor> {
    const OP: &str = "patch_embed_composed";
    let dm = check(ctx, OP, pixels, weight, bias, prefix, pos, opts)?;
    let (k, m) = (dm.k(), dm.b * dm.gp());
    let cols = Tensor::empty(ctx, &[m, k], DType::F32)?;
    let p = Im2colParams {
        b: dm.b as u32,
        c: dm.c as u32,
        h: dm.h as u32,
        w: dm.w as u32,
        ph: dm.ph as u32,
        pw: dm.pw as u32,
        sh: dm.sh as u32,
        sw: dm.sw as u32,
        gh: dm.gh as u32,
        gw: dm.gw as u32,
        k: k as u32,
        _pad: 0,
    };
    ctx.dispatch(
        &kernels::IM2COL,
        &[],
        &p,
        &[pixels, &cols],
        groups(m * k, 64),
    )?;
    let y = ops::matmul(
        ctx,
        &cols,
        &weight.reshape(&[dm.d, k])?,
        bias,
        None,
        ops::MatmulOptions::default(),
    )?;
    if dm.np == 0 && pos.is_none() {
        return y.reshape(&[dm.b, dm.gp(), dm.d]);
    }
    let out = Tensor::empty(ctx, &[dm.b, dm.tokens(), dm.d], DType::F32)?;
    let dummy = ctx.dummy()?;
    let p = AssembleParams {
        b: dm.b as u32,
        gp: dm.gp() as u32,
        np: dm.np as u32,
        d: dm.d as u32,
        has_pos: pos.is_some() as u32,
        _p: [0; 3],
    };
    let tensors = [&y, prefix.unwrap_or(&dummy), pos.unwrap_or(&dummy), &out];
    ctx.dispatch(
        &kernels::ASSEMBLE_TOKENS,
        &[],
        &p,
        &tensors,
        groups(out.numel(), 64),
    )?;
    Ok(out)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct InterpParams {
    gh: u32,
    gw: u32,
    nh: u32,
    nw: u32,
    d: u32,
    _p: [u32; 3],
}

/// Bicubic resize of a grid of position embeddings `pos_grid` (gh·gw, D), row-major, to
/// (nh·nw, D), as transformers' ViT `interpolate_pos_encoding` does it: PyTorch
/// `interpolate(size=(nh, nw), mode="bicubic", align_corners=False)` (a = −0.75, no antialias,
/// source coordinate `(dst + ½)·in/out − ½`, edge taps clamped). Callers split off the prefix
/// rows first; with nh = H / ph and nw = W / pw as transformers computes them.
pub fn interpolate_pos_bicubic(
    ctx: &Context,
    pos_grid: &Tensor,
    gh: usize,
    gw: usize,
    nh: usize,
    nw: usize,
) -> Result<Tensor> {
    interp("interpolate_pos_bicubic", &kernels::INTERP_BICUBIC, ctx, pos_grid, [gh, gw, nh, nw])
}

/// Antialiased bilinear resize of a grid of position embeddings `pos_grid` (gh·gw, D),
/// row-major, to (nh·nw, D), as SigLIP 2 resizes its position grid to each image's patch grid:
/// PyTorch `interpolate(size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)`
/// (the triangle filter widened by the downscale factor, weights normalised per output).
pub fn interpolate_pos_bilinear_aa(
    ctx: &Context,
    pos_grid: &Tensor,
    gh: usize,
    gw: usize,
    nh: usize,
    nw: usize,
) -> Result<Tensor> {
    interp("interpolate_pos_bilinear_aa", &kernels::INTERP_BILINEAR_AA, ctx, pos_grid, [gh, gw, nh, nw])
}

/// [`interpolate_pos_bicubic`] with antialiasing, as transformers' `Dinov2WithRegisters`
/// resizes its grid: PyTorch `interpolate(size=(nh, nw), mode="bicubic", align_corners=False,
/// antialias=True)`, the filter of Pillow's BICUBIC (a = −0.5, support 2·max(in/out, 1), only
/// taps inside the grid, weights normalised to sum 1). Upsampling differs from the plain resize
/// as well (a = −0.5, no clamped edge taps).
pub fn interpolate_pos_bicubic_antialias(
    ctx: &Context,
    pos_grid: &Tensor,
    gh: usize,
    gw: usize,
    nh: usize,
    nw: usize,
) -> Result<Tensor> {
    interp("interpolate_pos_bicubic_antialias", &kernels::INTERP_BICUBIC_AA, ctx, pos_grid, [gh, gw, nh, nw])
}

fn interp(
    op: &'static str,
    kernel: &vitfuse_runtime::Kernel,
    ctx: &Context,
    pos_grid: &Tensor,
    [gh, gw, nh, nw]: [usize; 4],
) -> Result<Tensor> {
    pos_grid.expect_dtype(op, DType::F32)?;
    if gh == 0 || gw == 0 || nh == 0 || nw == 0 {
        return Err(invalid(
            op,
            format!("grids must be non-empty: {gh}x{gw} -> {nh}x{nw}"),
        ));
    }
    if pos_grid.rank() != 2 || pos_grid.shape()[0] != gh * gw || pos_grid.shape()[1] == 0 {
        return Err(Error::ShapeMismatch {
            op,
            expected: format!("pos_grid ({}, D)", gh * gw),
            got: pos_grid.shape().to_vec(),
        });
    }
    let d = pos_grid.shape()[1];
    fits_u32(op, (nh * nw * d).max(pos_grid.numel()))?;
    let out = Tensor::empty(ctx, &[nh * nw, d], DType::F32)?;
    let p = InterpParams {
        gh: gh as u32,
        gw: gw as u32,
        nh: nh as u32,
        nw: nw as u32,
        d: d as u32,
        _p: [0; 3],
    };
    ctx.dispatch(kernel, &[], &p, &[pos_grid, &out], groups(out.numel(), 64))?;
    Ok(out)
}
