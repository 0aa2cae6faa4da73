//! The GPU context: adapter choice, device with the adapter's real limits, the pipeline cache,
//! the buffer pool and the command recorder.
//!
//! Ops record dispatches into one pending command encoder; nothing is submitted until a read-back
//! (or an explicit [`Context::flush`]) needs it, and only a read-back waits. Each dispatch's small
//! parameter struct goes into a slot of one uniform arena that is written once per submission.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::choice::{self, KernelChoices, KernelVariant};
use crate::disk_cache::{DiskCache, PipelineCacheDir};
use crate::error::{Error, Result};
use crate::pool::{Pool, PoolStats};
use crate::profile::Profiler;
use crate::tensor::{DType, Tensor};

/// Optional device features vitfuse uses when the adapter offers them.
const WANTED_FEATURES: wgpu::Features = wgpu::Features::SHADER_F16
    .union(wgpu::Features::SUBGROUP)
    .union(wgpu::Features::TIMESTAMP_QUERY);

/// Bytes of one uniform slot (parameters of one dispatch); raised to the adapter's offset alignment.
const UNIFORM_SLOT: u64 = 256;
/// Uniform slots per submission; a pass with more dispatches submits in several pieces.
const UNIFORM_SLOTS: u64 = 2048;

/// How to open a [`Context`].
#[derive(Clone, Debug, Default)]
pub struct ContextOptions {
    /// Adapter wanted: a substring of its name, a backend (`vulkan`, `metal`, `dx12`, `gl`,
    /// `webgpu`), `cpu`/`software`, or an index into the list. Falls back to `VITFUSE_ADAPTER`.
    pub adapter: Option<String>,
    /// Time every dispatch: with timestamp queries on hardware adapters that have them; on
    /// software adapters (whose timestamps measured a tenth of a pass on lavapipe) and where
    /// they are missing, on the host, each dispatch submitted and waited for alone (so a
    /// profiled pass is slower, and each figure includes a submission's overhead).
    pub profile: bool,
    /// Kernels to run where an op would choose per adapter (benchmarks and tuning); the
    /// default leaves every choice to the ops. [`Context::new`] refuses a choice the adapter
    /// cannot run.
    pub kernels: KernelChoices,
    /// Where compiled pipelines persist between processes (Vulkan adapters with
    /// `Features::PIPELINE_CACHE`): by default the user's cache folder, after the
    /// `VITFUSE_PIPELINE_CACHE_DIR` / `VITFUSE_PIPELINE_CACHE=0` environment variables.
    pub pipeline_cache: PipelineCacheDir,
}

/// What the adapter is and what the device was opened with.
#[derive(Clone, Debug)]
pub struct AdapterReport {
    /// The adapter's name, as the driver reports it.
    pub name: String,
    /// Lower-case backend: `vulkan`, `metal`, `dx12`, `gl`, `browserwebgpu`, ….
    pub backend: String,
    /// `wgpu::DeviceType` in `Debug` form (`DiscreteGpu`, `Cpu`, …).
    pub device_type: String,
    /// Driver name.
    pub driver: String,
    /// Driver version or other details.
    pub driver_info: String,
    /// The optional features the device was opened with: `SHADER_F16`, `SUBGROUP`, `TIMESTAMP_QUERY`.
    pub features: Vec<String>,
    /// Largest storage binding, in bytes (bounds every tensor).
    pub max_storage_buffer_binding_size: u64,
    /// Largest buffer, in bytes.
    pub max_buffer_size: u64,
    /// Most workgroups along one dispatch dimension.
    pub max_compute_workgroups_per_dimension: u32,
    /// Most invocations in one workgroup.
    pub max_compute_invocations_per_workgroup: u32,
    /// Bytes of workgroup memory one workgroup may use.
    pub max_compute_workgroup_storage_size: u32,
    /// Smallest subgroup size the adapter may use (0 when unknown).
    pub subgroup_min_size: u32,
    /// Largest subgroup size the adapter may use (0 when unknown).
    pub subgroup_max_size: u32,
}

/// A WGSL kernel: a name, its source (embedded with `include_str!`) and whether its indexing is
/// proven in bounds so that wgpu's injected bounds checks can be dropped.
#[derive(Clone, Copy, Debug)]
pub struct Kernel {
    /// Unique name (the shader's, plus any variant suffix); keys the module and pipeline caches.
    pub name: &'static str,
    /// Complete WGSL source with entry point `main`.
    pub source: &'static str,
    /// Every index is guarded against the uniform dims, so the module is built without
    /// wgpu's bounds checks (`ShaderRuntimeChecks::unchecked`).
    pub unchecked: bool,
}

type PipelineKey = (&'static str, Vec<(&'static str, u64)>);

struct Recorder {
    encoder: Option<wgpu::CommandEncoder>,
    uniforms: Vec<u8>,
    slots_used: u64,
    dispatches: u64,
}

