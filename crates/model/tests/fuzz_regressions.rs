//! The fuzz targets' bodies (`fuzz/src/lib.rs`, included here so no nightly is needed) on every
//! input the fuzzers found to crash, run out of memory or hang, kept under
//! `tests/fixtures/fuzz/<target>/`, and on the seeds under `fuzz/seeds/<target>/`: each returns
//! (a value or a typed error) without panicking, and quickly. Below, the found inputs' own
//! outcomes are checked too.

#[path = "../../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Longest one input may take (unoptimised builds included); the fuzzers' timeout is 10 s.
const BOUND: Duration = Duration::from_secs(10);

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Runs each `<target>/<file>` under `root` through its target; returns how many ran.
fn run_all(root: &Path) -> usize {
    let mut n = 0;
    for dir in files(root).into_iter().filter(|d| d.is_dir()) {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let body = targets::TARGETS
            .iter()
            .find(|(t, _)| *t == name)
            .unwrap_or_else(|| panic!("{}: no fuzz target of this name", dir.display()))
            .1;
        for file in files(&dir) {
            let data = std::fs::read(&file).unwrap();
            let start = Instant::now();
            body(&data);
            let took = start.elapsed();
            assert!(took < BOUND, "{} took {took:?}", file.display());
            n += 1;
        }
    }
    n
}

#[test]
fn found_inputs_return_quickly() {
    let n = run_all(&targets::repo_file("tests/fixtures/fuzz"));
    assert!(n > 0, "no inputs under tests/fixtures/fuzz");
}

#[test]
fn seeds_return_quickly() {
    let n = run_all(&targets::repo_file("fuzz/seeds"));
    assert!(n >= targets::TARGETS.len(), "only {n} seeds");
}

fn found(target: &str, name: &str) -> Vec<u8> {
    std::fs::read(targets::repo_file(&format!("tests/fixtures/fuzz/{target}/{name}"))).unwrap()
}

/// A `Precompiled` normalizer whose `precompiled_charsmap` is null: the tokenizers crate's
/// reader panics (`.expect("Precompiled")`); the wrapper makes that an error naming the file.
#[test]
fn a_panic_inside_tokenizers_is_a_tokenizer_error() {
    let bytes = found("tokenizer_json", "crash-4b69bc1f9d6150e8ab1bc85f95ebe4d608e99476");
    let e = vitfuse_model::Tokenizer::from_bytes(&bytes, Path::new("x/tokenizer.json")).unwrap_err();
    match &e {
        vitfuse_model::ModelError::Tokenizer { path, message } => {
            assert_eq!(path, Path::new("x/tokenizer.json"));
            assert!(message.contains("panicked while loading") && message.contains("Precompiled"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// A WAV `fmt ` chunk of 32769 channels: symphonia's block-align check multiplies it by the
/// sample width in u16, which panics with overflow checks on (the fuzzer's build) and wraps
/// without them, and then the channel count is refused. Either way, one input error.
#[test]
fn a_wav_whose_block_align_overflows_is_an_input_error() {
    let bytes = found("wav", "crash-349e3822f50f4fbf9b2aed83e3efaf5267fd95a4");
    match vitfuse_model::audio::decode_audio(&bytes) {
        Err(vitfuse_model::ModelError::InvalidInput(m)) => assert!(m.contains("channel count") || m.contains("panicked"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// `pixel_values` with a dimension 0 made ViLT's default `pixel_mask` of B·H·W ones (32 GiB
/// here, or an overflow) from an empty tensor; it is now an input error. (Seen while writing the
/// `pipeline_inputs` target and made by hand: the fuzzer had not reached it; both inputs crash
/// the target without the fix.)
#[test]
fn empty_pixel_values_are_an_input_error() {
    for name in ["oom-empty-pixel-values", "crash-empty-pixel-values-overflow"] {
        let inputs = vitfuse_model::parse_host_tensors(&found("pipeline_inputs", name), Path::new(name)).unwrap();
        for e in [vitfuse_model::pipeline::pixel_values(&inputs).unwrap_err(), vitfuse_model::pipeline::vilt_inputs(&inputs).unwrap_err()] {
            assert!(matches!(&e, vitfuse_model::ModelError::InvalidInput(m) if m.contains("no dimension 0")), "{name}: {e}");
        }
    }
}
