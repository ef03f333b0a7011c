//! x86_64 kernels: AVX2+FMA and AVX-512F.
//!
//! The three kernels (`dot`, `l2sq`, `cosine`) are written once, in the [`kernels!`] macro,
//! over a lane width (`crate::lanes::Lanes`: `L512` = 16 f32 lanes, `L256` = 8). The macro
//! stamps them into one module per ISA whose functions carry that ISA's `#[target_feature]`,
//! so the lane type's `#[inline]` leaf functions inline into them. Each module also holds
//! the plain safe wrappers that go into the [`AVX2`] / [`AVX512`] variants; those are only
//! handed out by [`crate::isa::select`] after detection confirmed the CPU supports the
//! features, which is the single invariant that makes the wrappers sound.
//!
//! Main loops use 4 independent accumulators (AVX2: 4×8 = 32 floats per iteration,
//! AVX-512: 4×16 = 64) to hide FMA latency, then a single-vector loop into accumulator 0,
//! then a masked tail into accumulator 1, so no element is ever read out of bounds; the
//! accumulators are combined as `(s0 + s1) + (s2 + s3)` and summed horizontally.

use super::scalar::cosine_from_parts;
use super::Kernels;
use crate::isa::{base_only, Isa, Variant};
use crate::lanes::{Lanes, L256, L512};

/// The AVX2+FMA table; [`crate::isa::select`] hands it out only on a CPU with AVX2 and FMA.
pub(super) const AVX2: Variant<Kernels> = Variant {
    level: Isa::Avx2,
    name: "avx2",
    needs: base_only,
    table: Kernels {
        isa: Isa::Avx2,
        dot: avx2::dot,
        l2sq: avx2::l2sq,
        cosine: avx2::cosine,
        one_minus_dot: avx2::one_minus_dot,
    },
};

/// The AVX-512F table; handed out only on a CPU with AVX-512F (and AVX2+FMA).
pub(super) const AVX512: Variant<Kernels> = Variant {
    level: Isa::Avx512,
    name: "avx512",
    needs: base_only,
    table: Kernels {
        isa: Isa::Avx512,
        dot: avx512::dot,
        l2sq: avx512::l2sq,
        cosine: avx512::cosine,
        one_minus_dot: avx512::one_minus_dot,
    },
};

