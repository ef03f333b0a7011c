//! Learned sparse retrieval: an exact top-k dot-product index over sparse vectors such as
//! those produced by SPLADE or uniCOIL models.
//!
//! A sparse vector is a set of `(term id, weight)` pairs: term ids are `u32` below
//! [`SparseConfig::vocab_size`], weights are finite, **non-negative** `f32`. The score of a
//! document for a query is the dot product of the two vectors.
//!
//! # Input rules
//!
//! Documents ([`SparseIndex::add`], as a CSR [`SparseBatch`]) and queries
//! ([`SparseIndex::search`], a [`SparseVec`]) are validated the same way, before anything is
//! stored or searched; every failure is
//! [`LexicalError::InvalidArgument`](crate::LexicalError::InvalidArgument) with a message
//! (except a key repeated inside one batch, which is
//! [`LexicalError::DuplicateKey`](crate::LexicalError::DuplicateKey) as for the text index):
//!
//! * lengths agree (`indices` and `values`; `indptr` has one entry per vector plus one,
//!   starts at 0, never decreases and ends at `indices.len()`);
//! * every term id is below `vocab_size`;
//! * every weight is finite and non-negative. Negative weights are rejected because the
//!   pruning bounds assume that adding a term can only raise a score (non-negative
//!   impacts); a model emitting negative weights must be clipped (SPLADE's `log(1+ReLU)`
//!   never does);
//! * term ids may come in any order (they are sorted), but one term id must not appear
//!   twice in one vector (the sum or the maximum would both be guesses, so it is an error);
//! * zero weights are dropped; a vector left empty is allowed: an empty document is stored
//!   (and counted by [`SparseIndex::len`]) but never returned by a search, an empty query
//!   returns nothing.
//!
//! # Storage
//!
//! * A forward index: for every document its sorted term ids and exact `f32` weights, in
//!   two contiguous arenas with one offset per document. It is what scores are computed
//!   from and what is saved.
//! * An inverted index: per term, its documents (`u32` slots, strictly increasing) with
//!   `u8` impacts, cut into blocks of [`BLOCK`] postings with each block's maximum impact
//!   and last document. Impacts are quantised with a per-term scale `s = max_w / 255`
//!   (`max_w` the largest weight the term ever had, `s` rounded up so that `255·s ≥ max_w`)
//!   to `q = ⌈w / s⌉` (at least 1), checked in `f64` so that `q·s ≥ w` always holds: a
//!   quantised impact never underestimates. The overestimate is below one step:
//!   `0 ≤ q·s − w < s = max_w / 255`, i.e. under 0.4% of the term's largest weight. When a
//!   new document brings a larger weight for a term, that term's list is requantised from
//!   the forward index (cost linear in that list's length, once per `add` call that
//!   raises the maximum); compaction requantises every list. Posting slots are stored as
//!   plain `u32` (4 bytes per posting plus 1 for the impact), not delta-compressed.
//!
//! # Search
//!
//! [`SparseIndex::search`] returns exactly what the exhaustive oracle
//! ([`SparseStrategy::Exhaustive`]) returns: the `k` documents with the highest exact
//! scores, best first, ties broken by the smaller key, documents scoring 0 left out. The
//! exact score of a document is one function: a merge of the sorted query with the
//! document's forward entry, summing `query weight × document weight` in `f32` in increasing
//! term order. [`SparseStrategy::MaxScore`] (Block-Max MaxScore, see [`search`]) and
//! [`SparseStrategy::Wand`] (Block-Max WAND) prune
//! with the quantised upper bounds (with a margin that covers the rounding of the bounds
//! and of the exact `f32` sum) and scores every surviving document with that same function, so the
//! scores are bit-identical and the lists equal. Searching needs only `&self`.
//!
//! # Removal
//!
//! Removal is lazy: the document's slot is marked in a deleted bitset and skipped by
//! searches. When at least [`COMPACT_FRACTION_PERCENT`]% of the slots are deleted, the index
//! is compacted (slots renumbered, forward arenas and every posting list rebuilt, impacts
//! requantised). An upsert is a removal plus an add. [`SparseIndex::save`] writes a
//! compacted index (see [`persist`]).

pub mod encoder;
mod index;
pub mod persist;
pub mod search;

pub use encoder::SparseEncoder;
pub use index::{PreparedSparse, SparseIndex, SparseMemory, SparseRoom, PREPARE_CHUNK};

use crate::error::{invalid, Result};

/// Postings per block of a term's list.
pub const BLOCK: usize = 128;

/// Compaction runs when at least this percentage of the slots are deleted.
pub const COMPACT_FRACTION_PERCENT: usize = 20;

/// Configuration of a [`SparseIndex`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SparseConfig {
    /// Term ids must be below this (default `u32::MAX`, i.e. any id but `u32::MAX`).
    pub vocab_size: u32,
}

impl Default for SparseConfig {
    fn default() -> Self {
        SparseConfig {
            vocab_size: u32::MAX,
        }
    }
}

/// A batch of sparse vectors in CSR form: vector `i` has the term ids
/// `indices[indptr[i]..indptr[i + 1]]` with the weights at the same positions of `values`.
#[derive(Clone, Copy, Debug)]
pub struct SparseBatch<'a> {
    /// `n + 1` offsets: starts at 0, non-decreasing, ends at `indices.len()`.
    pub indptr: &'a [u32],
    /// Term ids of all vectors, concatenated.
    pub indices: &'a [u32],
    /// Weights, one per entry of `indices`.
    pub values: &'a [f32],
}

impl<'a> SparseBatch<'a> {
    /// A batch from its three arrays (checked by [`SparseIndex::add`]).
    pub fn new(indptr: &'a [u32], indices: &'a [u32], values: &'a [f32]) -> Self {
        SparseBatch {
            indptr,
            indices,
            values,
        }
    }

