//! [`Pooled`]: the concurrent shell of the learned sparse index: one writer at a time behind a
//! writer mutex, searches in parallel behind a read-write lock, and the index's own thread
//! pool for batch work. The index-specific methods (create, add, search) are inherent impls on
//! `Pooled<SparseIndex>` in `sparse_index.rs`. (The BM25 text index has its own shell in
//! `text_index.rs`: it also holds per-key attributes and payloads under the same lock.)

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use quiver_lexical::{LexicalError, SparseIndex};

use crate::error::Result;
use crate::text_index::lexical_error;
use crate::vector_index::checked_pool;
use crate::AddOutcome;

/// What [`Pooled`] needs of a lexical index: load, removal and an atomic save.
pub trait LexicalStore: Sized + Send + Sync {
    /// Loads an index file.
    fn load(path: &Path) -> std::result::Result<Self, LexicalError>;
    /// Removes keys; returns how many were present.
    fn remove(&mut self, keys: &[u32]) -> usize;
    /// Saves atomically.
    fn save(&self, path: &Path) -> std::result::Result<(), LexicalError>;
}

macro_rules! impl_lexical_store {
    ($($t:ty),*) => {$(
        impl LexicalStore for $t {
            fn load(path: &Path) -> std::result::Result<Self, LexicalError> {
                <$t>::load(path)
            }
            fn remove(&mut self, keys: &[u32]) -> usize {
                <$t>::remove(self, keys)
            }
            fn save(&self, path: &Path) -> std::result::Result<(), LexicalError> {
                <$t>::save(self, path)
            }
        }
    )*};
}
impl_lexical_store!(SparseIndex);

/// A lexical index shared between threads, with its own thread pool.
pub struct Pooled<T> {
    pub(crate) writer: Mutex<()>,
    pub(crate) inner: RwLock<T>,
    pub(crate) pool: rayon::ThreadPool,
}

impl<T: LexicalStore> Pooled<T> {
    /// Wraps an index; `threads` (1..=[`crate::MAX_THREADS`]) sizes its pool.
    pub fn new(index: T, threads: usize) -> Result<Self> {
        Ok(Pooled {
            writer: Mutex::new(()),
            inner: RwLock::new(index),
            pool: checked_pool(threads)?,
        })
    }

    /// Loads an index file; `threads` sizes its pool.
    pub fn load(path: &Path, threads: usize) -> Result<Self> {
        Self::new(T::load(path).map_err(lexical_error)?, threads)
    }

    /// Read access for searches and accessors.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.inner.read()
    }

    /// Removes keys; returns how many were present.
    pub fn remove(&self, keys: &[u32]) -> Result<usize> {
        let _writer = self.writer.lock();
        Ok(self.inner.write().remove(keys))
    }

    /// Saves atomically; searches continue, writers wait.
    pub fn save(&self, path: &Path) -> Result<()> {
        let _writer = self.writer.lock();
        self.inner.read().save(path).map_err(lexical_error)
    }
}

/// The shared body of a lexical add in two phases: `prepare` (which needs no write lock; it
/// gets a progress callback that reports `(done, total)` and says whether to go on) builds the
/// batch, `apply` writes it. A cancelled preparation inserts nothing and reports `aborted`.
pub(crate) fn two_phase_add<B>(
    n: usize,
    cancel: &AtomicBool,
    progress: &(dyn Fn(usize, usize) + Sync),
    prepare: impl FnOnce(&(dyn Fn(usize, usize) -> bool + Sync)) -> std::result::Result<B, LexicalError>,
    apply: impl FnOnce(B) -> std::result::Result<(), LexicalError>,
) -> Result<AddOutcome> {
    let poll = |done, total| {
        progress(done, total);
        !cancel.load(Ordering::Relaxed)
    };
    let batch = match prepare(&poll) {
        Err(LexicalError::Cancelled) => {
            return Ok(AddOutcome {
                inserted: 0,
                aborted: true,
            })
        }
        other => other.map_err(lexical_error)?,
    };
    apply(batch).map_err(lexical_error)?;
    Ok(AddOutcome {
        inserted: n,
        aborted: false,
    })
}
