//! Product-quantization kernels: 8-bit and 4-bit ADC table sums, the 4-bit fast-scan block
//! kernel and a batched nearest-centroid search (k-means assignment and PQ encoding).
//!
//! Like [`crate::Kernels`], a [`PqKernels`] table holds plain safe function pointers for one
//! [`Isa`]; SIMD tables only exist after runtime feature detection. [`pq_kernels`] picks a
//! table once per process with the crate-wide policy of [`crate::isa`] (so
//! `QUIVER_FORCE_ISA` applies here too): `avx512` uses AVX-512F+BW when the CPU has BW
//! (AVX2 otherwise), `avx2` uses AVX2+FMA, anything else the scalar oracle.
//!
//! Numerics: fast-scan sums are wrapping u16 integer sums, identical in every table; the ADC
//! sums run the scalar code in every table; the SIMD nearest-centroid kernels may round the
//! `‖c‖² − 2·x·c` sums differently from the scalar oracle (tests compare them with a
//! tolerance and allow near-ties to resolve either way).
//!
//! Every kernel accepts any slice lengths: it works on the largest prefix that is fully in
//! bounds and never reads or writes out of bounds.
//!
//! # Layouts
//!
//! * **8-bit ADC** — `table` is `m × 256` f32 (row `j` is sub-quantizer `j`), `code` is `m`
//!   bytes; the result is `Σ_j table[256·j + code[j]]` with `m = min(code.len(), table.len()/256)`.
//! * **4-bit ADC** — `table` is `m × 16` f32, `code` is `⌈m/2⌉` bytes: sub-code `2p` in the low
//!   nibble of byte `p`, sub-code `2p+1` in its high nibble.
//! * **Fast-scan** — codes are processed in blocks of [`FS_BLOCK`] = 32 vectors. A block with
//!   `G` groups (a group is 4 sub-quantizers = 2 code bytes) is `64·G` bytes:
//!   `block[32·p + i]` is byte `p` of vector `i`'s 4-bit code (so the block is the transpose of
//!   32 ordinary 4-bit codes, padded with zero bytes to an even count). The quantised LUT for
//!   the same `G` groups is `128·G` bytes built by [`fs_expand_lut`]: per group `g`,
//!   `[L(4g) L(4g) L(4g+2) L(4g+2) | L(4g+1) L(4g+1) L(4g+3) L(4g+3)]`, each `L(s)` the 16
//!   u8 entries of sub-quantizer `s` (zeros past `m`). That puts every LUT next to the nibbles
//!   it is indexed by within a 128-bit lane, so AVX2 (`vpshufb ymm`) and AVX-512BW
//!   (`vpshufb zmm`) look up 32 or 64 entries per instruction. Sums are accumulated in u16
//!   (wrapping, exact while the true sum is below 65 536, which a LUT built with entries
//!   ≤ [`fs_entry_cap`]`(m)` guarantees).
//!
//! # Nearest centroid
//!
//! [`PqKernels::nearest`] finds, for each point, the closest of `k` centroids given in a
//! transposed layout (`ct[d·k + c]` is coordinate `d` of centroid `c`) with precomputed squared
//! norms, using `‖x‖² + ‖c‖² − 2·x·c` (FAISS-style); ties go to the smaller index.

use crate::isa::{base_only, Family, Isa, Variant};

#[cfg(target_arch = "x86_64")]
mod x86;

/// Vectors per fast-scan block.
pub const FS_BLOCK: usize = 32;

/// Bytes of one fast-scan block for `m` 4-bit sub-quantizers (`64 · ⌈m/4⌉`).
pub fn fs_block_bytes(m: usize) -> usize {
    64 * m.div_ceil(4)
}

/// Bytes of an expanded fast-scan LUT for `m` sub-quantizers (`128 · ⌈m/4⌉`).
pub fn fs_lut_bytes(m: usize) -> usize {
    128 * m.div_ceil(4)
}

/// Largest LUT entry that keeps every fast-scan sum of `m` entries exact in u16:
/// `min(255, 65535 / m)` (255 for `m ≤ 257`).
pub fn fs_entry_cap(m: usize) -> u8 {
    (65_535 / m.max(1)).min(255) as u8
}

