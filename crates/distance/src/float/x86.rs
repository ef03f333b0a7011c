//! x86_64 kernels: AVX2+FMA and AVX-512F.
//!
//! Structure of every kernel:
//! * the `#[target_feature]` implementation (`*_impl`) is a safe-signature fn,
//!   which Rust makes `unsafe` to call from code that does not itself have the
//!   features enabled;
//! * a plain, private `fn` wrapper calls it inside an `unsafe` block;
//! * wrappers are only reachable through the [`AVX2`] / [`AVX512`] variants,
//!   which [`crate::isa::select`] hands out only after detection confirmed
//!   the CPU supports the features. That is the single invariant that makes
//!   the wrappers sound.
//!
//! Main loops use 4 independent accumulators (AVX2: 4×8 = 32 floats per
//! iteration, AVX-512: 4×16 = 64) to hide FMA latency, then a single-vector
//! loop, then a masked tail so no element is ever read out of bounds.

use core::arch::x86_64::*;

use super::scalar::cosine_from_parts;
use super::Kernels;
use crate::isa::{base_only, Isa, Variant};

/// The AVX2+FMA table; [`crate::isa::select`] hands it out only on a CPU with AVX2 and FMA.
pub(super) const AVX2: Variant<Kernels> = Variant {
    level: Isa::Avx2,
    name: "avx2",
    needs: base_only,
    table: Kernels {
        isa: Isa::Avx2,
        dot: avx2_dot,
        l2sq: avx2_l2sq,
        cosine: avx2_cosine,
        one_minus_dot: avx2_one_minus_dot,
    },
};

/// The AVX-512F table; handed out only on a CPU with AVX-512F (and AVX2+FMA).
pub(super) const AVX512: Variant<Kernels> = Variant {
    level: Isa::Avx512,
    name: "avx512",
    needs: base_only,
    table: Kernels {
        isa: Isa::Avx512,
        dot: avx512_dot,
        l2sq: avx512_l2sq,
        cosine: avx512_cosine,
        one_minus_dot: avx512_one_minus_dot,
    },
};

fn has_avx2() -> bool {
    Isa::Avx2.runnable()
}

fn has_avx512() -> bool {
    Isa::Avx512.runnable()
}

// ---------------------------------------------------------------------------
// Safe wrappers. Only ever stored in a table built by the `AVX2` variant /
// the `AVX512` variant, i.e. after runtime detection succeeded.
// ---------------------------------------------------------------------------

fn avx2_dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert!(has_avx2());
    // SAFETY: this fn is only reachable through the table returned by
    // the `AVX2` variant, which exists only if the CPU supports AVX2 and FMA.
    unsafe { dot_avx2_impl(a, b) }
}

fn avx2_one_minus_dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert!(has_avx2());
    // SAFETY: only reachable through the `AVX2` variant (AVX2+FMA detected).
    1.0 - unsafe { dot_avx2_impl(a, b) }
}

fn avx2_l2sq(a: &[f32], b: &[f32]) -> f32 {
    debug_assert!(has_avx2());
    // SAFETY: only reachable through the `AVX2` variant (AVX2+FMA detected).
    unsafe { l2sq_avx2_impl(a, b) }
}

fn avx2_cosine(a: &[f32], b: &[f32]) -> f32 {
    debug_assert!(has_avx2());
    // SAFETY: only reachable through the `AVX2` variant (AVX2+FMA detected).
    unsafe { cosine_avx2_impl(a, b) }
}

fn avx512_dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert!(has_avx512());
    // SAFETY: only reachable through the `AVX512` variant (AVX-512F detected).
    unsafe { dot_avx512_impl(a, b) }
}

fn avx512_one_minus_dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert!(has_avx512());
    // SAFETY: only reachable through the `AVX512` variant (AVX-512F detected).
    1.0 - unsafe { dot_avx512_impl(a, b) }
}

