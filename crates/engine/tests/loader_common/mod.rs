//! Shared by the crafted-file and fuzz tests: small valid files of every loader, re-emitting
//! sections with valid checksums, and the behaviour every loaded file must show.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use quiver_container::{Format, Payload};
use quiver_engine::multi_vector::{DocBatch, MultiConfig, MultiVectorIndex};
use quiver_engine::quantized::{Originals, QuantConfig, QuantKind};
use quiver_engine::{persist, Config, ErrorCode, IndexKind, Metric, VectorIndex};
use quiver_hnsw::splitmix64;
use quiver_lexical::{
    AnalyzerConfig, Bm25Params, LexicalError, SparseBatch, SparseConfig, SparseIndex,
    SparseStrategy, SparseVec, TextIndex,
};
use quiver_muvera::fde::FdeParams;
use quiver_muvera::store::TokenStorage;

pub const INDEX: Format = Format::new(*b"QVRINDEX", 2, "index file");
pub const TEXT: Format = Format::new(*b"QVRTEXT\0", 1, "text index file");
pub const SPARSE: Format = Format::new(*b"QVRSPRS\0", 1, "sparse index file");

pub type Sections = Vec<(u32, Vec<u8>)>;

pub fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quiver-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = splitmix64(self.0);
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    pub fn f(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

/// Which loader a file is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loader {
    Vector,
    Multi,
    Text,
    Sparse,
}

impl Loader {
    pub fn format(self) -> Format {
        match self {
            Loader::Text => TEXT,
            Loader::Sparse => SPARSE,
            _ => INDEX,
        }
    }
}

/// A valid file: its loader, a name and its sections (file order).
pub struct Base {
    pub name: String,
    pub loader: Loader,
    pub sections: Sections,
}

pub fn read_sections(path: &Path, format: &Format) -> Sections {
    quiver_container::read_all(path, format).unwrap().1
}

/// Writes `sections` with valid checksums (version `version`).
pub fn write_sections(path: &Path, format: &Format, version: u32, sections: &Sections) {
    let f = Format::new(format.magic, version, format.label);
    let payload: Vec<(u32, Payload<'_>)> = sections
        .iter()
        .map(|(k, b)| (*k, Payload::Borrowed(b)))
        .collect();
    quiver_container::write_file(path, &f, &payload).unwrap();
}

pub fn vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng(seed);
    (0..n * dim).map(|_| r.f()).collect()
}

pub fn vector_config(dim: usize, metric: Metric, kind: IndexKind, q: QuantKind) -> Config {
    Config {
        metric,
        kind,
        threads: 1,
        m: 4,
        quant: QuantConfig {
            kind: q,
            training_size: 256,
            ..QuantConfig::default()
        },
        originals: Originals::Memory,
        ..Config::new(dim)
    }
}

/// A VectorIndex of `n` vectors (keys 10, 13, …), some removed.
pub fn vector_file(dir: &Path, name: &str, cfg: Config, n: usize, remove: usize) -> PathBuf {
    let dim = cfg.dim;
    let mut ix = VectorIndex::new(cfg).unwrap();
    let keys: Vec<u32> = (0..n as u32).map(|i| 10 + 3 * i).collect();
    ix.add(&keys, &vectors(n, dim, 7 + n as u64), false)
        .unwrap();
    let gone: Vec<u32> = keys.iter().step_by(5).take(remove).copied().collect();
    ix.remove(&gone).unwrap();
    let p = dir.join(format!("{name}.qvr"));
    persist::save(&ix, &p).unwrap();
    p
}

/// Every VectorIndex base file: hnsw and flat × every quantization, l2 and cosine.
pub fn vector_bases(dir: &Path, dim: usize) -> Vec<Base> {
    let mut quants = vec![QuantKind::None];
    quants.extend(QuantKind::all_for_tests(dim));
    let mut out = Vec::new();
    for (qi, q) in quants.into_iter().enumerate() {
        for kind in [IndexKind::Hnsw, IndexKind::Flat] {
            let metric = if qi % 2 == 0 {
                Metric::Cosine
            } else {
                Metric::L2
            };
            let name =
                format!("v{dim}-{kind:?}-{q:?}-{metric:?}").replace([' ', '{', '}', ':', ','], "");
            let removed = if kind == IndexKind::Hnsw { 70 } else { 4 };
            let p = vector_file(
                dir,
                &name,
                vector_config(dim, metric, kind, q),
                300,
                removed,
            );
            out.push(Base {
                name,
                loader: Loader::Vector,
                sections: read_sections(&p, &INDEX),
            });
        }
    }
    out
}

