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

use crate::maxsim::quantize_sq8;
use crate::Isa;

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

/// The integer MaxSim kernel for `isa`, or `None` if this CPU cannot run it (AVX-512 uses VNNI
/// when present, else the AVX2 kernel; there is no NEON kernel yet).
pub fn maxsim_i8_for(isa: Isa) -> Option<MaxSimI8> {
    match isa {
        Isa::Scalar => Some(maxsim_i8_scalar),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            if !is_x86_feature_detected!("avx512f") {
                None
            } else if x86::has_vnni() {
                Some(x86::vnni_maxsim as MaxSimI8)
            } else {
                x86::has_avx2().then_some(x86::avx2_maxsim as MaxSimI8)
            }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::has_avx2().then_some(x86::avx2_maxsim as MaxSimI8),
        _ => None,
    }
}

/// The process-wide integer MaxSim kernel (same ISA as [`crate::kernels`]).
#[inline]
pub fn maxsim_i8() -> MaxSimI8 {
    maxsim_i8_for(crate::kernels().isa).unwrap_or(maxsim_i8_scalar)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    use super::{doc_rows, QueryI8};

    pub(super) use crate::sq8::has_vnni;

    pub(super) fn has_avx2() -> bool {
        is_x86_feature_detected!("avx2")
    }

    /// Row pointers `base + (first + i)·dim` for `i < N`.
    #[inline(always)]
    fn row_ptrs<const N: usize>(base: *const i8, first: usize, dim: usize) -> [*const i8; N] {
        core::array::from_fn(|i| base.wrapping_add((first + i) * dim))
    }

    /// Horizontal sums of four 8-lane i32 vectors: `[Σa, Σb, Σc, Σd]`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn hsum4(a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> [i32; 4] {
        let ab = _mm256_hadd_epi32(a, b);
        let cd = _mm256_hadd_epi32(c, d);
        let abcd = _mm256_hadd_epi32(ab, cd);
        let s = _mm_add_epi32(
            _mm256_castsi256_si128(abcd),
            _mm256_extracti128_si256::<1>(abcd),
        );
        let mut out = [0i32; 4];
        // SAFETY: `out` is 16 writable bytes; `storeu` is unaligned.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), s) };
        out
    }

    /// Horizontal sums of the first `n ≤ 16` vectors of `v`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn reduce(v: &[__m256i; 16], n: usize) -> [i32; 16] {
        let mut out = [0i32; 16];
        let mut k = 0;
        while k < n.min(16) {
            // Lanes past `n` are summed too (they hold zero vectors) and ignored.
            let s = hsum4(v[k], v[k + 1], v[k + 2], v[k + 3]);
            out[k..k + 4].copy_from_slice(&s);
            k += 4;
        }
        out
    }

    /// The MaxSim driver shared by the kernels, expanded inside each `#[target_feature]`
    /// function so its tiles inline: query rows in blocks of up to 4, document rows in tiles of
    /// `$pmax` (then the remainder), `$flip · Σa` subtracted from every raw sum (128 for the VNNI
    /// tile, which adds 128 to each document byte; 0 otherwise), maxima per query row, and the
    /// f64 total in query-row order, exactly as [`super::maxsim_i8_scalar`] computes it.
    macro_rules! maxsim_body {
        ($q:ident, $codes:ident, $scales:ident, $tile:ident, $pmax:literal, $flip:literal) => {{
            let dim = $q.dim;
            if dim == 0 || $q.is_empty() {
                return 0.0;
            }
            let np = doc_rows($q, $codes, $scales);
            if np == 0 {
                return f32::NEG_INFINITY;
            }
            let (qb, pb) = ($q.codes.as_ptr(), $codes.as_ptr());
            let nq = $q.len();
            let mut total = 0.0f64;
            let mut i = 0;
            while i < nq {
                let mut best = [f32::NEG_INFINITY; 4];
                macro_rules! rows {
                    ($qn:literal) => {{
                        let qr = row_ptrs::<$qn>(qb, i, dim);
                        let bias: [i32; $qn] = core::array::from_fn(|r| $flip * $q.sums[i + r]);
                        let mut j = 0;
                        macro_rules! step {
                            ($pn:literal) => {{
                                // SAFETY: query rows i..i+$qn < nq and document rows
                                // j..j+$pn < np are each `dim` bytes inside their slices.
                                let t = unsafe {
                                    $tile::<$qn, $pn>(qr, row_ptrs::<$pn>(pb, j, dim), dim)
                                };
                                for r in 0..$qn {
                                    for c in 0..$pn {
                                        let v = (t[r][c] - bias[r]) as f32 * $scales[j + c];
                                        best[r] = best[r].max(v);
                                    }
                                }
                            }};
                        }
                        while j + $pmax <= np {
                            step!($pmax);
                            j += $pmax;
                        }
                        match np - j {
                            3 => step!(3),
                            2 => step!(2),
                            1 => step!(1),
                            _ => {}
                        }
                    }};
                }
                match (nq - i).min(4) {
                    4 => rows!(4),
                    3 => rows!(3),
                    2 => rows!(2),
                    _ => rows!(1),
                }
                // Query rows in order, as the scalar oracle adds them.
                for (r, &b) in best.iter().enumerate().take((nq - i).min(4)) {
                    total += f64::from(b) * f64::from($q.scales[i + r]);
                }
                i += 4;
            }
            total as f32
        }};
    }

    // ------------------------------------------------------------------ AVX-512 VNNI

    /// Raw `Σ (c+128)·a` sums of a `QB × PB` tile.
    ///
    /// # Safety
    /// AVX-512F/BW/VNNI available; every `q[i]` and `p[j]` readable for `dim` bytes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2")]
    unsafe fn tile_vnni<const QB: usize, const PB: usize>(
        q: [*const i8; QB],
        p: [*const i8; PB],
        dim: usize,
    ) -> [[i32; PB]; QB] {
        let flip = _mm512_set1_epi8(i8::MIN);
        let mut acc = [[_mm512_setzero_si512(); PB]; QB];
        let mut off = 0;
        while off < dim {
            let left = dim - off;
            let mask: __mmask64 = if left >= 64 {
                u64::MAX
            } else {
                (1u64 << left) - 1
            };
            let mut pv = [_mm512_setzero_si512(); PB];
            for j in 0..PB {
                // SAFETY: the masked load touches only bytes off..off+min(64, left) of row j,
                // all inside its `dim` bytes. Masked-off lanes load 0 and flip to 128, but the
                // query's masked-off lanes are 0, so they add nothing.
                pv[j] = _mm512_xor_si512(
                    unsafe { _mm512_maskz_loadu_epi8(mask, p[j].add(off)) },
                    flip,
                );
            }
            for i in 0..QB {
                // SAFETY: as above, inside query row i.
                let qv = unsafe { _mm512_maskz_loadu_epi8(mask, q[i].add(off)) };
                for j in 0..PB {
                    acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], pv[j], qv);
                }
            }
            off += 64;
        }
        let mut flat = [_mm256_setzero_si256(); 16];
        for i in 0..QB {
            for j in 0..PB {
                let v = acc[i][j];
                flat[i * PB + j] =
                    _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64::<1>(v));
            }
        }
        let sums = reduce(&flat, QB * PB);
        let mut out = [[0i32; PB]; QB];
        for i in 0..QB {
            out[i].copy_from_slice(&sums[i * PB..(i + 1) * PB]);
        }
        out
    }

    /// VNNI kernel; only handed out by `maxsim_i8_for` after `has_vnni()`.
    pub(super) fn vnni_maxsim(q: &QueryI8, codes: &[i8], scales: &[f32]) -> f32 {
        // SAFETY: `maxsim_i8_for` returns this function only when `has_vnni()` holds (which
        // implies AVX2 on every CPU that has it).
        unsafe { vnni_impl(q, codes, scales) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2")]
    fn vnni_impl(q: &QueryI8, codes: &[i8], scales: &[f32]) -> f32 {
        maxsim_body!(q, codes, scales, tile_vnni, 4, 128)
    }

    // ------------------------------------------------------------------ AVX2 (exact i16)

    /// Loads 16 bytes (or the first `left < 16`, zero-padded) sign-extended to 16 i16 lanes.
    ///
    /// # Safety
    /// AVX2; `p` readable for `min(16, left)` bytes.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn load16(p: *const i8, left: usize) -> __m256i {
        if left >= 16 {
            // SAFETY: 16 readable bytes (caller).
            _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(p.cast()) })
        } else {
            let mut buf = [0i8; 16];
            // SAFETY: `left` readable bytes (caller) into a 16-byte buffer.
            unsafe { core::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), left) };
            // SAFETY: `buf` is 16 readable bytes.
            _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(buf.as_ptr().cast()) })
        }
    }

    /// Raw `Σ c·a` sums of a `QB × PB` tile.
    ///
    /// # Safety
    /// AVX2 available; every `q[i]` and `p[j]` readable for `dim` bytes.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn tile_avx2<const QB: usize, const PB: usize>(
        q: [*const i8; QB],
        p: [*const i8; PB],
        dim: usize,
    ) -> [[i32; PB]; QB] {
        let mut acc = [[_mm256_setzero_si256(); PB]; QB];
        let mut off = 0;
        while off < dim {
            let left = dim - off;
            let mut pv = [_mm256_setzero_si256(); PB];
            for j in 0..PB {
                // SAFETY: `min(16, left)` bytes remain in row j from `off`.
                pv[j] = unsafe { load16(p[j].add(off), left) };
            }
            for i in 0..QB {
                // SAFETY: as above, in query row i.
                let qv = unsafe { load16(q[i].add(off), left) };
                for j in 0..PB {
                    acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(qv, pv[j]));
                }
            }
            off += 16;
        }
        let mut flat = [_mm256_setzero_si256(); 16];
        for i in 0..QB {
            for j in 0..PB {
                flat[i * PB + j] = acc[i][j];
            }
        }
        let sums = reduce(&flat, QB * PB);
        let mut out = [[0i32; PB]; QB];
        for i in 0..QB {
            out[i].copy_from_slice(&sums[i * PB..(i + 1) * PB]);
        }
        out
    }

    /// AVX2 kernel; only handed out by `maxsim_i8_for` after `has_avx2()`.
    pub(super) fn avx2_maxsim(q: &QueryI8, codes: &[i8], scales: &[f32]) -> f32 {
        // SAFETY: `maxsim_i8_for` returns this function only when `has_avx2()` holds.
        unsafe { avx2_impl(q, codes, scales) }
    }

    #[target_feature(enable = "avx2")]
    fn avx2_impl(q: &QueryI8, codes: &[i8], scales: &[f32]) -> f32 {
        maxsim_body!(q, codes, scales, tile_avx2, 2, 0)
    }
}
