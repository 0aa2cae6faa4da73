//! Fused multi-head scaled-dot-product attention for vitfuse, flash-attention style
//! (Dao et al. 2022, "FlashAttention": online softmax over key tiles, no (Tq, Tk) score matrix in
//! memory), with the composed fallback built from the runtime's ops (split_heads → matmul →
//! masked softmax → matmul → merge_heads) that also serves as the test oracle.
//!
//! Heads are read in place: Q, K and V are (B, T, C) tensors whose heads start at a column
//! offset ([`Heads`]), so a fused QKV projection feeds the kernel without any split.
//!
//! ```no_run
//! use vitfuse_attention::{self_attention, AttentionOptions, Context, Tensor};
//! # let ctx = Context::new(&Default::default())?;
//! let qkv = Tensor::from_slice(&ctx, &[1, 3, 3 * 2 * 4], &[0.1f32; 72])?;
//! let out = self_attention(&ctx, &qkv, None, AttentionOptions::new(2, 4))?; // (1, 3, 8)
//! # Ok::<(), vitfuse_attention::Error>(())
//! ```

#![deny(missing_docs)]

use vitfuse_runtime::ops::{self, MaskLayout, MatmulOptions, WeightLayout};
use vitfuse_runtime::util::{fits_u32, groups, invalid};
pub use vitfuse_runtime::{AttentionKernel, Context, Error, Result, Tensor};
use vitfuse_runtime::{DType, Kernel};

/// The WGSL kernels of this crate (one file per kernel under `shaders/attention/`).
pub mod kernels {
    use super::{DType, Kernel};

    macro_rules! io {
        (f32) => {
            include_str!("../../../shaders/runtime/io_f32.wgsl")
        };
        (f16) => {
            include_str!("../../../shaders/runtime/io_f16.wgsl")
        };
    }

    // One pipeline per activation type, [f32, f16] (index [`io_index`]): the io prelude first
    // (its `enable f16;` must precede every declaration), then the head-size constant, then the
    // operand readers' preludes where the kernel has them (f32 pipeline's, f16 pipeline's).
    macro_rules! flash {
        ($name:ident, $label:literal, $file:literal, $hs4:literal, $doc:literal) => {
            flash!($name, $label, $file, $hs4, [], [], $doc);
        };
        ($name:ident, $label:literal, $file:literal, $hs4:literal, [$($r32:literal),*], [$($r16:literal),*], $doc:literal) => {
            #[doc = $doc]
            pub const $name: [Kernel; 2] = [
                Kernel {
                    name: $label,
                    source: concat!(
                        io!(f32),
                        "const HS4: u32 = ",
                        $hs4,
                        "u;\n",
                        $(include_str!(concat!("../../../shaders/attention/", $r32, ".wgsl")),)*
                        include_str!(concat!("../../../shaders/attention/", $file, ".wgsl"))
                    ),
                    unchecked: true,
                },
                Kernel {
                    name: concat!($label, "_hh"),
                    source: concat!(
                        io!(f16),
                        "const HS4: u32 = ",
                        $hs4,
                        "u;\n",
                        $(include_str!(concat!("../../../shaders/attention/", $r16, ".wgsl")),)*
                        include_str!(concat!("../../../shaders/attention/", $file, ".wgsl"))
                    ),
                    unchecked: true,
                },
            ];
        };
    }
    // The subgroup kernel over storage buffers (any head size) and over storage textures.
    macro_rules! flash_sg {
        ($name:ident, $tex:ident, $label:literal, $tex_label:literal, $hs4:literal, $doc:literal) => {
            flash!($name, $label, "flash_attention_sg", $hs4, ["attention_sg_buffers"], ["attention_sg_buffers"], $doc);
            flash!(
                $tex,
                $tex_label,
                "flash_attention_sg",
                $hs4,
                ["attention_sg_rgba32f", "attention_sg_textures"],
                ["attention_sg_rgba16f", "attention_sg_textures"],
                "The same kernel reading q, k and v from read-only storage textures (head sizes, offsets and strides that are multiples of 4)."
            );
        };
    }
    flash!(FLASH_ATTENTION_HS4, "flash_attention_hs4", "flash_attention", 1, "Fused attention for head sizes up to 4 (f32, f16 activations); indexing is clamped or guarded against its params (see the shader's header).");
    flash!(
        FLASH_ATTENTION_HS8,
        "flash_attention_hs8",
        "flash_attention",
        2,
        "Fused attention for head sizes up to 8 (f32, f16 activations)."
    );
    flash!(
        FLASH_ATTENTION_HS16,
        "flash_attention_hs16",
        "flash_attention",
        4,
        "Fused attention for head sizes up to 16 (f32, f16 activations)."
    );
    flash!(
        FLASH_ATTENTION_HS32,
        "flash_attention_hs32",
        "flash_attention",
        8,
        "Fused attention for head sizes up to 32 (f32, f16 activations)."
    );
    flash!(
        FLASH_ATTENTION_HS64,
        "flash_attention_hs64",
        "flash_attention",
        16,
        "Fused attention for head sizes up to 64 (f32, f16 activations)."
    );
    flash!(
        FLASH_ATTENTION_HS128,
        "flash_attention_hs128",
        "flash_attention",
        32,
        "Fused attention for head sizes up to 128 (f32, f16 activations)."
    );
    flash_sg!(FLASH_ATTENTION_SG_HS4, FLASH_ATTENTION_SG_TEX_HS4, "flash_attention_sg_hs4", "flash_attention_sg_tex_hs4", 1, "Fused attention for software adapters with subgroups of at least 8 lanes, head sizes up to 4 (f32, f16 activations; see the shader's header).");
    flash_sg!(FLASH_ATTENTION_SG_HS8, FLASH_ATTENTION_SG_TEX_HS8, "flash_attention_sg_hs8", "flash_attention_sg_tex_hs8", 2, "The subgroup kernel for head sizes up to 8.");
    flash_sg!(FLASH_ATTENTION_SG_HS16, FLASH_ATTENTION_SG_TEX_HS16, "flash_attention_sg_hs16", "flash_attention_sg_tex_hs16", 4, "The subgroup kernel for head sizes up to 16.");
    flash_sg!(FLASH_ATTENTION_SG_HS32, FLASH_ATTENTION_SG_TEX_HS32, "flash_attention_sg_hs32", "flash_attention_sg_tex_hs32", 8, "The subgroup kernel for head sizes up to 32.");
    flash_sg!(FLASH_ATTENTION_SG_HS64, FLASH_ATTENTION_SG_TEX_HS64, "flash_attention_sg_hs64", "flash_attention_sg_tex_hs64", 16, "The subgroup kernel for head sizes up to 64.");
    flash_sg!(FLASH_ATTENTION_SG_HS128, FLASH_ATTENTION_SG_TEX_HS128, "flash_attention_sg_hs128", "flash_attention_sg_tex_hs128", 32, "The subgroup kernel for head sizes up to 128.");

