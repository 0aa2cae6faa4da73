//! Runtime behaviour: buffer reuse across passes, pipeline caching, one submission per pass,
//! dispatch-grid splitting, adapter limits and typed errors.

mod common;

use common::{gpu, values};
use vitfuse::runtime::ops::{self, Activation, MaskLayout};
use vitfuse::runtime::{AttentionKernel, Context, ContextOptions, DType, Error, KernelChoices, PatchKernel, PipelineCacheDir, Tensor};

/// A small transformer-block-like pass; returns its output without reading it back.
fn pass(ctx: &Context, x: &Tensor, w: &Tensor, g: &Tensor, mask: &Tensor) -> Tensor {
    let h = ops::layernorm(ctx, x, g, g, 1e-5).unwrap();
    let y = ops::linear(ctx, &h, w, None, Activation::GeluErf, Some(x)).unwrap();
    let s = ops::softmax(ctx, &y.reshape(&[2, 3, 24]).unwrap(), Some((mask, MaskLayout { rows_per_group: 3, mask_rows: 1 })), 0.5).unwrap();
    let s = ops::scale(ctx, &s.reshape(&[6, 24]).unwrap(), 2.0).unwrap();
    ops::add(ctx, &s, x).unwrap()
}

#[test]
fn second_identical_pass_allocates_nothing_and_submits_once() {
    // Its own context: the shared one counts other tests' allocations and submissions too.
    let own = common::own_context();
    let ctx = &own;
    let x = Tensor::from_slice(ctx, &[6, 24], &values(144, 1)).unwrap();
    let w = Tensor::from_slice(ctx, &[24, 24], &values(576, 2)).unwrap();
    let g = Tensor::from_slice(ctx, &[24], &values(24, 3)).unwrap();
    let mask = Tensor::from_slice(ctx, &[2, 24], &[0f32; 48]).unwrap();
    let first = pass(ctx, &x, &w, &g, &mask).to_vec::<f32>(ctx).unwrap();
    let a0 = ctx.pool_stats();
    let r0 = ctx.record_stats();
    let out = pass(ctx, &x, &w, &g, &mask);
    let r1 = ctx.record_stats();
    // Nothing submitted while recording the pass.
    assert_eq!(r1.submissions, r0.submissions, "the pass submitted before the read-back");
    // Five ops; on software Vulkan adapters the matmul's activation operand is copied into a
    // texture first (the weight's copy was made by the first pass and kept).
    let copies = u64::from(ctx.texture_operands());
    assert_eq!(r1.dispatches - r0.dispatches, 5 + copies);
    let second = out.to_vec::<f32>(ctx).unwrap();
    let a1 = ctx.pool_stats();
    assert_eq!(a1.allocations, a0.allocations, "second pass allocated new buffers: {a0:?} -> {a1:?}");
    // The activation's texture came back to the pool and was reused; the weight's stays.
    assert_eq!(a1.texture_bytes_in_use, a0.texture_bytes_in_use, "{a0:?} -> {a1:?}");
    assert_eq!(a1.texture_bytes_in_use > 0, copies == 1, "{a1:?}");
    assert!(a1.reuses > a0.reuses);
    assert_eq!(ctx.record_stats().pipelines_compiled, r0.pipelines_compiled, "pipelines rebuilt");
    assert_eq!(ctx.record_stats().submissions, r1.submissions + 1, "one submission for the pass and its read-back");
    assert_eq!(first, second);
}

#[test]
fn grids_beyond_the_dimension_limit_are_split() {
    let ctx = gpu();
    let max = ctx.limits().max_compute_workgroups_per_dimension as u64;
    for n in [1, max, max + 1, 3 * max + 7, max * max + 5] {
        let [x, y, z] = ctx.grid("test", n).unwrap();
        assert!(x as u64 <= max && y as u64 <= max && z as u64 <= max);
        assert!((x as u64) * (y as u64) * (z as u64) >= n);
        assert!((x as u64) * (y as u64) * (z as u64) - n < (x as u64) * (y as u64), "wasteful split for {n}");
    }
    // A real dispatch of more than `max` workgroups (elementwise runs 256 elements per workgroup).
    let n = (max as usize + 10) * 256 + 3;
    let x: Vec<f32> = (0..n).map(|i| (i % 1000) as f32).collect();
    let t = Tensor::from_slice(ctx, &[n], &x).unwrap();
    let y = ops::scale(ctx, &t, 0.5).unwrap().to_vec::<f32>(ctx).unwrap();
    for i in [0, 1, 255, 256, n / 2, n - 257, n - 2, n - 1] {
        assert_eq!(y[i], x[i] * 0.5, "element {i}");
    }
}

