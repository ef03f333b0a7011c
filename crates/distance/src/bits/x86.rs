//! x86_64 bit kernels: AVX2 + POPCNT and AVX-512F + VPOPCNTDQ.
//!
//! Same structure as `x86.rs`: `#[target_feature]` implementations (`*_impl`), private safe
//! wrappers that call them in `unsafe` blocks, and wrappers reachable only through
//! the [`AVX2`] / [`AVX512`] variants, which [`crate::isa::select`] hands out only after
//! detection confirmed the features. That is the single invariant that makes the wrappers sound.

use core::arch::x86_64::*;

use super::{planes_used, BitKernels};
use crate::isa::{CpuFeatures, Isa, Variant};

/// POPCNT, which the AVX2 kernels use on tail words.
fn popcnt(c: &CpuFeatures) -> bool {
    c.popcnt
}

/// AVX-512 VPOPCNTDQ.
fn vpopcntdq(c: &CpuFeatures) -> bool {
    c.avx512vpopcntdq
}

/// The AVX2 + POPCNT table; selected only where both were detected.
pub(super) const AVX2: Variant<BitKernels> = Variant {
    level: Isa::Avx2,
    name: "avx2",
    needs: popcnt,
    table: BitKernels {
        isa: Isa::Avx2,
        hamming: avx2_hamming,
        popcount: avx2_popcount,
        and_popcount_planes: avx2_and_planes,
    },
};

/// The AVX-512F + VPOPCNTDQ table; selected only where both were detected.
pub(super) const AVX512: Variant<BitKernels> = Variant {
    level: Isa::Avx512,
    name: "avx512-vpopcntdq",
    needs: vpopcntdq,
    table: BitKernels {
        isa: Isa::Avx512,
        hamming: avx512_hamming,
        popcount: avx512_popcount,
        and_popcount_planes: avx512_and_planes,
    },
};

fn has_avx2() -> bool {
    Isa::Avx2.runnable() && popcnt(crate::isa::cpu())
}

fn has_avx512() -> bool {
    Isa::Avx512.runnable() && vpopcntdq(crate::isa::cpu())
}

// ---------------------------------------------------------------------------
// Safe wrappers, only reachable after runtime detection succeeded.
// ---------------------------------------------------------------------------

fn avx2_hamming(a: &[u64], b: &[u64]) -> u32 {
    debug_assert!(has_avx2());
    // SAFETY: only reachable through the `AVX2` variant (AVX2 + POPCNT detected).
    unsafe { hamming_avx2_impl(a, b) }
}

fn avx2_popcount(a: &[u64]) -> u32 {
    debug_assert!(has_avx2());
    // SAFETY: only reachable through the `AVX2` variant (AVX2 + POPCNT detected).
    unsafe { popcount_avx2_impl(a) }
}

fn avx2_and_planes(planes: &[u64], bits: usize, code: &[u64]) -> u64 {
    debug_assert!(has_avx2());
    // SAFETY: only reachable through the `AVX2` variant (AVX2 + POPCNT detected).
    unsafe { and_planes_avx2_impl(planes, bits, code) }
}

fn avx512_hamming(a: &[u64], b: &[u64]) -> u32 {
    debug_assert!(has_avx512());
    // SAFETY: only reachable through the `AVX512` variant (AVX-512F + VPOPCNTDQ detected).
    unsafe { hamming_avx512_impl(a, b) }
}

fn avx512_popcount(a: &[u64]) -> u32 {
    debug_assert!(has_avx512());
    // SAFETY: only reachable through the `AVX512` variant (AVX-512F + VPOPCNTDQ detected).
    unsafe { popcount_avx512_impl(a) }
}

fn avx512_and_planes(planes: &[u64], bits: usize, code: &[u64]) -> u64 {
    debug_assert!(has_avx512());
    // SAFETY: only reachable through the `AVX512` variant (AVX-512F + VPOPCNTDQ detected).
    unsafe { and_planes_avx512_impl(planes, bits, code) }
}

// ---------------------------------------------------------------------------
// AVX2 + POPCNT
// ---------------------------------------------------------------------------

