//! Every available MaxSim table against the scalar oracle.

use proptest::prelude::*;
use quiver_distance::maxsim::{
    f16_to_f32, f32_to_f16, maxsim_kernels, maxsim_kernels_for, quantize_sq8, scalar, MaxSimKernels,
};
use quiver_distance::{available_isas, Isa};

fn all_tables() -> Vec<MaxSimKernels> {
    let tables: Vec<MaxSimKernels> = available_isas()
        .into_iter()
        .filter_map(maxsim_kernels_for)
        .collect();
    assert_eq!(tables.last().map(|t| t.isa), Some(Isa::Scalar));
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            assert!(tables.iter().any(|t| t.isa == Isa::Avx512));
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            assert!(tables.iter().any(|t| t.isa == Isa::Avx2));
        }
    }
    tables
}

mod common;
use common::Rng;

/// `Σ_i max_j Σ_d |q_i[d]·p_j[d]|`: the magnitude that bounds rounding error.
fn scale(q: &[f32], p: &[f32], dim: usize) -> f64 {
    if dim == 0 {
        return 0.0;
    }
    q.chunks_exact(dim)
        .map(|qi| {
            p.chunks_exact(dim)
                .map(|pj| {
                    qi.iter()
                        .zip(pj)
                        .map(|(&a, &b)| (f64::from(a) * f64::from(b)).abs())
                        .sum::<f64>()
                })
                .fold(0.0, f64::max)
        })
        .sum()
}

fn close(got: f32, exp: f32, scale: f64) -> bool {
    if got == exp {
        return true; // covers ±inf
    }
    (f64::from(got) - f64::from(exp)).abs() <= 1e-4 * (1.0 + scale)
}

/// Copies `v` into a buffer followed by `pad` poison elements, so a kernel
/// that reads past the slice it was given sees them.
fn poisoned<T: Copy>(v: &[T], pad: T) -> Vec<T> {
    let mut b = v.to_vec();
    b.extend(std::iter::repeat_n(pad, 37));
    b
}

/// Checks every table on one (query, doc) pair in all three storages.
fn check_all(q: &[f32], p: &[f32], dim: usize) -> Result<(), String> {
    let nq = q.len() / dim.max(1);
    let np = p.len() / dim.max(1);
    let ph: Vec<u16> = p.iter().map(|&x| f32_to_f16(x)).collect();
    let pw: Vec<f32> = ph.iter().map(|&h| f16_to_f32(h)).collect();
    let mut codes = vec![0i8; p.len()];
    let mut scales = Vec::new();
    if dim > 0 {
        for (x, c) in p.chunks_exact(dim).zip(codes.chunks_exact_mut(dim)) {
            scales.push(quantize_sq8(x, c));
        }
    }
    let pq: Vec<f32> = codes
        .iter()
        .enumerate()
        .map(|(k, &c)| f32::from(c) * scales[k / dim.max(1)])
        .collect();

    let exp32 = scalar::maxsim_f32(q, p, dim);
    let exp16 = scalar::maxsim_f16(q, &ph, dim);
    let exp8 = scalar::maxsim_sq8(q, &codes, &scales, dim);
    // The f16 / sq8 oracles agree with f32 MaxSim of the decoded tokens.
    let s32 = scale(q, p, dim);
    if !close(exp16, scalar::maxsim_f32(q, &pw, dim), s32) {
        return Err(format!("oracle f16 mismatch nq={nq} np={np} dim={dim}"));
    }
    if !close(exp8, scalar::maxsim_f32(q, &pq, dim), s32) {
        return Err(format!("oracle sq8 mismatch nq={nq} np={np} dim={dim}"));
    }

    // Poison past the end: NaN floats / NaN halves / max codes.
    let (bq, bp) = (poisoned(q, f32::NAN), poisoned(p, f32::NAN));
    let bh = poisoned(&ph, 0x7e00u16);
    let bc = poisoned(&codes, 127i8);
    let bs = poisoned(&scales, f32::NAN);
    let (q, p) = (&bq[..q.len()], &bp[..p.len()]);
    let (ph, codes, scales) = (&bh[..ph.len()], &bc[..codes.len()], &bs[..scales.len()]);

    for t in all_tables() {
        let ctx = |what: &str, got: f32, exp: f32| {
            format!(
                "{:?} {what}: nq={nq} np={np} dim={dim} got={got} exp={exp}",
                t.isa
            )
        };
        let got = (t.maxsim_f32)(q, p, dim);
        if !close(got, exp32, s32) {
            return Err(ctx("f32", got, exp32));
        }
        let got = (t.maxsim_f16)(q, ph, dim);
        if !close(got, exp16, scale(q, &pw, dim)) {
            return Err(ctx("f16", got, exp16));
        }
        let got = (t.maxsim_sq8)(q, codes, scales, dim);
        if !close(got, exp8, scale(q, &pq, dim)) {
            return Err(ctx("sq8", got, exp8));
        }
    }
    Ok(())
}

