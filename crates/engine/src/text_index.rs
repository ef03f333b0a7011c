//! The concurrent wrapper around `quiver_lexical::TextIndex` the bindings use: one writer at a
//! time, searches in parallel, texts analysed (in parallel) before the write lock is taken, and
//! lexical errors mapped to coded engine errors.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use quiver_lexical::{LexicalError, TextIndex};

use crate::error::{err, Error, Result};

/// Maps a lexical error to a coded engine error.
pub fn lexical_error(e: LexicalError) -> Error {
    match e {
        LexicalError::InvalidArgument(m) => err!(InvalidArgument, "{m}"),
        LexicalError::DuplicateKey(k) => {
            err!(DuplicateKey, "key {k} appears more than once in this batch")
        }
        LexicalError::Corrupt(m) => err!(CorruptFile, "{m}"),
        LexicalError::VersionMismatch(m) => err!(VersionMismatch, "{m}"),
        LexicalError::Io { context, source } => err!(Io, "{context}: {source}"),
        LexicalError::Cancelled => err!(Aborted, "add aborted (nothing was inserted)"),
    }
}

/// A [`TextIndex`] shared between threads.
pub struct SharedTextIndex {
    writer: Mutex<()>,
    inner: RwLock<TextIndex>,
}

impl SharedTextIndex {
    /// Wraps an index.
    pub fn new(index: TextIndex) -> Self {
        SharedTextIndex {
            writer: Mutex::new(()),
            inner: RwLock::new(index),
        }
    }

    /// Read access for searches and accessors.
    pub fn read(&self) -> RwLockReadGuard<'_, TextIndex> {
        self.inner.read()
    }

    /// Adds (or replaces) documents. Analysis runs on `pool` without the write lock, so
    /// searches continue; the batch is applied all at once (all or nothing). `cancel` is checked
    /// and `progress(done, total)` called while analysing.
    pub fn add(
        &self,
        keys: &[u32],
        texts: &[&str],
        pool: &rayon::ThreadPool,
        cancel: &AtomicBool,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<()> {
        let _writer = self.writer.lock();
        let batch = {
            let index = self.inner.read();
            pool.install(|| {
                index.analyze_batch(keys, texts, &|done, total| {
                    progress(done, total);
                    !cancel.load(Ordering::Relaxed)
                })
            })
            .map_err(lexical_error)?
        };
        self.inner.write().apply(batch).map_err(lexical_error)
    }

    /// Removes keys; returns how many were present.
    pub fn remove(&self, keys: &[u32]) -> usize {
        let _writer = self.writer.lock();
        self.inner.write().remove(keys)
    }

    /// Saves atomically; searches continue, writers wait.
    pub fn save(&self, path: &Path) -> Result<()> {
        let _writer = self.writer.lock();
        self.inner.read().save(path).map_err(lexical_error)
    }
}
