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

/// Reads an audio file (WAV, FLAC, MP3, Ogg Vorbis): mono samples in [-1, 1] (channels
/// averaged) and the sample rate. Errors name the file. See [`decode_audio`].
pub fn load_audio(path: impl AsRef<Path>) -> Result<(Vec<f32>, u32)> {
    let path = path.as_ref();
    let bytes = crate::limits::read_file(path, crate::limits::MAX_AUDIO_FILE_BYTES, "an audio file")?;
    let ext = path.extension().and_then(|e| e.to_str());
    decode_with(&bytes, ext, crate::limits::MAX_AUDIO_SAMPLES, &path.display().to_string())
}

/// Decodes an audio file held in memory: WAV (integer PCM of 8, 16, 24 or 32 bits, IEEE float
/// of 32 or 64 bits, A-law, µ-law, also inside WAVE_FORMAT_EXTENSIBLE), FLAC, MP3 and Ogg
/// Vorbis, through `symphonia`. Returns mono samples in [-1, 1] (channels averaged) and the
/// rate. A container or codec it does not know, corrupt or truncated data and a file without
/// samples are [`ModelError::InvalidInput`]; more channels than
/// [`MAX_AUDIO_CHANNELS`](crate::limits::MAX_AUDIO_CHANNELS) or more decoded samples than
/// [`MAX_AUDIO_SAMPLES`](crate::limits::MAX_AUDIO_SAMPLES) are [`ModelError::LimitExceeded`].
pub fn decode_audio(bytes: &[u8]) -> Result<(Vec<f32>, u32)> {
    decode_with(bytes, None, crate::limits::MAX_AUDIO_SAMPLES, "the audio bytes")
}

/// [`decode_audio`] with the error as text (the name it had when only WAV was read).
#[deprecated(since = "0.1.0", note = "use `decode_audio`, which also reads FLAC, MP3 and Ogg Vorbis")]
pub fn decode_wav(bytes: &[u8]) -> std::result::Result<(Vec<f32>, u32), String> {
    decode_audio(bytes).map_err(|e| e.to_string())
}

/// [`load_audio`] (the name it had when only WAV was read).
#[deprecated(since = "0.1.0", note = "use `load_audio`, which also reads FLAC, MP3 and Ogg Vorbis")]
pub fn load_wav(path: impl AsRef<Path>) -> Result<(Vec<f32>, u32)> {
    load_audio(path)
}

/// [`decode_audio`] with a file-name extension as a hint to the prober, a limit on the decoded
/// mono samples, and `name` for messages. symphonia's readers can panic on hostile input (an
/// arithmetic overflow in its WAV format parser when overflow checks are on, found by fuzzing):
/// a panic is an [`ModelError::InvalidInput`] naming the file. (The panic hook prints the panic
/// message first, as for any panic.)
pub(crate) fn decode_with(bytes: &[u8], ext: Option<&str>, max_samples: u64, name: &str) -> Result<(Vec<f32>, u32)> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode_unguarded(bytes, ext, max_samples, name))) {
        Ok(r) => r,
        Err(panic) => {
            let what = panic.downcast_ref::<&str>().copied().or_else(|| panic.downcast_ref::<String>().map(String::as_str)).unwrap_or("no message");
            Err(ModelError::InvalidInput(format!("{name}: the audio decoder (symphonia) panicked on it ({what}): it is corrupt, or not an audio file that can be read")))
        }
    }
}