    /// Index of the pipeline for activations of `dtype` in a `[Kernel; 2]` family (f32: 0,
    /// f16: 1).
    pub fn io_index(dtype: DType) -> usize {
        (dtype == DType::F16) as usize
    }

    /// The subgroup fused kernel for head size `hs` (1..=128).
    pub fn flash_attention_sg(hs: usize) -> &'static [Kernel; 2] {
        match hs.div_ceil(4).next_power_of_two() {
            1 => &FLASH_ATTENTION_SG_HS4,
            2 => &FLASH_ATTENTION_SG_HS8,
            4 => &FLASH_ATTENTION_SG_HS16,
            8 => &FLASH_ATTENTION_SG_HS32,
            16 => &FLASH_ATTENTION_SG_HS64,
            _ => &FLASH_ATTENTION_SG_HS128,
        }
    }

    /// The subgroup fused kernel over textures for head size `hs` (1..=128).
    pub fn flash_attention_sg_tex(hs: usize) -> &'static [Kernel; 2] {
        match hs.div_ceil(4).next_power_of_two() {
            1 => &FLASH_ATTENTION_SG_TEX_HS4,
            2 => &FLASH_ATTENTION_SG_TEX_HS8,
            4 => &FLASH_ATTENTION_SG_TEX_HS16,
            8 => &FLASH_ATTENTION_SG_TEX_HS32,
            16 => &FLASH_ATTENTION_SG_TEX_HS64,
            _ => &FLASH_ATTENTION_SG_TEX_HS128,
        }
    }

    /// The fused kernel for head size `hs` (1..=128): the smallest bound that holds it.
    pub fn flash_attention(hs: usize) -> &'static [Kernel; 2] {
        match hs.div_ceil(4).next_power_of_two() {
            1 => &FLASH_ATTENTION_HS4,
            2 => &FLASH_ATTENTION_HS8,
            4 => &FLASH_ATTENTION_HS16,
            8 => &FLASH_ATTENTION_HS32,
            16 => &FLASH_ATTENTION_HS64,
            _ => &FLASH_ATTENTION_HS128,
        }
    }

    macro_rules! tiled {
        ($name:ident, $label:literal, $rows:literal, $doc:literal) => {
            #[doc = $doc]
            pub const $name: [Kernel; 2] = [
                Kernel {
                    name: $label,
                    source: concat!(
                        io!(f32),
                        include_str!(concat!("../../../shaders/attention/", $rows, ".wgsl")),
                        include_str!("../../../shaders/attention/flash_attention_tiled.wgsl")
                    ),
                    unchecked: true,
                },
                Kernel {
                    name: concat!($label, "_hh"),
                    source: concat!(
                        io!(f16),
                        include_str!(concat!("../../../shaders/attention/", $rows, ".wgsl")),
                        include_str!("../../../shaders/attention/flash_attention_tiled.wgsl")
                    ),
                    unchecked: true,
                },
            ];
        };
    }
    tiled!(
        FLASH_ATTENTION_TILED,
        "flash_attention_tiled",
        "flash_rows_subgroup",
        "Matmul-style fused attention for hardware GPUs (head size <= 64), row reductions by subgroup shuffles (subgroups of at least 16 lanes); f32 and f16 activations."
    );
    tiled!(
        FLASH_ATTENTION_TILED_WG,
        "flash_attention_tiled_wg",
        "flash_rows_shared",
        "The same kernel with its row reductions through workgroup memory (no subgroups; still 32 KiB of workgroup memory)."
    );
    /// Builds the additive (G, Tq, Tk) key + causal mask of the composed path.
    pub const ATTENTION_MASK: Kernel = Kernel {
        name: "attention_mask",
        source: include_str!("../../../shaders/attention/attention_mask.wgsl"),
        unchecked: false,
    };
    /// Every kernel family that needs no optional feature for its f32 pipeline (the f16 one
    /// needs `SHADER_F16`): the `flash_attention` buckets and `FLASH_ATTENTION_TILED_WG` (which
    /// builds only with 32 KiB of workgroup memory).
    pub const FAMILIES: &[[Kernel; 2]] = &[
        FLASH_ATTENTION_HS4,
        FLASH_ATTENTION_HS8,
        FLASH_ATTENTION_HS16,
        FLASH_ATTENTION_HS32,
        FLASH_ATTENTION_HS64,
        FLASH_ATTENTION_HS128,
        FLASH_ATTENTION_TILED_WG,
    ];
    /// The kernels that need no optional feature: the f32 pipelines of [`FAMILIES`] and the mask
    /// (see also `NEEDS_SUBGROUP`).
    pub const ALL: &[Kernel] = &[
        FLASH_ATTENTION_HS4[0],
        FLASH_ATTENTION_HS8[0],
        FLASH_ATTENTION_HS16[0],
        FLASH_ATTENTION_HS32[0],
        FLASH_ATTENTION_HS64[0],
        FLASH_ATTENTION_HS128[0],
        ATTENTION_MASK,
        FLASH_ATTENTION_TILED_WG[0],
    ];
    /// Kernel families that compile only where the device has `wgpu::Features::SUBGROUP` (kept
    /// out of `ALL`); `FLASH_ATTENTION_TILED` also needs 32 KiB of workgroup memory.
    pub const NEEDS_SUBGROUP: &[[Kernel; 2]] = &[
        FLASH_ATTENTION_SG_HS4,
        FLASH_ATTENTION_SG_HS8,
        FLASH_ATTENTION_SG_HS16,
        FLASH_ATTENTION_SG_HS32,
        FLASH_ATTENTION_SG_HS64,
        FLASH_ATTENTION_SG_HS128,
        FLASH_ATTENTION_SG_TEX_HS4,
        FLASH_ATTENTION_SG_TEX_HS8,
        FLASH_ATTENTION_SG_TEX_HS16,
        FLASH_ATTENTION_SG_TEX_HS32,
        FLASH_ATTENTION_SG_TEX_HS64,
        FLASH_ATTENTION_SG_TEX_HS128,
        FLASH_ATTENTION_TILED,
    ];

    /// Every attention kernel with its needs and the override sets the ops dispatch: the
    /// `flash_attention` bucket for head size HS gets each [`super::FusedConfig::choices`] of HS.
    #[doc(hidden)]
    pub fn assembled() -> Vec<vitfuse_runtime::kernels::Assembled> {
        use vitfuse_runtime::wgpu::Features;
        let f16s: Vec<Kernel> = FAMILIES.iter().map(|f| f[1]).collect();
        let subgroup: Vec<Kernel> = NEEDS_SUBGROUP.iter().flatten().copied().collect();
        vitfuse_runtime::kernels::assemble(
            &[
                (ALL, Features::empty()),
                (&f16s, Features::SHADER_F16),
                (&subgroup, Features::SUBGROUP),
            ],
            |k| {
                (1..=super::MAX_HEAD_SIZE)
                    .filter(|&hs| flash_attention(hs).iter().any(|f| f.name == k.name))
                    .flat_map(super::FusedConfig::choices)
                    .map(|c| c.overrides().to_vec())
                    .collect()
            },
        )
    }
}

