//! Micro benchmark for the distance kernels (no criterion).
//!
//! `cargo run --release -p quiver-distance --example kernel_speed [-- --all]`
//!
//! For every ISA this CPU supports, times `dot` (and with `--all` also `l2sq`
//! and `cosine`) at 384/768/784/1536 dimensions on vectors resident in L1,
//! called through the function pointer in the kernel table exactly as the
//! index does. Reports the best of several runs as ns/call and GFLOP/s
//! (flops per element: `dot` 2, `l2sq` 3, `cosine` 6).
//! Rows marked `+4B` use slices starting 4 bytes past a 64-byte boundary.

use std::hint::black_box;
use std::time::Instant;

use quiver_distance::{available_isas, kernels_for};

const DIMS: [usize; 4] = [384, 768, 784, 1536];

type DistFn = fn(&[f32], &[f32]) -> f32;

/// A buffer whose slice starts `skew` floats past a 64-byte boundary.
struct Buf {
    data: Vec<f32>,
    start: usize,
    len: usize,
}

impl Buf {
    fn new(len: usize, skew: usize, seed: u32) -> Buf {
        let mut data = vec![0.0f32; len + 32];
        let misalign = (data.as_ptr() as usize % 64) / 4;
        let start = (16 - misalign) % 16 + skew;
        for (i, x) in data[start..start + len].iter_mut().enumerate() {
            *x = ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 1000) as f32 / 1000.0
                - 0.5;
        }
        Buf { data, start, len }
    }
    fn slice(&self) -> &[f32] {
        &self.data[self.start..self.start + self.len]
    }
}

/// Best-of-`reps` ns per call of `f(a, b)`.
fn time(f: DistFn, a: &[f32], b: &[f32]) -> f64 {
    // Aim for ~2 ms per rep.
    let iters: u32 = (4_000_000 / a.len().max(1)) as u32;
    let mut best = f64::INFINITY;
    for _ in 0..15 {
        let t = Instant::now();
        let mut acc = 0.0f32;
        for _ in 0..iters {
            acc += f(black_box(a), black_box(b));
        }
        black_box(acc);
        let ns = t.elapsed().as_nanos() as f64 / f64::from(iters);
        best = best.min(ns);
    }
    best
}

fn main() {
    let all = std::env::args().any(|a| a == "--all");
    println!(
        "{:<7} {:<7} {:>5} {:>5} {:>10} {:>9}",
        "isa", "kernel", "dim", "align", "ns/call", "GFLOP/s"
    );
    for isa in available_isas() {
        let Some(k) = kernels_for(isa) else { continue };
        let mut kernels: Vec<(&str, DistFn, f64)> = vec![("dot", k.dot, 2.0)];
        if all {
            kernels.push(("l2sq", k.l2sq, 3.0));
            kernels.push(("cosine", k.cosine, 6.0));
        }
        for (name, f, flops_per_elem) in kernels {
            for skew in [0usize, 1] {
                if skew == 1 && !all {
                    continue;
                }
                for dim in DIMS {
                    let a = Buf::new(dim, skew, 1);
                    let b = Buf::new(dim, skew, 7);
                    let ns = time(f, a.slice(), b.slice());
                    let gflops = flops_per_elem * dim as f64 / ns;
                    println!(
                        "{:<7} {:<7} {:>5} {:>5} {:>10.1} {:>9.1}",
                        isa.name(),
                        name,
                        dim,
                        if skew == 0 { "64B" } else { "+4B" },
                        ns,
                        gflops
                    );
                }
            }
        }
    }
}
