//! The `vitfuse` command line: a thin layer over the library API. Errors print one line on
//! stderr and exit with code 2; warnings from the library print as `warning: …` lines.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

mod bench;
mod demo;
mod selfcheck;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use vitfuse::runtime::ops::MatmulKernel;
use vitfuse::runtime::{AttentionKernel, Context, ContextOptions, KernelChoices, PatchKernel};
use vitfuse::{Device, Model, Options, Precision, Task};

const MODEL_HELP: &str = "Model folder as Hugging Face saves it: config.json and model.safetensors (or \
model.safetensors.index.json with its shards), plus tokenizer.json for text and preprocessor_config.json \
for images or audio";

#[derive(Parser)]
#[command(
    name = "vitfuse",
    version,
    about = "Portable GPU inference for multimodal Vision Transformers (WGSL on wgpu)",
    after_help = "A model folder holds config.json and model.safetensors (or a sharded index), plus \
tokenizer.json for text and preprocessor_config.json for images or audio. Supported: ViT, CLIP, Chinese-CLIP, SigLIP, SigLIP 2, ViLT, AST, DeiT, DINOv2."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Where GPU work runs.
#[derive(Args, Clone, Debug, Default)]
struct Gpu {
    /// Adapter to use: part of its name, a backend (vulkan, metal, dx12, gl), `cpu`, or an index
    /// from `vitfuse info`. Defaults to $VITFUSE_ADAPTER, else the high-performance adapter.
    #[arg(long)]
    adapter: Option<String>,
    /// The model's precision: f32; f16 (f16 matmul weights and token embeddings, half their
    /// memory, and f16 activations inside the encoder layers where the adapter has SHADER_F16;
    /// every sum stays f32); or f16-weights (f16 weights, f32 activations). f32 and bf16 values
    /// are rounded to the nearest f16. Default: f16-weights for checkpoints stored in f16
    /// (loaded unchanged, the f32 results), else f32.
    #[arg(long, global = true, value_parser = parse_precision)]
    dtype: Option<Precision>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Lists adapters and reports the chosen one's features and limits.
    Info {
        #[command(flatten)]
        gpu: Gpu,
    },
    /// Runs every kernel once against the CPU reference and prints a table.
    Selfcheck {
        #[command(flatten)]
        gpu: Gpu,
    },
    /// Runs the model in DIR on Hugging Face-named input tensors and writes every output.
    Forward {
        #[arg(long, help = MODEL_HELP)]
        model: PathBuf,
        /// safetensors file with `pixel_values`, `input_ids`, `attention_mask`, `input_values`, ….
        #[arg(long)]
        inputs: PathBuf,
        /// Where to write the outputs (safetensors, written atomically).
        #[arg(long)]
        output: PathBuf,
        /// Run the plain-loop CPU reference instead of the GPU.
        #[arg(long)]
        reference: bool,
        /// Compare the outputs with these reference outputs (e.g. a fixture's
        /// expected.safetensors); fails when any is out of tolerance.
        #[arg(long)]
        compare: Option<PathBuf>,
        /// Tolerance for --compare as ABS,REL (default: the fixture.json beside the file, else 3e-4,3e-4).
        #[arg(long, requires = "compare", allow_hyphen_values = true)]
        tolerance: Option<String>,
        /// Accept images of another size than the config's, resizing the position embeddings to
        /// their patch grid (bicubic), as transformers' `interpolate_pos_encoding=True`.
        #[arg(long)]
        interpolate_pos_encoding: bool,
        #[command(flatten)]
        gpu: Gpu,
    },
    /// Tokenizes texts; one JSON object per text: {"input_ids": [...], "attention_mask": [...]}.
    Tokenize {
        /// tokenizer.json, or a model folder holding one.
        #[arg(long)]
        tokenizer: PathBuf,
        /// Truncate and pad to this length (default: the tokenizer's model_max_length).
        #[arg(long)]
        max_length: Option<usize>,
        /// The texts.
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Preprocesses images into `pixel_values` (N, 3, H, W), as the model's image processor does.
    Preprocess {
        /// preprocessor_config.json, or the model folder holding it.
        #[arg(long)]
        processor: PathBuf,
        /// Where to write `pixel_values` (safetensors).
        #[arg(long)]
        output: PathBuf,
        /// PNG or JPEG files.
        #[arg(required = true)]
        image: Vec<PathBuf>,
    },
    /// Ranks labels: the checkpoint's own classifier head (ViT and DeiT images, AST audio), or
    /// zero-shot over --labels (CLIP, SigLIP).
    Classify {
        #[arg(long, help = MODEL_HELP)]
        model: PathBuf,
        /// PNG/JPEG images; audio files (WAV, FLAC, MP3, Ogg Vorbis; resampled to the model's
        /// rate) for an audio model (AST) or a pipeline.
        #[arg(required_unless_present_all = ["image", "audio"])]
        input: Vec<PathBuf>,
        /// With a pipeline file: the image of a pair for its fusion head (with --audio).
        #[arg(long, requires = "audio", conflicts_with = "input")]
        image: Option<PathBuf>,
        /// With a pipeline file: the audio clip of a pair for its fusion head (with --image).
        #[arg(long, requires = "image")]
        audio: Option<PathBuf>,
        /// Comma-separated candidate labels, for zero-shot models (CLIP, SigLIP).
        #[arg(long)]
        labels: Option<String>,
        /// Zero-shot prompt template; `{}` is replaced by each label (a label that already
        /// starts with an article replaces the template's).
        /// [default: "a photo of a {}"; a pipeline file's own prompts]
        #[arg(long, requires = "labels")]
        prompt: Option<String>,
        /// How many labels to show per input (at least 1).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
        top: u64,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gpu: Gpu,
    },
    /// Embeddings of images, texts or audio clips, as JSON lines or a safetensors file.
    Embed {
        #[arg(long, help = MODEL_HELP)]
        model: PathBuf,
        /// PNG/JPEG images (CLIP, SigLIP: normalised embeddings; ViT: CLS features; DeiT: the
        /// mean of its CLS and distillation tokens; DINOv2: pooler_output, its CLS).
        #[arg(long, num_args = 1.., conflicts_with_all = ["text", "audio"], required_unless_present_any = ["text", "audio"])]
        image: Vec<PathBuf>,
        /// Texts (CLIP, SigLIP).
        #[arg(long, num_args = 1.., conflicts_with = "audio")]
        text: Vec<String>,
        /// Audio files (WAV, FLAC, MP3, Ogg Vorbis) for an audio model (AST): its pooled output
        /// per file.
        #[arg(long, num_args = 1..)]
        audio: Vec<PathBuf>,
        /// Write `embeddings` (N, D) to this safetensors file instead of printing JSON lines.
        #[arg(long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        gpu: Gpu,
    },
    /// Image-text matching scores for one image and several texts (CLIP, SigLIP, ViLT).
    Match {
        #[arg(long, help = MODEL_HELP)]
        model: PathBuf,
        /// The image (PNG or JPEG).
        #[arg(long)]
        image: PathBuf,
        /// The texts to score against it.
        #[arg(long, num_args = 1.., required = true)]
        text: Vec<String>,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gpu: Gpu,
    },
    /// Retrieval over a folder: by text (CLIP, SigLIP) or by image (any image encoder: CLIP,
    /// SigLIP, ViT, DeiT, DINOv2); image embeddings are cached in a file next to the folder.
    Retrieve {
        #[arg(long, help = MODEL_HELP)]
        model: PathBuf,
        /// Folder of PNG/JPEG images (not searched recursively).
        #[arg(long)]
        images: PathBuf,
        /// The text to search for.
        #[arg(long, required_unless_present_any = ["query_audio", "query_image"], conflicts_with_all = ["query_audio", "query_image"])]
        query: Option<String>,
        /// With a pipeline file: search with an audio clip (WAV, FLAC, MP3, Ogg Vorbis).
        #[arg(long, conflicts_with = "query_image")]
        query_audio: Option<PathBuf>,
        /// Search with an image (image-to-image; a model folder of any image encoder, or a
        /// pipeline file).
        #[arg(long)]
        query_image: Option<PathBuf>,
        /// How many images to show (at least 1).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
        top: u64,
        /// Neither read nor write the embedding cache.
        #[arg(long)]
        no_cache: bool,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        gpu: Gpu,
    },
    /// Runs the models that ship with vitfuse (CLIP, AST and ViLT trained on a generated world
    /// of shapes, colours and sounds) over their evaluation sets, beside PyTorch's figures.
    Demo {
        /// Print one JSON object: every figure, the same under "torch", "alt" and "torch_alt",
        /// max_logit_diff, examples and timings.
        #[arg(long)]
        json: bool,
        /// Write the embedded models and evaluation sets into DIR (new or empty) as ordinary
        /// folders (clip/, audio/, vilt/, pipeline.json, eval/, eval_alt/) instead of running.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["json", "dir"])]
        export: Option<PathBuf>,
        /// Evaluate a folder written by --export instead of the embedded copy.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        #[command(flatten)]
        gpu: Gpu,
    },
    /// Benchmarks, printed as JSON lines.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
        #[command(flatten)]
        gpu: Gpu,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Tiled matmul (M, K) x (N, K)^T.
    Matmul {
        /// Rows of A.
        m: usize,
        /// Inner dimension.
        k: usize,
        /// Rows of W (columns of the output).
        n: usize,
        /// Timed runs (the median is printed).
        #[arg(long, default_value_t = 10)]
        iters: usize,
        /// A specific variant instead of the best tiled kernel for the adapter; adds a "kernel"
        /// field to the JSON.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(MatmulKernel::NAMES.iter().copied()))]
        kernel: Option<String>,
    },
    /// The naive one-output-per-invocation matmul, same form.
    #[command(name = "matmul-naive")]
    MatmulNaive {
        /// Rows of A.
        m: usize,
        /// Inner dimension.
        k: usize,
        /// Rows of W (columns of the output).
        n: usize,
        /// Timed runs (the median is printed).
        #[arg(long, default_value_t = 10)]
        iters: usize,
    },
    /// LayerNorm over (ROWS, COLS).
    Layernorm {
        /// Rows.
        rows: usize,
        /// Columns (the normalised dimension).
        cols: usize,
        /// Timed runs (the median is printed).
        #[arg(long, default_value_t = 10)]
        iters: usize,
    },
    /// A whole encoder at real size with random weights.
    Model {
        /// The model: vit-b16 (ViT-B/16, 224²), vit-ti16 (ViT-Ti/16), clip-b32 (CLIP ViT-B/32
        /// image tower), ast-b (AST-base, 1024 x 128 features), dinov2-b14 and dinov2-b14-reg
        /// (DINOv2-B/14 without and with registers, 224² from a 518² position grid).
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(bench::MODELS))]
        name: String,
        /// Inputs per pass.
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// Timed passes (the median is printed).
        #[arg(long, default_value_t = 3)]
        iters: usize,
        /// Also print the per-kernel GPU time of one pass: timestamp queries on hardware GPUs; on
        /// software adapters each dispatch submitted and timed alone on the host, which slows
        /// every pass of the run (compare its median only with other --profile runs).
        #[arg(long)]
        profile: bool,
        /// Run every matmul the model would give to the adapter's choice with this kernel; adds a
        /// "matmul" field to the JSON.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(MatmulKernel::NAMES.iter().copied()))]
        matmul: Option<String>,
        /// Run attention with this kernel; adds an "attention" field to the JSON.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(AttentionKernel::NAMES.iter().copied()))]
        attention: Option<String>,
        /// Run patch embedding with this path; adds a "patch" field.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(PatchKernel::NAMES.iter().copied()))]
        patch: Option<String>,
    },
    /// Softmax over (ROWS, COLS).
    Softmax {
        /// Rows.
        rows: usize,
        /// Columns (the normalised dimension).
        cols: usize,
        /// Timed runs (the median is printed).
        #[arg(long, default_value_t = 10)]
        iters: usize,
    },
    /// The adapter's ceilings: f32 FMA GFLOP/s (vec4 accumulators, 2 flops per lane), f16 where
    /// the device has SHADER_F16, and copy bandwidth in GB/s (bytes read + written); one JSON
    /// line each with the best and median run.
    Peak {
        /// Timed runs (each at least 20 ms of dispatches).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
        iters: u64,
    },
    /// Host-side audio, in seconds of audio per second: the Kaldi fbank (16 kHz, 128 mel bins),
    /// the AST extractor, decoding a 44.1 kHz WAV (or --file) and resampling it to 16 kHz. No GPU.
    Audio {
        /// Seconds of audio to featurise (and of the WAV made to decode).
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// An audio file to decode and resample instead of the WAV made in memory.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Timed runs (the median is printed).
        #[arg(long, default_value_t = 3)]
        iters: usize,
    },
}

