//! FDE encoder: semantics, determinism, bounds, recall, persistence, errors.

use quiver_distance::maxsim::scalar::maxsim_f32;
use quiver_muvera::fde::{gray, gray_decode, MAX_FDE_DIM};
use quiver_muvera::{
    FdeEncoder, FdeParams, MuveraError, TokenSetKind, TokenStorage, TokenStore, ENCODER_VERSION,
};

/// xorshift64* PRNG for test data.
struct Rng(u64);
impl Rng {
    fn u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn uniform(&mut self) -> f32 {
        (self.u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Approximately normal (sum of 4 uniforms, centred, unit variance).
    fn normal(&mut self) -> f32 {
        ((0..4).map(|_| self.uniform()).sum::<f32>() - 2.0) * 3.0f32.sqrt()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.u64() % n as u64) as usize
    }
    fn tokens(&mut self, n: usize, dim: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..n * dim).map(|_| self.normal()).collect();
        v.chunks_exact_mut(dim).for_each(normalize);
        v
    }
}

fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn params(dim: usize, k_sim: u32, d_proj: Option<usize>, reps: usize) -> FdeParams {
    FdeParams {
        dim,
        k_sim,
        d_proj,
        reps,
        final_dim: None,
        seed: 42,
        fill_empty: false,
    }
}

fn enc(p: FdeParams) -> FdeEncoder {
    FdeEncoder::new(p).expect("valid params")
}

#[test]
fn presets_have_documented_sizes() {
    let p = FdeParams::preset("paper-10240", 384).unwrap();
    assert_eq!((p.reps, p.k_sim, p.d_proj), (20, 5, Some(16)));
    assert_eq!(p.output_dim(), 10240);
    let c = FdeParams::preset("compact-2560", 128).unwrap();
    assert_eq!((c.reps, c.k_sim, c.d_proj), (10, 4, Some(16)));
    assert_eq!(enc(c).output_dim(), 2560);
    assert!(matches!(
        FdeParams::preset("paper-1", 384),
        Err(MuveraError::InvalidArgument(_))
    ));
    assert!(matches!(
        FdeParams::preset("paper-10240", 8),
        Err(MuveraError::InvalidArgument(_))
    ));
}

#[test]
fn gray_code_round_trips() {
    for p in 0..1024u32 {
        assert_eq!(gray_decode(gray(p)), p);
        if p > 0 {
            assert_eq!((gray(p) ^ gray(p - 1)).count_ones(), 1);
        }
    }
}

#[test]
fn same_seed_same_output_different_seed_different() {
    let mut rng = Rng(1);
    let doc = rng.tokens(30, 48);
    let q = rng.tokens(7, 48);
    let mut p = FdeParams::preset("compact-2560", 48).unwrap();
    let a = enc(p.clone());
    let b = enc(p.clone());
    assert_eq!(a, b);
    let kinds = [TokenSetKind::Document, TokenSetKind::Query];
    for (kind, t) in kinds.into_iter().zip([&doc, &q]) {
        assert_eq!(
            a.encode_to_vec(t, kind).unwrap(),
            b.encode_to_vec(t, kind).unwrap()
        );
    }
    p.seed ^= 1;
    let c = enc(p);
    assert_ne!(
        a.encode_to_vec(&doc, TokenSetKind::Document).unwrap(),
        c.encode_to_vec(&doc, TokenSetKind::Document).unwrap()
    );
}

/// Output index of block `(rep, part)` component `c`.
fn at(p: &FdeParams, rep: usize, part: u32, c: usize) -> usize {
    (rep * p.partitions() + part as usize) * p.block_dim() + c
}

