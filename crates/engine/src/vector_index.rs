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

use crate::config::{search_params, Config, IndexKind, MAX_THREADS, MAX_VECTORS};
use crate::error::{err, Error, Result};
use crate::meta::{Meta, MetaBatch, MetaConfig};
use crate::quantized::{AnyQuantizer, CodeBuildScorer, CodeScorer, Originals, QuantKind};
use crate::scorer::F32Scorer;
use crate::store::{AlignedF32, VectorStore};
use quiver_quant::fastscan::FastScanCodes;

/// Consolidate once tombstones exceed this share of slots.
const CONSOLIDATE_FRACTION: f64 = 0.15;

/// Results of one search, nearest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchHits {
    /// User keys.
    pub keys: Vec<u32>,
    /// Distances in the metric's convention.
    pub distances: Vec<f32>,
    /// How a filtered or range search was answered (`None` for a plain search).
    pub plan: Option<crate::filtered::Plan>,
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
    /// f32 vectors, the "originals" (0 when memory-mapped or not kept).
    pub vectors: usize,
    /// Quantized codes and quantizer parameters.
    pub codes: usize,
    /// Graph links and node metadata (0 for the level-0 arena when memory-mapped).
    pub graph: usize,
    /// Key maps.
    pub keys: usize,
    /// Attribute store (records and their bitmaps).
    pub attributes: usize,
    /// Payloads (in memory; 0 for those served from a mapped file).
    pub payloads: usize,
}

impl MemoryUsage {
    /// Sum of the parts.
    pub fn total(&self) -> usize {
        self.vectors + self.codes + self.graph + self.keys + self.attributes + self.payloads
    }
}

/// Larger buffers for an index's arenas, built by [`VectorIndex::grown`]; after
/// [`VectorIndex::install_growth`], the buffers they replaced.
#[derive(Default)]
pub struct Growth {
    store: Option<AlignedF32>,
    codes: Option<Vec<u8>>,
    slot_keys: Option<Vec<u32>>,
    slot_of: Option<HashMap<u32, u32>>,
    graph: Option<quiver_hnsw::GrownArenas>,
    meta: crate::meta::MetaRoom,
}

/// A trained quantizer and the codes of every stored vector, from [`VectorIndex::trained`].
pub struct Trained {
    quant: AnyQuantizer,
    codes: Vec<u8>,
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
    /// The trained quantizer, once trained.
    pub(crate) quant: Option<AnyQuantizer>,
    /// One code per slot (`quant.code_bytes()` each), once trained.
    pub(crate) codes: Vec<u8>,
    /// Flat index with 4-bit PQ: the codes again, in 32-vector fast-scan blocks.
    pub(crate) fastscan: Option<FastScanCodes>,
    /// Attributes and payloads, by slot.
    pub(crate) meta: Meta,
}

/// Table lookups (vectors × sub-quantizers) above which one query's fast-scan is split over the
/// pool: about 0.2 ms of single-thread work, well above the cost of the fork and merge.
const PAR_SCAN_LOOKUPS: usize = 1 << 22;

/// Largest squared norm a stored or query vector may have: below it, every L2 distance
/// (at most 2‖a‖² + 2‖b‖²) and every inner product fits an f32.
pub const MAX_NORM_SQ: f64 = f32::MAX as f64 / 4.0;

/// Finite, with a squared norm of at most [`MAX_NORM_SQ`] (so no distance overflows).
pub(crate) fn representable(v: &[f32]) -> bool {
    let mut s = 0f64;
    for &x in v {
        if !x.is_finite() {
            return false;
        }
        s += f64::from(x) * f64::from(x);
    }
    s <= MAX_NORM_SQ
}

pub(crate) fn build_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("quiver-{i}"))
        .build()
        .map_err(|e| err!(Internal, "cannot start the thread pool: {e}"))
}

/// [`build_pool`] for a host-given thread count, checked to be in 1..=[`MAX_THREADS`].
pub(crate) fn checked_pool(threads: usize) -> Result<rayon::ThreadPool> {
    if threads == 0 || threads > MAX_THREADS {
        return Err(err!(
            InvalidArgument,
            "threads must be an integer in 1..={MAX_THREADS}, got {threads}"
        ));
    }
    build_pool(threads)
}

impl VectorIndex {
    /// An empty index.
    pub fn new(config: Config) -> Result<Self> {
        Self::new_with(config, &MetaConfig::default())
    }

