//! The concurrent wrapper the bindings use: one writer at a time, searches in parallel, and
//! long adds split into chunks so searches interleave with them.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, RwLock, RwLockReadGuard};

use crate::error::Result;
use crate::meta::{MetaBatch, MetaInput};
use crate::persist;
use crate::vector_index::VectorIndex;

/// Rows inserted per step of an add (placed, linked, settled; cancel and progress between).
const ADD_CHUNK: usize = 2048;

/// Rows placed per write-lock hold: at 384 dimensions a copy of 384 KiB, whose first touch of
/// fresh memory is most of the hold (about 0.3 ms).
const PLACE_ROWS: usize = 256;

/// What an add did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddOutcome {
    /// Vectors written.
    pub inserted: usize,
    /// Whether the cancel flag stopped it early (the index holds exactly `inserted` of them).
    pub aborted: bool,
}

/// A [`VectorIndex`] shared between threads.
///
/// Writers (`add`, `remove`) are serialised by a writer mutex, so a batch validated at the
/// start of an add stays valid until its last chunk. The data itself sits behind a
/// read-write lock that an add takes for writing only to place a chunk's rows (a copy) and to
/// finish it; the graph linking, which is most of an HNSW insert, runs under a read lock, so
/// searches run alongside it. A search that overlaps an add sees each new vector either fully
/// linked or not at all; a key being upserted may be missing from its results for that
/// moment (the old node is tombstoned when the new one is placed).
pub struct SharedIndex {
    pub(crate) writes: std::sync::Arc<crate::writes::WriteQueue>,
    writer: Mutex<()>,
    inner: RwLock<VectorIndex>,
}

impl SharedIndex {
    /// Wraps an index.
    pub fn new(index: VectorIndex) -> Self {
        SharedIndex {
            writes: crate::writes::WriteQueue::new(),
            writer: Mutex::new(()),
            inner: RwLock::new(index),
        }
    }

