//! CPU twins of the core kernels in `shaders/runtime`. Same names and argument order as
//! `vitfuse_runtime::ops`; dims are explicit here because slices carry no shape.

/// Epilogue activation applied after bias, before the residual add.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    /// Identity.
    None,
    /// Exact GELU: x/2 (1 + erf(x/√2)) (BERT, ViT "gelu").
    GeluErf,
    /// Tanh approximation (SigLIP "gelu_pytorch_tanh").
    GeluTanh,
    /// x σ(1.702 x) (CLIP "quick_gelu").
    QuickGelu,
    /// max(x, 0).
    Relu,
    /// tanh(x).
    Tanh,
}

/// Applies `act` to one value (f64 for the reference).
pub fn activate(act: Activation, x: f64) -> f64 {
    match act {
        Activation::None => x,
        Activation::GeluErf => 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)),
        Activation::GeluTanh => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
        }
        Activation::QuickGelu => x / (1.0 + (-1.702 * x).exp()),
        Activation::Relu => x.max(0.0),
        Activation::Tanh => x.tanh(),
    }
}

/// Problem description of a batched matmul `out[b,m,n] = act(alpha Σ_k a[b,m,k] w[(b),n,k] + bias[n]) + res[b,m,n]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Matmul {
    /// B: independent matmuls (leading dims of `a` flattened).
    pub batch: usize,
    /// M: rows of `a` per batch.
    pub m: usize,
    /// K: the inner (reduced) dim.
    pub k: usize,
    /// N: output columns (rows of `w` in the (N, K) layout).
    pub n: usize,
    /// `w` has a leading batch dimension (else it is shared by every batch).
    pub w_batched: bool,
    /// `w` is stored (K, N) instead of the Hugging Face (N, K).
    pub w_kn: bool,
    /// Scale of `a·wᵀ`, before the bias.
    pub alpha: f32,
    /// Activation after the bias, before the residual.
    pub act: Activation,
}

impl Matmul {
    /// A plain (B, M, K) × (N, K)ᵀ linear layer.
    pub fn linear(batch: usize, m: usize, k: usize, n: usize) -> Self {
        Matmul { batch, m, k, n, w_batched: false, w_kn: false, alpha: 1.0, act: Activation::None }
    }
}

/// Batched matmul with fused bias, activation and residual.
pub fn matmul(p: &Matmul, a: &[f32], w: &[f32], bias: Option<&[f32]>, residual: Option<&[f32]>) -> Vec<f32> {
    let Matmul { batch, m, k, n, .. } = *p;
    let mut out = vec![0f32; batch * m * n];
    for b in 0..batch {
        let wb = if p.w_batched { b * n * k } else { 0 };
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0f64;
                for l in 0..k {
                    let wv = if p.w_kn { w[wb + l * n + j] } else { w[wb + j * k + l] };
                    acc += a[(b * m + i) * k + l] as f64 * wv as f64;
                }
                let mut v = acc * p.alpha as f64;
                if let Some(bias) = bias {
                    v += bias[j] as f64;
                }
                v = activate(p.act, v);
                let o = (b * m + i) * n + j;
                if let Some(r) = residual {
                    v += r[o] as f64;
                }
                out[o] = v as f32;
            }
        }
    }
    out
}

/// Row LayerNorm over the last dim: `(x - mean) / sqrt(var + eps) * gamma + beta`.
pub fn layernorm(x: &[f32], gamma: &[f32], beta: &[f32], rows: usize, cols: usize, eps: f32) -> Vec<f32> {
    let mut out = vec![0f32; rows * cols];
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / cols as f64;
        let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / cols as f64;
        let inv = 1.0 / (var + eps as f64).sqrt();
        for c in 0..cols {
            out[r * cols + c] = ((row[c] as f64 - mean) * inv * gamma[c] as f64 + beta[c] as f64) as f32;
        }
    }
    out
}

/// How an additive mask lines up with the rows of a softmax input.
///
/// Row `r` of the input uses mask row `(r / rows_per_group) * mask_rows + r % mask_rows`:
/// a key-padding mask (B, Tk) over scores (B, NH, Tq, Tk) is `rows_per_group = NH·Tq, mask_rows = 1`;
/// a full mask (B, Tq, Tk) is `rows_per_group = NH·Tq, mask_rows = Tq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaskLayout {
    /// Input rows that share one group of mask rows.
    pub rows_per_group: usize,
    /// Mask rows per group, cycled over the group's input rows.
    pub mask_rows: usize,
}

