//! RaBitQ: estimator unbiasedness, error bound, recall after rerank, lower-bound pruning,
//! persistence, all metrics.

use quiver_quant::rabitq::{Rabitq, RabitqParams, RabitqQuery};
use quiver_quant::{Metric, PreparedQuery, QuantError, Quantizer};

mod common;
use common::{clustered, encode_all, exact, Rng};

fn sorted(mut v: Vec<(f32, usize)>) -> Vec<(f32, usize)> {
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    v
}

fn train(data: &[f32], dim: usize, metric: Metric) -> Rabitq {
    Rabitq::train(data, dim, metric, RabitqParams { seed: 12345 }).unwrap()
}

/// Per query: (exact top-k, exact rerank of top-`cands` by estimate, estimates).
fn recall(q: &Rabitq, data: &[f32], queries: &[f32], k: usize, cands: usize) -> f64 {
    let dim = q.dim();
    let metric = q.metric();
    let codes = encode_all(q, data);
    let mut hits = 0;
    for qv in queries.chunks_exact(dim) {
        let truth = sorted(
            data.chunks_exact(dim)
                .enumerate()
                .map(|(i, v)| (exact(metric, qv, v), i))
                .collect(),
        );
        let pq = q.prepare(qv);
        let est = sorted(
            codes
                .chunks_exact(q.code_bytes())
                .enumerate()
                .map(|(i, c)| (pq.distance(c), i))
                .collect(),
        );
        let rer = sorted(
            est[..cands]
                .iter()
                .map(|&(_, i)| (exact(metric, qv, &data[i * dim..(i + 1) * dim]), i))
                .collect(),
        );
        let top: Vec<usize> = truth[..k].iter().map(|t| t.1).collect();
        hits += rer[..k].iter().filter(|r| top.contains(&r.1)).count();
    }
    hits as f64 / (queries.len() / dim * k) as f64
}

#[test]
fn send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Rabitq>();
    check::<RabitqQuery>();
}

#[test]
fn code_layout() {
    let mut rng = Rng(1);
    let dim = 100;
    let data = clustered(&mut rng, 50, dim, 3, 0.5);
    let q = train(&data, dim, Metric::L2);
    assert_eq!(q.padded_dim(), 128);
    assert_eq!(q.code_bytes(), 16 + 16);
    let v = &data[..dim];
    let mut code = vec![0u8; q.code_bytes()];
    q.encode(v, &mut code);
    let f = |o: usize| f32::from_le_bytes(code[o..o + 4].try_into().unwrap());
    let r: Vec<f32> = v.iter().zip(q.centre()).map(|(a, b)| a - b).collect();
    let rn = r.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((f(16) - rn).abs() < 1e-4 * rn);
    let inv_a = f(20);
    assert!((1.0..=(128f32).sqrt()).contains(&inv_a), "1/a = {inv_a}");
    let pc: u32 = code[..16].iter().map(|b| b.count_ones()).sum();
    assert_eq!(f(24), pc as f32);
    let rc: f32 = r.iter().zip(q.centre()).map(|(a, b)| a * b).sum();
    assert!((f(28) - rc).abs() < 1e-3 * (1.0 + rc.abs()));
    // Encoding is deterministic and depends on the seed.
    let mut again = vec![0u8; q.code_bytes()];
    q.encode(v, &mut again);
    assert_eq!(code, again);
    let other = Rabitq::train(&data, dim, Metric::L2, RabitqParams { seed: 99 }).unwrap();
    other.encode(v, &mut again);
    assert_ne!(code[..16], again[..16]);
}

/// Independent (o, q) pairs of isotropic Gaussian data: the mean error of the inner-product
/// estimate is within 3 standard errors of 0, and the bound holds for ≥ 99% of pairs.
#[test]
fn estimator_is_unbiased_and_bound_holds() {
    let mut rng = Rng(77);
    for dim in [128usize, 200] {
        let train_data: Vec<f32> = (0..2000 * dim).map(|_| rng.gauss()).collect();
        for metric in [Metric::Ip, Metric::L2] {
            let q = train(&train_data, dim, metric);
            let pairs = 20_000;
            let (mut sum, mut sum2, mut inside) = (0.0f64, 0.0f64, 0usize);
            let mut code = vec![0u8; q.code_bytes()];
            for _ in 0..pairs {
                let o: Vec<f32> = (0..dim).map(|_| rng.gauss()).collect();
                let qv: Vec<f32> = (0..dim).map(|_| rng.gauss()).collect();
                q.encode(&o, &mut code);
                let e = q.prepare(&qv).estimate(&code);
                let t = exact(metric, &qv, &o);
                let err = f64::from(e.distance) - f64::from(t);
                sum += err;
                sum2 += err * err;
                let width = e.distance - e.lower;
                if (e.distance - t).abs() <= width {
                    inside += 1;
                }
            }
            let n = pairs as f64;
            let mean = sum / n;
            let sd = (sum2 / n - mean * mean).sqrt();
            let stderr = sd / n.sqrt();
            let frac = inside as f64 / n;
            println!(
                "dim={dim} {metric:?}: mean error {mean:.5} (stderr {stderr:.5}, sd {sd:.4}), bound holds for {:.2}%",
                100.0 * frac
            );
            assert!(
                mean.abs() < 3.0 * stderr,
                "{metric:?} dim={dim}: biased, mean {mean} stderr {stderr}"
            );
            assert!(
                frac >= 0.99,
                "{metric:?} dim={dim}: bound holds for only {frac}"
            );
        }
    }
}

