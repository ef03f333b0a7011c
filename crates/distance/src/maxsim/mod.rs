//! Multi-vector (late-interaction) kernels: MaxSim / Chamfer similarity.
//!
//! # Score
//!
//! For a query token set `Q` and a document token set `P` (each a row-major
//! `tokens × dim` array), the MaxSim (Chamfer) score is
//!
//! ```text
//! MaxSim(Q, P) = Σ_{q ∈ Q} max_{p ∈ P} ⟨q, p⟩        (higher is better)
//! ```
//!
//! Conventions shared by every kernel here:
//!
//! * `nq = query.len() / dim` and `np = doc.len() / dim`; a trailing partial
//!   row is ignored (callers validate shapes, the kernels never panic and
//!   never read out of bounds).
//! * `dim == 0` or `nq == 0` → `0.0`; `np == 0` (and `nq > 0`) →
//!   `f32::NEG_INFINITY` (the max over an empty set), so an empty document
//!   ranks last.
//!
//! # Document token storage
//!
//! Query tokens are always `f32`. Document tokens may be stored as
//!
//! * **f32** — `&[f32]`, exact;
//! * **f16** — `&[u16]` holding IEEE 754 binary16 bit patterns (see
//!   [`f32_to_f16`] / [`f16_to_f32`]); the SIMD paths widen with
//!   `vcvtph2ps` (F16C / AVX-512F), which is exact, so f16 results differ from
//!   f32 ones only by the storage rounding;
//! * **sq8** — *per-token symmetric int8*: each token `p` is stored as `dim`
//!   codes `c ∈ [-127, 127]` plus one `f32` scale `s = max|p_i| / 127`, with
//!   `p ≈ s·c` (see [`quantize_sq8`]). The kernel computes `s·⟨q, c⟩` per
//!   document token. A per-token scale keeps the relative error of every
//!   token at most `0.5/127` per component (of its largest component), which
//!   for L2-normalised embedding tokens costs far less MaxSim accuracy than
//!   a per-document scale would, for 4 bytes per token.
//!
//! # Blocking
//!
//! The SIMD kernels compute a register tile of dot products at a time —
//! AVX-512: 4 query tokens × 4 document tokens (16 zmm accumulators), AVX2:
//! 4 × 2 — so every loaded document vector is reused by 4 query rows and every
//! query vector by several document rows: 8 loads feed 16 FMAs instead of the
//! 2 loads per FMA of a plain dot product. The tile's accumulators are reduced
//! together with a `hadd` tree, running maxima are kept per query token, and
//! the document is streamed once per block of 4 query tokens. The same tile
//! also powers [`MaxSimKernels::dot_matrix`] (all pairwise dot products),
//! which the MUVERA encoder uses for its SimHash and projection products.
//!
//! # Numerics
//!
//! The scalar oracle ([`scalar`]) accumulates every dot product in `f64` and rounds once. The
//! SIMD tiles accumulate each dot product in `f32` fused multiply-adds over 16 (AVX-512) or 8
//! (AVX2) lanes, fold and reduce the lanes with a fixed `hadd` tree, apply the sq8 scale in
//! `f32`, and take maxima in `f32`; the sum over query tokens is in `f64` in every variant.
//! SIMD results therefore differ from the oracle by rounding only (per dot product about
//! `(dim / lanes + log2(lanes)) · 2⁻²⁴ · Σ|q_i·p_i|`), are deterministic for a given variant,
//! and the AVX2 and AVX-512 results may differ from each other in the last bits. f16 tokens
//! are widened exactly (`vcvtph2ps`), so they add no error beyond their storage rounding.
//!
//! # Dispatch
//!
//! [`maxsim_kernels`] picks a [`MaxSimKernels`] table once per process with the
//! crate-wide policy of [`crate::isa`] (so `QUIVER_FORCE_ISA` is honoured the
//! same way). AVX2 tables additionally require F16C (every AVX2 CPU has it);
//! there are no NEON MaxSim kernels yet, so on aarch64 the scalar table is
//! used. [`maxsim_kernels_for`] builds the table of one ISA for tests and
//! benchmarks.
//!
//! # Measured speed
//!
//! `cargo run --release -p quiver-distance --example maxsim_speed` (32 query
//! tokens × 200 document tokens × 384-d, best of 15; GFLOP/s counts 2 flops
//! per multiply-add) on the shared 2-vCPU Sapphire Rapids-class guest
//! described in the crate docs, while other builds were running (the `dot`
//! figure of the same run was about half its quiet-machine best of 70 GFLOP/s):
//!
//! ```text
//! isa     kernel        µs/call  GFLOP/s   vs dot in the same run
//! avx512  dot f32 384-d   0.020     37.5
//! avx512  maxsim f32       46.1    106.7   285%
//! avx512  maxsim f16       55.0     89.4   238%
//! avx512  maxsim sq8       91.5     53.7   143%
//! avx2    maxsim f32       50.4     97.5   267%
//! avx2    maxsim f16       48.5    101.4   278%
//! avx2    maxsim sq8       56.1     87.6   240%
//! ```
//!
//! Even against the quiet-machine `dot` best (70 GFLOP/s) the tiled f32
//! kernel is ~1.5× faster per flop. The AVX-512 sq8 path is limited by the
//! int8 → f32 widening (`vpmovsxbd` + `vcvtdq2ps` per document vector); the token store
//! therefore scores sq8 documents with [`crate::maxsim_i8`] instead (the query quantised to
//! int8 too, integer dot products: 249.5 GFLOP/s-equivalent with AVX-512 VNNI in a later run
//! where f16 measured 88.3).

