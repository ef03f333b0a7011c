//! x86_64 MaxSim kernels: AVX2+FMA+F16C and AVX-512F.
//!
//! Same structure as `x86.rs`: `#[target_feature]` implementations, private
//! safe wrappers that are only reachable through the tables returned by
//! [`avx2_maxsim_kernels`] / [`avx512_maxsim_kernels`], which exist only
//! after `is_x86_feature_detected!` confirmed the features.
//!
//! The core is a register tile: `QB` query rows × `PB` document rows of dot
//! products over the whole dimension, accumulated in `QB·PB` vector
//! registers (AVX-512: up to 4×4, AVX2: up to 4×2), with a masked or
//! zero-padded tail so nothing is read past a row. Document rows are read
//! through the [`Row512`] / [`Row256`] traits, which widen f32 / f16 / i8
//! elements to f32 lanes. Rows are passed as raw pointers whose validity for
//! `dim` elements the drivers establish from slice lengths.

use core::arch::x86_64::*;

use super::MaxSimKernels;
use crate::isa::{base_only, CpuFeatures, Isa, Variant};

/// Bytes of `b` rows [`MaxSimKernels::dot_matrix`] keeps hot in L1 per panel.
const PANEL_BYTES: usize = 24 * 1024;

/// F16C, which the AVX2 kernels use to widen binary16 tokens.
fn f16c(c: &CpuFeatures) -> bool {
    c.f16c
}

/// True when the AVX2 MaxSim kernels may run on this CPU.
fn has_avx2() -> bool {
    Isa::Avx2.runnable() && f16c(crate::isa::cpu())
}

/// True when the AVX-512 MaxSim kernels may run on this CPU.
fn has_avx512() -> bool {
    Isa::Avx512.runnable()
}

/// The AVX2+FMA+F16C table; selected only where all three were detected.
pub(super) const AVX2: Variant<MaxSimKernels> = Variant {
    level: Isa::Avx2,
    name: "avx2",
    needs: f16c,
    table: MaxSimKernels {
        isa: Isa::Avx2,
        maxsim_f32: avx2_maxsim_f32,
        maxsim_f16: avx2_maxsim_f16,
        maxsim_sq8: avx2_maxsim_sq8,
        dot_matrix: avx2_dot_matrix,
        add_assign: avx2_add_assign,
    },
};

/// The AVX-512F table; selected only where AVX-512F (and AVX2+FMA) were detected.
pub(super) const AVX512: Variant<MaxSimKernels> = Variant {
    level: Isa::Avx512,
    name: "avx512",
    needs: base_only,
    table: MaxSimKernels {
        isa: Isa::Avx512,
        maxsim_f32: avx512_maxsim_f32,
        maxsim_f16: avx512_maxsim_f16,
        maxsim_sq8: avx512_maxsim_sq8,
        dot_matrix: avx512_dot_matrix,
        add_assign: avx512_add_assign,
    },
};

// ---------------------------------------------------------------------------
// Safe wrappers. Only ever stored in a table built after detection.
// ---------------------------------------------------------------------------

fn rows(len: usize, dim: usize) -> usize {
    len.checked_div(dim).unwrap_or(0)
}

fn avx512_maxsim_f32(query: &[f32], doc: &[f32], dim: usize) -> f32 {
    debug_assert!(has_avx512());
    let (nq, np) = (rows(query.len(), dim), rows(doc.len(), dim));
    // SAFETY: only reachable through the `AVX512` variant (AVX-512F
    // detected); `query` holds `nq·dim` and `doc` `np·dim` elements.
    unsafe { maxsim512(query.as_ptr(), nq, doc.as_ptr(), np, dim, |_, d| d) }
}

fn avx512_maxsim_f16(query: &[f32], doc: &[u16], dim: usize) -> f32 {
    debug_assert!(has_avx512());
    let (nq, np) = (rows(query.len(), dim), rows(doc.len(), dim));
    // SAFETY: as in `avx512_maxsim_f32`; `F16` rows read `dim` u16s.
    unsafe {
        maxsim512(
            query.as_ptr(),
            nq,
            doc.as_ptr().cast::<F16>(),
            np,
            dim,
            |_, d| d,
        )
    }
}

