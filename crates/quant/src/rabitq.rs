//! RaBitQ (Gao & Long, SIGMOD 2024): rotated sign bits with an unbiased inner-product
//! estimator and a probabilistic error bound.
//!
//! # Training
//!
//! The centre `c` is the per-dimension mean of the sample (at least
//! [`Rabitq::MIN_TRAINING`] = 2 finite vectors). The rotation `P` is a seeded
//! [`Rotation`] (random signs + fast Walsh–Hadamard rounds) of `R^D`, where
//! `D = ⌈dim/64⌉·64` and vectors are zero-padded to `D`. `P` is fully determined by
//! `(D, seed)` through the crate's own SplitMix64, so it never changes with a dependency.
//!
//! # Code layout (`code_bytes = D/8 + 16`)
//!
//! For a vector `o`: `r = o − c`, `u = P(r/‖r‖)`, bits `b_i = (u_i > 0)`,
//! `x̄ = (2b − 1)/√D` and `a = ⟨x̄, u⟩ = ‖u‖₁/√D ∈ [1/√D, 1]`.
//!
//! ```text
//! bytes [0, D/8)           b, little-endian u64 words
//! bytes [D/8, D/8+4)       f32 ‖r‖
//! bytes [D/8+4, D/8+8)     f32 1/a
//! bytes [D/8+8, D/8+12)    f32 popcount(b)
//! bytes [D/8+12, D/8+16)   f32 ⟨r, c⟩
//! ```
//!
//! (`r = 0` stores zero bits, `‖r‖ = 0`, `1/a = 1`: the estimate is then exact.)
//!
//! # Estimator
//!
//! A query is reduced to a unit vector `v` with norm `n_v` (below), rotated, `v' = P(v)`,
//! and quantised to 4-bit levels `v̄_i = lo + Δ·k_i` with **randomised rounding**
//! (`k_i = ⌊(v'_i − lo)/Δ + U_i⌋`, `U_i` uniform, seeded from the query's bytes), so
//! `E[v̄] = v'`. The levels are stored as 4 bit planes, and
//!
//! `⟨x̄, v̄⟩ = (2·lo·popcount(b) + 2Δ·Σ_{b_i=1} k_i − D·lo − Δ·Σk)/√D`
//!
//! costs one [`quiver_distance::bits::and_popcount_planes`] per code. The paper's unbiased
//! estimator of `t = ⟨u, v'⟩ = ⟨r/‖r‖, v⟩` is `t̂ = ⟨x̄, v̄⟩/a`, and with probability
//! `≥ 1 − 2e^{−c₀ε₀²}`
//!
//! `|t̂ − t| ≤ ε₀·√((1 − a²)/a²)/√(D − 1)`.
//!
//! Per metric (all of them exact identities, so the estimates stay unbiased):
//!
//! - **L2**: `v = (q − c)/‖q − c‖`, `‖o − q‖² = ‖r‖² + ‖q − c‖² − 2‖r‖‖q − c‖·t`;
//!   bound half-width `2‖r‖‖q − c‖·ε`.
//! - **Ip / Cosine**: `⟨o, q⟩ = ⟨c, q⟩ + ⟨r, q⟩`, and `⟨r, q⟩` is estimated one of two ways,
//!   whichever has the smaller query norm (hence the smaller error):
//!   (A) `v = q/‖q‖`: `⟨r, q⟩ = ‖r‖‖q‖·t`; or
//!   (B) `v = (q − c)/‖q − c‖`: `⟨r, q⟩ = ‖r‖‖q − c‖·t + ⟨r, c⟩` (the stored factor).
//!   Distance `1 − ⟨o, q⟩`; bound half-width `‖r‖·n_v·ε`.
//!
//! [`PreparedQuery::estimate`] returns the distance and `lower = distance − half-width`
//! (floored at 0 for L2), a lower bound on the true distance that holds with high probability.
//! Measured on Gaussian data (`tests/rabitq.rs`) the bound with the default
//! [`Rabitq::DEFAULT_EPSILON0`] holds for well over 99% of pairs; tune with
//! [`Rabitq::with_epsilon0`] (not persisted: it only affects `lower`).
//! L2 distances are floored at 0; Ip/Cosine distances are not clamped.

use quiver_distance::bits::{bit_kernels, BitKernels};
use quiver_distance::Metric;

