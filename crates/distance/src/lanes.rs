//! x86_64 vector widths for kernels written once over the lane count.
//!
//! [`Lanes`] is the small set of f32 vector operations the generic kernel bodies use; [`L512`]
//! (AVX-512F, 16 lanes) and [`L256`] (AVX2+FMA, 8 lanes) implement it with `#[inline]
//! #[target_feature]` leaf functions. A family writes its driver once, inside a macro that
//! stamps one copy per ISA with that ISA's `#[target_feature]` list, so the leaves inline into
//! it (see `float/x86.rs` and `maxsim/x86.rs`).

use core::arch::x86_64::*;

/// An f32 vector width and the operations the generic kernels use.
///
/// # Safety
/// Every method requires the features of the ISA the implementor belongs to (AVX-512F for
/// [`L512`], AVX2+FMA for [`L256`]); pointers must be readable (writable for `storeu`)
/// for [`Lanes::W`] floats, `load_tail` for `rem < W` floats.
pub(crate) trait Lanes {
    /// The f32 vector.
    type V: Copy;
    /// f32 lanes per vector.
    const W: usize;
    /// All lanes zero.
    unsafe fn zero() -> Self::V;
    /// `a·b + c` per lane (fused).
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a + b` per lane.
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    /// `a − b` per lane.
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    /// Unaligned load of `W` floats.
    unsafe fn loadu(p: *const f32) -> Self::V;
    /// Loads `rem < W` floats into the low lanes and zeroes the rest, touching only those
    /// `rem` floats.
    unsafe fn load_tail(p: *const f32, rem: usize) -> Self::V;
    /// Unaligned store of `W` floats.
    unsafe fn storeu(p: *mut f32, v: Self::V);
    /// Sums the vector down to 8 lanes (pairwise for [`L512`], identity for [`L256`]).
    unsafe fn fold(v: Self::V) -> __m256;
    /// Horizontal sum of all lanes.
    unsafe fn hsum(v: Self::V) -> f32;
}

/// 16 f32 lanes (AVX-512F).
pub(crate) struct L512;

/// 8 f32 lanes (AVX2+FMA).
pub(crate) struct L256;

/// Implements [`Lanes`] for `$L` from its intrinsics, all under `$feat`.
macro_rules! lanes {
    ($L:ty, $V:ty, $w:literal, $feat:tt, $zero:ident, $fmadd:ident, $add:ident, $sub:ident,
     $load:ident, $tail:path, $store:ident, $fold:expr, $hsum:path) => {
        impl Lanes for $L {
            type V = $V;
            const W: usize = $w;
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn zero() -> $V {
                $zero()
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn fmadd(a: $V, b: $V, c: $V) -> $V {
                $fmadd(a, b, c)
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn add(a: $V, b: $V) -> $V {
                $add(a, b)
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn sub(a: $V, b: $V) -> $V {
                $sub(a, b)
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn loadu(p: *const f32) -> $V {
                // SAFETY: the caller guarantees `W` readable floats; the load is unaligned.
                unsafe { $load(p) }
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn load_tail(p: *const f32, rem: usize) -> $V {
                // SAFETY: the caller guarantees `rem < W` readable floats at `p`.
                unsafe { $tail(p, rem) }
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn storeu(p: *mut f32, v: $V) {
                // SAFETY: the caller guarantees `W` writable floats; the store is unaligned.
                unsafe { $store(p, v) }
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn fold(v: $V) -> __m256 {
                $fold(v)
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn hsum(v: $V) -> f32 {
                $hsum(v)
            }
        }
    };
}

lanes!(
    L512,
    __m512,
    16,
    "avx512f",
    _mm512_setzero_ps,
    _mm512_fmadd_ps,
    _mm512_add_ps,
    _mm512_sub_ps,
    _mm512_loadu_ps,
    tail512,
    _mm512_storeu_ps,
    fold512,
    _mm512_reduce_add_ps
);
lanes!(
    L256,
    __m256,
    8,
    "avx2,fma",
    _mm256_setzero_ps,
    _mm256_fmadd_ps,
    _mm256_add_ps,
    _mm256_sub_ps,
    _mm256_loadu_ps,
    tail256,
    _mm256_storeu_ps,
    core::convert::identity,
    hsum256
);

/// Zero-masked load of the first `rem < 16` floats at `p`.
///
/// # Safety
/// AVX-512F available; `p` readable for `rem` floats.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn tail512(p: *const f32, rem: usize) -> __m512 {
    debug_assert!(rem < 16);
    // Low `rem` bits set; `rem < 16` so the shift cannot overflow and the value fits in u16.
    let mask = ((1u32 << rem) - 1) as __mmask16;
    // SAFETY: a zero-masked load only accesses lanes whose mask bit is set and suppresses
    // faults on the others: lanes `0..rem`, all readable (caller).
    unsafe { _mm512_maskz_loadu_ps(mask, p) }
}

/// Lane mask selecting the first `rem` (< 8) lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn tail_mask256(rem: usize) -> __m256i {
    debug_assert!(rem < 8);
    // Lane j is all-ones iff j < rem. `rem < 8` so the cast is lossless.
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(rem as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

/// `vmaskmovps` load of the first `rem < 8` floats at `p`, zeroing the other lanes.
///
/// # Safety
/// AVX2 available; `p` readable for `rem` floats.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn tail256(p: *const f32, rem: usize) -> __m256 {
    // SAFETY: `vmaskmovps` only accesses lanes whose mask bit is set and suppresses faults on
    // the others: lanes `0..rem`, all readable (caller). Masked-off lanes read as 0.0.
    unsafe { _mm256_maskload_ps(p, tail_mask256(rem)) }
}

/// Horizontal sum of one 8-lane vector.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn hsum256(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)))
}

/// Adds the two 256-bit halves of a 16-lane vector.
#[inline]
#[target_feature(enable = "avx512f")]
pub(crate) fn fold512(v: __m512) -> __m256 {
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
    _mm256_add_ps(_mm512_castps512_ps256(v), hi)
}
