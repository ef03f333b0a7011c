//! The concurrent wrapper around `quiver_lexical::TextIndex` the bindings use (the shell,
//! metadata and persistence are [`Pooled`]'s): texts analysed (in parallel, on the index's own
//! thread pool) before the write lock is taken, filtered search, batch search on the same pool,
//! and lexical errors mapped to coded engine errors.

use std::sync::atomic::AtomicBool;

use quiver_lexical::{AnalyzerConfig, Bm25Params, LexicalError, Strategy, TextIndex};
use rayon::prelude::*;

use crate::error::{err, Error, Result};
use crate::meta::{Meta, MetaConfig, MetaInput};
use crate::pooled::Pooled;
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
/// runs its batch searches, and optional attributes and payloads per key (see [`Pooled`]).
pub type SharedTextIndex = Pooled<TextIndex>;

impl Pooled<TextIndex> {
    /// An empty index (a tokenizer.json named by the analyzer is read now).
    pub fn create(analyzer: AnalyzerConfig, params: Bm25Params, threads: usize) -> Result<Self> {
        Self::create_with(analyzer, params, &MetaConfig::default(), threads)
    }

    /// An empty index that also stores attributes and/or payloads per key.
    pub fn create_with(
        analyzer: AnalyzerConfig,
        params: Bm25Params,
        meta: &MetaConfig,
        threads: usize,
    ) -> Result<Self> {
        Self::with_meta(
            TextIndex::new(analyzer, params).map_err(lexical_error)?,
            Meta::new(meta),
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
        self.add_with(keys, texts, &MetaInput::default(), cancel, progress)
    }

    /// [`SharedTextIndex::add`] with attributes and payloads for the keys (validated before
    /// anything is written; an added key's previous metadata is replaced).
    pub fn add_with<S: AsRef<str> + Sync>(
        &self,
        keys: &[u32],
        texts: &[S],
        meta: &MetaInput<'_>,
        cancel: &AtomicBool,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<AddOutcome> {
        let writer = self.writer.lock();
        let texts: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        self.add_locked(
            &writer,
            keys,
            meta,
            cancel,
            progress,
            |index, poll| {
                let batch = self
                    .pool
                    .install(|| index.analyze_batch(keys, &texts, &|d, t| poll(d, t)))?;
                let room = index.room_for(&batch);
                Ok((batch, room))
            },
            |index, (batch, mut room)| {
                index.make_room(&mut room);
                index.apply_batch(batch).map(|()| room)
            },
        )
    }

    /// Top-`k` of one query by `strategy`.
    pub fn search(&self, query: &str, k: usize, strategy: Strategy) -> Result<TextHits> {
        self.search_filtered(query, k, strategy, None)
    }

    /// Top-`k` of one query among the documents matching `filter` (JSON form; see
    /// `quiver_filter`): the filter's key set is evaluated first and tested inside the pruning
    /// loops, so the result is the exact top-k of the matching documents.
    pub fn search_filtered(
        &self,
        query: &str,
        k: usize,
        strategy: Strategy,
        filter: Option<&str>,
    ) -> Result<TextHits> {
        self.search_options(query, k, strategy, filter, false, false)
            .map(|(hits, _)| hits)
    }

    /// [`SharedTextIndex::search_filtered`] plus the hits' attributes and/or payloads, read
    /// under the same lock as the search.
    pub fn search_options(
        &self,
        query: &str,
        k: usize,
        strategy: Strategy,
        filter: Option<&str>,
        include_attributes: bool,
        include_payload: bool,
    ) -> Result<(TextHits, crate::HitMeta)> {
        let mut lists = self.search_meta(
            filter,
            include_attributes,
            include_payload,
            |index, accept| {
                Ok(vec![match accept {
                    None => index.search_with(query, k, strategy)?,
                    Some(accept) => index.search_filtered(query, k, strategy, accept)?,
                }])
            },
        )?;
        Ok(lists.pop().unwrap_or_default())
    }

    /// Top-`k` of each query (default strategy), the queries spread over the index's pool.
    pub fn search_batch<S: AsRef<str> + Sync>(
        &self,
        queries: &[S],
        k: usize,
    ) -> Result<Vec<TextHits>> {
        let index = self.read();
        self.pool.install(|| {
            queries
                .par_iter()
                .map(|q| index.search(q.as_ref(), k).map_err(lexical_error))
                .collect()
        })
    }

    /// The analyzer's terms for `text` (what would be indexed or searched).
    pub fn analyze(&self, text: &str) -> Result<Vec<String>> {
        self.read()
            .analyzer()
            .try_analyze(text)
            .map_err(lexical_error)
    }
}
