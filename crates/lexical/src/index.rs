//! The inverted index: term dictionary, posting lists, document table, deletions.
//!
//! Documents live in internal *slots* (`u32`), assigned in insertion order, so every posting
//! list is sorted by slot and new documents are appended at the end of the lists. A user key
//! maps to one live slot. Removing a document is lazy: its slot is marked in the deleted
//! bitset, and the live statistics (N, total length, each term's document frequency, via a
//! small forward index of the document's distinct term ids) are updated at once, so scores
//! always reflect the live documents. The postings of deleted slots are skipped at scoring
//! and dropped by compaction, which renumbers the slots and rebuilds the lists; it runs when
//! at least 20% of the slots are deleted, and a saved file is always compacted. Adding a key
//! that exists replaces its document (the old slot is deleted, the new one appended).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::analyzer::{Analyzer, AnalyzerConfig};
use crate::bm25::{self, idf, Bm25Params, Ctx, QueryTerm, Scorer, Strategy};
use crate::error::{invalid, LexicalError, Result};
use crate::postings::{get_varint, put_varint, PostingList};
use quiver_grow::Segmented;

/// Texts analysed per progress report in [`TextIndex::add_with`] /
/// [`TextIndex::analyze_batch`].
pub const ANALYZE_CHUNK: usize = 1024;

/// Most slots an index can have (slot `u32::MAX` is reserved as "end").
pub const MAX_SLOTS: usize = u32::MAX as usize - 1;

/// One analysed document: its length and its distinct terms with frequencies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnalyzedDoc {
    /// Number of tokens (the BM25 document length).
    pub len: u32,
    /// Distinct terms with their frequencies, sorted by term.
    pub terms: Vec<(String, u32)>,
}

impl AnalyzedDoc {
    /// Counts `tokens`.
    pub fn from_tokens(mut tokens: Vec<String>) -> Self {
        let len = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
        tokens.sort_unstable();
        let mut terms: Vec<(String, u32)> = Vec::new();
        for t in tokens {
            match terms.last_mut() {
                Some((last, n)) if *last == t => *n = n.saturating_add(1),
                _ => terms.push((t, 1)),
            }
        }
        AnalyzedDoc { len, terms }
    }
}

/// Heap bytes of a [`TextIndex`], by part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextMemory {
    /// Posting lists and document frequencies.
    pub postings: usize,
    /// The term dictionary.
    pub terms: usize,
    /// Per-document tables: keys, lengths, deletions, the key map and the forward index.
    pub documents: usize,
}

impl TextMemory {
    /// Sum of the parts.
    pub fn total(&self) -> usize {
        self.postings + self.terms + self.documents
    }
}

/// The result of [`TextIndex::analyze_batch`]: validated keys and analysed documents, ready
/// for [`TextIndex::apply`]. Producing it needs only `&self` (or just the [`Analyzer`]), so an
/// engine can analyse without holding its write lock.
#[derive(Clone, Debug, Default)]
pub struct AnalyzedBatch {
    keys: Vec<u32>,
    docs: Vec<AnalyzedDoc>,
}

/// Grown copies of a [`TextIndex`]'s per-document and term tables, from
/// [`TextIndex::room_for`]; after [`TextIndex::make_room`], the tables they replaced.
#[derive(Debug, Default)]
pub struct TextRoom {
    slot_keys: Option<Vec<u32>>,
    doc_len: Option<Vec<u32>>,
    key_slot: Option<HashMap<u32, u32>>,
    fwd: Option<Vec<u8>>,
    fwd_off: Option<Vec<u64>>,
    deleted: Option<Vec<u64>>,
    term_ids: Option<HashMap<Box<str>, u32>>,
    df: Option<Vec<u32>>,
}

