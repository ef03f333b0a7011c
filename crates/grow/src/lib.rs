//! Growth of in-memory tables beside concurrent readers.
//!
//! A `Vec` or `HashMap` that runs out of room reallocates and copies everything it holds. Done
//! inside an index's exclusive lock, that copy is a pause for every search, and it grows with
//! the index. The indexes of this workspace instead make the bigger copy while searches go on
//! (under the shared lock, or with no lock, since only the single writer changes the table)
//! and take the exclusive lock only to swap it in:
//!
//! 1. [`vec_with_room`] / [`map_with_room`]: a copy with room for what a write will add, or
//!    `None` when the table already has that room. Capacity at least doubles, so the copies
//!    are amortised O(1) per added item.
//! 2. [`swap_in`] under the exclusive lock: the copy takes the table's place, and the old
//!    buffer is left in the caller's `Option`, to be freed after the lock is released.
//!
//! 3. [`Segmented`]: for tables an index appends to inside its exclusive step (per-term
//!    headers), an array that grows by segments and never moves an item.
//!
//! No write may change a table between its copy and the swap (the indexes run one writer at a
//! time, which makes both steps). [`swap_in`] refuses a copy whose length differs from the
//! table's, the one sign of a stale copy it can see; the table then grows by itself as usual.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// A copy of `v` with room for `additional` more items (capacity at least doubled), or `None`
/// when `v` already has that room. Items are cloned (a plain copy for `Copy` types).
pub fn vec_with_room<T: Clone>(v: &Vec<T>, additional: usize) -> Option<Vec<T>> {
    let need = v.len().checked_add(additional)?;
    if need <= v.capacity() {
        return None;
    }
    let mut out = Vec::with_capacity(need.max(v.capacity().saturating_mul(2)));
    out.extend_from_slice(v);
    Some(out)
}

/// A copy of `map` with room for `additional` more entries (capacity at least doubled), or
/// `None` when `map` already has that room.
pub fn map_with_room<K, V, S>(map: &HashMap<K, V, S>, additional: usize) -> Option<HashMap<K, V, S>>
where
    K: Clone + Eq + Hash,
    V: Clone,
    S: BuildHasher + Clone,
{
    let need = map.len().checked_add(additional)?;
    if need <= map.capacity() {
        return None;
    }
    let room = need.max(map.capacity().saturating_mul(2));
    let mut out = HashMap::with_capacity_and_hasher(room, map.hasher().clone());
    out.extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
    Some(out)
}

/// Something [`swap_in`] can check: how many items it holds.
pub trait Len {
    /// Number of items.
    fn len(&self) -> usize;
    /// Whether it holds nothing.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Len for Vec<T> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
}

impl<K, V, S> Len for HashMap<K, V, S> {
    fn len(&self) -> usize {
        HashMap::len(self)
    }
}

/// Puts the copy in `new` (if any, made from `mine` with no write since) in place of `mine`,
/// leaving the old table in `new` to be dropped after the lock is released. A copy of another
/// length than `mine` is stale: it stays in `new` and `mine` is kept. Returns whether the swap
/// happened.
pub fn swap_in<T: Len>(mine: &mut T, new: &mut Option<T>) -> bool {
    match new {
        Some(v) if v.len() == mine.len() => {
            std::mem::swap(mine, v);
            true
        }
        _ => false,
    }
}

/// Items in the first segment of a [`Segmented`]; segment `s` holds `FIRST << s`.
const FIRST: usize = 16;

/// A growable array whose items never move: it grows by adding a segment twice the size of
/// the last, so a push copies no earlier item, and only the short table of segment pointers
/// (one per doubling) ever reallocates. For per-term headers that an index appends to inside
/// its exclusive step: a `Vec` of them would, once in a while, copy every header there.
/// Memory is at most twice what the items need, as with a `Vec`.
#[derive(Clone, Debug)]
pub struct Segmented<T> {
    segments: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Segmented<T> {
    fn default() -> Self {
        Segmented::new()
    }
}

/// The segment and the position in it of item `i`.
#[inline]
fn locate(i: usize) -> (usize, usize) {
    let j = i / FIRST + 1;
    let s = (usize::BITS - 1 - j.leading_zeros()) as usize;
    (s, i - FIRST * ((1 << s) - 1))
}

impl<T> Segmented<T> {
    /// An empty array (no allocation).
    pub const fn new() -> Self {
        Segmented {
            segments: Vec::new(),
            len: 0,
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Items it holds before the next segment is allocated.
    pub fn capacity(&self) -> usize {
        self.segments.iter().map(Vec::capacity).sum()
    }

    /// Appends `item`; no earlier item moves.
    pub fn push(&mut self, item: T) {
        let (s, _) = locate(self.len);
        if s == self.segments.len() {
            self.segments.push(Vec::with_capacity(FIRST << s));
        }
        if let Some(segment) = self.segments.get_mut(s) {
            segment.push(item);
            self.len += 1;
        }
    }

    /// Item `i`, if `i < len`.
    pub fn get(&self, i: usize) -> Option<&T> {
        let (s, at) = locate(i);
        self.segments.get(s)?.get(at)
    }

    /// Item `i` for writing, if `i < len`.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        let (s, at) = locate(i);
        self.segments.get_mut(s)?.get_mut(at)
    }

    /// The items in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &T> + '_ {
        SegmentedIter {
            inner: self.segments.iter().flatten(),
            left: self.len,
        }
    }