/// Counters of recorded work, for tests and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordStats {
    /// Dispatches recorded since the context opened.
    pub dispatches: u64,
    /// Command buffers submitted to the queue.
    pub submissions: u64,
    /// Compute pipelines built (cache misses of [`Context::pipeline`]).
    pub pipelines_compiled: u64,
    /// Buffer-to-texture copies recorded (tensors' texture copies made without a dispatch,
    /// see [`Context::texture_of`]).
    pub texture_copies: u64,
}

/// An open GPU device: adapter, queue, pipeline cache, buffer pool and the pending command
/// encoder that ops record into. Ops take `&Context`.
pub struct Context {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    features: wgpu::Features,
    pub(crate) pool: Arc<Pool>,
    tex_pool: Arc<crate::pool::TexturePool>,
    pipelines: Mutex<HashMap<PipelineKey, wgpu::ComputePipeline>>,
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    rec: Mutex<Recorder>,
    uniform_buf: wgpu::Buffer,
    slot: u64,
    stats: Mutex<RecordStats>,
    pub(crate) gpu_error: Arc<Mutex<Option<String>>>,
    profiler: Option<Mutex<Profiler>>,
    /// Host-timed profile (name -> dispatches, ms) where timestamps are not used.
    host_profile: Option<Mutex<BTreeMap<&'static str, (u64, f64)>>>,
    kernels: KernelChoices,
    /// The tensor-core matmul the adapter reports a configuration for, if any.
    coop: Option<crate::coop::CoopKernel>,
    /// `unpack2x16float` is available (`DownlevelFlags::SHADER_F16_IN_F32`): f16 weights.
    reads_f16: bool,
    disk_cache: Option<DiskCache>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The backend as `--adapter` names it: `vulkan`, `metal`, `dx12`, `gl`, `webgpu`, `noop`.
fn backend_name(b: wgpu::Backend) -> String {
    match b {
        wgpu::Backend::BrowserWebGpu => "webgpu".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn describe(a: &wgpu::Adapter) -> String {
    let i = a.get_info();
    format!("{} ({}, {:?})", i.name, backend_name(i.backend), i.device_type)
}

impl Context {
    /// Opens the adapter chosen by `opts` (or `VITFUSE_ADAPTER`): by default the high-performance
    /// one, else any, with Mesa's software adapter as the last resort.
    pub fn new(opts: &ContextOptions) -> Result<Self> {
        let wanted = opts.adapter.clone().or_else(|| std::env::var("VITFUSE_ADAPTER").ok()).filter(|s| !s.is_empty());
        let instance = make_instance(wanted.as_deref());
        let adapters: Vec<wgpu::Adapter> = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
        let adapter = match wanted {
            Some(w) => pick_adapter(&adapters, &w)?,
            None => {
                let req = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference: wgpu::PowerPreference::HighPerformance,
                    force_fallback_adapter: false,
                    compatible_surface: None,
                    apply_limit_buckets: false,
                }));
                match req {
                    Ok(a) => a,
                    Err(_) => {
                        let mut sorted: Vec<&wgpu::Adapter> = adapters.iter().collect();
                        sorted.sort_by_key(|a| rank(a.get_info().device_type));
                        sorted.first().map(|a| (*a).clone()).ok_or_else(|| Error::NoAdapter(String::new()))?
                    }
                }
            }
        };
        Self::from_adapter(adapter, opts)
    }

