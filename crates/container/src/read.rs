//! Reading a container file: with plain reads into caller-chosen buffers, or through a map.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::error::{ContainerError, Result};
use crate::layout::{validate, Format, Layout, SectionEntry, ENTRY_LEN, HEADER_LEN};

/// Reads a container file section by section with plain reads (never a memory map), so a
/// file truncated by another process while it is read is a `Corrupt` error, not a crash.
///
/// [`open`](Self::open) reads and checks the header and the table (sections inside the
/// file, aligned, not overlapping, no kind twice). Then [`next_section`](Self::next_section)
/// walks the sections in file order, checking the padding before each; the caller reads the
/// body straight into its final buffer with [`read_into`](Self::read_into) (or
/// [`read_vec`](Self::read_vec)), which verifies the checksum. A body left unread is still
/// read and verified when the next section is requested, so [`finish`](Self::finish)
/// returning `Ok` means every byte of the file was checked.
pub struct SectionReader {
    file: File,
    path: PathBuf,
    format: Format,
    layout: Layout,
    /// Position in file order of the next section.
    next: usize,
    /// The section whose body is next in the file, not yet read.
    pending: Option<SectionEntry>,
}

impl SectionReader {
    /// Opens `path` and validates its header and section table.
    pub fn open(path: &Path, format: &Format) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| ContainerError::io("cannot open", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| ContainerError::io("cannot stat", path, e))?
            .len();
        let mut prefix = vec![0u8; (len as usize).min(HEADER_LEN)];
        read_exact(&mut file, &mut prefix, path, format)?;
        let (version, count) = format.check_header(&prefix, len)?;
        let mut table = vec![0u8; count * ENTRY_LEN];
        read_exact(&mut file, &mut table, path, format)?;
        let layout = format.check_table(version, &prefix, &table, len)?;
        Ok(SectionReader {
            file,
            path: path.to_path_buf(),
            format: *format,
            layout,
            next: 0,
            pending: None,
        })
    }

    /// The validated table (every entry, the version).
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The next section in file order (after checking the zero padding before it), or `None`
    /// after the last. An unread body of the previous section is read and verified first.
    pub fn next_section(&mut self) -> Result<Option<SectionEntry>> {
        if self.pending.is_some() {
            self.skip()?;
        }
        let Some((gap, entry)) = self
            .layout
            .in_file_order()
            .nth(self.next)
            .map(|(g, e)| (g, *e))
        else {
            return Ok(None);
        };
        self.next += 1;
        let mut left = entry.offset - gap;
        let mut buf = [0u8; 4096];
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            read_exact(&mut self.file, &mut buf[..n], &self.path, &self.format)?;
            if buf[..n].iter().any(|&b| b != 0) {
                return Err(self
                    .format
                    .corrupt("non-zero padding between sections (the file is damaged)"));
            }
            left -= n as u64;
        }
        self.pending = Some(entry);
        Ok(Some(entry))
    }

    fn take_pending(&mut self, want: usize) -> Result<SectionEntry> {
        match self.pending.take() {
            Some(e) if e.len == want as u64 => Ok(e),
            Some(e) => Err(self.format.corrupt(format!(
                "section {} read into a buffer of the wrong size",
                e.kind
            ))),
            None => Err(self.format.corrupt("no section to read")),
        }
    }

    fn mismatch(&self, e: &SectionEntry) -> ContainerError {
        self.format.corrupt(format!(
            "section {} checksum mismatch (the file is damaged)",
            e.kind
        ))
    }

    /// Reads the current section's body into `dest` (exactly the section's length) and
    /// verifies its checksum.
    pub fn read_into(&mut self, dest: &mut [u8]) -> Result<()> {
        let e = self.take_pending(dest.len())?;
        read_exact(&mut self.file, dest, &self.path, &self.format)?;
        if xxh3_64(dest) != e.checksum {
            return Err(self.mismatch(&e));
        }
        Ok(())
    }

    /// Reads the current section's body into a new `Vec` and verifies its checksum.
    pub fn read_vec(&mut self) -> Result<Vec<u8>> {
        let len = self.pending.map_or(0, |e| e.len as usize);
        let mut v = vec![0u8; len];
        self.read_into(&mut v)?;
        Ok(v)
    }

    /// Reads the current section's body, verifying its checksum, without keeping it.
    pub fn skip(&mut self) -> Result<()> {
        let len = self.pending.map_or(0, |e| e.len as usize);
        let e = self.take_pending(len)?;
        let mut h = Xxh3::new();
        let mut buf = vec![0u8; (1 << 16).min(len)];
        let mut left = len;
        while left > 0 {
            let n = left.min(buf.len());
            read_exact(&mut self.file, &mut buf[..n], &self.path, &self.format)?;
            h.update(&buf[..n]);
            left -= n;
        }
        if h.digest() != e.checksum {
            return Err(self.mismatch(&e));
        }
        Ok(())
    }

    /// Reads and verifies whatever is left, and returns the open file (e.g. to map it).
    pub fn finish(mut self) -> Result<File> {
        while self.next_section()?.is_some() {}
        Ok(self.file)
    }
}

