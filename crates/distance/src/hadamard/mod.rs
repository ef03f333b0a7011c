//! Fast Walsh–Hadamard transform, the kernel behind `quiver_quant`'s random rotations.
//!
//! [`fwht`] transforms a power-of-two-length slice in place (unnormalised: applying it twice
//! multiplies by the length). There is one portable body, [`fwht_scalar`], which is also the
//! test oracle; the x86 variant is the same body compiled with AVX2 enabled, which lets the
//! compiler vectorise its contiguous butterfly loops 8 lanes wide.
//!
//! # Dispatch
//!
//! [`fwht`] uses the variant picked once per process by the crate-wide policy of
//! [`crate::isa`] (`QUIVER_FORCE_ISA=scalar` runs the portable build). [`fwht_for`] gives the
//! variant of one level.
//!
//! # Numerics
//!
//! Every variant performs the same additions and subtractions in the same order (the
//! compiler vectorises across independent butterflies and never reassociates floating-point
//! sums), so all variants return **bit-identical** results.

use crate::isa::{base_only, Family, Isa, Variant};

#[cfg(target_arch = "x86_64")]
mod x86;

/// Signature of an in-place transform.
pub type FwhtFn = fn(&mut [f32]);

/// The portable transform (the oracle). Lengths that are not a power of two are left
/// unchanged.
pub fn fwht_scalar(x: &mut [f32]) {
    if !x.len().is_power_of_two() {
        return;
    }
    fwht_body(x);
}

const SCALAR: Variant<FwhtFn> = Variant {
    level: Isa::Scalar,
    name: "scalar",
    needs: base_only,
    table: fwht_scalar,
};

/// Every variant, best first, ending with the scalar oracle.
static VARIANTS: &[Variant<FwhtFn>] = &[
    #[cfg(target_arch = "x86_64")]
    Variant {
        level: Isa::Avx2,
        name: "avx2",
        needs: base_only,
        table: x86::fwht_avx2,
    },
    SCALAR,
];

/// The transform for `isa`, or `None` if this CPU cannot run that level.
pub fn fwht_for(isa: Isa) -> Option<FwhtFn> {
    FAMILY.for_level(isa).copied()
}

static FAMILY: Family<FwhtFn> = Family::new(VARIANTS, &SCALAR);

pub(crate) fn chosen_variant() -> &'static Variant<FwhtFn> {
    FAMILY.chosen()
}

/// In-place unnormalised fast Walsh–Hadamard transform with the process-wide variant.
/// `x.len()` must be a power of two (other lengths are left unchanged).
#[inline]
pub fn fwht(x: &mut [f32]) {
    (chosen_variant().table)(x)
}

/// The transform: stages `h = 1, 2, 4` fused per 8-element chunk, then one pass per larger
/// stage with contiguous inner loops (which vectorise).
#[inline(always)]
pub(crate) fn fwht_body(x: &mut [f32]) {
    let n = x.len();
    if n < 8 {
        let mut h = 1;
        while h < n {
            for block in x.chunks_exact_mut(2 * h) {
                let (lo, hi) = block.split_at_mut(h);
                butterfly(lo, hi);
            }
            h *= 2;
        }
        return;
    }
    for c in x.chunks_exact_mut(8) {
        let a0 = c[0] + c[1];
        let a1 = c[0] - c[1];
        let a2 = c[2] + c[3];
        let a3 = c[2] - c[3];
        let a4 = c[4] + c[5];
        let a5 = c[4] - c[5];
        let a6 = c[6] + c[7];
        let a7 = c[6] - c[7];
        let b0 = a0 + a2;
        let b1 = a1 + a3;
        let b2 = a0 - a2;
        let b3 = a1 - a3;
        let b4 = a4 + a6;
        let b5 = a5 + a7;
        let b6 = a4 - a6;
        let b7 = a5 - a7;
        c[0] = b0 + b4;
        c[1] = b1 + b5;
        c[2] = b2 + b6;
        c[3] = b3 + b7;
        c[4] = b0 - b4;
        c[5] = b1 - b5;
        c[6] = b2 - b6;
        c[7] = b3 - b7;
    }
    let mut h = 8;
    while h < n {
        for block in x.chunks_exact_mut(2 * h) {
            let (lo, hi) = block.split_at_mut(h);
            butterfly(lo, hi);
        }
        h *= 2;
    }
}

/// `(a, b) ← (a + b, a − b)` element-wise.
#[inline(always)]
fn butterfly(lo: &mut [f32], hi: &mut [f32]) {
    for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
        let (s, d) = (*a + *b, *a - *b);
        *a = s;
        *b = d;
    }
}
