//! The container's error: a kind the file's owner maps to its codes, and a message.

use std::fmt;

/// What kind of failure a [`ContainerError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not a valid file of the expected type: wrong magic, truncated, damaged, inconsistent.
    Corrupt,
    /// A format version this build does not read (newer than supported, or zero).
    VersionMismatch,
    /// An operating-system I/O error while reading or writing.
    Io,
}

/// A container error. `message` names the file type (and for I/O, the file and what was
/// being done); `source` is the underlying I/O error, if any.
#[derive(Debug)]
pub struct ContainerError {
    /// The kind.
    pub kind: ErrorKind,
    /// What went wrong.
    pub message: String,
    /// The operating-system error behind an [`ErrorKind::Io`] error.
    pub source: Option<std::io::Error>,
}

impl ContainerError {
    pub(crate) fn corrupt(label: &str, msg: impl fmt::Display) -> Self {
        ContainerError {
            kind: ErrorKind::Corrupt,
            message: format!("not a valid quiver-search {label}: {msg}"),
            source: None,
        }
    }

    pub(crate) fn io(what: &str, path: &std::path::Path, e: std::io::Error) -> Self {
        ContainerError {
            kind: ErrorKind::Io,
            message: format!("{what} {}", path.display()),
            source: Some(e),
        }
    }

    /// The underlying I/O error, or one made from the message.
    pub fn into_io_error(self) -> std::io::Error {
        match self.source {
            Some(e) => e,
            None => std::io::Error::other(self.message),
        }
    }
}

impl fmt::Display for ContainerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(e) => write!(f, "{}: {e}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ContainerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// `Result` with [`ContainerError`].
pub type Result<T, E = ContainerError> = std::result::Result<T, E>;