    /// An empty index that also stores attributes and/or payloads per key.
    pub fn new_with(config: Config, meta: &MetaConfig) -> Result<Self> {
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
            quant: None,
            codes: Vec::new(),
            fastscan: None,
            meta: Meta::new(meta),
        })
    }

    /// The attribute and payload stores.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Rebuilds the fast-scan blocks of a flat 4-bit PQ index from the codes (after any write).
    pub(crate) fn refresh_fastscan(&mut self) {
        self.fastscan = match (&self.quant, self.config.kind) {
            (Some(AnyQuantizer::Pq(p)), IndexKind::Flat) if p.nbits() == 4 => {
                FastScanCodes::from_codes(&self.codes, self.slot_keys.len(), p.m()).ok()
            }
            _ => None,
        };
    }

    /// Whether f32 rows are written for new vectors: always, except once a quantizer is
    /// trained for an index with `originals: none`.
    fn keeps_f32(&self) -> bool {
        self.config.originals != Originals::None || self.quant.is_none()
    }

    /// Whether the store holds an f32 row for every slot.
    pub(crate) fn has_f32(&self) -> bool {
        self.store.as_slice().len() >= self.slot_keys.len() * self.config.dim
    }

    /// The quantizer whose codes an insert's search walks while the f32 rows choose the
    /// neighbours ([`CodeBuildScorer`]): trained sq8, once every slot has its code. Other code
    /// kinds estimate too coarsely to find an insert's candidates, so their graphs are built
    /// over the f32 rows.
    fn build_codes(&self) -> Option<&AnyQuantizer> {
        let q = self.quant.as_ref()?;
        let covered = self.codes.len() >= self.slot_keys.len() * q.code_bytes();
        (q.kind() == QuantKind::Sq8 && covered).then_some(q)
    }

    /// The trained quantizer, if any.
    pub fn quantizer(&self) -> Option<&AnyQuantizer> {
        self.quant.as_ref()
    }

    /// Whether the index is configured with a quantizer but has not trained it yet.
    pub fn needs_training(&self) -> bool {
        self.config.quant.kind != QuantKind::None && self.quant.is_none()
    }

    /// Turns a memory-mapped store into an owned one before the first write.
    fn own_store(&mut self) {
        if let VectorStore::Mapped(m) = &self.store {
            let v = m.as_f32();
            self.store =
                VectorStore::Owned(AlignedF32::from_iter_exact(v.len(), v.iter().copied()));
        }
    }

    /// Writes the code of `v` (already normalised for cosine) into slot `slot`.
    fn write_code(&mut self, slot: u32, v: &[f32]) {
        let Some(q) = &self.quant else {
            return;
        };
        let cb = q.code_bytes();
        let start = slot as usize * cb;
        if self.codes.len() < start + cb {
            self.codes.resize(start + cb, 0);
        }
        q.encode(v, &mut self.codes[start..start + cb]);
    }

    /// Trains the quantizer on `sample` (row-major; `None`: the first `trainingSize` stored
    /// vectors), then encodes every stored vector. With `originals: none` the f32 rows are
    /// dropped afterwards. [`VectorIndex::trained`] then [`VectorIndex::install_trained`].
    pub fn train(&mut self, sample: Option<&[f32]>) -> Result<()> {
        let trained = self.trained(sample)?;
        self.install_trained(trained);
        Ok(())
    }

    /// The work of [`VectorIndex::train`] that needs only `&self` (training and encoding every
    /// stored vector), so searches go on meanwhile; no write may run until
    /// [`VectorIndex::install_trained`].
    pub fn trained(&self, sample: Option<&[f32]>) -> Result<Trained> {
        self.check_writable()?;
        let cfg = self.config.quant;
        if cfg.kind == QuantKind::None {
            return Err(err!(
                InvalidArgument,
                "this index has no quantization to train (set quantization.type)"
            ));
        }
        if !self.has_f32() {
            return Err(err!(
                InvalidArgument,
                "the quantizer cannot be retrained: originals: 'none' dropped the f32 vectors"
            ));
        }
        let dim = self.config.dim;
        let owned;
        let data: &[f32] = match sample {
            Some(s) => {
                if !s.len().is_multiple_of(dim) {
                    return Err(err!(
                        DimensionMismatch,
                        "the training sample holds {} values, not a multiple of dim {dim}",
                        s.len()
                    ));
                }
                if self.config.metric == Metric::Cosine {
                    let mut v = s.to_vec();
                    v.chunks_mut(dim).for_each(|r| {
                        normalize(r);
                    });
                    owned = v;
                    &owned
                } else {
                    s
                }
            }
            None => {
                let mut live: Vec<u32> = self.slot_of.values().copied().collect();
                live.sort_unstable();
                live.truncate(cfg.training_size);
                let store = self.store.as_slice();
                owned = live
                    .iter()
                    .flat_map(|&s| &store[s as usize * dim..(s as usize + 1) * dim])
                    .copied()
                    .collect();
                &owned
            }
        };
        let (metric, seed) = (self.config.metric, self.config.seed);
        let quant = self
            .pool
            .install(|| AnyQuantizer::train(&cfg, data, dim, metric, seed))?;
        let cb = quant.code_bytes();
        let slots = self.slot_keys.len();
        let mut codes = vec![0u8; slots * cb];
        let store = self.store.as_slice();
        self.pool.install(|| {
            codes
                .par_chunks_mut(cb)
                .zip(store.par_chunks(dim))
                .for_each(|(c, v)| quant.encode(v, c));
        });
        Ok(Trained { quant, codes })
    }

    /// Puts a quantizer from [`VectorIndex::trained`] in place (no write may have run since).
    pub fn install_trained(&mut self, trained: Trained) {
        self.codes = trained.codes;
        self.quant = Some(trained.quant);
        self.refresh_fastscan();
        if self.config.originals == Originals::None {
            self.store = VectorStore::Owned(AlignedF32::default());
        }
    }

    /// Whether the next write should train the quantizer: `trainingSize` vectors are in and it
    /// is not trained yet.
    pub fn training_due(&self) -> bool {
        self.training_due_from(self.config.quant.training_size)
    }

    /// Whether the quantizer is untrained and at least `min(at_least, trainingSize)` vectors
    /// are in: the end of an add that trains on what is there (a multi-vector index's FDEs).
    pub fn training_due_from(&self, at_least: usize) -> bool {
        self.needs_training() && self.len() >= at_least.min(self.config.quant.training_size)
    }

    /// Trains automatically once `trainingSize` vectors are present.
    fn maybe_train(&mut self) -> Result<()> {
        if self.training_due() {
            self.train(None)?;
        }
        Ok(())
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
        if !representable(v) {
            return Err(err!(
                NonFinite,
                "{what} is too large: its squared norm exceeds {MAX_NORM_SQ:e}, so its distances would overflow f32"
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
                .position_first(|row| !representable(row))
        });
        if let Some(row) = bad {
            let v = &vectors[row * dim..(row + 1) * dim];
            return Err(if v.iter().all(|x| x.is_finite()) {
                err!(
                    NonFinite,
                    "vector {row} (key {}) is too large: its squared norm exceeds {MAX_NORM_SQ:e}, so its distances would overflow f32",
                    keys[row]
                )
            } else {
                err!(
                    NonFinite,
                    "vector {row} (key {}) holds NaN or ±Infinity",
                    keys[row]
                )
            });
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

    /// Reserves room for `additional` new slots. Growth is geometric, so a stream of small
    /// adds costs amortised O(1) per row: an exact reservation would reallocate and copy every
    /// stored row on every add.
    pub fn reserve(&mut self, additional: usize) {
        let dim = self.config.dim;
        let extra = additional.saturating_sub(self.free.len());
        let keeps_f32 = self.keeps_f32();
        if let VectorStore::Owned(v) = &mut self.store {
            if keeps_f32 {
                v.reserve(extra * dim);
            }
        }
        if let Some(q) = &self.quant {
            self.codes.reserve(extra * q.code_bytes());
        }
        self.slot_keys.reserve(extra);
        self.slot_of.reserve(additional);
        if let Some(g) = &mut self.graph {
            g.reserve(self.slot_keys.len() + extra);
        }
    }

    /// Buffers with room for `additional` more vectors, rows `rows` of `batch` their
    /// metadata, copied from this index while searches go on (only `&self`), for
    /// [`VectorIndex::install_growth`]: the growth of an arena or a table then costs a write
    /// only a few pointer swaps instead of a copy of every row. Empty when everything has room
    /// already. No write may run in between.
    pub fn grown(
        &self,
        additional: usize,
        batch: &MetaBatch,
        rows: std::ops::Range<usize>,
    ) -> Growth {
        let mut out = Growth::default();
        if self.read_only {
            return out;
        }
        out.meta = self.meta.room_for(batch, rows);
        let dim = self.config.dim;
        let extra = additional.saturating_sub(self.free.len());
        if self.keeps_f32() {
            out.store = match &self.store {
                VectorStore::Owned(v) => v.grown(extra * dim),
                VectorStore::Mapped(m) => {
                    let v = m.as_f32();
                    let mut owned = AlignedF32::from_iter_exact(v.len(), v.iter().copied());
                    owned.reserve(extra * dim);
                    Some(owned)
                }
            };
        }
        if let Some(q) = &self.quant {
            out.codes = quiver_grow::vec_with_room(&self.codes, extra * q.code_bytes());
        }
        out.slot_keys = quiver_grow::vec_with_room(&self.slot_keys, extra);
        out.slot_of = quiver_grow::map_with_room(&self.slot_of, additional);
        if let Some(g) = &self.graph {
            out.graph = g.grown(self.slot_keys.len() + extra);
        }
        out
    }

    /// Puts buffers from [`VectorIndex::grown`] in place (pointer swaps) and returns the ones
    /// they replace, to be dropped outside any lock.
    pub fn install_growth(&mut self, mut growth: Growth) -> Growth {
        if let Some(store) = growth.store.take() {
            let old = std::mem::replace(&mut self.store, VectorStore::Owned(store));
            if let VectorStore::Owned(v) = old {
                growth.store = Some(v);
            }
        }
        quiver_grow::swap_in(&mut self.codes, &mut growth.codes);
        quiver_grow::swap_in(&mut self.slot_keys, &mut growth.slot_keys);
        quiver_grow::swap_in(&mut self.slot_of, &mut growth.slot_of);
        self.meta.make_room(&mut growth.meta);
        if let (Some(g), Some(arenas)) = (&mut self.graph, growth.graph.take()) {
            growth.graph = Some(g.install(arenas));
        }
        growth
    }

    /// Writes `vector` into a slot (a freed one if any) and returns it.
    fn place(&mut self, key: u32, vector: &[f32], batch: &MetaBatch, row: usize) -> u32 {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slot_keys.push(key);
                (self.slot_keys.len() - 1) as u32
            }
        };
        self.slot_keys[slot as usize] = key;
        self.write_row(slot, vector);
        self.meta.set(slot, batch, row);
        self.slot_of.insert(key, slot);
        slot
    }

    /// Writes a vector's f32 row (if kept) and code (if trained) into `slot`.
    fn write_row(&mut self, slot: u32, vector: &[f32]) {
        let dim = self.config.dim;
        let mut tmp;
        let v = if self.config.metric == Metric::Cosine {
            tmp = vector.to_vec();
            normalize(&mut tmp);
            &tmp[..]
        } else {
            vector
        };
        if self.keeps_f32() {
            self.own_store();
            if let VectorStore::Owned(data) = &mut self.store {
                let start = slot as usize * dim;
                if data.len() < start + dim {
                    data.resize(start + dim);
                }
                data[start..start + dim].copy_from_slice(v);
            }
        }
        self.write_code(slot, v);
    }

    /// Inserts rows `rows` of a batch that [`VectorIndex::validate_add`] accepted, with their
    /// metadata from `batch` (see [`Meta::prepare`]): [`VectorIndex::place_rows`], then
    /// [`VectorIndex::link_rows`], then [`VectorIndex::finish_rows`].
    pub fn insert_rows(
        &mut self,
        keys: &[u32],
        vectors: &[f32],
        rows: &[u32],
        batch: &MetaBatch,
    ) -> Result<()> {
        let new_slots = self.place_rows(keys, vectors, rows, batch)?;
        self.link_rows(&new_slots);
        self.finish_rows()
    }

    /// The first step of an insert (needs `&mut`): stores the rows' vectors, codes, keys and
    /// metadata in slots and sizes the graph for them. A replaced key's old node is tombstoned.
    /// Returns the slots to link. New HNSW nodes are not reachable until linked; a flat index's
    /// rows are searchable at once.
    pub fn place_rows(
        &mut self,
        keys: &[u32],
        vectors: &[f32],
        rows: &[u32],
        batch: &MetaBatch,
    ) -> Result<Vec<u32>> {
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
                        self.meta.clear(old);
                    }
                    None => {
                        // Flat: overwrite in place.
                        self.write_row(old, v);
                        self.meta.set(old, batch, r);
                        continue;
                    }
                }
            }
            new_slots.push(self.place(key, v, batch, r));
        }
        let slots = self.slot_keys.len();
        if let Some(graph) = &mut self.graph {
            graph.reserve(slots);
        }
        Ok(new_slots)
    }

    /// The second step (needs only `&self`, so searches run meanwhile): links the placed
    /// nodes into the graph, in parallel on the pool. The graph's per-node link locks make each
    /// new node's links appear whole to concurrent searches.
    pub fn link_rows(&self, new_slots: &[u32]) {
        let Some(graph) = &self.graph else {
            return;
        };
        let dim = self.config.dim;
        if self.has_f32() {
            let scorer = F32Scorer::new(self.store.as_slice(), dim, self.config.metric);
            match self.build_codes() {
                Some(q) => {
                    let codes = CodeScorer::new(q, &self.codes, dim);
                    let scorer = CodeBuildScorer::new(codes, scorer);
                    insert_all(graph, &self.pool, &scorer, new_slots);
                }
                None => insert_all(graph, &self.pool, &scorer, new_slots),
            }
        } else if let Some(q) = &self.quant {
            let scorer = CodeScorer::new(q, &self.codes, dim);
            insert_all(graph, &self.pool, &scorer, new_slots);
        }
    }

    /// The last step (needs `&mut`): consolidation of tombstones, fast-scan blocks, automatic
    /// training.
    pub fn finish_rows(&mut self) -> Result<()> {
        if self.graph.is_some() {
            self.maybe_consolidate();
        } else {
            self.refresh_fastscan();
        }
        self.maybe_train()
    }

    /// Validates and inserts a whole batch. Returns the number of vectors written.
    pub fn add(&mut self, keys: &[u32], vectors: &[f32], upsert: bool) -> Result<usize> {
        self.add_with(keys, vectors, upsert, &crate::meta::MetaInput::default())
    }

    /// [`VectorIndex::add`] with attributes and payloads for the keys.
    pub fn add_with(
        &mut self,
        keys: &[u32],
        vectors: &[f32],
        upsert: bool,
        meta: &crate::meta::MetaInput<'_>,
    ) -> Result<usize> {
        self.validate_add(keys, vectors, upsert)?;
        let batch = self.meta.prepare(meta, keys.len())?;
        self.add_batch(keys, vectors, upsert, &batch)
    }

    /// [`VectorIndex::add`] with metadata already validated by [`Meta::prepare`].
    pub fn add_batch(
        &mut self,
        keys: &[u32],
        vectors: &[f32],
        upsert: bool,
        batch: &MetaBatch,
    ) -> Result<usize> {
        self.validate_add(keys, vectors, upsert)?;
        self.reserve(keys.len());
        let order = self.insertion_order(keys.len());
        self.insert_rows(keys, vectors, &order, batch)?;
        Ok(keys.len())
    }

    /// Removes keys; unknown keys are ignored. Returns how many were removed.
    pub fn remove(&mut self, keys: &[u32]) -> Result<usize> {
        let removed = self.remove_keys(keys)?;
        self.finish_rows()?;
        Ok(removed)
    }

    /// [`VectorIndex::remove`] without what follows it, [`VectorIndex::finish_rows`] (the
    /// consolidation it may trigger, a flat index's fast-scan refresh), for a caller that runs
    /// [`VectorIndex::repair_deleted`] outside its exclusive lock and then finishes once.
    pub fn remove_keys(&mut self, keys: &[u32]) -> Result<usize> {
        self.check_writable()?;
        let dim = self.config.dim;
        let mut removed = 0;
        for key in keys {
            let Some(slot) = self.slot_of.remove(key) else {
                continue;
            };
            removed += 1;
            self.meta.clear(slot);
            match &self.graph {
                Some(g) => {
                    g.mark_deleted(slot);
                }
                None => {
                    // Flat: move the last slot into the hole.
                    let last = self.slot_keys.len() - 1;
                    self.own_store();
                    if slot as usize != last {
                        if let VectorStore::Owned(data) = &mut self.store {
                            if data.len() >= (last + 1) * dim {
                                data.copy_within(last * dim..(last + 1) * dim, slot as usize * dim);
                            }
                        }
                        if let Some(q) = &self.quant {
                            let cb = q.code_bytes();
                            self.codes
                                .copy_within(last * cb..(last + 1) * cb, slot as usize * cb);
                        }
                        let moved = self.slot_keys[last];
                        self.slot_keys[slot as usize] = moved;
                        self.meta.move_slot(last as u32, slot);
                        self.slot_of.insert(moved, slot);
                    }
                    if let VectorStore::Owned(data) = &mut self.store {
                        if data.len() > last * dim {
                            data.resize(last * dim);
                        }
                    }
                    if let Some(q) = &self.quant {
                        self.codes.truncate(last * q.code_bytes());
                    }
                    self.slot_keys.truncate(last);
                }
            }
        }
        Ok(removed)
    }

    /// Re-links the graph and frees deleted slots once tombstones pass the threshold:
    /// [`VectorIndex::repair_deleted`] then [`VectorIndex::free_deleted`].
    pub fn maybe_consolidate(&mut self) {
        if self.repair_deleted() {
            self.free_deleted();
        }
    }

    /// Whether tombstones have passed the share of slots at which the graph is repaired.
    fn consolidation_due(&self) -> bool {
        let Some(graph) = &self.graph else {
            return false;
        };
        let deleted = graph.deleted_count();
        deleted > 0 && (deleted as f64) >= CONSOLIDATE_FRACTION * self.slot_keys.len() as f64
    }

    /// The heavy part of a consolidation, which needs only `&self` (searches go on; no
    /// write may run until [`VectorIndex::free_deleted`]): re-links every live node around
    /// the deleted ones, if tombstones have passed the threshold. Returns whether it did.
    pub fn repair_deleted(&self) -> bool {
        if !self.consolidation_due() {
            return false;
        }
        let Some(graph) = &self.graph else {
            return false;
        };
        let slots = self.slot_keys.len();
        let mut free = self.free.clone();
        free.sort_unstable();
        let dim = self.config.dim;
        if self.store.as_slice().len() >= slots * dim {
            let scorer = F32Scorer::new(self.store.as_slice(), dim, self.config.metric);
            self.pool
                .install(|| graph.repair_deleted(&scorer, slots, &free));
        } else if let Some(q) = &self.quant {
            let scorer = CodeScorer::new(q, &self.codes, dim);
            self.pool
                .install(|| graph.repair_deleted(&scorer, slots, &free));
        } else {
            return false;
        }
        true
    }

    /// The quick part of a consolidation (after [`VectorIndex::repair_deleted`]): the deleted
    /// slots are unlinked and become free for reuse.
    pub fn free_deleted(&mut self) {
        let slots = self.slot_keys.len();
        let Some(graph) = &mut self.graph else {
            return;
        };
        let freed = graph.free_deleted(slots);
        self.free.extend(freed);
        // Hand out low slots first.
        self.free.sort_unstable_by(|a, b| b.cmp(a));
    }

    /// The slot that holds `key`.
    pub fn slot(&self, key: u32) -> Option<u32> {
        self.slot_of.get(&key).copied()
    }

    /// Whether `key` is present.
    pub fn has(&self, key: u32) -> bool {
        self.slot_of.contains_key(&key)
    }

    /// A copy of the stored vector (unit-normalised for cosine). With `originals: none`
    /// this is the quantizer's reconstruction.
    pub fn get(&self, key: u32) -> Option<Vec<f32>> {
        let slot = *self.slot_of.get(&key)? as usize;
        let dim = self.config.dim;
        if let Some(row) = self.store.as_slice().get(slot * dim..(slot + 1) * dim) {
            return Some(row.to_vec());
        }
        let q = self.quant.as_ref()?;
        let cb = q.code_bytes();
        let mut out = vec![0f32; dim];
        q.decode(self.codes.get(slot * cb..(slot + 1) * cb)?, &mut out);
        Some(out)
    }

    /// Prepares a query: checks it and normalises it for cosine.
    pub(crate) fn prepare_query(&self, q: &[f32]) -> Result<Vec<f32>> {
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
        if let Some(quant) = &self.quant {
            return self.search_quantized(quant, q, k, ef);
        }
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
            plan: None,
        }
    }

    /// Quantized search: traverse (or scan) codes for `max(ef, k·oversample)` candidates,
    /// then rescore them with f32 (`rerank`) or return the estimates.
    fn search_quantized(&self, quant: &AnyQuantizer, q: &[f32], k: usize, ef: usize) -> SearchHits {
        let cfg = &self.config.quant;
        let cand = ((k as f32 * cfg.oversample).ceil() as usize).max(ef).max(k);
        let scorer = CodeScorer::new(quant, &self.codes, self.config.dim);
        let query = quiver_hnsw::Scorer::query(&scorer, q);
        let scan = |slots: &mut dyn Iterator<Item = u32>, n: usize| {
            let mut top = TopK::new(n);
            for slot in slots {
                let d = quiver_hnsw::QueryScorer::distance(&query, slot);
                if d < top.worst() {
                    top.push(d, slot);
                }
            }
            top.into_sorted()
        };
        let found: Vec<(f32, u32)> = match &self.graph {
            Some(g) => {
                let (found, _) = g.search(&scorer, q, cand, cand);
                if found.len() < k.min(self.len()) {
                    scan(&mut self.slot_of.values().copied(), cand)
                } else {
                    found
                }
            }
            None => match (&self.fastscan, query.prepared().fastscan_lut()) {
                (Some(fs), Some(lut)) => {
                    // A large scan (e.g. MUVERA's 10k-dimensional FDEs) is split over the
                    // index's pool so one query's latency shrinks; small ones stay inline.
                    let threads = self.pool.current_num_threads();
                    let found = if threads > 1 && fs.len() * fs.m() >= PAR_SCAN_LOOKUPS {
                        self.pool
                            .install(|| fs.scan_topk_par(&lut, cand, 4 * threads))
                    } else {
                        fs.scan_topk(&lut, cand)
                    };
                    found.unwrap_or_else(|_| scan(&mut (0..self.slot_keys.len() as u32), cand))
                }
                _ => scan(&mut (0..self.slot_keys.len() as u32), cand),
            },
        };
        let top = self.finish_quantized(quant, &query, q, found, k).0;
        SearchHits {
            keys: top
                .iter()
                .map(|&(_, s)| self.slot_keys[s as usize])
                .collect(),
            distances: top.iter().map(|&(d, _)| d).collect(),
            plan: None,
        }
    }

    /// The last step of a quantized search: rescore the candidates `found` (estimated
    /// distances, closest first) with the f32 originals when `rerank` is on, or keep the
    /// estimates. Returns the `k` best and how many candidates were rescored.
    pub(crate) fn finish_quantized(
        &self,
        quant: &AnyQuantizer,
        query: &crate::quantized::CodeQuery<'_>,
        q: &[f32],
        found: Vec<(f32, u32)>,
        k: usize,
    ) -> (Vec<(f32, u32)>, usize) {
        let rerank = self.config.quant.rerank && self.has_f32();
        let mut rescored = 0usize;
        let top: Vec<(f32, u32)> = if rerank {
            let f32s = F32Scorer::new(self.store.as_slice(), self.config.dim, self.config.metric);
            let mut top = TopK::new(k);
            // With RaBitQ's bounds, visit candidates by lower bound and stop once no bound can
            // beat the k-th exact distance; otherwise rescore every candidate.
            let bounded = quant.has_bounds();
            let order: Vec<(f32, u32)> = if bounded {
                let mut v: Vec<(f32, u32)> = found
                    .iter()
                    .map(|&(_, s)| (query.estimate(s).lower, s))
                    .collect();
                v.sort_by(|a, b| a.0.total_cmp(&b.0));
                v
            } else {
                found
            };
            // Originals are read at random: keep the next rows' cache lines in flight while
            // the current one is scored.
            const AHEAD: usize = 3;
            let lines = (self.config.dim * 4).div_ceil(64);
            for &(_, s) in order.iter().take(AHEAD) {
                quiver_distance::prefetch(f32s.row(s).as_ptr().cast(), lines);
            }
            for (i, &(lower, s)) in order.iter().enumerate() {
                if bounded && top.len() == k && lower >= top.worst() {
                    break;
                }
                if let Some(&(_, next)) = order.get(i + AHEAD) {
                    quiver_distance::prefetch(f32s.row(next).as_ptr().cast(), lines);
                }
                let d = f32s.distance_to(q, s);
                rescored += 1;
                if d < top.worst() {
                    top.push(d, s);
                }
            }
            top.into_sorted()
        } else {
            found.into_iter().take(k).collect()
        };
        (top, rescored)
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
        let rows = self.run_batch(queries, cancel, |_, q| self.search_prepared(q, k, ef))?;
        Ok(pack_batch(&rows, k))
    }

    /// How many `dim`-long queries `queries` holds.
    pub(crate) fn query_count(&self, queries: &[f32]) -> Result<usize> {
        let dim = self.config.dim;
        if !queries.len().is_multiple_of(dim) {
            return Err(err!(
                DimensionMismatch,
                "the queries hold {} values, not a multiple of dim {dim}",
                queries.len()
            ));
        }
        Ok(queries.len() / dim)
    }

    /// Checks and prepares every query of a batch, then runs `one(i, query)` for each on the
    /// index's pool; `ERR_ABORTED` once `cancel` is set.
    pub(crate) fn run_batch(
        &self,
        queries: &[f32],
        cancel: &AtomicBool,
        one: impl Fn(usize, &[f32]) -> SearchHits + Sync,
    ) -> Result<Vec<SearchHits>> {
        self.query_count(queries)?;
        let prepared: Vec<Vec<f32>> = queries
            .chunks(self.config.dim)
            .enumerate()
            .map(|(i, q)| {
                self.prepare_query(q)
                    .map_err(|e| Error::new(e.code, format!("query {i}: {}", e.message)))
            })
            .collect::<Result<_>>()?;
        let rows: Vec<Option<SearchHits>> = self.pool.install(|| {
            prepared
                .par_iter()
                .enumerate()
                .map(|(i, q)| (!cancel.load(Ordering::Relaxed)).then(|| one(i, q)))
                .collect()
        });
        rows.into_iter()
            .map(|r| r.ok_or_else(|| err!(Aborted, "batch search aborted")))
            .collect()
    }

    /// Heap memory held, by part.
    pub fn memory_usage(&self) -> MemoryUsage {
        let (attributes, payloads) = self.meta.memory_usage();
        MemoryUsage {
            attributes,
            payloads,
            vectors: self.store.heap_bytes(),
            codes: self.codes.capacity(),
            graph: self.graph.as_ref().map_or(0, Graph::memory_usage),
            keys: self.slot_keys.capacity() * 4
                + self.slot_of.capacity() * (std::mem::size_of::<(u32, u32)>() + 1)
                + self.free.capacity() * 4,
        }
    }
}

