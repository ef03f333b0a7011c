//! The crate's own deterministic PRNG, so random matrices never change with a
//! dependency version or platform.
//!
//! * [`splitmix64`] — Steele, Lea & Flood's SplitMix64 finaliser, used to
//!   derive stream seeds and to seed the generator.
//! * [`Xoshiro256`] — Blackman & Vigna's xoshiro256** generator.
//! * Gaussians — the Marsaglia polar form of Box–Muller. Its logarithm is
//!   computed by [`ln`] with only `+ − × ÷` and exact bit manipulation (no
//!   libm call), and `sqrt` is correctly rounded by IEEE 754, so every
//!   platform produces bit-identical values.
//!
//! Stream derivation (see [`stream_seed`]): the stream for repetition `r` and
//! purpose `p` is seeded with `splitmix64(seed ^ splitmix64(r·16 + p))`.

/// SplitMix64: adds the golden-ratio increment and applies the finaliser.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Purpose tags mixed into stream seeds.
pub(crate) const PURPOSE_HYPERPLANES: u64 = 1;
/// ±1 projection matrices.
pub(crate) const PURPOSE_PROJECTION: u64 = 2;
/// Count-Sketch bucket/sign table (repetition index 0).
pub(crate) const PURPOSE_COUNT_SKETCH: u64 = 3;

/// Seed of the stream for repetition `rep` and `purpose`:
/// `splitmix64(seed ^ splitmix64(rep·16 + purpose))`.
pub fn stream_seed(seed: u64, rep: u64, purpose: u64) -> u64 {
    splitmix64(seed ^ splitmix64(rep.wrapping_mul(16).wrapping_add(purpose)))
}

/// xoshiro256** PRNG, seeded by expanding a `u64` with SplitMix64.
#[derive(Clone, Debug)]
pub struct Xoshiro256 {
    s: [u64; 4],
    spare: Option<f64>,
}

impl Xoshiro256 {
    /// Generator whose state is `splitmix64` applied to `seed`, `seed + γ`, … (γ the golden increment).
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut s = [0u64; 4];
        for w in &mut s {
            *w = splitmix64(x);
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        }
        if s == [0; 4] {
            s[0] = 1; // the all-zero state is a fixed point
        }
        Xoshiro256 { s, spare: None }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal deviate (polar Box–Muller; the second value of each
    /// pair is kept for the next call).
    pub fn gaussian(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        loop {
            let u = 2.0 * self.next_f64() - 1.0;
            let v = 2.0 * self.next_f64() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let f = (-2.0 * ln(s) / s).sqrt();
                self.spare = Some(v * f);
                return u * f;
            }
        }
    }
}

/// Natural logarithm of a positive, finite, normal `x`, using only basic
/// IEEE arithmetic (bit-reproducible on every platform); accurate to a few
/// ulps. Returns NaN for inputs outside that domain.
pub fn ln(x: f64) -> f64 {
    if !(x.is_finite() && x >= f64::MIN_POSITIVE) {
        return f64::NAN;
    }
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    // Mantissa in [1, 2).
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    // ln(m) = 2·atanh(t), t = (m−1)/(m+1), |t| ≤ 0.1716: 2(t + t³/3 + t⁵/5 + …).
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let mut term = t;
    let mut sum = 0.0;
    for k in 0..14 {
        sum += term / f64::from(2 * k + 1);
        term *= t2;
    }
    e as f64 * std::f64::consts::LN_2 + 2.0 * sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_matches_std() {
        for &x in &[
            1e-300, 1e-10, 0.001, 0.25, 0.5, 0.7, 1.0, 1.5, 2.0, 10.0, 1e300,
        ] {
            let (a, b) = (ln(x), f64::ln(x));
            assert!(
                (a - b).abs() <= 4.0 * f64::EPSILON * b.abs().max(1.0),
                "{x}: {a} vs {b}"
            );
        }
        assert!(ln(0.0).is_nan() && ln(-1.0).is_nan() && ln(f64::INFINITY).is_nan());
    }

    #[test]
    fn known_first_outputs() {
        // SplitMix64 reference value for seed 0 (first output of the
        // canonical generator seeded with 0).
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        let mut r = Xoshiro256::new(42);
        let a: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        let mut r2 = Xoshiro256::new(42);
        let b: Vec<u64> = (0..3).map(|_| r2.next_u64()).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn gaussian_moments() {
        let mut r = Xoshiro256::new(7);
        let n = 200_000;
        let (mut s, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let z = r.gaussian();
            s += z;
            s2 += z * z;
        }
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
    }
}