fn avx512_maxsim_sq8(query: &[f32], codes: &[i8], scales: &[f32], dim: usize) -> f32 {
    debug_assert!(has_avx512());
    let (nq, np) = (
        rows(query.len(), dim),
        rows(codes.len(), dim).min(scales.len()),
    );
    // SAFETY: as in `avx512_maxsim_f32`; `codes` holds at least `np·dim`
    // elements and the closure only indexes `scales` below `np`.
    unsafe {
        maxsim512(query.as_ptr(), nq, codes.as_ptr(), np, dim, |j, d| {
            d * scales[j]
        })
    }
}

fn avx512_dot_matrix(a: &[f32], b: &[f32], dim: usize, out: &mut [f32]) {
    debug_assert!(has_avx512());
    let nb = rows(b.len(), dim);
    if nb == 0 {
        return;
    }
    let na = rows(a.len(), dim).min(out.len() / nb);
    // SAFETY: AVX-512F detected; `a` holds `na·dim`, `b` `nb·dim` and `out`
    // at least `na·nb` elements.
    unsafe { dot_matrix512(a.as_ptr(), na, b.as_ptr(), nb, dim, out.as_mut_ptr()) }
}

fn avx512_add_assign(acc: &mut [f32], x: &[f32]) {
    debug_assert!(has_avx512());
    // SAFETY: only reachable through the `AVX512` variant (AVX-512F detected).
    unsafe { add_assign512(acc, x) }
}

fn avx2_maxsim_f32(query: &[f32], doc: &[f32], dim: usize) -> f32 {
    debug_assert!(has_avx2());
    let (nq, np) = (rows(query.len(), dim), rows(doc.len(), dim));
    // SAFETY: only reachable through the `AVX2` variant (AVX2+FMA+F16C
    // detected); `query` holds `nq·dim` and `doc` `np·dim` elements.
    unsafe { maxsim256(query.as_ptr(), nq, doc.as_ptr(), np, dim, |_, d| d) }
}

fn avx2_maxsim_f16(query: &[f32], doc: &[u16], dim: usize) -> f32 {
    debug_assert!(has_avx2());
    let (nq, np) = (rows(query.len(), dim), rows(doc.len(), dim));
    // SAFETY: as in `avx2_maxsim_f32`; `F16` rows read `dim` u16s.
    unsafe {
        maxsim256(
            query.as_ptr(),
            nq,
            doc.as_ptr().cast::<F16>(),
            np,
            dim,
            |_, d| d,
        )
    }
}

fn avx2_maxsim_sq8(query: &[f32], codes: &[i8], scales: &[f32], dim: usize) -> f32 {
    debug_assert!(has_avx2());
    let (nq, np) = (
        rows(query.len(), dim),
        rows(codes.len(), dim).min(scales.len()),
    );
    // SAFETY: as in `avx2_maxsim_f32`; the closure only indexes `scales` below `np`.
    unsafe {
        maxsim256(query.as_ptr(), nq, codes.as_ptr(), np, dim, |j, d| {
            d * scales[j]
        })
    }
}

fn avx2_dot_matrix(a: &[f32], b: &[f32], dim: usize, out: &mut [f32]) {
    debug_assert!(has_avx2());
    let nb = rows(b.len(), dim);
    if nb == 0 {
        return;
    }
    let na = rows(a.len(), dim).min(out.len() / nb);
    // SAFETY: AVX2+FMA+F16C detected; `a` holds `na·dim`, `b` `nb·dim` and
    // `out` at least `na·nb` elements.
    unsafe { dot_matrix256(a.as_ptr(), na, b.as_ptr(), nb, dim, out.as_mut_ptr()) }
}

fn avx2_add_assign(acc: &mut [f32], x: &[f32]) {
    debug_assert!(has_avx2());
    // SAFETY: only reachable through the `AVX2` variant (AVX2 detected).
    unsafe { add_assign256(acc, x) }
}

// ---------------------------------------------------------------------------
// Element types
// ---------------------------------------------------------------------------

