//! Quantized VectorIndex: recall after rerank against brute force for every quantizer, the
//! training flow, originals kept / mapped / dropped, persistence and bad options.

use quiver_engine::quantized::{Originals, QuantConfig, QuantKind};
use quiver_engine::{persist, Config, ErrorCode, IndexKind, Metric, VectorIndex};
use quiver_hnsw::splitmix64;

/// Clustered data of low intrinsic dimension (like real embeddings): each row is a cluster
/// centre plus a random combination of 8 directions, plus a little noise.
fn data(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut s = 0x1234_5678_u64; // the clusters are shared between base and query sets
    let uniform = |s: &mut u64| {
        *s = splitmix64(*s);
        (*s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let centres: Vec<f32> = (0..32 * dim).map(|_| uniform(&mut s) * 4.0).collect();
    let dirs: Vec<f32> = (0..8 * dim).map(|_| uniform(&mut s)).collect();
    let mut s = seed;
    let mut out = Vec::with_capacity(n * dim);
    for i in 0..n {
        let c = &centres[(i % 32) * dim..(i % 32 + 1) * dim];
        let z: Vec<f32> = (0..8).map(|_| uniform(&mut s) * 3.0).collect();
        for d in 0..dim {
            let mut x = c[d] + 0.05 * uniform(&mut s);
            for (j, zj) in z.iter().enumerate() {
                x += zj * dirs[j * dim + d];
            }
            out.push(x);
        }
    }
    out
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("quiver-quant-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Every quantizer this build offers, with parameters suited to `dim`.
pub fn kinds(dim: usize) -> Vec<QuantKind> {
    QuantKind::all_for_tests(dim)
}

fn config(
    dim: usize,
    metric: Metric,
    kind: IndexKind,
    q: QuantKind,
    originals: Originals,
) -> Config {
    Config {
        metric,
        kind,
        threads: 2,
        quant: QuantConfig {
            kind: q,
            rerank: originals != Originals::None,
            // One-bit codes rank coarsely: they need more candidates before the rerank.
            oversample: if matches!(q, QuantKind::Binary { .. } | QuantKind::Rabitq) {
                20.0
            } else {
                4.0
            },
            training_size: 1000,
        },
        originals,
        ..Config::new(dim)
    }
}

fn recall(idx: &VectorIndex, base: &[f32], queries: &[f32], dim: usize, metric: Metric) -> f64 {
    let mut exact = VectorIndex::new(Config {
        metric,
        kind: IndexKind::Flat,
        threads: 2,
        ..Config::new(dim)
    })
    .unwrap();
    let n = base.len() / dim;
    let keys: Vec<u32> = (0..n as u32).collect();
    exact.add(&keys, base, false).unwrap();
    let mut hits = 0;
    let nq = queries.len() / dim;
    for q in queries.chunks(dim) {
        let truth = exact.search(q, 10, None).unwrap().keys;
        let got = idx.search(q, 10, Some(128)).unwrap().keys;
        hits += got.iter().filter(|k| truth.contains(k)).count();
    }
    hits as f64 / (nq * 10) as f64
}

#[test]
fn every_quantizer_reaches_recall_after_rerank() {
    let dim = 128;
    let base = data(4000, dim, 1);
    let queries = data(50, dim, 9);
    let keys: Vec<u32> = (0..4000).collect();
    for q in kinds(dim) {
        for kind in [IndexKind::Hnsw, IndexKind::Flat] {
            for metric in [Metric::L2, Metric::Cosine] {
                let mut idx =
                    VectorIndex::new(config(dim, metric, kind, q, Originals::Memory)).unwrap();
                idx.add(&keys, &base, false).unwrap();
                assert!(idx.quantizer().is_some(), "{q:?} trained automatically");
                let r = recall(&idx, &base, &queries, dim, metric);
                assert!(r >= 0.95, "{q:?} {kind:?} {metric:?}: recall {r}");
                let m = idx.memory_usage();
                assert!(m.codes > 0 && m.vectors > 0);
            }
        }
    }
}

#[test]
fn adds_before_training_are_buffered_and_searchable() {
    let dim = 32;
    let base = data(1500, dim, 2);
    let keys: Vec<u32> = (0..1500).collect();
    for q in kinds(dim) {
        let mut idx = VectorIndex::new(config(
            dim,
            Metric::L2,
            IndexKind::Hnsw,
            q,
            Originals::Memory,
        ))
        .unwrap();
        idx.add(&keys[..500], &base[..500 * dim], false).unwrap();
        assert!(idx.needs_training());
        // Untrained: served from the f32 rows.
        let hits = idx.search(&base[..dim], 1, None).unwrap();
        assert_eq!(hits.keys, vec![0]);
        idx.add(&keys[500..], &base[500 * dim..], false).unwrap();
        assert!(
            !idx.needs_training(),
            "{q:?}: trains once trainingSize vectors are in"
        );
        assert_eq!(idx.len(), 1500);
        for i in [0usize, 499, 500, 1499] {
            let hits = idx.search(&base[i * dim..(i + 1) * dim], 1, None).unwrap();
            assert_eq!(hits.keys, vec![i as u32], "{q:?}");
        }
    }
}

#[test]
fn explicit_training_and_its_errors() {
    let dim = 32;
    let base = data(600, dim, 3);
    let keys: Vec<u32> = (0..600).collect();
    let mut idx = VectorIndex::new(config(
        dim,
        Metric::L2,
        IndexKind::Flat,
        QuantKind::Sq8,
        Originals::Memory,
    ))
    .unwrap();
    idx.add(&keys, &base, false).unwrap();
    assert!(idx.needs_training());
    assert_eq!(
        idx.train(Some(&base[..dim + 1])).unwrap_err().code,
        ErrorCode::DimensionMismatch
    );
    let mut nan = base[..4 * dim].to_vec();
    nan[5] = f32::NAN;
    assert_eq!(
        idx.train(Some(&nan)).unwrap_err().code,
        ErrorCode::NonFinite
    );
    idx.train(Some(&base[..300 * dim])).unwrap();
    assert!(!idx.needs_training());
    assert_eq!(
        idx.search(&base[7 * dim..8 * dim], 1, None).unwrap().keys,
        vec![7]
    );
    // No quantization: nothing to train.
    let mut plain = VectorIndex::new(Config::new(dim)).unwrap();
    assert_eq!(
        plain.train(None).unwrap_err().code,
        ErrorCode::InvalidArgument
    );
}

#[test]
fn bad_options_are_rejected() {
    let dim = 32;
    let mut c = config(
        dim,
        Metric::L2,
        IndexKind::Hnsw,
        QuantKind::Sq8,
        Originals::None,
    );
    c.quant.rerank = true;
    assert_eq!(
        VectorIndex::new(c).err().unwrap().code,
        ErrorCode::InvalidArgument
    );
    let c = config(
        dim,
        Metric::L2,
        IndexKind::Hnsw,
        QuantKind::None,
        Originals::None,
    );
    assert_eq!(
        VectorIndex::new(c).err().unwrap().code,
        ErrorCode::InvalidArgument
    );
    let mut c = config(
        dim,
        Metric::L2,
        IndexKind::Hnsw,
        QuantKind::Sq8,
        Originals::Memory,
    );
    c.quant.oversample = 0.5;
    assert_eq!(
        VectorIndex::new(c).err().unwrap().code,
        ErrorCode::InvalidArgument
    );
    let mut c = config(
        dim,
        Metric::L2,
        IndexKind::Hnsw,
        QuantKind::Sq8,
        Originals::Memory,
    );
    c.quant.training_size = 0;
    assert_eq!(
        VectorIndex::new(c).err().unwrap().code,
        ErrorCode::InvalidArgument
    );
}

#[test]
fn originals_none_drops_f32_and_still_searches() {
    let dim = 64;
    let base = data(3000, dim, 4);
    let queries = data(30, dim, 10);
    let keys: Vec<u32> = (0..3000).collect();
    for q in kinds(dim) {
        let mut idx =
            VectorIndex::new(config(dim, Metric::L2, IndexKind::Hnsw, q, Originals::None)).unwrap();
        idx.add(&keys[..2000], &base[..2000 * dim], false).unwrap();
        assert_eq!(
            idx.memory_usage().vectors,
            0,
            "{q:?}: f32 dropped after training"
        );
        // Later adds are linked through the codes' reconstructions.
        idx.add(&keys[2000..], &base[2000 * dim..], false).unwrap();
        assert_eq!(idx.memory_usage().vectors, 0);
        assert_eq!(idx.get(5).map(|v| v.len()), Some(dim));
        let r = recall(&idx, &base, &queries, dim, Metric::L2);
        // Without rerank the estimates rank the results: fine-grained codes keep most of the
        // recall, one-bit codes only a little (that is what rerank is for).
        let floor = match q {
            QuantKind::Sq8 => 0.8,
            QuantKind::Pq { .. } => 0.3,
            _ => 0.05,
        };
        assert!(r >= floor, "{q:?}: recall without rerank {r}");
        // Retraining needs the originals.
        assert_eq!(
            idx.train(None).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        // Save/load keeps codes only.
        let path = tmp(&format!("none-{}.qvr", q.name()));
        persist::save(&idx, &path).unwrap();
        let back = persist::load(&path, false, None).unwrap();
        assert_eq!(back.memory_usage().vectors, 0);
        for qv in queries.chunks(dim).take(5) {
            assert_eq!(
                back.search(qv, 10, None).unwrap(),
                idx.search(qv, 10, None).unwrap()
            );
        }
    }
}

#[test]
fn persistence_round_trips_and_mmap_originals() {
    let dim = 48;
    let base = data(2500, dim, 5);
    let queries = data(20, dim, 11);
    let keys: Vec<u32> = (0..2500).map(|i| i * 2 + 1).collect();
    for q in kinds(dim) {
        for originals in [Originals::Memory, Originals::Mmap] {
            let mut idx =
                VectorIndex::new(config(dim, Metric::Cosine, IndexKind::Hnsw, q, originals))
                    .unwrap();
            idx.add(&keys, &base, false).unwrap();
            idx.remove(&[1, 3, 5]).unwrap();
            let path = tmp(&format!("rt-{}-{}.qvr", q.name(), originals.name()));
            persist::save(&idx, &path).unwrap();
            for mmap in [false, true] {
                let back = persist::load(&path, mmap, None).unwrap();
                assert_eq!(back.config(), idx.config());
                assert_eq!(back.len(), idx.len());
                let mapped = mmap || originals == Originals::Mmap;
                assert_eq!(
                    back.memory_usage().vectors == 0,
                    mapped,
                    "{q:?} {originals:?} mmap {mmap}"
                );
                assert!(back.memory_usage().codes > 0);
                for qv in queries.chunks(dim) {
                    assert_eq!(
                        back.search(qv, 10, None).unwrap(),
                        idx.search(qv, 10, None).unwrap()
                    );
                }
            }
            // originals: mmap stays writable: the first write copies the vectors in.
            if originals == Originals::Mmap {
                let mut back = persist::load(&path, false, None).unwrap();
                back.add(&[10_000], &base[..dim], false).unwrap();
                assert!(back.memory_usage().vectors > 0);
                assert_eq!(back.search(&base[..dim], 2, None).unwrap().keys.len(), 2);
            }
        }
    }
}

#[test]
fn flat_quantized_remove_and_upsert_keep_codes_in_step() {
    let dim = 32;
    let base = data(1200, dim, 6);
    let keys: Vec<u32> = (0..1200).collect();
    for q in kinds(dim) {
        let mut idx = VectorIndex::new(config(
            dim,
            Metric::L2,
            IndexKind::Flat,
            q,
            Originals::Memory,
        ))
        .unwrap();
        idx.add(&keys, &base, false).unwrap();
        idx.remove(&(0..600).collect::<Vec<u32>>()).unwrap();
        for i in [600usize, 900, 1199] {
            assert_eq!(
                idx.search(&base[i * dim..(i + 1) * dim], 1, None)
                    .unwrap()
                    .keys,
                vec![i as u32],
                "{q:?}"
            );
        }
        // Upsert key 700 with the vector of 0: found by that vector now.
        idx.add(&[700], &base[..dim], true).unwrap();
        assert_eq!(idx.search(&base[..dim], 1, None).unwrap().keys, vec![700]);
    }
}

/// An sq8 index builds its graph by walking the codes and choosing neighbours with exact
/// distances. That graph must route as well as one built over the f32 rows: both graphs are
/// searched exactly (f32), at an ef where a worse graph shows.
#[test]
fn a_graph_built_over_sq8_codes_routes_like_one_built_over_f32() {
    use quiver_engine::quantized::{AnyQuantizer, CodeBuildScorer, CodeScorer};
    use quiver_engine::scorer::F32Scorer;
    use quiver_hnsw::{Graph, Params, QueryScorer, Scorer};

    // Uniform noise: no cluster structure, so the graph's quality shows in its recall.
    let (dim, n) = (32, 3000);
    let uniform = |count: usize, mut s: u64| -> Vec<f32> {
        (0..count * dim)
            .map(|_| {
                s = splitmix64(s);
                (s >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect()
    };
    let base = uniform(n, 3);
    let queries = uniform(100, 11);
    let metric = Metric::L2;
    let exact = F32Scorer::new(&base, dim, metric);
    let quant = AnyQuantizer::train(
        &QuantConfig {
            kind: QuantKind::Sq8,
            ..QuantConfig::default()
        },
        &base,
        dim,
        metric,
        1,
    )
    .unwrap();
    let mut codes = vec![0u8; n * quant.code_bytes()];
    for (row, code) in base.chunks(dim).zip(codes.chunks_mut(quant.code_bytes())) {
        quant.encode(row, code);
    }
    let build = CodeBuildScorer::new(
        CodeScorer::new(&quant, &codes, dim),
        F32Scorer::new(&base, dim, metric),
    );

    // refine replaces the code estimates with the exact distances `between` gives.
    let q = build.node_query(5);
    let mut found: Vec<(f32, u32)> = (0..50).map(|i| (q.distance(i), i)).collect();
    assert!(
        found
            .iter()
            .any(|&(d, i)| (d - exact.between(5, i)).abs() > 1e-3),
        "codes estimate"
    );
    assert!(build.refine(5, &mut found));
    for &(d, i) in &found {
        assert_eq!(d, exact.between(5, i));
    }

    let graph = |codes: bool| {
        let g = Graph::new(Params::new(8, 64, 7), n);
        for id in 0..n as u32 {
            if codes {
                g.insert(&build, id);
            } else {
                g.insert(&exact, id);
            }
        }
        g
    };
    let recall = |g: &Graph| {
        let mut hits = 0;
        for qv in queries.chunks(dim) {
            let mut truth: Vec<(f32, u32)> = (0..n as u32)
                .map(|i| (exact.distance_to(qv, i), i))
                .collect();
            truth.sort_by(|a, b| a.0.total_cmp(&b.0));
            let want: Vec<u32> = truth[..10].iter().map(|t| t.1).collect();
            let (got, _) = g.search(&exact, qv, 10, 16);
            hits += got.iter().filter(|(_, i)| want.contains(i)).count();
        }
        hits as f64 / (queries.len() / dim * 10) as f64
    };
    let (over_f32, over_codes) = (recall(&graph(false)), recall(&graph(true)));
    assert!(over_f32 >= 0.6, "the f32 graph at ef 16: {over_f32}");
    assert!(
        over_codes >= over_f32 - 0.02,
        "graph over codes {over_codes}, over f32 {over_f32}"
    );
}
