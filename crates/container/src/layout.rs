//! The header and the section table: encoding, and every check that needs no section data.

use std::collections::HashSet;

use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::error::{ContainerError, ErrorKind, Result};
use crate::{le_u32, le_u64};

/// Bytes before the section table.
pub const HEADER_LEN: usize = 32;
/// Bytes per section-table entry.
pub const ENTRY_LEN: usize = 32;
/// Every section starts at a multiple of this many bytes.
pub const ALIGN: usize = 64;
/// The most sections a file may hold.
pub const MAX_SECTIONS: usize = 64;

/// One file type: its magic, the version it writes (also the newest it reads) and how
/// messages name it.
#[derive(Clone, Copy, Debug)]
pub struct Format {
    /// The first eight bytes of the file.
    pub magic: [u8; 8],
    /// The version written, and the newest accepted on read (every version from 1 up is read).
    pub version: u32,
    /// How error messages name the file, e.g. `"index file"`.
    pub label: &'static str,
}

impl Format {
    /// A file type with `magic`, written at `version` (the newest read), named `label`.
    pub const fn new(magic: [u8; 8], version: u32, label: &'static str) -> Self {
        Format {
            magic,
            version,
            label,
        }
    }

    pub(crate) fn corrupt(&self, msg: impl std::fmt::Display) -> ContainerError {
        ContainerError::corrupt(self.label, msg)
    }

    fn magic_name(&self) -> String {
        String::from_utf8_lossy(&self.magic)
            .trim_end_matches('\0')
            .to_string()
    }

    fn no_magic(&self) -> ContainerError {
        self.corrupt(format!(
            "missing the {} magic (another format, or an empty/truncated file)",
            self.magic_name()
        ))
    }

    /// Encodes the header and the section table for sections of `lens` (kind, length) in
    /// file order. Returns the header + table bytes, each section's offset and the file
    /// length. `checksums` gives each section's xxh3-64.
    pub(crate) fn encode(&self, sections: &[(u32, usize, u64)]) -> (Vec<u8>, Vec<usize>, usize) {
        let mut table = Vec::with_capacity(sections.len() * ENTRY_LEN);
        let mut offset = (HEADER_LEN + sections.len() * ENTRY_LEN).next_multiple_of(ALIGN);
        let mut placed = Vec::with_capacity(sections.len());
        let mut end = HEADER_LEN + sections.len() * ENTRY_LEN;
        for &(kind, len, sum) in sections {
            table.extend_from_slice(&kind.to_le_bytes());
            table.extend_from_slice(&0u32.to_le_bytes());
            table.extend_from_slice(&(offset as u64).to_le_bytes());
            table.extend_from_slice(&(len as u64).to_le_bytes());
            table.extend_from_slice(&sum.to_le_bytes());
            placed.push(offset);
            end = offset + len;
            offset = end.next_multiple_of(ALIGN);
        }
        let mut out = Vec::with_capacity(HEADER_LEN + table.len());
        out.extend_from_slice(&self.magic);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
        out.extend_from_slice(&(end as u64).to_le_bytes());
        let mut h = Xxh3::new();
        h.update(&out);
        h.update(&table);
        out.extend_from_slice(&h.digest().to_le_bytes());
        out.extend_from_slice(&table);
        (out, placed, end)
    }

    /// Checks the magic and the version from the file's first bytes (`prefix` holds the first
    /// `min(32, file length)` bytes) and the header's file length against `file_len`. Returns
    /// the version and the section count.
    pub(crate) fn check_header(&self, prefix: &[u8], file_len: u64) -> Result<(u32, usize)> {
        if prefix.len() < 12 || prefix[..8] != self.magic {
            return Err(self.no_magic());
        }
        let version = le_u32(prefix, 8);
        if version == 0 || version > self.version {
            return Err(ContainerError {
                kind: ErrorKind::VersionMismatch,
                message: format!(
                    "{} format version {version} is not supported by this build (reads 1 to {}); upgrade quiver-search",
                    self.label, self.version
                ),
                source: None,
            });
        }
        if prefix.len() < HEADER_LEN {
            return Err(self.corrupt("truncated header"));
        }
        let count = le_u32(prefix, 12) as usize;
        let stated = le_u64(prefix, 16);
        if stated != file_len {
            return Err(self.corrupt(format!(
                "header says {stated} bytes, the file has {file_len} (truncated or appended to)"
            )));
        }
        if count == 0 || count > MAX_SECTIONS || (HEADER_LEN + count * ENTRY_LEN) as u64 > file_len
        {
            return Err(self.corrupt("bad section count"));
        }
        Ok((version, count))
    }