#[test]
fn tensors_beyond_the_binding_limit_are_errors() {
    let ctx = gpu();
    let limit = ctx.limits().max_storage_buffer_binding_size as usize;
    let e = Tensor::empty(ctx, &[limit / 4 + 1], DType::F32).unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e}");
    assert!(e.to_string().contains("max_storage_buffer_binding_size"), "{e}");
}

#[test]
fn bad_inputs_are_typed_errors() {
    let ctx = gpu();
    let a = Tensor::from_slice(ctx, &[2, 3], &[0f32; 6]).unwrap();
    let w = Tensor::from_slice(ctx, &[4, 5], &[0f32; 20]).unwrap();
    let e = ops::linear(ctx, &a, &w, None, Activation::None, None).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { op: "matmul", .. }), "{e}");
    assert!(e.to_string().contains("[4, 5]") && e.to_string().contains("[2, 3]"), "{e}");

    let g = Tensor::from_slice(ctx, &[2], &[1f32; 2]).unwrap();
    let e = ops::layernorm(ctx, &a, &g, &g, 1e-5).unwrap_err();
    assert!(e.to_string().contains("layernorm gamma"), "{e}");

    let e = Tensor::from_slice(ctx, &[2, 2], &[0f32; 3]).unwrap_err();
    assert!(matches!(e, Error::HostLength { expected: 4, got: 3, .. }), "{e}");
    assert!(matches!(a.reshape(&[7]).unwrap_err(), Error::BadReshape { .. }));
    assert!(matches!(a.to_vec::<u32>(ctx).unwrap_err(), Error::DTypeMismatch { .. }));

    let ids = Tensor::from_slice(ctx, &[2], &[0u32, 1]).unwrap();
    assert!(matches!(ops::add(ctx, &a, &ids.reshape(&[2]).unwrap()).unwrap_err(), Error::DTypeMismatch { .. }));
    assert!(matches!(ops::embedding(ctx, &a, &a).unwrap_err(), Error::DTypeMismatch { .. }));
    let empty = Tensor::from_slice::<f32>(ctx, &[0, 3], &[]).unwrap();
    assert!(matches!(ops::scale(ctx, &empty, 1.0).unwrap_err(), Error::InvalidArgument { .. }));
    let mask = Tensor::from_slice(ctx, &[3, 3], &[0f32; 9]).unwrap();
    let e = ops::softmax(ctx, &a, Some((&mask, MaskLayout { rows_per_group: 1, mask_rows: 1 })), 1.0).unwrap_err();
    assert!(e.to_string().contains("softmax"), "{e}");
    // The context is still usable after every error.
    assert_eq!(ops::scale(ctx, &a, 2.0).unwrap().to_vec::<f32>(ctx).unwrap(), vec![0.0; 6]);
}