fn read_exact(file: &mut File, buf: &mut [u8], path: &Path, format: &Format) -> Result<()> {
    file.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            format.corrupt("the file ended early (truncated while being read?)")
        } else {
            ContainerError::io("cannot read", path, e)
        }
    })
}

/// Sections read into memory: (kind, bytes) in file order.
pub type OwnedSections = Vec<(u32, Vec<u8>)>;

/// Reads every section of `path` into its own `Vec`, in file order, with plain reads.
/// Returns the layout and the sections.
pub fn read_all(path: &Path, format: &Format) -> Result<(Layout, OwnedSections)> {
    let mut r = SectionReader::open(path, format)?;
    let mut out = Vec::with_capacity(r.layout().entries.len());
    while let Some(e) = r.next_section()? {
        out.push((e.kind, r.read_vec()?));
    }
    let layout = r.layout().clone();
    r.finish()?;
    Ok((layout, out))
}

/// Maps an open file read-only under a shared advisory lock (`flock`) that lasts as long as
/// the map: the lock belongs to the open file, which the mapping keeps open after `file` is
/// dropped. A file another process has locked exclusively (to modify it in place) is not
/// mapped (`Io` error); on filesystems without locks the file is mapped unlocked.
pub fn map_file(file: &File, path: &Path) -> Result<Mmap> {
    match file.try_lock_shared() {
        Ok(()) | Err(std::fs::TryLockError::Error(_)) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(ContainerError::io(
                "cannot map",
                path,
                std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    "another process holds an exclusive lock on the file (it is being modified in place)",
                ),
            ))
        }
    }
    // SAFETY: the map is read-only. If another process truncates or rewrites the file while
    // it is mapped, reads may fault or change; our own saves never do that (they write a new
    // file and rename it over the old one, which leaves this mapping intact), and a cooperating
    // process can wait for the shared lock taken above to be released.
    unsafe { Mmap::map(file) }.map_err(|e| ContainerError::io("cannot map", path, e))
}

/// Maps `path` read-only and validates it completely (header, table, every checksum and
/// padding byte; the checks read the file once).
///
/// A mapped file must not be truncated by another process while mapped (reads past the new
/// end fault); quiver-search's own saves never do that: they rename a new file over the old
/// one, which leaves the mapped file intact. The mapping holds a shared advisory lock
/// (`flock`) on the file for as long as it lives, so a cooperating process that modifies the
/// file in place can take an exclusive lock first and wait; a file locked exclusively by
/// another process is not mapped (`Io` error).
pub fn open_mapped(path: &Path, format: &Format) -> Result<(Arc<Mmap>, Layout)> {
    let file = File::open(path).map_err(|e| ContainerError::io("cannot open", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| ContainerError::io("cannot stat", path, e))?
        .len();
    if len < HEADER_LEN as u64 {
        // Too short to map usefully (an empty file cannot be mapped): the checks on the few
        // bytes say what is wrong.
        let bytes = std::fs::read(path).map_err(|e| ContainerError::io("cannot read", path, e))?;
        validate(&bytes, format)?;
        return Err(format.corrupt("truncated header"));
    }
    let map = map_file(&file, path)?;
    let layout = validate(&map, format)?;
    Ok((Arc::new(map), layout))
}
