//! `VectorIndex` configuration, its defaults and limits.

use quiver_distance::Metric;

use crate::error::{err, Result};
use crate::quantized::{Originals, QuantConfig, QuantKind};

/// Largest supported dimension.
pub const MAX_DIM: usize = 65_536;
/// Largest `k` a search accepts.
pub const MAX_K: usize = 10_000;
/// Largest `ef` (search or construction) accepted.
pub const MAX_EF: usize = 10_000;
/// Largest `m` (links per node on upper levels).
pub const MAX_M: usize = 128;
/// Largest thread-pool size.
pub const MAX_THREADS: usize = 256;
/// Most vectors one index holds (slot ids are u32; one value is reserved).
pub const MAX_VECTORS: usize = u32::MAX as usize - 1;

/// Which structure answers searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexKind {
    /// Approximate: HNSW graph.
    Hnsw,
    /// Exact: SIMD scan of every vector.
    Flat,
}

impl IndexKind {
    /// `"hnsw"` or `"flat"`.
    pub fn name(self) -> &'static str {
        match self {
            IndexKind::Hnsw => "hnsw",
            IndexKind::Flat => "flat",
        }
    }

    /// Parses `"hnsw"` / `"flat"`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hnsw" => Some(IndexKind::Hnsw),
            "flat" => Some(IndexKind::Flat),
            _ => None,
        }
    }
}

/// Everything that defines an index. Validated by [`Config::validate`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Vector dimension, 1..=65536.
    pub dim: usize,
    /// Distance: l2 (squared), ip (1 − dot), cosine (1 − cos).
    pub metric: Metric,
    /// hnsw or flat.
    pub kind: IndexKind,
    /// HNSW M, 2..=128 (level 0 uses 2M).
    pub m: usize,
    /// HNSW efConstruction, 1..=10000.
    pub ef_construction: usize,
    /// Default search ef, 1..=10000 (raised to k per search).
    pub ef_search: usize,
    /// Seed for levels and insertion order.
    pub seed: u64,
    /// Threads for bulk insert and batch search, 1..=256.
    pub threads: usize,
    /// Quantization (codes for traversal, optional f32 rerank).
    pub quant: QuantConfig,
    /// Where the f32 vectors live.
    pub originals: Originals,
}

impl Config {
    /// Defaults for a dimension: l2, hnsw, M 16, efConstruction 200, ef 64, seed 42, all cores.
    pub fn new(dim: usize) -> Self {
        Config {
            dim,
            metric: Metric::L2,
            kind: IndexKind::Hnsw,
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            seed: 42,
            threads: default_threads(),
            quant: QuantConfig::default(),
            originals: Originals::Memory,
        }
    }

    /// Checks every field against its range.
    pub fn validate(&self) -> Result<()> {
        if self.dim == 0 || self.dim > MAX_DIM {
            return Err(err!(
                InvalidArgument,
                "dim must be an integer in 1..={MAX_DIM}, got {}",
                self.dim
            ));
        }
        if self.m < 2 || self.m > MAX_M {
            return Err(err!(
                InvalidArgument,
                "m must be an integer in 2..={MAX_M}, got {}",
                self.m
            ));
        }
        if self.ef_construction == 0 || self.ef_construction > MAX_EF {
            return Err(err!(
                InvalidArgument,
                "efConstruction must be an integer in 1..={MAX_EF}, got {}",
                self.ef_construction
            ));
        }
        if self.ef_search == 0 || self.ef_search > MAX_EF {
            return Err(err!(
                InvalidArgument,
                "efSearch must be an integer in 1..={MAX_EF}, got {}",
                self.ef_search
            ));
        }
        if self.threads == 0 || self.threads > MAX_THREADS {
            return Err(err!(
                InvalidArgument,
                "threads must be an integer in 1..={MAX_THREADS}, got {}",
                self.threads
            ));
        }
        self.validate_quant()
    }

