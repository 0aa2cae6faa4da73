//! Every kernel as the kernel crates assemble it (preludes, head-size constants, element-type
//! aliases) and at every set of `override` values the ops dispatch it with, parsed, validated
//! with the capabilities the runtime would request, and translated by naga's SPIR-V, MSL and
//! HLSL back ends: what Vulkan, Metal and DX12 would compile. No GPU needed.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use naga::back::{hlsl, msl, spv, PipelineConstants};
use naga::proc::{BoundsCheckPolicies, BoundsCheckPolicy};
use naga::valid::{Capabilities, ModuleInfo, ValidationFlags, Validator};
use vitfuse::runtime::kernels::Assembled;
use vitfuse::runtime::wgpu::Features;

/// (kernel, back end, reason) for what a back end genuinely cannot express.
const UNSUPPORTED: &[(&str, &str, &str)] = &[
    ("matmul_coop", "hlsl", "naga's HLSL back end has no cooperative matrices (DX12 runs the other matmuls)"),
    ("matmul_coop8", "hlsl", "naga's HLSL back end has no cooperative matrices (DX12 runs the other matmuls)"),
];

/// (kernel, back ends, reason) for kernels dispatched on some back ends only: the others are
/// not translated.
const ONLY_ON: &[(&str, &[&str], &str)] = &[(
    "matmul_coop",
    &["spv", "hlsl"],
    "16x16 cooperative matrices: Metal reports 8x8 only (naga writes simdgroup_half16x16, which Metal lacks), so Metal gets matmul_coop8",
)];

