//! aarch64 NEON kernels.
//!
//! NEON (Advanced SIMD) is mandatory on every aarch64 target Rust supports,
//! so there is no runtime detection: the table is always available. The
//! implementations still carry `#[target_feature(enable = "neon")]` so they
//! follow the same safe-wrapper pattern as the x86 kernels.
//!
//! Main loops use 4 independent 4-lane accumulators (16 floats per
//! iteration), then a 4-wide loop, then a scalar tail.

use core::arch::aarch64::*;

use super::scalar::cosine_from_parts;
use super::Kernels;
use crate::isa::{base_only, Isa, Variant};

/// The NEON table; [`crate::isa::select`] hands it out only where NEON was detected.
pub(super) const NEON: Variant<Kernels> = Variant {
    level: Isa::Neon,
    name: "neon",
    needs: base_only,
    table: Kernels {
        isa: Isa::Neon,
        dot: neon_dot,
        l2sq: neon_l2sq,
        cosine: neon_cosine,
        one_minus_dot: neon_one_minus_dot,
    },
};

fn neon_dot(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: only reachable through the `NEON` variant, which checked NEON support.
    unsafe { dot_neon_impl(a, b) }
}

fn neon_one_minus_dot(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: only reachable through the `NEON` variant, which checked NEON support.
    1.0 - unsafe { dot_neon_impl(a, b) }
}

fn neon_l2sq(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: only reachable through the `NEON` variant, which checked NEON support.
    unsafe { l2sq_neon_impl(a, b) }
}

fn neon_cosine(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: only reachable through the `NEON` variant, which checked NEON support.
    unsafe { cosine_neon_impl(a, b) }
}

/// Load of 4 floats starting at `s[off]`.
///
/// # Safety
/// `off + 4 <= s.len()`.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn ld4(s: &[f32], off: usize) -> float32x4_t {
    debug_assert!(off + 4 <= s.len());
    // SAFETY: the caller guarantees `s[off..off + 4]` is in bounds;
    // `vld1q_f32` has no alignment requirement beyond that of f32.
    unsafe { vld1q_f32(s.as_ptr().add(off)) }
}

#[target_feature(enable = "neon")]
fn dot_neon_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let z = vdupq_n_f32(0.0);
    let (mut s0, mut s1, mut s2, mut s3) = (z, z, z, z);
    let mut ca = a.chunks_exact(16);
    let mut cb = b.chunks_exact(16);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 16 elements, so offsets 0, 4, 8, 12 are in bounds.
        unsafe {
            s0 = vfmaq_f32(s0, ld4(x, 0), ld4(y, 0));
            s1 = vfmaq_f32(s1, ld4(x, 4), ld4(y, 4));
            s2 = vfmaq_f32(s2, ld4(x, 8), ld4(y, 8));
            s3 = vfmaq_f32(s3, ld4(x, 12), ld4(y, 12));
        }
    }
    let mut ca = ca.remainder().chunks_exact(4);
    let mut cb = cb.remainder().chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 4 elements.
        unsafe {
            s0 = vfmaq_f32(s0, ld4(x, 0), ld4(y, 0));
        }
    }
    let mut sum = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        sum += x * y;
    }
    sum
}

#[target_feature(enable = "neon")]
fn l2sq_neon_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let z = vdupq_n_f32(0.0);
    let (mut s0, mut s1, mut s2, mut s3) = (z, z, z, z);
    let mut ca = a.chunks_exact(16);
    let mut cb = b.chunks_exact(16);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 16 elements, so offsets 0, 4, 8, 12 are in bounds.
        unsafe {
            let d0 = vsubq_f32(ld4(x, 0), ld4(y, 0));
            let d1 = vsubq_f32(ld4(x, 4), ld4(y, 4));
            let d2 = vsubq_f32(ld4(x, 8), ld4(y, 8));
            let d3 = vsubq_f32(ld4(x, 12), ld4(y, 12));
            s0 = vfmaq_f32(s0, d0, d0);
            s1 = vfmaq_f32(s1, d1, d1);
            s2 = vfmaq_f32(s2, d2, d2);
            s3 = vfmaq_f32(s3, d3, d3);
        }
    }
    let mut ca = ca.remainder().chunks_exact(4);
    let mut cb = cb.remainder().chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 4 elements.
        unsafe {
            let d = vsubq_f32(ld4(x, 0), ld4(y, 0));
            s0 = vfmaq_f32(s0, d, d);
        }
    }
    let mut sum = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        let d = x - y;
        sum += d * d;
    }
    sum
}

#[target_feature(enable = "neon")]
fn cosine_neon_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let z = vdupq_n_f32(0.0);
    let (mut ab0, mut ab1, mut ab2, mut ab3) = (z, z, z, z);
    let (mut aa0, mut aa1, mut aa2, mut aa3) = (z, z, z, z);
    let (mut bb0, mut bb1, mut bb2, mut bb3) = (z, z, z, z);
    let mut ca = a.chunks_exact(16);
    let mut cb = b.chunks_exact(16);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 16 elements, so offsets 0, 4, 8, 12 are in bounds.
        let (x0, x1, x2, x3, y0, y1, y2, y3) = unsafe {
            (
                ld4(x, 0),
                ld4(x, 4),
                ld4(x, 8),
                ld4(x, 12),
                ld4(y, 0),
                ld4(y, 4),
                ld4(y, 8),
                ld4(y, 12),
            )
        };
        ab0 = vfmaq_f32(ab0, x0, y0);
        aa0 = vfmaq_f32(aa0, x0, x0);
        bb0 = vfmaq_f32(bb0, y0, y0);
        ab1 = vfmaq_f32(ab1, x1, y1);
        aa1 = vfmaq_f32(aa1, x1, x1);
        bb1 = vfmaq_f32(bb1, y1, y1);
        ab2 = vfmaq_f32(ab2, x2, y2);
        aa2 = vfmaq_f32(aa2, x2, x2);
        bb2 = vfmaq_f32(bb2, y2, y2);
        ab3 = vfmaq_f32(ab3, x3, y3);
        aa3 = vfmaq_f32(aa3, x3, x3);
        bb3 = vfmaq_f32(bb3, y3, y3);
    }
    let mut ca = ca.remainder().chunks_exact(4);
    let mut cb = cb.remainder().chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 4 elements.
        let (x0, y0) = unsafe { (ld4(x, 0), ld4(y, 0)) };
        ab0 = vfmaq_f32(ab0, x0, y0);
        aa0 = vfmaq_f32(aa0, x0, x0);
        bb0 = vfmaq_f32(bb0, y0, y0);
    }
    let mut ab = vaddvq_f32(vaddq_f32(vaddq_f32(ab0, ab1), vaddq_f32(ab2, ab3)));
    let mut aa = vaddvq_f32(vaddq_f32(vaddq_f32(aa0, aa1), vaddq_f32(aa2, aa3)));
    let mut bb = vaddvq_f32(vaddq_f32(vaddq_f32(bb0, bb1), vaddq_f32(bb2, bb3)));
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    cosine_from_parts(f64::from(ab), f64::from(aa), f64::from(bb))
}
