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
        let text = crate::limits::read_text(&path, crate::limits::MAX_CONFIG_BYTES, "a preprocessor config")?;
        Self::from_json_str(&text, &path)
    }

    /// Parses preprocessor JSON text; `origin` is used in error messages. Sizes are checked
    /// against [`crate::limits`] here, before any feature buffer exists.
    pub fn from_json_str(text: &str, origin: &Path) -> Result<Self> {
        let fx: Self = serde_json::from_str(text).map_err(|e| ModelError::Json { path: origin.to_path_buf(), message: e.to_string() })?;
        let bad = |field: &str, reason: String| ModelError::InvalidConfig { path: origin.to_path_buf(), field: field.into(), reason };
        use crate::limits::{MAX_AUDIO_FRAMES, MAX_MEL_BINS, MAX_SAMPLE_RATE};
        for (field, v, max) in [("num_mel_bins", fx.num_mel_bins, MAX_MEL_BINS), ("max_length", fx.max_length, MAX_AUDIO_FRAMES)] {
            if v == 0 {
                return Err(bad(field, "must be greater than 0".into()));
            }
            crate::limits::check(|| format!("`{field}` of {}", origin.display()), v as u64, max as u64)?;
        }
        if !(100..=MAX_SAMPLE_RATE).contains(&fx.sampling_rate) {
            return Err(bad("sampling_rate", format!("is {} Hz; it must be between 100 and {MAX_SAMPLE_RATE}", fx.sampling_rate)));
        }
        if !(fx.std.is_finite() && fx.std > 0.0) {
            return Err(bad("std", format!("is {}; it must be finite and > 0", fx.std)));
        }
        if !fx.mean.is_finite() {
            return Err(bad("mean", format!("is {}; it must be finite", fx.mean)));
        }
        Ok(fx)
    }

    /// The (max_length, num_mel_bins) `input_values` of one mono waveform at `sampling_rate`.
    /// A waveform shorter than one 25 ms frame is an error, as in transformers.
    pub fn extract(&self, waveform: &[f32]) -> Result<Vec<f32>> {
        let frame = self.sampling_rate * 25 / 1000;
        if waveform.len() < frame {
            return Err(ModelError::InvalidInput(format!(
                "the waveform has {} samples, fewer than one 25 ms frame ({frame} samples at {} Hz)",
                waveform.len(),
                self.sampling_rate
            )));
        }
        // Frames past `max_length` would be cut: they are not computed (an hour of audio is 360 000).
        let fb = fbank_upto(waveform, self.sampling_rate, self.num_mel_bins, self.max_length)?;
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

/// Reads a WAV file: mono samples in [-1, 1] (channels averaged) and the sample rate.
pub fn load_wav(path: impl AsRef<Path>) -> Result<(Vec<f32>, u32)> {
    let path = path.as_ref();
    let bytes = crate::limits::read_file(path, crate::limits::MAX_AUDIO_FILE_BYTES, "an audio file")?;
    decode_wav(&bytes).map_err(|e| ModelError::InvalidInput(format!("{}: {e}", path.display())))
}

/// Decodes RIFF/WAVE bytes: integer PCM of 8, 16, 24 or 32 bits, or IEEE float of 32 or 64 bits
/// (also inside WAVE_FORMAT_EXTENSIBLE). Returns mono samples (channels averaged) and the rate.
pub fn decode_wav(bytes: &[u8]) -> std::result::Result<(Vec<f32>, u32), String> {
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("not a RIFF/WAVE file".into());
    }
    let mut fmt: Option<(u16, u16, u32, u16)> = None; // format, channels, rate, bits
    let mut pos = 12;
    while pos + 8 <= bytes.len() {
        let (id, size) = (&bytes[pos..pos + 4], u32_at(pos + 4) as usize);
        let body = pos + 8;
        if body + size > bytes.len() && id != b"data" {
            return Err(format!("chunk {:?} runs past the end of the file", String::from_utf8_lossy(id)));
        }
        if id == b"fmt " {
            if size < 16 {
                return Err("fmt chunk shorter than 16 bytes".into());
            }
            let mut format = u16_at(body);
            if format == 0xFFFE && size >= 26 {
                format = u16_at(body + 24); // the sub-format GUID starts with the format code
            }
            fmt = Some((format, u16_at(body + 2), u32_at(body + 4), u16_at(body + 14)));
        } else if id == b"data" {
            let (format, channels, rate, bits) = fmt.ok_or("data chunk before the fmt chunk")?;
            let data = &bytes[body..(body + size).min(bytes.len())];
            let width = (bits as usize).div_ceil(8);
            if channels == 0 || rate == 0 || width == 0 {
                return Err(format!("bad format: {channels} channels, {rate} Hz, {bits} bits"));
            }
            if usize::from(channels) > crate::limits::MAX_AUDIO_CHANNELS {
                return Err(format!("{channels} channels, more than the limit of {}", crate::limits::MAX_AUDIO_CHANNELS));
            }
            if rate as usize > crate::limits::MAX_SAMPLE_RATE {
                return Err(format!("a sample rate of {rate} Hz, more than the limit of {}", crate::limits::MAX_SAMPLE_RATE));
            }
            let sample = |s: &[u8]| -> std::result::Result<f32, String> {
                Ok(match (format, bits) {
                    (1, 8) => (s[0] as f32 - 128.0) / 128.0,
                    (1, 16) => i16::from_le_bytes([s[0], s[1]]) as f32 / 32768.0,
                    (1, 24) => (i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8) as f32 / 8_388_608.0,
                    (1, 32) => i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as f32 / 2_147_483_648.0,
                    (3, 32) => f32::from_le_bytes([s[0], s[1], s[2], s[3]]),
                    (3, 64) => f64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]) as f32,
                    _ => return Err(format!("unsupported WAV encoding: format {format}, {bits} bits")),
                })
            };
            let frame = width * channels as usize;
            let mut out = Vec::with_capacity(data.len() / frame);
            for f in data.chunks_exact(frame) {
                let mut acc = 0f32;
                for c in f.chunks_exact(width) {
                    acc += sample(c)?;
                }
                out.push(acc / channels as f32);
            }
            if out.is_empty() {
                return Err("the data chunk holds no samples".into());
            }
            return Ok((out, rate));
        }
        pos = body + size + (size & 1);
    }
    Err("no data chunk".into())
}

