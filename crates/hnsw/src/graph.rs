//! The graph's memory: level-0 links in one contiguous arena, upper levels per node,
//! tombstones, the entry point.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::Params;

/// Read-only storage of u32 words that lives elsewhere (e.g. a memory-mapped file section).
pub trait WordSource: Send + Sync {
    /// The words. Must stay valid and unchanged for the source's lifetime.
    fn words(&self) -> &[AtomicU32];
}

/// An arena of u32 words read through atomics: owned (growable) or borrowed read-only.
pub enum WordArena {
    /// Heap memory owned by the graph.
    Owned(Vec<AtomicU32>),
    /// Read-only memory owned elsewhere (a memory map). Never written.
    Borrowed(Arc<dyn WordSource>),
}

impl WordArena {
    #[inline]
    pub(crate) fn words(&self) -> &[AtomicU32] {
        match self {
            WordArena::Owned(v) => v,
            WordArena::Borrowed(s) => s.words(),
        }
    }

    fn is_borrowed(&self) -> bool {
        matches!(self, WordArena::Borrowed(_))
    }
}

/// Sentinel for "no entry point".
const NO_ENTRY: u64 = u64::MAX;

/// An HNSW graph over node ids `0..capacity`.
///
/// Level-0 links of node `i` live at `level0[i * stride ..][.. stride]` as
/// `[count, link_0, …, link_{m0-1}]`; upper levels of node `i` are one boxed slice holding
/// `level` blocks of `[count, link_0, …, link_{m-1}]`.
pub struct Graph {
    pub(crate) params: Params,
    pub(crate) stride: usize,
    pub(crate) capacity: usize,
    pub(crate) level0: WordArena,
    pub(crate) upper: Vec<OnceLock<Box<[AtomicU32]>>>,
    pub(crate) locks: Vec<Mutex<()>>,
    /// Tombstones, one bit per node.
    pub(crate) deleted: Vec<AtomicU64>,
    pub(crate) n_deleted: AtomicUsize,
    /// Packed (level << 32 | id), or NO_ENTRY.
    pub(crate) entry: AtomicU64,
    /// Held by an insert that raises the top level, and while changing the entry point.
    pub(crate) entry_lock: Mutex<()>,
}

/// A graph's growable arenas, copied into larger allocations by [`Graph::grown`].
pub struct GrownArenas {
    level0: Vec<AtomicU32>,
    upper: Vec<OnceLock<Box<[AtomicU32]>>>,
    locks: Vec<Mutex<()>>,
    deleted: Vec<AtomicU64>,
}

/// Everything needed to persist or restore a graph.
pub struct GraphParts {
    /// Construction parameters.
    pub params: Params,
    /// Number of node slots.
    pub nodes: usize,
    /// Level-0 arena, `nodes * (m0 + 1)` words.
    pub level0: WordArena,
    /// Upper-level link blocks per node (empty for level-0-only nodes), `level * (m + 1)` words.
    pub upper: Vec<Vec<u32>>,
    /// Tombstone bits, `nodes.div_ceil(64)` words.
    pub deleted: Vec<u64>,
    /// Entry point `(id, level)`.
    pub entry: Option<(u32, usize)>,
}

impl Graph {
    /// An empty graph with room for `capacity` nodes.
    pub fn new(params: Params, capacity: usize) -> Self {
        let mut g = Graph {
            params,
            stride: params.m0 + 1,
            capacity: 0,
            level0: WordArena::Owned(Vec::new()),
            upper: Vec::new(),
            locks: Vec::new(),
            deleted: Vec::new(),
            n_deleted: AtomicUsize::new(0),
            entry: AtomicU64::new(NO_ENTRY),
            entry_lock: Mutex::new(()),
        };
        g.reserve(capacity);
        g
    }

    /// The construction parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Node slots available without reallocating.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether the link arena is borrowed read-only storage (a memory map).
    pub fn is_read_only(&self) -> bool {
        self.level0.is_borrowed()
    }

    /// Grows the arenas so that ids `< capacity` are valid. Never shrinks. No-op on a
    /// read-only graph.
    pub fn reserve(&mut self, capacity: usize) {
        if capacity <= self.capacity {
            return;
        }
        let WordArena::Owned(level0) = &mut self.level0 else {
            return;
        };
        level0.resize_with(capacity * self.stride, || AtomicU32::new(0));
        self.upper.resize_with(capacity, OnceLock::new);
        self.locks.resize_with(capacity, || Mutex::new(()));
        self.deleted
            .resize_with(capacity.div_ceil(64), || AtomicU64::new(0));
        self.capacity = capacity;
    }

