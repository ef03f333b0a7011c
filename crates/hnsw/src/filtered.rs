//! Filtered search and range search.
//!
//! **Filtered search** ([`Graph::search_filtered`]) returns the `k` nearest nodes that pass a
//! caller-supplied predicate `accept(id)` (a metadata filter, an allow-list, …). The upper
//! levels are always descended without the filter (they only pick a level-0 entry point);
//! level 0 is then searched in one of two ways, chosen by [`FilterMode`]:
//!
//! - [`FilterMode::Graph`], the filter of hnswlib: every node reached routes the search, but
//!   only accepted, live nodes enter the result pool (size `max(ef, k)`). The search stops
//!   when the closest unexpanded candidate is farther than the worst entry of a *full* result
//!   pool, so while fewer than `ef` accepted nodes have been found it keeps going. Good for
//!   broad filters; at low selectivity it scores many rejected nodes.
//! - [`FilterMode::Acorn`], ACORN-1 (Patel et al., SIGMOD 2024, the variant without extra
//!   build-time links, as Qdrant uses it): only accepted nodes are scored and routed. When a
//!   node is expanded, each neighbour that fails the filter is itself looked through (its
//!   links are read) and its accepted neighbours are considered too, so the search hops over
//!   rejected regions two links at a time. Each node is considered once per search. If the
//!   accepted candidates run out before the result pool is full (the accepted set is not
//!   connected within two hops, or the entry region is all rejected), the rejected nodes it
//!   looked through are expanded in turn, closest parent first, still scoring only accepted
//!   nodes. Far fewer distance computations than graph mode at low selectivity; recall drops
//!   when the accepted set is scattered over regions that are far apart in the graph (it
//!   fills its pool from the first accepted region it reaches).
//!
//! Both modes count distance computations and stop once `budget` of them have been spent,
//! reporting `exhausted` so the caller can fall back to an exact scan over the accepted set.
//!
//! **Range search** ([`Graph::search_range`], [`Graph::search_range_filtered`]) returns every
//! node within `radius` of the query (in the scorer's distance units: squared L2 for an L2
//! scorer). It runs a level-0 search with `ef`; while the pool comes back full with its
//! farthest entry still inside the radius (so more hits may lie beyond it), it doubles `ef`
//! and searches again, up to `ef_cap`. The unfiltered variant runs the ordinary
//! [`Graph::search`] level-0 loop, untouched.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::graph::Graph;
use crate::search::{with_visited, Pool, SearchStats};
use crate::{QueryScorer, Scorer};

/// How level 0 is traversed by a filtered search. See the [module docs](self).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FilterMode {
    /// Every node routes; only accepted nodes are results (hnswlib's filter).
    #[default]
    Graph,
    /// Only accepted nodes are scored and routed; rejected neighbours are looked through to
    /// their own neighbours (ACORN-1, two-hop expansion).
    Acorn,
}

/// Outcome of [`Graph::search_filtered`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FilteredResult {
    /// `(distance, id)` of accepted, non-deleted nodes, closest first, at most `k`.
    pub hits: Vec<(f32, u32)>,
    /// Distances computed (descent included) and links read.
    pub stats: SearchStats,
    /// The distance budget ran out before the search finished; `hits` are valid but may miss
    /// nearer accepted nodes (the caller should scan exactly instead).
    pub exhausted: bool,
}

/// Outcome of [`Graph::search_range`] / [`Graph::search_range_filtered`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RangeResult {
    /// `(distance, id)` of non-deleted (and accepted) nodes with `distance <= radius`, closest
    /// first, at most `k_limit`.
    pub hits: Vec<(f32, u32)>,
    /// Totals over every round (the descent is done once).
    pub stats: SearchStats,
    /// `ef_cap` stopped the doubling while the pool was still full of in-radius nodes: more
    /// hits may exist.
    pub capped: bool,
    /// The distance budget ran out (filtered variant only); hits may be incomplete.
    pub exhausted: bool,
    /// The `ef` of the last round.
    pub ef: usize,
}

/// A frontier entry, ordered so that `BinaryHeap` pops the closest (ties: lowest id) first.
#[derive(Clone, Copy)]
struct Near(f32, u32);

impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
    }
}

impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Near {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Near {}

/// One range-search round: hits inside the radius, whether more may exist beyond the pool,
/// whether the budget ran out.
struct Round {
    hits: Vec<(f32, u32)>,
    more: bool,
    exhausted: bool,
}

impl Graph {
    /// Greedy descent from the entry point to level 0: the level-0 start `(id, distance)`.
    fn level0_start<Q: QueryScorer>(&self, q: &Q, stats: &mut SearchStats) -> Option<(u32, f32)> {
        let (ep, top) = self.entry()?;
        let d0 = q.distance(ep);
        stats.distances += 1;
        Some(self.descend(q, (ep, d0), top, 0, stats))
    }

    /// Filtered best-first search of level 0 from `entry`. Returns up to `cap` accepted,
    /// non-deleted nodes sorted closest first, and whether `budget` stopped it.
    #[allow(clippy::too_many_arguments)]
    fn filtered_layer<Q: QueryScorer, F: Fn(u32) -> bool>(
        &self,
        q: &Q,
        entry: (u32, f32),
        cap: usize,
        accept: &F,
        mode: FilterMode,
        budget: usize,
        stats: &mut SearchStats,
    ) -> (Pool, bool) {
        let has_deleted = self.deleted_count() > 0;
        let keep = |id: u32| accept(id) && !(has_deleted && self.is_deleted(id));
        with_visited(self.capacity, |visited| {
            let mut results = Pool::new(cap);
            let mut frontier = BinaryHeap::with_capacity(cap.saturating_mul(2).min(1 << 16));
            visited.insert(entry.0);
            frontier.push(Near(entry.1, entry.0));
            if keep(entry.0) {
                results.insert(entry.1, entry.0);
            }
            let m0 = self.params.m0;
            let mut links = Vec::with_capacity(m0);
            let mut second = Vec::with_capacity(m0);
            let mut fresh: Vec<u32> = Vec::with_capacity(m0 * 2);
            let ahead = q.prefetch_ahead().max(1);
            // Acorn: rejected nodes looked through, keyed by the distance of the node whose
            // expansion met them; expanded only by the rescue below.
            let mut rejected: BinaryHeap<Near> = BinaryHeap::new();
            loop {
                let node = match frontier.pop() {
                    // `bound` is infinite until the result pool is full: keep going until
                    // `cap` accepted nodes are held and nothing closer is left to expand.
                    Some(Near(dist, _)) if dist > results.bound() => break,
                    Some(near) => near,
                    // Acorn ran out of accepted candidates before filling the pool (the
                    // accepted nodes near the entry are not within two hops of the rest):
                    // expand the rejected nodes it looked through, closest parent first, still
                    // scoring only accepted nodes, until an accepted candidate turns up.
                    None if mode == FilterMode::Acorn && !results.is_full() => {
                        match rejected.pop() {
                            Some(near) => near,
                            None => break,
                        }
                    }
                    None => break,
                };
                let Near(dist, node) = node;
                self.links_into(node, 0, &mut links);
                stats.hops += 1;
                fresh.clear();
                match mode {
                    FilterMode::Graph => {
                        fresh.extend(links.iter().copied().filter(|&n| visited.insert(n)));
                    }
                    FilterMode::Acorn => {
                        for &n in links.iter() {
                            if !visited.insert(n) {
                                continue;
                            }
                            if accept(n) {
                                fresh.push(n);
                                continue;
                            }
                            // Rejected: look through it to its accepted neighbours. Rejected
                            // second-hop nodes stay unmarked so that they can still be looked
                            // through when met as a direct neighbour.
                            rejected.push(Near(dist, n));
                            self.links_into(n, 0, &mut second);
                            stats.hops += 1;
                            for &m in second.iter() {
                                if accept(m) && visited.insert(m) {
                                    fresh.push(m);
                                }
                            }
                        }
                    }
                }
                for &n in fresh.iter().take(ahead) {
                    q.prefetch(n);
                }
                for (i, &n) in fresh.iter().enumerate() {
                    if stats.distances >= budget {
                        return (results, true);
                    }
                    if let Some(&next) = fresh.get(i + ahead) {
                        q.prefetch(next);
                    }
                    let d = q.distance(n);
                    stats.distances += 1;
                    if d < results.bound() {
                        frontier.push(Near(d, n));
                        if keep(n) {
                            results.insert(d, n);
                        }
                    }
                }
            }
            (results, false)
        })
    }

    /// The `k` nearest nodes that pass `accept` and are not deleted, closest first.
    ///
    /// `ef` (raised to `k`) is the result pool size; `mode` picks the level-0 traversal (see
    /// [`FilterMode`] and the [module docs](self)); after `budget` distance computations the
    /// search stops with `exhausted = true` (`usize::MAX`: no budget). May return fewer than
    /// `k` hits when the accepted set is small or poorly connected; the caller then scans
    /// exactly.
    #[allow(clippy::too_many_arguments)]
    pub fn search_filtered<S: Scorer, F: Fn(u32) -> bool>(
        &self,
        scorer: &S,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: F,
        mode: FilterMode,
        budget: usize,
    ) -> FilteredResult {
        let mut stats = SearchStats::default();
        if k == 0 {
            return FilteredResult::default();
        }
        let q = scorer.query(query);
        let Some(start) = self.level0_start(&q, &mut stats) else {
            return FilteredResult::default();
        };
        let (pool, exhausted) =
            self.filtered_layer(&q, start, ef.max(k), &accept, mode, budget, &mut stats);
        let mut hits = pool.into_sorted();
        hits.truncate(k);
        FilteredResult {
            hits,
            stats,
            exhausted,
        }
    }

    /// Every live node within `radius` of `query` (scorer distance units), closest first, at
    /// most `k_limit`.
    ///
    /// Searches level 0 with `ef`; while the pool comes back full and its farthest entry is
    /// still within `radius`, doubles `ef` (up to `ef_cap`) and searches again. `capped` says
    /// the cap stopped it while more hits might exist. Uses the same level-0 loop as
    /// [`Graph::search`].
    pub fn search_range<S: Scorer>(
        &self,
        scorer: &S,
        query: &[f32],
        radius: f32,
        ef: usize,
        ef_cap: usize,
        k_limit: usize,
    ) -> RangeResult {
        let q = scorer.query(query);
        let has_deleted = self.deleted_count() > 0;
        self.range_rounds(&q, ef, ef_cap, k_limit, |q, start, ef, stats| {
            let raw = self.search_layer(q, start, ef, 0, stats);
            // Deleted nodes fill the pool too: judge "more may exist" on the raw pool.
            let more = raw.len() >= ef && raw.last().is_some_and(|e| e.0 <= radius);
            let hits = raw
                .into_iter()
                .filter(|&(d, id)| d <= radius && !(has_deleted && self.is_deleted(id)))
                .collect();
            Round {
                hits,
                more,
                exhausted: false,
            }
        })
    }

    /// [`Graph::search_range`] restricted to nodes passing `accept`, traversed as `mode`
    /// says, with a distance `budget` over all rounds (see [`Graph::search_filtered`]).
    #[allow(clippy::too_many_arguments)]
    pub fn search_range_filtered<S: Scorer, F: Fn(u32) -> bool>(
        &self,
        scorer: &S,
        query: &[f32],
        radius: f32,
        ef: usize,
        ef_cap: usize,
        k_limit: usize,
        accept: F,
        mode: FilterMode,
        budget: usize,
    ) -> RangeResult {
        let q = scorer.query(query);
        self.range_rounds(&q, ef, ef_cap, k_limit, |q, start, ef, stats| {
            let (pool, exhausted) = self.filtered_layer(q, start, ef, &accept, mode, budget, stats);
            let more = pool.is_full() && pool.farthest().is_some_and(|d| d <= radius);
            let mut hits = pool.into_sorted();
            hits.retain(|&(d, _)| d <= radius);
            Round {
                hits,
                more,
                exhausted,
            }
        })
    }

    /// The doubling loop shared by both range searches: one descent, then `round` (which
    /// applies the radius) with growing `ef` until the pool no longer fills inside the radius, `k_limit` hits are held,
    /// the budget runs out, or `ef_cap` is reached.
    fn range_rounds<Q: QueryScorer>(
        &self,
        q: &Q,
        ef: usize,
        ef_cap: usize,
        k_limit: usize,
        mut round: impl FnMut(&Q, (u32, f32), usize, &mut SearchStats) -> Round,
    ) -> RangeResult {
        let mut stats = SearchStats::default();
        if k_limit == 0 {
            return RangeResult::default();
        }
        let Some(start) = self.level0_start(q, &mut stats) else {
            return RangeResult {
                stats,
                ..RangeResult::default()
            };
        };
        let mut ef = ef.max(1);
        let cap = ef_cap.max(ef);
        loop {
            let r = round(q, start, ef, &mut stats);
            let done = r.exhausted || !r.more || r.hits.len() >= k_limit;
            if done || ef >= cap {
                let mut hits = r.hits;
                hits.truncate(k_limit);
                return RangeResult {
                    hits,
                    stats,
                    capped: !done,
                    exhausted: r.exhausted,
                    ef,
                };
            }
            ef = ef.saturating_mul(2).min(cap);
        }
    }
}