/// Largest head size the fused kernel supports.
pub const MAX_HEAD_SIZE: usize = 128;

/// A (B, T, C_total) tensor whose heads start at column `offset`: head h, dim d is column
/// offset + h*HS + d.
#[derive(Clone, Copy)]
pub struct Heads<'a> {
    /// The (B, T, C_total) tensor holding the heads (e.g. a fused QKV projection): f32, or f16
    /// on a device with `SHADER_F16`.
    pub x: &'a Tensor,
    /// Column of head 0, dim 0; `offset + NH·HS` must not exceed C_total.
    pub offset: usize,
}

impl<'a> Heads<'a> {
    /// The heads of `x` starting at column `offset`.
    pub fn new(x: &'a Tensor, offset: usize) -> Self {
        Heads { x, offset }
    }
}

/// Number and size of heads, the score scale and whether query i sees only keys j <= i.
#[derive(Clone, Copy, Debug)]
pub struct AttentionOptions {
    /// Number of heads (at least 1).
    pub nh: usize,
    /// Head size HS, 1..=[`MAX_HEAD_SIZE`].
    pub hs: usize,
    /// Factor on the scores Q·Kᵀ before the softmax (finite); 1/√HS from [`AttentionOptions::new`].
    pub scale: f32,
    /// Query i sees only keys j <= i (needs Tq == Tk).
    pub causal: bool,
}

