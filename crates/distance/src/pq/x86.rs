//! x86_64 PQ kernels: AVX2+FMA and AVX-512F+BW.
//!
//! Same structure as `x86.rs`: `#[target_feature]` implementations with safe signatures, plain
//! private wrappers that call them inside `unsafe`, and wrappers reachable only through
//! the [`AVX2`] / [`AVX512`] variants, which [`crate::isa::select`] hands out only after
//! detection confirmed every feature the implementations enable. That is the
//! single invariant that makes the wrappers sound. Raw-pointer loads are bounds-reasoned at
//! each site.

use core::arch::x86_64::*;

use super::{nearest_sizes, PqKernels, FS_BLOCK};
use crate::isa::{base_only, CpuFeatures, Isa, Variant};
use crate::lanes::{Lanes, L256, L512};

fn has_avx2() -> bool {
    Isa::Avx2.runnable()
}

/// AVX-512BW (on top of the `Avx512` level's AVX-512F, AVX2 and FMA).
fn bw(c: &CpuFeatures) -> bool {
    c.avx512bw
}

fn has_avx512bw() -> bool {
    Isa::Avx512.runnable() && bw(crate::isa::cpu())
}

/// The AVX2+FMA PQ table; selected only where AVX2 and FMA were detected.
pub(super) const AVX2: Variant<PqKernels> = Variant {
    level: Isa::Avx2,
    name: "avx2",
    needs: base_only,
    table: PqKernels {
        isa: Isa::Avx2,
        // Measured (pq_kernels example): the unrolled scalar sum beats `vgatherdps` here.
        adc_u8: super::adc_u8_scalar,
        adc_u4: super::adc_u4_scalar,
        fastscan_block: avx2_fastscan,
        nearest: avx2_nearest,
    },
};

/// The AVX-512F+BW PQ table; selected only where AVX-512F/BW, AVX2 and FMA were detected.
pub(super) const AVX512: Variant<PqKernels> = Variant {
    level: Isa::Avx512,
    name: "avx512bw",
    needs: bw,
    table: PqKernels {
        isa: Isa::Avx512,
        adc_u8: super::adc_u8_scalar,
        adc_u4: super::adc_u4_scalar,
        fastscan_block: avx512_fastscan,
        nearest: avx512_nearest,
    },
};

/// The gather-based AVX-512 ADC kernels, exposed for measurement and tests only.
pub(super) fn avx512_gather_adc() -> Option<(super::AdcU8Fn, super::AdcU4Fn)> {
    if !has_avx512bw() {
        return None;
    }
    Some((avx512_adc_u8, avx512_adc_u4))
}

// ---------------------------------------------------------------------------
// Safe wrappers (only reachable after detection).
// ---------------------------------------------------------------------------

fn avx2_fastscan(lut: &[u8], block: &[u8], out: &mut [u16; FS_BLOCK]) {
    debug_assert!(has_avx2());
    // SAFETY: only reachable through the `AVX2` variant (AVX2+FMA detected).
    unsafe { fastscan_avx2_impl(lut, block, out) }
}

fn avx512_fastscan(lut: &[u8], block: &[u8], out: &mut [u16; FS_BLOCK]) {
    debug_assert!(has_avx512bw());
    // SAFETY: only reachable through the `AVX512` variant (AVX-512F/BW, AVX2, FMA detected).
    unsafe { fastscan_avx512_impl(lut, block, out) }
}

fn avx2_nearest(p: &[f32], dim: usize, ct: &[f32], cn: &[f32], oi: &mut [u32], od: &mut [f32]) {
    debug_assert!(has_avx2());
    // SAFETY: only reachable through the `AVX2` variant (AVX2+FMA detected).
    unsafe { nearest_avx2_impl(p, dim, ct, cn, oi, od) }
}

fn avx512_nearest(p: &[f32], dim: usize, ct: &[f32], cn: &[f32], oi: &mut [u32], od: &mut [f32]) {
    debug_assert!(has_avx512bw());
    // SAFETY: only reachable through the `AVX512` variant (AVX-512F/BW, AVX2, FMA detected).
    unsafe { nearest_avx512_impl(p, dim, ct, cn, oi, od) }
}

