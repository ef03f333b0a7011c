//! BM25 scoring: parameters, the exhaustive scorer, Block-Max WAND and Block-Max MaxScore.
//!
//! Score of document `D` for query `Q`:
//!
//! ```text
//! score(D, Q) = Σ_{t ∈ Q}  qtf(t) · IDF(t) · tf(t,D)·(k1+1) / (tf(t,D) + k1·(1 − b + b·|D|/avgdl))
//! IDF(t)      = ln(1 + (N − n(t) + 0.5) / (n(t) + 0.5))            (Lucene's, always > 0)
//! ```
//!
//! `N` is the number of live documents, `n(t)` the number of live documents containing `t`,
//! `avgdl` the mean live document length and `qtf(t)` how often `t` occurs in the analysed
//! query: the query is a bag, so a repeated term counts once per occurrence (as in Lucene,
//! whose boolean query gets one clause per occurrence).
//!
//! Every per-term contribution is computed with one `f32` expression and then converted to
//! fixed point (`u64`, 2⁻³² units); a document's score is the integer sum of its
//! contributions. Integer addition is exact and associative, so every strategy (exhaustive,
//! Block-Max WAND, Block-Max MaxScore, whatever order it adds in) gets bit-identical scores
//! and therefore identical rankings; ties are broken by the smaller key. Sums saturate
//! (only reachable with absurd query-term repetition), which is order-independent too. The returned `f32`
//! score is the fixed-point sum converted back (error below 1e-9 per term).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::error::{invalid, Result};
use crate::postings::{BlockMeta, Decoded, PostingList};

/// How [`TextIndex::search_with`](crate::TextIndex::search_with) finds the top `k`. All
/// three return the same list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Block-Max MaxScore (the default; fastest for the long queries typical of retrieval).
    #[default]
    BlockMaxMaxScore,
    /// Block-Max WAND.
    BlockMaxWand,
    /// Score every matching document (the oracle).
    Exhaustive,
}

/// BM25 parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bm25Params {
    /// Term-frequency saturation, ≥ 0 (default 1.2).
    pub k1: f32,
    /// Length normalisation, in [0, 1] (default 0.75).
    pub b: f32,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Bm25Params { k1: 1.2, b: 0.75 }
    }
}

impl Bm25Params {
    /// Checks `k1 ≥ 0` (finite) and `b ∈ [0, 1]`; otherwise
    /// [`InvalidArgument`](crate::LexicalError::InvalidArgument).
    pub fn validate(&self) -> Result<()> {
        if !(self.k1.is_finite() && self.k1 >= 0.0) {
            return Err(invalid(format!(
                "BM25 k1 must be a finite number >= 0, got {}",
                self.k1
            )));
        }
        if !(0.0..=1.0).contains(&self.b) {
            return Err(invalid(format!(
                "BM25 b must be between 0 and 1, got {}",
                self.b
            )));
        }
        Ok(())
    }
}

/// Lucene's BM25 IDF.
pub fn idf(n_docs: u64, df: u64) -> f32 {
    let (n, df) = (n_docs as f64, df as f64);
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln() as f32
}

/// Per-query constants of the tf/length part.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scorer {
    kp1: f32,
    c: f32,
    d: f32,
}

impl Scorer {
    pub(crate) fn new(p: Bm25Params, avgdl: f32) -> Self {
        let avgdl = if avgdl > 0.0 { avgdl } else { 1.0 };
        Scorer {
            kp1: p.k1 + 1.0,
            c: p.k1 * (1.0 - p.b),
            d: p.k1 * p.b / avgdl,
        }
    }

    /// `weight · tf·(k1+1) / (tf + k1·(1 − b + b·len/avgdl))`. It grows with `tf` and
    /// shrinks with `len`.
    #[inline(always)]
    pub(crate) fn score(&self, weight: f32, tf: u32, len: u32) -> f32 {
        let tf = tf as f32;
        weight * (tf * self.kp1 / (tf + (self.c + self.d * len as f32)))
    }

