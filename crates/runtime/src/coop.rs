//! The tensor-core matmul `matmul_coop` (`shaders/runtime/matmul_coop.wgsl`, behind
//! `coop_enable.wgsl` and `activation.wgsl`): when an adapter may run it, its tile and its
//! workgroup memory, and the error bound its tests hold it to.
//!
//! The kernel multiplies 16 × 16 × 16 cooperative matrices with f16 A and B and f32
//! accumulators. wgpu does not check a shader's cooperative-matrix configuration against the
//! adapter: running one the adapter did not report is undefined behaviour. So the kernel is
//! chosen only from the list that [`wgpu::Adapter::cooperative_matrix_properties`] returns
//! ([`reports_f16_16x16x16`]), on a device opened with [`FEATURES`] ([`unmet`] checks all of
//! it). That list holds only subgroup-scope configurations: wgpu-hal's Vulkan backend drops the
//! others (and sizes other than 8 and 16, and types other than f16, f32, i32, u32) when it reads
//! `vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR`, and `CooperativeMatrixProperties` has no
//! scope field. On Metal wgpu reports 8 × 8 × 8 configurations only, so this kernel never runs
//! there (naga writes `simdgroup_half16x16` for it, which Metal does not have).
//!
//! # Opening the device (wgpu 30)
//!
//! `EXPERIMENTAL_COOPERATIVE_MATRIX` is one of wgpu's experimental features: the adapter offers
//! it (Vulkan: when it reports any configuration and supports the Vulkan memory model with
//! device scope), and `request_device` refuses it
//! (`RequestDeviceError::ExperimentalFeaturesNotEnabled`) unless the descriptor carries the
//! opt-in token, which only an `unsafe` constructor makes:
//!
//! ```no_run
//! fn open(adapter: &wgpu::Adapter) -> Result<(wgpu::Device, wgpu::Queue), wgpu::RequestDeviceError> {
//!     let wanted = wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX
//!         | wgpu::Features::SHADER_F16
//!         | wgpu::Features::SUBGROUP
//!         | wgpu::Features::TIMESTAMP_QUERY;
//!     pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
//!         label: Some("vitfuse"),
//!         required_features: adapter.features() & wanted,
//!         required_limits: adapter.limits(),
//!         // SAFETY: wgpu may have bugs with undefined behaviour in its experimental features;
//!         // we accept that for EXPERIMENTAL_COOPERATIVE_MATRIX and dispatch matmul_coop only
//!         // where the adapter reports its configuration.
//!         experimental_features: unsafe { wgpu::ExperimentalFeatures::enabled() },
//!         ..Default::default()
//!     }))
//! }
//! ```
//!
//! With the feature on, wgpu-hal's Vulkan backend enables `cooperativeMatrix`,
//! `vulkanMemoryModel` and `vulkanMemoryModelDeviceScope` on the device and lets naga emit the
//! `CooperativeMatrixKHR` and `VulkanMemoryModel` capabilities. naga switches a module to the
//! Vulkan memory model only when the module uses cooperative-matrix types, so the other
//! kernels' SPIR-V is unchanged. The naga capabilities the kernel needs are
//! `COOPERATIVE_MATRIX`, `SHADER_FLOAT16` and `SUBGROUP` (it reads the `subgroup_id` builtin),
//! which wgpu derives from the three device features.

use wgpu::{CooperativeMatrixProperties, CooperativeScalarType};

/// Output rows per workgroup (`TM` in the shader).
pub const TILE_M: u32 = 128;
/// Output columns per workgroup (`TN` in the shader).
pub const TILE_N: u32 = 128;
/// The (rows, columns) output tile, as the matmul op counts workgroups.
pub const TILE: (u64, u64) = (TILE_M as u64, TILE_N as u64);
/// Invocations per workgroup: 8 subgroups of [`SUBGROUP_SIZE`].
pub const WORKGROUP_SIZE: u32 = 256;
/// The only subgroup size the kernel's layout is right for (8 subgroups of 32 per workgroup).
pub const SUBGROUP_SIZE: u32 = 32;
/// K step of the staged tiles (`BK`).
pub const K_STEP: u32 = 32;
/// Row stride of the staged f16 tiles, in halves (`LD` = `BK` + 8).
pub const STAGE_STRIDE: u32 = 40;
/// Row stride of a subgroup's f32 epilogue scratch, in floats (`LDC`).
pub const SCRATCH_STRIDE: u32 = 20;
/// Workgroup memory the kernel declares: the A and W tiles (128 × 40 f16 each) and eight
/// 16 × 20 f32 scratch blocks, 30 720 bytes.
pub const WORKGROUP_STORAGE_BYTES: u32 =
    2 * TILE_M * STAGE_STRIDE * 2 + (WORKGROUP_SIZE / SUBGROUP_SIZE) * 16 * SCRATCH_STRIDE * 4;
