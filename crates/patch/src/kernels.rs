//! The registry of the patch kernels, embedded at build time from `shaders/patch/`. The fused
//! kernel is `patch_embed.wgsl` behind one of two preludes that supply its entry point and
//! `share_rows()` (subgroup broadcasts, or workgroup memory where subgroups are missing) and one
//! of two weights preludes (`patch_weights_f32`, `patch_weights_f16`): four pipelines.

use vitfuse_runtime::Kernel;

macro_rules! shader {
    ($file:literal) => {
        include_str!(concat!("../../../shaders/patch/", $file, ".wgsl"))
    };
}

/// Fused patch embedding with subgroup broadcasts (needs `Features::SUBGROUP`, subgroups ≥ 8).
pub const PATCH_EMBED_SG: Kernel = Kernel {
    name: "patch_embed_sg",
    source: concat!(shader!("patch_embed_sg"), shader!("patch_weights_f32"), shader!("patch_embed")),
    unchecked: true,
};
/// Fused patch embedding sharing rows through workgroup memory.
pub const PATCH_EMBED_WG: Kernel = Kernel {
    name: "patch_embed_wg",
    source: concat!(shader!("patch_embed_wg"), shader!("patch_weights_f32"), shader!("patch_embed")),
    unchecked: false,
};
/// [`PATCH_EMBED_SG`] reading f16 weights (widened exactly; `Context::reads_f16`).
pub const PATCH_EMBED_SG_F16: Kernel = Kernel {
    name: "patch_embed_sg_f16",
    source: concat!(shader!("patch_embed_sg"), shader!("patch_weights_f16"), shader!("patch_embed")),
    unchecked: true,
};
/// [`PATCH_EMBED_WG`] reading f16 weights (widened exactly; `Context::reads_f16`).
pub const PATCH_EMBED_WG_F16: Kernel = Kernel {
    name: "patch_embed_wg_f16",
    source: concat!(shader!("patch_embed_wg"), shader!("patch_weights_f16"), shader!("patch_embed")),
    unchecked: false,
};
/// Gathers every patch into a row, (B·GH·GW, C·ph·pw), for [`crate::patch_embed_composed`].
pub const IM2COL: Kernel = Kernel {
    name: "im2col",
    source: shader!("im2col"),
    unchecked: false,
};
/// Prepends the prefix tokens and adds the position embeddings, for [`crate::patch_embed_composed`].
pub const ASSEMBLE_TOKENS: Kernel = Kernel {
    name: "assemble_tokens",
    source: shader!("assemble_tokens"),
    unchecked: false,
};
/// Bicubic resize of a position-embedding grid, for [`crate::interpolate_pos_bicubic`].
pub const INTERP_BICUBIC: Kernel = Kernel {
    name: "interp_bicubic",
    source: shader!("interp_bicubic"),
    unchecked: false,
};
/// Antialiased bicubic resize of a position-embedding grid, for
/// [`crate::interpolate_pos_bicubic_antialias`].
pub const INTERP_BICUBIC_AA: Kernel = Kernel {
    name: "interp_bicubic_aa",
    source: shader!("interp_bicubic_aa"),
    unchecked: false,
};

/// Antialiased bilinear resize of a position-embedding grid, for
/// [`crate::interpolate_pos_bilinear_aa`].
pub const INTERP_BILINEAR_AA: Kernel = Kernel {
    name: "interp_bilinear_aa",
    source: shader!("interp_bilinear_aa"),
    unchecked: false,
};

/// Every patch kernel that needs no optional feature, for build-all checks (see also
/// `NEEDS_SUBGROUP`).
pub const ALL: &[Kernel] = &[
    PATCH_EMBED_WG,
    PATCH_EMBED_WG_F16,
    IM2COL,
    ASSEMBLE_TOKENS,
    INTERP_BICUBIC,
    INTERP_BICUBIC_AA,
    INTERP_BILINEAR_AA,
];

/// Kernels that compile only where the device has `wgpu::Features::SUBGROUP` (kept out of `ALL`).
pub const NEEDS_SUBGROUP: &[Kernel] = &[PATCH_EMBED_SG, PATCH_EMBED_SG_F16];

/// Every patch kernel with its needs and the override sets the ops dispatch.
#[doc(hidden)]
pub fn assembled() -> Vec<vitfuse_runtime::kernels::Assembled> {
    use vitfuse_runtime::wgpu::Features;
    vitfuse_runtime::kernels::assemble(&[(ALL, Features::empty()), (NEEDS_SUBGROUP, Features::SUBGROUP)], |k| {
        if [PATCH_EMBED_SG.name, PATCH_EMBED_WG.name, PATCH_EMBED_SG_F16.name, PATCH_EMBED_WG_F16.name].contains(&k.name) {
            crate::fused_override_sets()
        } else {
            Vec::new()
        }
    })
}