fn decode_unguarded(bytes: &[u8], ext: Option<&str>, max_samples: u64, name: &str) -> Result<(Vec<f32>, u32)> {
    use symphonia::core::codecs::audio::AudioDecoderOptions;
    use symphonia::core::errors::Error as SymErr;
    use symphonia::core::formats::probe::Hint;
    use symphonia::core::formats::{FormatOptions, TrackType};
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;

    let invalid = |m: String| ModelError::InvalidInput(format!("{name}: {m}"));
    let corrupt = |e: SymErr| match e {
        SymErr::Unsupported(m) => invalid(format!("uses an audio feature that is not supported ({m})")),
        SymErr::LimitError(m) => invalid(format!("is over a limit of the audio decoder ({m})")),
        e => invalid(format!("holds corrupt or truncated audio data ({e})")),
    };
    let not_audio = || invalid("is not an audio file that can be read (WAV, FLAC, MP3 or Ogg Vorbis)".into());
    let limit = |what: &str, value: u64, max: u64| crate::limits::check(|| format!("{what} of {name}"), value, max);

    if bytes.is_empty() {
        return Err(invalid("is empty".into()));
    }
    let sized = sized_stream_wav(bytes);
    let bytes = sized.as_deref().unwrap_or(bytes);
    let mss = MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    if let Some(e) = ext {
        hint.with_extension(e);
    }
    let mut reader = symphonia::default::get_probe()
        .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
        .map_err(|e| match e {
            // No reader knew the bytes, or they ended before one could tell.
            SymErr::Unsupported(m) if m.starts_with("core (probe)") => not_audio(),
            SymErr::IoError(_) => invalid("ends before its audio starts: it is truncated, or not an audio file that can be read (WAV, FLAC, MP3 or Ogg Vorbis)".into()),
            e => corrupt(e),
        })?;
    let track = reader.default_track(TrackType::Audio).ok_or_else(|| invalid("holds no audio track".into()))?;
    let (track_id, frames_hint, has_lame_tag) = (track.id, track.num_frames, track.delay.is_some());
    let params = track.codec_params.as_ref().and_then(|c| c.audio()).ok_or_else(|| invalid("holds no audio track".into()))?.clone();
    // The samples the header counts, where that is exact: WAV's data size, FLAC's STREAMINFO,
    // Ogg's last granule position, an MP3's Xing count beside a LAME tag (without one, symphonia
    // may estimate it from the bit rate).
    let exact_count = frames_hint.filter(|_| params.codec != symphonia::core::codecs::audio::well_known::CODEC_ID_MP3 || has_lame_tag);
    let bad_rate = |r: u32| match r as usize {
        1..=crate::limits::MAX_SAMPLE_RATE => Ok(()),
        _ => Err(invalid(format!("has a sample rate of {r} Hz; it must be between 1 and {} Hz", crate::limits::MAX_SAMPLE_RATE))),
    };
    let mut rate = params.sample_rate;
    if let Some(r) = rate {
        bad_rate(r)?;
    }
    let channels = params.channels.as_ref().map_or(1, |c| c.count());
    limit("the channels", channels as u64, crate::limits::MAX_AUDIO_CHANNELS as u64)?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(corrupt)?;

    // Reserve what the header announces, but never more than the limit or one sample a byte: a
    // header (a WAV's data size can be a placeholder) cannot make this allocate. The limit is
    // checked on what is decoded, packet by packet, before it is kept.
    let mut out: Vec<f32> = Vec::with_capacity(frames_hint.unwrap_or(0).min(bytes.len() as u64).min(max_samples) as usize);
    let mut frame = Vec::<f32>::new();
    while let Some(packet) = reader.next_packet().map_err(corrupt)? {
        if packet.track_id != track_id {
            continue;
        }
        let buf = decoder.decode(&packet).map_err(corrupt)?;
        let spec = buf.spec();
        let (r, ch) = (spec.rate(), spec.channels().count());
        if ch == 0 {
            return Err(invalid("has an audio packet with no channels".into()));
        }
        limit("the channels", ch as u64, crate::limits::MAX_AUDIO_CHANNELS as u64)?;
        match rate {
            Some(r0) if r0 != r => return Err(invalid(format!("changes its sample rate from {r0} Hz to {r} Hz"))),
            _ => rate = Some(r),
        }
        limit("the samples", (out.len() + buf.frames()) as u64, max_samples)?;
        buf.copy_to_vec_interleaved::<f32>(&mut frame);
        out.extend(frame.chunks_exact(ch).map(|f| f.iter().sum::<f32>() / ch as f32));
    }
    let rate = rate.unwrap_or(0);
    bad_rate(rate)?;
    if out.is_empty() {
        return Err(invalid("holds no audio samples".into()));
    }
    // Cut at a packet boundary, or packets the reader skipped: fewer samples than the header counts.
    if let Some(n) = exact_count.filter(|&n| (out.len() as u64) < n) {
        return Err(invalid(format!("is truncated or corrupt: it holds {} of the {n} samples its header counts", out.len())));
    }
    if let Some(i) = out.iter().position(|v| !v.is_finite()) {
        return Err(invalid(format!("has a sample that is not finite ({}) at {i}", out[i])));
    }
    Ok((out, rate))
}

