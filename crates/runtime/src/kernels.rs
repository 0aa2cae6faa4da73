//! The registry of the runtime's WGSL kernels, embedded at build time. One file per kernel
//! variant under `shaders/runtime/`; `activation.wgsl` is prepended to the kernels that call
//! `activate()`.

use crate::context::Kernel;

macro_rules! kernel {
    ($name:ident, $file:literal, unchecked = $u:expr) => {
        #[doc = concat!("`shaders/runtime/", $file, ".wgsl`; its header gives what it computes, its bindings and its grid.")]
        pub const $name: Kernel = Kernel {
            name: $file,
            source: include_str!(concat!("../../../shaders/runtime/", $file, ".wgsl")),
            unchecked: $u,
        };
    };
    ($name:ident, $file:literal, with_activation, unchecked = $u:expr) => {
        #[doc = concat!("`shaders/runtime/", $file, ".wgsl` behind `activation.wgsl`; its header gives what it computes, its bindings and its grid.")]
        pub const $name: Kernel = Kernel {
            name: $file,
            source: concat!(
                include_str!("../../../shaders/runtime/activation.wgsl"),
                include_str!(concat!("../../../shaders/runtime/", $file, ".wgsl"))
            ),
            unchecked: $u,
        };
    };
}

kernel!(MATMUL_NAIVE, "matmul_naive", with_activation, unchecked = false);
kernel!(MATMUL_TILED, "matmul_tiled", with_activation, unchecked = true);
kernel!(MATMUL_SUBGROUP, "matmul_subgroup", with_activation, unchecked = true);
kernel!(MATMUL_BLOCKED, "matmul_blocked", with_activation, unchecked = true);
kernel!(MATMUL_SHARED, "matmul_shared", with_activation, unchecked = true);
kernel!(MATMUL_WIDE, "matmul_wide", with_activation, unchecked = true);
kernel!(LAYERNORM, "layernorm", unchecked = false);
kernel!(SOFTMAX, "softmax", unchecked = false);
kernel!(ELEMENTWISE, "elementwise", with_activation, unchecked = false);
kernel!(SPLIT_HEADS, "split_heads", unchecked = false);
kernel!(MERGE_HEADS, "merge_heads", unchecked = false);
kernel!(EMBEDDING, "embedding", unchecked = false);
kernel!(CONCAT_TOKENS, "concat_tokens", unchecked = false);
kernel!(TAKE_TOKENS, "take_tokens", unchecked = false);
kernel!(L2_NORMALIZE, "l2_normalize", unchecked = false);
kernel!(SWIGLU, "swiglu", unchecked = false);
kernel!(PEAK_FMA_F32, "peak_fma_f32", unchecked = true);
kernel!(PEAK_FMA_F16, "peak_fma_f16", unchecked = true);
kernel!(COPY_BANDWIDTH, "copy_bandwidth", unchecked = true);

/// Every kernel that builds without optional features (not those of `NEEDS_SUBGROUP` and
/// `NEEDS_F16`).
pub const ALL: &[Kernel] = &[
    MATMUL_NAIVE,
    MATMUL_TILED,
    MATMUL_BLOCKED,
    MATMUL_SHARED,
    MATMUL_WIDE,
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
pub const NEEDS_SUBGROUP: &[Kernel] = &[MATMUL_SUBGROUP];

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
        ],
        crate::ops::override_sets,
    )
}