impl AnalyzedBatch {
    /// Validates `keys` (same count as `texts`, no duplicates) and analyses `texts` on the
    /// rayon pool in chunks of [`ANALYZE_CHUNK`], calling `progress(done, total)` after each
    /// chunk; `progress` returning `false` stops with [`LexicalError::Cancelled`].
    pub fn new(
        analyzer: &Analyzer,
        keys: &[u32],
        texts: &[&str],
        progress: &dyn Fn(usize, usize) -> bool,
    ) -> Result<Self> {
        if keys.len() != texts.len() {
            return Err(invalid(format!(
                "got {} keys but {} texts",
                keys.len(),
                texts.len()
            )));
        }
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        for &k in keys {
            if !seen.insert(k) {
                return Err(LexicalError::DuplicateKey(k));
            }
        }
        let total = texts.len();
        let mut docs = Vec::with_capacity(total);
        for chunk in texts.chunks(ANALYZE_CHUNK) {
            use rayon::prelude::*;
            let part: Result<Vec<AnalyzedDoc>> = chunk
                .par_iter()
                .map(|t| analyzer.try_analyze(t).map(AnalyzedDoc::from_tokens))
                .collect();
            docs.extend(part?);
            if !progress(docs.len(), total) {
                return Err(LexicalError::Cancelled);
            }
        }
        Ok(AnalyzedBatch {
            keys: keys.to_vec(),
            docs,
        })
    }

    /// Builds a batch from already analysed documents (keys are validated the same way;
    /// each document's terms must be non-empty, strictly increasing, with frequencies ≥ 1
    /// summing to `len`).
    pub fn from_docs(keys: Vec<u32>, docs: Vec<AnalyzedDoc>) -> Result<Self> {
        for d in &docs {
            let sum: u64 = d.terms.iter().map(|t| t.1 as u64).sum();
            let sorted = d.terms.windows(2).all(|w| w[0].0 < w[1].0);
            let ok_terms = d.terms.iter().all(|(t, tf)| !t.is_empty() && *tf >= 1);
            if sum != d.len as u64 || !sorted || !ok_terms {
                return Err(invalid(
                    "an analysed document's terms must be distinct, sorted, non-empty, with frequencies >= 1 summing to its length",
                ));
            }
        }
        if keys.len() != docs.len() {
            return Err(invalid(format!(
                "got {} keys but {} documents",
                keys.len(),
                docs.len()
            )));
        }
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        for &k in &keys {
            if !seen.insert(k) {
                return Err(LexicalError::DuplicateKey(k));
            }
        }
        Ok(AnalyzedBatch { keys, docs })
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A BM25 full-text index over `u32` keys. `Send + Sync`; mutate through `&mut self` (the
/// engine wraps it in a `RwLock`).
#[derive(Clone)]
pub struct TextIndex {
    pub(crate) analyzer: Arc<Analyzer>,
    pub(crate) params: Bm25Params,
    pub(crate) term_ids: HashMap<Box<str>, u32>,
    /// Per-term headers: segmented, so that a new term moves no other term's.
    pub(crate) terms: Segmented<Box<str>>,
    pub(crate) postings: Segmented<PostingList>,
    /// Live document frequency per term.
    pub(crate) df: Vec<u32>,
    pub(crate) slot_keys: Vec<u32>,
    pub(crate) doc_len: Vec<u32>,
    pub(crate) deleted: Vec<u64>,
    pub(crate) n_deleted: usize,
    pub(crate) key_slot: HashMap<u32, u32>,
    /// Sum of live document lengths.
    pub(crate) total_len: u64,
    /// Forward index: distinct term ids of each slot, delta-varint encoded.
    pub(crate) fwd: Vec<u8>,
    /// `fwd` offsets, one per slot plus one.
    pub(crate) fwd_off: Vec<u64>,
}

impl std::fmt::Debug for TextIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextIndex")
            .field("analyzer", &self.analyzer)
            .field("params", &self.params)
            .field("docs", &self.len())
            .field("deleted_slots", &self.n_deleted)
            .field("terms", &self.terms.len())
            .finish()
    }
}

impl TextIndex {
    /// An empty index. Errors: bad BM25 parameters or analyzer configuration
    /// ([`LexicalError::InvalidArgument`]).
    pub fn new(analyzer: AnalyzerConfig, bm25: Bm25Params) -> Result<Self> {
        bm25.validate()?;
        let analyzer = Analyzer::new(&analyzer)?;
        Ok(Self::with_analyzer(Arc::new(analyzer), bm25))
    }