#[test]
fn kernel_choices_are_validated_and_followed() {
    // Unknown names are typed errors that list every valid name, for each op.
    let e = ops::MatmulKernel::from_name("no-such-kernel").unwrap_err();
    assert!(matches!(e, Error::UnknownKernel { op: "matmul", .. }), "{e}");
    assert!(ops::MatmulKernel::NAMES.iter().all(|n| e.to_string().contains(n)) && e.to_string().contains("no-such-kernel"), "{e}");
    let e = "flash2".parse::<AttentionKernel>().unwrap_err();
    assert!(e.to_string().contains("flash2") && AttentionKernel::NAMES.iter().all(|n| e.to_string().contains(n)), "{e}");
    let e = PatchKernel::from_name("im2col").unwrap_err();
    assert!(e.to_string().contains("im2col") && e.to_string().contains("fused, composed"), "{e}");
    // Names round-trip, case-insensitively.
    for k in AttentionKernel::ALL {
        assert_eq!(k.name().to_uppercase().parse::<AttentionKernel>().unwrap(), *k);
    }
    for k in ops::MatmulKernel::ALL {
        assert_eq!(ops::MatmulKernel::from_name(k.name()).unwrap(), *k);
    }
    assert_eq!(PatchKernel::ALL.iter().map(|k| k.to_string()).collect::<Vec<_>>(), PatchKernel::NAMES);

    // An explicit matmul choice replaces the adapter's.
    let naive = ContextOptions { kernels: KernelChoices { matmul: ops::MatmulKernel::Naive, ..Default::default() }, ..Default::default() };
    let ctx = Context::new(&naive).unwrap();
    assert_eq!(ctx.matmul_preference(), Some(ops::MatmulKernel::Naive));
    assert_eq!(ops::MatmulKernel::Auto.resolve(&ctx, 64, 1), ops::MatmulKernel::Naive);

    // An explicit attention / patch choice is followed: the composed paths record several
    // dispatches where the fused kernels record one.
    let composed = KernelChoices { attention: Some(AttentionKernel::Composed), patch: Some(PatchKernel::Composed), ..Default::default() };
    let ctx = Context::new(&ContextOptions { kernels: composed, ..Default::default() }).unwrap();
    assert_eq!(ctx.kernels(), &composed);
    let fused = common::own_context();
    let (nh, hs, t) = (2, 8, 5);
    let dispatches = |ctx: &Context| {
        let qkv = Tensor::from_slice(ctx, &[1, t, 3 * nh * hs], &values(t * 3 * nh * hs, 11)).unwrap();
        let px = Tensor::from_slice(ctx, &[1, 1, 4, 4], &values(16, 12)).unwrap();
        let w = Tensor::from_slice(ctx, &[3, 1, 2, 2], &values(12, 13)).unwrap();
        let cls = Tensor::from_slice(ctx, &[1, 3], &values(3, 14)).unwrap();
        let pos = Tensor::from_slice(ctx, &[5, 3], &values(15, 15)).unwrap();
        let r0 = ctx.record_stats().dispatches;
        let a = vitfuse::attention::self_attention(ctx, &qkv, None, vitfuse::attention::AttentionOptions::new(nh, hs)).unwrap();
        let r1 = ctx.record_stats().dispatches;
        let opts = vitfuse::patch::PatchOptions::square(2);
        let p = vitfuse::patch::patch_embed(ctx, &px, &w, None, Some(&cls), Some(&pos), opts).unwrap();
        let r2 = ctx.record_stats().dispatches;
        (r1 - r0, r2 - r1, a.to_vec::<f32>(ctx).unwrap(), p.to_vec::<f32>(ctx).unwrap())
    };
    let (fa, fp, fused_a, fused_p) = dispatches(&fused);
    let (ca, cp, composed_a, composed_p) = dispatches(&ctx);
    // (Where matmuls read texture copies, the fused attention does too: one copy of the QKV
    // tensor, shared by q, k and v, before its kernel.)
    let copies = fused.texture_operands() as u64;
    assert_eq!((fa, fp), (1 + copies, 1), "the fused kernels are one dispatch each");
    assert!(ca > 1 && cp > 1, "the composed paths ran: {ca} and {cp} dispatches");
    vitfuse::reference::assert_close(&composed_a, &fused_a, vitfuse::reference::Tolerance::KERNEL);
    vitfuse::reference::assert_close(&composed_p, &fused_p, vitfuse::reference::Tolerance::KERNEL);

    // A choice the adapter cannot run is refused when the context opens, naming what it lacks.
    for k in AttentionKernel::ALL {
        let opts = ContextOptions { kernels: KernelChoices { attention: Some(*k), ..Default::default() }, ..Default::default() };
        match Context::new(&opts) {
            Ok(c) => assert!(gpu().supports(*k) && c.kernels().attention == Some(*k), "{k} opened where unsupported"),
            Err(e) => {
                assert!(!gpu().supports(*k), "{k} refused where supported: {e}");
                assert!(matches!(e, Error::KernelUnsupported { op: "attention", .. }) && e.to_string().contains(k.name()), "{e}");
            }
        }
    }
}

