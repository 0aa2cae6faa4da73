//! The resampler (`vitfuse_model::audio::resample`, rubato's FFT resampler) against soxr's very
//! high quality one on the signals of tests/fixtures/resample (tools/gen_resample_fixture.py),
//! a pure tone's spectrum after resampling, and equal rates passing through.

use vitfuse_model::audio::resample;
use vitfuse_model::read_host_tensors;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/resample/resample.safetensors");

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / x.len() as f64).sqrt()
}

/// RMS of the difference relative to the reference's RMS (measured: 2.8e-4 at 44.1 kHz, 2.5e-4
/// at 48 kHz, 9.0e-4 at 8 kHz), over all samples but `EDGE` at each end: at the ends both resamplers filter the step from silence (both take the signal as zero
/// outside the clip) with anti-aliasing filters of different lengths, so there the outputs
/// differ by more than the filters' shared passband would suggest.
const EDGE: usize = 64;
const TOLERANCE: f64 = 2e-3;

#[test]
fn resampling_to_16k_matches_soxr() {
    let t = read_host_tensors(FIXTURE).unwrap();
    for rate in [44100u32, 48000, 8000] {
        let input = t[&format!("in_{rate}")].as_f32().unwrap();
        let want = t[&format!("out_{rate}")].as_f32().unwrap();
        let got = resample(input, rate, 16000).unwrap();
        assert_eq!(got.len(), want.len(), "{rate} Hz");
        let range = EDGE..want.len() - EDGE;
        let diff: Vec<f32> = got[range.clone()].iter().zip(&want[range.clone()]).map(|(a, b)| a - b).collect();
        let whole: Vec<f32> = got.iter().zip(want).map(|(a, b)| a - b).collect();
        let (rel, rel_all) = (rms(&diff) / rms(&want[range]), rms(&whole) / rms(want));
        eprintln!("{rate} Hz: relative RMS error {rel:.2e} ({rel_all:.2e} with the edges)");
        assert!(rel < TOLERANCE, "{rate} Hz: relative RMS error {rel}");
    }
}

/// A 1 kHz sine from 44.1 kHz to 16 kHz: its energy stays at 1 kHz, and what lies anywhere else
/// in the spectrum (aliases, images, the resampler's noise) is below -100 dB of it (-143 dB
/// measured; f32 rounding alone is near -150 dB).
#[test]
fn a_resampled_sine_keeps_its_frequency_and_nothing_else() {
    let tone: Vec<f32> = (0..44100).map(|i| (0.5 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 44100.0).sin()) as f32).collect();
    let out = resample(&tone, 44100, 16000).unwrap();
    assert_eq!(out.len(), 16000);
    // The middle half second (away from the clip's ends), Hann-windowed: 500 cycles in 8000
    // samples, 2 Hz a bin, so 1 kHz is bin 500.
    let n = 8000;
    let mut x: Vec<f64> = out[4000..4000 + n]
        .iter()
        .enumerate()
        .map(|(i, &v)| v as f64 * (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()))
        .collect();
    let fft = realfft::RealFftPlanner::<f64>::new().plan_fft_forward(n);
    let mut spectrum = fft.make_output_vec();
    fft.process(&mut x, &mut spectrum).unwrap();
    let power: Vec<f64> = spectrum.iter().map(|c| c.norm_sqr()).collect();
    let peak = (0..power.len()).max_by(|&a, &b| power[a].total_cmp(&power[b])).unwrap();
    assert_eq!(peak, 500, "the peak is at {} Hz", peak * 2);
    let tone_energy: f64 = power[498..=502].iter().sum();
    let rest: f64 = power.iter().sum::<f64>() - tone_energy;
    let db = 10.0 * (rest / tone_energy).log10();
    eprintln!("energy away from 1 kHz: {db:.1} dB");
    assert!(db < -100.0, "energy away from 1 kHz at {db:.1} dB");
    // The amplitude is kept (the passband is flat at 1 kHz).
    let level = rms(&out[4000..12000]) * 2f64.sqrt();
    assert!((level - 0.5).abs() < 5e-3, "amplitude {level}");
}

#[test]
fn equal_rates_pass_through_unchanged() {
    let t = read_host_tensors(FIXTURE).unwrap();
    let x = t["out_8000"].as_f32().unwrap();
    assert_eq!(resample(x, 16000, 16000).unwrap(), x);
}

