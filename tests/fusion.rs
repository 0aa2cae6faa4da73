//! Fusion ops (early fusion, cross-attention, attention pooling, similarity, combiners) against
//! their CPU twins in `vitfuse_reference::fusion`, over small odd shapes (1, primes, widths that
//! are and are not multiples of 4 so both the scalar and the vec4 kernels run), plus fixed cases.

mod common;

use common::{gpu, values};
use proptest::prelude::*;
use vitfuse::fusion::{self as f, Combine, FusionPart, Similarity, SumWeights};
use vitfuse::reference::fusion as rf;
use vitfuse::reference::{assert_close, Tolerance};
use vitfuse::runtime::{Context, Tensor};

const ATT: Tolerance = Tolerance { abs: 2e-4, rel: 2e-4 };

fn up(shape: &[usize], seed: u64) -> (Vec<f32>, Tensor) {
    let v = values(shape.iter().product(), seed);
    let t = Tensor::from_slice(gpu(), shape, &v).unwrap();
    (v, t)
}

/// A 0/1 mask with roughly a third dropped.
fn mask01(n: usize, seed: u64) -> Vec<f32> {
    values(n, seed).iter().map(|v| if *v < -0.33 { 0.0 } else { 1.0 }).collect()
}

fn read(ctx: &Context, t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>(ctx).unwrap()
}

fn dim(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![Just(1usize), Just(2), Just(3), Just(4), Just(5), Just(7), Just(8), Just(13), 1..=max].prop_map(move |d| d.min(max))
}

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, max_shrink_iters: 20, ..ProptestConfig::default() }
}

/// Host data of one early-fusion part.
struct HostPart {
    t: usize,
    tokens: Vec<f32>,
    te: Option<Vec<f32>>,
    mask: Option<Vec<f32>>,
}

fn check_early(b: usize, d: usize, lens: &[usize], te: &[bool], masks: &[bool], seed: u64) {
    let ctx = gpu();
    let host: Vec<HostPart> = lens
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let s = seed + 10 * i as u64;
            HostPart {
                t,
                tokens: values(b * t * d, s),
                te: te[i].then(|| values(d, s + 1)),
                mask: masks[i].then(|| mask01(b * t, s + 2)),
            }
        })
        .collect();
    let dev: Vec<(Tensor, Option<Tensor>, Option<Tensor>)> = host
        .iter()
        .map(|h| {
            (
                Tensor::from_slice(ctx, &[b, h.t, d], &h.tokens).unwrap(),
                h.te.as_ref().map(|v| Tensor::from_slice(ctx, &[d], v).unwrap()),
                h.mask.as_ref().map(|v| Tensor::from_slice(ctx, &[b, h.t], v).unwrap()),
            )
        })
        .collect();
    let parts: Vec<FusionPart> =
        dev.iter().map(|(x, te, m)| FusionPart { tokens: x, type_embedding: te.as_ref(), mask: m.as_ref() }).collect();
    let rparts: Vec<rf::FusionPart> = host
        .iter()
        .map(|h| rf::FusionPart { tokens: &h.tokens, t: h.t, type_embedding: h.te.as_deref(), mask: h.mask.as_deref() })
        .collect();
    let (want_x, want_m) = rf::early_fusion(&rparts, b, d);
    let total: usize = lens.iter().sum();
    for (x, m) in [f::early_fusion(ctx, &parts).unwrap(), f::early_fusion_per_part(ctx, &parts).unwrap()] {
        assert_eq!(x.shape(), &[b, total, d]);
        assert_eq!(m.shape(), &[b, total]);
        assert_close(&read(ctx, &x), &want_x, Tolerance::EXACT);
        assert_close(&read(ctx, &m), &want_m, Tolerance::EXACT);
    }
}