/// Row softmax of `scale · x + mask`. A row whose every entry is −∞ gives zeros.
pub fn softmax(x: &[f32], mask: Option<(&[f32], MaskLayout)>, rows: usize, cols: usize, scale: f32) -> Vec<f32> {
    let mut out = vec![0f32; rows * cols];
    for r in 0..rows {
        let vals: Vec<f64> = (0..cols)
            .map(|c| {
                let mut v = x[r * cols + c] as f64 * scale as f64;
                if let Some((m, l)) = mask {
                    let mr = (r / l.rows_per_group) * l.mask_rows + r % l.mask_rows;
                    v += m[mr * cols + c] as f64;
                }
                v
            })
            .collect();
        let mx = vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        if mx == f64::NEG_INFINITY {
            continue;
        }
        let e: Vec<f64> = vals.iter().map(|v| (v - mx).exp()).collect();
        let s: f64 = e.iter().sum();
        for c in 0..cols {
            out[r * cols + c] = (e[c] / s) as f32;
        }
    }
    out
}

/// Elementwise `a + b`.
pub fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

/// Elementwise `s · a`.
pub fn scale(a: &[f32], s: f32) -> Vec<f32> {
    a.iter().map(|x| x * s).collect()
}

/// Elementwise activation.
pub fn activation(x: &[f32], act: Activation) -> Vec<f32> {
    x.iter().map(|&v| activate(act, v as f64) as f32).collect()
}

/// SwiGLU gate over `rows` rows of `[x1 | x2]` (2H each): `silu(x1) · x2`, (rows, H).
pub fn swiglu(x: &[f32], rows: usize, h: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows * h];
    for r in 0..rows {
        for j in 0..h {
            let a = x[r * 2 * h + j] as f64;
            let b = x[r * 2 * h + h + j] as f64;
            out[r * h + j] = (a / (1.0 + (-a).exp()) * b) as f32;
        }
    }
    out
}

/// (B, T, C) with heads at column `offset + h·HS + d` → (B, NH, T, HS).
/// `offset` picks Q, K or V out of a fused QKV projection (C = 3·NH·HS).
pub fn split_heads(x: &[f32], b: usize, t: usize, c: usize, offset: usize, nh: usize, hs: usize) -> Vec<f32> {
    let mut out = vec![0f32; b * nh * t * hs];
    for bi in 0..b {
        for h in 0..nh {
            for ti in 0..t {
                for d in 0..hs {
                    out[((bi * nh + h) * t + ti) * hs + d] = x[(bi * t + ti) * c + offset + h * hs + d];
                }
            }
        }
    }
    out
}

/// (B, NH, T, HS) → (B, T, NH·HS).
pub fn merge_heads(x: &[f32], b: usize, nh: usize, t: usize, hs: usize) -> Vec<f32> {
    let mut out = vec![0f32; b * t * nh * hs];
    for bi in 0..b {
        for h in 0..nh {
            for ti in 0..t {
                for d in 0..hs {
                    out[(bi * t + ti) * nh * hs + h * hs + d] = x[((bi * nh + h) * t + ti) * hs + d];
                }
            }
        }
    }
    out
}

/// Gathers rows of `table` (V, D) by id → (len(ids), D). Out-of-range ids give zero rows.
pub fn embedding(table: &[f32], ids: &[u32], vocab: usize, dim: usize) -> Vec<f32> {
    let mut out = vec![0f32; ids.len() * dim];
    for (i, &id) in ids.iter().enumerate() {
        if (id as usize) < vocab {
            out[i * dim..(i + 1) * dim].copy_from_slice(&table[id as usize * dim..(id as usize + 1) * dim]);
        }
    }
    out
}

/// Concatenates (B, T1, D) and (B, T2, D) along the token axis → (B, T1+T2, D).
pub fn concat_tokens(a: &[f32], b: &[f32], batch: usize, t1: usize, t2: usize, d: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(batch * (t1 + t2) * d);
    for bi in 0..batch {
        out.extend_from_slice(&a[bi * t1 * d..(bi + 1) * t1 * d]);
        out.extend_from_slice(&b[bi * t2 * d..(bi + 1) * t2 * d]);
    }
    out
}