    /// [`Scorer::score`] in fixed point: the contribution every strategy adds (at least 1, so
    /// a matching document's score is never 0).
    #[inline(always)]
    pub(crate) fn fixed(&self, weight: f32, tf: u32, len: u32) -> u64 {
        to_fixed(self.score(weight, tf, len)).max(1)
    }

    /// An upper bound of [`Scorer::fixed`] for every posting dominated by `(tf, len)` (higher
    /// is not possible for `tf` ≤ this `tf` and `len` ≥ this `len`): the value at the point,
    /// plus a margin for `f32` rounding (a few ulps, far below the 2⁻¹⁶ relative margin).
    #[inline]
    fn bound(&self, weight: f32, tf: u32, len: u32) -> u64 {
        let v = to_fixed(self.score(weight, tf, len)).max(1);
        v.saturating_add((v >> 16) + 2)
    }
}

/// A query term ready for scoring.
pub(crate) struct QueryTerm<'a> {
    pub list: &'a PostingList,
    /// `qtf · IDF`.
    pub weight: f32,
}

/// What the scorers need from the index.
pub(crate) struct Ctx<'a> {
    /// Query terms in canonical order (by term id).
    pub terms: Vec<QueryTerm<'a>>,
    pub scorer: Scorer,
    pub doc_len: &'a [u32],
    pub deleted: &'a [u64],
    pub keys: &'a [u32],
    /// Only documents whose key this accepts are candidates (a search filter); the others are
    /// skipped exactly like deleted ones, inside the pruning loops, so the top-k is that of the
    /// matching documents.
    pub accept: Option<&'a (dyn Fn(u32) -> bool + Sync)>,
}

const FIXED_SCALE: f64 = 4_294_967_296.0;

#[inline(always)]
fn to_fixed(x: f32) -> u64 {
    (x as f64 * FIXED_SCALE) as u64
}

#[inline]
fn from_fixed(v: u64) -> f32 {
    (v as f64 / FIXED_SCALE) as f32
}

impl Ctx<'_> {
    /// Whether document `d` cannot be a result: deleted, or rejected by the filter.
    #[inline]
    fn is_deleted(&self, d: u32) -> bool {
        self.deleted
            .get(d as usize / 64)
            .is_some_and(|w| w >> (d % 64) & 1 == 1)
            || self
                .accept
                .is_some_and(|f| !self.keys.get(d as usize).is_some_and(|&k| f(k)))
    }

    #[inline]
    fn len(&self, d: u32) -> u32 {
        self.doc_len.get(d as usize).copied().unwrap_or(0)
    }
}

/// A result candidate; `Ord` puts *worse* entries first-out of a max-heap (lower score, then
/// larger key), so the heap's top is the entry to evict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    score: u64,
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
    /// A score that at least `k` live documents are known to reach (see [`score_floor`]).
    floor: u64,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.min(1 << 16) + 1),
            floor: 0,
        }
    }

    #[inline]
    fn push(&mut self, e: Entry) {
        if self.heap.len() < self.k {
            self.heap.push(e);
        } else if let Some(mut top) = self.heap.peek_mut() {
            if e < *top {
                *top = e;
            }
        }
    }

    /// Score a candidate must reach to have a chance (ties may still win on the key):
    /// anything scoring below it cannot make the final top `k`.
    #[inline]
    fn threshold(&self) -> u64 {
        if self.heap.len() < self.k {
            self.floor
        } else {
            self.heap
                .peek()
                .map_or(self.floor, |e| e.score.max(self.floor))
        }
    }

    fn into_sorted(self) -> Vec<(u32, f32)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|e| (e.key, from_fixed(e.score)))
            .collect()
    }
}

/// Scores every live document containing any query term; returns the best `k`.
pub(crate) fn exhaustive(ctx: &Ctx<'_>, k: usize) -> Vec<(u32, f32)> {
    if k == 0 || ctx.terms.is_empty() {
        return Vec::new();
    }
    let mut acc = vec![0u64; ctx.doc_len.len()];
    let mut touched: Vec<u32> = Vec::new();
    for t in &ctx.terms {
        t.list.for_each(|d, tf| {
            if ctx.is_deleted(d) {
                return;
            }
            if let Some(a) = acc.get_mut(d as usize) {
                if *a == 0 {
                    touched.push(d);
                }
                *a = a.saturating_add(ctx.scorer.fixed(t.weight, tf, ctx.len(d)));
            }
        });
    }
    let mut top = TopK::new(k);
    for d in touched {
        top.push(Entry {
            score: acc[d as usize],
            key: ctx.keys[d as usize],
        });
    }
    top.into_sorted()
}

