//! binary: one bit per dimension around a trained centre, with per-vector correction factors
//! so scores are distance *estimates* in metric space (not bare Hamming counts).
//!
//! # Training
//!
//! The centre `c` is the per-dimension mean of the sample (at least
//! [`Binary::MIN_TRAINING`] = 2 vectors, all finite). Nothing else is fitted, so training is
//! one pass over the data.
//!
//! # Code layout
//!
//! With `r = x − c`, `W = ⌈dim/64⌉` words and `x̄ = (2b − 1)/√dim` (the unit sign vector):
//!
//! ```text
//! bytes [0, 8W)        bit i = (x_i > c_i), little-endian u64 words, padding bits zero
//! bytes [8W, 8W+4)     f32 ‖r‖
//! bytes [8W+4, 8W+8)   f32 a = ⟨x̄, r/‖r‖⟩ = ‖r‖₁ / (√dim·‖r‖)   (1 when r = 0)
//! Ip only:
//! bytes [8W+8, 8W+12)  f32 ⟨r, c⟩
//! bytes [8W+12, 8W+16) zero (keeps the stride a multiple of 8)
//! ```
//!
//! so `code_bytes = 8W + 8` (L2, Cosine) or `8W + 16` (Ip).
//!
//! # Scoring
//!
//! Every metric reduces to estimating `t = ⟨u, v⟩` for the unit residuals `u = r/‖r‖` and
//! `v = q_r/‖q_r‖`, `q_r = q − c`:
//!
//! - L2: `‖x − q‖² = ‖r‖² + ‖q_r‖² − 2‖r‖‖q_r‖·t`;
//! - Cosine (unit inputs): `1 − ⟨x, q⟩ = ‖x − q‖²/2`;
//! - Ip: `⟨x, q⟩ = ‖r‖‖q_r‖·t + ⟨r, c⟩ + ⟨c, q⟩`, distance `1 − ⟨x, q⟩`.
//!
//! `query_bits = 1` binarises the query the same way (`q_i > c_i`) and uses the Hamming
//! distance `h`: with `s = ⟨x̄, q̄⟩ = 1 − 2h/dim` and the query's own `a_q`,
//! `t ≈ sin(clamp(s/(a·a_q), ±π/2))` — for Gaussian-like coordinates
//! `E[s] = (2/π)·arcsin(t)` and `a ≈ a_q ≈ √(2/π)`, so this inverts the arcsine law while the
//! factors adapt to other coordinate distributions.
//!
//! `query_bits = 4` quantises `v` to 4-bit levels `v̄_i = lo + Δ·k_i` (deterministic rounding,
//! `k_i ∈ 0..=15`) stored as 4 bit planes, so `Σ_{b_i=1} k_i` is one
//! [`quiver_distance::bits::and_popcount_planes`] call and
//! `⟨x̄, v̄⟩ = (2·lo·popcount(b) + 2Δ·Σ_{b_i=1} k_i − dim·lo − Δ·Σk)/√dim`; then
//! `t ≈ clamp(⟨x̄, v̄⟩/a, −1, 1)` (RaBitQ's estimator without the rotation — biased for
//! correlated coordinates, but it ranks well; see [`crate::rabitq`] for the unbiased one).
//!
//! Binary codes give *estimates* for candidate generation; recall comes from the engine's
//! exact rerank. With `dim < 64` there are too few bits to rank well: it works, but recall
//! is poor.
//!
//! `decode` reconstructs `c + ‖r‖·a·x̄`, the projection of `r` onto its sign direction.

use quiver_distance::bits::{bit_kernels, BitKernels};
use quiver_distance::Metric;

use crate::io::{put_f32s, put_u32, Reader};
use crate::{check_training, PreparedQuery, QuantError, Quantizer};

/// Format tag of the parameters.
const TAG: u32 = 0x4249_0001;

/// Training options for [`Binary`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BinaryParams {
    /// Query precision: `1` (binarised query, Hamming) or `4` (asymmetric 4-bit query).
    pub query_bits: u8,
}

