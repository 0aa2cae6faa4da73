//! Fused attention and its composed fallback against the plain-loop CPU reference, over odd
//! shapes (head sizes 1..128 incl. odd ones, Tq/Tk of 1, primes and past the key tile), key masks
//! with fully masked rows, causal, cross-attention and the fused QKV path; plus fixed cases, the
//! error paths. Timing: `cargo bench` (fused vs composed at ViT-B shape).

mod common;

use common::{gpu, values};
use proptest::prelude::*;
use vitfuse::attention::{self as at, AttentionOptions, FusedConfig, Heads};
use vitfuse::reference::attention::{self as ra, Attention};
use vitfuse::reference::{assert_close, Tolerance};
use vitfuse::runtime::{Error, Tensor};

const TOL: Tolerance = Tolerance { abs: 2e-4, rel: 2e-4 };

fn up(shape: &[usize], seed: u64) -> (Vec<f32>, Tensor) {
    let v = values(shape.iter().product(), seed);
    let t = Tensor::from_slice(gpu(), shape, &v).unwrap();
    (v, t)
}

fn dim(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![Just(1usize), Just(2), Just(5), Just(7), Just(13), Just(31), Just(33), Just(64), Just(67), 1..=max]
        .prop_map(move |d| d.min(max))
}

fn head_size() -> impl Strategy<Value = usize> {
    prop_oneof![4 => Just(1usize), 4 => Just(7), 4 => Just(16), 4 => Just(17), 4 => Just(33), 3 => Just(64), 1 => Just(128), 2 => 1usize..=40]
}

/// Mask kinds: 0 none, 1 some keys −∞, 2 as 1 with batch 0 fully −∞, 3 finite (−1e9 and small).
/// Kind 3 keeps key 0 so no row is all −1e9: f32 cannot hold `score − 1e9` apart for different
/// scores, where the f64 reference can.
fn key_mask(b: usize, tk: usize, kind: u8, seed: u64) -> Option<(Vec<f32>, Tensor)> {
    if kind == 0 {
        return None;
    }
    let m: Vec<f32> = values(b * tk, seed)
        .iter()
        .enumerate()
        .map(|(n, v)| match kind {
            2 if n < tk => f32::NEG_INFINITY,
            3 if *v < -0.3 && n % tk != 0 => -1e9,
            3 => *v,
            _ if *v < -0.4 => f32::NEG_INFINITY,
            _ => 0.0,
        })
        .collect();
    let t = Tensor::from_slice(gpu(), &[b, tk], &m).unwrap();
    Some((m, t))
}

/// Separate Q, K, V tensors with extra columns around the heads; checks fused and composed.
#[allow(clippy::too_many_arguments)]
fn check_cross(b: usize, tq: usize, tk: usize, nh: usize, hs: usize, pads: [usize; 3], mask: u8, causal: bool, scale: f32, seed: u64) {
    let ctx = gpu();
    let c = nh * hs;
    let (qs, ks, vs) = (c + pads[0] + 1, c + pads[1] + 2, c + pads[2]);
    let (q, tq_) = up(&[b, tq, qs], seed);
    let (k, tk_) = up(&[b, tk, ks], seed + 1);
    let (v, tv_) = up(&[b, tk, vs], seed + 2);
    let m = key_mask(b, tk, mask, seed + 3);
    let p = Attention {
        b,
        tq,
        tk,
        nh,
        hs,
        q_stride: qs,
        q_off: pads[0],
        k_stride: ks,
        k_off: pads[1] + 1,
        v_stride: vs,
        v_off: pads[2],
        scale,
        causal,
    };
    let want = ra::attention(&p, &q, &k, &v, m.as_ref().map(|m| &m.0[..]));
    let opts = AttentionOptions { nh, hs, scale, causal };
    let (hq, hk, hv) = (Heads::new(&tq_, p.q_off), Heads::new(&tk_, p.k_off), Heads::new(&tv_, p.v_off));
    let tm = m.as_ref().map(|m| &m.1);
    let fused = at::attention(ctx, hq, hk, hv, tm, opts).unwrap();
    assert_eq!(fused.shape(), &[b, tq, c]);
    assert_close(&fused.to_vec::<f32>(ctx).unwrap(), &want, TOL);
    let composed = at::attention_composed(ctx, hq, hk, hv, tm, opts).unwrap();
    assert_eq!(composed.shape(), &[b, tq, c]);
    assert_close(&composed.to_vec::<f32>(ctx).unwrap(), &want, TOL);
    // The tiled GPU kernel with each row reduction this adapter can run.
    if hs <= at::TILED_MAX_HEAD {
        for rows in [at::TiledRows::Shared, at::TiledRows::Subgroup] {
            if ctx.supports(rows.kernel()) {
                let tiled = at::attention_tiled(ctx, hq, hk, hv, tm, opts, rows).unwrap();
                assert_close(&tiled.to_vec::<f32>(ctx).unwrap(), &want, TOL);
            }
        }
    }
}

