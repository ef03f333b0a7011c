//! Product quantization: `m` sub-spaces of `dim/m` coordinates, each with its own k-means
//! codebook of `K = 2^nbits` centroids (`nbits` ∈ {4, 8}), an optional OPQ rotation
//! ([`crate::opq`]), 8-bit and 4-bit ADC scoring and 4-bit fast-scan ([`crate::fastscan`]).
//!
//! # Training
//! [`Pq::train`] needs at least `K` vectors (256 for 8-bit, 16 for 4-bit;
//! [`QuantError::TooFewVectors`] says how many); FAISS warns below `39·K` and so should the
//! caller, since fewer points per centroid over-fit. Like FAISS, at most `256·K` vectors are
//! used (seeded subsample). Each sub-space runs [`crate::kmeans`] (k-means++ init, 25 Lloyd
//! iterations by default, FAISS-style empty-cluster splits); sub-spaces train in parallel in
//! the caller's rayon pool. For `Ip`/`Cosine` the codebooks are fitted with plain L2 k-means on
//! the given (for cosine: unit-normalised) vectors.
//!
//! `m` must divide `dim` ([`QuantError::InvalidArgument`] otherwise — no implicit padding).
//!
//! # Code layout
//! * 8-bit: `m` bytes, byte `j` = centroid index of sub-space `j`.
//! * 4-bit: `⌈m/2⌉` bytes, sub-space `2p` in the low nibble of byte `p`, `2p+1` in the high
//!   nibble (an odd `m` leaves the last high nibble zero). This is also the byte layout the
//!   fast-scan blocks transpose.
//!
//! # Scoring (ADC)
//! [`Quantizer::prepare`] builds an `m × K` f32 table: `‖q_j − c‖²` for `L2`, `−⟨q_j, c⟩` for
//! `Ip`/`Cosine` (then distance = `1 + Σ`). A distance is `bias + Σ_j table[j][code_j]`
//! (kernels in `quiver_distance::pq`). [`Quantizer::decode`] concatenates the centroids (and
//! undoes the rotation).
//!
//! # Parameters
//! `write_params`: tag, version, dim, metric, m, nbits, K, has-rotation, then `m·K·dim/m`
//! centroid floats and, with OPQ, the `dim × dim` rotation (row-major `R`, `x_rot = x·R`).
//! `read_params` validates every length and value.

use rayon::prelude::*;

use quiver_distance::pq::{pq_kernels, PqKernels};

use crate::io::{metric_code, metric_from, put_f32s, put_u32, Reader};
use crate::kmeans::{self, CentroidIndex, KMeansInit, KMeansParams, SplitMix64};
use crate::opq::{self, Rotation};
use crate::{check_training, Metric, PreparedQuery, QuantError, Quantizer};

const TAG: u32 = 0x5051_0001;
const VERSION: u32 = 1;

/// Training parameters for [`Pq`].
#[derive(Clone, Debug, PartialEq)]
pub struct PqParams {
    /// Number of sub-spaces; must divide `dim`.
    pub m: usize,
    /// Bits per sub-code: 8 (K = 256, ADC) or 4 (K = 16, ADC and fast-scan).
    pub nbits: u8,
    /// Learn an OPQ rotation first ([`crate::opq`]).
    pub opq: bool,
    /// Seed for sampling and k-means initialisation.
    pub seed: u64,
    /// Lloyd iterations per sub-space (default 25, as FAISS).
    pub iterations: usize,
    /// OPQ outer iterations (PQ fit ↔ Procrustes), default 4.
    pub opq_iterations: usize,
    /// Training vectors are capped at this many per centroid (default 256, as FAISS).
    pub max_points_per_centroid: usize,
}

impl PqParams {
    /// Defaults for `m` sub-spaces of `nbits` bits: no OPQ, seed 0x5EED, 25 iterations,
    /// 4 OPQ iterations, 256 points per centroid.
    pub fn new(m: usize, nbits: u8) -> Self {
        PqParams {
            m,
            nbits,
            opq: false,
            seed: 0x5EED,
            iterations: 25,
            opq_iterations: 4,
            max_points_per_centroid: 256,
        }
    }
}

/// A trained product quantizer.
#[derive(Clone, Debug)]
pub struct Pq {
    dim: usize,
    metric: Metric,
    m: usize,
    nbits: u8,
    ksub: usize,
    dsub: usize,
    /// `m × ksub × dsub`.
    centroids: Vec<f32>,
    rotation: Option<Rotation>,
    /// Per sub-space, for encoding.
    index: Vec<CentroidIndex>,
    kern: &'static PqKernels,
}