/// A binary16 element (bit pattern), distinct from `u16` only for dispatch.
#[derive(Clone, Copy)]
#[repr(transparent)]
struct F16(#[allow(dead_code)] u16);

/// Document-row element that widens to 16 f32 lanes.
trait Row512: Copy {
    /// Loads 16 elements at `p` as f32 lanes.
    ///
    /// # Safety
    /// AVX-512F available; `p` valid for reading 16 elements.
    unsafe fn load(p: *const Self) -> __m512;

    /// Loads `rem < 16` elements at `p` into the low lanes, zeroing the rest.
    ///
    /// # Safety
    /// AVX-512F available; `p` valid for reading `rem` elements.
    unsafe fn load_tail(p: *const Self, rem: usize) -> __m512;
}

/// Document-row element that widens to 8 f32 lanes.
trait Row256: Copy {
    /// Loads 8 elements at `p` as f32 lanes.
    ///
    /// # Safety
    /// AVX2+FMA+F16C available; `p` valid for reading 8 elements.
    unsafe fn load(p: *const Self) -> __m256;

    /// Loads `rem < 8` elements at `p` into the low lanes, zeroing the rest.
    ///
    /// # Safety
    /// AVX2+FMA+F16C available; `p` valid for reading `rem` elements.
    unsafe fn load_tail(p: *const Self, rem: usize) -> __m256;
}

/// Copies `rem <= N` elements from `p` into a zero-filled array.
///
/// # Safety
/// `p` valid for reading `rem` elements and `rem <= N`.
#[inline(always)]
unsafe fn padded<T: Copy + Default, const N: usize>(p: *const T, rem: usize) -> [T; N] {
    debug_assert!(rem <= N);
    let mut buf = [T::default(); N];
    // SAFETY: the caller guarantees `p` is readable for `rem` elements and
    // `rem <= N`, so the destination has room; the regions cannot overlap
    // (`buf` is a fresh local).
    unsafe { core::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), rem) };
    buf
}

impl Row512 for f32 {
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load(p: *const f32) -> __m512 {
        // SAFETY: the caller guarantees 16 readable floats; `loadu` is unaligned.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load_tail(p: *const f32, rem: usize) -> __m512 {
        // SAFETY: a zero-masked load only touches lanes whose mask bit is set
        // (faults on the others are suppressed): lanes `0..rem`, all readable.
        unsafe { _mm512_maskz_loadu_ps(((1u32 << rem) - 1) as __mmask16, p) }
    }
}

impl Row512 for F16 {
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load(p: *const F16) -> __m512 {
        // SAFETY: the caller guarantees 16 readable u16s = 32 bytes; `loadu`
        // is unaligned. `vcvtph2ps zmm` is AVX-512F.
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast::<__m256i>())) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load_tail(p: *const F16, rem: usize) -> __m512 {
        // SAFETY: `rem < 16` readable elements (caller); zero padding is +0.0.
        let buf: [u16; 16] = unsafe { padded(p.cast::<u16>(), rem) };
        // SAFETY: `buf` is 32 readable bytes.
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(buf.as_ptr().cast::<__m256i>())) }
    }
}

impl Row512 for i8 {
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load(p: *const i8) -> __m512 {
        // SAFETY: the caller guarantees 16 readable bytes; `loadu` is unaligned.
        let v = unsafe { _mm_loadu_si128(p.cast::<__m128i>()) };
        _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v))
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load_tail(p: *const i8, rem: usize) -> __m512 {
        // SAFETY: `rem < 16` readable elements (caller).
        let buf: [i8; 16] = unsafe { padded(p, rem) };
        // SAFETY: `buf` is 16 readable bytes.
        let v = unsafe { _mm_loadu_si128(buf.as_ptr().cast::<__m128i>()) };
        _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v))
    }
}

impl Row256 for f32 {
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load(p: *const f32) -> __m256 {
        // SAFETY: the caller guarantees 8 readable floats; `loadu` is unaligned.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load_tail(p: *const f32, rem: usize) -> __m256 {
        let mask = tail_mask256(rem);
        // SAFETY: `vmaskmovps` only accesses lanes whose mask bit is set and
        // suppresses faults on the others: lanes `0..rem`, all readable.
        unsafe { _mm256_maskload_ps(p, mask) }
    }
}