    /// Arenas with room for `capacity` nodes (at least double the room there is, so growth
    /// stays geometric) holding a copy of this graph, or `None` if [`Graph::reserve`] to
    /// `capacity` would not reallocate (or the graph is read-only). Building them needs only
    /// `&self`, so searches go on meanwhile; the caller makes sure no insert, repair or delete
    /// runs until [`Graph::install`] puts them in place, or the copy would miss it.
    pub fn grown(&self, capacity: usize) -> Option<GrownArenas> {
        let WordArena::Owned(level0) = &self.level0 else {
            return None;
        };
        let words = capacity.checked_mul(self.stride)?;
        if capacity <= self.capacity
            || (words <= level0.capacity()
                && capacity <= self.upper.capacity()
                && capacity <= self.locks.capacity()
                && capacity.div_ceil(64) <= self.deleted.capacity())
        {
            return None;
        }
        let room = capacity.max(2 * self.capacity);
        let copy = |v: &[AtomicU32], room: usize| {
            let mut out = Vec::with_capacity(room);
            out.extend(v.iter().map(|w| AtomicU32::new(w.load(Ordering::Relaxed))));
            out
        };
        let mut upper = Vec::with_capacity(room);
        upper.extend(self.upper.iter().map(|u| {
            let slot = OnceLock::new();
            if let Some(b) = u.get() {
                let _ = slot.set(copy(b, b.len()).into_boxed_slice());
            }
            slot
        }));
        let mut locks = Vec::with_capacity(room);
        locks.resize_with(self.locks.len(), || Mutex::new(()));
        let mut deleted = Vec::with_capacity(room.div_ceil(64));
        deleted.extend(
            self.deleted
                .iter()
                .map(|w| AtomicU64::new(w.load(Ordering::Relaxed))),
        );
        Some(GrownArenas {
            level0: copy(level0, room * self.stride),
            upper,
            locks,
            deleted,
        })
    }

    /// Puts arenas from [`Graph::grown`] in place (moves only: the copy was made there) and
    /// returns the ones they replace, to be dropped where freeing them blocks no one.
    pub fn install(&mut self, mut arenas: GrownArenas) -> GrownArenas {
        if let WordArena::Owned(level0) = &mut self.level0 {
            std::mem::swap(level0, &mut arenas.level0);
        }
        std::mem::swap(&mut self.upper, &mut arenas.upper);
        std::mem::swap(&mut self.locks, &mut arenas.locks);
        std::mem::swap(&mut self.deleted, &mut arenas.deleted);
        arenas
    }

    /// Bytes of heap memory the graph holds (a borrowed arena counts zero).
    pub fn memory_usage(&self) -> usize {
        let level0 = match &self.level0 {
            WordArena::Owned(v) => v.capacity() * 4,
            WordArena::Borrowed(_) => 0,
        };
        let upper_slots = self.upper.capacity() * std::mem::size_of::<OnceLock<Box<[AtomicU32]>>>();
        let upper_data: usize = self
            .upper
            .iter()
            .filter_map(|u| u.get())
            .map(|b| b.len() * 4)
            .sum();
        level0
            + upper_slots
            + upper_data
            + self.locks.capacity() * std::mem::size_of::<Mutex<()>>()
            + self.deleted.capacity() * 8
    }

    /// The entry point `(id, level)`, if any node has been inserted.
    #[inline]
    pub fn entry(&self) -> Option<(u32, usize)> {
        let e = self.entry.load(Ordering::Acquire);
        (e != NO_ENTRY).then_some((e as u32, (e >> 32) as usize))
    }

    pub(crate) fn set_entry(&self, id: u32, level: usize) {
        self.entry
            .store(((level as u64) << 32) | u64::from(id), Ordering::Release);
    }

    pub(crate) fn clear_entry(&self) {
        self.entry.store(NO_ENTRY, Ordering::Release);
    }

    /// Level of node `id` (0 for nodes without upper levels).
    #[inline]
    pub fn level(&self, id: u32) -> usize {
        match self.upper.get(id as usize).and_then(|u| u.get()) {
            Some(b) => b.len() / (self.params.m + 1),
            None => 0,
        }
    }

