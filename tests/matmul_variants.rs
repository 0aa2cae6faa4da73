//! Every matmul kernel variant against the CPU reference: odd M/N/K (1, primes, non-multiples
//! of every tile), K % 4 == 0 and not, shared and batched W, f32 and f16 W, alpha, bias,
//! activation, residual. f16 weights are widened exactly, so their twin is the f32 reference
//! over the f16-rounded weights, at the f32 tolerance.
//! Timing lives in `vitfuse bench matmul M K N --kernel VARIANT` and `cargo bench`.

mod common;

use common::{gpu, values};
use proptest::prelude::*;
use vitfuse::reference::{self as r, assert_close, Tolerance};
use vitfuse::runtime::ops::{self, Activation, MatmulKernel, MatmulOptions};
use vitfuse::runtime::{Context, DType, Tensor};
use vitfuse::reference::twin_activation as ref_act;

/// Whether `kernel` can run an (N, K) matmul with inner dim `k` on the test adapter.
fn runs(ctx: &Context, kernel: MatmulKernel, k: usize) -> bool {
    ctx.supports(kernel) && (k.is_multiple_of(4) || !kernel.needs_k4())
}

/// Seeded values and their f32 tensor.
fn up(shape: &[usize], seed: u64) -> (Vec<f32>, Tensor) {
    let v = values(shape.iter().product(), seed);
    let t = Tensor::from_slice(gpu(), shape, &v).unwrap();
    (v, t)
}

#[allow(clippy::too_many_arguments)]
fn check(kernel: MatmulKernel, b: usize, m: usize, k: usize, n: usize, w_batched: bool, act: Activation,
         bias: bool, res: bool, seed: u64) {
    check_w(kernel, b, m, k, n, w_batched, false, act, bias, res, seed)
}

/// [`check`] with the weights stored as f16 when `w16`.
#[allow(clippy::too_many_arguments)]
fn check_w(kernel: MatmulKernel, b: usize, m: usize, k: usize, n: usize, w_batched: bool, w16: bool,
           act: Activation, bias: bool, res: bool, seed: u64) {
    let ctx = gpu();
    let (a, ta) = up(&[b, m, k], seed);
    let w_shape = if w_batched { vec![b, n, k] } else { vec![n, k] };
    let (w, tw) = if w16 {
        let h: Vec<half::f16> = values(w_shape.iter().product(), seed + 1).into_iter().map(half::f16::from_f32).collect();
        (h.iter().map(|x| x.to_f32()).collect::<Vec<f32>>(), Tensor::from_slice(ctx, &w_shape, &h).unwrap())
    } else {
        up(&w_shape, seed + 1)
    };
    let (bv, tb) = up(&[n], seed + 2);
    let (rv, tr) = up(&[b, m, n], seed + 3);
    let p = r::Matmul { w_batched, act: ref_act(act), alpha: -0.75, ..r::Matmul::linear(b, m, k, n) };
    let want = r::matmul(&p, &a, &w, bias.then_some(&bv[..]), res.then_some(&rv[..]));
    let o = MatmulOptions { act, alpha: -0.75, kernel, ..Default::default() };
    let got = ops::matmul(ctx, &ta, &tw, bias.then_some(&tb), res.then_some(&tr), o).unwrap();
    assert_eq!(got.shape(), &[b, m, n]);
    assert_close(&got.to_vec::<f32>(ctx).unwrap(), &want, Tolerance::REDUCTION);
}

const VARIANTS: [MatmulKernel; 10] = [
    MatmulKernel::Tiled, MatmulKernel::Subgroup, MatmulKernel::SubgroupTex, MatmulKernel::Blocked, MatmulKernel::Shared,
    MatmulKernel::Wide, MatmulKernel::Scalar, MatmulKernel::SplitK, MatmulKernel::SharedDb, MatmulKernel::WideDb,
];

fn dim(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![Just(1usize), Just(2), Just(3), Just(7), Just(13), Just(31), Just(97), 1..=max].prop_map(move |d| d.min(max))
}

fn act() -> impl Strategy<Value = Activation> {
    prop_oneof![
        Just(Activation::None),
        Just(Activation::GeluErf),
        Just(Activation::GeluTanh),
        Just(Activation::QuickGelu),
        Just(Activation::Relu),
        Just(Activation::Tanh)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 20, ..ProptestConfig::default() })]

    /// Every variant on the same shape; `k4` rounds K up to a multiple of 4 so that the vec4
    /// kernels run too.
    #[test]
    fn matmul_variants_match_reference(b in 1usize..3, m in dim(60), k in dim(90), n in dim(140), k4: bool,
                                       w_batched: bool, w16: bool, a_ in act(), bias: bool, res: bool,
                                       seed in 0u64..1000) {
        let k = if k4 { 4 * k.div_ceil(4) } else { k };
        for kern in VARIANTS {
            if runs(gpu(), kern, k) {
                check_w(kern, b, m, k, n, w_batched, w16, a_, bias, res, seed);
            }
        }
    }
}

