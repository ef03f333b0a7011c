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

#[cfg(test)]
mod tests {
    use super::*;

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