/// Checks `(dim, m, nbits)`; returns `(ksub, dsub)`.
fn check_shape(dim: usize, m: usize, nbits: u8) -> Result<(usize, usize), QuantError> {
    if nbits != 4 && nbits != 8 {
        return Err(QuantError::InvalidArgument(format!(
            "PQ nbits must be 4 or 8, got {nbits}"
        )));
    }
    if dim == 0 {
        return Err(QuantError::InvalidArgument("PQ dim must be ≥ 1".into()));
    }
    if m == 0 || !dim.is_multiple_of(m) {
        return Err(QuantError::InvalidArgument(format!(
            "PQ m = {m} must be ≥ 1 and divide dim = {dim}"
        )));
    }
    Ok((1usize << nbits, dim / m))
}

/// Trains `m` codebooks on `x` (`n × dim`, already rotated and sampled): returns the
/// `m × ksub × dsub` centroids. `warm` (same layout) warm-starts every sub-space.
pub(crate) fn train_codebooks(
    x: &[f32],
    dim: usize,
    m: usize,
    ksub: usize,
    iterations: usize,
    seed: u64,
    warm: Option<&[f32]>,
) -> Result<Vec<f32>, QuantError> {
    let dsub = dim / m;
    let n = x.len() / dim;
    let books: Vec<Vec<f32>> = (0..m)
        .into_par_iter()
        .map(|s| {
            let mut sub = Vec::with_capacity(n * dsub);
            for row in x.chunks_exact(dim) {
                sub.extend_from_slice(&row[s * dsub..(s + 1) * dsub]);
            }
            let init = match warm {
                Some(w) => KMeansInit::Given(w[s * ksub * dsub..(s + 1) * ksub * dsub].to_vec()),
                None => KMeansInit::PlusPlus,
            };
            let params = KMeansParams {
                k: ksub,
                iterations,
                seed: seed ^ (s as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                max_points_per_centroid: usize::MAX,
                init,
            };
            kmeans::train(&sub, dsub, &params).map(|r| r.centroids)
        })
        .collect::<Result<_, _>>()?;
    Ok(books.concat())
}

/// `count` rows of `data` (`dim` wide) chosen with `rng` (all rows if `n ≤ count`).
pub(crate) fn sample_rows(
    data: &[f32],
    dim: usize,
    count: usize,
    rng: &mut SplitMix64,
) -> Vec<f32> {
    let n = data.len() / dim;
    if n <= count {
        return data.to_vec();
    }
    let mut out = Vec::with_capacity(count * dim);
    for i in kmeans::sample_indices(n, count, rng) {
        out.extend_from_slice(&data[i * dim..(i + 1) * dim]);
    }
    out
}

impl Pq {
    /// Train on `data` (`n × dim`, row-major; unit-normalised for cosine). See the module docs.
    pub fn train(
        data: &[f32],
        dim: usize,
        metric: Metric,
        params: &PqParams,
    ) -> Result<Self, QuantError> {
        let (ksub, _) = check_shape(dim, params.m, params.nbits)?;
        check_training(data, dim, ksub)?;
        let mut rng = SplitMix64::new(params.seed);
        let cap = params.max_points_per_centroid.max(1).saturating_mul(ksub);
        let sample = sample_rows(data, dim, cap, &mut rng);
        let seed = rng.next_u64();
        let rotation = if params.opq {
            Some(opq::train_rotation(
                &sample, dim, params.m, ksub, params, seed,
            )?)
        } else {
            None
        };
        let rotated;
        let x: &[f32] = match &rotation {
            Some(r) => {
                rotated = r.apply_rows(&sample);
                &rotated
            }
            None => &sample,
        };
        let centroids = train_codebooks(x, dim, params.m, ksub, params.iterations, seed, None)?;
        Self::from_parts(dim, metric, params.m, params.nbits, centroids, rotation)
    }

    /// Build from trained parts (`centroids`: `m × K × dim/m`). Validates shapes.
    pub fn from_parts(
        dim: usize,
        metric: Metric,
        m: usize,
        nbits: u8,
        centroids: Vec<f32>,
        rotation: Option<Rotation>,
    ) -> Result<Self, QuantError> {
        let (ksub, dsub) = check_shape(dim, m, nbits)?;
        if centroids.len() != m * ksub * dsub {
            return Err(QuantError::InvalidArgument(format!(
                "PQ centroids hold {} floats, expected {}",
                centroids.len(),
                m * ksub * dsub
            )));
        }
        if centroids.iter().any(|v| !v.is_finite()) {
            return Err(QuantError::InvalidArgument(
                "PQ centroids hold a non-finite value".into(),
            ));
        }
        if let Some(r) = &rotation {
            if r.dim() != dim {
                return Err(QuantError::InvalidArgument(format!(
                    "rotation is {}-dimensional, expected {dim}",
                    r.dim()
                )));
            }
        }
        let index = (0..m)
            .map(|s| CentroidIndex::new(&centroids[s * ksub * dsub..(s + 1) * ksub * dsub], dsub))
            .collect();
        Ok(Pq {
            dim,
            metric,
            m,
            nbits,
            ksub,
            dsub,
            centroids,
            rotation,
            index,
            kern: pq_kernels(),
        })
    }

    /// Number of sub-spaces.
    pub fn m(&self) -> usize {
        self.m
    }

    /// Bits per sub-code (4 or 8).
    pub fn nbits(&self) -> u8 {
        self.nbits
    }

    /// Centroids per sub-space (`2^nbits`).
    pub fn ksub(&self) -> usize {
        self.ksub
    }

    /// Coordinates per sub-space (`dim / m`).
    pub fn dsub(&self) -> usize {
        self.dsub
    }

    /// The `m × K × dsub` centroids (in the rotated space when OPQ is on).
    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }

    /// The OPQ rotation, if any.
    pub fn rotation(&self) -> Option<&Rotation> {
        self.rotation.as_ref()
    }

    /// Sub-code `j` of `code`.
    #[inline]
    pub fn sub_code(&self, code: &[u8], j: usize) -> usize {
        if self.nbits == 8 {
            usize::from(code[j])
        } else {
            usize::from((code[j / 2] >> (4 * (j % 2))) & 15)
        }
    }

    /// Encode `data` (`n × dim`) into `codes` (`n × code_bytes()`), sequentially.
    /// Rows beyond `min(data.len()/dim, codes.len()/code_bytes())` are ignored.
    pub fn encode_rows(&self, data: &[f32], codes: &mut [u8]) {
        let cb = self.code_bytes();
        let n = (data.len() / self.dim).min(codes.len() / cb);
        let rotated;
        let x: &[f32] = match &self.rotation {
            Some(r) => {
                rotated = r.apply_rows(&data[..n * self.dim]);
                &rotated
            }
            None => &data[..n * self.dim],
        };
        codes[..n * cb].iter_mut().for_each(|b| *b = 0);
        let mut sub = vec![0.0f32; n * self.dsub];
        let mut idx = vec![0u32; n];
        let mut dist = vec![0.0f32; n];
        for s in 0..self.m {
            for (dst, row) in sub
                .chunks_exact_mut(self.dsub)
                .zip(x.chunks_exact(self.dim))
            {
                dst.copy_from_slice(&row[s * self.dsub..(s + 1) * self.dsub]);
            }
            self.index[s].nearest(&sub, &mut idx, &mut dist);
            for (code, &c) in codes.chunks_exact_mut(cb).zip(&idx) {
                // `c < ksub ≤ 256` for finite input; clamp defends against NaN input.
                let c = c.min(self.ksub as u32 - 1) as u8;
                if self.nbits == 8 {
                    code[s] = c;
                } else {
                    code[s / 2] |= c << (4 * (s % 2));
                }
            }
        }
    }

    /// Encode `data` (`n × dim`) into `codes` (`n × code_bytes()`) in parallel (current rayon
    /// pool, chunks of 1024 rows).
    pub fn encode_batch(&self, data: &[f32], codes: &mut [u8]) {
        const CHUNK: usize = 1024;
        let cb = self.code_bytes();
        data.par_chunks(CHUNK * self.dim)
            .zip(codes.par_chunks_mut(CHUNK * cb))
            .for_each(|(d, c)| self.encode_rows(d, c));
    }

    /// The `m × K` ADC table and bias for query `q` (see the module docs).
    pub fn table(&self, q: &[f32]) -> (Vec<f32>, f32) {
        let rotated;
        let q: &[f32] = match &self.rotation {
            Some(r) => {
                rotated = r.apply_rows(&q[..self.dim.min(q.len())]);
                &rotated
            }
            None => q,
        };
        let (k, ds) = (self.ksub, self.dsub);
        let mut table = vec![0.0f32; self.m * k];
        let l2 = self.metric == Metric::L2;
        for (s, row) in table.chunks_exact_mut(k).enumerate() {
            let cents = &self.centroids[s * k * ds..(s + 1) * k * ds];
            let qs = q.get(s * ds..(s + 1) * ds).unwrap_or(&[]);
            for (t, c) in row.iter_mut().zip(cents.chunks_exact(ds)) {
                let mut acc = 0.0f32;
                if l2 {
                    for (a, b) in qs.iter().zip(c) {
                        let d = a - b;
                        acc += d * d;
                    }
                } else {
                    for (a, b) in qs.iter().zip(c) {
                        acc -= a * b;
                    }
                }
                *t = acc;
            }
        }
        (table, if l2 { 0.0 } else { 1.0 })
    }
}