impl Default for BinaryParams {
    fn default() -> Self {
        BinaryParams { query_bits: 4 }
    }
}

/// A trained binary quantizer.
#[derive(Clone, Debug, PartialEq)]
pub struct Binary {
    dim: usize,
    words: usize,
    metric: Metric,
    query_bits: u8,
    centre: Vec<f32>,
}

// ---------------------------------------------------------------------------
// Helpers shared with `rabitq`.
// ---------------------------------------------------------------------------

pub(crate) use crate::io::{metric_code, metric_from};

/// Per-dimension mean of `n` rows, accumulated in f64 over fixed row blocks (in parallel)
/// and summed in block order, so the result never depends on thread scheduling.
pub(crate) fn mean_rows(data: &[f32], dim: usize) -> Vec<f32> {
    use rayon::prelude::*;
    const BLOCK_ROWS: usize = 2048;
    let n = data.len() / dim;
    let partial: Vec<Vec<f64>> = data
        .par_chunks(BLOCK_ROWS * dim)
        .map(|block| {
            let mut s = vec![0.0f64; dim];
            for row in block.chunks_exact(dim) {
                for (acc, &x) in s.iter_mut().zip(row) {
                    *acc += f64::from(x);
                }
            }
            s
        })
        .collect();
    let mut sum = vec![0.0f64; dim];
    for p in &partial {
        for (a, b) in sum.iter_mut().zip(p) {
            *a += b;
        }
    }
    let inv = 1.0 / n.max(1) as f64;
    sum.into_iter().map(|s| (s * inv) as f32).collect()
}

/// Sets bit `i` of `words` iff `v[i] > 0` (words beyond `v` stay zero).
pub(crate) fn pack_positive(v: &[f32], words: &mut [u64]) {
    words.iter_mut().for_each(|w| *w = 0);
    for (i, &x) in v.iter().enumerate() {
        if x > 0.0 {
            if let Some(w) = words.get_mut(i / 64) {
                *w |= 1u64 << (i % 64);
            }
        }
    }
}

/// Write `words` as little-endian bytes into the start of `out`.
pub(crate) fn put_words(words: &[u64], out: &mut [u8]) {
    for (w, chunk) in words.iter().zip(out.chunks_exact_mut(8)) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
}

/// Read the little-endian f32 at byte `off` of `code` (0.0 if out of range).
#[inline]
pub(crate) fn f32_at(code: &[u8], off: usize) -> f32 {
    match code.get(off..off + 4) {
        Some(b) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => 0.0,
    }
}

/// Write `v` as little-endian f32s starting at byte `off` of `code`.
pub(crate) fn put_f32s_at(code: &mut [u8], off: usize, v: &[f32]) {
    for (x, chunk) in v.iter().zip(code[off..].chunks_exact_mut(4)) {
        chunk.copy_from_slice(&x.to_le_bytes());
    }
}

/// Calls `f` with the first `words` little-endian u64 words of `bytes` (which must hold at
/// least `8·words` bytes): borrowed in place when aligned on a little-endian target, else
/// copied to a stack buffer (or the heap beyond 8192 bits).
#[inline]
pub(crate) fn with_words<R>(bytes: &[u8], words: usize, f: impl FnOnce(&[u64]) -> R) -> R {
    let bytes = &bytes[..words * 8];
    #[cfg(target_endian = "little")]
    {
        // SAFETY: every bit pattern is a valid u64, so reinterpreting the aligned middle part
        // of a byte slice as u64s is sound; `align_to` handles alignment and length.
        let (pre, mid, post) = unsafe { bytes.align_to::<u64>() };
        if pre.is_empty() && post.is_empty() {
            return f(mid);
        }
    }
    const STACK: usize = 128;
    if words <= STACK {
        let mut buf = [0u64; STACK];
        for (w, c) in buf.iter_mut().zip(bytes.chunks_exact(8)) {
            *w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        }
        f(&buf[..words])
    } else {
        let v: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        f(&v)
    }
}

