//! Shared by the integration tests: one GPU context per test binary. No adapter is a failure,
//! never a skip (CI installs Mesa's lavapipe when the machine has no GPU).
#![allow(dead_code)]

use std::sync::OnceLock;

use std::path::PathBuf;

use vitfuse::model::{read_host_tensors, HostTensor};
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
#[allow(unused_imports)]
pub use vitfuse::reference::seeded as values;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

/// Compares every expected output of fixture `name` (see `vitfuse::compare`) and fails with
/// the report of each output out of tolerance.
pub fn compare(name: &str, got: &std::collections::BTreeMap<String, HostTensor>) {
    let dir = fixture(name);
    let tol = vitfuse::reference::compare::fixture_tolerance(&dir.join("fixture.json")).unwrap();
    let expected = read_host_tensors(dir.join("expected.safetensors")).unwrap();
    let inputs = read_host_tensors(dir.join("inputs.safetensors")).unwrap();
    let mut failures = Vec::new();
    for c in vitfuse::reference::compare::compare_outputs(got, &expected, &inputs, tol) {
        match (&c.report, &c.problem) {
            (Some(r), _) => {
                eprintln!("{name} {}: max abs err {:.3e} ({} values)", c.name, r.max_abs_err, r.len);
                if !r.passed() {
                    failures.push(format!("{}: {r}", c.name));
                }
            }
            (None, p) => failures.push(format!("{}: {}", c.name, p.clone().unwrap_or_default())),
        }
    }
    assert!(failures.is_empty(), "{name}: {}", failures.join("\n"));
}