    /// Verifies the header checksum and the table: every section inside the file, aligned,
    /// no kind twice, no overlaps, nothing after the last section.
    pub(crate) fn check_table(
        &self,
        version: u32,
        header: &[u8],
        table: &[u8],
        file_len: u64,
    ) -> Result<Layout> {
        let mut h = Xxh3::new();
        h.update(&header[..24]);
        h.update(table);
        if h.digest() != le_u64(header, 24) {
            return Err(self.corrupt("header checksum mismatch"));
        }
        let mut entries = Vec::with_capacity(table.len() / ENTRY_LEN);
        let mut kinds = HashSet::new();
        for e in table.chunks_exact(ENTRY_LEN) {
            let kind = le_u32(e, 0);
            let offset = le_u64(e, 8);
            let len = le_u64(e, 16);
            let end = offset
                .checked_add(len)
                .ok_or_else(|| self.corrupt("section overflows"))?;
            if end > file_len || !offset.is_multiple_of(ALIGN as u64) {
                return Err(self.corrupt(format!("section {kind} lies outside the file")));
            }
            if !kinds.insert(kind) {
                return Err(self.corrupt(format!("section {kind} appears twice")));
            }
            entries.push(SectionEntry {
                kind,
                offset,
                len,
                checksum: le_u64(e, 24),
            });
        }
        let table_end = (HEADER_LEN + table.len()) as u64;
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by_key(|&i| entries[i].offset);
        let mut pos = table_end;
        for &i in &order {
            let s = &entries[i];
            if s.offset < pos {
                return Err(self.corrupt("sections overlap"));
            }
            pos = s.offset + s.len;
        }
        if pos != file_len {
            return Err(self.corrupt("bytes after the last section"));
        }
        Ok(Layout {
            version,
            entries,
            order,
            table_end,
        })
    }
}

/// One section as the table describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionEntry {
    /// The section kind (its meaning belongs to the file type).
    pub kind: u32,
    /// Byte offset in the file (a multiple of [`ALIGN`]).
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// xxh3-64 of the section's bytes.
    pub checksum: u64,
}

impl SectionEntry {
    /// The byte range in the file (checked to lie inside it).
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset as usize..(self.offset + self.len) as usize
    }
}

/// A validated header and section table.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The file's format version.
    pub version: u32,
    /// The sections in table order.
    pub entries: Vec<SectionEntry>,
    /// Indexes into `entries` in file (offset) order.
    order: Vec<usize>,
    /// Where the section table ends.
    table_end: u64,
}

impl Layout {
    /// The entry of `kind`, if the file has one.
    pub fn find(&self, kind: u32) -> Option<&SectionEntry> {
        self.entries.iter().find(|e| e.kind == kind)
    }

    /// The sections in file order, each with the start of the padding before it.
    pub(crate) fn in_file_order(&self) -> impl Iterator<Item = (u64, &SectionEntry)> {
        let mut pos = self.table_end;
        self.order.iter().map(move |&i| {
            let e = &self.entries[i];
            let gap_start = pos;
            pos = e.offset + e.len;
            (gap_start, e)
        })
    }
}

/// Validates a whole file image: header, table, every checksum and every padding byte.
pub fn validate(bytes: &[u8], format: &Format) -> Result<Layout> {
    let len = bytes.len() as u64;
    let (version, count) = format.check_header(&bytes[..bytes.len().min(HEADER_LEN)], len)?;
    let table = &bytes[HEADER_LEN..HEADER_LEN + count * ENTRY_LEN];
    let layout = format.check_table(version, &bytes[..HEADER_LEN], table, len)?;
    for (gap, e) in layout.in_file_order() {
        if bytes[gap as usize..e.offset as usize]
            .iter()
            .any(|&b| b != 0)
        {
            return Err(format.corrupt("non-zero padding between sections (the file is damaged)"));
        }
        if xxh3_64(&bytes[e.range()]) != e.checksum {
            return Err(format.corrupt(format!(
                "section {} checksum mismatch (the file is damaged)",
                e.kind
            )));
        }
    }
    Ok(layout)
}
