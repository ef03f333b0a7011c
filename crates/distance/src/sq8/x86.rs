//! x86_64 kernels of the `sq8` family.

use core::arch::x86_64::*;

/// VNNI wrapper; only handed out by `crate::isa::select` where AVX-512F, BW and VNNI were detected.
pub(crate) fn vnni_dot_u8_i8(c: &[u8], a: &[i8]) -> i32 {
    // SAFETY: the `avx512-vnni` variant is selected only where AVX-512F, BW and VNNI were
    // detected (see `crate::isa::select`).
    unsafe { vnni_impl(c, a) }
}

/// AVX2 wrapper; only handed out by `crate::isa::select` after the AVX2 check.
pub(crate) fn avx2_dot_u8_i8(c: &[u8], a: &[i8]) -> i32 {
    // SAFETY: the `avx2` variant is selected only where AVX2 and FMA were detected.
    unsafe { avx2_i8_impl(c, a) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn vnni_impl(c: &[u8], a: &[i8]) -> i32 {
    let n = c.len().min(a.len());
    let mut acc0 = _mm512_setzero_si512();
    let mut acc1 = _mm512_setzero_si512();
    let mut i = 0;
    while i + 128 <= n {
        // SAFETY: i + 128 <= n keeps all four 64-byte loads inside both slices.
        unsafe {
            let c0 = _mm512_loadu_si512(c.as_ptr().add(i).cast());
            let a0 = _mm512_loadu_si512(a.as_ptr().add(i).cast());
            let c1 = _mm512_loadu_si512(c.as_ptr().add(i + 64).cast());
            let a1 = _mm512_loadu_si512(a.as_ptr().add(i + 64).cast());
            acc0 = _mm512_dpbusd_epi32(acc0, c0, a0);
            acc1 = _mm512_dpbusd_epi32(acc1, c1, a1);
        }
        i += 128;
    }
    while i < n {
        let left = (n - i).min(64);
        let mask: __mmask64 = if left == 64 {
            u64::MAX
        } else {
            (1u64 << left) - 1
        };
        // SAFETY: the masked loads touch only the first `left` bytes from offset i, all
        // inside both slices; masked-off lanes are zero and add nothing.
        unsafe {
            let c0 = _mm512_maskz_loadu_epi8(mask, c.as_ptr().add(i).cast());
            let a0 = _mm512_maskz_loadu_epi8(mask, a.as_ptr().add(i).cast());
            acc0 = _mm512_dpbusd_epi32(acc0, c0, a0);
        }
        i += left;
    }
    _mm512_reduce_add_epi32(_mm512_add_epi32(acc0, acc1))
}

#[target_feature(enable = "avx2")]
fn avx2_i8_impl(c: &[u8], a: &[i8]) -> i32 {
    let n = c.len().min(a.len());
    let ones = _mm256_set1_epi16(1);
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: i + 32 <= n keeps both 32-byte loads inside the slices. |a| <= 63 keeps the
        // saturating pairwise sums of vpmaddubsw exact.
        unsafe {
            let cv = _mm256_loadu_si256(c.as_ptr().add(i).cast());
            let av = _mm256_loadu_si256(a.as_ptr().add(i).cast());
            let p16 = _mm256_maddubs_epi16(cv, av);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, ones));
        }
        i += 32;
    }
    let lo = _mm256_castsi256_si128(acc);
    let hi = _mm256_extracti128_si256(acc, 1);
    let s = _mm_add_epi32(lo, hi);
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    let mut total = _mm_cvtsi128_si32(s);
    while i < n {
        total += i32::from(c[i]) * i32::from(a[i]);
        i += 1;
    }
    total
}

/// AVX-512 wrapper; only handed out by `crate::isa::select` after the CPU check.
pub(crate) fn avx512_dot_u8(a: &[f32], c: &[u8]) -> f32 {
    // SAFETY: the `avx512` variant is selected only where AVX-512F was detected.
    unsafe { avx512_impl(a, c) }
}

/// AVX2 wrapper; only handed out by `crate::isa::select` after the CPU check.
pub(crate) fn avx2_dot_u8(a: &[f32], c: &[u8]) -> f32 {
    // SAFETY: the `avx2` variant is selected only where AVX2 and FMA were detected.
    unsafe { avx2_impl(a, c) }
}

#[target_feature(enable = "avx512f")]
fn avx512_impl(a: &[f32], c: &[u8]) -> f32 {
    let n = a.len().min(c.len());
    let mut acc0 = _mm512_setzero_ps();
    let mut acc1 = _mm512_setzero_ps();
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: i + 32 <= n keeps both 16-byte code loads and both 64-byte float loads
        // inside the slices; unaligned loads are used.
        unsafe {
            let c0 = _mm_loadu_si128(c.as_ptr().add(i).cast());
            let c1 = _mm_loadu_si128(c.as_ptr().add(i + 16).cast());
            let f0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(c0));
            let f1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(c1));
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a.as_ptr().add(i)), f0, acc0);
            acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a.as_ptr().add(i + 16)), f1, acc1);
        }
        i += 32;
    }
    while i + 16 <= n {
        // SAFETY: i + 16 <= n.
        unsafe {
            let c0 = _mm_loadu_si128(c.as_ptr().add(i).cast());
            let f0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(c0));
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a.as_ptr().add(i)), f0, acc0);
        }
        i += 16;
    }
    let mut s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    while i < n {
        s += a[i] * f32::from(c[i]);
        i += 1;
    }
    s
}

#[target_feature(enable = "avx2,fma")]
fn avx2_impl(a: &[f32], c: &[u8]) -> f32 {
    let n = a.len().min(c.len());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n keeps the two 8-byte code loads and two 32-byte float loads
        // inside the slices.
        unsafe {
            let c0 = _mm_loadl_epi64(c.as_ptr().add(i).cast());
            let c1 = _mm_loadl_epi64(c.as_ptr().add(i + 8).cast());
            let f0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c0));
            let f1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c1));
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.as_ptr().add(i)), f0, acc0);
            acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a.as_ptr().add(i + 8)), f1, acc1);
        }
        i += 16;
    }
    let acc = _mm256_add_ps(acc0, acc1);
    let lo = _mm256_castps256_ps128(acc);
    let hi = _mm256_extractf128_ps(acc, 1);
    let q = _mm_add_ps(lo, hi);
    let q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    let q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
    let mut s = _mm_cvtss_f32(q);
    while i < n {
        s += a[i] * f32::from(c[i]);
        i += 1;
    }
    s
}
