//! The container against damaged files, failing disks and crashed saves.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU32;

use quiver_container::{
    open_mapped, read_all, validate, write_atomic, write_atomic_with, write_file, write_file_with,
    ErrorKind, FileOps, Format, Payload, RealFileOps, SectionReader, ALIGN, ENTRY_LEN, HEADER_LEN,
};
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

const FMT: Format = Format {
    magic: *b"QVRTEST\0",
    version: 3,
    label: "test file",
};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quiver-container-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sample_sections() -> Vec<(u32, Payload<'static>)> {
    vec![
        (1, Payload::Bytes(b"meta-data".to_vec())),
        (7, Payload::Borrowed(b"borrowed bytes, 31 bytes long!!")),
        (3, Payload::Bytes(Vec::new())),
        (9, Payload::Bytes((0..100u8).collect())),
    ]
}

/// Writes a small file with every payload kind; returns its bytes.
fn write_sample(path: &Path) -> Vec<u8> {
    let words: Vec<AtomicU32> = (0..40_000u32).map(AtomicU32::new).collect();
    let floats: Vec<f32> = (0..5).map(|i| i as f32 * 0.5).collect();
    let mut sections = sample_sections();
    sections.push((4, Payload::F32(&floats)));
    sections.push((5, Payload::Words(&words[..3])));
    write_file(path, &FMT, &sections).unwrap();
    std::fs::read(path).unwrap()
}

fn kinds_of(path: &Path) -> Vec<ErrorKind> {
    let mut out = Vec::new();
    out.push(match read_all(path, &FMT) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e.kind,
    });
    out.push(match open_mapped(path, &FMT) {
        Ok(_) => panic!("{} mapped", path.display()),
        Err(e) => e.kind,
    });
    out
}

fn expect(path: &Path, bytes: &[u8], kind: ErrorKind) {
    std::fs::write(path, bytes).unwrap();
    assert_eq!(kinds_of(path), vec![kind, kind], "{bytes:?}");
    assert_eq!(validate(bytes, &FMT).unwrap_err().kind, kind);
}

