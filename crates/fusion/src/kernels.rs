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
    ($scalar:ident, $vec4:ident, $file:literal) => {
        pub const $scalar: Kernel =
            Kernel { name: $file, source: concat!("alias V = f32;\n", shader!($file)), unchecked: false };
        pub const $vec4: Kernel = Kernel {
            name: concat!($file, "_vec4"),
            source: concat!("alias V = vec4<f32>;\n", shader!($file)),
            unchecked: false,
        };
    };
}

scalar_and_vec4!(EARLY_FUSION, EARLY_FUSION_VEC4, "early_fusion");
scalar_and_vec4!(CONCAT_FEATURES, CONCAT_FEATURES_VEC4, "concat_features");
scalar_and_vec4!(GATED_SUM, GATED_SUM_VEC4, "gated_sum");
pub const EARLY_FUSION_PART: Kernel =
    Kernel { name: "early_fusion_part", source: shader!("early_fusion_part"), unchecked: false };
pub const BROADCAST_ROWS: Kernel = Kernel { name: "broadcast_rows", source: shader!("broadcast_rows"), unchecked: false };
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