fn avx512_l2sq(a: &[f32], b: &[f32]) -> f32 {
    debug_assert!(has_avx512());
    // SAFETY: only reachable through the `AVX512` variant (AVX-512F detected).
    unsafe { l2sq_avx512_impl(a, b) }
}

fn avx512_cosine(a: &[f32], b: &[f32]) -> f32 {
    debug_assert!(has_avx512());
    // SAFETY: only reachable through the `AVX512` variant (AVX-512F detected).
    unsafe { cosine_avx512_impl(a, b) }
}

// ---------------------------------------------------------------------------
// AVX2 + FMA
// ---------------------------------------------------------------------------

/// Horizontal sum of the 8 lanes of `v`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum256(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let u = _mm_add_ss(t, _mm_movehdup_ps(t));
    _mm_cvtss_f32(u)
}

/// Lane mask for `_mm256_maskload_ps` selecting the first `rem` lanes (`rem < 8`).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn tail_mask256(rem: usize) -> __m256i {
    debug_assert!(rem < 8);
    // Lane j is all-ones iff j < rem. `rem < 8` so the cast is lossless.
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(rem as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

/// Loads the first `s.len()` (< 8) floats of `s` into the low lanes, zeroing the rest.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn load_tail256(s: &[f32]) -> __m256 {
    let mask = tail_mask256(s.len());
    // SAFETY: `vmaskmovps` only accesses lanes whose mask bit is set and
    // suppresses faults on the others; the set lanes are exactly
    // `0..s.len()`, all inside `s`. Masked-off lanes read as 0.0.
    unsafe { _mm256_maskload_ps(s.as_ptr(), mask) }
}

/// Unaligned load of 8 floats starting at `s[off]`.
///
/// # Safety
/// `off + 8 <= s.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn ld8(s: &[f32], off: usize) -> __m256 {
    debug_assert!(off + 8 <= s.len());
    // SAFETY: the caller guarantees `s[off..off + 8]` is in bounds;
    // `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_ps(s.as_ptr().add(off)) }
}

#[target_feature(enable = "avx2,fma")]
fn dot_avx2_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (mut s0, mut s1, mut s2, mut s3) = (
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
    );
    let mut ca = a.chunks_exact(32);
    let mut cb = b.chunks_exact(32);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 32 elements, so offsets 0, 8, 16, 24 are in bounds.
        unsafe {
            s0 = _mm256_fmadd_ps(ld8(x, 0), ld8(y, 0), s0);
            s1 = _mm256_fmadd_ps(ld8(x, 8), ld8(y, 8), s1);
            s2 = _mm256_fmadd_ps(ld8(x, 16), ld8(y, 16), s2);
            s3 = _mm256_fmadd_ps(ld8(x, 24), ld8(y, 24), s3);
        }
    }
    let mut ca = ca.remainder().chunks_exact(8);
    let mut cb = cb.remainder().chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 8 elements.
        unsafe {
            s0 = _mm256_fmadd_ps(ld8(x, 0), ld8(y, 0), s0);
        }
    }
    let (ra, rb) = (ca.remainder(), cb.remainder());
    if !ra.is_empty() {
        s1 = _mm256_fmadd_ps(load_tail256(ra), load_tail256(rb), s1);
    }
    hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)))
}

