//! BM25 correctness against a reference, top-k strategies against the exhaustive oracle,
//! updates, edge cases and errors.

use std::collections::HashMap;

use quiver_lexical::{
    AnalyzerConfig, AnalyzerKind, Bm25Params, LexicalError, StopWords, Strategy, TextIndex,
};

fn plain_cfg() -> AnalyzerConfig {
    AnalyzerConfig {
        kind: AnalyzerKind::Default,
        stem: false,
        stop_words: StopWords::None,
    }
}

/// Straightforward BM25 (f64) over whitespace-split lowercase docs, bag-of-words query.
fn reference(docs: &[(u32, &str)], query: &str, k1: f64, b: f64) -> Vec<(u32, f64)> {
    let toks: Vec<(u32, Vec<String>)> = docs
        .iter()
        .map(|(k, t)| (*k, t.split_whitespace().map(str::to_lowercase).collect()))
        .collect();
    let n = toks.len() as f64;
    let avgdl = toks.iter().map(|(_, t)| t.len() as f64).sum::<f64>() / n;
    let mut out = Vec::new();
    for (key, t) in &toks {
        let mut score = 0.0;
        let mut matched = false;
        for q in query.split_whitespace().map(str::to_lowercase) {
            let df = toks.iter().filter(|(_, d)| d.contains(&q)).count() as f64;
            let tf = t.iter().filter(|w| **w == q).count() as f64;
            if tf == 0.0 {
                continue;
            }
            matched = true;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            score += idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * t.len() as f64 / avgdl));
        }
        if matched {
            out.push((*key, score));
        }
    }
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

const TOY: &[(u32, &str)] = &[
    (10, "the quick brown fox jumps over the lazy dog"),
    (11, "the lazy dog sleeps"),
    (12, "quick quick quick fox"),
    (13, "a brown dog and a brown cat"),
    (14, "nothing relevant here at all really"),
    (15, "fox"),
];

#[test]
fn bm25_matches_reference() {
    for (k1, b) in [
        (1.2f32, 0.75f32),
        (0.9, 0.4),
        (2.0, 1.0),
        (0.0, 0.0),
        (1.5, 0.0),
    ] {
        let mut ix = TextIndex::new(plain_cfg(), Bm25Params { k1, b }).unwrap();
        let keys: Vec<u32> = TOY.iter().map(|d| d.0).collect();
        let texts: Vec<&str> = TOY.iter().map(|d| d.1).collect();
        ix.add(&keys, &texts).unwrap();
        for q in [
            "quick fox",
            "lazy dog",
            "brown",
            "fox fox quick",
            "cat zebra",
            "the",
        ] {
            let want = reference(TOY, q, k1 as f64, b as f64);
            for st in [
                Strategy::Exhaustive,
                Strategy::BlockMaxWand,
                Strategy::BlockMaxMaxScore,
            ] {
                let got = ix.search_with(q, 100, st).unwrap();
                assert_eq!(got.len(), want.len(), "{q} {st:?}");
                for ((gk, gs), (wk, ws)) in got.iter().zip(&want) {
                    assert_eq!(gk, wk, "{q} {st:?} k1={k1} b={b}");
                    assert!((*gs as f64 - ws).abs() < 1e-5, "{q}: {gs} vs {ws}");
                }
            }
        }
    }
}

#[test]
fn repeated_query_terms_add() {
    let mut ix = TextIndex::new(plain_cfg(), Bm25Params::default()).unwrap();
    ix.add(&[1, 2], &["fox dog", "dog cat"]).unwrap();
    let once = ix.search("fox", 10).unwrap();
    let twice = ix.search("fox fox", 10).unwrap();
    assert!((twice[0].1 - 2.0 * once[0].1).abs() < 1e-5);
}

#[test]
fn bad_params() {
    for (k1, b) in [
        (-0.1, 0.5),
        (1.2, -0.01),
        (1.2, 1.01),
        (f32::NAN, 0.5),
        (1.2, f32::NAN),
    ] {
        let e = TextIndex::new(plain_cfg(), Bm25Params { k1, b }).unwrap_err();
        assert!(matches!(e, LexicalError::InvalidArgument(_)), "{k1} {b}");
    }
}