#[test]
fn query_sums_document_averages_k1() {
    let p = params(2, 1, None, 1);
    let e = enc(p.clone());
    // a and c point the same way (same partition); b is opposite (the other one).
    let (a, b, c) = ([1.0f32, 0.5], [-1.0f32, -0.5], [3.0f32, 1.5]);
    let pa = e.partition(0, &a).unwrap();
    assert_eq!(e.partition(0, &c).unwrap(), pa);
    assert_eq!(e.partition(0, &b).unwrap(), 1 - pa);

    let ac = [a, c].concat();
    let q = e.encode_to_vec(&ac, TokenSetKind::Query).unwrap();
    let d = e.encode_to_vec(&ac, TokenSetKind::Document).unwrap();
    let mut want_q = vec![0.0; 4];
    want_q[at(&p, 0, pa, 0)] = 4.0;
    want_q[at(&p, 0, pa, 1)] = 2.0;
    assert_eq!(q, want_q);
    let mut want_d = vec![0.0; 4];
    want_d[at(&p, 0, pa, 0)] = 2.0;
    want_d[at(&p, 0, pa, 1)] = 1.0;
    assert_eq!(d, want_d);

    // With fill_empty the other partition takes the Hamming-nearest token:
    // both are at distance 1, the tie goes to the lowest index (a).
    let mut out = vec![0.0; 4];
    e.encode(&ac, TokenSetKind::Document, true, &mut out)
        .unwrap();
    want_d[at(&p, 0, 1 - pa, 0)] = 1.0;
    want_d[at(&p, 0, 1 - pa, 1)] = 0.5;
    assert_eq!(out, want_d);

    // Three tokens across both partitions.
    let abc = [a, b, c].concat();
    let d = e.encode_to_vec(&abc, TokenSetKind::Document).unwrap();
    assert_eq!(d[at(&p, 0, pa, 0)], 2.0);
    assert_eq!(d[at(&p, 0, 1 - pa, 0)], -1.0);
    assert_eq!(d[at(&p, 0, 1 - pa, 1)], -0.5);
}

#[test]
fn fill_empty_picks_hamming_nearest_k2() {
    let p = params(3, 2, None, 1);
    let e = enc(p.clone());
    let mut rng = Rng(9);
    // Find two tokens whose partitions have Gray codes at Hamming distance 2
    // (opposite corners), so the two other partitions are each at distance 1
    // from both: ties → token 0.
    let (t0, t1) = loop {
        let t0 = rng.tokens(1, 3);
        let t1: Vec<f32> = t0.iter().map(|x| -x).collect();
        let (p0, p1) = (e.partition(0, &t0).unwrap(), e.partition(0, &t1).unwrap());
        if (gray(p0) ^ gray(p1)).count_ones() == 2 {
            break (t0, t1);
        }
    };
    let (p0, p1) = (e.partition(0, &t0).unwrap(), e.partition(0, &t1).unwrap());
    let mut out = vec![0.0; p.output_dim()];
    e.encode(
        &[t0.clone(), t1.clone()].concat(),
        TokenSetKind::Document,
        true,
        &mut out,
    )
    .unwrap();
    for part in 0..4u32 {
        let want = if part == p1 { &t1 } else { &t0 };
        let got = &out[at(&p, 0, part, 0)..at(&p, 0, part, 0) + 3];
        assert_eq!(got, &want[..], "partition {part} (p0 {p0}, p1 {p1})");
    }
    // Now a second copy of t1 placed first: nearest for the empty partitions is
    // still a distance-1 tie, and the lowest index is now t1.
    e.encode(
        &[t1.clone(), t0.clone()].concat(),
        TokenSetKind::Document,
        true,
        &mut out,
    )
    .unwrap();
    for part in 0..4u32 {
        let want = if part == p0 { &t0 } else { &t1 };
        assert_eq!(&out[at(&p, 0, part, 0)..at(&p, 0, part, 0) + 3], &want[..]);
    }
}

#[test]
fn identity_fde_never_exceeds_maxsim() {
    let mut rng = Rng(77);
    for trial in 0..300 {
        let dim = 1 + rng.below(24);
        let k = rng.below(5) as u32;
        let reps = 1 + rng.below(3);
        let mut p = params(dim, k, None, reps);
        p.seed = trial;
        let e = enc(p);
        let (nq, nd) = (1 + rng.below(10), 1 + rng.below(20));
        let mut q = rng.tokens(nq, dim);
        let mut d = rng.tokens(nd, dim);
        let nonneg = trial % 2 == 0;
        if nonneg {
            // Positive orthant: every ⟨q, p⟩ ≥ 0.
            q.iter_mut().chain(d.iter_mut()).for_each(|x| *x = x.abs());
        }
        let exact = maxsim_f32(&q, &d, dim);
        // Σ_q max(0, max_p ⟨q, p⟩).
        let q_best: f32 = q
            .chunks_exact(dim)
            .map(|qi| {
                d.chunks_exact(dim)
                    .map(|p| dot(qi, p))
                    .fold(f32::NEG_INFINITY, f32::max)
                    .max(0.0)
            })
            .sum();
        let tol = 1e-4 * (1.0 + q_best);
        let fq = e.encode_to_vec(&q, TokenSetKind::Query).unwrap();
        for fill in [false, true] {
            let mut fd = vec![0.0; e.output_dim()];
            e.encode(&d, TokenSetKind::Document, fill, &mut fd).unwrap();
            let est = dot(&fq, &fd);
            // Per repetition, each query token contributes ⟨q, average of the
            // document tokens in its partition⟩ ≤ max_p ⟨q, p⟩, or — for a
            // partition the document misses — 0 without fill_empty and
            // ⟨q, one document token⟩ ≤ max with it.
            let bound = if fill || nonneg { exact } else { q_best };
            assert!(
                est <= reps as f32 * bound + tol,
                "trial {trial} fill {fill}: {est} > {reps}·{bound}"
            );
        }
    }
}

