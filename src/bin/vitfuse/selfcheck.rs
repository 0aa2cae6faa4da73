//! Runs every kernel once against the CPU reference and reports (kernel, shape, max error,
//! time). `vitfuse selfcheck` prints it; a test asserts that every row passes.

use std::time::Instant;

use vitfuse_reference as r;
use vitfuse_reference::{check_close, Tolerance};
use vitfuse_runtime::ops::{self, Activation, MaskLayout, MatmulKernel, MatmulOptions, WeightLayout};
use vitfuse_attention::{AttentionOptions, Heads};
use vitfuse_fusion::FusionPart;
use vitfuse_patch::PatchOptions;
use vitfuse_runtime::{Context, Result, Tensor};

/// One line of the self-check table.
#[derive(Clone, Debug)]
pub struct CheckRow {
    pub kernel: String,
    pub shape: String,
    pub max_abs_err: f32,
    pub passed: bool,
    /// Wall time of the GPU op including its read-back, in ms.
    pub ms: f64,
}

pub use vitfuse::reference::twin_activation as ref_act;

pub use vitfuse::reference::seeded;

struct Checker<'a> {
    ctx: &'a Context,
    rows: Vec<CheckRow>,
}

impl Checker<'_> {
    fn run(&mut self, kernel: &str, shape: &str, tol: Tolerance, want: Vec<f32>, f: impl FnOnce() -> Result<Tensor>) -> Result<()> {
        let t0 = Instant::now();
        let out = f()?;
        let got = if out.dtype() == vitfuse::runtime::DType::F16 {
            out.to_vec::<half::f16>(self.ctx)?
                .iter()
                .map(|x| x.to_f32())
                .collect()
        } else {
            out.to_vec::<f32>(self.ctx)?
        };
        let rep = check_close(&got, &want, tol);
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        self.rows.push(CheckRow { kernel: kernel.into(), shape: shape.into(), max_abs_err: rep.max_abs_err, passed: rep.passed(), ms });
        Ok(())
    }
}

