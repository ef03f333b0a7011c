//! The sparse index file: one self-describing, checksummed file written atomically.
//!
//! The container (header, checksummed section table, 64-byte aligned sections, atomic
//! writes, checked reads) is `quiver-container`'s, with magic `"QVRSPRS\0"` and
//! [`FORMAT_VERSION`]. All integers little-endian.
//!
//! Only the forward index is stored; the posting lists are rebuilt at load (one pass over
//! the entries), so a file cannot hold postings that disagree with its documents.
//!
//! Sections:
//!
//! * META (64 bytes): vocabulary size u32, zero u32, documents u64, entries u64, zero
//!   padding.
//! * KEYS: per document its key, u32. LENS: per document its number of entries, u32.
//! * TERMS: every document's term ids (strictly increasing within a document), u32 each.
//! * VALUES: the matching weights, f32 each (finite, > 0).
//!
//! * Kinds 100 and up ([`crate::persist::FIRST_EXTRA_SECTION`]) belong to whoever embeds
//!   the index (its attributes and payloads): [`save_with`] writes them, [`load_with`]
//!   returns them and [`load`] ignores them.
//!
//! A saved index is compacted (no deleted documents). On load every count is checked
//! against the section sizes before anything is allocated, every checksum is verified
//! (by the container), and then: keys are unique, the lengths sum to the entry count, term
//! ids are below the vocabulary size and strictly increasing within each document, weights
//! are finite and positive. A file that fails any check is
//! [`LexicalError::Corrupt`]; nothing panics.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use quiver_container::{le_u32, le_u64, Format, Payload};

use super::index::{SparseIndex, MAX_SLOTS};
use super::SparseConfig;
use crate::error::{LexicalError, Result};
use crate::persist::{check_extras, split_extras, ExtraSections};

/// File magic.
pub const MAGIC: &[u8; 8] = b"QVRSPRS\0";
/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
const FORMAT: Format = Format::new(*MAGIC, FORMAT_VERSION, "sparse index file");

const META: u32 = 1;
const KEYS: u32 = 2;
const LENS: u32 = 3;
const TERMS: u32 = 4;
const VALUES: u32 = 5;
const REQUIRED: [u32; 5] = [META, KEYS, LENS, TERMS, VALUES];
const META_LEN: usize = 64;

/// Section kind and bytes, in file order.
type Sections = Vec<(u32, Vec<u8>)>;

fn bad(msg: impl std::fmt::Display) -> LexicalError {
    LexicalError::Corrupt(format!(
        "not a valid quiver-search sparse index file: {msg}"
    ))
}

