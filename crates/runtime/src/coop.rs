//! The tensor-core matmuls `matmul_coop` and `matmul_coop8` (`shaders/runtime/*.wgsl`, each
//! behind `coop_enable.wgsl` then `activation.wgsl`, in that order: WGSL wants the enable
//! directives before any declaration): when an adapter may run them, their tiles and workgroup
//! memory, and the error bound their tests hold them to.
//!
//! `matmul_coop` multiplies 16 × 16 × 16 cooperative matrices with f16 A and B and f32
//! accumulators (what NVIDIA's Vulkan driver reports); `matmul_coop8` is its 8 × 8 × 8 twin for
//! Metal. wgpu does not check a shader's cooperative-matrix configuration against the
//! adapter: running one the adapter did not report is undefined behaviour. So the kernel is
//! chosen only from the list that [`wgpu::Adapter::cooperative_matrix_properties`] returns
//! ([`reports_f16_16x16x16`]), on a device opened with [`FEATURES`] ([`unmet`] checks all of
//! it). That list holds only subgroup-scope configurations: wgpu-hal's Vulkan backend drops the
//! others (and sizes other than 8 and 16, and types other than f16, f32, i32, u32) when it reads
//! `vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR`, and `CooperativeMatrixProperties` has no
//! scope field. On Metal wgpu reports 8 × 8 × 8 configurations only (f32 → f32, f16 → f16,
//! f16 → f32), so `matmul_coop` never runs there (naga would write `simdgroup_half16x16` for it,
//! which Metal does not have) and `matmul_coop8` does ([`reports_f16_8x8x8`]).
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

/// One cooperative-matrix matmul kernel: the configuration it multiplies and what it asks of the
/// adapter. [`MATMUL_COOP`] (16 × 16 × 16, NVIDIA-like Vulkan drivers) and [`MATMUL_COOP8`]
/// (8 × 8 × 8, Metal's simdgroup matrices).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoopKernel {
    /// The kernel (and shader file) name.
    pub name: &'static str,
    /// M = N = K of the cooperative matrices it multiplies (f16 A and B, f32 C).
    pub size: u32,
    /// Output rows per workgroup (`TM` in the shader).
    pub tile_m: u32,
    /// Output columns per workgroup (`TN` in the shader).
    pub tile_n: u32,
    /// Invocations per workgroup, all along x: `workgroup_size / 32` subgroups of 32.
    pub workgroup_size: u32,
    /// Row stride of the staged f16 tiles, in halves (`LD`).
    pub stage_stride: u32,
    /// Rows of one subgroup's f32 epilogue scratch.
    pub scratch_rows: u32,
    /// Row stride of that scratch, in floats (`LDC`).
    pub scratch_stride: u32,
}

/// `matmul_coop`: 16 × 16 × 16 f16 → f32, a 128 × 128 tile per workgroup of 8 subgroups, each
/// with 2 × 4 accumulators; 30 720 bytes of workgroup memory.
pub const MATMUL_COOP: CoopKernel = CoopKernel {
    name: "matmul_coop",
    size: 16,
    tile_m: 128,
    tile_n: 128,
    workgroup_size: 256,
    stage_stride: 40,
    scratch_rows: 16,
    scratch_stride: 20,
};

/// `matmul_coop8`: 8 × 8 × 8 f16 → f32 for Metal, a 64 × 64 tile per workgroup of 4 subgroups,
/// each with 4 × 4 accumulators; 28 672 bytes of workgroup memory.
pub const MATMUL_COOP8: CoopKernel = CoopKernel {
    name: "matmul_coop8",
    size: 8,
    tile_m: 64,
    tile_n: 64,
    workgroup_size: 128,
    stage_stride: 40,
    scratch_rows: 32,
    scratch_stride: 36,
};

/// Output rows per workgroup of `matmul_coop`.
pub const TILE_M: u32 = MATMUL_COOP.tile_m;
/// Output columns per workgroup of `matmul_coop`.
pub const TILE_N: u32 = MATMUL_COOP.tile_n;
/// `matmul_coop`'s (rows, columns) output tile, as the matmul op counts workgroups.
pub const TILE: (u64, u64) = (TILE_M as u64, TILE_N as u64);
/// `matmul_coop`'s workgroup memory: the A and W tiles (128 × 40 f16 each) and eight 16 × 20
/// f32 scratch blocks, 30 720 bytes.
pub const WORKGROUP_STORAGE_BYTES: u32 = MATMUL_COOP.workgroup_storage();
/// The only subgroup size the kernels' layouts are right for.
pub const SUBGROUP_SIZE: u32 = 32;
/// K step of the staged tiles (`BK`), both kernels.
pub const K_STEP: u32 = 32;
/// K must be a multiple of this (A and W are read in 4-element chunks).
pub const K_MULTIPLE: usize = 4;
/// The device features the kernels need.
pub const FEATURES: wgpu::Features = wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX
    .union(wgpu::Features::SHADER_F16)
    .union(wgpu::Features::SUBGROUP);