/// `Σ v_i²` and `Σ |v_i|` in f64.
pub(crate) fn norm_l1(v: &[f32]) -> (f64, f64) {
    let mut sq = 0.0f64;
    let mut l1 = 0.0f64;
    for &x in v {
        let x = f64::from(x);
        sq += x * x;
        l1 += x.abs();
    }
    (sq.sqrt(), l1)
}

/// `Σ a_i·b_i` in f64.
pub(crate) fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

/// A vector quantised to 4-bit unsigned levels `v̄_i = lo + delta·k_i` and stored as 4 bit
/// planes of `words` words each (plane-major, padding levels 0).
#[derive(Clone, Debug)]
pub(crate) struct Planes4 {
    pub planes: Vec<u64>,
    pub lo: f32,
    pub delta: f32,
    /// `Σ k_i`.
    pub sum_k: u64,
}

/// Quantise `v` to 4-bit levels over `[min v, max v]`. `rounding` supplies the dither
/// `U ∈ [0, 1)` per coordinate (`k = ⌊(v − lo)/Δ + U⌋`, unbiased randomised rounding); with
/// `None` the rounding is to nearest.
pub(crate) fn quantise4(
    v: &[f32],
    words: usize,
    mut rounding: Option<&mut crate::hadamard::SplitMix64>,
) -> Planes4 {
    const LEVELS: f32 = 15.0;
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for &x in v {
        lo = lo.min(x);
        hi = hi.max(x);
    }
    if !(lo.is_finite() && hi.is_finite()) {
        lo = 0.0;
        hi = 0.0;
    }
    let delta = (hi - lo) / LEVELS;
    let inv = if delta > 0.0 { 1.0 / delta } else { 0.0 };
    let mut planes = vec![0u64; 4 * words];
    let mut sum_k = 0u64;
    for (i, &x) in v.iter().enumerate().take(words * 64) {
        let u = match rounding.as_deref_mut() {
            Some(rng) => rng.next_f32(),
            None => 0.5,
        };
        // Clamped to [0, 15] first, so the truncating cast is the floor (and avoids a libm
        // `floorf` call on baseline x86_64).
        let k = ((x - lo) * inv + u).clamp(0.0, LEVELS) as u64;
        sum_k += k;
        for j in 0..4 {
            if (k >> j) & 1 == 1 {
                planes[j * words + i / 64] |= 1u64 << (i % 64);
            }
        }
    }
    Planes4 {
        planes,
        lo,
        delta,
        sum_k,
    }
}

// ---------------------------------------------------------------------------
// Binary
// ---------------------------------------------------------------------------

impl Binary {
    /// Smallest training set (a mean of one vector would put every bit at zero).
    pub const MIN_TRAINING: usize = 2;

    /// Fits the centre on `data` (row-major, `dim` per row). `params.query_bits` must be 1 or 4.
    pub fn train(
        data: &[f32],
        dim: usize,
        metric: Metric,
        params: BinaryParams,
    ) -> Result<Self, QuantError> {
        check_query_bits(params.query_bits)?;
        check_training(data, dim, Self::MIN_TRAINING)?;
        let centre = mean_rows(data, dim);
        Ok(Self::from_centre(metric, params.query_bits, centre))
    }

    fn from_centre(metric: Metric, query_bits: u8, centre: Vec<f32>) -> Self {
        let dim = centre.len();
        Binary {
            dim,
            words: dim.div_ceil(64),
            metric,
            query_bits,
            centre,
        }
    }

    /// The trained centre (per-dimension mean).
    pub fn centre(&self) -> &[f32] {
        &self.centre
    }

    /// Query precision in bits (1 or 4).
    pub fn query_bits(&self) -> u8 {
        self.query_bits
    }

    /// Number of u64 words of sign bits per code.
    pub fn words(&self) -> usize {
        self.words
    }

