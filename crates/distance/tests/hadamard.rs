//! Every Walsh–Hadamard variant this CPU can run agrees bit for bit with the scalar oracle.

use quiver_distance::available_isas;
use quiver_distance::hadamard::{fwht, fwht_for, fwht_scalar};

mod common;
use common::Rng;

#[test]
fn every_variant_is_bit_identical_to_scalar() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for n in [1usize, 2, 4, 8, 16, 64, 128, 1024, 4096] {
        let x = rng.vec(n);
        let mut want = x.clone();
        fwht_scalar(&mut want);
        for isa in available_isas() {
            let f = fwht_for(isa).expect("available level has a transform");
            let mut got = x.clone();
            f(&mut got);
            let same = got
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{isa:?} n={n}");
        }
        let mut got = x.clone();
        fwht(&mut got);
        assert!(got
            .iter()
            .zip(&want)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }
    // Lengths that are not a power of two are left unchanged by every variant.
    let odd = [1.0f32, 2.0, 3.0];
    for isa in available_isas() {
        let mut y = odd;
        (fwht_for(isa).expect("available"))(&mut y);
        assert_eq!(y, odd);
    }
}