use crate::isa::{base_only, Family, Isa, Variant};

#[cfg(target_arch = "x86_64")]
mod x86;

/// A table of multi-vector kernels for one ISA. See the module docs for the
/// shape conventions; every function is safe for any input and never reads
/// or writes out of bounds.
///
/// Obtain one from [`maxsim_kernels`] or [`maxsim_kernels_for`]; it cannot be
/// built by hand outside this crate, which guarantees a SIMD table only exists
/// on a CPU that can run it.
#[derive(Clone, Copy, Debug)]
pub struct MaxSimKernels {
    /// The instruction set these kernels use.
    pub isa: Isa,
    /// `maxsim_f32(query, doc, dim)`: MaxSim against f32 document tokens.
    pub maxsim_f32: fn(&[f32], &[f32], usize) -> f32,
    /// `maxsim_f16(query, doc, dim)`: MaxSim against binary16 document tokens.
    pub maxsim_f16: fn(&[f32], &[u16], usize) -> f32,
    /// `maxsim_sq8(query, codes, scales, dim)`: MaxSim against sq8 document
    /// tokens; token `j` is `scales[j] · codes[j*dim..(j+1)*dim]`. The number
    /// of document tokens is `min(codes.len() / dim, scales.len())`.
    pub maxsim_sq8: fn(&[f32], &[i8], &[f32], usize) -> f32,
    /// `dot_matrix(a, b, dim, out)`: `out[i*nb + j] = ⟨a_i, b_j⟩` for
    /// `i < na, j < nb`, where `nb = b.len() / dim` and
    /// `na = min(a.len() / dim, out.len() / nb)`. Nothing else is written.
    pub dot_matrix: fn(&[f32], &[f32], usize, &mut [f32]),
    /// `add_assign(acc, x)`: `acc[i] += x[i]` for `i < min(acc.len(), x.len())`.
    pub add_assign: fn(&mut [f32], &[f32]),
}

const SCALAR: Variant<MaxSimKernels> = Variant {
    level: Isa::Scalar,
    name: "scalar",
    needs: base_only,
    table: MaxSimKernels {
        isa: Isa::Scalar,
        maxsim_f32: scalar::maxsim_f32,
        maxsim_f16: scalar::maxsim_f16,
        maxsim_sq8: scalar::maxsim_sq8,
        dot_matrix: scalar::dot_matrix,
        add_assign: scalar::add_assign,
    },
};