    /// The same quantizer scoring queries with `query_bits` (1 or 4) instead; codes are
    /// unchanged, so this can be switched per query without re-encoding.
    pub fn with_query_bits(&self, query_bits: u8) -> Result<Self, QuantError> {
        check_query_bits(query_bits)?;
        let mut b = self.clone();
        b.query_bits = query_bits;
        Ok(b)
    }

    fn factors_off(&self) -> usize {
        self.words * 8
    }

    /// Residual `v − c` (first `dim` values; missing values count as 0).
    fn residual(&self, v: &[f32]) -> Vec<f32> {
        let mut r: Vec<f32> = v.iter().zip(&self.centre).map(|(&x, &c)| x - c).collect();
        r.resize(self.dim, 0.0);
        r
    }
}

fn check_query_bits(q: u8) -> Result<(), QuantError> {
    if q == 1 || q == 4 {
        Ok(())
    } else {
        Err(QuantError::InvalidArgument(format!(
            "binary query_bits must be 1 or 4, got {q}"
        )))
    }
}

/// How an estimate of `t = ⟨u, v⟩` becomes a distance.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Combine {
    /// `‖r‖² + ‖q_r‖² − 2‖r‖‖q_r‖t`, times `scale` (1 for L2, ½ for cosine), floored at 0.
    L2 { qn2: f32, scale: f32 },
    /// `1 − (‖r‖‖q_r‖t + [⟨r,c⟩] + ⟨c,q⟩)`.
    Ip { cq: f32, use_rc: bool },
}

/// The query-side part of a binary estimate.
#[derive(Clone, Debug)]
enum Side {
    /// Binarised query words and `1 / a_q`.
    One { bits: Vec<u64>, inv_aq: f32 },
    /// 4-bit planes with `⟨x̄, v̄⟩ = c0 + c1·S + c2·popcount(b)`.
    Four {
        planes: Vec<u64>,
        c0: f32,
        c1: f32,
        c2: f32,
    },
}

/// A query prepared for [`Binary`].
#[derive(Clone, Debug)]
pub struct BinaryQuery {
    side: Side,
    /// `‖q − c‖`.
    qn: f32,
    combine: Combine,
    words: usize,
    dim: f32,
    ip_factors: bool,
    kernels: BitKernels,
}

impl BinaryQuery {
    /// Estimate of `t = ⟨u, v⟩` for `code` (whose length was checked).
    #[inline]
    fn t(&self, code: &[u8], inv_a: f32) -> f32 {
        match &self.side {
            Side::One { bits, inv_aq } => {
                let h = with_words(code, self.words, |w| (self.kernels.hamming)(bits, w));
                let s = 1.0 - 2.0 * h as f32 / self.dim;
                sin_half_pi_range(s * inv_a * inv_aq)
            }
            Side::Four { planes, c0, c1, c2 } => {
                let (s, pc) = with_words(code, self.words, |w| {
                    (
                        (self.kernels.and_popcount_planes)(planes, 4, w),
                        (self.kernels.popcount)(w),
                    )
                });
                ((c0 + c1 * s as f32 + c2 * pc as f32) * inv_a).clamp(-1.0, 1.0)
            }
        }
    }
}

/// `sin(clamp(x, −π/2, π/2))` by its degree-9 Taylor polynomial (error < 4e-6 on that range;
/// much cheaper than `f32::sin`).
#[inline]
fn sin_half_pi_range(x: f32) -> f32 {
    let x = x.clamp(-std::f32::consts::FRAC_PI_2, std::f32::consts::FRAC_PI_2);
    let x2 = x * x;
    x * (1.0
        + x2 * (-1.0 / 6.0 + x2 * (1.0 / 120.0 + x2 * (-1.0 / 5040.0 + x2 * (1.0 / 362_880.0)))))
}