/// Unaligned load of 4 words starting at `s[off]`.
///
/// # Safety
/// `off + 4 <= s.len()`.
#[inline]
#[target_feature(enable = "avx2,popcnt")]
unsafe fn ld4(s: &[u64], off: usize) -> __m256i {
    debug_assert!(off + 4 <= s.len());
    // SAFETY: the caller guarantees `s[off..off + 4]` is in bounds; `loadu` has no alignment
    // requirement.
    unsafe { _mm256_loadu_si256(s.as_ptr().add(off).cast::<__m256i>()) }
}

/// Per-64-bit-lane popcount of `v` (nibble lookup with `vpshufb`, bytes summed by `vpsadbw`).
#[inline]
#[target_feature(enable = "avx2,popcnt")]
fn popcnt256(v: __m256i) -> __m256i {
    let lut = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3,
        3, 4,
    );
    let low = _mm256_set1_epi8(0x0f);
    let lo = _mm256_and_si256(v, low);
    let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low);
    let bytes = _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
    _mm256_sad_epu8(bytes, _mm256_setzero_si256())
}

/// Sum of the four u64 lanes.
#[inline]
#[target_feature(enable = "avx2,popcnt")]
fn hsum_epi64_256(v: __m256i) -> u64 {
    let s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let t = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
    _mm_cvtsi128_si64(t) as u64
}

#[target_feature(enable = "avx2,popcnt")]
fn hamming_avx2_impl(a: &[u64], b: &[u64]) -> u32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = _mm256_setzero_si256();
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        // SAFETY: `x` and `y` have exactly 4 words.
        let v = unsafe { _mm256_xor_si256(ld4(x, 0), ld4(y, 0)) };
        acc = _mm256_add_epi64(acc, popcnt256(v));
    }
    let tail: u32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| (x ^ y).count_ones())
        .sum();
    // The count is at most 64·n, which fits u32 for any slice that fits in memory / 64.
    (hsum_epi64_256(acc) as u32).wrapping_add(tail)
}

#[target_feature(enable = "avx2,popcnt")]
fn popcount_avx2_impl(a: &[u64]) -> u32 {
    let mut acc = _mm256_setzero_si256();
    let mut ca = a.chunks_exact(4);
    for x in &mut ca {
        // SAFETY: `x` has exactly 4 words.
        acc = _mm256_add_epi64(acc, popcnt256(unsafe { ld4(x, 0) }));
    }
    let tail: u32 = ca.remainder().iter().map(|x| x.count_ones()).sum();
    (hsum_epi64_256(acc) as u32).wrapping_add(tail)
}

#[target_feature(enable = "avx2,popcnt")]
fn and_planes_avx2_impl(planes: &[u64], bits: usize, code: &[u64]) -> u64 {
    let w = code.len();
    let nb = planes_used(planes, bits, code);
    let mut acc = _mm256_setzero_si256();
    let mut off = 0;
    while off + 4 <= w {
        // SAFETY: `off + 4 <= w = code.len()`.
        let c = unsafe { ld4(code, off) };
        for j in 0..nb {
            // SAFETY: `nb <= planes.len() / w`, so `j·w + off + 4 <= (j + 1)·w <= planes.len()`.
            let p = unsafe { ld4(planes, j * w + off) };
            let cnt = popcnt256(_mm256_and_si256(p, c));
            // `j < MAX_PLANES = 32`, so the shift count is in range.
            acc = _mm256_add_epi64(acc, _mm256_sll_epi64(cnt, _mm_cvtsi32_si128(j as i32)));
        }
        off += 4;
    }
    let mut total = hsum_epi64_256(acc);
    for (i, &c) in code.iter().enumerate().skip(off) {
        for j in 0..nb {
            total += u64::from((planes[j * w + i] & c).count_ones()) << j;
        }
    }
    total
}

// ---------------------------------------------------------------------------
// AVX-512F + VPOPCNTDQ
// ---------------------------------------------------------------------------

/// Unaligned load of 8 words starting at `s[off]`.
///
/// # Safety
/// `off + 8 <= s.len()`.
#[inline]
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
unsafe fn ld8(s: &[u64], off: usize) -> __m512i {
    debug_assert!(off + 8 <= s.len());
    // SAFETY: the caller guarantees `s[off..off + 8]` is in bounds; `loadu` has no alignment
    // requirement.
    unsafe { _mm512_loadu_epi64(s.as_ptr().add(off).cast::<i64>()) }
}

