//! The registry of the fusion kernels, embedded at build time from `shaders/fusion/`. Kernels
//! that move whole rows come in two variants behind a one-line prelude that sets their element
//! type `V`: `f32`, or `vec4<f32>` where every row width is a multiple of 4.

use vitfuse_runtime::Kernel;

macro_rules! shader {
    ($file:literal) => {
        include_str!(concat!("../../../shaders/fusion/", $file, ".wgsl"))
    };
}

macro_rules! scalar_and_vec4 {
    ($(#[$doc:meta])* $scalar:ident, $vec4:ident, $file:literal) => {
        $(#[$doc])*
        pub const $scalar: Kernel =
            Kernel { name: $file, source: concat!("alias V = f32;\n", shader!($file)), unchecked: false };
        #[doc = concat!("[`", stringify!($scalar), "`] moving `vec4<f32>` elements (every row width a multiple of 4).")]
        pub const $vec4: Kernel = Kernel {
            name: concat!($file, "_vec4"),
            source: concat!("alias V = vec4<f32>;\n", shader!($file)),
            unchecked: false,
        };
    };
}

scalar_and_vec4!(
    /// One-pass [`crate::early_fusion`] of up to four parts: tokens, type rows and the joint mask.
    EARLY_FUSION, EARLY_FUSION_VEC4, "early_fusion");
scalar_and_vec4!(
    /// Up to four (N, D_k) inputs side by side into a column window of (N, ΣD_k), for [`crate::concat_features`].
    CONCAT_FEATURES, CONCAT_FEATURES_VEC4, "concat_features");
scalar_and_vec4!(
    /// Weighted sum of up to four (N, D) embeddings, accumulating into the output, for [`crate::gated_sum`].
    GATED_SUM, GATED_SUM_VEC4, "gated_sum");
/// One part of [`crate::early_fusion_per_part`]: its rows of the output and of the mask.
pub const EARLY_FUSION_PART: Kernel =
    Kernel { name: "early_fusion_part", source: shader!("early_fusion_part"), unchecked: false };
/// A column window of R rows copied into every batch entry, for [`crate::broadcast_rows`] and
/// [`crate::slice_rows`].
pub const BROADCAST_ROWS: Kernel = Kernel { name: "broadcast_rows", source: shader!("broadcast_rows"), unchecked: false };
/// `f(x + bias)` on similarity logits, f the identity or the sigmoid, for [`crate::similarity`].
pub const LOGIT_EPILOGUE: Kernel = Kernel { name: "logit_epilogue", source: shader!("logit_epilogue"), unchecked: false };

/// Every fusion kernel, for build-all checks. `EARLY_FUSION*` bind 14 storage buffers: they
/// build only where `max_storage_buffers_per_shader_stage >= 14` (see [`crate::EARLY_FUSION_BUFFERS`]).
pub const ALL: &[Kernel] = &[
    EARLY_FUSION,
    EARLY_FUSION_VEC4,
    EARLY_FUSION_PART,
    BROADCAST_ROWS,
    LOGIT_EPILOGUE,
    CONCAT_FEATURES,
    CONCAT_FEATURES_VEC4,
    GATED_SUM,
    GATED_SUM_VEC4,
];

/// Every fusion kernel with its needs (none optional) and override sets (none).
#[doc(hidden)]
pub fn assembled() -> Vec<vitfuse_runtime::kernels::Assembled> {
    vitfuse_runtime::kernels::assemble(&[(ALL, vitfuse_runtime::wgpu::Features::empty())], |_| Vec::new())
}
