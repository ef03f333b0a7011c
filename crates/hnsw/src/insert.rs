//! Insertion and the neighbour-selection heuristic.

use crate::graph::Graph;
use crate::search::SearchStats;
use crate::{QueryScorer, Scorer};

/// The standard HNSW heuristic (Malkov & Yashunin, Algorithm 4, without extension or
/// keep-pruned): walk candidates closest first and keep one only if it is closer to the base
/// than to every neighbour kept so far. `candidates` must be sorted by distance to the base.
pub fn select_neighbors<S: Scorer>(scorer: &S, candidates: &[(f32, u32)], max: usize) -> Vec<u32> {
    let mut kept: Vec<u32> = Vec::with_capacity(max);
    for &(dist, id) in candidates {
        if kept.len() >= max {
            break;
        }
        if kept.iter().all(|&r| scorer.between(id, r) >= dist) {
            kept.push(id);
        }
    }
    kept
}

impl Graph {
    /// Inserts node `id`, whose data the scorer can already read. Safe to call from many
    /// threads at once for different ids; `id` must be `< capacity()` and not yet inserted
    /// (or freed with [`Graph::reset_slot`]). Returns false on a read-only graph or a bad id.
    pub fn insert<S: Scorer>(&self, scorer: &S, id: u32) -> bool {
        if self.is_read_only() || id as usize >= self.capacity {
            return false;
        }
        let level = self.params.level_of(id);
        self.init_upper(id, level);

        // An insert that may raise the top level holds the entry lock throughout, so two
        // such inserts cannot race on the entry point (rare: about 1 in M^level inserts).
        let mut entry_guard = None;
        let entry = match self.entry() {
            Some((_, top)) if level <= top => self.entry(),
            _ => {
                entry_guard = Some(self.entry_lock.lock());
                self.entry()
            }
        };
        let Some((ep, top)) = entry else {
            // First node: it becomes the entry point.
            self.set_entry(id, level);
            return true;
        };

        self.connect(scorer, id, level, (ep, top));
        if level > top {
            self.set_entry(id, level);
        }
        drop(entry_guard);
        true
    }

    /// Finds neighbours for `id` on levels `0..=min(level, top)` starting from `entry` and
    /// links both ways.
    ///
    /// All of `id`'s own lists are written before any neighbour links back to it: until then
    /// no other thread can reach `id`, so a concurrent insert never lands on `id` while one of
    /// its lists is still empty (which would strand that insert with `id` as its only
    /// neighbour, and lose the edge when `id`'s list is written).
    pub(crate) fn connect<S: Scorer>(
        &self,
        scorer: &S,
        id: u32,
        level: usize,
        entry: (u32, usize),
    ) {
        let (ep, top) = entry;
        let q = scorer.node_query(id);
        let mut stats = SearchStats::default();
        let d0 = q.distance(ep);
        let (mut cur, mut cur_dist) = self.descend(&q, (ep, d0), top, level, &mut stats);
        let mut chosen: Vec<(usize, Vec<u32>)> = Vec::with_capacity(level.min(top) + 1);
        for l in (0..=level.min(top)).rev() {
            let found = self.search_layer(
                &q,
                (cur, cur_dist),
                self.params.ef_construction,
                l,
                &mut stats,
            );
            // Never link to self (reachable when re-linking) or to a tombstone (its slot will
            // be freed by consolidation).
            let mut found: Vec<(f32, u32)> = found
                .into_iter()
                .filter(|&(_, n)| n != id && !self.is_deleted(n))
                .collect();
            if scorer.refine(id, &mut found) {
                found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            }
            let neighbors = select_neighbors(scorer, &found, self.params.m);
            {
                // Each thread holds at most one node lock at a time: inserts cannot deadlock.
                let _node = self.lock(id);
                self.write_links(id, l, &neighbors);
            }
            chosen.push((l, neighbors));
            if let Some(&(_, n)) = found.first() {
                // The next level's search starts from the closest node, scored by the
                // traversal's own measure (the list may hold refined distances).
                cur = n;
                cur_dist = q.distance(n);
            }
        }
        for (l, neighbors) in chosen {
            for n in neighbors {
                self.link_back(scorer, n, id, l);
            }
        }
    }

    /// Adds `new` to `node`'s links at `level`; when full, re-selects among the old links
    /// plus `new` with the heuristic.
    fn link_back<S: Scorer>(&self, scorer: &S, node: u32, new: u32, level: usize) {
        let _guard = self.lock(node);
        if self.push_link(node, level, new) {
            return;
        }
        let mut current = Vec::with_capacity(self.params.m0 + 1);
        self.links_into(node, level, &mut current);
        if current.contains(&new) {
            return;
        }
        current.push(new);
        let mut cands: Vec<(f32, u32)> = current
            .iter()
            .map(|&c| (scorer.between(node, c), c))
            .collect();
        cands.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let kept = select_neighbors(scorer, &cands, self.params.max_links(level));
        self.write_links(node, level, &kept);
    }
}
