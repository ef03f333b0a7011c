//! Times `PqKernels::nearest` (batched nearest-centroid search) per ISA.
use quiver_distance::pq::pq_kernels_for;
use quiver_distance::Isa;
use std::time::Instant;

fn main() {
    let mut s = 0x1234_5678_9abc_def0u64;
    let mut rnd = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    println!("isa      dim    k     n   ns/point");
    for &(dim, k, n) in &[
        (8usize, 256usize, 8192usize),
        (32, 256, 4096),
        (128, 1024, 512),
    ] {
        let points: Vec<f32> = (0..n * dim).map(|_| rnd()).collect();
        let ct: Vec<f32> = (0..dim * k).map(|_| rnd()).collect();
        let cnorm: Vec<f32> = (0..k)
            .map(|c| (0..dim).map(|d| ct[d * k + c] * ct[d * k + c]).sum())
            .collect();
        for isa in [Isa::Avx512, Isa::Avx2, Isa::Scalar] {
            let Some(t) = pq_kernels_for(isa) else {
                continue;
            };
            let mut idx = vec![0u32; n];
            let mut dist = vec![0f32; n];
            let mut best = f64::INFINITY;
            for _ in 0..7 {
                let t0 = Instant::now();
                (t.nearest)(&points, dim, &ct, &cnorm, &mut idx, &mut dist);
                best = best.min(t0.elapsed().as_nanos() as f64 / n as f64);
            }
            println!(
                "{:<7} {dim:>4} {k:>5} {n:>5} {best:>10.1}  (isa {:?}, idx0 {})",
                isa.name(),
                t.isa,
                idx[0]
            );
        }
    }
}
