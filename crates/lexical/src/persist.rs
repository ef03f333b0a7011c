//! The text index file: one self-describing, checksummed file written atomically.
//!
//! The container (header, checksummed section table, 64-byte aligned sections, atomic
//! writes, checked reads) is `quiver-container`'s, with magic `"QVRTEXT\0"` and
//! [`FORMAT_VERSION`]. All integers little-endian.
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
use std::path::Path;
use std::sync::Arc;

use quiver_container::{le_u32, le_u64, u32s, Format, Payload};

use crate::analyzer::{Analyzer, AnalyzerConfig, AnalyzerKind, TokenizerMode};
use crate::bm25::Bm25Params;
use crate::error::{corrupt, LexicalError, Result};
use crate::index::TextIndex;
use crate::postings::PostingList;
use crate::stopwords::StopWords;

/// File magic.
pub const MAGIC: &[u8; 8] = b"QVRTEXT\0";
/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
const FORMAT: Format = Format::new(*MAGIC, FORMAT_VERSION, "text index file");

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

/// Caller-defined sections: (kind, bytes) in file order.
pub type ExtraSections = Vec<(u32, Vec<u8>)>;

/// Section kinds at or above this value belong to whoever embeds a lexical index (its
/// attributes, say), in the text and the sparse index file alike; [`load`] ignores them and
/// [`load_with`] returns them.
pub const FIRST_EXTRA_SECTION: u32 = 100;

/// Rejects caller-defined sections whose kinds would collide with the index's own.
pub(crate) fn check_extras(extras: &ExtraSections) -> Result<()> {
    if extras.iter().any(|(k, _)| *k < FIRST_EXTRA_SECTION) {
        return Err(LexicalError::InvalidArgument(format!(
            "an extra section kind is below {FIRST_EXTRA_SECTION} and collides with the index's own"
        )));
    }
    Ok(())
}

/// Splits a file's sections into the index's own (by kind) and the caller-defined ones (in
/// file order).
pub(crate) fn split_extras(sections: ExtraSections) -> (HashMap<u32, Vec<u8>>, ExtraSections) {
    let (extras, own): (Vec<_>, Vec<_>) = sections
        .into_iter()
        .partition(|(k, _)| *k >= FIRST_EXTRA_SECTION);
    (own.into_iter().collect(), extras)
}

/// Writes `index` to `path` atomically: a temporary file in the same directory, fsync,
/// rename over `path`, fsync of the directory. On failure the previous file is untouched.
/// The written index is compacted (deleted documents are not stored).
pub fn save(index: &TextIndex, path: &Path) -> Result<()> {
    save_with(index, path, Vec::new())
}

/// [`save`] plus caller-defined sections (kinds ≥ [`FIRST_EXTRA_SECTION`]), checksummed and
/// written atomically with the index.
pub fn save_with(index: &TextIndex, path: &Path, extras: ExtraSections) -> Result<()> {
    check_extras(&extras)?;
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
    let sections = [
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
    ]
    .into_iter()
    .chain(extras)
    .map(|(kind, bytes)| (kind, Payload::Bytes(bytes)))
    .collect::<Vec<_>>();
    Ok(quiver_container::write_file(path, &FORMAT, &sections)?)
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

/// Loads an index file (read into memory with plain reads, each section into its own
/// buffer; the file is never mapped).
pub fn load(path: &Path) -> Result<TextIndex> {
    load_with(path).map(|(index, _)| index)
}

/// [`load`], also returning the caller-defined sections (kind, bytes) in file order.
pub fn load_with(path: &Path) -> Result<(TextIndex, ExtraSections)> {
    let (_, sections) = quiver_container::read_all(path, &FORMAT)?;
    let (s, extras) = split_extras(sections);
    for k in REQUIRED {
        if !s.contains_key(&k) {
            return Err(corrupt(format!("section {k} is missing")));
        }
    }
    Ok((parse(&s)?, extras))
}

/// Builds the index from its sections (every required one present).
fn parse(s: &HashMap<u32, Vec<u8>>) -> Result<TextIndex> {
    let sec = |k: u32| s.get(&k).map_or(&[][..], Vec::as_slice);
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