    /// The link block `[count, links…]` of `id` at `level`, or an empty slice.
    #[inline]
    pub(crate) fn block(&self, id: u32, level: usize) -> &[AtomicU32] {
        if level == 0 {
            let start = id as usize * self.stride;
            self.level0
                .words()
                .get(start..start + self.stride)
                .unwrap_or(&[])
        } else {
            let per = self.params.m + 1;
            match self.upper.get(id as usize).and_then(|u| u.get()) {
                Some(b) => b.get((level - 1) * per..level * per).unwrap_or(&[]),
                None => &[],
            }
        }
    }

    /// Copies the links of `id` at `level` into `out` (cleared first).
    #[inline]
    pub fn links_into(&self, id: u32, level: usize, out: &mut Vec<u32>) {
        out.clear();
        let block = self.block(id, level);
        let Some((count, links)) = block.split_first() else {
            return;
        };
        let n = (count.load(Ordering::Acquire) as usize).min(links.len());
        out.extend(links[..n].iter().map(|l| l.load(Ordering::Relaxed)));
    }

    /// Replaces the links of `id` at `level`. The caller holds `id`'s lock (or `&mut self`).
    pub(crate) fn write_links(&self, id: u32, level: usize, links: &[u32]) {
        let block = self.block(id, level);
        let Some((count, slots)) = block.split_first() else {
            return;
        };
        let n = links.len().min(slots.len());
        for (slot, &l) in slots.iter().zip(&links[..n]) {
            slot.store(l, Ordering::Relaxed);
        }
        count.store(n as u32, Ordering::Release);
    }

    /// Appends one link if there is room; returns false when full.
    pub(crate) fn push_link(&self, id: u32, level: usize, link: u32) -> bool {
        let block = self.block(id, level);
        let Some((count, slots)) = block.split_first() else {
            return false;
        };
        let n = count.load(Ordering::Acquire) as usize;
        if n >= slots.len() {
            return false;
        }
        slots[n].store(link, Ordering::Relaxed);
        count.store(n as u32 + 1, Ordering::Release);
        true
    }

    /// Allocates node `id`'s upper levels (once).
    pub(crate) fn init_upper(&self, id: u32, level: usize) {
        if level == 0 {
            return;
        }
        if let Some(slot) = self.upper.get(id as usize) {
            let words = level * (self.params.m + 1);
            let _ = slot.get_or_init(|| (0..words).map(|_| AtomicU32::new(0)).collect());
        }
    }