#[test]
fn subgroup_needs_follow_the_adapter() {
    let ctx = gpu();
    let r = ctx.report();
    let sg = r.features.iter().any(|f| f == "SUBGROUP");
    for n in [1, 8, 16, 32, 64] {
        assert_eq!(ctx.subgroups_at_least(n), sg && r.subgroup_min_size >= n, "subgroups of {n}");
    }
    assert_eq!(ctx.supports(ops::MatmulKernel::Subgroup), ctx.subgroups_at_least(8));
    assert_eq!(ctx.supports(AttentionKernel::Tiled), ctx.subgroups_at_least(16) && r.max_compute_workgroup_storage_size >= 32_768);
    assert!(ctx.supports(AttentionKernel::Composed) && ctx.supports(PatchKernel::Fused));
    // An op asked for a kernel the adapter lacks says so instead of dispatching it.
    if !ctx.supports(AttentionKernel::Subgroup) {
        let qkv = Tensor::from_slice(ctx, &[1, 3, 6], &[0f32; 18]).unwrap();
        let h = |o| vitfuse::attention::Heads::new(&qkv, o);
        let e = vitfuse::attention::attention_subgroup(ctx, h(0), h(2), h(4), None, vitfuse::attention::AttentionOptions::new(1, 2))
            .unwrap_err();
        assert!(matches!(e, Error::KernelUnsupported { .. }), "{e}");
    }
    // The dummy binding is big enough for a vec4 array.
    assert_eq!(ctx.dummy().unwrap().byte_len(), 16);
}

#[test]
fn unknown_adapter_is_a_clear_error() {
    let e = Context::new(&ContextOptions { adapter: Some("no-such-gpu-xyz".into()), ..Default::default() })
        .err()
        .expect("an adapter named no-such-gpu-xyz should not exist");
    assert!(e.to_string().contains("no-such-gpu-xyz") && e.to_string().contains("available"), "{e}");
}

#[test]
fn reshape_shares_the_buffer() {
    let ctx = gpu();
    let a = Tensor::from_slice(ctx, &[2, 3], &[1f32, 2., 3., 4., 5., 6.]).unwrap();
    let b = a.reshape(&[3, 2]).unwrap();
    assert!(a.same_buffer(&b));
    assert_eq!(b.to_vec::<f32>(ctx).unwrap(), vec![1., 2., 3., 4., 5., 6.]);
}

/// Profiling always reports: timestamps on hardware adapters that have them, else host-timed
/// dispatches (software adapters, whose timestamps do not bracket the work); each figure is
/// positive, and a second take starts afresh.
#[test]
fn profiling_reports_kernel_times() {
    let ctx = Context::new(&ContextOptions { profile: true, ..Default::default() }).unwrap();
    let a = Tensor::from_slice(&ctx, &[64, 64], &values(4096, 9)).unwrap();
    let _ = ops::linear(&ctx, &a, &a, None, Activation::None, None).unwrap();
    let _ = ops::scale(&ctx, &a, 3.0).unwrap();
    let rows = ctx.take_profile().unwrap().expect("a profiling context reports");
    let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert!(names.iter().any(|n| n.starts_with("matmul")) && names.contains(&"elementwise"), "{names:?}");
    assert!(rows.iter().all(|r| r.1 == 1), "{rows:?}");
    if ctx.is_software() {
        assert!(rows.iter().all(|r| r.2 > 0.0), "{rows:?}");
    }
    assert!(rows.windows(2).all(|w| w[0].2 >= w[1].2), "most first: {rows:?}");
    assert_eq!(ctx.take_profile().unwrap(), Some(Vec::new()));
}

#[test]
fn context_tensor_and_read_back_future_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<Context>();
    send_sync::<Tensor>();
    let ctx = gpu();
    let t = Tensor::from_slice(ctx, &[2], &[1f32, 2.]).unwrap();
    let fut = t.to_vec_async::<f32>(ctx);
    send(&fut);
    assert_eq!(pollster::block_on(fut).unwrap(), vec![1., 2.]);
}

#[test]
fn async_read_back_equals_the_blocking_one() {
    let ctx = gpu();
    let xv = values(63, 21);
    let x = Tensor::from_slice(ctx, &[7, 9], &xv).unwrap();
    assert_eq!(pollster::block_on(x.to_vec_async::<f32>(ctx)).unwrap(), x.to_vec::<f32>(ctx).unwrap());
    let ids = Tensor::from_slice(ctx, &[3], &[7u32, 0, u32::MAX]).unwrap();
    assert_eq!(pollster::block_on(ids.to_vec_async::<u32>(ctx)).unwrap(), vec![7, 0, u32::MAX]);
    let empty = Tensor::from_slice::<f32>(ctx, &[0, 3], &[]).unwrap();
    assert_eq!(pollster::block_on(empty.to_vec_async::<f32>(ctx)).unwrap(), Vec::<f32>::new());
    let e = pollster::block_on(x.to_vec_async::<u32>(ctx)).unwrap_err();
    assert!(matches!(e, Error::DTypeMismatch { .. }), "{e}");

    // After recorded (unsubmitted) dispatches: the future reads what they wrote, and work recorded
    // after the call (here into the recycled buffer of the tensor read) does not change it.
    let y = ops::add(ctx, &ops::scale(ctx, &x, 3.0).unwrap(), &x).unwrap();
    let fut = y.to_vec_async::<f32>(ctx);
    let blocking = y.to_vec::<f32>(ctx).unwrap();
    drop(y);
    let later = ops::scale(ctx, &x, -1.0).unwrap();
    let got = pollster::block_on(fut).unwrap();
    assert_eq!(got, blocking);
    assert_eq!(got, xv.iter().map(|v| v * 3.0 + v).collect::<Vec<_>>());
    assert_eq!(later.to_vec::<f32>(ctx).unwrap(), xv.iter().map(|v| -v).collect::<Vec<_>>());
}

