//! The concurrent wrapper around `quiver_lexical::TextIndex` the bindings use: one writer at a
//! time, searches in parallel, texts analysed (in parallel, on the index's own thread pool)
//! before the write lock is taken, batch search on the same pool, and lexical errors mapped to
//! coded engine errors.

use std::sync::atomic::AtomicBool;

use quiver_lexical::{AnalyzerConfig, Bm25Params, LexicalError, Strategy, TextIndex};
use rayon::prelude::*;

use crate::error::{err, Error, Result};
use crate::pooled::{two_phase_add, Pooled};
use crate::AddOutcome;

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

/// Hits of one text query: (key, BM25 score), best first.
pub type TextHits = Vec<(u32, f32)>;

/// A [`TextIndex`] shared between threads, with the thread pool that analyses its batches and
/// runs its batch searches.
pub type SharedTextIndex = Pooled<TextIndex>;

impl Pooled<TextIndex> {
    /// An empty index (a tokenizer.json named by the analyzer is read now).
    pub fn create(analyzer: AnalyzerConfig, params: Bm25Params, threads: usize) -> Result<Self> {
        Self::new(
            TextIndex::new(analyzer, params).map_err(lexical_error)?,
            threads,
        )
    }

    /// Adds (or replaces) documents. Analysis runs on the index's pool without the write lock,
    /// so searches continue; the batch is applied all at once (all or nothing). `cancel` is
    /// checked and `progress(done, total)` called while analysing; a cancelled add inserts
    /// nothing and reports `aborted`.
    pub fn add<S: AsRef<str> + Sync>(
        &self,
        keys: &[u32],
        texts: &[S],
        cancel: &AtomicBool,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<AddOutcome> {
        let _writer = self.writer.lock();
        let texts: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        two_phase_add(
            keys.len(),
            cancel,
            progress,
            |poll| {
                let index = self.inner.read();
                self.pool
                    .install(|| index.analyze_batch(keys, &texts, poll))
            },
            |batch| self.inner.write().apply(batch),
        )
    }

    /// Top-`k` of one query by `strategy`.
    pub fn search(&self, query: &str, k: usize, strategy: Strategy) -> Result<TextHits> {
        self.inner
            .read()
            .search_with(query, k, strategy)
            .map_err(lexical_error)
    }

    /// Top-`k` of each query (default strategy), the queries spread over the index's pool.
    pub fn search_batch<S: AsRef<str> + Sync>(
        &self,
        queries: &[S],
        k: usize,
    ) -> Result<Vec<TextHits>> {
        let index = self.inner.read();
        self.pool.install(|| {
            queries
                .par_iter()
                .map(|q| index.search(q.as_ref(), k).map_err(lexical_error))
                .collect()
        })
    }

    /// The analyzer's terms for `text` (what would be indexed or searched).
    pub fn analyze(&self, text: &str) -> Result<Vec<String>> {
        self.inner
            .read()
            .analyzer()
            .try_analyze(text)
            .map_err(lexical_error)
    }
}
