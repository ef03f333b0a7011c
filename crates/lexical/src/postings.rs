//! Posting lists in compressed blocks of [`BLOCK`] postings.
//!
//! A posting is `(doc, tf)`: an internal document slot and the term's frequency in it. A list
//! is sorted by strictly increasing `doc`. It is cut into blocks of 128 postings (the last
//! block may be shorter); each block is encoded as 128 (or fewer) LEB128 varints of doc-id
//! gaps, then as many varints of `tf`. The first gap of a block is relative to the previous
//! block's last doc (the first block's to 0, so it is the doc itself).
//!
//! Next to the bytes, each block has a [`BlockMeta`]: its last doc (for skipping), its byte
//! offset and count, and the *frontier* its BM25 upper bound is computed from. A term's BM25
//! contribution grows with `tf` and shrinks with document length, so only the postings that
//! no other posting of the block beats on both counts (the Pareto frontier of `(tf, len)`:
//! higher `tf` *and* shorter document) can hold the block's maximum. The frontier (at most
//! [`MAX_FRONTIER`] points; larger ones are coarsened by merging neighbours into
//! `(max tf, min len)`, still an upper bound) is stored per block, and the block bound
//! `max over the frontier of score(tf, len)` is computed at query time. It is exact for a
//! fresh block *for any collection statistics* (N, df, average length, k1, b), so it stays a
//! valid upper bound after adds and removes without recomputation; removing a document can
//! only make it looser, never wrong, until compaction rebuilds the blocks.

/// Postings per block.
pub const BLOCK: usize = 128;

/// Most frontier points kept per block.
pub const MAX_FRONTIER: usize = 8;

/// Per-block metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockMeta {
    /// Largest doc slot in the block.
    pub last_doc: u32,
    /// Byte offset of the block in the list's data.
    pub offset: u32,
    /// Number of postings (1..=128).
    pub count: u32,
    /// Start of the block's frontier in [`PostingList::frontier`].
    pub front: u32,
    /// Number of frontier points (1..=[`MAX_FRONTIER`]).
    pub front_len: u32,
}

/// Reduces `pts` (`(tf, len)` pairs) to its Pareto frontier: points sorted by decreasing
/// `tf` and decreasing `len`, none dominated by another; coarsened to at most
/// [`MAX_FRONTIER`] points by merging neighbours into `(larger tf, smaller len)`.
pub fn frontier(pts: &mut Vec<(u32, u32)>) {
    pts.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut min_len = u32::MAX;
    pts.retain(|&(_, len)| {
        if len < min_len {
            min_len = len;
            true
        } else {
            false
        }
    });
    while pts.len() > MAX_FRONTIER {
        let merged: Vec<(u32, u32)> = pts.chunks(2).map(|c| (c[0].0, c[c.len() - 1].1)).collect();
        *pts = merged;
    }
}

/// Adds `pts` to the frontier `acc` (still a valid bound: only real postings' points, or
/// coarsenings of them, are kept).
fn merge_frontier(acc: &mut Vec<(u32, u32)>, pts: &[(u32, u32)]) {
    acc.extend_from_slice(pts);
    frontier(acc);
}

/// One term's postings.
#[derive(Clone, Debug, Default)]
pub struct PostingList {
    data: Vec<u8>,
    blocks: Vec<BlockMeta>,
    front: Vec<(u32, u32)>,
    /// Frontier of the whole list (the union of the block frontiers, coarsened): bounds the
    /// list's maximum contribution.
    list_front: Vec<(u32, u32)>,
    len: u32,
}

#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads one varint at `*pos`; `None` if it runs off the end or exceeds 32 bits.
#[inline]
pub(crate) fn get_varint(data: &[u8], pos: &mut usize) -> Option<u32> {
    let mut v: u32 = 0;
    let mut shift = 0u32;
    loop {
        let b = *data.get(*pos)?;
        *pos += 1;
        if shift == 28 && b > 0x0F {
            return None;
        }
        v |= ((b & 0x7F) as u32) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
    }
}

/// [`get_varint`] with a fast path for one-byte values (most gaps and frequencies); a
/// damaged value reads as 0.
#[inline(always)]
fn varint_fast(data: &[u8], pos: &mut usize) -> u32 {
    if let Some(&b) = data.get(*pos) {
        if b < 0x80 {
            *pos += 1;
            return b as u32;
        }
    }
    get_varint(data, pos).unwrap_or(0)
}

/// A decoded block.
pub struct Decoded {
    /// Doc slots.
    pub docs: [u32; BLOCK],
    /// Term frequencies.
    pub tfs: [u32; BLOCK],
    /// How many entries are valid.
    pub n: usize,
}

impl Default for Decoded {
    fn default() -> Self {
        Decoded {
            docs: [0; BLOCK],
            tfs: [0; BLOCK],
            n: 0,
        }
    }
}

