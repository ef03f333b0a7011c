//! How long searches and accessors wait for an index's lock while writes run: the measure
//! behind `npm run bench:locks` (bench/service/locks.mjs runs it and writes the summary).
//!
//! `cargo run --release -p quiver-engine --example lock_wait -- [N] [DIM] [SECONDS] [THREADS]`
//!
//! Builds an HNSW index of N random DIM-dimensional cosine vectors (M 16, efConstruction 200,
//! THREADS threads, default 2), then for SECONDS runs a writer (a 100-vector upsert every 100 ms, half of it
//! replacing stored keys; a 1,000-key remove every second, so the graph is repaired around
//! tombstones; the arenas grow as keys are added) while a reader thread takes the read lock
//! in a loop, as a search or an accessor (`size`, `has`, …) does, and times each acquisition.
//! A second pass does the same against one 20,000-vector add. Prints one JSON object.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quiver_engine::{Config, Metric, SharedIndex, VectorIndex};
use quiver_hnsw::splitmix64;

mod common;
use common::vectors;

/// Lock waits (µs) of a reader that searches `index` until `stop`.
fn reader(index: Arc<SharedIndex>, dim: usize, stop: Arc<AtomicBool>) -> Vec<f64> {
    let query = vectors(1, dim, 99);
    let mut waits = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let guard = index.read();
        waits.push(t.elapsed().as_secs_f64() * 1e6);
        let _ = guard.search(&query, 10, Some(64));
        drop(guard);
    }
    waits
}

fn summary(mut waits: Vec<f64>) -> String {
    waits.sort_by(f64::total_cmp);
    let at = |p: f64| waits[((waits.len() - 1) as f64 * p) as usize];
    format!(
        "{{\"acquisitions\":{},\"p50Us\":{:.1},\"p999Us\":{:.1},\"maxMs\":{:.3}}}",
        waits.len(),
        at(0.5),
        at(0.999),
        waits.last().copied().unwrap_or(0.0) / 1000.0
    )
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("N DIM SECONDS are integers"))
        .collect();
    let (n, dim, seconds, threads) = (
        args.first().copied().unwrap_or(100_000),
        args.get(1).copied().unwrap_or(384),
        args.get(2).copied().unwrap_or(15),
        args.get(3).copied().unwrap_or(2),
    );
    let config = Config {
        metric: Metric::Cosine,
        threads,
        ..Config::new(dim)
    };
    let index = Arc::new(SharedIndex::new(VectorIndex::new(config).expect("config")));
    let never = AtomicBool::new(false);
    let keys: Vec<u32> = (0..n as u32).collect();
    index
        .add(&keys, &vectors(n, dim, 1), false, &never, &mut |_, _| {})
        .expect("build");

    // Pass 1: the ingesting service's cadence.
    let stop = Arc::new(AtomicBool::new(false));
    let r = {
        let (index, stop) = (index.clone(), stop.clone());
        std::thread::spawn(move || reader(index, dim, stop))
    };
    let start = Instant::now();
    let (mut next, mut round, mut upserts) = (n as u32, 0u64, Vec::new());
    while start.elapsed() < Duration::from_secs(seconds as u64) {
        let t = Instant::now();
        let ks: Vec<u32> = (0..100u32)
            .map(|i| {
                if i % 2 == 0 {
                    (splitmix64(round * 100 + u64::from(i)) % u64::from(next)) as u32
                } else {
                    next += 1;
                    next
                }
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let vs = vectors(ks.len(), dim, round + 7);
        index
            .add(&ks, &vs, true, &never, &mut |_, _| {})
            .expect("upsert");
        upserts.push(t.elapsed().as_secs_f64() * 1e3);
        if round % 10 == 9 {
            let gone: Vec<u32> = (0..1000u64)
                .map(|i| (splitmix64(round * 7919 + i) % u64::from(next)) as u32)
                .collect();
            index.remove(&gone).expect("remove");
        }
        round += 1;
        std::thread::sleep(Duration::from_millis(100).saturating_sub(t.elapsed()));
    }
    stop.store(true, Ordering::Relaxed);
    let ingest = summary(r.join().expect("reader"));
    upserts.sort_by(f64::total_cmp);

    // Pass 2: one large add.
    let stop = Arc::new(AtomicBool::new(false));
    let r = {
        let (index, stop) = (index.clone(), stop.clone());
        std::thread::spawn(move || reader(index, dim, stop))
    };
    let big: Vec<u32> = (next + 1..next + 20_001).collect();
    let t = Instant::now();
    index
        .add(
            &big,
            &vectors(big.len(), dim, 5),
            false,
            &never,
            &mut |_, _| {},
        )
        .expect("large add");
    let big_ms = t.elapsed().as_secs_f64() * 1e3;
    stop.store(true, Ordering::Relaxed);
    let bulk = summary(r.join().expect("reader"));

    println!(
        "{{\"n\":{n},\"dim\":{dim},\"threads\":{threads},\"seconds\":{seconds},\"upserts\":{},\"upsertP50Ms\":{:.1},\"ingest\":{ingest},\"largeAddMs\":{big_ms:.0},\"largeAdd\":{bulk},\"size\":{}}}",
        upserts.len(),
        upserts[upserts.len() / 2],
        index.read().len()
    );
}
