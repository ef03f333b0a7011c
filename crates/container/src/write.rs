//! Writing: section payloads, the container layout, and the atomic temp-file + rename dance.

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use xxhash_rust::xxh3::Xxh3;

use crate::error::{ContainerError, Result};
use crate::layout::{Format, MAX_SECTIONS};

/// A section's bytes, produced lazily while writing, so large arenas are streamed in 64 KiB
/// little-endian pieces rather than copied.
pub enum Payload<'a> {
    /// Owned bytes.
    Bytes(Vec<u8>),
    /// Borrowed bytes.
    Borrowed(&'a [u8]),
    /// f32 values, written little-endian.
    F32(&'a [f32]),
    /// Atomic words (e.g. a graph arena), loaded relaxed and written little-endian.
    Words(&'a [AtomicU32]),
}

impl Payload<'_> {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Payload::Bytes(b) => b.len(),
            Payload::Borrowed(b) => b.len(),
            Payload::F32(v) => v.len() * 4,
            Payload::Words(w) => w.len() * 4,
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Feeds the bytes, in pieces, to `sink`.
    pub fn for_each_piece(&self, mut sink: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        match self {
            Payload::Bytes(b) => sink(b),
            Payload::Borrowed(b) => sink(b),
            Payload::F32(v) => le_pieces(v, |x| x.to_le_bytes(), sink),
            Payload::Words(w) => le_pieces(w, |x| x.load(Ordering::Relaxed).to_le_bytes(), sink),
        }
    }

    /// xxh3-64 of the bytes.
    pub fn checksum(&self) -> u64 {
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
    mut sink: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
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

/// The file operations of a save, replaceable so tests can inject failures (a full disk,
/// an I/O error, a short write) at any step.
pub trait FileOps {
    /// Writes some of `buf` to the temporary file, like [`Write::write`].
    fn write(&mut self, file: &mut File, buf: &[u8]) -> io::Result<usize>;
    /// Flushes the temporary file to stable storage.
    fn sync(&mut self, file: &File) -> io::Result<()>;
    /// Renames the temporary file over the target.
    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()>;
}

/// The real file operations.
pub struct RealFileOps;

impl FileOps for RealFileOps {
    fn write(&mut self, file: &mut File, buf: &[u8]) -> io::Result<usize> {
        file.write(buf)
    }
    fn sync(&mut self, file: &File) -> io::Result<()> {
        file.sync_all()
    }
    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
}

struct OpsWriter<'a> {
    file: &'a mut File,
    ops: &'a mut dyn FileOps,
}

impl Write for OpsWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.ops.write(self.file, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes a container file atomically (see [`write_file_with`]).
pub fn write_file(path: &Path, format: &Format, sections: &[(u32, Payload<'_>)]) -> Result<()> {
    write_file_with(path, format, sections, &mut RealFileOps)
}

/// Writes `sections` (kind, payload, in file order) as a container file of `format` at
/// `path`, atomically: a temporary file in the same directory, fsync, rename over `path`,
/// fsync of the directory. On failure the previous file is untouched and the temporary file
/// is removed. `ops` performs the file operations.
pub fn write_file_with(
    path: &Path,
    format: &Format,
    sections: &[(u32, Payload<'_>)],
    ops: &mut dyn FileOps,
) -> Result<()> {
    if sections.is_empty() || sections.len() > MAX_SECTIONS {
        return Err(ContainerError::io(
            "cannot save",
            path,
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} sections (1 to {MAX_SECTIONS} allowed)", sections.len()),
            ),
        ));
    }
    let plan: Vec<(u32, usize, u64)> = sections
        .iter()
        .map(|(k, p)| (*k, p.len(), p.checksum()))
        .collect();
    let (head, placed, _) = format.encode(&plan);
    atomic_write(path, ops, |w| {
        w.write_all(&head)?;
        let mut pos = head.len();
        let zeros = [0u8; 64];
        for ((_, payload), &at) in sections.iter().zip(&placed) {
            w.write_all(&zeros[..at - pos])?;
            payload.for_each_piece(|b| w.write_all(b))?;
            pos = at + payload.len();
        }
        Ok(())
    })
}

/// Writes `bytes` to `path` durably and atomically (temporary file in the same directory,
/// fsync, rename, directory fsync): readers see the old content or the new, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, bytes, &mut RealFileOps)
}

/// [`write_atomic`] with replaceable file operations.
pub fn write_atomic_with(path: &Path, bytes: &[u8], ops: &mut dyn FileOps) -> Result<()> {
    atomic_write(path, ops, |w| w.write_all(bytes))
}

/// Temporary files this process is writing now (never removed as stale).
static IN_FLIGHT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

struct InFlight(PathBuf);

impl InFlight {
    fn new(p: PathBuf) -> Self {
        in_flight().push(p.clone());
        InFlight(p)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        in_flight().retain(|p| p != &self.0);
    }
}

fn in_flight() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    IN_FLIGHT.lock().unwrap_or_else(|p| p.into_inner())
}

fn random() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// Whether process `pid` may still be running. On Linux `/proc/<pid>` answers (when `/proc`
/// is mounted); elsewhere every other process is assumed alive. A reused pid keeps a
/// leftover (harmless); a process in another PID namespace looks dead (documented: such
/// processes must not save the same target concurrently).
fn may_be_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") && Path::new("/proc/self").exists() {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// Removes leftover temporary files of earlier saves to the same target: those whose owner
/// process is gone, and this process's own that no save is writing now.
fn remove_stale_temps(dir: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let path = entry.path();
        let stale = if pid == me {
            !in_flight().contains(&path)
        } else {
            !may_be_alive(pid)
        };
        if stale {
            let _ = fs::remove_file(&path);
        }
    }
}

fn atomic_write(
    path: &Path,
    ops: &mut dyn FileOps,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        ContainerError::io(
            "cannot save to",
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "not a file path"),
        )
    })?;
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    remove_stale_temps(&dir, &prefix);
    let tmp = dir.join(format!("{prefix}{}-{:016x}", std::process::id(), random()));
    let _guard = InFlight::new(tmp.clone());
    let write = |ops: &mut dyn FileOps| -> io::Result<()> {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        {
            let mut w = BufWriter::with_capacity(
                1 << 20,
                OpsWriter {
                    file: &mut file,
                    ops: &mut *ops,
                },
            );
            body(&mut w)?;
            w.flush()?;
        }
        ops.sync(&file)
    };
    if let Err(e) = write(&mut *ops) {
        let _ = fs::remove_file(&tmp);
        return Err(ContainerError::io("cannot write", path, e));
    }
    if let Err(e) = ops.rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(ContainerError::io("cannot replace", path, e));
    }
    // Make the rename durable. Some filesystems refuse to open a directory; that is not a
    // failure of the save itself.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