/// Whether `props` (what [`wgpu::Adapter::cooperative_matrix_properties`] returns) reports the
/// configuration `matmul_coop` uses: M = N = K = 16, f16 A and B, f32 C and result (subgroup
/// scope: wgpu lists no other). Saturating accumulation is irrelevant for floats and ignored.
pub fn reports_f16_16x16x16(props: &[CooperativeMatrixProperties]) -> bool {
    MATMUL_COOP.reported(props)
}

/// Whether `props` reports `matmul_coop8`'s configuration: M = N = K = 8, f16 A and B, f32 C.
pub fn reports_f16_8x8x8(props: &[CooperativeMatrixProperties]) -> bool {
    MATMUL_COOP8.reported(props)
}

impl CoopKernel {
    /// Bytes of workgroup memory the shader declares: two TM × LD f16 tiles (TM = TN) and one
    /// scratch block per subgroup.
    pub const fn workgroup_storage(&self) -> u32 {
        2 * self.tile_m * self.stage_stride * 2 + self.subgroups() * self.scratch_rows * self.scratch_stride * 4
    }

    /// Subgroups per workgroup.
    pub const fn subgroups(&self) -> u32 {
        self.workgroup_size / SUBGROUP_SIZE
    }

    /// Whether `props` lists this kernel's configuration (`size`³, f16 A and B, f32 C).
    pub fn reported(&self, props: &[CooperativeMatrixProperties]) -> bool {
        props.iter().any(|p| {
            p.m_size == self.size
                && p.n_size == self.size
                && p.k_size == self.size
                && p.ab_type == CooperativeScalarType::F16
                && p.cr_type == CooperativeScalarType::F32
        })
    }

    /// Why a device with `features`, subgroups of `subgroup_min_size ..= subgroup_max_size`
    /// lanes (the adapter's `AdapterInfo`), `limits` and the cooperative-matrix list `props`
    /// cannot run this kernel, or `None` when it can. `features` is what the device was opened
    /// with, not what the adapter offers.
    pub fn unmet(
        &self,
        features: wgpu::Features,
        subgroup_min_size: u32,
        subgroup_max_size: u32,
        limits: &wgpu::Limits,
        props: &[CooperativeMatrixProperties],
    ) -> Option<String> {
        let missing = FEATURES - features;
        if !missing.is_empty() {
            return Some(format!("{} needs the device features {missing}", self.name));
        }
        if !self.reported(props) {
            let n = self.size;
            return Some(format!(
                "{} needs the {n}x{n}x{n} f16 x f16 -> f32 cooperative-matrix configuration; the adapter reports [{}]",
                self.name,
                props.iter().map(describe).collect::<Vec<_>>().join(", ")
            ));
        }
        if subgroup_min_size != SUBGROUP_SIZE || subgroup_max_size != SUBGROUP_SIZE {
            return Some(format!(
                "{} needs subgroups of exactly {SUBGROUP_SIZE} lanes; the adapter's have {subgroup_min_size} to {subgroup_max_size}",
                self.name
            ));
        }
        let wg = self.workgroup_size;
        if limits.max_compute_invocations_per_workgroup < wg || limits.max_compute_workgroup_size_x < wg {
            return Some(format!("{} needs workgroups of {wg} invocations along x", self.name));
        }
        let (need, have) = (self.workgroup_storage(), limits.max_compute_workgroup_storage_size);
        if have < need {
            return Some(format!("{} needs {need} bytes of workgroup memory; the adapter has {have}", self.name));
        }
        None
    }

    /// Workgroups of one dispatch: `batch · ⌈m / tile_m⌉ · ⌈n / tile_n⌉`.
    pub fn workgroups(&self, batch: usize, m: usize, n: usize) -> u64 {
        batch as u64 * (m as u64).div_ceil(self.tile_m as u64) * (n as u64).div_ceil(self.tile_n as u64)
    }
}

