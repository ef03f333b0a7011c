//! Bit-vector kernels for binary and RaBitQ codes: Hamming distance, popcount and the
//! weighted AND-popcount over query bit planes used for asymmetric (multi-bit query ×
//! 1-bit code) scoring.
//!
//! # Layout
//!
//! Bit vectors are slices of `u64` words; bit `i` of a vector is bit `i % 64` of word
//! `i / 64`. Every kernel works on the first `min(...)` words it is given and never reads out
//! of bounds.
//!
//! [`and_popcount_planes`] takes a query quantised to `bits` unsigned levels per dimension,
//! stored **plane-major**: plane `j` (the `j`-th bit of every level) occupies words
//! `planes[j·W .. (j+1)·W]`, where `W = code.len()`. It returns
//! `Σ_j 2^j · popcount(plane_j & code)` which equals `Σ_{i : code bit i set} level_i`.
//!
//! # Dispatch
//!
//! [`BitKernels`] is a table of function pointers for one [`Isa`]:
//!
//! * [`Isa::Avx512`] — AVX-512F + VPOPCNTDQ (`vpopcntq` on 8 words at a time, masked tails);
//! * [`Isa::Avx2`] — AVX2 + POPCNT (the `vpshufb` nibble-lookup popcount summed with
//!   `vpsadbw`, `popcnt` on tail words);
//! * [`Isa::Scalar`] — `u64::count_ones` loops: the test oracle and the fallback everywhere
//!   else (aarch64 compiles `count_ones` to `cnt`, so it has no separate NEON table).
//!
//! [`bit_kernels`] picks a table once per process with the crate-wide policy of [`crate::isa`]:
//! the best table at or below the process-wide level, so `QUIVER_FORCE_ISA=scalar|avx2|avx512`
//! applies here too. An AVX-512 CPU without VPOPCNTDQ gets the AVX2 table.
//!
//! # Numerics
//!
//! Every result is an exact integer count, so all tables return identical results.
//!
//! # Measured speed
//!
//! `cargo run --release -p quiver-distance --example bits_speed` on the shared 2-vCPU
//! Sapphire Rapids-class guest described in the crate docs, through the function pointer,
//! operands in L1, best of 5 inner runs; the guest was loaded by other builds (load average
//! ≈ 5), so the ranges below are the spread over 7 process runs and quiet-machine figures are
//! at the low end:
//!
//! ```text
//! isa      ns per 768-bit hamming   ns per 4-plane × 768-bit and_popcount_planes
//! avx512        3.3 – 8.6                    8.7 – 19.9
//! avx2          3.9 – 7.4                   14.6 – 26.4
//! scalar        9.0 – 16.9                  42.3 – 66.9
//! ```

use crate::isa::{base_only, Family, Isa, Variant};

#[cfg(target_arch = "x86_64")]
mod x86;

/// Largest plane count [`and_popcount_planes`] honours (weights up to `2^31`).
pub const MAX_PLANES: usize = 32;

/// A table of bit kernels for one ISA. Obtain one from [`bit_kernels`] or
/// [`bit_kernels_for`]; it cannot be built outside this crate, so a SIMD table only exists on
/// a CPU that can run it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct BitKernels {
    /// The instruction set these kernels use.
    pub isa: Isa,
    /// `Σ popcount(a[w] ^ b[w])` over the first `min(a.len(), b.len())` words.
    pub hamming: fn(&[u64], &[u64]) -> u32,
    /// `Σ popcount(a[w])`.
    pub popcount: fn(&[u64]) -> u32,
    /// `Σ_j 2^j · popcount(plane_j & code)`; see [`and_popcount_planes`].
    pub and_popcount_planes: fn(&[u64], usize, &[u64]) -> u64,
}

/// Scalar Hamming distance: the oracle.
pub fn hamming_scalar(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(&x, &y)| (x ^ y).count_ones()).sum()
}

/// Scalar popcount: the oracle.
pub fn popcount_scalar(a: &[u64]) -> u32 {
    a.iter().map(|x| x.count_ones()).sum()
}