#[target_feature(enable = "avx2,fma")]
fn l2sq_avx2_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (mut s0, mut s1, mut s2, mut s3) = (
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
    );
    let mut ca = a.chunks_exact(32);
    let mut cb = b.chunks_exact(32);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 32 elements, so offsets 0, 8, 16, 24 are in bounds.
        unsafe {
            let d0 = _mm256_sub_ps(ld8(x, 0), ld8(y, 0));
            let d1 = _mm256_sub_ps(ld8(x, 8), ld8(y, 8));
            let d2 = _mm256_sub_ps(ld8(x, 16), ld8(y, 16));
            let d3 = _mm256_sub_ps(ld8(x, 24), ld8(y, 24));
            s0 = _mm256_fmadd_ps(d0, d0, s0);
            s1 = _mm256_fmadd_ps(d1, d1, s1);
            s2 = _mm256_fmadd_ps(d2, d2, s2);
            s3 = _mm256_fmadd_ps(d3, d3, s3);
        }
    }
    let mut ca = ca.remainder().chunks_exact(8);
    let mut cb = cb.remainder().chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 8 elements.
        let d = unsafe { _mm256_sub_ps(ld8(x, 0), ld8(y, 0)) };
        s0 = _mm256_fmadd_ps(d, d, s0);
    }
    let (ra, rb) = (ca.remainder(), cb.remainder());
    if !ra.is_empty() {
        // Masked-off lanes are 0 in both, so they contribute (0-0)² = 0.
        let d = _mm256_sub_ps(load_tail256(ra), load_tail256(rb));
        s1 = _mm256_fmadd_ps(d, d, s1);
    }
    hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)))
}

#[target_feature(enable = "avx2,fma")]
fn cosine_avx2_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let z = _mm256_setzero_ps();
    // Accumulators: ab = a·b, aa = |a|², bb = |b|²; 4 of each (12 of 16 ymm registers).
    let (mut ab0, mut ab1, mut ab2, mut ab3) = (z, z, z, z);
    let (mut aa0, mut aa1, mut aa2, mut aa3) = (z, z, z, z);
    let (mut bb0, mut bb1, mut bb2, mut bb3) = (z, z, z, z);
    let mut ca = a.chunks_exact(32);
    let mut cb = b.chunks_exact(32);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 32 elements, so offsets 0, 8, 16, 24 are in bounds.
        let (x0, x1, x2, x3, y0, y1, y2, y3) = unsafe {
            (
                ld8(x, 0),
                ld8(x, 8),
                ld8(x, 16),
                ld8(x, 24),
                ld8(y, 0),
                ld8(y, 8),
                ld8(y, 16),
                ld8(y, 24),
            )
        };
        ab0 = _mm256_fmadd_ps(x0, y0, ab0);
        aa0 = _mm256_fmadd_ps(x0, x0, aa0);
        bb0 = _mm256_fmadd_ps(y0, y0, bb0);
        ab1 = _mm256_fmadd_ps(x1, y1, ab1);
        aa1 = _mm256_fmadd_ps(x1, x1, aa1);
        bb1 = _mm256_fmadd_ps(y1, y1, bb1);
        ab2 = _mm256_fmadd_ps(x2, y2, ab2);
        aa2 = _mm256_fmadd_ps(x2, x2, aa2);
        bb2 = _mm256_fmadd_ps(y2, y2, bb2);
        ab3 = _mm256_fmadd_ps(x3, y3, ab3);
        aa3 = _mm256_fmadd_ps(x3, x3, aa3);
        bb3 = _mm256_fmadd_ps(y3, y3, bb3);
    }
    let mut ca = ca.remainder().chunks_exact(8);
    let mut cb = cb.remainder().chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 8 elements.
        let (x0, y0) = unsafe { (ld8(x, 0), ld8(y, 0)) };
        ab0 = _mm256_fmadd_ps(x0, y0, ab0);
        aa0 = _mm256_fmadd_ps(x0, x0, aa0);
        bb0 = _mm256_fmadd_ps(y0, y0, bb0);
    }
    let (ra, rb) = (ca.remainder(), cb.remainder());
    if !ra.is_empty() {
        let (x0, y0) = (load_tail256(ra), load_tail256(rb));
        ab1 = _mm256_fmadd_ps(x0, y0, ab1);
        aa1 = _mm256_fmadd_ps(x0, x0, aa1);
        bb1 = _mm256_fmadd_ps(y0, y0, bb1);
    }
    let ab = hsum256(_mm256_add_ps(
        _mm256_add_ps(ab0, ab1),
        _mm256_add_ps(ab2, ab3),
    ));
    let aa = hsum256(_mm256_add_ps(
        _mm256_add_ps(aa0, aa1),
        _mm256_add_ps(aa2, aa3),
    ));
    let bb = hsum256(_mm256_add_ps(
        _mm256_add_ps(bb0, bb1),
        _mm256_add_ps(bb2, bb3),
    ));
    cosine_from_parts(f64::from(ab), f64::from(aa), f64::from(bb))
}

