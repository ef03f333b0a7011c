//! sq8: per-dimension affine 8-bit scalar quantization.
//!
//! Training fits `lo[i] = min`, `hi[i] = max` of each dimension over the sample; a value is
//! stored as `c[i] = round((x[i] − lo[i]) / s[i])` with `s[i] = (hi[i] − lo[i]) / 255`
//! (clamped to 0..=255, so values outside the trained range saturate). The reconstruction is
//! `x̂[i] = lo[i] + s[i]·c[i]`, with error at most `s[i]/2` per dimension inside the range.
//!
//! Code layout: `dim` bytes `c`, then `e = Σ (s[i]·c[i])²` as little-endian f32
//! (`code_bytes = dim + 4`).
//!
//! Scoring: with `q' = q − lo` and `a[i] = q'[i]·s[i]`,
//! - L2: `‖q − x̂‖² = ‖q'‖² − 2·Σ a[i]c[i] + e`;
//! - inner product: `⟨q, x̂⟩ = ⟨q, lo⟩ + Σ (q[i]s[i])·c[i]`, distance `1 − ⟨q, x̂⟩`.
//!
//! Both are one dot product `Σ a[i]·c[i]` per code. The query side `a` is itself quantized to
//! 7-bit integers with one scale α per query (`a ≈ α·ã`, |ã| ≤ 63), so scoring a code is an
//! integer u8 × i8 dot ([`quiver_distance::sq8::dot_u8_i8`]: AVX-512 VNNI `vpdpbusd`, 64
//! dimensions per instruction, or AVX2 `vpmaddubsw`). The query quantization adds a relative
//! error of about 1/126 per term, far below the codes' own; the exact rerank removes both.

use quiver_distance::sq8::{dot_u8_i8, DotU8I8, I8_QUERY_MAX};
use quiver_distance::Metric;

use crate::io::{metric_code, metric_from, put_f32s, put_u32, Reader};
use crate::{check_training, PreparedQuery, QuantError, Quantizer};

/// Format tag of the parameters.
const TAG: u32 = 0x5138_0001;

/// A trained sq8 quantizer.
#[derive(Clone, Debug, PartialEq)]
pub struct Sq8 {
    dim: usize,
    metric: Metric,
    lo: Vec<f32>,
    scale: Vec<f32>,
    inv_scale: Vec<f32>,
}

impl Sq8 {
    /// Smallest training set.
    pub const MIN_TRAINING: usize = 1;

    /// Fits per-dimension bounds on `data` (row-major, `dim` per row).
    pub fn train(data: &[f32], dim: usize, metric: Metric) -> Result<Self, QuantError> {
        let n = check_training(data, dim, Self::MIN_TRAINING)?;
        let mut lo = vec![f32::INFINITY; dim];
        let mut hi = vec![f32::NEG_INFINITY; dim];
        for row in data.chunks_exact(dim).take(n) {
            for ((l, h), &x) in lo.iter_mut().zip(hi.iter_mut()).zip(row) {
                *l = l.min(x);
                *h = h.max(x);
            }
        }
        Ok(Self::from_bounds(dim, metric, lo, &hi))
    }

    fn from_bounds(dim: usize, metric: Metric, lo: Vec<f32>, hi: &[f32]) -> Self {
        let scale: Vec<f32> = lo
            .iter()
            .zip(hi)
            .map(|(&l, &h)| ((h - l) / 255.0).max(0.0))
            .collect();
        let inv_scale = scale
            .iter()
            .map(|&s| if s > 0.0 { 1.0 / s } else { 0.0 })
            .collect();
        Sq8 {
            dim,
            metric,
            lo,
            scale,
            inv_scale,
        }
    }

    /// Per-dimension lower bounds.
    pub fn lo(&self) -> &[f32] {
        &self.lo
    }

    /// Per-dimension step sizes.
    pub fn scale(&self) -> &[f32] {
        &self.scale
    }
}

/// A query prepared for [`Sq8`] codes.
pub struct Sq8Query {
    /// The per-dimension weights `a`, quantized: `a ≈ alpha · aq`.
    aq: Vec<i8>,
    alpha: f32,
    base: f32,
    l2: bool,
    dim: usize,
    dot: DotU8I8,
}

