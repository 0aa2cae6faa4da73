// activation.wgsl: shared epilogue functions, prepended (Rust concat!) to the kernels that use
// them; no bindings, no entry point. act codes: 0 none, 1 erf GELU, 2 tanh GELU, 3 quick GELU,
// 4 ReLU, 5 tanh.

fn activate(x: f32, act: u32) -> f32 {
    switch act {
        case 1u: { return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752)); }
        case 2u: {
            let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
            return 0.5 * x * (1.0 + tanh_safe(u));
        }
        case 3u: { return x / (1.0 + exp(-1.702 * x)); }
        case 4u: { return max(x, 0.0); }
        case 5u: { return tanh_safe(x); }
        default: { return x; }
    }
}

// tanh without overflow for large |x|.
fn tanh_safe(x: f32) -> f32 {
    let e = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - e) / (1.0 + e);
}

// erf with max abs error ~1.2e-7 (Numerical Recipes' erfc Chebyshev fit).
fn erf_approx(x: f32) -> f32 {
    let z = abs(x);
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
        t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
        t * (-0.82215223 + t * 0.17087277)))))))));
    return sign(x) * (1.0 - r);
}