fn check_dot_matrix(a: &[f32], b: &[f32], dim: usize) -> Result<(), String> {
    let (na, nb) = (a.len() / dim, b.len() / dim);
    let (ba, bb) = (poisoned(a, f32::NAN), poisoned(b, f32::NAN));
    for t in all_tables() {
        // Sentinels after the na·nb outputs must stay untouched.
        let mut out = vec![-7.0f32; na * nb + 5];
        (t.dot_matrix)(&ba[..a.len()], &bb[..b.len()], dim, &mut out);
        for i in 0..na {
            for j in 0..nb {
                let x = &a[i * dim..(i + 1) * dim];
                let y = &b[j * dim..(j + 1) * dim];
                let exp = quiver_distance::scalar::dot(x, y);
                let s: f64 = x
                    .iter()
                    .zip(y)
                    .map(|(&u, &v)| (f64::from(u) * f64::from(v)).abs())
                    .sum();
                let got = out[i * nb + j];
                if !close(got, exp, s) {
                    return Err(format!(
                        "{:?} dot_matrix ({i},{j}) na={na} nb={nb} dim={dim}: {got} vs {exp}",
                        t.isa
                    ));
                }
            }
        }
        if out[na * nb..].iter().any(|&x| x != -7.0) {
            return Err(format!("{:?} dot_matrix wrote past na·nb", t.isa));
        }
    }
    Ok(())
}

