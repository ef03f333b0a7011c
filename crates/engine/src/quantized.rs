//! Quantized storage for a `VectorIndex`: which quantizer, its code arena, and the scorer
//! that lets the HNSW search loop traverse codes instead of f32 rows.
//!
//! The graph is built on full-precision vectors when they are kept (`originals` `memory` or
//! `mmap`); searches traverse the compact codes and rescore the final candidates with f32
//! (`rerank: exact`). With `originals: none` the f32 rows are dropped after training and the
//! graph is extended using the codes' reconstructions.

use quiver_distance::Metric;
use quiver_hnsw::{QueryScorer, Scorer};
use quiver_quant::binary::{Binary, BinaryParams, BinaryQuery};
use quiver_quant::fastscan::FastScanLut;
use quiver_quant::pq::{Pq, PqParams, PqQuery};
use quiver_quant::rabitq::{Rabitq, RabitqParams, RabitqQuery};
use quiver_quant::sq8::{Sq8, Sq8Query};
use quiver_quant::{Estimate, PreparedQuery, QuantError, Quantizer};

use crate::error::{err, Error};

/// Which quantizer an index uses, with its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantKind {
    /// Full-precision f32 only.
    None,
    /// Per-dimension affine u8 (4× smaller than f32).
    Sq8,
    /// One bit per dimension around the trained centre (32×); queries of 1 or 4 bits.
    Binary {
        /// 1 (Hamming) or 4 (asymmetric bit planes).
        query_bits: u8,
    },
    /// RaBitQ: rotated sign bits with an unbiased estimator and an error bound.
    Rabitq,
    /// Product quantization: `m` sub-spaces of 2^nbits centroids.
    Pq {
        /// Sub-spaces; must divide dim.
        m: u32,
        /// 8 (256 centroids, ADC) or 4 (16 centroids; flat scans use fast-scan).
        nbits: u8,
        /// Learn an OPQ rotation first.
        opq: bool,
    },
}

