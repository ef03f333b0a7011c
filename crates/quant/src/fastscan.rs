//! 4-bit PQ fast-scan for flat scans (FAISS "PQ4 fast-scan" idea, own layout).
//!
//! * [`FastScanCodes`] stores 4-bit PQ codes (the `⌈m/2⌉`-byte layout of [`crate::pq`]) in
//!   blocks of 32 vectors, transposed so that byte `p` of the 32 codes is contiguous (layout in
//!   `quiver_distance::pq`). `m` is padded to a multiple of 4 sub-quantizers with zero codes.
//! * [`FastScanLut`] quantises a query's `m × 16` f32 ADC table to u8: each row is shifted by
//!   its minimum, and all rows share one scale (`max row range / 255`), so a vector's estimate
//!   is `bias + scale · Σ u8` with
//!   `bias = query bias + Σ row minima`. Rounding to nearest makes each entry off by at most
//!   `scale/2`, so an estimate is within `m·scale/2` of the exact ADC distance (typically
//!   `≈ 0.3·scale·√m`).
//! * [`FastScanCodes::scan`] runs the in-register shuffle kernel (AVX-512BW `vpshufb zmm`,
//!   AVX2 `vpshufb ymm`, scalar oracle) per block, over at most [`SUMS_PER_PASS`]
//!   sub-quantizers per pass so its u16 sums stay exact (256 · 255 < 2^16), and adds the
//!   passes in u32. Large `m` (MUVERA's 10k-dimensional FDEs use thousands of sub-quantizers)
//!   therefore keeps the full 8-bit LUT resolution instead of shrinking every entry to
//!   `65535 / m`. [`FastScanCodes::scan_topk`] keeps the best `k`.

use quiver_distance::pq::{fs_block_bytes, fs_expand_lut, pq_kernels, PqKernels, FS_BLOCK};
use quiver_distance::TopK;

use crate::pq::PqQuery;
use crate::QuantError;

/// Sub-quantizers summed per kernel pass: 64 groups of 4, so a pass's u16 sum of entries ≤ 255
/// is exact (256 · 255 = 65,280).
pub const SUMS_PER_PASS: usize = 256;

/// A query's ADC table quantised to u8 in the fast-scan layout.
#[derive(Clone, Debug)]
pub struct FastScanLut {
    m: usize,
    lut: Vec<u8>,
    scale: f32,
    bias: f32,
}

impl FastScanLut {
    /// From a prepared 4-bit PQ query; `InvalidArgument` for an 8-bit one.
    pub fn new(q: &PqQuery<'_>) -> Result<Self, QuantError> {
        if q.nbits() != 4 {
            return Err(QuantError::InvalidArgument(
                "fast-scan needs a 4-bit PQ".into(),
            ));
        }
        Self::from_table(q.table(), q.m(), q.bias())
    }

    /// From an `m × 16` f32 table and a constant `bias`. The table must be finite and hold
    /// `16·m` values.
    pub fn from_table(table: &[f32], m: usize, bias: f32) -> Result<Self, QuantError> {
        if m == 0 || table.len() != 16 * m {
            return Err(QuantError::InvalidArgument(format!(
                "fast-scan table holds {} floats, expected 16·m = {}",
                table.len(),
                16 * m
            )));
        }
        if table.iter().any(|v| !v.is_finite()) || !bias.is_finite() {
            return Err(QuantError::InvalidArgument(
                "fast-scan table holds a non-finite value".into(),
            ));
        }
        let cap = 255.0f32;
        let mut mins = Vec::with_capacity(m);
        let mut range = 0.0f32;
        for row in table.chunks_exact(16) {
            let lo = row.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            mins.push(lo);
            range = range.max(hi - lo);
        }
        let inv = if range > 0.0 { cap / range } else { 0.0 };
        let mut lut16 = vec![0u8; 16 * m];
        for ((dst, row), &lo) in lut16
            .chunks_exact_mut(16)
            .zip(table.chunks_exact(16))
            .zip(&mins)
        {
            for (d, &v) in dst.iter_mut().zip(row) {
                *d = ((v - lo) * inv).round().clamp(0.0, cap) as u8;
            }
        }
        let min_sum: f64 = mins.iter().map(|&v| f64::from(v)).sum();
        Ok(FastScanLut {
            m,
            lut: fs_expand_lut(&lut16, m),
            scale: if range > 0.0 { range / cap } else { 0.0 },
            bias: (f64::from(bias) + min_sum) as f32,
        })
    }

    /// Number of sub-quantizers.
    pub fn m(&self) -> usize {
        self.m
    }