impl Gpu {
    /// Model options for this adapter and precision.
    fn options(&self) -> anyhow::Result<Options> {
        let device = Device::new(&ContextOptions { adapter: self.adapter.clone(), ..Default::default() })?;
        let opts = Options::new().device(device);
        Ok(match self.dtype {
            Some(p) => opts.precision(p),
            None => opts,
        })
    }
}

fn context(gpu: &Gpu) -> anyhow::Result<Context> {
    Ok(Context::new(&ContextOptions { adapter: gpu.adapter.clone(), ..Default::default() })?)
}

fn parse_precision(name: &str) -> Result<Precision, String> {
    Precision::from_name(name).map_err(|e| e.to_string())
}

fn parse_kernel(name: &str) -> anyhow::Result<MatmulKernel> {
    Ok(MatmulKernel::from_name(name)?)
}

/// Progress on stderr: bars and spinners on a terminal, nothing otherwise.
struct Ui {
    tty: bool,
}

impl Ui {
    fn new() -> Self {
        Ui { tty: std::io::stderr().is_terminal() }
    }

    fn spinner(&self, msg: String) -> indicatif::ProgressBar {
        if !self.tty {
            return indicatif::ProgressBar::hidden();
        }
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}").unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()));
        b.set_message(msg);
        b.enable_steady_tick(std::time::Duration::from_millis(120));
        b
    }

    fn bar(&self, len: usize, what: &str) -> indicatif::ProgressBar {
        if !self.tty || len <= 1 {
            return self.spinner(format!("running the model on {len} {what} (the first batch compiles GPU kernels)"));
        }
        let b = indicatif::ProgressBar::new(len as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(&format!("{{bar:30}} {{pos}}/{{len}} {what} {{elapsed}}"))
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    }
}

