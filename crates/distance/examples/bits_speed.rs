//! Nanoseconds per 768-bit Hamming distance and per 4-plane × 768-bit
//! `and_popcount_planes` for every bit-kernel ISA this CPU runs.
//!
//! `cargo run --release -p quiver-distance --example bits_speed`

use std::hint::black_box;
use std::time::Instant;

use quiver_distance::bits::{available_bit_isas, bit_kernels_for};

fn main() {
    const WORDS: usize = 768 / 64;
    const N: usize = 256;
    // A small pool of codes so the loop is not a single hot pair.
    let mut s = 0x1234_5678_9ABC_DEF0u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let codes: Vec<u64> = (0..N * WORDS).map(|_| next()).collect();
    let query: Vec<u64> = (0..WORDS).map(|_| next()).collect();
    let planes: Vec<u64> = (0..4 * WORDS).map(|_| next()).collect();
    let iters = 20_000;
    println!("isa       ns/hamming(768b)  ns/and_popcount_planes(4×768b)");
    for isa in available_bit_isas() {
        let Some(k) = bit_kernels_for(isa) else {
            continue;
        };
        let mut best_h = f64::INFINITY;
        let mut best_p = f64::INFINITY;
        for _ in 0..5 {
            let t = Instant::now();
            let mut acc = 0u64;
            for _ in 0..iters {
                for c in codes.chunks_exact(WORDS) {
                    acc += u64::from((k.hamming)(black_box(&query), black_box(c)));
                }
            }
            black_box(acc);
            best_h = best_h.min(t.elapsed().as_nanos() as f64 / (iters * N) as f64);
            let t = Instant::now();
            let mut acc = 0u64;
            for _ in 0..iters {
                for c in codes.chunks_exact(WORDS) {
                    acc += (k.and_popcount_planes)(black_box(&planes), 4, black_box(c));
                }
            }
            black_box(acc);
            best_p = best_p.min(t.elapsed().as_nanos() as f64 / (iters * N) as f64);
        }
        println!("{:<8}  {:>16.2}  {:>30.2}", isa.name(), best_h, best_p);
    }
}
