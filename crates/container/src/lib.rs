//! The one file container shared by every quiver-search index file.
//!
//! Layout (all integers little-endian; see docs/FILE_FORMAT.md):
//!
//! ```text
//! 0   magic            8 bytes  (per file type, e.g. "QVRINDEX", "QVRTEXT\0")
//! 8   format version   u32
//! 12  section count    u32      1..=64
//! 16  file length      u64      must equal the file's size
//! 24  header checksum  u64      xxh3-64 of bytes 0..24 and of the section table
//! 32  section table    count × { kind u32, reserved u32, offset u64, length u64, xxh3-64 u64 }
//! ..  sections         each starting at a multiple of 64 bytes, zero bytes between them
//! ```
//!
//! - [`write_file`] writes sections (owned bytes or streamed arenas, see [`Payload`])
//!   atomically: a temporary file `.<name>.tmp-<pid>-<random>` in the same directory, fsync,
//!   rename over the target, fsync of the directory. [`write_atomic`] does the same for any
//!   small file.
//! - [`SectionReader`] reads a file with plain reads (never a memory map), section by section
//!   into buffers the caller chooses; [`open_mapped`] maps it. Both verify the magic, the
//!   version, the length, the table, every checksum, overlaps, padding and trailing bytes.
//! - Every failure is a [`ContainerError`] whose [`ErrorKind`] the file's owner maps to its own
//!   error codes.

mod error;
mod layout;
mod read;
mod write;

pub use error::{ContainerError, ErrorKind, Result};
pub use layout::{
    validate, Format, Layout, SectionEntry, ALIGN, ENTRY_LEN, HEADER_LEN, MAX_SECTIONS,
};
pub use read::{map_file, open_mapped, read_all, OwnedSections, SectionReader};
pub use write::{
    write_atomic, write_atomic_with, write_file, write_file_with, FileOps, Payload, RealFileOps,
};

#[cfg(target_endian = "big")]
compile_error!("quiver-search files are little-endian; big-endian targets are not supported");

/// The little-endian u32 at `at` (the caller guarantees `at + 4 <= b.len()`).
pub fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// The little-endian u64 at `at` (the caller guarantees `at + 8 <= b.len()`).
pub fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Decodes whole little-endian u32 words (a trailing partial word is ignored).
pub fn read_u32s(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4).map(|c| le_u32(c, 0)).collect()
}

/// Encodes u32 values little-endian.
pub fn u32s(v: impl IntoIterator<Item = u32>) -> Vec<u8> {
    v.into_iter().flat_map(u32::to_le_bytes).collect()
}
