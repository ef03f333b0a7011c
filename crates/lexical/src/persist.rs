//! The text index file: one self-describing, checksummed file written atomically.
//!
//! Same conventions as the engine's vector index file. All integers little-endian:
//!
//! ```text
//! 0   magic            8 bytes  "QVRTEXT\0"
//! 8   format version   u32      FORMAT_VERSION
//! 12  section count    u32
//! 16  file length      u64      must equal the file's size
//! 24  header checksum  u64      xxh3-64 of bytes 0..24 and of the section table
//! 32  section table    count × { kind u32, reserved u32, offset u64, length u64, xxh3-64 u64 }
//! ..  sections         each starting at a multiple of 64 bytes, zero padding between
//! ```
//!
//! Sections:
//!
//! * META (64 bytes): slots u64, live docs u64, terms u64, total live length u64, k1 f32,
//!   b f32, postings u64, zero padding.
//! * ANALYZER: kind u8 (0 default, 1 tokenizer.json), mode u8 (0 pretokenize, 1 subword),
//!   stem u8, stop-word kind u8 (0 none, 1 English, 2 custom); u32 custom-word count, each
//!   u32 length + UTF-8; u32 name length + UTF-8 name; u64 tokenizer.json length + bytes.
//! * KEYS: slot → key, u32 each. DOCLEN: slot → length, u32 each. DELETED: bitset, u64 words.
//! * TERMS: per term u32 length + UTF-8 bytes. POSTDIR: per term { postings u32, bytes u64 }.
//! * POSTDATA: every term's block data (see [`crate::postings`]), concatenated.
//!
//! A saved index is always compacted (no deleted slots), but the reader accepts deleted
//! slots. On load every length is checked against the section sizes before anything is
//! allocated, every checksum is verified, the postings are decoded and checked (sorted,
//! in range, non-zero tf, each document's length equal to the sum of its term frequencies),
//! block metadata, document frequencies and the forward index are recomputed. A file that
//! fails any check is [`LexicalError::Corrupt`](crate::LexicalError::Corrupt).

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::analyzer::{Analyzer, AnalyzerConfig, AnalyzerKind, TokenizerMode};
use crate::bm25::Bm25Params;
use crate::error::{corrupt, io_err, LexicalError, Result};
use crate::index::TextIndex;
use crate::postings::PostingList;
use crate::stopwords::StopWords;

#[cfg(target_endian = "big")]
compile_error!("the text index file format is little-endian; big-endian targets are not supported");

/// File magic.
pub const MAGIC: &[u8; 8] = b"QVRTEXT\0";
/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 32;
const ENTRY_LEN: usize = 32;
const ALIGN: usize = 64;
const MAX_SECTIONS: usize = 64;

const META: u32 = 1;
const ANALYZER: u32 = 2;
const KEYS: u32 = 3;
const DOCLEN: u32 = 4;
const DELETED: u32 = 5;
const TERMS: u32 = 6;
const POSTDIR: u32 = 7;
const POSTDATA: u32 = 8;
const REQUIRED: [u32; 8] = [
    META, ANALYZER, KEYS, DOCLEN, DELETED, TERMS, POSTDIR, POSTDATA,
];
const META_LEN: usize = 64;