/// Expands an `m × 16` u8 LUT (row `s` = sub-quantizer `s`) into the fast-scan layout
/// described in the module docs (`fs_lut_bytes(m)` bytes). Rows missing from `lut16`
/// (when `lut16.len() < 16·m`) are zero.
pub fn fs_expand_lut(lut16: &[u8], m: usize) -> Vec<u8> {
    let groups = m.div_ceil(4);
    let mut out = vec![0u8; 128 * groups];
    for s in 0..m {
        let Some(row) = lut16.get(16 * s..16 * s + 16) else {
            break;
        };
        let (g, r) = (s / 4, s % 4);
        // r = 0 → bytes 0..32, r = 2 → 32..64, r = 1 → 64..96, r = 3 → 96..128.
        let off = 128 * g + 64 * (r % 2) + 32 * (r / 2);
        out[off..off + 16].copy_from_slice(row);
        out[off + 16..off + 32].copy_from_slice(row);
    }
    out
}

/// Byte offset, inside an expanded LUT, of sub-quantizer `s`'s 16 entries.
#[inline]
fn fs_lut_offset(s: usize) -> usize {
    let (g, r) = (s / 4, s % 4);
    128 * g + 64 * (r % 2) + 32 * (r / 2)
}

/// 8-bit ADC: `fn(table, code) -> Σ table[256·j + code[j]]`.
pub type AdcU8Fn = fn(&[f32], &[u8]) -> f32;
/// 4-bit ADC: `fn(table, code, m) -> Σ table[16·j + nibble_j(code)]`.
pub type AdcU4Fn = fn(&[f32], &[u8], usize) -> f32;
/// Fast-scan of one block: `fn(expanded_lut, block, out)`.
pub type FastScanFn = fn(&[u8], &[u8], &mut [u16; FS_BLOCK]);
/// Nearest centroid: `fn(points, dim, ct, cnorm, out_idx, out_dist)`.
pub type NearestFn = fn(&[f32], usize, &[f32], &[f32], &mut [u32], &mut [f32]);

/// A table of PQ kernels for one ISA. Obtain it from [`pq_kernels`] or [`pq_kernels_for`].
#[derive(Clone, Copy, Debug)]
pub struct PqKernels {
    /// The instruction set these kernels use.
    pub isa: Isa,
    /// 8-bit ADC sum; see the module docs for the layout.
    pub adc_u8: AdcU8Fn,
    /// 4-bit ADC sum; see the module docs for the layout.
    pub adc_u4: AdcU4Fn,
    /// Fast-scan of one 32-vector block into 32 u16 sums (wrapping).
    pub fastscan_block: FastScanFn,
    /// Nearest-centroid search, see the module docs.
    ///
    /// `points` holds `n = min(points.len()/dim, out_idx.len(), out_dist.len())` rows,
    /// `k = cnorm.len()` (clamped so that `dim·k ≤ ct.len()`). Writes the index of the nearest
    /// centroid and the (clamped at 0) squared distance. With `k = 0` writes `u32::MAX` and
    /// `+∞`.
    pub nearest: NearestFn,
}

const SCALAR: Variant<PqKernels> = Variant {
    level: Isa::Scalar,
    name: "scalar",
    needs: base_only,
    table: PqKernels {
        isa: Isa::Scalar,
        adc_u8: adc_u8_scalar,
        adc_u4: adc_u4_scalar,
        fastscan_block: fastscan_block_scalar,
        nearest: nearest_scalar,
    },
};

/// Every variant, best first, ending with the scalar oracle.
static VARIANTS: &[Variant<PqKernels>] = &[
    #[cfg(target_arch = "x86_64")]
    x86::AVX512,
    #[cfg(target_arch = "x86_64")]
    x86::AVX2,
    SCALAR,
];

/// PQ kernels for one ISA, or `None` if this CPU/build cannot run that level. Follows the
/// crate-wide policy ([`crate::isa`]): `Avx512` gives the AVX-512F+BW table, or the AVX2+FMA
/// one on a CPU without AVX-512BW.
pub fn pq_kernels_for(isa: Isa) -> Option<PqKernels> {
    FAMILY.for_level(isa).copied()
}

static FAMILY: Family<PqKernels> = Family::new(VARIANTS, &SCALAR);

pub(crate) fn chosen_variant() -> &'static Variant<PqKernels> {
    FAMILY.chosen()
}

/// The process-wide PQ kernels, chosen once: the best table at or below the process-wide
/// level (which honours `QUIVER_FORCE_ISA`).
pub fn pq_kernels() -> &'static PqKernels {
    &chosen_variant().table
}

// ---------------------------------------------------------------------------
// Scalar oracles
// ---------------------------------------------------------------------------