#[test]
fn epsilon0_1_9_covers_most_pairs() {
    // The paper's ε₀ = 1.9 as a sanity check of the bound's scale: ≈ 94% expected.
    let mut rng = Rng(78);
    let dim = 256;
    let data: Vec<f32> = (0..1000 * dim).map(|_| rng.gauss()).collect();
    let q = train(&data, dim, Metric::L2).with_epsilon0(1.9);
    assert_eq!(q.epsilon0(), 1.9);
    let codes = encode_all(&q, &data);
    let mut inside = 0;
    let mut total = 0;
    for qi in 0..20 {
        let qv = &data[qi * dim..(qi + 1) * dim];
        let pq = q.prepare(qv);
        for (i, c) in codes.chunks_exact(q.code_bytes()).enumerate().skip(20) {
            let e = pq.estimate(c);
            let t = exact(Metric::L2, qv, &data[i * dim..(i + 1) * dim]);
            total += 1;
            if (e.distance - t).abs() <= e.distance - e.lower {
                inside += 1;
            }
        }
    }
    let frac = inside as f64 / total as f64;
    println!("ε₀ = 1.9: bound holds for {:.2}%", 100.0 * frac);
    assert!((0.85..=0.99).contains(&frac), "{frac}");
}

#[test]
fn recall_after_rerank_all_metrics() {
    let mut rng = Rng(2024);
    let dim = 128;
    let mut all = clustered(&mut rng, 5050, dim, 50, 1.5);
    for metric in [Metric::L2, Metric::Ip, Metric::Cosine] {
        if metric == Metric::Cosine {
            for row in all.chunks_exact_mut(dim) {
                quiver_distance::normalize(row);
            }
        }
        let (data, queries) = all.split_at(5000 * dim);
        let q = train(data, dim, metric);
        let r = recall(&q, data, queries, 10, 100);
        println!("rabitq {metric:?}: recall@10 (100 candidates) = {r:.3}");
        assert!(r >= 0.95, "{metric:?}: recall {r}");
    }
}

/// Reranking only candidates whose lower bound beats the current k-th exact distance gives
/// the same top-10 as reranking every candidate.
#[test]
fn lower_bound_pruning_matches_full_rerank() {
    let mut rng = Rng(31);
    let dim = 128;
    let all = clustered(&mut rng, 5050, dim, 50, 1.5);
    let (data, queries) = all.split_at(5000 * dim);
    for metric in [Metric::L2, Metric::Ip] {
        let q = train(data, dim, metric);
        let codes = encode_all(&q, data);
        let (mut exact_calls, mut total) = (0usize, 0usize);
        for qv in queries.chunks_exact(dim) {
            let pq = q.prepare(qv);
            let mut est: Vec<(f32, f32, usize)> = codes
                .chunks_exact(q.code_bytes())
                .enumerate()
                .map(|(i, c)| {
                    let e = pq.estimate(c);
                    assert!(e.lower <= e.distance);
                    (e.distance, e.lower, i)
                })
                .collect();
            est.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)));
            let cands = &est[..200];
            let full = sorted(
                cands
                    .iter()
                    .map(|&(_, _, i)| (exact(metric, qv, &data[i * dim..(i + 1) * dim]), i))
                    .collect(),
            );
            let mut top: Vec<(f32, usize)> = Vec::new();
            for &(_, lower, i) in cands {
                if top.len() == 10 && lower >= top[9].0 {
                    continue;
                }
                exact_calls += 1;
                top.push((exact(metric, qv, &data[i * dim..(i + 1) * dim]), i));
                top = sorted(top);
                top.truncate(10);
            }
            total += cands.len();
            assert_eq!(
                top.iter().map(|t| t.1).collect::<Vec<_>>(),
                full[..10].iter().map(|t| t.1).collect::<Vec<_>>()
            );
        }
        println!("{metric:?}: pruning computed {exact_calls} of {total} exact distances");
        assert!(exact_calls < total, "pruning never skipped anything");
    }
}

