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
    fn insert(&mut self, id: u32) -> bool {
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

    /// The distance a new entry must beat to get in.
    #[inline]
    fn bound(&self) -> f32 {
        if self.items.len() < self.cap {
            f32::INFINITY
        } else {
            self.items[self.items.len() - 1].0
        }
    }

    #[inline]
    fn insert(&mut self, dist: f32, id: u32) {
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

    pub(crate) fn into_sorted(self) -> Vec<(f32, u32)> {
        self.items.into_iter().map(|(d, i, _)| (d, i)).collect()
    }
}

impl Graph {
    /// Greedy descent from `(start, start_dist)` through levels `top..=bottom+1`, returning
    /// the closest node found and its distance.
    pub(crate) fn descend<Q: QueryScorer>(
        &self,
        q: &Q,
        mut cur: u32,
        mut cur_dist: f32,
        top: usize,
        bottom: usize,
        links: &mut Vec<u32>,
        stats: &mut SearchStats,
    ) -> (u32, f32) {
        for level in (bottom + 1..=top).rev() {
            loop {
                let mut changed = false;
                self.links_into(cur, level, links);
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
                if let Some(&first) = fresh.first() {
                    q.prefetch(first);
                }
                for (i, &n) in fresh.iter().enumerate() {
                    if let Some(&next) = fresh.get(i + 1) {
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

    /// The `k` nearest live nodes to `query` (`ef` candidates explored, raised to `k`), closest
    /// first. Returns fewer only when fewer than `k` live nodes exist; if the graph walk finds
    /// too few live nodes (heavy deletion), falls back to an exact scan of the live nodes.
    pub fn search<S: Scorer>(
        &self,
        scorer: &S,
        query: &[f32],
        k: usize,
        ef: usize,
        live_nodes: usize,
    ) -> (Vec<(f32, u32)>, SearchStats) {
        let mut stats = SearchStats::default();
        let want = k.min(live_nodes);
        let Some((ep, top)) = self.entry() else {
            return (Vec::new(), stats);
        };
        if want == 0 {
            return (Vec::new(), stats);
        }
        let q = scorer.query(query);
        let mut links = Vec::with_capacity(self.params.m0);
        let d0 = q.distance(ep);
        stats.distances += 1;
        let (cur, cur_dist) = self.descend(&q, ep, d0, top, 0, &mut links, &mut stats);
        let ef = ef.max(k);
        let mut found = self.search_layer(&q, (cur, cur_dist), ef, 0, &mut stats);
        if self.deleted_count() > 0 {
            found.retain(|&(_, id)| !self.is_deleted(id));
        }
        if found.len() < want {
            found = self.exhaustive(&q, want, live_nodes, &mut stats);
        }
        found.truncate(want);
        (found, stats)
    }

    /// Exact scan of every live node in `0..capacity` that has been linked into the graph.
    fn exhaustive<Q: QueryScorer>(
        &self,
        q: &Q,
        k: usize,
        live_nodes: usize,
        stats: &mut SearchStats,
    ) -> Vec<(f32, u32)> {
        let mut pool = Pool::new(k);
        let mut seen = 0usize;
        for id in 0..self.capacity as u32 {
            if seen >= live_nodes {
                break;
            }
            if self.is_deleted(id) || !self.is_linked(id) {
                continue;
            }
            seen += 1;
            pool.insert(q.distance(id), id);
            stats.distances += 1;
        }
        pool.into_sorted()
    }

    /// Whether `id` is part of the graph: it has links, or it is the entry point.
    fn is_linked(&self, id: u32) -> bool {
        self.entry().map(|(e, _)| e) == Some(id)
            || self
                .block(id, 0)
                .first()
                .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed) > 0)
    }
}
