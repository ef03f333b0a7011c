//! Exact top-k search over a [`SparseIndex`]: the exhaustive oracle, Block-Max MaxScore and
//! Block-Max WAND.
//!
//! All three score a document with the one exact function (`dot` in [`crate::sparse`]: a merge of
//! the sorted query with the document's forward entry, `f32` products summed in increasing
//! term order), so their scores are bit-identical. The ranking is score descending, then key
//! ascending (as in [`crate::bm25`]); documents scoring 0 are not returned.
//!
//! The pruning strategies (MaxScore: Turtle & Flood, 1995; block maxima and WAND: Ding &
//! Suel, 2011) use only upper bounds to *skip* documents, never to score them. A posting's
//! bound is `query weight · impact · scale` (the impact rounds the weight up, see
//! [`crate::sparse`]), a block's and a list's bound the same with its largest impact. Bounds
//! are multiplied by a margin of a few `n·ε_f32` (`n` the number of query terms), which
//! exceeds the worst relative rounding of the bound itself and of an `n`-term `f32` dot
//! product of non-negative numbers, so a bound is never below the exact `f32` score. A
//! document is skipped only if its bound is strictly below the current `k`-th exact score
//! (ties can still win on the key).
//!
//! MaxScore works term at a time over windows of [`WINDOW`] documents, the accumulator of a
//! window staying in the L1 cache:
//!
//! 1. each list's window bound is the largest of its block maxima overlapping the window; a
//!    window whose bounds sum below the threshold is skipped without reading a posting;
//! 2. otherwise the lists are ordered by window bound; the longest prefix summing below the
//!    threshold is *non-essential* (a document in none of the other, *essential*, lists
//!    cannot enter the top `k`). The essential lists' postings add their bounds into the
//!    accumulator, a tight loop over two contiguous arrays;
//! 3. the documents whose accumulated bound plus the non-essential bounds reach the
//!    threshold are the candidates. When they are few next to the non-essential postings,
//!    those are found per candidate by galloping search (highest list first, dropping a
//!    candidate as soon as it cannot reach the threshold); otherwise the non-essential lists
//!    are accumulated too, which is cheaper than searching them;
//! 4. a candidate whose full bound reaches the threshold, and that is neither deleted nor
//!    rejected by the filter, is scored exactly and offered to the top `k`. Since the
//!    threshold is the `k`-th *exact* score, few documents besides the results are scored
//!    exactly.
//!
//! With learned sparse models most documents share several query terms and weights vary
//! little, so bounds prune less than with BM25; the term-at-a-time layout is what keeps
//! this fast (WAND, document at a time, is kept for comparison and is far slower there).

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

/// Documents per window of [`max_score`]: the accumulator (`f32` each) stays in L1.
const WINDOW: usize = 4096;

/// Non-essential postings are looked up per candidate only when there are at least this many
/// of them per candidate (otherwise they are all added).
const PROBE_RATIO: usize = 8;

/// Adds the bounds of `lane`'s postings before `end` (a window starting at `ws`) into `acc`.
#[inline]
fn accumulate(lane: &Lane<'_>, end: usize, ws: u32, acc: &mut [f32]) {
    let r = lane.pos..end;
    for (&d, &imp) in lane.list.docs[r.clone()].iter().zip(&lane.list.impacts[r]) {
        if let Some(a) = acc.get_mut((d - ws) as usize) {
            *a += lane.c * imp as f32;
        }
    }
}

/// First position at or after `p` whose doc is ≥ `d` (exponential then binary search).
#[inline]
fn gallop(docs: &[u32], mut p: usize, d: u32) -> usize {
    let mut step = 1;
    while p + step < docs.len() && docs[p + step] < d {
        p += step;
        step *= 2;
    }
    let hi = (p + step + 1).min(docs.len());
    p + docs[p.min(hi)..hi].partition_point(|&x| x < d)
}

/// One query term's list as [`max_score`] walks it.
struct Lane<'a> {
    list: &'a TermList,
    /// `query weight · scale` in `f32`: a posting adds `c · impact` to its document's bound.
    c: f32,
    /// First posting not yet passed.
    pos: usize,
}

impl Lane<'_> {
    /// End (exclusive) of the postings below `end`, from `pos`.
    #[inline]
    fn run_end(&self, end: u32) -> usize {
        let docs = &self.list.docs;
        let last = &self.list.block_last;
        let mut b = self.pos / BLOCK;
        while b < last.len() && last[b] < end {
            b += 1;
        }
        if b >= last.len() {
            return docs.len();
        }
        let start = (b * BLOCK).max(self.pos);
        let stop = ((b + 1) * BLOCK).min(docs.len());
        start + docs[start..stop].partition_point(|&d| d < end)
    }

    /// Largest impact among the postings in `[pos, run_end)`, from the block maxima.
    #[inline]
    fn window_max(&self, run_end: usize) -> u8 {
        if run_end <= self.pos {
            return 0;
        }
        let (b0, b1) = (self.pos / BLOCK, (run_end - 1) / BLOCK);
        self.list.block_max[b0..=b1]
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
    }
}

