//! Criterion benchmarks of the core kernels at ViT-B shapes (and 1024³), on the default adapter.
//! Throughput is FLOPs for matmul (criterion prints it as elem/s = FLOP/s) and bytes for the
//! row kernels. `vitfuse bench` prints the same measurements as JSON lines.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vitfuse::runtime::ops::{self, MatmulKernel, MatmulOptions};
use vitfuse::runtime::{Context, ContextOptions, Tensor};
#[path = "../src/bin/vitfuse/selfcheck.rs"]
#[allow(dead_code)]
mod selfcheck;
#[path = "../src/bin/vitfuse/bench.rs"]
#[allow(dead_code)]
mod bench;

use selfcheck::seeded;

/// (M, K, N) of ViT-B/16's linear layers at batch 1 and 8, and a square reference.
const MATMULS: &[(usize, usize, usize)] = &[
    (197, 768, 768),
    (197, 768, 2304),
    (197, 768, 3072),
    (197, 3072, 768),
    (197 * 8, 768, 768),
    (197 * 8, 768, 3072),
    (1024, 1024, 1024),
];

fn ctx() -> Context {
    Context::new(&ContextOptions::default()).expect("benchmarks need a GPU adapter (or lavapipe)")
}

fn matmul(c: &mut Criterion) {
    let ctx = ctx();
    let mut g = c.benchmark_group(format!("matmul [{}]", ctx.adapter_name()));
    g.sample_size(10);
    for &(m, k, n) in MATMULS {
        // Validates a sample against the CPU before anything is timed.
        bench::matmul(&ctx, m, k, n, MatmulKernel::Tiled, vitfuse_model::Precision::F32, 0).expect("matmul validation");
        let a = Tensor::from_slice(&ctx, &[m, k], &seeded(m * k, 1)).unwrap();
        let w = Tensor::from_slice(&ctx, &[n, k], &seeded(n * k, 2)).unwrap();
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        for (name, kernel) in [("tiled", MatmulKernel::Tiled), ("naive", MatmulKernel::Naive)] {
            if name == "naive" && m * k * n > 197 * 768 * 768 {
                continue; // the naive kernel takes seconds per run on software adapters
            }
            let opts = MatmulOptions { kernel, ..Default::default() };
            g.bench_with_input(BenchmarkId::new(name, format!("{m}x{k}x{n}")), &(), |bch, _| {
                bch.iter(|| {
                    ops::matmul(&ctx, &a, &w, None, None, opts).unwrap();
                    ctx.sync().unwrap();
                })
            });
        }
    }
    g.finish();
}

fn rows(c: &mut Criterion) {
    let ctx = ctx();
    let mut g = c.benchmark_group(format!("rows [{}]", ctx.adapter_name()));
    g.sample_size(10);
    // LayerNorm over ViT-B activations (batch 1 and 8); softmax over attention scores (B·NH·T, T).
    for (rows, cols) in [(197, 768), (197 * 8, 768)] {
        let x = Tensor::from_slice(&ctx, &[rows, cols], &seeded(rows * cols, 3)).unwrap();
        let gm = Tensor::from_slice(&ctx, &[cols], &seeded(cols, 4)).unwrap();
        g.throughput(Throughput::Bytes((2 * rows * cols * 4) as u64));
        g.bench_function(BenchmarkId::new("layernorm", format!("{rows}x{cols}")), |b| {
            b.iter(|| {
                ops::layernorm(&ctx, &x, &gm, &gm, 1e-6).unwrap();
                ctx.sync().unwrap();
            })
        });
    }
    for (rows, cols) in [(12 * 197, 197), (8 * 12 * 197, 197)] {
        let x = Tensor::from_slice(&ctx, &[rows, cols], &seeded(rows * cols, 5)).unwrap();
        g.throughput(Throughput::Bytes((2 * rows * cols * 4) as u64));
        g.bench_function(BenchmarkId::new("softmax", format!("{rows}x{cols}")), |b| {
            b.iter(|| {
                ops::softmax(&ctx, &x, None, 0.125).unwrap();
                ctx.sync().unwrap();
            })
        });
    }
    g.finish();
}

/// Fused vs composed patch embedding and attention at ViT-B/16 shapes (batch 1).
fn fused_vs_composed(c: &mut Criterion) {
    use vitfuse::attention::{self as at, AttentionOptions, Heads};
    use vitfuse::patch::{self as pe, PatchOptions};
    let ctx = ctx();
    let mut g = c.benchmark_group(format!("fused [{}]", ctx.adapter_name()));
    g.sample_size(10);
    let up = |shape: &[usize], seed| Tensor::from_slice(&ctx, shape, &seeded(shape.iter().product(), seed)).unwrap();
    let (px, w, b, cls, pos) = (up(&[1, 3, 224, 224], 1), up(&[768, 3, 16, 16], 2), up(&[768], 3), up(&[1, 768], 4), up(&[197, 768], 5));
    let o = PatchOptions::square(16);
    g.throughput(Throughput::Elements(2 * 196 * 768 * 768));
    g.bench_function("patch_embed fused 1x3x224x224 P16 D768", |bch| {
        bch.iter(|| {
            pe::patch_embed(&ctx, &px, &w, Some(&b), Some(&cls), Some(&pos), o).unwrap();
            ctx.sync().unwrap();
        })
    });
    g.bench_function("patch_embed composed 1x3x224x224 P16 D768", |bch| {
        bch.iter(|| {
            pe::patch_embed_composed(&ctx, &px, &w, Some(&b), Some(&cls), Some(&pos), o).unwrap();
            ctx.sync().unwrap();
        })
    });
    let (t, nh, hs) = (197, 12, 64);
    let qkv = up(&[1, t, 3 * nh * hs], 6);
    let opts = AttentionOptions::new(nh, hs);
    let h = |off| Heads::new(&qkv, off);
    g.throughput(Throughput::Elements((4 * t * t * nh * hs) as u64));
    g.bench_function("attention fused B1 T197 12x64", |bch| {
        bch.iter(|| {
            at::self_attention(&ctx, &qkv, None, opts).unwrap();
            ctx.sync().unwrap();
        })
    });
    g.bench_function("attention composed B1 T197 12x64", |bch| {
        bch.iter(|| {
            at::attention_composed(&ctx, h(0), h(nh * hs), h(2 * nh * hs), None, opts).unwrap();
            ctx.sync().unwrap();
        })
    });
    g.finish();
}

/// Whole encoders at real size (random weights), examples/s; AST-base (1214 tokens) at batch 1.
fn models(c: &mut Criterion) {
    let ctx = ctx();
    let mut g = c.benchmark_group(format!("model [{}]", ctx.adapter_name()));
    g.sample_size(10);
    let batches: &[usize] = &[1, 8];
    for &name in bench::MODELS {
        let (m, size) = bench::BenchModel::new(&ctx, name, vitfuse_model::Precision::F32).unwrap();
        for &batch in batches {
            if name == "ast-b" && batch > 1 {
                continue;
            }
            let shape = m.input_shape(batch, size);
            let px = Tensor::from_slice(&ctx, &shape, &seeded(shape.iter().product(), 7)).unwrap();
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_function(BenchmarkId::new(name, format!("batch {batch}")), |bch| {
                bch.iter(|| {
                    m.forward(&ctx, &px).unwrap();
                    ctx.sync().unwrap();
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, matmul, rows, fused_vs_composed, models);
criterion_main!(benches);