use crate::binary::{
    dot64, f32_at, mean_rows, metric_code, metric_from, norm_l1, pack_positive, put_f32s_at,
    put_words, quantise4, with_words,
};
use crate::hadamard::{Rotation, SplitMix64};
use crate::io::{put_f32s, put_u32, Reader};
use crate::{check_training, Estimate, PreparedQuery, QuantError, Quantizer};

/// Format tag of the parameters.
const TAG: u32 = 0x5251_0001;

/// Training options for [`Rabitq`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RabitqParams {
    /// Seed of the random rotation (any value; codes depend on it).
    pub seed: u64,
}

impl Default for RabitqParams {
    fn default() -> Self {
        RabitqParams {
            seed: 0x5EED_0F4A_B17B_1701,
        }
    }
}

/// A trained RaBitQ quantizer.
#[derive(Clone, Debug)]
pub struct Rabitq {
    dim: usize,
    padded: usize,
    words: usize,
    metric: Metric,
    seed: u64,
    centre: Vec<f32>,
    rotation: Rotation,
    epsilon0: f32,
}

impl PartialEq for Rabitq {
    fn eq(&self, o: &Self) -> bool {
        self.dim == o.dim
            && self.metric == o.metric
            && self.seed == o.seed
            && self.centre == o.centre
            && self.epsilon0 == o.epsilon0
    }
}

impl Rabitq {
    /// Smallest training set.
    pub const MIN_TRAINING: usize = 2;

    /// Default confidence parameter ε₀ of the error bound. The paper suggests 1.9; the
    /// estimator error is close to Gaussian with standard deviation
    /// `√((1 − a²)/a²)/√(D − 1)`, so 1.9 covers ≈ 94% of pairs, while 3.0 covers > 99%
    /// (measured in `tests/rabitq.rs`), which is what lower-bound pruning needs.
    pub const DEFAULT_EPSILON0: f32 = 3.0;

    /// Fits the centre on `data` (row-major, `dim` per row) and builds the rotation for
    /// `params.seed`.
    pub fn train(
        data: &[f32],
        dim: usize,
        metric: Metric,
        params: RabitqParams,
    ) -> Result<Self, QuantError> {
        check_training(data, dim, Self::MIN_TRAINING)?;
        let centre = mean_rows(data, dim);
        Self::from_parts(metric, params.seed, centre)
    }

    fn from_parts(metric: Metric, seed: u64, centre: Vec<f32>) -> Result<Self, QuantError> {
        let dim = centre.len();
        let padded = dim.div_ceil(64) * 64;
        let rotation = Rotation::new(padded, seed)
            .ok_or_else(|| QuantError::InvalidArgument(format!("bad RaBitQ dimension {dim}")))?;
        Ok(Rabitq {
            dim,
            padded,
            words: padded / 64,
            metric,
            seed,
            centre,
            rotation,
            epsilon0: Self::DEFAULT_EPSILON0,
        })
    }

    /// The same quantizer with confidence parameter `eps0` for [`PreparedQuery::estimate`]'s
    /// lower bound (non-finite or negative values are ignored).
    pub fn with_epsilon0(mut self, eps0: f32) -> Self {
        if eps0.is_finite() && eps0 >= 0.0 {
            self.epsilon0 = eps0;
        }
        self
    }

    /// Current ε₀.
    pub fn epsilon0(&self) -> f32 {
        self.epsilon0
    }

    /// The trained centre.
    pub fn centre(&self) -> &[f32] {
        &self.centre
    }

    /// Rotation seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Padded dimension `D` (a multiple of 64): the number of code bits.
    pub fn padded_dim(&self) -> usize {
        self.padded
    }

    /// `v` (first `dim` values, missing ones 0) scaled by `scale`, zero-padded to `D`, rotated.
    fn rotate_scaled(&self, v: &[f32], scale: f32) -> Vec<f32> {
        let mut x = vec![0.0f32; self.padded];
        for (o, &y) in x.iter_mut().zip(v.iter().take(self.dim)) {
            *o = y * scale;
        }
        self.rotation.apply(&mut x);
        x
    }

    fn residual(&self, v: &[f32]) -> Vec<f32> {
        let mut r: Vec<f32> = v.iter().zip(&self.centre).map(|(&x, &c)| x - c).collect();
        r.resize(self.dim, 0.0);
        r
    }
}

/// How `t̂` becomes a distance.
#[derive(Clone, Copy, Debug)]
enum Combine {
    /// `‖r‖² + n_v² − 2‖r‖n_v·t`.
    L2,
    /// `1 − (‖r‖n_v·t + [⟨r, c⟩] + ⟨c, q⟩)`.
    Ip { cq: f32, use_rc: bool },
}

