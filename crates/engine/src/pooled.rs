//! [`Pooled`]: the concurrent shell of the lexical indexes (BM25 text and learned sparse): one
//! writer at a time behind a writer mutex, searches in parallel behind a read-write lock, the
//! index's own thread pool for batch work, and the per-key attributes and payloads ([`Meta`])
//! held under the same lock as the index, so a search and the metadata it returns always agree.
//! Metadata is keyed by the user key (lexical documents have no stable row id across
//! compactions) and persisted as extra sections of the index file. The index-specific methods
//! (create, add, search) are inherent impls on `Pooled<TextIndex>` in `text_index.rs` and on
//! `Pooled<SparseIndex>` in `sparse_index.rs`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{MappedRwLockReadGuard, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use quiver_filter::ByteSource;
use quiver_lexical::persist::{ExtraSections, FIRST_EXTRA_SECTION};
use quiver_lexical::{LexicalError, SparseIndex, TextIndex};

use crate::error::{err, Result};
use crate::meta::{Meta, MetaInput};
use crate::text_index::{lexical_error, TextHits};
use crate::vector_index::checked_pool;
use crate::{AddOutcome, HitMeta};

/// Section kinds of a lexical index file that hold its attributes and payloads.
const ATTR_SCHEMA: u32 = FIRST_EXTRA_SECTION;
const ATTRS: u32 = ATTR_SCHEMA + 1;
const PAYLOADS: u32 = ATTR_SCHEMA + 2;

/// The key filter a lexical search tests inside its pruning loops (`None`: every document).
pub(crate) type Accept<'a> = Option<&'a (dyn Fn(u32) -> bool + Sync)>;

/// What [`Pooled`] needs of a lexical index: its keys, removal, and a file with extra sections.
pub trait LexicalStore: Sized + Send + Sync {
    /// Loads an index file and the caller-defined sections it holds.
    fn load_with(path: &Path) -> std::result::Result<(Self, ExtraSections), LexicalError>;
    /// Saves atomically, with caller-defined sections.
    fn save_with(
        &self,
        path: &Path,
        extras: ExtraSections,
    ) -> std::result::Result<(), LexicalError>;
    /// Removes keys without compacting; returns how many were present.
    fn remove_keys(&mut self, keys: &[u32]) -> usize;
    /// Whether enough documents are deleted that the index should be compacted.
    fn compaction_due(&self) -> bool;
    /// A compacted copy (only `&self`: computed while searches go on).
    fn compacted(&self) -> Self;
    /// Whether `key` is present.
    fn contains(&self, key: u32) -> bool;
    /// Live documents.
    fn documents(&self) -> usize;
    /// Heap bytes held.
    fn heap_bytes(&self) -> usize;
}

macro_rules! impl_lexical_store {
    ($($t:ty => $($persist:ident)::+),*) => {$(
        impl LexicalStore for $t {
            fn load_with(path: &Path) -> std::result::Result<(Self, ExtraSections), LexicalError> {
                $($persist)::+::load_with(path)
            }
            fn save_with(
                &self,
                path: &Path,
                extras: ExtraSections,
            ) -> std::result::Result<(), LexicalError> {
                $($persist)::+::save_with(self, path, extras)
            }
            fn remove_keys(&mut self, keys: &[u32]) -> usize {
                <$t>::remove_keys(self, keys)
            }
            fn compaction_due(&self) -> bool {
                <$t>::compaction_due(self)
            }
            fn compacted(&self) -> Self {
                <$t>::compacted(self)
            }
            fn contains(&self, key: u32) -> bool {
                <$t>::contains(self, key)
            }
            fn documents(&self) -> usize {
                <$t>::len(self)
            }
            fn heap_bytes(&self) -> usize {
                <$t>::memory_usage(self).total()
            }
        }
    )*};
}
impl_lexical_store!(
    TextIndex => quiver_lexical::persist,
    SparseIndex => quiver_lexical::sparse::persist
);

/// The index and its per-key metadata, changed together under one lock.
pub(crate) struct Keyed<T> {
    pub(crate) index: T,
    pub(crate) meta: Meta,
}

/// A lexical index shared between threads, with its own thread pool and optional attributes
/// and payloads per key.
pub struct Pooled<T> {
    pub(crate) writes: std::sync::Arc<crate::writes::WriteQueue>,
    pub(crate) writer: Mutex<()>,
    pub(crate) inner: RwLock<Keyed<T>>,
    pub(crate) pool: rayon::ThreadPool,
}

impl<T: LexicalStore> Pooled<T> {
    /// Wraps an index; `threads` (1..=[`crate::MAX_THREADS`]) sizes its pool.
    pub fn new(index: T, threads: usize) -> Result<Self> {
        Self::with_meta(index, Meta::default(), threads)
    }

