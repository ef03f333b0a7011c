//! Asymmetric f32 × u8 dot product: the kernel behind sq8 (scalar-quantized) codes.
//!
//! An sq8 code stores `c[i] ∈ 0..=255` with `x[i] ≈ lo[i] + s[i]·c[i]`. Both the inner product
//! and the squared L2 distance to a query reduce to one `Σ a[i]·c[i]` with a per-query `a`
//! (see `quiver_quant::sq8`), so this one kernel serves every metric. The u8 codes are widened
//! to f32 in registers (16 per AVX-512 step, 8 per AVX2 step): the code arena is 4× smaller
//! than f32 rows, which is what matters for cache-bound graph traversal.
//!
//! # Dispatch
//!
//! Two kernels, each with its own variant list under the crate-wide policy
//! ([`crate::isa`]): [`dot_u8`] (`avx512`, `avx2`, `scalar`) and [`dot_u8_i8`]
//! (`avx512-vnni` = AVX-512 `vpdpbusd`, `avx2` = `vpmaddubsw` + `vpmaddwd`, `scalar`). With
//! AVX-512 chosen on a CPU without VNNI, [`dot_u8_i8`] runs the AVX2 kernel.
//!
//! # Numerics
//!
//! * `dot_u8`: the scalar oracle keeps 4 f32 partial sums (summed pairwise, then the tail);
//!   the SIMD kernels keep 2 vector accumulators of fused multiply-adds (16 or 8 lanes),
//!   reduced across lanes, then add the tail. Results differ from the oracle by rounding only:
//!   at most about `(n / lanes + log2(lanes)) · 2⁻²⁴ · Σ|a[i]·c[i]|`; the tests use a relative
//!   tolerance.
//! * `dot_u8_i8`: exact i32 arithmetic in every variant, so results are **bit-identical**,
//!   provided the query stays within ±[`I8_QUERY_MAX`] (the AVX2 kernel's pairwise i16 sums
//!   saturate beyond it) and `n·255·63 < 2³¹`.

use crate::isa::{base_only, CpuFeatures, Family, Isa, Variant};

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

/// Signature of the f32 × u8 dot kernel.
pub type DotU8 = fn(&[f32], &[u8]) -> f32;

/// AVX-512 VNNI with BW (masked byte loads).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn vnni(c: &CpuFeatures) -> bool {
    c.avx512bw && c.avx512vnni
}

const SCALAR_I8: Variant<DotU8I8> = Variant {
    level: Isa::Scalar,
    name: "scalar",
    needs: base_only,
    table: dot_u8_i8_scalar,
};

/// u8 × i8 variants, best first.
static VARIANTS_I8: &[Variant<DotU8I8>] = &[
    #[cfg(target_arch = "x86_64")]
    Variant {
        level: Isa::Avx512,
        name: "avx512-vnni",
        needs: vnni,
        table: x86::vnni_dot_u8_i8,
    },
    #[cfg(target_arch = "x86_64")]
    Variant {
        level: Isa::Avx2,
        name: "avx2",
        needs: base_only,
        table: x86::avx2_dot_u8_i8,
    },
    SCALAR_I8,
];

const SCALAR_U8: Variant<DotU8> = Variant {
    level: Isa::Scalar,
    name: "scalar",
    needs: base_only,
    table: dot_u8_scalar,
};

/// f32 × u8 variants, best first.
static VARIANTS_U8: &[Variant<DotU8>] = &[
    #[cfg(target_arch = "x86_64")]
    Variant {
        level: Isa::Avx512,
        name: "avx512",
        needs: base_only,
        table: x86::avx512_dot_u8,
    },
    #[cfg(target_arch = "x86_64")]
    Variant {
        level: Isa::Avx2,
        name: "avx2",
        needs: base_only,
        table: x86::avx2_dot_u8,
    },
    SCALAR_U8,
];

/// The u8 × i8 integer dot kernel for `isa` (AVX-512 uses VNNI `vpdpbusd` when the CPU has it,
/// else the AVX2 kernel), or `None` if this CPU cannot run `isa`.
pub fn dot_u8_i8_for(isa: Isa) -> Option<DotU8I8> {
    FAMILY_I8.for_level(isa).copied()
}

static FAMILY_I8: Family<DotU8I8> = Family::new(VARIANTS_I8, &SCALAR_I8);

pub(crate) fn chosen_dot_u8_i8() -> &'static Variant<DotU8I8> {
    FAMILY_I8.chosen()
}

/// The process-wide u8 × i8 kernel (for the level of [`crate::kernels`]).
#[inline]
pub fn dot_u8_i8() -> DotU8I8 {
    chosen_dot_u8_i8().table
}

/// The f32 × u8 dot kernel for `isa`, or `None` if this CPU cannot run it.
pub fn dot_u8_for(isa: Isa) -> Option<DotU8> {
    FAMILY_U8.for_level(isa).copied()
}

static FAMILY_U8: Family<DotU8> = Family::new(VARIANTS_U8, &SCALAR_U8);

pub(crate) fn chosen_dot_u8() -> &'static Variant<DotU8> {
    FAMILY_U8.chosen()
}

/// The process-wide f32 × u8 dot kernel (for the level of [`crate::kernels`]).
#[inline]
pub fn dot_u8() -> DotU8 {
    chosen_dot_u8().table
}

#[cfg(target_arch = "x86_64")]
mod x86;