#[test]
fn round_trip_and_exact_layout() {
    let dir = tmpdir("round");
    let path = dir.join("f.bin");
    let bytes = write_sample(&path);
    // Header, 6 table entries, first section at the next multiple of 64.
    assert_eq!(&bytes[..8], b"QVRTEST\0");
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 3);
    assert_eq!(u32::from_le_bytes(bytes[12..16].try_into().unwrap()), 6);
    assert_eq!(
        u64::from_le_bytes(bytes[16..24].try_into().unwrap()),
        bytes.len() as u64
    );
    let mut h = Xxh3::new();
    h.update(&bytes[..24]);
    h.update(&bytes[HEADER_LEN..HEADER_LEN + 6 * ENTRY_LEN]);
    assert_eq!(
        u64::from_le_bytes(bytes[24..32].try_into().unwrap()),
        h.digest()
    );
    let first = u64::from_le_bytes(bytes[40..48].try_into().unwrap());
    assert_eq!(
        first as usize,
        (HEADER_LEN + 6 * ENTRY_LEN).next_multiple_of(ALIGN)
    );

    let want: Vec<(u32, Vec<u8>)> = vec![
        (1, b"meta-data".to_vec()),
        (7, b"borrowed bytes, 31 bytes long!!".to_vec()),
        (3, Vec::new()),
        (9, (0..100u8).collect()),
        (
            4,
            (0..5)
                .flat_map(|i| (i as f32 * 0.5).to_le_bytes())
                .collect(),
        ),
        (
            5,
            [0u32, 1, 2].iter().flat_map(|w| w.to_le_bytes()).collect(),
        ),
    ];
    let (layout, got) = read_all(&path, &FMT).unwrap();
    assert_eq!(layout.version, 3);
    assert_eq!(got, want);
    let (map, layout) = open_mapped(&path, &FMT).unwrap();
    for (kind, body) in &want {
        let e = layout.find(*kind).unwrap();
        assert_eq!(e.offset % ALIGN as u64, 0);
        assert_eq!(&map[e.range()], &body[..]);
        assert_eq!(e.checksum, xxh3_64(body));
    }
    // Older versions still read.
    let mut older = bytes.clone();
    older[8..12].copy_from_slice(&1u32.to_le_bytes());
    let mut h = Xxh3::new();
    h.update(&older[..24]);
    h.update(&older[HEADER_LEN..HEADER_LEN + 6 * ENTRY_LEN]);
    older[24..32].copy_from_slice(&h.digest().to_le_bytes());
    std::fs::write(&path, &older).unwrap();
    assert_eq!(read_all(&path, &FMT).unwrap().0.version, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn large_streamed_sections_round_trip() {
    let dir = tmpdir("large");
    let path = dir.join("big.bin");
    let words: Vec<AtomicU32> = (0..100_000u32).map(|i| AtomicU32::new(i * 7)).collect();
    let floats: Vec<f32> = (0..70_000).map(|i| i as f32).collect();
    write_file(
        &path,
        &FMT,
        &[(1, Payload::Words(&words)), (2, Payload::F32(&floats))],
    )
    .unwrap();
    let (_, got) = read_all(&path, &FMT).unwrap();
    assert_eq!(got[0].1.len(), 400_000);
    assert_eq!(
        u32::from_le_bytes(got[0].1[4 * 999..4 * 1000].try_into().unwrap()),
        999 * 7
    );
    assert_eq!(
        f32::from_le_bytes(got[1].1[4 * 69_999..].try_into().unwrap()),
        69_999.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_truncation_is_corrupt() {
    let dir = tmpdir("trunc");
    let good = write_sample(&dir.join("good.bin"));
    let p = dir.join("cut.bin");
    for len in 0..good.len() {
        expect(&p, &good[..len], ErrorKind::Corrupt);
    }
    let mut longer = good.clone();
    longer.push(0);
    expect(&p, &longer, ErrorKind::Corrupt);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_single_bit_flip_is_caught() {
    let dir = tmpdir("flip");
    let good = write_sample(&dir.join("good.bin"));
    let p = dir.join("flip.bin");
    for at in 0..good.len() {
        for bit in 0..8 {
            let mut b = good.clone();
            b[at] ^= 1 << bit;
            std::fs::write(&p, &b).unwrap();
            let kinds = kinds_of(&p);
            let want = if (8..12).contains(&at) {
                // A flip in the version field: either an unknown version or (when the
                // version is still readable) a header checksum mismatch.
                kinds[0]
            } else {
                ErrorKind::Corrupt
            };
            assert_eq!(kinds, vec![want, want], "flip at {at} bit {bit}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn newer_and_zero_versions_are_version_mismatch() {
    let dir = tmpdir("version");
    let good = write_sample(&dir.join("good.bin"));
    let p = dir.join("v.bin");
    for v in [0u32, 4, 1000, u32::MAX] {
        let mut b = good.clone();
        b[8..12].copy_from_slice(&v.to_le_bytes());
        expect(&p, &b, ErrorKind::VersionMismatch);
    }
    // A truncated file of a newer version still says so.
    let mut b = good[..20].to_vec();
    b[8..12].copy_from_slice(&9u32.to_le_bytes());
    expect(&p, &b, ErrorKind::VersionMismatch);
    // Other magic: corrupt.
    let mut b = good.clone();
    b[..8].copy_from_slice(b"QVRINDEX");
    expect(&p, &b, ErrorKind::Corrupt);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Builds a file from explicit table entries (kind, offset, len) over `body` placed from
/// offset 0 of the file, with correct checksums everywhere.
fn craft(entries: &[(u32, u64, u64)], file_len: usize, fill: impl Fn(&mut [u8])) -> Vec<u8> {
    let mut b = vec![0u8; file_len];
    fill(&mut b);
    b[..8].copy_from_slice(&FMT.magic);
    b[8..12].copy_from_slice(&FMT.version.to_le_bytes());
    b[12..16].copy_from_slice(&(entries.len() as u32).to_le_bytes());
    b[16..24].copy_from_slice(&(file_len as u64).to_le_bytes());
    for (i, &(kind, off, len)) in entries.iter().enumerate() {
        // Entries reaching past the end get a dummy checksum (they are rejected anyway).
        let end = off.saturating_add(len).min(file_len as u64) as usize;
        let sum = xxh3_64(&b[(off as usize).min(end)..end]);
        let e = HEADER_LEN + i * ENTRY_LEN;
        b[e..e + 4].copy_from_slice(&kind.to_le_bytes());
        b[e + 4..e + 8].fill(0);
        b[e + 8..e + 16].copy_from_slice(&off.to_le_bytes());
        b[e + 16..e + 24].copy_from_slice(&len.to_le_bytes());
        b[e + 24..e + 32].copy_from_slice(&sum.to_le_bytes());
    }
    let table_end = HEADER_LEN + entries.len() * ENTRY_LEN;
    let mut h = Xxh3::new();
    h.update(&b[..24]);
    h.update(&b[HEADER_LEN..table_end]);
    let d = h.digest();
    b[24..32].copy_from_slice(&d.to_le_bytes());
    b
}

#[test]
fn crafted_layouts_are_checked() {
    let dir = tmpdir("craft");
    let p = dir.join("c.bin");
    let data = |b: &mut [u8]| {
        for x in &mut b[128..] {
            *x = 0xAB;
        }
    };
    // A valid hand-made file loads.
    let ok = craft(&[(1, 128, 64), (2, 192, 10)], 202, data);
    std::fs::write(&p, &ok).unwrap();
    assert_eq!(read_all(&p, &FMT).unwrap().1.len(), 2);
    // Overlap.
    expect(
        &p,
        &craft(&[(1, 128, 70), (2, 192, 10)], 202, data),
        ErrorKind::Corrupt,
    );
    // Section overlapping the table.
    expect(
        &p,
        &craft(&[(1, 64, 128), (2, 192, 10)], 202, data),
        ErrorKind::Corrupt,
    );
    // Duplicate kind.
    expect(
        &p,
        &craft(&[(1, 128, 64), (1, 192, 10)], 202, data),
        ErrorKind::Corrupt,
    );
    // Misaligned.
    expect(
        &p,
        &craft(&[(1, 128, 64), (2, 196, 6)], 202, data),
        ErrorKind::Corrupt,
    );
    // Past the end, and overflowing.
    expect(
        &p,
        &craft(&[(1, 128, 64), (2, 192, 11)], 202, data),
        ErrorKind::Corrupt,
    );
    let mut huge = craft(&[(1, 128, 64), (2, 192, 10)], 202, data);
    huge[HEADER_LEN + ENTRY_LEN + 16..HEADER_LEN + ENTRY_LEN + 24]
        .copy_from_slice(&u64::MAX.to_le_bytes());
    expect(&p, &huge, ErrorKind::Corrupt);
    // Trailing bytes not covered by any section.
    expect(
        &p,
        &craft(&[(1, 128, 64), (2, 192, 5)], 202, data),
        ErrorKind::Corrupt,
    );
    // Non-zero padding (between the table and the first section; between sections).
    let pad = |b: &mut [u8]| {
        data(b);
        b[100] = 1;
    };
    expect(
        &p,
        &craft(&[(1, 128, 64), (2, 192, 10)], 202, pad),
        ErrorKind::Corrupt,
    );
    let pad2 = |b: &mut [u8]| {
        data(b);
        b[180..192].fill(0);
        b[190] = 1;
    };
    expect(
        &p,
        &craft(&[(1, 128, 52), (2, 192, 10)], 202, pad2),
        ErrorKind::Corrupt,
    );
    // Bad section counts.
    expect(&p, &craft(&[], 202, data), ErrorKind::Corrupt);
    let mut many = ok.clone();
    many[12..16].copy_from_slice(&65u32.to_le_bytes());
    expect(&p, &many, ErrorKind::Corrupt);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_truncated_while_read_is_corrupt() {
    let dir = tmpdir("shrink");
    let p = dir.join("s.bin");
    let good = write_sample(&p);
    let mut r = SectionReader::open(&p, &FMT).unwrap();
    let first = r.next_section().unwrap().unwrap();
    // Another process truncates the file between the table and the sections.
    File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(first.offset + 2)
        .unwrap();
    let e = r.read_vec().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
    assert!(good.len() as u64 > first.offset + 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Writing fails with this errno once this many bytes are written.
    WriteErr(usize, i32),
    /// Once this many bytes are written, every write reports 0 bytes written.
    ShortWrite(usize),
    Sync(i32),
    Rename(i32),
}

struct Faulty {
    fault: Fault,
    written: usize,
}

impl FileOps for Faulty {
    fn write(&mut self, file: &mut File, buf: &[u8]) -> io::Result<usize> {
        let limit = match self.fault {
            Fault::WriteErr(at, _) | Fault::ShortWrite(at) => at,
            _ => usize::MAX,
        };
        if self.written >= limit {
            return match self.fault {
                Fault::WriteErr(_, errno) => Err(io::Error::from_raw_os_error(errno)),
                _ => Ok(0),
            };
        }
        // A partial write up to the failure point, as a filling disk does.
        let n = buf.len().min(limit - self.written);
        let n = RealFileOps.write(file, &buf[..n])?;
        self.written += n;
        Ok(n)
    }
    fn sync(&mut self, file: &File) -> io::Result<()> {
        match self.fault {
            Fault::Sync(errno) => Err(io::Error::from_raw_os_error(errno)),
            _ => RealFileOps.sync(file),
        }
    }
    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        match self.fault {
            Fault::Rename(errno) => Err(io::Error::from_raw_os_error(errno)),
            _ => RealFileOps.rename(from, to),
        }
    }
}

fn temps_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

const ENOSPC: i32 = 28;
const EIO: i32 = 5;

#[test]
fn failed_saves_leave_the_previous_file_and_no_temp() {
    let dir = tmpdir("faults");
    let path = dir.join("f.bin");
    let before = write_sample(&path);
    let new_floats: Vec<f32> = (0..3000).map(|i| i as f32).collect();
    let new_sections = || {
        vec![
            (1, Payload::Bytes(vec![7; 200])),
            (2, Payload::F32(&new_floats)),
            (3, Payload::Bytes(vec![9; 70])),
        ]
    };
    // Byte positions of every step: the header, the table, and around the start and end of
    // every padding run and section (taken from the layout of the file the save would write).
    let scratch = dir.join("scratch").join("f.bin");
    std::fs::create_dir_all(scratch.parent().unwrap()).unwrap();
    write_file(&scratch, &FMT, &new_sections()).unwrap();
    let (layout, _) = read_all(&scratch, &FMT).unwrap();
    let mut points = vec![0, 1, 16, 31, 32, 33, 64, 127];
    for e in &layout.entries {
        let (start, end) = (e.offset as usize, (e.offset + e.len) as usize);
        points.extend([start - 1, start, start + 1, (start + end) / 2, end - 1, end]);
    }
    points.sort_unstable();
    points.dedup();
    // A fault at the very end never triggers (nothing more is written).
    let total = std::fs::metadata(&scratch).unwrap().len() as usize;
    assert_eq!(points.pop(), Some(total));
    let mut faults = Vec::new();
    for &at in &points {
        faults.push(Fault::WriteErr(at, ENOSPC));
        faults.push(Fault::WriteErr(at, EIO));
        faults.push(Fault::ShortWrite(at));
    }
    faults.extend([
        Fault::Sync(EIO),
        Fault::Sync(ENOSPC),
        Fault::Rename(EIO),
        Fault::Rename(ENOSPC),
    ]);
    for fault in faults {
        let mut ops = Faulty { fault, written: 0 };
        let e = write_file_with(&path, &FMT, &new_sections(), &mut ops).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Io, "{fault:?}: {e}");
        assert_eq!(std::fs::read(&path).unwrap(), before, "{fault:?}");
        assert!(read_all(&path, &FMT).is_ok());
        assert!(temps_in(&dir).is_empty(), "{fault:?}: {:?}", temps_in(&dir));
        // The same for a plain atomic write.
        let mut ops = Faulty { fault, written: 0 };
        if let Err(e) = write_atomic_with(&path, &[5u8; 4000], &mut ops) {
            assert_eq!(e.kind, ErrorKind::Io);
            assert_eq!(std::fs::read(&path).unwrap(), before, "{fault:?}");
        } else {
            // The fault lay past the end of the 4000 bytes: the write succeeded.
            assert_eq!(std::fs::read(&path).unwrap(), vec![5u8; 4000]);
            std::fs::write(&path, &before).unwrap();
        }
        assert!(temps_in(&dir).is_empty(), "{fault:?}");
    }
    // Without faults the new file replaces the old.
    write_file(&path, &FMT, &new_sections()).unwrap();
    assert_eq!(read_all(&path, &FMT).unwrap().1[2].1, vec![9; 70]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn write_atomic_replaces_contents() {
    let dir = tmpdir("atomic");
    let path = dir.join("MANIFEST.json");
    write_atomic(&path, b"{\"v\":1}").unwrap();
    write_atomic(&path, b"{\"v\":2}").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"{\"v\":2}");
    assert!(temps_in(&dir).is_empty());
    assert_eq!(
        write_atomic(&dir.join("no/such/dir/x"), b"x")
            .unwrap_err()
            .kind,
        ErrorKind::Io
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stale_temps_of_dead_saves_are_removed() {
    let dir = tmpdir("stale");
    let path = dir.join("idx.bin");
    let me = std::process::id();
    // A crashed save of another (dead) process, a leftover of our own, a temp of a live
    // process (pid 1 always runs), and temps of other targets.
    let dead = format!(".idx.bin.tmp-{}-1234", u32::MAX - 1);
    let old_own = format!(".idx.bin.tmp-{me}-00ff");
    let live = ".idx.bin.tmp-1-abcd".to_string();
    let other_target = format!(".other.bin.tmp-{}-1", u32::MAX - 1);
    let odd = ".idx.bin.tmp-notapid".to_string();
    // A process that really ran and exited, as a save killed with SIGKILL would have.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let child_pid = child.id();
    child.wait().unwrap();
    let killed = format!(".idx.bin.tmp-{child_pid}-5eed");
    for n in [&dead, &old_own, &live, &other_target, &odd, &killed] {
        std::fs::write(dir.join(n), b"junk").unwrap();
    }
    write_atomic(&path, b"data").unwrap();
    let mut left = temps_in(&dir);
    left.sort();
    let mut want = vec![other_target.clone(), odd.clone()];
    if !(cfg!(target_os = "linux") && Path::new("/proc/1").exists()) {
        want.push(dead.clone());
        want.push(killed.clone());
    }
    want.push(live.clone());
    want.sort();
    assert_eq!(left, want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn concurrent_saves_to_one_target_do_not_remove_each_others_temps() {
    let dir = tmpdir("concurrent");
    let path = dir.join("MANIFEST.json");
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let path = &path;
            s.spawn(move || {
                for i in 0..25u8 {
                    write_atomic(path, &[t, i]).unwrap();
                }
            });
        }
    });
    assert_eq!(std::fs::read(&path).unwrap().len(), 2);
    assert!(temps_in(&dir).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_mapping_holds_a_shared_lock_for_its_lifetime() {
    let dir = tmpdir("lock");
    let path = dir.join("locked.qvt");
    write_file(&path, &FMT, &[(1, Payload::Bytes(vec![7u8; 100]))]).unwrap();
    let exclusive = || {
        std::fs::File::open(&path)
            .unwrap()
            .try_lock()
            .map(|_| ())
            .map_err(|e| matches!(e, std::fs::TryLockError::WouldBlock))
    };
    let (map, _) = open_mapped(&path, &FMT).unwrap();
    assert_eq!(
        exclusive(),
        Err(true),
        "a writer cannot lock the file exclusively"
    );
    // A second mapping shares the lock.
    let (map2, _) = open_mapped(&path, &FMT).unwrap();
    drop(map);
    assert_eq!(exclusive(), Err(true));
    drop(map2);
    assert_eq!(exclusive(), Ok(()), "released with the last mapping");
    // While another process (here: another open file) holds it exclusively, nothing is mapped.
    let holder = std::fs::File::open(&path).unwrap();
    holder.lock().unwrap();
    let e = open_mapped(&path, &FMT).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io, "{e}");
    drop(holder);
    assert!(open_mapped(&path, &FMT).is_ok());
    std::fs::remove_dir_all(&dir).ok();
}