proptest! {
    #![proptest_config(cfg(24))]

    #[test]
    fn early_fusion_matches_reference(b in 1usize..4, d in dim(21), lens in prop::collection::vec(dim(11), 1..=4),
                                      te in prop::collection::vec(any::<bool>(), 4), masks in prop::collection::vec(any::<bool>(), 4),
                                      seed in 0u64..1000) {
        check_early(b, d, &lens, &te, &masks, seed);
    }

    #[test]
    fn cross_attention_matches_reference(b in 1usize..3, tq in dim(13), tk in dim(37), nh in 1usize..4,
                                         hs in prop_oneof![Just(1usize), Just(3), Just(4), Just(8), Just(17), Just(64)],
                                         masked: bool, seed in 0u64..1000) {
        let ctx = gpu();
        let c = nh * hs;
        let (q, tq_) = up(&[b, tq, c], seed);
        let (kv, tkv) = up(&[b, tk, 2 * c], seed + 1);
        let m: Vec<f32> = mask01(b * tk, seed + 2).iter().map(|&v| if v == 1.0 { 0.0 } else { f32::MIN }).collect();
        let tm = Tensor::from_slice(ctx, &[b, tk], &m).unwrap();
        let got = f::cross_attention(ctx, &tq_, &tkv, masked.then_some(&tm), nh, hs).unwrap();
        assert_eq!(got.shape(), &[b, tq, c]);
        let want = rf::cross_attention(&q, &kv, masked.then_some(&m[..]), b, tq, tk, nh, hs);
        assert_close(&read(ctx, &got), &want, ATT);
    }

    #[test]
    fn attention_pool_matches_reference(b in 1usize..3, t in dim(29), p in 1usize..4, nh in 1usize..4,
                                        hs in prop_oneof![Just(1usize), Just(2), Just(3), Just(4), Just(7), Just(8)],
                                        stored_probe: bool, seed in 0u64..1000) {
        let ctx = gpu();
        let d = nh * hs;
        let (x, tx) = up(&[b, t, d], seed);
        let probe_shape = if stored_probe { vec![1, p, d] } else { vec![p, d] };
        let (probe, tprobe) = up(&probe_shape, seed + 1);
        let (w_in, tw_in) = up(&[3 * d, d], seed + 2);
        let (b_in, tb_in) = up(&[3 * d], seed + 3);
        let (w_out, tw_out) = up(&[d, d], seed + 4);
        let (b_out, tb_out) = up(&[d], seed + 5);
        let got = f::attention_pool(ctx, &tx, &tprobe, &tw_in, &tb_in, &tw_out, &tb_out, nh).unwrap();
        assert_eq!(got.shape(), &[b, p, d]);
        let want = rf::attention_pool(&x, &probe, &w_in, &b_in, &w_out, &b_out, b, t, p, d, nh);
        assert_close(&read(ctx, &got), &want, Tolerance::REDUCTION);
    }

    #[test]
    fn similarity_matches_reference(na in dim(19), nb in dim(23), p in dim(70), scale in 0.5f32..20.0, bias in -10f32..10.0,
                                    seed in 0u64..1000) {
        let ctx = gpu();
        let (a, ta) = up(&[na, p], seed);
        let (bv, tb) = up(&[nb, p], seed + 1);
        for (kind, rkind) in [(Similarity::Logits, rf::Similarity::Logits), (Similarity::Softmax, rf::Similarity::Softmax),
                              (Similarity::Sigmoid, rf::Similarity::Sigmoid)] {
            let got = f::similarity(ctx, &ta, &tb, scale, bias, kind).unwrap();
            assert_eq!(got.shape(), &[na, nb]);
            let want = rf::similarity(&a, &bv, na, nb, p, scale, bias, rkind);
            assert_close(&read(ctx, &got), &want, Tolerance::REDUCTION);
        }
    }

    #[test]
    fn combine_matches_reference(n in dim(17), m in 1usize..7, d in dim(23), widths in prop::collection::vec(dim(13), 6),
                                 d_out in dim(11), bias: bool, seed in 0u64..1000) {
        let ctx = gpu();
        // Same-width embeddings for the sums, mixed widths for concat + projection.
        let same: Vec<(Vec<f32>, Tensor)> = (0..m).map(|i| up(&[n, d], seed + i as u64)).collect();
        let mixed: Vec<(Vec<f32>, Tensor)> = (0..m).map(|i| up(&[n, widths[i]], seed + 50 + i as u64)).collect();
        let (sv, st): (Vec<&[f32]>, Vec<&Tensor>) = same.iter().map(|(v, t)| (&v[..], t)).unzip();
        let (mv, mt): (Vec<&[f32]>, Vec<&Tensor>) = mixed.iter().map(|(v, t)| (&v[..], t)).unzip();
        let total: usize = widths[..m].iter().sum();

        let ws = values(m, seed + 100);
        let got = f::combine(ctx, &st, Combine::WeightedSum(&ws)).unwrap();
        assert_eq!(got.shape(), &[n, d]);
        assert_close(&read(ctx, &got), &rf::combine(&sv, n, &vec![d; m], rf::Combine::WeightedSum(&ws)), Tolerance::KERNEL);

        let (w, tw) = up(&[d_out, total], seed + 101);
        let (bb, tbb) = up(&[d_out], seed + 102);
        let got = f::combine(ctx, &mt, Combine::ConcatProject { w: &tw, b: bias.then_some(&tbb) }).unwrap();
        assert_eq!(got.shape(), &[n, d_out]);
        let want = rf::combine(&mv, n, &widths[..m], rf::Combine::ConcatProject { w: &w, b: bias.then_some(&bb[..]), d_out });
        assert_close(&read(ctx, &got), &want, Tolerance::REDUCTION);

        let (gw, tgw) = up(&[m, m * d], seed + 103);
        let (gb, tgb) = up(&[m], seed + 104);
        let got = f::combine(ctx, &st, Combine::Gated { gate_w: &tgw, gate_b: &tgb }).unwrap();
        assert_eq!(got.shape(), &[n, d]);
        let want = rf::combine(&sv, n, &vec![d; m], rf::Combine::Gated { gate_w: &gw, gate_b: &gb });
        assert_close(&read(ctx, &got), &want, Tolerance::REDUCTION);

        // The kernels on their own: concat exactly, per-row weighted sum.
        let got = f::concat_features(ctx, &mt).unwrap();
        assert_close(&read(ctx, &got), &rf::concat_features(&mv, n, &widths[..m]), Tolerance::EXACT);
        let (gates, tgates) = up(&[n, m], seed + 105);
        let got = f::gated_sum(ctx, &st, SumWeights::PerRow(&tgates)).unwrap();
        assert_close(&read(ctx, &got), &rf::gated_sum(&sv, n, d, rf::SumWeights::PerRow(&gates)), Tolerance::KERNEL);
    }

    #[test]
    fn broadcast_and_slice_match_reference(b in 1usize..4, r in dim(7), s in dim(19), off in 0usize..19, cols in dim(19),
                                           seed in 0u64..1000) {
        let ctx = gpu();
        let off = off.min(s - 1);
        let cols = cols.min(s - off);
        let (src, tsrc) = up(&[r, s], seed);
        let got = f::broadcast_rows(ctx, &tsrc, b, off, cols).unwrap();
        assert_eq!(got.shape(), &[b, r, cols]);
        assert_close(&read(ctx, &got), &rf::broadcast_rows(&src, b, off, cols, r, s), Tolerance::EXACT);
        let (r0, r1) = (r / 2, r);
        let got = f::slice_rows(ctx, &tsrc, r0, r1).unwrap();
        assert_eq!(got.shape(), &[r1 - r0, s]);
        assert_close(&read(ctx, &got), &rf::slice_rows(&src, r0, r1, s), Tolerance::EXACT);
    }
}

