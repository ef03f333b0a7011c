//! x86_64 MaxSim kernels: AVX2+FMA+F16C and AVX-512F.
//!
//! The drivers (register tile, running maxima, MaxSim, the dot-product matrix and
//! `add_assign`) are written once, in the [`drivers!`] macro, over a lane width (`crate::lanes::Lanes`:
//! `L512` = 16 f32 lanes, `L256` = 8) and a document-row element type ([`Row`]: f32, f16,
//! i8, widened to f32 lanes). The macro stamps them into one module per ISA (`avx512`,
//! `avx2`) whose functions carry that ISA's `#[target_feature]`, so the `#[inline]` leaf
//! functions of the traits inline into them. Each module also holds the safe wrappers that
//! go into the [`AVX512`] / [`AVX2`] variants, which [`crate::isa::select`] hands out only
//! after detection confirmed the features.
//!
//! The core is a register tile: `QB` query rows × `PB` document rows of dot
//! products over the whole dimension, accumulated in `QB·PB` vector
//! registers (AVX-512: up to 4×4, AVX2: up to 4×2), with a masked or
//! zero-padded tail so nothing is read past a row. Rows are passed as raw pointers whose
//! validity for `dim` elements the drivers establish from slice lengths.

use core::arch::x86_64::*;

use super::MaxSimKernels;
use crate::isa::{base_only, CpuFeatures, Isa, Variant};
use crate::lanes::{hsum256, Lanes, L256, L512};

/// Bytes of `b` rows [`MaxSimKernels::dot_matrix`] keeps hot in L1 per panel.
const PANEL_BYTES: usize = 24 * 1024;

/// F16C, which the AVX2 kernels use to widen binary16 tokens.
fn f16c(c: &CpuFeatures) -> bool {
    c.f16c
}

/// The AVX2+FMA+F16C table; selected only where all three were detected.
pub(super) const AVX2: Variant<MaxSimKernels> = Variant {
    level: Isa::Avx2,
    name: "avx2",
    needs: f16c,
    table: MaxSimKernels {
        isa: Isa::Avx2,
        maxsim_f32: avx2::maxsim_f32,
        maxsim_f16: avx2::maxsim_f16,
        maxsim_sq8: avx2::maxsim_sq8,
        dot_matrix: avx2::dot_matrix,
        add_assign: avx2::add_assign,
    },
};

/// The AVX-512F table; selected only where AVX-512F (and AVX2+FMA) were detected.
pub(super) const AVX512: Variant<MaxSimKernels> = Variant {
    level: Isa::Avx512,
    name: "avx512",
    needs: base_only,
    table: MaxSimKernels {
        isa: Isa::Avx512,
        maxsim_f32: avx512::maxsim_f32,
        maxsim_f16: avx512::maxsim_f16,
        maxsim_sq8: avx512::maxsim_sq8,
        dot_matrix: avx512::dot_matrix,
        add_assign: avx512::add_assign,
    },
};

fn rows(len: usize, dim: usize) -> usize {
    len.checked_div(dim).unwrap_or(0)
}

/// Row pointers `base + (first + i)·dim` for `i < N`.
#[inline(always)]
fn row_ptrs<T, const N: usize>(base: *const T, first: usize, dim: usize) -> [*const T; N] {
    core::array::from_fn(|i| base.wrapping_add((first + i) * dim))
}

// ---------------------------------------------------------------------------
// Lane widths and element types
// ---------------------------------------------------------------------------

