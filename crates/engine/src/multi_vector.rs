//! `MultiVectorIndex`: late-interaction (ColBERT-style) retrieval with MUVERA.
//!
//! Each document is a set of token vectors. Its Fixed Dimensional Encoding (FDE, see
//! `quiver_muvera::fde`) goes into an ordinary [`VectorIndex`] with inner product (HNSW or flat,
//! optionally quantized); the tokens go into a [`TokenStore`]. A search encodes the query's
//! tokens as a query FDE, takes `candidates` documents from the FDE index and reranks them by
//! exact MaxSim (Σ over query tokens of the best dot product with any document token) on the
//! index's thread pool.
//!
//! Keys: user keys (u32) are the FDE index's keys; `slot_of` maps them to token-store slots.
//! Removing (or replacing) a document drops its FDE at once and leaves its tokens as garbage
//! that the next save compacts away.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use quiver_distance::Metric;
use quiver_muvera::fde::{FdeEncoder, FdeParams, ENCODER_VERSION};
use quiver_muvera::store::{TokenStorage, TokenStore};
use quiver_muvera::MuveraError;
use rayon::prelude::*;

use crate::config::{Config, MAX_K};
use crate::error::{err, Error, Result};
use crate::meta::{MetaBatch, MetaConfig, MetaInput};
use crate::persist;
use crate::vector_index::{MemoryUsage, VectorIndex};

/// Documents per chunk of an add: cancel and progress are checked between chunks.
pub const ADD_CHUNK: usize = 256;

/// Documents an add must leave in the index for its end to train the FDE quantizer on what is
/// there (up to `trainingSize` of them), so a small collection gets codes too. 4-bit PQ over
/// 4-dimensional FDE sub-spaces learns its 16 centroids from this few (`bench:muvera-defaults`
/// measures codes trained on the first 64 documents against codes trained on all of them).
pub const FDE_TRAINING_MIN: usize = 64;

/// Document tokens the default candidate count reranks: `candidates` defaults to
/// `max(10·k + 50, RERANK_TOKEN_BUDGET / mean tokens per document)`, so collections of short
/// documents (whose FDEs separate them less well) get more candidates for the same rerank work.
pub const RERANK_TOKEN_BUDGET: usize = 24_576;

/// Section kinds of a multi-vector index file (beside the FDE index's own sections).
const MV_META: u32 = persist::FIRST_EXTRA_SECTION;
const MV_ENCODER: u32 = persist::FIRST_EXTRA_SECTION + 1;
const MV_TOKENS: u32 = persist::FIRST_EXTRA_SECTION + 2;
const MV_SLOT_KEYS: u32 = persist::FIRST_EXTRA_SECTION + 3;

/// Maps a MUVERA error to a coded engine error.
pub fn muvera_error(e: MuveraError) -> Error {
    match e {
        MuveraError::InvalidArgument(m) => err!(InvalidArgument, "{m}"),
        MuveraError::EmptyTokens => err!(InvalidArgument, "a token set is empty"),
        MuveraError::RaggedTokens { len, dim } => err!(
            DimensionMismatch,
            "a token array holds {len} values, not a multiple of dim {dim}"
        ),
        MuveraError::NonFinite { token, component } => err!(
            NonFinite,
            "token {token} holds NaN or ±Infinity at component {component}"
        ),
        MuveraError::VersionMismatch { found, expected } => err!(
            VersionMismatch,
            "encoder or token data version {found}, this build reads {expected}"
        ),
        other => err!(CorruptFile, "multi-vector data: {other}"),
    }
}

/// Configuration of a [`MultiVectorIndex`].
#[derive(Clone, Debug)]
pub struct MultiConfig {
    /// FDE encoder parameters (`fde.dim` is the token dimension).
    pub fde: FdeParams,
    /// How document tokens are stored for the rerank.
    pub token_storage: TokenStorage,
    /// The FDE index (its `dim` and `metric` are set from the encoder: output dim, inner product).
    pub index: Config,
}

/// One search's hits, best first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MultiHits {
    /// User keys.
    pub keys: Vec<u32>,
    /// MaxSim scores (or FDE inner products when not reranked); higher is better.
    pub scores: Vec<f32>,
}