    /// Distance units per u8 step.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// Distance of an all-zero u8 sum.
    pub fn bias(&self) -> f32 {
        self.bias
    }

    /// Expanded LUT bytes (layout of `quiver_distance::pq::fs_expand_lut`).
    pub fn bytes(&self) -> &[u8] {
        &self.lut
    }

    /// The f32 estimate for a sum of LUT entries.
    #[inline]
    pub fn to_distance(&self, sum: u32) -> f32 {
        self.scale.mul_add(sum as f32, self.bias)
    }

    /// Worst-case gap between a fast-scan estimate and the exact ADC distance (`m·scale/2`,
    /// plus float rounding).
    pub fn max_error(&self) -> f32 {
        0.5 * self.scale * self.m as f32 * 1.0001
    }
}

/// 4-bit PQ codes in 32-vector fast-scan blocks.
#[derive(Clone, Debug)]
pub struct FastScanCodes {
    m: usize,
    n: usize,
    code_bytes: usize,
    block_bytes: usize,
    data: Vec<u8>,
    kern: &'static PqKernels,
}

impl FastScanCodes {
    /// Empty storage for codes of `m` 4-bit sub-quantizers.
    pub fn new(m: usize) -> Self {
        FastScanCodes {
            m,
            n: 0,
            code_bytes: m.div_ceil(2),
            block_bytes: fs_block_bytes(m),
            data: Vec::new(),
            kern: pq_kernels(),
        }
    }

    /// Pack `n` codes (`n × ⌈m/2⌉` bytes, the 4-bit PQ layout).
    pub fn from_codes(codes: &[u8], n: usize, m: usize) -> Result<Self, QuantError> {
        let mut s = Self::new(m);
        if m == 0 {
            return Err(QuantError::InvalidArgument("fast-scan needs m ≥ 1".into()));
        }
        if Some(codes.len()) != n.checked_mul(s.code_bytes) {
            return Err(QuantError::InvalidArgument(format!(
                "{} code bytes for {n} codes of {} bytes",
                codes.len(),
                s.code_bytes
            )));
        }
        s.data.reserve(n.div_ceil(FS_BLOCK) * s.block_bytes);
        for c in codes.chunks_exact(s.code_bytes) {
            s.push(c);
        }
        Ok(s)
    }

    /// Append one code (`⌈m/2⌉` bytes; missing bytes count as zero, extra ones are ignored).
    pub fn push(&mut self, code: &[u8]) {
        if self.n.is_multiple_of(FS_BLOCK) {
            self.data.resize(self.data.len() + self.block_bytes, 0);
        }
        self.n += 1;
        self.set(self.n - 1, code);
    }

    /// Overwrite code `i` (`i < len()`; otherwise nothing happens).
    pub fn set(&mut self, i: usize, code: &[u8]) {
        if i >= self.n {
            return;
        }
        let (b, r) = (i / FS_BLOCK, i % FS_BLOCK);
        let block = &mut self.data[b * self.block_bytes..(b + 1) * self.block_bytes];
        for p in 0..self.code_bytes {
            let mut v = code.get(p).copied().unwrap_or(0);
            if p == self.code_bytes - 1 && self.m % 2 == 1 {
                v &= 15;
            }
            block[32 * p + r] = v;
        }
    }

    /// Read code `i` back into `out` (`⌈m/2⌉` bytes; `i < len()`).
    pub fn code(&self, i: usize, out: &mut [u8]) {
        if i >= self.n {
            return;
        }
        let (b, r) = (i / FS_BLOCK, i % FS_BLOCK);
        let block = &self.data[b * self.block_bytes..(b + 1) * self.block_bytes];
        for (p, o) in out.iter_mut().take(self.code_bytes).enumerate() {
            *o = block[32 * p + r];
        }
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Number of sub-quantizers.
    pub fn m(&self) -> usize {
        self.m
    }

    /// The packed blocks.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    fn check(&self, lut: &FastScanLut) -> Result<(), QuantError> {
        if lut.m != self.m {
            return Err(QuantError::InvalidArgument(format!(
                "fast-scan LUT is for m = {}, codes for m = {}",
                lut.m, self.m
            )));
        }
        Ok(())
    }

    /// Visit every block: `f(first_id, count, sums)`.
    fn for_blocks(&self, lut: &FastScanLut, f: impl FnMut(usize, usize, &[u32; FS_BLOCK])) {
        self.for_block_range(lut, 0..self.blocks(), f);
    }

    /// Number of 32-vector blocks.
    fn blocks(&self) -> usize {
        self.data.len() / self.block_bytes.max(1)
    }