/// [`CoopKernel::unmet`] of [`MATMUL_COOP`].
pub fn unmet(
    features: wgpu::Features,
    subgroup_min_size: u32,
    subgroup_max_size: u32,
    limits: &wgpu::Limits,
    props: &[CooperativeMatrixProperties],
) -> Option<String> {
    MATMUL_COOP.unmet(features, subgroup_min_size, subgroup_max_size, limits, props)
}

/// Whether a matmul of inner dimension `k` with W in `(N, K)` layout (`kn_layout` false) fits
/// the kernels' contract (M, N and the batch are free).
pub fn fits_shape(k: usize, kn_layout: bool) -> bool {
    !kn_layout && k > 0 && k.is_multiple_of(K_MULTIPLE)
}

/// Workgroups of one `matmul_coop` dispatch: `batch · ⌈m / 128⌉ · ⌈n / 128⌉`.
pub fn workgroups(batch: usize, m: usize, n: usize) -> u64 {
    MATMUL_COOP.workgroups(batch, m, n)
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

    /// The constants here are the shaders': tile, steps, strides, workgroup size and the
    /// workgroup arrays whose bytes `workgroup_storage` counts.
    #[test]
    fn constants_match_the_shaders() {
        let shaders = [
            (MATMUL_COOP, include_str!("../../../shaders/runtime/matmul_coop.wgsl")),
            (MATMUL_COOP8, include_str!("../../../shaders/runtime/matmul_coop8.wgsl")),
        ];
        for (k, src) in shaders {
            assert_eq!(k.tile_m, k.tile_n, "{}: the staging tiles share one layout", k.name);
            for line in [
                format!("const TM: u32 = {}u;", k.tile_m),
                format!("const TN: u32 = {}u;", k.tile_n),
                format!("const BK: u32 = {K_STEP}u;"),
                format!("const LD: u32 = {}u;", k.stage_stride),
                format!("const LDC: u32 = {}u;", k.scratch_stride),
                format!("@workgroup_size({})", k.workgroup_size),
                format!("var<workgroup> a_tile: array<f16, {}>;", k.tile_m * k.stage_stride),
                format!("var<workgroup> w_tile: array<f16, {}>;", k.tile_n * k.stage_stride),
                format!("var<workgroup> c_tile: array<f32, {}>;", k.subgroups() * k.scratch_rows * k.scratch_stride),
                format!("{} bytes", k.workgroup_storage()),
                format!("coop_mat{0}x{0}<f16, A>", k.size),
                format!("coop_mat{0}x{0}<f32, C>", k.size),
            ] {
                assert!(src.contains(&line), "{}.wgsl lacks {line:?}", k.name);
            }
            assert!(src.starts_with(&format!("// {}:", k.name)));
            assert_eq!(src.matches("var<workgroup>").count(), 3, "{}: every workgroup array is counted", k.name);
            assert!(!src.lines().any(|l| l.trim_start().starts_with("enable ")), "the directives live in coop_enable.wgsl, which goes first");
        }
        assert_eq!(WORKGROUP_STORAGE_BYTES, 30720);
        assert_eq!(MATMUL_COOP8.workgroup_storage(), 28672);
        let enable = include_str!("../../../shaders/runtime/coop_enable.wgsl");
        assert!(enable.contains("enable f16;") && enable.contains("enable wgpu_cooperative_matrix;"));
    }

    #[test]
    fn the_apple_variant_takes_metal_s_list() {
        assert!(reports_f16_8x8x8(&metal_like()));
        assert!(!reports_f16_8x8x8(&nvidia_like()));
        assert!(!reports_f16_8x8x8(&[cfg(8, 8, 8, F16, F16), cfg(8, 8, 8, F32, F32)]));
        let all = FEATURES;
        assert_eq!(MATMUL_COOP8.unmet(all, 32, 32, &nvidia_limits(), &metal_like()), None);
        let apple_limits = wgpu::Limits { max_compute_workgroup_storage_size: 32768, ..nvidia_limits() };
        assert_eq!(MATMUL_COOP8.unmet(all, 32, 32, &apple_limits, &metal_like()), None);
        assert!(MATMUL_COOP8.unmet(all, 32, 32, &apple_limits, &nvidia_like()).unwrap().contains("8x8x8"));
        assert_eq!(MATMUL_COOP8.workgroups(2, 197, 768), 2 * 4 * 12);
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
