//! `VectorIndex`: user keys over an HNSW graph or a flat (exact) scan.
//!
//! Storage is slot-based: slot `s` holds one vector at `store[s*dim..][..dim]`, its key at
//! `slot_keys[s]`, and (for HNSW) graph node `s`. `slot_of` maps user keys to slots.
//! Removing from a flat index moves the last slot into the hole; removing from HNSW leaves a
//! tombstone until consolidation frees the slot for reuse.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use quiver_distance::{normalize, Metric, TopK};
use quiver_hnsw::{splitmix64, Graph, Params};
use rayon::prelude::*;

use crate::config::{search_params, Config, IndexKind, MAX_VECTORS};
use crate::error::{err, Error, Result};
use crate::scorer::F32Scorer;
use crate::store::{AlignedF32, VectorStore};

/// Consolidate once tombstones exceed this share of slots.
const CONSOLIDATE_FRACTION: f64 = 0.15;

/// Results of one search, nearest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchHits {
    /// User keys.
    pub keys: Vec<u32>,
    /// Distances in the metric's convention.
    pub distances: Vec<f32>,
}

/// Results of a batch search: row `i` is `keys[i*k ..][.. counts[i]]`; unused slots hold key
/// `u32::MAX` and distance NaN.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchHits {
    /// `n * k` keys.
    pub keys: Vec<u32>,
    /// `n * k` distances.
    pub distances: Vec<f32>,
    /// Hits per query.
    pub counts: Vec<u32>,
}

/// Memory held by an index, by part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Vectors (0 when memory-mapped).
    pub vectors: usize,
    /// Graph links and node metadata (0 for the level-0 arena when memory-mapped).
    pub graph: usize,
    /// Key maps.
    pub keys: usize,
}

impl MemoryUsage {
    /// Sum of the parts.
    pub fn total(&self) -> usize {
        self.vectors + self.graph + self.keys
    }
}

/// A vector index (single-owner API; see [`crate::SharedIndex`] for the concurrent wrapper).
pub struct VectorIndex {
    pub(crate) config: Config,
    pub(crate) store: VectorStore,
    pub(crate) slot_keys: Vec<u32>,
    pub(crate) slot_of: HashMap<u32, u32>,
    pub(crate) graph: Option<Graph>,
    pub(crate) free: Vec<u32>,
    pub(crate) pool: rayon::ThreadPool,
    pub(crate) read_only: bool,
}

pub(crate) fn build_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("quiver-{i}"))
        .build()
        .map_err(|e| err!(Internal, "cannot start the thread pool: {e}"))
}

