//! VectorIndex behaviour against exact computation, persistence round trips and damaged files.

use std::sync::atomic::AtomicBool;

use quiver_engine::{persist, Config, ErrorCode, IndexKind, Metric, SharedIndex, VectorIndex};
use quiver_hnsw::splitmix64;

fn data(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    let centres: Vec<f32> = (0..16 * dim)
        .map(|_| {
            s = splitmix64(s);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
        })
        .collect();
    (0..n * dim)
        .map(|i| {
            s = splitmix64(s);
            centres[((i / dim) % 16) * dim + i % dim] + (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

fn config(dim: usize, metric: Metric, kind: IndexKind) -> Config {
    Config {
        metric,
        kind,
        threads: 2,
        ..Config::new(dim)
    }
}

fn keys(n: usize, offset: u32) -> Vec<u32> {
    (0..n as u32).map(|i| i * 3 + offset).collect()
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("quiver-engine-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn hnsw_recall_against_flat_for_every_metric() {
    let (n, dim) = (4000, 24);
    let v = data(n, dim, 1);
    let q = data(100, dim, 2);
    let k = keys(n, 7);
    // Inner product on vectors of very different norms is a maximum-inner-product problem
    // that no proximity graph solves well; test it on unit vectors like the other metrics.
    let unit = |mut x: Vec<f32>| {
        for row in x.chunks_mut(dim) {
            quiver_distance::normalize(row);
        }
        x
    };
    for metric in [Metric::L2, Metric::Ip, Metric::Cosine] {
        let (v, q) = if metric == Metric::Ip {
            (unit(v.clone()), unit(q.clone()))
        } else {
            (v.clone(), q.clone())
        };
        // One thread: a reproducible graph, so the bar below cannot flake.
        let mut hnsw = VectorIndex::new(Config {
            threads: 1,
            ..config(dim, metric, IndexKind::Hnsw)
        })
        .unwrap();
        let mut flat = VectorIndex::new(config(dim, metric, IndexKind::Flat)).unwrap();
        hnsw.add(&k, &v, false).unwrap();
        flat.add(&k, &v, false).unwrap();
        let mut hit = 0;
        for qi in q.chunks(dim) {
            let a = hnsw.search(qi, 10, Some(100)).unwrap();
            let b = flat.search(qi, 10, None).unwrap();
            assert_eq!(b.keys.len(), 10);
            hit += a.keys.iter().filter(|x| b.keys.contains(x)).count();
        }
        let recall = hit as f64 / 1000.0;
        assert!(recall >= 0.95, "{metric:?}: recall@10 {recall}");
    }
}

#[test]
fn flat_distances_follow_the_metric_conventions() {
    let dim = 5;
    let a = [1.0f32, 2.0, 0.0, -1.0, 0.5];
    let b = [0.5f32, -1.0, 2.0, 0.0, 1.0];
    let dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    let l2: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
    for (metric, want) in [
        (Metric::L2, l2),
        (Metric::Ip, 1.0 - dot),
        (Metric::Cosine, 1.0 - dot / (na * nb)),
    ] {
        let mut idx = VectorIndex::new(config(dim, metric, IndexKind::Flat)).unwrap();
        idx.add(&[9], &b, false).unwrap();
        let r = idx.search(&a, 1, None).unwrap();
        assert_eq!(r.keys, vec![9]);
        assert!(
            (r.distances[0] - want).abs() < 1e-5,
            "{metric:?}: {} vs {want}",
            r.distances[0]
        );
    }
}

#[test]
fn add_is_all_or_nothing() {
    let dim = 8;
    let mut idx = VectorIndex::new(config(dim, Metric::L2, IndexKind::Hnsw)).unwrap();
    idx.add(&[1, 2], &data(2, dim, 3), false).unwrap();
    let e = idx.add(&[3, 2], &data(2, dim, 4), false).unwrap_err();
    assert_eq!(e.code, ErrorCode::DuplicateKey);
    assert!(!idx.has(3));
    let e = idx.add(&[4, 4], &data(2, dim, 4), true).unwrap_err();
    assert_eq!(e.code, ErrorCode::DuplicateKey);
    let mut bad = data(2, dim, 5);
    bad[dim + 3] = f32::NAN;
    let e = idx.add(&[5, 6], &bad, false).unwrap_err();
    assert_eq!(e.code, ErrorCode::NonFinite);
    let e = idx
        .add(&[5, 6], &data(2, dim, 4)[..dim * 2 - 1], false)
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::DimensionMismatch);
    assert_eq!(idx.len(), 2);
    assert!(!idx.has(5) && !idx.has(6));
}

#[test]
fn upsert_replaces_and_remove_returns_min_k_live() {
    let (n, dim) = (3000, 16);
    for kind in [IndexKind::Hnsw, IndexKind::Flat] {
        let mut idx = VectorIndex::new(config(dim, Metric::L2, kind)).unwrap();
        let v = data(n, dim, 9);
        let k = keys(n, 0);
        idx.add(&k, &v, false).unwrap();
        // Upsert key k[0] to the vector of k[1]: searching that vector finds both at distance 0.
        idx.add(&[k[0]], &v[dim..2 * dim], true).unwrap();
        assert_eq!(idx.len(), n);
        assert_eq!(idx.get(k[0]).unwrap(), v[dim..2 * dim].to_vec());
        let r = idx.search(&v[dim..2 * dim], 2, Some(64)).unwrap();
        assert_eq!(r.distances, vec![0.0, 0.0]);
        // Remove 40 % (forces consolidation for HNSW) and check results are live and min(k, live).
        let gone: Vec<u32> = k.iter().copied().filter(|x| x % 5 < 2).collect();
        assert_eq!(idx.remove(&gone).unwrap(), gone.len());
        assert_eq!(idx.remove(&gone).unwrap(), 0);
        assert_eq!(idx.len(), n - gone.len());
        for qi in data(20, dim, 10).chunks(dim) {
            let r = idx.search(qi, 10, None).unwrap();
            assert_eq!(r.keys.len(), 10);
            assert!(
                r.keys.iter().all(|x| x % 5 >= 2),
                "{kind:?} returned a removed key"
            );
        }
        // Re-adding removed keys reuses freed slots and works.
        let back: Vec<u32> = gone[..100].to_vec();
        idx.add(&back, &data(100, dim, 11), false).unwrap();
        assert!(back.iter().all(|x| idx.has(*x)));
        let r = idx.search(&data(100, dim, 11)[..dim], 1, None).unwrap();
        assert_eq!(r.keys, vec![back[0]]);
        // Remove everything but 3: searches return exactly 3.
        let all: Vec<u32> = (0..n as u32 * 3).collect();
        let keep = [k[n - 1], k[n - 2], k[n - 4]]; // all live (key % 5 >= 2)
        assert!(keep.iter().all(|x| idx.has(*x)));
        let drop: Vec<u32> = all.into_iter().filter(|x| !keep.contains(x)).collect();
        idx.remove(&drop).unwrap();
        let r = idx.search(&v[..dim], 10, None).unwrap();
        let mut got = r.keys.clone();
        got.sort();
        let mut want = keep.to_vec();
        want.sort();
        assert_eq!(got, want, "{kind:?}");
    }
}

#[test]
fn empty_index_search_is_empty_and_k_is_validated() {
    let idx = VectorIndex::new(config(4, Metric::L2, IndexKind::Hnsw)).unwrap();
    assert!(idx.search(&[0.0; 4], 5, None).unwrap().keys.is_empty());
    assert_eq!(
        idx.search(&[0.0; 4], 0, None).unwrap_err().code,
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        idx.search(&[0.0; 4], 10_001, None).unwrap_err().code,
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        idx.search(&[0.0; 3], 1, None).unwrap_err().code,
        ErrorCode::DimensionMismatch
    );
    assert_eq!(
        idx.search(&[f32::INFINITY; 4], 1, None).unwrap_err().code,
        ErrorCode::NonFinite
    );
    let bad = Config {
        m: 1,
        ..Config::new(4)
    };
    assert_eq!(
        VectorIndex::new(bad).err().unwrap().code,
        ErrorCode::InvalidArgument
    );
}

#[test]
fn batch_search_equals_single_searches_and_honours_cancel() {
    let (n, dim) = (2000, 12);
    let mut idx = VectorIndex::new(config(dim, Metric::Cosine, IndexKind::Hnsw)).unwrap();
    idx.add(&keys(n, 1), &data(n, dim, 5), false).unwrap();
    let q = data(37, dim, 6);
    let never = AtomicBool::new(false);
    let b = idx.search_batch(&q, 7, Some(50), &never).unwrap();
    for (i, qi) in q.chunks(dim).enumerate() {
        let s = idx.search(qi, 7, Some(50)).unwrap();
        assert_eq!(b.counts[i], 7);
        assert_eq!(&b.keys[i * 7..i * 7 + 7], &s.keys[..]);
        assert_eq!(&b.distances[i * 7..i * 7 + 7], &s.distances[..]);
    }
    let cancelled = AtomicBool::new(true);
    assert_eq!(
        idx.search_batch(&q, 7, None, &cancelled).unwrap_err().code,
        ErrorCode::Aborted
    );
}

/// A list of searches answers each query as a search of its own would, and one bad query
/// fails alone.
#[test]
fn search_each_answers_every_query_on_its_own() {
    let (n, dim) = (2_000, 16);
    let shared =
        SharedIndex::new(VectorIndex::new(config(dim, Metric::Cosine, IndexKind::Hnsw)).unwrap());
    let never = AtomicBool::new(false);
    shared
        .add(&keys(n, 0), &data(n, dim, 5), false, &never, &mut |_, _| {})
        .unwrap();
    let mut queries = data(6, dim, 9);
    queries[3 * dim + 2] = f32::NAN;
    let each = shared.search_each(&queries, 7, Some(40)).unwrap();
    assert_eq!(each.len(), 6);
    for (i, got) in each.iter().enumerate() {
        let q = &queries[i * dim..(i + 1) * dim];
        match shared.read().search(q, 7, Some(40)) {
            Ok(want) => {
                let got = got.as_ref().unwrap();
                assert_eq!(got.keys, want.keys, "query {i}");
                assert_eq!(got.distances, want.distances, "query {i}");
                assert_eq!(got.keys.len(), 7);
            }
            Err(want) => {
                assert_eq!(i, 3);
                assert_eq!(got.as_ref().unwrap_err().code, want.code);
                assert_eq!(want.code, ErrorCode::NonFinite);
            }
        }
    }
    // Only a list that is not whole queries fails as a whole.
    assert_eq!(
        shared.search_each(&queries[1..], 7, None).unwrap_err().code,
        ErrorCode::DimensionMismatch
    );
    assert!(shared.search_each(&[], 7, None).unwrap().is_empty());
    // Bad k fails each query (nothing to search with).
    let bad = shared.search_each(&queries[..dim], 0, None).unwrap();
    assert_eq!(
        bad[0].as_ref().unwrap_err().code,
        ErrorCode::InvalidArgument
    );
}

#[test]
fn shared_add_reports_progress_and_stops_on_cancel() {
    let (n, dim) = (10_000, 8);
    let shared =
        SharedIndex::new(VectorIndex::new(config(dim, Metric::L2, IndexKind::Hnsw)).unwrap());
    let cancel = AtomicBool::new(false);
    let mut seen = Vec::new();
    let out = shared
        .add(
            &keys(n, 0),
            &data(n, dim, 1),
            false,
            &cancel,
            &mut |d, t| {
                seen.push((d, t));
                if d >= 4000 {
                    cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            },
        )
        .unwrap();
    assert!(out.aborted);
    assert_eq!(out.inserted, seen.last().unwrap().0);
    assert!(out.inserted < n && out.inserted >= 4000);
    assert_eq!(shared.read().len(), out.inserted);
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 == n));
    // Still searchable.
    assert_eq!(
        shared.read().search(&[0.0; 8], 5, None).unwrap().keys.len(),
        5
    );
}

fn built(kind: IndexKind) -> VectorIndex {
    let (n, dim) = (1500, 20);
    let mut idx = VectorIndex::new(config(dim, Metric::L2, kind)).unwrap();
    idx.add(&keys(n, 2), &data(n, dim, 8), false).unwrap();
    idx.remove(&[2, 5, 8]).unwrap();
    idx
}

#[test]
fn persistence_round_trip_is_bit_exact_and_mmap_serves_searches() {
    for kind in [IndexKind::Hnsw, IndexKind::Flat] {
        let idx = built(kind);
        let path = tmp(&format!("round-{}.qvr", kind.name()));
        persist::save(&idx, &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for mmap in [false, true] {
            let back = persist::load(&path, mmap, None).unwrap();
            assert_eq!(back.len(), idx.len());
            assert_eq!(back.config(), idx.config());
            assert_eq!(back.is_read_only(), mmap);
            for key in [11u32, 14, 4000] {
                assert_eq!(back.get(key), idx.get(key));
            }
            for qi in data(10, 20, 3).chunks(20) {
                assert_eq!(
                    back.search(qi, 10, None).unwrap(),
                    idx.search(qi, 10, None).unwrap()
                );
            }
            // Saving the loaded index reproduces the file byte for byte.
            let again = tmp(&format!("again-{}-{mmap}.qvr", kind.name()));
            persist::save(&back, &again).unwrap();
            assert_eq!(std::fs::read(&again).unwrap(), bytes);
        }
        let mut ro = persist::load(&path, true, None).unwrap();
        assert_eq!(
            ro.add(&[1], &[0.0; 20], false).unwrap_err().code,
            ErrorCode::ReadOnly
        );
        assert_eq!(ro.remove(&[11]).unwrap_err().code, ErrorCode::ReadOnly);
    }
}

#[test]
fn damaged_files_are_rejected_with_codes() {
    let idx = built(IndexKind::Hnsw);
    let path = tmp("good.qvr");
    persist::save(&idx, &path).unwrap();
    let good = std::fs::read(&path).unwrap();
    let check = |name: &str, bytes: &[u8], code: ErrorCode| {
        let p = tmp(name);
        std::fs::write(&p, bytes).unwrap();
        for mmap in [false, true] {
            let e = persist::load(&p, mmap, None)
                .err()
                .unwrap_or_else(|| panic!("{name} loaded"));
            assert_eq!(e.code, code, "{name} (mmap {mmap}): {}", e.message);
        }
    };
    check("empty.qvr", &[], ErrorCode::CorruptFile);
    check(
        "other.qvr",
        b"{\"not\": \"an index\"}",
        ErrorCode::CorruptFile,
    );
    for cut in [10, 31, 100, good.len() / 2, good.len() - 1] {
        check("cut.qvr", &good[..cut], ErrorCode::CorruptFile);
    }
    for at in [20, 40, 70, good.len() / 3, good.len() / 2, good.len() - 5] {
        let mut b = good.clone();
        b[at] ^= 0x10;
        check("flip.qvr", &b, ErrorCode::CorruptFile);
    }
    // Every single-bit flip anywhere in the file is caught (header, table, data and padding).
    for at in (0..good.len()).step_by(good.len() / 400) {
        let mut b = good.clone();
        b[at] ^= 0x01;
        let p = tmp("everywhere.qvr");
        std::fs::write(&p, &b).unwrap();
        let e = persist::load(&p, false, None)
            .err()
            .unwrap_or_else(|| panic!("flip at {at} loaded"));
        assert!(
            matches!(e.code, ErrorCode::CorruptFile | ErrorCode::VersionMismatch),
            "flip at {at}: {e}"
        );
    }
    let mut newer = good.clone();
    newer[8..12].copy_from_slice(&(persist::FORMAT_VERSION + 1).to_le_bytes());
    check("newer.qvr", &newer, ErrorCode::VersionMismatch);
    let mut huge = good.clone();
    // A section length claiming far more than the file: rejected before any allocation.
    huge[32 + 16..32 + 24].copy_from_slice(&u64::MAX.to_le_bytes());
    check("huge.qvr", &huge, ErrorCode::CorruptFile);
    let e = persist::load(&tmp("missing.qvr"), false, None)
        .err()
        .unwrap();
    assert_eq!(e.code, ErrorCode::Io);
}

#[test]
fn failed_save_leaves_the_previous_file() {
    let idx = built(IndexKind::Flat);
    // Its own directory: other tests save concurrently into the shared one, and their
    // in-flight temp files would be counted as this test's leftovers.
    let own = tmp("failed-save");
    std::fs::create_dir_all(&own).unwrap();
    let path = own.join("keep.qvr");
    persist::save(&idx, &path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let e = persist::save(&idx, &tmp("no-such-dir").join("x.qvr")).unwrap_err();
    assert_eq!(e.code, ErrorCode::Io);
    // A directory where the file should go: the rename fails, the temp file is cleaned up.
    let dir_target = own.join("a-directory");
    std::fs::create_dir_all(&dir_target).unwrap();
    assert_eq!(
        persist::save(&idx, &dir_target).unwrap_err().code,
        ErrorCode::Io
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let leftovers = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".tmp-")
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn vectors_whose_distances_would_overflow_are_rejected() {
    let dim = 4;
    for kind in [IndexKind::Hnsw, IndexKind::Flat] {
        for metric in [Metric::L2, Metric::Ip, Metric::Cosine] {
            let mut idx = VectorIndex::new(config(dim, metric, kind)).unwrap();
            let mut v = data(3, dim, 9);
            v[dim + 1] = 1e20;
            let e = idx.add(&[1, 2, 3], &v, false).unwrap_err();
            assert_eq!(e.code, ErrorCode::NonFinite, "{kind:?} {metric:?}");
            assert!(e.message.contains("too large"), "{}", e.message);
            assert!(idx.is_empty(), "nothing of the batch is inserted");
            // The largest accepted magnitudes still give finite distances and min(k, n) hits.
            let big = (quiver_engine::vector_index::MAX_NORM_SQ / dim as f64).sqrt() as f32 * 0.999;
            let rows = [
                big, big, big, big, -big, -big, -big, -big, 1.0, 0.0, 0.0, 0.0,
            ];
            idx.add(&[1, 2, 3], &rows, false).unwrap();
            let hits = idx.search(&[big, -big, big, -big], 3, None).unwrap();
            assert_eq!(hits.keys.len(), 3, "{kind:?} {metric:?}");
            assert!(
                hits.distances.iter().all(|d| d.is_finite()),
                "{:?}",
                hits.distances
            );
            let q = [0.0, 1e20, 0.0, 0.0];
            assert_eq!(
                idx.search(&q, 3, None).unwrap_err().code,
                ErrorCode::NonFinite
            );
        }
    }
}

/// The same writes through [`SharedIndex`] (growth copied under the read lock, graph repair
/// and training under the read lock, results put in place under the write lock) and through
/// a single-owner [`VectorIndex`] leave identical indexes: one thread, so both graphs are
/// deterministic.
#[test]
fn shared_writes_match_single_owner_writes() {
    use quiver_engine::quantized::{QuantConfig, QuantKind};
    let dim = 12;
    for quant in [QuantKind::None, QuantKind::Sq8] {
        let cfg = Config {
            threads: 1,
            quant: QuantConfig {
                kind: quant,
                training_size: 700,
                ..QuantConfig::default()
            },
            ..config(dim, Metric::L2, IndexKind::Hnsw)
        };
        let shared = SharedIndex::new(VectorIndex::new(cfg).unwrap());
        let mut single = VectorIndex::new(cfg).unwrap();
        let cancel = AtomicBool::new(false);
        let mut next = 0u32;
        for round in 0..30u64 {
            // Batches of 1..=160 rows: the arenas grow many times, with reuse of freed slots.
            let n = 1 + (splitmix64(round) % 160) as usize;
            let ks: Vec<u32> = (next..next + n as u32).collect();
            next += n as u32;
            let vs = data(n, dim, round + 100);
            shared
                .add(&ks, &vs, false, &cancel, &mut |_, _| {})
                .unwrap();
            single.add(&ks, &vs, false).unwrap();
            // Upserts and removes: tombstones pass the consolidation threshold repeatedly.
            let up: Vec<u32> = (0..n as u32 / 3)
                .map(|i| (i * 7 + round as u32) % next)
                .collect();
            let mut up = up;
            up.sort_unstable();
            up.dedup();
            let live: Vec<u32> = up
                .iter()
                .copied()
                .filter(|k| single.slot(*k).is_some())
                .collect();
            let uv = data(live.len(), dim, round + 900);
            shared
                .add(&live, &uv, true, &cancel, &mut |_, _| {})
                .unwrap();
            single.add(&live, &uv, true).unwrap();
            let gone: Vec<u32> = (0..n as u32 / 2)
                .map(|i| (i * 13 + 5 * round as u32) % next)
                .collect();
            assert_eq!(shared.remove(&gone).unwrap(), single.remove(&gone).unwrap());
        }
        let shared = shared.read();
        assert_eq!(shared.len(), single.len());
        assert_eq!(
            shared.quantizer().is_some(),
            quant != QuantKind::None,
            "{quant:?} trained automatically"
        );
        let queries = data(40, dim, 77);
        for q in queries.chunks(dim) {
            let a = shared.search(q, 10, Some(64)).unwrap();
            let b = single.search(q, 10, Some(64)).unwrap();
            assert_eq!(a, b, "{quant:?}");
        }
    }
}

/// Searches run while another thread adds, upserts and removes; every result is sorted and
/// names only keys that were added.
#[test]
fn searches_run_during_growth_and_consolidation() {
    let dim = 8;
    let shared = std::sync::Arc::new(SharedIndex::new(
        VectorIndex::new(config(dim, Metric::L2, IndexKind::Hnsw)).unwrap(),
    ));
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let reader = {
        let (shared, stop) = (shared.clone(), stop.clone());
        std::thread::spawn(move || {
            let queries = data(16, dim, 5);
            let mut searches = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for q in queries.chunks(dim) {
                    let hits = shared.read().search(q, 10, None).unwrap();
                    assert!(hits.distances.windows(2).all(|w| w[0] <= w[1]));
                    assert!(hits.keys.iter().all(|&k| k < 20_000));
                    searches += 1;
                }
            }
            searches
        })
    };
    let cancel = AtomicBool::new(false);
    for round in 0..40u32 {
        let ks: Vec<u32> = (round * 500..(round + 1) * 500).collect();
        shared
            .add(
                &ks,
                &data(500, dim, u64::from(round)),
                false,
                &cancel,
                &mut |_, _| {},
            )
            .unwrap();
        let gone: Vec<u32> = (round * 500..round * 500 + 200).collect();
        assert_eq!(shared.remove(&gone).unwrap(), 200);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    assert_eq!(shared.read().len(), 40 * 300);
}
