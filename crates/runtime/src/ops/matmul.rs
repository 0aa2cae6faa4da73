//! Batched matmul / Linear with fused bias, activation and residual epilogue.

use super::{activation_dtype, f32s, fits_u32, groups, non_empty, Activation};
use crate::choice::{kernel_names, KernelNeeds};
use crate::kernels::Io;
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
    /// `Tiled` where the layout allows it (W as (N, K)), else `Naive`.
    #[default]
    Auto,
    /// One output per invocation (baseline and oracle); the only kernel for `WeightLayout::KN`.
    Naive,
    /// The best tiled kernel for this adapter and K (see [`MatmulKernel::resolve`]).
    Tiled,
    /// `matmul_subgroup`: one 8-lane subgroup per 24 x 64 tile, vec4 loads; software adapters
    /// with subgroups of at least 8 lanes, K % 4 == 0.
    Subgroup,
    /// `matmul_subgroup` reading A and W from texture copies (rgba32float, rgba16float for f16
    /// tensors; `Context::texture_of`: a weight's copy is made once and kept with it, which
    /// doubles its memory): what `Auto` runs on Vulkan software adapters
    /// ([`Context::texture_operands`]: lavapipe, 1.6-1.8x the buffer kernel at ViT-B shapes).
    /// K % 4 == 0, W as (N, K), rows and K / 4 within the adapter's 2D texture size, f16 tensors
    /// with `SHADER_F16`; otherwise `Auto` and a context preference run `Subgroup`.
    SubgroupTex,
    /// `matmul_blocked`: 8 lanes per 16 x 128 tile, vec4 loads, no subgroups; K % 4 == 0.
    Blocked,
    /// `matmul_shared`: 16 x 16 invocations per 64 x 64 tile staged in workgroup memory; any K,
    /// meant for hardware GPUs.
    Shared,
    /// `matmul_wide`: 16 x 16 invocations per 128 x 128 tile, 8 x 8 per invocation, vec4 loads,
    /// next K step prefetched into registers; K % 4 == 0, meant for hardware GPUs and large grids.
    Wide,
    /// `matmul_tiled`: rows shared by the workgroup, 4 x 4 per invocation, scalar loads; any K.
    Scalar,
    /// `matmul_coop` (`matmul_coop8` on Metal): tensor cores through cooperative matrices, f16
    /// weights and activations rounded to f16 as they are staged, f32 accumulators; K % 4 == 0.
    /// Only where the adapter reports the configuration ([`crate::coop`]), and never chosen by
    /// `Auto` yet: as a context preference it runs the matmuls with f16 weights and K % 4 == 0,
    /// the others keep the adapter's choice.
    Coop,
    /// `matmul_shared_db` over slices of K (as many as bring the grid to about 512 workgroups,
    /// at least 128 K values each), then `splitk_reduce` sums the slices and applies the
    /// epilogue: for small grids (batch 1: M = 197) on hardware GPUs; any K. Never chosen by
    /// `Auto` yet.
    SplitK,
    /// `matmul_shared_db`: `Shared` with double-buffered workgroup memory (one barrier per K
    /// step of 16) and the next step's loads in flight while the current one computes; any K.
    /// A candidate for hardware GPUs that `Auto` does not choose until a GPU run has measured it
    /// against `Shared`.
    SharedDb,
    /// `matmul_wide_db`: `Wide` with a K step of 16 and double-buffered workgroup memory (one
    /// barrier per step instead of two per 8); K % 4 == 0, 32 KiB of workgroup memory. A
    /// candidate that `Auto` does not choose until a GPU run has measured it against `Wide`.
    WideDb,
}