/// Stamps `dot`, `l2sq` and `cosine` for one ISA: `$m` is the module name, `$feat` the
/// `#[target_feature]` list and `$L` the lane type.
macro_rules! kernels {
    ($m:ident, $feat:tt, $L:ty) => {
        mod $m {
            use super::*;

            type V = <$L as Lanes>::V;
            const W: usize = <$L as Lanes>::W;

            /// Loads `W` floats at `s[off..]`.
            ///
            /// # Safety
            /// Features available; `off + W <= s.len()`.
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn ld(s: &[f32], off: usize) -> V {
                debug_assert!(off + W <= s.len());
                // SAFETY: the caller guarantees `s[off..off + W]` is in bounds.
                unsafe { <$L>::loadu(s.as_ptr().add(off)) }
            }

            /// Loads all of `s` (`s.len() < W`) into the low lanes, zeroing the rest.
            #[inline]
            #[target_feature(enable = $feat)]
            fn tail(s: &[f32]) -> V {
                debug_assert!(s.len() < W);
                // SAFETY: features enabled here; exactly `s.len() < W` floats are readable.
                unsafe { <$L>::load_tail(s.as_ptr(), s.len()) }
            }

            /// `(s0 + s1) + (s2 + s3)`, summed across lanes.
            #[inline]
            #[target_feature(enable = $feat)]
            fn total(s: [V; 4]) -> f32 {
                // SAFETY: register-only arithmetic; features enabled here.
                unsafe { <$L>::hsum(<$L>::add(<$L>::add(s[0], s[1]), <$L>::add(s[2], s[3]))) }
            }

            #[target_feature(enable = $feat)]
            fn dot_impl(a: &[f32], b: &[f32]) -> f32 {
                let n = a.len().min(b.len());
                let (a, b) = (&a[..n], &b[..n]);
                // SAFETY: register-only arithmetic; features enabled here.
                let z = unsafe { <$L>::zero() };
                let mut s = [z; 4];
                let mut ca = a.chunks_exact(4 * W);
                let mut cb = b.chunks_exact(4 * W);
                for (x, y) in (&mut ca).zip(&mut cb) {
                    for (k, acc) in s.iter_mut().enumerate() {
                        // SAFETY: `x` and `y` have exactly `4·W` elements, so `k·W + W` is in
                        // bounds.
                        *acc = unsafe { <$L>::fmadd(ld(x, k * W), ld(y, k * W), *acc) };
                    }
                }
                let mut ca = ca.remainder().chunks_exact(W);
                let mut cb = cb.remainder().chunks_exact(W);
                for (x, y) in (&mut ca).zip(&mut cb) {
                    // SAFETY: `x` and `y` have exactly `W` elements.
                    s[0] = unsafe { <$L>::fmadd(ld(x, 0), ld(y, 0), s[0]) };
                }
                let (ra, rb) = (ca.remainder(), cb.remainder());
                if !ra.is_empty() {
                    // SAFETY: register-only arithmetic; features enabled here.
                    s[1] = unsafe { <$L>::fmadd(tail(ra), tail(rb), s[1]) };
                }
                total(s)
            }

            #[target_feature(enable = $feat)]
            fn l2sq_impl(a: &[f32], b: &[f32]) -> f32 {
                let n = a.len().min(b.len());
                let (a, b) = (&a[..n], &b[..n]);
                // SAFETY: register-only arithmetic; features enabled here.
                let z = unsafe { <$L>::zero() };
                let mut s = [z; 4];
                let mut ca = a.chunks_exact(4 * W);
                let mut cb = b.chunks_exact(4 * W);
                for (x, y) in (&mut ca).zip(&mut cb) {
                    for (k, acc) in s.iter_mut().enumerate() {
                        // SAFETY: `x` and `y` have exactly `4·W` elements, so `k·W + W` is in
                        // bounds.
                        *acc = unsafe {
                            let d = <$L>::sub(ld(x, k * W), ld(y, k * W));
                            <$L>::fmadd(d, d, *acc)
                        };
                    }
                }
                let mut ca = ca.remainder().chunks_exact(W);
                let mut cb = cb.remainder().chunks_exact(W);
                for (x, y) in (&mut ca).zip(&mut cb) {
                    // SAFETY: `x` and `y` have exactly `W` elements.
                    let d = unsafe { <$L>::sub(ld(x, 0), ld(y, 0)) };
                    // SAFETY: register-only arithmetic; features enabled here.
                    s[0] = unsafe { <$L>::fmadd(d, d, s[0]) };
                }
                let (ra, rb) = (ca.remainder(), cb.remainder());
                if !ra.is_empty() {
                    // Masked-off lanes are 0 in both, so they contribute (0-0)² = 0.
                    // SAFETY: register-only arithmetic; features enabled here.
                    s[1] = unsafe {
                        let d = <$L>::sub(tail(ra), tail(rb));
                        <$L>::fmadd(d, d, s[1])
                    };
                }
                total(s)
            }

            #[target_feature(enable = $feat)]
            fn cosine_impl(a: &[f32], b: &[f32]) -> f32 {
                let n = a.len().min(b.len());
                let (a, b) = (&a[..n], &b[..n]);
                // SAFETY: register-only arithmetic; features enabled here.
                let z = unsafe { <$L>::zero() };
                // Accumulators: ab = a·b, aa = |a|², bb = |b|²; 4 of each.
                let (mut ab, mut aa, mut bb) = ([z; 4], [z; 4], [z; 4]);
                // One step of all three sums into accumulator `k`.
                macro_rules! step {
                    ($k:expr, $x:expr, $y:expr) => {{
                        let (k, x, y) = ($k, $x, $y);
                        // SAFETY: register-only arithmetic; features enabled here.
                        unsafe {
                            ab[k] = <$L>::fmadd(x, y, ab[k]);
                            aa[k] = <$L>::fmadd(x, x, aa[k]);
                            bb[k] = <$L>::fmadd(y, y, bb[k]);
                        }
                    }};
                }
                let mut ca = a.chunks_exact(4 * W);
                let mut cb = b.chunks_exact(4 * W);
                for (x, y) in (&mut ca).zip(&mut cb) {
                    for k in 0..4 {
                        // SAFETY: `x` and `y` have exactly `4·W` elements, so `k·W + W` is in
                        // bounds.
                        let (xk, yk) = unsafe { (ld(x, k * W), ld(y, k * W)) };
                        step!(k, xk, yk);
                    }
                }
                let mut ca = ca.remainder().chunks_exact(W);
                let mut cb = cb.remainder().chunks_exact(W);
                for (x, y) in (&mut ca).zip(&mut cb) {
                    // SAFETY: `x` and `y` have exactly `W` elements.
                    let (x0, y0) = unsafe { (ld(x, 0), ld(y, 0)) };
                    step!(0, x0, y0);
                }
                let (ra, rb) = (ca.remainder(), cb.remainder());
                if !ra.is_empty() {
                    step!(1, tail(ra), tail(rb));
                }
                let (ab, aa, bb) = (total(ab), total(aa), total(bb));
                cosine_from_parts(f64::from(ab), f64::from(aa), f64::from(bb))
            }

            // Safe wrappers: only ever stored in this ISA's variant, which
            // `crate::isa::select` hands out only where its features were detected.

            pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
                // SAFETY: reachable only through this ISA's variant (features detected).
                unsafe { dot_impl(a, b) }
            }

            pub(super) fn one_minus_dot(a: &[f32], b: &[f32]) -> f32 {
                // SAFETY: reachable only through this ISA's variant (features detected).
                1.0 - unsafe { dot_impl(a, b) }
            }

            pub(super) fn l2sq(a: &[f32], b: &[f32]) -> f32 {
                // SAFETY: reachable only through this ISA's variant (features detected).
                unsafe { l2sq_impl(a, b) }
            }

            pub(super) fn cosine(a: &[f32], b: &[f32]) -> f32 {
                // SAFETY: reachable only through this ISA's variant (features detected).
                unsafe { cosine_impl(a, b) }
            }
        }
    };
}

kernels!(avx512, "avx512f", L512);
kernels!(avx2, "avx2,fma", L256);
