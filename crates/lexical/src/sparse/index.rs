//! [`SparseIndex`]: documents, the forward arenas, the quantised posting lists, deletions.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::search::{self, Query};
use super::COMPACT_FRACTION_PERCENT;
use super::{canonical, SparseBatch, SparseConfig, SparseStrategy, SparseVec, BLOCK};
use crate::error::{invalid, LexicalError, Result};
use quiver_grow::Segmented;

/// Most document slots an index can have (slot `u32::MAX` is reserved as "end").
pub const MAX_SLOTS: usize = u32::MAX as usize - 1;

/// Approximate heap bytes used by a [`SparseIndex`], by part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SparseMemory {
    /// The forward index: offsets, term ids and weights.
    pub forward: usize,
    /// The posting lists (slots, impacts, block metadata) and the term map.
    pub postings: usize,
    /// Keys, the key map and the deleted bitset.
    pub documents: usize,
}

impl SparseMemory {
    /// Sum of the parts.
    pub fn total(&self) -> usize {
        self.forward + self.postings + self.documents
    }
}

/// Vectors validated per [`PREPARE_CHUNK`] between two progress reports.
pub const PREPARE_CHUNK: usize = 1024;

/// A batch validated and canonicalised by [`SparseIndex::prepare_add`], applied by
/// [`SparseIndex::apply`].
#[derive(Debug)]
pub struct PreparedSparse {
    keys: Vec<u32>,
    terms: Vec<u32>,
    vals: Vec<f32>,
    offs: Vec<usize>,
    upsert: bool,
}

/// Grown copies of a [`SparseIndex`]'s per-document and term tables, from
/// [`SparseIndex::room_for`]; after [`SparseIndex::make_room`], the tables they replaced.
#[derive(Debug, Default)]
pub struct SparseRoom {
    keys: Option<Vec<u32>>,
    key_slot: Option<HashMap<u32, u32>>,
    fwd_off: Option<Vec<u64>>,
    fwd_terms: Option<Vec<u32>>,
    fwd_vals: Option<Vec<f32>>,
    deleted: Option<Vec<u64>>,
    term_list: Option<HashMap<u32, u32>>,
}

/// One term's postings: strictly increasing slots with `u8` impacts, in blocks of
/// [`BLOCK`].
#[derive(Clone, Debug, Default)]
pub(crate) struct TermList {
    /// The term id.
    pub term: u32,
    /// Largest weight the term had in any stored document (deleted ones included).
    pub max_w: f32,
    /// Quantisation step: `impact · scale ≥ weight` for every posting.
    pub scale: f32,
    /// Slots, strictly increasing.
    pub docs: Vec<u32>,
    /// Quantised weights, one per slot, each ≥ 1.
    pub impacts: Vec<u8>,
    /// Per block: its largest impact.
    pub block_max: Vec<u8>,
    /// Per block: its last slot.
    pub block_last: Vec<u32>,
    /// Largest impact of the list.
    pub max_impact: u8,
    /// The list's *head*: its postings with an impact of at least [`HEAD_IMPACT`] (weights of
    /// at least ~20 % of the term's largest), slots increasing; what the approximate strategy
    /// reads.
    pub head_docs: Vec<u32>,
    /// Impacts of the head postings.
    pub head_impacts: Vec<u8>,
}

/// Smallest impact kept in a list's head (out of 255: a fifth of the term's largest weight).
pub(crate) const HEAD_IMPACT: u8 = 51;

/// The scale for a term whose largest weight is `max_w` (> 0): the smallest `f32` with
/// `255 · scale ≥ max_w` (checked in `f64`) near `max_w / 255`.
pub(crate) fn scale_for(max_w: f32) -> f32 {
    let mut s = (max_w as f64 / 255.0) as f32;
    while (s as f64) * 255.0 < max_w as f64 {
        s = s.next_up();
    }
    s
}

/// The impact of weight `w` (> 0, ≤ `255 · scale`): the smallest `q ≥ 1` with
/// `q · scale ≥ w` (in `f64`, where the product is exact).
#[inline]
pub(crate) fn quantize(w: f32, scale: f32) -> u8 {
    let (w, s) = (w as f64, scale as f64);
    let mut q = (w / s).ceil().clamp(1.0, 255.0) as u32;
    while q > 1 && ((q - 1) as f64) * s >= w {
        q -= 1;
    }
    while q < 255 && (q as f64) * s < w {
        q += 1;
    }
    q as u8
}