const END: u32 = u32::MAX;

/// A cursor over one query term's postings, with lazy block decoding and lazily computed
/// block bounds.
struct Cursor<'a> {
    list: &'a PostingList,
    blocks: &'a [BlockMeta],
    scorer: Scorer,
    /// Bound of each block's contribution, computed on first use (`u64::MAX` = not yet).
    bounds: Vec<u64>,
    /// Bound of the whole list.
    max: u64,
    weight: f32,
    block: usize,
    decoded: usize,
    buf: Box<Decoded>,
    pos: usize,
    doc: u32,
    shallow: usize,
}

impl<'a> Cursor<'a> {
    fn new(t: &QueryTerm<'a>, scorer: Scorer) -> Self {
        let blocks = t.list.blocks();
        let max = t
            .list
            .list_frontier()
            .iter()
            .map(|&(tf, len)| scorer.bound(t.weight, tf, len))
            .max()
            .unwrap_or(0);
        let mut c = Cursor {
            list: t.list,
            blocks,
            scorer,
            bounds: vec![u64::MAX; blocks.len()],
            max,
            weight: t.weight,
            block: 0,
            decoded: usize::MAX,
            buf: Box::default(),
            pos: 0,
            doc: END,
            shallow: 0,
        };
        c.enter_block(0);
        c
    }

    /// Positions on the first posting of block `b`. Only that posting's doc is read; the
    /// block is decoded when something needs more (see [`Cursor::ensure`]).
    fn enter_block(&mut self, b: usize) {
        self.block = b;
        self.pos = 0;
        self.doc = if b < self.blocks.len() {
            self.list.block_first_doc(b)
        } else {
            END
        };
    }

    /// Decodes the current block if it is not yet.
    #[inline]
    fn ensure(&mut self) {
        if self.decoded != self.block {
            self.list.decode_block(self.block, &mut self.buf);
            self.decoded = self.block;
        }
    }

    #[inline]
    fn tf(&mut self) -> u32 {
        self.ensure();
        self.buf.tfs[self.pos]
    }

    fn next(&mut self) {
        self.ensure();
        self.pos += 1;
        if self.pos < self.buf.n {
            self.doc = self.buf.docs[self.pos];
        } else {
            self.enter_block(self.block + 1);
        }
    }

    /// Moves to the first posting with doc ≥ `target`.
    fn next_geq(&mut self, target: u32) {
        if self.doc >= target {
            return;
        }
        let mut b = self.block;
        while b < self.blocks.len() && self.blocks[b].last_doc < target {
            b += 1;
        }
        if b != self.block {
            self.enter_block(b);
            if self.doc >= target {
                return;
            }
        }
        self.ensure();
        while self.pos < self.buf.n && self.buf.docs[self.pos] < target {
            self.pos += 1;
        }
        if self.pos < self.buf.n {
            self.doc = self.buf.docs[self.pos];
        } else {
            self.enter_block(self.block + 1);
        }
    }

    /// Bound and last doc of the block that would contain `target`, without decoding.
    fn shallow(&mut self, target: u32) -> (u64, u32) {
        let mut s = self.shallow.max(self.block);
        while s < self.blocks.len() && self.blocks[s].last_doc < target {
            s += 1;
        }
        self.shallow = s;
        let Some(b) = self.blocks.get(s) else {
            return (0, END);
        };
        if self.bounds[s] == u64::MAX {
            self.bounds[s] = self
                .list
                .block_frontier(s)
                .iter()
                .map(|&(tf, len)| self.scorer.bound(self.weight, tf, len))
                .max()
                .unwrap_or(0);
        }
        (self.bounds[s], b.last_doc)
    }
}

/// Cursors for the query terms, index = canonical position.
fn cursors<'a>(ctx: &Ctx<'a>) -> Vec<Cursor<'a>> {
    ctx.terms
        .iter()
        .map(|t| Cursor::new(t, ctx.scorer))
        .collect()
}