/// Runs the table. GPU errors are returned; numeric mismatches are rows with `passed == false`.
pub fn run(ctx: &Context) -> Result<Vec<CheckRow>> {
    let mut c = Checker { ctx, rows: Vec::new() };
    let up = |shape: &[usize], seed: u64| -> Result<(Vec<f32>, Tensor)> {
        let v = seeded(shape.iter().product(), seed);
        let t = Tensor::from_slice(ctx, shape, &v)?;
        Ok((v, t))
    };

    // matmul: tiled and naive on a Linear with every epilogue part, odd sizes.
    let (b, m, k, n) = (2, 37, 100, 83);
    let (a, ta) = up(&[b, m, k], 1)?;
    let (w, tw) = up(&[n, k], 2)?;
    let (bias, tb) = up(&[n], 3)?;
    let (res, tr) = up(&[b, m, n], 4)?;
    let p = r::Matmul { act: r::Activation::GeluErf, ..r::Matmul::linear(b, m, k, n) };
    let want = r::matmul(&p, &a, &w, Some(&bias), Some(&res));
    // The ones this adapter can run (the subgroup kernel needs SUBGROUP, wide-db 32 KiB of
    // workgroup memory; all these need K % 4 == 0 except scalar, naive, shared and shared-db),
    // at K = 100.
    let variants = [
        ("matmul_tiled", MatmulKernel::Tiled),
        ("matmul_subgroup", MatmulKernel::Subgroup),
        ("matmul_subgroup_tex", MatmulKernel::SubgroupTex),
        ("matmul_blocked", MatmulKernel::Blocked),
        ("matmul_shared", MatmulKernel::Shared),
        ("matmul_wide", MatmulKernel::Wide),
        ("matmul_shared_db", MatmulKernel::SharedDb),
        ("matmul_wide_db", MatmulKernel::WideDb),
        ("matmul_scalar", MatmulKernel::Scalar),
        ("matmul_naive", MatmulKernel::Naive),
    ];
    let runnable: Vec<_> = variants.into_iter().filter(|(_, kern)| ctx.supports(*kern)).collect();
    for &(name, kern) in &runnable {
        let o = MatmulOptions { act: Activation::GeluErf, kernel: kern, ..Default::default() };
        c.run(name, "(2,37,100)x(83,100)+bias,gelu,res", Tolerance::KERNEL, want.clone(), || {
            ops::matmul(ctx, &ta, &tw, Some(&tb), Some(&tr), o)
        })?;
    }
    // The same with W stored as f16: the twin is the f32 reference over the rounded W.
    let w16: Vec<half::f16> = w.iter().map(|&x| half::f16::from_f32(x)).collect();
    let tw16 = Tensor::from_slice(ctx, &[n, k], &w16)?;
    let w_round: Vec<f32> = w16.iter().map(|x| x.to_f32()).collect();
    let want16 = r::matmul(&p, &a, &w_round, Some(&bias), Some(&res));
    for &(name, kern) in &runnable {
        let o = MatmulOptions { act: Activation::GeluErf, kernel: kern, ..Default::default() };
        c.run(&format!("{name}_f16"), "(2,37,100)x(83,100)+bias,gelu,res f16 W", Tolerance::KERNEL, want16.clone(), || {
            ops::matmul(ctx, &ta, &tw16, Some(&tb), Some(&tr), o)
        })?;
    }
    // Split K over 6 slices of K = 768 at a ViT batch-1 shape (4 x 3 tiles of 64²).
    let (m2, k2, n2) = (197, 768, 130);
    let (a2, ta2) = up(&[1, m2, k2], 23)?;
    let (w2, tw2) = up(&[n2, k2], 24)?;
    let p2 = r::Matmul { act: r::Activation::GeluErf, ..r::Matmul::linear(1, m2, k2, n2) };
    let (bias2, b2) = up(&[n2], 25)?;
    let want2 = r::matmul(&p2, &a2, &w2, Some(&bias2), None);
    if ctx.supports(MatmulKernel::SplitK) {
        let o = MatmulOptions { act: Activation::GeluErf, kernel: MatmulKernel::SplitK, ..Default::default() };
        c.run("matmul_splitk", "(1,197,768)x(130,768)+bias,gelu", Tolerance::REDUCTION, want2, || {
            ops::matmul(ctx, &ta2, &tw2, Some(&b2), None, o)
        })?;
    }
    // The double-buffered candidates over several tiles and 48 K steps, partial edges.
    let (m3, k3, n3) = (300, 768, 260);
    let (a3, ta3) = up(&[1, m3, k3], 26)?;
    let (w3, tw3) = up(&[n3, k3], 27)?;
    let (res3, tr3) = up(&[1, m3, n3], 28)?;
    let want3 = r::matmul(&r::Matmul::linear(1, m3, k3, n3), &a3, &w3, None, Some(&res3));
    for (name, kern) in [("matmul_shared_db", MatmulKernel::SharedDb), ("matmul_wide_db", MatmulKernel::WideDb)] {
        if ctx.supports(kern) {
            let o = MatmulOptions { kernel: kern, ..Default::default() };
            c.run(name, "(1,300,768)x(260,768)+res", Tolerance::REDUCTION, want3.clone(), || {
                ops::matmul(ctx, &ta3, &tw3, None, Some(&tr3), o)
            })?;
        }
    }
    // Tensor cores where the adapter reports them: A is rounded to f16 as it is staged, so the
    // twin rounds it too (every product is then exact in f32; only the summation order differs).
    if ctx.supports(MatmulKernel::Coop) {
        let a_round: Vec<f32> = a.iter().map(|&x| half::f16::from_f32(x).to_f32()).collect();
        let want_coop = r::matmul(&p, &a_round, &w_round, Some(&bias), Some(&res));
        let name = ctx.coop_kernel().map_or("matmul_coop", |k| k.name);
        let o = MatmulOptions { act: Activation::GeluErf, kernel: MatmulKernel::Coop, ..Default::default() };
        c.run(name, "(2,37,100)x(83,100)+bias,gelu,res f16 W", Tolerance::KERNEL, want_coop, || {
            ops::matmul(ctx, &ta, &tw16, Some(&tb), Some(&tr), o)
        })?;
        // Several 128 x 128 tiles with partial edges, at a ViT-like K.
        let (m2, k2, n2) = (300, 768, 260);
        let (a2, ta2) = up(&[1, m2, k2], 21)?;
        let w2: Vec<half::f16> = seeded(n2 * k2, 22).iter().map(|&x| half::f16::from_f32(x)).collect();
        let tw2 = Tensor::from_slice(ctx, &[n2, k2], &w2)?;
        let a2r: Vec<f32> = a2.iter().map(|&x| half::f16::from_f32(x).to_f32()).collect();
        let w2r: Vec<f32> = w2.iter().map(|x| x.to_f32()).collect();
        let want2 = r::matmul(&r::Matmul::linear(1, m2, k2, n2), &a2r, &w2r, None, None);
        let o = MatmulOptions { kernel: MatmulKernel::Coop, ..Default::default() };
        c.run(name, "(1,300,768)x(260,768)", Tolerance::REDUCTION, want2, || ops::matmul(ctx, &ta2, &tw2, None, None, o))?;
    }
    // f16 activations (f16 weights), where the adapter has SHADER_F16: A rounded to f16 in the
    // twin; f16 outputs are compared with half an f16 ulp more.
    let f16_act = ctx.has_feature(vitfuse::runtime::wgpu::Features::SHADER_F16);
    let half_tol = |t: Tolerance| Tolerance::new(t.abs, t.rel + 4.9e-4);
    let round = |v: &[f32]| -> (Vec<f32>, Vec<half::f16>) {
        let h: Vec<half::f16> = v.iter().map(|&x| half::f16::from_f32(x)).collect();
        (h.iter().map(|x| x.to_f32()).collect(), h)
    };
    if f16_act {
        let (a_r, a_h) = round(&a);
        let ta_h = Tensor::from_slice(ctx, &[b, m, k], &a_h)?;
        let (res_r, res_h) = round(&res);
        let tr_h = Tensor::from_slice(ctx, &[b, m, n], &res_h)?;
        let p = r::Matmul {
            act: r::Activation::GeluErf,
            ..r::Matmul::linear(b, m, k, n)
        };
        let want_hh = r::matmul(&p, &a_r, &w_round, Some(&bias), Some(&res_r));
        let want_hf = r::matmul(&p, &a_r, &w_round, Some(&bias), Some(&res));
        let mut kernels: Vec<(String, MatmulKernel)> = runnable
            .iter()
            .map(|&(nm, kern)| (nm.to_string(), kern))
            .collect();
        if ctx.supports(MatmulKernel::SplitK) {
            kernels.push(("matmul_splitk".into(), MatmulKernel::SplitK));
        }
        if ctx.supports(MatmulKernel::Coop) {
            kernels.push((
                ctx.coop_kernel()
                    .map_or("matmul_coop", |k| k.name)
                    .to_string(),
                MatmulKernel::Coop,
            ));
        }
        for (name, kern) in &kernels {
            let o = MatmulOptions {
                act: Activation::GeluErf,
                kernel: *kern,
                ..Default::default()
            };
            c.run(
                &format!("{name}_f16_hh"),
                "(2,37,100)x(83,100)+bias,gelu,res f16 W, f16 in/out",
                half_tol(Tolerance::KERNEL),
                want_hh.clone(),
                || ops::matmul(ctx, &ta_h, &tw16, Some(&tb), Some(&tr_h), o),
            )?;
            c.run(
                &format!("{name}_f16_hf"),
                "(2,37,100)x(83,100)+bias,gelu,res f16 W, f16 in, f32 out",
                Tolerance::KERNEL,
                want_hf.clone(),
                || ops::matmul(ctx, &ta_h, &tw16, Some(&tb), Some(&tr), o),
            )?;
        }
    }
    // matmul with a batched (K, N) second operand (attention's P·V).
    let (v, tv) = up(&[b, k, n], 5)?;
    let p = r::Matmul { w_batched: true, w_kn: true, alpha: 0.5, ..r::Matmul::linear(b, m, k, n) };
    let want = r::matmul(&p, &a, &v, None, None);
    c.run("matmul_naive", "(2,37,100)x(2,100,83) KN batched", Tolerance::KERNEL, want, || {
        ops::matmul(ctx, &ta, &tv, None, None, MatmulOptions { alpha: 0.5, layout: WeightLayout::KN, ..Default::default() })
    })?;

    let (rows, cols) = (50, 197);
    let (x, tx) = up(&[rows, cols], 6)?;
    let (g, tg) = up(&[cols], 7)?;
    let (be, tbe) = up(&[cols], 8)?;
    c.run("layernorm", "(50,197)", Tolerance::KERNEL, r::layernorm(&x, &g, &be, rows, cols, 1e-6), || {
        ops::layernorm(ctx, &tx, &tg, &tbe, 1e-6)
    })?;

    if f16_act {
        c.run(
            "layernorm_fh",
            "(50,197) f32 in, f16 out",
            half_tol(Tolerance::KERNEL),
            r::layernorm(&x, &g, &be, rows, cols, 1e-6),
            || ops::layernorm_to(ctx, &tx, &tg, &tbe, 1e-6, vitfuse::runtime::DType::F16),
        )?;
    }

    // softmax over (B=2, NH=5, 5, 197) scores with a (B, Tk) padding mask.
    let mut mask = vec![0f32; 2 * cols];
    for v in &mut mask[cols + 150..] {
        *v = f32::NEG_INFINITY;
    }
    let tm = Tensor::from_slice(ctx, &[2, cols], &mask)?;
    let l = MaskLayout { rows_per_group: 25, mask_rows: 1 };
    let rl = r::MaskLayout { rows_per_group: 25, mask_rows: 1 };
    c.run("softmax", "(2,5,5,197) + mask(2,197)", Tolerance::KERNEL, r::softmax(&x, Some((&mask, rl)), rows, cols, 0.125), || {
        ops::softmax(ctx, &tx.reshape(&[2, 5, 5, cols])?, Some((&tm, l)), 0.125)
    })?;

    let (y, ty) = up(&[rows, cols], 9)?;
    c.run("elementwise add", "(50,197)", Tolerance::KERNEL, r::add(&x, &y), || ops::add(ctx, &tx, &ty))?;
    c.run("elementwise scale", "(50,197)", Tolerance::KERNEL, r::scale(&x, -1.5), || ops::scale(ctx, &tx, -1.5))?;
    let xs: Vec<f32> = x.iter().map(|v| v * 6.0).collect();
    let txs = Tensor::from_slice(ctx, &[rows, cols], &xs)?;
    for act in [Activation::GeluErf, Activation::GeluTanh, Activation::QuickGelu, Activation::Relu, Activation::Tanh] {
        c.run(&format!("activation {act:?}"), "(50,197)", Tolerance::KERNEL, r::activation(&xs, ref_act(act)), || {
            ops::activation(ctx, &txs, act)
        })?;
    }

    // heads: fused QKV (2, 7, 3·4·6) → K → merge back.
    let (qkv, tqkv) = up(&[2, 7, 72], 10)?;
    c.run("split_heads", "(2,7,72) K of 4x6", Tolerance::EXACT, r::split_heads(&qkv, 2, 7, 72, 24, 4, 6), || {
        ops::split_heads(ctx, &tqkv, 24, 4, 6)
    })?;
    let (hx, thx) = up(&[2, 4, 7, 6], 11)?;
    c.run("merge_heads", "(2,4,7,6)", Tolerance::EXACT, r::merge_heads(&hx, 2, 4, 7, 6), || ops::merge_heads(ctx, &thx))?;

    let (table, tt) = up(&[50, 33], 12)?;
    let ids: Vec<u32> = (0..14).map(|i| (i * 7 % 50) as u32).collect();
    let tids = Tensor::from_slice(ctx, &[2, 7], &ids)?;
    c.run("embedding", "(50,33)[2,7]", Tolerance::EXACT, r::embedding(&table, &ids, 50, 33), || {
        ops::embedding(ctx, &tt, &tids)
    })?;

    let (ca, tca) = up(&[2, 3, 16], 13)?;
    let (cb, tcb) = up(&[2, 5, 16], 14)?;
    c.run("concat_tokens", "(2,3,16)++(2,5,16)", Tolerance::EXACT, r::concat_tokens(&ca, &cb, 2, 3, 5, 16), || {
        ops::concat_tokens(ctx, &tca, &tcb)
    })?;
    let tix = Tensor::from_slice(ctx, &[2], &[0u32, 4])?;
    c.run("take_tokens", "(2,5,16)[0,4]", Tolerance::EXACT, r::take_tokens(&cb, &[0, 4], 2, 5, 16), || {
        ops::take_tokens(ctx, &tcb, &tix)
    })?;
    c.run("l2_normalize", "(50,197)", Tolerance::KERNEL, r::l2_normalize(&x, rows, cols), || ops::l2_normalize(ctx, &tx))?;
    let (g, tg) = up(&[2, 37, 2 * 176], 31)?;
    c.run("swiglu", "(2,37,2x176)", Tolerance::KERNEL, r::swiglu(&g, 2 * 37, 176), || ops::swiglu(ctx, &tg))?;

    // Patch embedding (CLS + positions) and the bicubic position-grid resize.
    let (px, tpx) = up(&[2, 3, 32, 32], 15)?;
    let (pw, tpw) = up(&[48, 3, 8, 8], 16)?;
    let (pb, tpb) = up(&[48], 17)?;
    let (cls, tcls) = up(&[1, 48], 18)?;
    let (pos, tpos) = up(&[17, 48], 19)?;
    let want = r::patch::patch_embed(&px, &pw, Some(&pb), Some(&cls), Some(&pos), 2, 3, 32, 32, 48, 8, 8, 8, 8, 1);
    c.run("patch_embed", "(2,3,32,32) P8 D48 +cls,pos", Tolerance::KERNEL, want.clone(), || {
        vitfuse_patch::patch_embed(ctx, &tpx, &tpw, Some(&tpb), Some(&tcls), Some(&tpos), PatchOptions::square(8))
    })?;
    c.run("patch_embed_composed", "(2,3,32,32) P8 D48 +cls,pos", Tolerance::KERNEL, want, || {
        vitfuse_patch::patch_embed_composed(ctx, &tpx, &tpw, Some(&tpb), Some(&tcls), Some(&tpos), PatchOptions::square(8))
    })?;
    let (grid, tgrid) = up(&[16, 48], 20)?;
    c.run("interp_bicubic", "(4x4 -> 6x5, 48)", Tolerance::KERNEL, r::patch::interpolate_pos_bicubic(&grid, 4, 4, 48, 6, 5), || {
        vitfuse_patch::interpolate_pos_bicubic(ctx, &tgrid, 4, 4, 6, 5)
    })?;
    // DINOv2 with registers: a 37x37 grid (518 / 14) to 16x16 (224 / 14), antialiased.
    let (grid, tgrid) = up(&[37 * 37, 24], 32)?;
    let want = r::patch::interpolate_pos_bicubic_antialias(&grid, 37, 37, 24, 16, 16);
    c.run("interp_bicubic_aa", "(37x37 -> 16x16, 24)", Tolerance::KERNEL, want, || {
        vitfuse_patch::interpolate_pos_bicubic_antialias(ctx, &tgrid, 37, 37, 16, 16)
    })?;

    // Fused attention (fused QKV, key mask, causal) and its composed twin.
    let (bq, t, nh, hs) = (2, 13, 3, 16);
    let (qkv, tqkv) = up(&[bq, t, 3 * nh * hs], 21)?;
    let mut km = vec![0f32; bq * t];
    for v in &mut km[t + 9..] {
        *v = f32::MIN;
    }
    let tkm = Tensor::from_slice(ctx, &[bq, t], &km)?;
    let c3 = nh * hs;
    for causal in [false, true] {
        let p = r::attention::Attention {
            b: bq, tq: t, tk: t, nh, hs, q_stride: 3 * c3, q_off: 0, k_stride: 3 * c3, k_off: c3, v_stride: 3 * c3, v_off: 2 * c3,
            scale: 0.25, causal,
        };
        let want = r::attention::attention(&p, &qkv, &qkv, &qkv, Some(&km));
        let o = AttentionOptions { nh, hs, scale: 0.25, causal };
        let shape = if causal { "(2,13,3x16) mask, causal" } else { "(2,13,3x16) mask" };
        c.run("attention", shape, Tolerance::KERNEL, want.clone(), || vitfuse_attention::self_attention(ctx, &tqkv, Some(&tkm), o))?;
        let h = |off| Heads::new(&tqkv, off);
        c.run("attention_composed", shape, Tolerance::KERNEL, want, || {
            vitfuse_attention::attention_composed(ctx, h(0), h(c3), h(2 * c3), Some(&tkm), o)
        })?;
    }
    // Every attention kernel this adapter runs, on an f16 QKV (the twin reads the rounded QKV).
    if f16_act {
        let (qkv_r, qkv_h) = round(&qkv);
        let tqkv_h = Tensor::from_slice(ctx, &[bq, t, 3 * c3], &qkv_h)?;
        let p = r::attention::Attention {
            b: bq,
            tq: t,
            tk: t,
            nh,
            hs,
            q_stride: 3 * c3,
            q_off: 0,
            k_stride: 3 * c3,
            k_off: c3,
            v_stride: 3 * c3,
            v_off: 2 * c3,
            scale: 0.25,
            causal: true,
        };
        let want = r::attention::attention(&p, &qkv_r, &qkv_r, &qkv_r, Some(&km));
        let o = AttentionOptions {
            nh,
            hs,
            scale: 0.25,
            causal: true,
        };
        let h = |off| Heads::new(&tqkv_h, off);
        let shape = "(2,13,3x16) f16, mask, causal";
        c.run(
            "attention_hh",
            shape,
            half_tol(Tolerance::KERNEL),
            want.clone(),
            || vitfuse_attention::self_attention(ctx, &tqkv_h, Some(&tkm), o),
        )?;
        c.run(
            "attention_composed_hh",
            shape,
            half_tol(Tolerance::KERNEL),
            want.clone(),
            || vitfuse_attention::attention_composed(ctx, h(0), h(c3), h(2 * c3), Some(&tkm), o),
        )?;
        let cfg = vitfuse_attention::FusedConfig::for_context(ctx, hs);
        c.run(
            "attention_flash_hh",
            shape,
            half_tol(Tolerance::KERNEL),
            want.clone(),
            || vitfuse_attention::attention_with(ctx, h(0), h(c3), h(2 * c3), Some(&tkm), o, cfg),
        )?;
        for (rows, name) in [
            (
                vitfuse_attention::TiledRows::Shared,
                "attention_tiled_wg_hh",
            ),
            (
                vitfuse_attention::TiledRows::Subgroup,
                "attention_tiled_sg_hh",
            ),
        ] {
            if ctx.supports(rows.kernel()) {
                c.run(
                    name,
                    shape,
                    half_tol(Tolerance::KERNEL),
                    want.clone(),
                    || {
                        vitfuse_attention::attention_tiled(
                            ctx,
                            h(0),
                            h(c3),
                            h(2 * c3),
                            Some(&tkm),
                            o,
                            rows,
                        )
                    },
                )?;
            }
        }
    }
    // The tiled GPU kernels past one query block and several key tiles (the row reductions this
    // adapter has), and the software subgroup kernel over buffers and over texture copies.
    let (t2, nh2, hs2) = (100, 2, 64);
    let c2 = nh2 * hs2;
    let (qkv2, tqkv2) = up(&[1, t2, 3 * c2], 26)?;
    let km2: Vec<f32> = (0..t2).map(|j| if j % 7 == 3 { f32::NEG_INFINITY } else { 0.0 }).collect();
    let tkm2 = Tensor::from_slice(ctx, &[1, t2], &km2)?;
    let h = |off| Heads::new(&tqkv2, off);
    for causal in [false, true] {
        let p = r::attention::Attention {
            b: 1, tq: t2, tk: t2, nh: nh2, hs: hs2, q_stride: 3 * c2, q_off: 0, k_stride: 3 * c2, k_off: c2,
            v_stride: 3 * c2, v_off: 2 * c2, scale: 0.125, causal,
        };
        let want = r::attention::attention(&p, &qkv2, &qkv2, &qkv2, Some(&km2));
        let o = AttentionOptions { nh: nh2, hs: hs2, scale: 0.125, causal };
        let shape = if causal { "(1,100,2x64) mask, causal" } else { "(1,100,2x64) mask" };
        for (rows, name) in [(vitfuse_attention::TiledRows::Shared, "attention_tiled_wg"), (vitfuse_attention::TiledRows::Subgroup, "attention_tiled_sg")] {
            if ctx.supports(rows.kernel()) {
                c.run(name, shape, Tolerance::KERNEL, want.clone(), || vitfuse_attention::attention_tiled(ctx, h(0), h(c2), h(2 * c2), Some(&tkm2), o, rows))?;
            }
        }
        if ctx.supports(vitfuse_attention::AttentionKernel::Subgroup) {
            c.run("attention_subgroup", shape, Tolerance::KERNEL, want.clone(), || {
                vitfuse_attention::attention_subgroup(ctx, h(0), h(c2), h(2 * c2), Some(&tkm2), o)
            })?;
            c.run("attention_subgroup_tex", shape, Tolerance::KERNEL, want, || {
                vitfuse_attention::attention_subgroup_tex(ctx, h(0), h(c2), h(2 * c2), Some(&tkm2), o)
            })?;
        }
    }

    // Early fusion of text and image tokens with modality types and masks.
    let (ta_, tta) = up(&[2, 5, 24], 22)?;
    let (tb_, ttb) = up(&[2, 7, 24], 23)?;
    let (ea, tea) = up(&[24], 24)?;
    let (eb, teb) = up(&[24], 25)?;
    let ma: Vec<f32> = (0..10).map(|i| if i % 5 < 3 { 1.0 } else { 0.0 }).collect();
    let tma = Tensor::from_slice(ctx, &[2, 5], &ma)?;
    let parts = [
        r::fusion::FusionPart { tokens: &ta_, t: 5, type_embedding: Some(&ea), mask: Some(&ma) },
        r::fusion::FusionPart { tokens: &tb_, t: 7, type_embedding: Some(&eb), mask: None },
    ];
    let (want_x, want_m) = r::fusion::early_fusion(&parts, 2, 24);
    let gpu_parts = || [FusionPart::new(&tta).with_type(&tea).with_mask(&tma), FusionPart::new(&ttb).with_type(&teb)];
    c.run("early_fusion", "(2,5,24)++(2,7,24) +types", Tolerance::EXACT, want_x, || Ok(vitfuse_fusion::early_fusion(ctx, &gpu_parts())?.0))?;
    c.run("early_fusion mask", "(2,12)", Tolerance::EXACT, want_m, || Ok(vitfuse_fusion::early_fusion(ctx, &gpu_parts())?.1))?;
    Ok(c.rows)
}
