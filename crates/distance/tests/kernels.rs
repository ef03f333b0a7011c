//! Every available ISA against the scalar oracle.

use proptest::prelude::*;
use quiver_distance::{available_isas, kernels_for, normalize, prefetch, scalar, Kernels, Metric};

const METRICS: [Metric; 3] = [Metric::L2, Metric::Ip, Metric::Cosine];

/// Lengths exercised by the deterministic sweep.
fn lengths() -> impl Iterator<Item = usize> {
    (0..=130).chain([255, 256, 257, 384, 768, 784, 1000, 1536])
}

fn all_kernels() -> Vec<Kernels> {
    let isas = available_isas();
    assert_eq!(isas.last(), Some(&quiver_distance::Isa::Scalar));
    isas.into_iter()
        .map(|isa| kernels_for(isa).expect("available ISA has kernels"))
        .collect()
}

/// Small deterministic PRNG (xorshift64*) so the sweep needs no extra deps.
struct Rng(u64);
impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        // Uniform in [-1, 1).
        ((x >> 40) as f32 / (1u64 << 23) as f32) - 1.0
    }
}

/// Places `vals` at offset `off` of a buffer padded with NaN on both sides, so
/// any kernel that folds in an element outside the slice produces NaN.
fn embed(vals: &[f32], off: usize) -> Vec<f32> {
    let mut buf = vec![f32::NAN; off + vals.len() + 17];
    buf[off..off + vals.len()].copy_from_slice(vals);
    buf
}

fn abs_dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) * f64::from(y)).abs())
        .sum()
}

fn close(got: f32, exp: f32, scale: f64) -> bool {
    (f64::from(got) - f64::from(exp)).abs() <= 1e-4 * (1.0 + scale)
}

/// Checks all kernels of `k` on `(a, b)` against the oracle; `Err` describes a mismatch.
fn check(k: &Kernels, a: &[f32], b: &[f32]) -> Result<(), String> {
    let n = a.len().min(b.len());
    let (a0, b0) = (&a[..n], &b[..n]);
    let dot_scale = abs_dot(a0, b0);
    let l2_scale = f64::from(scalar::l2sq(a0, b0));
    let (na, nb) = (abs_dot(a0, a0).sqrt(), abs_dot(b0, b0).sqrt());
    let cos_scale = if na > 0.0 && nb > 0.0 {
        dot_scale / (na * nb)
    } else {
        0.0
    };
    let ctx = |what: &str, got: f32, exp: f32| {
        format!(
            "{:?} {what}: n={n} len(a)={} len(b)={} got={got} expected={exp}",
            k.isa,
            a.len(),
            b.len()
        )
    };

    let exp = scalar::dot(a0, b0);
    let got = (k.dot)(a, b);
    if !close(got, exp, dot_scale) {
        return Err(ctx("dot", got, exp));
    }
    let exp = scalar::l2sq(a0, b0);
    let got = (k.l2sq)(a, b);
    if !close(got, exp, l2_scale) {
        return Err(ctx("l2sq", got, exp));
    }
    let exp = scalar::cosine(a0, b0);
    let got = (k.cosine)(a, b);
    if !close(got, exp, cos_scale) || !(0.0..=2.0).contains(&got) {
        return Err(ctx("cosine", got, exp));
    }
    for m in METRICS {
        let exp = match m {
            Metric::L2 => scalar::l2sq(a0, b0),
            Metric::Ip => 1.0 - scalar::dot(a0, b0),
            Metric::Cosine => scalar::cosine(a0, b0),
        };
        let scale = match m {
            Metric::L2 => l2_scale,
            Metric::Ip => dot_scale,
            Metric::Cosine => cos_scale,
        };
        let got = k.distance(m, a, b);
        if !close(got, exp, scale) {
            return Err(ctx(&format!("distance({m:?})"), got, exp));
        }
        // distance_fn assumes pre-normalised vectors for Cosine: 1 - dot.
        let exp = match m {
            Metric::L2 => scalar::l2sq(a0, b0),
            Metric::Ip | Metric::Cosine => 1.0 - scalar::dot(a0, b0),
        };
        let got = k.distance_fn(m)(a, b);
        if !close(got, exp, if m == Metric::L2 { l2_scale } else { dot_scale }) {
            return Err(ctx(&format!("distance_fn({m:?})"), got, exp));
        }
    }
    Ok(())
}

