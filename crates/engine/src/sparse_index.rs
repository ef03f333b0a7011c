//! The concurrent wrapper around `quiver_lexical::SparseIndex` the bindings use (the shell,
//! metadata and persistence are [`Pooled`]'s): batches validated (with progress and
//! cancellation) before the write lock is taken, filtered search, batch search on the index's
//! own thread pool, and lexical errors mapped to coded engine errors (see
//! [`crate::text_index::lexical_error`]).

use std::path::Path;
use std::sync::atomic::AtomicBool;

use quiver_lexical::{
    SparseBatch, SparseConfig, SparseEncoder, SparseIndex, SparseStrategy, SparseVec,
};
use rayon::prelude::*;

use crate::error::{err, Result};
use crate::meta::{Meta, MetaConfig, MetaInput};
use crate::pooled::Pooled;
use crate::text_index::{lexical_error, TextHits};
use crate::{AddOutcome, HitMeta};

/// Hits of one sparse query: (key, dot product), best first.
pub type SparseHits = TextHits;

/// A [`SparseIndex`] shared between threads, with the thread pool that runs its batch
/// searches, and optional attributes and payloads per key (see [`Pooled`]).
pub type SharedSparseIndex = Pooled<SparseIndex>;

impl Pooled<SparseIndex> {
    /// An empty index whose term ids must be below `vocab_size` (1..=`u32::MAX`).
    pub fn create(vocab_size: u32, threads: usize) -> Result<Self> {
        Self::create_with(vocab_size, &MetaConfig::default(), threads)
    }

    /// An empty index that also stores attributes and/or payloads per key.
    pub fn create_with(vocab_size: u32, meta: &MetaConfig, threads: usize) -> Result<Self> {
        if vocab_size == 0 {
            return Err(err!(
                InvalidArgument,
                "vocabSize must be an integer in 1..={}, got 0",
                u32::MAX
            ));
        }
        Self::with_meta(
            SparseIndex::new(SparseConfig { vocab_size }),
            Meta::new(meta),
            threads,
        )
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
        self.add_with(
            keys,
            vectors,
            upsert,
            &MetaInput::default(),
            cancel,
            progress,
        )
    }

    /// [`SharedSparseIndex::add`] with attributes and payloads for the keys (validated before
    /// anything is written; an added or upserted key's previous metadata is replaced).
    pub fn add_with(
        &self,
        keys: &[u32],
        vectors: SparseBatch<'_>,
        upsert: bool,
        meta: &MetaInput<'_>,
        cancel: &AtomicBool,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<AddOutcome> {
        let writer = self.writer.lock();
        if !upsert {
            let index = self.read();
            if let Some(k) = keys.iter().find(|&&k| index.contains(k)) {
                return Err(err!(
                    DuplicateKey,
                    "key {k} is already in the index (use upsert to replace it)"
                ));
            }
        }
        self.add_locked(
            &writer,
            keys,
            meta,
            cancel,
            progress,
            |index, poll| {
                let batch = index.prepare_add(keys, vectors, upsert, poll)?;
                let room = index.room_for(&batch);
                Ok((batch, room))
            },
            |index, (batch, mut room)| {
                index.make_room(&mut room);
                index.apply_batch(batch).map(|()| room)
            },
        )
    }

    /// Top-`k` of one query by `strategy`.
    pub fn search(
        &self,
        query: SparseVec<'_>,
        k: usize,
        strategy: SparseStrategy,
    ) -> Result<SparseHits> {
        self.search_options(query, k, strategy, None, false, false)
            .map(|(hits, _)| hits)
    }

    /// Top-`k` of one query among the documents matching `filter` (JSON form; see
    /// `quiver_filter`; `None`: every document), plus the hits' attributes and/or payloads,
    /// read under the same lock as the search. The filter's key set is evaluated first and
    /// tested inside the pruning loops, so the result is the exact top-k of the matching
    /// documents.
    pub fn search_options(
        &self,
        query: SparseVec<'_>,
        k: usize,
        strategy: SparseStrategy,
        filter: Option<&str>,
        include_attributes: bool,
        include_payload: bool,
    ) -> Result<(SparseHits, HitMeta)> {
        let mut lists = self.search_meta(
            filter,
            include_attributes,
            include_payload,
            |index, accept| {
                Ok(vec![match accept {
                    None => index.search_with(&query, k, strategy)?,
                    Some(accept) => index.search_filtered(&query, k, strategy, accept)?,
                }])
            },
        )?;
        Ok(lists.pop().unwrap_or_default())
    }

    /// Top-`k` of each query of a CSR batch, the queries spread over the index's pool. Every
    /// query is validated first: one bad query fails the call.
    pub fn search_batch(
        &self,
        queries: SparseBatch<'_>,
        k: usize,
        strategy: SparseStrategy,
    ) -> Result<Vec<SparseHits>> {
        Ok(self
            .search_batch_options(queries, k, strategy, None, false, false)?
            .into_iter()
            .map(|(hits, _)| hits)
            .collect())
    }

    /// [`SharedSparseIndex::search_batch`] among the documents matching one `filter` (the
    /// same for every query; evaluated once), plus each hit list's attributes and/or payloads.
    pub fn search_batch_options(
        &self,
        queries: SparseBatch<'_>,
        k: usize,
        strategy: SparseStrategy,
        filter: Option<&str>,
        include_attributes: bool,
        include_payload: bool,
    ) -> Result<Vec<(SparseHits, HitMeta)>> {
        let queries = queries.vectors().map_err(lexical_error)?;
        self.search_meta(
            filter,
            include_attributes,
            include_payload,
            |index, accept| {
                self.pool.install(|| match accept {
                    None => index.search_batch(&queries, k, strategy),
                    Some(accept) => queries
                        .par_iter()
                        .map(|q| index.search_filtered(q, k, strategy, accept))
                        .collect(),
                })
            },
        )
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
