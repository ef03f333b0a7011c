//! Exact top-k search over a [`SparseIndex`]: the exhaustive oracle, Block-Max MaxScore and
//! Block-Max WAND.
//!
//! All three score a document with the one exact function (`dot` in [`crate::sparse`]: a merge of
//! the sorted query with the document's forward entry, `f32` products summed in increasing
//! term order), so their scores are bit-identical. The ranking is score descending, then key
//! ascending (as in [`crate::bm25`]); documents scoring 0 are not returned.
//!
//! The pruning strategies (MaxScore: Turtle & Flood, 1995; block maxima and WAND: Ding &
//! Suel, 2011) use only upper bounds to *skip* documents, never to score them. A posting's bound is
//! `query weight · impact · scale` (the impact rounds the weight up, see [`crate::sparse`]),
//! a block's and a list's bound the same with its largest impact. Bounds are summed in
//! `f64` and multiplied by `1 + 2·(n + 2)·ε_f32` (`n` the number of query terms), which
//! exceeds the worst relative rounding of an `n`-term `f32` dot product of non-negative
//! numbers, so a bound is never below the exact `f32` score. A document is skipped only if
//! its bound is strictly below the current `k`-th score (ties can still win on the key).
//!
//! As in Lucene's disjunction scorer (and [`crate::bm25`]'s MaxScore), the doc-id space is
//! cut into windows that end at the first block end of any query term's list (at most
//! 4096 documents), so that inside a window every list has one block and one bound:
//!
//! 1. a window whose block bounds sum below the threshold is skipped without reading a
//!    posting;
//! 2. otherwise the lists are ordered by block bound; the longest prefix summing below the
//!    threshold is *non-essential* (a document in none of the other, *essential*, lists
//!    cannot enter the top `k`). The essential lists' postings add their own bounds into a
//!    window accumulator;
//! 3. for each document found there, the non-essential block bounds are replaced (highest
//!    first) by the posting's own bound, or nothing, while the sum can still reach the
//!    threshold; a survivor that is not deleted is scored exactly and offered to the
//!    top-k heap.

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
pub(crate) fn exhaustive(
    ix: &SparseIndex,
    q: &Query,
    k: usize,
    accept: Accept<'_>,
) -> Vec<(u32, f32)> {
    if k == 0 || q.terms.is_empty() {
        return Vec::new();
    }
    let mut top = TopK::new(k);
    for s in 0..ix.keys.len() as u32 {
        if ix.skip(s, accept) {
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

/// A search filter: only documents whose key it accepts are candidates.
pub(crate) type Accept<'a> = Option<&'a (dyn Fn(u32) -> bool + Sync)>;

/// A cursor over one query term's list.
struct Cursor<'a> {
    list: &'a TermList,
    /// `query weight · scale`: a posting's bound is `w · impact`.
    w: f64,
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

/// Longest window of documents [`max_score`] handles at once.
const WINDOW: u32 = 4096;

/// Cursors over the lists of the query's terms (terms without postings are left out).
fn cursors<'a>(ix: &'a SparseIndex, q: &Query) -> Vec<Cursor<'a>> {
    q.terms
        .iter()
        .zip(&q.vals)
        .filter_map(|(t, &v)| {
            let list = ix.lists.get(*ix.term_list.get(t)? as usize)?;
            Some(Cursor {
                list,
                w: v as f64 * list.scale as f64,
                pos: 0,
                sblock: 0,
            })
        })
        .collect()
}

/// The factor bounds are multiplied by: covers the relative rounding error of the exact
/// `f32` dot product of `n` non-negative terms (at most `(n + 1)·2⁻²⁴` to first order),
/// with room to spare, and the `f64` rounding of the bound sums.
fn margin(q: &Query) -> f64 {
    1.0 + 2.0 * (q.terms.len() as f64 + 2.0) * f32::EPSILON as f64
}

/// Block-Max WAND top-`k` (Ding & Suel, 2011); returns exactly what [`exhaustive`]
/// returns. Cursors are kept sorted by doc; the pivot is the first cursor at which the
/// list bounds reach the threshold; if the pivot doc's block bounds reach it too, the doc
/// is scored exactly once every cursor before the pivot is on it; otherwise every document
/// up to the end of the smallest of those blocks (or the next cursor's doc) is skipped.
pub(crate) fn wand(ix: &SparseIndex, q: &Query, k: usize, accept: Accept<'_>) -> Vec<(u32, f32)> {
    if k == 0 || q.terms.is_empty() {
        return Vec::new();
    }
    let mut cs = cursors(ix, q);
    let n = cs.len();
    let margin = margin(q);
    let max: Vec<f64> = cs.iter().map(|c| c.w * c.list.max_impact as f64).collect();
    let mut order: Vec<usize> = (0..n).collect();
    let mut top = TopK::new(k);
    loop {
        // Insertion sort: few cursors, nearly sorted.
        for i in 1..n {
            let mut j = i;
            while j > 0 && cs[order[j - 1]].doc() > cs[order[j]].doc() {
                order.swap(j - 1, j);
                j -= 1;
            }
        }
        let theta = top.threshold();
        let mut acc = 0f64;
        let mut pivot = None;
        for (i, &c) in order.iter().enumerate() {
            if cs[c].doc() == END {
                break;
            }
            acc += max[c];
            if acc * margin >= theta {
                pivot = Some(i);
                break;
            }
        }
        let Some(mut p) = pivot else { break };
        let d = cs[order[p]].doc();
        while p + 1 < n && cs[order[p + 1]].doc() == d {
            p += 1;
        }
        let mut bsum = 0f64;
        let mut boundary = END;
        for &c in &order[..=p] {
            let (b, last) = cs[c].shallow(d);
            bsum += b;
            boundary = boundary.min(last);
        }
        if bsum * margin >= theta {
            if cs[order[0]].doc() == d {
                if !ix.skip(d, accept) {
                    let (t, v) = ix.doc(d);
                    let s = dot(&q.terms, &q.vals, t, v);
                    if s > 0.0 {
                        top.push(s, ix.keys[d as usize]);
                    }
                }
                for &c in &order[..=p] {
                    cs[c].pos += 1;
                }
            } else {
                for &c in &order[..p] {
                    cs[c].next_geq(d);
                }
            }
        } else {
            let mut next = boundary.saturating_add(1);
            if p + 1 < n {
                next = next.min(cs[order[p + 1]].doc());
            }
            for &c in &order[..=p] {
                cs[c].next_geq(next);
            }
        }
    }
    top.into_sorted()
}

/// Block-Max MaxScore top-`k`; returns exactly what [`exhaustive`] returns.
pub(crate) fn max_score(
    ix: &SparseIndex,
    q: &Query,
    k: usize,
    accept: Accept<'_>,
) -> Vec<(u32, f32)> {
    if k == 0 || q.terms.is_empty() {
        return Vec::new();
    }
    let mut cs = cursors(ix, q);
    let n = cs.len();
    let margin = margin(q);
    let mut wb = vec![0f64; n];
    let mut perm: Vec<usize> = (0..n).collect();
    let mut prefix = vec![0f64; n + 1];
    let mut acc = vec![0f64; WINDOW as usize];
    let mut marks = vec![0u64; WINDOW as usize / 64];
    let mut top = TopK::new(k);
    let mut ws = cs.iter().map(Cursor::doc).min().unwrap_or(END);
    while ws != END {
        // The window [ws, we]: up to the first block end of any list.
        let mut we = END;
        let mut total = 0f64;
        for (c, b) in cs.iter_mut().zip(wb.iter_mut()) {
            let (bound, last) = c.shallow(ws);
            *b = bound;
            total += bound;
            we = we.min(last);
        }
        if we == END {
            break;
        }
        we = we.min(ws.saturating_add(WINDOW - 1));
        let theta = top.threshold();
        if total * margin >= theta {
            window(
                ix,
                q,
                &mut cs,
                &wb,
                &mut perm,
                &mut prefix,
                &mut acc,
                &mut marks,
                &mut top,
                margin,
                ws,
                we,
                accept,
            );
        }
        // Next window: the first posting of any list after `we`.
        ws = END;
        for c in cs.iter_mut() {
            c.next_geq(we.saturating_add(1));
            ws = ws.min(c.doc());
        }
    }
    top.into_sorted()
}

/// Scores the candidates of window `[ws, we]`, in which every list has one block, whose
/// bound is `wb[list]`.
#[allow(clippy::too_many_arguments)]
fn window(
    ix: &SparseIndex,
    q: &Query,
    cs: &mut [Cursor<'_>],
    wb: &[f64],
    perm: &mut [usize],
    prefix: &mut [f64],
    acc: &mut [f64],
    marks: &mut [u64],
    top: &mut TopK,
    margin: f64,
    ws: u32,
    we: u32,
    accept: Accept<'_>,
) {
    let n = cs.len();
    let theta = top.threshold();
    perm.sort_unstable_by(|&a, &b| wb[a].total_cmp(&wb[b]).then(a.cmp(&b)));
    for i in 0..n {
        prefix[i + 1] = prefix[i] + wb[perm[i]];
    }
    // perm[..ess] are non-essential in this window.
    let mut ess = 0;
    while ess < n && prefix[ess + 1] * margin < theta {
        ess += 1;
    }
    // Essential lists, term at a time: posting bounds into the window accumulator.
    for &c in &perm[ess..] {
        let cur = &mut cs[c];
        cur.next_geq(ws);
        while cur.doc() <= we {
            let i = (cur.doc() - ws) as usize;
            acc[i] += cur.posting_bound();
            marks[i / 64] |= 1 << (i % 64);
            cur.pos += 1;
        }
    }
    let words = ((we - ws) as usize) / 64 + 1;
    for (w, word) in marks.iter_mut().enumerate().take(words) {
        let mut bits = std::mem::take(word);
        while bits != 0 {
            let i = w * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let d = ws + i as u32;
            let mut ub = std::mem::take(&mut acc[i]);
            if ix.skip(d, accept) {
                continue;
            }
            let theta = top.threshold();
            if (ub + prefix[ess]) * margin < theta {
                continue;
            }
            // Non-essential lists, highest bound first: their block bound is replaced by
            // the posting's own bound (or nothing) while the sum can still reach theta.
            let mut alive = true;
            for j in (0..ess).rev() {
                let cur = &mut cs[perm[j]];
                cur.next_geq(d);
                if cur.doc() == d {
                    ub += cur.posting_bound();
                }
                if (ub + prefix[j]) * margin < theta {
                    alive = false;
                    break;
                }
            }
            if alive {
                let (t, v) = ix.doc(d);
                let s = dot(&q.terms, &q.vals, t, v);
                if s > 0.0 {
                    top.push(s, ix.keys[d as usize]);
                }
            }
        }
    }
}
