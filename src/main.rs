//! The `vitfuse` command line. Errors print one line on stderr and exit with code 2.

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use serde_json::json;
use vitfuse::runtime::ops::MatmulKernel;
use vitfuse::runtime::{Context, ContextOptions};

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
    /// Softmax over (ROWS, COLS).
    Softmax {
        rows: usize,
        cols: usize,
        #[arg(long, default_value_t = 10)]
        iters: usize,
    },
}

fn open(adapter: &Option<String>) -> anyhow::Result<Context> {
    Ok(Context::new(&ContextOptions { adapter: adapter.clone(), profile: false })?)
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
        Cmd::Bench { what } => {
            let ctx = open(&cli.adapter)?;
            let adapter = ctx.adapter_name().to_string();
            let line = match what {
                BenchCmd::Matmul { m, k, n, iters } | BenchCmd::MatmulNaive { m, k, n, iters } => {
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