impl MatmulKernel {
    /// The concrete kernel this choice runs for an (N, K)-layout matmul with inner dim `k` on
    /// `ctx`'s adapter: on software adapters `Subgroup`, else `Blocked` when K % 4 == 0, else
    /// `Scalar`; on hardware GPUs `Wide` when K % 4 == 0 and the grid of 128 x 128 tiles
    /// (`tiles_128`) fills the GPU, else `Shared`. The context's `matmul` kernel choice
    /// ([`Context::matmul_preference`]) replaces `Auto`/`Tiled` where K suits it. Concrete
    /// kernels resolve to themselves.
    pub fn resolve(self, ctx: &Context, k: usize, tiles_128: u64) -> MatmulKernel {
        match self {
            MatmulKernel::Auto | MatmulKernel::Tiled
                if ctx.matmul_preference().is_some_and(|p| k.is_multiple_of(4) || !p.needs_k4()) =>
            {
                ctx.matmul_preference().unwrap_or(self)
            }
            MatmulKernel::Auto | MatmulKernel::Tiled => Self::adapter_choice(ctx, k, tiles_128),
            other => other,
        }
    }

    /// What `Auto` runs on `ctx`'s adapter without a context preference.
    fn adapter_choice(ctx: &Context, k: usize, tiles_128: u64) -> MatmulKernel {
        if !ctx.is_software() {
            if k.is_multiple_of(4) && tiles_128 >= WIDE_MIN_TILES {
                MatmulKernel::Wide
            } else {
                MatmulKernel::Shared
            }
        } else if !k.is_multiple_of(4) {
            MatmulKernel::Scalar
        } else if ctx.supports(MatmulKernel::Subgroup) {
            if ctx.texture_operands() {
                MatmulKernel::SubgroupTex
            } else {
                MatmulKernel::Subgroup
            }
        } else {
            MatmulKernel::Blocked
        }
    }
}

impl MatmulKernel {
    /// Whether the kernel reads K in vec4s (K % 4 == 0 only).
    pub fn needs_k4(self) -> bool {
        matches!(
            self,
            MatmulKernel::Subgroup | MatmulKernel::SubgroupTex | MatmulKernel::Blocked | MatmulKernel::Wide | MatmulKernel::WideDb | MatmulKernel::Coop
        )
    }

    /// What this kernel needs from the adapter: subgroups of at least 8 lanes for `Subgroup`
    /// (an 8-invocation workgroup is one subgroup); the others stay within WebGPU's defaults.
    pub fn needs(self) -> KernelNeeds {
        match self {
            MatmulKernel::Subgroup | MatmulKernel::SubgroupTex => KernelNeeds { subgroups_of: Some(8), ..KernelNeeds::default() },
            // The device has the feature only where `coop::CoopKernel::unmet` found one of the
            // kernels runnable, workgroup memory included.
            MatmulKernel::Coop => KernelNeeds { cooperative_matrix: true, ..KernelNeeds::default() },
            MatmulKernel::WideDb => KernelNeeds { workgroup_storage: WIDE_DB_STORAGE, ..KernelNeeds::default() },
            _ => KernelNeeds::default(),
        }
    }
}

kernel_names!(MatmulKernel, "matmul", [
    Auto => "auto",
    Naive => "naive",
    Tiled => "tiled",
    Subgroup => "subgroup",
    SubgroupTex => "subgroup-tex",
    Blocked => "blocked",
    Shared => "shared",
    Wide => "wide",
    Scalar => "scalar",
    Coop => "coop",
    SplitK => "splitk",
    SharedDb => "shared-db",
    WideDb => "wide-db",
]);

/// Epilogue and layout of a matmul.
#[derive(Clone, Copy, Debug)]
pub struct MatmulOptions {
    /// Scale of `a · wᵀ`, applied before the bias (1 by default).
    pub alpha: f32,
    /// Activation applied after the bias, before the residual.
    pub act: Activation,
    /// How `w` is stored.
    pub layout: WeightLayout,
    /// The kernel to run (`Auto` by default).
    pub kernel: MatmulKernel,
    /// The output's dtype, f32 or f16 (`None`, the default: the residual's, else `a`'s).
    pub out: Option<DType>,
}