/// Time spent in each stage of one search, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchTimings {
    /// Query FDE encoding.
    pub encode_ns: u64,
    /// FDE index search.
    pub search_ns: u64,
    /// Exact MaxSim rerank.
    pub rerank_ns: u64,
}

/// Memory held by a multi-vector index, by part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MultiMemory {
    /// The FDE index (originals, codes, graph, keys).
    pub fde: MemoryUsage,
    /// Stored document tokens.
    pub tokens: usize,
    /// Encoder matrices.
    pub encoder: usize,
}

impl MultiMemory {
    /// Sum of the parts.
    pub fn total(&self) -> usize {
        self.fde.total() + self.tokens + self.encoder
    }
}

/// A batch of documents: row-major tokens and `n + 1` token offsets.
pub struct DocBatch<'a> {
    /// All tokens, `offsets[n] × dim` floats.
    pub data: &'a [f32],
    /// Token offsets: document `i` is tokens `offsets[i]..offsets[i+1]`.
    pub offsets: &'a [u32],
}

impl DocBatch<'_> {
    /// Number of documents.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn doc(&self, i: usize, dim: usize) -> &[f32] {
        let a = self.offsets[i] as usize * dim;
        let b = self.offsets[i + 1] as usize * dim;
        &self.data[a..b]
    }
}

/// Larger storage for a [`MultiVectorIndex`], from [`MultiVectorIndex::grown`].
pub struct MultiGrowth {
    fde: crate::vector_index::Growth,
    tokens: quiver_muvera::store::TokenGrowth,
    slot_of: Option<HashMap<u32, u32>>,
    slot_keys: Option<Vec<u32>>,
    live: Option<Vec<bool>>,
}

/// A multi-vector index (single-owner API; the bindings wrap it in a lock).
pub struct MultiVectorIndex {
    config: MultiConfig,
    encoder: FdeEncoder,
    fde: VectorIndex,
    tokens: TokenStore,
    /// key → token slot.
    slot_of: HashMap<u32, u32>,
    /// token slot → key (meaningful where `live`).
    slot_keys: Vec<u32>,
    /// token slot → whether it holds a live document (every key, `u32::MAX` included, is a
    /// valid key, so garbage slots are marked here rather than by a key value).
    live: Vec<bool>,
}

impl crate::shared::HoldsVectors for MultiVectorIndex {
    fn vectors(&self) -> &VectorIndex {
        &self.fde
    }
    fn vectors_mut(&mut self) -> &mut VectorIndex {
        &mut self.fde
    }
}

impl MultiVectorIndex {
    /// An empty index.
    pub fn new(config: MultiConfig) -> Result<Self> {
        Self::new_with(config, &MetaConfig::default())
    }

    /// An empty index that also stores attributes and/or payloads per document (held by the
    /// FDE index, so a filter applies to the candidate stage, before the rerank).
    pub fn new_with(mut config: MultiConfig, meta: &MetaConfig) -> Result<Self> {
        let encoder = FdeEncoder::new(config.fde.clone()).map_err(muvera_error)?;
        config.index.dim = encoder.output_dim();
        config.index.metric = Metric::Ip;
        let fde = VectorIndex::new_with(config.index, meta)?;
        let tokens = TokenStore::new(config.token_storage, config.fde.dim).map_err(muvera_error)?;
        Ok(MultiVectorIndex {
            config,
            encoder,
            fde,
            tokens,
            slot_of: HashMap::new(),
            slot_keys: Vec::new(),
            live: Vec::new(),
        })
    }

    /// The configuration (with the FDE index's dim and metric filled in).
    pub fn config(&self) -> &MultiConfig {
        &self.config
    }

    /// The encoder.
    pub fn encoder(&self) -> &FdeEncoder {
        &self.encoder
    }

    /// The FDE index.
    pub fn fde_index(&self) -> &VectorIndex {
        &self.fde
    }

    /// Token dimension.
    pub fn dim(&self) -> usize {
        self.config.fde.dim
    }

