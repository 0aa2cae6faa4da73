//! The plain-loop CPU reference (feature `reference`, on with the default `cli` feature): every
//! kernel's CPU twin and every model family's CPU forward pass (the `vitfuse_reference` crate,
//! re-exported here), [`forward`] over a model folder with transformers' input and output
//! names (what `vitfuse forward --reference` runs), and [`compare`], the fixtures' comparison
//! rules.

pub use vitfuse_reference::*;

pub mod compare;
mod forward;

pub use forward::{ast_params, clip_params, deit_params, dinov2_params, forward, forward_with, siglip_params, vilt_params, vit_params, Checkpoint};

/// The CPU twin's activation for a GPU epilogue activation.
pub fn twin_activation(a: vitfuse_runtime::ops::Activation) -> Activation {
    use vitfuse_runtime::ops::Activation as A;
    match a {
        A::None => Activation::None,
        A::GeluErf => Activation::GeluErf,
        A::GeluTanh => Activation::GeluTanh,
        A::QuickGelu => Activation::QuickGelu,
        A::Relu => Activation::Relu,
        A::Tanh => Activation::Tanh,
    }
}

/// Deterministic values in [-1, 1) from a seed (xorshift): the inputs of the self-check, the
/// benchmarks and the tests.
pub fn seeded(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}