/// K must be a multiple of this (A and W are read in 4-element chunks).
pub const K_MULTIPLE: usize = 4;
/// The device features the kernel needs.
pub const FEATURES: wgpu::Features = wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX
    .union(wgpu::Features::SHADER_F16)
    .union(wgpu::Features::SUBGROUP);

/// Whether `props` (what [`wgpu::Adapter::cooperative_matrix_properties`] returns) reports the
/// configuration `matmul_coop` uses: M = N = K = 16, f16 A and B, f32 C and result (subgroup
/// scope: wgpu lists no other). Saturating accumulation is irrelevant for floats and ignored.
pub fn reports_f16_16x16x16(props: &[CooperativeMatrixProperties]) -> bool {
    props.iter().any(|p| {
        p.m_size == 16
            && p.n_size == 16
            && p.k_size == 16
            && p.ab_type == CooperativeScalarType::F16
            && p.cr_type == CooperativeScalarType::F32
    })
}

/// Why a device with `features`, subgroups of `subgroup_min_size ..= subgroup_max_size` lanes
/// (the adapter's `AdapterInfo`), `limits` and the cooperative-matrix list `props` cannot run
/// `matmul_coop`, or `None` when it can. `features` is what the device was opened with, not
/// what the adapter offers.
pub fn unmet(
    features: wgpu::Features,
    subgroup_min_size: u32,
    subgroup_max_size: u32,
    limits: &wgpu::Limits,
    props: &[CooperativeMatrixProperties],
) -> Option<String> {
    let missing = FEATURES - features;
    if !missing.is_empty() {
        return Some(format!("needs the device features {missing}"));
    }
    if !reports_f16_16x16x16(props) {
        return Some(format!(
            "needs the 16x16x16 f16 x f16 -> f32 cooperative-matrix configuration; the adapter reports [{}]",
            props.iter().map(describe).collect::<Vec<_>>().join(", ")
        ));
    }
    if subgroup_min_size != SUBGROUP_SIZE || subgroup_max_size != SUBGROUP_SIZE {
        return Some(format!(
            "needs subgroups of exactly {SUBGROUP_SIZE} lanes; the adapter's have {subgroup_min_size} to {subgroup_max_size}"
        ));
    }
    if limits.max_compute_invocations_per_workgroup < WORKGROUP_SIZE || limits.max_compute_workgroup_size_x < WORKGROUP_SIZE {
        return Some(format!("needs workgroups of {WORKGROUP_SIZE} invocations along x"));
    }
    let have = limits.max_compute_workgroup_storage_size;
    if have < WORKGROUP_STORAGE_BYTES {
        return Some(format!("needs {WORKGROUP_STORAGE_BYTES} bytes of workgroup memory; the adapter has {have}"));
    }
    None
}

/// Whether a matmul of inner dimension `k` with W in `(N, K)` layout (`kn_layout` false) fits
/// the kernel's contract (M, N and the batch are free).
pub fn fits_shape(k: usize, kn_layout: bool) -> bool {
    !kn_layout && k > 0 && k.is_multiple_of(K_MULTIPLE)
}

/// Workgroups of one dispatch: `batch · ⌈m / 128⌉ · ⌈n / 128⌉`.
pub fn workgroups(batch: usize, m: usize, n: usize) -> u64 {
    batch as u64 * (m as u64).div_ceil(TILE.0) * (n as u64).div_ceil(TILE.1)
}

/// One configuration as `MxNxK A/B->C`, e.g. `16x16x16 F16->F32`, for reports and errors.
pub fn describe(p: &CooperativeMatrixProperties) -> String {
    let sat = if p.saturating_accumulation { " sat" } else { "" };
    format!("{}x{}x{} {:?}->{:?}{sat}", p.m_size, p.n_size, p.k_size, p.ab_type, p.cr_type)
}