impl PostingList {
    /// Number of postings (including those of deleted documents).
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Block metadata.
    pub fn blocks(&self) -> &[BlockMeta] {
        &self.blocks
    }

    /// Frontier points `(tf, len)` of all blocks (see [`BlockMeta::front`]).
    pub fn frontier(&self) -> &[(u32, u32)] {
        &self.front
    }

    /// The frontier of the whole list.
    pub fn list_frontier(&self) -> &[(u32, u32)] {
        &self.list_front
    }

    /// The frontier of block `i`.
    pub fn block_frontier(&self, i: usize) -> &[(u32, u32)] {
        self.blocks.get(i).map_or(&[], |b| {
            let s = b.front as usize;
            &self.front[s..s + b.front_len as usize]
        })
    }

    /// Heap bytes used.
    pub fn memory_usage(&self) -> usize {
        self.data.capacity()
            + self.blocks.capacity() * std::mem::size_of::<BlockMeta>()
            + self.front.capacity() * 8
    }

    /// Last doc in the list.
    pub fn last_doc(&self) -> Option<u32> {
        self.blocks.last().map(|b| b.last_doc)
    }

    /// Decodes block `i` into `out`. The data was produced by this module (or validated on
    /// load), so decoding cannot fail; a damaged block decodes to garbage but never panics.
    pub fn decode_block(&self, i: usize, out: &mut Decoded) {
        let Some(meta) = self.blocks.get(i) else {
            out.n = 0;
            return;
        };
        let mut prev = if i == 0 {
            0
        } else {
            self.blocks[i - 1].last_doc
        };
        let n = (meta.count as usize).min(BLOCK);
        let data = &self.data;
        let mut pos = meta.offset as usize;
        for d in out.docs.iter_mut().take(n) {
            prev = prev.wrapping_add(varint_fast(data, &mut pos));
            *d = prev;
        }
        for t in out.tfs.iter_mut().take(n) {
            *t = varint_fast(data, &mut pos);
        }
        out.n = n;
    }

    /// The first doc of block `i` (reads one varint).
    pub fn block_first_doc(&self, i: usize) -> u32 {
        let Some(meta) = self.blocks.get(i) else {
            return u32::MAX;
        };
        let base = if i == 0 {
            0
        } else {
            self.blocks[i - 1].last_doc
        };
        let mut pos = meta.offset as usize;
        base.wrapping_add(get_varint(&self.data, &mut pos).unwrap_or(0))
    }

    /// Calls `f(doc, tf)` for every posting, in order.
    pub fn for_each(&self, mut f: impl FnMut(u32, u32)) {
        let mut buf = Decoded::default();
        for i in 0..self.blocks.len() {
            self.decode_block(i, &mut buf);
            for j in 0..buf.n {
                f(buf.docs[j], buf.tfs[j]);
            }
        }
    }

    /// Appends postings whose docs are all greater than [`PostingList::last_doc`] and
    /// strictly increasing. `len_of(doc)` gives a document's length (for the block bounds).
    /// A partial last block is decoded and re-encoded together with the new postings.
    pub fn append(&mut self, postings: &[(u32, u32)], len_of: impl Fn(u32) -> u32) {
        if postings.is_empty() {
            return;
        }
        let mut pending: Vec<(u32, u32)> = Vec::with_capacity(BLOCK + postings.len());
        if let Some(last) = self.blocks.last().copied() {
            if (last.count as usize) < BLOCK {
                let mut buf = Decoded::default();
                self.decode_block(self.blocks.len() - 1, &mut buf);
                pending.extend((0..buf.n).map(|j| (buf.docs[j], buf.tfs[j])));
                self.data.truncate(last.offset as usize);
                self.front.truncate(last.front as usize);
                self.blocks.pop();
                self.len -= buf.n as u32;
            }
        }
        pending.extend_from_slice(postings);
        for chunk in pending.chunks(BLOCK) {
            self.push_block(chunk, &len_of);
        }
    }

    fn push_block(&mut self, chunk: &[(u32, u32)], len_of: &impl Fn(u32) -> u32) {
        let mut prev = self.last_doc().unwrap_or(0);
        let offset = self.data.len() as u32;
        let mut pts = Vec::with_capacity(chunk.len());
        for &(d, tf) in chunk {
            put_varint(&mut self.data, d - prev);
            prev = d;
            pts.push((tf, len_of(d)));
        }
        for &(_, tf) in chunk {
            put_varint(&mut self.data, tf);
        }
        frontier(&mut pts);
        merge_frontier(&mut self.list_front, &pts);
        self.blocks.push(BlockMeta {
            last_doc: prev,
            offset,
            count: chunk.len() as u32,
            front: self.front.len() as u32,
            front_len: pts.len() as u32,
        });
        self.front.extend_from_slice(&pts);
        self.len += chunk.len() as u32;
    }