impl QuantKind {
    /// The name used in options and files.
    pub fn name(self) -> &'static str {
        match self {
            QuantKind::None => "none",
            QuantKind::Sq8 => "sq8",
            QuantKind::Binary { .. } => "binary",
            QuantKind::Rabitq => "rabitq",
            QuantKind::Pq { .. } => "pq",
        }
    }

    fn code(self) -> u32 {
        match self {
            QuantKind::None => 0,
            QuantKind::Sq8 => 1,
            QuantKind::Binary { .. } => 2,
            QuantKind::Rabitq => 3,
            QuantKind::Pq { .. } => 4,
        }
    }

    /// Default number of vectors used to train: enough for stable bounds and centres, and for
    /// PQ 100 points per centroid (FAISS warns below 39).
    pub fn default_training_size(self) -> usize {
        match self {
            QuantKind::Pq { nbits: 8, .. } => 25_600,
            QuantKind::Pq { .. } => 4_096,
            _ => 10_000,
        }
    }

    /// Default `oversample`: 1, so the rerank depth is `max(ef, k)` and `ef` alone trades
    /// recall for speed (a larger fixed multiple of `k` made every `ef` below it give the same
    /// recall at the same cost).
    pub fn default_oversample(self) -> f32 {
        1.0
    }

    /// Fewest vectors training accepts.
    pub fn min_training(self) -> usize {
        match self {
            QuantKind::None => 0,
            QuantKind::Sq8 => Sq8::MIN_TRAINING,
            QuantKind::Binary { .. } => Binary::MIN_TRAINING,
            QuantKind::Rabitq => Rabitq::MIN_TRAINING,
            // Saturating: options read from a file may carry any nbits (rejected later).
            QuantKind::Pq { nbits, .. } => {
                1usize.checked_shl(u32::from(nbits)).unwrap_or(usize::MAX)
            }
        }
    }

    /// One instance of every kind (with parameters suited to `dim`), for tests.
    pub fn all_for_tests(dim: usize) -> Vec<QuantKind> {
        vec![
            QuantKind::Sq8,
            QuantKind::Binary { query_bits: 4 },
            QuantKind::Binary { query_bits: 1 },
            QuantKind::Rabitq,
            QuantKind::Pq {
                m: (dim / 4) as u32,
                nbits: 8,
                opq: false,
            },
            QuantKind::Pq {
                m: (dim / 2) as u32,
                nbits: 4,
                opq: false,
            },
        ]
    }

    /// Checks the kind's parameters against the dimension.
    pub fn validate(self, dim: usize) -> Result<(), Error> {
        match self {
            QuantKind::Binary { query_bits } if query_bits != 1 && query_bits != 4 => Err(err!(
                InvalidArgument,
                "quantization.queryBits must be 1 or 4, got {query_bits}"
            )),
            QuantKind::Pq { m, nbits, .. } => {
                if nbits != 4 && nbits != 8 {
                    return Err(err!(
                        InvalidArgument,
                        "quantization.nbits must be 4 or 8, got {nbits}"
                    ));
                }
                let m = m as usize;
                if m == 0 || m > dim || !dim.is_multiple_of(m) {
                    return Err(err!(
                        InvalidArgument,
                        "quantization.m must divide dim {dim} (e.g. {}), got {m}",
                        divisors_hint(dim)
                    ));
                }
                if nbits == 4 && !m.is_multiple_of(2) {
                    return Err(err!(
                        InvalidArgument,
                        "4-bit PQ packs two sub-codes per byte: quantization.m must be even, got {m}"
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// A few valid `m` values for a dimension, for error messages.
fn divisors_hint(dim: usize) -> String {
    let d: Vec<String> = [dim / 16, dim / 8, dim / 4, dim / 2]
        .into_iter()
        .filter(|&m| m > 0 && dim.is_multiple_of(m))
        .map(|m| m.to_string())
        .collect();
    if d.is_empty() {
        dim.to_string()
    } else {
        d.join(", ")
    }
}

/// Where the f32 vectors used for reranking live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Originals {
    /// In memory.
    Memory,
    /// In memory while building; served from the index file (memory-mapped) once loaded.
    Mmap,
    /// Not kept once the quantizer is trained.
    None,
}

impl Originals {
    /// `"memory"`, `"mmap"` or `"none"`.
    pub fn name(self) -> &'static str {
        match self {
            Originals::Memory => "memory",
            Originals::Mmap => "mmap",
            Originals::None => "none",
        }
    }

    /// Inverse of [`Originals::name`].
    pub fn parse(s: &str) -> Option<Self> {
        [Originals::Memory, Originals::Mmap, Originals::None]
            .into_iter()
            .find(|o| o.name() == s)
    }
}

/// Quantization options of an index.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantConfig {
    /// The quantizer.
    pub kind: QuantKind,
    /// Rescore the final candidates with f32 vectors.
    pub rerank: bool,
    /// Candidates before rerank = max(ef, ceil(k × oversample)).
    pub oversample: f32,
    /// Vectors used for automatic training (training starts once this many are present).
    pub training_size: usize,
}

impl Default for QuantConfig {
    fn default() -> Self {
        QuantConfig {
            kind: QuantKind::None,
            rerank: true,
            oversample: 1.0,
            training_size: 10_000,
        }
    }
}

impl QuantConfig {
    /// Serialised form (for the index file).
    pub fn to_bytes(&self, originals: Originals) -> Vec<u8> {
        let mut b = Vec::with_capacity(32);
        let (p1, p2, p3) = match self.kind {
            QuantKind::Binary { query_bits } => (u32::from(query_bits), 0, 0),
            QuantKind::Pq { m, nbits, opq } => (m, u32::from(nbits), u32::from(opq)),
            _ => (0, 0, 0),
        };
        b.extend_from_slice(&self.kind.code().to_le_bytes());
        b.extend_from_slice(&p1.to_le_bytes());
        b.extend_from_slice(&p2.to_le_bytes());
        b.extend_from_slice(&p3.to_le_bytes());
        b.extend_from_slice(&u32::from(self.rerank).to_le_bytes());
        b.extend_from_slice(&self.oversample.to_le_bytes());
        b.extend_from_slice(&(self.training_size as u32).to_le_bytes());
        b.extend_from_slice(
            &(match originals {
                Originals::Memory => 0u32,
                Originals::Mmap => 1,
                Originals::None => 2,
            })
            .to_le_bytes(),
        );
        b
    }

    /// Inverse of [`QuantConfig::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Option<(Self, Originals)> {
        if b.len() != 32 {
            return None;
        }
        let u = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let kind = match u(0) {
            0 => QuantKind::None,
            1 => QuantKind::Sq8,
            2 => QuantKind::Binary {
                query_bits: u8::try_from(u(4)).ok()?,
            },
            3 => QuantKind::Rabitq,
            4 => QuantKind::Pq {
                m: u(4),
                nbits: u8::try_from(u(8)).ok()?,
                opq: u(12) != 0,
            },
            _ => return None,
        };
        let originals = match u(28) {
            0 => Originals::Memory,
            1 => Originals::Mmap,
            2 => Originals::None,
            _ => return None,
        };
        Some((
            QuantConfig {
                kind,
                rerank: u(16) != 0,
                oversample: f32::from_le_bytes([b[20], b[21], b[22], b[23]]),
                training_size: u(24) as usize,
            },
            originals,
        ))
    }
}

/// Maps a quantizer error to a coded engine error.
pub fn quant_error(e: QuantError) -> Error {
    match e {
        QuantError::TooFewVectors { needed, got } => err!(
            InvalidArgument,
            "training needs at least {needed} vectors, got {got}"
        ),
        QuantError::InvalidArgument(m) => err!(InvalidArgument, "{m}"),
        QuantError::NonFinite { row } => {
            err!(NonFinite, "training vector {row} holds NaN or ±Infinity")
        }
        QuantError::Corrupt(m) => err!(CorruptFile, "quantizer parameters: {m}"),
    }
}

/// A trained quantizer of any kind.
pub enum AnyQuantizer {
    /// sq8 codes.
    Sq8(Sq8),
    /// Binary codes.
    Binary(Binary),
    /// RaBitQ codes.
    Rabitq(Rabitq),
    /// PQ codes.
    Pq(Pq),
}

/// A query prepared for an [`AnyQuantizer`].
pub enum AnyQuery<'a> {
    /// For sq8.
    Sq8(Sq8Query),
    /// For binary.
    Binary(BinaryQuery),
    /// For RaBitQ.
    Rabitq(RabitqQuery),
    /// For PQ.
    Pq(PqQuery<'a>),
}

impl PreparedQuery for AnyQuery<'_> {
    #[inline]
    fn distance(&self, code: &[u8]) -> f32 {
        match self {
            AnyQuery::Sq8(q) => q.distance(code),
            AnyQuery::Binary(q) => q.distance(code),
            AnyQuery::Rabitq(q) => q.distance(code),
            AnyQuery::Pq(q) => q.distance(code),
        }
    }

    #[inline]
    fn estimate(&self, code: &[u8]) -> Estimate {
        match self {
            AnyQuery::Sq8(q) => q.estimate(code),
            AnyQuery::Binary(q) => q.estimate(code),
            AnyQuery::Rabitq(q) => q.estimate(code),
            AnyQuery::Pq(q) => q.estimate(code),
        }
    }
}

impl AnyQuery<'_> {
    /// The u8 lookup table for a 4-bit PQ fast-scan, if this is a 4-bit PQ query.
    pub fn fastscan_lut(&self) -> Option<FastScanLut> {
        match self {
            AnyQuery::Pq(q) if q.nbits() == 4 => FastScanLut::new(q).ok(),
            _ => None,
        }
    }
}

