//! The registry of the runtime's WGSL kernels, embedded at build time. One file per kernel
//! variant under `shaders/runtime/`; `activation.wgsl` is prepended to the kernels that call
//! `activate()`, a weights prelude (`weights_f32*.wgsl` / `weights_f16*.wgsl`: binding 2 and
//! its reader) to the matmuls and the gather, which so come in an f32 and an f16 pipeline, and an
//! io prelude (`io_*.wgsl`: the element types of activations in and out, [`Io`]) to the kernels
//! whose activations may be f16.

use crate::context::Kernel;
use crate::DType;

macro_rules! src {
    ([$($part:literal),*]) => {
        concat!($(include_str!(concat!("../../../shaders/runtime/", $part, ".wgsl"))),*)
    };
}

macro_rules! kernel {
    ($name:ident, $file:literal, unchecked = $u:expr) => {
        kernel!($name, $file, $file, [], unchecked = $u);
    };
    ($name:ident, $file:literal, with_activation, unchecked = $u:expr) => {
        kernel!($name, $file, $file, ["activation"], unchecked = $u);
    };
    // `name` (the pipeline key) is `file` behind the preludes, in order.
    ($name:ident, $label:literal, $file:literal, [$($pre:literal),*], unchecked = $u:expr) => {
        #[doc = concat!("`shaders/runtime/", $file, ".wgsl`", $(" behind `", $pre, ".wgsl`",)* "; its header gives what it computes, its bindings and its grid.")]
        pub const $name: Kernel = Kernel { name: $label, source: src!([$($pre,)* $file]), unchecked: $u };
    };
}

// A kernel whose activations may be f16: one pipeline per io prelude, indexed by [`Io`]. `pre`
// come before the io prelude (enable directives), `post` after it.
macro_rules! io_kernels {
    ($name:ident, $label:literal, $file:literal, [$($pre:literal),*], [$($post:literal),*], unchecked = $u:expr) => {
        #[doc = concat!("`shaders/runtime/", $file, ".wgsl`", $(" behind `", $pre, ".wgsl`",)* " behind each io prelude", $(", `", $post, ".wgsl`",)* ", indexed by [`Io::index`]; its header gives what it computes, its bindings and its grid.")]
        pub const $name: [Kernel; 4] = [
            Kernel { name: $label, source: src!([$($pre,)* "io_f32", $($post,)* $file]), unchecked: $u },
            Kernel { name: concat!($label, "_hh"), source: src!([$($pre,)* "io_f16", $($post,)* $file]), unchecked: $u },
            Kernel { name: concat!($label, "_hf"), source: src!([$($pre,)* "io_f16_f32", $($post,)* $file]), unchecked: $u },
            Kernel { name: concat!($label, "_fh"), source: src!([$($pre,)* "io_f32_f16", $($post,)* $file]), unchecked: $u },
        ];
    };
}

/// Element types of an io-prelude kernel's activation input (x) and output (y; a matmul's
/// residual too): which of its four pipelines runs (`io_*.wgsl`). Every f16 one needs
/// `Features::SHADER_F16`; arithmetic is f32 in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Io {
    /// f32 in, f32 out (`io_f32`; no suffix on the kernel's name).
    F32,
    /// f16 in, f16 out (`io_f16`, `_hh`).
    F16,
    /// f16 in, f32 out (`io_f16_f32`, `_hf`).
    F16ToF32,
    /// f32 in, f16 out (`io_f32_f16`, `_fh`).
    F32ToF16,
}

impl Io {
    /// Every combination, in index order.
    pub const ALL: [Io; 4] = [Io::F32, Io::F16, Io::F16ToF32, Io::F32ToF16];

    /// The combination for input `x` and output `y`; `None` unless both are f32 or f16.
    pub fn of(x: DType, y: DType) -> Option<Io> {
        match (x, y) {
            (DType::F32, DType::F32) => Some(Io::F32),
            (DType::F16, DType::F16) => Some(Io::F16),
            (DType::F16, DType::F32) => Some(Io::F16ToF32),
            (DType::F32, DType::F16) => Some(Io::F32ToF16),
            _ => None,
        }
    }

    /// Index into an io kernel family (`[Kernel; 4]`).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether any side is f16 (the pipeline needs `SHADER_F16`).
    pub fn needs_f16(self) -> bool {
        self != Io::F32
    }
}