/// A query prepared for [`Rabitq`].
#[derive(Clone, Debug)]
pub struct RabitqQuery {
    planes: Vec<u64>,
    c0: f32,
    c1: f32,
    c2: f32,
    /// Norm of the query vector the estimator was built for (`‖q − c‖` or `‖q‖`).
    nv: f32,
    combine: Combine,
    words: usize,
    /// `ε₀/√(D − 1)`.
    eps_scale: f32,
    kernels: BitKernels,
}

impl RabitqQuery {
    /// `(distance, half-width of the error bound)` for a code of sufficient length.
    #[inline]
    fn score(&self, code: &[u8]) -> Option<(f32, f32)> {
        let off = self.words * 8;
        if code.len() < off + 16 {
            return None;
        }
        let s = with_words(code, self.words, |w| {
            (self.kernels.and_popcount_planes)(&self.planes, 4, w)
        });
        let rn = f32_at(code, off);
        let inv_a = f32_at(code, off + 4);
        let pc = f32_at(code, off + 8);
        let xq = self.c0 + self.c1 * s as f32 + self.c2 * pc;
        let t = xq * inv_a;
        let k = rn * self.nv;
        let width = k * self.eps_scale * (inv_a * inv_a - 1.0).max(0.0).sqrt();
        Some(match self.combine {
            Combine::L2 => (rn * rn + self.nv * self.nv - 2.0 * k * t, 2.0 * width),
            Combine::Ip { cq, use_rc } => {
                let rc = if use_rc { f32_at(code, off + 12) } else { 0.0 };
                (1.0 - (k * t + rc + cq), width)
            }
        })
    }
}

impl PreparedQuery for RabitqQuery {
    fn distance(&self, code: &[u8]) -> f32 {
        match (self.score(code), self.combine) {
            (Some((d, _)), Combine::L2) => d.max(0.0),
            (Some((d, _)), _) => d,
            (None, _) => f32::INFINITY,
        }
    }

    fn estimate(&self, code: &[u8]) -> Estimate {
        match (self.score(code), self.combine) {
            (Some((d, w)), Combine::L2) => Estimate {
                distance: d.max(0.0),
                lower: (d - w).max(0.0),
            },
            (Some((d, w)), _) => Estimate {
                distance: d,
                lower: d - w,
            },
            (None, _) => Estimate {
                distance: f32::INFINITY,
                lower: f32::INFINITY,
            },
        }
    }
}

/// Seed for the randomised rounding of one query: a hash of its bytes and the rotation seed,
/// so the same query always gets the same planes.
fn query_seed(seed: u64, q: &[f32]) -> u64 {
    let mut h = seed ^ 0x243F_6A88_85A3_08D3;
    for &x in q {
        h = (h ^ u64::from(x.to_bits()))
            .wrapping_mul(0x100_0000_01B3)
            .rotate_left(29);
    }
    h
}

impl Quantizer for Rabitq {
    type Query<'a> = RabitqQuery;

    fn dim(&self) -> usize {
        self.dim
    }

    fn metric(&self) -> Metric {
        self.metric
    }

    fn code_bytes(&self) -> usize {
        self.padded / 8 + 16
    }

    fn encode(&self, v: &[f32], code: &mut [u8]) {
        if code.len() < self.code_bytes() {
            debug_assert!(false, "code buffer too short");
            return;
        }
        let r = self.residual(v);
        let (rn, _) = norm_l1(&r);
        let rc = dot64(&r, &self.centre) as f32;
        let off = self.words * 8;
        if rn > 0.0 {
            let u = self.rotate_scaled(&r, (1.0 / rn) as f32);
            let mut words = vec![0u64; self.words];
            pack_positive(&u, &mut words);
            put_words(&words, code);
            let (_, l1) = norm_l1(&u);
            let a = l1 / (self.padded as f64).sqrt();
            let pc: u32 = words.iter().map(|w| w.count_ones()).sum();
            put_f32s_at(code, off, &[rn as f32, (1.0 / a) as f32, pc as f32, rc]);
        } else {
            code[..off].iter_mut().for_each(|b| *b = 0);
            put_f32s_at(code, off, &[0.0, 1.0, 0.0, rc]);
        }
    }