macro_rules! each {
    ($self:expr, $q:ident => $e:expr) => {
        match $self {
            AnyQuantizer::Sq8($q) => $e,
            AnyQuantizer::Binary($q) => $e,
            AnyQuantizer::Rabitq($q) => $e,
            AnyQuantizer::Pq($q) => $e,
        }
    };
}

impl AnyQuantizer {
    /// Trains a quantizer of `cfg.kind` on `data` (row-major, `dim` per row; unit-normalised
    /// for cosine). `seed` drives RaBitQ's rotation and PQ's sampling and k-means.
    pub fn train(
        cfg: &QuantConfig,
        data: &[f32],
        dim: usize,
        metric: Metric,
        seed: u64,
    ) -> Result<Self, Error> {
        cfg.kind.validate(dim)?;
        let q = match cfg.kind {
            QuantKind::None => {
                return Err(err!(
                    InvalidArgument,
                    "this index has no quantization to train"
                ))
            }
            QuantKind::Sq8 => {
                AnyQuantizer::Sq8(Sq8::train(data, dim, metric).map_err(quant_error)?)
            }
            QuantKind::Binary { query_bits } => AnyQuantizer::Binary(
                Binary::train(data, dim, metric, BinaryParams { query_bits })
                    .map_err(quant_error)?,
            ),
            QuantKind::Rabitq => AnyQuantizer::Rabitq(
                Rabitq::train(data, dim, metric, RabitqParams { seed }).map_err(quant_error)?,
            ),
            QuantKind::Pq { m, nbits, opq } => {
                let mut p = PqParams::new(m as usize, nbits);
                p.opq = opq;
                p.seed = seed;
                AnyQuantizer::Pq(Pq::train(data, dim, metric, &p).map_err(quant_error)?)
            }
        };
        Ok(q)
    }