    pub(crate) fn with_analyzer(analyzer: Arc<Analyzer>, params: Bm25Params) -> Self {
        TextIndex {
            analyzer,
            params,
            term_ids: HashMap::new(),
            terms: Segmented::new(),
            postings: Segmented::new(),
            df: Vec::new(),
            slot_keys: Vec::new(),
            doc_len: Vec::new(),
            deleted: Vec::new(),
            n_deleted: 0,
            key_slot: HashMap::new(),
            total_len: 0,
            fwd: Vec::new(),
            fwd_off: vec![0],
        }
    }

    /// The analyzer (shareable: analyse with it outside any lock, then [`TextIndex::apply`]).
    pub fn analyzer(&self) -> Arc<Analyzer> {
        Arc::clone(&self.analyzer)
    }

    /// The analyzer configuration (a `tokenizer.json` appears as its embedded bytes).
    pub fn analyzer_config(&self) -> &AnalyzerConfig {
        self.analyzer.config()
    }

    /// The BM25 parameters.
    pub fn params(&self) -> Bm25Params {
        self.params
    }

    /// Changes the BM25 parameters (they are only used at query time).
    pub fn set_params(&mut self, p: Bm25Params) -> Result<()> {
        p.validate()?;
        self.params = p;
        Ok(())
    }

    /// Number of live documents.
    pub fn len(&self) -> usize {
        self.slot_keys.len() - self.n_deleted
    }

    /// Whether there are no live documents.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `key` is indexed.
    pub fn contains(&self, key: u32) -> bool {
        self.key_slot.contains_key(&key)
    }

    /// Live keys, in slot order.
    pub fn keys(&self) -> Vec<u32> {
        (0..self.slot_keys.len())
            .filter(|&s| !self.is_deleted(s as u32))
            .map(|s| self.slot_keys[s])
            .collect()
    }

    /// Number of distinct terms in the dictionary (terms only in deleted documents count
    /// until compaction).
    pub fn num_terms(&self) -> usize {
        self.terms.len()
    }

    /// Document length (analysed token count) of `key`.
    pub fn doc_len(&self, key: u32) -> Option<u32> {
        self.key_slot.get(&key).map(|&s| self.doc_len[s as usize])
    }

    /// Live document frequency of an (already analysed) term.
    pub fn doc_freq(&self, term: &str) -> u32 {
        self.term_ids.get(term).map_or(0, |&t| self.df[t as usize])
    }

    /// Mean live document length (0 when empty).
    pub fn avg_doc_len(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.total_len as f64 / self.len() as f64
        }
    }

    /// Approximate heap bytes used, by part.
    pub fn memory_usage(&self) -> TextMemory {
        let terms: usize = self
            .terms
            .iter()
            .map(|t| t.len() * 2 + std::mem::size_of::<Box<str>>() * 2 + 8)
            .sum();
        let postings: usize = self
            .postings
            .iter()
            .map(|p| p.memory_usage() + std::mem::size_of::<PostingList>())
            .sum();
        TextMemory {
            postings: postings + self.df.capacity() * 4,
            terms,
            documents: self.slot_keys.capacity() * 4
                + self.doc_len.capacity() * 4
                + self.deleted.capacity() * 8
                + self.key_slot.capacity() * 12
                + self.fwd.capacity()
                + self.fwd_off.capacity() * 8,
        }
    }