pub const TOKEN_DIM: usize = 16;

pub fn multi_file(dir: &Path, name: &str, kind: IndexKind) -> PathBuf {
    let fde = FdeParams {
        dim: TOKEN_DIM,
        k_sim: 2,
        d_proj: Some(8),
        reps: 2,
        final_dim: None,
        seed: 5,
        fill_empty: true,
    };
    let mut mv = MultiVectorIndex::new(MultiConfig {
        fde,
        token_storage: TokenStorage::F16,
        index: Config {
            kind,
            threads: 1,
            m: 4,
            ..Config::new(1)
        },
    })
    .unwrap();
    let mut r = Rng(3);
    let n = 30;
    let mut data = Vec::new();
    let mut offsets = vec![0u32];
    for _ in 0..n {
        let len = 2 + r.below(5);
        for _ in 0..len * TOKEN_DIM {
            data.push(r.f());
        }
        offsets.push(offsets.last().unwrap() + len as u32);
    }
    let keys: Vec<u32> = (0..n as u32).map(|i| i * 2 + 1).collect();
    mv.add(
        &keys,
        &DocBatch {
            data: &data,
            offsets: &offsets,
        },
        false,
    )
    .unwrap();
    mv.remove(&[1, 9, 21]).unwrap();
    let p = dir.join(format!("{name}.qvr"));
    mv.save(&p).unwrap();
    p
}

pub fn multi_bases(dir: &Path) -> Vec<Base> {
    [IndexKind::Hnsw, IndexKind::Flat]
        .into_iter()
        .map(|kind| {
            let name = format!("multi-{kind:?}");
            let p = multi_file(dir, &name, kind);
            Base {
                name,
                loader: Loader::Multi,
                sections: read_sections(&p, &INDEX),
            }
        })
        .collect()
}

