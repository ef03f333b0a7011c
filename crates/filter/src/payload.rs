//! Per-slot payloads: the JSON text of a user value, returned with results.

use std::collections::HashMap;
use std::mem::size_of;
use std::sync::Arc;

use crate::codec::{checksum, u32_at, u64_at, verify_trailer, Reader};
use crate::error::{corrupt, invalid_arg, Result};

/// The largest payload, in bytes (1 MiB).
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;

const MAGIC: &[u8; 4] = b"QVPL";
const VERSION: u8 = 1;
const HEADER: usize = 16;
const ENTRY: usize = 12;

/// Bytes that a [`PayloadStore`] reads from without copying: a `Vec<u8>`, or a memory
/// mapping owned by the caller. The bytes must not change while the store holds them.
pub trait ByteSource: Send + Sync {
    /// The bytes.
    fn bytes(&self) -> &[u8];
}

impl ByteSource for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// The in-memory payloads by slot (`None`: removed from the byte source). A payload is shared
/// (`Arc`), so that a copy of the table with more room copies pointers, not payloads.
type Overlay = HashMap<u32, Option<Arc<[u8]>>>;

/// Per-slot optional payload bytes. Decoded payloads are served straight from a
/// [`ByteSource`]; later [`set`](Self::set)/[`clear`](Self::clear) calls go to an
/// in-memory overlay, so the source is never written.
pub struct PayloadStore {
    base: Option<Box<dyn ByteSource>>,
    base_count: usize,
    overlay: Overlay,
    len: usize,
}

/// A copy of a [`PayloadStore`]'s table with room for a write, made by
/// [`PayloadStore::room_for`] while readers go on, put in place by
/// [`PayloadStore::make_room`].
#[derive(Debug, Default)]
pub struct PayloadRoom {
    overlay: Option<Overlay>,
}

impl PayloadRoom {
    /// Whether the table had room already (nothing was copied).
    pub fn is_empty(&self) -> bool {
        self.overlay.is_none()
    }
}

impl std::fmt::Debug for PayloadStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadStore")
            .field("base_count", &self.base_count)
            .field("overlay", &self.overlay.len())
            .field("len", &self.len)
            .finish()
    }
}

impl Default for PayloadStore {
    fn default() -> Self {
        PayloadStore::new()
    }
}

impl PayloadStore {
    /// An empty store.
    pub fn new() -> PayloadStore {
        PayloadStore {
            base: None,
            base_count: 0,
            overlay: HashMap::new(),
            len: 0,
        }
    }

    /// Checks that `bytes` can be a payload: valid UTF-8 and at most [`MAX_PAYLOAD_BYTES`].
    pub fn validate(bytes: &[u8]) -> Result<()> {
        if bytes.len() > MAX_PAYLOAD_BYTES {
            return Err(invalid_arg(format!(
                "payload of {} bytes exceeds the limit of {MAX_PAYLOAD_BYTES}",
                bytes.len()
            )));
        }
        std::str::from_utf8(bytes)
            .map_err(|e| invalid_arg(format!("payload is not valid UTF-8: {e}")))?;
        Ok(())
    }

    fn base_bytes(&self) -> &[u8] {
        self.base.as_ref().map_or(&[], |b| b.bytes())
    }

    fn base_slot(&self, i: usize) -> Option<u32> {
        u32_at(self.base_bytes(), HEADER + i * ENTRY)
    }

    fn base_payload(&self, i: usize) -> Option<&[u8]> {
        let bytes = self.base_bytes();
        let end = |j: usize| u64_at(bytes, HEADER + j * ENTRY + 4).map(|e| e as usize);
        let start = if i == 0 { 0 } else { end(i - 1)? };
        let arena = HEADER + self.base_count * ENTRY;
        bytes.get(arena + start..arena + end(i)?)
    }

