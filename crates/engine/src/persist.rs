//! The index file: one self-describing, checksummed file; atomic writes; memory-mapped opens.
//!
//! The container (header, checksummed section table, 64-byte aligned sections, atomic
//! writes, checked reads) is `quiver-container`'s, with magic `"QVRINDEX"` and
//! [`FORMAT_VERSION`]; see docs/FILE_FORMAT.md. All integers little-endian.
//!
//! Sections: META (config and counts), KEYS (slot → key), VECTORS (slots × dim f32), and for
//! HNSW: LEVEL0 (slots × (2M+1) u32), UPPER (slot offsets then link words), DELETED
//! (tombstone bits), FREE (free slots). Every length is checked against the file size and the
//! META counts; every section's checksum is verified on load. A plain load reads the file
//! (each section straight into its final buffer); only `mmap` and `originals: mmap` map it.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use memmap2::Mmap;
use quiver_container::{le_u32, le_u64, read_u32s, u32s, Format, Payload, SectionReader};
use quiver_distance::Metric;
use quiver_hnsw::{Graph, GraphParts, Params, WordArena};

use crate::config::{Config, IndexKind};
use crate::error::{err, Error, Result};
use crate::meta::Meta;
use crate::quantized::{AnyQuantizer, Originals, QuantConfig};
use crate::store::{AlignedF32, MappedBytes, MappedSection, VectorStore};
use crate::vector_index::{build_pool, representable, VectorIndex};

/// The index file in the shared container: magic, version 2 (version 1 files, without
/// quantization sections, still load), and how messages name it.
const FORMAT: Format = Format::new(*b"QVRINDEX", 2, "index file");
/// File magic.
pub const MAGIC: &[u8; 8] = &FORMAT.magic;
/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = FORMAT.version;

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
/// The attribute schema (JSON), when the index declares attributes.
const ATTR_SCHEMA: u32 = 11;
/// Attribute records per slot (see `quiver_filter::AttributeStore::encode`).
const ATTRS: u32 = 12;
/// Payloads per slot (see `quiver_filter::PayloadStore::encode`); present iff `payload: true`.
const PAYLOADS: u32 = 13;

/// Size of the META section.
const META_LEN: usize = 64;

fn corrupt(msg: impl std::fmt::Display) -> Error {
    err!(CorruptFile, "not a valid quiver-search index file: {msg}")
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

/// Writes `index` to `path` atomically: a temporary file `.<name>.tmp-<pid>-<random>` in the
/// same directory, fsync, rename over `path`, fsync of the directory. On failure the previous
/// file is untouched and the temporary file removed; temporary files left by crashed saves to
/// the same path are removed by the next save.
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
    let (attrs, payloads) = index.meta.encode();
    if let Some((schema, records)) = attrs {
        sections.push((ATTR_SCHEMA, Payload::Bytes(schema)));
        sections.push((ATTRS, Payload::Bytes(records)));
    }
    if let Some(p) = payloads {
        sections.push((PAYLOADS, Payload::Bytes(p)));
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

    Ok(quiver_container::write_file(path, &FORMAT, &sections)?)
}

/// Writes `bytes` to `path` durably and atomically (temporary file in the same directory,
/// fsync, rename, directory fsync), for small files such as a collection's manifest: readers
/// see the old content or the new, never a mix. Failures are `ERR_IO`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(quiver_container::write_atomic(path, bytes)?)
}

/// Loads an index file. With `mmap`, vectors and level-0 links are served read-only from
/// the file (writes then fail with `ERR_READ_ONLY`). An index configured with
/// `originals: mmap` serves its f32 vectors from the file but stays writable (the vectors are
/// copied into memory on the first write). Otherwise everything is read into memory.
pub fn load(path: &Path, mmap: bool, threads: Option<usize>) -> Result<VectorIndex> {
    load_with(path, mmap, threads).map(|(index, _)| index)
}

/// A section's bytes after opening: read into memory (plain load) or left in the file map.
enum Body {
    /// Read into its own buffer.
    Bytes(Vec<u8>),
    /// VECTORS read straight into the 64-byte aligned arena.
    F32(AlignedF32),
    /// LEVEL0 read straight into the graph's word arena.
    Words(Vec<AtomicU32>),
    /// A byte range of the file map.
    Mapped(Range<usize>),
}

/// Every section of an opened file, by kind, and the file map when one is used.
struct Sections {
    bodies: Vec<(u32, Body)>,
    map: Option<Arc<Mmap>>,
}