/// Opens the model folder with a spinner on a terminal.
fn open_model(ui: &Ui, dir: &Path, gpu: &Gpu) -> anyhow::Result<Model> {
    let s = ui.spinner(format!("loading {}", dir.display()));
    let m = Model::open_with(dir, &gpu.options()?);
    s.finish_and_clear();
    Ok(m?)
}

/// A JSON line from a serialisable value (f32 values print as f32, shortest round trip).
fn line(v: &impl Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

#[derive(Serialize)]
struct JsonLabel<'a> {
    label: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    score: f32,
    logit: f32,
}

fn print_ranked(key: &str, name: &str, ranked: &[vitfuse::LabelScore], prompts: Option<&[(String, String)]>, top: usize, json: bool) -> anyhow::Result<()> {
    let r = &ranked[..ranked.len().min(top)];
    let prompt_of = |l: &str| prompts.and_then(|p| p.iter().find(|(a, _)| a == l).map(|(_, t)| t.as_str()));
    if json {
        #[derive(Serialize)]
        struct Row<'a> {
            #[serde(flatten)]
            input: std::collections::BTreeMap<&'a str, &'a str>,
            labels: Vec<JsonLabel<'a>>,
        }
        let labels = r.iter().map(|x| JsonLabel { label: &x.label, text: prompt_of(&x.label), score: x.score, logit: x.logit }).collect();
        line(&Row { input: [(key, name)].into_iter().collect(), labels })
    } else {
        println!("{name}");
        for (i, x) in r.iter().enumerate() {
            println!("  {:>2}. {:<40} {:>7.2}%  (logit {:.3})", i + 1, x.label, 100.0 * x.score, x.logit);
        }
        Ok(())
    }
}

/// What `retrieve` indexes a folder with: a dual encoder for text (and pipeline) queries, an
/// image encoder for image queries.
enum Searcher {
    Text(vitfuse::DualEncoder),
    Image(vitfuse::ImageEncoder),
}

impl Searcher {
    fn index_folder(
        &self,
        folder: &Path,
        opts: &vitfuse::retrieval::IndexOptions,
        events: impl FnMut(vitfuse::retrieval::IndexEvent),
    ) -> vitfuse::Result<vitfuse::retrieval::ImageIndex> {
        match self {
            Searcher::Text(d) => d.index_folder(folder, opts, events),
            Searcher::Image(e) => e.index_folder(folder, opts, events),
        }
    }

