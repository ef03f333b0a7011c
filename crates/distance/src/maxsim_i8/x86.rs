//! x86_64 kernels of the `maxsim_i8` family.

use core::arch::x86_64::*;

use super::{doc_rows, QueryI8};

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
                            let t =
                                // SAFETY: query rows i..i+$qn < nq and document rows
                                // j..j+$pn < np are each `dim` bytes inside their slices.
                                unsafe { $tile::<$qn, $pn>(qr, row_ptrs::<$pn>(pb, j, dim), dim) };
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

/// VNNI kernel; only handed out by `crate::isa::select` where AVX-512F, BW and VNNI were detected.
pub(super) fn vnni_maxsim(q: &QueryI8, codes: &[i8], scales: &[f32]) -> f32 {
    // SAFETY: the `avx512-vnni` variant is selected only where the `Avx512` level (AVX-512F,
    // AVX2, FMA) plus AVX-512BW and VNNI were detected.
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

/// AVX2 kernel; only handed out by `crate::isa::select` where AVX2 (and FMA) were detected.
pub(super) fn avx2_maxsim(q: &QueryI8, codes: &[i8], scales: &[f32]) -> f32 {
    // SAFETY: the `avx2` variant is selected only where AVX2 was detected.
    unsafe { avx2_impl(q, codes, scales) }
}

#[target_feature(enable = "avx2")]
fn avx2_impl(q: &QueryI8, codes: &[i8], scales: &[f32]) -> f32 {
    maxsim_body!(q, codes, scales, tile_avx2, 2, 0)
}