    /// Wraps an index and its metadata stores.
    pub(crate) fn with_meta(index: T, meta: Meta, threads: usize) -> Result<Self> {
        Ok(Pooled {
            writes: crate::writes::WriteQueue::new(),
            writer: Mutex::new(()),
            inner: RwLock::new(Keyed { index, meta }),
            pool: checked_pool(threads)?,
        })
    }

    /// Loads an index file (with its attributes and payloads, validated against its keys);
    /// `threads` sizes its pool.
    pub fn load(path: &Path, threads: usize) -> Result<Self> {
        let (index, extras) = T::load_with(path).map_err(lexical_error)?;
        let get = |kind: u32| extras.iter().find(|(k, _)| *k == kind).map(|(_, b)| b);
        let payloads: Option<Box<dyn ByteSource>> =
            get(PAYLOADS).map(|b| Box::new(b.clone()) as Box<dyn ByteSource>);
        // Metadata is keyed by user key: every u32 is a valid slot.
        let meta = Meta::decode(
            get(ATTR_SCHEMA).map(Vec::as_slice),
            get(ATTRS).map(Vec::as_slice),
            payloads,
            u32::MAX as usize,
            |k| index.contains(k),
            index.documents(),
        )?;
        Self::with_meta(index, meta, threads)
    }