/// Block-Max MaxScore top-`k`, term at a time over windows of [`WINDOW`] documents;
/// returns exactly what [`exhaustive`] returns.
///
/// Per window, each list's bound is its query weight times the largest block maximum
/// overlapping the window. A window whose bounds sum below the threshold is skipped without
/// reading a posting. Otherwise the lists are ordered by bound and the longest prefix
/// summing below the threshold is *non-essential* (MaxScore: a document none of the other
/// lists contain cannot enter the top `k`). The essential lists add `c · impact`, an upper
/// bound of each posting's contribution, into the window's accumulator; the documents whose
/// bound plus the non-essential bounds can reach the threshold look up their non-essential
/// postings; the ones whose full bound still reaches it are scored exactly (the forward
/// merge every strategy uses) and offered to the top `k`. The threshold is the `k`-th exact
/// score, so only a few documents per query are ever scored exactly.
pub(crate) fn max_score(
    ix: &SparseIndex,
    q: &Query,
    k: usize,
    accept: Accept<'_>,
) -> Vec<(u32, f32)> {
    if k == 0 || q.terms.is_empty() {
        return Vec::new();
    }
    let mut lanes: Vec<Lane<'_>> = q
        .terms
        .iter()
        .zip(&q.vals)
        .filter_map(|(t, &v)| {
            let list = ix.lists.get(*ix.term_list.get(t)? as usize)?;
            Some(Lane {
                list,
                c: v * list.scale,
                pos: 0,
            })
        })
        .collect();
    let n = lanes.len();
    // Bounds are computed in f32 here (the accumulator); the margin covers the rounding of
    // `c`, of each product and of the sum, as well as that of the exact score.
    let margin = 1.0 + 4.0 * (q.terms.len() as f64 + 3.0) * f32::EPSILON as f64;
    let mut acc = vec![0f32; WINDOW];
    let mut cand: Vec<u32> = Vec::with_capacity(WINDOW);
    let mut ends = vec![0usize; n];
    let mut wb = vec![0f64; n];
    let mut order: Vec<usize> = (0..n).collect();
    let mut top = TopK::new(k);
    let slots = ix.keys.len() as u32;
    while let Some(ws) = lanes
        .iter()
        .filter_map(|l| l.list.docs.get(l.pos).copied())
        .min()
    {
        let we = ws.saturating_add(WINDOW as u32).min(slots.max(ws + 1));
        let theta = top.threshold();
        let mut total = 0f64;
        for (i, l) in lanes.iter().enumerate() {
            ends[i] = l.run_end(we);
            wb[i] = l.c as f64 * l.window_max(ends[i]) as f64;
            total += wb[i];
        }
        if total * margin >= theta {
            // Non-essential lists: the longest prefix (by bound) summing below theta.
            order.sort_unstable_by(|&a, &b| wb[a].total_cmp(&wb[b]).then(a.cmp(&b)));
            let mut ess = 0;
            let mut prefix = 0f64;
            while ess < n && (prefix + wb[order[ess]]) * margin < theta {
                prefix += wb[order[ess]];
                ess += 1;
            }
            for &i in &order[ess..] {
                accumulate(&lanes[i], ends[i], ws, &mut acc);
            }
            // Candidates: accumulated bound plus every non-essential bound reaches theta.
            cand.clear();
            let need = theta / margin - prefix;
            for (i, &a) in acc.iter().enumerate() {
                if a > 0.0 && a as f64 >= need {
                    cand.push(i as u32);
                }
            }
            // Non-essential postings: looked up per candidate (highest bound first, a
            // candidate whose bound falls below theta is dropped) when the candidates are few
            // next to those postings; otherwise added wholesale, term at a time, which costs
            // less than searching when most documents are candidates.
            let ne_postings: usize = order[..ess].iter().map(|&i| ends[i] - lanes[i].pos).sum();
            if ess > 0 && cand.len() * PROBE_RATIO < ne_postings {
                let mut rest = prefix;
                for &i in order[..ess].iter().rev() {
                    rest -= wb[i];
                    let l = &lanes[i];
                    let docs = &l.list.docs[l.pos..ends[i]];
                    let imps = &l.list.impacts[l.pos..ends[i]];
                    let mut p = 0usize;
                    cand.retain(|&c| {
                        let d = ws + c;
                        p = gallop(docs, p, d);
                        let a = &mut acc[c as usize];
                        if docs.get(p) == Some(&d) {
                            *a += l.c * imps[p] as f32;
                        }
                        if (*a as f64 + rest.max(0.0)) * margin >= theta {
                            true
                        } else {
                            *a = 0.0;
                            false
                        }
                    });
                }
            } else if ess > 0 {
                for &i in &order[..ess] {
                    accumulate(&lanes[i], ends[i], ws, &mut acc);
                }
                cand.clear();
                let need = theta / margin;
                for (i, &a) in acc.iter().enumerate() {
                    if a > 0.0 && a as f64 >= need {
                        cand.push(i as u32);
                    }
                }
            }
            for &c in &cand {
                let a = std::mem::take(&mut acc[c as usize]);
                let d = ws + c;
                // The threshold may have risen since the candidate was chosen.
                if (a as f64) * margin < top.threshold() || ix.skip(d, accept) {
                    continue;
                }
                let (t, v) = ix.doc(d);
                let s = dot(&q.terms, &q.vals, t, v);
                if s > 0.0 {
                    top.push(s, ix.keys[d as usize]);
                }
            }
            acc.fill(0.0);
        }
        for (l, &e) in lanes.iter_mut().zip(&ends) {
            l.pos = e;
        }
    }
    top.into_sorted()
}