/// Kaldi log-mel filterbank energies of `waveform`: (frames, num_mel_bins), row-major, frames =
/// 1 + (len − 25 ms) / 10 ms (none when the waveform is shorter than one frame).
pub fn fbank(waveform: &[f32], sampling_rate: usize, num_mel_bins: usize) -> Result<Vec<f32>> {
    fbank_upto(waveform, sampling_rate, num_mel_bins, usize::MAX)
}

/// [`fbank`] of the first `max_frames` frames only.
fn fbank_upto(waveform: &[f32], sampling_rate: usize, num_mel_bins: usize, max_frames: usize) -> Result<Vec<f32>> {
    if let Some(i) = waveform.iter().position(|v| !v.is_finite()) {
        return Err(ModelError::InvalidInput(format!("waveform sample {i} is not finite ({})", waveform[i])));
    }
    if sampling_rate < 100 {
        return Err(ModelError::InvalidInput(format!("a sample rate of {sampling_rate} Hz is below 100 Hz")));
    }
    let frame_len = sampling_rate * 25 / 1000;
    let shift = sampling_rate * 10 / 1000;
    let nfft = frame_len.next_power_of_two();
    if waveform.len() < frame_len || num_mel_bins == 0 {
        return Ok(Vec::new());
    }
    let frames = (1 + (waveform.len() - frame_len) / shift).min(max_frames);
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

    fn wav(format: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let mut v = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        v.extend(16u32.to_le_bytes());
        v.extend(format.to_le_bytes());
        v.extend(channels.to_le_bytes());
        v.extend(rate.to_le_bytes());
        v.extend((rate * channels as u32 * bits as u32 / 8).to_le_bytes());
        v.extend((channels * bits / 8).to_le_bytes());
        v.extend(bits.to_le_bytes());
        v.extend(b"LIST\x02\0\0\0ab"); // a chunk to skip
        v.extend(b"data");
        v.extend((data.len() as u32).to_le_bytes());
        v.extend(data);
        v
    }

    #[test]
    fn wav_encodings_decode() {
        let pcm16: Vec<u8> = [0i16, 16384, -32768, 32767].iter().flat_map(|s| s.to_le_bytes()).collect();
        let (s, r) = decode_wav(&wav(1, 1, 16000, 16, &pcm16)).unwrap();
        assert_eq!((s, r), (vec![0.0, 0.5, -1.0, 32767.0 / 32768.0], 16000));
        // Stereo is averaged; float samples pass through.
        let f32s: Vec<u8> = [0.5f32, -0.25, 1.0, 0.0].iter().flat_map(|s| s.to_le_bytes()).collect();
        assert_eq!(decode_wav(&wav(3, 2, 8000, 32, &f32s)).unwrap(), (vec![0.125, 0.5], 8000));
        let pcm24 = [0x00, 0x00, 0x80, 0xff, 0xff, 0x7f];
        assert_eq!(decode_wav(&wav(1, 1, 16000, 24, &pcm24)).unwrap().0, vec![-1.0, 8_388_607.0 / 8_388_608.0]);
        assert_eq!(decode_wav(&wav(1, 1, 16000, 8, &[128, 0])).unwrap().0, vec![0.0, -1.0]);
    }

    #[test]
    fn bad_wavs_are_errors() {
        assert!(decode_wav(b"RIFF").is_err());
        assert!(decode_wav(b"RIFF\0\0\0\0AVI LIST").is_err());
        assert!(decode_wav(&wav(2, 1, 16000, 4, &[0, 0])).is_err()); // ADPCM
        let mut no_data = wav(1, 1, 16000, 16, &[]);
        no_data.truncate(no_data.len() - 8);
        assert!(decode_wav(&no_data).is_err());
    }

    #[test]
    fn short_and_bad_waveforms() {
        assert!(fbank(&[0.0; 399], 16000, 8).unwrap().is_empty());
        assert_eq!(fbank(&[0.0; 400 + 160], 16000, 8).unwrap().len(), 2 * 8);
        assert!(fbank(&[0.0, f32::NAN], 16000, 8).is_err());
        assert!(fbank(&[0.0; 100], 10, 8).is_err());
        // Only the frames asked for are computed, and they are the first ones.
        let wave: Vec<f32> = (0..4000).map(|i| (i as f32 * 0.01).sin()).collect();
        let all = fbank(&wave, 16000, 8).unwrap();
        assert_eq!(all.len(), 23 * 8);
        assert_eq!(fbank_upto(&wave, 16000, 8, 5).unwrap(), all[..5 * 8]);
    }
}
