//! sq8: reconstruction bound, estimates against exact distances, recall after rerank, params.

use quiver_distance::{kernels, normalize, Metric};
use quiver_quant::sq8::Sq8;
use quiver_quant::{PreparedQuery, QuantError, Quantizer};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// Clustered data: `n` rows around 20 centres.
fn clustered(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng(seed);
    let centres: Vec<f32> = (0..20 * dim).map(|_| r.f32() * 3.0).collect();
    let mut out = Vec::with_capacity(n * dim);
    for i in 0..n {
        let c = &centres[(i % 20) * dim..(i % 20 + 1) * dim];
        out.extend(c.iter().map(|&x| x + r.f32()));
    }
    out
}

#[test]
fn reconstruction_error_is_within_half_a_step() {
    let dim = 37;
    let data = clustered(2000, dim, 1);
    let q = Sq8::train(&data, dim, Metric::L2).unwrap();
    let mut code = vec![0u8; q.code_bytes()];
    let mut back = vec![0f32; dim];
    for row in data.chunks(dim) {
        q.encode(row, &mut code);
        q.decode(&code, &mut back);
        for i in 0..dim {
            assert!((row[i] - back[i]).abs() <= q.scale()[i] * 0.5 + 1e-5);
        }
    }
}

#[test]
fn estimates_match_distances_to_the_reconstruction() {
    for metric in [Metric::L2, Metric::Ip, Metric::Cosine] {
        let dim = 50;
        let mut data = clustered(500, dim, 2);
        if metric == Metric::Cosine {
            data.chunks_mut(dim).for_each(|r| {
                normalize(r);
            });
        }
        let q = Sq8::train(&data, dim, metric).unwrap();
        let k = kernels();
        let mut code = vec![0u8; q.code_bytes()];
        let mut back = vec![0f32; dim];
        let query = &data[7 * dim..8 * dim];
        let pq = q.prepare(query);
        for row in data.chunks(dim).take(100) {
            q.encode(row, &mut code);
            q.decode(&code, &mut back);
            let want = (k.distance_fn(metric))(query, &back);
            let got = pq.distance(&code);
            // The query side is quantized to 7 bits (a ≈ α·ã, α = max|a| / 63): each term is off
            // by at most α/2 · c[i]; L2 counts the dot twice.
            let a: Vec<f32> = (0..dim)
                .map(|i| match metric {
                    Metric::L2 => (query[i] - q.lo()[i]) * q.scale()[i],
                    _ => query[i] * q.scale()[i],
                })
                .collect();
            let alpha = a.iter().fold(0f32, |m, x| m.max(x.abs())) / 63.0;
            let csum: f32 = code[..dim].iter().map(|&c| f32::from(c)).sum();
            let bound = if metric == Metric::L2 {
                alpha * csum
            } else {
                alpha / 2.0 * csum
            };
            assert!(
                (got - want).abs() <= bound + 1e-3 * (1.0 + want.abs()),
                "{metric:?}: {got} vs {want} (bound {bound})"
            );
        }
    }
}

#[test]
fn recall_after_rerank_is_high() {
    let dim = 64;
    let data = clustered(5000, dim, 3);
    let q = Sq8::train(&data, dim, Metric::L2).unwrap();
    let cb = q.code_bytes();
    let mut codes = vec![0u8; 5000 * cb];
    for (row, code) in data.chunks(dim).zip(codes.chunks_mut(cb)) {
        q.encode(row, code);
    }
    let l2 = kernels().l2sq;
    let mut hits = 0;
    for qi in 0..50 {
        let query: Vec<f32> = data[qi * 97 * dim..(qi * 97 + 1) * dim]
            .iter()
            .map(|x| x + 0.05)
            .collect();
        let mut exact: Vec<(f32, usize)> = data
            .chunks(dim)
            .enumerate()
            .map(|(i, r)| (l2(&query, r), i))
            .collect();
        exact.sort_by(|a, b| a.0.total_cmp(&b.0));
        let pq = q.prepare(&query);
        let mut est: Vec<(f32, usize)> = codes
            .chunks(cb)
            .enumerate()
            .map(|(i, c)| (pq.distance(c), i))
            .collect();
        est.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut rer: Vec<(f32, usize)> = est[..30]
            .iter()
            .map(|&(_, i)| (l2(&query, &data[i * dim..(i + 1) * dim]), i))
            .collect();
        rer.sort_by(|a, b| a.0.total_cmp(&b.0));
        let truth: Vec<usize> = exact[..10].iter().map(|x| x.1).collect();
        hits += rer[..10].iter().filter(|x| truth.contains(&x.1)).count();
    }
    let recall = hits as f64 / 500.0;
    assert!(recall >= 0.95, "recall {recall}");
}

#[test]
fn params_round_trip_and_reject_damage() {
    let dim = 16;
    let data = clustered(100, dim, 4);
    let q = Sq8::train(&data, dim, Metric::Ip).unwrap();
    let mut bytes = Vec::new();
    q.write_params(&mut bytes);
    let back = Sq8::read_params(&bytes).unwrap();
    let (mut a, mut b) = (vec![0u8; q.code_bytes()], vec![0u8; q.code_bytes()]);
    q.encode(&data[..dim], &mut a);
    back.encode(&data[..dim], &mut b);
    assert_eq!(a, b);
    assert!(matches!(
        Sq8::read_params(&bytes[..bytes.len() - 1]),
        Err(QuantError::Corrupt(_))
    ));
    assert!(matches!(Sq8::read_params(&[]), Err(QuantError::Corrupt(_))));
}

#[test]
fn bad_training_data() {
    assert!(matches!(
        Sq8::train(&[], 4, Metric::L2),
        Err(QuantError::TooFewVectors { needed: 1, got: 0 })
    ));
    assert!(matches!(
        Sq8::train(&[1.0, f32::NAN, 0.0, 0.0], 2, Metric::L2),
        Err(QuantError::NonFinite { row: 0 })
    ));
    assert!(matches!(
        Sq8::train(&[1.0, 2.0, 3.0], 2, Metric::L2),
        Err(QuantError::InvalidArgument(_))
    ));
}
