//! Patch embedding (fused and composed) and bicubic position-embedding resize against the CPU
//! reference, over odd shapes: C = 1 (spectrograms) or 3, patches 1..16, overlapping strides,
//! images that are not multiples of the patch, odd and even D, with and without bias, prefix
//! tokens and position embeddings.

mod common;

use common::{gpu, values};
use proptest::prelude::*;
use vitfuse::patch::{
    interpolate_pos_bicubic, interpolate_pos_bicubic_antialias, interpolate_pos_bilinear_aa, patch_embed,
    patch_embed_composed, patch_embed_with, PatchOptions, RowSharing,
};
use vitfuse::reference::{self as r, assert_close, Tolerance};
use vitfuse::model::read_host_tensors;
use vitfuse::runtime::Tensor;

fn up(shape: &[usize], seed: u64) -> (Vec<f32>, Tensor) {
    let v = values(shape.iter().product(), seed);
    let t = Tensor::from_slice(gpu(), shape, &v).unwrap();
    (v, t)
}

fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        max_shrink_iters: 20,
        ..ProptestConfig::default()
    }
}

/// One patch-embedding problem.
#[derive(Clone, Copy, Debug)]
struct Case {
    b: usize,
    c: usize,
    h: usize,
    w: usize,
    d: usize,
    ph: usize,
    pw: usize,
    sh: usize,
    sw: usize,
    np: usize,
    bias: bool,
    pos: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Path {
    /// The fused kernel as `patch_embed` picks it (subgroups on lavapipe).
    Fused,
    /// The fused kernel sharing rows through workgroup memory.
    FusedWorkgroup,
    Composed,
}

fn check(cs: Case, path: Path, seed: u64) {
    let ctx = gpu();
    let Case {
        b,
        c,
        h,
        w,
        d,
        ph,
        pw,
        sh,
        sw,
        np,
        bias,
        pos,
    } = cs;
    let gp = ((h - ph) / sh + 1) * ((w - pw) / sw + 1);
    let (px, tpx) = up(&[b, c, h, w], seed);
    let (wt, twt) = up(&[d, c, ph, pw], seed + 1);
    let (bv, tb) = up(&[d], seed + 2);
    let (pre, tpre) = up(&[np.max(1), d], seed + 3);
    let (pv, tpos) = up(&[np + gp, d], seed + 4);
    let want = r::patch::patch_embed(
        &px,
        &wt,
        bias.then_some(&bv[..]),
        (np > 0).then_some(&pre[..]),
        pos.then_some(&pv[..]),
        b,
        c,
        h,
        w,
        d,
        ph,
        pw,
        sh,
        sw,
        np,
    );
    let opts = PatchOptions {
        patch: [ph, pw],
        stride: [sh, sw],
    };
    let (bias_t, pre_t, pos_t) = (
        bias.then_some(&tb),
        (np > 0).then_some(&tpre),
        pos.then_some(&tpos),
    );
    let got = match path {
        Path::Fused => patch_embed(ctx, &tpx, &twt, bias_t, pre_t, pos_t, opts),
        Path::FusedWorkgroup => patch_embed_with(
            ctx,
            &tpx,
            &twt,
            bias_t,
            pre_t,
            pos_t,
            opts,
            RowSharing::Workgroup,
        ),
        Path::Composed => patch_embed_composed(ctx, &tpx, &twt, bias_t, pre_t, pos_t, opts),
    }
    .unwrap();
    assert_eq!(got.shape(), &[b, np + gp, d], "{cs:?}");
    assert_close(
        &got.to_vec::<f32>(ctx).unwrap(),
        &want,
        Tolerance::REDUCTION,
    );
}

fn case() -> impl Strategy<Value = Case> {
    let patch = prop_oneof![
        Just(1usize),
        Just(2),
        Just(3),
        Just(4),
        Just(5),
        Just(8),
        Just(16)
    ];
    let dd = prop_oneof![
        Just(1usize),
        Just(7),
        Just(8),
        Just(33),
        Just(64),
        Just(70),
        1usize..=100
    ];
    (
        1usize..=2,
        prop_oneof![Just(1usize), Just(3)],
        patch.clone(),
        patch,
        0usize..=2,
        dd,
        0usize..=2,
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_flat_map(|(b, c, ph, pw, grid, d, np, bias, pos, salt)| {
            // Strides from 1 (maximal overlap) to the patch; images of up to ~3 patches plus a
            // remainder that the conv floors away.
            (
                1..=ph,
                1..=pw,
                0..=grid + 1,
                0..=grid + 1,
                0..ph.max(2),
                0..pw.max(2),
            )
                .prop_map(move |(sh, sw, ny, nx, ry, rx)| {
                    let _ = salt;
                    Case {
                        b,
                        c,
                        h: ph + ny * sh + ry % sh.max(1),
                        w: pw + nx * sw + rx % sw.max(1),
                        d,
                        ph,
                        pw,
                        sh,
                        sw,
                        np,
                        bias,
                        pos,
                    }
                })
        })
}

proptest! {
    #![proptest_config(cfg(24))]

    #[test]
    fn fused_matches_reference(cs in case(), seed in 0u64..1000) {
        check(cs, Path::Fused, seed);
    }

    #[test]
    fn fused_workgroup_matches_reference(cs in case(), seed in 0u64..1000) {
        check(cs, Path::FusedWorkgroup, seed);
    }

    #[test]
    fn composed_matches_reference(cs in case(), seed in 0u64..1000) {
        check(cs, Path::Composed, seed);
    }

    #[test]
    fn bicubic_matches_reference(gh in 1usize..9, gw in 1usize..9, nh in 1usize..12, nw in 1usize..12,
                                 d in prop_oneof![Just(1usize), Just(5), Just(16), 1usize..40], seed in 0u64..1000) {
        let ctx = gpu();
        let (g, tg) = up(&[gh * gw, d], seed);
        let got = interpolate_pos_bicubic(ctx, &tg, gh, gw, nh, nw).unwrap();
        assert_eq!(got.shape(), &[nh * nw, d]);
        assert_close(&got.to_vec::<f32>(ctx).unwrap(), &r::patch::interpolate_pos_bicubic(&g, gh, gw, d, nh, nw), Tolerance::KERNEL);
    }

    #[test]
    fn bilinear_aa_matches_reference(gh in 1usize..11, gw in 1usize..11, nh in 1usize..14, nw in 1usize..14,
                                     d in prop_oneof![Just(1usize), Just(7), 1usize..40], seed in 0u64..1000) {
        let ctx = gpu();
        let (g, tg) = up(&[gh * gw, d], seed);
        let got = interpolate_pos_bilinear_aa(ctx, &tg, gh, gw, nh, nw).unwrap();
        assert_eq!(got.shape(), &[nh * nw, d]);
        assert_close(&got.to_vec::<f32>(ctx).unwrap(), &r::patch::interpolate_pos_bilinear_aa(&g, gh, gw, d, nh, nw), Tolerance::KERNEL);
    }

    #[test]
    fn bicubic_antialias_matches_reference(gh in 1usize..40, gw in 1usize..40, nh in 1usize..20, nw in 1usize..20,
                                           d in prop_oneof![Just(1usize), Just(5), Just(16), 1usize..40], seed in 0u64..1000) {
        let ctx = gpu();
        let (g, tg) = up(&[gh * gw, d], seed);
        let got = interpolate_pos_bicubic_antialias(ctx, &tg, gh, gw, nh, nw).unwrap();
        assert_eq!(got.shape(), &[nh * nw, d]);
        let want = r::patch::interpolate_pos_bicubic_antialias(&g, gh, gw, d, nh, nw);
        assert_close(&got.to_vec::<f32>(ctx).unwrap(), &want, Tolerance::KERNEL);
    }
}

/// Fixed shapes that exercise the vec4 paths (pw, sw, W multiples of 4; K multiple of 4) and
/// the scalar ones, including AST-like overlapping single-channel patches.
#[test]
fn fixed_shapes() {
    let base = Case {
        b: 2,
        c: 3,
        h: 32,
        w: 32,
        d: 64,
        ph: 8,
        pw: 8,
        sh: 8,
        sw: 8,
        np: 1,
        bias: true,
        pos: true,
    };
    for path in [Path::Fused, Path::FusedWorkgroup, Path::Composed] {
        // ViT-like: B=2, 3x32x32, P=8, D=64, CLS + pos.
        check(base, path, 7);
        // AST-like: one channel, 16x16 patches with stride 10 (overlap), CLS + distillation.
        check(
            Case {
                c: 1,
                h: 48,
                w: 61,
                d: 40,
                ph: 16,
                pw: 16,
                sh: 10,
                sw: 10,
                np: 2,
                ..base
            },
            path,
            8,
        );
        // Patch 14 (DINOv2, CLIP-L/14): K % 4 == 0 but unaligned pixel rows.
        check(
            Case {
                b: 1,
                h: 42,
                w: 30,
                d: 33,
                ph: 14,
                pw: 14,
                sh: 14,
                sw: 14,
                np: 0,
                pos: false,
                ..base
            },
            path,
            9,
        );
        // Odd K (tail chunk), odd D, no bias.
        check(
            Case {
                b: 3,
                c: 1,
                h: 9,
                w: 11,
                d: 5,
                ph: 3,
                pw: 3,
                sh: 2,
                sw: 3,
                np: 0,
                bias: false,
                pos: true,
            },
            path,
            10,
        );
    }
}

#[test]
fn fused_matches_composed() {
    let ctx = gpu();
    let (_, px) = up(&[2, 3, 40, 36], 1);
    let (_, w) = up(&[96, 3, 4, 4], 2);
    let (_, b) = up(&[96], 3);
    let (_, pre) = up(&[1, 96], 4);
    let (_, pos) = up(&[1 + 90, 96], 5);
    let o = PatchOptions::square(4);
    let f = patch_embed(ctx, &px, &w, Some(&b), Some(&pre), Some(&pos), o)
        .unwrap()
        .to_vec::<f32>(ctx)
        .unwrap();
    let c = patch_embed_composed(ctx, &px, &w, Some(&b), Some(&pre), Some(&pos), o)
        .unwrap()
        .to_vec::<f32>(ctx)
        .unwrap();
    assert_close(&f, &c, Tolerance::KERNEL);
}

#[test]
fn bad_shapes_are_errors() {
    let ctx = gpu();
    let (_, px) = up(&[1, 3, 8, 8], 1);
    let (_, w) = up(&[4, 3, 4, 4], 2);
    let (_, w1) = up(&[4, 1, 4, 4], 2);
    let (_, pos) = up(&[3, 4], 3);
    let o = PatchOptions::square(4);
    assert!(patch_embed(ctx, &px, &w1, None, None, None, o).is_err());
    assert!(patch_embed(ctx, &px, &w, None, None, Some(&pos), o).is_err());
    assert!(patch_embed(ctx, &px, &w, None, None, None, PatchOptions::square(16)).is_err());
    assert!(patch_embed(
        ctx,
        &px,
        &w,
        None,
        None,
        None,
        PatchOptions {
            patch: [4, 4],
            stride: [0, 4]
        }
    )
    .is_err());
}

/// PyTorch's own values (torch 2.15, `interpolate(…, mode="bilinear", antialias=True)`) for a
/// row [0, 1, 2, 3] shrunk to 3 and grown to 6, and the identity at the same size.
#[test]
fn bilinear_aa_matches_pytorch_by_hand() {
    let ctx = gpu();
    let row = Tensor::from_slice(ctx, &[4, 1], &[0f32, 1.0, 2.0, 3.0]).unwrap();
    let run = |nw: usize| interpolate_pos_bilinear_aa(ctx, &row, 1, 4, 1, nw).unwrap().to_vec::<f32>(ctx).unwrap();
    assert_close(&run(3), &[0.3, 1.5, 2.7], Tolerance::new(1e-6, 0.0));
    assert_close(&run(6), &[0.0, 0.5, 1.166_666_7, 1.833_333_4, 2.5, 3.0], Tolerance::new(1e-6, 0.0));
    assert_close(&r::patch::interpolate_pos_bilinear_aa(&[0.0, 1.0, 2.0, 3.0], 1, 4, 1, 1, 3), &[0.3, 1.5, 2.7], Tolerance::new(1e-6, 0.0));
    let (g, tg) = up(&[5 * 3, 4], 3);
    let same = interpolate_pos_bilinear_aa(ctx, &tg, 5, 3, 5, 3).unwrap().to_vec::<f32>(ctx).unwrap();
    assert_close(&same, &g, Tolerance::new(1e-6, 1e-6));
    assert!(interpolate_pos_bilinear_aa(ctx, &tg, 5, 3, 0, 3).is_err());
}

#[test]
fn bicubic_same_size_is_identity_and_hand_checked() {
    let ctx = gpu();
    let (g, tg) = up(&[6 * 5, 3], 11);
    let got = interpolate_pos_bicubic(ctx, &tg, 6, 5, 6, 5)
        .unwrap()
        .to_vec::<f32>(ctx)
        .unwrap();
    assert_close(&got, &g, Tolerance::new(1e-6, 1e-6));
    // 2 -> 4 along x of a row [0, 1]: src = (x + ½)·2/4 − ½ = −¼, ¼, ¾, 5/4. At x = 1, t = ¼ from
    // tap 0; taps (−1, 0, 1, 2) clamp to values (0, 0, 1, 1), so the result is
    // cubic(0.75) + cubic(1.75) = 0.26171875 − 0.03515625 = 0.2265625. At x = 0 (t = ¾ from tap
    // −1) only tap 2 → value 1 counts: cubic(1.25) = −0.10546875, the bicubic overshoot.
    let row = Tensor::from_slice(ctx, &[2, 1], &[0f32, 1.0]).unwrap();
    let got = interpolate_pos_bicubic(ctx, &row, 1, 2, 1, 4)
        .unwrap()
        .to_vec::<f32>(ctx)
        .unwrap();
    assert_close(
        &got,
        &[-0.10546875, 0.2265625, 0.7734375, 1.105_468_8],
        Tolerance::new(1e-6, 0.0),
    );
}

/// The antialiased resize (Dinov2WithRegisters' position grid) against Pillow's BICUBIC on float
/// images, the filter PyTorch's `antialias=True` reproduces (`tools/gen_interp_aa.py`): up and
/// down per axis, DINOv2's real 37×37 → 16×16, the identity, one-wide grids. The CPU twin and
/// the GPU kernel both.
#[test]
fn bicubic_antialias_matches_pillow() {
    let ctx = gpu();
    let path = common::fixture("interp_aa").join("cases.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let floats = |x: &serde_json::Value| -> Vec<f32> { x.as_array().unwrap().iter().map(|f| f.as_f64().unwrap() as f32).collect() };
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 7);
    for c in cases {
        let n = |k: &str| c[k].as_u64().unwrap() as usize;
        let (gh, gw, nh, nw, d) = (n("gh"), n("gw"), n("nh"), n("nw"), n("d"));
        let (grid, want) = (floats(&c["grid"]), floats(&c["expected"]));
        let twin = r::patch::interpolate_pos_bicubic_antialias(&grid, gh, gw, d, nh, nw);
        assert_close(&twin, &want, Tolerance::new(2e-6, 2e-6));
        let tg = Tensor::from_slice(ctx, &[gh * gw, d], &grid).unwrap();
        let got = interpolate_pos_bicubic_antialias(ctx, &tg, gh, gw, nh, nw).unwrap().to_vec::<f32>(ctx).unwrap();
        assert_close(&got, &want, Tolerance::new(1e-5, 1e-5));
        if (gh, gw) != (nh, nw) {
            // and it is not the plain resize
            let plain = r::patch::interpolate_pos_bicubic(&grid, gh, gw, d, nh, nw);
            assert!(plain.iter().zip(&want).any(|(a, b)| (a - b).abs() > 1e-3), "{gh}x{gw} -> {nh}x{nw}");
        }
    }
}

/// DINOv2's resize to a non-square grid: dinov2_tiny's 4×4 position grid to the 5×3 grid of its
/// 40×24 input (the end-to-end fixture checks the result inside the model), the GPU against
/// the CPU twin, plus a hand-checked 4 → 3 row: src = (x + ½)·4/3 − ½ = 1/6, 3/2, 17/6.
#[test]
fn bicubic_to_a_non_square_grid() {
    let ctx = gpu();
    let w = read_host_tensors(common::fixture("dinov2_tiny").join("model.safetensors")).unwrap();
    let table = w["embeddings.position_embeddings"].as_f32().unwrap();
    let d = 64;
    let grid = &table[d..];
    let tg = Tensor::from_slice(ctx, &[16, d], grid).unwrap();
    let got = interpolate_pos_bicubic(ctx, &tg, 4, 4, 5, 3).unwrap();
    assert_eq!(got.shape(), &[15, d]);
    assert_close(&got.to_vec::<f32>(ctx).unwrap(), &r::patch::interpolate_pos_bicubic(grid, 4, 4, d, 5, 3), Tolerance::KERNEL);
    // Row [0, 0, 1, 0]: x = 1 sits halfway between taps 1 and 2, cubic(½) = 0.59375 on the 1;
    // x = 0 reaches tap 2 at distance 11/6, x = 2 at 5/6 (a = −0.75).
    let row = Tensor::from_slice(ctx, &[4, 1], &[0f32, 0.0, 1.0, 0.0]).unwrap();
    let got = interpolate_pos_bicubic(ctx, &row, 1, 4, 1, 3).unwrap().to_vec::<f32>(ctx).unwrap();
    assert_close(&got, &[-0.017_361_11, 0.59375, 0.160_879_63], Tolerance::new(1e-6, 0.0));
}