    /// The kind, with the parameters it was trained with.
    pub fn kind(&self) -> QuantKind {
        match self {
            AnyQuantizer::Sq8(_) => QuantKind::Sq8,
            AnyQuantizer::Binary(b) => QuantKind::Binary {
                query_bits: b.query_bits(),
            },
            AnyQuantizer::Rabitq(_) => QuantKind::Rabitq,
            AnyQuantizer::Pq(p) => QuantKind::Pq {
                m: p.m() as u32,
                nbits: p.nbits(),
                opq: p.rotation().is_some(),
            },
        }
    }

    /// The vector dimension the parameters were trained for.
    pub fn dim(&self) -> usize {
        each!(self, q => q.dim())
    }

    /// The metric the parameters were trained for.
    pub fn metric(&self) -> Metric {
        each!(self, q => q.metric())
    }

    /// Whether every code (`codes` holds whole codes) could have come from encoding: its
    /// per-vector factors finite and in the range encoding produces.
    pub fn codes_are_valid(&self, codes: &[u8]) -> bool {
        let cb = self.code_bytes();
        cb > 0
            && codes
                .chunks_exact(cb)
                .all(|c| each!(self, q => q.code_is_valid(c)))
    }

    /// Bytes per code.
    pub fn code_bytes(&self) -> usize {
        each!(self, q => q.code_bytes())
    }

    /// Bytes held by the trained parameters (centres, bounds, codebooks, rotations).
    pub fn param_bytes(&self) -> usize {
        let mut v = Vec::new();
        self.write_params(&mut v);
        v.len()
    }

    /// Whether estimates come with a lower bound usable to skip reranks (RaBitQ).
    pub fn has_bounds(&self) -> bool {
        matches!(self, AnyQuantizer::Rabitq(_))
    }

    /// Encodes one vector.
    pub fn encode(&self, v: &[f32], code: &mut [u8]) {
        each!(self, q => q.encode(v, code))
    }

    /// Approximate reconstruction.
    pub fn decode(&self, code: &[u8], out: &mut [f32]) {
        each!(self, q => q.decode(code, out))
    }

    /// Prepares a query.
    pub fn prepare(&self, q: &[f32]) -> AnyQuery<'_> {
        match self {
            AnyQuantizer::Sq8(z) => AnyQuery::Sq8(z.prepare(q)),
            AnyQuantizer::Binary(z) => AnyQuery::Binary(z.prepare(q)),
            AnyQuantizer::Rabitq(z) => AnyQuery::Rabitq(z.prepare(q)),
            AnyQuantizer::Pq(z) => AnyQuery::Pq(z.prepare(q)),
        }
    }

    /// Parameters for the file (kind code first).
    pub fn write_params(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.kind().code().to_le_bytes());
        each!(self, q => q.write_params(out))
    }

    /// Inverse of [`AnyQuantizer::write_params`].
    pub fn read_params(b: &[u8]) -> Result<Self, Error> {
        let corrupt = || {
            err!(
                CorruptFile,
                "not a valid quiver-search index file: bad quantizer parameters"
            )
        };
        let (head, rest) = b.split_at_checked(4).ok_or_else(corrupt)?;
        let code = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        Ok(match code {
            1 => AnyQuantizer::Sq8(Sq8::read_params(rest).map_err(quant_error)?),
            2 => AnyQuantizer::Binary(Binary::read_params(rest).map_err(quant_error)?),
            3 => AnyQuantizer::Rabitq(Rabitq::read_params(rest).map_err(quant_error)?),
            4 => AnyQuantizer::Pq(Pq::read_params(rest).map_err(quant_error)?),
            _ => return Err(corrupt()),
        })
    }
}

/// Scores codes for the HNSW search loop.
pub struct CodeScorer<'a> {
    quant: &'a AnyQuantizer,
    codes: &'a [u8],
    stride: usize,
    dim: usize,
    prefetch_lines: usize,
}

impl<'a> CodeScorer<'a> {
    /// A scorer over `codes` (one code of `quant.code_bytes()` bytes per slot).
    pub fn new(quant: &'a AnyQuantizer, codes: &'a [u8], dim: usize) -> Self {
        let stride = quant.code_bytes();
        CodeScorer {
            quant,
            codes,
            stride,
            dim,
            prefetch_lines: stride.div_ceil(64),
        }
    }

