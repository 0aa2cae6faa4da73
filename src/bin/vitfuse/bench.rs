//! Measurements shared by `vitfuse bench` and the criterion benches: each validates its output
//! against the CPU reference on a sample, then times `iters` recorded-and-submitted runs and
//! returns the median wall time per run (submit + wait included).

use std::time::Instant;

use vitfuse_runtime::ops::{self, MatmulKernel, MatmulOptions};
use vitfuse_runtime::{Context, Tensor};

use crate::selfcheck::seeded;

/// Median of the wall times of `iters` runs of `f` (each followed by a GPU sync), in ms.
pub fn median_ms(ctx: &Context, iters: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    f()?;
    ctx.sync()?;
    let mut t = Vec::with_capacity(iters);
    for _ in 0..iters.max(1) {
        let t0 = Instant::now();
        f()?;
        ctx.sync()?;
        t.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(t))
}

/// The middle value of `v` (the upper one of an even count); `v` is not empty.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Checks, before anything is allocated, that an f32 tensor of `dims` fits one GPU binding.
pub fn fits(ctx: &Context, what: &str, dims: &[usize]) -> anyhow::Result<()> {
    let lim = ctx.limits();
    let limit = lim.max_storage_buffer_binding_size.min(lim.max_buffer_size);
    let bytes = dims.iter().try_fold(4u64, |acc, &d| acc.checked_mul(d as u64));
    match bytes {
        Some(b) if b <= limit => Ok(()),
        _ => anyhow::bail!(
            "{what} {} would take {}, more than the {limit} bytes one GPU buffer binding holds on this adapter",
            dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x"),
            bytes.map_or("more than 2^64 bytes".to_string(), |b| format!("{b} bytes"))
        ),
    }
}

/// Times `a (M, K) · w (N, K)ᵀ` with the given kernel; returns (median ms, GFLOP/s).
/// With `f16` the weights are stored as f16 (and the check uses the rounded values).
pub fn matmul(
    ctx: &Context,
    m: usize,
    k: usize,
    n: usize,
    kernel: MatmulKernel,
    precision: vitfuse_model::Precision,
    iters: usize,
) -> anyhow::Result<(f64, f64)> {
    fits(ctx, "the input A", &[m, k])?;
    fits(ctx, "the input W", &[n, k])?;
    fits(ctx, "the output", &[m, n])?;
    // f16: f16 weights, and f16 activations in and out where the device has SHADER_F16 (as the
    // models' encoder layers run them).
    let act16 = precision == vitfuse_model::Precision::F16
        && ctx.has_feature(vitfuse_runtime::wgpu::Features::SHADER_F16);
    let mut a = seeded(m * k, 1);
    let mut w = seeded(n * k, 2);
    let ta = if act16 {
        let h = vitfuse_model::weights::to_f16("A", &a)?;
        a = h.iter().map(|x| x.to_f32()).collect();
        Tensor::from_slice(ctx, &[m, k], &h)?
    } else {
        Tensor::from_slice(ctx, &[m, k], &a)?
    };
    let tw = if precision.f16_weights() {
        let h = vitfuse_model::weights::to_f16("W", &w)?;
        w = h.iter().map(|x| x.to_f32()).collect();
        Tensor::from_slice(ctx, &[n, k], &h)?
    } else {
        Tensor::from_slice(ctx, &[n, k], &w)?
    };
    let opts = MatmulOptions { kernel, ..Default::default() };
    // Validate a sample of outputs before timing.
    let out = ops::matmul(ctx, &ta, &tw, None, None, opts)?;
    let out: Vec<f32> = if act16 {
        out.to_vec::<half::f16>(ctx)?
            .iter()
            .map(|x| x.to_f32())
            .collect()
    } else {
        out.to_vec::<f32>(ctx)?
    };
    for s in 0..16usize {
        let (i, j) = ((s * 7919) % m, (s * 104_729) % n);
        let want: f64 = (0..k).map(|l| a[i * k + l] as f64 * w[j * k + l] as f64).sum();
        let got = out[i * n + j] as f64;
        anyhow::ensure!((got - want).abs() <= 1e-3 + 1e-3 * want.abs(), "matmul[{i},{j}] = {got}, reference {want}");
    }
    let ms = median_ms(ctx, iters, || {
        ops::matmul(ctx, &ta, &tw, None, None, opts)?;
        Ok(())
    })?;
    Ok((ms, 2.0 * (m * k * n) as f64 / (ms * 1e6)))
}

