//! The registry of the runtime's WGSL kernels, embedded at build time. One file per kernel
//! variant under `shaders/runtime/`; `activation.wgsl` is prepended to the kernels that call
//! `activate()`, and a weights prelude (`weights_f32*.wgsl` / `weights_f16*.wgsl`: binding 2 and
//! its reader) to the matmuls and the gather, which so come in an f32 and an f16 pipeline.

use crate::context::Kernel;

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
        pub const $name: Kernel = Kernel {
            name: $label,
            source: concat!(
                $(include_str!(concat!("../../../shaders/runtime/", $pre, ".wgsl")),)*
                include_str!(concat!("../../../shaders/runtime/", $file, ".wgsl"))
            ),
            unchecked: $u,
        };
    };
}

// Matmuls and the gather read their weight operand through a prelude: f32 or f16 (two per u32,
// widened on load), one pipeline each.
kernel!(MATMUL_NAIVE, "matmul_naive", "matmul_naive", ["activation", "weights_f32"], unchecked = false);
kernel!(MATMUL_TILED, "matmul_tiled", "matmul_tiled", ["activation", "weights_f32"], unchecked = true);
kernel!(MATMUL_SUBGROUP, "matmul_subgroup", "matmul_subgroup", ["activation", "weights_f32x4"], unchecked = true);
kernel!(MATMUL_BLOCKED, "matmul_blocked", "matmul_blocked", ["activation", "weights_f32x4"], unchecked = true);
kernel!(MATMUL_SHARED, "matmul_shared", "matmul_shared", ["activation", "weights_f32"], unchecked = true);
kernel!(MATMUL_WIDE, "matmul_wide", "matmul_wide", ["activation", "weights_f32x4"], unchecked = true);
kernel!(MATMUL_NAIVE_F16, "matmul_naive_f16", "matmul_naive", ["activation", "weights_f16"], unchecked = false);
kernel!(MATMUL_TILED_F16, "matmul_tiled_f16", "matmul_tiled", ["activation", "weights_f16"], unchecked = true);
kernel!(MATMUL_SUBGROUP_F16, "matmul_subgroup_f16", "matmul_subgroup", ["activation", "weights_f16x4"], unchecked = true);
kernel!(MATMUL_BLOCKED_F16, "matmul_blocked_f16", "matmul_blocked", ["activation", "weights_f16x4"], unchecked = true);
kernel!(MATMUL_SHARED_F16, "matmul_shared_f16", "matmul_shared", ["activation", "weights_f16"], unchecked = true);
kernel!(MATMUL_WIDE_F16, "matmul_wide_f16", "matmul_wide", ["activation", "weights_f16x4"], unchecked = true);
// Tensor cores: the enable directives must come first.
kernel!(MATMUL_COOP, "matmul_coop", "matmul_coop", ["coop_enable", "activation"], unchecked = true);
kernel!(MATMUL_COOP8, "matmul_coop8", "matmul_coop8", ["coop_enable", "activation"], unchecked = true);
kernel!(EMBEDDING, "embedding", "embedding", ["weights_f32"], unchecked = false);
kernel!(EMBEDDING_F16, "embedding_f16", "embedding", ["weights_f16"], unchecked = false);
kernel!(SPLITK_REDUCE, "splitk_reduce", with_activation, unchecked = false);
kernel!(LAYERNORM, "layernorm", unchecked = false);
kernel!(SOFTMAX, "softmax", unchecked = false);
kernel!(ELEMENTWISE, "elementwise", with_activation, unchecked = false);
kernel!(SPLIT_HEADS, "split_heads", unchecked = false);
kernel!(MERGE_HEADS, "merge_heads", unchecked = false);
kernel!(CONCAT_TOKENS, "concat_tokens", unchecked = false);
kernel!(TAKE_TOKENS, "take_tokens", unchecked = false);
kernel!(L2_NORMALIZE, "l2_normalize", unchecked = false);
kernel!(SWIGLU, "swiglu", unchecked = false);
kernel!(PEAK_FMA_F32, "peak_fma_f32", "peak_fma", ["peak_f32"], unchecked = true);
kernel!(PEAK_FMA_F16, "peak_fma_f16", "peak_fma", ["peak_f16"], unchecked = true);
kernel!(COPY_BANDWIDTH, "copy_bandwidth", unchecked = true);

/// Every kernel that builds without optional features (not those of `NEEDS_SUBGROUP`,
/// `NEEDS_F16` and `NEEDS_COOPERATIVE_MATRIX`).
pub const ALL: &[Kernel] = &[
    MATMUL_NAIVE,
    MATMUL_TILED,
    MATMUL_BLOCKED,
    MATMUL_SHARED,
    MATMUL_WIDE,
    MATMUL_NAIVE_F16,
    MATMUL_TILED_F16,
    MATMUL_BLOCKED_F16,
    MATMUL_SHARED_F16,
    MATMUL_WIDE_F16,
    EMBEDDING_F16,
    SPLITK_REDUCE,
    LAYERNORM,
    SOFTMAX,
    ELEMENTWISE,
    SPLIT_HEADS,
    MERGE_HEADS,
    EMBEDDING,
    CONCAT_TOKENS,
    TAKE_TOKENS,
    L2_NORMALIZE,
    SWIGLU,
    PEAK_FMA_F32,
    COPY_BANDWIDTH,
];

/// Kernels that compile only where the device has `wgpu::Features::SUBGROUP` (kept out of `ALL`).
pub const NEEDS_SUBGROUP: &[Kernel] = &[MATMUL_SUBGROUP, MATMUL_SUBGROUP_F16];

/// Kernels that compile only on a device with `EXPERIMENTAL_COOPERATIVE_MATRIX`, `SHADER_F16` and
/// `SUBGROUP` ([`crate::coop`]; kept out of `ALL`): 16 x 16 x 16 and 8 x 8 x 8 configurations.
pub const NEEDS_COOPERATIVE_MATRIX: &[Kernel] = &[MATMUL_COOP, MATMUL_COOP8];

/// Kernels that compile only where the device has `wgpu::Features::SHADER_F16` (`enable f16;`;
/// kept out of `ALL`).
pub const NEEDS_F16: &[Kernel] = &[PEAK_FMA_F16];

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
    assemble(
        &[
            (ALL, wgpu::Features::empty()),
            (NEEDS_SUBGROUP, wgpu::Features::SUBGROUP),
            (NEEDS_F16, wgpu::Features::SHADER_F16),
            (NEEDS_COOPERATIVE_MATRIX, crate::coop::FEATURES),
        ],
        crate::ops::override_sets,
    )
}