    fn from_adapter(adapter: wgpu::Adapter, opts: &ContextOptions) -> Result<Self> {
        let info = adapter.get_info();
        let mut features = adapter.features() & WANTED_FEATURES;
        let limits = adapter.limits();
        // Cooperative matrices only where a configuration of ours is reported (an unreported one
        // is undefined behaviour); the feature is requested for nothing else.
        let coop = if adapter.features().contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
            let props = adapter.cooperative_matrix_properties();
            let with = features | wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX;
            [crate::coop::MATMUL_COOP, crate::coop::MATMUL_COOP8]
                .into_iter()
                .find(|k| k.unmet(with, info.subgroup_min_size, info.subgroup_max_size, &limits, &props).is_none())
        } else {
            None
        };
        if coop.is_some() {
            features |= wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX;
        }
        opts.kernels.validate(&info.name, features, info.subgroup_min_size, &limits)?;
        let cache_dir = opts.pipeline_cache.resolve().filter(|_| {
            adapter.features().contains(wgpu::Features::PIPELINE_CACHE) && wgpu::util::pipeline_cache_key(&info).is_some()
        });
        let cache_feature = if cache_dir.is_some() { wgpu::Features::PIPELINE_CACHE } else { wgpu::Features::empty() };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("vitfuse"),
            required_features: features | cache_feature,
            required_limits: limits.clone(),
            experimental_features: if coop.is_some() {
                // SAFETY: wgpu's experimental features may have bugs with undefined behaviour; we
                // take that for cooperative matrices only, dispatched only in a reported
                // configuration (crate::coop).
                unsafe { wgpu::ExperimentalFeatures::enabled() }
            } else {
                wgpu::ExperimentalFeatures::disabled()
            },
            ..Default::default()
        }))
        .map_err(|e| Error::RequestDevice { adapter: info.name.clone(), message: e.to_string() })?;
        let gpu_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let sink = gpu_error.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut g = lock(&sink);
            if g.is_none() {
                *g = Some(e.to_string());
            }
        }));
        let slot = UNIFORM_SLOT.max(limits.min_uniform_buffer_offset_alignment as u64);
        let uniform_buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vitfuse.uniforms"),
            size: slot * UNIFORM_SLOTS,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let timestamps = features.contains(wgpu::Features::TIMESTAMP_QUERY) && info.device_type != wgpu::DeviceType::Cpu;
        let profiler = (opts.profile && timestamps).then(|| Mutex::new(Profiler::new(&device, &queue)));
        let host_profile = (opts.profile && !timestamps).then(|| Mutex::new(BTreeMap::new()));
        let disk_cache = cache_dir.and_then(|d| DiskCache::open(&device, &info, &d));
        let pool = Pool::new();
        Ok(Context {
            device,
            queue,
            info,
            limits,
            features,
            tex_pool: crate::pool::TexturePool::new(&pool),
            pool,
            pipelines: Mutex::new(HashMap::new()),
            modules: Mutex::new(HashMap::new()),
            rec: Mutex::new(Recorder { encoder: None, uniforms: Vec::new(), slots_used: 0, dispatches: 0 }),
            uniform_buf,
            slot,
            stats: Mutex::new(RecordStats::default()),
            gpu_error,
            profiler,
            host_profile,
            kernels: opts.kernels,
            coop,
            reads_f16: adapter.get_downlevel_capabilities().flags.contains(wgpu::DownlevelFlags::SHADER_F16_IN_F32),
            disk_cache,
        })
    }

    /// Every adapter wgpu can see, described as `name (backend, type)`.
    pub fn list_adapters() -> Vec<String> {
        let instance = make_instance(None);
        pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all())).iter().map(describe).collect()
    }

    /// The adapter's identity, the optional features in use and the limits the device has.
    pub fn report(&self) -> AdapterReport {
        let mut features: Vec<String> = Vec::new();
        for (f, n) in [
            (wgpu::Features::SHADER_F16, "SHADER_F16"),
            (wgpu::Features::SUBGROUP, "SUBGROUP"),
            (wgpu::Features::TIMESTAMP_QUERY, "TIMESTAMP_QUERY"),
            (wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX, "EXPERIMENTAL_COOPERATIVE_MATRIX"),
        ] {
            if self.features.contains(f) {
                features.push(n.to_string());
            }
        }
        AdapterReport {
            name: self.info.name.clone(),
            backend: backend_name(self.info.backend),
            device_type: format!("{:?}", self.info.device_type),
            driver: self.info.driver.clone(),
            driver_info: self.info.driver_info.clone(),
            features,
            max_storage_buffer_binding_size: self.limits.max_storage_buffer_binding_size,
            max_buffer_size: self.limits.max_buffer_size,
            max_compute_workgroups_per_dimension: self.limits.max_compute_workgroups_per_dimension,
            max_compute_invocations_per_workgroup: self.limits.max_compute_invocations_per_workgroup,
            max_compute_workgroup_storage_size: self.limits.max_compute_workgroup_storage_size,
            subgroup_min_size: self.info.subgroup_min_size,
            subgroup_max_size: self.info.subgroup_max_size,
        }
    }

    /// The adapter's name, as benchmarks print it.
    pub fn adapter_name(&self) -> &str {
        &self.info.name
    }

    /// The matmul kernel chosen in [`ContextOptions::kernels`], unless it leaves the choice to
    /// [`crate::ops::MatmulKernel::resolve`] (`Auto`, `Tiled`).
    pub fn matmul_preference(&self) -> Option<crate::ops::MatmulKernel> {
        Some(self.kernels.matmul).filter(|k| !matches!(k, crate::ops::MatmulKernel::Auto | crate::ops::MatmulKernel::Tiled))
    }

    /// The kernel choices the context was opened with ([`ContextOptions::kernels`], validated).
    pub fn kernels(&self) -> &KernelChoices {
        &self.kernels
    }

    /// Whether the device has `Features::SUBGROUP` and every subgroup holds at least `n` lanes
    /// (the adapter's `subgroup_min_size`), as kernels need whose workgroup rows of `n`
    /// invocations must be one subgroup.
    pub fn subgroups_at_least(&self, n: u32) -> bool {
        self.features.contains(wgpu::Features::SUBGROUP) && self.info.subgroup_min_size >= n
    }

    /// Whether this adapter can run kernel `k` (see [`KernelVariant::needs`]).
    pub fn supports<K: KernelVariant>(&self, k: K) -> bool {
        self.check_kernel(k).is_ok()
    }

    /// Fails with [`Error::KernelUnsupported`] when this adapter cannot run kernel `k`.
    pub fn check_kernel<K: KernelVariant>(&self, k: K) -> Result<()> {
        choice::require(k, &self.info.name, self.features, self.info.subgroup_min_size, &self.limits)
    }

    /// A 16-byte f32 tensor to bind where a kernel's optional input is absent (large enough for
    /// an `array<vec4<f32>>` binding); kernels skip it through a flag and never read it.
    pub fn dummy(&self) -> Result<Tensor> {
        Tensor::empty(self, &[4], DType::F32)
    }

    /// Whether kernels can read f16 weights: WGSL's `unpack2x16float` needs wgpu's downlevel
    /// flag `SHADER_F16_IN_F32` (Vulkan, Metal, DX12 and WebGPU have it; lavapipe only with
    /// `SHADER_F16`; some GL drivers not).
    pub fn reads_f16(&self) -> bool {
        self.reads_f16
    }

    /// The tensor-core matmul ([`crate::coop`]) this adapter reports a configuration for.
    pub fn coop_kernel(&self) -> Option<crate::coop::CoopKernel> {
        self.coop
    }

    /// True for CPU (software) adapters such as lavapipe.
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// The smallest subgroup size the adapter may use (0 when unknown).
    pub fn subgroup_min_size(&self) -> u32 {
        self.info.subgroup_min_size
    }

    /// The device's limits (the adapter's own, requested in full).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// Whether the device was opened with `f` (of `SHADER_F16`, `SUBGROUP`, `TIMESTAMP_QUERY` and,
    /// where a configuration of ours is reported, `EXPERIMENTAL_COOPERATIVE_MATRIX`;
    /// `PIPELINE_CACHE` is requested only for [`ContextOptions::pipeline_cache`] and not
    /// reported here).
    pub fn has_feature(&self, f: wgpu::Features) -> bool {
        self.features.contains(f)
    }

    /// Counters of the buffer pool.
    pub fn pool_stats(&self) -> PoolStats {
        self.pool.stats()
    }

    /// Counters of recorded work.
    pub fn record_stats(&self) -> RecordStats {
        *lock(&self.stats)
    }

    /// Returns free pooled buffers to the driver.
    pub fn trim_pool(&self) {
        self.pool.trim();
        self.tex_pool.trim();
    }

    /// Whether matmuls read their operands from texture copies where they can (`MatmulKernel::
    /// SubgroupTex`): on Vulkan software adapters (lavapipe), where the subgroup matmul measured
    /// 1.6-1.8x faster over read-only storage textures than over storage buffers.
    pub fn texture_operands(&self) -> bool {
        self.is_software() && self.info.backend == wgpu::Backend::Vulkan
    }

    /// Whether a (rows, width) texture fits this adapter's 2D texture limit.
    pub fn fits_texture(&self, rows: usize, width: usize) -> bool {
        let max = self.limits.max_texture_dimension_2d as usize;
        rows >= 1 && width >= 1 && rows <= max && width <= max
    }

    /// The width in texels of the texture that holds rows of `c4` texels: `c4`, plus one 64-byte
    /// line of padding where a row of 1 KiB or more would take an even number of lines (at most
    /// 1/16 more memory). The readers' per-lane loads walk 20-64 rows at once, and rows a
    /// multiple of 4 KiB apart (K = 1024 or 3072 in f32) all fall in one set of the CPU's L1
    /// cache: with the padding, lavapipe's matmul at K = 3072 went from 71 to 90 GFLOP/s
    /// (K = 1024: 73 to 88; K = 512: 1.06x; 2-core AMD EPYC VM).
    pub fn texture_width(&self, c4: u32, format: wgpu::TextureFormat) -> u32 {
        let texel = format.block_copy_size(None).unwrap_or(16);
        let bytes = c4 * texel;
        let padded = if bytes >= 1024 && bytes.is_multiple_of(128) { c4 + 64 / texel } else { c4 };
        if padded <= self.limits.max_texture_dimension_2d { padded } else { c4 }
    }

    /// `t`, a row-major (rows, 4 · c4) f32 or f16 tensor, as a texture of `rows` rows of c4
    /// texels (rgba32float, or rgba16float for f16: values exact; the texture may be wider, see
    /// [`Context::texture_width`]). Made once per tensor, by a recorded buffer-to-texture copy
    /// where a row's bytes are a multiple of 256 (`wgpu::COPY_BYTES_PER_ROW_ALIGNMENT`), else by
    /// a recorded `to_texture` dispatch, and kept with its buffer: a weight pays once, an
    /// activation once per pass. f16 needs `SHADER_F16` (to read it); callers check
    /// [`Context::fits_texture`] first.
    pub fn texture_of(&self, t: &Tensor, rows: u32, c4: u32) -> Result<wgpu::TextureView> {
        const OP: &str = "to_texture";
        let (format, kernel) = match t.dtype() {
            DType::F32 => (wgpu::TextureFormat::Rgba32Float, &crate::kernels::TO_TEXTURE_F32),
            DType::F16 if self.has_feature(wgpu::Features::SHADER_F16) => {
                (wgpu::TextureFormat::Rgba16Float, &crate::kernels::TO_TEXTURE_F16)
            }
            other => return Err(Error::DTypeMismatch { op: OP, expected: DType::F32, got: other }),
        };
        if rows as usize * c4 as usize * 4 != t.numel() {
            return Err(Error::InvalidArgument { op: OP, message: format!("{rows} rows of {c4} texels for a tensor of shape {:?}", t.shape()) });
        }
        let key = (self.texture_width(c4, format), rows, format);
        let mut mirror = lock(t.mirror());
        if let Some(m) = mirror.as_ref().filter(|m| m.key == key) {
            return Ok(m.view.clone());
        }
        let m = crate::pool::Mirror::new(self.tex_pool.take(&self.device, key));
        // Rows whose bytes meet the copy alignment (every ViT-B width) are a plain copy: on
        // lavapipe a row-by-row memcpy, against a dispatch whose per-lane loads cost a loop.
        let row_bytes = c4 * format.block_copy_size(None).unwrap_or(16);
        if row_bytes.is_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) {
            self.record_texture_copy(t.buffer(), m.texture(), rows, c4, row_bytes)?;
            let view = m.view.clone();
            *mirror = Some(m);
            return Ok(view);
        }
        #[repr(C)]
        #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
        struct Params {
            rows: u32,
            c4: u32,
            _p: [u32; 2],
        }
        let params = Params { rows, c4, _p: [0; 2] };
        let n = rows as u64 * c4 as u64;
        self.dispatch_bindings(kernel, &[], &params, &[t.binding(), wgpu::BindingResource::TextureView(&m.view)], n.div_ceil(64))?;
        let view = m.view.clone();
        *mirror = Some(m);
        Ok(view)
    }

    /// Fails with [`Error::TooLarge`] when `bytes` cannot be one storage binding on this adapter.
    pub(crate) fn check_size(&self, shape: &[usize], bytes: u64) -> Result<()> {
        let limit = self.limits.max_storage_buffer_binding_size;
        if bytes > limit {
            return Err(Error::TooLarge { shape: shape.to_vec(), bytes, limit, what: "max_storage_buffer_binding_size" });
        }
        if bytes > self.limits.max_buffer_size {
            return Err(Error::TooLarge {
                shape: shape.to_vec(),
                bytes,
                limit: self.limits.max_buffer_size,
                what: "max_buffer_size",
            });
        }
        Ok(())
    }

    fn module(&self, k: &Kernel) -> Result<wgpu::ShaderModule> {
        if let Some(m) = lock(&self.modules).get(k.name) {
            return Ok(m.clone());
        }
        let desc = wgpu::ShaderModuleDescriptor { label: Some(k.name), source: wgpu::ShaderSource::Wgsl(k.source.into()) };
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let m = if k.unchecked {
            // SAFETY: kernels marked `unchecked` guard every index against the dims in their
            // uniform struct (see each shader's header), so the removed bounds checks never fire.
            unsafe { self.device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked()) }
        } else {
            // Bounds checks stay; the injected loop counters go: they keep drivers from unrolling
            // loops over private arrays (LayerNorm 1.80 -> 1.33 ms per ViT-B/16 batch-64 pass
            // on an H200 without them).
            // SAFETY: every loop in our kernels is bounded by a constant or a uniform dim.
            let checks = wgpu::ShaderRuntimeChecks { force_loop_bounding: false, ..wgpu::ShaderRuntimeChecks::checked() };
            unsafe { self.device.create_shader_module_trusted(desc, checks) }
        };
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu { op: format!("compiling {}", k.name), message: e.to_string() });
        }
        lock(&self.modules).insert(k.name, m.clone());
        Ok(m)
    }

    /// The compute pipeline for `k` specialised with WGSL `override` constants; cached by kernel
    /// name and constants, never by tensor dims.
    pub fn pipeline(&self, k: &Kernel, overrides: &[(&'static str, f64)]) -> Result<wgpu::ComputePipeline> {
        let key: PipelineKey = (k.name, overrides.iter().map(|(n, v)| (*n, v.to_bits())).collect());
        if let Some(p) = lock(&self.pipelines).get(&key) {
            return Ok(p.clone());
        }
        let module = self.module(k)?;
        let t0 = std::time::Instant::now();
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let p = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(k.name),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: overrides,
                zero_initialize_workgroup_memory: false,
            },
            cache: self.disk_cache.as_ref().map(|d| &d.cache),
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu { op: format!("building pipeline {}", k.name), message: e.to_string() });
        }
        log::debug!("pipeline {} {:?} built in {:.0} ms", k.name, overrides, t0.elapsed().as_secs_f64() * 1e3);
        lock(&self.stats).pipelines_compiled += 1;
        lock(&self.pipelines).insert(key, p.clone());
        Ok(p)
    }

    /// The persistent pipeline cache's file, when this context has one (see
    /// [`ContextOptions::pipeline_cache`]; it may not exist until the first save).
    pub fn pipeline_cache_file(&self) -> Option<&std::path::Path> {
        self.disk_cache.as_ref().map(|d| d.path())
    }

    /// Whether the context started from a cache file written earlier (intact, and ours);
    /// wgpu may still drop its data where it came from another driver or wgpu version.
    pub fn pipeline_cache_loaded(&self) -> bool {
        self.disk_cache.as_ref().is_some_and(|d| d.loaded())
    }

    /// Writes the persistent pipeline cache now, when pipelines were built since the last save;
    /// returns the file written, `None` when there was nothing to write or no cache. It is also
    /// written after the first read-back that follows new pipelines and when the context drops
    /// (failures there are logged as a warning, never fatal).
    pub fn save_pipeline_cache(&self) -> std::io::Result<Option<std::path::PathBuf>> {
        match &self.disk_cache {
            Some(d) if d.save(self.record_stats().pipelines_compiled)? => Ok(Some(d.path().to_path_buf())),
            _ => Ok(None),
        }
    }

    /// Saves the pipeline cache once, after the first wait that follows new pipelines (so that a
    /// short-lived process has written it after its first pass).
    pub(crate) fn autosave_pipeline_cache(&self) {
        if let Some(d) = &self.disk_cache {
            let compiled = self.record_stats().pipelines_compiled;
            if compiled > 0 && !d.autosaved.swap(true, std::sync::atomic::Ordering::Relaxed) {
                d.save_or_warn(compiled);
            }
        }
    }

    /// Splits `n` workgroups into an (x, y, z) grid within `max_compute_workgroups_per_dimension`.
    /// Kernels recover the linear index as `wid.x + nwg.x * (wid.y + nwg.y * wid.z)` and return
    /// when it is `>= n`.
    pub fn grid(&self, op: &'static str, n: u64) -> Result<[u32; 3]> {
        let max = self.limits.max_compute_workgroups_per_dimension.max(1) as u64;
        if n <= max {
            return Ok([n.max(1) as u32, 1, 1]);
        }
        let y = n.div_ceil(max);
        if y <= max {
            return Ok([n.div_ceil(y) as u32, y as u32, 1]);
        }
        let z = n.div_ceil(max * max);
        if z > max {
            return Err(Error::LimitExceeded { op, what: "workgroups", value: n, limit: max * max * max });
        }
        let per_z = n.div_ceil(z);
        let y = per_z.div_ceil(max);
        Ok([per_z.div_ceil(y) as u32, y as u32, z as u32])
    }

    /// Records one dispatch of `k` over `workgroups` (linear count, split by [`Context::grid`]).
    /// Binding 0 is `params` (a uniform struct matching the WGSL one field by field); bindings
    /// 1.. are `tensors` in order, read-only or read-write as the shader declares them.
    pub fn dispatch<P: bytemuck::Pod>(
        &self,
        k: &Kernel,
        overrides: &[(&'static str, f64)],
        params: &P,
        tensors: &[&Tensor],
        workgroups: u64,
    ) -> Result<()> {
        let bindings: Vec<wgpu::BindingResource> = tensors.iter().map(|t| t.binding()).collect();
        self.dispatch_bindings(k, overrides, params, &bindings, workgroups)
    }

    /// [`Context::dispatch`] with bindings 1.. given as resources (textures among them).
    pub fn dispatch_bindings<P: bytemuck::Pod>(
        &self,
        k: &Kernel,
        overrides: &[(&'static str, f64)],
        params: &P,
        bindings: &[wgpu::BindingResource],
        workgroups: u64,
    ) -> Result<()> {
        let grid = self.grid(k.name, workgroups)?;
        let pipeline = self.pipeline(k, overrides)?;
        let bytes = bytemuck::bytes_of(params);
        if bytes.len() as u64 > self.slot {
            return Err(Error::InvalidArgument { op: k.name, message: "parameter struct too large".into() });
        }
        let mut rec = lock(&self.rec);
        if rec.slots_used == UNIFORM_SLOTS || self.host_profile.is_some() {
            // Host profiling: what came before runs (untimed) first.
            self.submit_locked(&mut rec);
            if self.host_profile.is_some() {
                self.wait_idle(k.name)?;
            }
        }
        let offset = rec.slots_used * self.slot;
        rec.uniforms.resize(offset as usize, 0);
        rec.uniforms.extend_from_slice(bytes);
        rec.slots_used += 1;
        rec.dispatches += 1;

        let mut entries = Vec::with_capacity(bindings.len() + 1);
        entries.push(wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &self.uniform_buf,
                offset,
                size: wgpu::BufferSize::new((bytes.len() as u64).div_ceil(16).max(1) * 16),
            }),
        });
        for (i, r) in bindings.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry { binding: i as u32 + 1, resource: r.clone() });
        }
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(k.name),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let device = &self.device;
        let encoder = rec
            .encoder
            .get_or_insert_with(|| device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("vitfuse.pass") }));
        let mut prof = self.profiler.as_ref().map(lock);
        let ts = prof.as_mut().and_then(|p| p.begin(k.name));
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(k.name),
                timestamp_writes: ts.as_ref().map(|(qs, i)| wgpu::ComputePassTimestampWrites {
                    query_set: qs,
                    beginning_of_pass_write_index: Some(*i),
                    end_of_pass_write_index: Some(*i + 1),
                }),
            });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
        }
        lock(&self.stats).dispatches += 1;
        if prof.as_ref().is_some_and(|p| p.full()) {
            drop(prof);
            self.submit_locked(&mut rec);
        }
        self.time_on_host(&mut rec, k.name)
    }

    /// With host profiling, submits what is recorded (one dispatch or copy after an idle
    /// queue), waits for it and adds the time to `name`'s row; else nothing.
    fn time_on_host(&self, rec: &mut Recorder, name: &'static str) -> Result<()> {
        let Some(h) = &self.host_profile else { return Ok(()) };
        let t0 = std::time::Instant::now();
        self.submit_locked(rec);
        self.wait_idle(name)?;
        let mut h = lock(h);
        let e = h.entry(name).or_default();
        e.0 += 1;
        e.1 += t0.elapsed().as_secs_f64() * 1e3;
        Ok(())
    }

    /// Waits for everything submitted (host profiling).
    fn wait_idle(&self, op: &str) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::Gpu { op: op.into(), message: e.to_string() })
    }

    /// Records a copy of `rows` rows of `row_bytes` bytes (`c4` texels) from the start of `src`
    /// into the top-left of `dst`; host-timed as `to_texture_copy` when the context profiles
    /// on the host.
    fn record_texture_copy(&self, src: &wgpu::Buffer, dst: &wgpu::Texture, rows: u32, c4: u32, row_bytes: u32) -> Result<()> {
        const NAME: &str = "to_texture_copy";
        let mut rec = lock(&self.rec);
        if self.host_profile.is_some() {
            self.submit_locked(&mut rec);
            self.wait_idle(NAME)?;
        }
        let device = &self.device;
        let encoder = rec
            .encoder
            .get_or_insert_with(|| device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("vitfuse.pass") }));
        encoder.copy_buffer_to_texture(
            wgpu::TexelCopyBufferInfo {
                buffer: src,
                layout: wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(row_bytes), rows_per_image: Some(rows) },
            },
            wgpu::TexelCopyTextureInfo { texture: dst, mip_level: 0, origin: wgpu::Origin3d::ZERO, aspect: wgpu::TextureAspect::All },
            wgpu::Extent3d { width: c4, height: rows, depth_or_array_layers: 1 },
        );
        lock(&self.stats).texture_copies += 1;
        self.time_on_host(&mut rec, NAME)
    }

    /// Records a buffer-to-buffer copy of `bytes` bytes.
    pub(crate) fn record_copy(&self, src: &wgpu::Buffer, dst: &wgpu::Buffer, bytes: u64) {
        let mut rec = lock(&self.rec);
        let device = &self.device;
        let encoder = rec
            .encoder
            .get_or_insert_with(|| device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("vitfuse.pass") }));
        encoder.copy_buffer_to_buffer(src, 0, dst, 0, bytes);
    }

    fn submit_locked(&self, rec: &mut Recorder) {
        let Some(mut encoder) = rec.encoder.take() else { return };
        if let Some(p) = self.profiler.as_ref() {
            lock(p).resolve(&mut encoder);
        }
        if !rec.uniforms.is_empty() {
            self.queue.write_buffer(&self.uniform_buf, 0, &rec.uniforms);
        }
        self.queue.submit(Some(encoder.finish()));
        rec.uniforms.clear();
        rec.slots_used = 0;
        rec.dispatches = 0;
        lock(&self.stats).submissions += 1;
    }

    /// Submits everything recorded so far without waiting.
    pub fn flush(&self) {
        let mut rec = lock(&self.rec);
        self.submit_locked(&mut rec);
    }

    /// True when dispatches are recorded but not yet submitted.
    pub fn has_pending(&self) -> bool {
        lock(&self.rec).encoder.is_some()
    }

    /// Submits and waits for the GPU to finish; reports a GPU error raised since the last check.
    pub fn sync(&self) -> Result<()> {
        self.flush();
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu { op: "sync".into(), message: e.to_string() })?;
        self.take_gpu_error()?;
        self.autosave_pipeline_cache();
        Ok(())
    }

    pub(crate) fn take_gpu_error(&self) -> Result<()> {
        take_gpu_error(&self.gpu_error)
    }

    /// Writes host bytes into a buffer. Work recorded earlier is submitted first, so that a
    /// recycled buffer is not overwritten before the dispatches that still read it.
    pub(crate) fn write(&self, buf: &wgpu::Buffer, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.flush();
        self.queue.write_buffer(buf, 0, data);
    }

    /// Per-kernel GPU time (name, dispatches, total ms, most first) gathered since the last
    /// call, when the context was opened with `profile` (see [`ContextOptions::profile`]). Syncs.
    pub fn take_profile(&self) -> Result<Option<Vec<(String, u64, f64)>>> {
        self.sync()?;
        if let Some(h) = &self.host_profile {
            let mut v: Vec<(String, u64, f64)> =
                std::mem::take(&mut *lock(h)).into_iter().map(|(n, (c, ms))| (n.to_string(), c, ms)).collect();
            v.sort_by(|a, b| b.2.total_cmp(&a.2));
            return Ok(Some(v));
        }
        match &self.profiler {
            None => Ok(None),
            Some(p) => lock(p).take(&self.device).map(Some),
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if let Some(d) = &self.disk_cache {
            d.save_or_warn(self.record_stats().pipelines_compiled);
        }
    }
}

