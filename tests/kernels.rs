//! Property tests of every core kernel against the CPU reference, over random shapes that
//! include 1, primes and non-multiples of the tiles, plus one fixed case per kernel.

mod common;
/// The binary's self-check table, run here on the shared context.
#[path = "../src/bin/vitfuse/selfcheck.rs"]
#[allow(dead_code)]
mod selfcheck;

use common::{gpu, values};
use proptest::prelude::*;
use vitfuse::reference::{self as r, assert_close, Tolerance};
use vitfuse::runtime::ops::{self, Activation, MaskLayout, MatmulKernel, MatmulOptions, WeightLayout};
use vitfuse::runtime::Tensor;
use vitfuse::reference::twin_activation as ref_act;

fn up(shape: &[usize], seed: u64) -> (Vec<f32>, Tensor) {
    let v = values(shape.iter().product(), seed);
    let t = Tensor::from_slice(gpu(), shape, &v).unwrap();
    (v, t)
}

fn dim(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![Just(1usize), Just(2), Just(3), Just(5), Just(7), Just(13), Just(31), Just(64), Just(97), 1..=max]
        .prop_map(move |d| d.min(max))
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

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, max_shrink_iters: 20, ..ProptestConfig::default() }
}

#[allow(clippy::too_many_arguments)]
fn check_matmul(kernel: MatmulKernel, b: usize, m: usize, k: usize, n: usize, a_: Activation, bias: bool, res: bool, seed: u64) {
    let ctx = gpu();
    let (a, ta) = up(&[b, m, k], seed);
    let (w, tw) = up(&[n, k], seed + 1);
    let (bv, tb) = up(&[n], seed + 2);
    let (rv, tr) = up(&[b, m, n], seed + 3);
    let p = r::Matmul { act: ref_act(a_), alpha: 0.75, ..r::Matmul::linear(b, m, k, n) };
    let want = r::matmul(&p, &a, &w, bias.then_some(&bv[..]), res.then_some(&rv[..]));
    let o = MatmulOptions { act: a_, alpha: 0.75, kernel, ..Default::default() };
    let got = ops::matmul(ctx, &ta, &tw, bias.then_some(&tb), res.then_some(&tr), o).unwrap();
    assert_eq!(got.shape(), &[b, m, n]);
    assert_close(&got.to_vec::<f32>(ctx).unwrap(), &want, Tolerance::REDUCTION);
}

