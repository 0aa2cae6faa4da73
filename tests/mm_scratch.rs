//! Scratch A/B harness for matmul shader experiments (temporary; not part of the suite).
mod common;
use std::time::Instant;
use common::{gpu, values};
use vitfuse::runtime::{Kernel, Tensor};

#[test]
#[ignore]
fn ab() {
    let ctx = gpu();
    let act = include_str!("../shaders/runtime/activation.wgsl");
    // VARIANTS="path:TM:TN:WG;..."  SHAPES="M,K,N;..."
    let vars: Vec<(Kernel, u64, u64)> = std::env::var("VARIANTS").unwrap().split(';').map(|v| {
        let f: Vec<&str> = v.split(':').collect();
        let src: &'static str = Box::leak(format!("{act}{}", std::fs::read_to_string(f[0]).unwrap()).into_boxed_str());
        let name: &'static str = Box::leak(f[0].to_string().into_boxed_str());
        (Kernel { name, source: src, unchecked: true }, f[1].parse().unwrap(), f[2].parse().unwrap())
    }).collect();
    let reps: usize = std::env::var("REPS").ok().and_then(|s| s.parse().ok()).unwrap_or(7);
    for shape in std::env::var("SHAPES").unwrap().split(';') {
        let d: Vec<usize> = shape.split(',').map(|s| s.parse().unwrap()).collect();
        let (m, k, n) = (d[0], d[1], d[2]);
        let ta = Tensor::from_slice(ctx, &[m, k], &values(m * k, 1)).unwrap();
        let tw = Tensor::from_slice(ctx, &[n, k], &values(n * k, 2)).unwrap();
        let dummy = Tensor::from_slice(ctx, &[1], &[0f32]).unwrap();
        let out = Tensor::from_slice(ctx, &[m, n], &vec![0f32; m * n]).unwrap();
        let params: [u32; 8] = [1, m as u32, k as u32, n as u32, 0, 0, 1f32.to_bits(), 0];
        let mut times = vec![Vec::new(); vars.len()];
        for rep in 0..=reps {
            for (i, (kern, tm, tn)) in vars.iter().enumerate() {
                let g = (m as u64).div_ceil(*tm) * (n as u64).div_ceil(*tn);
                let t0 = Instant::now();
                ctx.dispatch(kern, &[], &params, &[&ta, &tw, &dummy, &dummy, &out], g).unwrap();
                ctx.sync().unwrap();
                if rep > 0 { times[i].push(t0.elapsed().as_secs_f64()); }
            }
        }
        let mut line = format!("{m}x{k}x{n}:");
        for (i, t) in times.iter_mut().enumerate() {
            t.sort_by(|a, b| a.total_cmp(b));
            line += &format!(" [{i}] {:.2}", 2.0 * (m * k * n) as f64 / t[t.len() / 2] / 1e9);
        }
        println!("{line}");
    }
}