#[test]
fn empty_texts_and_queries() {
    let mut ix = TextIndex::new(AnalyzerConfig::default(), Bm25Params::default()).unwrap();
    assert!(ix.search("anything", 10).unwrap().is_empty());
    ix.add(&[1, 2, 3], &["", "the of and", "?!... ***"])
        .unwrap();
    assert_eq!(ix.len(), 3);
    assert!(ix.contains(1));
    assert_eq!(ix.doc_len(2), Some(0));
    assert!(ix.search("the", 10).unwrap().is_empty());
    assert!(ix.search("", 10).unwrap().is_empty());
    assert!(ix.search("anything", 10).unwrap().is_empty());
    ix.add(&[4], &["real words here"]).unwrap();
    assert_eq!(ix.search("words", 10).unwrap()[0].0, 4);
    assert!(ix.search("words", 0).unwrap().is_empty());
    assert!(ix.search("  ... ", 5).unwrap().is_empty());
    ix.add(&[], &[]).unwrap();
}

#[test]
fn argument_errors_change_nothing() {
    let mut ix = TextIndex::new(plain_cfg(), Bm25Params::default()).unwrap();
    ix.add(&[1], &["a b"]).unwrap();
    assert!(matches!(
        ix.add(&[2, 3, 2], &["x", "y", "z"]),
        Err(LexicalError::DuplicateKey(2))
    ));
    assert!(matches!(
        ix.add(&[2], &["x", "y"]),
        Err(LexicalError::InvalidArgument(_))
    ));
    assert_eq!(ix.len(), 1);
    assert!(ix.search("x", 10).unwrap().is_empty());
}

#[test]
fn cancellation_is_all_or_nothing() {
    let mut ix = TextIndex::new(plain_cfg(), Bm25Params::default()).unwrap();
    let keys: Vec<u32> = (0..5000).collect();
    let texts: Vec<String> = keys.iter().map(|k| format!("doc number {k}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let r = ix.add_with(&keys, &refs, &|done, total| {
        assert!(done <= total);
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 1
    });
    assert!(matches!(r, Err(LexicalError::Cancelled)));
    assert_eq!(ix.len(), 0);
    let last = std::sync::Mutex::new((0, 0));
    ix.add_with(&keys, &refs, &|d, t| {
        *last.lock().unwrap() = (d, t);
        true
    })
    .unwrap();
    assert_eq!(*last.lock().unwrap(), (5000, 5000));
    assert_eq!(ix.len(), 5000);
}

#[test]
fn upsert_and_remove_update_statistics() {
    let mut ix = TextIndex::new(plain_cfg(), Bm25Params::default()).unwrap();
    ix.add(&[1, 2, 3], &["apple banana", "apple", "cherry"])
        .unwrap();
    assert_eq!(ix.doc_freq("apple"), 2);
    ix.add(&[2], &["banana banana"]).unwrap();
    assert_eq!(ix.len(), 3);
    assert_eq!(ix.doc_freq("apple"), 1);
    assert_eq!(ix.doc_freq("banana"), 2);
    assert_eq!(ix.remove(&[1, 99]), 1);
    assert!(!ix.contains(1));
    assert_eq!(ix.doc_freq("banana"), 1);
    assert_eq!(ix.avg_doc_len(), 1.5);
    let live: Vec<(u32, &str)> = vec![(2, "banana banana"), (3, "cherry")];
    let want = reference(&live, "banana cherry apple", 1.2, 0.75);
    let got = ix.search("banana cherry apple", 10).unwrap();
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![2, 3]);
    for (g, w) in got.iter().zip(&want) {
        assert!((g.1 as f64 - w.1).abs() < 1e-5);
    }
    ix.compact();
    assert_eq!(ix.doc_freq("apple"), 0);
    assert_eq!(ix.search("banana cherry apple", 10).unwrap(), got);
    let mut keys = ix.keys();
    keys.sort_unstable();
    assert_eq!(keys, vec![2, 3]);
}