/// Times LayerNorm over (rows, cols); returns (median ms, GB/s moved).
pub fn layernorm(ctx: &Context, rows: usize, cols: usize, iters: usize) -> anyhow::Result<(f64, f64)> {
    fits(ctx, "the input", &[rows, cols])?;
    let x = Tensor::from_slice(ctx, &[rows, cols], &seeded(rows * cols, 3))?;
    let g = Tensor::from_slice(ctx, &[cols], &seeded(cols, 4))?;
    let b = Tensor::from_slice(ctx, &[cols], &seeded(cols, 5))?;
    let ms = median_ms(ctx, iters, || {
        ops::layernorm(ctx, &x, &g, &b, 1e-6)?;
        Ok(())
    })?;
    Ok((ms, (2 * rows * cols * 4) as f64 / (ms * 1e6)))
}

/// Times softmax over (rows, cols); returns (median ms, GB/s moved).
pub fn softmax(ctx: &Context, rows: usize, cols: usize, iters: usize) -> anyhow::Result<(f64, f64)> {
    fits(ctx, "the input", &[rows, cols])?;
    let x = Tensor::from_slice(ctx, &[rows, cols], &seeded(rows * cols, 6))?;
    let ms = median_ms(ctx, iters, || {
        ops::softmax(ctx, &x, None, 0.125)?;
        Ok(())
    })?;
    Ok((ms, (2 * rows * cols * 4) as f64 / (ms * 1e6)))
}

/// Encoders benchmarked by `vitfuse bench model` (random weights of the real shapes): image
/// encoders, AST-base on 1024 frames × 128 mel bins (1214 tokens), and DINOv2-B/14 as its
/// checkpoints run (a 518² position grid resized to 224² inputs: 257 tokens; with registers 261,
/// the resize antialiased).
pub const MODELS: &[&str] = &["vit-b16", "vit-ti16", "clip-b32", "ast-b", "dinov2-b14", "dinov2-b14-reg"];

/// One encoder at real size with seeded random weights.
pub enum BenchModel {
    Vit(Box<vitfuse_model::vit::Vit>),
    ClipVision(Box<vitfuse_model::clip::ClipVision>, vitfuse_model::ClipVisionConfig),
    Ast(Box<vitfuse_model::ast::Ast>),
    Dinov2(Box<vitfuse_model::dinov2::Dinov2>),
}

