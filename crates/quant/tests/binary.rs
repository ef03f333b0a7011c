//! Binary quantizer: code definition, estimate quality, recall after rerank, persistence.

use quiver_quant::binary::{Binary, BinaryParams, BinaryQuery};
use quiver_quant::{Metric, PreparedQuery, QuantError, Quantizer};

mod common;
use common::{clustered, encode_all, exact, Rng};

fn normalise_rows(data: &mut [f32], dim: usize) {
    for row in data.chunks_exact_mut(dim) {
        quiver_distance::normalize(row);
    }
}

/// Mean recall@k when the top `cands` by estimate are reranked exactly.
fn recall_after_rerank<Q: Quantizer>(
    quant: &Q,
    data: &[f32],
    queries: &[f32],
    k: usize,
    cands: usize,
) -> f64 {
    let dim = quant.dim();
    let metric = quant.metric();
    let codes = encode_all(quant, data);
    let cb = quant.code_bytes();
    let mut hits = 0usize;
    let nq = queries.len() / dim;
    for q in queries.chunks_exact(dim) {
        let mut truth: Vec<(f32, usize)> = data
            .chunks_exact(dim)
            .enumerate()
            .map(|(i, v)| (exact(metric, q, v), i))
            .collect();
        truth.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let pq = quant.prepare(q);
        let mut est: Vec<(f32, usize)> = codes
            .chunks_exact(cb)
            .enumerate()
            .map(|(i, c)| (pq.distance(c), i))
            .collect();
        est.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut rer: Vec<(f32, usize)> = est[..cands]
            .iter()
            .map(|&(_, i)| (exact(metric, q, &data[i * dim..(i + 1) * dim]), i))
            .collect();
        rer.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let top: Vec<usize> = truth[..k].iter().map(|t| t.1).collect();
        hits += rer[..k].iter().filter(|r| top.contains(&r.1)).count();
    }
    hits as f64 / (nq * k) as f64
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}

fn train(data: &[f32], dim: usize, metric: Metric, qb: u8) -> Binary {
    Binary::train(data, dim, metric, BinaryParams { query_bits: qb }).unwrap()
}

// ---------------------------------------------------------------------------

#[test]
fn send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Binary>();
    check::<BinaryQuery>();
}

#[test]
fn codes_match_definition() {
    // Centre = [1, 2, -1].
    let data = [0.0f32, 0.0, 0.0, 2.0, 4.0, -2.0];
    let b = train(&data, 3, Metric::L2, 4);
    assert_eq!(b.centre(), &[1.0, 2.0, -1.0]);
    assert_eq!(b.code_bytes(), 8 + 8);
    let mut code = vec![0u8; b.code_bytes()];
    // r = [2, -1, 0]: bits 1, 0, 0 (0 is not > 0).
    b.encode(&[3.0, 1.0, -1.0], &mut code);
    assert_eq!(&code[..8], &[1, 0, 0, 0, 0, 0, 0, 0]);
    let rn = f32::from_le_bytes(code[8..12].try_into().unwrap());
    let a = f32::from_le_bytes(code[12..16].try_into().unwrap());
    assert!((rn - 5f32.sqrt()).abs() < 1e-6);
    assert!((a - 3.0 / (3f32.sqrt() * 5f32.sqrt())).abs() < 1e-6);

    // 130 dims: bits land in word i/64, bit i%64; padding bits stay zero.
    let dim = 130;
    let mut data = vec![0.0f32; 2 * dim];
    data[dim..].iter_mut().for_each(|x| *x = 2.0); // centre = 1 everywhere
    let b = train(&data, dim, Metric::Ip, 1);
    assert_eq!(b.code_bytes(), 3 * 8 + 16);
    let v: Vec<f32> = (0..dim)
        .map(|i| if i % 3 == 0 { 5.0 } else { 0.0 })
        .collect();
    let mut code = vec![0u8; b.code_bytes()];
    b.encode(&v, &mut code);
    for i in 0..192 {
        let bit = (code[i / 8] >> (i % 8)) & 1;
        assert_eq!(bit == 1, i < dim && i % 3 == 0, "bit {i}");
    }
    // Ip factor ⟨r, c⟩ = Σ r_i (c = 1) = 44·4 − 86·1.
    let rc = f32::from_le_bytes(code[32..36].try_into().unwrap());
    assert!((rc - (44.0 * 4.0 - 86.0)).abs() < 1e-3);
    assert_eq!(&code[36..40], &[0, 0, 0, 0]);
}

