//! PQ kernels of every available ISA against the scalar oracles.

use proptest::prelude::*;
use quiver_distance::pq::{
    adc_gather_avx512, adc_u4_scalar, adc_u8_scalar, fastscan_block_scalar, fs_block_bytes,
    fs_entry_cap, fs_expand_lut, fs_lut_bytes, nearest_scalar, pq_kernels, pq_kernels_for,
    PqKernels, FS_BLOCK,
};
use quiver_distance::{available_isas, Isa};

fn all() -> Vec<PqKernels> {
    available_isas()
        .into_iter()
        .filter_map(pq_kernels_for)
        .collect()
}

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
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// Packs 32 4-bit codes (`⌈m/2⌉` bytes each) into a fast-scan block.
fn pack_block(codes: &[Vec<u8>], m: usize) -> Vec<u8> {
    let mut block = vec![0u8; fs_block_bytes(m)];
    for (i, c) in codes.iter().enumerate() {
        for (p, &b) in c.iter().enumerate() {
            block[32 * p + i] = b;
        }
    }
    block
}

fn close(a: f32, b: f32, scale: f32) -> bool {
    (a - b).abs() <= 1e-4 * (1.0 + scale)
}

#[test]
fn dispatch_follows_main_kernels() {
    let k = pq_kernels();
    let main = quiver_distance::kernels().isa;
    match main {
        Isa::Scalar | Isa::Neon => assert_eq!(k.isa, Isa::Scalar),
        Isa::Avx2 => assert_eq!(k.isa, Isa::Avx2),
        Isa::Avx512 => assert!(k.isa == Isa::Avx512 || k.isa == Isa::Avx2),
    }
    assert!(pq_kernels_for(Isa::Scalar).is_some());
}

#[test]
fn fastscan_layout_sizes() {
    assert_eq!(fs_block_bytes(1), 64);
    assert_eq!(fs_block_bytes(4), 64);
    assert_eq!(fs_block_bytes(5), 128);
    assert_eq!(fs_lut_bytes(6), 256);
    assert_eq!(fs_entry_cap(16), 255);
    assert_eq!(fs_entry_cap(257), 255);
    assert_eq!(fs_entry_cap(300), 218);
    assert!(u32::from(fs_entry_cap(1000)) * 1000 <= 65_535);
}

#[test]
fn adc_sweep_matches_oracle() {
    let mut rng = Rng(7);
    for m in (0usize..=70).chain([96, 128, 192, 255]) {
        let t8: Vec<f32> = (0..256 * m).map(|_| rng.f32()).collect();
        let t4: Vec<f32> = (0..16 * m).map(|_| rng.f32()).collect();
        let c8: Vec<u8> = (0..m).map(|_| rng.byte()).collect();
        let c4: Vec<u8> = (0..m.div_ceil(2)).map(|_| rng.byte()).collect();
        // Naive references.
        let r8: f32 = (0..m).map(|j| t8[256 * j + c8[j] as usize]).sum();
        let r4: f32 = (0..m)
            .map(|j| {
                let b = c4[j / 2];
                let n = if j % 2 == 0 { b & 15 } else { b >> 4 };
                t4[16 * j + n as usize]
            })
            .sum();
        let s = m as f32;
        assert!(close(adc_u8_scalar(&t8, &c8), r8, s), "m={m}");
        assert!(close(adc_u4_scalar(&t4, &c4, m), r4, s), "m={m}");
        for k in all() {
            assert!(close((k.adc_u8)(&t8, &c8), r8, s), "{:?} m={m}", k.isa);
            assert!(close((k.adc_u4)(&t4, &c4, m), r4, s), "{:?} m={m}", k.isa);
        }
        if let Some((g8, g4)) = adc_gather_avx512() {
            assert!(close(g8(&t8, &c8), r8, s), "gather m={m}");
            assert!(close(g4(&t4, &c4, m), r4, s), "gather m={m}");
        }
    }
}

#[test]
fn adc_short_inputs_stay_in_bounds() {
    let t8 = vec![1.0f32; 256 * 3 + 10];
    let c8 = [5u8; 8];
    // Only 3 full table rows: m = 3.
    for k in all() {
        assert_eq!((k.adc_u8)(&t8, &c8), 3.0);
        assert_eq!((k.adc_u4)(&t8[..16 * 5], &c8, 40), 5.0);
        assert_eq!((k.adc_u4)(&t8, &c8[..1], 40), 2.0);
    }
    if let Some((g8, g4)) = adc_gather_avx512() {
        assert_eq!(g8(&t8, &c8), 3.0);
        assert_eq!(g4(&t8[..16 * 5], &c8, 40), 5.0);
    }
}