    /// Builds a list from sorted postings.
    pub fn from_postings(postings: &[(u32, u32)], len_of: impl Fn(u32) -> u32) -> Self {
        let mut l = PostingList::default();
        l.data.reserve(postings.len() * 2);
        for chunk in postings.chunks(BLOCK) {
            l.push_block(chunk, &len_of);
        }
        l.data.shrink_to_fit();
        l.front.shrink_to_fit();
        l
    }

    /// The encoded bytes (for saving).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Parses `count` postings from `data` (as written by [`PostingList::data`]), checking
    /// that docs are strictly increasing and below `slots`, tfs are ≥ 1 and that every byte is
    /// used. Block metadata is recomputed. `on_posting(doc, tf)` sees each posting.
    pub fn parse(
        data: &[u8],
        count: usize,
        slots: u32,
        len_of: impl Fn(u32) -> u32,
        mut on_posting: impl FnMut(u32, u32),
    ) -> Option<Self> {
        if count == 0 || count > data.len() {
            return None;
        }
        let mut blocks = Vec::with_capacity(count.div_ceil(BLOCK));
        let mut front = Vec::new();
        let mut list_front = Vec::new();
        let mut pts = Vec::with_capacity(BLOCK);
        let mut pos = 0usize;
        let mut prev: Option<u32> = None;
        let mut docs = [0u32; BLOCK];
        let mut left = count;
        while left > 0 {
            let n = left.min(BLOCK);
            let offset = u32::try_from(pos).ok()?;
            for d in docs.iter_mut().take(n) {
                let gap = get_varint(data, &mut pos)?;
                let doc = match prev {
                    None => gap,
                    Some(p) => {
                        if gap == 0 {
                            return None;
                        }
                        p.checked_add(gap)?
                    }
                };
                if doc >= slots {
                    return None;
                }
                prev = Some(doc);
                *d = doc;
            }
            pts.clear();
            for &d in docs.iter().take(n) {
                let tf = get_varint(data, &mut pos)?;
                if tf == 0 {
                    return None;
                }
                pts.push((tf, len_of(d)));
                on_posting(d, tf);
            }
            frontier(&mut pts);
            merge_frontier(&mut list_front, &pts);
            blocks.push(BlockMeta {
                last_doc: docs[n - 1],
                offset,
                count: n as u32,
                front: front.len() as u32,
                front_len: pts.len() as u32,
            });
            front.extend_from_slice(&pts);
            left -= n;
        }
        if pos != data.len() {
            return None;
        }
        Some(PostingList {
            data: data.to_vec(),
            blocks,
            front,
            list_front,
            len: u32::try_from(count).ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontier_is_pareto() {
        let mut p = vec![(1, 10), (3, 50), (2, 5), (3, 40), (1, 3), (2, 5)];
        frontier(&mut p);
        assert_eq!(p, vec![(3, 40), (2, 5), (1, 3)]);
        let mut big: Vec<(u32, u32)> = (1..=20).map(|i| (i, i * 10)).collect();
        frontier(&mut big);
        assert!(big.len() <= MAX_FRONTIER);
        // Every original point is dominated by some kept point.
        for i in 1..=20u32 {
            assert!(big.iter().any(|&(tf, len)| tf >= i && len <= i * 10));
        }
    }

    #[test]
    fn varint_round_trip() {
        let mut v = Vec::new();
        for x in [0u32, 1, 127, 128, 300, 1 << 21, u32::MAX] {
            v.clear();
            put_varint(&mut v, x);
            let mut p = 0;
            assert_eq!(get_varint(&v, &mut p), Some(x));
            assert_eq!(p, v.len());
        }
        let mut p = 0;
        assert_eq!(get_varint(&[0xFF, 0xFF, 0xFF, 0xFF, 0x7F], &mut p), None);
        let mut p = 0;
        assert_eq!(get_varint(&[0x80], &mut p), None);
    }

    #[test]
    fn append_and_decode() {
        let all: Vec<(u32, u32)> = (0..1000u32).map(|i| (i * 3 + 1, i % 7 + 1)).collect();
        let mut l = PostingList::default();
        for part in all.chunks(37) {
            l.append(part, |d| d % 50);
        }
        let mut got = Vec::new();
        l.for_each(|d, t| got.push((d, t)));
        assert_eq!(got, all);
        let built = PostingList::from_postings(&all, |d| d % 50);
        assert_eq!(built.data(), l.data());
        assert_eq!(built.blocks(), l.blocks());
        for b in l.blocks() {
            assert!(b.count as usize <= BLOCK);
        }
        let parsed = PostingList::parse(l.data(), all.len(), 10_000, |d| d % 50, |_, _| {});
        assert_eq!(
            parsed.map(|p| (p.blocks().to_vec(), p.frontier().to_vec())),
            Some((l.blocks().to_vec(), l.frontier().to_vec()))
        );
        assert!(PostingList::parse(l.data(), all.len(), 100, |d| d % 50, |_, _| {}).is_none());
        assert!(PostingList::parse(l.data(), all.len() - 1, 10_000, |_| 0, |_, _| {}).is_none());
    }
}
