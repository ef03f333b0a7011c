//! FDE encoding throughput, single thread (no criterion).
//!
//! `cargo run --release -p quiver-muvera --example encode_speed [-- PRESET [TOKENS [DIM]]]`
//!
//! Encodes documents of `TOKENS` (default 200) random L2-normalised
//! `DIM`-d (default 384) tokens with `PRESET` (default `paper-10240`) and
//! prints documents/s and queries/s (32-token queries) for one thread, best of 5 runs.

use std::hint::black_box;
use std::time::Instant;

use quiver_muvera::{FdeEncoder, FdeParams};

fn tokens(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    let mut v: Vec<f32> = (0..n * dim)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    for t in v.chunks_exact_mut(dim) {
        let n = t.iter().map(|x| x * x).sum::<f32>().sqrt();
        t.iter_mut().for_each(|x| *x /= n);
    }
    v
}

/// Nanoseconds this thread has spent on a CPU (Linux `/proc/thread-self/schedstat`).
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Best-of-5 items/s by wall clock, and by on-CPU time when available (robust
/// to other processes competing for the core).
fn rate(docs: &[Vec<f32>], mut f: impl FnMut(&[f32])) -> (f64, Option<f64>) {
    let (mut best, mut best_cpu) = (0.0f64, None::<f64>);
    for _ in 0..5 {
        let c0 = cpu_ns();
        let t = Instant::now();
        for d in docs {
            f(d);
        }
        best = best.max(docs.len() as f64 / t.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (c0, cpu_ns()) {
            let r = docs.len() as f64 / ((b - a).max(1) as f64 * 1e-9);
            best_cpu = Some(best_cpu.map_or(r, |x: f64| x.max(r)));
        }
    }
    (best, best_cpu)
}

fn main() -> Result<(), quiver_muvera::MuveraError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = args.first().map_or("paper-10240", String::as_str);
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(200);
    let dim: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(384);
    let enc = FdeEncoder::new(FdeParams::preset(preset, dim)?)?;
    let docs: Vec<Vec<f32>> = (0..200).map(|i| tokens(n, dim, 1000 + i)).collect();
    let queries: Vec<Vec<f32>> = (0..200).map(|i| tokens(32, dim, 5000 + i)).collect();
    let mut out = vec![0.0f32; enc.output_dim()];
    let d = rate(&docs, |t| {
        enc.encode_document(black_box(t), &mut out).ok();
        black_box(&out);
    });
    let q = rate(&queries, |t| {
        enc.encode_query(black_box(t), &mut out).ok();
        black_box(&out);
    });
    let cpu = |r: Option<f64>| r.map_or(String::new(), |x| format!(" ({x:.0}/s of on-CPU time)"));
    println!(
        "{preset} (output {} dims), {n} tokens × {dim}-d, kernels {}",
        enc.output_dim(),
        quiver_distance::maxsim::maxsim_kernels().isa.name()
    );
    println!("documents: {:.0}/s per thread{}", d.0, cpu(d.1));
    println!("32-token queries: {:.0}/s per thread{}", q.0, cpu(q.1));
    Ok(())
}
