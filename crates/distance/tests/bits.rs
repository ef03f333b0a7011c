//! Every available bit-kernel ISA against the scalar oracle.

use proptest::prelude::*;
use quiver_distance::bits::{
    and_popcount_planes, and_popcount_planes_scalar, available_bit_isas, bit_kernels,
    bit_kernels_for, hamming, hamming_scalar, popcount, popcount_scalar, BitKernels, MAX_PLANES,
};
use quiver_distance::Isa;

fn all_bit_kernels() -> Vec<BitKernels> {
    let isas = available_bit_isas();
    assert_eq!(isas.last(), Some(&Isa::Scalar));
    isas.into_iter()
        .map(|isa| bit_kernels_for(isa).expect("available ISA has bit kernels"))
        .collect()
}

fn check(k: &BitKernels, a: &[u64], b: &[u64], planes: &[u64], bits: usize) {
    assert_eq!(
        (k.hamming)(a, b),
        hamming_scalar(a, b),
        "{:?} hamming",
        k.isa
    );
    assert_eq!((k.popcount)(a), popcount_scalar(a), "{:?} popcount", k.isa);
    assert_eq!(
        (k.and_popcount_planes)(planes, bits, a),
        and_popcount_planes_scalar(planes, bits, a),
        "{:?} and_popcount_planes bits={bits} w={}",
        k.isa,
        a.len()
    );
}

#[test]
fn hand_values() {
    let a = [0b1011u64, u64::MAX];
    let b = [0b0110u64, 0];
    assert_eq!(hamming_scalar(&a, &b), 3 + 64);
    assert_eq!(popcount_scalar(&a), 3 + 64);
    // Levels k_i (2-bit) for 4 dims: 3, 1, 2, 0 → planes: bit0 = 0b0011, bit1 = 0b0101.
    let planes = [0b0011u64, 0b0101u64];
    // Code selects dims 0, 2, 3 → 3 + 2 + 0 = 5.
    assert_eq!(and_popcount_planes_scalar(&planes, 2, &[0b1101]), 5);
    for k in all_bit_kernels() {
        check(&k, &a, &b, &[1, 2, 3, 4], 2);
        assert_eq!((k.and_popcount_planes)(&planes, 2, &[0b1101]), 5);
    }
}

#[test]
fn empty_and_short_inputs_never_read_out_of_bounds() {
    for k in all_bit_kernels() {
        assert_eq!((k.hamming)(&[], &[]), 0);
        assert_eq!((k.hamming)(&[u64::MAX; 3], &[0; 9]), 192);
        assert_eq!((k.popcount)(&[]), 0);
        assert_eq!((k.and_popcount_planes)(&[], 4, &[]), 0);
        // Fewer planes supplied than `bits`: only whole planes are read.
        let code = [u64::MAX; 9];
        let planes = [u64::MAX; 9 * 2 + 3];
        assert_eq!((k.and_popcount_planes)(&planes, 4, &code), 3 * 9 * 64);
        // `bits` beyond MAX_PLANES is clamped.
        let planes = vec![1u64; 40];
        assert_eq!(
            (k.and_popcount_planes)(&planes, 40, &[1]),
            (1u64 << MAX_PLANES) - 1
        );
    }
}

#[test]
fn dispatched_matches_scalar() {
    let a: Vec<u64> = (0..13u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect();
    let b: Vec<u64> = (0..13u64)
        .map(|i| i.wrapping_mul(0xD1B5_4A32_D192_ED03))
        .collect();
    let planes: Vec<u64> = (0..52u64)
        .map(|i| i.wrapping_mul(0x94D0_49BB_1331_11EB))
        .collect();
    assert_eq!(hamming(&a, &b), hamming_scalar(&a, &b));
    assert_eq!(popcount(&a), popcount_scalar(&a));
    assert_eq!(
        and_popcount_planes(&planes, 4, &a),
        and_popcount_planes_scalar(&planes, 4, &a)
    );
    assert!(available_bit_isas().contains(&bit_kernels().isa));
}

/// Word count 1..40, matching operands, 0..=8 planes (plus a few extra words of planes).
fn operands() -> impl Strategy<Value = (Vec<u64>, Vec<u64>, Vec<u64>, usize)> {
    (1usize..40, 0usize..=8).prop_flat_map(|(w, bits)| {
        (
            proptest::collection::vec(any::<u64>(), w),
            proptest::collection::vec(any::<u64>(), w),
            proptest::collection::vec(any::<u64>(), w * bits..w * bits + 3),
            Just(bits),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_isa_matches_scalar((a, b, planes, bits) in operands()) {
        for k in all_bit_kernels() {
            check(&k, &a, &b, &planes, bits);
            // Unequal lengths: the shorter one wins.
            prop_assert_eq!((k.hamming)(&a, &b[..b.len() / 2]), hamming_scalar(&a[..b.len() / 2], &b[..b.len() / 2]));
            // Offset sub-slices (unaligned starts relative to 64-byte lines).
            if a.len() > 1 {
                check(&k, &a[1..], &b[1..], &planes[planes.len().min(1)..], bits);
            }
        }
    }

    #[test]
    fn planes_equal_sum_of_selected_levels(levels in proptest::collection::vec(0u8..16, 1..700), seed in any::<u64>()) {
        let d = levels.len();
        let w = d.div_ceil(64);
        let mut planes = vec![0u64; 4 * w];
        let mut code = vec![0u64; w];
        let mut s = seed;
        let mut expected = 0u64;
        for (i, &l) in levels.iter().enumerate() {
            for j in 0..4 {
                if l >> j & 1 == 1 {
                    planes[j * w + i / 64] |= 1 << (i % 64);
                }
            }
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            if s >> 63 == 1 {
                code[i / 64] |= 1 << (i % 64);
                expected += u64::from(l);
            }
        }
        for k in all_bit_kernels() {
            prop_assert_eq!((k.and_popcount_planes)(&planes, 4, &code), expected);
        }
    }
}