#[test]
fn identical_query_estimates_near_zero_and_decode_is_close() {
    let mut rng = Rng(7);
    let dim = 96;
    let data = clustered(&mut rng, 500, dim, 5, 0.5);
    for qb in [1, 4] {
        let b = train(&data, dim, Metric::L2, qb);
        let v = &data[..dim];
        let mut code = vec![0u8; b.code_bytes()];
        b.encode(v, &mut code);
        let d = b.prepare(v).distance(&code);
        let typical = exact(Metric::L2, v, &data[dim..2 * dim]);
        assert!(d < 0.3 * typical, "qb={qb} self-distance {d} vs {typical}");
        let mut out = vec![0.0f32; dim];
        b.decode(&code, &mut out);
        let err = exact(Metric::L2, v, &out);
        let spread = exact(Metric::L2, v, b.centre());
        assert!(err < spread, "decode error {err} vs ‖r‖² {spread}");
    }
}

#[test]
fn estimates_correlate_with_true_distance() {
    let mut rng = Rng(11);
    let dim = 128;
    let data = clustered(&mut rng, 2000, dim, 20, 0.6);
    for (metric, qb, min_r) in [
        (Metric::L2, 4u8, 0.9),
        (Metric::L2, 1, 0.85),
        (Metric::Ip, 4, 0.85),
        (Metric::Ip, 1, 0.8),
    ] {
        let b = train(&data, dim, metric, qb);
        let codes = encode_all(&b, &data);
        let (mut est, mut tru) = (vec![], vec![]);
        for qi in 0..20 {
            let q = &data[qi * 97 * dim..(qi * 97 + 1) * dim];
            let pq = b.prepare(q);
            for (i, c) in codes.chunks_exact(b.code_bytes()).enumerate().step_by(7) {
                est.push(f64::from(pq.distance(c)));
                tru.push(f64::from(exact(metric, q, &data[i * dim..(i + 1) * dim])));
            }
        }
        let r = pearson(&est, &tru);
        println!("{metric:?} qb={qb}: correlation {r:.3}");
        assert!(r > min_r, "{metric:?} qb={qb}: correlation {r}");
    }
}

/// 5,000 × 128 Gaussian clusters, 50 queries, top-100 by estimate reranked exactly.
/// Moderate overlap (σ = 1): both query modes reach ≥ 0.95. Heavy overlap (σ = 1.5, close
/// to isotropic noise): 4-bit queries still do (≈ 0.99), 1-bit queries drop to ≈ 0.91.
#[test]
fn recall_after_rerank_l2() {
    for (sigma, qb, min) in [
        (1.0f32, 4u8, 0.95),
        (1.0, 1, 0.95),
        (1.5, 4, 0.95),
        (1.5, 1, 0.85),
    ] {
        let mut rng = Rng(2024);
        let dim = 128;
        let all = clustered(&mut rng, 5050, dim, 50, sigma);
        let (data, queries) = all.split_at(5000 * dim);
        let b = train(data, dim, Metric::L2, qb);
        let r = recall_after_rerank(&b, data, queries, 10, 100);
        println!("binary L2 σ={sigma} query_bits={qb}: recall@10 (100 candidates) = {r:.3}");
        assert!(r >= min, "σ={sigma} query_bits={qb}: recall {r}");
    }
}

#[test]
fn recall_after_rerank_cosine_and_ip() {
    let mut rng = Rng(99);
    let dim = 128;
    let mut all = clustered(&mut rng, 5050, dim, 50, 1.0);
    for metric in [Metric::Cosine, Metric::Ip] {
        if metric == Metric::Cosine {
            normalise_rows(&mut all, dim);
        }
        let (data, queries) = all.split_at(5000 * dim);
        for qb in [4u8, 1] {
            let b = train(data, dim, metric, qb);
            let r = recall_after_rerank(&b, data, queries, 10, 100);
            println!("binary {metric:?} query_bits={qb}: recall@10 = {r:.3}");
            assert!(r >= 0.95, "{metric:?} query_bits={qb}: recall {r}");
        }
    }
}