impl AttentionOptions {
    /// `nh` heads of `hs`, scale 1/√hs, not causal.
    pub fn new(nh: usize, hs: usize) -> Self {
        AttentionOptions { nh, hs, scale: 1.0 / (hs.max(1) as f32).sqrt(), causal: false }
    }
}

/// Tile sizes of the fused kernel (its WGSL `override`s); [`FusedConfig::for_context`] picks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FusedConfig {
    /// Queries (lanes) per workgroup; a multiple of 8.
    pub wg: u32,
    /// Keys per tile, 1..=32.
    pub bk: u32,
    /// Stage K/V tiles in workgroup memory, or read them one key at a time at lane-uniform
    /// addresses straight from the buffer (no barriers; measured no faster on lavapipe).
    pub smem: bool,
}

/// vec4 chunks per head the kernel is specialised for: the next power of two of ⌈HS/4⌉.
fn hs4_bucket(hs: usize) -> u32 {
    hs.div_ceil(4).next_power_of_two() as u32
}

impl FusedConfig {
    /// Tiles for this adapter and head size.
    pub fn for_context(ctx: &Context, hs: usize) -> Self {
        Self::for_adapter(ctx.is_software(), ctx.limits().max_compute_workgroup_storage_size, hs)
    }

    /// Tiles for a software or hardware adapter with `workgroup_storage` bytes of workgroup memory.
    fn for_adapter(software: bool, workgroup_storage: u32, hs: usize) -> Self {
        if software {
            // Measured at ViT-B shape on lavapipe (2 busy cores, noisy): staged tiles with 64
            // lanes 50-120 ms, 32 lanes ~100 ms, the barrier-free uniform-load path 106-120 ms.
            FusedConfig { wg: 64, bk: 16, smem: true }
        } else {
            // Two (BK, HS4) vec4 tiles within 16 KiB (or less when the adapter offers less).
            let budget = (workgroup_storage as usize).min(16384);
            let per_key = 2 * 16 * hs4_bucket(hs.max(1)) as usize;
            let bk = (budget / per_key).clamp(8, 32);
            FusedConfig { wg: 64, bk: 1 << bk.ilog2(), smem: true }
        }
    }

    /// What [`FusedConfig::for_context`] gives for head size `hs` on software adapters and on
    /// hardware ones with WebGPU's 16 KiB, wgpu's downlevel 16352 bytes, or more.
    #[doc(hidden)]
    pub fn choices(hs: usize) -> Vec<Self> {
        [(true, 16384), (false, 32768), (false, 16384), (false, 16352)].map(|(sw, st)| Self::for_adapter(sw, st, hs)).to_vec()
    }

