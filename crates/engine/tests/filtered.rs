//! The filter planner against brute force at fixed seeds, on data large enough that `auto`
//! takes every path (exact scan, ACORN, graph traversal), for f32 and quantized indexes,
//! including a filter anti-correlated with the queries.

use quiver_engine::meta::{MetaConfig, MetaInput};
use quiver_engine::quantized::{QuantConfig, QuantKind};
use quiver_engine::{
    Config, FilterStrategy, IndexKind, Metric, PlanKind, Schema, SearchRequest, VectorIndex,
};
use quiver_hnsw::splitmix64;

const DIM: usize = 16;
const N: usize = 30_000;
const CLUSTERS: usize = 20;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = splitmix64(self.0);
        self.0
    }
    fn f(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

/// Clustered points: row `i` belongs to cluster `i % CLUSTERS`.
fn data(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut r = Rng(seed);
    let centres: Vec<f32> = (0..CLUSTERS * DIM).map(|_| r.f() * 8.0).collect();
    let mut out = Vec::with_capacity(n * DIM);
    for i in 0..n {
        let c = i % CLUSTERS;
        for d in 0..DIM {
            out.push(centres[c * DIM + d] + r.f());
        }
    }
    (out, centres)
}

fn l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Attributes: `cluster` (keyword), `bucket` = i % 100 (int), `even` (bool).
fn build(quant: QuantKind) -> (VectorIndex, Vec<f32>) {
    let (vectors, _) = data(N, 7);
    let schema =
        Schema::from_json(r#"{"cluster":"keyword","bucket":"int","even":"bool"}"#).expect("schema");
    let cfg = Config {
        metric: Metric::L2,
        kind: IndexKind::Hnsw,
        threads: 1,
        quant: QuantConfig {
            kind: quant,
            training_size: 5000,
            ..QuantConfig::default()
        },
        ..Config::new(DIM)
    };
    let mut index = VectorIndex::new_with(
        cfg,
        &MetaConfig {
            attributes: Some(schema),
            payload: false,
        },
    )
    .expect("index");
    let attrs: Vec<String> = (0..N)
        .map(|i| {
            format!(
                r#"{{"cluster":"c{}","bucket":{},"even":{}}}"#,
                i % CLUSTERS,
                i % 100,
                i % 2 == 0
            )
        })
        .collect();
    let json = format!("[{}]", attrs.join(","));
    let keys: Vec<u32> = (0..N as u32).collect();
    index
        .add_with(
            &keys,
            &vectors,
            false,
            &MetaInput {
                attributes: Some(&json),
                payloads: None,
            },
        )
        .expect("add");
    (index, vectors)
}

/// Mean recall@10 of `strategy` against brute force over the rows `accept` keeps; the plans
/// seen.
fn recall(
    index: &VectorIndex,
    vectors: &[f32],
    filter: &str,
    accept: impl Fn(usize) -> bool,
    strategy: FilterStrategy,
    queries: &[Vec<f32>],
) -> (f64, Vec<PlanKind>) {
    let f = index.compile_filter(filter).expect("filter");
    let mut sum = 0.0;
    let mut plans = Vec::new();
    for q in queries {
        let hits = index
            .search_with(
                q,
                &SearchRequest {
                    k: 10,
                    ef: Some(64),
                    filter: Some(&f),
                    strategy,
                    ..Default::default()
                },
            )
            .expect("search");
        for &k in &hits.keys {
            assert!(accept(k as usize), "{filter}: key {k} does not match");
        }
        let mut truth: Vec<(f32, usize)> = (0..N)
            .filter(|&i| accept(i))
            .map(|i| (l2(q, &vectors[i * DIM..(i + 1) * DIM]), i))
            .collect();
        truth.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let want: Vec<usize> = truth.iter().take(10).map(|t| t.1).collect();
        assert_eq!(hits.keys.len(), want.len(), "{filter}: short answer");
        let got = hits
            .keys
            .iter()
            .filter(|k| want.contains(&(**k as usize)))
            .count();
        sum += got as f64 / want.len().max(1) as f64;
        plans.push(hits.plan.expect("a filtered search has a plan").strategy);
    }
    (sum / queries.len() as f64, plans)
}

/// A filter (JSON form), the rows it keeps, and the plan `auto` should choose for it.
type Case = (&'static str, Box<dyn Fn(usize) -> bool>, Option<PlanKind>);

fn queries(near_cluster: usize, count: usize) -> Vec<Vec<f32>> {
    let (_, centres) = data(1, 7);
    let mut r = Rng(99);
    (0..count)
        .map(|_| {
            (0..DIM)
                .map(|d| centres[near_cluster * DIM + d] + r.f())
                .collect()
        })
        .collect()
}

#[test]
fn every_plan_against_brute_force() {
    for quant in [QuantKind::None, QuantKind::Sq8] {
        let (index, vectors) = build(quant);
        // Queries sit in cluster 3; the filters keep: half the rows (graph under auto), 20 %
        // (ACORN under auto), 1 % (exact), and another cluster only (anti-correlated, 5 %).
        let qs = queries(3, 30);
        let cases: Vec<Case> = vec![
            (
                r#"{"t":"in","f":"even","v":[true]}"#,
                Box::new(|i| i % 2 == 0),
                Some(PlanKind::Graph),
            ),
            (
                r#"{"t":"range","f":"bucket","lt":20}"#,
                Box::new(|i| i % 100 < 20),
                Some(PlanKind::Acorn),
            ),
            (
                r#"{"t":"in","f":"bucket","v":[42]}"#,
                Box::new(|i| i % 100 == 42),
                Some(PlanKind::Exact),
            ),
            (
                r#"{"t":"in","f":"cluster","v":["c11"]}"#,
                Box::new(|i| i % CLUSTERS == 11),
                None,
            ),
        ];
        for (filter, accept, auto_plan) in &cases {
            for strategy in [
                FilterStrategy::Auto,
                FilterStrategy::Exact,
                FilterStrategy::Acorn,
                FilterStrategy::Graph,
            ] {
                let (r, plans) = recall(&index, &vectors, filter, accept, strategy, &qs);
                eprintln!(
                    "{quant:?} {filter} {strategy:?}: recall@10 {r:.3} plans {:?}",
                    plans.first()
                );
                match strategy {
                    FilterStrategy::Exact => assert!(
                        r >= 0.999 || quant != QuantKind::None,
                        "{filter} exact: {r}"
                    ),
                    FilterStrategy::Auto => {
                        assert!(r >= 0.95, "{quant:?} {filter} auto: recall {r}");
                        if let (Some(want), QuantKind::None) = (auto_plan, quant) {
                            assert!(
                                plans.iter().any(|p| p == want),
                                "{filter}: auto never chose {want:?} ({plans:?})"
                            );
                        }
                    }
                    _ => assert!(r >= 0.5, "{quant:?} {filter} {strategy:?}: recall {r}"),
                }
            }
        }
    }
}
