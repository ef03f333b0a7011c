//! The index file: one self-describing, checksummed file; atomic writes; memory-mapped opens.
//!
//! Layout (all integers little-endian; see docs/FILE_FORMAT.md):
//!
//! ```text
//! 0   magic            8 bytes  "QVRINDEX"
//! 8   format version   u32      FORMAT_VERSION
//! 12  section count    u32
//! 16  file length      u64      must equal the file's size
//! 24  header checksum  u64      xxh3-64 of bytes 0..24 and of the section table
//! 32  section table    count × { kind u32, reserved u32, offset u64, length u64, xxh3-64 u64 }
//! ..  sections         each starting at a multiple of 64 bytes
//! ```
//!
//! Sections: META (config and counts), KEYS (slot → key), VECTORS (slots × dim f32), and for
//! HNSW: LEVEL0 (slots × (2M+1) u32), UPPER (slot offsets then link words), DELETED
//! (tombstone bits), FREE (free slots). Every length is checked against the file size and the
//! META counts before anything is allocated; every section's checksum is verified on load.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use memmap2::Mmap;
use quiver_distance::Metric;
use quiver_hnsw::{Graph, GraphParts, Params, WordArena};
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::config::{Config, IndexKind};
use crate::error::{err, Error, Result};
use crate::quantized::{AnyQuantizer, Originals, QuantConfig};
use crate::store::{AlignedF32, MappedSection, VectorStore};
use crate::vector_index::{build_pool, VectorIndex};

#[cfg(target_endian = "big")]
compile_error!("the index file format is little-endian; big-endian targets are not supported");

/// File magic.
pub const MAGIC: &[u8; 8] = b"QVRINDEX";
/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: usize = 32;
const ENTRY_LEN: usize = 32;
const ALIGN: usize = 64;
const MAX_SECTIONS: usize = 64;

const META: u32 = 1;
const KEYS: u32 = 2;
const VECTORS: u32 = 3;
const LEVEL0: u32 = 4;
const UPPER: u32 = 5;
const DELETED: u32 = 6;
const FREE: u32 = 7;
/// Quantization options (version 2; absent in version-1 files: no quantization).
const QCONFIG: u32 = 8;
/// Trained quantizer parameters (kind code, then the quantizer's own bytes).
const QPARAMS: u32 = 9;
/// One code per slot.
const CODES: u32 = 10;

/// Size of the META section.
const META_LEN: usize = 64;

fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    err!(Io, "{what} {}: {e}", path.display())
}

fn corrupt(msg: impl std::fmt::Display) -> Error {
    err!(CorruptFile, "not a valid quiver-search index file: {msg}")
}

/// A section's bytes, produced lazily while writing (so large arenas are streamed, not
/// copied).
enum Payload<'a> {
    Bytes(Vec<u8>),
    Borrowed(&'a [u8]),
    F32(&'a [f32]),
    Words(&'a [AtomicU32]),
}

impl Payload<'_> {
    fn len(&self) -> usize {
        match self {
            Payload::Bytes(b) => b.len(),
            Payload::Borrowed(b) => b.len(),
            Payload::F32(v) => v.len() * 4,
            Payload::Words(w) => w.len() * 4,
        }
    }

    /// Feeds the bytes, in pieces, to `sink`.
    fn for_each_piece(
        &self,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        match self {
            Payload::Bytes(b) => sink(b),
            Payload::Borrowed(b) => sink(b),
            Payload::F32(v) => le_pieces(v, |x| x.to_le_bytes(), sink),
            Payload::Words(w) => le_pieces(w, |x| x.load(Ordering::Relaxed).to_le_bytes(), sink),
        }
    }

    fn checksum(&self) -> u64 {
        let mut h = Xxh3::new();
        let _ = self.for_each_piece(|b| {
            h.update(b);
            Ok(())
        });
        h.digest()
    }
}

/// Streams 4-byte values as little-endian bytes to `sink` in 64 KiB pieces.
fn le_pieces<T>(
    items: &[T],
    bytes: impl Fn(&T) -> [u8; 4],
    mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1 << 16);
    for chunk in items.chunks(1 << 14) {
        buf.clear();
        for x in chunk {
            buf.extend_from_slice(&bytes(x));
        }
        sink(&buf)?;
    }
    Ok(())
}

fn u32s(v: impl IntoIterator<Item = u32>) -> Vec<u8> {
    v.into_iter().flat_map(u32::to_le_bytes).collect()
}

