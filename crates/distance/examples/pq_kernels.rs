//! Times the 8-bit / 4-bit ADC kernels (scalar unrolled vs AVX-512 gather) and fast-scan.
//!
//! `cargo run --release -p quiver-distance --example pq_kernels`

use std::hint::black_box;
use std::time::Instant;

use quiver_distance::pq::{adc_gather_avx512, adc_u4_scalar, adc_u8_scalar, pq_kernels};
use quiver_distance::pq::{fs_block_bytes, fs_expand_lut, FS_BLOCK};

fn main() {
    let n = 20_000usize;
    let mut s = 1u64;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) as u32
    };
    for m in [16usize, 48, 96] {
        let t8: Vec<f32> = (0..256 * m).map(|_| next() as f32 / 1e9).collect();
        let t4: Vec<f32> = (0..16 * m).map(|_| next() as f32 / 1e9).collect();
        let codes: Vec<u8> = (0..n * m).map(|_| next() as u8).collect();
        let time = |name: &str, f: &dyn Fn(&[u8]) -> f32, cb: usize| {
            let mut best = f64::INFINITY;
            for _ in 0..5 {
                let t = Instant::now();
                let mut acc = 0.0f32;
                for c in codes.chunks_exact(cb).take(n) {
                    acc += f(black_box(c));
                }
                black_box(acc);
                best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
            }
            println!("m={m:3} {name:<16} {best:6.2} ns/code");
        };
        time("u8 scalar", &|c| adc_u8_scalar(&t8, c), m);
        time("u4 scalar", &|c| adc_u4_scalar(&t4, c, m), m.div_ceil(2));
        if let Some((g8, g4)) = adc_gather_avx512() {
            time("u8 gather512", &|c| g8(&t8, c), m);
            time("u4 gather512", &|c| g4(&t4, c, m), m.div_ceil(2));
        }
        let lut16: Vec<u8> = (0..16 * m).map(|_| next() as u8).collect();
        let lut = fs_expand_lut(&lut16, m);
        let blocks: Vec<u8> = (0..fs_block_bytes(m) * (n / FS_BLOCK))
            .map(|_| next() as u8)
            .collect();
        let k = pq_kernels();
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let t = Instant::now();
            let mut out = [0u16; FS_BLOCK];
            for b in blocks.chunks_exact(fs_block_bytes(m)) {
                (k.fastscan_block)(&lut, b, &mut out);
                black_box(&out);
            }
            best = best.min(t.elapsed().as_nanos() as f64 / (n / FS_BLOCK * FS_BLOCK) as f64);
        }
        println!("m={m:3} fastscan {:?} {best:6.2} ns/code", k.isa);
    }
}