impl Row256 for F16 {
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load(p: *const F16) -> __m256 {
        // SAFETY: the caller guarantees 8 readable u16s = 16 bytes.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast::<__m128i>())) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load_tail(p: *const F16, rem: usize) -> __m256 {
        // SAFETY: `rem < 8` readable elements (caller).
        let buf: [u16; 8] = unsafe { padded(p.cast::<u16>(), rem) };
        // SAFETY: `buf` is 16 readable bytes.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(buf.as_ptr().cast::<__m128i>())) }
    }
}

impl Row256 for i8 {
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load(p: *const i8) -> __m256 {
        // SAFETY: the caller guarantees 8 readable bytes; `movq` loads exactly 8.
        let v = unsafe { _mm_loadl_epi64(p.cast::<__m128i>()) };
        _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v))
    }
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load_tail(p: *const i8, rem: usize) -> __m256 {
        // SAFETY: `rem < 8` readable elements (caller).
        let buf: [i8; 8] = unsafe { padded(p, rem) };
        // SAFETY: `buf` is 8 readable bytes.
        let v = unsafe { _mm_loadl_epi64(buf.as_ptr().cast::<__m128i>()) };
        _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v))
    }
}

/// Lane mask selecting the first `rem` (< 8) lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn tail_mask256(rem: usize) -> __m256i {
    debug_assert!(rem < 8);
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(rem as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

// ---------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------

/// Horizontal sums of four 8-lane vectors: `[Σa, Σb, Σc, Σd]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum4_256(a: __m256, b: __m256, c: __m256, d: __m256) -> __m128 {
    // Per 128-bit half: [a01, a23, b01, b23] and [c01, c23, d01, d23] …
    let ab = _mm256_hadd_ps(a, b);
    let cd = _mm256_hadd_ps(c, d);
    // … then [a0123, b0123, c0123, d0123] per half; add the halves.
    let abcd = _mm256_hadd_ps(ab, cd);
    _mm_add_ps(
        _mm256_castps256_ps128(abcd),
        _mm256_extractf128_ps::<1>(abcd),
    )
}

/// Horizontal sum of one 8-lane vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum256(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)))
}

/// Horizontal sums of the first `n <= 16` vectors of `v` into `out[..n]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn reduce256(v: &[__m256; 16], n: usize, out: &mut [f32; 16]) {
    let mut k = 0;
    while k + 4 <= n {
        let s = hsum4_256(v[k], v[k + 1], v[k + 2], v[k + 3]);
        let mut tmp = [0.0f32; 4];
        // SAFETY: `tmp` is 16 writable bytes; `storeu` is unaligned.
        unsafe { _mm_storeu_ps(tmp.as_mut_ptr(), s) };
        out[k..k + 4].copy_from_slice(&tmp);
        k += 4;
    }
    while k < n {
        out[k] = hsum256(v[k]);
        k += 1;
    }
}

/// Adds the two 256-bit halves of a 16-lane vector.
#[inline]
#[target_feature(enable = "avx512f")]
fn fold512(v: __m512) -> __m256 {
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
    _mm256_add_ps(_mm512_castps512_ps256(v), hi)
}

// ---------------------------------------------------------------------------
// AVX-512 tile and drivers
// ---------------------------------------------------------------------------