impl PreparedQuery for BinaryQuery {
    fn distance(&self, code: &[u8]) -> f32 {
        let off = self.words * 8;
        let need = off + if self.ip_factors { 16 } else { 8 };
        if code.len() < need {
            return f32::INFINITY;
        }
        let rn = f32_at(code, off);
        let a = f32_at(code, off + 4);
        let inv_a = if a > 0.0 { 1.0 / a } else { 1.0 };
        let t = self.t(code, inv_a);
        let cross = rn * self.qn * t;
        match self.combine {
            Combine::L2 { qn2, scale } => ((rn * rn + qn2 - 2.0 * cross) * scale).max(0.0),
            Combine::Ip { cq, use_rc } => {
                let rc = if use_rc { f32_at(code, off + 8) } else { 0.0 };
                1.0 - (cross + rc + cq)
            }
        }
    }
}

impl Quantizer for Binary {
    type Query<'a> = BinaryQuery;

    fn dim(&self) -> usize {
        self.dim
    }

    fn metric(&self) -> Metric {
        self.metric
    }

    fn code_bytes(&self) -> usize {
        self.words * 8 + if self.metric == Metric::Ip { 16 } else { 8 }
    }

    fn encode(&self, v: &[f32], code: &mut [u8]) {
        if code.len() < self.code_bytes() {
            debug_assert!(false, "code buffer too short");
            return;
        }
        let r = self.residual(v);
        let mut words = vec![0u64; self.words];
        pack_positive(&r, &mut words);
        put_words(&words, code);
        let (rn, l1) = norm_l1(&r);
        let a = if rn > 0.0 {
            (l1 / ((self.dim as f64).sqrt() * rn)) as f32
        } else {
            1.0
        };
        let off = self.factors_off();
        put_f32s_at(code, off, &[rn as f32, a]);
        if self.metric == Metric::Ip {
            put_f32s_at(code, off + 8, &[dot64(&r, &self.centre) as f32, 0.0]);
        }
    }

    fn code_is_valid(&self, code: &[u8]) -> bool {
        if code.len() != self.code_bytes() {
            return false;
        }
        let off = self.factors_off();
        let f = |i: usize| crate::code_f32(code, off + 4 * i).unwrap_or(f32::NAN);
        let (rn, a) = (f(0), f(1));
        // rn = ‖r‖; a = ‖r‖₁ / (√dim · ‖r‖) ∈ [1/√dim, 1] (1 for a zero residual).
        let a_min = 1.0 / (self.dim as f32).sqrt() * 0.999;
        let ok = (0.0..=crate::MAX_CODE_NORM).contains(&rn) && (a_min..=1.001).contains(&a);
        if self.metric == Metric::Ip {
            // ⟨r, centre⟩ and a zero word.
            ok && f(2).is_finite() && f(2).abs() <= crate::MAX_CODE_NORM && f(3) == 0.0
        } else {
            ok
        }
    }

    fn decode(&self, code: &[u8], out: &mut [f32]) {
        if code.len() < self.code_bytes() {
            out.iter_mut().for_each(|x| *x = 0.0);
            return;
        }
        let off = self.factors_off();
        let rn = f32_at(code, off);
        let a = f32_at(code, off + 4);
        let step = rn * a / (self.dim as f32).sqrt();
        for (i, (o, &c)) in out.iter_mut().zip(&self.centre).enumerate() {
            let bit = (code[i / 8] >> (i % 8)) & 1;
            *o = c + if bit == 1 { step } else { -step };
        }
    }