/// Every variant, best first, ending with the scalar oracle.
static VARIANTS: &[Variant<MaxSimKernels>] = &[
    #[cfg(target_arch = "x86_64")]
    x86::AVX512,
    #[cfg(target_arch = "x86_64")]
    x86::AVX2,
    SCALAR,
];

/// MaxSim kernels for a specific ISA, or `None` if this CPU/build cannot run that level
/// (crate-wide policy, [`crate::isa`]; on aarch64, with no NEON MaxSim kernels yet, `Neon`
/// gives the scalar table).
pub fn maxsim_kernels_for(isa: Isa) -> Option<MaxSimKernels> {
    FAMILY.for_level(isa).copied()
}

static FAMILY: Family<MaxSimKernels> = Family::new(VARIANTS, &SCALAR);

pub(crate) fn chosen_variant() -> &'static Variant<MaxSimKernels> {
    FAMILY.chosen()
}

/// The process-wide MaxSim kernels, chosen once: the best table at or below the process-wide
/// level (which honours `QUIVER_FORCE_ISA`).
#[inline]
pub fn maxsim_kernels() -> &'static MaxSimKernels {
    &chosen_variant().table
}

// ---------------------------------------------------------------------------
// Storage conversions
// ---------------------------------------------------------------------------

/// Widens an IEEE 754 binary16 bit pattern to `f32` (exact; NaN payloads are
/// kept, signalling NaNs become quiet).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x03ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: value = m · 2^-24; normalise into an f32 normal.
            let shift = m.leading_zeros() - 21; // bring the top set bit to bit 10
            let m = (m << shift) & 0x03ff;
            let e = 127 - 15 + 1 - shift;
            sign | (e << 23) | (m << 13)
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, m) => sign | 0x7fc0_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// Narrows `f32` to the nearest IEEE 754 binary16 bit pattern (round to
/// nearest, ties to even; overflow → ±inf; NaN → a quiet NaN), the same
/// result as `vcvtps2ph` with round-to-nearest.
pub fn f32_to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let man = bits & 0x007f_ffff;
    if exp == 0xff {
        return if man == 0 {
            sign | 0x7c00
        } else {
            sign | 0x7e00 | ((man >> 13) as u16)
        };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        // Result is subnormal in f16 (or zero): value = full · 2^(exp-150),
        // with full the 24-bit significand; f16 subnormal unit is 2^-24.
        if e < -10 {
            return sign; // below half the smallest subnormal: rounds to ±0
        }
        let full = man | 0x0080_0000;
        let shift = (14 - e) as u32; // 13 + (1 - e)
        let q = full >> shift;
        let rem = full & ((1u32 << shift) - 1);
        let half = 1u32 << (shift - 1);
        let q = if rem > half || (rem == half && (q & 1) == 1) {
            q + 1
        } else {
            q
        };
        // A carry into bit 10 correctly produces the smallest normal.
        return sign | q as u16;
    }
    let q = ((e as u32) << 10) | (man >> 13);
    let rem = man & 0x1fff;
    let q = if rem > 0x1000 || (rem == 0x1000 && (q & 1) == 1) {
        q + 1 // may carry into the exponent, up to infinity: both correct
    } else {
        q
    };
    sign | q as u16
}

/// Converts `src` to binary16 into `dst` (over `min(src.len(), dst.len())` elements).
pub fn f32_slice_to_f16(src: &[f32], dst: &mut [u16]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = f32_to_f16(s);
    }
}

