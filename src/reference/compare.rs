//! Comparing a forward pass's outputs with reference outputs (the Hugging Face fixtures'
//! `expected.safetensors`), with the fixtures' rules: a value passes when
//! `|got - want| <= abs + rel * |want|`; padded text positions (`attention_mask` 0), SigLIP 2's
//! padded patches (`pixel_attention_mask` 0) and ViLT's
//! padding tokens (`token_mask` 0) carry no meaning and are left out.

use std::collections::{BTreeMap, HashMap};

use vitfuse_model::HostTensor;
use vitfuse_reference::{check_close, CloseReport, Tolerance};

/// One compared output.
#[derive(Clone, Debug)]
pub struct OutputCheck {
    /// The output's name.
    pub name: String,
    /// `None` when the output is missing or its shape differs.
    pub report: Option<CloseReport>,
    /// Why there is no report (missing output, shape or dtype mismatch).
    pub problem: Option<String>,
}

impl OutputCheck {
    /// True when the output exists and every value is within tolerance.
    pub fn passed(&self) -> bool {
        self.report.as_ref().is_some_and(|r| r.passed())
    }
}

/// Rows of `t` (…, D) where `mask` is non-zero.
fn masked(t: &[f32], mask: &[i64], d: usize) -> Vec<f32> {
    t.chunks(d).zip(mask).filter(|(_, &m)| m != 0).flat_map(|(r, _)| r.to_vec()).collect()
}

/// Checks every `expected` output against `got`.
pub fn compare_outputs(
    got: &BTreeMap<String, HostTensor>,
    expected: &HashMap<String, HostTensor>,
    inputs: &HashMap<String, HostTensor>,
    tol: Tolerance,
) -> Vec<OutputCheck> {
    let mut names: Vec<&String> = expected.keys().collect();
    names.sort();
    names
        .into_iter()
        .map(|k| {
            let want = &expected[k];
            let fail = |p: String| OutputCheck { name: k.clone(), report: None, problem: Some(p) };
            let Some(g) = got.get(k) else { return fail("missing".into()) };
            if g.shape != want.shape {
                return fail(format!("shape {:?}, expected {:?}", g.shape, want.shape));
            }
            let (Some(gv), Some(wv)) = (g.as_f32(), want.as_f32()) else { return fail("not a float tensor".into()) };
            let d = want.shape.last().copied().unwrap_or(1).max(1);
            let row_mask: Option<Vec<i64>> = match k.as_str() {
                "text_last_hidden_state" => inputs.get("attention_mask").and_then(|m| m.as_i64()).map(<[i64]>::to_vec),
                // SigLIP 2: the padded patches
                "vision_last_hidden_state" => inputs.get("pixel_attention_mask").and_then(|m| m.as_i64()).map(<[i64]>::to_vec),
                "last_hidden_state" => {
                    expected.get("token_mask").and_then(|m| m.as_f32()).map(|m| m.iter().map(|&v| (v != 0.0) as i64).collect())
                }
                _ => None,
            };
            let report = match row_mask {
                Some(m) if m.len() * d == wv.len() => check_close(&masked(gv, &m, d), &masked(wv, &m, d), tol),
                _ => check_close(gv, wv, tol),
            };
            OutputCheck { name: k.clone(), report: Some(report), problem: None }
        })
        .collect()
}

/// The tolerance in a fixture's `fixture.json` (`tolerance.abs`, `tolerance.rel`).
pub fn fixture_tolerance(fixture_json: &std::path::Path) -> anyhow::Result<Tolerance> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture_json)?)?;
    let get = |k: &str| v["tolerance"][k].as_f64().ok_or_else(|| anyhow::anyhow!("{} has no tolerance.{k}", fixture_json.display()));
    Ok(Tolerance::new(get("abs")? as f32, get("rel")? as f32))
}
