//! CPU twin of `vitfuse_attention::attention`: multi-head scaled-dot-product attention
//! (Vaswani et al. 2017, "Attention Is All You Need", eq. 1) in plain loops with f64
//! accumulation. Heads are read in place from (B, T, C) row-major tensors at column
//! `off + h·HS + d`: the layout of a fused QKV projection, or of separate Q, K, V projections
//! at offset 0 (the reference models' layers use it so).

/// Problem description of [`attention`].
///
/// `q` is (B, Tq, q_stride), `k` is (B, Tk, k_stride), `v` is (B, Tk, v_stride); head `h`, dim `d`
/// of a row is column `*_off + h·hs + d`. The output is (B, Tq, NH·HS) with heads merged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Attention {
    /// Batch size B.
    pub b: usize,
    /// Query rows per batch entry.
    pub tq: usize,
    /// Key / value rows per batch entry.
    pub tk: usize,
    /// Number of heads NH.
    pub nh: usize,
    /// Head size HS.
    pub hs: usize,
    /// Row length of `q`.
    pub q_stride: usize,
    /// Column of `q`'s head 0 within a row.
    pub q_off: usize,
    /// Row length of `k`.
    pub k_stride: usize,
    /// Column of `k`'s head 0 within a row.
    pub k_off: usize,
    /// Row length of `v`.
    pub v_stride: usize,
    /// Column of `v`'s head 0 within a row.
    pub v_off: usize,
    /// Multiplies `q·k` before the mask is added (1/√HS for standard attention).
    pub scale: f32,
    /// Query `i` sees keys `j <= i` only.
    pub causal: bool,
}

impl Attention {
    /// Self-attention over a fused QKV tensor (B, T, 3·NH·HS): Q at 0, K at NH·HS, V at 2·NH·HS,
    /// scale 1/√HS, not causal.
    pub fn self_attention(b: usize, t: usize, nh: usize, hs: usize) -> Self {
        let c = nh * hs;
        Attention {
            q_stride: 3 * c,
            k_stride: 3 * c,
            k_off: c,
            v_stride: 3 * c,
            v_off: 2 * c,
            ..Attention::separate(b, t, t, nh, hs)
        }
    }

    /// Attention over separate Q (B, Tq, NH·HS), K and V (B, Tk, NH·HS), heads side by side in the
    /// columns (the Hugging Face q/k/v Linear projections), scale 1/√HS, not causal.
    pub fn separate(b: usize, tq: usize, tk: usize, nh: usize, hs: usize) -> Self {
        let c = nh * hs;
        Attention {
            b,
            tq,
            tk,
            nh,
            hs,
            q_stride: c,
            q_off: 0,
            k_stride: c,
            k_off: 0,
            v_stride: c,
            v_off: 0,
            scale: 1.0 / (hs as f32).sqrt(),
            causal: false,
        }
    }
}

/// `out[b, i, h·HS + d] = Σ_j softmax_j(scale · q_i·k_j + key_mask[b, j] (+ causal −∞)) v[j, d]`.
///
/// `key_mask` is an additive (B, Tk) mask. A query whose keys are all −∞ gives zeros (as the
/// GPU softmax does). Panics when a tensor's length or a head's columns disagree with `p`.
pub fn attention(p: &Attention, q: &[f32], k: &[f32], v: &[f32], key_mask: Option<&[f32]>) -> Vec<f32> {
    let Attention { b: bn, tq, tk, nh, hs, .. } = *p;
    let c = nh * hs;
    for (name, x, rows, stride, off) in [
        ("q", q, tq, p.q_stride, p.q_off),
        ("k", k, tk, p.k_stride, p.k_off),
        ("v", v, tk, p.v_stride, p.v_off),
    ] {
        assert!(off + c <= stride, "attention: {name} heads at {off}..{} exceed its row of {stride}", off + c);
        assert_eq!(x.len(), bn * rows * stride, "attention: {name} length");
    }
    if let Some(m) = key_mask {
        assert_eq!(m.len(), bn * tk, "attention: key_mask length");
    }
    let mut out = vec![0f32; bn * tq * c];
    let mut s = vec![0f64; tk];
    for b in 0..bn {
        for h in 0..nh {
            for i in 0..tq {
                let qr = (b * tq + i) * p.q_stride + p.q_off + h * hs;
                for (j, sj) in s.iter_mut().enumerate() {
                    let kr = (b * tk + j) * p.k_stride + p.k_off + h * hs;
                    let mut dot = 0f64;
                    for d in 0..hs {
                        dot += q[qr + d] as f64 * k[kr + d] as f64;
                    }
                    let mut x = dot * p.scale as f64;
                    if let Some(m) = key_mask {
                        x += m[b * tk + j] as f64;
                    }
                    if p.causal && j > i {
                        x = f64::NEG_INFINITY;
                    }
                    *sj = x;
                }
                let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                if mx == f64::NEG_INFINITY {
                    continue;
                }
                let e: Vec<f64> = s.iter().map(|x| (x - mx).exp()).collect();
                let sum: f64 = e.iter().sum();
                let o = (b * tq + i) * c + h * hs;
                for d in 0..hs {
                    let mut acc = 0f64;
                    for (j, ej) in e.iter().enumerate() {
                        acc += ej * v[(b * tk + j) * p.v_stride + p.v_off + h * hs + d] as f64;
                    }
                    out[o + d] = (acc / sum) as f32;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_copies_v_and_masked_rows_are_zero() {
        // B=1, Tq=2, Tk=1, NH=1, HS=2: a single key gets all the weight.
        let p = Attention {
            b: 1,
            tq: 2,
            tk: 1,
            nh: 1,
            hs: 2,
            q_stride: 2,
            q_off: 0,
            k_stride: 2,
            k_off: 0,
            v_stride: 2,
            v_off: 0,
            scale: 0.5,
            causal: false,
        };
        let out = attention(&p, &[1., 2., 3., 4.], &[5., 6.], &[7., 8.], None);
        assert_eq!(out, vec![7., 8., 7., 8.]);
        let out = attention(&p, &[1., 2., 3., 4.], &[5., 6.], &[7., 8.], Some(&[f32::NEG_INFINITY]));
        assert_eq!(out, vec![0.; 4]);
    }

    #[test]
    fn causal_first_query_sees_first_key() {
        let mut p = Attention::self_attention(1, 2, 1, 1);
        p.causal = true;
        // rows: [q k v] per token
        let qkv = [1., 1., 10., 1., 1., 20.];
        let out = attention(&p, &qkv, &qkv, &qkv, None);
        assert_eq!(out[0], 10.);
        assert!((out[1] - 15.).abs() < 1e-6);
    }

    #[test]
    fn separate_heads_average_unmasked_values() {
        // B=1, Tq=2, Tk=3, NH=2, HS=1: identical keys give each head the mean of its values
        let p = Attention::separate(1, 2, 3, 2, 1);
        let (q, k) = ([1., 0., 0.5, 0.5], [1.; 6]);
        let v = [1., 2., 3., 4., 5., 6.];
        let out = attention(&p, &q, &k, &v, None);
        for (o, want) in out.iter().zip([3., 4., 3., 4.]) {
            assert!((o - want).abs() < 1e-6, "{out:?}");
        }
        // a key mask keeping key 2 only copies its values
        let m = [f32::NEG_INFINITY, f32::NEG_INFINITY, 0.];
        assert_eq!(attention(&p, &q, &k, &v, Some(&m)), vec![5., 6., 5., 6.]);
    }
}