/// Lays out per-query hits as a batch: row `i` at `i * k`, padded with `u32::MAX` / NaN.
pub(crate) fn pack_batch(rows: &[SearchHits], k: usize) -> BatchHits {
    let n = rows.len();
    let mut out = BatchHits {
        keys: vec![u32::MAX; n * k],
        distances: vec![f32::NAN; n * k],
        counts: vec![0; n],
    };
    for (i, row) in rows.iter().enumerate() {
        let c = row.keys.len().min(k);
        out.keys[i * k..i * k + c].copy_from_slice(&row.keys[..c]);
        out.distances[i * k..i * k + c].copy_from_slice(&row.distances[..c]);
        out.counts[i] = c as u32;
    }
    out
}

/// Inserts `slots` into `graph` with `scorer`: the first one alone if the graph is empty (it
/// becomes the entry point), the rest in parallel on `pool`.
/// Rows from which an add links its nodes on the index's pool; fewer are linked on the
/// writing thread. A service's small writes then take one core and leave the others to its
/// searches, which serve measurably more requests beside them (the service benchmark's mixed
/// phase) than beside writes fanned out over the pool; each small write takes longer. Bulk
/// adds keep the parallel speed-up.
const PARALLEL_LINK_MIN: usize = 256;

fn insert_all<S: quiver_hnsw::Scorer + Sync>(
    graph: &Graph,
    pool: &rayon::ThreadPool,
    scorer: &S,
    slots: &[u32],
) {
    let mut rest = slots;
    if graph.entry().is_none() {
        if let Some((&first, tail)) = rest.split_first() {
            graph.insert(scorer, first);
            rest = tail;
        }
    }
    if rest.len() < PARALLEL_LINK_MIN {
        for &s in rest {
            graph.insert(scorer, s);
        }
        return;
    }
    pool.install(|| {
        rest.par_iter().for_each(|&s| {
            graph.insert(scorer, s);
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::MetaInput;

    /// The growth made while searches go on covers the attribute and payload tables too, and
    /// installing it leaves them room for the write: nothing is left to grow under the
    /// exclusive lock.
    #[test]
    fn growth_makes_room_in_the_metadata_tables() {
        let schema = quiver_filter::Schema::from_json(r#"{"tag":"keyword"}"#).expect("schema");
        let meta = MetaConfig {
            attributes: Some(schema),
            payload: true,
        };
        let mut index = VectorIndex::new_with(Config::new(4), &meta).expect("index");
        let rows = |from: u32, n: u32| {
            let attrs: Vec<String> = (from..from + n)
                .map(|i| format!(r#"{{"tag":"t{i}"}}"#))
                .collect();
            let payloads: Vec<Option<String>> =
                (from..from + n).map(|i| Some(format!("{i}"))).collect();
            (format!("[{}]", attrs.join(",")), payloads)
        };
        let (attrs, payloads) = rows(0, 100);
        let first = MetaInput {
            attributes: Some(&attrs),
            payloads: Some(&payloads),
        };
        let keys: Vec<u32> = (0..100).collect();
        let vectors: Vec<f32> = (0..400).map(|i| (i % 7) as f32).collect();
        index.add_with(&keys, &vectors, false, &first).expect("add");

        let (attrs, payloads) = rows(100, 1000);
        let next = MetaInput {
            attributes: Some(&attrs),
            payloads: Some(&payloads),
        };
        let batch = index.meta().prepare(&next, 1000).expect("batch");
        let growth = index.grown(1000, &batch, 0..1000);
        assert!(!growth.meta.is_empty(), "the tables were short of room");
        let old = index.install_growth(growth);
        assert!(!old.meta.is_empty(), "the old tables are handed back");
        assert!(
            index.meta.room_for(&batch, 0..1000).is_empty(),
            "every table has room for the write now"
        );
    }
}
