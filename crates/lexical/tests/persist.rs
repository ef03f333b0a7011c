//! Save/load round trips, corruption detection, atomic writes.

use std::path::{Path, PathBuf};

use quiver_lexical::{
    AnalyzerConfig, AnalyzerKind, Bm25Params, LexicalError, StopWords, TextIndex, TokenizerMode,
};

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quiver-lexical-p-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sample(cfg: AnalyzerConfig) -> TextIndex {
    let mut ix = TextIndex::new(cfg, Bm25Params { k1: 1.1, b: 0.6 }).unwrap();
    let keys: Vec<u32> = (0..700).map(|i| i * 3 + 5).collect();
    let texts: Vec<String> = keys
        .iter()
        .map(|k| {
            format!(
                "Document {k} about café culture, running dogs and {} things 北京",
                ["red", "green", "blue", "yellow"][*k as usize % 4]
            )
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    ix.add(&keys, &refs).unwrap();
    ix.remove(&[5, 8, 11]);
    ix.add(&[14], &["replaced: green dogs only"]).unwrap();
    ix
}

const QUERIES: &[&str] = &[
    "green dogs",
    "cafe",
    "document 1400",
    "blue running",
    "京",
    "zzz",
];

fn same_results(a: &TextIndex, b: &TextIndex) {
    assert_eq!(a.len(), b.len());
    for q in QUERIES {
        for k in [1, 10, 1000] {
            assert_eq!(a.search(q, k).unwrap(), b.search(q, k).unwrap(), "{q} {k}");
            assert_eq!(
                a.search_exhaustive(q, k).unwrap(),
                b.search_exhaustive(q, k).unwrap()
            );
        }
    }
}

#[test]
fn round_trip() {
    let dir = tempdir("rt");
    let path = dir.join("text.qvt");
    let ix = sample(AnalyzerConfig::default());
    ix.save(&path).unwrap();
    let back = TextIndex::load(&path).unwrap();
    same_results(&ix, &back);
    assert_eq!(back.params(), Bm25Params { k1: 1.1, b: 0.6 });
    assert_eq!(back.analyzer_config(), ix.analyzer_config());
    assert!(!back.contains(5) && back.contains(14));
    // The loaded index keeps working: add, remove, save again.
    let mut back = back;
    back.add(&[1], &["brand new green doc"]).unwrap();
    back.remove(&[17]);
    back.save(&path).unwrap();
    let again = TextIndex::load(&path).unwrap();
    same_results(&back, &again);
    // Custom stop words survive.
    let custom = sample(AnalyzerConfig {
        kind: AnalyzerKind::Default,
        stem: false,
        stop_words: StopWords::Custom(vec!["green".into()]),
    });
    custom.save(&path).unwrap();
    let c2 = TextIndex::load(&path).unwrap();
    assert!(c2.search("green", 10).unwrap().is_empty());
    same_results(&custom, &c2);
    // An empty index too.
    let empty = TextIndex::new(AnalyzerConfig::default(), Bm25Params::default()).unwrap();
    empty.save(&path).unwrap();
    assert!(TextIndex::load(&path).unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn round_trip_embeds_tokenizer_json() {
    let dir = tempdir("tok");
    let tok_path = dir.join("tokenizer.json");
    let json = r###"{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": true, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"}, "post_processor": null, "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100,
                  "vocab": {"[UNK]": 0, "dog": 1, "##s": 2, "green": 3, "run": 4, "##ning": 5}}}"###;
    std::fs::write(&tok_path, json).unwrap();
    let ix = sample(AnalyzerConfig {
        kind: AnalyzerKind::TokenizerJson {
            path: tok_path.clone(),
            mode: TokenizerMode::Subword,
        },
        stem: false,
        stop_words: StopWords::None,
    });
    let path = dir.join("text.qvt");
    ix.save(&path).unwrap();
    std::fs::remove_file(&tok_path).unwrap();
    let back = TextIndex::load(&path).unwrap();
    same_results(&ix, &back);
    assert!(!back.search("dogs", 10).unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

fn expect_corrupt(path: &Path) {
    match TextIndex::load(path) {
        Err(LexicalError::Corrupt(_)) => {}
        Err(e) => panic!("expected Corrupt, got {e:?}"),
        Ok(_) => panic!("expected Corrupt, loaded fine"),
    }
}

#[test]
fn corruption_is_detected() {
    let dir = tempdir("corrupt");
    let path = dir.join("text.qvt");
    sample(AnalyzerConfig::default()).save(&path).unwrap();
    let good = std::fs::read(&path).unwrap();
    let bad = dir.join("bad.qvt");
    // Flip one bit at many positions (header, table, every section).
    let step = (good.len() / 397).max(1);
    for pos in (0..good.len())
        .step_by(step)
        .chain([0, 8, 12, 16, 24, 40, good.len() - 1])
    {
        let mut b = good.clone();
        b[pos] ^= 0x10;
        std::fs::write(&bad, &b).unwrap();
        if (8..12).contains(&pos) {
            // The flip makes the version field name a newer version: that is reported as
            // such (ERR_VERSION_MISMATCH, like every other file), not as damage.
            assert!(matches!(
                TextIndex::load(&bad),
                Err(LexicalError::VersionMismatch(_))
            ));
        } else {
            expect_corrupt(&bad);
        }
    }
    // Truncations and an appended byte.
    for len in [0, 4, 11, 31, 100, good.len() / 2, good.len() - 1] {
        std::fs::write(&bad, &good[..len]).unwrap();
        expect_corrupt(&bad);
    }
    let mut longer = good.clone();
    longer.push(0);
    std::fs::write(&bad, &longer).unwrap();
    expect_corrupt(&bad);
    // A file of another format.
    std::fs::write(&bad, b"QVRINDEX\x01\x00\x00\x00 not ours").unwrap();
    expect_corrupt(&bad);
    // A missing file is an I/O error, not corruption.
    assert!(matches!(
        TextIndex::load(&dir.join("missing.qvt")),
        Err(LexicalError::Io { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn failed_save_keeps_previous_file() {
    let dir = tempdir("atomic");
    let path = dir.join("text.qvt");
    let ix = sample(AnalyzerConfig::default());
    ix.save(&path).unwrap();
    let before = std::fs::read(&path).unwrap();
    // Target is a directory: the rename fails, nothing is left behind.
    let as_dir = dir.join("adir");
    std::fs::create_dir(&as_dir).unwrap();
    assert!(matches!(ix.save(&as_dir), Err(LexicalError::Io { .. })));
    assert!(as_dir.is_dir());
    // Parent directory does not exist.
    assert!(matches!(
        ix.save(&dir.join("no/such/dir/x.qvt")),
        Err(LexicalError::Io { .. })
    ));
    // Read-only directory (skipped when running as root, which ignores permissions).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.join("ro");
        std::fs::create_dir(&ro).unwrap();
        let target = ro.join("text.qvt");
        ix.save(&target).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        let probe = ro.join("probe");
        if std::fs::write(&probe, b"x").is_err() {
            let mut other = sample(AnalyzerConfig::default());
            other.add(&[999_999], &["different content"]).unwrap();
            assert!(matches!(other.save(&target), Err(LexicalError::Io { .. })));
            assert_eq!(std::fs::read(&target).unwrap(), before);
        } else {
            let _ = std::fs::remove_file(&probe);
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // No temporary files left in the directory.
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp-"), "left over {name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_newer_format_version_is_a_version_mismatch() {
    let dir = tempdir("version");
    let path = dir.join("text.qvt");
    sample(AnalyzerConfig::default()).save(&path).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    for v in [quiver_lexical::persist::FORMAT_VERSION + 1, 0] {
        bytes[8..12].copy_from_slice(&v.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        match TextIndex::load(&path) {
            Err(LexicalError::VersionMismatch(m)) => assert!(m.contains("version"), "{m}"),
            Err(e) => panic!("expected VersionMismatch, got {e:?}"),
            Ok(_) => panic!("a version-{v} file loaded"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