    /// The code of slot `id` (empty past the arena).
    #[inline]
    pub fn code(&self, id: u32) -> &'a [u8] {
        let s = id as usize * self.stride;
        self.codes.get(s..s + self.stride).unwrap_or(&[])
    }

    fn decoded(&self, id: u32) -> Vec<f32> {
        let mut v = vec![0f32; self.dim];
        self.quant.decode(self.code(id), &mut v);
        v
    }
}

/// A prepared query bound to a [`CodeScorer`].
pub struct CodeQuery<'a> {
    scorer: &'a CodeScorer<'a>,
    prepared: AnyQuery<'a>,
}

impl CodeQuery<'_> {
    /// The prepared query.
    pub fn prepared(&self) -> &AnyQuery<'_> {
        &self.prepared
    }

    /// Estimate and lower bound for slot `id`.
    #[inline]
    pub fn estimate(&self, id: u32) -> Estimate {
        self.prepared.estimate(self.scorer.code(id))
    }
}

impl QueryScorer for CodeQuery<'_> {
    #[inline]
    fn distance(&self, id: u32) -> f32 {
        self.prepared.distance(self.scorer.code(id))
    }

    #[inline]
    fn prefetch(&self, id: u32) {
        let c = self.scorer.code(id);
        quiver_distance::prefetch(
            c.as_ptr(),
            self.scorer.prefetch_lines.min(c.len().div_ceil(64)),
        );
    }

    /// Compact codes score faster than a row arrives from DRAM: keep more rows in flight the
    /// fewer cache lines each takes (1-bit codes of ≤ 512 dims: one line, 4 ahead; sq8 rows of
    /// a few hundred dims: 2 ahead; longer codes: 1, like f32 rows).
    #[inline]
    fn prefetch_ahead(&self) -> usize {
        match self.scorer.prefetch_lines {
            0..=1 => 4,
            2..=8 => 2,
            _ => 1,
        }
    }
}

impl<'s> Scorer for CodeScorer<'s> {
    type Query<'a>
        = CodeQuery<'a>
    where
        Self: 'a;

    fn query<'a>(&'a self, q: &'a [f32]) -> CodeQuery<'a> {
        CodeQuery {
            scorer: self,
            prepared: self.quant.prepare(q),
        }
    }

    fn node_query(&self, id: u32) -> CodeQuery<'_> {
        // Only used when building without originals: the node's reconstruction stands in.
        let v = self.decoded(id);
        CodeQuery {
            scorer: self,
            prepared: self.quant.prepare(&v),
        }
    }

    fn between(&self, a: u32, b: u32) -> f32 {
        let v = self.decoded(a);
        self.quant.prepare(&v).distance(self.code(b))
    }
}

/// Builds the graph over codes with exact neighbour choice: an insert's search walks the
/// compact codes (a quarter of the f32 rows' memory traffic for sq8), then the candidates it
/// found are re-scored on the f32 rows, and the heuristic and back-links compare exact
/// distances. Used for sq8 indexes that keep their originals.
pub struct CodeBuildScorer<'a> {
    codes: CodeScorer<'a>,
    exact: crate::scorer::F32Scorer<'a>,
}

impl<'a> CodeBuildScorer<'a> {
    /// Traversal over `codes`, exact distances over `exact`.
    pub fn new(codes: CodeScorer<'a>, exact: crate::scorer::F32Scorer<'a>) -> Self {
        CodeBuildScorer { codes, exact }
    }
}

impl<'s> Scorer for CodeBuildScorer<'s> {
    type Query<'a>
        = CodeQuery<'a>
    where
        Self: 'a;

    fn query<'a>(&'a self, q: &'a [f32]) -> CodeQuery<'a> {
        self.codes.query(q)
    }

    fn node_query(&self, id: u32) -> CodeQuery<'_> {
        // The node's exact row is the query: the estimate is asymmetric, codes on one side only.
        CodeQuery {
            scorer: &self.codes,
            prepared: self.codes.quant.prepare(self.exact.row(id)),
        }
    }

    fn between(&self, a: u32, b: u32) -> f32 {
        self.exact.between(a, b)
    }

    fn refine(&self, id: u32, found: &mut [(f32, u32)]) -> bool {
        let row = self.exact.row(id);
        for (d, n) in found.iter_mut() {
            *d = self.exact.distance_to(row, *n);
        }
        true
    }
}