/// A copy of a RIFF/WAVE file whose data chunk has a stream's placeholder size (u32::MAX, not
/// known when the header was written) with the sizes of what is there, or `None`. symphonia
/// reads such a chunk to the end of the file but takes the last, partial read for truncation.
fn sized_stream_wav(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut pos = 12usize;
    while pos + 8 <= bytes.len() {
        let size = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().ok()?);
        if &bytes[pos..pos + 4] == b"data" {
            if size != u32::MAX {
                return None;
            }
            let mut fixed = bytes.to_vec();
            fixed[4..8].copy_from_slice(&u32::try_from(bytes.len() - 8).ok()?.to_le_bytes());
            fixed[pos + 4..pos + 8].copy_from_slice(&u32::try_from(bytes.len() - pos - 8).ok()?.to_le_bytes());
            return Some(fixed);
        }
        pos = pos.checked_add(8 + size as usize + (size as usize & 1))?;
    }
    None
}

/// `wave` at `from` Hz resampled to `to` Hz with a band-limited FFT resampler (`rubato`'s
/// synchronous `Fft`, Blackman-Harris anti-aliasing filters of at least 2048 input samples); the
/// filter's delay is removed and the ends are treated as silence, so the output has
/// ⌈len · to / from⌉ samples aligned with the input. Equal rates return the samples unchanged.
/// Rates with a small common divisor make long filters (44 101 → 16 000 Hz: 88 202 samples),
/// slower but no worse.
pub fn resample(wave: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    use rubato::Resampler as _;
    let max = crate::limits::MAX_SAMPLE_RATE as u64;
    for r in [from, to] {
        if r == 0 || r as u64 > max {
            return Err(ModelError::InvalidInput(format!("cannot resample at {r} Hz; a sample rate must be between 1 and {max} Hz")));
        }
    }
    if from == to || wave.is_empty() {
        return Ok(wave.to_vec());
    }
    let out_len = (wave.len() as u64 * to as u64).div_ceil(from as u64);
    crate::limits::check(|| format!("the samples after resampling from {from} Hz to {to} Hz"), out_len, crate::limits::MAX_AUDIO_SAMPLES)?;
    let fail = |e: &dyn std::fmt::Display| ModelError::InvalidInput(format!("resampling from {from} Hz to {to} Hz failed: {e}"));
    // One FFT block of an even number of `from / gcd` steps, at least 2048 input samples: the
    // filter is centred on sample n/2 of its block, and rubato removes a delay of half the
    // output block, which is the same instant only when both block sizes are even (odd ones
    // leave the output up to half a sample early: 13% RMS error at 44.1 kHz).
    let (mut a, mut b) = (from as usize, to as usize);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let step = from as usize / a;
    let block = 2048usize.div_ceil(step).next_multiple_of(2) * step;
    let mut r = rubato::Fft::<f32>::new_custom(from as usize, to as usize, block, 1, 1, rubato::WindowFunction::BlackmanHarris2, rubato::FixedSync::Input)
        .map_err(|e| fail(&e))?;
    let input = rubato::audioadapter_buffers::direct::InterleavedSlice::new(wave, 1, wave.len()).map_err(|e| fail(&e))?;
    let out = r.process_all(&input, wave.len(), None).map_err(|e| fail(&e))?;
    Ok(out.take_data())
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
    let fft = realfft::RealFftPlanner::<f64>::new().plan_fft_forward(nfft);
    let mut out = Vec::with_capacity(frames * num_mel_bins);
    let mut re = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    let mut power = vec![0f64; nfft / 2 + 1];
    for f in 0..frames {
        let x = &waveform[f * shift..f * shift + frame_len];
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / frame_len as f64;
        re.iter_mut().for_each(|v| *v = 0.0);
        let mut prev = x[0] as f64 - mean;
        for i in 0..frame_len {
            let cur = x[i] as f64 - mean;
            re[i] = (cur - 0.97 * prev) * window[i];
            prev = cur;
        }
        // The buffers are the plan's own sizes, so this cannot fail.
        fft.process_with_scratch(&mut re, &mut spectrum, &mut scratch)
            .map_err(|e| ModelError::InvalidInput(format!("fbank FFT: {e}")))?;
        for (p, c) in power.iter_mut().zip(&spectrum) {
            *p = c.norm_sqr();
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Kaldi fbank as it was computed with the radix-2 FFT above (the comparison twin).
    fn fbank_radix2(waveform: &[f32], sampling_rate: usize, num_mel_bins: usize) -> Vec<f32> {
        let frame_len = sampling_rate * 25 / 1000;
        let shift = sampling_rate * 10 / 1000;
        let nfft = frame_len.next_power_of_two();
        let frames = 1 + (waveform.len() - frame_len) / shift;
        let window: Vec<f64> = (0..frame_len)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (frame_len - 1) as f64).cos())
            .collect();
        let banks = mel_banks(num_mel_bins, nfft, sampling_rate as f64);
        let fft = Fft::new(nfft);
        let mut out = Vec::new();
        for f in 0..frames {
            let x = &waveform[f * shift..f * shift + frame_len];
            let mean = x.iter().map(|&v| v as f64).sum::<f64>() / frame_len as f64;
            let (mut re, mut im) = (vec![0f64; nfft], vec![0f64; nfft]);
            let mut prev = x[0] as f64 - mean;
            for i in 0..frame_len {
                let cur = x[i] as f64 - mean;
                re[i] = (cur - 0.97 * prev) * window[i];
                prev = cur;
            }
            fft.run(&mut re, &mut im);
            let power: Vec<f64> = (0..=nfft / 2).map(|k| re[k] * re[k] + im[k] * im[k]).collect();
            for bank in &banks {
                let e: f64 = bank.iter().map(|&(k, w)| w * power[k]).sum();
                out.push(e.max(f32::EPSILON as f64).ln() as f32);
            }
        }
        out
    }

    /// The fbank through `realfft` equals the radix-2 one within 1e-6 (relative to the value
    /// where it is over 1: the features are f32, whose last bit at 20 is 2e-6) on a sweep, noise,
    /// a click and silence, at three rates (FFTs of 256, 512 and 2048).
    #[test]
    fn features_equal_the_radix2_fft() {
        let mut seed = 12345u32;
        let mut noise = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 23) as f32 - 1.0
        };
        for (rate, bins) in [(16000usize, 128usize), (8000, 23), (44100, 64)] {
            let n = rate * 3 / 10;
            let sweep: Vec<f32> = (0..n).map(|i| { let t = i as f32 / rate as f32; (2.0 * std::f32::consts::PI * (100.0 + 5000.0 * t) * t).sin() * 0.5 }).collect();
            let hiss: Vec<f32> = (0..n).map(|_| noise() * 0.3).collect();
            let mut click = vec![0f32; n];
            click[n / 2] = 1.0;
            for wave in [sweep, hiss, click, vec![0f32; n]] {
                let (got, want) = (fbank(&wave, rate, bins).unwrap(), fbank_radix2(&wave, rate, bins));
                assert_eq!(got.len(), want.len());
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!((g - w).abs() <= 1e-6 * w.abs().max(1.0), "{rate} Hz, value {i}: {g} vs {w}");
                }
            }
        }
    }

    /// A WAV file; `data_size` overrides the data chunk's stated size (and the RIFF size is then
    /// unknown, u32::MAX, as a stream writes them).
    fn wav_sized(format: u16, channels: u16, rate: u32, bits: u16, data: &[u8], data_size: Option<u32>) -> Vec<u8> {
        let mut v = b"WAVEfmt ".to_vec();
        v.extend(16u32.to_le_bytes());
        v.extend(format.to_le_bytes());
        v.extend(channels.to_le_bytes());
        v.extend(rate.to_le_bytes());
        v.extend((rate * channels as u32 * bits as u32 / 8).to_le_bytes());
        v.extend((channels * bits / 8).to_le_bytes());
        v.extend(bits.to_le_bytes());
        v.extend(b"junk\x03\0\0\0abc\0"); // a chunk to skip, odd-sized with its pad byte
        v.extend(b"data");
        v.extend(data_size.unwrap_or(data.len() as u32).to_le_bytes());
        v.extend(data);
        let mut riff = b"RIFF".to_vec();
        riff.extend(data_size.map_or(v.len() as u32, |_| u32::MAX).to_le_bytes());
        riff.extend(v);
        riff
    }

    fn wav(format: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        wav_sized(format, channels, rate, bits, data, None)
    }

    #[test]
    fn wav_encodings_decode() {
        let pcm16: Vec<u8> = [0i16, 16384, -32768, 32767].iter().flat_map(|s| s.to_le_bytes()).collect();
        let (s, r) = decode_audio(&wav(1, 1, 16000, 16, &pcm16)).unwrap();
        assert_eq!((s, r), (vec![0.0, 0.5, -1.0, 32767.0 / 32768.0], 16000));
        // Stereo is averaged; float samples pass through.
        let f32s: Vec<u8> = [0.5f32, -0.25, 1.0, 0.0].iter().flat_map(|s| s.to_le_bytes()).collect();
        assert_eq!(decode_audio(&wav(3, 2, 8000, 32, &f32s)).unwrap(), (vec![0.125, 0.5], 8000));
        let f64s: Vec<u8> = [0.25f64, -1.0].iter().flat_map(|s| s.to_le_bytes()).collect();
        assert_eq!(decode_audio(&wav(3, 1, 8000, 64, &f64s)).unwrap().0, vec![0.25, -1.0]);
        let pcm24 = [0x00, 0x00, 0x80, 0xff, 0xff, 0x7f];
        assert_eq!(decode_audio(&wav(1, 1, 16000, 24, &pcm24)).unwrap().0, vec![-1.0, 8_388_607.0 / 8_388_608.0]);
        let pcm32: Vec<u8> = [i32::MIN, 1 << 30].iter().flat_map(|s| s.to_le_bytes()).collect();
        assert_eq!(decode_audio(&wav(1, 1, 16000, 32, &pcm32)).unwrap().0, vec![-1.0, 0.5]);
        assert_eq!(decode_audio(&wav(1, 1, 16000, 8, &[128, 0])).unwrap().0, vec![0.0, -1.0]);
        // The sizes of a stream (u32::MAX, not known when the header was written): the samples
        // that are there.
        assert_eq!(decode_audio(&wav_sized(1, 1, 16000, 16, &pcm16, Some(u32::MAX))).unwrap().0.len(), 4);
    }

    #[test]
    fn bad_audio_is_one_clear_error() {
        let msg = |b: &[u8]| match decode_audio(b) {
            Err(ModelError::InvalidInput(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(msg(b""), "the audio bytes: is empty");
        for bytes in [&b"RIFF"[..], b"RIFF\x04\0\0\0AVI LIST", b"hello, this is text and not sound at all"] {
            let m = msg(bytes);
            assert!(m.starts_with("the audio bytes: ") && m.contains("not an audio file"), "{m}");
        }
        let wma = msg(&wav(0x161, 1, 16000, 16, &[0, 0]));
        assert!(wma.contains("not supported"), "{wma}");
        // A data chunk that says it is longer than the file: truncated.
        let cut = msg(&wav_sized(1, 1, 16000, 16, &[0; 64], Some(1000)));
        assert!(cut.contains("truncated"), "{cut}");
        let mut no_data = wav(1, 1, 16000, 16, &[]);
        no_data.truncate(no_data.len() - 8);
        assert!(msg(&no_data).contains("the audio bytes"));
        assert!(msg(&wav(1, 1, 16000, 16, &[])).contains("no audio samples"));
        for rate in [0, 1_000_000] {
            let m = msg(&wav(1, 1, rate, 16, &[0, 0]));
            assert!(m.contains(&format!("a sample rate of {rate} Hz")), "{m}");
        }
        let nan: Vec<u8> = [0.5f32, f32::NAN].iter().flat_map(|s| s.to_le_bytes()).collect();
        assert!(msg(&wav(3, 1, 16000, 32, &nan)).contains("not finite"));
        // Decoded samples over the limit: found while decoding, before they are kept.
        let many = wav(1, 2, 16000, 16, &vec![0u8; 4 * 1000]);
        assert_eq!(decode_with(&many, None, 1000, "x").unwrap().0.len(), 1000);
        let e = decode_with(&many, None, 999, "x").unwrap_err();
        assert!(matches!(e, ModelError::LimitExceeded { value: 1000, limit: 999, .. }), "{e}");
        #[allow(deprecated)]
        let old = decode_wav(b"RIFF");
        assert!(old.unwrap_err().contains("not an audio file"));
    }

    #[test]
    fn resampling_keeps_equal_rates_and_checks_its_sizes() {
        let wave: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.05).sin()).collect();
        assert_eq!(resample(&wave, 16000, 16000).unwrap(), wave);
        assert_eq!(resample(&wave, 44100, 16000).unwrap().len(), (1000 * 16000usize).div_ceil(44100));
        assert_eq!(resample(&wave, 8000, 16000).unwrap().len(), 2000);
        assert!(resample(&wave, 0, 16000).is_err() && resample(&wave, 16000, 10_000_000).is_err());
        let e = resample(&vec![0f32; 1 << 20], 100, 768_000).unwrap_err();
        assert!(matches!(e, ModelError::LimitExceeded { .. }), "{e}");
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
