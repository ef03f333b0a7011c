//! The error type of this crate.

/// Everything that can go wrong in this crate. Each variant carries a message that names
/// the place of the problem (a record index and field, a path inside a filter, a byte
/// offset) where one exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A filter AST that is malformed or does not fit the schema. The message starts with
    /// the path of the offending node, e.g. `c[1].v[0]: expected a string for keyword field "lang"`.
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// A bad schema, record batch or payload.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Persisted bytes that are truncated, damaged or inconsistent.
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, FilterError>;

pub(crate) fn invalid_arg(msg: impl Into<String>) -> FilterError {
    FilterError::InvalidArgument(msg.into())
}

pub(crate) fn corrupt(msg: impl Into<String>) -> FilterError {
    FilterError::Corrupt(msg.into())
}