#[test]
fn every_kernel_builds() {
    let ctx = gpu();
    eprintln!("max_storage_buffers_per_shader_stage = {}", ctx.limits().max_storage_buffers_per_shader_stage);
    for k in f::kernels::ALL {
        let wide = k.name.starts_with("early_fusion") && k.name != "early_fusion_part";
        if wide && ctx.limits().max_storage_buffers_per_shader_stage < f::EARLY_FUSION_BUFFERS {
            continue;
        }
        ctx.pipeline(k, &[]).unwrap_or_else(|e| panic!("{}: {e}", k.name));
    }
}

/// A ViLT-like fixed case: image patches (no padding) + padded text, each with its type row,
/// fused, then the joint mask used as the key mask of attention over the fused stream.
#[test]
fn early_fusion_mask_feeds_attention() {
    let ctx = gpu();
    let (b, d, ti, tt) = (2, 8, 5, 4);
    check_early(b, d, &[ti, tt], &[true, true], &[false, true], 7);
    let (img, timg) = up(&[b, ti, d], 1);
    let (_, ttxt) = up(&[b, tt, d], 2);
    let (_, tte_i) = up(&[d], 3);
    let (_, tte_t) = up(&[d], 4);
    let txt_mask = vec![1., 1., 1., 0., 1., 0., 0., 0.];
    let tmask = Tensor::from_slice(ctx, &[b, tt], &txt_mask).unwrap();
    let (x, m) = f::early_fusion(
        ctx,
        &[FusionPart::new(&timg).with_type(&tte_i), FusionPart::new(&ttxt).with_type(&tte_t).with_mask(&tmask)],
    )
    .unwrap();
    let gm = read(ctx, &m);
    assert_eq!(gm[..ti + tt], [0., 0., 0., 0., 0., 0., 0., 0., f32::MIN]);
    assert_eq!(gm[ti + tt..], [0., 0., 0., 0., 0., 0., f32::MIN, f32::MIN, f32::MIN]);
    // Queries from the image tokens over K = V = the fused stream (kv packs it twice).
    let xs = read(ctx, &x);
    let kv: Vec<f32> = xs.chunks(d).flat_map(|r| r.iter().chain(r.iter()).copied().collect::<Vec<_>>()).collect();
    let tkv = Tensor::from_slice(ctx, &[b, ti + tt, 2 * d], &kv).unwrap();
    let got = f::cross_attention(ctx, &timg, &tkv, Some(&m), 2, d / 2).unwrap();
    let want = rf::cross_attention(&img, &kv, Some(&gm), b, ti, ti + tt, 2, d / 2);
    assert_close(&read(ctx, &got), &want, ATT);
}