#[test]
fn projection_preserves_inner_products_in_expectation() {
    // With d_proj = dim/4 the estimate over many seeds averages to the
    // identity estimate (the ±1/√d map is unbiased).
    let mut rng = Rng(5);
    let dim = 32;
    let q = rng.tokens(6, dim);
    let d = rng.tokens(15, dim);
    let base = {
        let e = enc(params(dim, 2, None, 1));
        dot(
            &e.encode_to_vec(&q, TokenSetKind::Query).unwrap(),
            &e.encode_to_vec(&d, TokenSetKind::Document).unwrap(),
        )
    };
    let mut mean = 0.0f64;
    let n = 400;
    for s in 0..n {
        let mut p = params(dim, 2, Some(8), 1);
        let mut pi = params(dim, 2, None, 1);
        p.seed = s;
        pi.seed = s;
        let (e, ei) = (enc(p), enc(pi));
        let est = dot(
            &e.encode_to_vec(&q, TokenSetKind::Query).unwrap(),
            &e.encode_to_vec(&d, TokenSetKind::Document).unwrap(),
        );
        let id = dot(
            &ei.encode_to_vec(&q, TokenSetKind::Query).unwrap(),
            &ei.encode_to_vec(&d, TokenSetKind::Document).unwrap(),
        );
        mean += f64::from(est - id);
    }
    mean /= f64::from(n as u32);
    assert!(
        mean.abs() < 0.15 * (1.0 + f64::from(base).abs()),
        "bias {mean}"
    );
}

#[test]
fn final_dim_count_sketch_shape_and_determinism() {
    let mut rng = Rng(8);
    let mut p = FdeParams::preset("compact-2560", 64).unwrap();
    p.final_dim = Some(1000);
    let e = enc(p.clone());
    assert_eq!(e.output_dim(), 1000);
    let d = rng.tokens(20, 64);
    let a = e.encode_to_vec(&d, TokenSetKind::Document).unwrap();
    assert_eq!(a.len(), 1000);
    assert_eq!(a, enc(p).encode_to_vec(&d, TokenSetKind::Document).unwrap());
    // Count-Sketch keeps the squared norm in expectation; check loosely.
    let full = enc(FdeParams::preset("compact-2560", 64).unwrap())
        .encode_to_vec(&d, TokenSetKind::Document)
        .unwrap();
    let (na, nf) = (dot(&a, &a), dot(&full, &full));
    assert!((na / nf - 1.0).abs() < 0.5, "{na} vs {nf}");
}

/// Synthetic clustered corpus: each document mixes 2–3 of 300 topics.
fn corpus(rng: &mut Rng, docs: usize, dim: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let topics: Vec<Vec<f32>> = (0..300).map(|_| rng.tokens(1, dim)).collect();
    let mut out = Vec::with_capacity(docs);
    for _ in 0..docs {
        let n = 20 + rng.below(41);
        let mine: Vec<usize> = (0..2 + rng.below(2)).map(|_| rng.below(300)).collect();
        let mut t = Vec::with_capacity(n * dim);
        for _ in 0..n {
            let c = &topics[mine[rng.below(mine.len())]];
            let mut v: Vec<f32> = c.iter().map(|&x| x + 0.12 * rng.normal()).collect();
            normalize(&mut v);
            t.extend(v);
        }
        out.push(t);
    }
    (topics, out)
}