    #[inline]
    pub(crate) fn is_deleted(&self, slot: u32) -> bool {
        self.deleted
            .get(slot as usize / 64)
            .is_some_and(|w| w >> (slot % 64) & 1 == 1)
    }

    /// Adds (or replaces) documents. All-or-nothing: on error nothing changes.
    pub fn add(&mut self, keys: &[u32], texts: &[&str]) -> Result<()> {
        self.add_with(keys, texts, &|_, _| true)
    }

    /// [`TextIndex::add`] with a progress/cancel hook: `progress(done, total)` is called after
    /// each analysed chunk; returning `false` cancels ([`LexicalError::Cancelled`], nothing
    /// changed).
    pub fn add_with(
        &mut self,
        keys: &[u32],
        texts: &[&str],
        progress: &dyn Fn(usize, usize) -> bool,
    ) -> Result<()> {
        let batch = self.analyze_batch(keys, texts, progress)?;
        self.apply(batch)
    }

    /// Validates and analyses a batch without modifying the index (see [`AnalyzedBatch::new`]).
    pub fn analyze_batch(
        &self,
        keys: &[u32],
        texts: &[&str],
        progress: &dyn Fn(usize, usize) -> bool,
    ) -> Result<AnalyzedBatch> {
        AnalyzedBatch::new(&self.analyzer, keys, texts, progress)
    }

    /// Inserts an analysed batch (made with this index's analyzer). Existing keys are
    /// replaced. Fails only if the index would exceed [`MAX_SLOTS`] slots, before any change.
    pub fn apply(&mut self, batch: AnalyzedBatch) -> Result<()> {
        self.apply_batch(batch)?;
        self.maybe_compact();
        Ok(())
    }

    /// Room in the tables [`Self::apply_batch`] appends to, for `batch`: copies of the tables
    /// that lack the room, with capacity at least doubled (see `quiver_grow`). Made while
    /// searches go on; [`Self::make_room`] puts them in place, so that the exclusive apply step
    /// copies no per-document table. The term and posting-list headers are segmented and never
    /// move; a posting list still grows in place, which copies only that list.
    pub fn room_for(&self, batch: &AnalyzedBatch) -> TextRoom {
        let docs = batch.len();
        let slots = self.slot_keys.len().saturating_add(docs);
        let mut new_terms = std::collections::HashSet::new();
        let mut fwd_bytes = 0usize;
        for doc in &batch.docs {
            // A term id's varint takes at most 5 bytes.
            fwd_bytes = fwd_bytes.saturating_add(doc.terms.len().saturating_mul(5));
            for (term, _) in &doc.terms {
                if !self.term_ids.contains_key(term.as_str()) {
                    new_terms.insert(term.as_str());
                }
            }
        }
        let deleted_words = slots.div_ceil(64).saturating_sub(self.deleted.len());
        TextRoom {
            slot_keys: quiver_grow::vec_with_room(&self.slot_keys, docs),
            doc_len: quiver_grow::vec_with_room(&self.doc_len, docs),
            key_slot: quiver_grow::map_with_room(&self.key_slot, docs),
            fwd: quiver_grow::vec_with_room(&self.fwd, fwd_bytes),
            fwd_off: quiver_grow::vec_with_room(&self.fwd_off, docs),
            deleted: quiver_grow::vec_with_room(&self.deleted, deleted_words),
            term_ids: quiver_grow::map_with_room(&self.term_ids, new_terms.len()),
            df: quiver_grow::vec_with_room(&self.df, new_terms.len()),
        }
    }

