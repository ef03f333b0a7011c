//! Hierarchical Navigable Small World graph (Malkov & Yashunin, 2016) over a [`Scorer`].
//!
//! The graph knows nothing about vectors: every distance comes from a [`Scorer`] that the
//! caller supplies (the engine gives f32 scorers today; quantized scorers can traverse
//! compressed codes with the same graph code).
//!
//! Where to look:
//! - [`graph`]: the [`Graph`] struct, link arenas (level 0 in one contiguous arena of atomics,
//!   upper levels per node), tombstones, persistence accessors.
//! - [`search`]: the search loop (`search_layer`), the sorted candidate pool and the
//!   epoch-tagged visited set.
//! - [`filtered`]: filtered search ([`Graph::search_filtered`]: hnswlib-style graph filter
//!   or ACORN-1 two-hop traversal, with a distance budget) and range search
//!   ([`Graph::search_range`], [`Graph::search_range_filtered`]: all nodes within a radius,
//!   doubling `ef` up to a cap).
//! - [`insert`]: insertion and the neighbour-selection heuristic.
//! - [`consolidate`]: re-linking around deleted nodes.
//!
//! Concurrency: `Graph::insert` takes `&self`; many threads may insert at once (per-node locks
//! guard link writes; readers load links through atomics, so a reader never sees torn data).
//! Structural changes that move memory (`reserve`, `consolidate`, `reset_slot`) take `&mut self`.

pub mod consolidate;
pub mod filtered;
pub mod graph;
pub mod insert;
pub mod search;

pub use filtered::{FilterMode, FilteredResult, RangeResult};
pub use graph::{Graph, GraphParts, GrownArenas, WordArena, WordSource};
pub use search::SearchStats;

/// Construction parameters of a graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Links per node on upper levels (M).
    pub m: usize,
    /// Links per node on level 0 (M0 = 2M).
    pub m0: usize,
    /// Candidate list size while inserting.
    pub ef_construction: usize,
    /// Seed for levels (and, in the engine, insertion order).
    pub seed: u64,
}

impl Params {
    /// Standard parameters: M0 = 2M.
    pub fn new(m: usize, ef_construction: usize, seed: u64) -> Self {
        Params {
            m,
            m0: 2 * m,
            ef_construction,
            seed,
        }
    }

    /// Maximum links on `level`.
    #[inline]
    pub fn max_links(&self, level: usize) -> usize {
        if level == 0 {
            self.m0
        } else {
            self.m
        }
    }

    /// The level of node `id`: ⌊−ln U / ln M⌋ with U drawn from a hash of (seed, id), so a
    /// node's level does not depend on the order or thread in which it is inserted.
    pub fn level_of(&self, id: u32) -> usize {
        let h = splitmix64(self.seed ^ (u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        // 53 random bits -> U in (0, 1].
        let u = ((h >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let mult = 1.0 / (self.m.max(2) as f64).ln();
        let level = (-u.ln() * mult).floor();
        level.clamp(0.0, MAX_LEVEL as f64) as usize
    }
}

/// Highest level a node can have (levels above this are clamped; with M ≥ 2 reaching it needs
/// about 2^31 nodes).
pub const MAX_LEVEL: usize = 31;

/// SplitMix64: the project's deterministic mixing function (Steele et al., 2014).
#[inline]
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Scores stored nodes. Implemented by the engine over f32 vectors (and later over codes).
pub trait Scorer: Sync {
    /// A query prepared for scoring against many nodes.
    type Query<'a>: QueryScorer
    where
        Self: 'a;

    /// Prepares a user query (already validated and, for cosine, normalised).
    fn query<'a>(&'a self, q: &'a [f32]) -> Self::Query<'a>;

    /// Prepares node `id`'s own stored vector as a query (used while inserting it).
    fn node_query(&self, id: u32) -> Self::Query<'_>;

    /// Distance between two stored nodes (used by the neighbour-selection heuristic).
    fn between(&self, a: u32, b: u32) -> f32;

    /// Called on the candidates an insert's search found for node `id`, before neighbours are
    /// chosen among them. A scorer whose [`Scorer::node_query`] distances are estimates (a
    /// traversal over compact codes) replaces them here with the distances
    /// [`Scorer::between`] gives, so the heuristic compares like with like; the graph sorts
    /// the list again afterwards when this returns true. The default keeps them.
    fn refine(&self, _id: u32, _found: &mut [(f32, u32)]) -> bool {
        false
    }
}

/// One prepared query.
pub trait QueryScorer {
    /// Distance from the query to stored node `id` (smaller is closer).
    fn distance(&self, id: u32) -> f32;
    /// Hints the CPU to fetch node `id`'s data; called [`QueryScorer::prefetch_ahead`] steps
    /// before `distance(id)`.
    fn prefetch(&self, id: u32);
    /// How many neighbours ahead the search loop prefetches. One suits long rows (an f32 row of
    /// hundreds of dimensions already fills the line-fill buffers); compact codes gain from more
    /// rows in flight.
    fn prefetch_ahead(&self) -> usize {
        1
    }
}