/// Quantises one token to sq8: writes `codes[i] = round(x[i] / s)` clamped
/// to `[-127, 127]` (over `min(x.len(), codes.len())` elements) and returns
/// the scale `s = max|x[i]| / 127`, so `x ≈ s·codes`. An all-zero token gets
/// scale `0.0` and zero codes. Callers must pass finite values (a non-finite
/// input yields scale NaN/inf, which the kernels then propagate).
pub fn quantize_sq8(x: &[f32], codes: &mut [i8]) -> f32 {
    let n = x.len().min(codes.len());
    let max = x[..n].iter().fold(0.0f32, |m, &v| m.max(v.abs()));
    if max == 0.0 {
        codes[..n].fill(0);
        return 0.0;
    }
    let scale = max / 127.0;
    let inv = 127.0 / max;
    for (c, &v) in codes[..n].iter_mut().zip(x) {
        *c = (v * inv).round().clamp(-127.0, 127.0) as i8;
    }
    scale
}

/// Portable reference implementations: the oracle the SIMD kernels are tested
/// against, and the fallback table. Dot products are accumulated in `f64`
/// (products of `f32`s and small ints are exact there), maxima and the final
/// sum too, with one rounding to `f32` at the end.
pub mod scalar {
    use super::f16_to_f32;

    /// MaxSim over row accessors: `dot(i, j)` is ⟨q_i, p_j⟩ in f64.
    fn maxsim_by(nq: usize, np: usize, mut dot: impl FnMut(usize, usize) -> f64) -> f32 {
        if nq == 0 {
            return 0.0;
        }
        if np == 0 {
            return f32::NEG_INFINITY;
        }
        let mut total = 0.0f64;
        for i in 0..nq {
            let mut best = f64::NEG_INFINITY;
            for j in 0..np {
                best = best.max(dot(i, j));
            }
            total += best;
        }
        total as f32
    }

    fn rows(len: usize, dim: usize) -> usize {
        len.checked_div(dim).unwrap_or(0)
    }

    /// MaxSim against f32 document tokens (see the module docs).
    pub fn maxsim_f32(query: &[f32], doc: &[f32], dim: usize) -> f32 {
        if dim == 0 {
            return 0.0;
        }
        maxsim_by(rows(query.len(), dim), rows(doc.len(), dim), |i, j| {
            let q = &query[i * dim..(i + 1) * dim];
            let p = &doc[j * dim..(j + 1) * dim];
            q.iter()
                .zip(p)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum()
        })
    }

    /// MaxSim against binary16 document tokens (see the module docs).
    pub fn maxsim_f16(query: &[f32], doc: &[u16], dim: usize) -> f32 {
        if dim == 0 {
            return 0.0;
        }
        maxsim_by(rows(query.len(), dim), rows(doc.len(), dim), |i, j| {
            let q = &query[i * dim..(i + 1) * dim];
            let p = &doc[j * dim..(j + 1) * dim];
            q.iter()
                .zip(p)
                .map(|(&a, &b)| f64::from(a) * f64::from(f16_to_f32(b)))
                .sum()
        })
    }

    /// MaxSim against sq8 document tokens (see the module docs).
    pub fn maxsim_sq8(query: &[f32], codes: &[i8], scales: &[f32], dim: usize) -> f32 {
        if dim == 0 {
            return 0.0;
        }
        let np = rows(codes.len(), dim).min(scales.len());
        maxsim_by(rows(query.len(), dim), np, |i, j| {
            let q = &query[i * dim..(i + 1) * dim];
            let p = &codes[j * dim..(j + 1) * dim];
            let d: f64 = q
                .iter()
                .zip(p)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            d * f64::from(scales[j])
        })
    }

    /// All pairwise dot products (see [`super::MaxSimKernels::dot_matrix`]).
    pub fn dot_matrix(a: &[f32], b: &[f32], dim: usize, out: &mut [f32]) {
        let nb = rows(b.len(), dim);
        if nb == 0 {
            return;
        }
        let na = rows(a.len(), dim).min(out.len() / nb);
        for i in 0..na {
            let x = &a[i * dim..(i + 1) * dim];
            for j in 0..nb {
                let y = &b[j * dim..(j + 1) * dim];
                out[i * nb + j] = crate::scalar::dot(x, y);
            }
        }
    }