    /// Visit blocks `range` (clamped to the stored blocks): `f(first_id, count, sums)`.
    fn for_block_range(
        &self,
        lut: &FastScanLut,
        range: std::ops::Range<usize>,
        mut f: impl FnMut(usize, usize, &[u32; FS_BLOCK]),
    ) {
        // One pass covers SUMS_PER_PASS sub-quantizers: 64 bytes of block, 128 of LUT per 4.
        let (pass_block, pass_lut) = (SUMS_PER_PASS / 4 * 64, SUMS_PER_PASS / 4 * 128);
        let mut part = [0u16; FS_BLOCK];
        let mut sums = [0u32; FS_BLOCK];
        let end = range.end.min(self.blocks());
        for b in range.start.min(end)..end {
            let block = &self.data[b * self.block_bytes..(b + 1) * self.block_bytes];
            sums.fill(0);
            for (codes, table) in block.chunks(pass_block).zip(lut.lut.chunks(pass_lut)) {
                (self.kern.fastscan_block)(table, codes, &mut part);
                for (s, &p) in sums.iter_mut().zip(&part) {
                    *s += u32::from(p);
                }
            }
            let first = b * FS_BLOCK;
            f(first, (self.n - first).min(FS_BLOCK), &sums);
        }
    }

    /// Raw sums of LUT entries for all codes into `out[..len()]`.
    pub fn scan_sums(&self, lut: &FastScanLut, out: &mut [u32]) -> Result<(), QuantError> {
        self.check(lut)?;
        if out.len() < self.n {
            return Err(QuantError::InvalidArgument(
                "output is shorter than len()".into(),
            ));
        }
        self.for_blocks(lut, |first, cnt, s| {
            out[first..first + cnt].copy_from_slice(&s[..cnt]);
        });
        Ok(())
    }

    /// Distance estimates for all codes into `out[..len()]`.
    pub fn scan(&self, lut: &FastScanLut, out: &mut [f32]) -> Result<(), QuantError> {
        self.check(lut)?;
        if out.len() < self.n {
            return Err(QuantError::InvalidArgument(
                "output is shorter than len()".into(),
            ));
        }
        self.for_blocks(lut, |first, cnt, s| {
            for (o, &v) in out[first..first + cnt].iter_mut().zip(s) {
                *o = lut.to_distance(v);
            }
        });
        Ok(())
    }

    /// The `k` smallest estimates as `(distance, id)`, ascending (ties by id).
    pub fn scan_topk(&self, lut: &FastScanLut, k: usize) -> Result<Vec<(f32, u32)>, QuantError> {
        self.check(lut)?;
        Ok(self.topk_blocks(lut, k, 0..self.blocks()).into_sorted())
    }

    /// [`FastScanCodes::scan_topk`] split into `chunks` contiguous block ranges scanned in
    /// parallel on the current rayon pool, then merged: the same result (ties by id), for
    /// scans large enough that one query's latency matters more than its thread count.
    pub fn scan_topk_par(
        &self,
        lut: &FastScanLut,
        k: usize,
        chunks: usize,
    ) -> Result<Vec<(f32, u32)>, QuantError> {
        use rayon::prelude::*;
        self.check(lut)?;
        let blocks = self.blocks();
        let per = blocks.div_ceil(chunks.max(1)).max(1);
        let merged = (0..blocks.div_ceil(per))
            .into_par_iter()
            .map(|c| self.topk_blocks(lut, k, c * per..(c + 1) * per))
            .reduce(
                || TopK::new(k),
                |mut a, b| {
                    for (d, id) in b.into_sorted() {
                        a.push(d, id);
                    }
                    a
                },
            );
        Ok(merged.into_sorted())
    }

    /// Best `k` of the blocks in `range`.
    fn topk_blocks(&self, lut: &FastScanLut, k: usize, range: std::ops::Range<usize>) -> TopK {
        let mut top = TopK::new(k);
        // Compare in the integer domain first: only sums below the current worst are converted.
        let mut thr = u32::MAX;
        self.for_block_range(lut, range, |first, cnt, s| {
            for (j, &v) in s[..cnt].iter().enumerate() {
                if v <= thr {
                    top.push(lut.to_distance(v), (first + j) as u32);
                    if top.len() == k {
                        let w = top.worst();
                        thr = if lut.scale > 0.0 {
                            ((w - lut.bias) / lut.scale + 1.0)
                                .ceil()
                                .clamp(0.0, u32::MAX as f32) as u32
                        } else {
                            u32::MAX
                        };
                    }
                }
            }
        });
        top
    }
}
