//! AST audio features match transformers' `ASTFeatureExtractor` on the ast_tiny fixture: the
//! `waveform_<i>` inputs (one shorter, one longer than `max_length` frames) against the fixture's
//! `input_values`, within its `features_abs` tolerance.

use vitfuse_model::audio::AstFeatureExtractor;
use vitfuse_model::read_host_tensors;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/ast_tiny");

#[test]
fn fbank_features_match_the_fixture() {
    let fx = AstFeatureExtractor::from_file(DIR).unwrap();
    let inputs = read_host_tensors(format!("{DIR}/inputs.safetensors")).unwrap();
    let want = inputs["input_values"].as_f32().unwrap();
    let per = fx.max_length * fx.num_mel_bins;
    let mut worst = 0f32;
    for i in 0..2 {
        let wave = inputs[&format!("waveform_{i}")].as_f32().unwrap();
        let got = fx.extract(wave).unwrap();
        assert_eq!(got.len(), per);
        for (g, w) in got.iter().zip(&want[i * per..(i + 1) * per]) {
            worst = worst.max((g - w).abs());
        }
    }
    eprintln!("max abs error {worst:e}");
    assert!(worst <= 0.002, "max abs error {worst}");
}

#[test]
fn a_missing_config_is_an_error() {
    assert!(AstFeatureExtractor::from_file(format!("{DIR}/no-such-dir")).is_err());
}