/// The error bound of one output against an f64 reference computed from the f32 activations
/// and the same f16 weights (the shader header derives it): with `s` = Σ_k |a_k W_nk|,
/// `s_w` = Σ_k |W_nk|, `mag` = |ref| + |bias_n| + |res| and `lip` the activation's Lipschitz
/// bound (1 for none, ReLU and tanh; 1.13 for the GELUs),
/// `lip |alpha| ((2^-11 + k 2^-22) s + 2^-25 s_w) + 2^-22 mag + 1e-30`.
/// Against the CPU twin (A already rounded to f16) pass `a_rounded = true`: the f16 rounding
/// terms drop out.
pub fn error_bound(k: usize, s: f64, s_w: f64, mag: f64, alpha: f64, lip: f64, a_rounded: bool) -> f64 {
    let (u, sub) = if a_rounded { (0.0, 0.0) } else { (2f64.powi(-11), 2f64.powi(-25)) };
    lip * alpha.abs() * ((u + k as f64 * 2f64.powi(-22)) * s + sub * s_w) + 2f64.powi(-22) * mag + 1e-30
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(m: u32, n: u32, k: u32, ab: CooperativeScalarType, cr: CooperativeScalarType) -> CooperativeMatrixProperties {
        CooperativeMatrixProperties { m_size: m, n_size: n, k_size: k, ab_type: ab, cr_type: cr, saturating_accumulation: false }
    }

    use CooperativeScalarType::{F16, F32, I32, U32};

    /// Roughly what wgpu keeps of an NVIDIA driver's list (sizes 8 and 16 only).
    fn nvidia_like() -> Vec<CooperativeMatrixProperties> {
        vec![
            cfg(16, 8, 16, F16, F16),
            cfg(16, 8, 16, F16, F32),
            cfg(16, 16, 16, F16, F16),
            cfg(16, 16, 16, F16, F32),
            cfg(16, 8, 8, F16, F32),
        ]
    }

    /// What wgpu's Metal backend reports.
    fn metal_like() -> Vec<CooperativeMatrixProperties> {
        vec![cfg(8, 8, 8, F32, F32), cfg(8, 8, 8, F16, F16), cfg(8, 8, 8, F16, F32)]
    }

    #[test]
    fn selects_only_the_reported_16x16x16_f16_f32_configuration() {
        assert!(reports_f16_16x16x16(&nvidia_like()));
        assert!(reports_f16_16x16x16(&[cfg(16, 16, 16, F16, F32)]));
        let sat = CooperativeMatrixProperties { saturating_accumulation: true, ..cfg(16, 16, 16, F16, F32) };
        assert!(reports_f16_16x16x16(&[sat]));
        assert!(!reports_f16_16x16x16(&[]));
        assert!(!reports_f16_16x16x16(&metal_like()));
        // Each field off by one choice.
        for wrong in [
            cfg(16, 16, 16, F16, F16),
            cfg(16, 16, 16, F32, F32),
            cfg(16, 16, 8, F16, F32),
            cfg(16, 8, 16, F16, F32),
            cfg(8, 16, 16, F16, F32),
            cfg(8, 8, 8, F16, F32),
            cfg(16, 16, 16, I32, I32),
            cfg(16, 16, 16, U32, U32),
        ] {
            assert!(!reports_f16_16x16x16(&[wrong]), "{}", describe(&wrong));
        }
        assert!(!reports_f16_16x16x16(&[cfg(16, 16, 16, F16, F16), cfg(16, 8, 16, F16, F32)]));
    }

    fn nvidia_limits() -> wgpu::Limits {
        wgpu::Limits {
            max_compute_workgroup_storage_size: 49152,
            max_compute_invocations_per_workgroup: 1024,
            max_compute_workgroup_size_x: 1024,
            ..wgpu::Limits::default()
        }
    }

    #[test]
    fn unmet_names_what_is_missing() {
        let all = FEATURES | wgpu::Features::TIMESTAMP_QUERY;
        assert_eq!(unmet(all, 32, 32, &nvidia_limits(), &nvidia_like()), None);
        let no_f16 = unmet(all - wgpu::Features::SHADER_F16, 32, 32, &nvidia_limits(), &nvidia_like()).unwrap();
        assert!(no_f16.contains("SHADER_F16"), "{no_f16}");
        let no_coop = unmet(all - wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX, 32, 32, &nvidia_limits(), &nvidia_like()).unwrap();
        assert!(no_coop.contains("COOPERATIVE_MATRIX"), "{no_coop}");
        let metal = unmet(all, 32, 32, &nvidia_limits(), &metal_like()).unwrap();
        assert!(metal.contains("8x8x8 F16->F32"), "{metal}");
        assert!(unmet(all, 32, 32, &nvidia_limits(), &[]).is_some());
        assert!(unmet(all, 64, 64, &nvidia_limits(), &nvidia_like()).unwrap().contains("exactly 32"));
        assert!(unmet(all, 32, 64, &nvidia_limits(), &nvidia_like()).is_some());
        assert!(unmet(all, 8, 8, &nvidia_limits(), &nvidia_like()).is_some());
        // WebGPU's default 16 KiB of workgroup memory is not enough.
        let small = wgpu::Limits { max_compute_workgroup_storage_size: 16384, ..nvidia_limits() };
        assert!(unmet(all, 32, 32, &small, &nvidia_like()).unwrap().contains("30720"));
        let narrow = wgpu::Limits { max_compute_invocations_per_workgroup: 128, ..nvidia_limits() };
        assert!(unmet(all, 32, 32, &narrow, &nvidia_like()).is_some());
    }

    #[test]
    fn shapes_and_grid() {
        assert!(fits_shape(768, false) && fits_shape(3072, false) && fits_shape(4, false));
        assert!(!fits_shape(766, false) && !fits_shape(768, true) && !fits_shape(0, false));
        assert_eq!(workgroups(1, 197, 768), 2 * 6);
        assert_eq!(workgroups(64, 197, 2304), 64 * 2 * 18);
        assert_eq!(workgroups(1, 12608, 3072), 99 * 24);
        assert_eq!(workgroups(3, 128, 128), 3);
    }

    /// The constants here are the shader's: tile, steps, strides, workgroup size and the
    /// workgroup arrays whose bytes [`WORKGROUP_STORAGE_BYTES`] counts.
    #[test]
    fn constants_match_the_shader() {
        let src = include_str!("../../../shaders/runtime/matmul_coop.wgsl");
        for line in [
            format!("const TM: u32 = {TILE_M}u;"),
            format!("const TN: u32 = {TILE_N}u;"),
            format!("const BK: u32 = {K_STEP}u;"),
            format!("const LD: u32 = {STAGE_STRIDE}u;"),
            format!("const LDC: u32 = {SCRATCH_STRIDE}u;"),
            format!("@workgroup_size({WORKGROUP_SIZE})"),
            format!("var<workgroup> a_tile: array<f16, {}>;", TILE_M * STAGE_STRIDE),
            format!("var<workgroup> w_tile: array<f16, {}>;", TILE_N * STAGE_STRIDE),
            format!("var<workgroup> c_tile: array<f32, {}>;", (WORKGROUP_SIZE / SUBGROUP_SIZE) * 16 * SCRATCH_STRIDE),
        ] {
            assert!(src.contains(&line), "matmul_coop.wgsl lacks {line:?}");
        }
        assert_eq!(WORKGROUP_STORAGE_BYTES, 30720);
        assert!(src.contains(&format!("{WORKGROUP_STORAGE_BYTES} bytes")));
        assert_eq!(src.matches("var<workgroup>").count(), 3, "every workgroup array is counted");
        let enable = include_str!("../../../shaders/runtime/coop_enable.wgsl");
        assert!(enable.contains("enable f16;") && enable.contains("enable wgpu_cooperative_matrix;"));
        assert!(!src.lines().any(|l| l.trim_start().starts_with("enable ")), "the directives live in coop_enable.wgsl, which goes first");
    }

    #[test]
    fn error_bound_terms() {
        // K = 768, S = 1: the f16 rounding of A (2^-11) and the accumulation (768 · 2^-22).
        let b = error_bound(768, 1.0, 0.0, 0.0, 1.0, 1.0, false);
        assert!((b - (2f64.powi(-11) + 768.0 * 2f64.powi(-22))).abs() < 1e-12, "{b}");
        let twin = error_bound(768, 1.0, 0.0, 0.0, 1.0, 1.0, true);
        assert!((twin - 768.0 * 2f64.powi(-22)).abs() < 1e-12);
        assert!(error_bound(768, 1.0, 0.0, 0.0, -2.0, 1.13, false) > 2.0 * b);
        assert!(error_bound(16, 0.0, 0.0, 4.0, 1.0, 1.0, false) >= 4.0 * 2f64.powi(-22));
    }
}