/// Scalar 8-bit ADC (the oracle): four independent f32 accumulators, summed pairwise.
pub fn adc_u8_scalar(table: &[f32], code: &[u8]) -> f32 {
    let m = code.len().min(table.len() / 256);
    let (code, table) = (&code[..m], &table[..256 * m]);
    let mut acc = [0.0f32; 4];
    let mut rows = table.chunks_exact(1024);
    let mut cs = code.chunks_exact(4);
    for (t, c) in (&mut rows).zip(&mut cs) {
        acc[0] += t[c[0] as usize];
        acc[1] += t[256 + c[1] as usize];
        acc[2] += t[512 + c[2] as usize];
        acc[3] += t[768 + c[3] as usize];
    }
    for (j, &c) in cs.remainder().iter().enumerate() {
        acc[j] += rows.remainder()[256 * j + c as usize];
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Scalar 4-bit ADC (the oracle). `m` is clamped to `min(m, 2·code.len(), table.len()/16)`.
pub fn adc_u4_scalar(table: &[f32], code: &[u8], m: usize) -> f32 {
    let m = m.min(2 * code.len()).min(table.len() / 16);
    let mut acc = [0.0f32; 2];
    for (p, &b) in code[..m / 2].iter().enumerate() {
        acc[0] += table[32 * p + (b & 15) as usize];
        acc[1] += table[32 * p + 16 + (b >> 4) as usize];
    }
    if m % 2 == 1 {
        let p = m / 2;
        acc[0] += table[32 * p + (code[p] & 15) as usize];
    }
    acc[0] + acc[1]
}

/// Scalar fast-scan of one block (the oracle); wrapping u16 sums like the SIMD kernels.
/// Uses `G = min(lut.len()/128, block.len()/64)` groups.
pub fn fastscan_block_scalar(lut: &[u8], block: &[u8], out: &mut [u16; FS_BLOCK]) {
    let groups = (lut.len() / 128).min(block.len() / 64);
    *out = [0; FS_BLOCK];
    for p in 0..2 * groups {
        let lo = &lut[fs_lut_offset(2 * p)..][..16];
        let hi = &lut[fs_lut_offset(2 * p + 1)..][..16];
        for (o, &b) in out.iter_mut().zip(&block[32 * p..32 * p + 32]) {
            *o = o
                .wrapping_add(u16::from(lo[(b & 15) as usize]))
                .wrapping_add(u16::from(hi[(b >> 4) as usize]));
        }
    }
}

/// Clamped problem sizes for [`PqKernels::nearest`]: `(n, k)`.
#[inline]
fn nearest_sizes(
    points: &[f32],
    dim: usize,
    ct: &[f32],
    cnorm: &[f32],
    idx: &[u32],
    dist: &[f32],
) -> (usize, usize) {
    if dim == 0 {
        return (0, 0);
    }
    let n = (points.len() / dim).min(idx.len()).min(dist.len());
    let k = cnorm.len().min(ct.len() / dim);
    (n, k)
}

/// Scalar nearest-centroid search (the oracle), same formula as the SIMD kernels.
pub fn nearest_scalar(
    points: &[f32],
    dim: usize,
    ct: &[f32],
    cnorm: &[f32],
    out_idx: &mut [u32],
    out_dist: &mut [f32],
) {
    let (n, k) = nearest_sizes(points, dim, ct, cnorm, out_idx, out_dist);
    let mut acc = vec![0.0f32; k];
    for i in 0..n {
        let x = &points[i * dim..(i + 1) * dim];
        acc.copy_from_slice(&cnorm[..k]);
        for (d, &xd) in x.iter().enumerate() {
            let col = &ct[d * k..(d + 1) * k];
            let m2 = -2.0 * xd;
            for (a, &c) in acc.iter_mut().zip(col) {
                *a = m2.mul_add(c, *a);
            }
        }
        let (bi, bv) = argmin(&acc);
        let xn: f32 = x.iter().map(|v| v * v).sum();
        out_idx[i] = bi;
        out_dist[i] = if k == 0 {
            f32::INFINITY
        } else {
            (xn + bv).max(0.0)
        };
    }
}

/// Index and value of the smallest element (first on ties); `(u32::MAX, +∞)` when empty.
#[inline]
fn argmin(v: &[f32]) -> (u32, f32) {
    let mut bi = u32::MAX;
    let mut bv = f32::INFINITY;
    for (c, &a) in v.iter().enumerate() {
        if a < bv || bi == u32::MAX {
            bv = a;
            bi = c as u32;
        }
    }
    (bi, bv)
}

/// The gather-based AVX-512 ADC kernels `(adc_u8, adc_u4)`, or `None` without AVX-512F/BW.
///
/// Not used by [`pq_kernels`] (the scalar sums measured faster, see the `pq_kernels`
/// example); exposed so tests and benchmarks can compare them.
pub fn adc_gather_avx512() -> Option<(AdcU8Fn, AdcU4Fn)> {
    #[cfg(target_arch = "x86_64")]
    {
        x86::avx512_gather_adc()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}