/// `out[i][j] = ⟨q_i, p_j⟩` over `dim` elements.
///
/// # Safety
/// AVX-512F available; each `q[i]` readable for `dim` f32s and each `p[j]`
/// readable for `dim` elements.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn tile512<E: Row512, const QB: usize, const PB: usize>(
    q: [*const f32; QB],
    p: [*const E; PB],
    dim: usize,
) -> [[f32; PB]; QB] {
    let mut acc = [[_mm512_setzero_ps(); PB]; QB];
    let mut off = 0;
    while off + 16 <= dim {
        let mut pv = [_mm512_setzero_ps(); PB];
        for j in 0..PB {
            // SAFETY: `off + 16 <= dim` and `p[j]` is readable for `dim` elements.
            pv[j] = unsafe { E::load(p[j].add(off)) };
        }
        for i in 0..QB {
            // SAFETY: `off + 16 <= dim` and `q[i]` is readable for `dim` floats.
            let qv = unsafe { _mm512_loadu_ps(q[i].add(off)) };
            for j in 0..PB {
                acc[i][j] = _mm512_fmadd_ps(qv, pv[j], acc[i][j]);
            }
        }
        off += 16;
    }
    let rem = dim - off;
    if rem > 0 {
        let mask = ((1u32 << rem) - 1) as __mmask16;
        let mut pv = [_mm512_setzero_ps(); PB];
        for j in 0..PB {
            // SAFETY: exactly `rem` elements remain readable at `p[j] + off`.
            pv[j] = unsafe { E::load_tail(p[j].add(off), rem) };
        }
        for i in 0..QB {
            // SAFETY: the masked load touches lanes `0..rem` only, all inside `q[i]`'s row.
            let qv = unsafe { _mm512_maskz_loadu_ps(mask, q[i].add(off)) };
            for j in 0..PB {
                acc[i][j] = _mm512_fmadd_ps(qv, pv[j], acc[i][j]);
            }
        }
    }
    let mut flat = [_mm256_setzero_ps(); 16];
    for i in 0..QB {
        for j in 0..PB {
            flat[i * PB + j] = fold512(acc[i][j]);
        }
    }
    let mut sums = [0.0f32; 16];
    reduce256(&flat, QB * PB, &mut sums);
    let mut out = [[0.0f32; PB]; QB];
    for i in 0..QB {
        out[i].copy_from_slice(&sums[i * PB..(i + 1) * PB]);
    }
    out
}

/// Row pointers `base + (first + i)·dim` for `i < N`.
#[inline(always)]
fn row_ptrs<T, const N: usize>(base: *const T, first: usize, dim: usize) -> [*const T; N] {
    core::array::from_fn(|i| base.wrapping_add((first + i) * dim))
}

/// Running maxima of `QB` query rows against all `np` document rows.
///
/// # Safety
/// AVX-512F; `q` rows readable for `dim` f32s each; `doc` readable for `np·dim` elements.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn maxima512<E: Row512, const QB: usize>(
    q: [*const f32; QB],
    doc: *const E,
    np: usize,
    dim: usize,
    post: &impl Fn(usize, f32) -> f32,
) -> [f32; QB] {
    let mut best = [f32::NEG_INFINITY; QB];
    let mut j = 0;
    macro_rules! step {
        ($pb:literal) => {{
            // SAFETY: rows `j..j + $pb` are below `np`, so readable (caller).
            let t = unsafe { tile512::<E, QB, $pb>(q, row_ptrs(doc, j, dim), dim) };
            for i in 0..QB {
                for jj in 0..$pb {
                    best[i] = best[i].max(post(j + jj, t[i][jj]));
                }
            }
        }};
    }
    while j + 4 <= np {
        step!(4);
        j += 4;
    }
    match np - j {
        3 => step!(3),
        2 => step!(2),
        1 => step!(1),
        _ => {}
    }
    best
}

/// MaxSim driver; `post(j, dot)` maps the raw dot with document row `j` to its score.
///
/// # Safety
/// AVX-512F; `q` readable for `nq·dim` f32s, `doc` for `np·dim` elements.
#[target_feature(enable = "avx512f")]
unsafe fn maxsim512<E: Row512>(
    q: *const f32,
    nq: usize,
    doc: *const E,
    np: usize,
    dim: usize,
    post: impl Fn(usize, f32) -> f32,
) -> f32 {
    if dim == 0 || nq == 0 {
        return 0.0;
    }
    if np == 0 {
        return f32::NEG_INFINITY;
    }
    let mut total = 0.0f64;
    let mut i = 0;
    macro_rules! step {
        ($qb:literal) => {{
            // SAFETY: query rows `i..i + $qb` are below `nq` (caller).
            let m = unsafe { maxima512::<E, $qb>(row_ptrs(q, i, dim), doc, np, dim, &post) };
            total += m.iter().map(|&x| f64::from(x)).sum::<f64>();
        }};
    }
    while i + 4 <= nq {
        step!(4);
        i += 4;
    }
    match nq - i {
        3 => step!(3),
        2 => step!(2),
        1 => step!(1),
        _ => {}
    }
    total as f32
}