#[test]
fn bad_inputs_are_errors() {
    let ctx = gpu();
    let (_, a) = up(&[1, 2, 4], 1);
    let (_, b5) = up(&[1, 2, 5], 2);
    let (_, m) = up(&[1, 3], 3);
    let p = FusionPart::new(&a);
    assert!(f::early_fusion(ctx, &[]).is_err());
    assert!(f::early_fusion(ctx, &[p; 5]).is_err());
    assert!(f::early_fusion(ctx, &[p, FusionPart::new(&b5)]).is_err());
    assert!(f::early_fusion(ctx, &[p.with_mask(&m)]).is_err());
    let (_, q) = up(&[1, 2, 4], 4);
    let (_, kv) = up(&[1, 3, 6], 5);
    assert!(f::cross_attention(ctx, &q, &kv, None, 2, 2).is_err());
    let (_, e1) = up(&[2, 3], 6);
    let (_, e2) = up(&[3, 3], 7);
    assert!(f::combine(ctx, &[&e1, &e2], Combine::WeightedSum(&[0.5, 0.5])).is_err());
    assert!(f::combine(ctx, &[&e1], Combine::WeightedSum(&[0.5, 0.5])).is_err());
    let (_, x) = up(&[1, 3, 6], 8);
    let (_, probe) = up(&[1, 6], 9);
    let (_, w) = up(&[18, 6], 10);
    let (_, bias) = up(&[18], 11);
    let (_, ow) = up(&[6, 6], 12);
    let (_, ob) = up(&[6], 13);
    assert!(f::attention_pool(ctx, &x, &probe, &w, &bias, &ow, &ob, 4).is_err());
    assert!(f::attention_pool(ctx, &x, &probe, &w, &bias, &ow, &ob, 2).is_ok());
    assert!(f::similarity(ctx, &e1, &x.reshape(&[3, 6]).unwrap(), 1.0, 0.0, Similarity::Logits).is_err());
}