/// A query prepared for [`Pq`]: the ADC table plus bias.
#[derive(Clone, Debug)]
pub struct PqQuery<'a> {
    pq: &'a Pq,
    table: Vec<f32>,
    bias: f32,
}

impl PqQuery<'_> {
    /// The `m × K` table (row `j` = sub-space `j`).
    pub fn table(&self) -> &[f32] {
        &self.table
    }

    /// Constant added to every table sum (0 for L2, 1 for Ip/Cosine).
    pub fn bias(&self) -> f32 {
        self.bias
    }

    /// Number of sub-spaces.
    pub fn m(&self) -> usize {
        self.pq.m
    }

    /// Bits per sub-code.
    pub fn nbits(&self) -> u8 {
        self.pq.nbits
    }
}

impl PreparedQuery for PqQuery<'_> {
    #[inline]
    fn distance(&self, code: &[u8]) -> f32 {
        let s = if self.pq.nbits == 8 {
            (self.pq.kern.adc_u8)(&self.table, code)
        } else {
            (self.pq.kern.adc_u4)(&self.table, code, self.pq.m)
        };
        self.bias + s
    }
}

impl Quantizer for Pq {
    type Query<'a> = PqQuery<'a>;

    fn dim(&self) -> usize {
        self.dim
    }

    fn metric(&self) -> Metric {
        self.metric
    }

