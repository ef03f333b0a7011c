//! What the engine's examples share.

use quiver_hnsw::splitmix64;

/// `n` seeded pseudo-random vectors of `dim` components in [-0.5, 0.5), row-major.
pub fn vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n * dim)
        .map(|_| {
            s = splitmix64(s);
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}
