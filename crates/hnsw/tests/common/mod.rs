//! Shared test fixtures: a small f32 L2 scorer, seeded clustered data, a brute-force oracle
//! and a graph builder.
#![allow(dead_code)]

use quiver_hnsw::{splitmix64, Graph, Params, QueryScorer, Scorer};
use rayon::prelude::*;

pub struct L2Data {
    pub dim: usize,
    pub data: Vec<f32>,
}

pub fn l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

impl L2Data {
    pub fn row(&self, id: u32) -> &[f32] {
        &self.data[id as usize * self.dim..(id as usize + 1) * self.dim]
    }
}

pub struct Q<'a> {
    data: &'a L2Data,
    q: &'a [f32],
}

impl QueryScorer for Q<'_> {
    fn distance(&self, id: u32) -> f32 {
        l2(self.q, self.data.row(id))
    }
    fn prefetch(&self, _id: u32) {}
}

impl Scorer for L2Data {
    type Query<'a> = Q<'a>;
    fn query<'a>(&'a self, q: &'a [f32]) -> Q<'a> {
        Q { data: self, q }
    }
    fn node_query(&self, id: u32) -> Q<'_> {
        Q {
            data: self,
            q: self.row(id),
        }
    }
    fn between(&self, a: u32, b: u32) -> f32 {
        l2(self.row(a), self.row(b))
    }
}

/// Clustered Gaussian-ish data from a seed.
pub fn dataset(n: usize, dim: usize, seed: u64) -> L2Data {
    let mut s = seed;
    let mut next = || {
        s = splitmix64(s);
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let centres: Vec<f32> = (0..20 * dim).map(|_| next() * 4.0).collect();
    let mut data = Vec::with_capacity(n * dim);
    for i in 0..n {
        let c = i % 20;
        for j in 0..dim {
            data.push(centres[c * dim + j] + next());
        }
    }
    L2Data { dim, data }
}

pub fn brute(data: &L2Data, q: &[f32], k: usize, skip: impl Fn(u32) -> bool) -> Vec<u32> {
    let n = data.data.len() / data.dim;
    let mut all: Vec<(f32, u32)> = (0..n as u32)
        .filter(|&i| !skip(i))
        .map(|i| (l2(q, data.row(i)), i))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.into_iter().take(k).map(|x| x.1).collect()
}

pub fn build(data: &L2Data, params: Params, threads: usize) -> Graph {
    let n = data.data.len() / data.dim;
    let g = Graph::new(params, n);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    g.insert(data, 0);
    pool.install(|| {
        (1..n as u32).into_par_iter().for_each(|i| {
            g.insert(data, i);
        })
    });
    g
}