impl TermList {
    fn new(term: u32) -> Self {
        TermList {
            term,
            ..TermList::default()
        }
    }

    /// Recomputes the block maxima and last slots from block `from` on.
    fn rebuild_blocks(&mut self, from: usize) {
        self.block_max.truncate(from);
        self.block_last.truncate(from);
        for b in from..self.docs.len().div_ceil(BLOCK) {
            let end = ((b + 1) * BLOCK).min(self.docs.len());
            let imp = &self.impacts[b * BLOCK..end];
            self.block_max.push(imp.iter().copied().max().unwrap_or(0));
            self.block_last.push(self.docs[end - 1]);
        }
        self.max_impact = self.block_max.iter().copied().max().unwrap_or(0);
    }

    /// Recomputes the head from posting `from` on (postings before it are already there).
    fn rebuild_head(&mut self, from: usize) {
        if from == 0 {
            self.head_docs.clear();
            self.head_impacts.clear();
        }
        for (&d, &imp) in self.docs[from..].iter().zip(&self.impacts[from..]) {
            if imp >= HEAD_IMPACT {
                self.head_docs.push(d);
                self.head_impacts.push(imp);
            }
        }
    }

    fn memory_usage(&self) -> usize {
        self.head_docs.capacity() * 4
            + self.head_impacts.capacity()
            + self.docs.capacity() * 4
            + self.impacts.capacity()
            + self.block_max.capacity()
            + self.block_last.capacity() * 4
            + std::mem::size_of::<TermList>()
    }
}

/// An exact top-k dot-product index over sparse vectors with `u32` keys. See
/// [`crate::sparse`] for the input rules, the storage and the guarantees.
#[derive(Clone, Debug)]
pub struct SparseIndex {
    pub(crate) cfg: SparseConfig,
    /// Slot → key.
    pub(crate) keys: Vec<u32>,
    /// Key → live slot.
    pub(crate) key_slot: HashMap<u32, u32>,
    /// Slot `s` owns `fwd_terms[fwd_off[s]..fwd_off[s + 1]]` (and the same range of
    /// `fwd_vals`).
    pub(crate) fwd_off: Vec<u64>,
    pub(crate) fwd_terms: Vec<u32>,
    pub(crate) fwd_vals: Vec<f32>,
    /// Deleted-slot bitset.
    pub(crate) deleted: Vec<u64>,
    pub(crate) n_deleted: usize,
    /// Term id → position in `lists` (used when a query is set up, never while scoring).
    pub(crate) term_list: HashMap<u32, u32>,
    /// Segmented, so that a new term moves no other term's list header.
    pub(crate) lists: Segmented<TermList>,
}

impl Default for SparseIndex {
    fn default() -> Self {
        SparseIndex::new(SparseConfig::default())
    }
}