impl BenchModel {
    /// `name` with its matmul weights stored in `precision`.
    pub fn new(ctx: &Context, name: &str, precision: vitfuse_model::Precision) -> anyhow::Result<(Self, usize)> {
        use vitfuse_model::nn::{Loader, Source};
        use vitfuse_model::ModelConfig;
        let l = Loader::from_source(ctx, Source::Random(7), "").with_precision(precision);
        let vit = |json: &str| -> anyhow::Result<(Self, usize)> {
            let ModelConfig::Vit(c) = ModelConfig::from_json_str(json, std::path::Path::new(name))? else {
                anyhow::bail!("not a ViT config")
            };
            Ok((BenchModel::Vit(Box::new(vitfuse_model::vit::Vit::load_from(&l, &c)?)), c.image_size))
        };
        match name {
            "vit-b16" => vit(r#"{"architectures": ["ViTModel"]}"#),
            "vit-ti16" => vit(r#"{"architectures": ["ViTModel"], "hidden_size": 192, "num_attention_heads": 3, "intermediate_size": 768}"#),
            "clip-b32" => {
                let ModelConfig::Clip(c) = ModelConfig::from_json_str(r#"{"architectures": ["CLIPModel"]}"#, std::path::Path::new(name))? else {
                    anyhow::bail!("not a CLIP config")
                };
                let v = vitfuse_model::clip::ClipVision::load(&l.pp("vision_model"), &c)?;
                Ok((BenchModel::ClipVision(Box::new(v), c.vision_config.clone()), c.vision_config.image_size))
            }
            "ast-b" => {
                let ModelConfig::Ast(c) = ModelConfig::from_json_str(r#"{"architectures": ["ASTForAudioClassification"]}"#, std::path::Path::new(name))? else {
                    anyhow::bail!("not an AST config")
                };
                Ok((BenchModel::Ast(Box::new(vitfuse_model::ast::Ast::load_from(&l, &c)?)), 0))
            }
            "dinov2-b14" | "dinov2-b14-reg" => {
                let arch = if name.ends_with("-reg") { "Dinov2WithRegistersModel" } else { "Dinov2Model" };
                let json = format!(r#"{{"architectures": ["{arch}"], "image_size": 518, "patch_size": 14}}"#);
                let ModelConfig::Dinov2(c) = ModelConfig::from_json_str(&json, std::path::Path::new(name))? else {
                    anyhow::bail!("not a DINOv2 config")
                };
                Ok((BenchModel::Dinov2(Box::new(vitfuse_model::dinov2::Dinov2::load_from(&l, &c)?)), 224))
            }
            other => anyhow::bail!("unknown model {other:?}; choose one of {}", MODELS.join(", ")),
        }
    }

    /// Records one forward pass (no read-back).
    pub fn forward(&self, ctx: &Context, pixels: &Tensor) -> anyhow::Result<Tensor> {
        Ok(match self {
            BenchModel::Vit(m) => m.forward(ctx, pixels)?.last_hidden_state,
            BenchModel::ClipVision(m, _) => m.forward(ctx, pixels)?.embeds,
            BenchModel::Ast(m) => m.forward(ctx, pixels)?.pooler_output,
            BenchModel::Dinov2(m) => m.forward(ctx, pixels)?.last_hidden_state,
        })
    }

    /// Tokens per item and the encoder's dimensions.
    fn encoder(&self) -> (usize, vitfuse_model::EncoderConfig) {
        match self {
            BenchModel::Vit(m) => (m.config.grid_size().pow(2) + 1, m.config.encoder),
            BenchModel::ClipVision(_, v) => (v.grid_size().pow(2) + 1, v.encoder),
            BenchModel::Ast(m) => {
                let (f, t) = m.config.patch_grid();
                (f * t + 2, m.config.encoder)
            }
            BenchModel::Dinov2(m) => ((224 / m.config.patch_size).pow(2) + 1 + m.config.num_register_tokens, m.config.encoder),
        }
    }

    /// Checks that a batch's input and widest activations (the fused QKV or MLP output, the
    /// attention scores of one head row block) fit the adapter before anything is allocated.
    pub fn check_batch(&self, ctx: &Context, batch: usize, size: usize) -> anyhow::Result<()> {
        fits(ctx, "the input", &self.input_shape(batch, size))?;
        let (t, e) = self.encoder();
        fits(ctx, "the widest activation", &[batch, t, (3 * e.hidden_size).max(e.intermediate_size)])?;
        fits(ctx, "the attention scores", &[batch, e.num_attention_heads, t, t])
    }

    /// The input shape of a batch: (B, 3, S, S) pixels, or (B, T, F) features for the AST.
    pub fn input_shape(&self, batch: usize, size: usize) -> Vec<usize> {
        match self {
            BenchModel::Ast(m) => vec![batch, m.config.max_length, m.config.num_mel_bins],
            _ => vec![batch, 3, size, size],
        }
    }
}

/// Per-kernel GPU time of one pass: (kernel, dispatches, ms).
pub type Split = Vec<(String, u64, f64)>;

/// What `bench model` measured.
pub struct ModelRun {
    /// Median ms of a pass.
    pub ms: f64,
    /// Ms of the process's first pass, result read back: the pipelines it builds included (from
    /// the pipeline cache when one is warm), so cold and warm starts can be compared.
    pub first_ms: f64,
    /// Device bytes the model's weights hold (the pool's buffers in use after loading).
    pub weight_bytes: u64,
    /// Bytes of texture copies held after the passes (the weights' copies for the
    /// texture-operand matmul on software adapters; 0 elsewhere).
    pub texture_bytes: u64,
    /// Median host ms to record a pass (every dispatch encoded, nothing submitted yet) and to
    /// submit it (command buffer finished and handed to the queue): the CPU time a GPU waits
    /// for before the pass starts.
    pub record_ms: f64,
    /// See `record_ms`.
    pub submit_ms: f64,
    /// Per-kernel GPU time of one pass, when the context profiles.
    pub split: Option<Split>,
}

/// Median ms of a batch-`batch` forward pass of `name` with weights in `precision`; with
/// `profile`, also the per-kernel GPU time of one pass (name, dispatches, ms; see
/// `ContextOptions::profile`).
pub fn model(ctx: &Context, name: &str, batch: usize, iters: usize, precision: vitfuse_model::Precision) -> anyhow::Result<ModelRun> {
    let before = ctx.pool_stats().bytes_in_use();
    let (m, size) = BenchModel::new(ctx, name, precision)?;
    let weight_bytes = ctx.pool_stats().bytes_in_use() - before;
    m.check_batch(ctx, batch, size)?;
    let shape = m.input_shape(batch, size);
    let px = Tensor::from_slice(ctx, &shape, &seeded(shape.iter().product(), 11))?;
    let t0 = Instant::now();
    let out = m.forward(ctx, &px)?.to_vec::<f32>(ctx)?;
    let first_ms = t0.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(out.iter().all(|v| v.is_finite()), "{name} produced non-finite values");
    let mut record = Vec::with_capacity(iters + 1);
    let ms = median_ms(ctx, iters, || {
        let t0 = Instant::now();
        m.forward(ctx, &px)?;
        let t1 = Instant::now();
        ctx.flush();
        record.push(((t1 - t0).as_secs_f64() * 1e3, t1.elapsed().as_secs_f64() * 1e3));
        Ok(())
    })?;
    let record_ms = median(record.iter().map(|r| r.0).collect());
    let submit_ms = median(record.iter().map(|r| r.1).collect());
    let texture_bytes = ctx.pool_stats().texture_bytes_in_use;
    // The split: one more pass, timed per dispatch when the context profiles.
    let _ = ctx.take_profile()?;
    m.forward(ctx, &px)?;
    let split = ctx.take_profile()?;
    Ok(ModelRun { ms, first_ms, record_ms, submit_ms, weight_bytes, texture_bytes, split })
}

/// Median wall time of `iters` runs of `f` (after one untimed run), in seconds; host work only.
fn median_host_s<T>(iters: usize, mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<f64> {
    f()?;
    let mut t = Vec::with_capacity(iters);
    for _ in 0..iters.max(1) {
        let t0 = Instant::now();
        std::hint::black_box(f()?);
        t.push(t0.elapsed().as_secs_f64());
    }
    Ok(median(t))
}

/// A 16-bit stereo WAV of `seconds` of a sweep and a tone at `rate`, in memory.
fn wav_bytes(seconds: f64, rate: u32) -> Vec<u8> {
    let n = (seconds * rate as f64) as usize;
    let mut data = Vec::with_capacity(n * 4);
    for i in 0..n {
        let t = i as f64 / rate as f64;
        let l = 0.4 * (2.0 * std::f64::consts::PI * (200.0 + 300.0 * t) * t).sin();
        let r = 0.3 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin();
        for v in [l, r] {
            data.extend(((v * 32767.0) as i16).to_le_bytes());
        }
    }
    let mut v = b"RIFF".to_vec();
    v.extend((36 + data.len() as u32).to_le_bytes());
    v.extend(b"WAVEfmt ");
    v.extend(16u32.to_le_bytes());
    v.extend(1u16.to_le_bytes());
    v.extend(2u16.to_le_bytes());
    v.extend(rate.to_le_bytes());
    v.extend((rate * 4).to_le_bytes());
    v.extend(4u16.to_le_bytes());
    v.extend(16u16.to_le_bytes());
    v.extend(b"data");
    v.extend((data.len() as u32).to_le_bytes());
    v.extend(data);
    v
}

/// Host-side audio throughput, in seconds of audio per second: the Kaldi fbank (16 kHz, 128 mel
/// bins, every frame of `seconds` of audio), the AST extractor's own `extract` (its first 1024
/// frames, normalised), decoding a 44.1 kHz stereo WAV (or `file`), and resampling it to 16 kHz.
pub fn audio(seconds: f64, iters: usize, file: Option<&std::path::Path>) -> anyhow::Result<serde_json::Value> {
    use vitfuse_model::audio::{decode_audio, fbank, resample, AstFeatureExtractor};
    anyhow::ensure!(seconds.is_finite() && (1.0..=3600.0).contains(&seconds), "--seconds must be between 1 and 3600");
    let fx = AstFeatureExtractor::from_json_str("{}", std::path::Path::new("<defaults>"))?;
    let wave: Vec<f32> = seeded((seconds * 16000.0) as usize, 3).iter().map(|v| v * 0.5).collect();
    let fbank_s = median_host_s(iters, || Ok(fbank(&wave, 16000, 128)?))?;
    let extract_s = median_host_s(iters, || Ok(fx.extract(&wave)?))?;
    let (bytes, name) = match file {
        Some(p) => (std::fs::read(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?, p.display().to_string()),
        None => (wav_bytes(seconds, 44100), format!("<{seconds} s of 44.1 kHz 16-bit stereo WAV>")),
    };
    let decode_s = median_host_s(iters, || Ok(decode_audio(&bytes)?))?;
    let (decoded, rate) = decode_audio(&bytes)?;
    let clip_s = decoded.len() as f64 / rate as f64;
    let resample_s = median_host_s(iters, || Ok(resample(&decoded, rate, 16000)?))?;
    Ok(serde_json::json!({
        "bench": "audio",
        "seconds": seconds,
        "fbank_s": fbank_s,
        "fbank_audio_s_per_s": seconds / fbank_s,
        "extract_frames": fx.max_length,
        "extract_s": extract_s,
        "file": name,
        "file_rate": rate,
        "file_seconds": clip_s,
        "decode_s": decode_s,
        "decode_audio_s_per_s": clip_s / decode_s,
        "resample_s": resample_s,
        "resample_audio_s_per_s": clip_s / resample_s,
    }))
}

/// Sorted wall times (ms) of `reps` runs, each `per_run` calls of `f` recorded into one
/// submission and waited for; `per_run` doubles from 1 until a run takes `target_ms` (after
/// one untimed warm-up call). Returns (`per_run`, times).
fn calibrated_runs(ctx: &Context, reps: usize, target_ms: f64, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<(u64, Vec<f64>)> {
    let mut run = |k: u64| -> anyhow::Result<f64> {
        let t0 = Instant::now();
        for _ in 0..k {
            f()?;
        }
        ctx.sync()?;
        Ok(t0.elapsed().as_secs_f64() * 1e3)
    };
    run(1)?;
    let mut k = 1;
    while run(k)? < target_ms && k < 1024 {
        k *= 2;
    }
    let mut t = (0..reps.max(1)).map(|_| run(k)).collect::<anyhow::Result<Vec<f64>>>()?;
    t.sort_by(|a, b| a.total_cmp(b));
    Ok((k, t))
}

/// Each timed run of `bench peak` lasts at least this long (dispatch and sync overheads stay
/// small beside it).
const PEAK_RUN_MS: f64 = 20.0;

/// The FMA ceiling in GFLOP/s (2 flops per FMA lane), best and median of `reps` runs, as one
/// JSON line; `None` for f16 where the device lacks `SHADER_F16`.
pub fn peak_fma(ctx: &Context, precision: ops::peak::Precision, reps: usize) -> anyhow::Result<Option<serde_json::Value>> {
    use ops::peak::{Precision, FMA_PER_ITER};
    if precision == Precision::F16 && !ctx.has_feature(vitfuse_runtime::wgpu::Features::SHADER_F16) {
        return Ok(None);
    }
    // Enough invocations to fill the device, enough rounds that one dispatch is milliseconds.
    let (n, iters) = if ctx.is_software() { (8192, 256) } else { (1 << 20, 1024) };
    let (mul, add) = (0.75, 0.125);
    // Every lane converges to add / (1 - mul) = 0.5: 16 per invocation.
    let out = ops::peak::fma(ctx, precision, n, iters, mul, add)?.to_vec::<f32>(ctx)?;
    for (i, v) in out.iter().enumerate().step_by(997) {
        anyhow::ensure!((v - 16.0).abs() < 0.1, "peak fma {precision:?}: invocation {i} gave {v}, expected 16");
    }
    let (per_run, t) = calibrated_runs(ctx, reps, PEAK_RUN_MS, || {
        ops::peak::fma(ctx, precision, n, iters, mul, add)?;
        Ok(())
    })?;
    let flops = 2.0 * (FMA_PER_ITER * n as u64 * iters as u64 * per_run) as f64;
    let (best, median) = (t[0], t[t.len() / 2]);
    let what = match precision {
        Precision::F32 => "fma-f32",
        Precision::F16 => "fma-f16",
    };
    Ok(Some(serde_json::json!({
        "bench": "peak", "what": what, "adapter": ctx.adapter_name(),
        "invocations": n, "loop_iters": iters, "dispatches_per_run": per_run, "runs": t.len(),
        "best_ms": best, "median_ms": median,
        "gflops_best": flops / (best * 1e6), "gflops_median": flops / (median * 1e6),
    })))
}

/// Copy bandwidth through a kernel in GB/s (bytes read + written per second), best and median
/// of `reps` runs, as one JSON line. The buffers are 32 MiB on software adapters, else 256 MiB
/// (less where one binding cannot hold that).
pub fn peak_copy(ctx: &Context, reps: usize) -> anyhow::Result<serde_json::Value> {
    let lim = ctx.limits();
    let cap = lim.max_storage_buffer_binding_size.min(lim.max_buffer_size);
    let want: u64 = if ctx.is_software() { 32 << 20 } else { 256 << 20 };
    let bytes = want.min(cap) / 16 * 16;
    let n = (bytes / 4) as usize;
    let host: Vec<f32> = (0..n).map(|i| (i % 4099) as f32).collect();
    let x = Tensor::from_slice(ctx, &[n], &host)?;
    let y = ops::peak::copy(ctx, &x)?.to_vec::<f32>(ctx)?;
    for i in (0..n).step_by(4093) {
        anyhow::ensure!(y[i] == host[i], "peak copy: element {i} is {}, expected {}", y[i], host[i]);
    }
    drop((host, y));
    let (per_run, t) = calibrated_runs(ctx, reps, PEAK_RUN_MS, || {
        ops::peak::copy(ctx, &x)?;
        Ok(())
    })?;
    let moved = 2.0 * (bytes * per_run) as f64;
    let (best, median) = (t[0], t[t.len() / 2]);
    Ok(serde_json::json!({
        "bench": "peak", "what": "copy", "adapter": ctx.adapter_name(),
        "bytes": bytes, "dispatches_per_run": per_run, "runs": t.len(),
        "best_ms": best, "median_ms": median,
        "gbps_best": moved / (best * 1e6), "gbps_median": moved / (median * 1e6),
    }))
}