proptest! {
    #![proptest_config(cfg(24))]

    #[test]
    fn matmul_tiled_matches_reference(b in 1usize..3, m in dim(70), k in dim(140), n in dim(150),
                                      a_ in act(), bias: bool, res: bool, seed in 0u64..1000) {
        check_matmul(MatmulKernel::Tiled, b, m, k, n, a_, bias, res, seed);
    }

    #[test]
    fn matmul_naive_matches_reference(b in 1usize..3, m in dim(40), k in dim(80), n in dim(60),
                                      a_ in act(), bias: bool, res: bool, seed in 0u64..1000) {
        check_matmul(MatmulKernel::Naive, b, m, k, n, a_, bias, res, seed);
    }

    #[test]
    fn matmul_batched_kn_matches_reference(b in 1usize..4, m in dim(40), k in dim(50), n in dim(40),
                                           kn: bool, seed in 0u64..1000) {
        let ctx = gpu();
        let (a, ta) = up(&[b, m, k], seed);
        let wshape = if kn { [b, k, n] } else { [b, n, k] };
        let (w, tw) = up(&wshape, seed + 1);
        let p = r::Matmul { w_batched: true, w_kn: kn, alpha: 0.5, ..r::Matmul::linear(b, m, k, n) };
        let want = r::matmul(&p, &a, &w, None, None);
        let layout = if kn { WeightLayout::KN } else { WeightLayout::NK };
        let got = ops::matmul(ctx, &ta, &tw, None, None, MatmulOptions { alpha: 0.5, layout, ..Default::default() }).unwrap();
        assert_close(&got.to_vec::<f32>(ctx).unwrap(), &want, Tolerance::REDUCTION);
    }

    #[test]
    fn layernorm_matches_reference(rows in dim(40), cols in dim(300), eps in prop_oneof![Just(1e-5f32), Just(1e-6), Just(1e-12)], seed in 0u64..1000) {
        let ctx = gpu();
        let (x, tx) = up(&[rows, cols], seed);
        let (g, tg) = up(&[cols], seed + 1);
        let (b, tb) = up(&[cols], seed + 2);
        let got = ops::layernorm(ctx, &tx, &tg, &tb, eps).unwrap().to_vec::<f32>(ctx).unwrap();
        // A row of one element normalises to exactly beta; constant rows are fine too.
        assert_close(&got, &r::layernorm(&x, &g, &b, rows, cols, eps), Tolerance::new(2e-4, 2e-4));
    }

    #[test]
    fn softmax_matches_reference(b in 1usize..3, nh in 1usize..4, tq in dim(20), tk in dim(200),
                                 full_mask: bool, scale in 0.05f32..2.0, seed in 0u64..1000) {
        let ctx = gpu();
        let rows = b * nh * tq;
        let x: Vec<f32> = values(rows * tk, seed).iter().map(|v| v * 8.0).collect();
        let tx = Tensor::from_slice(ctx, &[b, nh, tq, tk], &x).unwrap();
        let mrows = if full_mask { tq } else { 1 };
        // Mask out a seeded subset, sometimes whole rows.
        let mask: Vec<f32> = values(b * mrows * tk, seed + 7).iter().map(|v| if *v < -0.4 { f32::NEG_INFINITY } else { *v }).collect();
        let tm = Tensor::from_slice(ctx, &[b, mrows, tk], &mask).unwrap();
        let l = MaskLayout { rows_per_group: nh * tq, mask_rows: mrows };
        let rl = r::MaskLayout { rows_per_group: nh * tq, mask_rows: mrows };
        let got = ops::softmax(ctx, &tx, Some((&tm, l)), scale).unwrap().to_vec::<f32>(ctx).unwrap();
        assert_close(&got, &r::softmax(&x, Some((&mask, rl)), rows, tk, scale), Tolerance::KERNEL);
        let got = ops::softmax(ctx, &tx, None, scale).unwrap().to_vec::<f32>(ctx).unwrap();
        assert_close(&got, &r::softmax(&x, None, rows, tk, scale), Tolerance::KERNEL);
    }

    #[test]
    fn elementwise_matches_reference(n in dim(3000), a_ in act(), s in -3f32..3.0, seed in 0u64..1000) {
        let ctx = gpu();
        let x: Vec<f32> = values(n, seed).iter().map(|v| v * 8.0).collect();
        let tx = Tensor::from_slice(ctx, &[n], &x).unwrap();
        let (y, ty) = up(&[n], seed + 1);
        assert_close(&ops::add(ctx, &tx, &ty).unwrap().to_vec::<f32>(ctx).unwrap(), &r::add(&x, &y), Tolerance::KERNEL);
        assert_close(&ops::scale(ctx, &tx, s).unwrap().to_vec::<f32>(ctx).unwrap(), &r::scale(&x, s), Tolerance::KERNEL);
        assert_close(&ops::activation(ctx, &tx, a_).unwrap().to_vec::<f32>(ctx).unwrap(), &r::activation(&x, ref_act(a_)), Tolerance::KERNEL);
        let prod: Vec<f32> = x.iter().zip(&y).map(|(a, b)| a * b).collect();
        assert_close(&ops::mul(ctx, &tx, &ty).unwrap().to_vec::<f32>(ctx).unwrap(), &prod, Tolerance::KERNEL);
    }

    #[test]
    fn heads_match_reference(b in 1usize..3, t in dim(20), nh in 1usize..5, hs in dim(17), which in 0usize..3, seed in 0u64..1000) {
        let ctx = gpu();
        let c = 3 * nh * hs;
        let (x, tx) = up(&[b, t, c], seed);
        let split = ops::split_heads(ctx, &tx, which * nh * hs, nh, hs).unwrap();
        assert_eq!(split.shape(), &[b, nh, t, hs]);
        let want = r::split_heads(&x, b, t, c, which * nh * hs, nh, hs);
        assert_close(&split.to_vec::<f32>(ctx).unwrap(), &want, Tolerance::EXACT);
        let merged = ops::merge_heads(ctx, &split).unwrap();
        assert_close(&merged.to_vec::<f32>(ctx).unwrap(), &r::merge_heads(&want, b, nh, t, hs), Tolerance::EXACT);
    }

    #[test]
    fn embedding_matches_reference(vocab in dim(60), d in dim(40), n in dim(30), seed in 0u64..1000) {
        let ctx = gpu();
        let (table, tt) = up(&[vocab, d], seed);
        // Includes out-of-range ids, which give zero rows.
        let ids: Vec<u32> = values(n, seed + 1).iter().map(|v| ((v + 1.0) * 0.55 * vocab as f32) as u32).collect();
        let tids = Tensor::from_slice(ctx, &[n], &ids).unwrap();
        let got = ops::embedding(ctx, &tt, &tids).unwrap().to_vec::<f32>(ctx).unwrap();
        assert_close(&got, &r::embedding(&table, &ids, vocab, d), Tolerance::EXACT);
        // An f16 table (odd V·D included: the last u32 holds one value) is gathered widened, exactly.
        let h: Vec<half::f16> = table.iter().map(|&x| half::f16::from_f32(x)).collect();
        let th = Tensor::from_slice(ctx, &[vocab, d], &h).unwrap();
        let wide: Vec<f32> = h.iter().map(|x| x.to_f32()).collect();
        let got = ops::embedding(ctx, &th, &tids).unwrap().to_vec::<f32>(ctx).unwrap();
        assert_close(&got, &r::embedding(&wide, &ids, vocab, d), Tolerance::EXACT);
    }

    #[test]
    fn concat_matches_reference(b in 1usize..3, t1 in dim(9), t2 in dim(30), d in dim(40), seed in 0u64..1000) {
        let ctx = gpu();
        let (a, ta) = up(&[b, t1, d], seed);
        let (c, tc) = up(&[b, t2, d], seed + 1);
        let got = ops::concat_tokens(ctx, &ta, &tc).unwrap().to_vec::<f32>(ctx).unwrap();
        assert_close(&got, &r::concat_tokens(&a, &c, b, t1, t2, d), Tolerance::EXACT);
    }
}