fn metric_code(m: Metric) -> u8 {
    match m {
        Metric::L2 => 0,
        Metric::Ip => 1,
        Metric::Cosine => 2,
    }
}

fn encode_meta(index: &VectorIndex) -> Vec<u8> {
    let c = &index.config;
    let (entry_id, entry_level) = index
        .graph
        .as_ref()
        .and_then(Graph::entry)
        .map_or((u32::MAX, u32::MAX), |(id, l)| (id, l as u32));
    let mut m = Vec::with_capacity(META_LEN);
    m.extend_from_slice(&(c.dim as u32).to_le_bytes());
    m.push(metric_code(c.metric));
    m.push(match c.kind {
        IndexKind::Hnsw => 0,
        IndexKind::Flat => 1,
    });
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&(c.m as u32).to_le_bytes());
    m.extend_from_slice(&(c.ef_construction as u32).to_le_bytes());
    m.extend_from_slice(&(c.ef_search as u32).to_le_bytes());
    m.extend_from_slice(&(c.threads as u32).to_le_bytes());
    m.extend_from_slice(&c.seed.to_le_bytes());
    m.extend_from_slice(&(index.slot_keys.len() as u64).to_le_bytes());
    m.extend_from_slice(&(index.len() as u64).to_le_bytes());
    m.extend_from_slice(&entry_id.to_le_bytes());
    m.extend_from_slice(&entry_level.to_le_bytes());
    m.resize(META_LEN, 0);
    m
}

/// Caller-defined sections: (kind, bytes) in file order.
pub type ExtraSections = Vec<(u32, Vec<u8>)>;

/// Section kinds at or above this value belong to the object that embeds a `VectorIndex`
/// (e.g. a `MultiVectorIndex`); a plain load ignores them.
pub const FIRST_EXTRA_SECTION: u32 = 100;

/// Writes `index` to `path` atomically: a temporary file in the same directory, fsync,
/// rename over `path`, fsync of the directory. On failure the previous file is untouched.
pub fn save(index: &VectorIndex, path: &Path) -> Result<()> {
    save_with(index, path, Vec::new())
}

/// [`save`] plus caller-defined sections (kinds ≥ [`FIRST_EXTRA_SECTION`]), checksummed and
/// written atomically with the index.
pub fn save_with(index: &VectorIndex, path: &Path, extras: Vec<(u32, Vec<u8>)>) -> Result<()> {
    let slots = index.slot_keys.len();
    let dim = index.config.dim;
    let vectors = index.store.as_slice();
    let mut sections: Vec<(u32, Payload<'_>)> = vec![
        (META, Payload::Bytes(encode_meta(index))),
        (KEYS, Payload::Bytes(u32s(index.slot_keys.iter().copied()))),
        (
            QCONFIG,
            Payload::Bytes(index.config.quant.to_bytes(index.config.originals)),
        ),
    ];
    if index.has_f32() {
        sections.push((VECTORS, Payload::F32(&vectors[..slots * dim])));
    }
    if let Some(q) = &index.quant {
        let mut p = Vec::new();
        q.write_params(&mut p);
        sections.push((QPARAMS, Payload::Bytes(p)));
        sections.push((
            CODES,
            Payload::Borrowed(&index.codes[..slots * q.code_bytes()]),
        ));
    }
    for (kind, bytes) in extras {
        if kind < FIRST_EXTRA_SECTION {
            return Err(err!(
                Internal,
                "extra section kind {kind} collides with the index's own"
            ));
        }
        sections.push((kind, Payload::Bytes(bytes)));
    }
    if let Some(g) = &index.graph {
        let upper = g.upper_levels(slots);
        let mut offsets = Vec::with_capacity(slots + 1);
        let mut total = 0u32;
        offsets.push(0u32);
        for u in &upper {
            total += u.len() as u32;
            offsets.push(total);
        }
        let mut up = u32s(offsets);
        up.extend(u32s(upper.into_iter().flatten()));
        sections.push((LEVEL0, Payload::Words(g.level0_words(slots))));
        sections.push((UPPER, Payload::Bytes(up)));
        sections.push((
            DELETED,
            Payload::Bytes(
                g.deleted_words(slots)
                    .into_iter()
                    .flat_map(u64::to_le_bytes)
                    .collect(),
            ),
        ));
        sections.push((FREE, Payload::Bytes(u32s(index.free.iter().copied()))));
    }

    // Section table.
    let mut table = Vec::with_capacity(sections.len() * ENTRY_LEN);
    let mut offset = (HEADER_LEN + sections.len() * ENTRY_LEN).next_multiple_of(ALIGN);
    let mut placed = Vec::with_capacity(sections.len());
    for (kind, payload) in &sections {
        let len = payload.len();
        table.extend_from_slice(&kind.to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        table.extend_from_slice(&(offset as u64).to_le_bytes());
        table.extend_from_slice(&(len as u64).to_le_bytes());
        table.extend_from_slice(&payload.checksum().to_le_bytes());
        placed.push(offset);
        offset = (offset + len).next_multiple_of(ALIGN);
    }
    let file_len = placed
        .last()
        .zip(sections.last())
        .map_or(offset, |(&o, (_, p))| o + p.len());
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    header.extend_from_slice(&(file_len as u64).to_le_bytes());
    let mut h = Xxh3::new();
    h.update(&header);
    h.update(&table);
    header.extend_from_slice(&h.digest().to_le_bytes());

    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| err!(Io, "cannot save to {}: not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let write = || -> std::io::Result<()> {
        let file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        w.write_all(&header)?;
        w.write_all(&table)?;
        let mut pos = HEADER_LEN + table.len();
        for ((_, payload), &at) in sections.iter().zip(&placed) {
            w.write_all(&vec![0u8; at - pos])?;
            payload.for_each_piece(|b| w.write_all(b))?;
            pos = at + payload.len();
        }
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(())
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("cannot write", path, e));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err("cannot replace", path, e));
    }
    // Make the rename durable. Some filesystems refuse to open a directory; that is not a
    // failure of the save itself.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// One validated section: kind and byte range.