/// A score that at least `k` live documents reach (0 if unknown): the `k`-th largest
/// single-term contribution of the query term with the highest bound among those with at
/// least `k` postings. A document's score is at least each of its contributions, so the
/// final `k`-th score is at least this. Starting the dynamic pruning from it instead of from
/// zero saves most of the early, unpruned work. Pruning stays strict (`bound < floor`), so
/// ties at the floor are still found.
fn score_floor(ctx: &Ctx<'_>, cs: &[Cursor<'_>], k: usize) -> u64 {
    let Some(best) = (0..cs.len())
        .filter(|&i| cs[i].list.len() >= k)
        .max_by_key(|&i| cs[i].max)
    else {
        return 0;
    };
    let t = &ctx.terms[best];
    let mut v: Vec<u64> = Vec::with_capacity(t.list.len());
    t.list.for_each(|d, tf| {
        if !ctx.is_deleted(d) {
            v.push(ctx.scorer.fixed(t.weight, tf, ctx.len(d)));
        }
    });
    if v.len() < k {
        return 0;
    }
    let (_, kth, _) = v.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
    *kth
}

/// Block-Max WAND top-`k` (Ding & Suel, 2011), exact: returns the same list as
/// [`exhaustive`]. Block bounds are the best score over each block's `(tf, len)` frontier
/// (see [`crate::postings`]).
pub(crate) fn bmw(ctx: &Ctx<'_>, k: usize) -> Vec<(u32, f32)> {
    if k == 0 || ctx.terms.is_empty() {
        return Vec::new();
    }
    let mut cs = cursors(ctx);
    let n = cs.len();
    // Cursor indices sorted by current doc.
    let mut order: Vec<usize> = (0..n).collect();
    let mut top = TopK::new(k);
    top.floor = score_floor(ctx, &cs, k);
    loop {
        // Insertion sort: few cursors, nearly sorted.
        for i in 1..n {
            let mut j = i;
            while j > 0 && cs[order[j - 1]].doc > cs[order[j]].doc {
                order.swap(j - 1, j);
                j -= 1;
            }
        }
        let theta = top.threshold();
        // Pivot: first cursor at which the sum of list bounds reaches the threshold.
        let mut acc = 0u64;
        let mut pivot = None;
        for (i, &c) in order.iter().enumerate() {
            if cs[c].doc == END {
                break;
            }
            acc = acc.saturating_add(cs[c].max);
            if acc >= theta {
                pivot = Some(i);
                break;
            }
        }
        let Some(mut p) = pivot else { break };
        let d = cs[order[p]].doc;
        while p + 1 < n && cs[order[p + 1]].doc == d {
            p += 1;
        }
        // Block-max check.
        let mut bsum = 0u64;
        let mut boundary = END;
        for &c in &order[..=p] {
            let (b, last) = cs[c].shallow(d);
            bsum = bsum.saturating_add(b);
            boundary = boundary.min(last);
        }
        if bsum >= theta {
            if cs[order[0]].doc == d {
                if !ctx.is_deleted(d) {
                    let len = ctx.len(d);
                    let mut score = 0u64;
                    for &c in &order[..=p] {
                        score =
                            score.saturating_add(ctx.scorer.fixed(cs[c].weight, cs[c].tf(), len));
                    }
                    top.push(Entry {
                        score,
                        key: ctx.keys[d as usize],
                    });
                }
                for &c in &order[..=p] {
                    cs[c].next();
                }
            } else {
                for &c in &order[..p] {
                    if cs[c].doc < d {
                        cs[c].next_geq(d);
                    }
                }
            }
        } else {
            // No document before the end of the current blocks (and before the next
            // cursor's doc) can reach the threshold: jump past them.
            let mut next = boundary.saturating_add(1);
            if p + 1 < n {
                next = next.min(cs[order[p + 1]].doc);
            }
            for &c in &order[..=p] {
                cs[c].next_geq(next);
            }
        }
    }
    top.into_sorted()
}

/// Longest window of documents [`bmm`] scores at once.
const WINDOW: u32 = 4096;

