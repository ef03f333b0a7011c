//! Vector quantizers: compact codes for HNSW traversal and flat scans, with an exact f32
//! rerank done by the engine.
//!
//! Every quantizer follows the same life cycle:
//! 1. **train** on a sample (`Xxx::train(data, dim, metric, params)`), which fits bounds,
//!    centres, rotations or codebooks;
//! 2. **encode** each vector into `code_bytes()` bytes (any per-vector correction factors are
//!    part of the code, so a code arena is one contiguous `Vec<u8>` with a fixed stride);
//! 3. **prepare** a query once ([`Quantizer::prepare`]) into a form that is scored against many
//!    codes ([`PreparedQuery::distance`]);
//! 4. **persist** its parameters (`write_params` / `read_params`), little-endian.
//!
//! Distances are estimates in the same space as [`quiver_distance::Kernels::distance_fn`]:
//! squared L2 for [`Metric::L2`], `1 − dot` for [`Metric::Ip`] and [`Metric::Cosine`]
//! (cosine inputs arrive unit-normalised, as in the f32 index). Smaller is closer.
//!
//! Where to look: [`sq8`] (per-dimension affine u8 codes), [`binary`] (1 bit per dimension
//! around a trained centre), [`rabitq`] (rotated sign bits with an unbiased estimator and error
//! bound), [`pq`] (product quantization, 8-bit ADC and 4-bit fast-scan), [`kmeans`].

pub mod binary;
pub mod fastscan;
pub mod hadamard;
pub mod io;
pub mod kmeans;
pub mod opq;
pub mod pq;
pub mod rabitq;
pub mod sq8;

pub use quiver_distance::Metric;

/// Errors from training and parameter loading. The engine maps them to coded JS errors.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum QuantError {
    /// Training needs at least `needed` vectors.
    #[error("training needs at least {needed} vectors, got {got}")]
    TooFewVectors {
        /// Minimum number of training vectors.
        needed: usize,
        /// Number supplied.
        got: usize,
    },
    /// A parameter is out of range or inconsistent.
    #[error("{0}")]
    InvalidArgument(String),
    /// Training data holds NaN or ±Inf.
    #[error("training vector {row} holds a non-finite value")]
    NonFinite {
        /// Row index of the first offending vector.
        row: usize,
    },
    /// Stored parameters are truncated or inconsistent.
    #[error("corrupt quantizer parameters: {0}")]
    Corrupt(String),
}

/// A distance estimate with a lower bound on the true distance that holds with high
/// probability (RaBitQ); quantizers without a bound report `lower == distance`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Estimated distance.
    pub distance: f32,
    /// Lower bound on the true distance.
    pub lower: f32,
}

/// A query prepared for one quantizer, scored against many codes.
pub trait PreparedQuery: Send + Sync {
    /// Estimated distance between the query and one code.
    fn distance(&self, code: &[u8]) -> f32;

    /// Estimate plus lower bound. The default bound is the estimate itself.
    #[inline]
    fn estimate(&self, code: &[u8]) -> Estimate {
        let d = self.distance(code);
        Estimate {
            distance: d,
            lower: d,
        }
    }
}

/// A trained quantizer.
pub trait Quantizer: Send + Sync + Sized {
    /// The per-query prepared form.
    type Query<'a>: PreparedQuery
    where
        Self: 'a;

    /// Input dimension.
    fn dim(&self) -> usize;
    /// Metric the estimates are for.
    fn metric(&self) -> Metric;
    /// Bytes per encoded vector (including per-vector factors).
    fn code_bytes(&self) -> usize;
    /// Encode one vector (`dim` floats; unit-normalised for cosine) into `code`
    /// (`code_bytes()` bytes).
    fn encode(&self, v: &[f32], code: &mut [u8]);
    /// Approximate reconstruction of a vector from its code.
    fn decode(&self, code: &[u8], out: &mut [f32]);
    /// Prepare a query (`dim` floats; unit-normalised for cosine).
    fn prepare<'a>(&'a self, q: &[f32]) -> Self::Query<'a>;
    /// Serialise the trained parameters (little-endian).
    fn write_params(&self, out: &mut Vec<u8>);
    /// Load parameters written by [`Quantizer::write_params`]; validates every length.
    fn read_params(bytes: &[u8]) -> Result<Self, QuantError>;
    /// Whether `code` (`code_bytes()` bytes, e.g. read from a file) could have come from
    /// [`Quantizer::encode`]: its per-vector factors are finite and in the range encoding
    /// produces, so no estimate computed from it is NaN or infinite.
    fn code_is_valid(&self, code: &[u8]) -> bool {
        code.len() == self.code_bytes()
    }
}

/// Largest per-vector norm factor a valid code may carry: its square stays within the
/// squared-norm limit of vectors.
pub(crate) const MAX_CODE_NORM: f32 = 9.2e18;

/// The little-endian f32 at byte `off` of `code`, if present.
pub(crate) fn code_f32(code: &[u8], off: usize) -> Option<f32> {
    code.get(off..off + 4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Check that training data is a whole number of rows, has at least `needed` rows and is finite.
pub fn check_training(data: &[f32], dim: usize, needed: usize) -> Result<usize, QuantError> {
    if dim == 0 || !data.len().is_multiple_of(dim) {
        return Err(QuantError::InvalidArgument(format!(
            "training data length {} is not a multiple of dim {}",
            data.len(),
            dim
        )));
    }
    let n = data.len() / dim;
    if n < needed {
        return Err(QuantError::TooFewVectors { needed, got: n });
    }
    if let Some(pos) = data.iter().position(|x| !x.is_finite()) {
        return Err(QuantError::NonFinite { row: pos / dim });
    }
    Ok(n)
}