    fn search_embedded(&self, index: &vitfuse::retrieval::ImageIndex, q: &vitfuse::Embeddings) -> vitfuse::Result<Vec<vitfuse::retrieval::Hit>> {
        match self {
            Searcher::Text(d) => d.search_embedded(index, q),
            Searcher::Image(e) => e.search_embedded(index, q),
        }
    }
}

/// Whether `--model` names a pipeline file (a `.json` file) rather than a model folder.
fn is_pipeline(path: &Path) -> bool {
    !path.is_dir() && path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

fn open_pipeline(ui: &Ui, file: &Path, gpu: &Gpu) -> anyhow::Result<vitfuse::Pipeline> {
    let s = ui.spinner(format!("loading {}", file.display()));
    let p = vitfuse::Pipeline::open_with(file, &gpu.options()?);
    s.finish_and_clear();
    Ok(p?)
}

/// Whether `p` is named as an audio file (.wav, .flac, .mp3, .ogg, .oga).
fn is_audio(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| ["wav", "flac", "mp3", "ogg", "oga"].iter().any(|a| e.eq_ignore_ascii_case(a)))
}

/// `classify` through a pipeline: a pair through the fusion head (with each modality alone), or
/// images and audio clips zero-shot over `labels`.
#[allow(clippy::too_many_arguments)]
fn classify_with_pipeline(
    ui: &Ui,
    p: &vitfuse::Pipeline,
    input: &[PathBuf],
    pair: Option<(PathBuf, PathBuf)>,
    labels: &[String],
    prompt: Option<&str>,
    top: usize,
    json: bool,
) -> anyhow::Result<()> {
    if let Some((image, audio)) = pair {
        let s = ui.spinner("classifying (the first call compiles GPU kernels)".into());
        let pred = p.classify_pair(&image, &audio);
        s.finish_and_clear();
        let pred = pred?;
        let name = format!("{} + {}", image.display(), audio.display());
        if json {
            #[derive(Serialize)]
            struct Row<'a> {
                image: String,
                audio: String,
                fused: Vec<JsonLabel<'a>>,
                single: std::collections::BTreeMap<&'static str, Vec<JsonLabel<'a>>>,
            }
            fn js(r: &[vitfuse::LabelScore], top: usize) -> Vec<JsonLabel<'_>> {
                r.iter().take(top).map(|x| JsonLabel { label: &x.label, text: None, score: x.score, logit: x.logit }).collect()
            }
            let single = pred.single.iter().map(|(m, r)| (m.name(), js(r, top))).collect();
            return line(&Row { image: image.display().to_string(), audio: audio.display().to_string(), fused: js(&pred.fused, top), single });
        }
        print_ranked("pair", &format!("{name}: fused"), &pred.fused, None, top, false)?;
        for (m, r) in &pred.single {
            print_ranked("pair", &format!("{} alone", m.name()), r, None, top, false)?;
        }
        return Ok(());
    }
    if labels.is_empty() {
        bail!("a pipeline classifies zero-shot: give the candidate labels with --labels \"low hum,buzz\" (or a pair with --image and --audio for its fusion head)");
    }
    let (images, clips): (Vec<&PathBuf>, Vec<&PathBuf>) = input.iter().partition(|p| !is_audio(p));
    let (image_prompt, audio_prompt) = p.prompts();
    let s = ui.spinner("classifying (the first call compiles GPU kernels)".into());
    let ranked_images = if images.is_empty() { Ok(Vec::new()) } else { p.rank_labels(&p.embed_images(&images)?, labels, prompt.unwrap_or(image_prompt)) };
    let ranked_clips = if clips.is_empty() { Ok(Vec::new()) } else { p.rank_labels(&p.embed_audio(&clips)?, labels, prompt.unwrap_or(audio_prompt)) };
    s.finish_and_clear();
    let (ranked_images, ranked_clips) = (ranked_images?, ranked_clips?);
    for (path, r) in images.iter().zip(&ranked_images) {
        print_ranked("image", &path.display().to_string(), r, None, top, json)?;
    }
    for (path, r) in clips.iter().zip(&ranked_clips) {
        print_ranked("audio", &path.display().to_string(), r, None, top, json)?;
    }
    Ok(())
}