impl SparseIndex {
    /// An empty index.
    pub fn new(cfg: SparseConfig) -> Self {
        SparseIndex {
            cfg,
            keys: Vec::new(),
            key_slot: HashMap::new(),
            fwd_off: vec![0],
            fwd_terms: Vec::new(),
            fwd_vals: Vec::new(),
            deleted: Vec::new(),
            n_deleted: 0,
            term_list: HashMap::new(),
            lists: Segmented::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> SparseConfig {
        self.cfg
    }

    /// Number of live documents (empty ones included).
    pub fn len(&self) -> usize {
        self.key_slot.len()
    }

    /// Whether there is no live document.
    pub fn is_empty(&self) -> bool {
        self.key_slot.is_empty()
    }

    /// Whether `key` is a live document.
    pub fn contains(&self, key: u32) -> bool {
        self.key_slot.contains_key(&key)
    }

    /// Live keys, in slot order.
    pub fn keys(&self) -> Vec<u32> {
        (0..self.keys.len())
            .filter(|&s| !self.is_deleted(s as u32))
            .map(|s| self.keys[s])
            .collect()
    }

    /// The stored vector of `key`: term ids sorted, zero weights dropped, weights exact.
    pub fn get(&self, key: u32) -> Option<(Vec<u32>, Vec<f32>)> {
        let &s = self.key_slot.get(&key)?;
        let (t, v) = self.doc(s);
        Some((t.to_vec(), v.to_vec()))
    }

    /// Number of distinct terms with postings (including postings of deleted documents,
    /// until compaction).
    pub fn num_terms(&self) -> usize {
        self.lists.len()
    }

    /// Approximate heap bytes used, by part.
    pub fn memory_usage(&self) -> SparseMemory {
        SparseMemory {
            forward: self.fwd_off.capacity() * 8
                + self.fwd_terms.capacity() * 4
                + self.fwd_vals.capacity() * 4,
            postings: self.lists.iter().map(TermList::memory_usage).sum::<usize>()
                + self.term_list.capacity() * 12,
            documents: self.keys.capacity() * 4
                + self.key_slot.capacity() * 12
                + self.deleted.capacity() * 8,
        }
    }

    /// Forward entry of slot `s`.
    #[inline]
    pub(crate) fn doc(&self, s: u32) -> (&[u32], &[f32]) {
        let s = s as usize;
        match (self.fwd_off.get(s), self.fwd_off.get(s + 1)) {
            (Some(&a), Some(&b)) => {
                let r = a as usize..b as usize;
                (&self.fwd_terms[r.clone()], &self.fwd_vals[r])
            }
            _ => (&[], &[]),
        }
    }

    /// Whether slot `s` cannot be a result: deleted, or its key rejected by the filter.
    #[inline]
    pub(crate) fn skip(&self, s: u32, accept: search::Accept<'_>) -> bool {
        self.is_deleted(s)
            || accept.is_some_and(|f| !self.keys.get(s as usize).is_some_and(|&k| f(k)))
    }

    #[inline]
    pub(crate) fn is_deleted(&self, s: u32) -> bool {
        self.deleted
            .get(s as usize / 64)
            .is_some_and(|w| w >> (s % 64) & 1 == 1)
    }

    /// Adds documents. `keys[i]` gets vector `i` of `vectors`. With `upsert`, an existing key
    /// is replaced (its old document removed); without, an existing key is an error.
    /// All-or-nothing: everything is validated before anything changes (see
    /// [`crate::sparse`] for the rules). Equivalent to [`SparseIndex::prepare_add`] then
    /// [`SparseIndex::apply`].
    pub fn add(&mut self, keys: &[u32], vectors: SparseBatch<'_>, upsert: bool) -> Result<()> {
        let batch = self.prepare_add(keys, vectors, upsert, &|_, _| true)?;
        self.apply(batch)
    }

    /// Validates a batch and puts its vectors in canonical form, needing only `&self` (so a
    /// caller can run it outside a write lock). `progress(done, total)` is called every
    /// [`PREPARE_CHUNK`] vectors; returning `false` stops with [`LexicalError::Cancelled`].
    pub fn prepare_add(
        &self,
        keys: &[u32],
        vectors: SparseBatch<'_>,
        upsert: bool,
        progress: &dyn Fn(usize, usize) -> bool,
    ) -> Result<PreparedSparse> {
        let ip = vectors.indptr;
        if ip.len() != keys.len() + 1 {
            return Err(invalid(format!(
                "indptr must have one entry per key plus one ({} keys, indptr length {})",
                keys.len(),
                ip.len()
            )));
        }
        vectors.check()?;
        let mut seen = HashSet::with_capacity(keys.len());
        for &k in keys {
            if !seen.insert(k) {
                return Err(LexicalError::DuplicateKey(k));
            }
            if !upsert && self.key_slot.contains_key(&k) {
                return Err(invalid(format!(
                    "key {k} is already in the sparse index (use upsert to replace it)"
                )));
            }
        }
        // Canonical forms, validated before any change.
        let mut terms = Vec::with_capacity(vectors.indices.len());
        let mut vals = Vec::with_capacity(vectors.indices.len());
        let mut offs = Vec::with_capacity(keys.len() + 1);
        offs.push(0usize);
        let mut scratch = Vec::new();
        for i in 0..keys.len() {
            if i % PREPARE_CHUNK == 0 && i > 0 && !progress(i, keys.len()) {
                return Err(LexicalError::Cancelled);
            }
            let r = ip[i] as usize..ip[i + 1] as usize;
            canonical(
                &|| format!("vector {i} (key {})", keys[i]),
                &vectors.indices[r.clone()],
                &vectors.values[r],
                self.cfg.vocab_size,
                &mut scratch,
                &mut terms,
                &mut vals,
            )?;
            offs.push(terms.len());
        }
        if !progress(keys.len(), keys.len()) {
            return Err(LexicalError::Cancelled);
        }
        Ok(PreparedSparse {
            keys: keys.to_vec(),
            terms,
            vals,
            offs,
            upsert,
        })
    }

    /// Applies a batch from [`SparseIndex::prepare_add`]. Without `upsert`, a key that became
    /// present since is an error (nothing changes).
    pub fn apply(&mut self, batch: PreparedSparse) -> Result<()> {
        self.apply_batch(batch)?;
        self.maybe_compact();
        Ok(())
    }

    /// Room in the tables [`Self::apply_batch`] appends to, for `batch`: copies of the tables
    /// that lack the room, with capacity at least doubled (see `quiver_grow`). Made while
    /// searches go on; [`Self::make_room`] puts them in place, so that the exclusive apply step
    /// copies no per-document table. The list headers are segmented and never move; a
    /// posting list still grows in place, which copies only that list.
    pub fn room_for(&self, batch: &PreparedSparse) -> SparseRoom {
        let docs = batch.keys.len();
        let slots = self.keys.len().saturating_add(docs);
        let new_terms: HashSet<u32> = batch
            .terms
            .iter()
            .copied()
            .filter(|t| !self.term_list.contains_key(t))
            .collect();
        let deleted_words = slots.div_ceil(64).saturating_sub(self.deleted.len());
        SparseRoom {
            keys: quiver_grow::vec_with_room(&self.keys, docs),
            key_slot: quiver_grow::map_with_room(&self.key_slot, docs),
            fwd_off: quiver_grow::vec_with_room(&self.fwd_off, docs),
            fwd_terms: quiver_grow::vec_with_room(&self.fwd_terms, batch.terms.len()),
            fwd_vals: quiver_grow::vec_with_room(&self.fwd_vals, batch.vals.len()),
            deleted: quiver_grow::vec_with_room(&self.deleted, deleted_words),
            term_list: quiver_grow::map_with_room(&self.term_list, new_terms.len()),
        }
    }

    /// Puts the tables of a [`SparseRoom`] made by [`Self::room_for`] in place, leaving the old
    /// tables in `room` for the caller to drop once it no longer blocks searches. No other
    /// write may run between the two calls (the copies hold the tables as `room_for` saw
    /// them); a table that has grown since keeps its place.
    pub fn make_room(&mut self, room: &mut SparseRoom) {
        quiver_grow::swap_in(&mut self.keys, &mut room.keys);
        quiver_grow::swap_in(&mut self.key_slot, &mut room.key_slot);
        quiver_grow::swap_in(&mut self.fwd_off, &mut room.fwd_off);
        quiver_grow::swap_in(&mut self.fwd_terms, &mut room.fwd_terms);
        quiver_grow::swap_in(&mut self.fwd_vals, &mut room.fwd_vals);
        quiver_grow::swap_in(&mut self.deleted, &mut room.deleted);
        quiver_grow::swap_in(&mut self.term_list, &mut room.term_list);
    }

    /// [`Self::apply`] without the compaction it may trigger: a caller that shares the index
    /// compacts it with [`Self::compaction_due`] and [`Self::compacted`] (computed while
    /// searches go on) instead.
    pub fn apply_batch(&mut self, batch: PreparedSparse) -> Result<()> {
        let PreparedSparse {
            keys,
            terms,
            vals,
            offs,
            upsert,
        } = batch;
        if !upsert {
            if let Some(k) = keys.iter().find(|k| self.key_slot.contains_key(k)) {
                return Err(invalid(format!(
                    "key {k} is already in the sparse index (use upsert to replace it)"
                )));
            }
        }
        let replaced = keys
            .iter()
            .filter(|k| self.key_slot.contains_key(k))
            .count();
        if self.keys.len() + keys.len() > MAX_SLOTS {
            self.compact();
            if self.keys.len() - replaced + keys.len() > MAX_SLOTS {
                return Err(invalid("the sparse index would exceed its document limit"));
            }
        }
        for k in &keys {
            if let Some(s) = self.key_slot.remove(k) {
                self.delete_slot(s);
            }
        }
        let first = self.keys.len() as u32;
        let base = self.fwd_terms.len() as u64;
        self.fwd_terms.extend_from_slice(&terms);
        self.fwd_vals.extend_from_slice(&vals);
        for (i, &k) in keys.iter().enumerate() {
            let s = first + i as u32;
            self.keys.push(k);
            self.key_slot.insert(k, s);
            self.fwd_off.push(base + offs[i + 1] as u64);
        }
        self.deleted.resize(self.keys.len().div_ceil(64), 0);
        self.index_slots(first);
        Ok(())
    }

    /// Rebuilds every posting list from the forward index (after load).
    pub(crate) fn rebuild_lists(&mut self) {
        self.lists.clear();
        self.term_list.clear();
        self.index_slots(0);
    }

    /// Adds the postings of slots `first..` (already in the forward arenas) to the lists.
    fn index_slots(&mut self, first: u32) {
        // (list, slot, weight), grouped by list with slots increasing.
        let mut new: Vec<(u32, u32, f32)> = Vec::new();
        for s in first..self.keys.len() as u32 {
            let (a, b) = (
                self.fwd_off[s as usize] as usize,
                self.fwd_off[s as usize + 1] as usize,
            );
            for p in a..b {
                let t = self.fwd_terms[p];
                let next = self.lists.len() as u32;
                let l = *self.term_list.entry(t).or_insert(next);
                if l == next {
                    self.lists.push(TermList::new(t));
                }
                new.push((l, s, self.fwd_vals[p]));
            }
        }
        new.sort_by_key(|e| e.0);
        let mut i = 0;
        while i < new.len() {
            let l = new[i].0;
            let mut j = i;
            let mut max_w = 0f32;
            while j < new.len() && new[j].0 == l {
                max_w = max_w.max(new[j].2);
                j += 1;
            }
            self.append_group(l as usize, &new[i..j], max_w);
            i = j;
        }
    }

    fn append_group(&mut self, l: usize, group: &[(u32, u32, f32)], max_w: f32) {
        let rescale = max_w > self.lists[l].max_w;
        if rescale {
            let term = self.lists[l].term;
            let scale = scale_for(max_w);
            // Requantise the existing postings from the exact weights.
            let mut impacts = std::mem::take(&mut self.lists[l].impacts);
            for (imp, &d) in impacts.iter_mut().zip(&self.lists[l].docs) {
                let (t, v) = self.doc(d);
                let w = t.binary_search(&term).map_or(0.0, |p| v[p]);
                *imp = quantize(w, scale);
            }
            let list = &mut self.lists[l];
            list.impacts = impacts;
            list.max_w = max_w;
            list.scale = scale;
        }
        let list = &mut self.lists[l];
        let from = if rescale { 0 } else { list.docs.len() / BLOCK };
        let head_from = if rescale { 0 } else { list.docs.len() };
        for &(_, s, w) in group {
            list.docs.push(s);
            list.impacts.push(quantize(w, list.scale));
        }
        list.rebuild_blocks(from);
        list.rebuild_head(head_from);
    }

    /// Removes documents by key; unknown keys are ignored. Returns how many were removed.
    pub fn remove(&mut self, keys: &[u32]) -> usize {
        let removed = self.remove_keys(keys);
        if removed > 0 {
            self.maybe_compact();
        }
        removed
    }

    /// [`Self::remove`] without the compaction it may trigger (see [`Self::apply_batch`]).
    pub fn remove_keys(&mut self, keys: &[u32]) -> usize {
        let mut removed = 0;
        for k in keys {
            if let Some(s) = self.key_slot.remove(k) {
                self.delete_slot(s);
                removed += 1;
            }
        }
        removed
    }

    /// Removes every document (keeps the configuration).
    pub fn clear(&mut self) {
        *self = SparseIndex::new(self.cfg);
    }

    fn delete_slot(&mut self, s: u32) {
        let (w, b) = (s as usize / 64, s % 64);
        if let Some(word) = self.deleted.get_mut(w) {
            if *word >> b & 1 == 0 {
                *word |= 1 << b;
                self.n_deleted += 1;
            }
        }
    }

    fn maybe_compact(&mut self) {
        if self.compaction_due() {
            self.compact();
        }
    }

    /// Whether enough documents are deleted that the index should be compacted.
    pub fn compaction_due(&self) -> bool {
        self.n_deleted > 0 && self.n_deleted * 100 >= self.keys.len() * COMPACT_FRACTION_PERCENT
    }

    /// Drops deleted documents now: renumbers the slots, rebuilds the forward arenas and the
    /// posting lists (requantising every impact). Searches give the same results before and
    /// after.
    pub fn compact(&mut self) {
        if self.n_deleted > 0 {
            *self = self.compacted();
        }
    }

    /// A compacted copy (the index itself is untouched): what `save` writes, and what a
    /// shared index computes while searches go on and then swaps in.
    pub fn compacted(&self) -> SparseIndex {
        let mut out = SparseIndex::new(self.cfg);
        let live = self.keys.len() - self.n_deleted;
        out.keys.reserve(live);
        out.key_slot.reserve(live);
        out.fwd_off.reserve(live);
        for s in 0..self.keys.len() as u32 {
            if self.is_deleted(s) {
                continue;
            }
            let k = self.keys[s as usize];
            out.key_slot.insert(k, out.keys.len() as u32);
            out.keys.push(k);
            let (t, v) = self.doc(s);
            out.fwd_terms.extend_from_slice(t);
            out.fwd_vals.extend_from_slice(v);
            out.fwd_off.push(out.fwd_terms.len() as u64);
        }
        out.deleted = vec![0; out.keys.len().div_ceil(64)];
        out.index_slots(0);
        out
    }

    /// The exact top `k` for `query` (Block-Max MaxScore): `(key, score)` best first, ties
    /// by the smaller key, documents scoring 0 left out.
    pub fn search(&self, query: &SparseVec<'_>, k: usize) -> Result<Vec<(u32, f32)>> {
        self.search_with(query, k, SparseStrategy::MaxScore)
    }

    /// [`SparseIndex::search`] with a chosen strategy; every strategy returns the same list.
    pub fn search_with(
        &self,
        query: &SparseVec<'_>,
        k: usize,
        strategy: SparseStrategy,
    ) -> Result<Vec<(u32, f32)>> {
        let q = self.prepare(query)?;
        Ok(Self::run(self, &q, k, strategy, None))
    }

    /// [`SparseIndex::search_with`] among the documents whose key `accept` accepts: the
    /// filter is tested inside the pruning loops, so the result is the exact top `k` of the
    /// matching documents.
    pub fn search_filtered(
        &self,
        query: &SparseVec<'_>,
        k: usize,
        strategy: SparseStrategy,
        accept: &(dyn Fn(u32) -> bool + Sync),
    ) -> Result<Vec<(u32, f32)>> {
        let q = self.prepare(query)?;
        Ok(Self::run(self, &q, k, strategy, Some(accept)))
    }

    fn run(
        &self,
        q: &Query,
        k: usize,
        strategy: SparseStrategy,
        accept: search::Accept<'_>,
    ) -> Vec<(u32, f32)> {
        match strategy {
            SparseStrategy::MaxScore => search::max_score(self, q, k, accept),
            SparseStrategy::Wand => search::wand(self, q, k, accept),
            SparseStrategy::Exhaustive => search::exhaustive(self, q, k, accept),
            SparseStrategy::Approximate { candidates } => {
                search::approximate(self, q, k, candidates as usize, accept)
            }
        }
    }

    /// Searches many queries in parallel (on the rayon pool); answer `i` is what
    /// [`SparseIndex::search_with`] returns for `queries[i]`. Every query is validated first:
    /// one bad query fails the call.
    pub fn search_batch(
        &self,
        queries: &[SparseVec<'_>],
        k: usize,
        strategy: SparseStrategy,
    ) -> Result<Vec<Vec<(u32, f32)>>> {
        use rayon::prelude::*;
        let prepared = queries
            .iter()
            .map(|q| self.prepare(q))
            .collect::<Result<Vec<_>>>()?;
        Ok(prepared
            .par_iter()
            .map(|q| self.run(q, k, strategy, None))
            .collect())
    }

    /// Validates and canonicalises a query.
    fn prepare(&self, query: &SparseVec<'_>) -> Result<Query> {
        let mut q = Query::default();
        canonical(
            &|| "query".to_string(),
            query.indices,
            query.values,
            self.cfg.vocab_size,
            &mut Vec::new(),
            &mut q.terms,
            &mut q.vals,
        )?;
        Ok(q)
    }

    /// Writes the index to `path` atomically (see [`super::persist`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        super::persist::save(self, path)
    }

    /// Loads an index written by [`SparseIndex::save`], validating it.
    pub fn load(path: &Path) -> Result<Self> {
        super::persist::load(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After `make_room`, applying the batch moves no per-document table, and the index ends as
    /// a plain apply leaves it.
    #[test]
    fn room_made_beforehand_keeps_the_apply_from_moving_tables() {
        let mut roomy = SparseIndex::default();
        let mut plain = SparseIndex::default();
        let mut moved = 0;
        for round in 0..10u32 {
            let n = 1u32 << round.min(7);
            // Each document: a shared term, a term new this round, one of 5 others.
            let keys: Vec<u32> = (0..n).map(|i| round * 200 + i).chain([0]).collect();
            let keys = &keys[..if round == 0 {
                n as usize
            } else {
                n as usize + 1
            }];
            let mut indptr = vec![0u32];
            let (mut idx, mut val) = (Vec::new(), Vec::new());
            for &k in keys {
                let mut terms = vec![1u32, 100 + round, 10 + k % 5];
                terms.sort_unstable();
                for t in terms {
                    idx.push(t);
                    val.push(1.0 + (k % 3) as f32);
                }
                indptr.push(idx.len() as u32);
            }
            let vectors = || SparseBatch::new(&indptr, &idx, &val);
            let batch = roomy
                .prepare_add(keys, vectors(), true, &|_, _| true)
                .unwrap();
            let mut room = roomy.room_for(&batch);
            roomy.make_room(&mut room);
            moved += usize::from(room.keys.is_some());
            let ptrs = |ix: &SparseIndex| {
                (
                    ix.keys.as_ptr(),
                    ix.fwd_off.as_ptr(),
                    ix.fwd_terms.as_ptr(),
                    ix.fwd_vals.as_ptr(),
                    ix.deleted.as_ptr(),
                    ix.key_slot.capacity(),
                    ix.term_list.capacity(),
                )
            };
            let before = ptrs(&roomy);
            roomy.apply_batch(batch).unwrap();
            assert_eq!(
                before,
                ptrs(&roomy),
                "round {round}: a table moved inside the apply"
            );
            let batch = plain
                .prepare_add(keys, vectors(), true, &|_, _| true)
                .unwrap();
            plain.apply_batch(batch).unwrap();
        }
        assert!(moved >= 5, "the tables grew {moved} times beforehand");
        assert_eq!(roomy.keys, plain.keys);
        assert_eq!(roomy.fwd_terms, plain.fwd_terms);
        assert_eq!(roomy.lists.len(), plain.lists.len());
    }

    /// `q · scale ≥ w` always, and the overestimate is below one step.
    #[test]
    fn quantisation_rounds_up_by_less_than_a_step() {
        let mut x = 0x0123_4567_89AB_CDEF_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..20_000 {
            let max_w = match i % 4 {
                0 => f32::from_bits((next() as u32) % 0x7F00_0000 + 1),
                1 => f32::MAX,
                2 => f32::from_bits(1),
                _ => (next() % 1000 + 1) as f32 / 7.0,
            };
            let scale = scale_for(max_w);
            assert!(scale as f64 * 255.0 >= max_w as f64, "{max_w}");
            assert!(scale.is_finite() && scale > 0.0);
            for w in [
                max_w,
                max_w * 0.5,
                max_w * ((next() % 1000) as f32 / 1000.0),
            ] {
                if w <= 0.0 {
                    continue;
                }
                let q = quantize(w, scale);
                assert!(q >= 1);
                assert!(q as f64 * scale as f64 >= w as f64, "{w} {scale} {q}");
                if q > 1 {
                    assert!(((q - 1) as f64) * (scale as f64) < w as f64);
                }
            }
        }
    }
}
