//! SparseIndex: pruned search equals the exhaustive oracle (keys, bit-identical scores, tie
//! order) over random Zipf-like corpora, through removes, upserts, compaction and save/load;
//! every input rule; file damage.

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use quiver_lexical::{
    LexicalError, SparseBatch, SparseConfig, SparseIndex, SparseStrategy, SparseVec,
};

/// xorshift64*, deterministic per seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Zipf-like (log-uniform) term id below `vocab`.
    fn term(&mut self, vocab: u32) -> u32 {
        ((vocab as f64).powf(self.unit()) as u32)
            .saturating_sub(1)
            .min(vocab - 1)
    }
    /// A weight: often from a coarse grid (to make ties), otherwise continuous.
    fn weight(&mut self) -> f32 {
        match self.below(4) {
            0 => (1 + self.below(8)) as f32 * 0.25,
            1 => (self.unit() * 0.01) as f32,
            _ => (self.unit() * 3.0) as f32,
        }
    }
    /// A vector with up to `max_len` distinct terms, in random order.
    fn vector(&mut self, vocab: u32, max_len: u64) -> (Vec<u32>, Vec<f32>) {
        let len = self.below(max_len + 1);
        let mut t: Vec<u32> = (0..len).map(|_| self.term(vocab)).collect();
        t.sort_unstable();
        t.dedup();
        // Shuffle.
        for i in (1..t.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            t.swap(i, j);
        }
        let v = t.iter().map(|_| self.weight()).collect();
        (t, v)
    }
}

fn batch(rng: &mut Rng, n: usize, vocab: u32, max_len: u64) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    let mut indptr = vec![0u32];
    let (mut idx, mut val) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let (t, v) = rng.vector(vocab, max_len);
        idx.extend(t);
        val.extend(v);
        indptr.push(idx.len() as u32);
    }
    (indptr, idx, val)
}

fn bits(r: &[(u32, f32)]) -> Vec<(u32, u32)> {
    r.iter().map(|&(k, s)| (k, s.to_bits())).collect()
}

/// The exact score recomputed from `get`, summed in term order.
fn score_of(ix: &SparseIndex, key: u32, qt: &[u32], qv: &[f32]) -> f32 {
    let (t, v) = ix.get(key).unwrap();
    let mut q: Vec<(u32, f32)> = qt.iter().copied().zip(qv.iter().copied()).collect();
    q.sort_unstable_by_key(|e| e.0);
    let mut s = 0f32;
    for (qt, qv) in q {
        if let Ok(p) = t.binary_search(&qt) {
            s += qv * v[p];
        }
    }
    s
}