fn u32s(v: impl IntoIterator<Item = u32>) -> Vec<u8> {
    v.into_iter().flat_map(u32::to_le_bytes).collect()
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn encode_analyzer(cfg: &AnalyzerConfig) -> Vec<u8> {
    let mut out = Vec::new();
    let (kind, mode, name, bytes): (u8, u8, &str, &[u8]) = match &cfg.kind {
        AnalyzerKind::Default => (0, 0, "", &[]),
        // `Analyzer::new` always resolves a path to its bytes; a path here would mean a
        // configuration not produced by it, stored by name only.
        AnalyzerKind::TokenizerJson { mode, .. } => (1, mode_code(*mode), "", &[]),
        AnalyzerKind::TokenizerJsonBytes { bytes, name, mode } => {
            (1, mode_code(*mode), name.as_str(), bytes)
        }
    };
    out.push(kind);
    out.push(mode);
    out.push(cfg.stem as u8);
    let custom: &[String] = match &cfg.stop_words {
        StopWords::None => {
            out.push(0);
            &[]
        }
        StopWords::English => {
            out.push(1);
            &[]
        }
        StopWords::Custom(list) => {
            out.push(2);
            list
        }
    };
    out.extend_from_slice(&(custom.len() as u32).to_le_bytes());
    for w in custom {
        put_str(&mut out, w);
    }
    put_str(&mut out, name);
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
    out
}

fn mode_code(m: TokenizerMode) -> u8 {
    match m {
        TokenizerMode::Pretokenize => 0,
        TokenizerMode::Subword => 1,
    }
}

/// Writes `index` to `path` atomically: a temporary file in the same directory, fsync,
/// rename over `path`, fsync of the directory. On failure the previous file is untouched.
/// The written index is compacted (deleted documents are not stored).
pub fn save(index: &TextIndex, path: &Path) -> Result<()> {
    let compacted;
    let ix = if index.n_deleted > 0 {
        compacted = index.compacted();
        &compacted
    } else {
        index
    };
    let slots = ix.slot_keys.len();
    let mut meta = Vec::with_capacity(META_LEN);
    meta.extend_from_slice(&(slots as u64).to_le_bytes());
    meta.extend_from_slice(&(ix.len() as u64).to_le_bytes());
    meta.extend_from_slice(&(ix.terms.len() as u64).to_le_bytes());
    meta.extend_from_slice(&ix.total_len.to_le_bytes());
    meta.extend_from_slice(&ix.params.k1.to_le_bytes());
    meta.extend_from_slice(&ix.params.b.to_le_bytes());
    let n_postings: u64 = ix.postings.iter().map(|p| p.len() as u64).sum();
    meta.extend_from_slice(&n_postings.to_le_bytes());
    meta.resize(META_LEN, 0);

    let mut terms = Vec::new();
    for t in &ix.terms {
        put_str(&mut terms, t);
    }
    let mut dir = Vec::with_capacity(ix.postings.len() * 12);
    for p in &ix.postings {
        dir.extend_from_slice(&(p.len() as u32).to_le_bytes());
        dir.extend_from_slice(&(p.data().len() as u64).to_le_bytes());
    }
    let data_len: usize = ix.postings.iter().map(|p| p.data().len()).sum();
    let mut data = Vec::with_capacity(data_len);
    for p in &ix.postings {
        data.extend_from_slice(p.data());
    }
    let sections: Vec<(u32, Vec<u8>)> = vec![
        (META, meta),
        (ANALYZER, encode_analyzer(ix.analyzer.config())),
        (KEYS, u32s(ix.slot_keys.iter().copied())),
        (DOCLEN, u32s(ix.doc_len.iter().copied())),
        (
            DELETED,
            ix.deleted.iter().flat_map(|w| w.to_le_bytes()).collect(),
        ),
        (TERMS, terms),
        (POSTDIR, dir),
        (POSTDATA, data),
    ];
    write_file(path, &sections)
}

fn write_file(path: &Path, sections: &[(u32, Vec<u8>)]) -> Result<()> {
    let mut table = Vec::with_capacity(sections.len() * ENTRY_LEN);
    let mut offset = (HEADER_LEN + sections.len() * ENTRY_LEN).next_multiple_of(ALIGN);
    let mut placed = Vec::with_capacity(sections.len());
    let mut end = offset;
    for (kind, payload) in sections {
        table.extend_from_slice(&kind.to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        table.extend_from_slice(&(offset as u64).to_le_bytes());
        table.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        table.extend_from_slice(&xxh3_64(payload).to_le_bytes());
        placed.push(offset);
        end = offset + payload.len();
        offset = end.next_multiple_of(ALIGN);
    }
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    header.extend_from_slice(&(end as u64).to_le_bytes());
    let mut h = Xxh3::new();
    h.update(&header);
    h.update(&table);
    header.extend_from_slice(&h.digest().to_le_bytes());

    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| LexicalError::Io {
        context: format!("cannot save to {}", path.display()),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"),
    })?;
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
            w.write_all(payload)?;
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

/// Parses and verifies the header, the section table and every checksum; returns each
/// required section's bytes.
fn read_sections(bytes: &[u8]) -> Result<HashMap<u32, &[u8]>> {
    if bytes.len() < 12 || &bytes[..8] != MAGIC {
        return Err(corrupt(
            "missing the QVRTEXT magic (another format, or an empty/truncated file)",
        ));
    }
    let version = le_u32(bytes, 8);
    if version == 0 || version > FORMAT_VERSION {
        return Err(corrupt(format!(
            "file format version {version} is not supported by this build (reads up to {FORMAT_VERSION})"
        )));
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
    let mut out: HashMap<u32, &[u8]> = HashMap::new();
    let mut ranges = Vec::with_capacity(count);
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
        let body = &bytes[offset..offset + len];
        if xxh3_64(body) != le_u64(e, 24) {
            return Err(corrupt(format!(
                "section {kind} checksum mismatch (the file is damaged)"
            )));
        }
        if out.insert(kind, body).is_some() {
            return Err(corrupt(format!("section {kind} appears twice")));
        }
        ranges.push((offset, len));
    }
    ranges.sort_unstable();
    let mut pos = HEADER_LEN + count * ENTRY_LEN;
    for (offset, len) in ranges {
        if offset < pos {
            return Err(corrupt("sections overlap"));
        }
        if bytes[pos..offset].iter().any(|&b| b != 0) {
            return Err(corrupt(
                "non-zero padding between sections (the file is damaged)",
            ));
        }
        pos = offset + len;
    }
    if pos != bytes.len() {
        return Err(corrupt("bytes after the last section"));
    }
    for k in REQUIRED {
        if !out.contains_key(&k) {
            return Err(corrupt(format!("section {k} is missing")));
        }
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

/// A bounds-checked reader over one section.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8], what: &'static str) -> Self {
        Reader { b, pos: 0, what }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| corrupt(format!("{} section is truncated", self.what)))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(le_u32(self.take(4)?, 0))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(le_u64(self.take(8)?, 0))
    }
    fn str(&mut self) -> Result<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?)
            .map_err(|_| corrupt(format!("{} section holds invalid UTF-8", self.what)))
    }
    fn left(&self) -> usize {
        self.b.len() - self.pos
    }
    fn done(&self) -> Result<()> {
        if self.pos == self.b.len() {
            Ok(())
        } else {
            Err(corrupt(format!("{} section has trailing bytes", self.what)))
        }
    }
}