    /// Puts the tables of a [`TextRoom`] made by [`Self::room_for`] in place, leaving the old
    /// tables in `room` for the caller to drop once it no longer blocks searches. No other
    /// write may run between the two calls (the copies hold the tables as `room_for` saw
    /// them); a table that has grown since keeps its place.
    pub fn make_room(&mut self, room: &mut TextRoom) {
        quiver_grow::swap_in(&mut self.slot_keys, &mut room.slot_keys);
        quiver_grow::swap_in(&mut self.doc_len, &mut room.doc_len);
        quiver_grow::swap_in(&mut self.key_slot, &mut room.key_slot);
        quiver_grow::swap_in(&mut self.fwd, &mut room.fwd);
        quiver_grow::swap_in(&mut self.fwd_off, &mut room.fwd_off);
        quiver_grow::swap_in(&mut self.deleted, &mut room.deleted);
        quiver_grow::swap_in(&mut self.term_ids, &mut room.term_ids);
        quiver_grow::swap_in(&mut self.df, &mut room.df);
    }

    /// [`Self::apply`] without the compaction it may trigger: a caller that shares the index
    /// compacts it with [`Self::compaction_due`] and [`Self::compacted`] (computed while
    /// searches go on) instead.
    pub fn apply_batch(&mut self, batch: AnalyzedBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.slot_keys.len() + batch.len() > MAX_SLOTS {
            self.compact();
            if self.slot_keys.len() + batch.len() > MAX_SLOTS {
                return Err(invalid(
                    "the text index cannot hold more than 2^32 - 2 documents",
                ));
            }
        }
        for &k in &batch.keys {
            if let Some(s) = self.key_slot.remove(&k) {
                self.delete_slot(s);
            }
        }
        let first = self.slot_keys.len() as u32;
        let mut triples: Vec<(u32, u32, u32)> = Vec::new();
        let mut ids: Vec<u32> = Vec::new();
        for (i, (key, doc)) in batch.keys.iter().zip(batch.docs).enumerate() {
            let slot = first + i as u32;
            self.slot_keys.push(*key);
            self.doc_len.push(doc.len);
            self.key_slot.insert(*key, slot);
            self.total_len += doc.len as u64;
            ids.clear();
            for (term, tf) in doc.terms {
                let tid = match self.term_ids.get(term.as_str()) {
                    Some(&t) => t,
                    None => {
                        let t = self.terms.len() as u32;
                        let boxed: Box<str> = term.into_boxed_str();
                        self.term_ids.insert(boxed.clone(), t);
                        self.terms.push(boxed);
                        self.postings.push(PostingList::default());
                        self.df.push(0);
                        t
                    }
                };
                triples.push((tid, slot, tf));
                ids.push(tid);
            }
            ids.sort_unstable();
            ids.dedup();
            push_forward(&mut self.fwd, &ids);
            self.fwd_off.push(self.fwd.len() as u64);
        }
        let words = self.slot_keys.len().div_ceil(64);
        self.deleted.resize(words, 0);
        triples.sort_unstable();
        let doc_len = &self.doc_len;
        let mut group: Vec<(u32, u32)> = Vec::new();
        let mut i = 0;
        while i < triples.len() {
            let tid = triples[i].0;
            group.clear();
            while i < triples.len() && triples[i].0 == tid {
                group.push((triples[i].1, triples[i].2));
                i += 1;
            }
            self.postings[tid as usize].append(&group, |d| doc_len[d as usize]);
            self.df[tid as usize] += group.len() as u32;
        }
        Ok(())
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

    /// Removes every document (keeps analyzer and parameters).
    pub fn clear(&mut self) {
        *self = Self::with_analyzer(Arc::clone(&self.analyzer), self.params);
    }

    fn delete_slot(&mut self, s: u32) {
        let (w, b) = (s as usize / 64, s % 64);
        if self.deleted[w] >> b & 1 == 1 {
            return;
        }
        self.deleted[w] |= 1 << b;
        self.n_deleted += 1;
        self.total_len -= self.doc_len[s as usize] as u64;
        let (from, to) = (
            self.fwd_off[s as usize] as usize,
            self.fwd_off[s as usize + 1] as usize,
        );
        let mut pos = from;
        let mut tid = 0u32;
        let mut first = true;
        while pos < to {
            let Some(g) = get_varint(&self.fwd[..to], &mut pos) else {
                break;
            };
            tid = if first { g } else { tid.wrapping_add(g) };
            first = false;
            if let Some(df) = self.df.get_mut(tid as usize) {
                *df = df.saturating_sub(1);
            }
        }
    }

    /// Compacts when at least 20% of the slots are deleted.
    fn maybe_compact(&mut self) {
        if self.compaction_due() {
            self.compact();
        }
    }

    /// Whether enough documents are deleted that the index should be compacted.
    pub fn compaction_due(&self) -> bool {
        self.n_deleted > 0 && self.n_deleted * 5 >= self.slot_keys.len()
    }

    /// Drops deleted documents from all structures now (renumbers slots, drops terms left
    /// without documents). Searching gives the same results before and after.
    pub fn compact(&mut self) {
        if self.n_deleted > 0 {
            *self = self.compacted();
        }
    }

    /// A compacted copy (the index itself is untouched): what `save` writes, and what a
    /// shared index computes while searches go on and then swaps in.
    pub fn compacted(&self) -> TextIndex {
        let mut out = TextIndex::with_analyzer(Arc::clone(&self.analyzer), self.params);
        let mut remap = vec![u32::MAX; self.slot_keys.len()];
        for (s, r) in remap.iter_mut().enumerate() {
            if !self.is_deleted(s as u32) {
                *r = out.slot_keys.len() as u32;
                out.key_slot.insert(self.slot_keys[s], *r);
                out.slot_keys.push(self.slot_keys[s]);
                out.doc_len.push(self.doc_len[s]);
                out.total_len += self.doc_len[s] as u64;
            }
        }
        out.deleted = vec![0; out.slot_keys.len().div_ceil(64)];
        let mut buf: Vec<(u32, u32)> = Vec::new();
        for (t, list) in self.postings.iter().enumerate() {
            buf.clear();
            list.for_each(|d, tf| {
                let r = remap[d as usize];
                if r != u32::MAX {
                    buf.push((r, tf));
                }
            });
            if buf.is_empty() {
                continue;
            }
            let tid = out.terms.len() as u32;
            out.term_ids.insert(self.terms[t].clone(), tid);
            out.terms.push(self.terms[t].clone());
            out.df.push(buf.len() as u32);
            let lens = &out.doc_len;
            out.postings
                .push(PostingList::from_postings(&buf, |d| lens[d as usize]));
        }
        out.rebuild_forward();
        out
    }

    /// Rebuilds the forward index from the postings (after compaction and load).
    pub(crate) fn rebuild_forward(&mut self) {
        let slots = self.slot_keys.len();
        let mut counts = vec![0u32; slots + 1];
        for list in &self.postings {
            list.for_each(|d, _| counts[d as usize + 1] += 1);
        }
        for i in 1..=slots {
            counts[i] += counts[i - 1];
        }
        let mut ids = vec![0u32; counts[slots] as usize];
        let mut fill = counts.clone();
        for (t, list) in self.postings.iter().enumerate() {
            list.for_each(|d, _| {
                ids[fill[d as usize] as usize] = t as u32;
                fill[d as usize] += 1;
            });
        }
        self.fwd.clear();
        self.fwd_off.clear();
        self.fwd_off.push(0);
        for s in 0..slots {
            push_forward(
                &mut self.fwd,
                &ids[counts[s] as usize..counts[s + 1] as usize],
            );
            self.fwd_off.push(self.fwd.len() as u64);
        }
        self.fwd.shrink_to_fit();
    }

    /// Analyses `query` and resolves its terms (bag semantics) in canonical order.
    fn context(&self, query: &str) -> Result<Option<Ctx<'_>>> {
        let live = self.len() as u64;
        if live == 0 {
            return Ok(None);
        }
        let tokens = self.analyzer.try_analyze(query)?;
        let mut qt: Vec<(u32, u32)> = Vec::new();
        for t in &tokens {
            if let Some(&tid) = self.term_ids.get(t.as_str()) {
                if self.df[tid as usize] > 0 {
                    qt.push((tid, 1));
                }
            }
        }
        if qt.is_empty() {
            return Ok(None);
        }
        qt.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(qt.len());
        for (t, c) in qt {
            match merged.last_mut() {
                Some((lt, lc)) if *lt == t => *lc += c,
                _ => merged.push((t, c)),
            }
        }
        let terms = merged
            .into_iter()
            .map(|(t, qtf)| QueryTerm {
                list: &self.postings[t as usize],
                weight: idf(live, self.df[t as usize] as u64) * qtf as f32,
            })
            .collect();
        let avgdl = (self.total_len as f64 / live as f64) as f32;
        Ok(Some(Ctx {
            terms,
            scorer: Scorer::new(self.params, avgdl),
            doc_len: &self.doc_len,
            deleted: &self.deleted,
            keys: &self.slot_keys,
            accept: None,
        }))
    }

