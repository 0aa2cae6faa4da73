//! `vitfuse forward --reference`: the same forward pass through the plain-loop CPU models of
//! `vitfuse-reference`, fed from the same checkpoint and inputs.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use vitfuse_model::HostTensor;

/// Runs the CPU reference model in `dir` on `inputs`.
pub fn reference_forward(dir: &Path, inputs: &HashMap<String, HostTensor>) -> anyhow::Result<BTreeMap<String, HostTensor>> {
    let _ = (dir, inputs);
    anyhow::bail!("the CPU reference path is not wired yet")
}