fn decode_analyzer(b: &[u8]) -> Result<AnalyzerConfig> {
    let mut r = Reader::new(b, "analyzer");
    let kind = r.u8()?;
    let mode = match r.u8()? {
        0 => TokenizerMode::Pretokenize,
        1 => TokenizerMode::Subword,
        m => return Err(corrupt(format!("unknown tokenizer mode {m}"))),
    };
    let stem = match r.u8()? {
        0 => false,
        1 => true,
        _ => return Err(corrupt("bad stemming flag")),
    };
    let stop_kind = r.u8()?;
    let n = r.u32()? as usize;
    // Each word takes at least 4 bytes: bound the allocation by the section size.
    let mut custom = Vec::with_capacity(n.min(r.left() / 4));
    for _ in 0..n {
        custom.push(r.str()?.to_string());
    }
    let stop_words = match stop_kind {
        0 if n == 0 => StopWords::None,
        1 if n == 0 => StopWords::English,
        2 => StopWords::Custom(custom),
        _ => return Err(corrupt("bad stop-word setting")),
    };
    let name = r.str()?.to_string();
    let json_len = usize::try_from(r.u64()?).map_err(|_| corrupt("tokenizer too large"))?;
    let json = r.take(json_len)?;
    r.done()?;
    let kind = match kind {
        0 if json.is_empty() => AnalyzerKind::Default,
        1 => AnalyzerKind::TokenizerJsonBytes {
            bytes: Arc::from(json),
            name,
            mode,
        },
        _ => return Err(corrupt("bad analyzer kind")),
    };
    Ok(AnalyzerConfig {
        kind,
        stem,
        stop_words,
    })
}

/// Loads an index file (read fully into memory).
pub fn load(path: &Path) -> Result<TextIndex> {
    let bytes = fs::read(path).map_err(|e| io_err("cannot read", path, e))?;
    parse(&bytes)
}

