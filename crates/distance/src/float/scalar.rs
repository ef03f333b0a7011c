//! Portable reference kernels.
//!
//! These are the oracle that every SIMD path is tested against, and the
//! fallback used when no SIMD ISA is available (or `QUIVER_FORCE_ISA=scalar`).
//! They are deliberately plain: one loop, products and sums in `f64` (the
//! product of two `f32`s is exact in `f64`), one rounding to `f32` at the end.
//! Like every kernel in this crate they use `n = min(a.len(), b.len())`.

/// Dot product `Σ a[i]·b[i]` over the first `min(a.len(), b.len())` elements.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sum = 0.0f64;
    for (&x, &y) in a.iter().zip(b) {
        sum += f64::from(x) * f64::from(y);
    }
    sum as f32
}

/// Squared Euclidean distance `Σ (a[i]-b[i])²` over the first `min(a.len(), b.len())` elements.
pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    let mut sum = 0.0f64;
    for (&x, &y) in a.iter().zip(b) {
        let d = f64::from(x) - f64::from(y);
        sum += d * d;
    }
    sum as f32
}

/// Cosine distance `1 - cos(a, b)` over the first `min(a.len(), b.len())` elements,
/// computed in one pass; `1.0` if either vector has zero norm.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    cosine_from_parts(ab, aa, bb)
}

/// Shared epilogue of every cosine kernel: turns `(a·b, |a|², |b|²)` into
/// `1 - cos`, clamping `cos` to `[-1, 1]` so the result lies in `[0, 2]`.
/// Done in `f64` so `|a|²·|b|²` cannot overflow or underflow.
#[inline]
pub(crate) fn cosine_from_parts(ab: f64, aa: f64, bb: f64) -> f32 {
    if aa == 0.0 || bb == 0.0 {
        return 1.0;
    }
    let cos = (ab / (aa * bb).sqrt()).clamp(-1.0, 1.0);
    (1.0 - cos) as f32
}