/// A fused QKV tensor through `self_attention`, fused vs composed vs reference.
fn check_qkv(b: usize, t: usize, nh: usize, hs: usize, mask: u8, causal: bool, seed: u64) {
    let ctx = gpu();
    let c = nh * hs;
    let (qkv, tqkv) = up(&[b, t, 3 * c], seed);
    let m = key_mask(b, t, mask, seed + 3);
    let p = Attention { causal, ..Attention::self_attention(b, t, nh, hs) };
    let want = ra::attention(&p, &qkv, &qkv, &qkv, m.as_ref().map(|m| &m.0[..]));
    let opts = AttentionOptions { causal, ..AttentionOptions::new(nh, hs) };
    let tm = m.as_ref().map(|m| &m.1);
    let fused = at::self_attention(ctx, &tqkv, tm, opts).unwrap();
    assert_close(&fused.to_vec::<f32>(ctx).unwrap(), &want, TOL);
    let h = |o| Heads::new(&tqkv, o);
    let composed = at::attention_composed(ctx, h(0), h(c), h(2 * c), tm, opts).unwrap();
    assert_close(&composed.to_vec::<f32>(ctx).unwrap(), &want, TOL);
}

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, max_shrink_iters: 20, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(cfg(24))]

    #[test]
    fn cross_attention_matches_reference(b in 1usize..=3, tq in dim(70), tk in dim(70), nh in 1usize..=4, hs in head_size(),
                                         pads in prop::array::uniform3(0usize..6), mask in 0u8..4, scale in 0.05f32..1.5,
                                         seed in 0u64..1000) {
        check_cross(b, tq, tk, nh, hs, pads, mask, false, scale, seed);
    }

    #[test]
    fn causal_matches_reference(b in 1usize..=3, t in dim(70), nh in 1usize..=4, hs in head_size(),
                                pads in prop::array::uniform3(0usize..6), mask in 0u8..4, scale in 0.05f32..1.5,
                                seed in 0u64..1000) {
        check_cross(b, t, t, nh, hs, pads, mask, true, scale, seed);
    }

    #[test]
    fn fused_qkv_matches_reference(b in 1usize..=3, t in dim(70), nh in 1usize..=4, hs in head_size(),
                                   mask in 0u8..4, causal: bool, seed in 0u64..1000) {
        check_qkv(b, t, nh, hs, mask, causal, seed);
    }
}

#[test]
fn fixed_cases() {
    // ViT-B/16 self-attention (197 tokens, 12 heads of 64), CLIP-text-like causal with padding,
    // and many heads of size 1 (B·NH = 2000 workgroup rows).
    check_qkv(1, 197, 12, 64, 0, false, 42);
    check_qkv(2, 77, 8, 64, 2, true, 7);
    check_cross(2, 3, 5, 1000, 1, [0, 0, 0], 1, false, 0.7, 3);
    check_cross(1, 1, 1, 1, 128, [3, 0, 1], 0, true, 0.1, 5);
}

#[test]
fn every_tile_config_matches_reference() {
    // Both K/V paths on whichever adapter runs the tests, with tiles smaller than the shapes.
    let ctx = gpu();
    let (b, tq, tk, nh, hs) = (2, 41, 53, 3, 17);
    let c = nh * hs;
    let (q, tq_) = up(&[b, tq, c], 11);
    let (kv, tkv) = up(&[b, tk, 2 * c], 12);
    let m = key_mask(b, tk, 2, 13).unwrap();
    let p = Attention {
        q_stride: c,
        q_off: 0,
        k_stride: 2 * c,
        k_off: 0,
        v_stride: 2 * c,
        v_off: c,
        tq,
        tk,
        ..Attention::self_attention(b, tq, nh, hs)
    };
    let want = ra::attention(&p, &q, &kv, &kv, Some(&m.0));
    for smem in [false, true] {
        for (wg, bk) in [(8, 8), (16, 32), (64, 16)] {
            let cfg = FusedConfig { wg, bk, smem };
            let got = at::attention_with(ctx, Heads::new(&tq_, 0), Heads::new(&tkv, 0), Heads::new(&tkv, c), Some(&m.1), AttentionOptions::new(nh, hs), cfg)
                .unwrap();
            assert_close(&got.to_vec::<f32>(ctx).unwrap(), &want, TOL);
        }
    }
}