/// A tiny deterministic PRNG (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Zipf-ish word: rank ~ 1/x distribution over `vocab` words.
    fn word(&mut self, vocab: u64) -> String {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let rank = ((vocab as f64).powf(u) as u64).min(vocab - 1);
        format!("w{rank}")
    }
    fn doc(&mut self, vocab: u64) -> String {
        let len = self.below(60) + if self.below(10) == 0 { 0 } else { 3 };
        (0..len)
            .map(|_| self.word(vocab))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn check_all(ix: &TextIndex, rng: &mut Rng, vocab: u64, queries: usize) {
    for _ in 0..queries {
        let qlen = 1 + rng.below(8);
        let q: Vec<String> = (0..qlen).map(|_| rng.word(vocab)).collect();
        let q = q.join(" ");
        for k in [1, 10, 100] {
            let want = ix.search_exhaustive(&q, k).unwrap();
            let bmw = ix.search_with(&q, k, Strategy::BlockMaxWand).unwrap();
            let bmm = ix.search_with(&q, k, Strategy::BlockMaxMaxScore).unwrap();
            assert_eq!(bmw, want, "BMW query {q:?} k={k}");
            assert_eq!(bmm, want, "BMM query {q:?} k={k}");
        }
    }
}

#[test]
fn pruned_top_k_equals_exhaustive_on_random_corpora() {
    for seed in [1u64, 2, 3, 0xDEADBEEF] {
        let mut rng = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
        let vocab = 200 + rng.below(3000);
        let n = 500 + rng.below(3000) as u32;
        let mut ix = TextIndex::new(plain_cfg(), Bm25Params::default()).unwrap();
        // Keys not in slot order, so ties exercise the key tie-break.
        let keys: Vec<u32> = (0..n).map(|i| (i * 7919) % 100_003).collect();
        let texts: Vec<String> = (0..n).map(|_| rng.doc(vocab)).collect();
        // Add in several batches (partial last blocks get re-encoded).
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for (kc, tc) in keys.chunks(333).zip(refs.chunks(333)) {
            ix.add(kc, tc).unwrap();
        }
        check_all(&ix, &mut rng, vocab, 30);
        // Remove ~15% (no compaction yet), then more (compaction), re-add some, upsert some.
        let rm: Vec<u32> = keys
            .iter()
            .copied()
            .filter(|_| rng.below(100) < 15)
            .collect();
        ix.remove(&rm);
        check_all(&ix, &mut rng, vocab, 20);
        let rm2: Vec<u32> = keys
            .iter()
            .copied()
            .filter(|_| rng.below(100) < 20)
            .collect();
        ix.remove(&rm2);
        check_all(&ix, &mut rng, vocab, 20);
        let readd: Vec<u32> = rm.iter().copied().take(200).collect();
        let retexts: Vec<String> = readd.iter().map(|_| rng.doc(vocab)).collect();
        let rr: Vec<&str> = retexts.iter().map(String::as_str).collect();
        ix.add(&readd, &rr).unwrap();
        let ups: Vec<u32> = keys
            .iter()
            .copied()
            .filter(|_| rng.below(100) < 5)
            .collect();
        let utexts: Vec<String> = ups.iter().map(|_| rng.doc(vocab)).collect();
        let ur: Vec<&str> = utexts.iter().map(String::as_str).collect();
        ix.add(&ups, &ur).unwrap();
        check_all(&ix, &mut rng, vocab, 30);
    }
}

#[test]
fn ties_are_broken_by_smaller_key() {
    let mut ix = TextIndex::new(plain_cfg(), Bm25Params::default()).unwrap();
    let keys: Vec<u32> = (0..300).rev().collect();
    let texts: Vec<&str> = keys.iter().map(|_| "same text here").collect();
    ix.add(&keys, &texts).unwrap();
    for st in [
        Strategy::Exhaustive,
        Strategy::BlockMaxWand,
        Strategy::BlockMaxMaxScore,
    ] {
        let got = ix.search_with("text", 5, st).unwrap();
        assert_eq!(
            got.iter().map(|g| g.0).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4]
        );
    }
}

#[test]
fn dictionary_free_keys_map() {
    // Many distinct keys, upserts in the same batch as new keys.
    let mut ix = TextIndex::new(plain_cfg(), Bm25Params::default()).unwrap();
    let keys: Vec<u32> = (0..1000).map(|i| u32::MAX - i).collect();
    let texts: Vec<String> = keys.iter().map(|k| format!("t{} common", k % 10)).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    ix.add(&keys, &refs).unwrap();
    let hits = ix.search("t3", 1000).unwrap();
    assert_eq!(hits.len(), 100);
    let mut seen = HashMap::new();
    for (k, _) in hits {
        assert_eq!(k % 10, 3);
        assert!(seen.insert(k, ()).is_none());
    }
}

#[test]
fn absurd_queries_do_not_panic() {
    let mut ix = TextIndex::new(plain_cfg(), Bm25Params::default()).unwrap();
    ix.add(&[1, 2], &["fox dog", "dog cat"]).unwrap();
    let q = "fox ".repeat(200_000) + &"dog ".repeat(100_000);
    for st in [
        Strategy::Exhaustive,
        Strategy::BlockMaxWand,
        Strategy::BlockMaxMaxScore,
    ] {
        let got = ix.search_with(&q, 10, st).unwrap();
        assert_eq!(got[0].0, 1);
    }
    let long_word = "x".repeat(100_000);
    ix.add(&[3], &[long_word.as_str()]).unwrap();
    assert_eq!(ix.doc_len(3), Some(0));
}
