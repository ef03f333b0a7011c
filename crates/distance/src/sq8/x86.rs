//! x86_64 kernels of the `sq8` family.

use core::arch::x86_64::*;

use crate::lanes::{Lanes, L256, L512};

/// VNNI wrapper; only handed out by `crate::isa::select` where AVX-512F, BW and VNNI were detected.
pub(crate) fn vnni_dot_u8_i8(c: &[u8], a: &[i8]) -> i32 {
    // SAFETY: the `avx512-vnni` variant is selected only where AVX-512F, BW and VNNI were
    // detected (see `crate::isa::select`).
    unsafe { vnni_impl(c, a) }
}

/// AVX2 wrapper; only handed out by `crate::isa::select` after the AVX2 check.
pub(crate) fn avx2_dot_u8_i8(c: &[u8], a: &[i8]) -> i32 {
    // SAFETY: the `avx2` variant is selected only where AVX2 and FMA were detected.
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

/// AVX-512 wrapper; only handed out by `crate::isa::select` after the CPU check.
pub(crate) fn avx512_dot_u8(a: &[f32], c: &[u8]) -> f32 {
    // SAFETY: the `avx512` variant is selected only where AVX-512F was detected.
    unsafe { avx512_impl(a, c) }
}

/// AVX2 wrapper; only handed out by `crate::isa::select` after the CPU check.
pub(crate) fn avx2_dot_u8(a: &[f32], c: &[u8]) -> f32 {
    // SAFETY: the `avx2` variant is selected only where AVX2 and FMA were detected.
    unsafe { avx2_impl(a, c) }
}

/// Widens `W` u8 codes to f32 lanes.
trait WidenU8: Lanes {
    /// Loads `W` bytes at `p` and converts them to f32.
    ///
    /// # Safety
    /// The ISA's features are available; `p` is readable for `W` bytes.
    unsafe fn widen_u8(p: *const u8) -> Self::V;
}

impl WidenU8 for L512 {
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn widen_u8(p: *const u8) -> __m512 {
        // SAFETY: the caller guarantees 16 readable bytes; `loadu` is unaligned.
        _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(unsafe { _mm_loadu_si128(p.cast()) }))
    }
}

impl WidenU8 for L256 {
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn widen_u8(p: *const u8) -> __m256 {
        // SAFETY: the caller guarantees 8 readable bytes; `movq` loads exactly 8.
        _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(unsafe { _mm_loadl_epi64(p.cast()) }))
    }
}

/// The f32 × u8 dot written once over the lane width: two accumulators over `2·W` elements,
/// one more `W` block, then a scalar tail.
macro_rules! dot_u8_kernel {
    ($name:ident, $L:ty, $feat:literal) => {
        #[target_feature(enable = $feat)]
        fn $name(a: &[f32], c: &[u8]) -> f32 {
            const W: usize = <$L as Lanes>::W;
            let n = a.len().min(c.len());
            // SAFETY: register-only arithmetic; features enabled here.
            let (mut acc0, mut acc1) = unsafe { (<$L>::zero(), <$L>::zero()) };
            let mut i = 0;
            while i + 2 * W <= n {
                // SAFETY: i + 2W <= n keeps both W-byte code loads and both W-float loads
                // inside the slices.
                unsafe {
                    let f0 = <$L>::widen_u8(c.as_ptr().add(i));
                    let f1 = <$L>::widen_u8(c.as_ptr().add(i + W));
                    acc0 = <$L>::fmadd(<$L>::loadu(a.as_ptr().add(i)), f0, acc0);
                    acc1 = <$L>::fmadd(<$L>::loadu(a.as_ptr().add(i + W)), f1, acc1);
                }
                i += 2 * W;
            }
            if i + W <= n {
                // SAFETY: i + W <= n.
                unsafe {
                    let f0 = <$L>::widen_u8(c.as_ptr().add(i));
                    acc0 = <$L>::fmadd(<$L>::loadu(a.as_ptr().add(i)), f0, acc0);
                }
                i += W;
            }
            // SAFETY: register-only arithmetic; features enabled here.
            let mut s = unsafe { <$L>::hsum(<$L>::add(acc0, acc1)) };
            while i < n {
                s += a[i] * f32::from(c[i]);
                i += 1;
            }
            s
        }
    };
}

dot_u8_kernel!(avx512_impl, L512, "avx512f");
dot_u8_kernel!(avx2_impl, L256, "avx2,fma");
