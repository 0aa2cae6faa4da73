//! f16 activations (`io_*.wgsl` pipelines) against the CPU twins (a module of `tests/f16.rs`, so
//! that CI links one test binary fewer): every matmul kernel with each
//! of the four activation-type pairs, LayerNorm, softmax, head split/merge and every attention
//! kernel, and the patch embedding with f16 weights (each path), over odd shapes. The twin is the f64 reference over the f16-rounded inputs; an f16
//! output is that result rounded once more, so its tolerance is the f32 one plus half an f16
//! ulp (2⁻¹¹ relative). Needs `SHADER_F16` (lavapipe has it): without it these fail.

use crate::common::{gpu, values};
use half::f16;
use proptest::prelude::*;
use vitfuse::attention::{self as at, AttentionOptions, FusedConfig, Heads, TiledRows};
use vitfuse::patch::{patch_embed_composed, patch_embed_with, PatchOptions, RowSharing};
use vitfuse::reference::attention::{self as ra, Attention};
use vitfuse::reference::twin_activation as ref_act;
use vitfuse::reference::{self as r, assert_close, Tolerance};
use vitfuse::runtime::ops::{self, Activation, MaskLayout, MatmulKernel, MatmulOptions};
use vitfuse::runtime::wgpu::Features;
use vitfuse::runtime::{Context, DType, Tensor};

/// The f32 tolerance widened by an f16 rounding of the output when `out` is f16.
fn tol(base: Tolerance, out: DType) -> Tolerance {
    if out == DType::F16 {
        Tolerance::new(base.abs, base.rel + 4.9e-4)
    } else {
        base
    }
}

/// Host values rounded to f16 (what an f16 tensor holds), and the tensor in `dt`.
fn up(ctx: &Context, shape: &[usize], seed: u64, dt: DType) -> (Vec<f32>, Tensor) {
    let v = values(shape.iter().product(), seed);
    match dt {
        DType::F16 => {
            let h: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
            (
                h.iter().map(|x| x.to_f32()).collect(),
                Tensor::from_slice(ctx, shape, &h).unwrap(),
            )
        }
        _ => (v.clone(), Tensor::from_slice(ctx, shape, &v).unwrap()),
    }
}

/// A tensor's values as f32, whatever its float dtype.
fn host(ctx: &Context, t: &Tensor) -> Vec<f32> {
    match t.dtype() {
        DType::F16 => t
            .to_vec::<f16>(ctx)
            .unwrap()
            .iter()
            .map(|x| x.to_f32())
            .collect(),
        _ => t.to_vec::<f32>(ctx).unwrap(),
    }
}

fn dt(h: bool) -> DType {
    if h {
        DType::F16
    } else {
        DType::F32
    }
}

#[allow(clippy::too_many_arguments)]
fn check_matmul(
    kernel: MatmulKernel,
    b: usize,
    m: usize,
    k: usize,
    n: usize,
    a_dt: DType,
    out_dt: DType,
    w16: bool,
    act: Activation,
    bias: bool,
    res: bool,
    seed: u64,
) {
    let ctx = gpu();
    let (a, ta) = up(ctx, &[b, m, k], seed, a_dt);
    let (w, tw) = up(ctx, &[n, k], seed + 1, dt(w16));
    let (bv, tb) = up(ctx, &[n], seed + 2, DType::F32);
    let (rv, tr) = up(ctx, &[b, m, n], seed + 3, out_dt);
    let p = r::Matmul {
        act: ref_act(act),
        alpha: -0.75,
        ..r::Matmul::linear(b, m, k, n)
    };
    let want = r::matmul(&p, &a, &w, bias.then_some(&bv[..]), res.then_some(&rv[..]));
    let o = MatmulOptions {
        act,
        alpha: -0.75,
        kernel,
        out: Some(out_dt),
        ..Default::default()
    };
    let got = ops::matmul(ctx, &ta, &tw, bias.then_some(&tb), res.then_some(&tr), o).unwrap();
    assert_eq!(
        (got.shape(), got.dtype()),
        (&[b, m, n][..], out_dt),
        "{kernel:?}"
    );
    assert_close(&host(ctx, &got), &want, tol(Tolerance::REDUCTION, out_dt));
}

const KERNELS: [MatmulKernel; 11] = [
    MatmulKernel::Naive,
    MatmulKernel::Subgroup,
    MatmulKernel::SubgroupTex,
    MatmulKernel::Blocked,
    MatmulKernel::Shared,
    MatmulKernel::Wide,
    MatmulKernel::Scalar,
    MatmulKernel::SplitK,
    MatmulKernel::SharedDb,
    MatmulKernel::WideDb,
    MatmulKernel::Coop,
];