/// Documents the approximate strategy scores exactly by default (or 20 per result if more).
pub const DEFAULT_CANDIDATES: usize = 200;

/// Approximate top-`k` from the lists' heads (the postings whose weight is at least ~20 % of
/// their term's largest, see [`HEAD_IMPACT`](super::index::HEAD_IMPACT)): the heads of every
/// query term are accumulated term at a time per window, the `candidates` documents with the
/// highest partial bounds are scored exactly, and the best `k` of those are returned. Scores
/// are exact; a document of the true top `k` with no head posting among the query's terms, or
/// ranked below the candidates by its head postings, is missed. When the heads yield fewer
/// than `k` candidates (a rare query or a selective filter), the exact strategy answers.
pub(crate) fn approximate(
    ix: &SparseIndex,
    q: &Query,
    k: usize,
    candidates: usize,
    accept: Accept<'_>,
) -> Vec<(u32, f32)> {
    if k == 0 || q.terms.is_empty() {
        return Vec::new();
    }
    let heads: Vec<(&TermList, f32)> = q
        .terms
        .iter()
        .zip(&q.vals)
        .filter_map(|(t, &v)| {
            let list = ix.lists.get(*ix.term_list.get(t)? as usize)?;
            Some((list, v * list.scale))
        })
        .collect();
    let mut pos = vec![0usize; heads.len()];
    let pool = if candidates == 0 {
        DEFAULT_CANDIDATES.max(20 * k)
    } else {
        candidates.max(k)
    };
    // Min-heap of (partial bound bits, slot): positive f32 bits order like the numbers.
    let mut best: BinaryHeap<std::cmp::Reverse<(u32, u32)>> = BinaryHeap::with_capacity(pool + 1);
    let mut acc = vec![0f32; WINDOW];
    while let Some(ws) = heads
        .iter()
        .zip(&pos)
        .filter_map(|(h, &p)| h.0.head_docs.get(p).copied())
        .min()
    {
        let we = ws.saturating_add(WINDOW as u32);
        for ((list, c), p) in heads.iter().zip(pos.iter_mut()) {
            let (docs, imps) = (&list.head_docs, &list.head_impacts);
            let end = *p + docs[*p..].partition_point(|&d| d < we);
            for (&d, &imp) in docs[*p..end].iter().zip(&imps[*p..end]) {
                if let Some(a) = acc.get_mut((d - ws) as usize) {
                    *a += c * imp as f32;
                }
            }
            *p = end;
        }
        let floor = |b: &BinaryHeap<std::cmp::Reverse<(u32, u32)>>| {
            if b.len() < pool {
                0.0
            } else {
                b.peek().map_or(0.0, |e| f32::from_bits(e.0 .0))
            }
        };
        let mut min = floor(&best);
        for (i, a) in acc.iter_mut().enumerate() {
            let v = std::mem::take(a);
            if v > min {
                let d = ws + i as u32;
                if ix.skip(d, accept) {
                    continue;
                }
                best.push(std::cmp::Reverse((v.to_bits(), d)));
                if best.len() > pool {
                    best.pop();
                }
                min = floor(&best);
            }
        }
    }
    if best.len() < k {
        return max_score(ix, q, k, accept);
    }
    let mut top = TopK::new(k);
    for std::cmp::Reverse((_, d)) in best {
        let (t, v) = ix.doc(d);
        let s = dot(&q.terms, &q.vals, t, v);
        if s > 0.0 {
            top.push(s, ix.keys[d as usize]);
        }
    }
    top.into_sorted()
}
