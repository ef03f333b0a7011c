//! The user-level objects of quiver-search, independent of Node: [`VectorIndex`] (keys,
//! HNSW or flat search, batch search on a thread pool), [`SharedIndex`] (the concurrent
//! wrapper the bindings hold), persistence and the [`Error`] type with stable codes.
//!
//! - `config.rs`: options, defaults, limits.
//! - `vector_index.rs`: add / upsert / remove / get / search / search_batch.
//! - `scorer.rs`: the f32 scorer the HNSW graph traverses with.
//! - `shared.rs`: locking, chunked adds with cancel and progress.
//! - `persist.rs`: the index file's sections on the shared container (`quiver-container`):
//!   atomic save, checked read or memory-mapped load; [`write_atomic`] for small files.
//! - `options.rs`: option names and values as a host language passes them, parsed.
//! - `multi_vector.rs`, `text_index.rs`, `sparse_index.rs`: the multi-vector (MUVERA), BM25
//!   and learned-sparse indexes; `pooled.rs`: the locking shell of the sparse index.
//!
//! A host binding depends on this crate alone: the types of the other crates it needs are
//! re-exported here.

pub mod config;
pub mod error;
pub mod filtered;
pub mod handle;
pub mod meta;
pub mod multi_vector;
pub mod options;
pub mod persist;
pub mod pooled;
pub mod quantized;
pub mod scorer;
pub mod shared;
pub mod sparse_index;
pub mod store;
pub mod text_index;
pub mod vector_index;
pub mod writes;

pub use config::{limits, Config, IndexKind, Limits, MAX_DIM, MAX_EF, MAX_K, MAX_M, MAX_THREADS};
pub use error::{Error, ErrorCode, Result};
pub use filtered::{
    FilterStrategy, FilteredBatch, HitMeta, Plan, PlanKind, SearchOptions, SearchRequest,
};
pub use handle::{Handle, Store};
pub use meta::{Meta, MetaConfig, MetaInput};
pub use persist::write_atomic;
pub use quiver_distance::Metric;
pub use quiver_filter::{Filter, Schema};
pub use shared::{AddOutcome, SharedIndex};
pub use vector_index::{BatchHits, MemoryUsage, SearchHits, VectorIndex};

pub use quiver_lexical::{
    Bm25Params, SparseBatch, SparseEncoder, SparseIndex, SparseStrategy, SparseVec, TextIndex,
};
pub use quiver_muvera::fde::{FdeEncoder, FdeParams, ENCODER_VERSION};