fn runs(ctx: &Context, kernel: MatmulKernel, k: usize, w16: bool) -> bool {
    ctx.supports(kernel)
        && (k.is_multiple_of(4) || !kernel.needs_k4())
        && (w16 || kernel != MatmulKernel::Coop)
}

fn dim(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![Just(1usize), Just(3), Just(7), Just(31), 1..=max].prop_map(move |d| d.min(max))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, max_shrink_iters: 20, ..ProptestConfig::default() })]

    /// Every kernel that runs here with f16 weights (as the models run them), one
    /// activation-type pair per case.
    #[test]
    fn matmul_with_f16_activations_matches_reference(b in 1usize..3, m in dim(40), k in dim(70), n in dim(100), k4: bool,
                                                     a16: bool, out16: bool, bias: bool, res: bool,
                                                     seed in 0u64..1000) {
        let k = if k4 { 4 * k.div_ceil(4) } else { k };
        for kern in KERNELS {
            if runs(gpu(), kern, k, true) {
                check_matmul(kern, b, m, k, n, dt(a16), dt(out16), true, Activation::GeluErf, bias, res, seed);
            }
        }
    }

    #[test]
    fn layernorm_and_softmax_with_f16_match_reference(rows in 1usize..9, cols in dim(300), x16: bool, out16: bool,
                                                      seed in 0u64..1000) {
        let ctx = gpu();
        let (x, tx) = up(ctx, &[rows, cols], seed, dt(x16));
        let (g, tg) = up(ctx, &[cols], seed + 1, DType::F32);
        let (bb, tb) = up(ctx, &[cols], seed + 2, DType::F32);
        let got = ops::layernorm_to(ctx, &tx, &tg, &tb, 1e-5, dt(out16)).unwrap();
        prop_assert_eq!(got.dtype(), dt(out16));
        assert_close(&host(ctx, &got), &r::layernorm(&x, &g, &bb, rows, cols, 1e-5), tol(Tolerance::KERNEL, dt(out16)));
        // Softmax keeps its input's type; the mask is f32.
        let (mv, tm) = up(ctx, &[1, cols], seed + 3, DType::F32);
        let layout = MaskLayout { rows_per_group: rows, mask_rows: 1 };
        let got = ops::softmax(ctx, &tx, Some((&tm, layout)), 0.7).unwrap();
        prop_assert_eq!(got.dtype(), dt(x16));
        let rl = r::MaskLayout { rows_per_group: rows, mask_rows: 1 };
        assert_close(&host(ctx, &got), &r::softmax(&x, Some((&mv, rl)), rows, cols, 0.7), tol(Tolerance::KERNEL, dt(x16)));
    }
}

/// The patch embedding with f16 weights on every path (fused with subgroups, fused through
/// workgroup memory, composed): the f64 reference over the rounded weights. `c` channels of
/// `p` x `p` patches at stride `s`: K = c·p² is odd (scalar weight reads, odd f16 offsets) or a
/// multiple of 4 (vec4 reads of u32 pairs), D past a tile.
fn check_patch_f16(c: usize, p: usize, s: usize, d: usize, seed: u64) {
    let ctx = gpu();
    let (b, np, h, w) = (2, 1, p + 2 * s + 1, p + 3 * s);
    let gp = ((h - p) / s + 1) * ((w - p) / s + 1);
    let (px, tpx) = up(ctx, &[b, c, h, w], seed, DType::F32);
    let (wt, twt) = up(ctx, &[d, c, p, p], seed + 1, DType::F16);
    let (bv, tb) = up(ctx, &[d], seed + 2, DType::F32);
    let (pre, tpre) = up(ctx, &[np, d], seed + 3, DType::F32);
    let (pv, tpos) = up(ctx, &[np + gp, d], seed + 4, DType::F32);
    let want = r::patch::patch_embed(&px, &wt, Some(&bv), Some(&pre), Some(&pv), b, c, h, w, d, p, p, s, s, np);
    let opts = PatchOptions { patch: [p, p], stride: [s, s] };
    let mut paths = vec![RowSharing::Workgroup];
    if ctx.subgroups_at_least(8) {
        paths.push(RowSharing::Subgroup);
    }
    for sharing in paths {
        let got = patch_embed_with(ctx, &tpx, &twt, Some(&tb), Some(&tpre), Some(&tpos), opts, sharing).unwrap();
        assert_close(&host(ctx, &got), &want, Tolerance::REDUCTION);
    }
    let got = patch_embed_composed(ctx, &tpx, &twt, Some(&tb), Some(&tpre), Some(&tpos), opts).unwrap();
    assert_close(&host(ctx, &got), &want, Tolerance::REDUCTION);
}

