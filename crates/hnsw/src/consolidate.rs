//! Repairing the graph around deleted nodes.
//!
//! A delete only sets a tombstone: the node keeps routing searches but is never returned.
//! Once many nodes are deleted, [`Graph::consolidate`] re-links every live node that points at
//! a deleted one (its live links plus live nodes reached through up to three deleted hops,
//! re-selected with the heuristic), moves the entry point to a live node, and frees the deleted slots for
//! reuse.

use rayon::prelude::*;

use crate::graph::Graph;
use crate::insert::select_neighbors;
use crate::Scorer;

/// How many deleted nodes in a row a repair looks through for replacement neighbours. It
/// stops earlier once it has `4 × max_links` distinct candidates. On the clustered test set
/// with 30 % deleted, recall@10 after consolidation went from 0.945 (one hop, as before) to
/// 0.962, the same as with the tombstones still in place (0.968 before any delete).
const REPAIR_HOPS: usize = 3;

impl Graph {
    /// Re-links around every deleted node among the first `nodes` slots and returns the ids
    /// that are now free (unlinked, tombstone cleared, ready for [`Graph::insert`]). Runs on
    /// the current rayon pool. `free` lists (sorted ascending) slots below `nodes` that hold no
    /// node (freed earlier and not reused); every other slot below `nodes` must be inserted.
    /// The same as [`Graph::repair_deleted`] then [`Graph::free_deleted`].
    pub fn consolidate<S: Scorer>(&mut self, scorer: &S, nodes: usize, free: &[u32]) -> Vec<u32> {
        self.repair_deleted(scorer, nodes, free);
        self.free_deleted(nodes)
    }

    /// The part of [`Graph::consolidate`] that needs only `&self`, and is most of its work:
    /// every live node that links to a deleted one is re-linked, the entry point moves to a
    /// live node, and live nodes left without neighbours are connected again. Searches may run
    /// meanwhile (they see each list before or after its rewrite, as during inserts); no
    /// insert or delete may. Deleted nodes keep their links and tombstones until
    /// [`Graph::free_deleted`].
    pub fn repair_deleted<S: Scorer>(&self, scorer: &S, nodes: usize, free: &[u32]) {
        if self.is_read_only() || self.deleted_count() == 0 {
            return;
        }
        let nodes = nodes.min(self.capacity);
        (0..nodes as u32)
            .into_par_iter()
            .filter(|&id| !self.is_deleted(id) && free.binary_search(&id).is_err())
            .for_each(|id| {
                for level in 0..=self.level(id) {
                    self.repair(scorer, id, level);
                }
            });

        // New entry point: the live node with the highest level.
        if let Some((ep, _)) = self.entry() {
            if self.is_deleted(ep) {
                let _entry = self.entry_lock.lock();
                let best = (0..nodes as u32)
                    .filter(|&id| !self.is_deleted(id) && free.binary_search(&id).is_err())
                    .map(|id| (self.level(id), id))
                    .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
                match best {
                    Some((level, id)) => self.set_entry(id, level),
                    None => self.clear_entry(),
                }
            }
        }

        // Live nodes whose every neighbour was deleted are now isolated: search for new
        // neighbours from the (live) entry point, as an insert would.
        if let Some(entry) = self.entry() {
            let isolated: Vec<u32> = (0..nodes as u32)
                .filter(|&id| {
                    id != entry.0 && !self.is_deleted(id) && free.binary_search(&id).is_err()
                })
                .filter(|&id| {
                    self.block(id, 0)
                        .first()
                        .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed) == 0)
                })
                .collect();
            for id in isolated {
                self.connect(scorer, id, self.level(id), entry);
            }
        }
    }

    /// The part of [`Graph::consolidate`] that needs `&mut self`, and is quick: every deleted
    /// node among the first `nodes` slots is unlinked and its tombstone cleared. Call it after
    /// [`Graph::repair_deleted`] (no live node links to a deleted one any more). Returns the
    /// freed ids.
    pub fn free_deleted(&mut self, nodes: usize) -> Vec<u32> {
        if self.is_read_only() || self.deleted_count() == 0 {
            return Vec::new();
        }
        let nodes = nodes.min(self.capacity);
        let freed: Vec<u32> = (0..nodes as u32)
            .filter(|&id| self.is_deleted(id))
            .collect();
        for &id in &freed {
            self.reset_slot(id);
        }
        freed
    }

    /// Replaces deleted links of live node `id` at `level`.
    fn repair<S: Scorer>(&self, scorer: &S, id: u32, level: usize) {
        let mut links = Vec::new();
        self.links_into(id, level, &mut links);
        if !links.iter().any(|&l| self.is_deleted(l)) {
            return;
        }
        // Candidates: the live links, plus the live nodes reachable through deleted ones
        // within REPAIR_HOPS steps (with many deletions, a deleted neighbour's neighbours are
        // often deleted too, and one hop leaves too few candidates to choose from).
        let enough = 4 * self.params.max_links(level);
        let mut cands: Vec<u32> = Vec::with_capacity(links.len() * 4);
        let mut through: Vec<u32> = Vec::new();
        for &l in &links {
            if self.is_deleted(l) {
                through.push(l);
            } else {
                cands.push(l);
            }
        }
        let mut hop = Vec::new();
        for _ in 0..REPAIR_HOPS {
            cands.sort_unstable();
            cands.dedup();
            if through.is_empty() || cands.len() >= enough {
                break;
            }
            let mut next = Vec::new();
            for &d in &through {
                self.links_into(d, level, &mut hop);
                for &h in &hop {
                    if h == id {
                        continue;
                    }
                    if self.is_deleted(h) {
                        next.push(h);
                    } else {
                        cands.push(h);
                    }
                }
            }
            next.sort_unstable();
            next.dedup();
            through = next;
        }
        cands.sort_unstable();
        cands.dedup();
        let mut scored: Vec<(f32, u32)> = cands
            .into_iter()
            .map(|c| (scorer.between(id, c), c))
            .collect();
        scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let kept = select_neighbors(scorer, &scored, self.params.max_links(level));
        let _guard = self.lock(id);
        self.write_links(id, level, &kept);
    }
}