impl Sections {
    /// Maps the file: every section stays in the map.
    fn mapped(path: &Path) -> Result<Self> {
        let (map, layout) = quiver_container::open_mapped(path, &FORMAT)?;
        let bodies = layout
            .entries
            .iter()
            .map(|e| (e.kind, Body::Mapped(e.range())))
            .collect();
        Ok(Sections {
            bodies,
            map: Some(map),
        })
    }

    /// Reads the file with plain reads, each section into its final buffer. VECTORS of an
    /// index with `originals: mmap` (its QCONFIG precedes it in files this crate writes) are
    /// verified but left in the file, which is then mapped.
    fn read(path: &Path) -> Result<Self> {
        let mut r = SectionReader::open(path, &FORMAT)?;
        let mut bodies = Vec::with_capacity(r.layout().entries.len());
        let mut originals_mmap = false;
        let mut needs_map = false;
        while let Some(e) = r.next_section()? {
            let len = e.len as usize;
            let body = match e.kind {
                VECTORS if originals_mmap => {
                    r.skip()?;
                    needs_map = true;
                    Body::Mapped(e.range())
                }
                VECTORS if len.is_multiple_of(4) => {
                    let mut v = AlignedF32::default();
                    v.reserve_exact(len / 4);
                    v.resize(len / 4);
                    r.read_into(v.as_bytes_mut())?;
                    Body::F32(v)
                }
                LEVEL0 if len.is_multiple_of(4) => {
                    let mut w: Vec<AtomicU32> = (0..len / 4).map(|_| AtomicU32::new(0)).collect();
                    // SAFETY: AtomicU32 has the size and alignment of u32, so the Vec holds
                    // `len` contiguous initialised bytes; every byte pattern is a valid u32;
                    // the view is exclusive (`&mut w`) and dropped before `w` is used again.
                    // The file is little-endian, as is every supported target.
                    let bytes =
                        unsafe { std::slice::from_raw_parts_mut(w.as_mut_ptr().cast::<u8>(), len) };
                    r.read_into(bytes)?;
                    Body::Words(w)
                }
                _ => Body::Bytes(r.read_vec()?),
            };
            if let (QCONFIG, Body::Bytes(b)) = (e.kind, &body) {
                originals_mmap =
                    QuantConfig::from_bytes(b).is_some_and(|(_, o)| o == Originals::Mmap);
            }
            bodies.push((e.kind, body));
        }
        let file = r.finish()?;
        let map = if needs_map {
            Some(Arc::new(quiver_container::map_file(&file, path)?))
        } else {
            None
        };
        Ok(Sections { bodies, map })
    }

    fn bytes<'a>(&'a self, body: &'a Body) -> &'a [u8] {
        match body {
            Body::Bytes(b) => b,
            Body::Mapped(r) => self.map.as_deref().map_or(&[][..], |m| &m[r.clone()]),
            // Taken out before the byte views are used.
            Body::F32(_) | Body::Words(_) => &[],
        }
    }

    /// The section of `kind`, if present.
    fn get(&self, kind: u32) -> Option<&[u8]> {
        self.bodies
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, b)| self.bytes(b))
    }

    /// The section of `kind`, which must be present.
    fn find(&self, kind: u32) -> Result<&[u8]> {
        self.get(kind)
            .ok_or_else(|| corrupt(format!("section {kind} is missing")))
    }

    /// Removes and returns the section of `kind`.
    fn take(&mut self, kind: u32) -> Option<Body> {
        let at = self.bodies.iter().position(|(k, _)| *k == kind)?;
        Some(self.bodies.remove(at).1)
    }

    /// The byte length of a body.
    fn len_of(body: &Body) -> usize {
        match body {
            Body::Bytes(b) => b.len(),
            Body::F32(v) => v.len() * 4,
            Body::Words(w) => w.len() * 4,
            Body::Mapped(r) => r.len(),
        }
    }

    /// A body's bytes as an owned Vec (moved when already owned).
    fn owned(&self, body: Body) -> Vec<u8> {
        match body {
            Body::Bytes(b) => b,
            other => self.bytes(&other).to_vec(),
        }
    }

    /// A mapped view of a body left in the file.
    fn mapped_section(&self, body: &Body, what: &str) -> Result<MappedSection> {
        match (body, &self.map) {
            (Body::Mapped(r), Some(map)) => MappedSection::new(map.clone(), r.start, r.len())
                .ok_or_else(|| corrupt(format!("misaligned {what}"))),
            _ => Err(corrupt(format!("{what} has an unusable length"))),
        }
    }
}

