//! Fast pseudo-random orthogonal rotations built from Walsh–Hadamard transforms, and the
//! crate's own seeded PRNG.
//!
//! [`Rotation`] is an exactly orthogonal `D × D` map (`D` even) applied in `O(D log D)`:
//! [`Rotation::ROUNDS`] rounds, each
//!
//! 1. multiply every coordinate by a random sign `±1`;
//! 2. normalised FWHT (`H / √T`) on the head block `x[0..T]`, `T` = the largest power of two
//!    `≤ D`;
//! 3. if `T < D`: a butterfly `(x_i, x_{i+D/2}) ← ((x_i + x_{i+D/2})/√2, (x_i − x_{i+D/2})/√2)`
//!    across the two halves, then a normalised FWHT on the tail block `x[D−T..D]`.
//!
//! Every step is orthogonal and its own inverse, so [`Rotation::apply_inverse`] runs the steps
//! in reverse. Because `T > D/2` the two blocks cover every coordinate, and with random signs
//! the result spreads any fixed vector over all coordinates like a random rotation does
//! (the randomised Hadamard transform of Ailon & Chazelle), which is what RaBitQ's estimator
//! needs in practice.
//!
//! Signs come from [`SplitMix64`] seeded by the caller, so a rotation depends only on
//! `(D, seed)` and never changes with a dependency version.

/// Steele, Lea & Flood's SplitMix64: a tiny, fast, statistically solid 64-bit generator.
/// Used for rotation signs and RaBitQ's randomised query rounding; its output for a seed is
/// fixed forever (stored codes depend on it).
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 24 random bits (exactly representable as `f32`).
    #[inline]
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }
}

/// In-place unnormalised fast Walsh–Hadamard transform. `x.len()` must be a power of two
/// (other lengths are left unchanged). Runs the kernel `quiver_distance` selected for this
/// process (so `QUIVER_FORCE_ISA` applies); every variant returns bit-identical results.
pub use quiver_distance::hadamard::fwht;

#[cfg(test)]
use quiver_distance::hadamard::fwht_scalar as fwht_body;

/// Normalised FWHT (`H/√n`, orthogonal and self-inverse) of a power-of-two block.
fn fwht_normalised(x: &mut [f32]) {
    fwht(x);
    let s = 1.0 / (x.len() as f32).sqrt();
    for v in x {
        *v *= s;
    }
}

/// Butterfly across the two halves of an even-length `x` (orthogonal and self-inverse).
fn half_butterfly(x: &mut [f32]) {
    let h = x.len() / 2;
    let (lo, hi) = x.split_at_mut(h);
    let s = std::f32::consts::FRAC_1_SQRT_2;
    for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
        let (p, m) = ((*a + *b) * s, (*a - *b) * s);
        *a = p;
        *b = m;
    }
}

/// A seeded pseudo-random orthogonal rotation of `R^D` (see the module docs).
#[derive(Clone, Debug)]
pub struct Rotation {
    dim: usize,
    trunc: usize,
    /// `ROUNDS × dim` signs, `±1.0`.
    signs: Vec<f32>,
}

impl Rotation {
    /// Number of sign-flip + Hadamard rounds.
    pub const ROUNDS: usize = 4;

    /// The rotation of `R^dim` for `seed`. `dim` must be even and non-zero (RaBitQ uses a
    /// multiple of 64); returns `None` otherwise.
    pub fn new(dim: usize, seed: u64) -> Option<Self> {
        if dim == 0 || !dim.is_multiple_of(2) {
            return None;
        }
        let trunc = 1usize << (usize::BITS - 1 - dim.leading_zeros());
        let mut rng = SplitMix64::new(seed);
        let mut signs = Vec::with_capacity(Self::ROUNDS * dim);
        let mut word = 0u64;
        for i in 0..Self::ROUNDS * dim {
            if i % 64 == 0 {
                word = rng.next_u64();
            }
            signs.push(if (word >> (i % 64)) & 1 == 1 {
                -1.0
            } else {
                1.0
            });
        }
        Some(Rotation { dim, trunc, signs })
    }

    /// The dimension `D` this rotation acts on.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Rotate `x` in place (`x.len()` must equal [`Rotation::dim`]; otherwise `x` is left
    /// unchanged).
    pub fn apply(&self, x: &mut [f32]) {
        if x.len() != self.dim {
            return;
        }
        let (d, t) = (self.dim, self.trunc);
        for signs in self.signs.chunks_exact(d) {
            for (v, s) in x.iter_mut().zip(signs) {
                *v *= s;
            }
            fwht_normalised(&mut x[..t]);
            if t < d {
                half_butterfly(x);
                fwht_normalised(&mut x[d - t..]);
            }
        }
    }

    /// Apply the inverse (= transpose) rotation to `x` in place (same length rule as
    /// [`Rotation::apply`]).
    pub fn apply_inverse(&self, x: &mut [f32]) {
        if x.len() != self.dim {
            return;
        }
        let (d, t) = (self.dim, self.trunc);
        for signs in self.signs.chunks_exact(d).rev() {
            if t < d {
                fwht_normalised(&mut x[d - t..]);
                half_butterfly(x);
            }
            fwht_normalised(&mut x[..t]);
            for (v, s) in x.iter_mut().zip(signs) {
                *v *= s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(x: &[f32]) -> f64 {
        x.iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt()
    }

    #[test]
    fn fwht_matches_definition() {
        for n in [1usize, 2, 4, 8, 16, 32, 64, 256] {
            let x: Vec<f32> = (0..n).map(|i| ((i * 7 + 3) % 11) as f32 - 5.0).collect();
            let mut y = x.clone();
            fwht(&mut y);
            let mut z = x.clone();
            fwht_body(&mut z);
            for (i, (&yi, &zi)) in y.iter().zip(&z).enumerate() {
                let e: f32 = x
                    .iter()
                    .enumerate()
                    .map(|(j, &v)| if (i & j).count_ones() % 2 == 0 { v } else { -v })
                    .sum();
                assert_eq!(yi, e, "n={n} i={i}");
                assert_eq!(zi, e, "n={n} i={i}");
            }
        }
        let mut odd = [1.0f32, 2.0, 3.0];
        fwht(&mut odd);
        assert_eq!(odd, [1.0, 2.0, 3.0]);
    }

    #[test]
    fn rotation_is_orthogonal_and_invertible() {
        for d in [2usize, 64, 128, 192, 384, 832, 1024] {
            let r = Rotation::new(d, 42).unwrap();
            let mut rng = SplitMix64::new(d as u64);
            let x: Vec<f32> = (0..d).map(|_| rng.next_f32() - 0.5).collect();
            let mut y = x.clone();
            r.apply(&mut y);
            assert!((norm(&x) - norm(&y)).abs() < 1e-4 * norm(&x), "d={d}");
            r.apply_inverse(&mut y);
            for (a, b) in x.iter().zip(&y) {
                assert!((a - b).abs() < 1e-5, "d={d}");
            }
            // A basis vector gets spread over (nearly) all coordinates.
            let mut e = vec![0.0f32; d];
            e[d / 3] = 1.0;
            r.apply(&mut e);
            let max = e.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            if d >= 64 {
                assert!(max < 0.5, "d={d} max={max}");
            }
        }
        assert!(Rotation::new(0, 1).is_none());
        assert!(Rotation::new(7, 1).is_none());
    }

    #[test]
    fn splitmix_is_stable() {
        // Reference values of SplitMix64 seeded with 0 (fixed forever: codes depend on them).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }
}
