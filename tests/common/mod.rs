//! Shared by the integration tests: one GPU context per test binary. No adapter is a failure,
//! never a skip (CI installs Mesa's lavapipe when the machine has no GPU).
#![allow(dead_code)]

use std::sync::OnceLock;

use std::path::PathBuf;

use vitfuse::model::{read_host_tensors, HostTensor};
use vitfuse::reference::{check_close, Tolerance};
use vitfuse::runtime::{Context, ContextOptions};

pub fn gpu() -> &'static Context {
    static CTX: OnceLock<Context> = OnceLock::new();
    CTX.get_or_init(|| match Context::new(&ContextOptions::default()) {
        Ok(c) => c,
        Err(e) => panic!("GPU tests need an adapter and none could be opened: {e}"),
    })
}

/// A context of the test's own, for counters that other tests must not disturb.
pub fn own_context() -> Context {
    Context::new(&ContextOptions::default()).unwrap_or_else(|e| panic!("GPU tests need an adapter: {e}"))
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

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

fn tolerance(dir: &PathBuf) -> Tolerance {
    let f: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("fixture.json")).unwrap()).unwrap();
    Tolerance::new(f["tolerance"]["abs"].as_f64().unwrap() as f32, f["tolerance"]["rel"].as_f64().unwrap() as f32)
}

/// Keeps only the values of `t` (B, T, D) where the (B, T) mask is 1.
fn masked(t: &[f32], mask: &[i64], d: usize) -> Vec<f32> {
    t.chunks(d).zip(mask).filter(|(_, &m)| m != 0).flat_map(|(r, _)| r.to_vec()).collect()
}

/// Compares every expected output; `text_last_hidden_state` only where attention_mask is 1.
pub fn compare(name: &str, got: &std::collections::BTreeMap<String, HostTensor>) {
    let dir = fixture(name);
    let tol = tolerance(&dir);
    let expected = read_host_tensors(dir.join("expected.safetensors")).unwrap();
    let inputs = read_host_tensors(dir.join("inputs.safetensors")).unwrap();
    let mut failures = Vec::new();
    for (k, want) in &expected {
        let g = got.get(k).unwrap_or_else(|| panic!("{name}: output {k} missing; got {:?}", got.keys().collect::<Vec<_>>()));
        assert_eq!(g.shape, want.shape, "{name}: shape of {k}");
        let (mut gv, mut wv) = (g.as_f32().unwrap().to_vec(), want.as_f32().unwrap().to_vec());
        if k == "text_last_hidden_state" {
            let m = inputs["attention_mask"].as_i64().unwrap();
            let d = *want.shape.last().unwrap();
            gv = masked(&gv, m, d);
            wv = masked(&wv, m, d);
        }
        // ViLT: rows of padding tokens carry no meaning; compare where token_mask is 1.
        if k == "last_hidden_state" {
            if let Some(tm) = expected.get("token_mask") {
                let m: Vec<i64> = tm.as_f32().unwrap().iter().map(|&v| (v != 0.0) as i64).collect();
                let d = *want.shape.last().unwrap();
                gv = masked(&gv, &m, d);
                wv = masked(&wv, &m, d);
            }
        }
        let rep = check_close(&gv, &wv, tol);
        eprintln!("{name} {k}: max abs err {:.3e} ({} values)", rep.max_abs_err, rep.len);
        if !rep.passed() {
            failures.push(format!("{k}: {rep}"));
        }
    }
    assert!(failures.is_empty(), "{name}: {}", failures.join("\n"));
}

