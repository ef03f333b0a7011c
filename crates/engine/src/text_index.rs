//! The concurrent wrapper around `quiver_lexical::TextIndex` the bindings use: one writer at a
//! time, searches in parallel, texts analysed (in parallel, on the index's own thread pool)
//! before the write lock is taken, batch search on the same pool, and lexical errors mapped to
//! coded engine errors.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{MappedRwLockReadGuard, Mutex, RwLock, RwLockReadGuard};
use quiver_lexical::{AnalyzerConfig, Bm25Params, LexicalError, Strategy, TextIndex};
use rayon::prelude::*;

use crate::error::{err, Error, Result};
use crate::meta::{Meta, MetaConfig, MetaInput};
use crate::vector_index::checked_pool;
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

/// Section kinds of a text index file that hold its attributes and payloads.
const ATTR_SCHEMA: u32 = quiver_lexical::persist::FIRST_EXTRA_SECTION;
const ATTRS: u32 = ATTR_SCHEMA + 1;
const PAYLOADS: u32 = ATTR_SCHEMA + 2;

/// The index and its per-key metadata, changed together under one lock (metadata is keyed by
/// the user key: text documents have no stable row id across compactions).
struct TextState {
    index: TextIndex,
    meta: Meta,
}

/// A [`TextIndex`] shared between threads, with the thread pool that analyses its batches and
/// runs its batch searches, and optional attributes and payloads per key.
pub struct SharedTextIndex {
    writer: Mutex<()>,
    inner: RwLock<TextState>,
    pool: rayon::ThreadPool,
}

impl SharedTextIndex {
    /// Wraps an index; `threads` (1..=[`MAX_THREADS`]) sizes its pool.
    pub fn new(index: TextIndex, threads: usize) -> Result<Self> {
        Self::with_meta(index, Meta::default(), threads)
    }

    fn with_meta(index: TextIndex, meta: Meta, threads: usize) -> Result<Self> {
        Ok(SharedTextIndex {
            writer: Mutex::new(()),
            inner: RwLock::new(TextState { index, meta }),
            pool: checked_pool(threads)?,
        })
    }

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

    /// Loads an index file (with its attributes and payloads, validated against its keys).
    pub fn load(path: &Path, threads: usize) -> Result<Self> {
        let (index, extras) = quiver_lexical::persist::load_with(path).map_err(lexical_error)?;
        let get = |kind: u32| extras.iter().find(|(k, _)| *k == kind).map(|(_, b)| b);
        // Metadata is keyed by user key: every u32 is a valid slot.
        let keys = index.keys();
        let payloads: Option<Box<dyn quiver_filter::ByteSource>> =
            get(PAYLOADS).map(|b| Box::new(b.clone()) as Box<dyn quiver_filter::ByteSource>);
        let meta = Meta::decode(
            get(ATTR_SCHEMA).map(Vec::as_slice),
            get(ATTRS).map(Vec::as_slice),
            payloads,
            u32::MAX as usize,
            |k| index.contains(k),
            keys.len(),
        )?;
        Self::with_meta(index, meta, threads)
    }

    /// Read access for searches and accessors.
    pub fn read(&self) -> MappedRwLockReadGuard<'_, TextIndex> {
        RwLockReadGuard::map(self.inner.read(), |s| &s.index)
    }

    /// The attribute and payload stores (read access).
    pub fn meta(&self) -> MappedRwLockReadGuard<'_, Meta> {
        RwLockReadGuard::map(self.inner.read(), |s| &s.meta)
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
        let _writer = self.writer.lock();
        let texts: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        let meta_batch = self.inner.read().meta.prepare(meta, keys.len())?;
        let analysed = {
            let state = self.inner.read();
            let index = &state.index;
            self.pool.install(|| {
                index.analyze_batch(keys, &texts, &|done, total| {
                    progress(done, total);
                    !cancel.load(Ordering::Relaxed)
                })
            })
        };
        let batch = match analysed {
            Err(LexicalError::Cancelled) => {
                return Ok(AddOutcome {
                    inserted: 0,
                    aborted: true,
                })
            }
            other => other.map_err(lexical_error)?,
        };
        let mut state = self.inner.write();
        state.index.apply(batch).map_err(lexical_error)?;
        for (row, &key) in keys.iter().enumerate() {
            state.meta.set(key, &meta_batch, row);
        }
        Ok(AddOutcome {
            inserted: keys.len(),
            aborted: false,
        })
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
        let state = self.inner.read();
        if include_attributes && !state.meta.has_attributes() {
            return Err(err!(
                InvalidArgument,
                "include 'attributes': this index declares no attributes"
            ));
        }
        if include_payload && !state.meta.has_payloads() {
            return Err(err!(
                InvalidArgument,
                "include 'payload': this index was created without `payload: true`"
            ));
        }
        let hits = match filter {
            None => state.index.search_with(query, k, strategy),
            Some(json) => {
                let matched = state.meta.matching(&state.meta.filter(json)?);
                state
                    .index
                    .search_filtered(query, k, strategy, &|key| matched.contains(key))
            }
        }
        .map_err(lexical_error)?;
        let meta = crate::HitMeta {
            attributes: include_attributes.then(|| {
                hits.iter()
                    .map(|&(key, _)| state.meta.attributes_json(key))
                    .collect()
            }),
            payloads: include_payload.then(|| {
                hits.iter()
                    .map(|&(key, _)| state.meta.payload(key).map(str::to_owned))
                    .collect()
            }),
        };
        Ok((hits, meta))
    }

    /// Keys matching a filter (JSON form), or every key for `None`.
    pub fn count(&self, filter: Option<&str>) -> Result<usize> {
        let state = self.inner.read();
        match filter {
            None => Ok(state.index.len()),
            Some(json) => Ok(state.meta.matching(&state.meta.filter(json)?).len() as usize),
        }
    }

    /// Top-`k` of each query (default strategy), the queries spread over the index's pool.
    pub fn search_batch<S: AsRef<str> + Sync>(
        &self,
        queries: &[S],
        k: usize,
    ) -> Result<Vec<TextHits>> {
        let state = self.inner.read();
        self.pool.install(|| {
            queries
                .par_iter()
                .map(|q| state.index.search(q.as_ref(), k).map_err(lexical_error))
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

    /// Removes keys; returns how many were present.
    pub fn remove(&self, keys: &[u32]) -> Result<usize> {
        let _writer = self.writer.lock();
        let mut state = self.inner.write();
        for &k in keys {
            if state.index.contains(k) {
                state.meta.clear(k);
            }
        }
        Ok(state.index.remove(keys))
    }

    /// Saves atomically; searches continue, writers wait.
    pub fn save(&self, path: &Path) -> Result<()> {
        let _writer = self.writer.lock();
        let state = self.inner.read();
        let (attrs, payloads) = state.meta.encode();
        let mut extras = Vec::new();
        if let Some((schema, records)) = attrs {
            extras.push((ATTR_SCHEMA, schema));
            extras.push((ATTRS, records));
        }
        if let Some(p) = payloads {
            extras.push((PAYLOADS, p));
        }
        quiver_lexical::persist::save_with(&state.index, path, extras).map_err(lexical_error)
    }
}