/// Pairwise dots of `QB` rows of `a` against all rows of `b`, into `out` rows.
///
/// # Safety
/// AVX-512F; `a` rows readable for `dim`, `b` for `nb·dim`, `out` rows writable for `nb`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn dot_rows512<const QB: usize>(
    a: [*const f32; QB],
    b: *const f32,
    nb: usize,
    dim: usize,
    out: [*mut f32; QB],
) {
    let mut j = 0;
    macro_rules! step {
        ($pb:literal) => {{
            // SAFETY: rows `j..j + $pb` of `b` are below `nb` (caller).
            let t = unsafe { tile512::<f32, QB, $pb>(a, row_ptrs(b, j, dim), dim) };
            for i in 0..QB {
                // SAFETY: `out[i]` is writable for `nb` floats and `j + $pb <= nb`.
                unsafe { core::ptr::copy_nonoverlapping(t[i].as_ptr(), out[i].add(j), $pb) };
            }
        }};
    }
    while j + 4 <= nb {
        step!(4);
        j += 4;
    }
    match nb - j {
        3 => step!(3),
        2 => step!(2),
        1 => step!(1),
        _ => {}
    }
}

/// # Safety
/// AVX-512F; `a` readable for `na·dim`, `b` for `nb·dim`, `out` writable for `na·nb` f32s.
#[target_feature(enable = "avx512f")]
unsafe fn dot_matrix512(
    a: *const f32,
    na: usize,
    b: *const f32,
    nb: usize,
    dim: usize,
    out: *mut f32,
) {
    // Panels of `b` rows that fit in L1 are swept by every row of `a`, so
    // `b` is read from L2 once per panel instead of once per block of `a` rows.
    let panel = (PANEL_BYTES / (4 * dim.max(1))).max(4) & !3;
    let mut j0 = 0;
    while j0 < nb {
        let pb = panel.min(nb - j0);
        // SAFETY: rows `j0..j0 + pb` of `b` are below `nb`; output columns
        // `j0..j0 + pb` of each of the `na` rows (stride `nb`) are writable (caller).
        unsafe {
            dot_panel512(
                a,
                na,
                b.wrapping_add(j0 * dim),
                pb,
                dim,
                out.wrapping_add(j0),
                nb,
            )
        };
        j0 += pb;
    }
}

/// `out[i·ldo + j] = ⟨a_i, b_j⟩` for `i < na`, `j < nb`.
///
/// # Safety
/// As [`dot_matrix512`], with `out` writable at `i·ldo + j` for those `i, j`.
#[target_feature(enable = "avx512f")]
unsafe fn dot_panel512(
    a: *const f32,
    na: usize,
    b: *const f32,
    nb: usize,
    dim: usize,
    out: *mut f32,
    ldo: usize,
) {
    let mut i = 0;
    macro_rules! step {
        ($qb:literal) => {{
            let o: [*mut f32; $qb] = core::array::from_fn(|k| out.wrapping_add((i + k) * ldo));
            // SAFETY: rows `i..i + $qb` are below `na` (caller).
            unsafe { dot_rows512::<$qb>(row_ptrs(a, i, dim), b, nb, dim, o) };
        }};
    }
    while i + 4 <= na {
        step!(4);
        i += 4;
    }
    match na - i {
        3 => step!(3),
        2 => step!(2),
        1 => step!(1),
        _ => {}
    }
}

#[target_feature(enable = "avx512f")]
fn add_assign512(acc: &mut [f32], x: &[f32]) {
    let n = acc.len().min(x.len());
    let mut off = 0;
    while off + 16 <= n {
        // SAFETY: `off + 16 <= n` ≤ both lengths.
        unsafe {
            let s = _mm512_add_ps(
                _mm512_loadu_ps(acc.as_ptr().add(off)),
                _mm512_loadu_ps(x.as_ptr().add(off)),
            );
            _mm512_storeu_ps(acc.as_mut_ptr().add(off), s);
        }
        off += 16;
    }
    for k in off..n {
        acc[k] += x[k];
    }
}

// ---------------------------------------------------------------------------
// AVX2 tile and drivers
// ---------------------------------------------------------------------------