#[test]
fn patch_embedding_with_f16_weights_matches_reference() {
    // K = 3·16² (vec4 pixels and weights), 3·3² = 27 (scalar, odd), 1·4² with overlap (AST-like).
    for (c, p, s, d, seed) in [(3, 16, 16, 70, 1), (3, 3, 2, 37, 2), (1, 4, 2, 9, 3)] {
        check_patch_f16(c, p, s, d, seed);
    }
}

/// Every kernel and activation-type pair past the tile edges, odd and vec4 K, residual and
/// bias; f32 weights (an independent prelude) with f16 activations in two kernels.
#[test]
fn every_matmul_kernel_and_io_pair_fixed_case() {
    for kern in KERNELS {
        for (a16, out16) in [(true, true), (true, false), (false, true)] {
            for k in [44, 37] {
                if runs(gpu(), kern, k, true) {
                    check_matmul(
                        kern,
                        2,
                        29,
                        k,
                        131,
                        dt(a16),
                        dt(out16),
                        true,
                        Activation::GeluTanh,
                        true,
                        true,
                        8,
                    );
                }
            }
        }
    }
    for kern in [MatmulKernel::Naive, MatmulKernel::Tiled] {
        check_matmul(
            kern,
            2,
            29,
            44,
            131,
            DType::F16,
            DType::F16,
            false,
            Activation::GeluTanh,
            true,
            true,
            9,
        );
    }
    // Split K over 6 slices at a ViT batch-1 shape, f16 in and out.
    check_matmul(
        MatmulKernel::SplitK,
        1,
        197,
        768,
        130,
        DType::F16,
        DType::F16,
        true,
        Activation::GeluErf,
        true,
        true,
        13,
    );
}

/// Outputs beyond f16's range saturate at ±65504 instead of becoming infinities.
#[test]
fn f16_outputs_saturate() {
    let ctx = gpu();
    let a = Tensor::from_slice(
        ctx,
        &[2, 4],
        &[300.0f32, 300.0, 300.0, 300.0, -1.0, 0.5, 0.25, 2.0],
    )
    .unwrap();
    let w = Tensor::from_slice(ctx, &[1, 4], &[100.0f32; 4]).unwrap();
    let o = MatmulOptions {
        out: Some(DType::F16),
        ..Default::default()
    };
    let got = host(ctx, &ops::matmul(ctx, &a, &w, None, None, o).unwrap());
    assert_eq!(got, vec![65504.0, 175.0]);
    let neg = Tensor::from_slice(ctx, &[1, 4], &[-100.0f32; 4]).unwrap();
    assert_eq!(
        host(ctx, &ops::matmul(ctx, &a, &neg, None, None, o).unwrap()),
        vec![-65504.0, -175.0]
    );
}

/// SwiGLU on f16 keeps f16, gated in f32.
#[test]
fn swiglu_with_f16_matches_reference() {
    let ctx = gpu();
    let (x, tx) = up(ctx, &[3, 5, 2 * 37], 12, DType::F16);
    let got = ops::swiglu(ctx, &tx).unwrap();
    assert_eq!(got.dtype(), DType::F16);
    assert_close(&host(ctx, &got), &r::swiglu(&x, 15, 37), tol(Tolerance::KERNEL, DType::F16));
}

/// Head split and merge copy f16 exactly.
#[test]
fn split_and_merge_heads_copy_f16_exactly() {
    let ctx = gpu();
    let (b, t, nh, hs) = (2, 5, 3, 7);
    let (x, tx) = up(ctx, &[b, t, 3 * nh * hs], 4, DType::F16);
    let s = ops::split_heads(ctx, &tx, nh * hs, nh, hs).unwrap();
    assert_eq!(s.dtype(), DType::F16);
    let want = r::split_heads(&x, b, t, 3 * nh * hs, nh * hs, nh, hs);
    assert_close(&host(ctx, &s), &want, Tolerance::EXACT);
    let m = ops::merge_heads(ctx, &s).unwrap();
    assert_close(
        &host(ctx, &m),
        &r::merge_heads(&want, b, nh, t, hs),
        Tolerance::EXACT,
    );
}

