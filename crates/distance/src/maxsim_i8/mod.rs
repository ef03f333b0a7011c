//! Integer MaxSim for sq8 token storage: both sides int8, exact integer dot products.
//!
//! Document tokens stored as sq8 (per-token symmetric int8 codes `c` with one scale `s`, see
//! [`crate::maxsim::quantize_sq8`]) can be scored without widening them to f32 when the query
//! tokens are quantised the same way ([`QueryI8`]: codes `a`, scale `t` per query token). Then
//!
//! ```text
//! ⟨q_i, p_j⟩ ≈ t_i · s_j · Σ_d a_i[d]·c_j[d]          (the sum is an exact i32)
//! MaxSim     ≈ Σ_i t_i · max_j ( f32(Σ_d a_i[d]·c_j[d]) · s_j )
//! ```
//!
//! Every implementation computes exactly these operations in this order (the integer sum,
//! one f32 conversion, one f32 product, an f32 maximum, then an f64 sum over query rows in
//! row order), so SIMD and scalar results are **bit-identical**. The integer sum cannot
//! overflow for `dim ≤ 133,000` (127² · dim < 2³¹).
//!
//! Kernels: AVX-512 VNNI multiplies 64 byte pairs per `vpdpbusd`. That instruction takes one
//! unsigned operand, so document bytes are flipped to `c + 128` (one `xor` per load) and the
//! query row's `128 · Σ a` is subtracted afterwards ([`QueryI8`] precomputes the sums). AVX2
//! (and AVX-512 CPUs without VNNI) sign-extends both sides to i16 and uses `vpmaddwd`, which
//! is exact too. Register tiles are 4 query × 4 document rows (AVX-512) and 4 × 2 (AVX2), as in
//! [`crate::maxsim`]. Speed against the f16 and f32 kernels: `cargo run --release -p
//! quiver-distance --example maxsim_speed`.
//!
//! Accuracy: the query's own rounding (≤ `t_i/2` per component) adds an error of at most
//! `t_i/2 · Σ_d |p_j[d]|` per dot product on top of the document's storage rounding.

use crate::isa::{base_only, Family, Isa, Variant};
use crate::maxsim::quantize_sq8;

/// Query tokens quantised for [`MaxSimI8`]: per token, int8 codes, the scale and the code sum.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryI8 {
    dim: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
    sums: Vec<i32>,
}

impl QueryI8 {
    /// Quantises the `query.len() / dim` full rows of `query` (a trailing partial row is
    /// ignored; `dim == 0` gives an empty query). Values must be finite.
    pub fn new(query: &[f32], dim: usize) -> Self {
        let nq = query.len().checked_div(dim).unwrap_or(0);
        let mut codes = vec![0i8; nq * dim];
        let mut scales = Vec::with_capacity(nq);
        let mut sums = Vec::with_capacity(nq);
        for (x, c) in query
            .chunks_exact(dim.max(1))
            .zip(codes.chunks_exact_mut(dim.max(1)))
            .take(nq)
        {
            scales.push(quantize_sq8(x, c));
            sums.push(c.iter().map(|&v| i32::from(v)).sum());
        }
        QueryI8 {
            dim,
            codes,
            scales,
            sums,
        }
    }

    /// Token dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of query tokens.
    pub fn len(&self) -> usize {
        self.scales.len()
    }

    /// True if there are no query tokens.
    pub fn is_empty(&self) -> bool {
        self.scales.is_empty()
    }

    /// Codes of all tokens, row-major.
    pub fn codes(&self) -> &[i8] {
        &self.codes
    }

    /// One scale per token.
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// `Σ codes` per token.
    pub fn sums(&self) -> &[i32] {
        &self.sums
    }
}

/// `maxsim(query, doc_codes, doc_scales)`: integer MaxSim against sq8 document tokens; the
/// document has `min(doc_codes.len() / query.dim(), doc_scales.len())` tokens. No tokens in
/// the query (or `dim == 0`) → `0.0`; none in the document → `f32::NEG_INFINITY`.
pub type MaxSimI8 = fn(&QueryI8, &[i8], &[f32]) -> f32;

/// Number of document rows the kernels read.
fn doc_rows(q: &QueryI8, codes: &[i8], scales: &[f32]) -> usize {
    codes
        .len()
        .checked_div(q.dim)
        .unwrap_or(0)
        .min(scales.len())
}

/// Scalar oracle (and fallback); the SIMD kernels return bit-identical results.
pub fn maxsim_i8_scalar(q: &QueryI8, codes: &[i8], scales: &[f32]) -> f32 {
    let dim = q.dim;
    if dim == 0 || q.is_empty() {
        return 0.0;
    }
    let np = doc_rows(q, codes, scales);
    if np == 0 {
        return f32::NEG_INFINITY;
    }
    let mut total = 0.0f64;
    for (a, &t) in q.codes.chunks_exact(dim).zip(&q.scales) {
        let mut best = f32::NEG_INFINITY;
        for (c, &s) in codes.chunks_exact(dim).zip(scales).take(np) {
            let dot: i32 = a
                .iter()
                .zip(c)
                .map(|(&x, &y)| i32::from(x) * i32::from(y))
                .sum();
            best = best.max(dot as f32 * s);
        }
        total += f64::from(best) * f64::from(t);
    }
    total as f32
}

const SCALAR: Variant<MaxSimI8> = Variant {
    level: Isa::Scalar,
    name: "scalar",
    needs: base_only,
    table: maxsim_i8_scalar,
};

/// Every variant, best first, ending with the scalar oracle.
static VARIANTS: &[Variant<MaxSimI8>] = &[
    #[cfg(target_arch = "x86_64")]
    Variant {
        level: Isa::Avx512,
        name: "avx512-vnni",
        needs: crate::sq8::vnni,
        table: x86::vnni_maxsim,
    },
    #[cfg(target_arch = "x86_64")]
    Variant {
        level: Isa::Avx2,
        name: "avx2",
        needs: base_only,
        table: x86::avx2_maxsim,
    },
    SCALAR,
];

/// The integer MaxSim kernel for `isa`, or `None` if this CPU cannot run that level (AVX-512
/// uses VNNI when present, else the AVX2 kernel; there is no NEON kernel yet, so `Neon`
/// gives the scalar one).
pub fn maxsim_i8_for(isa: Isa) -> Option<MaxSimI8> {
    FAMILY.for_level(isa).copied()
}

static FAMILY: Family<MaxSimI8> = Family::new(VARIANTS, &SCALAR);

pub(crate) fn chosen_variant() -> &'static Variant<MaxSimI8> {
    FAMILY.chosen()
}

/// The process-wide integer MaxSim kernel (best at or below the process-wide level).
#[inline]
pub fn maxsim_i8() -> MaxSimI8 {
    chosen_variant().table
}

#[cfg(target_arch = "x86_64")]
mod x86;