/// `out[i][j] = ⟨q_i, p_j⟩` over `dim` elements.
///
/// # Safety
/// AVX2+FMA+F16C available; each `q[i]` readable for `dim` f32s and each
/// `p[j]` readable for `dim` elements.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile256<E: Row256, const QB: usize, const PB: usize>(
    q: [*const f32; QB],
    p: [*const E; PB],
    dim: usize,
) -> [[f32; PB]; QB] {
    let mut acc = [[_mm256_setzero_ps(); PB]; QB];
    let mut off = 0;
    while off + 8 <= dim {
        let mut pv = [_mm256_setzero_ps(); PB];
        for j in 0..PB {
            // SAFETY: `off + 8 <= dim` and `p[j]` is readable for `dim` elements.
            pv[j] = unsafe { E::load(p[j].add(off)) };
        }
        for i in 0..QB {
            // SAFETY: `off + 8 <= dim` and `q[i]` is readable for `dim` floats.
            let qv = unsafe { _mm256_loadu_ps(q[i].add(off)) };
            for j in 0..PB {
                acc[i][j] = _mm256_fmadd_ps(qv, pv[j], acc[i][j]);
            }
        }
        off += 8;
    }
    let rem = dim - off;
    if rem > 0 {
        let mut pv = [_mm256_setzero_ps(); PB];
        for j in 0..PB {
            // SAFETY: exactly `rem` elements remain readable at `p[j] + off`.
            pv[j] = unsafe { E::load_tail(p[j].add(off), rem) };
        }
        for i in 0..QB {
            // SAFETY: exactly `rem` floats remain readable at `q[i] + off`.
            let qv = unsafe { <f32 as Row256>::load_tail(q[i].add(off), rem) };
            for j in 0..PB {
                acc[i][j] = _mm256_fmadd_ps(qv, pv[j], acc[i][j]);
            }
        }
    }
    let mut flat = [_mm256_setzero_ps(); 16];
    for i in 0..QB {
        for j in 0..PB {
            flat[i * PB + j] = acc[i][j];
        }
    }
    let mut sums = [0.0f32; 16];
    reduce256(&flat, QB * PB, &mut sums);
    let mut out = [[0.0f32; PB]; QB];
    for i in 0..QB {
        out[i].copy_from_slice(&sums[i * PB..(i + 1) * PB]);
    }
    out
}

/// Running maxima of `QB` query rows against all `np` document rows.
///
/// # Safety
/// AVX2+FMA+F16C; `q` rows readable for `dim` f32s; `doc` for `np·dim` elements.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn maxima256<E: Row256, const QB: usize>(
    q: [*const f32; QB],
    doc: *const E,
    np: usize,
    dim: usize,
    post: &impl Fn(usize, f32) -> f32,
) -> [f32; QB] {
    let mut best = [f32::NEG_INFINITY; QB];
    let mut j = 0;
    macro_rules! step {
        ($pb:literal) => {{
            // SAFETY: rows `j..j + $pb` are below `np`, so readable (caller).
            let t = unsafe { tile256::<E, QB, $pb>(q, row_ptrs(doc, j, dim), dim) };
            for i in 0..QB {
                for jj in 0..$pb {
                    best[i] = best[i].max(post(j + jj, t[i][jj]));
                }
            }
        }};
    }
    while j + 2 <= np {
        step!(2);
        j += 2;
    }
    if np - j == 1 {
        step!(1);
    }
    best
}

/// MaxSim driver; `post(j, dot)` maps the raw dot with document row `j` to its score.
///
/// # Safety
/// AVX2+FMA+F16C; `q` readable for `nq·dim` f32s, `doc` for `np·dim` elements.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn maxsim256<E: Row256>(
    q: *const f32,
    nq: usize,
    doc: *const E,
    np: usize,
    dim: usize,
    post: impl Fn(usize, f32) -> f32,
) -> f32 {
    if dim == 0 || nq == 0 {
        return 0.0;
    }
    if np == 0 {
        return f32::NEG_INFINITY;
    }
    let mut total = 0.0f64;
    let mut i = 0;
    macro_rules! step {
        ($qb:literal) => {{
            // SAFETY: query rows `i..i + $qb` are below `nq` (caller).
            let m = unsafe { maxima256::<E, $qb>(row_ptrs(q, i, dim), doc, np, dim, &post) };
            total += m.iter().map(|&x| f64::from(x)).sum::<f64>();
        }};
    }
    while i + 4 <= nq {
        step!(4);
        i += 4;
    }
    match nq - i {
        3 => step!(3),
        2 => step!(2),
        1 => step!(1),
        _ => {}
    }
    total as f32
}