/// Fast-scan on integer LUTs equals the 4-bit ADC over the same integers, exactly.
#[test]
fn fastscan_sweep_matches_adc() {
    let mut rng = Rng(11);
    for m in (1usize..=40).chain([63, 64, 96, 192, 257, 300]) {
        let cap = fs_entry_cap(m);
        let lut16: Vec<u8> = (0..16 * m)
            .map(|_| (rng.next() % (u64::from(cap) + 1)) as u8)
            .collect();
        let table: Vec<f32> = lut16.iter().map(|&v| f32::from(v)).collect();
        let lut = fs_expand_lut(&lut16, m);
        assert_eq!(lut.len(), fs_lut_bytes(m));
        let mut codes: Vec<Vec<u8>> = (0..FS_BLOCK)
            .map(|_| (0..m.div_ceil(2)).map(|_| rng.byte()).collect())
            .collect();
        if m % 2 == 1 {
            // Odd m: the unused high nibble of the last byte must be zero in packed codes.
            for c in &mut codes {
                let last = c.len() - 1;
                c[last] &= 15;
            }
        }
        // A saturated row: every vector picks each sub-quantizer's maximum entry.
        codes[31] = (0..m.div_ceil(2))
            .map(|p| {
                let arg = |s: usize| {
                    if s >= m {
                        return 0u8;
                    }
                    let row = &lut16[16 * s..16 * s + 16];
                    row.iter()
                        .enumerate()
                        .max_by_key(|&(_, v)| *v)
                        .map_or(0, |(i, _)| i as u8)
                };
                arg(2 * p) | (arg(2 * p + 1) << 4)
            })
            .collect();
        let block = pack_block(&codes, m);
        let mut oracle = [0u16; FS_BLOCK];
        fastscan_block_scalar(&lut, &block, &mut oracle);
        for (i, c) in codes.iter().enumerate() {
            assert_eq!(
                f32::from(oracle[i]),
                adc_u4_scalar(&table, c, m),
                "m={m} i={i}"
            );
        }
        for k in all() {
            let mut out = [0u16; FS_BLOCK];
            (k.fastscan_block)(&lut, &block, &mut out);
            assert_eq!(out, oracle, "{:?} m={m}", k.isa);
        }
    }
}

#[test]
fn fastscan_short_inputs_stay_in_bounds() {
    let lut = vec![1u8; 128 * 2];
    let block = vec![0u8; 64 * 3];
    for k in all() {
        let mut out = [7u16; FS_BLOCK];
        (k.fastscan_block)(&lut, &block, &mut out);
        // Two groups = 8 sub-quantizers of 1 each.
        assert_eq!(out, [8u16; FS_BLOCK], "{:?}", k.isa);
        (k.fastscan_block)(&lut[..100], &block, &mut out);
        assert_eq!(out, [0u16; FS_BLOCK], "{:?}", k.isa);
    }
}

fn check_nearest(k: &PqKernels, pts: &[f32], dim: usize, cents: &[f32], kc: usize) {
    let n = pts.len() / dim;
    let mut ct = vec![0.0f32; dim * kc];
    let mut cn = vec![0.0f32; kc];
    for c in 0..kc {
        for d in 0..dim {
            ct[d * kc + c] = cents[c * dim + d];
        }
        cn[c] = cents[c * dim..(c + 1) * dim].iter().map(|v| v * v).sum();
    }
    let (mut i0, mut d0) = (vec![0u32; n], vec![0.0f32; n]);
    let (mut i1, mut d1) = (vec![0u32; n], vec![0.0f32; n]);
    nearest_scalar(pts, dim, &ct, &cn, &mut i0, &mut d0);
    (k.nearest)(pts, dim, &ct, &cn, &mut i1, &mut d1);
    for r in 0..n {
        let x = &pts[r * dim..(r + 1) * dim];
        let exact = |c: u32| -> f32 {
            x.iter()
                .zip(&cents[c as usize * dim..(c as usize + 1) * dim])
                .map(|(a, b)| (a - b) * (a - b))
                .sum()
        };
        let scale: f32 =
            x.iter().map(|v| v * v).sum::<f32>() + cn.iter().fold(0.0f32, |a, &b| a.max(b));
        assert!(close(d1[r], d0[r], scale), "{:?} row {r}", k.isa);
        if i1[r] != i0[r] {
            // Only a near-tie may differ.
            assert!(
                close(exact(i1[r]), exact(i0[r]), scale),
                "{:?} row {r}: {} vs {}",
                k.isa,
                i1[r],
                i0[r]
            );
        }
        // The oracle's pick is the true nearest up to rounding.
        let best = (0..kc as u32).map(exact).fold(f32::INFINITY, f32::min);
        assert!(close(exact(i0[r]), best, scale), "row {r}");
        assert!(close(d0[r], best, scale), "row {r}");
    }
}