#[test]
fn every_isa_matches_oracle_on_fixed_lengths_and_offsets() {
    let ks = all_kernels();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut checked = 0usize;
    for n in lengths() {
        let a: Vec<f32> = (0..n).map(|_| rng.next_f32()).collect();
        let b: Vec<f32> = (0..n).map(|_| rng.next_f32()).collect();
        for off_a in 0..=3 {
            for off_b in [0, 1, 3] {
                let ba = embed(&a, off_a);
                let bb = embed(&b, off_b);
                let sa = &ba[off_a..off_a + n];
                let sb = &bb[off_b..off_b + n];
                for k in &ks {
                    check(k, sa, sb).unwrap_or_else(|e| panic!("{e} (offsets {off_a},{off_b})"));
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 0);
}

#[test]
fn every_isa_uses_min_length() {
    let ks = all_kernels();
    let mut rng = Rng(42);
    for (la, lb) in [
        (0, 5),
        (5, 0),
        (7, 9),
        (33, 31),
        (100, 64),
        (768, 771),
        (1536, 1),
    ] {
        let a: Vec<f32> = (0..la).map(|_| rng.next_f32()).collect();
        let b: Vec<f32> = (0..lb).map(|_| rng.next_f32()).collect();
        for k in &ks {
            check(k, &a, &b).unwrap_or_else(|e| panic!("{e}"));
            check(k, &b, &a).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn empty_inputs() {
    for k in all_kernels() {
        assert_eq!((k.dot)(&[], &[]), 0.0, "{:?}", k.isa);
        assert_eq!((k.l2sq)(&[], &[]), 0.0, "{:?}", k.isa);
        assert_eq!((k.cosine)(&[], &[]), 1.0, "{:?}", k.isa);
        assert_eq!(k.distance(Metric::Ip, &[], &[1.0]), 1.0, "{:?}", k.isa);
    }
}

#[test]
fn cosine_of_zero_vectors_is_one() {
    for k in all_kernels() {
        for n in [1, 3, 8, 16, 17, 64, 100, 768] {
            let z = vec![0.0f32; n];
            let v: Vec<f32> = (0..n).map(|i| i as f32 + 1.0).collect();
            assert_eq!((k.cosine)(&z, &z), 1.0, "{:?} n={n}", k.isa);
            assert_eq!((k.cosine)(&z, &v), 1.0, "{:?} n={n}", k.isa);
            assert_eq!((k.cosine)(&v, &z), 1.0, "{:?} n={n}", k.isa);
            assert_eq!(k.distance(Metric::Cosine, &v, &z), 1.0, "{:?} n={n}", k.isa);
        }
    }
}

#[test]
fn cosine_identical_and_opposite() {
    for k in all_kernels() {
        for n in [1, 5, 32, 33, 768, 1536] {
            let v: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin() + 0.01).collect();
            let neg: Vec<f32> = v.iter().map(|x| -x).collect();
            let scaled: Vec<f32> = v.iter().map(|x| x * 3.5).collect();
            let d_same = (k.cosine)(&v, &v);
            let d_scaled = (k.cosine)(&v, &scaled);
            let d_opp = (k.cosine)(&v, &neg);
            assert!((0.0..1e-5).contains(&d_same), "{:?} n={n} {d_same}", k.isa);
            assert!(
                (0.0..1e-5).contains(&d_scaled),
                "{:?} n={n} {d_scaled}",
                k.isa
            );
            assert!(
                (2.0 - 1e-5..=2.0).contains(&d_opp),
                "{:?} n={n} {d_opp}",
                k.isa
            );
        }
    }
}

#[test]
fn known_values() {
    let a = [1.0f32, 2.0, 3.0];
    let b = [4.0f32, -5.0, 6.0];
    for k in all_kernels() {
        assert_eq!((k.dot)(&a, &b), 12.0, "{:?}", k.isa);
        assert_eq!((k.l2sq)(&a, &b), 9.0 + 49.0 + 9.0, "{:?}", k.isa);
        assert_eq!(k.distance(Metric::Ip, &a, &b), -11.0, "{:?}", k.isa);
        let orth = (k.cosine)(&[1.0, 0.0], &[0.0, 2.0]);
        assert_eq!(orth, 1.0, "{:?}", k.isa);
    }
}

#[test]
fn normalize_unit_norm_and_returns_original() {
    let mut v = vec![3.0f32, 4.0];
    assert_eq!(normalize(&mut v), 5.0);
    assert_eq!(v, vec![0.6, 0.8]);

    let mut rng = Rng(7);
    for n in [1, 2, 17, 384, 768, 1536] {
        let orig: Vec<f32> = (0..n).map(|_| rng.next_f32() * 10.0).collect();
        let mut v = orig.clone();
        let norm = normalize(&mut v);
        let exp = (scalar::dot(&orig, &orig) as f64).sqrt();
        assert!((f64::from(norm) - exp).abs() <= 1e-5 * exp, "n={n}");
        let unit = scalar::dot(&v, &v);
        assert!((unit - 1.0).abs() < 1e-5, "n={n} |v|²={unit}");
        for (x, o) in v.iter().zip(&orig) {
            assert!((x * norm - o).abs() <= 1e-5 * (1.0 + o.abs()));
        }
    }
}

#[test]
fn normalize_zero_and_empty_unchanged() {
    let mut z = vec![0.0f32; 10];
    assert_eq!(normalize(&mut z), 0.0);
    assert!(z.iter().all(|&x| x == 0.0));
    let mut e: Vec<f32> = Vec::new();
    assert_eq!(normalize(&mut e), 0.0);
}

#[test]
fn normalize_non_finite_unchanged() {
    let mut v = vec![1.0f32, f32::NAN, 2.0];
    assert!(normalize(&mut v).is_nan());
    assert_eq!(v[0], 1.0);
    assert_eq!(v[2], 2.0);
    let mut v = vec![1.0f32, f32::INFINITY];
    assert_eq!(normalize(&mut v), f32::INFINITY);
    assert_eq!(v, vec![1.0, f32::INFINITY]);
}

#[test]
fn normalized_cosine_equals_distance_fn() {
    let mut rng = Rng(99);
    for k in all_kernels() {
        for n in [3, 100, 768] {
            let mut a: Vec<f32> = (0..n).map(|_| rng.next_f32()).collect();
            let mut b: Vec<f32> = (0..n).map(|_| rng.next_f32()).collect();
            let full = k.distance(Metric::Cosine, &a, &b);
            normalize(&mut a);
            normalize(&mut b);
            let fast = k.distance_fn(Metric::Cosine)(&a, &b);
            assert!(
                (full - fast).abs() < 1e-5,
                "{:?} n={n} {full} vs {fast}",
                k.isa
            );
        }
    }
}

#[test]
fn prefetch_never_faults() {
    let data = vec![1u8; 4096];
    prefetch(data.as_ptr(), 64);
    prefetch(data.as_ptr(), 0);
    prefetch(std::ptr::null(), 4);
    prefetch(usize::MAX as *const u8, 4);
    prefetch(std::ptr::dangling::<u8>(), 1);
}

fn vec_strategy() -> impl Strategy<Value = (Vec<f32>, Vec<f32>, usize, usize)> {
    (0usize..1600, 0usize..4, 0usize..4).prop_flat_map(|(n, off_a, off_b)| {
        (
            prop::collection::vec(-100.0f32..100.0, n),
            prop::collection::vec(-100.0f32..100.0, n),
            Just(off_a),
            Just(off_b),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn prop_every_isa_matches_oracle((a, b, off_a, off_b) in vec_strategy()) {
        let n = a.len();
        let ba = embed(&a, off_a);
        let bb = embed(&b, off_b);
        let sa = &ba[off_a..off_a + n];
        let sb = &bb[off_b..off_b + n];
        for k in all_kernels() {
            if let Err(e) = check(&k, sa, sb) {
                prop_assert!(false, "{} (offsets {},{})", e, off_a, off_b);
            }
        }
    }

    #[test]
    fn prop_mismatched_lengths(
        a in prop::collection::vec(-10.0f32..10.0, 0..300),
        b in prop::collection::vec(-10.0f32..10.0, 0..300),
    ) {
        for k in all_kernels() {
            if let Err(e) = check(&k, &a, &b) {
                prop_assert!(false, "{}", e);
            }
        }
    }

    #[test]
    fn prop_mixed_magnitudes(
        a in prop::collection::vec(prop_oneof![Just(0.0f32), -1e-3f32..1e-3, -1e3f32..1e3], 0..200),
        b in prop::collection::vec(prop_oneof![Just(0.0f32), -1e-3f32..1e-3, -1e3f32..1e3], 0..200),
    ) {
        for k in all_kernels() {
            if let Err(e) = check(&k, &a, &b) {
                prop_assert!(false, "{}", e);
            }
        }
    }
}
