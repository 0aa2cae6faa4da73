//! The `vitfuse` command line. Errors print one line on stderr and exit with code 2.

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use serde_json::json;
use vitfuse::runtime::ops::MatmulKernel;
use std::path::PathBuf;

use vitfuse::model::tasks::Session;
use vitfuse::runtime::{AttentionKernel, Context, ContextOptions, KernelChoices, PatchKernel};

#[derive(Parser)]
#[command(name = "vitfuse", version, about = "Portable GPU inference for multimodal Vision Transformers (WGSL on wgpu)")]
struct Cli {
    /// Adapter to use: part of its name, a backend (vulkan, metal, dx12, gl), `cpu`, or an index
    /// from `vitfuse info`. Defaults to $VITFUSE_ADAPTER, else the high-performance adapter.
    #[arg(long, global = true)]
    adapter: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Lists adapters and reports the chosen one's features and limits.
    Info,
    /// Runs every kernel once against the CPU reference and prints a table.
    Selfcheck,
    /// Runs the model in DIR on Hugging Face-named input tensors and writes every output.
    Forward {
        /// Model folder: config.json + model.safetensors.
        #[arg(long)]
        model: PathBuf,
        /// safetensors file with `pixel_values`, `input_ids`, `attention_mask`, ….
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
        #[arg(long)]
        tolerance: Option<String>,
        /// Accept images of another size than the config's, resizing the position embeddings to
        /// their patch grid (bicubic), as transformers' `interpolate_pos_encoding=True`.
        #[arg(long)]
        interpolate_pos_encoding: bool,
    },
    /// Tokenizes texts; one JSON object per text: {"input_ids": [...], "attention_mask": [...]}.
    Tokenize {
        /// tokenizer.json (a model folder works too).
        #[arg(long)]
        tokenizer: PathBuf,
        /// Truncate and pad to this length (default: the tokenizer's model_max_length).
        #[arg(long)]
        max_length: Option<usize>,
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Preprocesses images into `pixel_values` (N, 3, H, W).
    Preprocess {
        /// preprocessor_config.json or the folder holding it.
        #[arg(long)]
        processor: PathBuf,
        #[arg(long)]
        output: PathBuf,
        #[arg(required = true)]
        image: Vec<PathBuf>,
    },
    /// Ranks labels for images: the classifier head (ViT) or zero-shot over --labels (CLIP).
    Classify {
        #[arg(long)]
        model: PathBuf,
        /// Images; WAV files (at the model's sample rate) for an audio model (AST).
        #[arg(required = true)]
        image: Vec<PathBuf>,
        /// Comma-separated candidate labels (CLIP).
        #[arg(long)]
        labels: Option<String>,
        /// Prompt template; `{}` is replaced by each label.
        #[arg(long, default_value = "a photo of a {}")]
        prompt: String,
        /// How many labels to show per image.
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Embeddings of images or texts, as JSON lines or a safetensors file.
    Embed {
        #[arg(long)]
        model: PathBuf,
        #[arg(long, num_args = 1.., conflicts_with_all = ["text", "audio"], required_unless_present_any = ["text", "audio"])]
        image: Vec<PathBuf>,
        #[arg(long, num_args = 1.., conflicts_with = "audio")]
        text: Vec<String>,
        /// WAV files for an audio model (AST): its pooled output per file.
        #[arg(long, num_args = 1..)]
        audio: Vec<PathBuf>,
        /// Write `embeddings` (N, P) here instead of printing JSON lines.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Image-text matching scores for one image and several texts.
    Match {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        image: PathBuf,
        #[arg(long, num_args = 1.., required = true)]
        text: Vec<String>,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Text-to-image retrieval over a folder; image embeddings are cached next to the folder.
    Retrieve {
        #[arg(long)]
        model: PathBuf,
        /// Folder of PNG/JPEG images.
        #[arg(long)]
        images: PathBuf,
        #[arg(long)]
        query: String,
        #[arg(long, default_value_t = 5)]
        top: usize,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks, printed as JSON lines.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Tiled matmul (M, K) x (N, K)^T.
    Matmul {
        m: usize,
        k: usize,
        n: usize,
        #[arg(long, default_value_t = 10)]
        iters: usize,
        /// A specific variant (subgroup, blocked, shared, wide, scalar, naive) instead of the best
        /// tiled kernel for the adapter; adds a "kernel" field to the JSON.
        #[arg(long)]
        kernel: Option<String>,
    },
    /// The naive one-output-per-invocation matmul, same form.
    #[command(name = "matmul-naive")]
    MatmulNaive {
        m: usize,
        k: usize,
        n: usize,
        #[arg(long, default_value_t = 10)]
        iters: usize,
    },
    /// LayerNorm over (ROWS, COLS).
    Layernorm {
        rows: usize,
        cols: usize,
        #[arg(long, default_value_t = 10)]
        iters: usize,
    },
    /// A whole image encoder at real size (random weights): vit-b16, vit-ti16, clip-b32.
    Model {
        name: String,
        #[arg(long, default_value_t = 1)]
        batch: usize,
        #[arg(long, default_value_t = 3)]
        iters: usize,
        /// Also print the per-kernel GPU time of one pass (timestamp queries).
        #[arg(long)]
        profile: bool,
        /// Run every matmul the model would give to the adapter's choice with this kernel
        /// (subgroup, blocked, shared, wide, scalar); adds a "matmul" field to the JSON.
        #[arg(long)]
        matmul: Option<String>,
        /// Run attention with this kernel (flash, tiled, tiled-wg, subgroup, composed); adds an
        /// "attention" field to the JSON.
        #[arg(long)]
        attention: Option<String>,
        /// Run patch embedding with this path (fused, composed); adds a "patch" field.
        #[arg(long)]
        patch: Option<String>,
    },
    /// Softmax over (ROWS, COLS).
    Softmax {
        rows: usize,
        cols: usize,
        #[arg(long, default_value_t = 10)]
        iters: usize,
    },
}

fn open(adapter: &Option<String>) -> anyhow::Result<Context> {
    Ok(Context::new(&ContextOptions { adapter: adapter.clone(), ..Default::default() })?)
}

fn parse_kernel(name: &str) -> anyhow::Result<MatmulKernel> {
    Ok(MatmulKernel::from_name(name)?)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Info => {
            for (i, a) in Context::list_adapters().iter().enumerate() {
                println!("adapter {i}: {a}");
            }
            let ctx = open(&cli.adapter)?;
            let r = ctx.report();
            println!("selected: {} ({}, {}), driver {} {}", r.name, r.backend, r.device_type, r.driver, r.driver_info);
            println!("features: {}", if r.features.is_empty() { "none of SHADER_F16, SUBGROUP, TIMESTAMP_QUERY".into() } else { r.features.join(", ") });
            println!("max_storage_buffer_binding_size: {}", r.max_storage_buffer_binding_size);
            println!("max_buffer_size: {}", r.max_buffer_size);
            println!("max_compute_workgroups_per_dimension: {}", r.max_compute_workgroups_per_dimension);
            println!("max_compute_invocations_per_workgroup: {}", r.max_compute_invocations_per_workgroup);
            println!("max_compute_workgroup_storage_size: {}", r.max_compute_workgroup_storage_size);
            println!("subgroup size: {}..{}", r.subgroup_min_size, r.subgroup_max_size);
        }
        Cmd::Selfcheck => {
            let ctx = open(&cli.adapter)?;
            let rows = vitfuse::selfcheck::run(&ctx)?;
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
        Cmd::Forward { model, inputs, output, reference, compare, tolerance, interpolate_pos_encoding } => {
            let fopts = vitfuse::model::ForwardOptions { interpolate_pos_encoding };
            let inputs = vitfuse::model::read_host_tensors(&inputs)?;
            let expected = match &compare {
                Some(p) => Some(vitfuse::model::read_host_tensors(p)?),
                None => None,
            };
            let outs = if reference {
                vitfuse::reference_forward_with(&model, &inputs, &fopts)?
            } else {
                let ctx = open(&cli.adapter)?;
                let m = vitfuse::model::Model::load(&ctx, &model)?;
                m.forward_with(&ctx, &inputs, &fopts)?
            };
            vitfuse::model::write_host_tensors(&output, &outs)?;
            for (k, v) in &outs {
                eprintln!("{k}: {:?}", v.shape);
            }
            if let (Some(expected), Some(path)) = (expected, compare) {
                let tol = match tolerance {
                    Some(t) => {
                        let v: Vec<f32> = t.split(',').map(|x| x.trim().parse::<f32>()).collect::<Result<_, _>>()?;
                        anyhow::ensure!(v.len() == 2, "--tolerance takes ABS,REL");
                        vitfuse::reference::Tolerance::new(v[0], v[1])
                    }
                    None => {
                        let fj = path.with_file_name("fixture.json");
                        if fj.exists() { vitfuse::compare::fixture_tolerance(&fj)? } else { vitfuse::reference::Tolerance::FIXTURE }
                    }
                };
                let mut bad = 0;
                for c in vitfuse::compare::compare_outputs(&outs, &expected, &inputs, tol) {
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
            for e in tok.encode_batch(&text, max_length, true)? {
                println!("{}", json!({"input_ids": e.input_ids, "attention_mask": e.attention_mask}));
            }
        }
        Cmd::Preprocess { processor, output, image } => {
            let path = if processor.is_dir() { processor.join("preprocessor_config.json") } else { processor };
            let p = vitfuse::model::ImageProcessor::from_file(&path)?;
            let t = p.preprocess_files(&image)?;
            eprintln!("pixel_values: {:?}", t.shape);
            let mut m = std::collections::BTreeMap::new();
            m.insert("pixel_values".to_string(), t);
            vitfuse::model::write_host_tensors(&output, &m)?;
        }
        Cmd::Classify { model, image, labels, prompt, top, json } => {
            let ctx = open(&cli.adapter)?;
            let audio = matches!(vitfuse::model::ModelConfig::from_file(&model)?, vitfuse::model::ModelConfig::Ast(_));
            let ranked = if audio {
                vitfuse::model::tasks::classify_audio(&ctx, &model, &image)?
            } else {
                let s = Session::open(&ctx, &model)?;
                let labels: Vec<String> = labels
                    .map(|l| l.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect())
                    .unwrap_or_default();
                s.classify(&ctx, &image, &labels, &prompt)?
            };
            let key = if audio { "audio" } else { "image" };
            for (img, r) in image.iter().zip(ranked) {
                let r: Vec<_> = r.into_iter().take(top.max(1)).collect();
                if json {
                    let labels: Vec<_> = r.iter().map(|x| json!({"label": x.label, "score": x.score, "logit": x.logit})).collect();
                    println!("{}", json!({key: img.display().to_string(), "labels": labels}));
                } else {
                    println!("{}", img.display());
                    for (i, x) in r.iter().enumerate() {
                        println!("  {:>2}. {:<40} {:>7.2}%  (logit {:.3})", i + 1, x.label, 100.0 * x.score, x.logit);
                    }
                }
            }
        }
        Cmd::Embed { model, image, text, audio, output } => {
            let ctx = open(&cli.adapter)?;
            let (names, (shape, v)): (Vec<String>, _) = if !audio.is_empty() {
                (audio.iter().map(|p| p.display().to_string()).collect(), vitfuse::model::tasks::embed_audio(&ctx, &model, &audio)?)
            } else if !image.is_empty() {
                let s = Session::open(&ctx, &model)?;
                (image.iter().map(|p| p.display().to_string()).collect(), s.embed_images(&ctx, &image)?)
            } else {
                (text.clone(), Session::open(&ctx, &model)?.embed_texts(&ctx, &text)?)
            };
            match output {
                Some(out) => {
                    let mut m = std::collections::BTreeMap::new();
                    m.insert("embeddings".to_string(), vitfuse::model::HostTensor::f32(shape, v)?);
                    vitfuse::model::write_host_tensors(&out, &m)?;
                }
                None => {
                    let d = shape[1];
                    for (n, row) in names.iter().zip(v.chunks(d)) {
                        println!("{}", json!({"input": n, "embedding": row}));
                    }
                }
            }
        }
        Cmd::Match { model, image, text, json } => {
            let ctx = open(&cli.adapter)?;
            let s = Session::open(&ctx, &model)?;
            for m in s.match_texts(&ctx, &image, &text)? {
                if json {
                    println!("{}", json!({"text": m.label, "score": m.score, "logit": m.logit}));
                } else {
                    println!("{:>7.2}%  (logit {:>8.3})  {}", 100.0 * m.score, m.logit, m.label);
                }
            }
        }
        Cmd::Retrieve { model, images, query, top, json } => {
            use vitfuse::model::retrieval::{self, Progress};
            let ctx = open(&cli.adapter)?;
            let s = Session::open(&ctx, &model)?;
            let bar = indicatif::ProgressBar::hidden();
            let (index, stats) = retrieval::index_folder(&ctx, &s, &images, 8, |p| match p {
                Progress::Start(n) if n > 0 => {
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    bar.set_length(n as u64);
                    bar.set_style(
                        indicatif::ProgressStyle::with_template("embedding {bar:30} {pos}/{len} images {elapsed}")
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                }
                Progress::Start(_) => {}
                Progress::Step => bar.inc(1),
                Progress::Skipped(path, e) => bar.suspend(|| eprintln!("skipped {}: {e}", path.display())),
            })?;
            bar.finish_and_clear();
            eprintln!(
                "{} images: {} from the cache, {} embedded, {} skipped",
                stats.images, stats.cached, stats.embedded, stats.skipped
            );
            for (i, h) in retrieval::rank(&ctx, &s, &index, &query)?.iter().take(top.max(1)).enumerate() {
                if json {
                    println!("{}", json!({"rank": i + 1, "image": h.path.display().to_string(), "similarity": h.similarity, "logit": h.logit}));
                } else {
                    println!("{:>2}. {:.4}  {}", i + 1, h.similarity, h.path.display());
                }
            }
        }
        Cmd::Bench { what: BenchCmd::Model { name, batch, iters, profile, matmul, attention, patch } } => {
            check_dims(&[batch])?;
            let kernels = KernelChoices {
                matmul: matmul.as_deref().map(parse_kernel).transpose()?.unwrap_or_default(),
                attention: attention.as_deref().map(AttentionKernel::from_name).transpose()?,
                patch: patch.as_deref().map(PatchKernel::from_name).transpose()?,
            };
            let opts = ContextOptions { adapter: cli.adapter.clone(), profile, kernels };
            let ctx = Context::new(&opts)?;
            let adapter = ctx.adapter_name().to_string();
            let (ms, split) = vitfuse::bench::model(&ctx, &name, batch, iters)?;
            let mut line = json!({"bench": "model", "model": name, "batch": batch, "adapter": adapter, "median_ms": ms, "images_per_s": batch as f64 * 1e3 / ms});
            if matmul.is_some() {
                line["matmul"] = json!(kernels.matmul.name());
            }
            if let Some(a) = kernels.attention {
                line["attention"] = json!(a.name());
            }
            if let Some(p) = kernels.patch {
                line["patch"] = json!(p.name());
            }
            println!("{line}");
            if let Some(split) = split {
                let total: f64 = split.iter().map(|r| r.2).sum();
                for (kernel, n, kms) in split {
                    println!(
                        "{}",
                        json!({"bench": "model-split", "model": name, "batch": batch, "kernel": kernel, "dispatches": n, "gpu_ms": kms, "share": kms / total})
                    );
                }
            }
        }
        Cmd::Bench { what } => {
            let ctx = open(&cli.adapter)?;
            let adapter = ctx.adapter_name().to_string();
            let line = match what {
                BenchCmd::Matmul { m, k, n, iters, kernel: Some(variant) } => {
                    check_dims(&[m, k, n])?;
                    let kern = parse_kernel(&variant)?;
                    let (ms, gflops) = vitfuse::bench::matmul(&ctx, m, k, n, kern, iters)?;
                    json!({"bench": "matmul", "m": m, "k": k, "n": n, "adapter": adapter, "median_ms": ms, "gflops": gflops, "kernel": variant})
                }
                BenchCmd::Matmul { m, k, n, iters, kernel: None } | BenchCmd::MatmulNaive { m, k, n, iters } => {
                    let (name, kern) = match what {
                        BenchCmd::Matmul { .. } => ("matmul", MatmulKernel::Tiled),
                        _ => ("matmul-naive", MatmulKernel::Naive),
                    };
                    check_dims(&[m, k, n])?;
                    let (ms, gflops) = vitfuse::bench::matmul(&ctx, m, k, n, kern, iters)?;
                    json!({"bench": name, "m": m, "k": k, "n": n, "adapter": adapter, "median_ms": ms, "gflops": gflops})
                }
                BenchCmd::Layernorm { rows, cols, iters } => {
                    check_dims(&[rows, cols])?;
                    let (ms, gbs) = vitfuse::bench::layernorm(&ctx, rows, cols, iters)?;
                    json!({"bench": "layernorm", "rows": rows, "cols": cols, "adapter": adapter, "median_ms": ms, "gbps": gbs})
                }
                BenchCmd::Model { .. } => bail!("bench model is handled before the other benchmarks"),
                BenchCmd::Softmax { rows, cols, iters } => {
                    check_dims(&[rows, cols])?;
                    let (ms, gbs) = vitfuse::bench::softmax(&ctx, rows, cols, iters)?;
                    json!({"bench": "softmax", "rows": rows, "cols": cols, "adapter": adapter, "median_ms": ms, "gbps": gbs})
                }
            };
            println!("{line}");
        }
    }
    Ok(())
}

fn check_dims(d: &[usize]) -> anyhow::Result<()> {
    if d.contains(&0) {
        bail!("dimensions must be positive, got {d:?}");
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).context("vitfuse") {
        let msg = format!("{:#}", e);
        eprintln!("error: {}", msg.trim_start_matches("vitfuse: "));
        std::process::exit(2);
    }
}