    fn code_is_valid(&self, code: &[u8]) -> bool {
        if code.len() != self.code_bytes() {
            return false;
        }
        let off = self.words * 8;
        let f = |i: usize| crate::code_f32(code, off + 4 * i).unwrap_or(f32::NAN);
        let (rn, inv_a, pc, rc) = (f(0), f(1), f(2), f(3));
        // rn = ‖r‖; 1/a with a = ‖u‖₁/√padded ∈ [1/√padded, 1] (loosely: the rotation is
        // only near-orthonormal in f32); pc = the code's popcount; rc = ⟨r, centre⟩.
        let ones: u32 = code[..off].iter().map(|b| b.count_ones()).sum();
        let max_inv_a = 2.0 * (self.padded as f32).sqrt();
        (0.0..=crate::MAX_CODE_NORM).contains(&rn)
            && (0.5..=max_inv_a).contains(&inv_a)
            && pc == ones as f32
            && rc.is_finite()
            && rc.abs() <= crate::MAX_CODE_NORM
    }

    fn decode(&self, code: &[u8], out: &mut [f32]) {
        if code.len() < self.code_bytes() {
            out.iter_mut().for_each(|x| *x = 0.0);
            return;
        }
        let off = self.words * 8;
        let rn = f32_at(code, off);
        let inv_a = f32_at(code, off + 4);
        let step = if inv_a > 0.0 {
            1.0 / (inv_a * (self.padded as f32).sqrt())
        } else {
            0.0
        };
        let mut u: Vec<f32> = (0..self.padded)
            .map(|i| {
                if (code[i / 8] >> (i % 8)) & 1 == 1 {
                    step
                } else {
                    -step
                }
            })
            .collect();
        self.rotation.apply_inverse(&mut u);
        for ((o, &c), &x) in out.iter_mut().zip(&self.centre).zip(&u) {
            *o = c + rn * x;
        }
    }

    fn prepare(&self, q: &[f32]) -> RabitqQuery {
        let qr = self.residual(q);
        let (qrn, _) = norm_l1(&qr);
        let (vec, nv, combine) = match self.metric {
            Metric::L2 => (qr, qrn, Combine::L2),
            Metric::Ip | Metric::Cosine => {
                let cq = dot64(&self.centre, q) as f32;
                let mut qq: Vec<f32> = q.iter().take(self.dim).copied().collect();
                qq.resize(self.dim, 0.0);
                let (qn, _) = norm_l1(&qq);
                if qn <= qrn {
                    (qq, qn, Combine::Ip { cq, use_rc: false })
                } else {
                    (qr, qrn, Combine::Ip { cq, use_rc: true })
                }
            }
        };
        let scale = if nv > 0.0 { (1.0 / nv) as f32 } else { 0.0 };
        let v = self.rotate_scaled(&vec, scale);
        let mut rng = SplitMix64::new(query_seed(self.seed, q));
        let p = quantise4(&v, self.words, Some(&mut rng));
        let d = self.padded as f32;
        let sd = d.sqrt();
        RabitqQuery {
            planes: p.planes,
            c0: (-d * p.lo - p.delta * p.sum_k as f32) / sd,
            c1: 2.0 * p.delta / sd,
            c2: 2.0 * p.lo / sd,
            nv: nv as f32,
            combine,
            words: self.words,
            eps_scale: self.epsilon0 / (d - 1.0).sqrt(),
            kernels: *bit_kernels(),
        }
    }

    fn write_params(&self, out: &mut Vec<u8>) {
        put_u32(out, TAG);
        put_u32(out, self.dim as u32);
        put_u32(out, metric_code(self.metric));
        put_u32(out, self.seed as u32);
        put_u32(out, (self.seed >> 32) as u32);
        put_f32s(out, &self.centre);
    }

    fn read_params(bytes: &[u8]) -> Result<Self, QuantError> {
        let mut r = Reader::new(bytes);
        if r.u32()? != TAG {
            return Err(QuantError::Corrupt("not RaBitQ parameters".into()));
        }
        let dim = r.u32()? as usize;
        let metric = metric_from(r.u32()?)?;
        let seed = u64::from(r.u32()?) | (u64::from(r.u32()?) << 32);
        if dim == 0 || dim.saturating_mul(4) != bytes.len().saturating_sub(20) {
            return Err(QuantError::Corrupt(
                "RaBitQ parameter length disagrees with dim".into(),
            ));
        }
        let centre = r.f32s(dim)?;
        r.finish()?;
        if centre.iter().any(|x| !x.is_finite()) {
            return Err(QuantError::Corrupt("non-finite RaBitQ centre".into()));
        }
        Self::from_parts(metric, seed, centre).map_err(|e| QuantError::Corrupt(e.to_string()))
    }
}