    fn base_get(&self, slot: u32) -> Option<&[u8]> {
        let (mut lo, mut hi) = (0usize, self.base_count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let s = self.base_slot(mid)?;
            if s == slot {
                return self.base_payload(mid);
            }
            if s < slot {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        None
    }

    /// The payload of `slot`, if it has one.
    pub fn get(&self, slot: u32) -> Option<&[u8]> {
        match self.overlay.get(&slot) {
            Some(o) => o.as_deref(),
            None => self.base_get(slot),
        }
    }

    /// Every slot that holds a payload, ascending.
    pub fn slots(&self) -> Vec<u32> {
        let mut v: Vec<u32> = (0..self.base_count)
            .filter_map(|i| self.base_slot(i))
            .filter(|s| !self.overlay.contains_key(s))
            .collect();
        v.extend(
            self.overlay
                .iter()
                .filter(|(_, p)| p.is_some())
                .map(|(&s, _)| s),
        );
        v.sort_unstable();
        v
    }

    /// Whether `slot` has a payload.
    pub fn contains(&self, slot: u32) -> bool {
        self.get(slot).is_some()
    }

    /// The number of slots with a payload.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no slot has a payload.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A copy of the table with room for `additional` more payloads, or an empty room when it
    /// has that room already. Takes only `&self`: an index makes it while searches go on.
    pub fn room_for(&self, additional: usize) -> PayloadRoom {
        PayloadRoom {
            overlay: quiver_grow::map_with_room(&self.overlay, additional),
        }
    }

    /// Puts the copy from [`room_for`](Self::room_for) in place (a pointer swap), unless a
    /// write came in between; `room` is left holding the old table, to be dropped outside
    /// the caller's lock.
    pub fn make_room(&mut self, room: &mut PayloadRoom) {
        quiver_grow::swap_in(&mut self.overlay, &mut room.overlay);
    }

    /// Sets the payload of `slot`, replacing any earlier one, after [`validate`](Self::validate).
    pub fn set(&mut self, slot: u32, bytes: &[u8]) -> Result<()> {
        PayloadStore::validate(bytes)?;
        if !self.contains(slot) {
            self.len += 1;
        }
        self.overlay.insert(slot, Some(bytes.into()));
        Ok(())
    }

    /// Removes the payload of `slot`, if any.
    pub fn clear(&mut self, slot: u32) {
        if !self.contains(slot) {
            return;
        }
        self.len -= 1;
        if self.base_get(slot).is_some() {
            self.overlay.insert(slot, None);
        } else {
            self.overlay.remove(&slot);
        }
    }

    /// Heap bytes of the overlay plus the full length of the byte source (for a memory
    /// mapping that is the mapped size, resident or not).
    pub fn memory_usage(&self) -> usize {
        let overlay: usize = self
            .overlay
            .values()
            .map(|o| o.as_ref().map_or(0, |b| b.len()))
            .sum();
        overlay
            + self.overlay.capacity() * (size_of::<u32>() + size_of::<Option<Arc<[u8]>>>() + 8)
            + self.base_bytes().len()
    }

    /// Serializes every payload:
    ///
    /// a 16-byte header (`"QVPL"`, version `u8` = 1, 3 zero bytes, entry count `u32`,
    /// 4 zero bytes); the entry table, per payload in ascending slot order: slot `u32` and
    /// the payload's end offset in the arena `u64` (its start is the previous entry's
    /// end); the arena of payload bytes; a `u64` checksum of everything before it.
    /// All little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut entries: Vec<(u32, &[u8])> = Vec::with_capacity(self.len);
        for i in 0..self.base_count {
            if let (Some(s), Some(p)) = (self.base_slot(i), self.base_payload(i)) {
                if !self.overlay.contains_key(&s) {
                    entries.push((s, p));
                }
            }
        }
        for (s, p) in &self.overlay {
            if let Some(p) = p {
                entries.push((*s, p));
            }
        }
        entries.sort_unstable_by_key(|(s, _)| *s);
        let arena: usize = entries.iter().map(|(_, p)| p.len()).sum();
        let mut out = Vec::with_capacity(HEADER + entries.len() * ENTRY + arena + 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[VERSION, 0, 0, 0]);
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        let mut end = 0u64;
        for (s, p) in &entries {
            end += p.len() as u64;
            out.extend_from_slice(&s.to_le_bytes());
            out.extend_from_slice(&end.to_le_bytes());
        }
        for (_, p) in &entries {
            out.extend_from_slice(p);
        }
        let sum = checksum(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Opens bytes written by [`encode`](Self::encode) without copying them. The bytes are
    /// untrusted and validated in full up front: the checksum, the header, slots strictly
    /// ascending and below `max_slots`, end offsets non-decreasing and matching the arena
    /// length, every payload at most [`MAX_PAYLOAD_BYTES`] and valid UTF-8. This reads every
    /// byte once (for a memory mapping, it pages the whole file in once); afterwards
    /// [`get`](Self::get) is a binary search and a slice, with no further checks.
    /// Every failure is [`crate::FilterError::Corrupt`].
    pub fn from_source(source: Box<dyn ByteSource>, max_slots: u32) -> Result<PayloadStore> {
        const WHAT: &str = "payload store";
        let all = source.bytes();
        let body = verify_trailer(all, WHAT)?;
        let mut r = Reader::new(body, WHAT);
        if r.take(4)? != MAGIC {
            return Err(r.err("bad magic"));
        }
        let version = r.u8()?;
        if version != VERSION {
            return Err(r.err(format!("unsupported version {version}")));
        }
        if r.take(3)? != [0, 0, 0] {
            return Err(r.err("nonzero reserved bytes"));
        }
        let count = r.u32()? as usize;
        if r.take(4)? != [0, 0, 0, 0] {
            return Err(r.err("nonzero reserved bytes"));
        }
        let table_len = count
            .checked_mul(ENTRY)
            .filter(|&n| n <= r.remaining())
            .ok_or_else(|| r.err(format!("{count} entries cannot fit in the bytes left")))?;
        let table = r.take(table_len)?;
        let arena = r.take(r.remaining())?;
        let mut t = Reader::new(table, WHAT);
        let mut prev_slot: Option<u32> = None;
        let mut start = 0usize;
        for i in 0..count {
            let slot = t.u32()?;
            let end = t.u64()?;
            // `u32::MAX` as the bound admits every slot (stores keyed by user keys).
            if slot >= max_slots && max_slots != u32::MAX {
                return Err(corrupt(format!(
                    "{WHAT}: entry {i}: slot {slot} is not below {max_slots}"
                )));
            }
            if prev_slot.is_some_and(|p| p >= slot) {
                return Err(corrupt(format!(
                    "{WHAT}: entry {i}: slot {slot} out of order"
                )));
            }
            prev_slot = Some(slot);
            let end = usize::try_from(end)
                .ok()
                .filter(|&e| e >= start && e <= arena.len() && e - start <= MAX_PAYLOAD_BYTES)
                .ok_or_else(|| {
                    corrupt(format!("{WHAT}: entry {i}: end offset {end} out of bounds"))
                })?;
            let p = arena.get(start..end).ok_or_else(|| {
                corrupt(format!("{WHAT}: entry {i}: end offset {end} out of bounds"))
            })?;
            if std::str::from_utf8(p).is_err() {
                return Err(corrupt(format!("{WHAT}: entry {i}: payload is not UTF-8")));
            }
            start = end;
        }
        if start != arena.len() {
            return Err(corrupt(format!(
                "{WHAT}: arena of {} bytes, entries cover {start}",
                arena.len()
            )));
        }
        Ok(PayloadStore {
            base: Some(source),
            base_count: count,
            overlay: HashMap::new(),
            len: count,
        })
    }

    /// [`from_source`](Self::from_source) over a copy of `bytes`, with no slot bound.
    pub fn decode(bytes: &[u8]) -> Result<PayloadStore> {
        PayloadStore::from_source(Box::new(bytes.to_vec()), u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store whose table grows only through rooms made beforehand: setting the payloads a
    /// room was made for never reallocates the table.
    #[test]
    fn room_made_beforehand_keeps_sets_from_growing_the_table() {
        let mut store = PayloadStore::new();
        let mut next = 0u32;
        for round in 0..12 {
            let batch = 1usize << round;
            let mut room = store.room_for(batch);
            store.make_room(&mut room);
            drop(room);
            let cap = store.overlay.capacity();
            for _ in 0..batch {
                store
                    .set(next, format!("{{\"n\":{next}}}").as_bytes())
                    .unwrap();
                next += 1;
            }
            assert_eq!(
                store.overlay.capacity(),
                cap,
                "round {round}: the table grew in place"
            );
        }
        assert_eq!(store.len(), next as usize);
        for s in (0..next).step_by(97) {
            assert_eq!(store.get(s), Some(format!("{{\"n\":{s}}}").as_bytes()));
        }
    }

    /// A room made before another write is stale: it is refused and the store stays whole.
    #[test]
    fn a_stale_room_is_refused() {
        let mut store = PayloadStore::new();
        store.set(1, b"1").unwrap();
        let mut room = store.room_for(1000);
        store.set(2, b"2").unwrap();
        store.make_room(&mut room);
        assert!(
            room.overlay.is_some_and(|o| o.len() == 1),
            "the stale copy is handed back"
        );
        assert_eq!(store.get(1), Some(&b"1"[..]));
        assert_eq!(store.get(2), Some(&b"2"[..]));
        assert!(store.overlay.capacity() < 1000);
    }
}