/// Pairwise dots of `QB` rows of `a` against all rows of `b`, into `out` rows.
///
/// # Safety
/// AVX2+FMA+F16C; `a` rows readable for `dim`, `b` for `nb·dim`, `out` rows writable for `nb`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_rows256<const QB: usize>(
    a: [*const f32; QB],
    b: *const f32,
    nb: usize,
    dim: usize,
    out: [*mut f32; QB],
) {
    let mut j = 0;
    macro_rules! step {
        ($pb:literal) => {{
            // SAFETY: rows `j..j + $pb` of `b` are below `nb` (caller).
            let t = unsafe { tile256::<f32, QB, $pb>(a, row_ptrs(b, j, dim), dim) };
            for i in 0..QB {
                // SAFETY: `out[i]` is writable for `nb` floats and `j + $pb <= nb`.
                unsafe { core::ptr::copy_nonoverlapping(t[i].as_ptr(), out[i].add(j), $pb) };
            }
        }};
    }
    while j + 2 <= nb {
        step!(2);
        j += 2;
    }
    if nb - j == 1 {
        step!(1);
    }
}

/// # Safety
/// AVX2+FMA+F16C; `a` readable for `na·dim`, `b` for `nb·dim`, `out` writable for `na·nb` f32s.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_matrix256(
    a: *const f32,
    na: usize,
    b: *const f32,
    nb: usize,
    dim: usize,
    out: *mut f32,
) {
    // Panels of `b` rows that fit in L1 are swept by every row of `a`, so
    // `b` is read from L2 once per panel instead of once per block of `a` rows.
    let panel = (PANEL_BYTES / (4 * dim.max(1))).max(4) & !3;
    let mut j0 = 0;
    while j0 < nb {
        let pb = panel.min(nb - j0);
        // SAFETY: rows `j0..j0 + pb` of `b` are below `nb`; output columns
        // `j0..j0 + pb` of each of the `na` rows (stride `nb`) are writable (caller).
        unsafe {
            dot_panel256(
                a,
                na,
                b.wrapping_add(j0 * dim),
                pb,
                dim,
                out.wrapping_add(j0),
                nb,
            )
        };
        j0 += pb;
    }
}

/// `out[i·ldo + j] = ⟨a_i, b_j⟩` for `i < na`, `j < nb`.
///
/// # Safety
/// As [`dot_matrix256`], with `out` writable at `i·ldo + j` for those `i, j`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_panel256(
    a: *const f32,
    na: usize,
    b: *const f32,
    nb: usize,
    dim: usize,
    out: *mut f32,
    ldo: usize,
) {
    let mut i = 0;
    macro_rules! step {
        ($qb:literal) => {{
            let o: [*mut f32; $qb] = core::array::from_fn(|k| out.wrapping_add((i + k) * ldo));
            // SAFETY: rows `i..i + $qb` are below `na` (caller).
            unsafe { dot_rows256::<$qb>(row_ptrs(a, i, dim), b, nb, dim, o) };
        }};
    }
    while i + 4 <= na {
        step!(4);
        i += 4;
    }
    match na - i {
        3 => step!(3),
        2 => step!(2),
        1 => step!(1),
        _ => {}
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
fn add_assign256(acc: &mut [f32], x: &[f32]) {
    let n = acc.len().min(x.len());
    let mut off = 0;
    while off + 8 <= n {
        // SAFETY: `off + 8 <= n` ≤ both lengths.
        unsafe {
            let s = _mm256_add_ps(
                _mm256_loadu_ps(acc.as_ptr().add(off)),
                _mm256_loadu_ps(x.as_ptr().add(off)),
            );
            _mm256_storeu_ps(acc.as_mut_ptr().add(off), s);
        }
        off += 8;
    }
    for k in off..n {
        acc[k] += x[k];
    }
}
