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
        if end > map.len()
            || !(map.as_ptr() as usize + offset).is_multiple_of(4)
            || !len.is_multiple_of(4)
        {
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

/// A byte range of a memory map of any length and alignment (payloads served from the file).
pub struct MappedBytes {
    map: Arc<Mmap>,
    range: std::ops::Range<usize>,
}

impl MappedBytes {
    /// `range` of `map`, if it lies inside the map.
    pub fn new(map: Arc<Mmap>, range: std::ops::Range<usize>) -> Option<Self> {
        (range.start <= range.end && range.end <= map.len()).then_some(MappedBytes { map, range })
    }
}

impl quiver_filter::ByteSource for MappedBytes {
    fn bytes(&self) -> &[u8] {
        self.map.get(self.range.clone()).unwrap_or(&[])
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

/// One cache line of floats; the unit of [`AlignedF32`].
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// A growable f32 buffer whose start is 64-byte aligned, so rows whose byte length is a
/// multiple of 64 (dim 16, 384, 768, 784, 1536, …) each start on a cache line: SIMD loads never
/// split lines (measured ~2× faster kernels than rows 4 bytes off a line).
#[derive(Clone, Default)]
pub struct AlignedF32 {
    lines: Vec<Line>,
    len: usize,
}

impl AlignedF32 {
    /// Copies `values` into a new aligned buffer.
    pub fn from_iter_exact(len: usize, values: impl Iterator<Item = f32>) -> Self {
        let mut out = AlignedF32::default();
        out.reserve_exact(len);
        out.resize(len);
        for (slot, v) in out.iter_mut().zip(values) {
            *slot = v;
        }
        out
    }

    /// Makes room for `additional` more floats without over-allocating.
    pub fn reserve_exact(&mut self, additional: usize) {
        let want = (self.len + additional).div_ceil(16);
        self.lines
            .reserve_exact(want.saturating_sub(self.lines.len()));
    }

    /// Makes room for `additional` more floats, growing geometrically (amortised O(1) per
    /// float: a write-heavy index does not copy its whole arena on every add).
    pub fn reserve(&mut self, additional: usize) {
        let want = (self.len + additional).div_ceil(16);
        self.lines.reserve(want.saturating_sub(self.lines.len()));
    }

    /// A copy of this buffer with room for `additional` more floats (at least double the
    /// room it has, so growth stays geometric), or `None` if it already has that room. Lets a
    /// writer do the copy of a growth while readers still use this buffer.
    pub fn grown(&self, additional: usize) -> Option<AlignedF32> {
        let want = (self.len + additional).div_ceil(16);
        if want <= self.lines.capacity() {
            return None;
        }
        let mut lines = Vec::with_capacity(want.max(2 * self.lines.capacity()));
        lines.extend_from_slice(&self.lines);
        Some(AlignedF32 {
            lines,
            len: self.len,
        })
    }

    /// Grows (with zeros) or shrinks to `len` floats.
    pub fn resize(&mut self, len: usize) {
        self.lines.resize(len.div_ceil(16), Line([0.0; 16]));
        self.len = len;
    }

    /// The floats as their in-memory bytes, to be filled by a read (the file format and
    /// every supported target are little-endian, so file bytes are the floats).
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        let len = self.len * 4;
        // SAFETY: as in `deref_mut`: `len` f32s are initialised and contiguous; any byte
        // pattern written through the view is a valid f32; `&mut self` is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<u8>(), len) }
    }

    /// Bytes allocated.
    pub fn capacity_bytes(&self) -> usize {
        self.lines.capacity() * 64
    }
}

impl std::ops::Deref for AlignedF32 {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        // SAFETY: `Line` is `repr(C)` over 16 f32 with no padding (64 bytes, align 64), so
        // `lines` is `16 * lines.len()` contiguous, initialised f32s; `len` never exceeds that
        // (maintained by `resize`).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.len) }
    }
}

impl std::ops::DerefMut for AlignedF32 {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `deref`, and `&mut self` gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f32>(), self.len) }
    }
}

/// Vector storage, row-major.
pub enum VectorStore {
    /// Owned, growable, 64-byte aligned.
    Owned(AlignedF32),
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
            VectorStore::Owned(v) => v.capacity_bytes(),
            VectorStore::Mapped(_) => 0,
        }
    }
}