/// Every attention kernel that runs here, on a fused f16 QKV with a key mask, causal or not,
/// against the reference over the rounded QKV.
fn check_attention(b: usize, t: usize, nh: usize, hs: usize, causal: bool, seed: u64) {
    let ctx = gpu();
    let c = nh * hs;
    let (qkv, tqkv) = up(ctx, &[b, t, 3 * c], seed, DType::F16);
    let mut mask = vec![0.0f32; b * t];
    mask[b * t - 1] = f32::MIN; // the last key of the last batch is padding
    let tm = Tensor::from_slice(ctx, &[b, t], &mask).unwrap();
    let p = Attention {
        causal,
        ..Attention::self_attention(b, t, nh, hs)
    };
    let want = ra::attention(&p, &qkv, &qkv, &qkv, Some(&mask));
    let opts = AttentionOptions {
        causal,
        ..AttentionOptions::new(nh, hs)
    };
    let h = |o| Heads::new(&tqkv, o);
    let tolerance = tol(Tolerance::KERNEL, DType::F16);
    let mut ran = vec!["fused", "composed", "flash"];
    let check = |what: &str, got: Tensor| {
        assert_eq!(got.dtype(), DType::F16, "{what}");
        let rep = r::check_close(&host(ctx, &got), &want, tolerance);
        assert!(
            rep.passed(),
            "{what} (b {b} t {t} nh {nh} hs {hs} causal {causal}): {rep:?}"
        );
    };
    check(
        "fused",
        at::self_attention(ctx, &tqkv, Some(&tm), opts).unwrap(),
    );
    check(
        "composed",
        at::attention_composed(ctx, h(0), h(c), h(2 * c), Some(&tm), opts).unwrap(),
    );
    check(
        "flash",
        at::attention_with(
            ctx,
            h(0),
            h(c),
            h(2 * c),
            Some(&tm),
            opts,
            FusedConfig::for_context(ctx, hs),
        )
        .unwrap(),
    );
    if ctx.supports(vitfuse::runtime::AttentionKernel::Subgroup) {
        check(
            "subgroup",
            at::attention_subgroup(ctx, h(0), h(c), h(2 * c), Some(&tm), opts).unwrap(),
        );
        ran.push("subgroup");
        if hs.is_multiple_of(4) {
            check(
                "subgroup-tex",
                at::attention_subgroup_tex(ctx, h(0), h(c), h(2 * c), Some(&tm), opts).unwrap(),
            );
            ran.push("subgroup-tex");
        }
    }
    for rows in [TiledRows::Shared, TiledRows::Subgroup] {
        if hs <= at::TILED_MAX_HEAD && ctx.supports(rows.kernel()) {
            check(
                "tiled",
                at::attention_tiled(ctx, h(0), h(c), h(2 * c), Some(&tm), opts, rows).unwrap(),
            );
            ran.push("tiled");
        }
    }
    assert!(ran.len() >= 3);
}

#[test]
fn attention_with_f16_activations_matches_reference() {
    assert!(
        gpu().has_feature(Features::SHADER_F16),
        "the test adapter has no SHADER_F16: f16 activations cannot run"
    );
    for (b, t, nh, hs, causal, seed) in [
        (1, 1, 1, 4, false, 1),
        (2, 13, 3, 16, true, 2),
        (1, 37, 2, 64, false, 3),
        (2, 9, 1, 33, true, 4),
    ] {
        check_attention(b, t, nh, hs, causal, seed);
    }
}

/// Mixed dtypes are typed errors.
#[test]
fn mixed_activation_dtypes_are_typed_errors() {
    let ctx = gpu();
    let (_, a16) = up(ctx, &[2, 4], 1, DType::F16);
    let (_, w) = up(ctx, &[3, 4], 2, DType::F32);
    let (_, res32) = up(ctx, &[2, 3], 3, DType::F32);
    let o = MatmulOptions {
        out: Some(DType::F16),
        ..Default::default()
    };
    let e = ops::matmul(ctx, &a16, &w, None, Some(&res32), o)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("matmul") && e.contains("F16") && e.contains("F32"),
        "{e}"
    );
    let (_, q32) = up(ctx, &[1, 3, 8], 4, DType::F32);
    let (_, kv16) = up(ctx, &[1, 3, 8], 5, DType::F16);
    let e = at::attention(
        ctx,
        Heads::new(&q32, 0),
        Heads::new(&kv16, 0),
        Heads::new(&kv16, 4),
        None,
        AttentionOptions::new(1, 4),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("attention") && e.contains("F16"), "{e}");
    let u = Tensor::from_slice(ctx, &[2, 4], &[1u32; 8]).unwrap();
    let (_, g) = up(ctx, &[4], 6, DType::F32);
    let e = ops::layernorm(ctx, &u, &g, &g, 1e-5)
        .unwrap_err()
        .to_string();
    assert!(e.contains("layernorm") && e.contains("U32"), "{e}");
}