#[test]
fn nearest_sweep_matches_oracle() {
    let mut rng = Rng(3);
    for &(n, dim, kc) in &[
        (1, 1, 1),
        (5, 3, 7),
        (9, 8, 16),
        (17, 8, 256),
        (33, 4, 16),
        (13, 12, 33),
        (40, 2, 256),
        (3, 130, 20),
        (11, 16, 255),
    ] {
        let pts: Vec<f32> = (0..n * dim).map(|_| rng.f32()).collect();
        let cents: Vec<f32> = (0..kc * dim).map(|_| rng.f32()).collect();
        for k in all() {
            check_nearest(&k, &pts, dim, &cents, kc);
        }
    }
}

#[test]
fn nearest_ties_pick_smallest_index() {
    // Duplicate centroids: every kernel must pick the first copy.
    let dim = 4;
    let mut cents = Vec::new();
    for c in 0..40 {
        let v = (c % 5) as f32;
        cents.extend_from_slice(&[v, v, v, v]);
    }
    let mut ct = vec![0.0f32; dim * 40];
    let mut cn = vec![0.0f32; 40];
    for c in 0..40 {
        for d in 0..dim {
            ct[d * 40 + c] = cents[c * dim + d];
        }
        cn[c] = cents[c * dim..(c + 1) * dim].iter().map(|v| v * v).sum();
    }
    let pts: Vec<f32> = (0..5).flat_map(|v| [v as f32; 4]).collect();
    for k in all() {
        let (mut idx, mut dist) = (vec![9u32; 5], vec![9.0f32; 5]);
        (k.nearest)(&pts, dim, &ct, &cn, &mut idx, &mut dist);
        assert_eq!(idx, vec![0, 1, 2, 3, 4], "{:?}", k.isa);
        assert_eq!(dist, vec![0.0; 5], "{:?}", k.isa);
        // k = 0.
        (k.nearest)(&pts, dim, &ct, &[], &mut idx, &mut dist);
        assert_eq!(idx, vec![u32::MAX; 5]);
        assert!(dist.iter().all(|d| d.is_infinite()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prop_adc(m in 0usize..100, seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let t8: Vec<f32> = (0..256 * m).map(|_| rng.f32() * 10.0).collect();
        let t4: Vec<f32> = (0..16 * m).map(|_| rng.f32() * 10.0).collect();
        let c8: Vec<u8> = (0..m).map(|_| rng.byte()).collect();
        let c4: Vec<u8> = (0..m.div_ceil(2)).map(|_| rng.byte()).collect();
        let e8 = adc_u8_scalar(&t8, &c8);
        let e4 = adc_u4_scalar(&t4, &c4, m);
        let s = 10.0 * m as f32;
        for k in all() {
            prop_assert!(close((k.adc_u8)(&t8, &c8), e8, s));
            prop_assert!(close((k.adc_u4)(&t4, &c4, m), e4, s));
        }
        if let Some((g8, g4)) = adc_gather_avx512() {
            prop_assert!(close(g8(&t8, &c8), e8, s));
            prop_assert!(close(g4(&t4, &c4, m), e4, s));
        }
    }

    #[test]
    fn prop_fastscan(m in 1usize..80, seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let lut16: Vec<u8> = (0..16 * m).map(|_| rng.byte()).collect();
        let lut = fs_expand_lut(&lut16, m);
        let block: Vec<u8> = (0..fs_block_bytes(m)).map(|_| rng.byte()).collect();
        let mut oracle = [0u16; FS_BLOCK];
        fastscan_block_scalar(&lut, &block, &mut oracle);
        for k in all() {
            let mut out = [0u16; FS_BLOCK];
            (k.fastscan_block)(&lut, &block, &mut out);
            prop_assert_eq!(out, oracle);
        }
    }

    #[test]
    fn prop_nearest(n in 1usize..20, dim in 1usize..20, kc in 1usize..70, seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let pts: Vec<f32> = (0..n * dim).map(|_| rng.f32()).collect();
        let cents: Vec<f32> = (0..kc * dim).map(|_| rng.f32()).collect();
        for k in all() {
            check_nearest(&k, &pts, dim, &cents, kc);
        }
    }
}