    /// Read access for searches and accessors.
    pub fn read(&self) -> MappedRwLockReadGuard<'_, T> {
        RwLockReadGuard::map(self.inner.read(), |s| &s.index)
    }

    /// Heap bytes held: the index and its metadata.
    pub fn heap_bytes(&self) -> usize {
        let state = self.inner.read();
        let (attributes, payloads) = state.meta.memory_usage();
        state.index.heap_bytes() + attributes + payloads
    }

    /// The attribute and payload stores (read access).
    pub fn meta(&self) -> MappedRwLockReadGuard<'_, Meta> {
        RwLockReadGuard::map(self.inner.read(), |s| &s.meta)
    }

    /// The body of an add, under the writer lock the caller holds: the metadata is validated
    /// first, then `prepare` builds the batch under a read lock (searches continue; it gets a
    /// progress callback that reports `(done, total)` and says whether to go on), then `apply`
    /// writes it and the keys' metadata under one write lock (all or nothing). What `apply`
    /// returns (the tables a growth replaced) is dropped after that lock is released. An added
    /// key's previous metadata is replaced. A cancelled preparation inserts nothing and reports
    /// `aborted`. (The writer guard is an argument so that no caller can forget to hold it.)
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_locked<B, R>(
        &self,
        _writer: &MutexGuard<'_, ()>,
        keys: &[u32],
        meta: &MetaInput<'_>,
        cancel: &AtomicBool,
        progress: &(dyn Fn(usize, usize) + Sync),
        prepare: impl FnOnce(
            &T,
            &(dyn Fn(usize, usize) -> bool + Sync),
        ) -> std::result::Result<B, LexicalError>,
        apply: impl FnOnce(&mut T, B) -> std::result::Result<R, LexicalError>,
    ) -> Result<AddOutcome> {
        let meta_batch = self.inner.read().meta.prepare(meta, keys.len())?;
        let poll = |done, total| {
            progress(done, total);
            !cancel.load(Ordering::Relaxed)
        };
        let batch = match prepare(&self.inner.read().index, &poll) {
            Err(LexicalError::Cancelled) => {
                return Ok(AddOutcome {
                    inserted: 0,
                    aborted: true,
                })
            }
            other => other.map_err(lexical_error)?,
        };
        // The metadata tables get their room while searches go on, like the index's own.
        let mut meta_room = self.inner.read().meta.room_for(&meta_batch, 0..keys.len());
        let replaced = {
            let mut state = self.inner.write();
            let replaced = apply(&mut state.index, batch).map_err(lexical_error)?;
            state.meta.make_room(&mut meta_room);
            for (row, &key) in keys.iter().enumerate() {
                state.meta.set(key, &meta_batch, row);
            }
            replaced
        };
        drop((replaced, meta_room));
        self.compact_if_due();
        Ok(AddOutcome {
            inserted: keys.len(),
            aborted: false,
        })
    }

    /// Runs `search` (one or many queries) under the read lock, with the key set of `filter`
    /// (JSON form; see `quiver_filter`) as its accept predicate, and reads each hit list's
    /// attributes and/or payloads under the same lock.
    pub(crate) fn search_meta(
        &self,
        filter: Option<&str>,
        include_attributes: bool,
        include_payload: bool,
        search: impl FnOnce(&T, Accept<'_>) -> std::result::Result<Vec<TextHits>, LexicalError>,
    ) -> Result<Vec<(TextHits, HitMeta)>> {
        let state = self.inner.read();
        let meta = &state.meta;
        if include_attributes && !meta.has_attributes() {
            return Err(err!(
                InvalidArgument,
                "include 'attributes': this index declares no attributes"
            ));
        }
        if include_payload && !meta.has_payloads() {
            return Err(err!(
                InvalidArgument,
                "include 'payload': this index was created without `payload: true`"
            ));
        }
        let lists = match filter {
            None => search(&state.index, None),
            Some(json) => {
                let matched = meta.matching(&meta.filter(json)?);
                search(&state.index, Some(&|key| matched.contains(key)))
            }
        }
        .map_err(lexical_error)?;
        Ok(lists
            .into_iter()
            .map(|hits| {
                let hit_meta = HitMeta {
                    attributes: include_attributes.then(|| {
                        hits.iter()
                            .map(|&(key, _)| meta.attributes_json(key))
                            .collect()
                    }),
                    payloads: include_payload.then(|| {
                        hits.iter()
                            .map(|&(key, _)| meta.payload(key).map(str::to_owned))
                            .collect()
                    }),
                };
                (hits, hit_meta)
            })
            .collect())
    }

    /// Keys matching a filter (JSON form), or every key for `None`.
    pub fn count(&self, filter: Option<&str>) -> Result<usize> {
        let state = self.inner.read();
        match filter {
            None => Ok(state.index.documents()),
            Some(json) => Ok(state.meta.matching(&state.meta.filter(json)?).len() as usize),
        }
    }

    /// Removes keys (and their metadata); returns how many were present.
    pub fn remove(&self, keys: &[u32]) -> Result<usize> {
        let _writer = self.writer.lock();
        let removed = {
            let mut state = self.inner.write();
            for &k in keys {
                if state.index.contains(k) {
                    state.meta.clear(k);
                }
            }
            state.index.remove_keys(keys)
        };
        self.compact_if_due();
        Ok(removed)
    }

    /// Compacts the index once enough documents are deleted, for a caller that holds the
    /// writer mutex: the compacted copy (a rebuild of every posting list) is made under the
    /// read lock while searches go on; the write lock is held only to swap it in, and the
    /// old index is freed after it is released.
    fn compact_if_due(&self) {
        let compacted = {
            let state = self.inner.read();
            if !state.index.compaction_due() {
                return;
            }
            state.index.compacted()
        };
        let old = std::mem::replace(&mut self.inner.write().index, compacted);
        drop(old);
    }

    /// Saves atomically, with the attributes and payloads; searches continue, writers wait.
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
        state.index.save_with(path, extras).map_err(lexical_error)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use quiver_lexical::{AnalyzerConfig, Bm25Params, Strategy, TextIndex};

    use crate::text_index::SharedTextIndex;

    /// A shared text index compacts outside the write lock (the copy made under the read
    /// lock, then swapped in) and ends up answering exactly as a single-owner index that
    /// compacts inside its writes.
    #[test]
    fn shared_compaction_matches_single_owner_compaction() {
        let words = [
            "alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "zeta",
        ];
        let text = |i: u32, round: u32| -> String {
            (0..6)
                .map(|j| words[((i * 7 + j * 3 + round) % 8) as usize])
                .collect::<Vec<_>>()
                .join(" ")
        };
        let shared = SharedTextIndex::create(AnalyzerConfig::default(), Bm25Params::default(), 2)
            .expect("create");
        let mut single =
            TextIndex::new(AnalyzerConfig::default(), Bm25Params::default()).expect("create");
        let never = AtomicBool::new(false);
        let mut add = |keys: Vec<u32>, round: u32| {
            let texts: Vec<String> = keys.iter().map(|&k| text(k, round)).collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            shared.add(&keys, &texts, &never, &|_, _| {}).expect("add");
            let batch = single
                .analyze_batch(&keys, &refs, &|_, _| true)
                .expect("analyze");
            single.apply(batch).expect("apply");
        };
        add((0..500).collect(), 0);
        // Replacing 150 documents deletes their old slots: past the compaction threshold.
        add((0..150).collect(), 1);
        let gone: Vec<u32> = (300..360).collect();
        assert_eq!(shared.remove(&gone).expect("remove"), single.remove(&gone));
        let state = shared.read();
        assert!(!state.compaction_due());
        // The deleted documents' postings are gone from both (the key map's capacity may
        // differ: it depends on each map's hash seed).
        let (a, b) = (state.memory_usage(), single.memory_usage());
        assert_eq!(
            (a.postings, a.terms),
            (b.postings, b.terms),
            "both compacted"
        );
        for q in ["alpha beta", "omega", "zeta kappa sigma"] {
            assert_eq!(
                state
                    .search_with(q, 10, Strategy::default())
                    .expect("search"),
                single
                    .search_with(q, 10, Strategy::default())
                    .expect("search"),
            );
        }
    }
}