impl PreparedQuery for Sq8Query {
    #[inline]
    fn distance(&self, code: &[u8]) -> f32 {
        let (c, rest) = code.split_at(self.dim.min(code.len()));
        let dot = self.alpha * (self.dot)(c, &self.aq) as f32;
        if self.l2 {
            let e = match rest {
                [a, b, c, d, ..] => f32::from_le_bytes([*a, *b, *c, *d]),
                _ => 0.0,
            };
            (self.base - 2.0 * dot + e).max(0.0)
        } else {
            1.0 - (self.base + dot)
        }
    }
}

impl Quantizer for Sq8 {
    type Query<'a> = Sq8Query;

    fn dim(&self) -> usize {
        self.dim
    }

    fn metric(&self) -> Metric {
        self.metric
    }

    fn code_bytes(&self) -> usize {
        self.dim + 4
    }

    fn encode(&self, v: &[f32], code: &mut [u8]) {
        let mut e = 0f32;
        for i in 0..self.dim.min(v.len()).min(code.len()) {
            let c = ((v[i] - self.lo[i]) * self.inv_scale[i])
                .round()
                .clamp(0.0, 255.0);
            code[i] = c as u8;
            let r = self.scale[i] * c;
            e += r * r;
        }
        if let Some(tail) = code.get_mut(self.dim..self.dim + 4) {
            tail.copy_from_slice(&e.to_le_bytes());
        }
    }

    fn code_is_valid(&self, code: &[u8]) -> bool {
        if code.len() != self.code_bytes() {
            return false;
        }
        // The stored squared norm of the decoded offsets, recomputed as encode does.
        let mut e = 0f32;
        for (s, &c) in self.scale.iter().zip(&code[..self.dim]) {
            let r = s * f32::from(c);
            e += r * r;
        }
        crate::code_f32(code, self.dim)
            .is_some_and(|x| x.is_finite() && (x - e).abs() <= 1e-3 * e.max(f32::MIN_POSITIVE))
    }

    fn decode(&self, code: &[u8], out: &mut [f32]) {
        for (i, o) in out.iter_mut().enumerate().take(self.dim) {
            *o = self.lo[i] + self.scale[i] * f32::from(code.get(i).copied().unwrap_or(0));
        }
    }

    fn prepare(&self, q: &[f32]) -> Sq8Query {
        let dim = self.dim;
        let l2 = self.metric == Metric::L2;
        let (a, base) = if l2 {
            let mut base = 0f32;
            let a = (0..dim)
                .map(|i| {
                    let d = q.get(i).copied().unwrap_or(0.0) - self.lo[i];
                    base += d * d;
                    d * self.scale[i]
                })
                .collect();
            (a, base)
        } else {
            let mut base = 0f32;
            let a = (0..dim)
                .map(|i| {
                    let x = q.get(i).copied().unwrap_or(0.0);
                    base += x * self.lo[i];
                    x * self.scale[i]
                })
                .collect();
            (a, base)
        };
        let a: Vec<f32> = a;
        let max = a.iter().fold(0f32, |m, x| m.max(x.abs()));
        let alpha = if max > 0.0 {
            max / f32::from(I8_QUERY_MAX)
        } else {
            1.0
        };
        let aq = a.iter().map(|x| (x / alpha).round() as i8).collect();
        Sq8Query {
            aq,
            alpha,
            base,
            l2,
            dim,
            dot: dot_u8_i8(),
        }
    }

    fn write_params(&self, out: &mut Vec<u8>) {
        put_u32(out, TAG);
        put_u32(out, self.dim as u32);
        put_u32(out, metric_code(self.metric));
        put_f32s(out, &self.lo);
        let hi: Vec<f32> = self
            .lo
            .iter()
            .zip(&self.scale)
            .map(|(&l, &s)| l + 255.0 * s)
            .collect();
        put_f32s(out, &hi);
    }

    fn read_params(bytes: &[u8]) -> Result<Self, QuantError> {
        let mut r = Reader::new(bytes);
        if r.u32()? != TAG {
            return Err(QuantError::Corrupt("not sq8 parameters".into()));
        }
        let dim = r.u32()? as usize;
        let metric = metric_from(r.u32()?)?;
        if dim == 0 || dim.saturating_mul(8) != bytes.len().saturating_sub(12) {
            return Err(QuantError::Corrupt(
                "sq8 parameter length disagrees with dim".into(),
            ));
        }
        let lo = r.f32s(dim)?;
        let hi = r.f32s(dim)?;
        r.finish()?;
        if lo.iter().chain(&hi).any(|x| !x.is_finite()) {
            return Err(QuantError::Corrupt("non-finite sq8 bounds".into()));
        }
        Ok(Self::from_bounds(dim, metric, lo, &hi))
    }
}