#[test]
fn dim_not_multiple_of_64_and_small_dims_work() {
    let mut rng = Rng(5);
    for dim in [1usize, 10, 63, 65, 100] {
        let all = clustered(&mut rng, 1010, dim, 10, 0.5);
        let (data, queries) = all.split_at(1000 * dim);
        for qb in [1u8, 4] {
            let b = train(data, dim, Metric::L2, qb);
            assert_eq!(b.code_bytes(), dim.div_ceil(64) * 8 + 8);
            let codes = encode_all(&b, data);
            for q in queries.chunks_exact(dim) {
                let pq = b.prepare(q);
                for c in codes.chunks_exact(b.code_bytes()) {
                    let d = pq.distance(c);
                    assert!(d.is_finite() && d >= 0.0, "dim={dim} qb={qb} d={d}");
                }
            }
            if dim >= 65 {
                // Enough bits that reranking 10% of the set finds most neighbours.
                let r = recall_after_rerank(&b, data, queries, 10, 100);
                assert!(r >= 0.8, "dim={dim} qb={qb} recall {r}");
            }
        }
    }
}

#[test]
fn training_errors() {
    let p = BinaryParams::default();
    assert_eq!(
        Binary::train(&[1.0, 2.0], 2, Metric::L2, p),
        Err(QuantError::TooFewVectors { needed: 2, got: 1 })
    );
    assert_eq!(
        Binary::train(&[1.0, 2.0, f32::NAN, 0.0, 1.0, 1.0], 2, Metric::L2, p),
        Err(QuantError::NonFinite { row: 1 })
    );
    assert_eq!(
        Binary::train(&[1.0, 2.0, f32::INFINITY, 0.0], 2, Metric::L2, p),
        Err(QuantError::NonFinite { row: 1 })
    );
    assert!(matches!(
        Binary::train(&[1.0; 4], 2, Metric::L2, BinaryParams { query_bits: 2 }),
        Err(QuantError::InvalidArgument(_))
    ));
    assert!(matches!(
        Binary::train(&[1.0; 5], 2, Metric::L2, p),
        Err(QuantError::InvalidArgument(_))
    ));
}

#[test]
fn params_round_trip_and_corruption() {
    let mut rng = Rng(3);
    let dim = 70;
    let data = clustered(&mut rng, 300, dim, 4, 0.5);
    for metric in [Metric::L2, Metric::Ip, Metric::Cosine] {
        for qb in [1u8, 4] {
            let b = train(&data, dim, metric, qb);
            let mut bytes = Vec::new();
            b.write_params(&mut bytes);
            assert_eq!(bytes.len(), 16 + 4 * dim);
            let back = Binary::read_params(&bytes).unwrap();
            assert_eq!(back, b);
            let (mut c1, mut c2) = (vec![0u8; b.code_bytes()], vec![0u8; b.code_bytes()]);
            b.encode(&data[dim..2 * dim], &mut c1);
            back.encode(&data[dim..2 * dim], &mut c2);
            assert_eq!(c1, c2);
            let q = &data[..dim];
            assert_eq!(b.prepare(q).distance(&c1), back.prepare(q).distance(&c2));

            for cut in [0, 3, 15, bytes.len() - 1] {
                assert!(matches!(
                    Binary::read_params(&bytes[..cut]),
                    Err(QuantError::Corrupt(_))
                ));
            }
            let mut extra = bytes.clone();
            extra.push(0);
            assert!(matches!(
                Binary::read_params(&extra),
                Err(QuantError::Corrupt(_))
            ));
            for (off, val) in [(0usize, 9u8), (4, 71), (8, 7), (12, 3), (16, 0xff)] {
                let mut bad = bytes.clone();
                bad[off] = val;
                if off == 16 {
                    bad[17..20].copy_from_slice(&[0xff, 0xff, 0xff]); // NaN centre
                }
                assert!(
                    matches!(Binary::read_params(&bad), Err(QuantError::Corrupt(_))),
                    "byte {off}"
                );
            }
        }
    }
}

#[test]
fn with_query_bits_switches_modes_without_reencoding() {
    let mut rng = Rng(8);
    let dim = 64;
    let data = clustered(&mut rng, 200, dim, 4, 0.5);
    let b = train(&data, dim, Metric::L2, 4);
    let b1 = b.with_query_bits(1).unwrap();
    assert_eq!(b1.query_bits(), 1);
    assert_eq!(b1.code_bytes(), b.code_bytes());
    assert!(b.with_query_bits(8).is_err());
}

#[test]
fn short_code_buffers_are_harmless() {
    let data = [0.0f32, 0.0, 1.0, 1.0];
    let b = train(&data, 2, Metric::L2, 4);
    assert_eq!(b.prepare(&[0.5, 0.5]).distance(&[0u8; 3]), f32::INFINITY);
    let mut out = [9.0f32; 2];
    b.decode(&[0u8; 3], &mut out);
    assert_eq!(out, [0.0, 0.0]);
}