    /// Top-`k` keys by BM25 score, best first, ties broken by the smaller key, with dynamic
    /// pruning ([`Strategy::default`]). An empty query (or one with no indexed term) gives an
    /// empty list. Fails only if a `tokenizer.json` model fails on the query.
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<(u32, f32)>> {
        self.search_with(query, k, Strategy::default())
    }

    /// Same result as [`TextIndex::search`], computed by scoring every matching document.
    pub fn search_exhaustive(&self, query: &str, k: usize) -> Result<Vec<(u32, f32)>> {
        self.search_with(query, k, Strategy::Exhaustive)
    }

    /// [`TextIndex::search`] with a chosen top-`k` strategy (all give the same list).
    pub fn search_with(
        &self,
        query: &str,
        k: usize,
        strategy: Strategy,
    ) -> Result<Vec<(u32, f32)>> {
        Ok(match self.context(query)? {
            Some(ctx) => match strategy {
                Strategy::BlockMaxMaxScore => bm25::bmm(&ctx, k),
                Strategy::BlockMaxWand => bm25::bmw(&ctx, k),
                Strategy::Exhaustive => bm25::exhaustive(&ctx, k),
            },
            None => Vec::new(),
        })
    }

    /// [`TextIndex::search_with`] over the documents whose key `accept` accepts: the top-`k`
    /// of exhaustive scoring over those documents (BM25 statistics stay those of the whole
    /// index). The predicate runs inside the pruning loops, once per candidate document.
    pub fn search_filtered(
        &self,
        query: &str,
        k: usize,
        strategy: Strategy,
        accept: &(dyn Fn(u32) -> bool + Sync),
    ) -> Result<Vec<(u32, f32)>> {
        Ok(match self.context(query)? {
            Some(mut ctx) => {
                ctx.accept = Some(accept);
                match strategy {
                    Strategy::BlockMaxMaxScore => bm25::bmm(&ctx, k),
                    Strategy::BlockMaxWand => bm25::bmw(&ctx, k),
                    Strategy::Exhaustive => bm25::exhaustive(&ctx, k),
                }
            }
            None => Vec::new(),
        })
    }