impl Default for MatmulOptions {
    fn default() -> Self {
        MatmulOptions {
            alpha: 1.0,
            act: Activation::None,
            layout: WeightLayout::NK,
            kernel: MatmulKernel::Auto,
            out: None,
        }
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
    /// K slices of a split-K `matmul_shared` (0 or 1: not split; the other kernels ignore it).
    splits: u32,
}

/// Invocations per workgroup of `matmul_tiled` (columns are WG·RN per workgroup).
fn scalar_wg(software: bool) -> u32 {
    if software {
        32
    } else {
        64
    }
}

/// The `override`s of `matmul_tiled` on a software or hardware adapter.
pub(crate) fn scalar_overrides(software: bool) -> [(&'static str, f64); 1] {
    [("WG", scalar_wg(software) as f64)]
}
/// `matmul_subgroup`'s pipeline constants over textures: the activation code, fixed per pipeline
/// so that lavapipe compiles out the other activations (1.1-1.2x at K = 768), and the groups of
/// 4 rows per tile ([`subgroup_rows4`]). The buffer path keeps the defaults (the code from
/// `Params`, 24-row tiles: one pipeline for all) for fewer compiles.
pub(crate) fn subgroup_overrides(act: u32, rows4: u64) -> [(&'static str, f64); 2] {
    [("ACT", act as f64), ("ROWS4", rows4 as f64)]
}

/// Groups of 4 rows per `matmul_subgroup` tile over textures for M rows per batch entry: the
/// fewest padded rows, each weighed by its tile's cost per row on lavapipe (paired runs at
/// ViT-B shapes: 20-row tiles 1.5% and 28-row ones 8% slower per row than 24-row ones, whose
/// accumulators fit best; measured before the K block became a loop, whose runs at M = 197 and
/// 50 still favoured these picks). M = 197 takes 20 rows (200 padded against 216), M = 50 28 (56
/// against 72; 1.4x in the kernel), M = 1214 24.
pub(crate) fn subgroup_rows4(m: usize) -> u64 {
    // Cost per row, in thousandths of the 24-row tile's.
    let cost = |g: usize| m.div_ceil(4 * g) * 4 * g * [1015, 1000, 1080][g - 5];
    [6, 5, 7].into_iter().min_by_key(|&g| cost(g)).unwrap_or(6) as u64
}
/// Rows and columns of one workgroup's output tile, per kernel (as in each shader's header).
const SCALAR_RM: u64 = 4;
const SCALAR_RN: u64 = 4;
const SUBGROUP_TILE: (u64, u64) = (24, 64);
const BLOCKED_TILE: (u64, u64) = (16, 128);
const SHARED_TILE: (u64, u64) = (64, 64);
const WIDE_TILE: (u64, u64) = (128, 128);
/// Workgroup memory of `matmul_wide_db`: two buffers of A and W tiles, 16 x 128 f32 each.
const WIDE_DB_STORAGE: u32 = 32_768;
/// Below this many 128 x 128 tiles `Auto` uses the 64 x 64 kernel on hardware GPUs, so that a
/// small matmul still spreads over the GPU's multiprocessors.
const WIDE_MIN_TILES: u64 = 128;

/// `out = act(alpha · a · wᵀ + bias) + residual`.
///
/// `a` is (…, M, K). `w` is f32 or f16 (read widened to f32: every product and sum is f32),
/// (N, K) (or (K, N) with `WeightLayout::KN`), shared by every batch,
/// or (B, N, K) matching `a`'s leading dims flattened to B. `bias` is (N), f32; `residual` has the
/// output's shape (…, M, N) and dtype.
///
/// Activations (`a`, the residual and the output, `opts.out`) are f32 or f16 each, f16 on a
/// device with `SHADER_F16`: f16 is read widened exactly, and the f32 result is rounded to the
/// nearest f16 and saturated at ±65504 as it is stored.
pub fn matmul(
    ctx: &Context,
    a: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    residual: Option<&Tensor>,
    opts: MatmulOptions,
) -> Result<Tensor> {
    const OP: &str = "matmul";
    let a_dt = activation_dtype(ctx, OP, a)?;
    let out_dt = opts.out.or(residual.map(Tensor::dtype)).unwrap_or(a_dt);
    let io = match Io::of(a_dt, out_dt) {
        Some(io) => io,
        None => {
            return Err(Error::DTypeMismatch {
                op: OP,
                expected: DType::F32,
                got: out_dt,
            })
        }
    };
    if io.needs_f16() && !ctx.has_feature(wgpu::Features::SHADER_F16) {
        return Err(Error::InvalidArgument {
            op: OP,
            message: super::NO_F16_ACTIVATIONS.into(),
        });
    }
    let w16 = super::f16_weight(ctx, OP, w)?;
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
        r.expect_dtype(OP, out_dt)?;
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
    let out = Tensor::empty(ctx, &out_shape, out_dt)?;
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
        splits: 0,
    };
    let tiles_128 = batch as u64 * (m as u64).div_ceil(128) * (n as u64).div_ceil(128);
    let kernel = match opts.kernel {
        MatmulKernel::Auto if opts.layout == WeightLayout::KN => MatmulKernel::Naive,
        kern => kern.resolve(ctx, k, tiles_128),
    };
    // The tensor-core preference covers the matmuls it can run (f16 W as (N, K), K % 4 == 0);
    // the others keep the adapter's choice. Asked for by name, it refuses them below.
    let coop_fits = w16 && opts.layout == WeightLayout::NK && crate::coop::fits_shape(k, false);
    let kernel = match kernel {
        MatmulKernel::Coop if !coop_fits && opts.kernel != MatmulKernel::Coop => MatmulKernel::adapter_choice(ctx, k, tiles_128),
        other => other,
    };
    // Texture operands where they fit; asked for by name, a misfit is an error, else the same
    // kernel runs over the buffers.
    let rows_a = a.numel() / k;
    let rows_w = w.numel() / k;
    let tex_fits = opts.layout == WeightLayout::NK
        && k.is_multiple_of(4)
        && ctx.fits_texture(rows_a, k / 4)
        && ctx.fits_texture(rows_w, k / 4)
        && ((a_dt == DType::F32 && !w16) || ctx.has_feature(wgpu::Features::SHADER_F16));
    let kernel = match kernel {
        MatmulKernel::SubgroupTex if !tex_fits && opts.kernel != MatmulKernel::SubgroupTex => MatmulKernel::Subgroup,
        MatmulKernel::SubgroupTex if !tex_fits => {
            return Err(Error::InvalidArgument {
                op: OP,
                message: format!(
                    "the subgroup-tex matmul kernel needs W as (N, K), K % 4 == 0, at most {} rows and K / 4 texels per texture and f16 tensors only with SHADER_F16; got a {:?} and w {:?} ({:?}, {:?} layout)",
                    ctx.limits().max_texture_dimension_2d,
                    a.shape(),
                    w.shape(),
                    w.dtype(),
                    opts.layout
                ),
            })
        }
        other => other,
    };
    if kernel == MatmulKernel::Coop && !w16 {
        return Err(Error::InvalidArgument { op: OP, message: "the coop matmul kernel needs f16 weights".into() });
    }
    let unsupported = |message: String| Err(Error::InvalidArgument { op: OP, message });
    if kernel != MatmulKernel::Naive && opts.layout != WeightLayout::NK {
        return unsupported(format!("the {kernel:?} matmul kernel needs W as (N, K)"));
    }
    if kernel.needs_k4() && !k.is_multiple_of(4) {
        return unsupported(format!("the {kernel:?} matmul kernel needs K % 4 == 0, got K = {k}"));
    }
    ctx.check_kernel(kernel)?;
    let tensors = [a, w, bias_t, res_t, &out];
    let tiles =
        |(tm, tn): (u64, u64)| batch as u64 * (m as u64).div_ceil(tm) * (n as u64).div_ceil(tn);
    // Each kernel and its f16-weight twin: the same WGSL behind another weights prelude, and
    // in each the pipeline of the activations' io prelude.
    type Family = [crate::context::Kernel; 4];
    let pick_io = |f32k: &'static Family, f16k: &'static Family, io: Io| {
        &(if w16 { f16k } else { f32k })[io.index()]
    };
    let pick = |f32k: &'static Family, f16k: &'static Family| pick_io(f32k, f16k, io);
    match kernel {
        MatmulKernel::Naive | MatmulKernel::Auto | MatmulKernel::Tiled => ctx.dispatch(
            pick(&kernels::MATMUL_NAIVE, &kernels::MATMUL_NAIVE_F16),
            &[],
            &params,
            &tensors,
            groups(batch * m * n, 64),
        )?,
        MatmulKernel::Subgroup => ctx.dispatch(
            pick(&kernels::MATMUL_SUBGROUP, &kernels::MATMUL_SUBGROUP_F16),
            &[],
            &params,
            &tensors,
            tiles(SUBGROUP_TILE),
        )?,
        MatmulKernel::SubgroupTex => {
            let (k4, rows_a, rows_w) = (k as u32 / 4, rows_a as u32, rows_w as u32);
            let rows4 = subgroup_rows4(m);
            let ta = ctx.texture_of(a, rows_a, k4)?;
            let tw = ctx.texture_of(w, rows_w, k4)?;
            let bindings = [
                wgpu::BindingResource::TextureView(&ta),
                wgpu::BindingResource::TextureView(&tw),
                bias_t.binding(),
                res_t.binding(),
                out.binding(),
            ];
            ctx.dispatch_bindings(
                pick(&kernels::MATMUL_SUBGROUP_TEX, &kernels::MATMUL_SUBGROUP_TEX_F16),
                &subgroup_overrides(opts.act.code(), rows4),
                &params,
                &bindings,
                tiles((4 * rows4, SUBGROUP_TILE.1)),
            )?
        }
        MatmulKernel::Blocked => {
            ctx.dispatch(pick(&kernels::MATMUL_BLOCKED, &kernels::MATMUL_BLOCKED_F16), &[], &params, &tensors, tiles(BLOCKED_TILE))?
        }
        MatmulKernel::Shared => {
            ctx.dispatch(pick(&kernels::MATMUL_SHARED, &kernels::MATMUL_SHARED_F16), &[], &params, &tensors, tiles(SHARED_TILE))?
        }
        MatmulKernel::Wide => ctx.dispatch(pick(&kernels::MATMUL_WIDE, &kernels::MATMUL_WIDE_F16), &[], &params, &tensors, tiles(WIDE_TILE))?,
        MatmulKernel::SharedDb => ctx.dispatch(
            pick(&kernels::MATMUL_SHARED_DB, &kernels::MATMUL_SHARED_DB_F16),
            &[],
            &params,
            &tensors,
            tiles(SHARED_TILE),
        )?,
        MatmulKernel::WideDb => ctx.dispatch(
            pick(&kernels::MATMUL_WIDE_DB, &kernels::MATMUL_WIDE_DB_F16),
            &[],
            &params,
            &tensors,
            tiles(WIDE_TILE),
        )?,
        MatmulKernel::Scalar => {
            let wg = scalar_wg(ctx.is_software());
            let n_tiles = tiles((SCALAR_RM, wg as u64 * SCALAR_RN));
            ctx.dispatch(pick(&kernels::MATMUL_TILED, &kernels::MATMUL_TILED_F16), &scalar_overrides(ctx.is_software()), &params, &tensors, n_tiles)?
        }
        MatmulKernel::SplitK => {
            let tiles = tiles(SHARED_TILE);
            let splits = splitk_slices(tiles, k);
            if splits <= 1 {
                ctx.dispatch(pick(&kernels::MATMUL_SHARED_DB, &kernels::MATMUL_SHARED_DB_F16), &[], &params, &tensors, tiles)?
            } else {
                // The slices' raw sums are f32 whatever the activations; the reduction stores
                // the output's type.
                let to_part = if a_dt == DType::F16 {
                    Io::F16ToF32
                } else {
                    Io::F32
                };
                let from_part = if out_dt == DType::F16 {
                    Io::F32ToF16
                } else {
                    Io::F32
                };
                let total = batch * m * n;
                fits_u32(OP, splits as usize * total)?;
                let part = Tensor::empty(ctx, &[splits as usize, total], DType::F32)?;
                // Raw sums per slice: no bias, activation or residual yet (W's batching stays).
                let raw = Params {
                    flags: flags & 8,
                    act: 0,
                    alpha: 1.0,
                    splits,
                    ..params
                };
                let shader = pick_io(
                    &kernels::MATMUL_SHARED_DB,
                    &kernels::MATMUL_SHARED_DB_F16,
                    to_part,
                );
                ctx.dispatch(
                    shader,
                    &[],
                    &raw,
                    &[a, w, bias_t, res_t, &part],
                    tiles * splits as u64,
                )?;
                let rp = ReduceParams {
                    total: total as u32,
                    n: n as u32,
                    splits,
                    flags: flags & 3,
                    act: opts.act.code(),
                    alpha: opts.alpha,
                    _p: [0; 2],
                };
                ctx.dispatch(
                    &kernels::SPLITK_REDUCE[from_part.index()],
                    &[],
                    &rp,
                    &[&part, bias_t, res_t, &out],
                    groups(total, 256),
                )?;
            }
        }
        MatmulKernel::Coop => {
            // check_kernel above: the device has the feature, so one of the two is reported.
            let (kernel, shader) = match ctx.coop_kernel() {
                Some(c) if c.size == 8 => (c, &kernels::MATMUL_COOP8[io.index()]),
                Some(c) => (c, &kernels::MATMUL_COOP[io.index()]),
                None => return unsupported("no cooperative-matrix kernel on this adapter".into()),
            };
            ctx.dispatch(shader, &[], &params, &tensors, kernel.workgroups(batch, m, n))?
        }
    }
    Ok(out)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ReduceParams {
    total: u32,
    n: u32,
    splits: u32,
    flags: u32,
    act: u32,
    alpha: f32,
    _p: [u32; 2],
}

/// Workgroups a split-K matmul aims for (a few waves of a large GPU's multiprocessors).
const SPLITK_TARGET_WORKGROUPS: u64 = 512;
/// The fewest K values one slice takes.
const SPLITK_MIN_SLICE: usize = 128;

/// K slices for a grid of `tiles` 64 x 64 tiles: enough to reach about
/// `SPLITK_TARGET_WORKGROUPS`, at most one per `SPLITK_MIN_SLICE` values of K (1: no split).
pub(crate) fn splitk_slices(tiles: u64, k: usize) -> u32 {
    let want = SPLITK_TARGET_WORKGROUPS.div_ceil(tiles.max(1));
    want.min((k / SPLITK_MIN_SLICE).max(1) as u64).clamp(1, 64) as u32
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

#[cfg(test)]
mod tests {
    use super::subgroup_rows4;

    #[test]
    fn subgroup_tiles_pad_the_fewest_weighed_rows() {
        // ViT-B/16, CLIP B/32 image and text, AST-base, DINOv2-B/14 tokens per image.
        let picks: Vec<u64> = [197, 50, 77, 1214, 257, 1, 24, 20, 28].map(subgroup_rows4).to_vec();
        assert_eq!(picks, [5, 7, 5, 6, 5, 5, 6, 5, 7]);
    }
}