    #[inline]
    pub(crate) fn lock(&self, id: u32) -> parking_lot::MutexGuard<'_, ()> {
        // Ids are validated against capacity by the caller; an out-of-range id would be a
        // bug in this crate, so index normally (panics are caught at the FFI boundary).
        self.locks[id as usize].lock()
    }

    /// Marks `id` deleted. Returns true if it was live.
    pub fn mark_deleted(&self, id: u32) -> bool {
        let Some(word) = self.deleted.get(id as usize / 64) else {
            return false;
        };
        let bit = 1u64 << (id % 64);
        let was = word.fetch_or(bit, Ordering::AcqRel);
        if was & bit == 0 {
            self.n_deleted.fetch_add(1, Ordering::AcqRel);
            true
        } else {
            false
        }
    }

    /// Whether `id` carries a tombstone.
    #[inline]
    pub fn is_deleted(&self, id: u32) -> bool {
        match self.deleted.get(id as usize / 64) {
            Some(w) => w.load(Ordering::Relaxed) & (1u64 << (id % 64)) != 0,
            None => false,
        }
    }

    /// Number of nodes carrying a tombstone.
    pub fn deleted_count(&self) -> usize {
        self.n_deleted.load(Ordering::Acquire)
    }

    /// Makes slot `id` empty again so a new node can be inserted there: clears links, levels
    /// and the tombstone. The slot must not be linked from any live node (true after
    /// [`Graph::consolidate`]).
    pub fn reset_slot(&mut self, id: u32) {
        if id as usize >= self.capacity {
            return;
        }
        self.write_links(id, 0, &[]);
        if let Some(slot) = self.upper.get_mut(id as usize) {
            *slot = OnceLock::new();
        }
        if let Some(w) = self.deleted.get(id as usize / 64) {
            let bit = 1u64 << (id % 64);
            if w.fetch_and(!bit, Ordering::AcqRel) & bit != 0 {
                self.n_deleted.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    /// Takes the graph apart for persistence (copies upper levels; level 0 is borrowed by the
    /// returned slice view through [`Graph::level0_words`]).
    pub fn upper_levels(&self, nodes: usize) -> Vec<Vec<u32>> {
        (0..nodes)
            .map(|i| match self.upper.get(i).and_then(|u| u.get()) {
                Some(b) => b.iter().map(|w| w.load(Ordering::Relaxed)).collect(),
                None => Vec::new(),
            })
            .collect()
    }

    /// The level-0 words of the first `nodes` slots.
    pub fn level0_words(&self, nodes: usize) -> &[AtomicU32] {
        let w = self.level0.words();
        &w[..(nodes * self.stride).min(w.len())]
    }

    /// The tombstone words covering the first `nodes` slots.
    pub fn deleted_words(&self, nodes: usize) -> Vec<u64> {
        self.deleted[..nodes.div_ceil(64).min(self.deleted.len())]
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
            .collect()
    }

    /// Rebuilds a graph from persisted parts. Validates every link against `nodes` and every
    /// length against the parameters; returns a description of the first inconsistency.
    pub fn from_parts(parts: GraphParts) -> Result<Graph, String> {
        let GraphParts {
            params,
            nodes,
            level0,
            upper,
            deleted,
            entry,
        } = parts;
        if params.m < 2 || params.m0 < params.m {
            return Err(format!(
                "invalid graph parameters m={} m0={}",
                params.m, params.m0
            ));
        }
        let stride = params.m0 + 1;
        let words = level0.words();
        if words.len() != nodes * stride {
            return Err(format!(
                "level-0 arena holds {} words, expected {}",
                words.len(),
                nodes * stride
            ));
        }
        let mut sorted = Vec::with_capacity(params.m0);
        let mut check_block = |id: usize, block: &[u32], max: usize| -> Result<(), String> {
            let Some((&count, links)) = block.split_first() else {
                return Ok(());
            };
            let n = count as usize;
            if n > max || n > links.len() {
                return Err(format!("link count {n} exceeds {max}"));
            }
            if links[..n].iter().any(|&l| l as usize >= nodes) {
                return Err("link points past the last node".into());
            }
            sorted.clear();
            sorted.extend_from_slice(&links[..n]);
            sorted.sort_unstable();
            if sorted.windows(2).any(|w| w[0] == w[1]) || sorted.binary_search(&(id as u32)).is_ok()
            {
                return Err(format!("node {id} links to itself or twice to one node"));
            }
            Ok(())
        };
        let mut scratch = vec![0u32; stride];
        for i in 0..nodes {
            for (s, w) in scratch.iter_mut().zip(&words[i * stride..(i + 1) * stride]) {
                *s = w.load(Ordering::Relaxed);
            }
            check_block(i, &scratch, params.m0)?;
        }
        if upper.len() != nodes {
            return Err("upper-level table length differs from node count".into());
        }
        let per = params.m + 1;
        for (i, u) in upper.iter().enumerate() {
            if u.len() % per != 0 || u.len() / per > crate::MAX_LEVEL {
                return Err("upper-level block has a bad length".into());
            }
            for block in u.chunks(per) {
                check_block(i, block, params.m)?;
            }
        }
        if deleted.len() != nodes.div_ceil(64) {
            return Err("tombstone table length differs from node count".into());
        }
        if nodes % 64 != 0 && deleted.last().is_some_and(|&w| w >> (nodes % 64) != 0) {
            return Err("tombstone set past the last node".into());
        }
        let top = upper.iter().map(|u| u.len() / per).max().unwrap_or(0);
        match entry {
            Some((id, level)) => {
                if id as usize >= nodes || upper[id as usize].len() / per != level {
                    return Err("entry point is not a node of its recorded level".into());
                }
                if level != top {
                    return Err("entry point is not on the top level".into());
                }
            }
            None if top > 0 => return Err("nodes on upper levels but no entry point".into()),
            None => {}
        }
        let n_deleted = deleted.iter().map(|w| w.count_ones() as usize).sum();
        let g = Graph {
            params,
            stride,
            capacity: nodes,
            level0,
            upper: upper
                .into_iter()
                .map(|u| {
                    let cell = OnceLock::new();
                    if !u.is_empty() {
                        let _ = cell.set(u.into_iter().map(AtomicU32::new).collect());
                    }
                    cell
                })
                .collect(),
            locks: (0..nodes).map(|_| Mutex::new(())).collect(),
            deleted: deleted.into_iter().map(AtomicU64::new).collect(),
            n_deleted: AtomicUsize::new(n_deleted),
            entry: AtomicU64::new(NO_ENTRY),
            entry_lock: Mutex::new(()),
        };
        if let Some((id, level)) = entry {
            g.set_entry(id, level);
        }
        Ok(g)
    }
}