#[test]
fn fixed_sweep_small_dims_and_counts() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for dim in (1..=70).chain([96, 127, 128, 129, 384]) {
        for (nq, np) in [(1, 1), (1, 7), (3, 5), (4, 4), (5, 9), (7, 3), (8, 13)] {
            let q = rng.vec(nq * dim);
            let p = rng.vec(np * dim);
            check_all(&q, &p, dim).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn dim_384_odd_token_counts() {
    let mut rng = Rng(7);
    for (nq, np) in [(31, 199), (32, 200), (33, 17), (1, 201), (9, 1)] {
        let q = rng.vec(nq * 384);
        let p = rng.vec(np * 384);
        check_all(&q, &p, 384).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn dot_matrix_sweep() {
    let mut rng = Rng(99);
    for dim in (1..=40).chain([63, 64, 65, 384]) {
        for (na, nb) in [(1, 1), (2, 3), (4, 4), (5, 7), (9, 6), (13, 5)] {
            let a = rng.vec(na * dim);
            let b = rng.vec(nb * dim);
            check_dot_matrix(&a, &b, dim).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn dot_matrix_spans_several_l1_panels() {
    let mut rng = Rng(123);
    for (dim, na, nb) in [(384, 5, 41), (1000, 6, 9), (2000, 3, 7), (17, 9, 1500)] {
        let a = rng.vec(na * dim);
        let b = rng.vec(nb * dim);
        check_dot_matrix(&a, &b, dim).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn dot_matrix_respects_short_output() {
    let mut rng = Rng(5);
    let (a, b) = (rng.vec(6 * 10), rng.vec(3 * 10));
    for t in all_tables() {
        // Room for 2 full rows of 3 plus 2 spare: only 2 rows are written.
        let mut out = vec![f32::NAN; 8];
        (t.dot_matrix)(&a, &b, 10, &mut out);
        assert!(out[..6].iter().all(|x| x.is_finite()), "{:?}", t.isa);
        assert!(out[6..].iter().all(|x| x.is_nan()), "{:?}", t.isa);
        (t.dot_matrix)(&a, &[], 10, &mut out);
        (t.dot_matrix)(&a, &b, 0, &mut out);
    }
}

#[test]
fn add_assign_matches() {
    let mut rng = Rng(11);
    for n in 0..100 {
        let a = rng.vec(n + 3);
        let x = rng.vec(n);
        for t in all_tables() {
            let mut got = a.clone();
            (t.add_assign)(&mut got, &x);
            for k in 0..n {
                assert_eq!(got[k], a[k] + x[k], "{:?} n={n}", t.isa);
            }
            assert_eq!(&got[n..], &a[n..], "{:?}", t.isa);
        }
    }
}

#[test]
fn conventions_on_empty_and_partial_rows() {
    for t in all_tables() {
        assert_eq!((t.maxsim_f32)(&[], &[1.0, 2.0], 2), 0.0);
        assert_eq!((t.maxsim_f32)(&[1.0, 2.0], &[], 2), f32::NEG_INFINITY);
        assert_eq!((t.maxsim_f32)(&[1.0, 2.0], &[1.0, 2.0], 0), 0.0);
        assert_eq!((t.maxsim_f16)(&[1.0], &[], 1), f32::NEG_INFINITY);
        assert_eq!((t.maxsim_sq8)(&[1.0], &[1], &[], 1), f32::NEG_INFINITY);
        // A trailing partial row (NaN) is ignored on both sides.
        let q = [1.0, 0.0, f32::NAN];
        let p = [2.0, 0.0, 1.0, 1.0, f32::NAN];
        assert_eq!((t.maxsim_f32)(&q, &p, 2), 2.0, "{:?}", t.isa);
        // Hand-checked: q = {(1,0), (0,1)}, P = {(2,0), (1,1)} → 2 + 1.
        assert_eq!(
            (t.maxsim_f32)(&[1.0, 0.0, 0.0, 1.0], &[2.0, 0.0, 1.0, 1.0], 2),
            3.0
        );
    }
    assert!(all_tables().iter().any(|t| t.isa == maxsim_kernels().isa));
}

#[test]
fn sq8_is_close_to_f32_for_normalised_tokens() {
    let mut rng = Rng(3);
    let dim = 128;
    let norm = |v: &mut [f32]| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
    };
    let mut q = rng.vec(16 * dim);
    let mut p = rng.vec(40 * dim);
    q.chunks_exact_mut(dim).for_each(norm);
    p.chunks_exact_mut(dim).for_each(norm);
    let mut codes = vec![0i8; p.len()];
    let scales: Vec<f32> = p
        .chunks_exact(dim)
        .zip(codes.chunks_exact_mut(dim))
        .map(|(x, c)| quantize_sq8(x, c))
        .collect();
    let k = maxsim_kernels();
    let exact = (k.maxsim_f32)(&q, &p, dim);
    let approx = (k.maxsim_sq8)(&q, &codes, &scales, dim);
    let ph: Vec<u16> = p.iter().map(|&x| f32_to_f16(x)).collect();
    let half = (k.maxsim_f16)(&q, &ph, dim);
    // 16 query tokens, each max dot off by well under 0.01.
    assert!((exact - approx).abs() < 0.05, "{exact} vs {approx}");
    assert!((exact - half).abs() < 0.005, "{exact} vs {half}");
}

fn token_sets() -> impl Strategy<Value = (usize, Vec<f32>, Vec<f32>)> {
    (1usize..=70, 1usize..=9, 1usize..=11).prop_flat_map(|(dim, nq, np)| {
        (
            Just(dim),
            prop::collection::vec(-2.0f32..2.0, nq * dim),
            prop::collection::vec(-2.0f32..2.0, np * dim),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn prop_every_isa_matches_oracle((dim, q, p) in token_sets()) {
        prop_assert!(check_all(&q, &p, dim).is_ok(), "{:?}", check_all(&q, &p, dim));
    }

    #[test]
    fn prop_dot_matrix_matches_oracle((dim, a, b) in token_sets()) {
        prop_assert!(check_dot_matrix(&a, &b, dim).is_ok(), "{:?}", check_dot_matrix(&a, &b, dim));
    }

    #[test]
    fn prop_384d_odd_counts(
        nq in 1usize..=9,
        np in 1usize..=13,
        seed in any::<u64>(),
    ) {
        let mut rng = Rng(seed | 1);
        let q = rng.vec(nq * 384);
        let p = rng.vec(np * 384);
        prop_assert!(check_all(&q, &p, 384).is_ok(), "{:?}", check_all(&q, &p, 384));
    }
}