struct Section {
    kind: u32,
    offset: usize,
    len: usize,
}

/// Parses and verifies the header, the section table and every checksum.
fn read_sections(bytes: &[u8]) -> Result<Vec<Section>> {
    if bytes.len() < 12 || &bytes[..8] != MAGIC {
        return Err(corrupt(
            "missing the QVRINDEX magic (another format, or an empty/truncated file)",
        ));
    }
    let version = le_u32(bytes, 8);
    if version == 0 || version > FORMAT_VERSION {
        return Err(err!(
            VersionMismatch,
            "file format version {version} is not supported by this build (reads up to {FORMAT_VERSION}); upgrade quiver-search"
        ));
    }
    if bytes.len() < HEADER_LEN {
        return Err(corrupt("truncated header"));
    }
    let count = le_u32(bytes, 12) as usize;
    let file_len = le_u64(bytes, 16);
    if file_len != bytes.len() as u64 {
        return Err(corrupt(format!(
            "header says {file_len} bytes, the file has {} (truncated or appended to)",
            bytes.len()
        )));
    }
    if count == 0 || count > MAX_SECTIONS || HEADER_LEN + count * ENTRY_LEN > bytes.len() {
        return Err(corrupt("bad section count"));
    }
    let table = &bytes[HEADER_LEN..HEADER_LEN + count * ENTRY_LEN];
    let mut h = Xxh3::new();
    h.update(&bytes[..24]);
    h.update(table);
    if h.digest() != le_u64(bytes, 24) {
        return Err(corrupt("header checksum mismatch"));
    }
    let mut out = Vec::with_capacity(count);
    for e in table.chunks_exact(ENTRY_LEN) {
        let kind = le_u32(e, 0);
        let offset = le_u64(e, 8);
        let len = le_u64(e, 16);
        let end = offset
            .checked_add(len)
            .ok_or_else(|| corrupt("section overflows"))?;
        if end > bytes.len() as u64 || !offset.is_multiple_of(ALIGN as u64) {
            return Err(corrupt(format!("section {kind} lies outside the file")));
        }
        let (offset, len) = (offset as usize, len as usize);
        if xxh3_64(&bytes[offset..offset + len]) != le_u64(e, 24) {
            return Err(corrupt(format!(
                "section {kind} checksum mismatch (the file is damaged)"
            )));
        }
        out.push(Section { kind, offset, len });
    }
    // Sections may not overlap, and every byte between them (alignment padding) must be
    // zero, so that no byte of the file escapes a check.
    let mut by_offset: Vec<&Section> = out.iter().collect();
    by_offset.sort_by_key(|s| s.offset);
    let mut pos = HEADER_LEN + count * ENTRY_LEN;
    for s in by_offset {
        if s.offset < pos {
            return Err(corrupt("sections overlap"));
        }
        if bytes[pos..s.offset].iter().any(|&b| b != 0) {
            return Err(corrupt(
                "non-zero padding between sections (the file is damaged)",
            ));
        }
        pos = s.offset + s.len;
    }
    if pos != bytes.len() {
        return Err(corrupt("bytes after the last section"));
    }
    Ok(out)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn read_u32s(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4).map(|c| le_u32(c, 0)).collect()
}