/// A waker that reports its wake-ups on a channel.
struct ChannelWaker(std::sync::Mutex<std::sync::mpsc::Sender<()>>);

impl std::task::Wake for ChannelWaker {
    fn wake(self: std::sync::Arc<Self>) {
        let _ = self.0.lock().unwrap().send(());
    }
}

#[test]
fn async_read_back_completes_without_the_caller_polling_the_device() {
    use std::future::Future;
    use std::task::Poll;
    let ctx = gpu();
    let n = 1 << 16;
    let x = Tensor::from_slice(ctx, &[n], &values(n, 5)).unwrap();
    let y = ops::activation(ctx, &ops::scale(ctx, &x, 2.0).unwrap(), Activation::GeluErf).unwrap();
    let want = y.to_vec::<f32>(ctx).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let waker = std::task::Waker::from(std::sync::Arc::new(ChannelWaker(std::sync::Mutex::new(tx))));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut fut = std::pin::pin!(y.to_vec_async::<f32>(ctx));
    // Each poll returns at once; between polls this thread only waits for a wake-up, which must
    // come from the read-back's helper thread.
    let got = loop {
        let t = std::time::Instant::now();
        let p = fut.as_mut().poll(&mut cx);
        assert!(t.elapsed() < std::time::Duration::from_secs(5), "poll blocked for {:?}", t.elapsed());
        match p {
            Poll::Ready(r) => break r.unwrap(),
            Poll::Pending => rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the read-back never woke its task"),
        }
    };
    assert_eq!(got, want);
}

#[test]
fn async_read_back_reports_gpu_errors_like_the_blocking_one() {
    // Its own context: the error must not reach other tests' read-backs.
    let own = common::own_context();
    let ctx = &own;
    let t = Tensor::from_slice(ctx, &[4], &[1f32, 2., 3., 4.]).unwrap();
    // A dispatch whose bindings do not match the kernel's: a validation error on the device.
    let bad_dispatch = || ctx.dispatch(&vitfuse::runtime::kernels::ELEMENTWISE, &[], &[4u32, 0, 0, 0], &[&t], 1).unwrap();
    bad_dispatch();
    let blocking = t.to_vec::<f32>(ctx).unwrap_err();
    bad_dispatch();
    let asynchronous = pollster::block_on(t.to_vec_async::<f32>(ctx)).unwrap_err();
    match (&blocking, &asynchronous) {
        (Error::Gpu { op: a, message: ma }, Error::Gpu { op: b, message: mb }) => assert!(a == b && ma == mb, "{blocking} vs {asynchronous}"),
        _ => panic!("expected GPU errors, got {blocking} and {asynchronous}"),
    }
    // Both reported the error once; the context reads normally afterwards.
    assert_eq!(pollster::block_on(t.to_vec_async::<f32>(ctx)).unwrap(), vec![1., 2., 3., 4.]);
    assert_eq!(t.to_vec::<f32>(ctx).unwrap(), vec![1., 2., 3., 4.]);
}

/// A fresh folder of this test's own under the system temp dir (never the user's cache).
fn cache_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("vitfuse-pipeline-cache-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn cached_context(dir: &std::path::Path) -> Context {
    let opts = ContextOptions { pipeline_cache: PipelineCacheDir::Dir(dir.to_path_buf()), ..Default::default() };
    Context::new(&opts).unwrap_or_else(|e| panic!("GPU tests need an adapter: {e}"))
}

/// Builds a pipeline and reads its result back: 1 + 2 = 3, elementwise.
fn add_once(ctx: &Context) {
    let a = Tensor::from_slice(ctx, &[8], &[1f32; 8]).unwrap();
    let b = Tensor::from_slice(ctx, &[8], &[2f32; 8]).unwrap();
    assert_eq!(ops::add(ctx, &a, &b).unwrap().to_vec::<f32>(ctx).unwrap(), [3f32; 8]);
}

