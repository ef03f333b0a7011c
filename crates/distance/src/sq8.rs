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
mod x86 {
    use core::arch::x86_64::*;

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