    fn prepare(&self, q: &[f32]) -> BinaryQuery {
        let qr = self.residual(q);
        let (qn, l1) = norm_l1(&qr);
        let dim = self.dim as f32;
        let inv = if qn > 0.0 { (1.0 / qn) as f32 } else { 0.0 };
        let side = if self.query_bits == 1 {
            let mut bits = vec![0u64; self.words];
            pack_positive(&qr, &mut bits);
            let aq = if qn > 0.0 {
                (l1 / (f64::from(dim).sqrt() * qn)) as f32
            } else {
                1.0
            };
            Side::One {
                bits,
                inv_aq: 1.0 / aq,
            }
        } else {
            let v: Vec<f32> = qr.iter().map(|&x| x * inv).collect();
            let p = quantise4(&v, self.words, None);
            let sd = dim.sqrt();
            Side::Four {
                planes: p.planes,
                c0: (-dim * p.lo - p.delta * p.sum_k as f32) / sd,
                c1: 2.0 * p.delta / sd,
                c2: 2.0 * p.lo / sd,
            }
        };
        let qn = qn as f32;
        let combine = match self.metric {
            Metric::L2 => Combine::L2 {
                qn2: qn * qn,
                scale: 1.0,
            },
            Metric::Cosine => Combine::L2 {
                qn2: qn * qn,
                scale: 0.5,
            },
            Metric::Ip => Combine::Ip {
                cq: dot64(&self.centre, q) as f32,
                use_rc: true,
            },
        };
        BinaryQuery {
            side,
            qn,
            combine,
            words: self.words,
            dim,
            ip_factors: self.metric == Metric::Ip,
            kernels: *bit_kernels(),
        }
    }

    fn write_params(&self, out: &mut Vec<u8>) {
        put_u32(out, TAG);
        put_u32(out, self.dim as u32);
        put_u32(out, metric_code(self.metric));
        put_u32(out, u32::from(self.query_bits));
        put_f32s(out, &self.centre);
    }

    fn read_params(bytes: &[u8]) -> Result<Self, QuantError> {
        let mut r = Reader::new(bytes);
        if r.u32()? != TAG {
            return Err(QuantError::Corrupt(
                "not binary quantizer parameters".into(),
            ));
        }
        let dim = r.u32()? as usize;
        let metric = metric_from(r.u32()?)?;
        let qb = r.u32()?;
        let query_bits = u8::try_from(qb)
            .ok()
            .filter(|&b| b == 1 || b == 4)
            .ok_or_else(|| QuantError::Corrupt(format!("binary query_bits {qb}")))?;
        if dim == 0 || dim.saturating_mul(4) != bytes.len().saturating_sub(16) {
            return Err(QuantError::Corrupt(
                "binary parameter length disagrees with dim".into(),
            ));
        }
        let centre = r.f32s(dim)?;
        r.finish()?;
        if centre.iter().any(|x| !x.is_finite()) {
            return Err(QuantError::Corrupt("non-finite binary centre".into()));
        }
        Ok(Self::from_centre(metric, query_bits, centre))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sin_polynomial_is_accurate() {
        for i in -200..=200 {
            let x = i as f32 * 0.01;
            let e = x
                .clamp(-std::f32::consts::FRAC_PI_2, std::f32::consts::FRAC_PI_2)
                .sin();
            assert!((sin_half_pi_range(x) - e).abs() < 1e-5, "x={x}");
        }
    }

    #[test]
    fn with_words_handles_misaligned_bytes() {
        let words = [0x0123_4567_89AB_CDEFu64, u64::MAX, 7];
        let mut buf = [0u8; 8 * 3 + 1];
        for off in [0usize, 1] {
            put_words(&words, &mut buf[off..]);
            let got = with_words(&buf[off..], 3, |w| w.to_vec());
            assert_eq!(got, words);
        }
        let big: Vec<u64> = (0..200).collect();
        let mut buf = vec![0u8; 8 * 200 + 1];
        put_words(&big, &mut buf[1..]);
        assert_eq!(with_words(&buf[1..], 200, |w| w.to_vec()), big);
    }

    #[test]
    fn quantise4_reconstructs_within_half_a_step() {
        let v: Vec<f32> = (0..100)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let p = quantise4(&v, 2, None);
        for (i, &x) in v.iter().enumerate() {
            let k: u64 = (0..4)
                .map(|j| ((p.planes[j * 2 + i / 64] >> (i % 64)) & 1) << j)
                .sum();
            let rec = p.lo + p.delta * k as f32;
            assert!((rec - x).abs() <= p.delta * 0.5 + 1e-6, "i={i}");
        }
    }
}