/// A kernel's name without its io suffix (`_hh`, `_hf`, `_fh`: the activation types of one
/// family's pipelines), which the lists above name.
fn family(name: &str) -> &str {
    ["_hh", "_hf", "_fh"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

/// Every kernel registry, with the shader folder it embeds from.
fn registries() -> Vec<(&'static str, Vec<Assembled>)> {
    vec![
        ("runtime", vitfuse::runtime::kernels::assembled()),
        ("attention", vitfuse::attention::kernels::assembled()),
        ("patch", vitfuse::patch::kernels::assembled()),
        ("fusion", vitfuse::fusion::kernels::assembled()),
    ]
}

fn all() -> Vec<Assembled> {
    registries().into_iter().flat_map(|(_, v)| v).collect()
}

/// What wgpu-core would allow on a device opened with `features` (see wgpu-naga-bridge).
fn capabilities(features: Features) -> Capabilities {
    let mut caps = Capabilities::empty();
    caps.set(Capabilities::SUBGROUP, features.contains(Features::SUBGROUP));
    caps.set(Capabilities::SHADER_FLOAT16, features.contains(Features::SHADER_F16));
    caps.set(Capabilities::COOPERATIVE_MATRIX, features.contains(Features::EXPERIMENTAL_COOPERATIVE_MATRIX));
    // unpack2x16float (f16 weights): wgpu's downlevel SHADER_F16_IN_F32, which Vulkan, Metal,
    // DX12 and WebGPU adapters have (lavapipe with SHADER_F16); the runtime checks it
    // (`Context::reads_f16`) before any f16 weight is stored.
    caps.set(Capabilities::SHADER_FLOAT16_IN_FLOAT32, true);
    caps
}

/// Bounds checks as the runtime compiles the kernel: none for `unchecked` kernels, clamped
/// indices for the rest.
fn policies(unchecked: bool) -> BoundsCheckPolicies {
    let p = if unchecked { BoundsCheckPolicy::Unchecked } else { BoundsCheckPolicy::Restrict };
    BoundsCheckPolicies { index: p, buffer: p, image_load: p, binding_array: p }
}

fn feature_names(f: Features) -> String {
    let names: Vec<&str> =
        [(Features::SUBGROUP, "SUBGROUP"), (Features::SHADER_F16, "SHADER_F16"), (Features::EXPERIMENTAL_COOPERATIVE_MATRIX, "COOPERATIVE_MATRIX")].iter().filter(|(x, _)| f.contains(*x)).map(|(_, n)| *n).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(" + ")
    }
}

fn label(name: &str, set: &[(&str, f64)]) -> String {
    if set.is_empty() {
        return name.to_string();
    }
    let vals: Vec<String> = set.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{name} [{}]", vals.join(", "))
}

/// Translates one specialised module with each back end; returns the failures.
fn translate(a: &Assembled, module: &naga::Module, info: &ModuleInfo, what: &str) -> Vec<(&'static str, String)> {
    let subgroup = a.features.contains(Features::SUBGROUP);
    let f16 = a.features.contains(Features::SHADER_F16);
    let coop = a.features.contains(Features::EXPERIMENTAL_COOPERATIVE_MATRIX);
    let bounds = policies(a.kernel.unchecked);
    let mut errs = Vec::new();
    let on = |backend: &str| {
        ONLY_ON
            .iter()
            .all(|(k, b, _)| *k != family(a.kernel.name) || b.contains(&backend))
    };

    // Vulkan: SPIR-V 1.3 where subgroup operations need it, 1.6 (Vulkan 1.3, as wgpu-hal
    // writes there) for cooperative matrices.
    let opts = spv::Options {
        lang_version: if coop {
            (1, 6)
        } else if subgroup {
            (1, 3)
        } else {
            (1, 0)
        },
        bounds_check_policies: bounds,
        zero_initialize_workgroup_memory: spv::ZeroInitializeWorkgroupMemoryMode::None,
        force_loop_bounding: false,
        ..Default::default()
    };
    let pipe = spv::PipelineOptions { shader_stage: naga::ShaderStage::Compute, entry_point: "main".into() };
    match spv::write_vec(module, info, &opts, Some(&pipe)) {
        Ok(words) if words.len() > 5 => {}
        Ok(_) => errs.push(("spv", format!("{what}: empty SPIR-V"))),
        Err(e) => errs.push(("spv", format!("{what}: {e}"))),
    }

    // Metal: MSL 2.3 for SIMD-group functions, 2.0 otherwise.
    let opts = msl::Options {
        lang_version: if subgroup { (2, 3) } else { (2, 0) },
        bounds_check_policies: bounds,
        zero_initialize_workgroup_memory: false,
        force_loop_bounding: false,
        ..Default::default()
    };
    let pipe = msl::PipelineOptions {
        entry_point: Some((naga::ShaderStage::Compute, "main".into())),
        ..Default::default()
    };
    match on("msl").then(|| msl::write_string(module, info, &opts, &pipe)) {
        None => {}
        Some(Ok((src, ti))) => {
            if let Some(Err(e)) = ti.entry_point_names.first() {
                errs.push(("msl", format!("{what}: entry point: {e}")));
            } else if src.is_empty() {
                errs.push(("msl", format!("{what}: empty MSL")));
            }
        }
        Some(Err(e)) => errs.push(("msl", format!("{what}: {e}"))),
    }

    // DX12: shader model 6.0 for wave intrinsics, 6.2 for 16-bit floats, else 5.1.
    let opts = hlsl::Options {
        shader_model: if f16 {
            hlsl::ShaderModel::V6_2
        } else if subgroup {
            hlsl::ShaderModel::V6_0
        } else {
            hlsl::ShaderModel::V5_1
        },
        zero_initialize_workgroup_memory: false,
        force_loop_bounding: false,
        restrict_indexing: !a.kernel.unchecked,
        ..Default::default()
    };
    let pipe = hlsl::PipelineOptions { entry_point: Some((naga::ShaderStage::Compute, "main".into())) };
    let mut src = String::new();
    match hlsl::Writer::new(&mut src, &opts, &pipe).write(module, info, None) {
        Ok(r) => {
            if let Some(Err(e)) = r.entry_point_names.first() {
                errs.push(("hlsl", format!("{what}: entry point: {e}")));
            } else if src.is_empty() {
                errs.push(("hlsl", format!("{what}: empty HLSL")));
            }
        }
        Err(e) => errs.push(("hlsl", format!("{what}: {e}"))),
    }
    errs
}

#[test]
fn every_kernel_translates_to_spirv_msl_and_hlsl() {
    let kernels = all();
    assert!(kernels.len() >= 40, "only {} kernels listed", kernels.len());
    let mut failures = String::new();
    let mut expected_unsupported: BTreeSet<(&str, &str)> = UNSUPPORTED.iter().map(|(k, b, _)| (*k, *b)).collect();
    let mut variants = 0;
    for a in &kernels {
        let name = a.kernel.name;
        let module = match naga::front::wgsl::parse_str(a.kernel.source) {
            Ok(m) => m,
            Err(e) => {
                writeln!(failures, "{name} (wgsl front end): {}", e.emit_to_string(a.kernel.source)).unwrap();
                continue;
            }
        };
        let info = match Validator::new(ValidationFlags::all(), capabilities(a.features)).validate(&module) {
            Ok(i) => i,
            Err(e) => {
                let f = feature_names(a.features);
                writeln!(failures, "{name} (validation, optional features: {f}): {}", e.emit_to_string(a.kernel.source)).unwrap();
                continue;
            }
        };
        for set in &a.overrides {
            let what = label(name, set);
            let mut constants = PipelineConstants::default();
            for (k, v) in set {
                constants.insert((*k).to_string(), *v);
            }
            let (m, i) = match naga::back::pipeline_constants::process_overrides(
                &module,
                &info,
                Some((naga::ShaderStage::Compute, "main")),
                &constants,
            ) {
                Ok(r) => r,
                Err(e) => {
                    writeln!(failures, "{what} (overrides): {e}").unwrap();
                    continue;
                }
            };
            variants += 1;
            for (backend, err) in translate(a, &m, &i, &what) {
                let fam = family(name);
                if expected_unsupported.remove(&(fam, backend))
                    || UNSUPPORTED
                        .iter()
                        .any(|(k, b, _)| *k == fam && *b == backend)
                {
                    continue;
                }
                writeln!(failures, "{name} ({backend} back end): {err}").unwrap();
            }
        }
    }
    assert!(failures.is_empty(), "kernels that do not translate:\n{failures}");
    assert!(
        expected_unsupported.is_empty(),
        "listed as unsupported but translated fine (drop them from UNSUPPORTED): {expected_unsupported:?}"
    );
    eprintln!("{} kernels, {variants} specialisations, 3 back ends each", kernels.len());
}

/// Pipelines and modules are cached by kernel name: two kernels with one name would share a
/// pipeline.
#[test]
fn kernel_names_are_unique() {
    let mut seen = BTreeSet::new();
    for a in all() {
        assert!(seen.insert(a.kernel.name), "two kernels are named {}", a.kernel.name);
    }
}

/// Each shader file under shaders/<crate>/ is part of some listed kernel, so a kernel left out
/// of every registry list fails here rather than going unchecked.
#[test]
fn every_shader_file_is_listed() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut missing = Vec::new();
    for (dir, list) in registries() {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir)).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "wgsl")) {
            let text = std::fs::read_to_string(f).unwrap();
            if !list.iter().any(|a| a.kernel.source.contains(&text)) {
                missing.push(format!("{dir}/{}", f.file_name().unwrap().to_string_lossy()));
            }
        }
    }
    assert!(missing.is_empty(), "shader files in no listed kernel: {missing:?}");
}

/// Every override value listed is one the shader declares (a stale name would fail at pipeline
/// creation).
#[test]
fn override_sets_name_declared_overrides() {
    for a in all() {
        let module = naga::front::wgsl::parse_str(a.kernel.source).unwrap_or_else(|e| panic!("{}: {e}", a.kernel.name));
        let declared: BTreeSet<&str> = module.overrides.iter().filter_map(|(_, o)| o.name.as_deref()).collect();
        for set in &a.overrides {
            for (k, _) in set {
                assert!(declared.contains(k), "{}: override {k} is not declared (declared: {declared:?})", a.kernel.name);
            }
        }
    }
}
