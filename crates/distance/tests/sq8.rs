//! The f32 × u8 dot kernel of every available ISA against the scalar oracle.

use proptest::prelude::*;
use quiver_distance::available_isas;
use quiver_distance::sq8::{
    dot_u8_for, dot_u8_i8_for, dot_u8_i8_scalar, dot_u8_scalar, I8_QUERY_MAX,
};

fn reference(a: &[f32], c: &[u8]) -> f64 {
    a.iter()
        .zip(c)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

proptest! {
    #[test]
    fn every_isa_matches_the_oracle(
        (a, c) in (0usize..200).prop_flat_map(|n| (
            proptest::collection::vec(-2.0f32..2.0, n),
            proptest::collection::vec(any::<u8>(), n),
        ))
    ) {
        let want = reference(&a, &c);
        let scale: f64 = a.iter().zip(&c).map(|(&x, &y)| (f64::from(x) * f64::from(y)).abs()).sum();
        prop_assert!((f64::from(dot_u8_scalar(&a, &c)) - want).abs() <= 1e-5 * (1.0 + scale));
        for isa in available_isas() {
            let f = dot_u8_for(isa).expect("available isa");
            let got = f64::from(f(&a, &c));
            prop_assert!((got - want).abs() <= 1e-5 * (1.0 + scale), "{isa:?}: {got} vs {want}");
        }
    }
}

#[test]
fn awkward_lengths_and_mismatched_slices() {
    for n in [0usize, 1, 7, 15, 16, 17, 31, 33, 63, 64, 65, 384, 784, 1000] {
        let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        let c: Vec<u8> = (0..n).map(|i| (i * 37 % 256) as u8).collect();
        let want = reference(&a, &c);
        for isa in available_isas() {
            let f = dot_u8_for(isa).expect("available isa");
            assert!((f64::from(f(&a, &c)) - want).abs() < 1e-3, "{isa:?} n={n}");
            // A shorter code slice bounds the sum: never reads past either slice.
            let half = n / 2;
            let want_half = reference(&a[..half], &c[..half]);
            assert!((f64::from(f(&a, &c[..half])) - want_half).abs() < 1e-3);
        }
    }
}

proptest! {
    #[test]
    fn integer_kernels_match_the_oracle_exactly(
        (c, a) in (0usize..300).prop_flat_map(|n| (
            proptest::collection::vec(any::<u8>(), n),
            proptest::collection::vec(-I8_QUERY_MAX..=I8_QUERY_MAX, n),
        ))
    ) {
        let want: i64 = c.iter().zip(&a).map(|(&x, &y)| i64::from(x) * i64::from(y)).sum();
        prop_assert_eq!(i64::from(dot_u8_i8_scalar(&c, &a)), want);
        for isa in available_isas() {
            let f = dot_u8_i8_for(isa).expect("available isa");
            prop_assert_eq!(i64::from(f(&c, &a)), want, "{:?}", isa);
            // Mismatched lengths: the shorter one bounds the sum.
            let half = c.len() / 2;
            prop_assert_eq!(f(&c[..half], &a), dot_u8_i8_scalar(&c[..half], &a));
        }
    }
}

#[test]
fn integer_kernels_at_extremes() {
    for n in [0usize, 1, 31, 32, 33, 63, 64, 65, 127, 128, 129, 784, 1000] {
        let c = vec![255u8; n];
        for q in [I8_QUERY_MAX, -I8_QUERY_MAX] {
            let a = vec![q; n];
            for isa in available_isas() {
                let f = dot_u8_i8_for(isa).expect("available isa");
                assert_eq!(f(&c, &a), 255 * i32::from(q) * n as i32, "{isa:?} n={n}");
            }
        }
    }
}
