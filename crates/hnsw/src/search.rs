//! The HNSW search loop: greedy descent through the upper levels, then a best-first search
//! of level 0 with a bounded, sorted candidate pool.

use std::cell::RefCell;

use crate::graph::Graph;
use crate::{QueryScorer, Scorer};

/// Counters from one search, for tests and tuning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Distance evaluations.
    pub distances: usize,
    /// Nodes expanded (their links read).
    pub hops: usize,
}

/// Epoch-tagged visited marks: `marks[id] == epoch` means visited in the current search.
/// Clearing is O(1) (bump the epoch) except once every 65,535 searches.
pub(crate) struct Visited {
    marks: Vec<u16>,
    epoch: u16,
}

impl Visited {
    const fn new() -> Self {
        Visited {
            marks: Vec::new(),
            epoch: 0,
        }
    }

    fn reset(&mut self, capacity: usize) {
        if self.marks.len() < capacity {
            self.marks.resize(capacity, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    /// Marks `id`; returns true if it was not yet visited.
    #[inline]
    pub(crate) fn insert(&mut self, id: u32) -> bool {
        match self.marks.get_mut(id as usize) {
            Some(m) if *m != self.epoch => {
                *m = self.epoch;
                true
            }
            _ => false,
        }
    }
}

thread_local! {
    static VISITED: RefCell<Visited> = const { RefCell::new(Visited::new()) };
}

/// Runs `f` with this thread's visited set, reset for a graph of `capacity` nodes.
pub(crate) fn with_visited<R>(capacity: usize, f: impl FnOnce(&mut Visited) -> R) -> R {
    VISITED.with(|v| match v.try_borrow_mut() {
        Ok(mut v) => {
            v.reset(capacity);
            f(&mut v)
        }
        // Re-entrant use on one thread cannot happen in this crate; stay correct anyway.
        Err(_) => {
            let mut fresh = Visited::new();
            fresh.reset(capacity);
            f(&mut fresh)
        }
    })
}

/// A candidate list of at most `cap` entries sorted by distance (ties by id), with a flag per
/// entry saying whether it has been expanded. Faster than a pair of binary heaps for the ef
/// values HNSW uses: inserts are a binary search plus a short memmove.
pub(crate) struct Pool {
    items: Vec<(f32, u32, bool)>,
    cap: usize,
    /// Index of the first entry not yet expanded.
    cursor: usize,
}

impl Pool {
    pub(crate) fn new(cap: usize) -> Self {
        Pool {
            items: Vec::with_capacity(cap + 1),
            cap: cap.max(1),
            cursor: 0,
        }
    }

    /// The distance a new entry must beat to get in (infinite while the pool is not full).
    #[inline]
    pub(crate) fn bound(&self) -> f32 {
        if self.items.len() < self.cap {
            f32::INFINITY
        } else {
            self.items[self.items.len() - 1].0
        }
    }

    /// Inserts `(dist, id)` if it beats [`Pool::bound`], dropping the farthest entry when full.
    #[inline]
    pub(crate) fn insert(&mut self, dist: f32, id: u32) {
        if dist >= self.bound() {
            return;
        }
        let pos = self
            .items
            .partition_point(|&(d, i, _)| d < dist || (d == dist && i < id));
        self.items.insert(pos, (dist, id, false));
        if self.items.len() > self.cap {
            self.items.pop();
        }
        if pos < self.cursor {
            self.cursor = pos;
        }
    }

    /// The closest entry not yet expanded, marking it expanded.
    #[inline]
    fn next(&mut self) -> Option<u32> {
        while self.cursor < self.items.len() {
            let c = self.cursor;
            self.cursor += 1;
            if !self.items[c].2 {
                self.items[c].2 = true;
                return Some(self.items[c].1);
            }
        }
        None
    }

    /// Whether the pool holds `cap` entries.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.items.len() >= self.cap
    }

    /// The farthest entry's distance, if any.
    #[inline]
    pub(crate) fn farthest(&self) -> Option<f32> {
        self.items.last().map(|e| e.0)
    }

    pub(crate) fn into_sorted(self) -> Vec<(f32, u32)> {
        self.items.into_iter().map(|(d, i, _)| (d, i)).collect()
    }
}

impl Graph {
    /// Greedy descent from `start = (node, distance)` through levels `top..=bottom+1`, returning
    /// the closest node found and its distance.
    pub(crate) fn descend<Q: QueryScorer>(
        &self,
        q: &Q,
        start: (u32, f32),
        top: usize,
        bottom: usize,
        stats: &mut SearchStats,
    ) -> (u32, f32) {
        let (mut cur, mut cur_dist) = start;
        let mut links = Vec::with_capacity(self.params.m);
        for level in (bottom + 1..=top).rev() {
            loop {
                let mut changed = false;
                self.links_into(cur, level, &mut links);
                stats.hops += 1;
                for &n in links.iter() {
                    let d = q.distance(n);
                    stats.distances += 1;
                    if d < cur_dist {
                        cur_dist = d;
                        cur = n;
                        changed = true;
                    }
                }
                if !changed {
                    break;
                }
            }
        }
        (cur, cur_dist)
    }

    /// Best-first search of one level from `entry`, keeping the `ef` closest nodes seen
    /// (deleted nodes included: they still route). Returns them sorted, closest first.
    pub(crate) fn search_layer<Q: QueryScorer>(
        &self,
        q: &Q,
        entry: (u32, f32),
        ef: usize,
        level: usize,
        stats: &mut SearchStats,
    ) -> Vec<(f32, u32)> {
        with_visited(self.capacity, |visited| {
            let mut pool = Pool::new(ef);
            visited.insert(entry.0);
            pool.insert(entry.1, entry.0);
            let mut links = Vec::with_capacity(self.params.m0);
            let mut fresh: Vec<u32> = Vec::with_capacity(self.params.m0);
            while let Some(node) = pool.next() {
                self.links_into(node, level, &mut links);
                stats.hops += 1;
                fresh.clear();
                fresh.extend(links.iter().copied().filter(|&n| visited.insert(n)));
                // Keep `ahead` neighbours' rows in flight while one is scored: a row fetched
                // from DRAM takes longer than one distance computation.
                let ahead = q.prefetch_ahead().max(1);
                for &n in fresh.iter().take(ahead) {
                    q.prefetch(n);
                }
                for (i, &n) in fresh.iter().enumerate() {
                    if let Some(&next) = fresh.get(i + ahead) {
                        q.prefetch(next);
                    }
                    let d = q.distance(n);
                    stats.distances += 1;
                    pool.insert(d, n);
                }
            }
            pool.into_sorted()
        })
    }

    /// The `k` nearest live nodes to `query` (`ef` candidates explored, raised to `k`),
    /// closest first. May return fewer than `k` when tombstones crowd the candidate pool or
    /// live nodes are unreachable; the caller (which knows its live set) then falls back to an
    /// exact scan, so users always get min(k, live) results.
    pub fn search<S: Scorer>(
        &self,
        scorer: &S,
        query: &[f32],
        k: usize,
        ef: usize,
    ) -> (Vec<(f32, u32)>, SearchStats) {
        let mut stats = SearchStats::default();
        let Some((ep, top)) = self.entry() else {
            return (Vec::new(), stats);
        };
        if k == 0 {
            return (Vec::new(), stats);
        }
        let q = scorer.query(query);
        let d0 = q.distance(ep);
        stats.distances += 1;
        let (cur, cur_dist) = self.descend(&q, (ep, d0), top, 0, &mut stats);
        let mut found = self.search_layer(&q, (cur, cur_dist), ef.max(k), 0, &mut stats);
        if self.deleted_count() > 0 {
            found.retain(|&(_, id)| !self.is_deleted(id));
        }
        found.truncate(k);
        (found, stats)
    }
}