// Matmuls read their weight operand through a weights prelude (f32, or f16 two per u32 widened
// on load) and their activations through an io prelude: 2 x 4 pipelines each.
io_kernels!(
    MATMUL_NAIVE,
    "matmul_naive",
    "matmul_naive",
    [],
    ["activation", "weights_f32"],
    unchecked = false
);
io_kernels!(
    MATMUL_TILED,
    "matmul_tiled",
    "matmul_tiled",
    [],
    ["activation", "weights_f32"],
    unchecked = true
);
io_kernels!(
    MATMUL_SUBGROUP,
    "matmul_subgroup",
    "matmul_subgroup",
    [],
    ["activation", "weights_f32x4", "subgroup_buffers"],
    unchecked = true
);
io_kernels!(
    MATMUL_BLOCKED,
    "matmul_blocked",
    "matmul_blocked",
    [],
    ["activation", "weights_f32x4"],
    unchecked = true
);
io_kernels!(
    MATMUL_SHARED,
    "matmul_shared",
    "matmul_shared",
    [],
    ["activation", "weights_f32", "matmul_shared_parts"],
    unchecked = true
);
io_kernels!(
    MATMUL_WIDE,
    "matmul_wide",
    "matmul_wide",
    [],
    ["activation", "weights_f32x4", "matmul_wide_parts"],
    unchecked = true
);
io_kernels!(
    MATMUL_SHARED_DB,
    "matmul_shared_db",
    "matmul_shared_db",
    [],
    ["activation", "weights_f32", "matmul_shared_parts"],
    unchecked = true
);
io_kernels!(
    MATMUL_WIDE_DB,
    "matmul_wide_db",
    "matmul_wide_db",
    [],
    ["activation", "weights_f32x4", "matmul_wide_parts"],
    unchecked = true
);
io_kernels!(
    MATMUL_NAIVE_F16,
    "matmul_naive_f16",
    "matmul_naive",
    [],
    ["activation", "weights_f16"],
    unchecked = false
);
io_kernels!(
    MATMUL_TILED_F16,
    "matmul_tiled_f16",
    "matmul_tiled",
    [],
    ["activation", "weights_f16"],
    unchecked = true
);
io_kernels!(
    MATMUL_SUBGROUP_F16,
    "matmul_subgroup_f16",
    "matmul_subgroup",
    [],
    ["activation", "weights_f16x4", "subgroup_buffers"],
    unchecked = true
);
io_kernels!(
    MATMUL_BLOCKED_F16,
    "matmul_blocked_f16",
    "matmul_blocked",
    [],
    ["activation", "weights_f16x4"],
    unchecked = true
);
io_kernels!(
    MATMUL_SHARED_F16,
    "matmul_shared_f16",
    "matmul_shared",
    [],
    ["activation", "weights_f16", "matmul_shared_parts"],
    unchecked = true
);
io_kernels!(
    MATMUL_WIDE_F16,
    "matmul_wide_f16",
    "matmul_wide",
    [],
    ["activation", "weights_f16x4", "matmul_wide_parts"],
    unchecked = true
);
io_kernels!(
    MATMUL_SHARED_DB_F16,
    "matmul_shared_db_f16",
    "matmul_shared_db",
    [],
    ["activation", "weights_f16", "matmul_shared_parts"],
    unchecked = true
);
io_kernels!(
    MATMUL_WIDE_DB_F16,
    "matmul_wide_db_f16",
    "matmul_wide_db",
    [],
    ["activation", "weights_f16x4", "matmul_wide_parts"],
    unchecked = true
);
// The subgroup matmul over storage-texture operands, whose format is part of their type: A's
// follows the io prelude's XT, W's the family (f32 or f16 weights).
macro_rules! tex_kernels {
    ($name:ident, $label:literal, $w:literal) => {
        #[doc = concat!("`shaders/runtime/matmul_subgroup.wgsl` reading its operands through `subgroup_textures.wgsl`, W as `", $w, ".wgsl`, A as the io prelude's type, indexed by [`Io::index`].")]
        pub const $name: [Kernel; 4] = [
            Kernel { name: $label, source: src!(["io_f32", "activation", "subgroup_a_rgba32f", $w, "subgroup_textures", "matmul_subgroup"]), unchecked: true },
            Kernel { name: concat!($label, "_hh"), source: src!(["io_f16", "activation", "subgroup_a_rgba16f", $w, "subgroup_textures", "matmul_subgroup"]), unchecked: true },
            Kernel { name: concat!($label, "_hf"), source: src!(["io_f16_f32", "activation", "subgroup_a_rgba16f", $w, "subgroup_textures", "matmul_subgroup"]), unchecked: true },
            Kernel { name: concat!($label, "_fh"), source: src!(["io_f32_f16", "activation", "subgroup_a_rgba32f", $w, "subgroup_textures", "matmul_subgroup"]), unchecked: true },
        ];
    };
}
tex_kernels!(MATMUL_SUBGROUP_TEX, "matmul_subgroup_tex", "subgroup_w_rgba32f");
tex_kernels!(MATMUL_SUBGROUP_TEX_F16, "matmul_subgroup_tex_f16", "subgroup_w_rgba16f");
// Tensor cores: the enable directives must come first.
io_kernels!(
    MATMUL_COOP,
    "matmul_coop",
    "matmul_coop",
    ["coop_enable"],
    ["activation"],
    unchecked = true
);
io_kernels!(
    MATMUL_COOP8,
    "matmul_coop8",
    "matmul_coop8",
    ["coop_enable"],
    ["activation"],
    unchecked = true
);
kernel!(
    EMBEDDING,
    "embedding",
    "embedding",
    ["weights_f32"],
    unchecked = false
);
kernel!(
    EMBEDDING_F16,
    "embedding_f16",
    "embedding",
    ["weights_f16"],
    unchecked = false
);
// The split-K reduction reads f32 partial sums; only its output (and residual) type varies.
io_kernels!(
    SPLITK_REDUCE,
    "splitk_reduce",
    "splitk_reduce",
    [],
    ["activation"],
    unchecked = false
);
io_kernels!(
    LAYERNORM,
    "layernorm",
    "layernorm",
    [],
    [],
    unchecked = false
);
io_kernels!(SOFTMAX, "softmax", "softmax", [], [], unchecked = false);
kernel!(
    ELEMENTWISE,
    "elementwise",
    with_activation,
    unchecked = false
);
io_kernels!(
    SPLIT_HEADS,
    "split_heads",
    "split_heads",
    [],
    [],
    unchecked = false
);
io_kernels!(
    MERGE_HEADS,
    "merge_heads",
    "merge_heads",
    [],
    [],
    unchecked = false
);
kernel!(TO_TEXTURE_F32, "to_texture_f32", "to_texture", ["io_f32", "texture_rgba32f"], unchecked = false);
kernel!(TO_TEXTURE_F16, "to_texture_f16", "to_texture", ["io_f16", "texture_rgba16f"], unchecked = false);
kernel!(CONCAT_TOKENS, "concat_tokens", unchecked = false);
kernel!(TAKE_TOKENS, "take_tokens", unchecked = false);
kernel!(L2_NORMALIZE, "l2_normalize", unchecked = false);
io_kernels!(SWIGLU, "swiglu", "swiglu", [], [], unchecked = false);
kernel!(PEAK_FMA_F32, "peak_fma_f32", "peak_fma", ["peak_f32"], unchecked = true);
kernel!(PEAK_FMA_F16, "peak_fma_f16", "peak_fma", ["peak_f16"], unchecked = true);
kernel!(COPY_BANDWIDTH, "copy_bandwidth", unchecked = true);

