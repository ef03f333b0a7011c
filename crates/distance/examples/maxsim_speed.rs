//! MaxSim throughput versus the plain f32 dot kernel (no criterion).
//!
//! `cargo run --release -p quiver-distance --example maxsim_speed`
//!
//! For every ISA this CPU supports: GFLOP/s of MaxSim with 32 query tokens ×
//! 200 document tokens × 384-d (2 flops per multiply-add, i.e.
//! `2·32·200·384` flops per call) for f32, f16 and sq8 document storage, and
//! of the `dot` kernel at 384-d on L1-resident vectors, called through the
//! table. Best of 15 runs; the ratio column is MaxSim / dot.

use std::hint::black_box;
use std::time::Instant;

use quiver_distance::maxsim::{f32_to_f16, maxsim_kernels_for, quantize_sq8};
use quiver_distance::maxsim_i8::{maxsim_i8_for, maxsim_i8_scalar, QueryI8};
use quiver_distance::{available_isas, kernels_for};

const DIM: usize = 384;
const NQ: usize = 32;
const NP: usize = 200;

/// Deterministic values in `[-0.5, 0.5)`.
fn data(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 1000) as f32 / 1000.0 - 0.5
        })
        .collect()
}

/// Best-of-15 ns per call of `f`, running `iters` calls per sample.
fn time(iters: u32, mut f: impl FnMut() -> f32) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..15 {
        let t = Instant::now();
        let mut acc = 0.0f32;
        for _ in 0..iters {
            acc += f();
        }
        black_box(acc);
        best = best.min(t.elapsed().as_nanos() as f64 / f64::from(iters));
    }
    best
}

fn main() {
    let q = data(NQ * DIM, 1);
    let p = data(NP * DIM, 2);
    let ph: Vec<u16> = p.iter().map(|&x| f32_to_f16(x)).collect();
    let mut codes = vec![0i8; p.len()];
    let scales: Vec<f32> = p
        .chunks_exact(DIM)
        .zip(codes.chunks_exact_mut(DIM))
        .map(|(x, c)| quantize_sq8(x, c))
        .collect();
    let (a, b) = (data(DIM, 3), data(DIM, 4));

    let maxsim_flops = 2.0 * (NQ * NP * DIM) as f64;
    let dot_flops = 2.0 * DIM as f64;
    println!("MaxSim {NQ} query × {NP} doc tokens × {DIM}-d; dot at {DIM}-d");
    println!(
        "{:<7} {:<12} {:>11} {:>9} {:>11}",
        "isa", "kernel", "ns/call", "GFLOP/s", "vs dot"
    );
    for isa in available_isas() {
        let (Some(k), Some(m)) = (kernels_for(isa), maxsim_kernels_for(isa)) else {
            continue;
        };
        let it = if isa == quiver_distance::Isa::Scalar {
            3
        } else {
            60
        };
        let dot_ns = time(200_000, || (k.dot)(black_box(&a), black_box(&b)));
        let dot_gf = dot_flops / dot_ns;
        println!(
            "{:<7} {:<12} {:>11.1} {:>9.1} {:>11}",
            isa.name(),
            "dot f32",
            dot_ns,
            dot_gf,
            "-"
        );
        let qi8 = QueryI8::new(&q, DIM);
        let i8k = maxsim_i8_for(isa).unwrap_or(maxsim_i8_scalar);
        let rows: [(&str, f64); 4] = [
            (
                "maxsim f32",
                time(it, || (m.maxsim_f32)(black_box(&q), black_box(&p), DIM)),
            ),
            (
                "maxsim f16",
                time(it, || (m.maxsim_f16)(black_box(&q), black_box(&ph), DIM)),
            ),
            (
                "maxsim sq8",
                time(it, || {
                    (m.maxsim_sq8)(black_box(&q), black_box(&codes), black_box(&scales), DIM)
                }),
            ),
            (
                "maxsim i8×sq8",
                time(it, || {
                    i8k(black_box(&qi8), black_box(&codes), black_box(&scales))
                }),
            ),
        ];
        for (name, ns) in rows {
            let gf = maxsim_flops / ns;
            println!(
                "{:<7} {:<12} {:>11.1} {:>9.1} {:>10.0}%",
                isa.name(),
                name,
                ns,
                gf,
                100.0 * gf / dot_gf
            );
        }
    }
}
