//! Files written by quiver-search 0.1.0 (before the shared container crate) keep loading, and
//! saving what they load gives back the same bytes: the container layout did not change.
//!
//! The fixtures were written by 0.1.0 with `QUIVER_WRITE_FIXTURES=1 cargo test --test
//! file_compat`; the same command rewrites them with the current build.

use std::path::PathBuf;

use quiver_engine::{persist, Config, ErrorCode, IndexKind, Metric, VectorIndex};
use quiver_lexical::{AnalyzerConfig, Bm25Params, TextIndex};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quiver-engine-compat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn vectors(n: usize, dim: usize) -> Vec<f32> {
    (0..n * dim)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
        .collect()
}

fn vector_index(kind: IndexKind) -> VectorIndex {
    let dim = 8;
    let mut idx = VectorIndex::new(Config {
        metric: Metric::L2,
        kind,
        threads: 1,
        m: 4,
        ..Config::new(dim)
    })
    .unwrap();
    let keys: Vec<u32> = (0..40).map(|i| i * 5 + 1).collect();
    idx.add(&keys, &vectors(40, dim), false).unwrap();
    if kind == IndexKind::Hnsw {
        idx.remove(&[6, 11]).unwrap();
    }
    idx
}

fn text_index() -> TextIndex {
    let mut t = TextIndex::new(AnalyzerConfig::default(), Bm25Params::default()).unwrap();
    t.add(
        &[3, 9, 27],
        &[
            "the quick brown fox jumps over the lazy dog",
            "a vector index keeps its graph in one file",
            "brown dogs and lazy foxes share one checksummed file",
        ],
    )
    .unwrap();
    t
}

const WRITE: &str = "QUIVER_WRITE_FIXTURES";

#[test]
fn vector_index_files_of_0_1_0_load_and_save_back_identically() {
    for (kind, name) in [
        (IndexKind::Hnsw, "hnsw-v2.qvr"),
        (IndexKind::Flat, "flat-v2.qvr"),
    ] {
        let path = fixture(name);
        if std::env::var_os(WRITE).is_some() {
            persist::save(&vector_index(kind), &path).unwrap();
        }
        let fresh = vector_index(kind);
        for mmap in [false, true] {
            // The pool size is the caller's (the file's is only recorded): load with the one the
            // fixture was written with so that the copy saved back is byte-identical.
            let back = persist::load(&path, mmap, Some(1)).unwrap();
            assert_eq!(back.len(), fresh.len());
            let q = vectors(1, 8);
            assert_eq!(
                back.search(&q, 5, Some(64)).unwrap().keys,
                fresh.search(&q, 5, Some(64)).unwrap().keys,
                "{name} mmap {mmap}"
            );
            let again = tmp(name);
            persist::save(&back, &again).unwrap();
            assert_eq!(
                std::fs::read(&again).unwrap(),
                std::fs::read(&path).unwrap(),
                "{name} mmap {mmap}"
            );
        }
        // A bumped version is a version mismatch, for plain and mapped loads.
        let mut newer = std::fs::read(&path).unwrap();
        newer[8..12].copy_from_slice(&(persist::FORMAT_VERSION + 1).to_le_bytes());
        let p = tmp("newer.qvr");
        std::fs::write(&p, &newer).unwrap();
        for mmap in [false, true] {
            let e = persist::load(&p, mmap, None).err().unwrap();
            assert_eq!(e.code, ErrorCode::VersionMismatch, "{e}");
        }
    }
}

#[test]
fn text_index_files_of_0_1_0_load_and_save_back_identically() {
    let path = fixture("text-v1.qvt");
    if std::env::var_os(WRITE).is_some() {
        text_index().save(&path).unwrap();
    }
    let back = TextIndex::load(&path).unwrap();
    assert_eq!(
        back.search("brown lazy", 3).unwrap(),
        text_index().search("brown lazy", 3).unwrap()
    );
    let again = tmp("text.qvt");
    back.save(&again).unwrap();
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&path).unwrap()
    );
}

#[test]
fn a_newer_text_index_file_is_err_version_mismatch_through_the_engine() {
    let mut bytes = std::fs::read(fixture("text-v1.qvt")).unwrap();
    bytes[8..12].copy_from_slice(&(quiver_lexical::persist::FORMAT_VERSION + 1).to_le_bytes());
    let p = tmp("newer.qvt");
    std::fs::write(&p, &bytes).unwrap();
    let e = quiver_engine::text_index::lexical_error(TextIndex::load(&p).err().unwrap());
    assert_eq!(e.code, ErrorCode::VersionMismatch, "{e}");
    assert_eq!(e.code.as_str(), "ERR_VERSION_MISMATCH");
}

#[test]
fn write_atomic_is_durable_replacement_with_io_errors() {
    let p = tmp("MANIFEST.json");
    quiver_engine::write_atomic(&p, b"{\"generation\":1}").unwrap();
    quiver_engine::write_atomic(&p, b"{\"generation\":2}").unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"{\"generation\":2}");
    let e = quiver_engine::write_atomic(&tmp("no-such-dir").join("x.json"), b"x").unwrap_err();
    assert_eq!(e.code, ErrorCode::Io, "{e}");
}

#[test]
fn version_1_index_files_still_load() {
    // A version-1 file is a version-2 file without the quantization options section.
    use quiver_container::{read_all, write_file, Format, Payload};
    let v2 = Format::new(*b"QVRINDEX", 2, "index file");
    let v1 = Format::new(*b"QVRINDEX", 1, "index file");
    for name in ["flat-v2.qvr", "hnsw-v2.qvr"] {
        let (_, sections) = read_all(&fixture(name), &v2).unwrap();
        let sections: Vec<(u32, Payload)> = sections
            .into_iter()
            .filter(|(kind, _)| *kind != 8)
            .map(|(kind, bytes)| (kind, Payload::Bytes(bytes)))
            .collect();
        let p = tmp(&format!("v1-{name}"));
        write_file(&p, &v1, &sections).unwrap();
        assert_eq!(&std::fs::read(&p).unwrap()[8..12], &1u32.to_le_bytes());
        let original = persist::load(&fixture(name), false, None).unwrap();
        for mmap in [false, true] {
            let back = persist::load(&p, mmap, None).unwrap();
            let q = vectors(1, 8);
            assert_eq!(
                back.search(&q, 5, Some(64)).unwrap().keys,
                original.search(&q, 5, Some(64)).unwrap().keys,
                "{name} mmap {mmap}"
            );
        }
    }
}

/// A plain-loaded index holds no mapping of its file; `mmap: true` does (Linux:
/// /proc/self/maps). That the load itself only reads is checked in quiver-container, where a
/// file truncated mid-read is a Corrupt error.
#[cfg(target_os = "linux")]
#[test]
fn a_plain_loaded_index_holds_no_mapping() {
    for name in ["hnsw-v2.qvr", "flat-v2.qvr"] {
        let p = tmp(&format!("maps-{name}"));
        std::fs::copy(fixture(name), &p).unwrap();
        let canonical = std::fs::canonicalize(&p).unwrap();
        let mapped = || {
            std::fs::read_to_string("/proc/self/maps")
                .unwrap()
                .contains(canonical.to_str().unwrap())
        };
        let plain = persist::load(&p, false, None).unwrap();
        assert!(!mapped(), "{name}: a plain load mapped the file");
        let m = persist::load(&p, true, None).unwrap();
        assert!(mapped(), "{name}: mmap: true did not map the file");
        drop((plain, m));
    }
}