fn check(ix: &SparseIndex, rng: &mut Rng, vocab: u32, queries: usize) -> Vec<Vec<(u32, u32)>> {
    let mut all = Vec::new();
    for qi in 0..queries {
        let max_len = if qi % 3 == 0 { 60 } else { 12 };
        let (qt, qv) = rng.vector(vocab, max_len);
        let q = SparseVec::new(&qt, &qv);
        for k in [1, 10, 100] {
            let want = ix.search_with(&q, k, SparseStrategy::Exhaustive).unwrap();
            let got = ix.search_with(&q, k, SparseStrategy::MaxScore).unwrap();
            assert_eq!(bits(&got), bits(&want), "query {qt:?} {qv:?} k={k}");
            assert_eq!(bits(&ix.search(&q, k).unwrap()), bits(&want));
            let wand = ix.search_with(&q, k, SparseStrategy::Wand).unwrap();
            assert_eq!(bits(&wand), bits(&want), "WAND: query {qt:?} {qv:?} k={k}");
            assert!(want.len() <= k);
            for w in want.windows(2) {
                assert!(w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0));
            }
            for &(key, s) in &want {
                assert!(s > 0.0);
                assert_eq!(s.to_bits(), score_of(ix, key, &qt, &qv).to_bits());
            }
            all.push(bits(&want));
        }
        // Approximate: exact scores of live documents, in order.
        let approx = ix
            .search_with(&q, 10, SparseStrategy::Approximate { candidates: 0 })
            .unwrap();
        for &(key, s) in &approx {
            assert!(ix.contains(key));
            assert_eq!(s.to_bits(), score_of(ix, key, &qt, &qv).to_bits());
        }
        // Filtered: the top k of the matching documents, from every strategy.
        let everything = ix
            .search_with(&q, ix.len().max(1), SparseStrategy::Exhaustive)
            .unwrap();
        let filters: [&(dyn Fn(u32) -> bool + Sync); 2] =
            [&|key| key % 3 != 0, &|key| key % 17 == 0];
        for accept in filters {
            for k in [1, 10, 50] {
                let want: Vec<(u32, f32)> = everything
                    .iter()
                    .copied()
                    .filter(|e| accept(e.0))
                    .take(k)
                    .collect();
                for strategy in [
                    SparseStrategy::Exhaustive,
                    SparseStrategy::MaxScore,
                    SparseStrategy::Wand,
                ] {
                    let got = ix.search_filtered(&q, k, strategy, accept).unwrap();
                    assert_eq!(bits(&got), bits(&want), "{strategy:?} filtered k={k}");
                }
            }
        }
        let batch = ix
            .search_batch(&[q, q], 100, SparseStrategy::MaxScore)
            .unwrap();
        assert_eq!(&bits(&batch[1]), &all[all.len() - 1]);
        // The oracle misses nothing: every live document outside the list scores at most
        // the last one.
        let want = ix.search_with(&q, 10, SparseStrategy::Exhaustive).unwrap();
        if want.len() == 10 {
            let last = want[9];
            for key in ix.keys() {
                if want.iter().any(|w| w.0 == key) {
                    continue;
                }
                let s = score_of(ix, key, &qt, &qv);
                assert!(s < last.1 || (s == last.1 && key > last.0));
            }
        }
    }
    all
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("quiver-sparse-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

proptest! {
    #![proptest_config(Config {
        cases: 12,
        rng_seed: RngSeed::Fixed(0x5EED_5BA5),
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn max_score_equals_exhaustive(
        seed in any::<u64>(),
        n in 200usize..2500,
        vocab in 50u32..20_000,
        doc_len in 1u64..80,
    ) {
        let mut rng = Rng(seed | 1);
        let mut ix = SparseIndex::new(SparseConfig { vocab_size: vocab });
        // Several batches, so lists are appended to and requantised.
        let mut next_key = 0u32;
        let mut left = n;
        while left > 0 {
            let m = left.min(1 + rng.below(700) as usize);
            let (p, i, v) = batch(&mut rng, m, vocab, doc_len);
            let keys: Vec<u32> = (next_key..next_key + m as u32).map(|k| k * 7 + 3).collect();
            ix.add(&keys, SparseBatch::new(&p, &i, &v), false).unwrap();
            next_key += m as u32;
            left -= m;
        }
        prop_assert_eq!(ix.len(), n);
        check(&ix, &mut rng, vocab, 6);

        // Removes (below the compaction fraction, so tombstones stay) and upserts.
        let all: Vec<u32> = ix.keys();
        let gone: Vec<u32> = all.iter().copied().filter(|_| rng.below(100) < 12).collect();
        prop_assert_eq!(ix.remove(&gone), gone.len());
        let up: Vec<u32> = all
            .iter()
            .copied()
            .filter(|k| !gone.contains(k) && rng.below(100) < 5)
            .collect();
        let (p, i, v) = batch(&mut rng, up.len(), vocab, doc_len);
        ix.add(&up, SparseBatch::new(&p, &i, &v), true).unwrap();
        prop_assert_eq!(ix.len(), n - gone.len());
        for k in &gone {
            prop_assert!(!ix.contains(*k));
        }
        check(&ix, &mut rng, vocab, 6);

        // Save (compacts the copy) and load; then compact in place: same answers.
        let dir = tempdir(&format!("prop-{seed:x}"));
        let path = dir.join("s.qvs");
        ix.save(&path).unwrap();
        let back = SparseIndex::load(&path).unwrap();
        let mut r1 = Rng(seed ^ 0xABCD);
        let mut r2 = Rng(seed ^ 0xABCD);
        let mut r3 = Rng(seed ^ 0xABCD);
        let before = check(&ix, &mut r1, vocab, 6);
        prop_assert_eq!(&check(&back, &mut r2, vocab, 6), &before);
        ix.compact();
        prop_assert_eq!(&check(&ix, &mut r3, vocab, 6), &before);
        let _ = std::fs::remove_dir_all(&dir);

        // Enough removes to trigger automatic compaction.
        let all: Vec<u32> = ix.keys();
        let gone: Vec<u32> = all.iter().copied().filter(|_| rng.below(100) < 40).collect();
        ix.remove(&gone);
        prop_assert_eq!(ix.memory_usage().total() > 0, true);
        check(&ix, &mut rng, vocab, 6);
    }
}

fn add_one(ix: &mut SparseIndex, key: u32, t: &[u32], v: &[f32]) -> Result<(), LexicalError> {
    ix.add(&[key], SparseBatch::new(&[0, t.len() as u32], t, v), false)
}

fn invalid(r: Result<impl std::fmt::Debug, LexicalError>, needle: &str) {
    match r {
        Err(LexicalError::InvalidArgument(m)) => {
            assert!(m.contains(needle), "message {m:?} lacks {needle:?}")
        }
        other => panic!("expected InvalidArgument({needle}), got {other:?}"),
    }
}

#[test]
fn bad_documents_are_rejected_before_any_change() {
    let mut ix = SparseIndex::new(SparseConfig { vocab_size: 100 });
    add_one(&mut ix, 1, &[3, 5], &[1.0, 2.0]).unwrap();
    let t = [1u32, 2];
    let v = [1.0f32, 1.0];
    invalid(
        ix.add(&[7], SparseBatch::new(&[1, 2], &t, &v), false),
        "start at 0",
    );
    invalid(
        ix.add(&[7, 8], SparseBatch::new(&[0, 2, 1], &t, &v), false),
        "decreases",
    );
    invalid(
        ix.add(&[7], SparseBatch::new(&[0, 3], &t, &v), false),
        "ends at 3",
    );
    invalid(
        ix.add(&[7], SparseBatch::new(&[0, 1], &t, &v), false),
        "ends at 1",
    );
    invalid(
        ix.add(&[7, 8], SparseBatch::new(&[0, 2], &t, &v), false),
        "one entry per key",
    );
    invalid(
        ix.add(&[7], SparseBatch::new(&[0, 2], &t, &v[..1]), false),
        "2 indices but 1 values",
    );
    invalid(add_one(&mut ix, 7, &[100], &[1.0]), "vocabulary size 100");
    invalid(add_one(&mut ix, 7, &[4], &[f32::NAN]), "not finite");
    invalid(add_one(&mut ix, 7, &[4], &[f32::INFINITY]), "not finite");
    invalid(add_one(&mut ix, 7, &[4], &[-0.5]), "negative");
    invalid(
        add_one(&mut ix, 7, &[4, 9, 4], &[1.0, 1.0, 2.0]),
        "more than once",
    );
    invalid(add_one(&mut ix, 1, &[4], &[1.0]), "already");
    assert!(matches!(
        ix.add(&[7, 7], SparseBatch::new(&[0, 1, 2], &t, &v), true),
        Err(LexicalError::DuplicateKey(7))
    ));
    // A bad vector later in the batch leaves the earlier ones unstored.
    invalid(
        ix.add(
            &[7, 8],
            SparseBatch::new(&[0, 1, 2], &[4, 200], &[1.0, 1.0]),
            false,
        ),
        "vector 1 (key 8)",
    );
    assert_eq!(ix.len(), 1);
    assert!(!ix.contains(7));
    assert_eq!(ix.get(1), Some((vec![3, 5], vec![1.0, 2.0])));
}

#[test]
fn canonical_forms_and_empty_vectors() {
    let mut ix = SparseIndex::default();
    ix.add(
        &[10, 11, 12],
        SparseBatch::new(
            &[0, 4, 4, 5],
            &[9, 2, 7, 4_000_000_000, 5],
            &[0.5, 1.5, 0.0, 2.0, -0.0],
        ),
        false,
    )
    .unwrap();
    // Sorted, zero dropped; -0.0 is not negative and is dropped too.
    assert_eq!(
        ix.get(10),
        Some((vec![2, 9, 4_000_000_000], vec![1.5, 0.5, 2.0]))
    );
    assert_eq!(ix.get(11), Some((vec![], vec![])));
    assert_eq!(ix.get(12), Some((vec![], vec![])));
    assert_eq!(ix.len(), 3);
    let q = SparseVec::new(&[4_000_000_000, 2], &[1.0, 2.0]);
    assert_eq!(ix.search(&q, 10).unwrap(), vec![(10, 5.0)]);
    // An empty query returns nothing; a query of zeros too.
    assert!(ix.search(&SparseVec::new(&[], &[]), 10).unwrap().is_empty());
    assert!(ix
        .search(&SparseVec::new(&[2], &[0.0]), 10)
        .unwrap()
        .is_empty());
    assert!(ix.search(&q, 0).unwrap().is_empty());
    // u32::MAX is outside the default vocabulary.
    invalid(add_one(&mut ix, 13, &[u32::MAX], &[1.0]), "vocabulary");
    // Upsert replaces; remove counts.
    ix.add(&[10], SparseBatch::new(&[0, 1], &[2], &[3.0]), true)
        .unwrap();
    assert_eq!(ix.search(&q, 10).unwrap(), vec![(10, 6.0)]);
    assert_eq!(ix.remove(&[10, 10, 99]), 1);
    assert!(ix.search(&q, 10).unwrap().is_empty());
    assert_eq!(ix.len(), 2);
}

#[test]
fn bad_queries_are_rejected() {
    let mut ix = SparseIndex::new(SparseConfig { vocab_size: 50 });
    add_one(&mut ix, 1, &[3], &[1.0]).unwrap();
    for s in [
        SparseStrategy::MaxScore,
        SparseStrategy::Wand,
        SparseStrategy::Exhaustive,
    ] {
        invalid(
            ix.search_with(&SparseVec::new(&[3], &[]), 5, s),
            "1 indices but 0 values",
        );
        invalid(
            ix.search_with(&SparseVec::new(&[50], &[1.0]), 5, s),
            "vocabulary",
        );
        invalid(
            ix.search_with(&SparseVec::new(&[3], &[f32::NAN]), 5, s),
            "not finite",
        );
        invalid(
            ix.search_with(&SparseVec::new(&[3], &[-1.0]), 5, s),
            "negative",
        );
        invalid(
            ix.search_with(&SparseVec::new(&[3, 3], &[1.0, 1.0]), 5, s),
            "more than once",
        );
    }
    // Unsorted queries are fine.
    let r = ix.search(&SparseVec::new(&[9, 3], &[1.0, 2.0]), 5).unwrap();
    assert_eq!(r, vec![(1, 2.0)]);
}

/// Weights that grow from batch to batch force requantisation of the lists; extreme
/// magnitudes (tiny, huge, overflowing products) stay exact.
#[test]
fn requantisation_and_extreme_weights() {
    let mut ix = SparseIndex::new(SparseConfig { vocab_size: 8 });
    let mut key = 0u32;
    for round in 0..40u32 {
        let keys: Vec<u32> = (key..key + 50).collect();
        key += 50;
        let mut p = vec![0u32];
        let (mut t, mut v) = (Vec::new(), Vec::new());
        for (j, _) in keys.iter().enumerate() {
            for term in 0..8u32 {
                if !(j as u32 + term).is_multiple_of(3) {
                    t.push(term);
                    let w = match (round + term) % 5 {
                        0 => 1e-30,
                        1 => 3e30,
                        _ => (round as f32 + 1.0) * (1.0 + j as f32 * 0.01),
                    };
                    v.push(w);
                }
            }
            p.push(t.len() as u32);
        }
        ix.add(&keys, SparseBatch::new(&p, &t, &v), false).unwrap();
    }
    let queries: [(&[u32], &[f32]); 4] = [
        (&[0, 1, 2, 3, 4, 5, 6, 7], &[1.0; 8]),
        (&[1, 6], &[1e-20, 1e20]),
        (&[2, 3], &[1e10, 5.0]),
        (&[0, 4], &[1e-30, 1e-10]),
    ];
    for (qt, qv) in queries {
        let q = SparseVec::new(qt, qv);
        for k in [1, 10, 100, 5000] {
            let want = ix.search_with(&q, k, SparseStrategy::Exhaustive).unwrap();
            let got = ix.search(&q, k).unwrap();
            assert_eq!(bits(&got), bits(&want), "{qt:?} {qv:?} {k}");
            let wand = ix.search_with(&q, k, SparseStrategy::Wand).unwrap();
            assert_eq!(bits(&wand), bits(&want), "WAND {qt:?} {qv:?} {k}");
        }
    }
}

#[test]
fn damaged_files_are_errors_not_panics() {
    let dir = tempdir("damage");
    let path = dir.join("s.qvs");
    let mut rng = Rng(99);
    let mut ix = SparseIndex::new(SparseConfig { vocab_size: 3000 });
    let (p, i, v) = batch(&mut rng, 400, 3000, 40);
    let keys: Vec<u32> = (0..400).collect();
    ix.add(&keys, SparseBatch::new(&p, &i, &v), false).unwrap();
    ix.remove(&[3, 4, 5]);
    ix.save(&path).unwrap();
    let good = std::fs::read(&path).unwrap();
    let back = SparseIndex::load(&path).unwrap();
    assert_eq!(back.len(), 397);
    let bad = dir.join("bad.qvs");
    let step = (good.len() / 401).max(1);
    for pos in (0..good.len())
        .step_by(step)
        .chain([0, 12, 16, 24, good.len() - 1])
    {
        let mut b = good.clone();
        b[pos] ^= 0x04;
        std::fs::write(&bad, &b).unwrap();
        match SparseIndex::load(&bad) {
            Err(LexicalError::Corrupt(_)) | Err(LexicalError::VersionMismatch(_)) => {}
            other => panic!("bit flip at {pos}: {:?}", other.map(|x| x.len())),
        }
    }
    for len in [0, 7, 31, 64, good.len() / 3, good.len() - 1] {
        std::fs::write(&bad, &good[..len]).unwrap();
        assert!(matches!(
            SparseIndex::load(&bad),
            Err(LexicalError::Corrupt(_))
        ));
    }
    // Another file type.
    std::fs::write(&bad, b"QVRTEXT\0\x01\x00\x00\x00 not ours").unwrap();
    assert!(matches!(
        SparseIndex::load(&bad),
        Err(LexicalError::Corrupt(_))
    ));
    assert!(matches!(
        SparseIndex::load(&dir.join("missing.qvs")),
        Err(LexicalError::Io { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn empty_and_tombstoned_round_trips() {
    let dir = tempdir("empty");
    let path = dir.join("e.qvs");
    let ix = SparseIndex::new(SparseConfig { vocab_size: 77 });
    ix.save(&path).unwrap();
    let back = SparseIndex::load(&path).unwrap();
    assert!(back.is_empty());
    assert_eq!(back.config().vocab_size, 77);
    assert!(back
        .search(&SparseVec::new(&[1], &[1.0]), 5)
        .unwrap()
        .is_empty());
    // Only empty documents, some removed (tombstones are not written).
    let mut ix = SparseIndex::new(SparseConfig::default());
    ix.add(
        &[5, 6, 7],
        SparseBatch::new(&[0, 0, 0, 1], &[9], &[0.5]),
        false,
    )
    .unwrap();
    ix.remove(&[6]);
    ix.save(&path).unwrap();
    let back = SparseIndex::load(&path).unwrap();
    assert_eq!(back.keys(), vec![5, 7]);
    assert_eq!(back.get(5), Some((vec![], vec![])));
    assert_eq!(
        back.search(&SparseVec::new(&[9], &[2.0]), 5).unwrap(),
        vec![(7, 1.0)]
    );
    // k far above the number of matches.
    assert_eq!(
        back.search(&SparseVec::new(&[9], &[2.0]), usize::MAX)
            .unwrap(),
        vec![(7, 1.0)]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Many windows, skewed weights (so windows are skipped and non-essential lists are probed
/// per candidate as well as accumulated), deletions: MaxScore still equals the oracle.
#[test]
fn max_score_over_many_windows_equals_exhaustive() {
    let mut rng = Rng(0x00C0_FFEE);
    let vocab = 3000;
    let n = 40_000;
    let mut ix = SparseIndex::new(SparseConfig { vocab_size: vocab });
    let mut indptr = vec![0u32];
    let (mut idx, mut val) = (Vec::new(), Vec::new());
    for i in 0..n {
        let (t, v) = rng.vector(vocab, 40);
        // A few documents in a few regions carry much larger weights: most windows can
        // then be skipped once the top k is full.
        let boost = if i % 9973 < 30 { 40.0 } else { 1.0 };
        idx.extend(t);
        val.extend(v.into_iter().map(|w| w * boost));
        indptr.push(idx.len() as u32);
    }
    let keys: Vec<u32> = (0..n as u32).collect();
    ix.add(&keys, SparseBatch::new(&indptr, &idx, &val), false)
        .unwrap();
    let gone: Vec<u32> = keys.iter().copied().filter(|k| k % 11 == 0).collect();
    ix.remove(&gone);
    for qi in 0..40 {
        let (qt, qv) = rng.vector(vocab, if qi % 2 == 0 { 80 } else { 8 });
        let q = SparseVec::new(&qt, &qv);
        for k in [1, 10, 1000] {
            let want = ix.search_with(&q, k, SparseStrategy::Exhaustive).unwrap();
            let got = ix.search_with(&q, k, SparseStrategy::MaxScore).unwrap();
            assert_eq!(bits(&got), bits(&want), "query {qi} k={k}");
        }
    }
}

/// The approximate strategy: exact scores for what it returns, in order, never a removed or
/// filtered-out key; recall@10 against the oracle at a fixed seed; the exact answer when the
/// heads hold fewer than `k` documents.
#[test]
fn approximate_returns_exact_scores_with_high_recall() {
    let mut rng = Rng(0xA11CE);
    let vocab = 5000;
    let n = 30_000;
    let mut ix = SparseIndex::new(SparseConfig { vocab_size: vocab });
    let (p, i, v) = batch(&mut rng, n, vocab, 60);
    let keys: Vec<u32> = (0..n as u32).collect();
    ix.add(&keys, SparseBatch::new(&p, &i, &v), false).unwrap();
    let gone: Vec<u32> = keys.iter().copied().filter(|k| k % 13 == 0).collect();
    ix.remove(&gone);
    let approx = SparseStrategy::Approximate { candidates: 0 };
    let (mut found, mut total) = (0usize, 0usize);
    for qi in 0..60 {
        let (qt, qv) = rng.vector(vocab, 50);
        let q = SparseVec::new(&qt, &qv);
        let want = ix.search_with(&q, 10, SparseStrategy::Exhaustive).unwrap();
        let got = ix.search_with(&q, 10, approx).unwrap();
        assert!(got.len() <= 10);
        for w in got.windows(2) {
            assert!(w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0));
        }
        for &(key, s) in &got {
            assert!(key % 13 != 0, "query {qi}: removed key {key} returned");
            assert_eq!(s.to_bits(), score_of(&ix, key, &qt, &qv).to_bits());
        }
        total += want.len();
        found += want
            .iter()
            .filter(|w| got.iter().any(|g| g.0 == w.0))
            .count();
        // Filtered: only accepted keys.
        let odd = ix
            .search_filtered(&q, 10, approx, &|key| key % 2 == 1)
            .unwrap();
        assert!(odd.iter().all(|e| e.0 % 2 == 1));
        // More candidates never lowers what is found.
        let wide = ix
            .search_with(&q, 10, SparseStrategy::Approximate { candidates: 5000 })
            .unwrap();
        let hits = |r: &[(u32, f32)]| want.iter().filter(|w| r.iter().any(|g| g.0 == w.0)).count();
        assert!(hits(&wide) >= hits(&got), "query {qi}");
    }
    let recall = found as f64 / total as f64;
    assert!(recall >= 0.9, "recall@10 {recall}");
    // A query of rare terms: fewer head documents than k, so the exact answer.
    let (qt, qv) = (vec![vocab - 1, vocab - 2], vec![1.0, 0.5]);
    let q = SparseVec::new(&qt, &qv);
    let exact = ix
        .search_with(&q, 1000, SparseStrategy::Exhaustive)
        .unwrap();
    assert_eq!(
        bits(&ix.search_with(&q, 1000, approx).unwrap()),
        bits(&exact)
    );
}