// ---------------------------------------------------------------------------
// AVX-512F
// ---------------------------------------------------------------------------

/// Unaligned load of 16 floats starting at `s[off]`.
///
/// # Safety
/// `off + 16 <= s.len()`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn ld16(s: &[f32], off: usize) -> __m512 {
    debug_assert!(off + 16 <= s.len());
    // SAFETY: the caller guarantees `s[off..off + 16]` is in bounds;
    // `loadu` has no alignment requirement.
    unsafe { _mm512_loadu_ps(s.as_ptr().add(off)) }
}

/// Loads the first `s.len()` (< 16) floats of `s` into the low lanes, zeroing the rest.
#[inline]
#[target_feature(enable = "avx512f")]
fn load_tail512(s: &[f32]) -> __m512 {
    debug_assert!(s.len() < 16);
    // Low `s.len()` bits set; `s.len() < 16` so the shift cannot overflow and the value fits in u16.
    let mask: __mmask16 = ((1u32 << s.len()) - 1) as __mmask16;
    // SAFETY: a zero-masked load only accesses lanes whose mask bit is set
    // and suppresses faults on the others; those lanes are exactly
    // `0..s.len()`, all inside `s`.
    unsafe { _mm512_maskz_loadu_ps(mask, s.as_ptr()) }
}

#[target_feature(enable = "avx512f")]
fn dot_avx512_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let z = _mm512_setzero_ps();
    let (mut s0, mut s1, mut s2, mut s3) = (z, z, z, z);
    let mut ca = a.chunks_exact(64);
    let mut cb = b.chunks_exact(64);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 64 elements, so offsets 0, 16, 32, 48 are in bounds.
        unsafe {
            s0 = _mm512_fmadd_ps(ld16(x, 0), ld16(y, 0), s0);
            s1 = _mm512_fmadd_ps(ld16(x, 16), ld16(y, 16), s1);
            s2 = _mm512_fmadd_ps(ld16(x, 32), ld16(y, 32), s2);
            s3 = _mm512_fmadd_ps(ld16(x, 48), ld16(y, 48), s3);
        }
    }
    let mut ca = ca.remainder().chunks_exact(16);
    let mut cb = cb.remainder().chunks_exact(16);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 16 elements.
        unsafe {
            s0 = _mm512_fmadd_ps(ld16(x, 0), ld16(y, 0), s0);
        }
    }
    let (ra, rb) = (ca.remainder(), cb.remainder());
    if !ra.is_empty() {
        s1 = _mm512_fmadd_ps(load_tail512(ra), load_tail512(rb), s1);
    }
    _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)))
}

#[target_feature(enable = "avx512f")]
fn l2sq_avx512_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let z = _mm512_setzero_ps();
    let (mut s0, mut s1, mut s2, mut s3) = (z, z, z, z);
    let mut ca = a.chunks_exact(64);
    let mut cb = b.chunks_exact(64);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 64 elements, so offsets 0, 16, 32, 48 are in bounds.
        unsafe {
            let d0 = _mm512_sub_ps(ld16(x, 0), ld16(y, 0));
            let d1 = _mm512_sub_ps(ld16(x, 16), ld16(y, 16));
            let d2 = _mm512_sub_ps(ld16(x, 32), ld16(y, 32));
            let d3 = _mm512_sub_ps(ld16(x, 48), ld16(y, 48));
            s0 = _mm512_fmadd_ps(d0, d0, s0);
            s1 = _mm512_fmadd_ps(d1, d1, s1);
            s2 = _mm512_fmadd_ps(d2, d2, s2);
            s3 = _mm512_fmadd_ps(d3, d3, s3);
        }
    }
    let mut ca = ca.remainder().chunks_exact(16);
    let mut cb = cb.remainder().chunks_exact(16);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 16 elements.
        let d = unsafe { _mm512_sub_ps(ld16(x, 0), ld16(y, 0)) };
        s0 = _mm512_fmadd_ps(d, d, s0);
    }
    let (ra, rb) = (ca.remainder(), cb.remainder());
    if !ra.is_empty() {
        // Masked-off lanes are 0 in both, so they contribute (0-0)² = 0.
        let d = _mm512_sub_ps(load_tail512(ra), load_tail512(rb));
        s1 = _mm512_fmadd_ps(d, d, s1);
    }
    _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)))
}

