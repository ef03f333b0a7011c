//! The error type of this crate.

/// Everything that can go wrong in `quiver-lexical`.
///
/// The engine maps the variants to its error codes: `InvalidArgument` → `ERR_INVALID_ARGUMENT`,
/// `DuplicateKey` → `ERR_DUPLICATE_KEY`, `Corrupt` → `ERR_CORRUPT_FILE`, `VersionMismatch` →
/// `ERR_VERSION_MISMATCH`, `Io` → `ERR_IO`, `Cancelled` → `ERR_ABORTED`.
#[derive(Debug, thiserror::Error)]
pub enum LexicalError {
    /// A parameter or input is not acceptable (bad BM25 parameters, mismatched lengths, an
    /// unreadable or malformed `tokenizer.json`, …). The message says which.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The same key appears twice in one `add` call.
    #[error("duplicate key {0} in one add call")]
    DuplicateKey(u32),
    /// A file is not a valid text index file (wrong magic, damaged, truncated, inconsistent).
    #[error("corrupt text index file: {0}")]
    Corrupt(String),
    /// A text index file written by a newer (or unknown) format version.
    #[error("{0}")]
    VersionMismatch(String),
    /// An operating-system I/O error (the message names the file).
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A progress callback asked to stop; nothing was changed.
    #[error("operation cancelled")]
    Cancelled,
}

/// `Result` with [`LexicalError`].
pub type Result<T, E = LexicalError> = std::result::Result<T, E>;

pub(crate) fn invalid(msg: impl Into<String>) -> LexicalError {
    LexicalError::InvalidArgument(msg.into())
}

pub(crate) fn corrupt(msg: impl std::fmt::Display) -> LexicalError {
    LexicalError::Corrupt(format!("not a valid quiver-search text index file: {msg}"))
}

impl From<quiver_container::ContainerError> for LexicalError {
    fn from(e: quiver_container::ContainerError) -> Self {
        use quiver_container::ErrorKind;
        match e.kind {
            ErrorKind::Corrupt => LexicalError::Corrupt(e.message),
            ErrorKind::VersionMismatch => LexicalError::VersionMismatch(e.message),
            ErrorKind::Io => LexicalError::Io {
                context: e.message.clone(),
                source: e.into_io_error(),
            },
        }
    }
}