    /// Live documents.
    pub fn len(&self) -> usize {
        self.slot_of.len()
    }

    /// Whether no document is live.
    pub fn is_empty(&self) -> bool {
        self.slot_of.is_empty()
    }

    /// Whether `key` is present.
    pub fn has(&self, key: u32) -> bool {
        self.slot_of.contains_key(&key)
    }

    /// Checks a batch without changing anything: offsets, token shapes and values, keys.
    pub fn validate_add(&self, keys: &[u32], docs: &DocBatch<'_>, upsert: bool) -> Result<()> {
        let dim = self.dim();
        let n = docs.len();
        if docs.offsets.is_empty() {
            return Err(err!(
                InvalidArgument,
                "offsets must hold n + 1 entries (start with 0)"
            ));
        }
        if n != keys.len() {
            return Err(err!(
                InvalidArgument,
                "{} keys but {n} documents (offsets hold n + 1 entries)",
                keys.len()
            ));
        }
        if docs.offsets[0] != 0 {
            return Err(err!(
                InvalidArgument,
                "offsets[0] must be 0, got {}",
                docs.offsets[0]
            ));
        }
        if !docs.data.len().is_multiple_of(dim) {
            return Err(err!(
                DimensionMismatch,
                "the token data holds {} values, not a multiple of dim {dim}",
                docs.data.len()
            ));
        }
        let total = docs.data.len() / dim;
        for (i, (w, key)) in docs.offsets.windows(2).zip(keys).enumerate() {
            let (a, b) = (w[0], w[1]);
            if b <= a {
                return Err(err!(
                    InvalidArgument,
                    "document {i} (key {key}) is empty or its offsets decrease ({a} → {b}): offsets must strictly increase"
                ));
            }
        }
        if docs.offsets[n] as usize != total {
            return Err(err!(
                InvalidArgument,
                "offsets end at token {} but the data holds {total} tokens",
                docs.offsets[n]
            ));
        }
        if let Some(pos) = docs.data.iter().position(|x| !x.is_finite()) {
            let token = pos / dim;
            let doc = docs.offsets.partition_point(|&o| o as usize <= token) - 1;
            return Err(err!(
                NonFinite,
                "document {doc} (key {}) holds NaN or ±Infinity in token {}",
                keys[doc],
                token - docs.offsets[doc] as usize
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
        Ok(())
    }

    /// Encodes documents `range` of a validated batch as FDEs (row-major), in parallel.
    pub fn encode_documents(
        &self,
        docs: &DocBatch<'_>,
        range: std::ops::Range<usize>,
    ) -> Result<Vec<f32>> {
        let out_dim = self.encoder.output_dim();
        let dim = self.dim();
        let mut out = vec![0f32; range.len() * out_dim];
        let enc = &self.encoder;
        self.fde
            .pool
            .install(|| {
                out.par_chunks_mut(out_dim)
                    .zip(range.into_par_iter())
                    .try_for_each(|(row, i)| enc.encode_document(docs.doc(i, dim), row))
            })
            .map_err(muvera_error)?;
        Ok(out)
    }

    /// Inserts documents `range` of a validated batch whose FDEs are `fdes`:
    /// [`MultiVectorIndex::place_encoded`], [`MultiVectorIndex::link_encoded`], then the FDE
    /// index's `finish_rows`.
    pub fn insert_encoded(
        &mut self,
        keys: &[u32],
        docs: &DocBatch<'_>,
        range: std::ops::Range<usize>,
        fdes: &[f32],
        batch: &MetaBatch,
    ) -> Result<()> {
        let slots = self.place_encoded(keys, docs, range, fdes, batch)?;
        self.link_encoded(&slots);
        self.fde.finish_rows()
    }

    /// Storage with room for documents `range` of a batch, copied while searches go on (see
    /// [`VectorIndex::grown`]); put in place by [`MultiVectorIndex::install_growth`].
    pub fn grown(
        &self,
        docs: &DocBatch<'_>,
        batch: &MetaBatch,
        range: std::ops::Range<usize>,
    ) -> MultiGrowth {
        let tokens = range
            .clone()
            .map(|i| docs.doc(i, self.dim()).len() / self.dim())
            .sum();
        let docs = range.len();
        MultiGrowth {
            fde: self.fde.grown(docs, batch, range),
            tokens: self.tokens.grown(docs, tokens),
            slot_of: quiver_grow::map_with_room(&self.slot_of, docs),
            slot_keys: quiver_grow::vec_with_room(&self.slot_keys, docs),
            live: quiver_grow::vec_with_room(&self.live, docs),
        }
    }

    /// Puts storage from [`MultiVectorIndex::grown`] in place; returns what it replaced.
    pub fn install_growth(&mut self, mut g: MultiGrowth) -> MultiGrowth {
        quiver_grow::swap_in(&mut self.slot_of, &mut g.slot_of);
        quiver_grow::swap_in(&mut self.slot_keys, &mut g.slot_keys);
        quiver_grow::swap_in(&mut self.live, &mut g.live);
        MultiGrowth {
            fde: self.fde.install_growth(g.fde),
            tokens: self.tokens.install(g.tokens),
            ..g
        }
    }

    /// The first step of an insert (needs `&mut`): the documents' FDE rows, tokens and keys.
    /// Returns the FDE slots to link ([`MultiVectorIndex::link_encoded`]).
    pub fn place_encoded(
        &mut self,
        keys: &[u32],
        docs: &DocBatch<'_>,
        range: std::ops::Range<usize>,
        fdes: &[f32],
        batch: &MetaBatch,
    ) -> Result<Vec<u32>> {
        let dim = self.dim();
        let chunk = &keys[range.clone()];
        self.fde.validate_add(chunk, fdes, true)?;
        self.fde.reserve(chunk.len());
        let order = self.fde.insertion_order(chunk.len());
        let slots = self
            .fde
            .place_rows(chunk, fdes, &order, &batch.slice(range.clone()))?;
        for i in range {
            let slot = self.tokens.push(docs.doc(i, dim)).map_err(muvera_error)?;
            let key = keys[i];
            if let Some(old) = self.slot_of.insert(key, slot) {
                self.live[old as usize] = false;
            }
            debug_assert_eq!(slot as usize, self.slot_keys.len());
            self.slot_keys.push(key);
            self.live.push(true);
        }
        Ok(slots)
    }

    /// The second step of an insert (only `&self`: searches run meanwhile): links the placed
    /// FDE rows into the graph.
    pub fn link_encoded(&self, slots: &[u32]) {
        self.fde.link_rows(slots);
    }

    /// Validates and inserts a whole batch (all or nothing on bad input).
    pub fn add(&mut self, keys: &[u32], docs: &DocBatch<'_>, upsert: bool) -> Result<usize> {
        self.validate_add(keys, docs, upsert)?;
        let fdes = self.encode_documents(docs, 0..docs.len())?;
        self.insert_encoded(keys, docs, 0..docs.len(), &fdes, &MetaBatch::default())?;
        if self.fde.training_due_from(FDE_TRAINING_MIN) {
            self.fde.train(None)?;
        }
        Ok(keys.len())
    }

    /// Removes keys; unknown keys are ignored. Returns how many were removed.
    pub fn remove(&mut self, keys: &[u32]) -> Result<usize> {
        let removed = self.remove_keys(keys)?;
        self.fde.finish_rows()?;
        Ok(removed)
    }

    /// [`MultiVectorIndex::remove`] without finishing the FDE index (see
    /// [`VectorIndex::remove_keys`]).
    pub fn remove_keys(&mut self, keys: &[u32]) -> Result<usize> {
        let present: Vec<u32> = keys
            .iter()
            .copied()
            .filter(|k| self.slot_of.contains_key(k))
            .collect();
        self.fde.remove_keys(&present)?;
        for k in &present {
            if let Some(slot) = self.slot_of.remove(k) {
                self.live[slot as usize] = false;
            }
        }
        Ok(present.len())
    }

    fn check_query(&self, query: &[f32]) -> Result<()> {
        let dim = self.dim();
        if query.is_empty() {
            return Err(err!(InvalidArgument, "the query has no tokens"));
        }
        if !query.len().is_multiple_of(dim) {
            return Err(err!(
                DimensionMismatch,
                "the query holds {} values, not a multiple of dim {dim}",
                query.len()
            ));
        }
        if let Some(pos) = query.iter().position(|x| !x.is_finite()) {
            return Err(err!(
                NonFinite,
                "query token {} holds NaN or ±Infinity",
                pos / dim
            ));
        }
        Ok(())
    }

    /// MUVERA search: `candidates` documents by FDE inner product, then (with `rerank`) exact
    /// MaxSim over their tokens. Returns the best `k`.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        candidates: Option<usize>,
        ef: Option<usize>,
        rerank: bool,
    ) -> Result<(MultiHits, SearchTimings)> {
        self.search_filtered(query, k, candidates, ef, rerank, None)
    }

    /// [`MultiVectorIndex::search`] among the documents matching `filter` (JSON form): the
    /// FDE stage takes its candidates from the matching documents only (the planner of
    /// `VectorIndex` picks the path), then the rerank orders them.
    pub fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        candidates: Option<usize>,
        ef: Option<usize>,
        rerank: bool,
        filter: Option<&str>,
    ) -> Result<(MultiHits, SearchTimings)> {
        let filter = filter.map(|j| self.fde.compile_filter(j)).transpose()?;
        if k == 0 || k > MAX_K {
            return Err(err!(
                InvalidArgument,
                "k must be an integer in 1..={MAX_K}, got {k}"
            ));
        }
        self.check_query(query)?;
        let cands = candidates
            .unwrap_or_else(|| self.default_candidates(k))
            .max(k);
        if cands > MAX_K {
            return Err(err!(
                InvalidArgument,
                "candidates must be at most {MAX_K}, got {cands}"
            ));
        }
        let mut t = SearchTimings::default();
        if rerank && filter.is_none() && cands >= self.len() {
            // Every document would be reranked: score them all exactly, without the FDE stage.
            let t0 = std::time::Instant::now();
            let hits = self.search_exhaustive(query, k, &AtomicBool::new(false))?;
            t.rerank_ns = t0.elapsed().as_nanos() as u64;
            return Ok((hits, t));
        }
        let t0 = std::time::Instant::now();
        let mut qfde = vec![0f32; self.encoder.output_dim()];
        self.encoder
            .encode_query(query, &mut qfde)
            .map_err(muvera_error)?;
        t.encode_ns = t0.elapsed().as_nanos() as u64;
        let t1 = std::time::Instant::now();
        let ef = ef.unwrap_or(cands).max(cands);
        let ef = Some(ef.min(crate::config::MAX_EF));
        let found = match &filter {
            None => self.fde.search(&qfde, cands, ef)?,
            Some(f) => self.fde.search_with(
                &qfde,
                &crate::filtered::SearchRequest {
                    k: cands,
                    ef,
                    filter: Some(f),
                    ..Default::default()
                },
            )?,
        };
        t.search_ns = t1.elapsed().as_nanos() as u64;
        if !rerank {
            return Ok((
                MultiHits {
                    scores: found.distances.iter().take(k).map(|d| 1.0 - d).collect(),
                    keys: found.keys.into_iter().take(k).collect(),
                },
                t,
            ));
        }
        let t2 = std::time::Instant::now();
        let mut slots: Vec<u32> = found
            .keys
            .iter()
            .filter_map(|k| self.slot_of.get(k).copied())
            .collect();
        // Slot order is arena order: neighbouring candidates' tokens are read front to back.
        slots.sort_unstable();
        let scored: Vec<(u32, f32)> = self
            .fde
            .pool
            .install(|| self.tokens.maxsim_many(query, &slots))
            .map_err(muvera_error)?;
        let hits = self.top_by_score(scored, k);
        t.rerank_ns = t2.elapsed().as_nanos() as u64;
        Ok((hits, t))
    }

    /// The candidate count of a search that names none: `10·k + 50`, or more for short
    /// documents (see [`RERANK_TOKEN_BUDGET`]), at most `MAX_K`.
    pub fn default_candidates(&self, k: usize) -> usize {
        let docs = self.tokens.len().max(1) as f64;
        let mean_tokens = (self.tokens.total_tokens() as f64 / docs).max(1.0);
        let by_budget = (RERANK_TOKEN_BUDGET as f64 / mean_tokens).ceil() as usize;
        (10 * k + 50).max(by_budget).min(MAX_K)
    }

    /// Best `k` of `(slot, score)`: score descending, ties by key ascending.
    fn top_by_score(&self, mut scored: Vec<(u32, f32)>, k: usize) -> MultiHits {
        let keys = &self.slot_keys;
        scored.sort_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| keys[a.0 as usize].cmp(&keys[b.0 as usize]))
        });
        scored.truncate(k);
        MultiHits {
            keys: scored.iter().map(|&(s, _)| keys[s as usize]).collect(),
            scores: scored.iter().map(|&(_, v)| v).collect(),
        }
    }

    /// Exact MaxSim against every live document: the ground truth for MUVERA's recall.
    pub fn search_exhaustive(
        &self,
        query: &[f32],
        k: usize,
        cancel: &AtomicBool,
    ) -> Result<MultiHits> {
        if k == 0 || k > MAX_K {
            return Err(err!(
                InvalidArgument,
                "k must be an integer in 1..={MAX_K}, got {k}"
            ));
        }
        self.check_query(query)?;
        let live = &self.live;
        let top = self
            .fde
            .pool
            .install(|| {
                self.tokens.exhaustive_top_k(query, k, |s| {
                    live[s as usize] && !cancel.load(Ordering::Relaxed)
                })
            })
            .map_err(muvera_error)?;
        if cancel.load(Ordering::Relaxed) {
            return Err(err!(Aborted, "exhaustive search aborted"));
        }
        Ok(self.top_by_score(top, k))
    }

    /// Exact MaxSim of `query` against the documents `keys` (NaN for keys that are absent).
    pub fn score(&self, query: &[f32], keys: &[u32]) -> Result<Vec<f32>> {
        self.check_query(query)?;
        self.fde.pool.install(|| {
            keys.par_iter()
                .map(|k| match self.slot_of.get(k) {
                    Some(&s) => self.tokens.maxsim(query, s).map_err(muvera_error),
                    None => Ok(f32::NAN),
                })
                .collect()
        })
    }

    /// Memory by part.
    pub fn memory_usage(&self) -> MultiMemory {
        MultiMemory {
            fde: self.fde.memory_usage(),
            tokens: self.tokens.bytes(),
            encoder: self.encoder.params_bytes().len(),
        }
    }

    /// The tokens of `key` (decoded to f32), if present.
    pub fn tokens_of(&self, key: u32) -> Option<Vec<f32>> {
        let slot = *self.slot_of.get(&key)?;
        let mut out = Vec::new();
        self.tokens.tokens_into(slot, &mut out).ok()?;
        Some(out)
    }

    /// Writes the index to one file, atomically (the FDE index's sections plus encoder, tokens
    /// and slot keys). Garbage token slots are compacted away in the written copy.
    pub fn save(&self, path: &Path) -> Result<()> {
        let (compact, _) = self.tokens.compact(&self.live).map_err(muvera_error)?;
        let live_keys: Vec<u32> = self
            .slot_keys
            .iter()
            .zip(&self.live)
            .filter_map(|(&k, &live)| live.then_some(k))
            .collect();
        let mut meta = Vec::with_capacity(16);
        meta.extend_from_slice(&ENCODER_VERSION.to_le_bytes());
        meta.extend_from_slice(&(self.dim() as u32).to_le_bytes());
        let mut tokens = Vec::new();
        compact.to_bytes(&mut tokens);
        let mut slot_keys = Vec::with_capacity(live_keys.len() * 4);
        for k in &live_keys {
            slot_keys.extend_from_slice(&k.to_le_bytes());
        }
        persist::save_with(
            &self.fde,
            path,
            vec![
                (MV_META, meta),
                (MV_ENCODER, self.encoder.params_bytes()),
                (MV_TOKENS, tokens),
                (MV_SLOT_KEYS, slot_keys),
            ],
        )
    }

    /// Loads a file written by [`MultiVectorIndex::save`]. With `expected`, the stored encoder
    /// must have exactly these parameters (`ERR_VERSION_MISMATCH` otherwise).
    pub fn load(path: &Path, mmap: bool, expected: Option<&FdeParams>) -> Result<Self> {
        Self::load_threads(path, mmap, expected, None)
    }

    /// [`MultiVectorIndex::load`] with the FDE index's pool size (default: this machine's
    /// cores; never the file's).
    pub fn load_threads(
        path: &Path,
        mmap: bool,
        expected: Option<&FdeParams>,
        threads: Option<usize>,
    ) -> Result<Self> {
        let (fde, extras) = persist::load_with(path, mmap, threads)?;
        let find = |kind: u32| {
            extras
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, b)| b.as_slice())
                .ok_or_else(|| {
                    err!(
                        CorruptFile,
                        "not a multi-vector index file (section {kind} is missing)"
                    )
                })
        };
        let meta = find(MV_META)?;
        if meta.len() != 8 {
            return Err(err!(CorruptFile, "bad multi-vector META section"));
        }
        let version = u32::from_le_bytes([meta[0], meta[1], meta[2], meta[3]]);
        if version != ENCODER_VERSION {
            return Err(err!(
                VersionMismatch,
                "the file's FDE encoder is version {version}, this build implements version {ENCODER_VERSION}"
            ));
        }
        // The encoder's parameters are checked against the rest of the file before its
        // matrices are allocated.
        let encoder_bytes = find(MV_ENCODER)?;
        let params = FdeEncoder::read_params_header(encoder_bytes).map_err(muvera_error)?;
        if let Some(want) = expected {
            if *want != params {
                return Err(err!(
                    VersionMismatch,
                    "the file's FDE encoder ({:?}) differs from the expected one ({:?}): its FDEs are not comparable",
                    params,
                    want
                ));
            }
        }
        let fde_dim = fde.config().dim;
        if params.output_dim() != fde_dim {
            return Err(err!(
                CorruptFile,
                "the FDE index dimension disagrees with the encoder"
            ));
        }
        let tokens = TokenStore::from_bytes(find(MV_TOKENS)?).map_err(muvera_error)?;
        if tokens.dim() != params.dim {
            return Err(err!(
                CorruptFile,
                "the token dimension disagrees with the encoder"
            ));
        }
        let bound = max_encoder_entries(fde_dim, params.dim);
        if params.matrix_entries() > bound {
            return Err(err!(
                CorruptFile,
                "the FDE encoder's matrices ({} entries) exceed what FDEs of {fde_dim} dimensions from {}-dimensional tokens use (at most {bound})",
                params.matrix_entries(),
                params.dim
            ));
        }
        let encoder = FdeEncoder::read_params(encoder_bytes).map_err(muvera_error)?;
        let sk = find(MV_SLOT_KEYS)?;
        if sk.len() != tokens.len() * 4 {
            return Err(err!(CorruptFile, "token slots disagree with the key table"));
        }
        let slot_keys: Vec<u32> = sk
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let mut slot_of = HashMap::with_capacity(slot_keys.len());
        for (s, &k) in slot_keys.iter().enumerate() {
            if !fde.has(k) || slot_of.insert(k, s as u32).is_some() {
                return Err(err!(
                    CorruptFile,
                    "token slots disagree with the FDE index keys"
                ));
            }
        }
        if slot_of.len() != fde.len() {
            return Err(err!(
                CorruptFile,
                "token slots disagree with the FDE index keys"
            ));
        }
        let config = MultiConfig {
            fde: encoder.params().clone(),
            token_storage: tokens.kind(),
            index: *fde.config(),
        };
        Ok(MultiVectorIndex {
            config,
            encoder,
            fde,
            tokens,
            slot_of,
            live: vec![true; slot_keys.len()],
            slot_keys,
        })
    }
}

