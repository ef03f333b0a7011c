//! Exact top-k search over a [`SparseIndex`]: the exhaustive oracle and Block-Max MaxScore.
//!
//! Both score a document with the one exact function (`dot` in [`crate::sparse`]: a merge of
//! the sorted query with the document's forward entry, `f32` products summed in increasing
//! term order), so their scores are bit-identical. The ranking is score descending, then key
//! ascending (as in [`crate::bm25`]); documents scoring 0 are not returned.
//!
//! Block-Max MaxScore (Turtle & Flood, 1995; with block maxima as in Ding & Suel, 2011) uses
//! only upper bounds to *skip* documents, never to score them. A posting's bound is
//! `query weight · impact · scale` (the impact rounds the weight up, see [`crate::sparse`]),
//! a block's and a list's bound the same with its largest impact. Bounds are summed in
//! `f64` and multiplied by `1 + 2·(n + 2)·ε_f32` (`n` the number of query terms), which
//! exceeds the worst relative rounding of an `n`-term `f32` dot product of non-negative
//! numbers, so a bound is never below the exact `f32` score. A document is skipped only if
//! its bound is strictly below the current `k`-th score (ties can still win on the key).
//!
//! The lists of the query terms are ordered by their list bound; the longest prefix whose
//! bounds sum below the threshold is *non-essential*: only documents of the other,
//! *essential*, lists are candidates, taken in doc order. For a candidate `d`:
//!
//! 1. the sum of every list's bound for the block holding `d` (or the next posting after
//!    it) is checked; if it is below the threshold, every document up to the first of
//!    those blocks' ends is skipped at once;
//! 2. the essential postings at `d` contribute their own impacts, the non-essential lists
//!    their block bounds, replaced (highest first) by the posting's impact or nothing as
//!    each list is advanced to `d`, while the sum can still reach the threshold;
//! 3. a survivor that is not deleted is scored exactly and offered to the top-k heap.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::dot;
use super::index::{SparseIndex, TermList};
use super::BLOCK;

/// A validated query: sorted term ids without repeats, positive weights.
#[derive(Clone, Debug, Default)]
pub(crate) struct Query {
    pub terms: Vec<u32>,
    pub vals: Vec<f32>,
}

/// A result candidate; `Ord` puts worse entries first-out of a max-heap (lower score, then
/// larger key), so the heap's top is the entry to evict. Scores are finite or `+∞`, and
/// positive, so their bit patterns order like the numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    score: u32,
    key: u32,
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Entry {
    fn cmp(&self, o: &Self) -> Ordering {
        o.score.cmp(&self.score).then(self.key.cmp(&o.key))
    }
}

/// Keeps the best `k` entries.
struct TopK {
    k: usize,
    heap: BinaryHeap<Entry>,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.min(1 << 16) + 1),
        }
    }

    #[inline]
    fn push(&mut self, score: f32, key: u32) {
        let e = Entry {
            score: score.to_bits(),
            key,
        };
        if self.heap.len() < self.k {
            self.heap.push(e);
        } else if let Some(mut top) = self.heap.peek_mut() {
            if e < *top {
                *top = e;
            }
        }
    }

    /// A score a document must reach to have a chance (0 until `k` are held), as `f64`;
    /// `+∞` is clamped to `f32::MAX`: a bound below that proves a finite score, which
    /// cannot tie with `+∞`.
    #[inline]
    fn threshold(&self) -> f64 {
        if self.heap.len() < self.k {
            return 0.0;
        }
        let s = self.heap.peek().map_or(0.0, |e| f32::from_bits(e.score));
        if s.is_finite() {
            s as f64
        } else {
            f32::MAX as f64
        }
    }

    fn into_sorted(self) -> Vec<(u32, f32)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|e| (e.key, f32::from_bits(e.score)))
            .collect()
    }
}

/// Scores every live document exactly; returns the best `k` (the oracle).
pub(crate) fn exhaustive(ix: &SparseIndex, q: &Query, k: usize) -> Vec<(u32, f32)> {
    if k == 0 || q.terms.is_empty() {
        return Vec::new();
    }
    let mut top = TopK::new(k);
    for s in 0..ix.keys.len() as u32 {
        if ix.is_deleted(s) {
            continue;
        }
        let (t, v) = ix.doc(s);
        let score = dot(&q.terms, &q.vals, t, v);
        if score > 0.0 {
            top.push(score, ix.keys[s as usize]);
        }
    }
    top.into_sorted()
}

const END: u32 = u32::MAX;