/// Every io kernel family without other needs (f32 pipelines in [`ALL`], f16 ones in
/// [`NEEDS_F16`]).
pub const IO_FAMILIES: &[[Kernel; 4]] = &[
    MATMUL_NAIVE,
    MATMUL_TILED,
    MATMUL_BLOCKED,
    MATMUL_SHARED,
    MATMUL_WIDE,
    MATMUL_SHARED_DB,
    MATMUL_WIDE_DB,
    MATMUL_NAIVE_F16,
    MATMUL_TILED_F16,
    MATMUL_BLOCKED_F16,
    MATMUL_SHARED_F16,
    MATMUL_WIDE_F16,
    MATMUL_SHARED_DB_F16,
    MATMUL_WIDE_DB_F16,
    SPLITK_REDUCE,
    LAYERNORM,
    SOFTMAX,
    SPLIT_HEADS,
    MERGE_HEADS,
    SWIGLU,
];

/// Every kernel that builds without optional features (not those of `NEEDS_SUBGROUP`,
/// `NEEDS_F16` and `NEEDS_COOPERATIVE_MATRIX`): the f32 pipelines of [`IO_FAMILIES`] and these.
pub const ALL: &[Kernel] = &[
    MATMUL_NAIVE[0],
    MATMUL_TILED[0],
    MATMUL_BLOCKED[0],
    MATMUL_SHARED[0],
    MATMUL_WIDE[0],
    MATMUL_SHARED_DB[0],
    MATMUL_WIDE_DB[0],
    MATMUL_NAIVE_F16[0],
    MATMUL_TILED_F16[0],
    MATMUL_BLOCKED_F16[0],
    MATMUL_SHARED_F16[0],
    MATMUL_WIDE_F16[0],
    MATMUL_SHARED_DB_F16[0],
    MATMUL_WIDE_DB_F16[0],
    EMBEDDING_F16,
    SPLITK_REDUCE[0],
    LAYERNORM[0],
    SOFTMAX[0],
    ELEMENTWISE,
    SPLIT_HEADS[0],
    MERGE_HEADS[0],
    EMBEDDING,
    CONCAT_TOKENS,
    TAKE_TOKENS,
    L2_NORMALIZE,
    SWIGLU[0],
    PEAK_FMA_F32,
    COPY_BANDWIDTH,
    TO_TEXTURE_F32,
];