fn queries(rng: &mut Rng, docs: &[Vec<f32>], dim: usize, n: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|_| {
            let d = &docs[rng.below(docs.len())];
            let nt = d.len() / dim;
            let m = 8 + rng.below(9);
            let mut q = Vec::with_capacity(m * dim);
            for _ in 0..m {
                let t = rng.below(nt);
                let mut v: Vec<f32> = d[t * dim..(t + 1) * dim]
                    .iter()
                    .map(|&x| x + 0.1 * rng.normal())
                    .collect();
                normalize(&mut v);
                q.extend(v);
            }
            q
        })
        .collect()
}

/// recall@10 of "top-C by FDE inner product, reranked by exact MaxSim"
/// against the exhaustive MaxSim top-10.
fn recall(e: &FdeEncoder, docs: &[Vec<f32>], qs: &[Vec<f32>], dim: usize, c: usize) -> f64 {
    let mut store = TokenStore::new(TokenStorage::F32, dim).unwrap();
    let fdes: Vec<Vec<f32>> = docs
        .iter()
        .map(|d| {
            store.push(d).unwrap();
            e.encode_to_vec(d, TokenSetKind::Document).unwrap()
        })
        .collect();
    let mut hits = 0usize;
    for q in qs {
        let truth: Vec<u32> = store
            .exhaustive_top_k(q, 10, |_| true)
            .unwrap()
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        let fq = e.encode_to_vec(q, TokenSetKind::Query).unwrap();
        let mut scored: Vec<(f32, u32)> = fdes
            .iter()
            .enumerate()
            .map(|(i, f)| (dot(&fq, f), i as u32))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let cands: Vec<u32> = scored.iter().take(c).map(|x| x.1).collect();
        let got = store.rerank(q, &cands, 10).unwrap();
        hits += got.iter().filter(|(s, _)| truth.contains(s)).count();
    }
    hits as f64 / (10 * qs.len()) as f64
}

#[test]
fn synthetic_recall_at_10_with_100_candidates() {
    let dim = 64;
    let mut rng = Rng(2024);
    let (_, docs) = corpus(&mut rng, 2000, dim);
    let qs = queries(&mut rng, &docs, dim, 50);
    for (name, fill) in [
        ("paper-10240", true),
        ("paper-10240", false),
        ("compact-2560", true),
    ] {
        let mut p = FdeParams::preset(name, dim).unwrap();
        p.fill_empty = fill;
        let r = recall(&enc(p), &docs, &qs, dim, 100);
        println!("{name} fill_empty={fill}: recall@10 (C=100) = {r:.3}");
        assert!(r >= 0.9, "{name} fill_empty={fill}: recall {r}");
    }
}

#[test]
fn params_round_trip() {
    let mut rng = Rng(3);
    let d = rng.tokens(25, 40);
    let q = rng.tokens(5, 40);
    let mut with_cs = params(40, 3, Some(12), 4);
    with_cs.final_dim = Some(100);
    with_cs.fill_empty = true;
    for p in [
        FdeParams::preset("compact-2560", 40).unwrap(),
        params(40, 0, None, 2),
        params(40, 10, Some(1), 1),
        with_cs,
    ] {
        let e = enc(p.clone());
        let mut bytes = vec![0xAA]; // written after existing content
        e.write_params(&mut bytes);
        let r = FdeEncoder::read_params(&bytes[1..]).unwrap();
        assert_eq!(r, e);
        assert_eq!(r.params(), &p);
        for (t, kind) in [(&d, TokenSetKind::Document), (&q, TokenSetKind::Query)] {
            assert_eq!(
                r.encode_to_vec(t, kind).unwrap(),
                e.encode_to_vec(t, kind).unwrap()
            );
        }
    }
}

#[test]
fn stored_matrices_are_used_not_regenerated() {
    // Loading keeps the stored matrices: flipping a projection sign (and
    // fixing the checksum) changes the loaded encoder's output.
    let e = enc(params(16, 2, Some(4), 1));
    let mut b = e.params_bytes();
    let proj_at = 40 + 4 * 2 * 16;
    b[proj_at] ^= 1;
    let n = b.len() - 8;
    let sum = xxhash_rust::xxh3::xxh3_64(&b[..n]);
    b[n..].copy_from_slice(&sum.to_le_bytes());
    let r = FdeEncoder::read_params(&b).unwrap();
    assert_eq!(r.params(), e.params());
    assert_ne!(r, e);
}

