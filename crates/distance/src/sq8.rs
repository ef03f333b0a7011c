//! Asymmetric f32 × u8 dot product: the kernel behind sq8 (scalar-quantized) codes.
//!
//! An sq8 code stores `c[i] ∈ 0..=255` with `x[i] ≈ lo[i] + s[i]·c[i]`. Both the inner product
//! and the squared L2 distance to a query reduce to one `Σ a[i]·c[i]` with a per-query `a`
//! (see `quiver_quant::sq8`), so this one kernel serves every metric. The u8 codes are widened
//! to f32 in registers (16 per AVX-512 step, 8 per AVX2 step): the code arena is 4× smaller
//! than f32 rows, which is what matters for cache-bound graph traversal.

use crate::{kernels, Isa};

/// `Σ a[i]·c[i]` over `n = min(a.len(), c.len())`, scalar oracle.
pub fn dot_u8_scalar(a: &[f32], c: &[u8]) -> f32 {
    let n = a.len().min(c.len());
    let mut acc = [0f32; 4];
    let mut i = 0;
    while i + 4 <= n {
        for j in 0..4 {
            acc[j] += a[i + j] * f32::from(c[i + j]);
        }
        i += 4;
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    while i < n {
        s += a[i] * f32::from(c[i]);
        i += 1;
    }
    s
}

/// Largest magnitude of an i8 query component for [`dot_u8_i8`]: with |a| ≤ 63, the AVX2 path's
/// pairwise u8 × i8 sums (`vpmaddubsw`, saturating at i16) cannot overflow (2·255·63 < 2^15).
pub const I8_QUERY_MAX: i8 = 63;

/// `Σ c[i]·a[i]` over `n = min(c.len(), a.len())` in integers, scalar oracle. `a` must be within
/// ±[`I8_QUERY_MAX`] for the SIMD paths to agree.
pub fn dot_u8_i8_scalar(c: &[u8], a: &[i8]) -> i32 {
    c.iter()
        .zip(a)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum()
}

/// Signature of the u8 × i8 integer dot kernel.
pub type DotU8I8 = fn(&[u8], &[i8]) -> i32;

/// The u8 × i8 integer dot kernel for `isa` (AVX-512 uses VNNI `vpdpbusd` when the CPU has it,
/// else the AVX2 kernel), or `None` if this CPU cannot run it.
pub fn dot_u8_i8_for(isa: Isa) -> Option<DotU8I8> {
    match isa {
        Isa::Scalar => Some(dot_u8_i8_scalar),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            if !crate::x86::has_avx512() {
                None
            } else if x86::has_vnni() {
                Some(x86::vnni_dot_u8_i8 as DotU8I8)
            } else {
                crate::x86::has_avx2().then_some(x86::avx2_dot_u8_i8 as DotU8I8)
            }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => crate::x86::has_avx2().then_some(x86::avx2_dot_u8_i8 as DotU8I8),
        _ => None,
    }
}

/// The process-wide u8 × i8 kernel (same ISA as [`kernels`]).
#[inline]
pub fn dot_u8_i8() -> DotU8I8 {
    dot_u8_i8_for(kernels().isa).unwrap_or(dot_u8_i8_scalar)
}

/// Signature of the f32 × u8 dot kernel.
pub type DotU8 = fn(&[f32], &[u8]) -> f32;

/// The f32 × u8 dot kernel for `isa`, or `None` if this CPU cannot run it.
pub fn dot_u8_for(isa: Isa) -> Option<DotU8> {
    match isa {
        Isa::Scalar => Some(dot_u8_scalar),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => crate::x86::has_avx512().then_some(x86::avx512_dot_u8 as DotU8),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => crate::x86::has_avx2().then_some(x86::avx2_dot_u8 as DotU8),
        _ => None,
    }
}

/// The process-wide f32 × u8 dot kernel (same ISA as [`kernels`]).
#[inline]
pub fn dot_u8() -> DotU8 {
    dot_u8_for(kernels().isa).unwrap_or(dot_u8_scalar)
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::has_vnni;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    /// AVX-512 VNNI (with BW for masked byte loads).
    pub(crate) fn has_vnni() -> bool {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni")
    }

    /// VNNI wrapper; only handed out by `dot_u8_i8_for` after `has_vnni()`.
    pub(super) fn vnni_dot_u8_i8(c: &[u8], a: &[i8]) -> i32 {
        // SAFETY: `dot_u8_i8_for` returns this function only when `has_vnni()` holds.
        unsafe { vnni_impl(c, a) }
    }

    /// AVX2 wrapper; only handed out by `dot_u8_i8_for` after the AVX2 check.
    pub(super) fn avx2_dot_u8_i8(c: &[u8], a: &[i8]) -> i32 {
        // SAFETY: `dot_u8_i8_for` returns this function only when AVX2 (and FMA) are detected.
        unsafe { avx2_i8_impl(c, a) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn vnni_impl(c: &[u8], a: &[i8]) -> i32 {
        let n = c.len().min(a.len());
        let mut acc0 = _mm512_setzero_si512();
        let mut acc1 = _mm512_setzero_si512();
        let mut i = 0;
        while i + 128 <= n {
            // SAFETY: i + 128 <= n keeps all four 64-byte loads inside both slices.
            unsafe {
                let c0 = _mm512_loadu_si512(c.as_ptr().add(i).cast());
                let a0 = _mm512_loadu_si512(a.as_ptr().add(i).cast());
                let c1 = _mm512_loadu_si512(c.as_ptr().add(i + 64).cast());
                let a1 = _mm512_loadu_si512(a.as_ptr().add(i + 64).cast());
                acc0 = _mm512_dpbusd_epi32(acc0, c0, a0);
                acc1 = _mm512_dpbusd_epi32(acc1, c1, a1);
            }
            i += 128;
        }
        while i < n {
            let left = (n - i).min(64);
            let mask: __mmask64 = if left == 64 {
                u64::MAX
            } else {
                (1u64 << left) - 1
            };
            // SAFETY: the masked loads touch only the first `left` bytes from offset i, all
            // inside both slices; masked-off lanes are zero and add nothing.
            unsafe {
                let c0 = _mm512_maskz_loadu_epi8(mask, c.as_ptr().add(i).cast());
                let a0 = _mm512_maskz_loadu_epi8(mask, a.as_ptr().add(i).cast());
                acc0 = _mm512_dpbusd_epi32(acc0, c0, a0);
            }
            i += left;
        }
        _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1))
    }

    #[target_feature(enable = "avx2")]
    fn avx2_i8_impl(c: &[u8], a: &[i8]) -> i32 {
        let n = c.len().min(a.len());
        let ones = _mm256_set1_epi16(1);
        let mut acc = _mm256_setzero_si256();
        let mut i = 0;
        while i + 32 <= n {
            // SAFETY: i + 32 <= n keeps both 32-byte loads inside the slices. |a| <= 63 keeps the
            // saturating pairwise sums of vpmaddubsw exact.
            unsafe {
                let cv = _mm256_loadu_si256(c.as_ptr().add(i).cast());
                let av = _mm256_loadu_si256(a.as_ptr().add(i).cast());
                let p16 = _mm256_maddubs_epi16(cv, av);
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, ones));
            }
            i += 32;
        }
        let lo = _mm256_castsi256_si128(acc);
        let hi = _mm256_extracti128_si256(acc, 1);
        let s = _mm_add_epi32(lo, hi);
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
        let mut total = _mm_cvtsi128_si32(s);
        while i < n {
            total += i32::from(c[i]) * i32::from(a[i]);
            i += 1;
        }
        total
    }

    /// AVX-512 wrapper; only handed out by `dot_u8_for` after the CPU check.
    pub(super) fn avx512_dot_u8(a: &[f32], c: &[u8]) -> f32 {
        // SAFETY: `dot_u8_for(Isa::Avx512)` returns this function only when
        // `is_x86_feature_detected!("avx512f")` holds.
        unsafe { avx512_impl(a, c) }
    }

    /// AVX2 wrapper; only handed out by `dot_u8_for` after the CPU check.
    pub(super) fn avx2_dot_u8(a: &[f32], c: &[u8]) -> f32 {
        // SAFETY: `dot_u8_for(Isa::Avx2)` returns this function only when AVX2 and FMA are
        // detected.
        unsafe { avx2_impl(a, c) }
    }

    #[target_feature(enable = "avx512f")]
    fn avx512_impl(a: &[f32], c: &[u8]) -> f32 {
        let n = a.len().min(c.len());
        let mut acc0 = _mm512_setzero_ps();
        let mut acc1 = _mm512_setzero_ps();
        let mut i = 0;
        while i + 32 <= n {
            // SAFETY: i + 32 <= n keeps both 16-byte code loads and both 64-byte float loads
            // inside the slices; unaligned loads are used.
            unsafe {
                let c0 = _mm_loadu_si128(c.as_ptr().add(i).cast());
                let c1 = _mm_loadu_si128(c.as_ptr().add(i + 16).cast());
                let f0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(c0));
                let f1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(c1));
                acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a.as_ptr().add(i)), f0, acc0);
                acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a.as_ptr().add(i + 16)), f1, acc1);
            }
            i += 32;
        }
        while i + 16 <= n {
            // SAFETY: i + 16 <= n.
            unsafe {
                let c0 = _mm_loadu_si128(c.as_ptr().add(i).cast());
                let f0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(c0));
                acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a.as_ptr().add(i)), f0, acc0);
            }
            i += 16;
        }
        let mut s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
        while i < n {
            s += a[i] * f32::from(c[i]);
            i += 1;
        }
        s
    }

    #[target_feature(enable = "avx2,fma")]
    fn avx2_impl(a: &[f32], c: &[u8]) -> f32 {
        let n = a.len().min(c.len());
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: i + 16 <= n keeps the two 8-byte code loads and two 32-byte float loads
            // inside the slices.
            unsafe {
                let c0 = _mm_loadl_epi64(c.as_ptr().add(i).cast());
                let c1 = _mm_loadl_epi64(c.as_ptr().add(i + 8).cast());
                let f0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c0));
                let f1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c1));
                acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.as_ptr().add(i)), f0, acc0);
                acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a.as_ptr().add(i + 8)), f1, acc1);
            }
            i += 16;
        }
        let acc = _mm256_add_ps(acc0, acc1);
        let lo = _mm256_castps256_ps128(acc);
        let hi = _mm256_extractf128_ps(acc, 1);
        let q = _mm_add_ps(lo, hi);
        let q = _mm_add_ps(q, _mm_movehl_ps(q, q));
        let q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
        let mut s = _mm_cvtss_f32(q);
        while i < n {
            s += a[i] * f32::from(c[i]);
            i += 1;
        }
        s
    }
}