    fn validate_quant(&self) -> Result<()> {
        let q = &self.quant;
        if q.kind == QuantKind::None {
            if self.originals == Originals::None {
                return Err(err!(
                    InvalidArgument,
                    "originals: 'none' needs a quantization: without codes there would be nothing to search"
                ));
            }
            return Ok(());
        }
        if q.rerank && self.originals == Originals::None {
            return Err(err!(
                InvalidArgument,
                "rerank: 'exact' needs the f32 originals; use originals 'memory' or 'mmap', or rerank: 'none'"
            ));
        }
        let (lo, hi) = OVERSAMPLE_RANGE;
        if !q.oversample.is_finite() || !(lo..=hi).contains(&q.oversample) {
            return Err(err!(
                InvalidArgument,
                "quantization.oversample must be a number in [1, 100], got {}",
                q.oversample
            ));
        }
        let min = q.kind.min_training().max(1);
        if q.training_size < min || q.training_size > MAX_TRAINING {
            return Err(err!(
                InvalidArgument,
                "quantization.trainingSize must be an integer in {min}..={MAX_TRAINING} for {}, got {}",
                q.kind.name(),
                q.training_size
            ));
        }
        q.kind.validate(self.dim)
    }
}

/// The default pool size: this machine's logical CPUs (at most [`MAX_THREADS`]).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS))
}

/// Largest `trainingSize`.
pub const MAX_TRAINING: usize = 10_000_000;
/// Range of `quantization.oversample`.
pub const OVERSAMPLE_RANGE: (f32, f32) = (1.0, 100.0);

/// The engine's limits and defaults, in one value, for a host layer that checks options and
/// fills in defaults before it calls the engine (so both always agree).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// [`MAX_DIM`].
    pub max_dim: usize,
    /// [`MAX_K`].
    pub max_k: usize,
    /// [`MAX_EF`].
    pub max_ef: usize,
    /// [`MAX_M`].
    pub max_m: usize,
    /// [`MAX_THREADS`].
    pub max_threads: usize,
    /// [`MAX_TRAINING`].
    pub max_training: usize,
    /// Smallest and largest `oversample`.
    pub oversample_range: (f32, f32),
    /// Default `m`, `efConstruction`, `efSearch` and `seed` (those of [`Config::new`]).
    pub default_m: usize,
    /// See `default_m`.
    pub default_ef_construction: usize,
    /// See `default_m`.
    pub default_ef_search: usize,
    /// See `default_m`.
    pub default_seed: u64,
    /// Default `oversample` (every quantizer).
    pub default_oversample: f32,
    /// Default `trainingSize` for sq8, binary and RaBitQ.
    pub default_training_size: usize,
    /// Default `trainingSize` for PQ with 8-bit and with 4-bit codes.
    pub default_training_size_pq8: usize,
    /// See `default_training_size_pq8`.
    pub default_training_size_pq4: usize,
}

/// The engine's limits and defaults.
pub fn limits() -> Limits {
    let defaults = Config::new(1);
    let pq = |nbits| QuantKind::Pq {
        m: 1,
        nbits,
        opq: false,
    };
    Limits {
        max_dim: MAX_DIM,
        max_k: MAX_K,
        max_ef: MAX_EF,
        max_m: MAX_M,
        max_threads: MAX_THREADS,
        max_training: MAX_TRAINING,
        oversample_range: OVERSAMPLE_RANGE,
        default_m: defaults.m,
        default_ef_construction: defaults.ef_construction,
        default_ef_search: defaults.ef_search,
        default_seed: defaults.seed,
        default_oversample: QuantKind::Sq8.default_oversample(),
        default_training_size: QuantKind::Sq8.default_training_size(),
        default_training_size_pq8: pq(8).default_training_size(),
        default_training_size_pq4: pq(4).default_training_size(),
    }
}

/// Validates `k` and `ef` of one search and returns the ef to use (max(ef, k)).
pub fn search_params(k: usize, ef: Option<usize>, default_ef: usize) -> Result<(usize, usize)> {
    if k == 0 || k > MAX_K {
        return Err(err!(
            InvalidArgument,
            "k must be an integer in 1..={MAX_K}, got {k}"
        ));
    }
    let ef = ef.unwrap_or(default_ef);
    if ef == 0 || ef > MAX_EF {
        return Err(err!(
            InvalidArgument,
            "ef must be an integer in 1..={MAX_EF}, got {ef}"
        ));
    }
    Ok((k, ef.max(k)))
}