impl VectorIndex {
    /// An empty index.
    pub fn new(config: Config) -> Result<Self> {
        config.validate()?;
        let graph = (config.kind == IndexKind::Hnsw).then(|| {
            Graph::new(
                Params::new(config.m, config.ef_construction, config.seed),
                0,
            )
        });
        Ok(VectorIndex {
            pool: build_pool(config.threads)?,
            config,
            store: VectorStore::Owned(AlignedF32::default()),
            slot_keys: Vec::new(),
            slot_of: HashMap::new(),
            graph,
            free: Vec::new(),
            read_only: false,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Live vectors.
    pub fn len(&self) -> usize {
        self.slot_of.len()
    }

    /// Whether no vector is live.
    pub fn is_empty(&self) -> bool {
        self.slot_of.is_empty()
    }

    /// Whether the index is a read-only memory-mapped view.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(err!(ReadOnly, "this index was opened memory-mapped (read-only); load it without mmap to modify it"));
        }
        Ok(())
    }

    fn check_vector(&self, v: &[f32], what: &str) -> Result<()> {
        if v.len() != self.config.dim {
            return Err(err!(
                DimensionMismatch,
                "{what} has {} values, the index dimension is {}",
                v.len(),
                self.config.dim
            ));
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(err!(
                NonFinite,
                "{what} holds a non-finite value ({}) at position {i}",
                v[i]
            ));
        }
        Ok(())
    }

    /// Checks a batch for `add`/`upsert` without changing anything: lengths, finiteness,
    /// duplicate keys in the batch, existing keys (for `add`), capacity.
    pub fn validate_add(&self, keys: &[u32], vectors: &[f32], upsert: bool) -> Result<()> {
        self.check_writable()?;
        let dim = self.config.dim;
        if vectors.len() != keys.len() * dim {
            return Err(err!(
                DimensionMismatch,
                "{} keys need {} values ({} × dim {dim}), got {}",
                keys.len(),
                keys.len() * dim,
                keys.len(),
                vectors.len()
            ));
        }
        let bad = self.pool.install(|| {
            vectors
                .par_chunks(dim.max(1))
                .position_first(|row| row.iter().any(|x| !x.is_finite()))
        });
        if let Some(row) = bad {
            return Err(err!(
                NonFinite,
                "vector {row} (key {}) holds NaN or ±Infinity",
                keys[row]
            ));
        }
        let mut sorted = keys.to_vec();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(err!(
                DuplicateKey,
                "key {} appears more than once in this batch",
                w[0]
            ));
        }
        if !upsert {
            if let Some(k) = keys.iter().find(|k| self.slot_of.contains_key(k)) {
                return Err(err!(
                    DuplicateKey,
                    "key {k} is already in the index (use upsert to replace it)"
                ));
            }
        }
        if self.slot_keys.len() + keys.len() > MAX_VECTORS {
            return Err(err!(
                Capacity,
                "the index would exceed {MAX_VECTORS} vector slots"
            ));
        }
        Ok(())
    }

    /// The order in which a batch of `n` rows is inserted: a seeded shuffle for HNSW (graph
    /// quality does not depend on how the caller sorted the data), input order for flat.
    pub fn insertion_order(&self, n: usize) -> Vec<u32> {
        let mut order: Vec<u32> = (0..n as u32).collect();
        if self.config.kind == IndexKind::Hnsw {
            let mut s = self.config.seed ^ (self.slot_keys.len() as u64).rotate_left(32);
            for i in (1..n).rev() {
                s = splitmix64(s);
                order.swap(i, (s % (i as u64 + 1)) as usize);
            }
        }
        order
    }

    /// Reserves room for `additional` new slots, exactly (no growth slack).
    pub fn reserve(&mut self, additional: usize) {
        let dim = self.config.dim;
        let extra = additional.saturating_sub(self.free.len());
        if let VectorStore::Owned(v) = &mut self.store {
            v.reserve_exact(extra * dim);
        }
        self.slot_keys.reserve_exact(extra);
        self.slot_of.reserve(additional);
        if let Some(g) = &mut self.graph {
            g.reserve(self.slot_keys.len() + extra);
        }
    }

