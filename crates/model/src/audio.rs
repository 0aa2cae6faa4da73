//! Audio features for the Audio Spectrogram Transformer: Kaldi-compatible log-mel filterbanks
//! (`torchaudio.compliance.kaldi.fbank` with the settings transformers' `ASTFeatureExtractor`
//! uses), padded or cut to `max_length` frames and normalised with the checkpoint's mean and std.
//!
//! Per frame of 25 ms every 10 ms (frames that fit whole, Kaldi's `snip_edges`): remove the DC
//! offset, pre-emphasis 0.97 (the first sample against itself), a symmetric Hann window, zero
//! padding to 512, power spectrum, triangular mel filters on Kaldi's mel scale
//! (1127·ln(1 + f/700)) between 20 Hz and Nyquist, `ln(max(e, f32::EPSILON))`. Computed in f64.

use std::path::Path;

use serde::Deserialize;

use crate::error::{ModelError, Result};

/// `preprocessor_config.json` of an `ASTFeatureExtractor`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct AstFeatureExtractor {
    /// Expected sample rate of the waveforms (Hz).
    #[serde(default = "d_16000")]
    pub sampling_rate: usize,
    /// Mel filters per frame.
    #[serde(default = "d_128")]
    pub num_mel_bins: usize,
    /// Frames per example after padding (zeros, at the end) or truncation.
    #[serde(default = "d_1024")]
    pub max_length: usize,
    /// Normalise as `(x - mean) / (2 std)`.
    #[serde(default = "d_true")]
    pub do_normalize: bool,
    /// Mean of the training set's features (AudioSet's by default).
    #[serde(default = "d_mean")]
    pub mean: f32,
    /// Standard deviation of the training set's features.
    #[serde(default = "d_std")]
    pub std: f32,
}

fn d_16000() -> usize {
    16000
}
fn d_128() -> usize {
    128
}
fn d_1024() -> usize {
    1024
}
fn d_true() -> bool {
    true
}
fn d_mean() -> f32 {
    -4.2677393
}
fn d_std() -> f32 {
    4.5689974
}

impl AstFeatureExtractor {
    /// Reads `preprocessor_config.json` (a file, or a folder holding one).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let mut path = path.as_ref().to_path_buf();
        if path.is_dir() {
            path = path.join("preprocessor_config.json");
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io { path: path.clone(), source })?;
        let fx: Self = serde_json::from_str(&text).map_err(|e| ModelError::Json { path: path.clone(), message: e.to_string() })?;
        if fx.num_mel_bins == 0 || fx.max_length == 0 || fx.sampling_rate < 100 || !(fx.std > 0.0) {
            return Err(ModelError::InvalidInput(format!(
                "{}: need num_mel_bins, max_length > 0, a sampling_rate of at least 100 Hz and std > 0",
                path.display()
            )));
        }
        Ok(fx)
    }

    /// The (max_length, num_mel_bins) `input_values` of one mono waveform at `sampling_rate`.
    pub fn extract(&self, waveform: &[f32]) -> Result<Vec<f32>> {
        let fb = fbank(waveform, self.sampling_rate, self.num_mel_bins)?;
        let n = self.num_mel_bins;
        let frames = (fb.len() / n).min(self.max_length);
        let mut out = vec![0f32; self.max_length * n];
        out[..frames * n].copy_from_slice(&fb[..frames * n]);
        if self.do_normalize {
            for v in &mut out {
                *v = (*v - self.mean) / (self.std * 2.0);
            }
        }
        Ok(out)
    }
}

/// `waveform_0`, `waveform_1`, … (1-D float inputs, mono at the extractor's rate) through `fx`:
/// the (B, max_length, num_mel_bins) `input_values`, or `None` when there is no `waveform_0`.
pub fn waveform_features(
    fx: &AstFeatureExtractor,
    inputs: &std::collections::HashMap<String, crate::HostTensor>,
) -> Result<Option<(Vec<f32>, Vec<usize>)>> {
    let mut out = Vec::new();
    let mut n = 0;
    while let Some(t) = inputs.get(&format!("waveform_{n}")) {
        let v = t.as_f32().ok_or_else(|| ModelError::InvalidInput(format!("waveform_{n} must be float")))?;
        if t.shape.len() != 1 {
            return Err(ModelError::InvalidInput(format!("waveform_{n} must be 1-D (mono samples), got {:?}", t.shape)));
        }
        out.extend(fx.extract(v)?);
        n += 1;
    }
    Ok((n > 0).then(|| (out, vec![n, fx.max_length, fx.num_mel_bins])))
}

