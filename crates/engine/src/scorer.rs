//! The f32 scorer: HNSW traversal and flat scans over full-precision vectors.

use quiver_distance::{kernels, prefetch, Metric};
use quiver_hnsw::{QueryScorer, Scorer};

/// Scores stored f32 rows (`dim` floats each). For cosine the rows and queries are
/// unit-normalised, so every metric is one kernel call.
pub struct F32Scorer<'a> {
    data: &'a [f32],
    dim: usize,
    dist: fn(&[f32], &[f32]) -> f32,
    prefetch_lines: usize,
}

impl<'a> F32Scorer<'a> {
    /// A scorer over `data` (row-major, `dim` per row) for `metric`.
    pub fn new(data: &'a [f32], dim: usize, metric: Metric) -> Self {
        F32Scorer {
            data,
            dim,
            dist: kernels().distance_fn(metric),
            // Enough lines to cover the row; the hardware prefetcher follows long rows.
            prefetch_lines: (dim * 4).div_ceil(64),
        }
    }

    /// Row `id`. Ids come from the graph, which only links inserted slots; an id past the
    /// data yields an empty row (distance of nothing) rather than a panic.
    #[inline]
    pub fn row(&self, id: u32) -> &'a [f32] {
        let start = id as usize * self.dim;
        self.data.get(start..start + self.dim).unwrap_or(&[])
    }

    /// Distance between a query and row `id`.
    #[inline]
    pub fn distance_to(&self, q: &[f32], id: u32) -> f32 {
        (self.dist)(q, self.row(id))
    }
}

/// A query bound to an [`F32Scorer`].
pub struct F32Query<'a> {
    scorer: &'a F32Scorer<'a>,
    q: &'a [f32],
}

impl QueryScorer for F32Query<'_> {
    #[inline]
    fn distance(&self, id: u32) -> f32 {
        self.scorer.distance_to(self.q, id)
    }

    #[inline]
    fn prefetch(&self, id: u32) {
        let row = self.scorer.row(id);
        prefetch(
            row.as_ptr().cast(),
            self.scorer.prefetch_lines.min(row.len().div_ceil(16)),
        );
    }
}

impl<'s> Scorer for F32Scorer<'s> {
    type Query<'a>
        = F32Query<'a>
    where
        Self: 'a;

    fn query<'a>(&'a self, q: &'a [f32]) -> F32Query<'a> {
        F32Query { scorer: self, q }
    }

    fn node_query(&self, id: u32) -> F32Query<'_> {
        F32Query {
            scorer: self,
            q: self.row(id),
        }
    }

    fn between(&self, a: u32, b: u32) -> f32 {
        (self.dist)(self.row(a), self.row(b))
    }
}