fn labels_of(labels: &Option<String>) -> Vec<String> {
    labels
        .as_deref()
        .map(|l| l.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect())
        .unwrap_or_default()
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let ui = Ui::new();
    match cli.cmd {
        Cmd::Demo { json, export, dir, gpu } => demo::run(&ui, json, export, dir, &gpu)?,
        Cmd::Info { gpu } => {
            for (i, a) in Context::list_adapters().iter().enumerate() {
                println!("adapter {i}: {a}");
            }
            let ctx = context(&gpu)?;
            let r = ctx.report();
            println!("selected: {} ({}, {}), driver {} {}", r.name, r.backend, r.device_type, r.driver, r.driver_info);
            println!("features: {}", if r.features.is_empty() { "none of SHADER_F16, SUBGROUP, TIMESTAMP_QUERY".into() } else { r.features.join(", ") });
            println!("max_storage_buffer_binding_size: {}", r.max_storage_buffer_binding_size);
            println!("max_buffer_size: {}", r.max_buffer_size);
            println!("max_compute_workgroups_per_dimension: {}", r.max_compute_workgroups_per_dimension);
            println!("max_compute_invocations_per_workgroup: {}", r.max_compute_invocations_per_workgroup);
            println!("max_compute_workgroup_storage_size: {}", r.max_compute_workgroup_storage_size);
            println!("subgroup size: {}..{}", r.subgroup_min_size, r.subgroup_max_size);
            match ctx.pipeline_cache_file() {
                Some(p) => println!("pipeline cache: {}{}", p.display(), if ctx.pipeline_cache_loaded() { "" } else { " (empty)" }),
                None => println!("pipeline cache: off"),
            }
        }
        Cmd::Selfcheck { gpu } => {
            let ctx = context(&gpu)?;
            let rows = selfcheck::run(&ctx)?;
            println!("self-check on {}", ctx.adapter_name());
            println!("{:<22} {:<38} {:>12} {:>10}  result", "kernel", "shape", "max error", "time ms");
            let mut failed = 0;
            for r in &rows {
                println!("{:<22} {:<38} {:>12.3e} {:>10.2}  {}", r.kernel, r.shape, r.max_abs_err, r.ms, if r.passed { "ok" } else { "FAIL" });
                failed += (!r.passed) as usize;
            }
            if failed > 0 {
                bail!("{failed} of {} kernels disagree with the CPU reference", rows.len());
            }
            println!("{} passed, 0 failed", rows.len());
        }
        Cmd::Forward { model, inputs, output, reference, compare, tolerance, interpolate_pos_encoding, gpu } => {
            let fopts = vitfuse::ForwardOptions { interpolate_pos_encoding };
            let tol = match &tolerance {
                Some(t) => Some(parse_tolerance(t)?),
                None => None,
            };
            vitfuse_model::output::check_writable(&output)?;
            let inputs = vitfuse::read_host_tensors(&inputs)?;
            let expected = match &compare {
                Some(p) => Some(vitfuse::read_host_tensors(p)?),
                None => None,
            };
            let outs = if reference {
                vitfuse::reference::forward_with(&model, &inputs, &fopts)?
            } else {
                let m = open_model(&ui, &model, &gpu)?;
                let s = ui.spinner("running (the first pass compiles GPU kernels)".into());
                let o = m.forward_with(&inputs, &fopts);
                s.finish_and_clear();
                o?
            };
            vitfuse::write_host_tensors(&output, &outs)?;
            for (k, v) in &outs {
                eprintln!("{k}: {:?}", v.shape);
            }
            if let (Some(expected), Some(path)) = (expected, compare) {
                let tol = match tol {
                    Some(t) => t,
                    None => {
                        let fj = path.with_file_name("fixture.json");
                        if fj.exists() { vitfuse::reference::compare::fixture_tolerance(&fj)? } else { vitfuse::reference::Tolerance::FIXTURE }
                    }
                };
                let mut bad = 0;
                for c in vitfuse::reference::compare::compare_outputs(&outs, &expected, &inputs, tol) {
                    match &c.report {
                        Some(r) => println!("{:<26} max abs err {:.3e} over {:>6} values  {}", c.name, r.max_abs_err, r.len, if r.passed() { "ok" } else { "FAIL" }),
                        None => println!("{:<26} {}  FAIL", c.name, c.problem.clone().unwrap_or_default()),
                    }
                    bad += (!c.passed()) as usize;
                }
                if bad > 0 {
                    bail!("{bad} outputs differ from {} beyond abs {} + rel {}", path.display(), tol.abs, tol.rel);
                }
            }
        }
        Cmd::Tokenize { tokenizer, max_length, text } => {
            let path = if tokenizer.is_dir() { tokenizer.join("tokenizer.json") } else { tokenizer };
            let tok = vitfuse::model::Tokenizer::from_file(&path)?;
            #[derive(Serialize)]
            struct Row<'a> {
                input_ids: &'a [i64],
                attention_mask: &'a [i64],
            }
            for e in tok.encode_batch(&text, max_length.or(tok.model_max_length()), true)? {
                line(&Row { input_ids: &e.input_ids, attention_mask: &e.attention_mask })?;
            }
        }
        Cmd::Preprocess { processor, output, image } => {
            let path = if processor.is_dir() { processor.join("preprocessor_config.json") } else { processor };
            vitfuse_model::output::check_writable(&output)?;
            let p = vitfuse::model::ImageProcessor::from_file(&path)?;
            let t = p.preprocess_files(&image)?;
            let shape = t.shape.clone();
            let mut m = std::collections::BTreeMap::new();
            m.insert("pixel_values".to_string(), t);
            vitfuse::write_host_tensors(&output, &m)?;
            eprintln!("wrote pixel_values {shape:?} to {}", output.display());
        }
        Cmd::Classify { model, input, image, audio, labels, prompt, top, json, gpu } => {
            if is_pipeline(&model) {
                let p = open_pipeline(&ui, &model, &gpu)?;
                return classify_with_pipeline(&ui, &p, &input, image.zip(audio), &labels_of(&labels), prompt.as_deref(), top as usize, json);
            }
            if image.is_some() {
                bail!("--image and --audio (a pair for a fusion head) need a pipeline file as --model");
            }
            let prompt = prompt.unwrap_or_else(|| "a photo of a {}".into());
            let m = open_model(&ui, &model, &gpu)?;
            let labels = labels_of(&labels);
            let top = top as usize;
            let names: Vec<String> = input.iter().map(|p| p.display().to_string()).collect();
            if m.supports(Task::ZeroShot) {
                if labels.is_empty() {
                    bail!("{} classifies zero-shot: give the candidate labels with --labels \"a cat,a dog\"", m.architecture());
                }
                let dual = m.dual_encoder()?;
                let prompts: Vec<(String, String)> = labels.iter().cloned().zip(dual.prompts(&labels, Some(&prompt))?).collect();
                let bar = ui.bar(input.len(), "images");
                let ranked = dual.zero_shot(&input, &labels, Some(&prompt));
                bar.finish_and_clear();
                let ranked = ranked?;
                if !json {
                    let shown: Vec<String> = prompts.iter().map(|(_, t)| format!("{t:?}")).collect();
                    eprintln!("zero-shot prompts: {}", shown.join(", "));
                }
                for (name, r) in names.iter().zip(ranked) {
                    print_ranked("image", name, &r, Some(&prompts), top, json)?;
                }
                return Ok(());
            }
            if !labels.is_empty() {
                bail!("{} classifies with its own head; --labels is for zero-shot models (CLIP, SigLIP)", m.architecture());
            }
            let (key, ranked) = if m.supports(Task::ClassifyAudio) || matches!(m.config(), vitfuse::model::ModelConfig::Ast(_)) {
                let c = m.audio_classifier()?;
                let bar = ui.bar(input.len(), "clips");
                let r = c.classify_with(&input, |p| bar.set_position(p.done as u64));
                bar.finish_and_clear();
                ("audio", r?)
            } else {
                let c = m.image_classifier()?;
                let bar = ui.bar(input.len(), "images");
                let r = c.classify_with(&input, |p| bar.set_position(p.done as u64));
                bar.finish_and_clear();
                ("image", r?)
            };
            for (name, r) in names.iter().zip(ranked) {
                print_ranked(key, name, &r, None, top, json)?;
            }
        }
        Cmd::Embed { model, image, text, audio, output, gpu } => {
            if let Some(out) = &output {
                vitfuse_model::output::check_writable(out)?;
            }
            let (names, e) = if is_pipeline(&model) {
                let p = open_pipeline(&ui, &model, &gpu)?;
                let s = ui.spinner("embedding (the first call compiles GPU kernels)".into());
                let r = if !audio.is_empty() {
                    (audio.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(), p.embed_audio(&audio))
                } else if !image.is_empty() {
                    (image.iter().map(|p| p.display().to_string()).collect(), p.embed_images(&image))
                } else {
                    (text.clone(), p.embed_texts(&text))
                };
                s.finish_and_clear();
                (r.0, r.1?)
            } else {
            let m = open_model(&ui, &model, &gpu)?;
            if !audio.is_empty() {
                let enc = m.audio_encoder()?;
                let bar = ui.bar(audio.len(), "clips");
                let e = enc.embed_with(&audio, |p| bar.set_position(p.done as u64));
                bar.finish_and_clear();
                (audio.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(), e?)
            } else if !image.is_empty() {
                let enc = m.image_encoder()?;
                let bar = ui.bar(image.len(), "images");
                let e = enc.embed_with(&image, |p| bar.set_position(p.done as u64));
                bar.finish_and_clear();
                (image.iter().map(|p| p.display().to_string()).collect(), e?)
            } else {
                let dual = m.dual_encoder()?;
                let bar = ui.bar(text.len(), "texts");
                let e = dual.embed_texts_with(&text, |p| bar.set_position(p.done as u64));
                bar.finish_and_clear();
                (text.clone(), e?)
            }
            };
            match output {
                Some(out) => {
                    let shape = vec![e.len(), e.dim()];
                    let mut t = std::collections::BTreeMap::new();
                    t.insert("embeddings".to_string(), vitfuse::HostTensor::f32(shape.clone(), e.into_vec())?);
                    vitfuse::write_host_tensors(&out, &t)?;
                    eprintln!("wrote embeddings {shape:?} to {}", out.display());
                }
                None => {
                    #[derive(Serialize)]
                    struct Row<'a> {
                        input: &'a str,
                        embedding: &'a [f32],
                    }
                    for (n, row) in names.iter().zip(e.iter()) {
                        line(&Row { input: n, embedding: row })?;
                    }
                }
            }
        }
        Cmd::Match { model, image, text, json, gpu } => {
            let matcher = if is_pipeline(&model) {
                let p = open_pipeline(&ui, &model, &gpu)?;
                p.matcher().cloned().ok_or_else(|| anyhow::anyhow!("the pipeline {} names no matcher", model.display()))?
            } else {
                open_model(&ui, &model, &gpu)?.image_text_matcher()?
            };
            let s = ui.spinner("scoring (the first call compiles GPU kernels)".into());
            let ranked = matcher.rank_texts(&image, &text);
            s.finish_and_clear();
            for x in ranked? {
                if json {
                    #[derive(Serialize)]
                    struct Row<'a> {
                        text: &'a str,
                        score: f32,
                        logit: f32,
                    }
                    line(&Row { text: &x.label, score: x.score, logit: x.logit })?;
                } else {
                    println!("{:>7.2}%  (logit {:>8.3})  {}", 100.0 * x.score, x.logit, x.label);
                }
            }
        }
        Cmd::Retrieve { model, images, query, query_audio, query_image, top, no_cache, json, gpu } => {
            use vitfuse::retrieval::{IndexEvent, IndexOptions};
            let pipeline = if is_pipeline(&model) { Some(open_pipeline(&ui, &model, &gpu)?) } else { None };
            // The query is embedded first, so that a bad one fails before the folder is indexed.
            let (searcher, q) = match &pipeline {
                Some(p) => {
                    let q = match (&query, &query_audio, &query_image) {
                        (Some(t), _, _) => p.embed_texts(&[t])?,
                        (_, Some(a), _) => p.embed_audio(&[a])?,
                        (_, _, Some(i)) => p.embed_images(&[i])?,
                        _ => bail!("give --query, --query-audio or --query-image"),
                    };
                    (Searcher::Text(p.image_index_encoder()?), q)
                }
                None => {
                    if query_audio.is_some() {
                        bail!("--query-audio needs a pipeline file as --model");
                    }
                    let m = open_model(&ui, &model, &gpu)?;
                    match (&query, &query_image) {
                        (_, Some(img)) => {
                            let enc = m.image_encoder()?;
                            let q = enc.embed(&[img])?;
                            (Searcher::Image(enc), q)
                        }
                        (text, None) => {
                            if !m.supports(Task::EmbedTexts) && m.supports(Task::EmbedImages) {
                                bail!(
                                    "{} has no text tower, so it cannot search by text; search by image with --query-image FILE",
                                    m.architecture()
                                );
                            }
                            let dual = m.dual_encoder()?;
                            let q = dual.embed_texts(&[text.as_deref().unwrap_or_default()])?;
                            (Searcher::Text(dual), q)
                        }
                    }
                }
            };
            let bar = indicatif::ProgressBar::hidden();
            let tty = ui.tty;
            let index = searcher.index_folder(&images, &IndexOptions { cache: !no_cache }, |ev| match ev {
                IndexEvent::Start(n) if n > 0 && tty => {
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    bar.set_length(n as u64);
                    bar.set_style(
                        indicatif::ProgressStyle::with_template("embedding {bar:30} {pos}/{len} images {elapsed}")
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                }
                IndexEvent::Start(_) => {}
                IndexEvent::Step => bar.inc(1),
                IndexEvent::Skipped(path, e) => bar.suspend(|| eprintln!("skipped {}: {}", path.display(), one_line(e))),
            })?;
            bar.finish_and_clear();
            let st = index.stats;
            let cache = match &index.cache_file {
                Some(f) => format!("cache {}", f.display()),
                None => "no cache".into(),
            };
            eprintln!("{} images: {} from the cache, {} embedded, {} skipped ({cache})", st.images, st.cached, st.embedded, st.skipped);
            for (i, h) in searcher.search_embedded(&index, &q)?.iter().take(top as usize).enumerate() {
                if json {
                    #[derive(Serialize)]
                    struct Row<'a> {
                        rank: usize,
                        image: &'a str,
                        similarity: f32,
                        logit: f32,
                    }
                    line(&Row { rank: i + 1, image: &h.path.display().to_string(), similarity: h.similarity, logit: h.logit })?;
                } else {
                    println!("{:>2}. {:.4}  {}", i + 1, h.similarity, h.path.display());
                }
            }
        }
        Cmd::Bench { what: BenchCmd::Model { name, batch, iters, profile, matmul, attention, patch }, gpu } => {
            let dtype = gpu.dtype.unwrap_or_default();
            check_dims(&[batch])?;
            let kernels = KernelChoices {
                matmul: matmul.as_deref().map(parse_kernel).transpose()?.unwrap_or_default(),
                attention: attention.as_deref().map(AttentionKernel::from_name).transpose()?,
                patch: patch.as_deref().map(PatchKernel::from_name).transpose()?,
            };
            let opts = ContextOptions { adapter: gpu.adapter.clone(), profile, kernels, ..Default::default() };
            let ctx = Context::new(&opts)?;
            let adapter = ctx.adapter_name().to_string();
            let bench::ModelRun { ms, first_ms, record_ms, submit_ms, weight_bytes, texture_bytes, split } = bench::model(&ctx, &name, batch, iters, dtype)?;
            // What the encoder layers stored their activations as (f16 needs SHADER_F16).
            let activations = if dtype == Precision::F16 && ctx.has_feature(vitfuse::runtime::wgpu::Features::SHADER_F16) { "f16" } else { "f32" };
            let mut line = serde_json::json!({"bench": "model", "model": name, "batch": batch, "adapter": adapter, "dtype": dtype.name(), "activations": activations, "weight_bytes": weight_bytes, "texture_bytes": texture_bytes, "first_ms": first_ms, "record_ms": record_ms, "submit_ms": submit_ms, "median_ms": ms, "images_per_s": batch as f64 * 1e3 / ms});
            if matmul.is_some() {
                line["matmul"] = serde_json::json!(kernels.matmul.name());
            }
            if let Some(a) = kernels.attention {
                line["attention"] = serde_json::json!(a.name());
            }
            if let Some(p) = kernels.patch {
                line["patch"] = serde_json::json!(p.name());
            }
            println!("{line}");
            if let Some(split) = split {
                let total: f64 = split.iter().map(|r| r.2).sum();
                for (kernel, n, kms) in split {
                    println!(
                        "{}",
                        serde_json::json!({"bench": "model-split", "model": name, "batch": batch, "kernel": kernel, "dispatches": n, "gpu_ms": kms, "share": kms / total})
                    );
                }
            }
        }
        Cmd::Bench { what: BenchCmd::Peak { iters }, gpu } => {
            use vitfuse::runtime::ops::peak::Precision;
            let ctx = context(&gpu)?;
            for p in [Precision::F32, Precision::F16] {
                match bench::peak_fma(&ctx, p, iters as usize)? {
                    Some(line) => println!("{line}"),
                    None => println!(
                        "{}",
                        serde_json::json!({"bench": "peak", "what": "fma-f16", "adapter": ctx.adapter_name(), "skipped": "the device has no SHADER_F16"})
                    ),
                }
            }
            println!("{}", bench::peak_copy(&ctx, iters as usize)?);
        }
        Cmd::Bench { what: BenchCmd::Audio { seconds, file, iters }, .. } => {
            println!("{}", bench::audio(seconds, iters, file.as_deref())?);
        }
        Cmd::Bench { what, gpu } => {
            let ctx = context(&gpu)?;
            let dtype = gpu.dtype.unwrap_or_default();
            let adapter = ctx.adapter_name().to_string();
            let line = match what {
                BenchCmd::Matmul { m, k, n, iters, kernel: Some(variant) } => {
                    check_dims(&[m, k, n])?;
                    let kern = parse_kernel(&variant)?;
                    let (ms, gflops) = bench::matmul(&ctx, m, k, n, kern, dtype, iters)?;
                    serde_json::json!({"bench": "matmul", "m": m, "k": k, "n": n, "adapter": adapter, "dtype": dtype.name(), "median_ms": ms, "gflops": gflops, "kernel": variant})
                }
                BenchCmd::Matmul { m, k, n, iters, kernel: None } => {
                    check_dims(&[m, k, n])?;
                    let (ms, gflops) =
                        bench::matmul(&ctx, m, k, n, MatmulKernel::Tiled, dtype, iters)?;
                    serde_json::json!({"bench": "matmul", "m": m, "k": k, "n": n, "adapter": adapter, "dtype": dtype.name(), "median_ms": ms, "gflops": gflops})
                }
                BenchCmd::MatmulNaive { m, k, n, iters } => {
                    check_dims(&[m, k, n])?;
                    let (ms, gflops) =
                        bench::matmul(&ctx, m, k, n, MatmulKernel::Naive, Precision::F32, iters)?;
                    serde_json::json!({"bench": "matmul-naive", "m": m, "k": k, "n": n, "adapter": adapter, "median_ms": ms, "gflops": gflops})
                }
                BenchCmd::Layernorm { rows, cols, iters } => {
                    check_dims(&[rows, cols])?;
                    let (ms, gbs) = bench::layernorm(&ctx, rows, cols, iters)?;
                    serde_json::json!({"bench": "layernorm", "rows": rows, "cols": cols, "adapter": adapter, "median_ms": ms, "gbps": gbs})
                }
                BenchCmd::Model { .. } | BenchCmd::Audio { .. } | BenchCmd::Peak { .. } => {
                    bail!("bench model, peak and audio are handled before the other benchmarks")
                }
                BenchCmd::Softmax { rows, cols, iters } => {
                    check_dims(&[rows, cols])?;
                    let (ms, gbs) = bench::softmax(&ctx, rows, cols, iters)?;
                    serde_json::json!({"bench": "softmax", "rows": rows, "cols": cols, "adapter": adapter, "median_ms": ms, "gbps": gbs})
                }
            };
            println!("{line}");
        }
    }
    Ok(())
}