    /// Writes the index to `path` atomically (see [`crate::persist`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::persist::save(self, path)
    }

    /// Reads an index written by [`TextIndex::save`]. A damaged or foreign file is
    /// [`LexicalError::Corrupt`].
    pub fn load(path: &Path) -> Result<Self> {
        crate::persist::load(path)
    }
}

fn push_forward(out: &mut Vec<u8>, sorted_ids: &[u32]) {
    let mut prev = 0u32;
    for (i, &t) in sorted_ids.iter().enumerate() {
        put_varint(out, if i == 0 { t } else { t - prev });
        prev = t;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_sync() {
        fn check<T: Send + Sync>() {}
        check::<TextIndex>();
        check::<AnalyzedBatch>();
    }

    /// After `make_room`, applying the batch moves no per-document table (the copies were
    /// made beforehand, while searches could run), and the index ends as a plain apply leaves it.
    #[test]
    fn room_made_beforehand_keeps_the_apply_from_moving_tables() {
        let cfg = || AnalyzerConfig {
            kind: crate::AnalyzerKind::Default,
            stem: false,
            stop_words: crate::StopWords::None,
        };
        let mut roomy = TextIndex::new(cfg(), Bm25Params::default()).unwrap();
        let mut plain = TextIndex::new(cfg(), Bm25Params::default()).unwrap();
        let tables = |ix: &TextIndex| {
            (
                ix.slot_keys.as_ptr(),
                ix.doc_len.as_ptr(),
                ix.fwd.as_ptr(),
                ix.fwd_off.as_ptr(),
                ix.deleted.as_ptr(),
                ix.df.as_ptr(),
                ix.key_slot.capacity(),
                ix.term_ids.capacity(),
            )
        };
        let mut moved = 0;
        let mut first_term: Option<(*const Box<str>, *const PostingList)> = None;
        for round in 0..12u32 {
            // Batches that double the index, each with new words, some replacing stored keys.
            let n = 1usize << round.min(8);
            let keys: Vec<u32> = (0..n as u32)
                .map(|i| round * 300 + i)
                .chain([0, 1])
                .collect();
            let texts: Vec<String> = keys
                .iter()
                .map(|k| format!("w{k} shared common r{round} x{}", k % 7))
                .collect();
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            let keys = &keys[..if round == 0 { n } else { n + 2 }];
            let texts = &texts[..keys.len()];
            let batch = roomy.analyze_batch(keys, texts, &|_, _| true).unwrap();
            let mut room = roomy.room_for(&batch);
            roomy.make_room(&mut room);
            let before = tables(&roomy);
            moved += usize::from(room.slot_keys.is_some());
            roomy.apply_batch(batch).unwrap();
            let after = tables(&roomy);
            assert_eq!(
                before, after,
                "round {round}: a table moved inside the apply"
            );
            let batch = plain.analyze_batch(keys, texts, &|_, _| true).unwrap();
            plain.apply_batch(batch).unwrap();
            // The term headers never move as new terms arrive (hundreds of them here).
            let now = (&roomy.terms[0] as *const _, &roomy.postings[0] as *const _);
            assert_eq!(
                *first_term.get_or_insert(now),
                now,
                "round {round}: headers moved"
            );
        }
        assert!(roomy.terms.len() > 1000, "{} terms", roomy.terms.len());
        assert!(moved >= 5, "the tables grew {moved} times beforehand");
        assert_eq!(roomy.len(), plain.len());
        for q in ["shared", "w305 x3", "r4 common", "x0"] {
            let a = roomy.search_with(q, 20, Strategy::Exhaustive).unwrap();
            let b = plain.search_with(q, 20, Strategy::Exhaustive).unwrap();
            assert_eq!(a, b, "{q}");
        }
    }

    /// A room made before another write appended to the tables is not put in place.
    #[test]
    fn a_stale_room_is_ignored() {
        let mut ix = TextIndex::new(
            AnalyzerConfig {
                kind: crate::AnalyzerKind::Default,
                stem: false,
                stop_words: crate::StopWords::None,
            },
            Bm25Params::default(),
        )
        .unwrap();
        let first = ix.analyze_batch(&[1], &["a b"], &|_, _| true).unwrap();
        let mut stale = ix.room_for(&first);
        let second = ix.analyze_batch(&[2], &["c d"], &|_, _| true).unwrap();
        ix.apply_batch(second).unwrap();
        ix.make_room(&mut stale);
        assert_eq!(ix.slot_keys, [2]);
        ix.apply_batch(first).unwrap();
        assert_eq!(ix.slot_keys, [2, 1]);
        assert_eq!(
            ix.search_with("a", 5, Strategy::Exhaustive).unwrap().len(),
            1
        );
    }
}