    /// Writes `vector` into a slot (a freed one if any) and returns it.
    fn place(&mut self, key: u32, vector: &[f32]) -> u32 {
        let dim = self.config.dim;
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slot_keys.push(key);
                (self.slot_keys.len() - 1) as u32
            }
        };
        self.slot_keys[slot as usize] = key;
        if let VectorStore::Owned(data) = &mut self.store {
            let start = slot as usize * dim;
            if data.len() < start + dim {
                data.resize(start + dim);
            }
            let row = &mut data[start..start + dim];
            row.copy_from_slice(vector);
            if self.config.metric == Metric::Cosine {
                normalize(row);
            }
        }
        self.slot_of.insert(key, slot);
        slot
    }

    /// Inserts rows `rows` of a batch that [`VectorIndex::validate_add`] accepted.
    pub fn insert_rows(&mut self, keys: &[u32], vectors: &[f32], rows: &[u32]) -> Result<()> {
        self.check_writable()?;
        let dim = self.config.dim;
        let mut new_slots = Vec::with_capacity(rows.len());
        for &r in rows {
            let r = r as usize;
            let (Some(&key), Some(v)) = (keys.get(r), vectors.get(r * dim..(r + 1) * dim)) else {
                return Err(err!(Internal, "row {r} is outside the batch"));
            };
            if let Some(&old) = self.slot_of.get(&key) {
                match &self.graph {
                    Some(g) => {
                        g.mark_deleted(old);
                        self.slot_of.remove(&key);
                    }
                    None => {
                        // Flat: overwrite in place.
                        if let VectorStore::Owned(data) = &mut self.store {
                            let row = &mut data[old as usize * dim..(old as usize + 1) * dim];
                            row.copy_from_slice(v);
                            if self.config.metric == Metric::Cosine {
                                normalize(row);
                            }
                        }
                        continue;
                    }
                }
            }
            new_slots.push(self.place(key, v));
        }
        let Some(graph) = &mut self.graph else {
            return Ok(());
        };
        graph.reserve(self.slot_keys.len());
        let scorer = F32Scorer::new(self.store.as_slice(), dim, self.config.metric);
        let graph = &*graph;
        let mut rest = &new_slots[..];
        if graph.entry().is_none() {
            if let Some((&first, tail)) = rest.split_first() {
                graph.insert(&scorer, first);
                rest = tail;
            }
        }
        self.pool.install(|| {
            rest.par_iter().for_each(|&s| {
                graph.insert(&scorer, s);
            })
        });
        self.maybe_consolidate();
        Ok(())
    }

    /// Validates and inserts a whole batch. Returns the number of vectors written.
    pub fn add(&mut self, keys: &[u32], vectors: &[f32], upsert: bool) -> Result<usize> {
        self.validate_add(keys, vectors, upsert)?;
        self.reserve(keys.len());
        let order = self.insertion_order(keys.len());
        self.insert_rows(keys, vectors, &order)?;
        Ok(keys.len())
    }

    /// Removes keys; unknown keys are ignored. Returns how many were removed.
    pub fn remove(&mut self, keys: &[u32]) -> Result<usize> {
        self.check_writable()?;
        let dim = self.config.dim;
        let mut removed = 0;
        for key in keys {
            let Some(slot) = self.slot_of.remove(key) else {
                continue;
            };
            removed += 1;
            match &self.graph {
                Some(g) => {
                    g.mark_deleted(slot);
                }
                None => {
                    // Flat: move the last slot into the hole.
                    let last = self.slot_keys.len() - 1;
                    if let VectorStore::Owned(data) = &mut self.store {
                        if slot as usize != last {
                            data.copy_within(last * dim..(last + 1) * dim, slot as usize * dim);
                            let moved = self.slot_keys[last];
                            self.slot_keys[slot as usize] = moved;
                            self.slot_of.insert(moved, slot);
                        }
                        data.resize(last * dim);
                    }
                    self.slot_keys.truncate(last);
                }
            }
        }
        self.maybe_consolidate();
        Ok(removed)
    }

    /// Re-links the graph and frees deleted slots once tombstones pass the threshold.
    pub fn maybe_consolidate(&mut self) {
        let Some(graph) = &mut self.graph else {
            return;
        };
        let slots = self.slot_keys.len();
        let deleted = graph.deleted_count();
        if deleted == 0 || (deleted as f64) < CONSOLIDATE_FRACTION * slots as f64 {
            return;
        }
        let scorer = F32Scorer::new(self.store.as_slice(), self.config.dim, self.config.metric);
        let mut free = self.free.clone();
        free.sort_unstable();
        let freed = self
            .pool
            .install(|| graph.consolidate(&scorer, slots, &free));
        self.free.extend(freed);
        // Hand out low slots first.
        self.free.sort_unstable_by(|a, b| b.cmp(a));
    }

    /// Whether `key` is present.
    pub fn has(&self, key: u32) -> bool {
        self.slot_of.contains_key(&key)
    }

    /// A copy of the stored vector (unit-normalised for cosine).
    pub fn get(&self, key: u32) -> Option<Vec<f32>> {
        let slot = *self.slot_of.get(&key)? as usize;
        let dim = self.config.dim;
        self.store
            .as_slice()
            .get(slot * dim..(slot + 1) * dim)
            .map(<[f32]>::to_vec)
    }

    /// Prepares a query: checks it and normalises it for cosine.
    fn prepare_query(&self, q: &[f32]) -> Result<Vec<f32>> {
        self.check_vector(q, "the query")?;
        let mut q = q.to_vec();
        if self.config.metric == Metric::Cosine {
            normalize(&mut q);
        }
        Ok(q)
    }

    /// Nearest `k` (at most the number of live vectors), nearest first.
    pub fn search(&self, query: &[f32], k: usize, ef: Option<usize>) -> Result<SearchHits> {
        let (k, ef) = search_params(k, ef, self.config.ef_search)?;
        let q = self.prepare_query(query)?;
        Ok(self.search_prepared(&q, k, ef))
    }

    fn search_prepared(&self, q: &[f32], k: usize, ef: usize) -> SearchHits {
        let scorer = F32Scorer::new(self.store.as_slice(), self.config.dim, self.config.metric);
        let exact = |slots: &mut dyn Iterator<Item = u32>| {
            let mut top = TopK::new(k);
            for slot in slots {
                let d = scorer.distance_to(q, slot);
                if d < top.worst() {
                    top.push(d, slot);
                }
            }
            top.into_sorted()
        };
        let found: Vec<(f32, u32)> = match &self.graph {
            Some(g) => {
                let (found, _) = g.search(&scorer, q, k, ef);
                if found.len() < k.min(self.len()) {
                    // Tombstones crowded the pool or a live node is unreachable: answer
                    // exactly rather than short.
                    exact(&mut self.slot_of.values().copied())
                } else {
                    found
                }
            }
            None => exact(&mut (0..self.slot_keys.len() as u32)),
        };
        SearchHits {
            keys: found
                .iter()
                .map(|&(_, s)| self.slot_keys[s as usize])
                .collect(),
            distances: found.iter().map(|&(d, _)| d).collect(),
        }
    }

    /// Searches many queries (row-major, `dim` each) on the index's thread pool. Stops with
    /// `ERR_ABORTED` once `cancel` is set.
    pub fn search_batch(
        &self,
        queries: &[f32],
        k: usize,
        ef: Option<usize>,
        cancel: &AtomicBool,
    ) -> Result<BatchHits> {
        let (k, ef) = search_params(k, ef, self.config.ef_search)?;
        let dim = self.config.dim;
        if !queries.len().is_multiple_of(dim) {
            return Err(err!(
                DimensionMismatch,
                "the queries hold {} values, not a multiple of dim {dim}",
                queries.len()
            ));
        }
        let n = queries.len() / dim;
        let prepared: Vec<Vec<f32>> = queries
            .chunks(dim)
            .enumerate()
            .map(|(i, q)| {
                self.prepare_query(q)
                    .map_err(|e| Error::new(e.code, format!("query {i}: {}", e.message)))
            })
            .collect::<Result<_>>()?;
        let rows: Vec<Option<SearchHits>> = self.pool.install(|| {
            prepared
                .par_iter()
                .map(|q| (!cancel.load(Ordering::Relaxed)).then(|| self.search_prepared(q, k, ef)))
                .collect()
        });
        let mut out = BatchHits {
            keys: vec![u32::MAX; n * k],
            distances: vec![f32::NAN; n * k],
            counts: vec![0; n],
        };
        for (i, row) in rows.into_iter().enumerate() {
            let row = row.ok_or_else(|| err!(Aborted, "batch search aborted"))?;
            let c = row.keys.len();
            out.keys[i * k..i * k + c].copy_from_slice(&row.keys);
            out.distances[i * k..i * k + c].copy_from_slice(&row.distances);
            out.counts[i] = c as u32;
        }
        Ok(out)
    }

    /// Heap memory held, by part.
    pub fn memory_usage(&self) -> MemoryUsage {
        MemoryUsage {
            vectors: self.store.heap_bytes(),
            graph: self.graph.as_ref().map_or(0, Graph::memory_usage),
            keys: self.slot_keys.capacity() * 4
                + self.slot_of.capacity() * (std::mem::size_of::<(u32, u32)>() + 1)
                + self.free.capacity() * 4,
        }
    }
}