    fn code_bytes(&self) -> usize {
        if self.nbits == 8 {
            self.m
        } else {
            self.m.div_ceil(2)
        }
    }

    fn encode(&self, v: &[f32], code: &mut [u8]) {
        self.encode_rows(v, code);
    }

    fn decode(&self, code: &[u8], out: &mut [f32]) {
        let (k, ds) = (self.ksub, self.dsub);
        let mut y = vec![0.0f32; self.dim];
        if code.len() >= self.code_bytes() {
            for (s, dst) in y.chunks_exact_mut(ds).enumerate() {
                let c = self.sub_code(code, s);
                dst.copy_from_slice(&self.centroids[(s * k + c) * ds..(s * k + c + 1) * ds]);
            }
        }
        let n = out.len().min(self.dim);
        match &self.rotation {
            Some(r) => r.apply_inverse(&y, &mut out[..n]),
            None => out[..n].copy_from_slice(&y[..n]),
        }
    }

    fn prepare<'a>(&'a self, q: &[f32]) -> PqQuery<'a> {
        let (table, bias) = self.table(q);
        PqQuery {
            pq: self,
            table,
            bias,
        }
    }

    fn write_params(&self, out: &mut Vec<u8>) {
        put_u32(out, TAG);
        put_u32(out, VERSION);
        put_u32(out, self.dim as u32);
        put_u32(out, metric_code(self.metric));
        put_u32(out, self.m as u32);
        put_u32(out, u32::from(self.nbits));
        put_u32(out, self.ksub as u32);
        put_u32(out, u32::from(self.rotation.is_some()));
        put_f32s(out, &self.centroids);
        if let Some(r) = &self.rotation {
            put_f32s(out, r.matrix());
        }
    }

    fn read_params(bytes: &[u8]) -> Result<Self, QuantError> {
        let mut r = Reader::new(bytes);
        if r.u32()? != TAG {
            return Err(QuantError::Corrupt("not PQ parameters".into()));
        }
        let version = r.u32()?;
        if version != VERSION {
            return Err(QuantError::Corrupt(format!(
                "unsupported PQ parameter version {version}"
            )));
        }
        let dim = r.u32()? as usize;
        let metric = metric_from(r.u32()?)?;
        let m = r.u32()? as usize;
        let nbits = u8::try_from(r.u32()?)
            .map_err(|_| QuantError::Corrupt("PQ nbits out of range".into()))?;
        let (ksub, dsub) =
            check_shape(dim, m, nbits).map_err(|e| QuantError::Corrupt(e.to_string()))?;
        if r.u32()? as usize != ksub {
            return Err(QuantError::Corrupt("PQ K disagrees with nbits".into()));
        }
        let has_rot = match r.u32()? {
            0 => false,
            1 => true,
            v => return Err(QuantError::Corrupt(format!("bad PQ rotation flag {v}"))),
        };
        let n_cent = m
            .checked_mul(ksub)
            .and_then(|v| v.checked_mul(dsub))
            .ok_or_else(|| QuantError::Corrupt("PQ sizes overflow".into()))?;
        let centroids = r.f32s(n_cent)?;
        let rotation = if has_rot {
            let n_rot = dim
                .checked_mul(dim)
                .ok_or_else(|| QuantError::Corrupt("PQ sizes overflow".into()))?;
            let mat = r.f32s(n_rot)?;
            Some(Rotation::from_matrix(mat, dim).map_err(|e| QuantError::Corrupt(e.to_string()))?)
        } else {
            None
        };
        r.finish()?;
        Self::from_parts(dim, metric, m, nbits, centroids, rotation)
            .map_err(|e| QuantError::Corrupt(e.to_string()))
    }
}