/// Kernel families that compile only where the device has `wgpu::Features::SUBGROUP` (and
/// `SHADER_F16` for their f16 pipelines; kept out of `ALL`).
pub const NEEDS_SUBGROUP: &[[Kernel; 4]] =
    &[MATMUL_SUBGROUP, MATMUL_SUBGROUP_F16, MATMUL_SUBGROUP_TEX, MATMUL_SUBGROUP_TEX_F16];

/// Kernel families that compile only on a device with `EXPERIMENTAL_COOPERATIVE_MATRIX`,
/// `SHADER_F16` and `SUBGROUP` ([`crate::coop`]; kept out of `ALL`): 16 x 16 x 16 and 8 x 8 x 8
/// configurations.
pub const NEEDS_COOPERATIVE_MATRIX: &[[Kernel; 4]] = &[MATMUL_COOP, MATMUL_COOP8];

/// Kernels that compile only where the device has `wgpu::Features::SHADER_F16` (`enable f16;`;
/// kept out of `ALL`), besides the f16 pipelines of [`IO_FAMILIES`].
pub const NEEDS_F16: &[Kernel] = &[PEAK_FMA_F16, TO_TEXTURE_F16];

/// A kernel as its crate builds it (source with preludes), the optional device features it
/// compiles only with, and every set of WGSL `override` values the ops pass for it. Each kernel
/// crate lists its own (`kernels::assembled()`), for `tests/portability.rs`.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct Assembled {
    /// The kernel, source as compiled.
    pub kernel: Kernel,
    /// `SUBGROUP` and/or `SHADER_F16` where it needs them.
    pub features: wgpu::Features,
    /// Each override set dispatched; one empty set for kernels without overrides.
    pub overrides: Vec<Vec<(&'static str, f64)>>,
}

/// Lists every kernel of `lists` (each with the features it needs) with the override sets
/// `overrides` gives (empty: the shader's defaults only). `SHADER_F16` is added wherever the
/// source says `enable f16;`.
#[doc(hidden)]
pub fn assemble(
    lists: &[(&[Kernel], wgpu::Features)],
    overrides: impl Fn(&Kernel) -> Vec<Vec<(&'static str, f64)>>,
) -> Vec<Assembled> {
    let mut out = Vec::new();
    for (list, features) in lists {
        for k in *list {
            let mut features = *features;
            if k.source.lines().any(|l| l.trim_start().starts_with("enable") && l.contains("f16")) {
                features |= wgpu::Features::SHADER_F16;
            }
            let mut sets: Vec<Vec<(&'static str, f64)>> = Vec::new();
            for set in overrides(k) {
                if !sets.contains(&set) {
                    sets.push(set);
                }
            }
            if sets.is_empty() {
                sets.push(Vec::new());
            }
            out.push(Assembled { kernel: *k, features, overrides: sets });
        }
    }
    out
}

/// Every runtime kernel with its needs and the override sets the ops dispatch.
#[doc(hidden)]
pub fn assembled() -> Vec<Assembled> {
    let pick = |fams: &[[Kernel; 4]], ios: &[Io]| -> Vec<Kernel> {
        fams.iter()
            .flat_map(|f| ios.iter().map(|io| f[io.index()]))
            .collect()
    };
    let half = [Io::F16, Io::F16ToF32, Io::F32ToF16];
    let (f16s, subgroup, coop) = (
        pick(IO_FAMILIES, &half),
        pick(NEEDS_SUBGROUP, &Io::ALL),
        pick(NEEDS_COOPERATIVE_MATRIX, &Io::ALL),
    );
    let f16s: Vec<Kernel> = NEEDS_F16.iter().copied().chain(f16s).collect();
    assemble(
        &[
            (ALL, wgpu::Features::empty()),
            (&subgroup, wgpu::Features::SUBGROUP),
            (&f16s, wgpu::Features::SHADER_F16),
            (&coop, crate::coop::FEATURES),
        ],
        crate::ops::override_sets,
    )
}