/// Parses a whole file image.
pub(crate) fn parse(bytes: &[u8]) -> Result<TextIndex> {
    let s = read_sections(bytes)?;
    let sec = |k: u32| s.get(&k).copied().unwrap_or(&[]);
    let meta = sec(META);
    if meta.len() != META_LEN {
        return Err(corrupt("META section has the wrong size"));
    }
    let slots = usize::try_from(le_u64(meta, 0)).map_err(|_| corrupt("bad slot count"))?;
    let live = le_u64(meta, 8);
    let n_terms = usize::try_from(le_u64(meta, 16)).map_err(|_| corrupt("bad term count"))?;
    let total_len = le_u64(meta, 24);
    let k1 = f32::from_le_bytes([meta[32], meta[33], meta[34], meta[35]]);
    let b = f32::from_le_bytes([meta[36], meta[37], meta[38], meta[39]]);
    let n_postings = le_u64(meta, 40);
    if meta[48..].iter().any(|&x| x != 0) {
        return Err(corrupt("META padding is not zero"));
    }
    let params = Bm25Params { k1, b };
    params
        .validate()
        .map_err(|e| corrupt(format!("stored BM25 parameters: {e}")))?;
    if slots > crate::index::MAX_SLOTS
        || sec(KEYS).len() != slots * 4
        || sec(DOCLEN).len() != slots * 4
        || sec(DELETED).len() != slots.div_ceil(64) * 8
    {
        return Err(corrupt("document table sizes disagree with the slot count"));
    }
    if sec(POSTDIR).len() / 12 != n_terms || sec(POSTDIR).len() % 12 != 0 {
        return Err(corrupt(
            "posting directory size disagrees with the term count",
        ));
    }
    if n_terms > sec(TERMS).len() / 4 + 1 || n_postings > sec(POSTDATA).len() as u64 {
        return Err(corrupt("counts exceed the section sizes"));
    }

    let cfg = decode_analyzer(sec(ANALYZER))?;
    let analyzer = Analyzer::new(&cfg)
        .map_err(|e| corrupt(format!("stored analyzer cannot be rebuilt: {e}")))?;
    let mut ix = TextIndex::with_analyzer(Arc::new(analyzer), params);

    ix.slot_keys = sec(KEYS).chunks_exact(4).map(|c| le_u32(c, 0)).collect();
    ix.doc_len = sec(DOCLEN).chunks_exact(4).map(|c| le_u32(c, 0)).collect();
    ix.deleted = sec(DELETED).chunks_exact(8).map(|c| le_u64(c, 0)).collect();
    if slots % 64 != 0 {
        if let Some(&w) = ix.deleted.last() {
            if w >> (slots % 64) != 0 {
                return Err(corrupt("deleted bits beyond the last slot"));
            }
        }
    }
    ix.n_deleted = ix.deleted.iter().map(|w| w.count_ones() as usize).sum();
    if (slots - ix.n_deleted) as u64 != live {
        return Err(corrupt(
            "live document count disagrees with the deleted set",
        ));
    }
    let mut live_len = 0u64;
    ix.key_slot.reserve(slots - ix.n_deleted);
    for s in 0..slots {
        if ix.is_deleted(s as u32) {
            continue;
        }
        live_len += ix.doc_len[s] as u64;
        if ix.key_slot.insert(ix.slot_keys[s], s as u32).is_some() {
            return Err(corrupt(format!("key {} appears twice", ix.slot_keys[s])));
        }
    }
    if live_len != total_len {
        return Err(corrupt("total document length disagrees with the lengths"));
    }
    ix.total_len = total_len;

    // Dictionary.
    let mut tr = Reader::new(sec(TERMS), "terms");
    ix.terms.reserve(n_terms);
    ix.term_ids.reserve(n_terms);
    let mut seen: HashSet<&str> = HashSet::with_capacity(n_terms);
    for i in 0..n_terms {
        let t = tr.str()?;
        if t.is_empty() || !seen.insert(t) {
            return Err(corrupt("empty or repeated term in the dictionary"));
        }
        ix.terms.push(t.into());
        ix.term_ids.insert(t.into(), i as u32);
    }
    tr.done()?;

    // Postings.
    let dir = sec(POSTDIR);
    let data = sec(POSTDATA);
    let mut pos = 0usize;
    let mut tf_sum = vec![0u64; slots];
    let mut total_postings = 0u64;
    ix.postings.reserve(n_terms);
    ix.df.reserve(n_terms);
    for e in dir.chunks_exact(12) {
        let count = le_u32(e, 0) as usize;
        let len = usize::try_from(le_u64(e, 4)).map_err(|_| corrupt("bad posting size"))?;
        let end = pos
            .checked_add(len)
            .filter(|&x| x <= data.len())
            .ok_or_else(|| corrupt("posting data out of range"))?;
        if count > slots {
            return Err(corrupt("a term has more postings than documents"));
        }
        let mut df = 0u32;
        let doc_len = &ix.doc_len;
        let deleted = &ix.deleted;
        let list = PostingList::parse(
            &data[pos..end],
            count,
            slots as u32,
            |d| doc_len[d as usize],
            |d, tf| {
                tf_sum[d as usize] += tf as u64;
                if deleted[d as usize / 64] >> (d % 64) & 1 == 0 {
                    df += 1;
                }
            },
        )
        .ok_or_else(|| corrupt("a posting list is damaged"))?;
        total_postings += count as u64;
        ix.postings.push(list);
        ix.df.push(df);
        pos = end;
    }
    if pos != data.len() || total_postings != n_postings {
        return Err(corrupt("posting data size disagrees with the directory"));
    }
    for (s, &sum) in tf_sum.iter().enumerate() {
        if sum != ix.doc_len[s] as u64 {
            return Err(corrupt(format!(
                "document length of slot {s} disagrees with its postings"
            )));
        }
    }
    ix.rebuild_forward();
    Ok(ix)
}