/// One fixed case per variant past every tile edge: batched W, every epilogue part, K % 8 != 0
/// in vec4 chunks (the subgroup kernel's tail loop).
#[test]
fn matmul_variants_fixed_case() {
    for kern in VARIANTS {
        for k in [44, 37, 4] {
            if runs(gpu(), kern, k) {
                check(kern, 2, 29, k, 131, true, Activation::GeluErf, true, true, 7);
            }
        }
    }
    // f16 weights through every kernel (Naive too), odd and vec4 K, past the tile edges.
    for kern in VARIANTS.into_iter().chain([MatmulKernel::Naive]) {
        for k in [44, 37] {
            if runs(gpu(), kern, k) {
                check_w(kern, 2, 29, k, 131, true, true, Activation::GeluTanh, true, true, 8);
                check_w(kern, 1, 5, k, 3, false, true, Activation::None, false, false, 9);
            }
        }
    }
    // Several 128 x 128 tiles in M and N, with partial last tiles.
    check(MatmulKernel::Wide, 2, 300, 44, 260, false, Activation::None, true, true, 9);
    // matmul_shared over many 64 x 64 tiles with partial edges.
    check(MatmulKernel::Shared, 1, 130, 37, 200, false, Activation::QuickGelu, true, false, 10);
    check(MatmulKernel::Shared, 1, 520, 21, 530, false, Activation::None, true, true, 11);
    check(MatmulKernel::Shared, 1, 1030, 9, 1025, false, Activation::None, false, true, 12);
    // The double-buffered kernels over several tiles, K of one partial step, of several steps
    // with a partial last one, and batched W.
    check(MatmulKernel::WideDb, 2, 300, 44, 260, false, Activation::None, true, true, 16);
    check(MatmulKernel::WideDb, 1, 129, 4, 257, true, Activation::GeluErf, false, true, 17);
    check(MatmulKernel::SharedDb, 1, 130, 37, 200, false, Activation::QuickGelu, true, false, 18);
    check(MatmulKernel::SharedDb, 2, 65, 9, 129, true, Activation::None, true, true, 19);
    // Split K: a ViT batch-1 shape (4 x 12 tiles, K = 768: 6 slices), K not a multiple of the
    // slice or of BK, batched W, f16 W.
    check(MatmulKernel::SplitK, 1, 197, 768, 130, false, Activation::GeluErf, true, true, 13);
    check(MatmulKernel::SplitK, 2, 70, 1001, 65, true, Activation::QuickGelu, true, true, 14);
    check_w(MatmulKernel::SplitK, 1, 33, 515, 20, false, true, Activation::None, true, false, 15);
}

/// `Tiled` picks a kernel that runs for any K; explicit variants refuse what they cannot do.
#[test]
fn matmul_tiled_resolves_per_adapter_and_k() {
    let ctx = gpu();
    for k in [1, 3, 4, 6, 64] {
        let kern = MatmulKernel::Tiled.resolve(ctx, k, 1);
        assert!(runs(ctx, kern, k) && kern != MatmulKernel::Tiled, "K = {k} -> {kern:?}");
    }
    let ta = Tensor::from_slice(ctx, &[3, 6], &values(18, 1)).unwrap();
    let tw = Tensor::from_slice(ctx, &[5, 6], &values(30, 2)).unwrap();
    for kernel in [MatmulKernel::Blocked, MatmulKernel::Subgroup, MatmulKernel::SubgroupTex, MatmulKernel::Wide] {
        let o = MatmulOptions { kernel, ..Default::default() };
        assert!(ops::matmul(ctx, &ta, &tw, None, None, o).is_err(), "{kernel:?} accepted K = 6");
    }
}

