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

mod robustness {
    use proptest::prelude::*;
    use vitfuse_model::audio::{decode_audio, fbank};

    /// A RIFF/WAVE prefix with a fmt chunk of the given fields, then `tail` as-is.
    fn header(format: u16, channels: u16, rate: u32, bits: u16, fmt_size: u32, tail: &[u8]) -> Vec<u8> {
        let mut v = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        v.extend(fmt_size.to_le_bytes());
        v.extend(format.to_le_bytes());
        v.extend(channels.to_le_bytes());
        v.extend(rate.to_le_bytes());
        v.extend(0u32.to_le_bytes());
        v.extend(0u16.to_le_bytes());
        v.extend(bits.to_le_bytes());
        v.extend(tail);
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Arbitrary bytes, and headers with arbitrary fields and chunk sizes: an error or
        /// samples, never a panic.
        #[test]
        fn wav_decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200),
                                     format in prop_oneof![Just(1u16), Just(3), Just(0xFFFE), any::<u16>()],
                                     channels in 0u16..4, rate in any::<u32>(), bits in prop_oneof![Just(8u16), Just(16), Just(24), Just(32), Just(64), any::<u16>()],
                                     fmt_size in prop_oneof![Just(16u32), Just(40), any::<u32>()]) {
            let _ = decode_audio(&bytes);
            let mut with_riff = b"RIFF\0\0\0\0WAVE".to_vec();
            with_riff.extend(&bytes);
            let _ = decode_audio(&with_riff);
            let mut data = b"data".to_vec();
            data.extend((bytes.len() as u32 * 2).to_le_bytes());
            data.extend(&bytes);
            if let Ok((s, _)) = decode_audio(&header(format, channels, rate, bits, fmt_size, &data)) {
                prop_assert!(s.iter().all(|v| v.is_finite() || format != 1));
            }
        }

        /// Any finite waveform of any length gives whole frames of finite features.
        #[test]
        fn fbank_is_finite(wave in prop::collection::vec(-1f32..1.0, 0..2000), bins in 1usize..40,
                           rate in prop_oneof![Just(16000usize), 100usize..50000]) {
            let f = fbank(&wave, rate, bins).unwrap();
            prop_assert_eq!(f.len() % bins, 0);
            prop_assert!(f.iter().all(|v| v.is_finite()));
        }
    }
}
