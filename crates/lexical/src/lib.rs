//! `quiver-lexical`: full-text search for quiver-search.
//!
//! * [`Analyzer`] turns text into terms. The default pipeline is BERT-like normalisation
//!   (NFD, accent stripping, lowercasing, CJK ideographs split one per token) and
//!   pre-tokenisation (whitespace and punctuation), English possessive removal, optional stop
//!   words ([`StopWords`]) and optional Snowball English stemming; alternatively a user's
//!   `tokenizer.json` (HuggingFace `tokenizers`, pure-Rust features only) supplies the
//!   normalizer and pre-tokenizer or the whole sub-word model. See [`analyzer`].
//! * [`TextIndex`] is an inverted index (postings in compressed blocks of 128 with per-block
//!   BM25 upper bounds, see [`postings`]) over `u32` keys, with upserts, lazy removal and
//!   compaction (see [`index`]).
//! * [`TextIndex::search`] returns the exact BM25 top-k with dynamic pruning over the
//!   per-block bounds: Block-Max MaxScore by default, Block-Max WAND on request
//!   ([`Strategy`], [`TextIndex::search_with`]); [`TextIndex::search_exhaustive`] computes
//!   the same list by scoring every match. All strategies return identical keys, scores and
//!   tie order (see [`bm25`]).
//! * [`TextIndex::analyze_batch`] (needs only `&self`, runs on the rayon pool, reports
//!   progress and can be cancelled) and [`TextIndex::apply`] split an add so that analysis
//!   can run outside a write lock.
//! * [`TextIndex::save`] / [`TextIndex::load`] use one checksummed file written atomically
//!   (see [`persist`]).
//!
//! * [`SparseIndex`] (see [`sparse`]) is the learned-sparse-retrieval counterpart: sparse
//!   vectors from SPLADE / uniCOIL-style models (`u32` term ids, non-negative `f32`
//!   weights) scored by dot product. A forward index holds the exact weights, an inverted
//!   index holds `u8` impacts (rounded up) with per-block maxima; Block-Max MaxScore prunes
//!   with those bounds and scores survivors exactly, so [`SparseIndex::search`] returns the
//!   same keys, scores and tie order as the exhaustive oracle. Lazy removal with compaction,
//!   upserts and a checked file format ([`sparse::persist`]) as for the text index.
//!   [`SparseEncoder`] turns query text into such a vector without a model (tokenizer plus
//!   per-token weights, for inference-free sparse models).
//!
//! Text arrives as Rust `&str`. Strings from JavaScript are converted to UTF-8 by the
//! bindings; a lone surrogate becomes U+FFFD, which the default analyzer removes (it is
//! treated like a control character), so it never produces a term.
//!
//! ```
//! use quiver_lexical::{AnalyzerConfig, Bm25Params, TextIndex};
//! let mut ix = TextIndex::new(AnalyzerConfig::default(), Bm25Params::default()).unwrap();
//! ix.add(&[1, 2], &["The cat sat on the mat", "Dogs are running in the park"]).unwrap();
//! let hits = ix.search("running dog", 10).unwrap();
//! assert_eq!(hits[0].0, 2);
//! ```

pub mod analyzer;
pub mod bm25;
pub mod error;
pub mod index;
pub mod persist;
pub mod postings;
pub mod sparse;
pub mod stopwords;

pub use analyzer::{Analyzer, AnalyzerConfig, AnalyzerKind, TokenizerMode, MAX_TOKEN_BYTES};
pub use bm25::{Bm25Params, Strategy};
pub use error::{LexicalError, Result};
pub use index::{AnalyzedBatch, AnalyzedDoc, TextIndex, TextMemory, TextRoom};
pub use sparse::{
    PreparedSparse, SparseBatch, SparseConfig, SparseEncoder, SparseIndex, SparseMemory,
    SparseRoom, SparseStrategy, SparseVec,
};
pub use stopwords::StopWords;