/// Block-Max MaxScore top-`k`, exact: returns the same list as [`exhaustive`].
///
/// MaxScore (Turtle & Flood, 1995) over windows of documents with per-block bounds, as in
/// Lucene's disjunction scorer. The doc-id space is cut into windows that end at the first
/// block boundary of any list (and span at most [`WINDOW`] docs), so inside a window every
/// list has one block and one bound. A window whose bounds sum below the threshold is skipped
/// without decoding. Otherwise the lists are ordered by bound; the longest prefix summing
/// below the threshold is *non-essential* (a document in none of the other, *essential*,
/// lists cannot enter the top `k`). The essential lists are scored term-at-a-time into a
/// window accumulator; each document found there then has its non-essential terms looked up
/// (highest bound first) only while its running score plus the remaining bounds can still
/// reach the threshold.
pub(crate) fn bmm(ctx: &Ctx<'_>, k: usize) -> Vec<(u32, f32)> {
    if k == 0 || ctx.terms.is_empty() {
        return Vec::new();
    }
    let mut cs = cursors(ctx);
    let n = cs.len();
    let mut top = TopK::new(k);
    top.floor = score_floor(ctx, &cs, k);
    let mut wb = vec![0u64; n];
    let mut perm: Vec<usize> = (0..n).collect();
    let mut prefix = vec![0u64; n + 1];
    let mut acc = vec![0u64; WINDOW as usize];
    let mut marks = vec![0u64; WINDOW as usize / 64];
    let mut ws = cs.iter().map(|c| c.doc).min().unwrap_or(END);
    while ws != END {
        // The window [ws, we]: up to the first block end of any list.
        let mut we = END;
        let mut total = 0u64;
        for (c, b) in cs.iter_mut().zip(wb.iter_mut()) {
            let (bound, last) = c.shallow(ws);
            *b = bound;
            total = total.saturating_add(bound);
            we = we.min(last);
        }
        if we == END {
            break;
        }
        we = we.min(ws.saturating_add(WINDOW - 1));
        let theta = top.threshold();
        if total >= theta {
            perm.sort_unstable_by_key(|&c| wb[c]);
            for i in 0..n {
                prefix[i + 1] = prefix[i].saturating_add(wb[perm[i]]);
            }
            // perm[..ess] are non-essential in this window.
            let mut ess = 0;
            while ess < n && prefix[ess + 1] < theta {
                ess += 1;
            }
            // Essential lists, term at a time.
            for &c in &perm[ess..] {
                let cur = &mut cs[c];
                cur.next_geq(ws);
                while cur.doc <= we {
                    let d = cur.doc;
                    let i = (d - ws) as usize;
                    acc[i] =
                        acc[i].saturating_add(ctx.scorer.fixed(cur.weight, cur.tf(), ctx.len(d)));
                    marks[i / 64] |= 1 << (i % 64);
                    cur.next();
                }
            }
            let words = ((we - ws) as usize) / 64 + 1;
            for (w, word) in marks.iter_mut().enumerate().take(words) {
                let mut bits = std::mem::take(word);
                while bits != 0 {
                    let i = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let d = ws + i as u32;
                    let mut s = std::mem::take(&mut acc[i]);
                    if ctx.is_deleted(d) {
                        continue;
                    }
                    let theta = top.threshold();
                    let mut rem = prefix[ess];
                    if s.saturating_add(rem) < theta {
                        continue;
                    }
                    let len = ctx.len(d);
                    let mut keep = true;
                    for j in (0..ess).rev() {
                        if s.saturating_add(rem) < theta {
                            keep = false;
                            break;
                        }
                        let c = perm[j];
                        rem = rem.saturating_sub(wb[c]);
                        let cur = &mut cs[c];
                        cur.next_geq(d);
                        if cur.doc == d {
                            s = s.saturating_add(ctx.scorer.fixed(cur.weight, cur.tf(), len));
                        }
                    }
                    if keep && s >= theta {
                        top.push(Entry {
                            score: s,
                            key: ctx.keys[d as usize],
                        });
                    }
                }
            }
        }
        ws = we.saturating_add(1);
    }
    top.into_sorted()
}
