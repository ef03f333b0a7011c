//! MultiVectorIndex: MUVERA recall against exhaustive MaxSim on a seeded clustered token set,
//! upsert/remove, persistence and bad input.

use std::sync::atomic::AtomicBool;

use quiver_engine::multi_vector::{DocBatch, MultiConfig, MultiVectorIndex};
use quiver_engine::{Config, ErrorCode, IndexKind};
use quiver_hnsw::splitmix64;
use quiver_muvera::fde::FdeParams;
use quiver_muvera::store::TokenStorage;

const DIM: usize = 64;

struct Rng(u64);
impl Rng {
    fn f(&mut self) -> f32 {
        self.0 = splitmix64(self.0);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
    fn below(&mut self, n: usize) -> usize {
        self.0 = splitmix64(self.0);
        (self.0 % n as u64) as usize
    }
}

fn unit(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
}

/// `n` documents of 20–60 tokens drawn around 3 topic centres each (of 200 topics).
fn corpus(n: usize, seed: u64) -> (Vec<f32>, Vec<u32>, Vec<f32>) {
    let mut r = Rng(seed);
    let mut topics = vec![0f32; 200 * DIM];
    for t in topics.chunks_mut(DIM) {
        t.iter_mut().for_each(|x| *x = r.f());
        unit(t);
    }
    let mut data = Vec::new();
    let mut offsets = vec![0u32];
    for _ in 0..n {
        let mine = [r.below(200), r.below(200), r.below(200)];
        let len = 20 + r.below(41);
        for _ in 0..len {
            let t = &topics[mine[r.below(3)] * DIM..][..DIM];
            let mut tok: Vec<f32> = t.iter().map(|&c| c + 0.35 * r.f()).collect();
            unit(&mut tok);
            data.extend(tok);
        }
        offsets.push(offsets.last().unwrap() + len as u32);
    }
    (data, offsets, topics)
}

fn config(storage: TokenStorage, kind: IndexKind) -> MultiConfig {
    MultiConfig {
        fde: FdeParams::preset("compact-2560", DIM).unwrap(),
        token_storage: storage,
        index: Config {
            kind,
            threads: 2,
            ..Config::new(1)
        },
    }
}

/// Queries: 8–16 perturbed tokens of a random document.
fn queries(data: &[f32], offsets: &[u32], n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut r = Rng(seed);
    (0..n)
        .map(|_| {
            let d = r.below(offsets.len() - 1);
            let (a, b) = (offsets[d] as usize, offsets[d + 1] as usize);
            let m = 8 + r.below(9);
            let mut q = Vec::new();
            for _ in 0..m {
                let t = a + r.below(b - a);
                let mut tok: Vec<f32> = data[t * DIM..(t + 1) * DIM]
                    .iter()
                    .map(|&x| x + 0.2 * r.f())
                    .collect();
                unit(&mut tok);
                q.extend(tok);
            }
            q
        })
        .collect()
}

#[test]
fn muvera_recall_against_exhaustive_maxsim() {
    let n = 1500;
    let (data, offsets, _) = corpus(n, 1);
    let keys: Vec<u32> = (0..n as u32).map(|i| i * 7 + 3).collect();
    for storage in [TokenStorage::F32, TokenStorage::F16, TokenStorage::Sq8] {
        let mut mv = MultiVectorIndex::new(config(storage, IndexKind::Hnsw)).unwrap();
        mv.add(
            &keys,
            &DocBatch {
                data: &data,
                offsets: &offsets,
            },
            false,
        )
        .unwrap();
        assert_eq!(mv.len(), n);
        let never = AtomicBool::new(false);
        let mut hits = 0;
        let qs = queries(&data, &offsets, 40, 2);
        for q in &qs {
            let truth = mv.search_exhaustive(q, 10, &never).unwrap();
            let (got, t) = mv.search(q, 10, Some(100), None, true).unwrap();
            assert!(t.encode_ns > 0 && t.rerank_ns > 0);
            hits += got.keys.iter().filter(|k| truth.keys.contains(k)).count();
            // Scores are exact MaxSim, best first.
            assert!(got.scores.windows(2).all(|w| w[0] >= w[1]));
        }
        let recall = hits as f64 / (qs.len() * 10) as f64;
        assert!(recall >= 0.9, "{storage:?}: recall {recall}");
    }
}

#[test]
fn upsert_remove_and_persistence() {
    let n = 400;
    let (data, offsets, _) = corpus(n, 3);
    let keys: Vec<u32> = (0..n as u32).collect();
    let mut mv = MultiVectorIndex::new(config(TokenStorage::F16, IndexKind::Hnsw)).unwrap();
    mv.add(
        &keys,
        &DocBatch {
            data: &data,
            offsets: &offsets,
        },
        false,
    )
    .unwrap();
    let never = AtomicBool::new(false);
    // Document 5's own tokens find it first.
    let doc5 = &data[offsets[5] as usize * DIM..offsets[6] as usize * DIM];
    assert_eq!(
        mv.search(doc5, 1, None, None, true).unwrap().0.keys,
        vec![5]
    );
    // Upsert key 9 with document 5's tokens: both score the same, ties by key.
    let off = [0u32, (doc5.len() / DIM) as u32];
    assert_eq!(
        mv.add(
            &[9],
            &DocBatch {
                data: doc5,
                offsets: &off
            },
            false
        )
        .unwrap_err()
        .code,
        ErrorCode::DuplicateKey
    );
    mv.add(
        &[9],
        &DocBatch {
            data: doc5,
            offsets: &off,
        },
        true,
    )
    .unwrap();
    assert_eq!(mv.len(), n);
    assert_eq!(
        mv.search_exhaustive(doc5, 2, &never).unwrap().keys,
        vec![5, 9]
    );
    assert_eq!(mv.remove(&[5, 1_000_000]).unwrap(), 1);
    assert_eq!(
        mv.search(doc5, 1, None, None, true).unwrap().0.keys,
        vec![9]
    );
    assert!(!mv.has(5));

    let dir = std::env::temp_dir().join(format!("quiver-mv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mv.qvr");
    mv.save(&path).unwrap();
    for mmap in [false, true] {
        let back = MultiVectorIndex::load(&path, mmap, None).unwrap();
        assert_eq!(back.len(), mv.len());
        assert_eq!(back.tokens_of(9), mv.tokens_of(9));
        for q in queries(&data, &offsets, 10, 4) {
            assert_eq!(
                back.search(&q, 10, None, None, true).unwrap().0,
                mv.search(&q, 10, None, None, true).unwrap().0
            );
            assert_eq!(
                back.search_exhaustive(&q, 10, &never).unwrap(),
                mv.search_exhaustive(&q, 10, &never).unwrap()
            );
        }
    }
    // Another encoder (seed) on load: version mismatch.
    let mut other = FdeParams::preset("compact-2560", DIM).unwrap();
    other.seed ^= 1;
    assert_eq!(
        MultiVectorIndex::load(&path, false, Some(&other))
            .err()
            .unwrap()
            .code,
        ErrorCode::VersionMismatch
    );
    let same = FdeParams::preset("compact-2560", DIM).unwrap();
    assert!(MultiVectorIndex::load(&path, false, Some(&same)).is_ok());
    // A plain VectorIndex file is not a multi-vector file.
    let plain = dir.join("plain.qvr");
    quiver_engine::persist::save(mv.fde_index(), &plain).unwrap();
    assert_eq!(
        MultiVectorIndex::load(&plain, false, None)
            .err()
            .unwrap()
            .code,
        ErrorCode::CorruptFile
    );
}

#[test]
fn bad_input_is_rejected_and_nothing_is_inserted() {
    let (data, offsets, _) = corpus(10, 5);
    let keys: Vec<u32> = (0..10).collect();
    let mut mv = MultiVectorIndex::new(config(TokenStorage::F32, IndexKind::Flat)).unwrap();
    let code = |mv: &mut MultiVectorIndex, k: &[u32], d: &[f32], o: &[u32]| {
        mv.add(
            k,
            &DocBatch {
                data: d,
                offsets: o,
            },
            false,
        )
        .unwrap_err()
        .code
    };
    // empty document (offsets do not increase)
    let mut o = offsets.clone();
    o[3] = o[2];
    assert_eq!(code(&mut mv, &keys, &data, &o), ErrorCode::InvalidArgument);
    // offsets overrun the data
    let mut o = offsets.clone();
    *o.last_mut().unwrap() += 1;
    assert_eq!(code(&mut mv, &keys, &data, &o), ErrorCode::InvalidArgument);
    // ragged data
    assert_eq!(
        code(&mut mv, &keys, &data[..data.len() - 1], &offsets),
        ErrorCode::DimensionMismatch
    );
    // NaN token
    let mut bad = data.clone();
    bad[DIM * 30 + 4] = f32::NAN;
    assert_eq!(code(&mut mv, &keys, &bad, &offsets), ErrorCode::NonFinite);
    // duplicate keys, key/doc count mismatch, first offset not 0
    assert_eq!(
        code(&mut mv, &[1, 1, 2, 3, 4, 5, 6, 7, 8, 9], &data, &offsets),
        ErrorCode::DuplicateKey
    );
    assert_eq!(
        code(&mut mv, &keys[..9], &data, &offsets),
        ErrorCode::InvalidArgument
    );
    let mut o = offsets.clone();
    o[0] = 1;
    assert_eq!(code(&mut mv, &keys, &data, &o), ErrorCode::InvalidArgument);
    assert_eq!(mv.len(), 0, "nothing was inserted");
    // Queries.
    let never = AtomicBool::new(false);
    assert_eq!(
        mv.search(&[], 10, None, None, true).unwrap_err().code,
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        mv.search(&data[..DIM + 3], 10, None, None, true)
            .unwrap_err()
            .code,
        ErrorCode::DimensionMismatch
    );
    assert_eq!(
        mv.search(&data[..DIM], 0, None, None, true)
            .unwrap_err()
            .code,
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        mv.search_exhaustive(&[f32::NAN; DIM], 10, &never)
            .unwrap_err()
            .code,
        ErrorCode::NonFinite
    );
    // Encoder parameters.
    let mut c = config(TokenStorage::F32, IndexKind::Flat);
    c.fde.k_sim = 11;
    assert_eq!(
        MultiVectorIndex::new(c).err().unwrap().code,
        ErrorCode::InvalidArgument
    );
    let mut c = config(TokenStorage::F32, IndexKind::Flat);
    c.fde.d_proj = Some(DIM + 1);
    assert_eq!(
        MultiVectorIndex::new(c).err().unwrap().code,
        ErrorCode::InvalidArgument
    );
}

#[test]
fn every_key_survives_save_and_load_including_u32_max() {
    let n = 3;
    let (data, offsets, _) = corpus(n, 11);
    let keys = [u32::MAX, 0, 7];
    let mut mv = MultiVectorIndex::new(config(TokenStorage::F32, IndexKind::Flat)).unwrap();
    let docs = DocBatch {
        data: &data,
        offsets: &offsets,
    };
    mv.add(&keys, &docs, false).unwrap();
    // Replace and remove so that garbage slots exist next to the u32::MAX key.
    let first = [0u32, offsets[1]];
    let doc0 = DocBatch {
        data: &data[..offsets[1] as usize * DIM],
        offsets: &first,
    };
    mv.add(&[7], &doc0, true).unwrap();
    assert_eq!(mv.remove(&[0]).unwrap(), 1);
    let dir = std::env::temp_dir().join(format!("qv-mv-keymax-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mv.qvr");
    mv.save(&path).unwrap();
    let back = MultiVectorIndex::load(&path, false, None).unwrap();
    assert_eq!(back.len(), 2);
    assert!(back.has(u32::MAX) && back.has(7) && !back.has(0));
    let never = AtomicBool::new(false);
    let q = &data[..offsets[1] as usize * DIM];
    let all = back.search_exhaustive(q, 10, &never).unwrap();
    assert_eq!(all.keys.len(), 2);
    assert!(all.keys.contains(&u32::MAX));
    std::fs::remove_dir_all(&dir).ok();
}

/// Documents `from..to` of a corpus as a batch: their keys (`from..to`), offsets from 0 and
/// token rows.
fn documents<'a>(
    data: &'a [f32],
    offsets: &[u32],
    from: usize,
    to: usize,
) -> (Vec<u32>, Vec<u32>, &'a [f32]) {
    let base = offsets[from];
    let off = offsets[from..=to].iter().map(|o| o - base).collect();
    let keys = (from as u32..to as u32).collect();
    (
        keys,
        off,
        &data[base as usize * DIM..offsets[to] as usize * DIM],
    )
}

/// Adds and removes through [`SharedMultiIndex`] (token and FDE storage grown under the read
/// lock, FDE graph linked and repaired under the read lock) leave the same index as through a
/// single-owner [`MultiVectorIndex`]: one thread, so both graphs are deterministic.
#[test]
fn shared_writes_match_single_owner_writes() {
    use quiver_engine::multi_vector::SharedMultiIndex;
    let (data, offsets, _) = corpus(900, 5);
    for storage in [TokenStorage::F32, TokenStorage::F16, TokenStorage::Sq8] {
        let cfg = MultiConfig {
            index: Config {
                threads: 1,
                ..config(storage, IndexKind::Hnsw).index
            },
            ..config(storage, IndexKind::Hnsw)
        };
        let shared = SharedMultiIndex::new(MultiVectorIndex::new(cfg.clone()).unwrap());
        let mut single = MultiVectorIndex::new(cfg).unwrap();
        let cancel = AtomicBool::new(false);
        let (mut from, mut round) = (0usize, 0u64);
        while from < 900 {
            // Batches of 1..=120 documents, more than one add chunk at times.
            let to = (from + 1 + (splitmix64(round) % 120) as usize).min(900);
            let (keys, batch_offsets, rows) = documents(&data, &offsets, from, to);
            let batch = DocBatch {
                data: rows,
                offsets: &batch_offsets,
            };
            shared
                .add(&keys, &batch, false, &cancel, &mut |_, _| {})
                .unwrap();
            single.add(&keys, &batch, false).unwrap();
            let gone: Vec<u32> = (0..(to - from) as u32 / 2)
                .map(|i| (i * 11 + 3 * round as u32) % to as u32)
                .collect();
            assert_eq!(shared.remove(&gone).unwrap(), single.remove(&gone).unwrap());
            from = to;
            round += 1;
        }
        let shared = shared.read();
        assert_eq!(shared.len(), single.len());
        for q in &queries(&data, &offsets, 20, 9) {
            let (a, _) = shared.search(q, 10, Some(60), None, false).unwrap();
            let (b, _) = single.search(q, 10, Some(60), None, false).unwrap();
            assert_eq!(a.keys, b.keys, "{storage:?}");
            assert_eq!(a.scores, b.scores, "{storage:?}");
        }
    }
}

/// A collection smaller than `trainingSize` still gets FDE codes: the add that leaves at
/// least `FDE_TRAINING_MIN` documents trains them on what is there, through the shared wrapper
/// and the single-owner index alike, and the f32 FDEs are dropped when nothing rescores them.
#[test]
fn small_collections_train_their_fde_codes_at_the_end_of_an_add() {
    use quiver_engine::multi_vector::{SharedMultiIndex, FDE_TRAINING_MIN};
    use quiver_engine::quantized::{Originals, QuantConfig, QuantKind};
    let (data, offsets, _) = corpus(200, 17);
    let base = config(TokenStorage::F16, IndexKind::Flat);
    let cfg = MultiConfig {
        index: Config {
            quant: QuantConfig {
                kind: QuantKind::Sq8,
                rerank: false,
                training_size: 10_000,
                ..QuantConfig::default()
            },
            originals: Originals::None,
            ..base.index
        },
        ..base
    };
    let shared = SharedMultiIndex::new(MultiVectorIndex::new(cfg.clone()).unwrap());
    let mut single = MultiVectorIndex::new(cfg).unwrap();
    let cancel = AtomicBool::new(false);
    let add = |shared: &SharedMultiIndex, single: &mut MultiVectorIndex, from: usize, to: usize| {
        let (keys, off, rows) = documents(&data, &offsets, from, to);
        let batch = DocBatch {
            data: rows,
            offsets: &off,
        };
        shared
            .add(&keys, &batch, false, &cancel, &mut |_, _| {})
            .unwrap();
        single.add(&keys, &batch, false).unwrap();
    };
    let below = FDE_TRAINING_MIN - 10;
    add(&shared, &mut single, 0, below);
    for index in [&*shared.read(), &single] {
        assert!(index.fde_index().needs_training());
        assert!(index.memory_usage().fde.vectors > 0);
    }
    add(&shared, &mut single, below, 200);
    for index in [&*shared.read(), &single] {
        assert!(
            !index.fde_index().needs_training(),
            "trained at 200 documents"
        );
        let m = index.memory_usage();
        assert_eq!(m.fde.vectors, 0);
        assert!(m.fde.codes > 0);
    }
    let shared = shared.read();
    for q in &queries(&data, &offsets, 10, 21) {
        let (a, _) = shared.search(q, 10, None, None, true).unwrap();
        let (b, _) = single.search(q, 10, None, None, true).unwrap();
        assert_eq!(a.keys, b.keys);
        let truth = single.search_exhaustive(q, 10, &cancel).unwrap();
        let hits = b.keys.iter().filter(|k| truth.keys.contains(k)).count();
        assert!(hits >= 9, "{hits} of the exhaustive top 10");
    }
}

/// The default candidate count is `10·k + 50`, and more for short documents, so the rerank
/// reads about the same number of tokens whatever the document length.
#[test]
fn default_candidates_grow_for_short_documents() {
    use quiver_engine::multi_vector::RERANK_TOKEN_BUDGET;
    let build = |tokens_per_doc: usize| {
        let mut mv = MultiVectorIndex::new(config(TokenStorage::F32, IndexKind::Flat)).unwrap();
        let (data, _, _) = corpus(1, 3);
        let doc = &data[..tokens_per_doc.min(20) * DIM];
        let docs: Vec<f32> = (0..50)
            .flat_map(|_| doc.iter().copied().cycle().take(tokens_per_doc * DIM))
            .collect();
        let offsets: Vec<u32> = (0..=50).map(|i| (i * tokens_per_doc) as u32).collect();
        let keys: Vec<u32> = (0..50).collect();
        let batch = DocBatch {
            data: &docs,
            offsets: &offsets,
        };
        mv.add(&keys, &batch, false).unwrap();
        mv
    };
    let long = build(400);
    assert_eq!(long.default_candidates(10), 150);
    assert_eq!(long.default_candidates(100), 1050);
    let short = build(8);
    assert_eq!(short.default_candidates(10), RERANK_TOKEN_BUDGET / 8);
    assert_eq!(short.default_candidates(10_000), 10_000);
}