/// Whether this adapter keeps a persistent cache (Vulkan with `PIPELINE_CACHE`): if not, the
/// context must say it has none.
fn expects_cache(ctx: &Context) -> bool {
    let vulkan = ctx.report().backend == "vulkan";
    assert_eq!(ctx.pipeline_cache_file().is_some(), vulkan, "a persistent pipeline cache exactly on Vulkan");
    vulkan
}

#[test]
fn pipeline_cache_file_is_written_and_found_by_the_next_context() {
    let dir = cache_dir("roundtrip");
    let ctx = cached_context(&dir);
    if !expects_cache(&ctx) {
        return;
    }
    let file = ctx.pipeline_cache_file().unwrap().to_path_buf();
    assert!(file.starts_with(&dir) && !ctx.pipeline_cache_loaded());
    // The first read-back after new pipelines writes it.
    add_once(&ctx);
    let len = std::fs::metadata(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())).len();
    assert!(len > 16, "{len} bytes");
    // Nothing new since: an explicit save has nothing to write.
    assert_eq!(ctx.save_pipeline_cache().unwrap(), None);
    drop(ctx);
    let again = cached_context(&dir);
    assert!(again.pipeline_cache_loaded(), "the second context did not load {}", file.display());
    add_once(&again);
    // A pipeline built after the automatic save: the explicit one writes it.
    let x = Tensor::from_slice(&again, &[2, 4], &[0.5f32; 8]).unwrap();
    ops::softmax(&again, &x, None, 1.0).unwrap();
    assert_eq!(again.save_pipeline_cache().unwrap(), Some(file.clone()));
    // Only the cache file: no temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(names, [file]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damaged_or_foreign_pipeline_cache_files_are_ignored() {
    let dir = cache_dir("damaged");
    let probe = cached_context(&dir);
    if !expects_cache(&probe) {
        return;
    }
    let file = probe.pipeline_cache_file().unwrap().to_path_buf();
    drop(probe);
    std::fs::create_dir_all(&dir).unwrap();
    // Garbage; then our envelope (magic, FNV-1a of the payload) around data that is not wgpu's,
    // which only wgpu's own check (fallback) can refuse.
    let payload = b"not what PipelineCache::get_data returns".repeat(20);
    let envelope = |data: &[u8]| {
        let hash = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3));
        [&b"VFPLCH01"[..], &hash.to_le_bytes(), data].concat()
    };
    // A good file with wgpu's backend byte (offset 16 of its header) changed, as if copied from
    // another device: wgpu refuses it even with fallback.
    add_once(&cached_context(&dir));
    let mut other_device = std::fs::read(&file).unwrap()[16..].to_vec();
    other_device[16] ^= 0x7f;
    let cases = [
        ("garbage", vec![0x5a; 4096], false),
        ("empty", vec![], false),
        ("foreign payload", envelope(&payload), true),
        ("another device", envelope(&other_device), false),
    ];
    for (what, bytes, ours) in cases {
        std::fs::write(&file, &bytes).unwrap();
        let ctx = cached_context(&dir);
        // Loaded: our envelope was intact and wgpu took it (starting empty where it was not its own).
        assert_eq!(ctx.pipeline_cache_loaded(), ours, "{what}");
        add_once(&ctx);
        drop(ctx);
        // The damaged file was replaced by a good one.
        assert!(cached_context(&dir).pipeline_cache_loaded(), "{what}: not rewritten");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unwritable_pipeline_cache_folder_is_not_fatal() {
    // A folder under a regular file can never be created.
    let dir = cache_dir("unwritable");
    std::fs::create_dir_all(&dir).unwrap();
    let blocker = dir.join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let ctx = cached_context(&blocker.join("pipelines"));
    add_once(&ctx);
    if expects_cache(&ctx) {
        assert!(ctx.save_pipeline_cache().is_err());
    }
    drop(ctx); // logs a warning, does not panic
    let off = Context::new(&ContextOptions { pipeline_cache: PipelineCacheDir::Off, ..Default::default() }).unwrap();
    assert!(off.pipeline_cache_file().is_none());
    add_once(&off);
    assert_eq!(off.save_pipeline_cache().unwrap(), None);
    std::fs::remove_dir_all(&dir).unwrap();
}