/// Number of planes actually used: `min(bits, MAX_PLANES, planes.len() / code.len())`
/// (0 when `code` is empty).
#[inline]
pub(crate) fn planes_used(planes: &[u64], bits: usize, code: &[u64]) -> usize {
    if code.is_empty() {
        0
    } else {
        bits.min(MAX_PLANES).min(planes.len() / code.len())
    }
}

/// Scalar weighted AND-popcount over bit planes: the oracle. See [`and_popcount_planes`].
pub fn and_popcount_planes_scalar(planes: &[u64], bits: usize, code: &[u64]) -> u64 {
    let w = code.len();
    let nb = planes_used(planes, bits, code);
    let mut total = 0u64;
    for j in 0..nb {
        let plane = &planes[j * w..(j + 1) * w];
        let c: u64 = plane
            .iter()
            .zip(code)
            .map(|(&p, &x)| u64::from((p & x).count_ones()))
            .sum();
        total += c << j;
    }
    total
}

const SCALAR: Variant<BitKernels> = Variant {
    level: Isa::Scalar,
    name: "scalar",
    needs: base_only,
    table: BitKernels {
        isa: Isa::Scalar,
        hamming: hamming_scalar,
        popcount: popcount_scalar,
        and_popcount_planes: and_popcount_planes_scalar,
    },
};

/// Every variant, best first, ending with the scalar oracle.
static VARIANTS: &[Variant<BitKernels>] = &[
    #[cfg(target_arch = "x86_64")]
    x86::AVX512,
    #[cfg(target_arch = "x86_64")]
    x86::AVX2,
    SCALAR,
];

/// Bit kernels for a specific ISA, or `None` if this CPU/build cannot run that level. Follows
/// the crate-wide policy ([`crate::isa`]): `Avx512` gives the AVX-512F + VPOPCNTDQ table, or the
/// AVX2 + POPCNT one on a CPU without VPOPCNTDQ; `Neon` is never offered (aarch64 compiles
/// `count_ones` to `cnt` and uses the scalar table).
pub fn bit_kernels_for(isa: Isa) -> Option<BitKernels> {
    if isa == Isa::Neon {
        return None;
    }
    FAMILY.for_level(isa).copied()
}

/// Bit ISAs this CPU can run with a table of exactly that level, best first (always ends
/// with [`Isa::Scalar`]).
pub fn available_bit_isas() -> Vec<Isa> {
    [Isa::Avx512, Isa::Avx2, Isa::Scalar]
        .into_iter()
        .filter(|&isa| bit_kernels_for(isa).is_some_and(|k| k.isa == isa))
        .collect()
}

static FAMILY: Family<BitKernels> = Family::new(VARIANTS, &SCALAR);

pub(crate) fn chosen_variant() -> &'static Variant<BitKernels> {
    FAMILY.chosen()
}

/// The process-wide bit kernels, chosen once: the best bit table at or below the process-wide
/// level (which honours `QUIVER_FORCE_ISA`).
#[inline]
pub fn bit_kernels() -> &'static BitKernels {
    &chosen_variant().table
}

/// Hamming distance between two bit vectors (first `min(a.len(), b.len())` words).
#[inline]
pub fn hamming(a: &[u64], b: &[u64]) -> u32 {
    (bit_kernels().hamming)(a, b)
}

/// Number of set bits.
#[inline]
pub fn popcount(a: &[u64]) -> u32 {
    (bit_kernels().popcount)(a)
}

/// `Σ_{j < bits} 2^j · popcount(plane_j & code)` where plane `j` is
/// `planes[j·W .. (j+1)·W]` and `W = code.len()`.
///
/// With a query quantised to `bits`-bit unsigned levels `k_i` stored as bit planes this is
/// `Σ_{i : code bit i set} k_i`. Only `min(bits, MAX_PLANES, planes.len() / W)` planes are
/// read; an empty `code` gives 0.
#[inline]
pub fn and_popcount_planes(planes: &[u64], bits: usize, code: &[u64]) -> u64 {
    (bit_kernels().and_popcount_planes)(planes, bits, code)
}
