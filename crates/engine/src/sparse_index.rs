//! The concurrent wrapper around `quiver_lexical::SparseIndex` the bindings use: one writer at
//! a time, searches in parallel, batches validated (with progress and cancellation) before the
//! write lock is taken, batch search on the index's own thread pool, and lexical errors mapped
//! to coded engine errors (see [`crate::text_index::lexical_error`]).

use std::path::Path;
use std::sync::atomic::AtomicBool;

use quiver_lexical::{
    SparseBatch, SparseConfig, SparseEncoder, SparseIndex, SparseStrategy, SparseVec,
};

use crate::error::{err, Result};
use crate::pooled::{two_phase_add, Pooled};
use crate::text_index::{lexical_error, TextHits};
use crate::AddOutcome;

/// Hits of one sparse query: (key, dot product), best first.
pub type SparseHits = TextHits;

/// A [`SparseIndex`] shared between threads, with the thread pool that runs its batch
/// searches.
pub type SharedSparseIndex = Pooled<SparseIndex>;

impl Pooled<SparseIndex> {
    /// An empty index whose term ids must be below `vocab_size` (1..=`u32::MAX`).
    pub fn create(vocab_size: u32, threads: usize) -> Result<Self> {
        if vocab_size == 0 {
            return Err(err!(
                InvalidArgument,
                "vocabSize must be an integer in 1..={}, got 0",
                u32::MAX
            ));
        }
        Self::new(SparseIndex::new(SparseConfig { vocab_size }), threads)
    }

    /// Adds (or, with `upsert`, replaces) a CSR batch. The batch is validated without the
    /// write lock, so searches continue, then applied all at once (all or nothing). Without
    /// `upsert`, a key already present is `ERR_DUPLICATE_KEY`. `cancel` is checked and
    /// `progress(done, total)` called while validating; a cancelled add inserts nothing and
    /// reports `aborted`.
    pub fn add(
        &self,
        keys: &[u32],
        vectors: SparseBatch<'_>,
        upsert: bool,
        cancel: &AtomicBool,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<AddOutcome> {
        let _writer = self.writer.lock();
        if !upsert {
            let index = self.inner.read();
            if let Some(k) = keys.iter().find(|&&k| index.contains(k)) {
                return Err(err!(
                    DuplicateKey,
                    "key {k} is already in the index (use upsert to replace it)"
                ));
            }
        }
        two_phase_add(
            keys.len(),
            cancel,
            progress,
            |poll| self.inner.read().prepare_add(keys, vectors, upsert, poll),
            |batch| self.inner.write().apply(batch),
        )
    }

    /// Top-`k` of one query by `strategy`.
    pub fn search(
        &self,
        query: SparseVec<'_>,
        k: usize,
        strategy: SparseStrategy,
    ) -> Result<SparseHits> {
        self.inner
            .read()
            .search_with(&query, k, strategy)
            .map_err(lexical_error)
    }

    /// Top-`k` of each query of a CSR batch, the queries spread over the index's pool. Every
    /// query is validated first: one bad query fails the call.
    pub fn search_batch(
        &self,
        queries: SparseBatch<'_>,
        k: usize,
        strategy: SparseStrategy,
    ) -> Result<Vec<SparseHits>> {
        let queries = queries.vectors().map_err(lexical_error)?;
        let index = self.inner.read();
        self.pool.install(|| {
            index
                .search_batch(&queries, k, strategy)
                .map_err(lexical_error)
        })
    }
}

/// A [`SparseEncoder`] built from a tokenizer.json and a weights table (paths or bytes).
pub fn sparse_encoder(tokenizer_json: &[u8], weights: &[u8]) -> Result<SparseEncoder> {
    SparseEncoder::from_bytes(tokenizer_json, weights).map_err(lexical_error)
}

/// [`sparse_encoder`] from two files.
pub fn sparse_encoder_from_files(tokenizer_json: &Path, weights: &Path) -> Result<SparseEncoder> {
    SparseEncoder::from_files(tokenizer_json, weights).map_err(lexical_error)
}

/// Encodes one text: sorted term ids and their weights.
pub fn encode(encoder: &SparseEncoder, text: &str) -> Result<(Vec<u32>, Vec<f32>)> {
    encoder.encode(text).map_err(lexical_error)
}

/// Encodes texts into one CSR batch (`indptr`, `indices`, `values`).
pub fn encode_batch<S: AsRef<str>>(
    encoder: &SparseEncoder,
    texts: &[S],
) -> Result<(Vec<u32>, Vec<u32>, Vec<f32>)> {
    let mut indptr = Vec::with_capacity(texts.len() + 1);
    let (mut indices, mut values) = (Vec::new(), Vec::new());
    indptr.push(0u32);
    for t in texts {
        let (i, v) = encode(encoder, t.as_ref())?;
        indices.extend_from_slice(&i);
        values.extend_from_slice(&v);
        let end = u32::try_from(indices.len())
            .map_err(|_| err!(InvalidArgument, "the encoded batch has too many entries"))?;
        indptr.push(end);
    }
    Ok((indptr, indices, values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn never() -> AtomicBool {
        AtomicBool::new(false)
    }

    #[test]
    fn add_search_and_codes() {
        let ix = SharedSparseIndex::create(100, 2).expect("create");
        let batch = SparseBatch::new(&[0, 2, 3], &[5, 1, 7], &[0.5, 2.0, 1.0]);
        let out = ix.add(&[10, 20], batch, false, &never(), &|_, _| {});
        assert_eq!(out.ok().map(|o| o.inserted), Some(2));
        let again = ix.add(&[10, 20], batch, false, &never(), &|_, _| {});
        assert_eq!(again.err().map(|e| e.code), Some(ErrorCode::DuplicateKey));
        let hits = ix
            .search(
                SparseVec::new(&[1, 7], &[1.0, 1.0]),
                10,
                SparseStrategy::Wand,
            )
            .expect("search");
        assert_eq!(hits, vec![(10, 2.0), (20, 1.0)]);
        let b = ix
            .search_batch(
                SparseBatch::new(&[0, 1, 1], &[5], &[2.0]),
                10,
                SparseStrategy::MaxScore,
            )
            .expect("batch");
        assert_eq!(b, vec![vec![(10, 1.0)], vec![]]);
        let bad = ix.search(SparseVec::new(&[100], &[1.0]), 1, SparseStrategy::MaxScore);
        assert_eq!(bad.err().map(|e| e.code), Some(ErrorCode::InvalidArgument));
        let bad = ix.search_batch(
            SparseBatch::new(&[1, 1], &[5], &[2.0]),
            1,
            Default::default(),
        );
        assert_eq!(bad.err().map(|e| e.code), Some(ErrorCode::InvalidArgument));
    }

    #[test]
    fn cancelled_add_inserts_nothing() {
        let ix = SharedSparseIndex::create(10, 1).expect("create");
        let n = 3000u32;
        let keys: Vec<u32> = (0..n).collect();
        let indptr: Vec<u32> = (0..=n).collect();
        let indices = vec![1u32; n as usize];
        let values = vec![1f32; n as usize];
        let cancel = AtomicBool::new(true);
        let out = ix
            .add(
                &keys,
                SparseBatch::new(&indptr, &indices, &values),
                false,
                &cancel,
                &|_, _| {},
            )
            .expect("add");
        assert!(out.aborted);
        assert_eq!(ix.read().len(), 0);
    }
}