#[target_feature(enable = "avx512f")]
fn cosine_avx512_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let z = _mm512_setzero_ps();
    let (mut ab0, mut ab1, mut ab2, mut ab3) = (z, z, z, z);
    let (mut aa0, mut aa1, mut aa2, mut aa3) = (z, z, z, z);
    let (mut bb0, mut bb1, mut bb2, mut bb3) = (z, z, z, z);
    let mut ca = a.chunks_exact(64);
    let mut cb = b.chunks_exact(64);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 64 elements, so offsets 0, 16, 32, 48 are in bounds.
        let (x0, x1, x2, x3, y0, y1, y2, y3) = unsafe {
            (
                ld16(x, 0),
                ld16(x, 16),
                ld16(x, 32),
                ld16(x, 48),
                ld16(y, 0),
                ld16(y, 16),
                ld16(y, 32),
                ld16(y, 48),
            )
        };
        ab0 = _mm512_fmadd_ps(x0, y0, ab0);
        aa0 = _mm512_fmadd_ps(x0, x0, aa0);
        bb0 = _mm512_fmadd_ps(y0, y0, bb0);
        ab1 = _mm512_fmadd_ps(x1, y1, ab1);
        aa1 = _mm512_fmadd_ps(x1, x1, aa1);
        bb1 = _mm512_fmadd_ps(y1, y1, bb1);
        ab2 = _mm512_fmadd_ps(x2, y2, ab2);
        aa2 = _mm512_fmadd_ps(x2, x2, aa2);
        bb2 = _mm512_fmadd_ps(y2, y2, bb2);
        ab3 = _mm512_fmadd_ps(x3, y3, ab3);
        aa3 = _mm512_fmadd_ps(x3, x3, aa3);
        bb3 = _mm512_fmadd_ps(y3, y3, bb3);
    }
    let mut ca = ca.remainder().chunks_exact(16);
    let mut cb = cb.remainder().chunks_exact(16);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 16 elements.
        let (x0, y0) = unsafe { (ld16(x, 0), ld16(y, 0)) };
        ab0 = _mm512_fmadd_ps(x0, y0, ab0);
        aa0 = _mm512_fmadd_ps(x0, x0, aa0);
        bb0 = _mm512_fmadd_ps(y0, y0, bb0);
    }
    let (ra, rb) = (ca.remainder(), cb.remainder());
    if !ra.is_empty() {
        let (x0, y0) = (load_tail512(ra), load_tail512(rb));
        ab1 = _mm512_fmadd_ps(x0, y0, ab1);
        aa1 = _mm512_fmadd_ps(x0, x0, aa1);
        bb1 = _mm512_fmadd_ps(y0, y0, bb1);
    }
    let ab = _mm512_reduce_add_ps(_mm512_add_ps(
        _mm512_add_ps(ab0, ab1),
        _mm512_add_ps(ab2, ab3),
    ));
    let aa = _mm512_reduce_add_ps(_mm512_add_ps(
        _mm512_add_ps(aa0, aa1),
        _mm512_add_ps(aa2, aa3),
    ));
    let bb = _mm512_reduce_add_ps(_mm512_add_ps(
        _mm512_add_ps(bb0, bb1),
        _mm512_add_ps(bb2, bb3),
    ));
    cosine_from_parts(f64::from(ab), f64::from(aa), f64::from(bb))
}