/// [`load`], also returning the caller-defined sections (kind, bytes) in file order.
pub fn load_with(
    path: &Path,
    mmap: bool,
    threads: Option<usize>,
) -> Result<(VectorIndex, ExtraSections)> {
    let mut secs = if mmap {
        Sections::mapped(path)?
    } else {
        Sections::read(path)?
    };
    // The large sections are taken out first, to be moved (not copied) into the index.
    let l0_body = secs.take(LEVEL0);
    let vec_body = secs.take(VECTORS);
    let codes_body = secs.take(CODES);

    let meta = secs.find(META)?;
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
        // The pool size is the caller's (default: this machine's cores), never the file's: a
        // file must not decide how many threads a process starts.
        threads: threads.unwrap_or_else(crate::config::default_threads),
        seed: le_u64(meta, 24),
        quant: QuantConfig::default(),
        originals: Originals::Memory,
    };
    let mut config = config;
    if let Some(qs) = secs.get(QCONFIG) {
        let (q, o) =
            QuantConfig::from_bytes(qs).ok_or_else(|| corrupt("bad quantization options"))?;
        config.quant = q;
        config.originals = o;
    }
    config.validate().map_err(|e| corrupt(e.message))?;
    let slots = le_u64(meta, 32);
    let live = le_u64(meta, 40);
    let entry_id = le_u32(meta, 48);
    let entry_level = le_u32(meta, 52);

    let keys = secs.find(KEYS)?;
    if keys.len() as u64 != slots.saturating_mul(4) || live > slots {
        return Err(corrupt("KEYS length disagrees with the slot count"));
    }
    let slots = slots as usize;
    if let Some(v) = &vec_body {
        if Sections::len_of(v) as u64 != (slots as u64).saturating_mul(dim as u64).saturating_mul(4)
        {
            return Err(corrupt("VECTORS length disagrees with slots × dim"));
        }
    }
    let quant = match secs.get(QPARAMS) {
        Some(p) => {
            let q = AnyQuantizer::read_params(p)?;
            if q.kind() != config.quant.kind {
                return Err(corrupt("quantizer parameters disagree with the options"));
            }
            if q.dim() != dim || q.metric() != metric {
                return Err(corrupt(
                    "quantizer parameters disagree with the index dimension or metric",
                ));
            }
            Some(q)
        }
        None => None,
    };
    let codes = match &quant {
        Some(q) => {
            let c = codes_body.ok_or_else(|| corrupt(format!("section {CODES} is missing")))?;
            if Sections::len_of(&c) as u64 != (slots as u64).saturating_mul(q.code_bytes() as u64) {
                return Err(corrupt("CODES length disagrees with slots × code size"));
            }
            let c = secs.owned(c);
            if !q.codes_are_valid(&c) {
                return Err(corrupt(
                    "a code's correction factors are not finite or too large",
                ));
            }
            c
        }
        None => Vec::new(),
    };
    if vec_body.is_none() && quant.is_none() {
        return Err(corrupt("the file holds neither vectors nor codes"));
    }
    let slot_keys = read_u32s(keys);

    let (graph, free) = match kind {
        IndexKind::Flat => (None, Vec::new()),
        IndexKind::Hnsw => {
            let params = Params::new(config.m, config.ef_construction, config.seed);
            let l0 = l0_body.ok_or_else(|| corrupt(format!("section {LEVEL0} is missing")))?;
            if Sections::len_of(&l0) as u64 != (slots as u64) * (params.m0 as u64 + 1) * 4 {
                return Err(corrupt("LEVEL0 length disagrees with slots × (2M+1)"));
            }
            let level0 = match l0 {
                Body::Words(w) => WordArena::Owned(w),
                Body::Bytes(b) => WordArena::Owned(
                    b.chunks_exact(4)
                        .map(|c| AtomicU32::new(le_u32(c, 0)))
                        .collect(),
                ),
                other => WordArena::Borrowed(Arc::new(secs.mapped_section(&other, "LEVEL0")?)),
            };
            let up = secs.find(UPPER)?;
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
            let del = secs.find(DELETED)?;
            if del.len() != slots.div_ceil(64) * 8 {
                return Err(corrupt("DELETED length disagrees with the slot count"));
            }
            let deleted = del.chunks_exact(8).map(|c| le_u64(c, 0)).collect();
            let free_bytes = secs.find(FREE)?;
            if free_bytes.len() % 4 != 0 || free_bytes.len() / 4 > slots {
                return Err(corrupt("FREE length disagrees with the slot count"));
            }
            let free = read_u32s(free_bytes);
            let mut seen = vec![false; slots];
            for &f in &free {
                match seen.get_mut(f as usize) {
                    Some(s) if !*s => *s = true,
                    Some(_) => return Err(corrupt(format!("free slot {f} is listed twice"))),
                    None => return Err(corrupt("free slot past the end")),
                }
            }
            let entry = match (entry_id, entry_level) {
                (u32::MAX, u32::MAX) => None,
                (u32::MAX, _) | (_, u32::MAX) => {
                    return Err(corrupt("entry point id and level disagree"))
                }
                (id, level) => Some((id, level as usize)),
            };
            // A graph with any node that is not a free slot has an entry point, and only then;
            // the entry point is never a free slot.
            let nodes_present = seen.iter().any(|&f| !f);
            match entry {
                None if nodes_present => {
                    return Err(corrupt("the graph has nodes but no entry point"))
                }
                Some(_) if !nodes_present => {
                    return Err(corrupt("the graph has an entry point but no nodes"))
                }
                Some((id, _)) if seen.get(id as usize).copied().unwrap_or(false) => {
                    return Err(corrupt("the entry point is a free slot"))
                }
                _ => {}
            }
            let graph = Graph::from_parts(GraphParts {
                params,
                nodes: slots,
                level0,
                upper,
                deleted,
                entry,
            })
            .map_err(corrupt)?;
            // Free slots hold no node: no tombstone, no links, and no node links to them
            // (a search reaching one would answer with a stale key).
            for &f in &free {
                let mut links = Vec::new();
                graph.links_into(f, 0, &mut links);
                if graph.is_deleted(f) || graph.level(f) != 0 || !links.is_empty() {
                    return Err(corrupt(format!("free slot {f} holds a node")));
                }
            }
            if !free.is_empty() {
                let mut links = Vec::new();
                for id in 0..slots as u32 {
                    for level in 0..=graph.level(id) {
                        graph.links_into(id, level, &mut links);
                        if links.iter().any(|&l| seen[l as usize]) {
                            return Err(corrupt(format!("node {id} links to a free slot")));
                        }
                    }
                }
            }
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

    let store = match vec_body {
        None => VectorStore::Owned(AlignedF32::default()),
        Some(Body::F32(v)) => VectorStore::Owned(v),
        Some(body @ Body::Mapped(_)) if mmap || config.originals == Originals::Mmap => {
            VectorStore::Mapped(secs.mapped_section(&body, "VECTORS")?)
        }
        Some(body) => {
            let b = secs.owned(body);
            VectorStore::Owned(AlignedF32::from_iter_exact(
                b.len() / 4,
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ))
        }
    };
    check_vectors(store.as_slice(), dim, metric, &slot_of)?;
    let payload_source: Option<Box<dyn quiver_filter::ByteSource>> = match secs.take(PAYLOADS) {
        None => None,
        Some(Body::Mapped(r)) => match &secs.map {
            Some(map) => Some(Box::new(
                MappedBytes::new(map.clone(), r)
                    .ok_or_else(|| corrupt("PAYLOADS lies outside the file"))?,
            )),
            None => return Err(corrupt("PAYLOADS has no file map")),
        },
        Some(body) => Some(Box::new(secs.owned(body))),
    };
    let meta = Meta::decode(
        secs.get(ATTR_SCHEMA),
        secs.get(ATTRS),
        payload_source,
        slots,
        |s| {
            slot_keys
                .get(s as usize)
                .is_some_and(|k| slot_of.get(k) == Some(&s))
        },
        slot_of.len(),
    )?;
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
        meta,
    };
    index.refresh_fastscan();
    // Caller-defined sections, in file order.
    let bodies = std::mem::take(&mut secs.bodies);
    let extras = bodies
        .into_iter()
        .filter(|(k, _)| *k >= FIRST_EXTRA_SECTION)
        .map(|(k, b)| (k, secs.owned(b)))
        .collect();
    Ok((index, extras))
}

/// Every stored f32 is finite and, under cosine, every live row is unit-norm (or zero), as
/// the index stores them: a row that is not would score wrongly without any error.
fn check_vectors(
    data: &[f32],
    dim: usize,
    metric: Metric,
    slot_of: &HashMap<u32, u32>,
) -> Result<()> {
    if dim > 0 && !data.chunks(dim).all(representable) {
        return Err(corrupt(
            "a stored vector holds NaN or infinity, or is too large for its distances to fit f32",
        ));
    }
    if metric == Metric::Cosine && dim > 0 {
        for &slot in slot_of.values() {
            let Some(row) = data.get(slot as usize * dim..(slot as usize + 1) * dim) else {
                continue;
            };
            let sq: f64 = row.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
            if sq != 0.0 && (sq - 1.0).abs() > 1e-3 {
                return Err(corrupt("a stored cosine vector is not unit-norm"));
            }
        }
    }
    Ok(())
}
