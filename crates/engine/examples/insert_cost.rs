//! CPU time per written vector of an HNSW index, the cost an ingesting service pays out of the
//! cores that would otherwise serve searches.
//!
//! `cargo run --release -p quiver-engine --example insert_cost -- [N] [DIM] [BATCHES] [THREADS]`
//!
//! Builds an index of N random DIM-dimensional cosine vectors (M 16, efConstruction 200,
//! THREADS threads, default 2), then runs BATCHES 100-vector adds of new keys and BATCHES
//! 100-vector upserts of stored keys, and prints one JSON object with the process CPU time
//! (user + system, from /proc/self/stat) per vector of each kind.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use quiver_engine::{Config, Metric, SharedIndex, VectorIndex};
use quiver_hnsw::splitmix64;

mod common;
use common::vectors;

/// CPU seconds (user + system) this process has used, or `None` where /proc is missing.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("N DIM BATCHES THREADS are integers"))
        .collect();
    let arg = |i: usize, default: usize| args.get(i).copied().unwrap_or(default);
    let (n, dim, batches, threads) = (arg(0, 100_000), arg(1, 384), arg(2, 200), arg(3, 2));
    let config = Config {
        metric: Metric::Cosine,
        threads,
        ..Config::new(dim)
    };
    let index = SharedIndex::new(VectorIndex::new(config).expect("config"));
    let never = AtomicBool::new(false);
    let keys: Vec<u32> = (0..n as u32).collect();
    index
        .add(&keys, &vectors(n, dim, 1), false, &never, &mut |_, _| {})
        .expect("build");
    let mut parts = Vec::new();
    let mut next = n as u32;
    for kind in ["add", "upsert"] {
        let (cpu0, wall0) = (cpu_seconds().unwrap_or(0.0), Instant::now());
        let mut written = 0usize;
        for b in 0..batches as u64 {
            let ks: Vec<u32> = if kind == "add" {
                (0..100).map(|i| next + i).collect()
            } else {
                let set: std::collections::BTreeSet<u32> = (0..100u64)
                    .map(|i| (splitmix64(b * 100 + i + 77) % n as u64) as u32)
                    .collect();
                set.into_iter().collect()
            };
            if kind == "add" {
                next += 100;
            }
            index
                .add(
                    &ks,
                    &vectors(ks.len(), dim, b + 3),
                    true,
                    &never,
                    &mut |_, _| {},
                )
                .expect("write");
            written += ks.len();
        }
        let cpu = cpu_seconds().unwrap_or(0.0) - cpu0;
        parts.push(format!(
            "\"{kind}\":{{\"vectors\":{written},\"cpuMsPerVector\":{:.3},\"wallMsPerVector\":{:.3}}}",
            cpu * 1e3 / written as f64,
            wall0.elapsed().as_secs_f64() * 1e3 / written as f64
        ));
    }
    println!(
        "{{\"n\":{n},\"dim\":{dim},\"threads\":{threads},{}}}",
        parts.join(",")
    );
}