fn parse_tolerance(t: &str) -> anyhow::Result<vitfuse::reference::Tolerance> {
    let parts: Vec<&str> = t.split(',').map(str::trim).collect();
    let v: Vec<f32> = parts
        .iter()
        .map(|x| x.parse::<f32>().map_err(|_| anyhow::anyhow!("--tolerance takes ABS,REL (two numbers >= 0), got {t:?}")))
        .collect::<anyhow::Result<_>>()?;
    if v.len() != 2 || v.iter().any(|x| !x.is_finite() || *x < 0.0) {
        bail!("--tolerance takes ABS,REL (two numbers >= 0), got {t:?}");
    }
    Ok(vitfuse::reference::Tolerance::new(v[0], v[1]))
}

fn check_dims(d: &[usize]) -> anyhow::Result<()> {
    if d.contains(&0) {
        bail!("dimensions must be positive, got {d:?}");
    }
    Ok(())
}

/// An error and its causes on one line, each cause once.
fn one_line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut src = e.source();
    while let Some(s) = src {
        let m = s.to_string();
        if !parts.iter().any(|p| p.contains(&m)) {
            parts.push(m);
        }
        src = s.source();
    }
    parts.join(": ")
}

/// Prints the library's warnings as `warning: …` lines on stderr.
/// vitfuse's own log lines on stderr: warnings, or down to `$VITFUSE_LOG` (`info`, `debug`:
/// e.g. each pipeline build and its time).
struct Logger(log::Level);

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= self.0 && m.target().starts_with("vitfuse")
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            let level = match r.level() {
                log::Level::Error => "error",
                log::Level::Warn => "warning",
                log::Level::Info => "info",
                log::Level::Debug => "debug",
                log::Level::Trace => "trace",
            };
            eprintln!("{level}: {}", r.args());
        }
    }
    fn flush(&self) {}
}