fn avx512_adc_u8(table: &[f32], code: &[u8]) -> f32 {
    debug_assert!(has_avx512bw());
    // SAFETY: only reachable through `avx512_gather_adc` (AVX-512F/BW detected).
    unsafe { adc_u8_avx512_impl(table, code) }
}

fn avx512_adc_u4(table: &[f32], code: &[u8], m: usize) -> f32 {
    debug_assert!(has_avx512bw());
    // SAFETY: only reachable through `avx512_gather_adc` (AVX-512F/BW detected).
    unsafe { adc_u4_avx512_impl(table, code, m) }
}

// ---------------------------------------------------------------------------
// Fast-scan
// ---------------------------------------------------------------------------

/// Turns the two accumulators of the u16 trick into 32 sums in vector order and stores them.
///
/// `a0` holds `Σ (lo + 256·hi)` and `a1` holds `Σ hi` per 16-bit lane, where byte `2k` of the
/// loaded codes is vector `2k` and byte `2k+1` is vector `2k+1`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn fs_finish(a0: __m256i, a1: __m256i, out: &mut [u16; FS_BLOCK]) {
    let even = _mm256_sub_epi16(a0, _mm256_slli_epi16::<8>(a1));
    let lo = _mm256_unpacklo_epi16(even, a1);
    let hi = _mm256_unpackhi_epi16(even, a1);
    let v0 = _mm256_permute2x128_si256::<0x20>(lo, hi);
    let v1 = _mm256_permute2x128_si256::<0x31>(lo, hi);
    let p = out.as_mut_ptr().cast::<__m256i>();
    // SAFETY: `out` is 32 u16 = 64 bytes, so both 32-byte unaligned stores are in bounds.
    unsafe {
        _mm256_storeu_si256(p, v0);
        _mm256_storeu_si256(p.add(1), v1);
    }
}

/// Byte-vector operations of the fast-scan kernel at one register width.
///
/// # Safety
/// Every method requires the implementor's ISA features; `load` needs `BYTES` readable bytes.
trait ScanLanes {
    /// The integer vector.
    type B: Copy;
    /// Bytes per vector.
    const BYTES: usize;
    /// Unaligned load of `BYTES` bytes.
    unsafe fn load(p: *const u8) -> Self::B;
    /// All lanes zero.
    unsafe fn zero() -> Self::B;
    /// `(lo nibbles, hi nibbles)` of every byte.
    unsafe fn nibbles(c: Self::B) -> (Self::B, Self::B);
    /// `vpshufb`: per 128-bit lane, `table[idx]` for every byte.
    unsafe fn shuffle(table: Self::B, idx: Self::B) -> Self::B;
    /// Adds `r` to `a0` and its odd bytes (`r >> 8` per u16) to `a1`, wrapping u16 sums.
    unsafe fn accumulate(a0: &mut Self::B, a1: &mut Self::B, r: Self::B);
    /// Adds the 256-bit halves (identity at 256 bits).
    unsafe fn fold(v: Self::B) -> __m256i;
}

