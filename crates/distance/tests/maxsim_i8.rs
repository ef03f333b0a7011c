//! Integer MaxSim (int8 query × sq8 document tokens): every available kernel against the
//! scalar oracle, bit for bit, and the oracle against exact f64 MaxSim within the stated bound.

use proptest::prelude::*;
use quiver_distance::maxsim::quantize_sq8;
use quiver_distance::maxsim_i8::{maxsim_i8, maxsim_i8_for, maxsim_i8_scalar, MaxSimI8, QueryI8};
use quiver_distance::{available_isas, Isa};

fn kernels() -> Vec<(Isa, MaxSimI8)> {
    let k: Vec<(Isa, MaxSimI8)> = available_isas()
        .into_iter()
        .filter_map(|isa| maxsim_i8_for(isa).map(|f| (isa, f)))
        .collect();
    assert_eq!(k.last().map(|t| t.0), Some(Isa::Scalar));
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            assert!(k.iter().any(|t| t.0 == Isa::Avx2));
        }
        if std::is_x86_feature_detected!("avx512f") {
            assert!(k.iter().any(|t| t.0 == Isa::Avx512));
        }
    }
    k
}

mod common;
use common::Rng;

/// sq8 codes and scales of `tokens` (rows of `dim`).
fn sq8(tokens: &[f32], dim: usize) -> (Vec<i8>, Vec<f32>) {
    let mut codes = vec![0i8; tokens.len()];
    let scales = tokens
        .chunks_exact(dim)
        .zip(codes.chunks_exact_mut(dim))
        .map(|(x, c)| quantize_sq8(x, c))
        .collect();
    (codes, scales)
}

fn check(q: &[f32], doc: &[f32], dim: usize) {
    let query = QueryI8::new(q, dim);
    let (codes, scales) = sq8(doc, dim);
    let want = maxsim_i8_scalar(&query, &codes, &scales);
    for (isa, f) in kernels() {
        let got = f(&query, &codes, &scales);
        assert_eq!(
            got.to_bits(),
            want.to_bits(),
            "{isa:?} dim={dim} nq={} np={}: {got} vs {want}",
            q.len() / dim,
            doc.len() / dim
        );
    }
}

#[test]
fn every_kernel_matches_the_oracle_bit_for_bit_on_awkward_shapes() {
    let mut rng = Rng(0x1234_5678);
    for dim in [
        1usize, 3, 15, 16, 17, 31, 33, 63, 64, 65, 127, 128, 130, 200, 384, 385,
    ] {
        for nq in [1usize, 2, 3, 4, 5, 7, 9] {
            for np in [1usize, 2, 3, 4, 5, 6, 9] {
                let q = rng.vec(nq * dim);
                let d = rng.vec(np * dim);
                check(&q, &d, dim);
            }
        }
    }
}

#[test]
fn edge_cases() {
    let dim = 8;
    let q = QueryI8::new(&[0.5; 16], dim);
    assert_eq!(q.len(), 2);
    let (codes, scales) = sq8(&[0.25; 24], dim);
    for (isa, f) in kernels() {
        // No document tokens: the max over an empty set.
        assert_eq!(f(&q, &[], &[]), f32::NEG_INFINITY, "{isa:?}");
        // No query tokens (or dim 0): 0.
        assert_eq!(f(&QueryI8::new(&[], dim), &codes, &scales), 0.0, "{isa:?}");
        assert_eq!(
            f(&QueryI8::new(&[1.0; 4], 0), &codes, &scales),
            0.0,
            "{isa:?}"
        );
        // Fewer scales than code rows: only rows with a scale count.
        assert_eq!(
            f(&q, &codes, &scales[..1]).to_bits(),
            maxsim_i8_scalar(&q, &codes[..dim], &scales[..1]).to_bits()
        );
        // A zero query token contributes nothing; a trailing partial row is ignored.
        let z = QueryI8::new(&[0.0; 8 + 3], dim);
        assert_eq!(z.len(), 1);
        assert_eq!(f(&z, &codes, &scales), 0.0, "{isa:?}");
    }
    // Constant vectors are exact: 2 query tokens × 8 × 0.5 × 0.25 = 2.0.
    assert!((maxsim_i8()(&q, &codes, &scales) - 2.0).abs() < 1e-6);
}

#[test]
fn close_to_exact_maxsim_within_the_rounding_bound() {
    let mut rng = Rng(99);
    let dim = 96;
    for _ in 0..50 {
        let q = rng.vec(6 * dim);
        let d = rng.vec(20 * dim);
        let query = QueryI8::new(&q, dim);
        let (codes, scales) = sq8(&d, dim);
        let got = f64::from(maxsim_i8()(&query, &codes, &scales));
        let mut exact = 0.0f64;
        let mut bound = 0.0f64;
        for qi in q.chunks_exact(dim) {
            let mut best = f64::NEG_INFINITY;
            let mut worst_err = 0.0f64;
            let qmax = qi.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            for pj in d.chunks_exact(dim) {
                let dot: f64 = qi
                    .iter()
                    .zip(pj)
                    .map(|(&a, &b)| f64::from(a) * f64::from(b))
                    .sum();
                best = best.max(dot);
                let pmax = pj.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                // Each side rounds by at most half a step (max/254) per component.
                let e: f64 = qi
                    .iter()
                    .zip(pj)
                    .map(|(&a, &b)| {
                        f64::from(a.abs()) * f64::from(pmax) / 254.0
                            + f64::from(b.abs()) * f64::from(qmax) / 254.0
                            + f64::from(qmax) * f64::from(pmax) / (254.0 * 254.0)
                    })
                    .sum();
                worst_err = worst_err.max(e);
            }
            exact += best;
            bound += worst_err;
        }
        assert!(
            (got - exact).abs() <= bound * 1.001 + 1e-5,
            "{got} vs {exact} (bound {bound})"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn proptest_kernels_agree(dim in 1usize..200, nq in 1usize..7, np in 1usize..12, seed in any::<u64>()) {
        let mut rng = Rng(seed | 1);
        let q = rng.vec(nq * dim);
        let d = rng.vec(np * dim);
        check(&q, &d, dim);
    }
}