#[test]
fn decode_approximates_and_zero_residual_is_exact() {
    let mut rng = Rng(4);
    let dim = 96;
    let data = clustered(&mut rng, 400, dim, 4, 0.5);
    let q = train(&data, dim, Metric::L2);
    let mut code = vec![0u8; q.code_bytes()];
    let mut out = vec![0.0f32; dim];
    let v = &data[..dim];
    q.encode(v, &mut code);
    q.decode(&code, &mut out);
    let err = exact(Metric::L2, v, &out);
    let spread = exact(Metric::L2, v, q.centre());
    assert!(err < 0.5 * spread, "decode error {err} vs ‖r‖² {spread}");
    // The centre itself encodes as r = 0: distance estimates are exact.
    let c = q.centre().to_vec();
    q.encode(&c, &mut code);
    let qv = &data[dim..2 * dim];
    let e = q.prepare(qv).estimate(&code);
    let t = exact(Metric::L2, qv, &c);
    assert!((e.distance - t).abs() < 1e-3 * t && e.lower == e.distance);
    q.decode(&code, &mut out);
    assert_eq!(out, c);
}

#[test]
fn odd_dims_and_zero_query() {
    let mut rng = Rng(6);
    for dim in [1usize, 3, 64, 65, 300] {
        let data = clustered(&mut rng, 300, dim, 3, 0.5);
        for metric in [Metric::L2, Metric::Ip, Metric::Cosine] {
            let q = train(&data, dim, metric);
            assert_eq!(q.code_bytes(), dim.div_ceil(64) * 8 + 16);
            let codes = encode_all(&q, &data);
            for qv in [&data[..dim], q.centre(), &vec![0.0; dim][..]] {
                let pq = q.prepare(qv);
                for c in codes.chunks_exact(q.code_bytes()) {
                    let e = pq.estimate(c);
                    assert!(e.distance.is_finite() && e.lower.is_finite(), "dim={dim}");
                    assert!(e.lower <= e.distance);
                }
            }
        }
    }
}

#[test]
fn training_errors() {
    let p = RabitqParams::default();
    assert_eq!(
        Rabitq::train(&[1.0, 2.0], 2, Metric::L2, p).err(),
        Some(QuantError::TooFewVectors { needed: 2, got: 1 })
    );
    assert_eq!(
        Rabitq::train(&[1.0, 2.0, 0.0, f32::NAN], 2, Metric::L2, p).err(),
        Some(QuantError::NonFinite { row: 1 })
    );
    assert!(matches!(
        Rabitq::train(&[1.0; 3], 2, Metric::L2, p),
        Err(QuantError::InvalidArgument(_))
    ));
}

#[test]
fn params_round_trip_and_corruption() {
    let mut rng = Rng(3);
    let dim = 70;
    let data = clustered(&mut rng, 300, dim, 4, 0.5);
    for metric in [Metric::L2, Metric::Ip, Metric::Cosine] {
        let q = Rabitq::train(
            &data,
            dim,
            metric,
            RabitqParams {
                seed: 0xFFFF_0000_1234_5678,
            },
        )
        .unwrap();
        let mut bytes = Vec::new();
        q.write_params(&mut bytes);
        assert_eq!(bytes.len(), 20 + 4 * dim);
        let back = Rabitq::read_params(&bytes).unwrap();
        assert_eq!(back, q);
        assert_eq!(back.seed(), 0xFFFF_0000_1234_5678);
        let (mut c1, mut c2) = (vec![0u8; q.code_bytes()], vec![0u8; q.code_bytes()]);
        q.encode(&data[dim..2 * dim], &mut c1);
        back.encode(&data[dim..2 * dim], &mut c2);
        assert_eq!(c1, c2);
        let qv = &data[..dim];
        assert_eq!(q.prepare(qv).estimate(&c1), back.prepare(qv).estimate(&c2));

        for cut in [0, 7, 19, bytes.len() - 1] {
            assert!(matches!(
                Rabitq::read_params(&bytes[..cut]),
                Err(QuantError::Corrupt(_))
            ));
        }
        let mut extra = bytes.clone();
        extra.extend_from_slice(&[0, 0, 0, 0]);
        assert!(matches!(
            Rabitq::read_params(&extra),
            Err(QuantError::Corrupt(_))
        ));
        for (off, val) in [(0usize, 0x55u8), (4, 71), (8, 3), (20, 0xff)] {
            let mut bad = bytes.clone();
            bad[off] = val;
            if off == 20 {
                bad[21..24].copy_from_slice(&[0xff, 0xff, 0xff]); // NaN centre
            }
            assert!(
                matches!(Rabitq::read_params(&bad), Err(QuantError::Corrupt(_))),
                "byte {off}"
            );
        }
        let mut zero_dim = bytes.clone();
        zero_dim[4..8].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(
            Rabitq::read_params(&zero_dim),
            Err(QuantError::Corrupt(_))
        ));
    }
}

#[test]
fn short_code_buffers_are_harmless() {
    let data = [0.0f32, 0.0, 1.0, 1.0];
    let q = train(&data, 2, Metric::L2);
    let e = q.prepare(&[0.5, 0.5]).estimate(&[0u8; 3]);
    assert_eq!(e.distance, f32::INFINITY);
}