#[test]
fn version_mismatch_and_corruption() {
    let e = enc(params(8, 2, Some(4), 2));
    let b = e.params_bytes();
    let mut v = b.clone();
    v[4..8].copy_from_slice(&(ENCODER_VERSION + 1).to_le_bytes());
    assert_eq!(
        FdeEncoder::read_params(&v),
        Err(MuveraError::VersionMismatch {
            found: ENCODER_VERSION + 1,
            expected: ENCODER_VERSION
        })
    );
    let corrupt = |x: &[u8]| matches!(FdeEncoder::read_params(x), Err(MuveraError::Corrupt(_)));
    let mut flipped = b.clone();
    flipped[50] ^= 0x10;
    assert!(corrupt(&flipped));
    assert!(corrupt(&b[..b.len() - 1]));
    assert!(corrupt(&b[..10]));
    assert!(corrupt(&[]));
    let mut magic = b.clone();
    magic[0] = b'X';
    assert!(corrupt(&magic));
    let mut longer = b.clone();
    longer.push(0);
    assert!(corrupt(&longer));
}

fn invalid(p: FdeParams) -> bool {
    matches!(FdeEncoder::new(p), Err(MuveraError::InvalidArgument(_)))
}

#[test]
fn invalid_params_are_rejected() {
    let ok = params(16, 3, Some(8), 2);
    assert!(FdeEncoder::new(ok.clone()).is_ok());
    assert!(invalid(FdeParams {
        k_sim: 11,
        ..ok.clone()
    }));
    assert!(FdeEncoder::new(FdeParams {
        k_sim: 10,
        ..ok.clone()
    })
    .is_ok());
    assert!(invalid(FdeParams {
        d_proj: Some(17),
        ..ok.clone()
    }));
    assert!(invalid(FdeParams {
        d_proj: Some(0),
        ..ok.clone()
    }));
    assert!(invalid(FdeParams {
        reps: 0,
        ..ok.clone()
    }));
    assert!(invalid(FdeParams {
        dim: 0,
        d_proj: None,
        ..ok.clone()
    }));
    assert!(invalid(FdeParams {
        final_dim: Some(0),
        ..ok.clone()
    }));
    assert!(invalid(FdeParams {
        final_dim: Some(2 * 8 * 8 + 1),
        ..ok.clone()
    }));
    assert!(FdeEncoder::new(FdeParams {
        final_dim: Some(2 * 8 * 8),
        ..ok.clone()
    })
    .is_ok());
    assert!(invalid(FdeParams {
        reps: MAX_FDE_DIM,
        d_proj: None,
        ..ok
    }));
}

#[test]
fn bad_inputs_are_rejected() {
    let p = FdeParams {
        fill_empty: true,
        ..params(4, 2, Some(2), 2)
    };
    let e = enc(p);
    let mut out = vec![0.0; e.output_dim()];
    let good = [0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
    assert!(e.encode_query(&good, &mut out).is_ok());
    assert!(e.encode_document(&good, &mut out).is_ok());
    for f in [FdeEncoder::encode_query, FdeEncoder::encode_document] {
        assert_eq!(f(&e, &[], &mut out), Err(MuveraError::EmptyTokens));
        assert_eq!(
            f(&e, &good[..7], &mut out),
            Err(MuveraError::RaggedTokens { len: 7, dim: 4 })
        );
        let mut nan = good;
        nan[6] = f32::NAN;
        assert_eq!(
            f(&e, &nan, &mut out),
            Err(MuveraError::NonFinite {
                token: 1,
                component: 2
            })
        );
        let mut inf = good;
        inf[0] = f32::NEG_INFINITY;
        assert_eq!(
            f(&e, &inf, &mut out),
            Err(MuveraError::NonFinite {
                token: 0,
                component: 0
            })
        );
        let mut short = vec![0.0; e.output_dim() - 1];
        assert!(matches!(
            f(&e, &good, &mut short),
            Err(MuveraError::InvalidArgument(_))
        ));
    }
    assert!(matches!(
        e.encode(&good, TokenSetKind::Query, true, &mut out),
        Err(MuveraError::InvalidArgument(_))
    ));
    assert!(matches!(
        e.partition(2, &good[..4]),
        Err(MuveraError::InvalidArgument(_))
    ));
}
