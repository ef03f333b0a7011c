//! Dense f32 kernels: dot product, squared L2 and cosine.
//!
//! # Variants and dispatch
//!
//! A [`Kernels`] value is a table of plain function pointers for one level:
//!
//! * `scalar` — [`scalar`], the test oracle: one loop, `f64` accumulation, one rounding;
//! * `avx2` — x86_64 AVX2 + FMA ([`x86`](self)), 4×8-lane accumulators, masked tail;
//! * `avx512` — x86_64 AVX-512F, 4×16-lane accumulators, masked tail;
//! * `neon` — aarch64 NEON, 4×4-lane accumulators.
//!
//! [`kernels`] is the table for the process-wide level ([`crate::isa::chosen`]),
//! picked once; [`kernels_for`] gives the table of one level, following the crate-wide
//! policy in [`crate::isa`].
//!
//! # Numerics
//!
//! The scalar oracle accumulates in `f64` and rounds once. The SIMD kernels accumulate in
//! `f32`: 4 independent vector accumulators of fused multiply-adds over blocks of `4·L`
//! elements (`L` = 16 lanes for AVX-512, 8 for AVX2, 4 for NEON), then one vector at a time
//! into accumulator 0, then a zero-filled tail into accumulator 1; the accumulators are
//! combined as `(s0 + s1) + (s2 + s3)` and summed across lanes. Results are deterministic per
//! variant but **not** bit-identical across variants: each differs from the oracle by
//! rounding only, about `(n / (4·L) + log2(4·L)) · 2⁻²⁴ · Σ|a[i]·b[i]|` for `dot` (likewise
//! for the squared terms of `l2sq` and `cosine`), which the tests check with a relative
//! tolerance. `cosine` combines its three sums in `f64` ([`scalar::cosine_from_parts`]).

use crate::isa::{base_only, Family, Isa, Variant};

pub mod scalar;

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(target_arch = "aarch64")]
mod neon;

/// A table of kernels for one ISA.
///
/// Every function is safe to call with any slices: it uses
/// `n = min(a.len(), b.len())` and never reads out of bounds.
///
/// Obtain one from [`kernels`] or [`kernels_for`]; it cannot be built by
/// hand outside this crate, which is what guarantees that a SIMD table only
/// exists on a CPU that can run it.
#[derive(Clone, Copy, Debug)]
pub struct Kernels {
    /// The instruction set these kernels use.
    pub isa: Isa,
    /// `Σ a[i]·b[i]`.
    pub dot: fn(&[f32], &[f32]) -> f32,
    /// `Σ (a[i]-b[i])²`.
    pub l2sq: fn(&[f32], &[f32]) -> f32,
    /// `1 - cos(a, b)` computed in one pass (dot, |a|², |b|²); returns 1.0 if either norm is 0.
    pub cosine: fn(&[f32], &[f32]) -> f32,
    /// `1 - Σ a[i]·b[i]`, returned by [`Kernels::distance_fn`] for `Ip`/`Cosine`.
    pub(crate) one_minus_dot: fn(&[f32], &[f32]) -> f32,
}

impl Kernels {
    /// Distance in the library convention: `L2` → `l2sq`, `Ip` → `1 - dot`,
    /// `Cosine` → `cosine` (full cosine, no normalisation assumed).
    #[inline]
    pub fn distance(&self, metric: crate::Metric, a: &[f32], b: &[f32]) -> f32 {
        use crate::Metric;
        match metric {
            Metric::L2 => (self.l2sq)(a, b),
            Metric::Ip => (self.one_minus_dot)(a, b),
            Metric::Cosine => (self.cosine)(a, b),
        }
    }

    /// The fastest function for `metric`, assuming that for `Cosine` the
    /// vectors were normalised beforehand (see [`crate::normalize`]), so cosine
    /// distance equals `1 - a·b`: `L2` → `l2sq`, `Ip`/`Cosine` → `1 - dot`.
    #[inline]
    pub fn distance_fn(&self, metric: crate::Metric) -> fn(&[f32], &[f32]) -> f32 {
        use crate::Metric;
        match metric {
            Metric::L2 => self.l2sq,
            Metric::Ip | Metric::Cosine => self.one_minus_dot,
        }
    }
}

fn scalar_one_minus_dot(a: &[f32], b: &[f32]) -> f32 {
    1.0 - scalar::dot(a, b)
}

const SCALAR: Variant<Kernels> = Variant {
    level: Isa::Scalar,
    name: "scalar",
    needs: base_only,
    table: Kernels {
        isa: Isa::Scalar,
        dot: scalar::dot,
        l2sq: scalar::l2sq,
        cosine: scalar::cosine,
        one_minus_dot: scalar_one_minus_dot,
    },
};

/// Every variant, best first, ending with the scalar oracle.
static VARIANTS: &[Variant<Kernels>] = &[
    #[cfg(target_arch = "x86_64")]
    x86::AVX512,
    #[cfg(target_arch = "x86_64")]
    x86::AVX2,
    #[cfg(target_arch = "aarch64")]
    neon::NEON,
    SCALAR,
];

/// Kernels for a specific ISA, or `None` if this CPU/build cannot run it.
pub fn kernels_for(isa: Isa) -> Option<Kernels> {
    FAMILY.for_level(isa).copied()
}

static FAMILY: Family<Kernels> = Family::new(VARIANTS, &SCALAR);

/// The variant used by [`kernels`].
pub(crate) fn chosen_variant() -> &'static Variant<Kernels> {
    FAMILY.chosen()
}

/// The process-wide kernels, chosen once: the best ISA the CPU supports,
/// unless `QUIVER_FORCE_ISA` names another one it can run (see the crate docs).
#[inline]
pub fn kernels() -> &'static Kernels {
    &chosen_variant().table
}