    /// Number of vectors (`indptr.len() - 1`, 0 for an empty `indptr`).
    pub fn len(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// Whether the batch holds no vector.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the CSR structure: `indptr` is not empty, starts at 0, never decreases and
    /// ends at `indices.len()`, which equals `values.len()`. The vectors themselves are
    /// checked where they are used.
    pub fn check(&self) -> Result<()> {
        let ip = self.indptr;
        let Some(&first) = ip.first() else {
            return Err(invalid(
                "indptr must have one entry per vector plus one (got none)",
            ));
        };
        if first != 0 {
            return Err(invalid(format!("indptr must start at 0, got {first}")));
        }
        if self.indices.len() != self.values.len() {
            return Err(invalid(format!(
                "{} indices but {} values",
                self.indices.len(),
                self.values.len()
            )));
        }
        for (i, w) in ip.windows(2).enumerate() {
            if w[1] < w[0] {
                return Err(invalid(format!(
                    "indptr decreases at vector {i} ({} then {})",
                    w[0], w[1]
                )));
            }
        }
        let last = ip[ip.len() - 1] as usize;
        if last != self.indices.len() {
            return Err(invalid(format!(
                "indptr ends at {last} but there are {} indices",
                self.indices.len()
            )));
        }
        Ok(())
    }

    /// Vector `i` (the batch must have passed [`SparseBatch::check`]).
    pub fn vector(&self, i: usize) -> SparseVec<'a> {
        let r = self.indptr[i] as usize..self.indptr[i + 1] as usize;
        SparseVec::new(&self.indices[r.clone()], &self.values[r])
    }

    /// The vectors, after [`SparseBatch::check`].
    pub fn vectors(&self) -> Result<Vec<SparseVec<'a>>> {
        self.check()?;
        Ok((0..self.len()).map(|i| self.vector(i)).collect())
    }
}

/// One sparse vector (a query): term ids and their weights, same length.
#[derive(Clone, Copy, Debug)]
pub struct SparseVec<'a> {
    /// Term ids (any order, no repeats).
    pub indices: &'a [u32],
    /// Weights, one per term id.
    pub values: &'a [f32],
}

impl<'a> SparseVec<'a> {
    /// A vector from its two arrays (checked by [`SparseIndex::search`]).
    pub fn new(indices: &'a [u32], values: &'a [f32]) -> Self {
        SparseVec { indices, values }
    }
}

/// How [`SparseIndex::search_with`] finds the top `k`. The exact strategies return the same
/// list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SparseStrategy {
    /// Block-Max MaxScore over the quantised bounds (the default).
    #[default]
    MaxScore,
    /// Block-Max WAND over the same bounds.
    Wand,
    /// Score every live document exactly (the oracle).
    Exhaustive,
    /// Approximate: exact scores for the best `candidates` documents found in the lists'
    /// heads (see [`search`]); may miss documents of the true top `k`.
    Approximate {
        /// Documents scored exactly (at least `k` are); 0 means
        /// `max(`[`search::DEFAULT_CANDIDATES`]`, 20·k)`.
        candidates: u32,
    },
}

/// Validates one vector and appends its canonical form (sorted by term id, zero weights
/// dropped) to `terms` / `vals`. `what` names the vector in messages. `scratch` is reused
/// between calls.
pub(crate) fn canonical(
    what: &dyn Fn() -> String,
    indices: &[u32],
    values: &[f32],
    vocab_size: u32,
    scratch: &mut Vec<(u32, f32)>,
    terms: &mut Vec<u32>,
    vals: &mut Vec<f32>,
) -> Result<()> {
    if indices.len() != values.len() {
        return Err(invalid(format!(
            "{}: {} indices but {} values",
            what(),
            indices.len(),
            values.len()
        )));
    }
    scratch.clear();
    let mut sorted = true;
    let mut prev: Option<u32> = None;
    for (&t, &v) in indices.iter().zip(values) {
        if t >= vocab_size {
            return Err(invalid(format!(
                "{}: term id {t} is not below the vocabulary size {vocab_size}",
                what()
            )));
        }
        if !v.is_finite() {
            return Err(invalid(format!(
                "{}: the weight of term {t} is not finite ({v})",
                what()
            )));
        }
        if v < 0.0 {
            return Err(invalid(format!(
                "{}: the weight of term {t} is negative ({v}); sparse weights must be >= 0",
                what()
            )));
        }
        if prev.is_some_and(|p| p >= t) {
            sorted = false;
        }
        prev = Some(t);
        scratch.push((t, v));
    }
    if !sorted {
        scratch.sort_unstable_by_key(|e| e.0);
    }
    for w in scratch.windows(2) {
        if w[0].0 == w[1].0 {
            return Err(invalid(format!(
                "{}: term id {} appears more than once",
                what(),
                w[0].0
            )));
        }
    }
    for &(t, v) in scratch.iter() {
        // `v > 0.0` also drops -0.0.
        if v > 0.0 {
            terms.push(t);
            vals.push(v);
        }
    }
    Ok(())
}

/// The exact score: the dot product of two vectors sorted by term id, summed in `f32` in
/// increasing term order. Every strategy scores through this function.
#[inline]
pub(crate) fn dot(qt: &[u32], qv: &[f32], dt: &[u32], dv: &[f32]) -> f32 {
    let (mut i, mut j) = (0usize, 0usize);
    let mut s = 0f32;
    while i < qt.len() && j < dt.len() {
        let (a, b) = (qt[i], dt[j]);
        if a < b {
            i += 1;
        } else if a > b {
            j += 1;
        } else {
            s += qv[i] * dv[j];
            i += 1;
            j += 1;
        }
    }
    s
}