/// The sections of `ix` (which must have no deleted documents).
fn sections(ix: &SparseIndex) -> Sections {
    let docs = ix.keys.len();
    let mut meta = Vec::with_capacity(META_LEN);
    meta.extend_from_slice(&ix.cfg.vocab_size.to_le_bytes());
    meta.extend_from_slice(&0u32.to_le_bytes());
    meta.extend_from_slice(&(docs as u64).to_le_bytes());
    meta.extend_from_slice(&(ix.fwd_terms.len() as u64).to_le_bytes());
    meta.resize(META_LEN, 0);
    let lens = ix
        .fwd_off
        .windows(2)
        .flat_map(|w| ((w[1] - w[0]) as u32).to_le_bytes())
        .collect();
    vec![
        (META, meta),
        (KEYS, ix.keys.iter().flat_map(|k| k.to_le_bytes()).collect()),
        (LENS, lens),
        (
            TERMS,
            ix.fwd_terms.iter().flat_map(|t| t.to_le_bytes()).collect(),
        ),
        (
            VALUES,
            ix.fwd_vals.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
    ]
}

fn write(path: &Path, sections: Sections) -> Result<()> {
    let payloads: Vec<(u32, Payload<'_>)> = sections
        .into_iter()
        .map(|(k, b)| (k, Payload::Bytes(b)))
        .collect();
    Ok(quiver_container::write_file(path, &FORMAT, &payloads)?)
}

/// Writes `index` to `path` atomically: a temporary file in the same directory, fsync,
/// rename over `path`, fsync of the directory. On failure the previous file is untouched.
/// The written index is compacted (deleted documents are not stored).
pub fn save(index: &SparseIndex, path: &Path) -> Result<()> {
    save_with(index, path, Vec::new())
}

/// [`save`] plus caller-defined sections (kinds ≥ [`crate::persist::FIRST_EXTRA_SECTION`]),
/// checksummed and written atomically with the index.
pub fn save_with(index: &SparseIndex, path: &Path, extras: ExtraSections) -> Result<()> {
    check_extras(&extras)?;
    let own = if index.n_deleted > 0 {
        sections(&index.compacted())
    } else {
        sections(index)
    };
    write(path, own.into_iter().chain(extras).collect())
}

/// Loads a sparse index file (read with plain reads; never mapped), validating it.
pub fn load(path: &Path) -> Result<SparseIndex> {
    load_with(path).map(|(index, _)| index)
}

/// [`load`], also returning the caller-defined sections (kind, bytes) in file order.
pub fn load_with(path: &Path) -> Result<(SparseIndex, ExtraSections)> {
    let (_, sections) = quiver_container::read_all(path, &FORMAT)?;
    let (s, extras) = split_extras(sections);
    Ok((parse(&s)?, extras))
}

/// Builds the index from its sections.
fn parse(s: &HashMap<u32, Vec<u8>>) -> Result<SparseIndex> {
    for k in REQUIRED {
        if !s.contains_key(&k) {
            return Err(bad(format!("section {k} is missing")));
        }
    }
    let sec = |k: u32| s.get(&k).map_or(&[][..], Vec::as_slice);
    let meta = sec(META);
    if meta.len() != META_LEN {
        return Err(bad("META section has the wrong size"));
    }
    let vocab_size = le_u32(meta, 0);
    let docs = le_u64(meta, 8);
    let nnz = le_u64(meta, 16);
    if le_u32(meta, 4) != 0 || meta[24..].iter().any(|&x| x != 0) {
        return Err(bad("META padding is not zero"));
    }
    let docs = usize::try_from(docs)
        .ok()
        .filter(|&d| d <= MAX_SLOTS)
        .ok_or_else(|| bad("bad document count"))?;
    let nnz = usize::try_from(nnz).map_err(|_| bad("bad entry count"))?;
    let size_ok = |k: u32, n: usize| n.checked_mul(4) == Some(sec(k).len());
    if !size_ok(KEYS, docs) || !size_ok(LENS, docs) {
        return Err(bad("document table sizes disagree with the document count"));
    }
    if !size_ok(TERMS, nnz) || !size_ok(VALUES, nnz) {
        return Err(bad("entry sections disagree with the entry count"));
    }
    // Every allocation below is bounded by a section already in memory.
    let keys: Vec<u32> = sec(KEYS).chunks_exact(4).map(|c| le_u32(c, 0)).collect();
    let terms: Vec<u32> = sec(TERMS).chunks_exact(4).map(|c| le_u32(c, 0)).collect();
    let vals: Vec<f32> = sec(VALUES)
        .chunks_exact(4)
        .map(|c| f32::from_bits(le_u32(c, 0)))
        .collect();
    let mut fwd_off = Vec::with_capacity(docs + 1);
    fwd_off.push(0u64);
    let mut end = 0u64;
    for c in sec(LENS).chunks_exact(4) {
        end += le_u32(c, 0) as u64;
        if end > nnz as u64 {
            return Err(bad("document lengths exceed the entry count"));
        }
        fwd_off.push(end);
    }
    if end != nnz as u64 {
        return Err(bad("document lengths disagree with the entry count"));
    }
    let mut key_slot = HashMap::with_capacity(docs);
    let mut seen = HashSet::with_capacity(docs);
    for (s, &k) in keys.iter().enumerate() {
        if !seen.insert(k) {
            return Err(bad(format!("key {k} appears twice")));
        }
        key_slot.insert(k, s as u32);
        let (a, b) = (fwd_off[s] as usize, fwd_off[s + 1] as usize);
        let (t, v) = (&terms[a..b], &vals[a..b]);
        if t.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad(format!(
                "term ids of document {k} are not strictly increasing"
            )));
        }
        if t.last().is_some_and(|&x| x >= vocab_size) {
            return Err(bad(format!(
                "document {k} has a term id beyond the vocabulary"
            )));
        }
        if v.iter().any(|&x| !(x.is_finite() && x > 0.0)) {
            return Err(bad(format!(
                "document {k} has a weight that is not finite and positive"
            )));
        }
    }
    let mut ix = SparseIndex::new(SparseConfig { vocab_size });
    ix.keys = keys;
    ix.key_slot = key_slot;
    ix.fwd_off = fwd_off;
    ix.fwd_terms = terms;
    ix.fwd_vals = vals;
    ix.deleted = vec![0; docs.div_ceil(64)];
    ix.rebuild_lists();
    Ok(ix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparse::{SparseBatch, SparseVec};

    fn sample() -> SparseIndex {
        let mut ix = SparseIndex::new(SparseConfig { vocab_size: 1000 });
        let n = 300u32;
        let mut indptr = vec![0u32];
        let (mut idx, mut val) = (Vec::new(), Vec::new());
        for d in 0..n {
            for j in 0..(d % 7) {
                idx.push((d * 13 + j * 101) % 1000);
                val.push(0.25 + (d + j) as f32 * 0.01);
            }
            indptr.push(idx.len() as u32);
        }
        let keys: Vec<u32> = (0..n).map(|k| k * 2 + 1).collect();
        ix.add(&keys, SparseBatch::new(&indptr, &idx, &val), false)
            .unwrap();
        ix
    }

    fn dir(name: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("quiver-sparse-unit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn expect_bad(path: &Path, what: &str) {
        match load(path) {
            Err(LexicalError::Corrupt(_)) => {}
            Err(e) => panic!("{what}: expected Corrupt, got {e:?}"),
            Ok(_) => panic!("{what}: loaded"),
        }
    }

    /// Files whose checksums are right but whose contents are not (written through the
    /// container, which computes the checksums).
    #[test]
    fn crafted_sections_are_rejected() {
        let d = dir("crafted");
        let path = d.join("x.qvs");
        let ix = sample();
        let good = sections(&ix);
        write(&path, good.clone()).unwrap();
        let back = load(&path).unwrap();
        let q = SparseVec::new(&[13, 101, 114], &[1.0, 0.5, 2.0]);
        assert_eq!(ix.search(&q, 10).unwrap(), back.search(&q, 10).unwrap());

        let set = |sec: u32, f: &dyn Fn(&mut Vec<u8>)| {
            let mut s = good.clone();
            for (k, b) in s.iter_mut() {
                if *k == sec {
                    f(b);
                }
            }
            s
        };
        let slot2 = ix.fwd_off[2] as usize * 4; // slot 2 has two entries
        let cases: Vec<(&str, Sections)> = vec![
            ("doc count + 1", set(META, &|b| b[8] += 1)),
            (
                "doc count huge",
                set(META, &|b| b[8..16].copy_from_slice(&u64::MAX.to_le_bytes())),
            ),
            ("entry count + 1", set(META, &|b| b[16] += 1)),
            (
                "entry count huge",
                set(META, &|b| {
                    b[16..24].copy_from_slice(&(u64::MAX / 2).to_le_bytes())
                }),
            ),
            (
                "vocab too small",
                set(META, &|b| b[0..4].copy_from_slice(&10u32.to_le_bytes())),
            ),
            ("meta padding", set(META, &|b| b[40] = 1)),
            ("meta short", set(META, &|b| b.truncate(40))),
            ("keys short", set(KEYS, &|b| b.truncate(b.len() - 4))),
            (
                "repeated key",
                set(KEYS, &|b| {
                    let k: [u8; 4] = b[0..4].try_into().unwrap();
                    b[4..8].copy_from_slice(&k);
                }),
            ),
            (
                "length overrun",
                set(LENS, &|b| b[0..4].copy_from_slice(&u32::MAX.to_le_bytes())),
            ),
            (
                "lengths shifted",
                set(LENS, &|b| {
                    b[4..8].copy_from_slice(&0u32.to_le_bytes());
                }),
            ),
            (
                "term beyond vocab",
                set(TERMS, &|b| {
                    let n = b.len();
                    b[n - 4..].copy_from_slice(&5000u32.to_le_bytes());
                }),
            ),
            (
                "terms unsorted",
                set(TERMS, &|b| {
                    let at = slot2;
                    let (x, y) = (b[at..at + 4].to_vec(), b[at + 4..at + 8].to_vec());
                    b[at..at + 4].copy_from_slice(&y);
                    b[at + 4..at + 8].copy_from_slice(&x);
                }),
            ),
            (
                "NaN weight",
                set(VALUES, &|b| {
                    b[0..4].copy_from_slice(&f32::NAN.to_le_bytes())
                }),
            ),
            (
                "negative weight",
                set(VALUES, &|b| b[0..4].copy_from_slice(&(-1f32).to_le_bytes())),
            ),
            (
                "zero weight",
                set(VALUES, &|b| b[0..4].copy_from_slice(&0f32.to_le_bytes())),
            ),
            (
                "infinite weight",
                set(VALUES, &|b| {
                    b[0..4].copy_from_slice(&f32::INFINITY.to_le_bytes())
                }),
            ),
            ("values short", set(VALUES, &|b| b.truncate(b.len() - 4))),
            (
                "missing section",
                good.iter().filter(|s| s.0 != LENS).cloned().collect(),
            ),
        ];
        for (what, secs) in cases {
            write(&path, secs).unwrap();
            expect_bad(&path, what);
        }
        let _ = std::fs::remove_dir_all(&d);
    }
}