/// Loads an index file. With `mmap`, vectors and level-0 links are served read-only from
/// the file (writes then fail with `ERR_READ_ONLY`). An index configured with
/// `originals: mmap` serves its f32 vectors from the file but stays writable (the vectors are
/// copied into memory on the first write). Otherwise everything is read into memory.
pub fn load(path: &Path, mmap: bool, threads: Option<usize>) -> Result<VectorIndex> {
    load_with(path, mmap, threads).map(|(index, _)| index)
}

/// [`load`], also returning the caller-defined sections (kind, bytes) in file order.
pub fn load_with(
    path: &Path,
    mmap: bool,
    threads: Option<usize>,
) -> Result<(VectorIndex, ExtraSections)> {
    let file = File::open(path).map_err(|e| io_err("cannot open", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| io_err("cannot stat", path, e))?
        .len();
    if len < HEADER_LEN as u64 {
        return Err(corrupt(
            "missing the QVRINDEX magic (another format, or an empty/truncated file)",
        ));
    }
    // The file is always mapped for reading: a plain load copies what it needs out of the
    // map (one copy, no intermediate buffer); `mmap` (or `originals: mmap`) keeps parts of it
    // mapped instead.
    // SAFETY: the map is read-only. If another process truncates or rewrites the file
    // while it is mapped, reads may fault or change; our own saves never do that (they
    // write a new file and rename it over the old one, which leaves this mapping intact).
    let map = unsafe { Mmap::map(&file) }.map_err(|e| io_err("cannot map", path, e))?;
    let map = Arc::new(map);
    let bytes: &[u8] = &map;
    let sections = read_sections(bytes)?;
    let find = |kind: u32| -> Result<&Section> {
        sections
            .iter()
            .find(|s| s.kind == kind)
            .ok_or_else(|| corrupt(format!("section {kind} is missing")))
    };
    let slice = |s: &Section| &bytes[s.offset..s.offset + s.len];

    let meta = slice(find(META)?);
    if meta.len() != META_LEN {
        return Err(corrupt("bad META length"));
    }
    let dim = le_u32(meta, 0) as usize;
    let metric = match meta[4] {
        0 => Metric::L2,
        1 => Metric::Ip,
        2 => Metric::Cosine,
        x => return Err(corrupt(format!("unknown metric code {x}"))),
    };
    let kind = match meta[5] {
        0 => IndexKind::Hnsw,
        1 => IndexKind::Flat,
        x => return Err(corrupt(format!("unknown index kind {x}"))),
    };
    let config = Config {
        dim,
        metric,
        kind,
        m: le_u32(meta, 8) as usize,
        ef_construction: le_u32(meta, 12) as usize,
        ef_search: le_u32(meta, 16) as usize,
        threads: threads.unwrap_or(le_u32(meta, 20) as usize),
        seed: le_u64(meta, 24),
        quant: QuantConfig::default(),
        originals: Originals::Memory,
    };
    let mut config = config;
    if let Some(qs) = sections.iter().find(|s| s.kind == QCONFIG) {
        let (q, o) = QuantConfig::from_bytes(slice(qs))
            .ok_or_else(|| corrupt("bad quantization options"))?;
        config.quant = q;
        config.originals = o;
    }
    config.validate().map_err(|e| corrupt(e.message))?;
    let slots = le_u64(meta, 32);
    let live = le_u64(meta, 40);
    let entry_id = le_u32(meta, 48);
    let entry_level = le_u32(meta, 52);

    let keys_s = find(KEYS)?;
    if keys_s.len as u64 != slots.saturating_mul(4) || live > slots {
        return Err(corrupt("KEYS length disagrees with the slot count"));
    }
    let slots = slots as usize;
    let vec_s = sections.iter().find(|s| s.kind == VECTORS);
    if let Some(vec_s) = vec_s {
        if vec_s.len as u64 != (slots as u64).saturating_mul(dim as u64).saturating_mul(4) {
            return Err(corrupt("VECTORS length disagrees with slots × dim"));
        }
    }
    let quant = match sections.iter().find(|s| s.kind == QPARAMS) {
        Some(p) => {
            let q = AnyQuantizer::read_params(slice(p))?;
            if q.kind() != config.quant.kind {
                return Err(corrupt("quantizer parameters disagree with the options"));
            }
            Some(q)
        }
        None => None,
    };
    let codes = match &quant {
        Some(q) => {
            let c = find(CODES)?;
            if c.len as u64 != (slots as u64).saturating_mul(q.code_bytes() as u64) {
                return Err(corrupt("CODES length disagrees with slots × code size"));
            }
            slice(c).to_vec()
        }
        None => Vec::new(),
    };
    if vec_s.is_none() && quant.is_none() {
        return Err(corrupt("the file holds neither vectors nor codes"));
    }
    let slot_keys = read_u32s(slice(keys_s));

    let (graph, free) = match kind {
        IndexKind::Flat => (None, Vec::new()),
        IndexKind::Hnsw => {
            let params = Params::new(config.m, config.ef_construction, config.seed);
            let l0 = find(LEVEL0)?;
            if l0.len as u64 != (slots as u64) * (params.m0 as u64 + 1) * 4 {
                return Err(corrupt("LEVEL0 length disagrees with slots × (2M+1)"));
            }
            let level0 = if mmap {
                WordArena::Borrowed(Arc::new(
                    MappedSection::new(map.clone(), l0.offset, l0.len)
                        .ok_or_else(|| corrupt("misaligned LEVEL0"))?,
                ))
            } else {
                WordArena::Owned(
                    slice(l0)
                        .chunks_exact(4)
                        .map(|c| AtomicU32::new(le_u32(c, 0)))
                        .collect(),
                )
            };
            let up = slice(find(UPPER)?);
            if (up.len() as u64) < (slots as u64 + 1) * 4 || up.len() % 4 != 0 {
                return Err(corrupt("UPPER section too short"));
            }
            let offsets = read_u32s(&up[..(slots + 1) * 4]);
            let data = read_u32s(&up[(slots + 1) * 4..]);
            if offsets.first() != Some(&0)
                || offsets.windows(2).any(|w| w[0] > w[1])
                || offsets.last().map(|&l| l as usize) != Some(data.len())
            {
                return Err(corrupt("UPPER offsets are inconsistent"));
            }
            let upper = offsets
                .windows(2)
                .map(|w| data[w[0] as usize..w[1] as usize].to_vec())
                .collect();
            let del = slice(find(DELETED)?);
            if del.len() != slots.div_ceil(64) * 8 {
                return Err(corrupt("DELETED length disagrees with the slot count"));
            }
            let deleted = del.chunks_exact(8).map(|c| le_u64(c, 0)).collect();
            let free = read_u32s(slice(find(FREE)?));
            if free.iter().any(|&f| f as usize >= slots) {
                return Err(corrupt("free slot past the end"));
            }
            let entry = (entry_id != u32::MAX).then_some((entry_id, entry_level as usize));
            let graph = Graph::from_parts(GraphParts {
                params,
                nodes: slots,
                level0,
                upper,
                deleted,
                entry,
            })
            .map_err(corrupt)?;
            (Some(graph), free)
        }
    };

    // Live slots: every slot for flat; for HNSW those neither deleted nor free.
    let mut slot_of = HashMap::with_capacity(live as usize);
    let mut is_free = vec![false; slots];
    for &f in &free {
        is_free[f as usize] = true;
    }
    for (slot, &key) in slot_keys.iter().enumerate() {
        let dead = is_free[slot] || graph.as_ref().is_some_and(|g| g.is_deleted(slot as u32));
        if !dead && slot_of.insert(key, slot as u32).is_some() {
            return Err(corrupt(format!("key {key} is stored twice")));
        }
    }
    if slot_of.len() as u64 != live {
        return Err(corrupt("live count disagrees with the key table"));
    }

    let store = match vec_s {
        None => VectorStore::Owned(AlignedF32::default()),
        Some(vec_s) if mmap || config.originals == Originals::Mmap => VectorStore::Mapped(
            MappedSection::new(map.clone(), vec_s.offset, vec_s.len)
                .ok_or_else(|| corrupt("misaligned VECTORS"))?,
        ),
        Some(vec_s) => VectorStore::Owned(AlignedF32::from_iter_exact(
            vec_s.len / 4,
            slice(vec_s)
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        )),
    };
    let mut index = VectorIndex {
        pool: build_pool(config.threads)?,
        config,
        store,
        slot_keys,
        slot_of,
        graph,
        free,
        read_only: mmap,
        quant,
        codes,
        fastscan: None,
    };
    index.refresh_fastscan();
    let extras = sections
        .iter()
        .filter(|s| s.kind >= FIRST_EXTRA_SECTION)
        .map(|s| (s.kind, slice(s).to_vec()))
        .collect();
    Ok((index, extras))
}