    /// `acc[i] += x[i]` over `min(acc.len(), x.len())` elements.
    pub fn add_assign(acc: &mut [f32], x: &[f32]) {
        for (a, &b) in acc.iter_mut().zip(x) {
            *a += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_round_trips_every_pattern() {
        for h in 0..=u16::MAX {
            let x = f16_to_f32(h);
            let back = f32_to_f16(x);
            if x.is_nan() {
                assert!(f16_to_f32(back).is_nan(), "{h:#06x}");
            } else {
                assert_eq!(back, h, "{h:#06x} -> {x}");
            }
        }
    }

    #[test]
    fn f16_known_values() {
        assert_eq!(f32_to_f16(1.0), 0x3c00);
        assert_eq!(f32_to_f16(-2.0), 0xc000);
        assert_eq!(f32_to_f16(65504.0), 0x7bff);
        assert_eq!(f32_to_f16(65520.0), 0x7c00); // rounds up to inf
        assert_eq!(f32_to_f16(1e-8), 0x0000);
        assert_eq!(f32_to_f16(5.960_464_5e-8), 0x0001); // 2^-24
        assert_eq!(f32_to_f16(2.980_232_2e-8), 0x0000); // 2^-25: tie to even (0)
        assert_eq!(f32_to_f16(8.940_697e-8), 0x0002); // 1.5·2^-24: tie to even (2)
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        // 1 + 2^-11 is a tie between 1 and 1 + 2^-10: to even (1.0).
        assert_eq!(f32_to_f16(1.0 + 1.0 / 2048.0), 0x3c00);
        assert_eq!(f32_to_f16(1.0 + 3.0 / 2048.0), 0x3c02);
    }

    #[test]
    fn f16_matches_round_to_nearest_on_a_sweep() {
        // Compare against rounding through f64 arithmetic on random-ish f32s.
        let mut s = 0x1234_5678_u32;
        for _ in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let x = f32::from_bits(s);
            if !x.is_finite() || x.abs() > 65504.0 {
                continue;
            }
            let h = f32_to_f16(x);
            let y = f64::from(f16_to_f32(h));
            // The neighbours of h must not be strictly closer.
            for n in [h.wrapping_sub(1), h.wrapping_add(1)] {
                let z = f64::from(f16_to_f32(n));
                if z.is_finite() && (n & 0x7fff) <= 0x7bff && (n ^ h) & 0x8000 == 0 {
                    assert!(
                        (y - f64::from(x)).abs() <= (z - f64::from(x)).abs(),
                        "{x} -> {h:#06x}"
                    );
                }
            }
        }
    }

    #[test]
    fn sq8_quantises_symmetrically() {
        let x = [0.5f32, -1.0, 0.25, 0.0];
        let mut c = [0i8; 4];
        let s = quantize_sq8(&x, &mut c);
        assert_eq!(c, [64, -127, 32, 0]);
        assert!((s - 1.0 / 127.0).abs() < 1e-9);
        let s = quantize_sq8(&[0.0; 4], &mut c);
        assert_eq!((s, c), (0.0, [0; 4]));
    }

    #[test]
    fn scalar_conventions() {
        assert_eq!(scalar::maxsim_f32(&[], &[1.0], 1), 0.0);
        assert_eq!(scalar::maxsim_f32(&[1.0], &[], 1), f32::NEG_INFINITY);
        assert_eq!(scalar::maxsim_f32(&[1.0], &[1.0], 0), 0.0);
        // q = {(1,0), (0,1)}, P = {(2,0), (1,1)}: max(2,1) + max(0,1) = 3.
        let q = [1.0, 0.0, 0.0, 1.0];
        let p = [2.0, 0.0, 1.0, 1.0];
        assert_eq!(scalar::maxsim_f32(&q, &p, 2), 3.0);
    }

    #[test]
    fn selected_table_follows_kernels() {
        let k = maxsim_kernels();
        let expect = maxsim_kernels_for(crate::kernels().isa).map_or(Isa::Scalar, |t| t.isa);
        assert_eq!(k.isa, expect);
    }
}
