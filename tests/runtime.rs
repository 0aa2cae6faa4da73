//! Runtime behaviour: buffer reuse across passes, pipeline caching, one submission per pass,
//! dispatch-grid splitting, adapter limits and typed errors.

mod common;

use common::{gpu, values};
use vitfuse::runtime::ops::{self, Activation, MaskLayout};
use vitfuse::runtime::{Context, DType, Error, Tensor};

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
    assert_eq!(r1.dispatches - r0.dispatches, 5);
    let second = out.to_vec::<f32>(ctx).unwrap();
    let a1 = ctx.pool_stats();
    assert_eq!(a1.allocations, a0.allocations, "second pass allocated new buffers: {a0:?} -> {a1:?}");
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
    let bad = vitfuse::runtime::ContextOptions { kernels: vec![("matmul".into(), "no-such-kernel".into())], ..Default::default() };
    let e = Context::new(&bad).err().expect("an unknown matmul kernel name should be refused");
    assert!(e.to_string().contains("no-such-kernel") && e.to_string().contains("wide"), "{e}");
    let naive = vitfuse::runtime::ContextOptions { kernels: vec![("matmul".into(), "Naive".into())], ..Default::default() };
    let ctx = Context::new(&naive).unwrap();
    assert_eq!(ctx.matmul_preference(), Some(ops::MatmulKernel::Naive));
    assert_eq!(ops::MatmulKernel::Auto.resolve(&ctx, 64, 1), ops::MatmulKernel::Naive);
}

#[test]
fn unknown_adapter_is_a_clear_error() {
    let e = Context::new(&vitfuse::runtime::ContextOptions { adapter: Some("no-such-gpu-xyz".into()), ..Default::default() })
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

#[test]
fn profiling_reports_kernel_times_when_timestamps_exist() {
    let ctx = Context::new(&vitfuse::runtime::ContextOptions { profile: true, ..Default::default() }).unwrap();
    let a = Tensor::from_slice(&ctx, &[64, 64], &values(4096, 9)).unwrap();
    let _ = ops::linear(&ctx, &a, &a, None, Activation::None, None).unwrap();
    let _ = ops::scale(&ctx, &a, 3.0).unwrap();
    match ctx.take_profile().unwrap() {
        Some(rows) => {
            let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
            assert!(names.iter().any(|n| n.starts_with("matmul")) && names.contains(&"elementwise"), "{names:?}");
            assert!(rows.iter().all(|r| r.1 == 1 && r.2 >= 0.0));
        }
        None => assert!(!ctx.has_feature(vitfuse::runtime::wgpu::Features::TIMESTAMP_QUERY)),
    }
}
