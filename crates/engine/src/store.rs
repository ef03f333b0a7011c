//! Where vectors live: an owned arena, or a read-only view into a memory-mapped file.

use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use memmap2::Mmap;
use quiver_hnsw::WordSource;

/// A byte range of a memory map, checked for length and alignment when created.
#[derive(Clone)]
pub struct MappedSection {
    map: Arc<Mmap>,
    offset: usize,
    len: usize,
}

impl MappedSection {
    /// The section `offset..offset+len` of `map`, if it lies inside the map and is 4-byte
    /// aligned in memory.
    pub fn new(map: Arc<Mmap>, offset: usize, len: usize) -> Option<Self> {
        let end = offset.checked_add(len)?;
        if end > map.len() || (map.as_ptr() as usize + offset) % 4 != 0 || len % 4 != 0 {
            return None;
        }
        Some(MappedSection { map, offset, len })
    }

    fn bytes(&self) -> &[u8] {
        &self.map[self.offset..self.offset + self.len]
    }

    /// The section as f32 values.
    pub fn as_f32(&self) -> &[f32] {
        let b = self.bytes();
        // SAFETY: `new` checked that the range is inside the map, 4-byte aligned and a
        // multiple of 4 bytes long; every bit pattern is a valid f32; the map is read-only
        // and lives as long as `self` (Arc).
        unsafe { std::slice::from_raw_parts(b.as_ptr().cast::<f32>(), b.len() / 4) }
    }
}

impl WordSource for MappedSection {
    fn words(&self) -> &[AtomicU32] {
        let b = self.bytes();
        // SAFETY: as in `as_f32`: in bounds, aligned, whole words. AtomicU32 has the layout
        // of u32. The memory is only ever loaded from (the graph never writes a borrowed
        // arena), so atomics over read-only pages see no stores.
        unsafe { std::slice::from_raw_parts(b.as_ptr().cast::<AtomicU32>(), b.len() / 4) }
    }
}

/// Vector storage, row-major.
pub enum VectorStore {
    /// Owned, growable.
    Owned(Vec<f32>),
    /// Read-only, from a memory-mapped index file.
    Mapped(MappedSection),
}

impl VectorStore {
    /// All stored floats.
    #[inline]
    pub fn as_slice(&self) -> &[f32] {
        match self {
            VectorStore::Owned(v) => v,
            VectorStore::Mapped(m) => m.as_f32(),
        }
    }

    /// Heap bytes held (a map counts zero: the OS pages it in and out).
    pub fn heap_bytes(&self) -> usize {
        match self {
            VectorStore::Owned(v) => v.capacity() * 4,
            VectorStore::Mapped(_) => 0,
        }
    }
}
