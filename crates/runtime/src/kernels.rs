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

/// Every kernel that builds without optional features (all but the `MATMUL_SUBGROUP` pair).
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
];

/// Kernels that compile only where the device has `wgpu::Features::SUBGROUP` (kept out of `ALL`).
pub const NEEDS_SUBGROUP: &[Kernel] = &[MATMUL_SUBGROUP, MATMUL_SUBGROUP_F16];

/// Kernels that compile only on a device with `EXPERIMENTAL_COOPERATIVE_MATRIX`, `SHADER_F16` and
/// `SUBGROUP` ([`crate::coop`]; kept out of `ALL`): 16 x 16 x 16 and 8 x 8 x 8 configurations.
pub const NEEDS_COOPERATIVE_MATRIX: &[Kernel] = &[MATMUL_COOP, MATMUL_COOP8];