#[test]
fn invalid_inputs_are_typed_errors() {
    let ctx = gpu();
    let x = Tensor::zeros(ctx, &[2, 5, 24], vitfuse::runtime::DType::F32).unwrap();
    let y = Tensor::zeros(ctx, &[2, 6, 24], vitfuse::runtime::DType::F32).unwrap();
    let h = |t, o| Heads::new(t, o);
    let o = AttentionOptions::new(2, 4);
    let named = |e: Error, op: &str| {
        let s = e.to_string();
        assert!(s.starts_with(op), "{s}");
        assert!(matches!(e, Error::InvalidArgument { .. } | Error::ShapeMismatch { .. }), "{e:?}");
    };
    type Op = fn(&vitfuse::runtime::Context, Heads, Heads, Heads, Option<&Tensor>, AttentionOptions) -> vitfuse::runtime::Result<Tensor>;
    let ops: [(Op, &str); 2] = [(at::attention, "attention"), (at::attention_composed, "attention_composed")];
    for (f, op) in ops {
        // Offset past the columns.
        named(f(ctx, h(&x, 20), h(&x, 0), h(&x, 0), None, o).unwrap_err(), op);
        // Head size over the bound, zero heads.
        named(f(ctx, h(&x, 0), h(&x, 0), h(&x, 0), None, AttentionOptions::new(1, 129)).unwrap_err(), op);
        named(f(ctx, h(&x, 0), h(&x, 0), h(&x, 0), None, AttentionOptions::new(0, 4)).unwrap_err(), op);
        // K and V disagree on Tk; causal with Tq != Tk; mask of the wrong shape.
        named(f(ctx, h(&x, 0), h(&x, 0), h(&y, 0), None, o).unwrap_err(), op);
        named(f(ctx, h(&x, 0), h(&y, 0), h(&y, 0), None, AttentionOptions { causal: true, ..o }).unwrap_err(), op);
        let bad_mask = Tensor::zeros(ctx, &[2, 6], vitfuse::runtime::DType::F32).unwrap();
        named(f(ctx, h(&x, 0), h(&x, 0), h(&x, 0), Some(&bad_mask), o).unwrap_err(), op);
        // Rank 2 input.
        let flat = x.reshape(&[10, 24]).unwrap();
        named(f(ctx, Heads::new(&flat, 0), h(&x, 0), h(&x, 0), None, o).unwrap_err(), op);
    }
    named(at::self_attention(ctx, &x, None, AttentionOptions::new(3, 4)).unwrap_err(), "self_attention");
}

#[test]
fn subgroup_kernel_matches_reference() {
    // The software subgroup kernel directly (where subgroups of 8 exist): ViT-B head size past
    // one 32-query block and a partial key block, the largest head size causal, odd sizes masked.
    let ctx = gpu();
    if !ctx.supports(at::AttentionKernel::Subgroup) {
        return;
    }
    for (b, t, nh, hs, mask, causal) in [(1, 197, 2, 64, 0u8, false), (2, 45, 2, 128, 1, true), (2, 9, 3, 3, 2, false), (1, 70, 1, 33, 3, true)] {
        let c = nh * hs;
        let (qkv, tqkv) = up(&[b, t, 3 * c], 77 + t as u64);
        let m = key_mask(b, t, mask, 5);
        let p = Attention { causal, ..Attention::self_attention(b, t, nh, hs) };
        let want = ra::attention(&p, &qkv, &qkv, &qkv, m.as_ref().map(|m| &m.0[..]));
        let opts = AttentionOptions { causal, ..AttentionOptions::new(nh, hs) };
        let h = |o| Heads::new(&tqkv, o);
        let got = at::attention_subgroup(ctx, h(0), h(c), h(2 * c), m.as_ref().map(|m| &m.1), opts).unwrap();
        let got = got.to_vec::<f32>(ctx).unwrap();
        assert_close(&got, &want, TOL);
        // Over texture copies: the same code over other loads, so the same values, where the
        // head size is a multiple of 4; elsewhere a typed error that says why.
        let tex = at::attention_subgroup_tex(ctx, h(0), h(c), h(2 * c), m.as_ref().map(|m| &m.1), opts);
        if hs % 4 == 0 {
            assert_eq!(tex.unwrap().to_vec::<f32>(ctx).unwrap(), got, "hs {hs}");
        } else {
            let e = tex.unwrap_err().to_string();
            assert!(e.contains("subgroup-tex") && e.contains("multiple of 4"), "{e}");
        }
    }
    // Heads at a column that is not a multiple of 4 cannot be texels; Auto then reads buffers.
    let (qkv, tqkv) = up(&[1, 11, 2 + 3 * 8], 5);
    let p = Attention { q_off: 2, k_off: 10, v_off: 18, q_stride: 26, k_stride: 26, v_stride: 26, ..Attention::self_attention(1, 11, 2, 4) };
    let want = ra::attention(&p, &qkv, &qkv, &qkv, None);
    let (h, opts) = (|o| Heads::new(&tqkv, o), AttentionOptions::new(2, 4));
    let e = at::attention_subgroup_tex(ctx, h(2), h(10), h(18), None, opts).unwrap_err().to_string();
    assert!(e.contains("column 2"), "{e}");
    let got = at::attention(ctx, h(2), h(10), h(18), None, opts).unwrap();
    assert_close(&got.to_vec::<f32>(ctx).unwrap(), &want, TOL);
}
