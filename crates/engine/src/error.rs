//! The one error type of the engine. Every failure a user can cause maps to a stable code;
//! the bindings turn it into a JS `Error` whose `code` property is [`ErrorCode::as_str`].

use std::fmt;

/// Stable error codes, shared with the TypeScript layer (`QuiverErrorCode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// An argument or option is out of its documented range or of the wrong kind.
    InvalidArgument,
    /// A vector's length differs from the index dimension.
    DimensionMismatch,
    /// A vector holds NaN or ±Infinity.
    NonFinite,
    /// A key appears twice in one batch, or `add` names a key already present.
    DuplicateKey,
    /// A key that must exist does not.
    KeyNotFound,
    /// A quantizer is used before training.
    NotTrained,
    /// The index cannot hold more vectors.
    Capacity,
    /// Reading or writing a file failed.
    Io,
    /// A file is not a valid index file (truncated, damaged, other format).
    CorruptFile,
    /// A file was written by a newer, unsupported format version.
    VersionMismatch,
    /// The operation was cancelled through its AbortSignal.
    Aborted,
    /// A write on a read-only (memory-mapped) index.
    ReadOnly,
    /// A call on an object after its `close()`.
    Closed,
    /// A search filter names an undeclared field, has a value of the wrong type, or breaks
    /// a limit of the filter language.
    InvalidFilter,
    /// A bug: an invariant did not hold. Please report it.
    Internal,
}

impl ErrorCode {
    /// The code as it appears in JavaScript, e.g. `"ERR_DIMENSION_MISMATCH"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "ERR_INVALID_ARGUMENT",
            ErrorCode::DimensionMismatch => "ERR_DIMENSION_MISMATCH",
            ErrorCode::NonFinite => "ERR_NON_FINITE",
            ErrorCode::DuplicateKey => "ERR_DUPLICATE_KEY",
            ErrorCode::KeyNotFound => "ERR_KEY_NOT_FOUND",
            ErrorCode::NotTrained => "ERR_NOT_TRAINED",
            ErrorCode::Capacity => "ERR_CAPACITY",
            ErrorCode::Io => "ERR_IO",
            ErrorCode::CorruptFile => "ERR_CORRUPT_FILE",
            ErrorCode::VersionMismatch => "ERR_VERSION_MISMATCH",
            ErrorCode::Aborted => "ERR_ABORTED",
            ErrorCode::ReadOnly => "ERR_READ_ONLY",
            ErrorCode::Closed => "ERR_CLOSED",
            ErrorCode::InvalidFilter => "ERR_INVALID_FILTER",
            ErrorCode::Internal => "ERR_INTERNAL",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An engine error: a code and a human-readable message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    /// The stable code.
    pub code: ErrorCode,
    /// What went wrong, with the offending value where useful.
    pub message: String,
}

impl Error {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }
}

/// Shorthand constructors.
macro_rules! err {
    ($code:ident, $($arg:tt)*) => {
        $crate::error::Error::new($crate::error::ErrorCode::$code, format!($($arg)*))
    };
}
pub(crate) use err;

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl From<quiver_container::ContainerError> for Error {
    fn from(e: quiver_container::ContainerError) -> Self {
        use quiver_container::ErrorKind;
        let code = match e.kind {
            ErrorKind::Corrupt => ErrorCode::CorruptFile,
            ErrorKind::VersionMismatch => ErrorCode::VersionMismatch,
            ErrorKind::Io => ErrorCode::Io,
        };
        Error::new(code, e.to_string())
    }
}