/// The texture-operand kernel computes exactly what the buffer kernel does (the same code over
/// other loads), f32 and f16 weights and activations alike; each operand's texture copy is made
/// once per tensor (a weight's survives its next use); what does not fit a texture falls back to
/// buffers under `Auto` and is an error when asked for by name.
#[test]
fn subgroup_texture_operands_match_buffers_and_are_made_once() {
    let ctx = gpu();
    if !ctx.supports(MatmulKernel::SubgroupTex) {
        return assert!(!ctx.supports(MatmulKernel::Subgroup), "subgroups but no subgroup-tex");
    }
    // K = 44: rows of 11 texels, made by a dispatch; K = 512: rows of 2 KiB in f32 and 1 KiB in
    // f16, copied (multiples of 256 bytes) into textures that Context::texture_width pads by a
    // cache line (the kernel must read past nothing).
    for (b, m, k, n) in [(2, 29, 44, 131), (1, 21, 512, 70)] {
        let (_, ta) = up(&[b, m, k], 31);
        let (_, tw) = up(&[n, k], 32);
        let (_, tb) = up(&[n], 33);
        let (_, tr) = up(&[b, m, n], 34);
        let run = |kernel, a: &Tensor, w: &Tensor| {
            let o = MatmulOptions { act: Activation::GeluErf, kernel, ..Default::default() };
            ops::matmul(ctx, a, w, Some(&tb), Some(&tr), o).unwrap().to_vec::<f32>(ctx).unwrap()
        };
        assert_eq!(run(MatmulKernel::SubgroupTex, &ta, &tw), run(MatmulKernel::Subgroup, &ta, &tw));
        let w16: Vec<half::f16> = values(n * k, 32).into_iter().map(half::f16::from_f32).collect();
        let tw16 = Tensor::from_slice(ctx, &[n, k], &w16).unwrap();
        assert_eq!(run(MatmulKernel::SubgroupTex, &ta, &tw16), run(MatmulKernel::Subgroup, &ta, &tw16));
        if ctx.has_feature(vitfuse::runtime::wgpu::Features::SHADER_F16) {
            let a16: Vec<half::f16> = values(b * m * k, 35).into_iter().map(half::f16::from_f32).collect();
            let ta16 = Tensor::from_slice(ctx, &[b, m, k], &a16).unwrap();
            let run16 = |kernel| {
                let o = MatmulOptions { kernel, out: Some(DType::F16), ..Default::default() };
                ops::matmul(ctx, &ta16, &tw16, Some(&tb), None, o).unwrap().to_vec::<half::f16>(ctx).unwrap()
            };
            assert_eq!(run16(MatmulKernel::SubgroupTex), run16(MatmulKernel::Subgroup));
        }
    }
    // The padding: one 64-byte line where a row of 1 KiB or more takes an even number of lines.
    use vitfuse::runtime::wgpu::TextureFormat::{Rgba16Float, Rgba32Float};
    for (c4, format, width) in [(11, Rgba32Float, 11), (32, Rgba32Float, 32), (64, Rgba32Float, 68), (100, Rgba32Float, 100), (768, Rgba32Float, 772), (128, Rgba16Float, 136), (64, Rgba16Float, 64)] {
        assert_eq!(ctx.texture_width(c4, format), width, "{c4} texels of {format:?}");
    }
    let (b, m, k, n) = (2, 29, 44, 131);
    // A new A with a W already copied: one copy (A's) and the matmul (counted on a context of
    // the test's own, which the other tests' dispatches cannot reach).
    let own = common::own_context();
    let on_own = |shape: &[usize], seed| Tensor::from_slice(&own, shape, &values(shape.iter().product(), seed)).unwrap();
    let (wo, a1, a2) = (on_own(&[n, k], 32), on_own(&[b, m, k], 31), on_own(&[b, m, k], 36));
    let o = MatmulOptions { kernel: MatmulKernel::SubgroupTex, ..Default::default() };
    ops::matmul(&own, &a1, &wo, None, None, o).unwrap();
    let before = own.record_stats().dispatches;
    ops::matmul(&own, &a2, &wo, None, None, o).unwrap();
    assert_eq!(own.record_stats().dispatches - before, 2);
    // Rows of 256 bytes or a multiple (K = 64 here) are copied without a dispatch.
    let (wo, a1, a2) = (on_own(&[n, 64], 32), on_own(&[b, m, 64], 31), on_own(&[b, m, 64], 36));
    ops::matmul(&own, &a1, &wo, None, None, o).unwrap();
    let before = own.record_stats();
    let got = ops::matmul(&own, &a2, &wo, None, None, o).unwrap().to_vec::<f32>(&own).unwrap();
    let after = own.record_stats();
    assert_eq!((after.dispatches - before.dispatches, after.texture_copies - before.texture_copies), (1, 1));
    let o_buf = MatmulOptions { kernel: MatmulKernel::Subgroup, ..Default::default() };
    assert_eq!(got, ops::matmul(&own, &a2, &wo, None, None, o_buf).unwrap().to_vec::<f32>(&own).unwrap());
    // More rows than a texture holds: Auto runs the buffer kernel; by name it is an error.
    let rows = ctx.limits().max_texture_dimension_2d as usize + 1;
    let (av, tbig) = up(&[rows, 4], 37);
    let (wv, tw4) = up(&[3, 4], 38);
    let want = r::matmul(&r::Matmul::linear(1, rows, 4, 3), &av, &wv, None, None);
    let got = ops::matmul(ctx, &tbig, &tw4, None, None, MatmulOptions::default()).unwrap();
    assert_close(&got.to_vec::<f32>(ctx).unwrap(), &want, Tolerance::REDUCTION);
    let o = MatmulOptions { kernel: MatmulKernel::SubgroupTex, ..Default::default() };
    let e = ops::matmul(ctx, &tbig, &tw4, None, None, o).unwrap_err().to_string();
    assert!(e.contains("subgroup-tex") && e.contains("rows"), "{e}");
}