/// Loads `n < 8` words starting at `s[off]` into the low lanes, zeroing the rest.
///
/// # Safety
/// `n < 8` and `off + n <= s.len()`.
#[inline]
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
unsafe fn ld_tail8(s: &[u64], off: usize, n: usize) -> __m512i {
    debug_assert!(n < 8 && off + n <= s.len());
    // Low `n` bits set; `n < 8` so the value fits in u8.
    let mask: __mmask8 = ((1u32 << n) - 1) as __mmask8;
    // SAFETY: a zero-masked load only accesses lanes whose mask bit is set and suppresses
    // faults on the others; those lanes are `s[off..off + n]`, in bounds by the contract.
    // `off <= s.len()`, so the base pointer stays within (or one past) the allocation.
    unsafe { _mm512_maskz_loadu_epi64(mask, s.as_ptr().add(off).cast::<i64>()) }
}

#[target_feature(enable = "avx512f,avx512vpopcntdq")]
fn hamming_avx512_impl(a: &[u64], b: &[u64]) -> u32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = _mm512_setzero_si512();
    let mut off = 0;
    while off + 8 <= n {
        // SAFETY: `off + 8 <= n` for both slices.
        let v = unsafe { _mm512_xor_si512(ld8(a, off), ld8(b, off)) };
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(v));
        off += 8;
    }
    if off < n {
        // SAFETY: `n - off < 8` words remain in both slices.
        let v = unsafe { _mm512_xor_si512(ld_tail8(a, off, n - off), ld_tail8(b, off, n - off)) };
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(v));
    }
    _mm512_reduce_add_epi64(acc) as u32
}

#[target_feature(enable = "avx512f,avx512vpopcntdq")]
fn popcount_avx512_impl(a: &[u64]) -> u32 {
    let n = a.len();
    let mut acc = _mm512_setzero_si512();
    let mut off = 0;
    while off + 8 <= n {
        // SAFETY: `off + 8 <= n`.
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(unsafe { ld8(a, off) }));
        off += 8;
    }
    if off < n {
        // SAFETY: `n - off < 8` words remain.
        let v = unsafe { ld_tail8(a, off, n - off) };
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(v));
    }
    _mm512_reduce_add_epi64(acc) as u32
}

#[target_feature(enable = "avx512f,avx512vpopcntdq")]
fn and_planes_avx512_impl(planes: &[u64], bits: usize, code: &[u64]) -> u64 {
    let w = code.len();
    let nb = planes_used(planes, bits, code);
    let mut acc = _mm512_setzero_si512();
    let mut off = 0;
    while off + 8 <= w {
        // SAFETY: `off + 8 <= w = code.len()`.
        let c = unsafe { ld8(code, off) };
        for j in 0..nb {
            // SAFETY: `nb <= planes.len() / w`, so `j·w + off + 8 <= (j + 1)·w <= planes.len()`.
            let p = unsafe { ld8(planes, j * w + off) };
            let cnt = _mm512_popcnt_epi64(_mm512_and_si512(p, c));
            // `j < MAX_PLANES = 32`, so the shift count is in range.
            acc = _mm512_add_epi64(acc, _mm512_sll_epi64(cnt, _mm_cvtsi32_si128(j as i32)));
        }
        off += 8;
    }
    if off < w {
        let rem = w - off;
        // SAFETY: `rem < 8` words remain in `code`.
        let c = unsafe { ld_tail8(code, off, rem) };
        for j in 0..nb {
            // SAFETY: `j·w + off + rem = (j + 1)·w <= planes.len()` and `rem < 8`.
            let p = unsafe { ld_tail8(planes, j * w + off, rem) };
            let cnt = _mm512_popcnt_epi64(_mm512_and_si512(p, c));
            acc = _mm512_add_epi64(acc, _mm512_sll_epi64(cnt, _mm_cvtsi32_si128(j as i32)));
        }
    }
    _mm512_reduce_add_epi64(acc) as u64
}