impl ScanLanes for L512 {
    type B = __m512i;
    const BYTES: usize = 64;
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn load(p: *const u8) -> __m512i {
        // SAFETY: the caller guarantees 64 readable bytes; the load is unaligned.
        unsafe { _mm512_loadu_si512(p.cast()) }
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn zero() -> __m512i {
        _mm512_setzero_si512()
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn nibbles(c: __m512i) -> (__m512i, __m512i) {
        let mask = _mm512_set1_epi8(0x0f);
        (
            _mm512_and_si512(c, mask),
            _mm512_and_si512(_mm512_srli_epi16::<4>(c), mask),
        )
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn shuffle(table: __m512i, idx: __m512i) -> __m512i {
        _mm512_shuffle_epi8(table, idx)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn accumulate(a0: &mut __m512i, a1: &mut __m512i, r: __m512i) {
        *a0 = _mm512_add_epi16(*a0, r);
        *a1 = _mm512_add_epi16(*a1, _mm512_srli_epi16::<8>(r));
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn fold(v: __m512i) -> __m256i {
        // Both 256-bit halves hold sums for the same 32 vectors (different sub-quantizers).
        _mm256_add_epi16(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64::<1>(v))
    }
}

impl ScanLanes for L256 {
    type B = __m256i;
    const BYTES: usize = 32;
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load(p: *const u8) -> __m256i {
        // SAFETY: the caller guarantees 32 readable bytes; the load is unaligned.
        unsafe { _mm256_loadu_si256(p.cast()) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn zero() -> __m256i {
        _mm256_setzero_si256()
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn nibbles(c: __m256i) -> (__m256i, __m256i) {
        let mask = _mm256_set1_epi8(0x0f);
        (
            _mm256_and_si256(c, mask),
            _mm256_and_si256(_mm256_srli_epi16::<4>(c), mask),
        )
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn shuffle(table: __m256i, idx: __m256i) -> __m256i {
        _mm256_shuffle_epi8(table, idx)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn accumulate(a0: &mut __m256i, a1: &mut __m256i, r: __m256i) {
        *a0 = _mm256_add_epi16(*a0, r);
        *a1 = _mm256_add_epi16(*a1, _mm256_srli_epi16::<8>(r));
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fold(v: __m256i) -> __m256i {
        v
    }
}

/// Stamps the fast-scan kernel `$name` for lane type `$L` under `$feat`.
///
/// The block's `64·G` code bytes are read `BYTES` at a time; chunk `c` covers group
/// `g = c·BYTES / 64`, half `h = (c·BYTES mod 64) / 32` (always 0 at 64 bytes), whose
/// low-nibble LUTs start at byte `128·g + 32·h` and high-nibble LUTs 64 bytes later.
macro_rules! fastscan {
    ($name:ident, $feat:tt, $L:ty) => {
        #[target_feature(enable = $feat)]
        fn $name(lut: &[u8], block: &[u8], out: &mut [u16; FS_BLOCK]) {
            const BYTES: usize = <$L as ScanLanes>::BYTES;
            let groups = (lut.len() / 128).min(block.len() / 64);
            let zero = || {
                // SAFETY: register-only intrinsics; features enabled here.
                unsafe { <$L as ScanLanes>::zero() }
            };
            let (mut a0, mut a1) = (zero(), zero());
            for c in 0..64 * groups / BYTES {
                let (g, h) = (c * BYTES / 64, (c * BYTES % 64) / 32);
                // SAFETY: `c < 64·groups / BYTES` so `BYTES·c + BYTES ≤ 64·groups ≤
                // block.len()`, and `128·g + 64 + 32·h + BYTES ≤ 128·groups ≤ lut.len()`
                // (`32·h + BYTES ≤ 64`). Unaligned loads; the rest is register-only.
                unsafe {
                    let code = <$L as ScanLanes>::load(block.as_ptr().add(BYTES * c));
                    let llo = <$L as ScanLanes>::load(lut.as_ptr().add(128 * g + 32 * h));
                    let lhi = <$L as ScanLanes>::load(lut.as_ptr().add(128 * g + 64 + 32 * h));
                    let (lo, hi) = <$L>::nibbles(code);
                    <$L>::accumulate(&mut a0, &mut a1, <$L>::shuffle(llo, lo));
                    <$L>::accumulate(&mut a0, &mut a1, <$L>::shuffle(lhi, hi));
                }
            }
            // SAFETY: register-only intrinsics; features enabled here.
            let (s0, s1) = unsafe { (<$L as ScanLanes>::fold(a0), <$L as ScanLanes>::fold(a1)) };
            fs_finish(s0, s1, out);
        }
    };
}

fastscan!(fastscan_avx512_impl, "avx512f,avx512bw,avx2,fma", L512);
fastscan!(fastscan_avx2_impl, "avx2,fma", L256);

// ---------------------------------------------------------------------------
// Nearest centroid
// ---------------------------------------------------------------------------

/// Finishes one point: merges the per-lane bests (`vals`, `idxs`; `u32::MAX` = none), scans the
/// scalar centroid tail `kv..k`, adds `‖x‖²` and writes the result.
#[allow(clippy::too_many_arguments)]
#[inline]
fn finish_point(
    vals: &[f32],
    idxs: &[u32],
    x: &[f32],
    ct: &[f32],
    cnorm: &[f32],
    kv: usize,
    k: usize,
    out: (&mut u32, &mut f32),
) {
    let mut bi = u32::MAX;
    let mut bv = f32::INFINITY;
    for (&v, &i) in vals.iter().zip(idxs) {
        if i != u32::MAX && (bi == u32::MAX || v < bv || (v == bv && i < bi)) {
            bv = v;
            bi = i;
        }
    }
    for c in kv..k {
        let mut a = cnorm[c];
        for (d, &xd) in x.iter().enumerate() {
            a = (-2.0 * xd).mul_add(ct[d * k + c], a);
        }
        if bi == u32::MAX || a < bv {
            bv = a;
            bi = c as u32;
        }
    }
    if k == 0 {
        *out.0 = u32::MAX;
        *out.1 = f32::INFINITY;
        return;
    }
    if bi == u32::MAX {
        bi = 0;
    }
    let xn: f32 = x.iter().map(|v| v * v).sum();
    *out.0 = bi;
    *out.1 = (xn + bv).max(0.0);
}

/// Fills `xm` (`dim × P`, `xm[d·P + p] = −2·x_p[d]`) for the points `i..i+P` (the last real row
/// repeated for padding). Returns the number of real rows.
#[inline]
fn load_block<const P: usize>(
    points: &[f32],
    dim: usize,
    n: usize,
    i: usize,
    xm: &mut [f32],
) -> usize {
    let cnt = (n - i).min(P);
    for p in 0..P {
        let r = i + p.min(cnt - 1);
        for (d, &v) in points[r * dim..(r + 1) * dim].iter().enumerate() {
            xm[d * P + p] = -2.0 * v;
        }
    }
    cnt
}

/// What the nearest-centroid driver needs beyond [`Lanes`]: a broadcast and a vector of
/// i32 centroid indices kept next to the running minima.
///
/// # Safety
/// As for [`Lanes`]: every method requires the implementor's ISA features.
trait NearestLanes: Lanes {
    /// `W` i32 lanes.
    type I: Copy;
    /// `x` in every lane.
    unsafe fn splat(x: f32) -> Self::V;
    /// `x` in every index lane.
    unsafe fn splat_i(x: i32) -> Self::I;
    /// `[0, 1, …, W−1]`.
    unsafe fn iota() -> Self::I;
    /// `a + b` per index lane.
    unsafe fn add_i(a: Self::I, b: Self::I) -> Self::I;
    /// Per lane where `a < best` (ordered): `best ← a`, `idx ← cidx`.
    unsafe fn keep_lt(a: Self::V, best: &mut Self::V, idx: &mut Self::I, cidx: Self::I);
    /// Writes candidate `(value, index)` pairs for [`finish_point`] to merge (the smallest
    /// value, then the smallest index, wins) and returns how many: AVX-512 reduces the lanes
    /// in registers to one pair, AVX2 stores all 8.
    unsafe fn candidates(
        best: Self::V,
        idx: Self::I,
        vals: &mut [f32; 16],
        idxs: &mut [u32; 16],
    ) -> usize;
}

impl NearestLanes for L512 {
    type I = __m512i;
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn splat(x: f32) -> __m512 {
        _mm512_set1_ps(x)
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn splat_i(x: i32) -> __m512i {
        _mm512_set1_epi32(x)
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn iota() -> __m512i {
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn add_i(a: __m512i, b: __m512i) -> __m512i {
        _mm512_add_epi32(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn keep_lt(a: __m512, best: &mut __m512, idx: &mut __m512i, cidx: __m512i) {
        let mk = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, *best);
        *best = _mm512_mask_mov_ps(*best, mk, a);
        *idx = _mm512_mask_mov_epi32(*idx, mk, cidx);
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn candidates(
        best: __m512,
        idx: __m512i,
        vals: &mut [f32; 16],
        idxs: &mut [u32; 16],
    ) -> usize {
        // The minimum value, then the smallest index among the lanes holding it (lanes never
        // set hold index u32::MAX).
        let minv = _mm512_reduce_min_ps(best);
        let eq = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(best, _mm512_set1_ps(minv));
        vals[0] = minv;
        idxs[0] = _mm512_mask_reduce_min_epu32(eq, idx);
        1
    }
}

impl NearestLanes for L256 {
    type I = __m256i;
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn splat(x: f32) -> __m256 {
        _mm256_set1_ps(x)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn splat_i(x: i32) -> __m256i {
        _mm256_set1_epi32(x)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn iota() -> __m256i {
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn add_i(a: __m256i, b: __m256i) -> __m256i {
        _mm256_add_epi32(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn keep_lt(a: __m256, best: &mut __m256, idx: &mut __m256i, cidx: __m256i) {
        let lt = _mm256_cmp_ps::<_CMP_LT_OQ>(a, *best);
        *best = _mm256_blendv_ps(*best, a, lt);
        *idx = _mm256_blendv_epi8(*idx, cidx, _mm256_castps_si256(lt));
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn candidates(
        best: __m256,
        idx: __m256i,
        vals: &mut [f32; 16],
        idxs: &mut [u32; 16],
    ) -> usize {
        // SAFETY: `vals` and `idxs` have room for 16 ≥ 8 elements; stores are unaligned.
        unsafe {
            _mm256_storeu_ps(vals.as_mut_ptr(), best);
            _mm256_storeu_si256(idxs.as_mut_ptr().cast(), idx);
        }
        8
    }
}

/// Stamps the nearest-centroid kernel `$name` for lane type `$L` under `$feat`, computing
/// `$p` points at a time (each point keeps one vector of running minima per lane).
///
/// Per block of `W` centroids, `acc[p] = ‖c‖² − 2·x_p·c` is accumulated with fused
/// multiply-adds over `d` in order, and each lane keeps its smallest value and index; the
/// lanes are then merged ([`NearestLanes::candidates`], [`finish_point`]: smallest value, then
/// smallest index), and [`finish_point`] also scans the centroids past the last full block.
macro_rules! nearest {
    ($name:ident, $feat:tt, $L:ty, $p:literal) => {
        #[target_feature(enable = $feat)]
        fn $name(
            points: &[f32],
            dim: usize,
            ct: &[f32],
            cnorm: &[f32],
            out_idx: &mut [u32],
            out_dist: &mut [f32],
        ) {
            const P: usize = $p;
            const W: usize = <$L as Lanes>::W;
            let (n, k) = nearest_sizes(points, dim, ct, cnorm, out_idx, out_dist);
            let kv = k / W * W;
            let mut xm = vec![0.0f32; dim * P];
            let mut vals = [0.0f32; 16];
            let mut idxs = [0u32; 16];
            let mut i = 0;
            while i < n {
                let cnt = load_block::<P>(points, dim, n, i, &mut xm);
                // SAFETY: register-only intrinsics; features enabled here.
                let mut bv = [unsafe { <$L>::splat(f32::INFINITY) }; P];
                // SAFETY: as above.
                let mut bi = [unsafe { <$L>::splat_i(-1) }; P];
                // SAFETY: as above.
                let (mut cidx, step) = unsafe { (<$L>::iota(), <$L>::splat_i(W as i32)) };
                let mut c0 = 0;
                while c0 < kv {
                    // SAFETY: `c0 + W ≤ kv ≤ k ≤ cnorm.len()`.
                    let init = unsafe { <$L>::loadu(cnorm.as_ptr().add(c0)) };
                    let mut acc = [init; P];
                    for (d, xs) in xm.chunks_exact(P).enumerate() {
                        // SAFETY: `d < dim` and `c0 + W ≤ k`, so `d·k + c0 + W ≤ dim·k ≤
                        // ct.len()`.
                        let col = unsafe { <$L>::loadu(ct.as_ptr().add(d * k + c0)) };
                        for p in 0..P {
                            // SAFETY: register-only intrinsics; features enabled here.
                            acc[p] = unsafe { <$L>::fmadd(<$L>::splat(xs[p]), col, acc[p]) };
                        }
                    }
                    for p in 0..P {
                        // SAFETY: register-only intrinsics; features enabled here.
                        unsafe { <$L>::keep_lt(acc[p], &mut bv[p], &mut bi[p], cidx) };
                    }
                    // SAFETY: register-only intrinsics; features enabled here.
                    cidx = unsafe { <$L>::add_i(cidx, step) };
                    c0 += W;
                }
                for p in 0..cnt {
                    // SAFETY: register-only intrinsics and writes into the two arrays.
                    let m = unsafe { <$L>::candidates(bv[p], bi[p], &mut vals, &mut idxs) };
                    let r = i + p;
                    finish_point(
                        &vals[..m],
                        &idxs[..m],
                        &points[r * dim..(r + 1) * dim],
                        ct,
                        cnorm,
                        kv,
                        k,
                        (&mut out_idx[r], &mut out_dist[r]),
                    );
                }
                i += P;
            }
        }
    };
}

nearest!(nearest_avx512_impl, "avx512f,avx512bw,avx2,fma", L512, 8);
nearest!(nearest_avx2_impl, "avx2,fma", L256, 4);

// ---------------------------------------------------------------------------
// Gather-based ADC (kept for measurement; see `avx512_gather_adc`)
// ---------------------------------------------------------------------------

#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
fn adc_u8_avx512_impl(table: &[f32], code: &[u8]) -> f32 {
    let m = code.len().min(table.len() / 256);
    if m >= (i32::MAX as usize) / 256 {
        // Lane indices would not fit in i32.
        return super::adc_u8_scalar(table, code);
    }
    let step = _mm512_set1_epi32(16 * 256);
    let mut offs = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(256),
    );
    let mut acc = _mm512_setzero_ps();
    let mut j = 0;
    while j + 16 <= m {
        // SAFETY: `j + 16 ≤ m ≤ code.len()`: the 16-byte load is in bounds.
        let c = unsafe { _mm_loadu_si128(code.as_ptr().add(j).cast()) };
        let idx = _mm512_add_epi32(_mm512_cvtepu8_epi32(c), offs);
        // SAFETY: lane `l` reads `table[256·(j+l) + code[j+l]]` with `j + l < m`, so the index
        // is below `256·m ≤ table.len()`, and `256·m < 2³¹` (checked above) so it fits in i32.
        let g = unsafe { _mm512_i32gather_ps::<4>(idx, table.as_ptr()) };
        acc = _mm512_add_ps(acc, g);
        offs = _mm512_add_epi32(offs, step);
        j += 16;
    }
    if j < m {
        let rem = m - j;
        let mut buf = [0u8; 16];
        buf[..rem].copy_from_slice(&code[j..m]);
        // SAFETY: `buf` is 16 bytes.
        let c = unsafe { _mm_loadu_si128(buf.as_ptr().cast()) };
        let idx = _mm512_add_epi32(_mm512_cvtepu8_epi32(c), offs);
        let mask: __mmask16 = ((1u32 << rem) - 1) as __mmask16;
        // SAFETY: only lanes `l < rem` (mask bits) are read, each at
        // `256·(j+l) + code[j+l] < 256·m ≤ table.len()`; masked lanes do not access memory.
        let g = unsafe {
            _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), mask, idx, table.as_ptr())
        };
        acc = _mm512_add_ps(acc, g);
    }
    _mm512_reduce_add_ps(acc)
}

#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
fn adc_u4_avx512_impl(table: &[f32], code: &[u8], m: usize) -> f32 {
    let m = m.min(2 * code.len()).min(table.len() / 16);
    if m >= (i32::MAX as usize) / 16 {
        // Lane indices would not fit in i32.
        return super::adc_u4_scalar(table, code, m);
    }
    let step = _mm512_set1_epi32(16 * 16);
    let mut offs = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(16),
    );
    let nib = _mm_set1_epi8(0x0f);
    let mut acc = _mm512_setzero_ps();
    let mut j = 0;
    while j < m {
        let rem = (m - j).min(16);
        let mut buf = [0u8; 8];
        let bytes = rem.div_ceil(2);
        buf[..bytes].copy_from_slice(&code[j / 2..j / 2 + bytes]);
        let v = _mm_cvtsi64_si128(i64::from_le_bytes(buf));
        let lo = _mm_and_si128(v, nib);
        let hi = _mm_and_si128(_mm_srli_epi16::<4>(v), nib);
        let inter = _mm_unpacklo_epi8(lo, hi);
        let idx = _mm512_add_epi32(_mm512_cvtepu8_epi32(inter), offs);
        let mask: __mmask16 = ((1u32 << rem) - 1) as __mmask16;
        // SAFETY: only lanes `l < rem` are read, each at `16·(j+l) + nibble < 16·m ≤ table.len()`.
        let g = unsafe {
            _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), mask, idx, table.as_ptr())
        };
        acc = _mm512_add_ps(acc, g);
        offs = _mm512_add_epi32(offs, step);
        j += 16;
    }
    _mm512_reduce_add_ps(acc)
}