fn main() {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`vitfuse embed … | head -c 10`) would
    // panic; the default action ends the program quietly, as other command-line tools do.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let level = std::env::var("VITFUSE_LOG").ok().and_then(|v| v.parse::<log::Level>().ok()).unwrap_or(log::Level::Warn);
    let _ = log::set_logger(Box::leak(Box::new(Logger(level)))).map(|()| log::set_max_level(level.to_level_filter()));
    let cli = Cli::parse();
    if let Err(e) = run(cli).context("vitfuse") {
        let mut parts: Vec<String> = Vec::new();
        for c in e.chain().skip(1) {
            let m = c.to_string();
            if !parts.iter().any(|p| p.contains(&m)) {
                parts.push(m);
            }
        }
        eprintln!("error: {}", parts.join(": "));
        std::process::exit(2);
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand and option says what it is for.
    #[test]
    fn every_option_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                if a.get_help().is_none() && !["help", "version"].contains(&a.get_id().as_str()) {
                    missing.push(format!("{path} {}", a.get_id()));
                }
            }
            for s in cmd.get_subcommands() {
                if s.get_about().is_none() && s.get_name() != "help" {
                    missing.push(format!("{path} {} (command)", s.get_name()));
                }
                walk(s, &format!("{path} {}", s.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "vitfuse", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:?}");
        super::Cli::command().debug_assert();
    }
}