pub fn text_file(dir: &Path, name: &str) -> PathBuf {
    let mut ix =
        TextIndex::new(AnalyzerConfig::default(), Bm25Params { k1: 1.2, b: 0.75 }).unwrap();
    let words = [
        "red", "green", "blue", "dog", "cat", "runs", "café", "北京", "fast",
    ];
    let mut r = Rng(11);
    let keys: Vec<u32> = (0..40).map(|i| i * 5 + 2).collect();
    let texts: Vec<String> = keys
        .iter()
        .map(|_| {
            (0..3 + r.below(6))
                .map(|_| words[r.below(words.len())])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    ix.add(&keys, &refs).unwrap();
    ix.remove(&[2, 7]);
    let p = dir.join(format!("{name}.qvt"));
    ix.save(&p).unwrap();
    p
}

pub fn text_bases(dir: &Path) -> Vec<Base> {
    let p = text_file(dir, "text");
    vec![Base {
        name: "text".into(),
        loader: Loader::Text,
        sections: read_sections(&p, &TEXT),
    }]
}

pub fn sparse_file(dir: &Path, name: &str) -> PathBuf {
    let mut ix = SparseIndex::new(SparseConfig { vocab_size: 64 });
    let mut r = Rng(12);
    let keys: Vec<u32> = (0..300).map(|i| i * 3 + 1).collect();
    let (mut indptr, mut indices, mut values) = (vec![0u32], Vec::new(), Vec::new());
    for _ in &keys {
        let mut terms: Vec<u32> = (0..r.below(9)).map(|_| r.below(64) as u32).collect();
        terms.sort_unstable();
        terms.dedup();
        for t in terms {
            indices.push(t);
            values.push(r.f() + 0.6);
        }
        indptr.push(indices.len() as u32);
    }
    ix.add(&keys, SparseBatch::new(&indptr, &indices, &values), false)
        .unwrap();
    ix.remove(&[1, 4]);
    let p = dir.join(format!("{name}.qvs"));
    ix.save(&p).unwrap();
    p
}

pub fn sparse_bases(dir: &Path) -> Vec<Base> {
    let p = sparse_file(dir, "sparse");
    vec![Base {
        name: "sparse".into(),
        loader: Loader::Sparse,
        sections: read_sections(&p, &SPARSE),
    }]
}

/// What loading a file did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A coded error (corrupt file or version mismatch).
    Rejected,
    /// Loaded, and every search behaved.
    Loaded,
}

fn engine_outcome(e: &quiver_engine::Error) -> Result<Outcome, String> {
    match e.code {
        ErrorCode::CorruptFile | ErrorCode::VersionMismatch => Ok(Outcome::Rejected),
        _ => Err(format!("uncoded error {e}")),
    }
}

/// Loads `path` with `loader` (plain and, where it applies, mapped) and checks that it is
/// either a coded error or an index whose searches behave. `Err` says what misbehaved.
pub fn load_and_check(loader: Loader, path: &Path) -> Result<Outcome, String> {
    match loader {
        Loader::Vector => {
            let a = match persist::load(path, false, Some(1)) {
                Ok(ix) => check_vector(&ix).map(|()| Outcome::Loaded)?,
                Err(e) => engine_outcome(&e)?,
            };
            let b = match persist::load(path, true, Some(1)) {
                Ok(ix) => check_vector(&ix).map(|()| Outcome::Loaded)?,
                Err(e) => engine_outcome(&e)?,
            };
            if a != b {
                return Err(format!("plain load {a:?} but mapped load {b:?}"));
            }
            Ok(a)
        }
        Loader::Multi => {
            let a = match MultiVectorIndex::load_threads(path, false, None, Some(1)) {
                Ok(mv) => check_multi(&mv).map(|()| Outcome::Loaded)?,
                Err(e) => engine_outcome(&e)?,
            };
            let b = match MultiVectorIndex::load_threads(path, true, None, Some(1)) {
                Ok(mv) => check_multi(&mv).map(|()| Outcome::Loaded)?,
                Err(e) => engine_outcome(&e)?,
            };
            if a != b {
                return Err(format!("plain load {a:?} but mapped load {b:?}"));
            }
            Ok(a)
        }
        Loader::Text => match TextIndex::load(path) {
            Ok(ix) => check_text(&ix).map(|()| Outcome::Loaded),
            Err(LexicalError::Corrupt(_) | LexicalError::VersionMismatch(_)) => {
                Ok(Outcome::Rejected)
            }
            Err(e) => Err(format!("uncoded error {e}")),
        },
        Loader::Sparse => match SparseIndex::load(path) {
            Ok(ix) => check_sparse(&ix).map(|()| Outcome::Loaded),
            Err(LexicalError::Corrupt(_) | LexicalError::VersionMismatch(_)) => {
                Ok(Outcome::Rejected)
            }
            Err(e) => Err(format!("uncoded error {e}")),
        },
    }
}

fn check_hits(
    keys: &[u32],
    scores: &[f32],
    want: usize,
    has: impl Fn(u32) -> bool,
) -> Result<(), String> {
    if keys.len() != want || scores.len() != want {
        return Err(format!("{} hits, expected {want}", keys.len()));
    }
    let distinct: HashSet<u32> = keys.iter().copied().collect();
    if distinct.len() != keys.len() {
        return Err("a key is returned twice".into());
    }
    if let Some(k) = keys.iter().find(|&&k| !has(k)) {
        return Err(format!("key {k} is not stored"));
    }
    if scores.iter().any(|d| !d.is_finite()) {
        return Err(format!("non-finite score in {scores:?}"));
    }
    Ok(())
}

pub fn check_vector(ix: &VectorIndex) -> Result<(), String> {
    let dim = ix.config().dim;
    if dim > 1 << 16 {
        return Err(format!("loaded with dim {dim}"));
    }
    let n = ix.len();
    let mut r = Rng(99);
    for (i, k) in [n.max(1), 1, 5].into_iter().enumerate() {
        let q: Vec<f32> = (0..dim).map(|_| r.f() + i as f32 * 0.1).collect();
        let hits = ix
            .search(&q, k, None)
            .map_err(|e| format!("search failed: {e}"))?;
        check_hits(&hits.keys, &hits.distances, k.min(n), |key| ix.has(key))?;
    }
    Ok(())
}

pub fn check_multi(mv: &MultiVectorIndex) -> Result<(), String> {
    let dim = mv.encoder().params().dim;
    if dim > 1 << 16 {
        return Err(format!("loaded with token dim {dim}"));
    }
    let n = mv.len();
    let never = AtomicBool::new(false);
    let mut r = Rng(98);
    for k in [n.max(1), 1, 4] {
        let q: Vec<f32> = (0..3 * dim).map(|_| r.f()).collect();
        let (hits, _) = mv
            .search(&q, k, None, None, true)
            .map_err(|e| format!("search failed: {e}"))?;
        check_hits(&hits.keys, &hits.scores, k.min(n), |key| mv.has(key))?;
        let ex = mv
            .search_exhaustive(&q, k, &never)
            .map_err(|e| format!("exhaustive search failed: {e}"))?;
        check_hits(&ex.keys, &ex.scores, k.min(n), |key| mv.has(key))?;
    }
    Ok(())
}

pub fn check_text(ix: &TextIndex) -> Result<(), String> {
    let n = ix.len();
    for q in [
        "red dog",
        "café",
        "北京 fast",
        "zzz",
        "green green cat runs",
    ] {
        for k in [n.max(1), 3] {
            let hits = ix.search(q, k).map_err(|e| format!("search failed: {e}"))?;
            let ex = ix
                .search_exhaustive(q, k)
                .map_err(|e| format!("exhaustive search failed: {e}"))?;
            for h in [&hits, &ex] {
                let keys: Vec<u32> = h.iter().map(|x| x.0).collect();
                let scores: Vec<f32> = h.iter().map(|x| x.1).collect();
                if keys.len() > k.min(n) {
                    return Err(format!("{} hits for k {k}", keys.len()));
                }
                check_hits(&keys, &scores, keys.len(), |key| ix.contains(key))?;
            }
            if hits.len() != ex.len() {
                return Err(format!("{q}: {} hits, exhaustive {}", hits.len(), ex.len()));
            }
        }
    }
    Ok(())
}

/// Runs `f`, turning a panic into an `Err` with its message.
pub fn no_panic<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(format!(
            "panicked: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
    }
}

pub fn check_sparse(ix: &SparseIndex) -> Result<(), String> {
    let n = ix.len();
    let vocab = ix.config().vocab_size;
    let mut r = Rng(97);
    for k in [n.max(1), 3] {
        let mut terms: Vec<u32> = (0..6)
            .map(|_| (r.next() % u64::from(vocab.max(1))) as u32)
            .collect();
        terms.sort_unstable();
        terms.dedup();
        let vals: Vec<f32> = terms.iter().map(|_| r.f() + 0.6).collect();
        let q = SparseVec::new(&terms, &vals);
        let mut lists = Vec::new();
        for s in [
            SparseStrategy::MaxScore,
            SparseStrategy::Wand,
            SparseStrategy::Exhaustive,
        ] {
            let h = ix
                .search_with(&q, k, s)
                .map_err(|e| format!("search failed: {e}"))?;
            let keys: Vec<u32> = h.iter().map(|x| x.0).collect();
            let scores: Vec<f32> = h.iter().map(|x| x.1).collect();
            if keys.len() > k.min(n) {
                return Err(format!("{} hits for k {k}", keys.len()));
            }
            check_hits(&keys, &scores, keys.len(), |key| ix.contains(key))?;
            lists.push(h);
        }
        if lists[0] != lists[2] || lists[1] != lists[2] {
            return Err("a pruned strategy disagrees with the exhaustive one".into());
        }
    }
    Ok(())
}
