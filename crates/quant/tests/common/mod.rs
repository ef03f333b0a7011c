//! Helpers shared by the quantizer tests: seeded data (no external RNG crate), exact
//! distances, bulk encoding.

use quiver_quant::{Metric, Quantizer};

/// splitmix64 with uniform and Gaussian draws.
pub struct Rng(pub u64);
impl Rng {
    pub fn u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn unit(&mut self) -> f64 {
        ((self.u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    pub fn gauss(&mut self) -> f32 {
        let (a, b) = (self.unit(), self.unit());
        ((-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()) as f32
    }
}

/// `n` points around `k` Gaussian centres (centre spread 1, within-cluster spread `sigma`).
pub fn clustered(rng: &mut Rng, n: usize, dim: usize, k: usize, sigma: f32) -> Vec<f32> {
    let centres: Vec<f32> = (0..k * dim).map(|_| rng.gauss()).collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = (rng.u64() % k as u64) as usize;
        for j in 0..dim {
            out.push(centres[c * dim + j] + sigma * rng.gauss());
        }
    }
    out
}

/// Exact distance in the library's convention.
pub fn exact(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    match metric {
        Metric::L2 => quiver_distance::scalar::l2sq(a, b),
        Metric::Ip | Metric::Cosine => 1.0 - quiver_distance::scalar::dot(a, b),
    }
}

/// Every row of `data` encoded, one code after another.
pub fn encode_all<Q: Quantizer>(q: &Q, data: &[f32]) -> Vec<u8> {
    let cb = q.code_bytes();
    let mut codes = vec![0u8; data.len() / q.dim() * cb];
    for (v, c) in data.chunks_exact(q.dim()).zip(codes.chunks_exact_mut(cb)) {
        q.encode(v, c);
    }
    codes
}