proptest! {
    #![proptest_config(cfg(16))]

    #[test]
    fn take_tokens_matches_reference(b in 1usize..4, t in dim(20), d in dim(70), seed in 0u64..1000) {
        let ctx = gpu();
        let (x, tx) = up(&[b, t, d], seed);
        let idx: Vec<u32> = (0..b).map(|i| ((seed as usize + i * 7) % (t + 1)) as u32).collect();
        let ti = Tensor::from_slice(ctx, &[b], &idx).unwrap();
        let got = ops::take_tokens(ctx, &tx, &ti).unwrap().to_vec::<f32>(ctx).unwrap();
        assert_close(&got, &r::take_tokens(&x, &idx, b, t, d), Tolerance::EXACT);
        let fixed = (seed as usize) % t;
        let got = ops::take_token(ctx, &tx, fixed).unwrap().to_vec::<f32>(ctx).unwrap();
        assert_close(&got, &r::take_tokens(&x, &vec![fixed as u32; b], b, t, d), Tolerance::EXACT);
    }

    #[test]
    fn swiglu_matches_reference(b in 1usize..3, t in dim(20), h in dim(200), seed in 0u64..1000) {
        let ctx = gpu();
        // wide values: the exp of silu over- and underflows at the ends
        let x: Vec<f32> = values(b * t * 2 * h, seed).iter().map(|v| v * 100.0).collect();
        let tx = Tensor::from_slice(ctx, &[b, t, 2 * h], &x).unwrap();
        let got = ops::swiglu(ctx, &tx).unwrap();
        assert_eq!(got.shape(), &[b, t, h]);
        assert_close(&got.to_vec::<f32>(ctx).unwrap(), &r::swiglu(&x, b * t, h), Tolerance::KERNEL);
    }

    #[test]
    fn l2_normalize_matches_reference(rows in dim(20), cols in dim(300), seed in 0u64..1000) {
        let ctx = gpu();
        let (x, tx) = up(&[rows, cols], seed);
        let got = ops::l2_normalize(ctx, &tx).unwrap().to_vec::<f32>(ctx).unwrap();
        assert_close(&got, &r::l2_normalize(&x, rows, cols), Tolerance::KERNEL);
    }
}

