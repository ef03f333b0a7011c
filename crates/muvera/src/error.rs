//! Error type of this crate.

use thiserror::Error;

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, MuveraError>;

/// Everything that can go wrong encoding, storing or loading multi-vector data.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum MuveraError {
    /// A parameter is out of range (k_sim above the cap, d_proj > dim,
    /// fill_empty requested for a query, wrong output length, unknown preset, …).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A token set with no tokens.
    #[error("empty token set")]
    EmptyTokens,
    /// The flat token array's length is not a multiple of the dimension.
    #[error("token array length {len} is not a multiple of dim {dim}")]
    RaggedTokens {
        /// Number of floats passed.
        len: usize,
        /// Expected dimension.
        dim: usize,
    },
    /// A token component is NaN or infinite.
    #[error("token {token} component {component} is not finite")]
    NonFinite {
        /// Token (row) index.
        token: usize,
        /// Component (column) index.
        component: usize,
    },
    /// Serialized data was written by a different, incompatible encoder or
    /// format version.
    #[error("version mismatch: data has version {found}, this build reads version {expected}")]
    VersionMismatch {
        /// Version stored in the data.
        found: u32,
        /// Version this build implements.
        expected: u32,
    },
    /// Serialized data is truncated, inconsistent or fails its checksum.
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

/// Validates a flat row-major token array: non-empty, whole rows, all finite.
/// Returns the number of tokens.
pub(crate) fn check_tokens(tokens: &[f32], dim: usize) -> Result<usize> {
    if dim == 0 {
        return Err(MuveraError::InvalidArgument(
            "dim must be at least 1".into(),
        ));
    }
    if tokens.is_empty() {
        return Err(MuveraError::EmptyTokens);
    }
    if !tokens.len().is_multiple_of(dim) {
        return Err(MuveraError::RaggedTokens {
            len: tokens.len(),
            dim,
        });
    }
    // Branch-free scan (vectorises); locate the culprit only on failure.
    let bad = tokens
        .chunks(256)
        .any(|c| c.iter().fold(false, |acc, x| acc | !x.is_finite()));
    if bad {
        if let Some(k) = tokens.iter().position(|x| !x.is_finite()) {
            return Err(MuveraError::NonFinite {
                token: k / dim,
                component: k % dim,
            });
        }
    }
    Ok(tokens.len() / dim)
}