/// One token per sequence: `x` (B, T, D) at `idx[b]` → (B, D); indices past T give zeros.
pub fn take_tokens(x: &[f32], idx: &[u32], b: usize, t: usize, d: usize) -> Vec<f32> {
    let mut out = vec![0f32; b * d];
    for bi in 0..b {
        let ti = idx[bi] as usize;
        if ti < t {
            out[bi * d..(bi + 1) * d].copy_from_slice(&x[(bi * t + ti) * d..(bi * t + ti + 1) * d]);
        }
    }
    out
}

/// Rows divided by their L2 norm clamped at 1e-12, `x / max(‖x‖₂, 1e-12)` with an f64 norm, as the
/// `l2_normalize` shader and `torch.nn.functional.normalize` compute it. For every row of norm
/// ≥ 1e-12 this is transformers' `x / x.norm(dim=-1, keepdim=True)` (CLIP, SigLIP embeddings); an
/// all-zero row gives zeros where transformers gives NaN.
pub fn l2_normalize(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows * cols];
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        let n = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt().max(1e-12);
        for c in 0..cols {
            out[r * cols + c] = (row[c] as f64 / n) as f32;
        }
    }
    out
}

/// `peak_fma_f32` / `peak_fma_f16`: per invocation i, 32 lanes starting at
/// ((32i + l) % 64) / 64, each `4 · iters` times `x = x·mul + add` (4 rounds per loop
/// iteration), summed (f64 here).
pub fn peak_fma(n: usize, iters: u32, mul: f32, add: f32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            (0..32)
                .map(|l| {
                    let mut x = ((32 * i + l) % 64) as f64 / 64.0;
                    for _ in 0..4 * iters {
                        x = x * mul as f64 + add as f64;
                    }
                    x
                })
                .sum::<f64>() as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_small_fixed() {
        // [1 2; 3 4] × [[1 0],[1 1]]ᵀ (w is (N,K)) = [[1, 3], [3, 7]]
        let p = Matmul::linear(1, 2, 2, 2);
        let out = matmul(&p, &[1., 2., 3., 4.], &[1., 0., 1., 1.], Some(&[0.5, -0.5]), None);
        assert_eq!(out, vec![1.5, 2.5, 3.5, 6.5]);
        let p = Matmul { w_kn: true, ..p };
        let out = matmul(&p, &[1., 2., 3., 4.], &[1., 1., 0., 1.], None, Some(&[1., 1., 1., 1.]));
        assert_eq!(out, vec![2., 4., 4., 8.]);
    }

    #[test]
    fn activations_known_values() {
        assert!((activate(Activation::GeluErf, 1.0) - 0.8413447460685429).abs() < 1e-12);
        assert!((activate(Activation::GeluTanh, 1.0) - 0.8411919906082768).abs() < 1e-12);
        assert!((activate(Activation::QuickGelu, 1.0) - 0.8457957659328212).abs() < 1e-9);
    }

    #[test]
    fn softmax_masks_and_all_masked_rows() {
        let x = [1.0, 2.0, 3.0, 1.0, 1.0, 1.0];
        let m = [0.0, f32::NEG_INFINITY, 0.0];
        let out = softmax(&x, Some((&m, MaskLayout { rows_per_group: 2, mask_rows: 1 })), 2, 3, 1.0);
        assert_eq!(out[1], 0.0);
        assert!((out[0] + out[2] - 1.0).abs() < 1e-6);
        let all = [f32::NEG_INFINITY; 3];
        let out = softmax(&x[..3], Some((&all, MaskLayout { rows_per_group: 1, mask_rows: 1 })), 1, 3, 1.0);
        assert_eq!(out, vec![0.0; 3]);
    }

    #[test]
    fn heads_roundtrip() {
        let x: Vec<f32> = (0..2 * 3 * 12).map(|v| v as f32).collect();
        let q = split_heads(&x, 2, 3, 12, 0, 2, 2);
        let v = split_heads(&x, 2, 3, 12, 8, 2, 2);
        assert_eq!(q[0..4], [0., 1., 12., 13.]);
        assert_eq!(v[0..2], [8., 9.]);
        let y = split_heads(&x, 2, 3, 12, 0, 3, 4);
        assert_eq!(merge_heads(&y, 2, 3, 3, 4), x);
    }
}
