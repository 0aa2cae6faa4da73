//! Shared by the integration tests: one GPU context per test binary. No adapter is a failure,
//! never a skip (CI installs Mesa's lavapipe when the machine has no GPU).
#![allow(dead_code)]

use std::sync::OnceLock;

use vitfuse::runtime::{Context, ContextOptions};

pub fn gpu() -> &'static Context {
    static CTX: OnceLock<Context> = OnceLock::new();
    CTX.get_or_init(|| match Context::new(&ContextOptions::default()) {
        Ok(c) => c,
        Err(e) => panic!("GPU tests need an adapter and none could be opened: {e}"),
    })
}

/// Deterministic values in [-1, 1) from a seed (xorshift).
pub fn values(n: usize, seed: u64) -> Vec<f32> {
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