/// A binary16 element (bit pattern), distinct from `u16` only for dispatch.
#[derive(Clone, Copy)]
#[repr(transparent)]
struct F16(#[allow(dead_code)] u16);

/// Document-row element that widens to the f32 lanes of `L`.
trait Row<L: Lanes>: Copy {
    /// Loads `L::W` elements at `p` as f32 lanes.
    ///
    /// # Safety
    /// `L`'s features available; `p` valid for reading `L::W` elements.
    unsafe fn load(p: *const Self) -> L::V;

    /// Loads `rem < L::W` elements at `p` into the low lanes, zeroing the rest.
    ///
    /// # Safety
    /// `L`'s features available; `p` valid for reading `rem` elements.
    unsafe fn load_tail(p: *const Self, rem: usize) -> L::V;
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

/// Widens 16 binary16 values at `p` to f32 (`vcvtph2ps zmm`, AVX-512F).
///
/// # Safety
/// AVX-512F available; `p` readable for 16 u16s.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn f16x16(p: *const u16) -> __m512 {
    // SAFETY: the caller guarantees 32 readable bytes; `loadu` is unaligned.
    unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast::<__m256i>())) }
}

/// Widens 16 int8 values at `p` to f32.
///
/// # Safety
/// AVX-512F available; `p` readable for 16 bytes.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn i8x16(p: *const i8) -> __m512 {
    // SAFETY: the caller guarantees 16 readable bytes; `loadu` is unaligned.
    let v = unsafe { _mm_loadu_si128(p.cast::<__m128i>()) };
    _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v))
}

/// Widens 8 binary16 values at `p` to f32 (F16C `vcvtph2ps ymm`).
///
/// # Safety
/// AVX2+FMA+F16C available; `p` readable for 8 u16s.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f16x8(p: *const u16) -> __m256 {
    // SAFETY: the caller guarantees 16 readable bytes; `loadu` is unaligned.
    unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast::<__m128i>())) }
}

/// Widens 8 int8 values at `p` to f32.
///
/// # Safety
/// AVX2+FMA+F16C available; `p` readable for 8 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn i8x8(p: *const i8) -> __m256 {
    // SAFETY: the caller guarantees 8 readable bytes; `movq` loads exactly 8.
    let v = unsafe { _mm_loadl_epi64(p.cast::<__m128i>()) };
    _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v))
}