/// The most matrix entries (hyperplanes, projections, Count-Sketch table) a stored encoder
/// may hold for FDEs of `fde_dim` dimensions from `token_dim`-dimensional tokens. Without a
/// final projection an encoder holds at most `2·fde_dim·token_dim`; the bound leaves room for
/// a Count-Sketch compressing the concatenation up to 32·2^k_sim-fold.
fn max_encoder_entries(fde_dim: usize, token_dim: usize) -> usize {
    fde_dim
        .saturating_mul(token_dim.saturating_add(1))
        .saturating_mul(64)
}

/// A [`MultiVectorIndex`] shared between threads: one writer at a time, searches in parallel,
/// and adds split into chunks whose FDEs are encoded without holding the write lock.
pub struct SharedMultiIndex {
    pub(crate) writes: std::sync::Arc<crate::writes::WriteQueue>,
    writer: parking_lot::Mutex<()>,
    inner: parking_lot::RwLock<MultiVectorIndex>,
}

impl SharedMultiIndex {
    /// Wraps an index.
    pub fn new(index: MultiVectorIndex) -> Self {
        SharedMultiIndex {
            writes: crate::writes::WriteQueue::new(),
            writer: parking_lot::Mutex::new(()),
            inner: parking_lot::RwLock::new(index),
        }
    }