    /// Read access for searches and accessors.
    pub fn read(&self) -> RwLockReadGuard<'_, VectorIndex> {
        self.inner.read()
    }

    /// Searches each `dim`-long query of `queries` in turn on the calling thread, taking the
    /// read lock once per query (a writer waiting for the lock waits for one search, not for
    /// the whole list). Each query succeeds or fails on its own; the outer error is only for
    /// `queries` not being a whole number of queries.
    ///
    /// This is how concurrent single searches share one trip to a worker thread: waking a
    /// thread costs more than a small search on some machines, so the caller gathers the
    /// searches made together and sends them here in a few lists instead of one by one.
    pub fn search_each(
        &self,
        queries: &[f32],
        k: usize,
        ef: Option<usize>,
    ) -> Result<Vec<Result<crate::SearchHits>>> {
        let dim = self.read().config().dim;
        self.read().query_count(queries)?;
        Ok(queries
            .chunks(dim)
            .map(|q| self.read().search(q, k, ef))
            .collect())
    }

    /// Adds (or, with `upsert`, replaces) a batch. Nothing is inserted if the batch is
    /// invalid. `cancel` is checked between chunks; `progress(done, total)` is called after
    /// each chunk.
    pub fn add(
        &self,
        keys: &[u32],
        vectors: &[f32],
        upsert: bool,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<AddOutcome> {
        self.add_with(
            keys,
            vectors,
            upsert,
            &MetaInput::default(),
            cancel,
            progress,
        )
    }

    /// [`SharedIndex::add`] with attributes and payloads for the keys (validated with the
    /// vectors, before anything is written).
    pub fn add_with(
        &self,
        keys: &[u32],
        vectors: &[f32],
        upsert: bool,
        meta: &MetaInput<'_>,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<AddOutcome> {
        let _writer = self.writer.lock();
        let (order, batch) = {
            let index = self.inner.read();
            index.validate_add(keys, vectors, upsert)?;
            let batch = index.meta().prepare(meta, keys.len())?;
            (index.insertion_order(keys.len()), batch)
        };
        self.grow(keys.len(), &batch);
        let total = keys.len();
        let mut done = 0;
        for chunk in order.chunks(ADD_CHUNK) {
            if cancel.load(Ordering::Relaxed) {
                return Ok(AddOutcome {
                    inserted: done,
                    aborted: true,
                });
            }
            // Rows are placed under the write lock, PLACE_ROWS at a time (a copy of the rows,
            // and the first touch of their memory), linked under a read lock (the graph work:
            // searches run meanwhile), then finished: the heavy part of a consolidation or a
            // training under a read lock, its result put in place under the write lock.
            let mut slots = Vec::with_capacity(chunk.len());
            for part in chunk.chunks(PLACE_ROWS) {
                let mut index = self.inner.write();
                index.reserve(part.len());
                slots.extend(index.place_rows(keys, vectors, part, &batch)?);
            }
            self.inner.read().link_rows(&slots);
            settle(&self.inner)?;
            done += chunk.len();
            progress(done, total);
        }
        Ok(AddOutcome {
            inserted: done,
            aborted: false,
        })
    }

    /// Makes room for `additional` rows. The copy a growth needs is made under the read lock
    /// (searches go on); the write lock is held only to swap the buffers, and the old ones
    /// are freed after it is released. The caller holds the writer mutex.
    fn grow(&self, additional: usize, batch: &MetaBatch) {
        let growth = self.inner.read().grown(additional, batch, 0..additional);
        let old = self.inner.write().install_growth(growth);
        drop(old);
    }

    /// Trains the quantizer (see [`VectorIndex::train`]). Searches go on while it trains and
    /// encodes; they wait only while the result is put in place.
    pub fn train(&self, sample: Option<&[f32]>) -> Result<()> {
        let _writer = self.writer.lock();
        let trained = self.inner.read().trained(sample)?;
        self.inner.write().install_trained(trained);
        Ok(())
    }

    /// Removes keys; returns how many were present. A consolidation it triggers re-links the
    /// graph under the read lock.
    pub fn remove(&self, keys: &[u32]) -> Result<usize> {
        let _writer = self.writer.lock();
        let removed = self.inner.write().remove_keys(keys)?;
        settle(&self.inner)?;
        Ok(removed)
    }

    /// Saves atomically (see [`persist::save`]). Searches continue meanwhile; writers wait.
    pub fn save(&self, path: &Path) -> Result<()> {
        let _writer = self.writer.lock();
        persist::save(&self.inner.read(), path)
    }
}

/// What holds the [`VectorIndex`] whose graph and quantizer a write settles: the index itself,
/// or a multi-vector index's FDE index.
pub(crate) trait HoldsVectors {
    fn vectors(&self) -> &VectorIndex;
    fn vectors_mut(&mut self) -> &mut VectorIndex;
}

impl HoldsVectors for VectorIndex {
    fn vectors(&self) -> &VectorIndex {
        self
    }
    fn vectors_mut(&mut self) -> &mut VectorIndex {
        self
    }
}

/// The end of a write, for a caller that holds the writer mutex: repairs the graph around
/// tombstones and trains a due quantizer, each computed under the read lock (searches go on)
/// and put in place under the write lock, then finishes the rows (see
/// [`VectorIndex::finish_rows`]).
pub(crate) fn settle<T: HoldsVectors>(lock: &RwLock<T>) -> Result<()> {
    settle_training_from(lock, usize::MAX)
}

/// [`settle`] that also trains an untrained quantizer once `train_from` vectors are in (see
/// [`VectorIndex::training_due_from`]), not only at `trainingSize`.
pub(crate) fn settle_training_from<T: HoldsVectors>(
    lock: &RwLock<T>,
    train_from: usize,
) -> Result<()> {
    let (repaired, trained) = {
        let index = lock.read();
        let index = index.vectors();
        let repaired = index.repair_deleted();
        let trained = if index.training_due_from(train_from) {
            Some(index.trained(None)?)
        } else {
            None
        };
        (repaired, trained)
    };
    let mut index = lock.write();
    let index = index.vectors_mut();
    if repaired {
        index.free_deleted();
    }
    if let Some(t) = trained {
        index.install_trained(t);
    }
    index.finish_rows()
}