    /// The kernel's `override` values for these tiles.
    fn overrides(self) -> [(&'static str, f64); 3] {
        [("WG", self.wg as f64), ("BK", self.bk as f64), ("SMEM", self.smem as u32 as f64)]
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FlashParams {
    b: u32,
    nh: u32,
    tq: u32,
    tk: u32,
    hs: u32,
    flags: u32,
    scale: f32,
    nqb: u32,
    q_stride: u32,
    q_off: u32,
    k_stride: u32,
    k_off: u32,
    v_stride: u32,
    v_off: u32,
    _p0: u32,
    _p1: u32,
}

/// Validated dims of one attention call.
struct Dims {
    b: usize,
    tq: usize,
    tk: usize,
    /// The activations' dtype: q's, k's, v's and the output's.
    dtype: DType,
}

fn check(
    ctx: &Context,
    op: &'static str,
    q: Heads,
    k: Heads,
    v: Heads,
    key_mask: Option<&Tensor>,
    o: &AttentionOptions,
) -> Result<Dims> {
    if o.nh == 0 || o.hs == 0 || o.hs > MAX_HEAD_SIZE {
        return Err(invalid(op, format!("need 1..={MAX_HEAD_SIZE} head size and at least one head; got nh {} hs {}", o.nh, o.hs)));
    }
    if !o.scale.is_finite() {
        return Err(invalid(op, format!("scale must be finite, got {}", o.scale)));
    }
    let dtype = q.x.dtype();
    if dtype == DType::F16 && !ctx.has_feature(vitfuse_runtime::wgpu::Features::SHADER_F16) {
        return Err(invalid(op, "f16 activations need the adapter feature SHADER_F16, which this device was not opened with; use f32 activations".into()));
    }
    if dtype != DType::F16 {
        q.x.expect_dtype(op, DType::F32)?;
    }
    for (name, h) in [("q", q), ("k", k), ("v", v)] {
        h.x.expect_dtype(op, dtype)?;
        if h.x.rank() != 3 || h.x.numel() == 0 {
            return Err(Error::ShapeMismatch { op, expected: format!("{name} as a non-empty (B, T, C)"), got: h.x.shape().to_vec() });
        }
        if h.offset + o.nh * o.hs > h.x.shape()[2] {
            return Err(invalid(
                op,
                format!("{name}: cannot take {} heads of {} at column {} from {:?}", o.nh, o.hs, h.offset, h.x.shape()),
            ));
        }
        fits_u32(op, h.x.numel())?;
    }
    let (b, tq, tk) = (q.x.shape()[0], q.x.shape()[1], k.x.shape()[1]);
    if k.x.shape()[0] != b {
        return Err(Error::ShapeMismatch { op, expected: format!("k with batch {b}"), got: k.x.shape().to_vec() });
    }
    if v.x.shape()[0] != b || v.x.shape()[1] != tk {
        return Err(Error::ShapeMismatch { op, expected: format!("v as ({b}, {tk}, C)"), got: v.x.shape().to_vec() });
    }
    if o.causal && tq != tk {
        return Err(invalid(op, format!("causal attention needs Tq == Tk, got {tq} and {tk}")));
    }
    if let Some(m) = key_mask {
        m.expect_dtype(op, DType::F32)?;
        m.expect_shape(op, &[b, tk])?;
    }
    fits_u32(op, b * tq * o.nh * o.hs)?;
    fits_u32(op, b * o.nh * tq * tk)?;
    Ok(Dims { b, tq, tk, dtype })
}

/// Fused scaled-dot-product attention, flash-attention style (online softmax, K/V tiles in
/// workgroup memory on GPUs). q: (B, Tq, ·), k and v: (B, Tk, ·) viewed through [`Heads`];
/// key_mask: optional additive f32 mask (B, Tk) (0 keep, −∞ or very negative drop). causal:
/// query i sees keys j <= i (requires Tq == Tk). Output (B, Tq, NH·HS), heads merged; a query
/// whose keys are all −∞ gives zeros. One dispatch. q, k and v share one dtype, f32 or f16
/// (`SHADER_F16`), and the output has it; scores, the online softmax and the P·V sums are f32.
/// On software adapters with subgroups of at least 8 lanes this runs [`attention_subgroup`].
/// On hardware GPUs with head size <= 64 and enough workgroup memory it runs
/// [`attention_tiled`].
/// The context's `attention` kernel choice ([`vitfuse_runtime::KernelChoices::attention`])
/// replaces the choice.
pub fn attention(ctx: &Context, q: Heads, k: Heads, v: Heads, key_mask: Option<&Tensor>, opts: AttentionOptions) -> Result<Tensor> {
    match ctx.kernels().attention {
        Some(AttentionKernel::Flash) => return attention_with(ctx, q, k, v, key_mask, opts, FusedConfig::for_context(ctx, opts.hs)),
        Some(AttentionKernel::Tiled) => return attention_tiled(ctx, q, k, v, key_mask, opts, TiledRows::Subgroup),
        Some(AttentionKernel::TiledWg) => return attention_tiled(ctx, q, k, v, key_mask, opts, TiledRows::Shared),
        Some(AttentionKernel::Subgroup) => return attention_subgroup(ctx, q, k, v, key_mask, opts),
        Some(AttentionKernel::SubgroupTex) => return attention_subgroup_tex(ctx, q, k, v, key_mask, opts),
        Some(AttentionKernel::Composed) => return attention_composed(ctx, q, k, v, key_mask, opts),
        None => {}
    }
    if ctx.is_software() && ctx.supports(AttentionKernel::Subgroup) {
        if ctx.texture_operands() && texture_problem(ctx, q, k, v, &opts).is_none() {
            return attention_subgroup_tex(ctx, q, k, v, key_mask, opts);
        }
        return attention_subgroup(ctx, q, k, v, key_mask, opts);
    }
    if !ctx.is_software() && opts.hs <= TILED_MAX_HEAD {
        // Workgroup-memory row reductions: as fast as the subgroup ones on an H200 (ViT-B/16
        // batch 64: 115.9 vs 117.1 ms) and free of assumptions about subgroup layout and
        // reconvergence.
        if ctx.supports(AttentionKernel::TiledWg) {
            return attention_tiled(ctx, q, k, v, key_mask, opts, TiledRows::Shared);
        }
    }
    attention_with(ctx, q, k, v, key_mask, opts, FusedConfig::for_context(ctx, opts.hs))
}

/// Largest head size of [`attention_tiled`].
pub const TILED_MAX_HEAD: usize = 64;
/// Queries per workgroup of `flash_attention_tiled`.
const TILED_QUERIES: usize = 64;

/// How [`attention_tiled`] reduces a score row across its 16 invocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TiledRows {
    /// Subgroup xor-shuffles ([`AttentionKernel::Tiled`]); needs subgroups of at least 16 lanes
    /// that follow `local_invocation_index` (true of the GPUs we know; Vulkan leaves it open).
    Subgroup,
    /// Workgroup memory and barriers ([`AttentionKernel::TiledWg`]); no subgroups needed, but
    /// 32 KiB of workgroup memory like the other flavour.
    Shared,
}

impl TiledRows {
    /// The kernel choice this flavour of [`attention_tiled`] is.
    pub fn kernel(self) -> AttentionKernel {
        match self {
            TiledRows::Subgroup => AttentionKernel::Tiled,
            TiledRows::Shared => AttentionKernel::TiledWg,
        }
    }
}

/// [`attention`] with the matmul-style kernel `flash_attention_tiled` (64 queries x 32-key
/// tiles per 256-invocation workgroup; see the shader's header). Head size <= 64; an
/// [`Error::KernelUnsupported`] where the adapter cannot run `rows` ([`AttentionKernel::needs`]).
pub fn attention_tiled(
    ctx: &Context,
    q: Heads,
    k: Heads,
    v: Heads,
    key_mask: Option<&Tensor>,
    opts: AttentionOptions,
    rows: TiledRows,
) -> Result<Tensor> {
    const OP: &str = "attention";
    let Dims { b, tq, tk, dtype } = check(ctx, OP, q, k, v, key_mask, &opts)?;
    if opts.hs > TILED_MAX_HEAD {
        return Err(invalid(OP, format!("the tiled kernel takes head sizes up to {TILED_MAX_HEAD}, got {}", opts.hs)));
    }
    ctx.check_kernel(rows.kernel())?;
    let kernel = match rows {
        TiledRows::Subgroup => &kernels::FLASH_ATTENTION_TILED,
        TiledRows::Shared => &kernels::FLASH_ATTENTION_TILED_WG,
    };
    let nqb = tq.div_ceil(TILED_QUERIES);
    let workgroups = (b * opts.nh) as u64 * nqb as u64;
    launch(ctx, kernel, &[], q, k, v, key_mask, opts, (b, tq, tk, dtype), nqb, workgroups, None)
}

/// Queries per workgroup of `flash_attention_sg` (8 lanes x 4 queries).
const SG_QUERIES: usize = 32;

/// [`attention`] with the subgroup kernel: one 8-lane subgroup per 32 queries, keys in blocks
/// of 8 shared by subgroup shuffles, no workgroup memory or barriers (for software adapters).
/// An [`Error::KernelUnsupported`] without subgroups of at least 8 lanes.
pub fn attention_subgroup(ctx: &Context, q: Heads, k: Heads, v: Heads, key_mask: Option<&Tensor>, opts: AttentionOptions) -> Result<Tensor> {
    const OP: &str = "attention";
    let Dims { b, tq, tk, dtype } = check(ctx, OP, q, k, v, key_mask, &opts)?;
    ctx.check_kernel(AttentionKernel::Subgroup)?;
    let nqb = tq.div_ceil(SG_QUERIES);
    let workgroups = (b * opts.nh) as u64 * nqb as u64;
    launch(ctx, kernels::flash_attention_sg(opts.hs), &[], q, k, v, key_mask, opts, (b, tq, tk, dtype), nqb, workgroups, None)
}

/// Why q, k and v cannot be read as textures by [`attention_subgroup_tex`], if they cannot.
fn texture_problem(ctx: &Context, q: Heads, k: Heads, v: Heads, opts: &AttentionOptions) -> Option<String> {
    if !opts.hs.is_multiple_of(4) {
        return Some(format!("head size {} is not a multiple of 4", opts.hs));
    }
    for (what, h) in [("q", q), ("k", k), ("v", v)] {
        let &[b, t, width] = h.x.shape() else {
            return Some(format!("{what} is not (B, T, C)"));
        };
        let rows = b * t;
        if h.offset % 4 != 0 || width % 4 != 0 {
            return Some(format!("{what}'s heads start at column {} of rows {width} wide; both must be multiples of 4", h.offset));
        }
        if !ctx.fits_texture(rows, width / 4) {
            return Some(format!("{what}'s {rows} rows of {} texels exceed the adapter's 2D texture size", width / 4));
        }
    }
    None
}

/// [`attention_subgroup`] reading q, k and v from texture copies ([`Context::texture_of`]: one
/// per tensor, so a fused QKV projection is copied once), which lavapipe loads far faster than
/// its per-lane storage-buffer reads. Head size, head offsets and row widths must be multiples
/// of 4 and the rows within the adapter's 2D texture size ([`Error::InvalidArgument`] otherwise);
/// [`attention`] takes this path on Vulkan software adapters where they are.
pub fn attention_subgroup_tex(
    ctx: &Context,
    q: Heads,
    k: Heads,
    v: Heads,
    key_mask: Option<&Tensor>,
    opts: AttentionOptions,
) -> Result<Tensor> {
    const OP: &str = "attention";
    let Dims { b, tq, tk, dtype } = check(ctx, OP, q, k, v, key_mask, &opts)?;
    ctx.check_kernel(AttentionKernel::SubgroupTex)?;
    if let Some(why) = texture_problem(ctx, q, k, v, &opts) {
        return Err(invalid(OP, format!("subgroup-tex: {why}")));
    }
    let tex = |h: Heads| {
        let s = h.x.shape();
        ctx.texture_of(h.x, (s[0] * s[1]) as u32, (s[2] / 4) as u32)
    };
    let views = [tex(q)?, tex(k)?, tex(v)?];
    let nqb = tq.div_ceil(SG_QUERIES);
    let workgroups = (b * opts.nh) as u64 * nqb as u64;
    let kernel = kernels::flash_attention_sg_tex(opts.hs);
    launch(ctx, kernel, &[], q, k, v, key_mask, opts, (b, tq, tk, dtype), nqb, workgroups, Some(&views))
}

/// Dispatches a fused kernel over q, k and v: their buffers, or `views`, their texture copies
/// (bindings 1-3 of the texture readers).
#[allow(clippy::too_many_arguments)]
fn launch(
    ctx: &Context,
    kernel: &'static [Kernel; 2],
    overrides: &[(&'static str, f64)],
    q: Heads,
    k: Heads,
    v: Heads,
    key_mask: Option<&Tensor>,
    opts: AttentionOptions,
    (b, tq, tk, dtype): (usize, usize, usize, DType),
    nqb: usize,
    workgroups: u64,
    views: Option<&[vitfuse_runtime::wgpu::TextureView; 3]>,
) -> Result<Tensor> {
    use vitfuse_runtime::wgpu::BindingResource;
    let (nh, hs) = (opts.nh, opts.hs);
    let out = Tensor::empty(ctx, &[b, tq, nh * hs], dtype)?;
    let p = FlashParams {
        b: b as u32,
        nh: nh as u32,
        tq: tq as u32,
        tk: tk as u32,
        hs: hs as u32,
        flags: key_mask.is_some() as u32 | (opts.causal as u32) << 1,
        scale: opts.scale,
        nqb: nqb as u32,
        q_stride: q.x.shape()[2] as u32,
        q_off: q.offset as u32,
        k_stride: k.x.shape()[2] as u32,
        k_off: k.offset as u32,
        v_stride: v.x.shape()[2] as u32,
        v_off: v.offset as u32,
        _p0: 0,
        _p1: 0,
    };
    let dummy;
    let m = match key_mask {
        Some(m) => m,
        None => {
            dummy = ctx.dummy()?;
            &dummy
        }
    };
    let [bq, bk, bv] = match views {
        Some([tq, tk, tv]) => [BindingResource::TextureView(tq), BindingResource::TextureView(tk), BindingResource::TextureView(tv)],
        None => [q.x.binding(), k.x.binding(), v.x.binding()],
    };
    ctx.dispatch_bindings(&kernel[kernels::io_index(dtype)], overrides, &p, &[bq, bk, bv, m.binding(), out.binding()], workgroups)?;
    Ok(out)
}

/// [`attention`] with explicit tile sizes (for tuning and benchmarks).
pub fn attention_with(
    ctx: &Context,
    q: Heads,
    k: Heads,
    v: Heads,
    key_mask: Option<&Tensor>,
    opts: AttentionOptions,
    cfg: FusedConfig,
) -> Result<Tensor> {
    const OP: &str = "attention";
    let Dims { b, tq, tk, dtype } = check(ctx, OP, q, k, v, key_mask, &opts)?;
    if cfg.wg == 0
        || cfg.wg & 7 != 0
        || cfg.bk == 0
        || cfg.bk > 32
        || cfg.wg > ctx.limits().max_compute_invocations_per_workgroup
    {
        return Err(invalid(OP, format!("bad tile config {cfg:?}")));
    }
    let hs4 = hs4_bucket(opts.hs);
    if cfg.smem && (2 * 16 * cfg.bk * hs4) > ctx.limits().max_compute_workgroup_storage_size {
        return Err(invalid(OP, format!("{cfg:?} needs more workgroup memory than the adapter has for head size {}", opts.hs)));
    }
    let nqb = tq.div_ceil(cfg.wg as usize);
    let overrides = cfg.overrides();
    let workgroups = (b * opts.nh) as u64 * nqb as u64;
    launch(ctx, kernels::flash_attention(opts.hs), &overrides, q, k, v, key_mask, opts, (b, tq, tk, dtype), nqb, workgroups, None)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MaskParams {
    g: u32,
    tq: u32,
    tk: u32,
    flags: u32,
}

/// The same result from composed runtime ops: split_heads → matmul (QKᵀ, alpha = scale) →
/// masked softmax → matmul (P·V, KN layout) → merge_heads. Materialises the (B, NH, Tq, Tk)
/// scores; a causal mask is built on the GPU. Fallback and test oracle.
pub fn attention_composed(
    ctx: &Context,
    q: Heads,
    k: Heads,
    v: Heads,
    key_mask: Option<&Tensor>,
    opts: AttentionOptions,
) -> Result<Tensor> {
    const OP: &str = "attention_composed";
    let Dims { b, tq, tk, dtype } = check(ctx, OP, q, k, v, key_mask, &opts)?;
    let (nh, hs) = (opts.nh, opts.hs);
    let qh = ops::split_heads(ctx, q.x, q.offset, nh, hs)?; // (B, NH, Tq, HS)
    let kh = ops::split_heads(ctx, k.x, k.offset, nh, hs)?.reshape(&[b * nh, tk, hs])?;
    let vh = ops::split_heads(ctx, v.x, v.offset, nh, hs)?.reshape(&[b * nh, tk, hs])?;
    // Scores and probabilities stay f32 whatever the activations (as in the fused kernels).
    let scores = ops::matmul(
        ctx,
        &qh,
        &kh,
        None,
        None,
        MatmulOptions {
            alpha: opts.scale,
            out: Some(DType::F32),
            ..Default::default()
        },
    )?;
    let built;
    let mask = if opts.causal {
        let g = if key_mask.is_some() { b } else { 1 };
        built = Tensor::empty(ctx, &[g, tq, tk], DType::F32)?;
        let dummy;
        let km = match key_mask {
            Some(m) => m,
            None => {
                dummy = ctx.dummy()?;
                &dummy
            }
        };
        let p = MaskParams { g: g as u32, tq: tq as u32, tk: tk as u32, flags: key_mask.is_some() as u32 | 2 };
        ctx.dispatch(&kernels::ATTENTION_MASK, &[], &p, &[km, &built], groups(g * tq * tk, 64))?;
        Some((&built, MaskLayout { rows_per_group: if g == 1 { b * nh * tq } else { nh * tq }, mask_rows: tq }))
    } else {
        key_mask.map(|m| (m, MaskLayout { rows_per_group: nh * tq, mask_rows: 1 }))
    };
    let probs = ops::softmax(ctx, &scores, mask, 1.0)?;
    let o = ops::matmul(
        ctx,
        &probs,
        &vh,
        None,
        None,
        MatmulOptions {
            layout: WeightLayout::KN,
            out: Some(dtype),
            ..Default::default()
        },
    )?;
    ops::merge_heads(ctx, &o)
}

/// Convenience for a fused QKV projection (B, T, 3·NH·HS): q at 0, k at NH·HS, v at 2·NH·HS.
pub fn self_attention(ctx: &Context, qkv: &Tensor, key_mask: Option<&Tensor>, opts: AttentionOptions) -> Result<Tensor> {
    let c = opts.nh * opts.hs;
    if qkv.rank() != 3 || qkv.shape()[2] != 3 * c {
        return Err(Error::ShapeMismatch { op: "self_attention", expected: format!("(B, T, {})", 3 * c), got: qkv.shape().to_vec() });
    }
    attention(ctx, Heads::new(qkv, 0), Heads::new(qkv, c), Heads::new(qkv, 2 * c), key_mask, opts)
}
