//! Filtered learned sparse search against brute force at fixed seeds: random corpora, random
//! filters (keyword, int range, bool, exists, and/or/not), every strategy and several k; the
//! result must be the exhaustive top-k over the matching keys, score for score. Also: attributes
//! and payloads survive save and load, and remove/upsert keep them in step with the keys.

use std::sync::atomic::AtomicBool;

use quiver_engine::meta::{MetaConfig, MetaInput};
use quiver_engine::sparse_index::SharedSparseIndex;
use quiver_engine::{ErrorCode, Schema, SparseBatch, SparseStrategy, SparseVec};
use quiver_hnsw::splitmix64;

const VOCAB: u32 = 300;
const COLORS: [&str; 4] = ["red", "green", "blue", "black"];
const STRATEGIES: [SparseStrategy; 3] = [
    SparseStrategy::MaxScore,
    SparseStrategy::Wand,
    SparseStrategy::Exhaustive,
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = splitmix64(self.0);
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// One document's attributes (`None`: the key has no attributes).
#[derive(Clone, Debug)]
struct Attrs {
    color: &'static str,
    year: i64,
    hot: bool,
}

impl Attrs {
    fn json(a: &Option<Attrs>) -> String {
        match a {
            None => "null".into(),
            Some(a) => format!(
                r#"{{"color":"{}","year":{},"hot":{}}}"#,
                a.color, a.year, a.hot
            ),
        }
    }
}

/// A sparse vector: sorted distinct term ids (skewed towards small ids, so posting lists have
/// very different lengths) and positive weights.
fn vector(r: &mut Rng, max_len: u64) -> (Vec<u32>, Vec<f32>) {
    let len = 1 + r.below(max_len);
    let mut terms: Vec<u32> = (0..len)
        .map(|_| {
            let u = r.unit();
            ((u * u * VOCAB as f32) as u32).min(VOCAB - 1)
        })
        .collect();
    terms.sort_unstable();
    terms.dedup();
    let values = terms.iter().map(|_| 0.01 + r.unit() * 3.0).collect();
    (terms, values)
}

struct Corpus {
    keys: Vec<u32>,
    docs: Vec<(Vec<u32>, Vec<f32>)>,
    attrs: Vec<Option<Attrs>>,
}

impl Corpus {
    fn new(n: usize, seed: u64) -> Self {
        let mut r = Rng(seed);
        let keys = (0..n as u32).map(|i| i * 3 + 1).collect();
        let docs = (0..n).map(|_| vector(&mut r, 40)).collect();
        let attrs = (0..n)
            .map(|_| {
                (r.below(10) != 0).then(|| Attrs {
                    color: COLORS[r.below(COLORS.len() as u64) as usize],
                    year: 2000 + r.below(25) as i64,
                    hot: r.below(5) == 0,
                })
            })
            .collect();
        Corpus { keys, docs, attrs }
    }

    fn csr(&self, rows: &[usize]) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
        let mut indptr = vec![0u32];
        let (mut indices, mut values) = (Vec::new(), Vec::new());
        for &i in rows {
            indices.extend_from_slice(&self.docs[i].0);
            values.extend_from_slice(&self.docs[i].1);
            indptr.push(indices.len() as u32);
        }
        (indptr, indices, values)
    }

    fn attributes_json(&self, rows: &[usize]) -> String {
        let parts: Vec<String> = rows.iter().map(|&i| Attrs::json(&self.attrs[i])).collect();
        format!("[{}]", parts.join(","))
    }

    fn payloads(&self, rows: &[usize]) -> Vec<Option<String>> {
        rows.iter()
            .map(|&i| (i % 4 != 0).then(|| format!(r#"{{"row":{i}}}"#)))
            .collect()
    }
}

fn schema() -> MetaConfig {
    MetaConfig {
        attributes: Some(
            Schema::from_json(r#"{"color":"keyword","year":"int","hot":"bool"}"#).expect("schema"),
        ),
        payload: true,
    }
}

fn never() -> AtomicBool {
    AtomicBool::new(false)
}

/// Adds (or upserts) corpus rows `rows` with their attributes and payloads.
fn write(ix: &SharedSparseIndex, c: &Corpus, rows: &[usize], upsert: bool) {
    let (indptr, indices, values) = c.csr(rows);
    let keys: Vec<u32> = rows.iter().map(|&i| c.keys[i]).collect();
    let attributes = c.attributes_json(rows);
    let payloads = c.payloads(rows);
    let meta = MetaInput {
        attributes: Some(&attributes),
        payloads: Some(&payloads),
    };
    let out = ix
        .add_with(
            &keys,
            SparseBatch::new(&indptr, &indices, &values),
            upsert,
            &meta,
            &never(),
            &|_, _| {},
        )
        .expect("add");
    assert_eq!(out.inserted, rows.len());
}

/// What a filter says of one document's attributes.
type Predicate = Box<dyn Fn(&Option<Attrs>) -> bool>;

/// A random filter: its compiled JSON form and the predicate it stands for.
struct RandomFilter {
    json: String,
    test: Predicate,
}

fn random_filter(r: &mut Rng, depth: u32) -> RandomFilter {
    let pick = if depth >= 2 { r.below(4) } else { r.below(7) };
    match pick {
        0 => {
            let n = 1 + r.below(2) as usize;
            let colors: Vec<&'static str> = (0..n)
                .map(|_| COLORS[r.below(COLORS.len() as u64) as usize])
                .collect();
            let list: Vec<String> = colors.iter().map(|c| format!("\"{c}\"")).collect();
            RandomFilter {
                json: format!(r#"{{"t":"in","f":"color","v":[{}]}}"#, list.join(",")),
                test: Box::new(move |a| a.as_ref().is_some_and(|a| colors.contains(&a.color))),
            }
        }
        1 => {
            let lo = 2000 + r.below(25) as i64;
            let hi = lo + r.below(10) as i64;
            RandomFilter {
                json: format!(r#"{{"t":"range","f":"year","gte":{lo},"lt":{hi}}}"#),
                test: Box::new(move |a| a.as_ref().is_some_and(|a| a.year >= lo && a.year < hi)),
            }
        }
        2 => {
            let hot = r.below(2) == 0;
            RandomFilter {
                json: format!(r#"{{"t":"in","f":"hot","v":[{hot}]}}"#),
                test: Box::new(move |a| a.as_ref().is_some_and(|a| a.hot == hot)),
            }
        }
        3 => RandomFilter {
            json: r#"{"t":"exists","f":"color"}"#.into(),
            test: Box::new(|a| a.is_some()),
        },
        4 => {
            let inner = random_filter(r, depth + 1);
            RandomFilter {
                json: format!(r#"{{"t":"not","c":{}}}"#, inner.json),
                test: Box::new(move |a| !(inner.test)(a)),
            }
        }
        _ => {
            let and = pick == 5;
            let (x, y) = (random_filter(r, depth + 1), random_filter(r, depth + 1));
            RandomFilter {
                json: format!(
                    r#"{{"t":"{}","c":[{},{}]}}"#,
                    if and { "and" } else { "or" },
                    x.json,
                    y.json
                ),
                test: Box::new(move |a| {
                    if and {
                        (x.test)(a) && (y.test)(a)
                    } else {
                        (x.test)(a) || (y.test)(a)
                    }
                }),
            }
        }
    }
}

/// The exact score the index promises: the dot product summed in f32 in increasing term order.
fn dot(qt: &[u32], qv: &[f32], dt: &[u32], dv: &[f32]) -> f32 {
    let mut s = 0f32;
    for (i, t) in qt.iter().enumerate() {
        if let Ok(j) = dt.binary_search(t) {
            s += qv[i] * dv[j];
        }
    }
    s
}

/// Brute force: every live row the predicate accepts, scored, best first (ties: smaller key),
/// zero scores left out, cut at `k`.
fn brute(
    c: &Corpus,
    live: &[bool],
    q: &(Vec<u32>, Vec<f32>),
    accept: &dyn Fn(usize) -> bool,
    k: usize,
) -> Vec<(u32, f32)> {
    let mut all: Vec<(u32, f32)> = (0..c.docs.len())
        .filter(|&i| live[i] && accept(i))
        .map(|i| (c.keys[i], dot(&q.0, &q.1, &c.docs[i].0, &c.docs[i].1)))
        .filter(|&(_, s)| s > 0.0)
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

fn check_all(ix: &SharedSparseIndex, c: &Corpus, live: &[bool], seed: u64, rounds: usize) {
    let mut r = Rng(seed);
    for round in 0..rounds {
        let f = random_filter(&mut r, 0);
        let q = vector(&mut r, 12);
        let accept = |i: usize| (f.test)(&c.attrs[i]);
        let matching = (0..c.docs.len()).filter(|&i| live[i] && accept(i)).count();
        assert_eq!(
            ix.count(Some(&f.json)).expect("count"),
            matching,
            "{}",
            f.json
        );
        for k in [1, 7, 40, 1000] {
            let want = brute(c, live, &q, &accept, k);
            for strategy in STRATEGIES {
                let (got, meta) = ix
                    .search_options(
                        SparseVec::new(&q.0, &q.1),
                        k,
                        strategy,
                        Some(&f.json),
                        true,
                        true,
                    )
                    .expect("search");
                assert_eq!(got, want, "round {round} {} k={k} {strategy:?}", f.json);
                let attrs = meta.attributes.expect("attributes");
                let payloads = meta.payloads.expect("payloads");
                for (h, &(key, _)) in got.iter().enumerate() {
                    let row = ((key - 1) / 3) as usize;
                    // A live key always has a record: `{}` when it was added with `null`.
                    let a = attrs[h].as_deref().expect("a live key has a record");
                    let parsed: serde_json::Value = serde_json::from_str(a).expect("json");
                    let expect = match &c.attrs[row] {
                        None => serde_json::json!({}),
                        some => serde_json::from_str(&Attrs::json(some)).expect("json"),
                    };
                    assert_eq!(parsed, expect);
                    assert_eq!(payloads[h], c.payloads(&[row])[0]);
                }
            }
        }
        // One filter for a whole batch: every answer is the single search's.
        let queries: Vec<(Vec<u32>, Vec<f32>)> = (0..5).map(|_| vector(&mut r, 12)).collect();
        let mut indptr = vec![0u32];
        let (mut indices, mut values) = (Vec::new(), Vec::new());
        for q in &queries {
            indices.extend_from_slice(&q.0);
            values.extend_from_slice(&q.1);
            indptr.push(indices.len() as u32);
        }
        for strategy in STRATEGIES {
            let batch = ix
                .search_batch_options(
                    SparseBatch::new(&indptr, &indices, &values),
                    10,
                    strategy,
                    Some(&f.json),
                    false,
                    true,
                )
                .expect("batch");
            assert_eq!(batch.len(), queries.len());
            for (q, (hits, meta)) in queries.iter().zip(batch) {
                assert_eq!(hits, brute(c, live, q, &accept, 10), "batch {}", f.json);
                assert!(meta.attributes.is_none());
                assert_eq!(meta.payloads.map(|p| p.len()), Some(hits.len()));
            }
        }
    }
}

#[test]
fn filtered_top_k_is_exhaustive_over_matching_keys() {
    for seed in [1u64, 2, 3] {
        let c = Corpus::new(3000, seed);
        let ix = SharedSparseIndex::create_with(VOCAB, &schema(), 2).expect("create");
        let rows: Vec<usize> = (0..c.docs.len()).collect();
        write(&ix, &c, &rows, false);
        let live = vec![true; c.docs.len()];
        check_all(&ix, &c, &live, seed * 100, 25);
    }
}

#[test]
fn save_load_remove_and_upsert_keep_metadata_in_step() {
    let mut c = Corpus::new(2000, 9);
    let ix = SharedSparseIndex::create_with(VOCAB, &schema(), 2).expect("create");
    let rows: Vec<usize> = (0..c.docs.len()).collect();
    write(&ix, &c, &rows, false);
    let mut live = vec![true; c.docs.len()];

    // Remove a fifth of the rows: their metadata goes with them.
    let gone: Vec<usize> = (0..c.docs.len()).filter(|i| i % 5 == 2).collect();
    let gone_keys: Vec<u32> = gone.iter().map(|&i| c.keys[i]).collect();
    assert_eq!(ix.remove(&gone_keys).expect("remove"), gone.len());
    for &i in &gone {
        live[i] = false;
        assert_eq!(ix.meta().attributes_json(c.keys[i]), None);
        assert_eq!(ix.meta().payload(c.keys[i]), None);
    }
    assert_eq!(ix.count(None).expect("count"), c.docs.len() - gone.len());

    // Upsert a tenth with new vectors and new attributes (some now without attributes).
    let mut r = Rng(77);
    let changed: Vec<usize> = (0..c.docs.len()).filter(|i| i % 10 == 3).collect();
    for &i in &changed {
        c.docs[i] = vector(&mut r, 30);
        c.attrs[i] = (i % 20 != 3).then_some(Attrs {
            color: "black",
            year: 1990,
            hot: true,
        });
    }
    write(&ix, &c, &changed, true);
    check_all(&ix, &c, &live, 5, 10);

    // Save (the removed rows are compacted away) and load: the same answers and metadata.
    let dir = std::env::temp_dir().join(format!("quiver-sparse-filtered-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("meta.qvs");
    ix.save(&path).expect("save");
    let back = SharedSparseIndex::load(&path, 2).expect("load");
    assert_eq!(back.meta().config(), schema());
    assert_eq!(
        back.count(Some(r#"{"t":"range","f":"year","lt":2000}"#))
            .expect("count"),
        { changed.iter().filter(|&&i| c.attrs[i].is_some()).count() }
    );
    check_all(&back, &c, &live, 5, 10);
    for (i, &key) in c.keys.iter().enumerate() {
        let want_payload = c.payloads(&[i])[0].clone().filter(|_| live[i]);
        assert_eq!(back.meta().payload(key).map(str::to_owned), want_payload);
        assert_eq!(back.meta().attributes_json(key).is_some(), live[i]);
    }
    // A plain index round-trips without metadata sections; filtering it is refused.
    let plain = SharedSparseIndex::create(VOCAB, 1).expect("create");
    write_plain(&plain, &c);
    let plain_path = dir.join("plain.qvs");
    plain.save(&plain_path).expect("save");
    let plain = SharedSparseIndex::load(&plain_path, 1).expect("load");
    let e = plain.count(Some(r#"{"t":"true"}"#)).err().map(|e| e.code);
    assert_eq!(e, Some(ErrorCode::InvalidFilter));
    let e = plain
        .search_options(
            SparseVec::new(&[1], &[1.0]),
            3,
            SparseStrategy::MaxScore,
            None,
            true,
            false,
        )
        .err()
        .map(|e| e.code);
    assert_eq!(e, Some(ErrorCode::InvalidArgument));
    let _ = std::fs::remove_dir_all(&dir);
}

fn write_plain(ix: &SharedSparseIndex, c: &Corpus) {
    let rows: Vec<usize> = (0..100).collect();
    let (indptr, indices, values) = c.csr(&rows);
    let keys: Vec<u32> = rows.iter().map(|&i| c.keys[i]).collect();
    ix.add(
        &keys,
        SparseBatch::new(&indptr, &indices, &values),
        false,
        &never(),
        &|_, _| {},
    )
    .expect("add");
}

#[test]
fn bad_filters_and_metadata_are_refused_before_anything_is_written() {
    let ix = SharedSparseIndex::create_with(VOCAB, &schema(), 1).expect("create");
    let q = SparseVec::new(&[1], &[1.0]);
    for bad in [
        r#"{"t":"in","f":"nope","v":["x"]}"#,
        r#"{"t":"in","f":"year","v":["x"]}"#,
        r#"not json"#,
    ] {
        let e = ix
            .search_options(q, 3, SparseStrategy::Wand, Some(bad), false, false)
            .err()
            .map(|e| e.code);
        assert_eq!(e, Some(ErrorCode::InvalidFilter), "{bad}");
    }
    let attrs = r#"[{"year":"x"}]"#;
    let e = ix
        .add_with(
            &[1],
            SparseBatch::new(&[0, 1], &[3], &[1.0]),
            false,
            &MetaInput {
                attributes: Some(attrs),
                payloads: None,
            },
            &never(),
            &|_, _| {},
        )
        .err()
        .map(|e| e.code);
    assert!(e.is_some());
    assert_eq!(ix.read().len(), 0);
}