    /// Read access for searches and accessors.
    pub fn read(&self) -> parking_lot::RwLockReadGuard<'_, MultiVectorIndex> {
        self.inner.read()
    }

    /// Adds (or upserts) a batch: validated as a whole first (bad input inserts nothing), then
    /// inserted in chunks of [`ADD_CHUNK`] documents; `cancel` is checked and
    /// `progress(done, total)` called between chunks.
    pub fn add(
        &self,
        keys: &[u32],
        docs: &DocBatch<'_>,
        upsert: bool,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<crate::AddOutcome> {
        self.add_with(keys, docs, upsert, &MetaInput::default(), cancel, progress)
    }

    /// [`SharedMultiIndex::add`] with attributes and payloads for the documents (validated
    /// with them, before anything is inserted).
    pub fn add_with(
        &self,
        keys: &[u32],
        docs: &DocBatch<'_>,
        upsert: bool,
        meta: &MetaInput<'_>,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<crate::AddOutcome> {
        let _writer = self.writer.lock();
        let batch = {
            let index = self.inner.read();
            index.validate_add(keys, docs, upsert)?;
            index.fde.meta().prepare(meta, keys.len())?
        };
        let total = keys.len();
        let mut done = 0;
        while done < total {
            if cancel.load(Ordering::Relaxed) {
                return Ok(crate::AddOutcome {
                    inserted: done,
                    aborted: true,
                });
            }
            let range = done..(done + ADD_CHUNK).min(total);
            // As for a VectorIndex: growth copied and the graph linked under the read lock;
            // the write lock places the rows and swaps buffers.
            let (fdes, growth) = {
                let index = self.inner.read();
                let fdes = index.encode_documents(docs, range.clone())?;
                (fdes, index.grown(docs, &batch, range.clone()))
            };
            let old = self.inner.write().install_growth(growth);
            drop(old);
            let slots =
                self.inner
                    .write()
                    .place_encoded(keys, docs, range.clone(), &fdes, &batch)?;
            self.inner.read().link_encoded(&slots);
            // The last chunk trains the FDE codes on what is there, if enough documents are.
            let train_from = if range.end == total {
                FDE_TRAINING_MIN
            } else {
                usize::MAX
            };
            crate::shared::settle_training_from(&self.inner, train_from)?;
            done = range.end;
            progress(done, total);
        }
        Ok(crate::AddOutcome {
            inserted: done,
            aborted: false,
        })
    }

    /// Removes keys; returns how many were present. A consolidation it triggers re-links the
    /// FDE graph under the read lock.
    pub fn remove(&self, keys: &[u32]) -> Result<usize> {
        let _writer = self.writer.lock();
        let removed = self.inner.write().remove_keys(keys)?;
        crate::shared::settle(&self.inner)?;
        Ok(removed)
    }

    /// Saves atomically; searches continue meanwhile, writers wait.
    pub fn save(&self, path: &Path) -> Result<()> {
        let _writer = self.writer.lock();
        self.inner.read().save(path)
    }
}