/// Kaldi log-mel filterbank energies of `waveform`: (frames, num_mel_bins), row-major, frames =
/// 1 + (len − 25 ms) / 10 ms (none when the waveform is shorter than one frame).
pub fn fbank(waveform: &[f32], sampling_rate: usize, num_mel_bins: usize) -> Result<Vec<f32>> {
    if let Some(i) = waveform.iter().position(|v| !v.is_finite()) {
        return Err(ModelError::InvalidInput(format!("waveform sample {i} is not finite ({})", waveform[i])));
    }
    let frame_len = sampling_rate * 25 / 1000;
    let shift = sampling_rate * 10 / 1000;
    let nfft = frame_len.next_power_of_two();
    if waveform.len() < frame_len || num_mel_bins == 0 {
        return Ok(Vec::new());
    }
    let frames = 1 + (waveform.len() - frame_len) / shift;
    let window: Vec<f64> = (0..frame_len)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (frame_len - 1) as f64).cos())
        .collect();
    let banks = mel_banks(num_mel_bins, nfft, sampling_rate as f64);
    let fft = Fft::new(nfft);
    let mut out = Vec::with_capacity(frames * num_mel_bins);
    let mut re = vec![0f64; nfft];
    let mut im = vec![0f64; nfft];
    let mut power = vec![0f64; nfft / 2 + 1];
    for f in 0..frames {
        let x = &waveform[f * shift..f * shift + frame_len];
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / frame_len as f64;
        re.iter_mut().for_each(|v| *v = 0.0);
        im.iter_mut().for_each(|v| *v = 0.0);
        let mut prev = x[0] as f64 - mean;
        for i in 0..frame_len {
            let cur = x[i] as f64 - mean;
            re[i] = (cur - 0.97 * prev) * window[i];
            prev = cur;
        }
        fft.run(&mut re, &mut im);
        for (k, p) in power.iter_mut().enumerate() {
            *p = re[k] * re[k] + im[k] * im[k];
        }
        for bank in &banks {
            let e: f64 = bank.iter().map(|&(k, w)| w * power[k]).sum();
            out.push(e.max(f32::EPSILON as f64).ln() as f32);
        }
    }
    Ok(out)
}

/// Kaldi's mel scale.
fn mel(f: f64) -> f64 {
    1127.0 * (1.0 + f / 700.0).ln()
}

/// Triangular filters on the mel scale between 20 Hz and Nyquist, as (FFT bin, weight) lists over
/// bins 0 .. nfft/2 − 1 (the Nyquist bin has weight 0 in Kaldi).
fn mel_banks(num_bins: usize, nfft: usize, sample_rate: f64) -> Vec<Vec<(usize, f64)>> {
    let bin_hz = sample_rate / nfft as f64;
    let (lo, hi) = (mel(20.0), mel(sample_rate / 2.0));
    let delta = (hi - lo) / (num_bins + 1) as f64;
    (0..num_bins)
        .map(|b| {
            let (left, center, right) = (lo + b as f64 * delta, lo + (b + 1) as f64 * delta, lo + (b + 2) as f64 * delta);
            (0..nfft / 2)
                .filter_map(|k| {
                    let m = mel(bin_hz * k as f64);
                    let w = ((m - left) / (center - left)).min((right - m) / (right - center));
                    (w > 0.0).then_some((k, w))
                })
                .collect()
        })
        .collect()
}

/// An in-place iterative radix-2 complex FFT of a power-of-two size.
struct Fft {
    n: usize,
    cos: Vec<f64>,
    sin: Vec<f64>,
}

impl Fft {
    fn new(n: usize) -> Self {
        let t = |f: fn(f64) -> f64| (0..n / 2).map(|k| f(-2.0 * std::f64::consts::PI * k as f64 / n as f64)).collect();
        Fft { n, cos: t(f64::cos), sin: t(f64::sin) }
    }

    fn run(&self, re: &mut [f64], im: &mut [f64]) {
        let n = self.n;
        let mut j = 0;
        for i in 1..n {
            let mut bit = n >> 1;
            while j & bit != 0 {
                j ^= bit;
                bit >>= 1;
            }
            j |= bit;
            if i < j {
                re.swap(i, j);
                im.swap(i, j);
            }
        }
        let mut len = 2;
        while len <= n {
            let step = n / len;
            for start in (0..n).step_by(len) {
                for k in 0..len / 2 {
                    let (wr, wi) = (self.cos[k * step], self.sin[k * step]);
                    let (a, b) = (start + k, start + k + len / 2);
                    let (xr, xi) = (re[b] * wr - im[b] * wi, re[b] * wi + im[b] * wr);
                    re[b] = re[a] - xr;
                    im[b] = im[a] - xi;
                    re[a] += xr;
                    im[a] += xi;
                }
            }
            len <<= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_matches_a_direct_dft() {
        let n = 16;
        let x: Vec<f64> = (0..n).map(|i| ((i * 7 % 5) as f64 - 2.0) * 0.3).collect();
        let (mut re, mut im) = (x.clone(), vec![0.0; n]);
        Fft::new(n).run(&mut re, &mut im);
        for k in 0..n {
            let (mut r, mut i) = (0.0, 0.0);
            for (t, v) in x.iter().enumerate() {
                let a = -2.0 * std::f64::consts::PI * (k * t) as f64 / n as f64;
                r += v * a.cos();
                i += v * a.sin();
            }
            assert!((re[k] - r).abs() < 1e-12 && (im[k] - i).abs() < 1e-12, "bin {k}");
        }
    }

    #[test]
    fn short_and_bad_waveforms() {
        assert!(fbank(&[0.0; 399], 16000, 8).unwrap().is_empty());
        assert_eq!(fbank(&[0.0; 400 + 160], 16000, 8).unwrap().len(), 2 * 8);
        assert!(fbank(&[0.0, f32::NAN], 16000, 8).is_err());
    }
}