/// Implements [`Row`] for f32, [`F16`] and i8 rows at lane type `$L` (`$w` lanes, features
/// `$feat`): f32 rows use the lane type's loads, f16 and i8 rows the widening loads `$f16` /
/// `$i8`, with tails copied into a zero-padded buffer first (zero widens to +0.0).
macro_rules! rows {
    ($L:ty, $w:literal, $feat:tt, $f16:ident, $i8:ident) => {
        impl Row<$L> for f32 {
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn load(p: *const f32) -> <$L as Lanes>::V {
                // SAFETY: the caller guarantees `$w` readable floats.
                unsafe { <$L>::loadu(p) }
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn load_tail(p: *const f32, rem: usize) -> <$L as Lanes>::V {
                // SAFETY: the caller guarantees `rem < $w` readable floats.
                unsafe { <$L>::load_tail(p, rem) }
            }
        }

        impl Row<$L> for F16 {
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn load(p: *const F16) -> <$L as Lanes>::V {
                // SAFETY: the caller guarantees `$w` readable elements.
                unsafe { $f16(p.cast::<u16>()) }
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn load_tail(p: *const F16, rem: usize) -> <$L as Lanes>::V {
                // SAFETY: `rem < $w` readable elements (caller).
                let buf: [u16; $w] = unsafe { padded(p.cast::<u16>(), rem) };
                // SAFETY: `buf` holds `$w` readable elements.
                unsafe { $f16(buf.as_ptr()) }
            }
        }

        impl Row<$L> for i8 {
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn load(p: *const i8) -> <$L as Lanes>::V {
                // SAFETY: the caller guarantees `$w` readable bytes.
                unsafe { $i8(p) }
            }
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn load_tail(p: *const i8, rem: usize) -> <$L as Lanes>::V {
                // SAFETY: `rem < $w` readable elements (caller).
                let buf: [i8; $w] = unsafe { padded(p, rem) };
                // SAFETY: `buf` holds `$w` readable bytes.
                unsafe { $i8(buf.as_ptr()) }
            }
        }
    };
}

rows!(L512, 16, "avx512f", f16x16, i8x16);
rows!(L256, 8, "avx2,fma,f16c", f16x8, i8x8);

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

/// Runs `$step!(n)` over `$i` = 0, `max`, 2·`max`, … while a full block of `max` fits below
/// `$n`, then once for the remaining `1..max` rows (`max` ≤ 4); `$step` reads `$i`.
macro_rules! by_blocks {
    ($i:ident < $n:expr, $max:literal, $step:ident) => {
        while $i + $max <= $n {
            $step!($max);
            $i += $max;
        }
        match $n - $i {
            3 if $max > 3 => $step!(3),
            2 if $max > 2 => $step!(2),
            1 => $step!(1),
            _ => {}
        }
    };
}

// ---------------------------------------------------------------------------
// Drivers, written once over the lane width
// ---------------------------------------------------------------------------

/// Stamps the drivers and the safe wrappers for one ISA: `$m` is the module name, `$feat`
/// the `#[target_feature]` list, `$L` the [`Lanes`] type and `$pb` the number of document
/// rows per tile (bounded by the register file: 4 for 32 zmm, 2 for 16 ymm registers).
macro_rules! drivers {
    ($m:ident, $feat:tt, $L:ty, $pb:literal) => {
        mod $m {
            use super::*;

            type V = <$L as Lanes>::V;
            const W: usize = <$L as Lanes>::W;

            /// `out[i][j] = ⟨q_i, p_j⟩` over `dim` elements.
            ///
            /// # Safety
            /// The ISA's features available; each `q[i]` readable for `dim` f32s and each
            /// `p[j]` readable for `dim` elements.
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn tile<E: Row<$L>, const QB: usize, const PB: usize>(
                q: [*const f32; QB],
                p: [*const E; PB],
                dim: usize,
            ) -> [[f32; PB]; QB] {
                // SAFETY: the ISA's features are enabled in this function.
                let zero: V = unsafe { <$L>::zero() };
                let mut acc = [[zero; PB]; QB];
                let mut off = 0;
                while off + W <= dim {
                    let mut pv = [zero; PB];
                    for j in 0..PB {
                        // SAFETY: `off + W <= dim` and `p[j]` is readable for `dim` elements.
                        pv[j] = unsafe { E::load(p[j].add(off)) };
                    }
                    for i in 0..QB {
                        // SAFETY: `off + W <= dim` and `q[i]` is readable for `dim` floats.
                        let qv = unsafe { <$L>::loadu(q[i].add(off)) };
                        for j in 0..PB {
                            // SAFETY: register-only arithmetic; features enabled (caller).
                            acc[i][j] = unsafe { <$L>::fmadd(qv, pv[j], acc[i][j]) };
                        }
                    }
                    off += W;
                }
                let rem = dim - off;
                if rem > 0 {
                    let mut pv = [zero; PB];
                    for j in 0..PB {
                        // SAFETY: exactly `rem` elements remain readable at `p[j] + off`.
                        pv[j] = unsafe { E::load_tail(p[j].add(off), rem) };
                    }
                    for i in 0..QB {
                        // SAFETY: exactly `rem` floats remain readable at `q[i] + off`.
                        let qv = unsafe { <f32 as Row<$L>>::load_tail(q[i].add(off), rem) };
                        for j in 0..PB {
                            // SAFETY: register-only arithmetic; features enabled (caller).
                            acc[i][j] = unsafe { <$L>::fmadd(qv, pv[j], acc[i][j]) };
                        }
                    }
                }
                let mut flat = [_mm256_setzero_ps(); 16];
                for i in 0..QB {
                    for j in 0..PB {
                        // SAFETY: register-only arithmetic; features enabled (caller).
                        flat[i * PB + j] = unsafe { <$L>::fold(acc[i][j]) };
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
            /// Features available; `q` rows readable for `dim` f32s; `doc` readable for
            /// `np·dim` elements.
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn maxima<E: Row<$L>, const QB: usize>(
                q: [*const f32; QB],
                doc: *const E,
                np: usize,
                dim: usize,
                post: &impl Fn(usize, f32) -> f32,
            ) -> [f32; QB] {
                let mut best = [f32::NEG_INFINITY; QB];
                let mut j = 0;
                macro_rules! step {
                    ($n:literal) => {{
                        // SAFETY: rows `j..j + $n` are below `np`, so readable (caller).
                        let t = unsafe { tile::<E, QB, $n>(q, row_ptrs(doc, j, dim), dim) };
                        for i in 0..QB {
                            for jj in 0..$n {
                                best[i] = best[i].max(post(j + jj, t[i][jj]));
                            }
                        }
                    }};
                }
                by_blocks!(j < np, $pb, step);
                best
            }

            /// MaxSim driver; `post(j, dot)` maps the raw dot with document row `j` to its
            /// score.
            ///
            /// # Safety
            /// Features available; `q` readable for `nq·dim` f32s, `doc` for `np·dim`
            /// elements.
            #[target_feature(enable = $feat)]
            unsafe fn maxsim<E: Row<$L>>(
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
                        let qr = row_ptrs(q, i, dim);
                        // SAFETY: query rows `i..i + $qb` are below `nq` (caller).
                        let m = unsafe { maxima::<E, $qb>(qr, doc, np, dim, &post) };
                        total += m.iter().map(|&x| f64::from(x)).sum::<f64>();
                    }};
                }
                by_blocks!(i < nq, 4, step);
                total as f32
            }

            /// Pairwise dots of `QB` rows of `a` against all rows of `b`, into `out` rows.
            ///
            /// # Safety
            /// Features available; `a` rows readable for `dim`, `b` for `nb·dim`, `out` rows
            /// writable for `nb`.
            #[inline]
            #[target_feature(enable = $feat)]
            unsafe fn dot_rows<const QB: usize>(
                a: [*const f32; QB],
                b: *const f32,
                nb: usize,
                dim: usize,
                out: [*mut f32; QB],
            ) {
                let mut j = 0;
                macro_rules! step {
                    ($n:literal) => {{
                        // SAFETY: rows `j..j + $n` of `b` are below `nb` (caller).
                        let t = unsafe { tile::<f32, QB, $n>(a, row_ptrs(b, j, dim), dim) };
                        for i in 0..QB {
                            // SAFETY: `out[i]` is writable for `nb` floats and `j + $n <= nb`.
                            unsafe {
                                core::ptr::copy_nonoverlapping(t[i].as_ptr(), out[i].add(j), $n)
                            };
                        }
                    }};
                }
                by_blocks!(j < nb, $pb, step);
            }

            /// `out[i·ldo + j] = ⟨a_i, b_j⟩` for `i < na`, `j < nb`.
            ///
            /// # Safety
            /// Features available; `a` readable for `na·dim`, `b` for `nb·dim`, `out`
            /// writable at `i·ldo + j` for those `i, j`.
            #[target_feature(enable = $feat)]
            unsafe fn dot_panel(
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
                        let o: [*mut f32; $qb] =
                            core::array::from_fn(|k| out.wrapping_add((i + k) * ldo));
                        // SAFETY: rows `i..i + $qb` are below `na` (caller).
                        unsafe { dot_rows::<$qb>(row_ptrs(a, i, dim), b, nb, dim, o) };
                    }};
                }
                by_blocks!(i < na, 4, step);
            }

            /// # Safety
            /// Features available; `a` readable for `na·dim`, `b` for `nb·dim`, `out`
            /// writable for `na·nb` f32s.
            #[target_feature(enable = $feat)]
            unsafe fn dot_matrix_impl(
                a: *const f32,
                na: usize,
                b: *const f32,
                nb: usize,
                dim: usize,
                out: *mut f32,
            ) {
                // Panels of `b` rows that fit in L1 are swept by every row of `a`, so `b` is
                // read from L2 once per panel instead of once per block of `a` rows.
                let panel = (PANEL_BYTES / (4 * dim.max(1))).max(4) & !3;
                let mut j0 = 0;
                while j0 < nb {
                    let pb = panel.min(nb - j0);
                    // SAFETY: rows `j0..j0 + pb` of `b` are below `nb`; output columns
                    // `j0..j0 + pb` of each of the `na` rows (stride `nb`) are writable.
                    unsafe {
                        dot_panel(
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

            #[target_feature(enable = $feat)]
            fn add_assign_impl(acc: &mut [f32], x: &[f32]) {
                let n = acc.len().min(x.len());
                let mut off = 0;
                while off + W <= n {
                    // SAFETY: `off + W <= n` ≤ both lengths; features enabled here.
                    unsafe {
                        let s = <$L>::add(
                            <$L>::loadu(acc.as_ptr().add(off)),
                            <$L>::loadu(x.as_ptr().add(off)),
                        );
                        <$L>::storeu(acc.as_mut_ptr().add(off), s);
                    }
                    off += W;
                }
                for k in off..n {
                    acc[k] += x[k];
                }
            }

            // Safe wrappers: only ever stored in this ISA's variant, which
            // `crate::isa::select` hands out only where its features were detected.

            pub(super) fn maxsim_f32(query: &[f32], doc: &[f32], dim: usize) -> f32 {
                let (nq, np) = (rows(query.len(), dim), rows(doc.len(), dim));
                // SAFETY: reachable only through this ISA's variant (features detected);
                // `query` holds `nq·dim` and `doc` `np·dim` elements.
                unsafe { maxsim(query.as_ptr(), nq, doc.as_ptr(), np, dim, |_, d| d) }
            }

            pub(super) fn maxsim_f16(query: &[f32], doc: &[u16], dim: usize) -> f32 {
                let (nq, np) = (rows(query.len(), dim), rows(doc.len(), dim));
                let doc = doc.as_ptr().cast::<F16>();
                // SAFETY: as in `maxsim_f32`; `F16` rows read `dim` u16s.
                unsafe { maxsim(query.as_ptr(), nq, doc, np, dim, |_, d| d) }
            }

            pub(super) fn maxsim_sq8(
                query: &[f32],
                codes: &[i8],
                scales: &[f32],
                dim: usize,
            ) -> f32 {
                let nq = rows(query.len(), dim);
                let np = rows(codes.len(), dim).min(scales.len());
                let post = |j: usize, d: f32| d * scales[j];
                // SAFETY: as in `maxsim_f32`; `codes` holds at least `np·dim` elements and
                // `post` only indexes `scales` below `np`.
                unsafe { maxsim(query.as_ptr(), nq, codes.as_ptr(), np, dim, post) }
            }

            pub(super) fn dot_matrix(a: &[f32], b: &[f32], dim: usize, out: &mut [f32]) {
                let nb = rows(b.len(), dim);
                if nb == 0 {
                    return;
                }
                let na = rows(a.len(), dim).min(out.len() / nb);
                let (a, b, o) = (a.as_ptr(), b.as_ptr(), out.as_mut_ptr());
                // SAFETY: features detected; `a` holds `na·dim`, `b` `nb·dim` and `out` at
                // least `na·nb` elements.
                unsafe { dot_matrix_impl(a, na, b, nb, dim, o) }
            }

            pub(super) fn add_assign(acc: &mut [f32], x: &[f32]) {
                // SAFETY: reachable only through this ISA's variant (features detected).
                unsafe { add_assign_impl(acc, x) }
            }
        }
    };
}

drivers!(avx512, "avx512f", L512, 4);
drivers!(avx2, "avx2,fma,f16c", L256, 2);