    /// Removes every item and frees the segments.
    pub fn clear(&mut self) {
        self.segments = Vec::new();
        self.len = 0;
    }
}

struct SegmentedIter<I> {
    inner: I,
    left: usize,
}

impl<'a, T: 'a, I: Iterator<Item = &'a T>> Iterator for SegmentedIter<I> {
    type Item = &'a T;
    fn next(&mut self) -> Option<&'a T> {
        let item = self.inner.next()?;
        self.left = self.left.saturating_sub(1);
        Some(item)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<'a, T: 'a, I: Iterator<Item = &'a T>> ExactSizeIterator for SegmentedIter<I> {}

impl<'a, T> IntoIterator for &'a Segmented<T> {
    type Item = &'a T;
    type IntoIter = Box<dyn ExactSizeIterator<Item = &'a T> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

impl<T> FromIterator<T> for Segmented<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut out = Segmented::new();
        for item in items {
            out.push(item);
        }
        out
    }
}

impl<T> std::ops::Index<usize> for Segmented<T> {
    type Output = T;
    /// Panics when `i >= len`, as a slice does.
    fn index(&self, i: usize) -> &T {
        match self.get(i) {
            Some(item) => item,
            None => panic!("index {i} out of range for {} items", self.len),
        }
    }
}

impl<T> std::ops::IndexMut<usize> for Segmented<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        let len = self.len;
        match self.get_mut(i) {
            Some(item) => item,
            None => panic!("index {i} out of range for {len} items"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segmented_items_never_move_and_read_back_in_order() {
        let mut v: Segmented<u64> = Segmented::new();
        assert!(v.is_empty() && v.capacity() == 0);
        let mut first: Vec<*const u64> = Vec::new();
        for i in 0..10_000u64 {
            v.push(i * 3);
            if i < 40 {
                first.push(v.get(i as usize).expect("pushed"));
            }
        }
        assert_eq!(v.len(), 10_000);
        for (i, &p) in first.iter().enumerate() {
            assert!(std::ptr::eq(p, &v[i]), "item {i} moved");
        }
        assert!(v.iter().copied().eq((0..10_000u64).map(|i| i * 3)));
        assert_eq!(v.iter().len(), 10_000);
        assert_eq!(v.get(10_000), None);
        v[77] = 1;
        assert_eq!(v.get(77), Some(&1));
        assert!(v.capacity() >= 10_000 && v.capacity() < 2 * 10_000 + 2 * FIRST);
        let c: Segmented<u64> = v.iter().copied().collect();
        assert!(c.iter().eq(v.iter()));
        v.clear();
        assert!(v.is_empty() && v.get(0).is_none());
    }

    #[test]
    fn locate_covers_every_index_once() {
        let mut expect = (0usize, 0usize);
        for i in 0..5_000 {
            assert_eq!(locate(i), expect, "index {i}");
            expect.1 += 1;
            if expect.1 == FIRST << expect.0 {
                expect = (expect.0 + 1, 0);
            }
        }
    }

    #[test]
    fn vec_copies_only_when_short_of_room_and_doubles() {
        let mut v: Vec<u32> = Vec::with_capacity(4);
        v.extend([1, 2, 3]);
        assert!(vec_with_room(&v, 1).is_none());
        let grown = vec_with_room(&v, 2).expect("needs room");
        assert_eq!(grown, v);
        assert!(grown.capacity() >= 8);
        let big = vec_with_room(&v, 100).expect("needs room");
        assert!(big.capacity() >= 103);
        assert!(
            vec_with_room(&v, usize::MAX).is_none(),
            "overflow asks for nothing"
        );
    }

    #[test]
    fn map_copies_entries_and_hasher() {
        let mut m: HashMap<Box<str>, u32> = HashMap::new();
        for i in 0..10u32 {
            m.insert(i.to_string().into(), i);
        }
        let grown = map_with_room(&m, 1000).expect("needs room");
        assert_eq!(grown, m);
        assert!(grown.capacity() >= 1010);
        assert!(map_with_room(&grown, 10).is_none());
    }

    #[test]
    fn swap_in_takes_a_current_copy_and_refuses_a_stale_one() {
        let mut table = vec![1u8, 2, 3];
        let mut copy = vec_with_room(&table, 100);
        assert!(swap_in(&mut table, &mut copy));
        assert!(table.capacity() >= 103);
        assert_eq!(table, [1, 2, 3]);
        assert_eq!(
            copy.map(|old| old.len()),
            Some(3),
            "the old buffer is handed back"
        );

        let mut stale = vec_with_room(&table, 1000);
        table.push(4);
        assert!(!swap_in(&mut table, &mut stale));
        assert_eq!(table, [1, 2, 3, 4]);

        let mut none: Option<Vec<u8>> = None;
        assert!(!swap_in(&mut table, &mut none));
    }
}