/// A cursor over one query term's list.
struct Cursor<'a> {
    list: &'a TermList,
    /// `query weight · scale`: a posting's bound is `w · impact`.
    w: f64,
    /// Bound of the whole list.
    max: f64,
    pos: usize,
    /// Block of the last [`Cursor::shallow`] lookup (never behind `pos`'s block).
    sblock: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn doc(&self) -> u32 {
        self.list.docs.get(self.pos).copied().unwrap_or(END)
    }

    /// Bound of the current posting.
    #[inline]
    fn posting_bound(&self) -> f64 {
        self.w * self.list.impacts.get(self.pos).copied().unwrap_or(0) as f64
    }

    /// Moves to the first posting with doc ≥ `target`.
    fn next_geq(&mut self, target: u32) {
        if self.doc() >= target {
            return;
        }
        let last = &self.list.block_last;
        let mut b = self.pos / BLOCK;
        while b < last.len() && last[b] < target {
            b += 1;
        }
        let docs = &self.list.docs;
        if b >= last.len() {
            self.pos = docs.len();
            return;
        }
        let start = (b * BLOCK).max(self.pos);
        let end = ((b + 1) * BLOCK).min(docs.len());
        self.pos = start + docs[start..end].partition_point(|&d| d < target);
    }

    /// Bound and last doc of the block holding the first posting ≥ `d` (`(0, END)` past the
    /// end), without moving the cursor.
    #[inline]
    fn shallow(&mut self, d: u32) -> (f64, u32) {
        let last = &self.list.block_last;
        let mut b = self.sblock.max(self.pos / BLOCK);
        while b < last.len() && last[b] < d {
            b += 1;
        }
        self.sblock = b;
        match (self.list.block_max.get(b), last.get(b)) {
            (Some(&m), Some(&l)) => (self.w * m as f64, l),
            _ => (0.0, END),
        }
    }
}

/// Block-Max MaxScore top-`k`; returns exactly what [`exhaustive`] returns.
pub(crate) fn max_score(ix: &SparseIndex, q: &Query, k: usize) -> Vec<(u32, f32)> {
    if k == 0 || q.terms.is_empty() {
        return Vec::new();
    }
    let mut cs: Vec<Cursor<'_>> = q
        .terms
        .iter()
        .zip(&q.vals)
        .filter_map(|(t, &v)| {
            let list = ix.lists.get(*ix.term_list.get(t)? as usize)?;
            let w = v as f64 * list.scale as f64;
            Some(Cursor {
                list,
                w,
                max: w * list.max_impact as f64,
                pos: 0,
                sblock: 0,
            })
        })
        .collect();
    cs.sort_by(|a, b| a.max.total_cmp(&b.max).then(a.list.term.cmp(&b.list.term)));
    let n = cs.len();
    let margin = 1.0 + 2.0 * (q.terms.len() as f64 + 2.0) * f32::EPSILON as f64;
    let mut prefix = vec![0f64; n + 1];
    for i in 0..n {
        prefix[i + 1] = prefix[i] + cs[i].max;
    }
    let mut wb = vec![0f64; n];
    let mut rest = vec![0f64; n + 1];
    let mut top = TopK::new(k);
    let mut theta = 0f64;
    // cs[..ess] are non-essential.
    let mut ess = 0usize;
    loop {
        while ess < n && prefix[ess + 1] * margin < theta {
            ess += 1;
        }
        let Some(d) = cs[ess..].iter().map(Cursor::doc).min() else {
            break;
        };
        if d == END {
            break;
        }
        // 1. Block bounds of every list around d.
        let mut total = 0f64;
        let mut boundary = END;
        for (c, b) in cs.iter_mut().zip(wb.iter_mut()) {
            let (bound, last) = c.shallow(d);
            *b = bound;
            total += bound;
            boundary = boundary.min(last);
        }
        if total * margin < theta {
            if boundary == END {
                break;
            }
            for c in &mut cs[ess..] {
                c.next_geq(boundary + 1);
            }
            continue;
        }
        // 2. Posting bounds.
        let mut ub = 0f64;
        for c in &cs[ess..] {
            if c.doc() == d {
                ub += c.posting_bound();
            }
        }
        // rest[j]: block bounds of the non-essential lists before j (summed forwards, so
        // no cancellation error).
        for j in 0..ess {
            rest[j + 1] = rest[j] + wb[j];
        }
        let mut alive = (ub + rest[ess]) * margin >= theta;
        if alive {
            for j in (0..ess).rev() {
                let c = &mut cs[j];
                c.next_geq(d);
                if c.doc() == d {
                    ub += c.posting_bound();
                }
                if (ub + rest[j]) * margin < theta {
                    alive = false;
                    break;
                }
            }
        }
        // 3. Exact score.
        if alive && !ix.is_deleted(d) {
            let (t, v) = ix.doc(d);
            let s = dot(&q.terms, &q.vals, t, v);
            if s > 0.0 {
                top.push(s, ix.keys[d as usize]);
                theta = top.threshold();
            }
        }
        for c in &mut cs[ess..] {
            if c.doc() == d {
                c.pos += 1;
            }
        }
    }
    top.into_sorted()
}