/// Reports (and clears) the first uncaptured GPU error recorded in `sink` as [`Error::Gpu`].
pub(crate) fn take_gpu_error(sink: &Mutex<Option<String>>) -> Result<()> {
    match lock(sink).take() {
        Some(m) => Err(Error::Gpu { op: "device".into(), message: m }),
        None => Ok(()),
    }
}

/// A compute-only instance (no display handle) over the primary backends (Vulkan, Metal, DX12,
/// WebGPU); OpenGL only when asked for by `wanted` or `WGPU_BACKEND`. Probes no display where
/// none can be reached ([`quiet_display_probe`]).
fn make_instance(wanted: Option<&str>) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    let gl_wanted = wanted.is_some_and(|w| w.eq_ignore_ascii_case("gl"));
    if std::env::var_os("WGPU_BACKEND").is_none() && !gl_wanted {
        desc.backends = wgpu::Backends::PRIMARY;
    }
    if desc.backends.contains(wgpu::Backends::VULKAN) {
        quiet_display_probe();
    }
    wgpu::Instance::new(desc)
}

/// Keeps Mesa's Vulkan device-select layer from probing for a Wayland display that cannot be
/// reached, which prints `error: XDG_RUNTIME_DIR is invalid or not set in the environment.`
///
/// wgpu-hal enables `VK_KHR_wayland_surface` (and the X11 ones) on every Vulkan instance whose
/// drivers offer it, and wgpu 30 has no option against it (`InstanceDescriptor::display` is
/// unused on Vulkan; `wgpu_hal::vulkan::Instance::from_raw` requires those extensions too).
/// Mesa's implicit layer `VK_LAYER_MESA_device_select` sees the extension and, in every
/// `vkEnumeratePhysicalDevices`, calls `wl_display_connect(NULL)` to find the compositor's GPU;
/// without `XDG_RUNTIME_DIR` (and without an absolute `WAYLAND_DISPLAY` or a `WAYLAND_SOCKET`)
/// libwayland prints that line and fails, 4–6 times per command. In exactly that case, and when
/// the user has not configured the layer (`NODEVICE_SELECT`, `MESA_VK_DEVICE_SELECT`,
/// `DRI_PRIME` unset), this sets `NODEVICE_SELECT=1`, the off switch in the layer's manifest,
/// so the loader does not load it. All the layer does then is reorder devices, putting its
/// default (boot VGA, else the first GPU) first; `Context::new` picks adapters by type itself.
///
/// Setting a variable races with C code that reads the environment on another thread at that
/// moment; so it happens once per process, before this crate's first Vulkan call, and concurrent
/// callers wait for it.
fn quiet_display_probe() {
    #[cfg(all(unix, not(any(target_os = "macos", target_os = "ios", target_os = "android"))))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let set = |k: &str| std::env::var_os(k).is_some();
            let absolute = |k: &str| std::env::var_os(k).is_some_and(|v| v.as_encoded_bytes().starts_with(b"/"));
            let wayland_reachable = set("WAYLAND_SOCKET") || absolute("WAYLAND_DISPLAY") || absolute("XDG_RUNTIME_DIR");
            let configured = ["NODEVICE_SELECT", "MESA_VK_DEVICE_SELECT", "DRI_PRIME"].into_iter().any(set);
            if !wayland_reachable && !configured {
                std::env::set_var("NODEVICE_SELECT", "1");
            }
        });
    }
}

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn pick_adapter(adapters: &[wgpu::Adapter], wanted: &str) -> Result<wgpu::Adapter> {
    let w = wanted.to_lowercase();
    let available = || adapters.iter().map(describe).collect::<Vec<_>>().join("; ");
    if adapters.is_empty() {
        return Err(Error::NoAdapter(format!(" (wanted {wanted:?})")));
    }
    if let Ok(i) = w.parse::<usize>() {
        return adapters.get(i).cloned().ok_or_else(|| Error::AdapterNotFound { wanted: wanted.into(), available: available() });
    }
    let mut matches: Vec<&wgpu::Adapter> = adapters
        .iter()
        .filter(|a| {
            let i = a.get_info();
            let soft = i.device_type == wgpu::DeviceType::Cpu;
            i.name.to_lowercase().contains(&w)
                || backend_name(i.backend) == w
                || ((w == "cpu" || w == "software") && soft)
        })
        .collect();
    matches.sort_by_key(|a| rank(a.get_info().device_type));
    matches.first().map(|a| (*a).clone()).ok_or_else(|| Error::AdapterNotFound { wanted: wanted.into(), available: available() })
}