#[test]
fn matmul_fixed_vit_shape() {
    // One real ViT-B MLP-like projection, (197, 768) · (96, 768)ᵀ, erf GELU, both kernels.
    check_matmul(MatmulKernel::Tiled, 1, 197, 768, 96, Activation::GeluErf, true, true, 42);
    check_matmul(MatmulKernel::Naive, 1, 197, 768, 96, Activation::GeluErf, true, true, 42);
}

#[test]
fn swiglu_checks_its_input() {
    let ctx = gpu();
    let odd = Tensor::from_slice(ctx, &[2, 3], &[0f32; 6]).unwrap();
    let e = ops::swiglu(ctx, &odd).unwrap_err().to_string();
    assert!(e.contains("swiglu") && e.contains("even"), "{e}");
    // silu(x1) · x2 by hand: silu(0) = 0, silu(2) = 2 / (1 + e^-2)
    let x = Tensor::from_slice(ctx, &[1, 4], &[0f32, 2.0, 5.0, 3.0]).unwrap();
    let got = ops::swiglu(ctx, &x).unwrap().to_vec::<f32>(ctx).unwrap();
    assert_close(&got, &[0.0, 3.0 * 2.0 / (1.0 + (-2f32).exp())], Tolerance::new(1e-6, 1e-6));
}

#[test]
fn selfcheck_table_passes() {
    let rows = selfcheck::run(gpu()).unwrap();
    assert!(rows.len() >= 18);
    for r in rows {
        assert!(r.passed, "{} {} max error {}", r.kernel, r.shape, r.max_abs_err);
    }
}

/// The peak kernels compute what their headers say: a few FMA rounds per lane reproduced on
/// the CPU (an odd invocation count leaves a partial workgroup), and the copy is exact.
#[test]
fn peak_kernels_match_their_cpu_twins() {
    use vitfuse::runtime::ops::peak::{self, Precision};
    let ctx = gpu();
    let n = 64 * 2 + 5;
    for iters in [0, 1, 5] {
        let got = peak::fma(ctx, Precision::F32, n, iters, 0.75, 0.125).unwrap().to_vec::<f32>(ctx).unwrap();
        assert_close(&got, &r::peak_fma(n, iters, 0.75, 0.125), Tolerance::new(1e-5, 1e-6));
        if ctx.has_feature(vitfuse::runtime::wgpu::Features::SHADER_F16) {
            let got = peak::fma(ctx, Precision::F16, n, iters, 0.75, 0.125).unwrap().to_vec::<f32>(ctx).unwrap();
            // Each f16 FMA rounds to 11 bits; 32 lanes of about 0.5 summed.
            assert_close(&got, &r::peak_fma(n, iters, 0.75, 0.125), Tolerance::new(2e-2, 2e-3));
        } else {
            let e = peak::fma(ctx, Precision::F16, n, iters, 0.75, 0.125).unwrap_err().to_string();
            assert!(e.contains("SHADER_F16"), "{e}");
        }
    }
    let x = values(4 * 301, 9);
    let tx = Tensor::from_slice(ctx, &[4 * 301], &x).unwrap();
    assert_eq!(peak::copy(ctx, &tx).unwrap().to_vec::<f32>(ctx).unwrap(), x);
    let odd = Tensor::from_slice(ctx, &[3], &[0f32; 3]).unwrap();
    assert!(peak::copy(ctx, &odd).is_err());
}
