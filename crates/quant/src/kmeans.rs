//! Seeded k-means: k-means++ initialisation, Lloyd iterations, FAISS-style empty-cluster
//! splitting and a bounded training sample.
//!
//! * **Sample** — like FAISS, training uses at most `max_points_per_centroid · k` points
//!   (default 256·k): larger inputs are subsampled with the seed. At least `k` points are
//!   required ([`QuantError::TooFewVectors`]); FAISS warns below 39·k points and so should the
//!   caller — with fewer than ~39 points per centroid the centroids over-fit and quality
//!   degrades, but training still works.
//! * **Init** — k-means++ (D² sampling) by default; FAISS uses a random pick of `k` distinct
//!   points ([`KMeansInit::Random`] reproduces that). k-means++ usually ends at an equal or
//!   lower objective for the same number of Lloyd iterations.
//! * **Lloyd** — `iterations` rounds (default 25, FAISS's default) of assignment (in parallel
//!   with rayon, inside whatever pool the caller installed; uses the SIMD nearest-centroid
//!   kernel from `quiver_distance::pq`) and centroid update (sequential `f64` sums, so the
//!   result does not depend on the thread count). Stops early once an iteration changes no
//!   assignment and splits nothing (the following iterations would be identical).
//! * **Empty clusters** — split the currently largest cluster: the empty centroid becomes a
//!   copy of it with a tiny symmetric perturbation (`c·(1 ± 1/1024)`, alternating signs per
//!   coordinate, as in FAISS), and the two halves share its point count.
//! * **Randomness** — a private [`SplitMix64`], so results never change with dependency
//!   versions.

use rayon::prelude::*;

use crate::{check_training, QuantError};

/// SplitMix64: the small, fast, well-mixed PRNG used for all seeded choices in this crate.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (`n > 0`; returns 0 for `n == 0`), via a 128-bit multiply.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A standard normal sample (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// `count` distinct indices from `0..n`, sorted ascending (partial Fisher–Yates), seeded.
pub fn sample_indices(n: usize, count: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let count = count.min(n);
    let mut idx: Vec<usize> = (0..n).collect();
    for i in 0..count {
        let j = i + rng.below(n - i);
        idx.swap(i, j);
    }
    idx.truncate(count);
    idx.sort_unstable();
    idx
}

/// How the centroids are initialised.
#[derive(Clone, Debug, PartialEq)]
pub enum KMeansInit {
    /// k-means++ D² sampling (default).
    PlusPlus,
    /// `k` distinct training points chosen uniformly (FAISS's default).
    Random,
    /// Start from these centroids (`k × dim`), e.g. a warm start.
    Given(Vec<f32>),
}

/// k-means parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct KMeansParams {
    /// Number of centroids.
    pub k: usize,
    /// Lloyd iterations (default 25).
    pub iterations: usize,
    /// Seed for sampling and initialisation.
    pub seed: u64,
    /// Training points are capped at `max_points_per_centroid · k` (default 256).
    pub max_points_per_centroid: usize,
    /// Initialisation (default k-means++).
    pub init: KMeansInit,
}

impl KMeansParams {
    /// Defaults for `k` centroids: 25 iterations, seed 0x5EED, 256 points per centroid,
    /// k-means++.
    pub fn new(k: usize) -> Self {
        KMeansParams {
            k,
            iterations: 25,
            seed: 0x5EED,
            max_points_per_centroid: 256,
            init: KMeansInit::PlusPlus,
        }
    }
}

/// A trained k-means model.
#[derive(Clone, Debug, PartialEq)]
pub struct KMeans {
    /// Vector dimension.
    pub dim: usize,
    /// Number of centroids.
    pub k: usize,
    /// `k × dim` centroids, row-major.
    pub centroids: Vec<f32>,
    /// Sum of squared distances of the training points to their centroid after the last
    /// assignment (before the final update).
    pub inertia: f64,
    /// Lloyd iterations actually run.
    pub iterations_run: usize,
    /// Number of empty-cluster splits performed.
    pub splits: usize,
    /// Number of points trained on (after subsampling).
    pub train_points: usize,
}

/// Centroids in the transposed layout the nearest-centroid kernel wants.
#[derive(Clone, Debug)]
pub struct CentroidIndex {
    dim: usize,
    k: usize,
    ct: Vec<f32>,
    cnorm: Vec<f32>,
}

impl CentroidIndex {
    /// Index `centroids` (`k × dim`, row-major).
    pub fn new(centroids: &[f32], dim: usize) -> Self {
        let k = centroids.len().checked_div(dim).unwrap_or(0);
        let mut ct = vec![0.0f32; dim * k];
        let mut cnorm = vec![0.0f32; k];
        for c in 0..k {
            let row = &centroids[c * dim..(c + 1) * dim];
            for (d, &v) in row.iter().enumerate() {
                ct[d * k + c] = v;
            }
            cnorm[c] = row.iter().map(|v| v * v).sum();
        }
        CentroidIndex { dim, k, ct, cnorm }
    }

    /// Number of centroids.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Nearest centroid of each row of `points` (sequential): index and squared distance.
    pub fn nearest(&self, points: &[f32], idx: &mut [u32], dist: &mut [f32]) {
        let kern = quiver_distance::pq::pq_kernels();
        (kern.nearest)(points, self.dim, &self.ct, &self.cnorm, idx, dist);
    }

    /// Like [`CentroidIndex::nearest`], split over the current rayon pool in fixed chunks.
    pub fn nearest_par(&self, points: &[f32], idx: &mut [u32], dist: &mut [f32]) {
        const CHUNK: usize = 256;
        if self.dim == 0 {
            return;
        }
        points
            .par_chunks(CHUNK * self.dim)
            .zip(idx.par_chunks_mut(CHUNK))
            .zip(dist.par_chunks_mut(CHUNK))
            .for_each(|((p, i), d)| self.nearest(p, i, d));
    }
}

/// Train k-means on `data` (`n × dim`, row-major). Needs `n ≥ k`; see the module docs.
pub fn train(data: &[f32], dim: usize, params: &KMeansParams) -> Result<KMeans, QuantError> {
    let k = params.k;
    if k == 0 {
        return Err(QuantError::InvalidArgument("k-means needs k ≥ 1".into()));
    }
    if k > u32::MAX as usize {
        return Err(QuantError::InvalidArgument("k-means k is too large".into()));
    }
    let n = check_training(data, dim, k)?;
    let mut rng = SplitMix64::new(params.seed);
    let cap = params.max_points_per_centroid.max(1).saturating_mul(k);
    let sample;
    let x: &[f32] = if n > cap {
        let idx = sample_indices(n, cap, &mut rng);
        let mut s = Vec::with_capacity(cap * dim);
        for i in idx {
            s.extend_from_slice(&data[i * dim..(i + 1) * dim]);
        }
        sample = s;
        &sample
    } else {
        data
    };
    let n = x.len() / dim;
    let centroids = match &params.init {
        KMeansInit::PlusPlus => init_plus_plus(x, dim, k, &mut rng),
        KMeansInit::Random => sample_indices(n, k, &mut rng)
            .into_iter()
            .flat_map(|i| x[i * dim..(i + 1) * dim].iter().copied())
            .collect(),
        KMeansInit::Given(c) => {
            if c.len() != k * dim {
                return Err(QuantError::InvalidArgument(format!(
                    "initial centroids hold {} floats, expected {}",
                    c.len(),
                    k * dim
                )));
            }
            if c.iter().any(|v| !v.is_finite()) {
                return Err(QuantError::InvalidArgument(
                    "initial centroids hold a non-finite value".into(),
                ));
            }
            c.clone()
        }
    };
    Ok(lloyd(x, dim, k, centroids, params.iterations))
}

/// k-means++: first centre uniform, then each next one with probability ∝ D².
fn init_plus_plus(x: &[f32], dim: usize, k: usize, rng: &mut SplitMix64) -> Vec<f32> {
    const CHUNK: usize = 4096;
    let n = x.len() / dim;
    let mut cents = Vec::with_capacity(k * dim);
    let first = rng.below(n);
    cents.extend_from_slice(&x[first * dim..(first + 1) * dim]);
    let mut d2 = vec![f32::INFINITY; n];
    let mut chunk_sums = vec![0.0f64; n.div_ceil(CHUNK)];
    // Column-major copy so the D² update vectorises across points.
    let mut xt = vec![0.0f32; n * dim];
    for (i, row) in x.chunks_exact(dim).enumerate() {
        for (d, &v) in row.iter().enumerate() {
            xt[d * n + i] = v;
        }
    }
    for c in 1..k {
        let last = &cents[(c - 1) * dim..c * dim];
        // Update D² against the newest centre; per-chunk sums in a fixed order.
        d2.par_chunks_mut(CHUNK)
            .zip(chunk_sums.par_iter_mut())
            .enumerate()
            .for_each(|(ci, (ds, sum))| {
                let base = ci * CHUNK;
                let mut tmp = [0.0f32; CHUNK];
                let tmp = &mut tmp[..ds.len()];
                for (d, &cd) in last.iter().enumerate() {
                    let col = &xt[d * n + base..d * n + base + ds.len()];
                    for (t, &v) in tmp.iter_mut().zip(col) {
                        let e = v - cd;
                        *t += e * e;
                    }
                }
                let mut s = 0.0f64;
                for (d, &t) in ds.iter_mut().zip(tmp.iter()) {
                    if t < *d {
                        *d = t;
                    }
                    s += f64::from(*d);
                }
                *sum = s;
            });
        let total: f64 = chunk_sums.iter().sum();
        let pick = if total > 0.0 && total.is_finite() {
            let mut r = rng.next_f64() * total;
            let mut chosen = None;
            'outer: for (ci, &s) in chunk_sums.iter().enumerate() {
                if r < s {
                    let base = ci * CHUNK;
                    for (j, &d) in d2[base..(base + CHUNK).min(n)].iter().enumerate() {
                        r -= f64::from(d);
                        if r < 0.0 && d > 0.0 {
                            chosen = Some(base + j);
                            break 'outer;
                        }
                    }
                    // Rounding: fall through to the last positive point of this chunk.
                    chosen = d2[base..(base + CHUNK).min(n)]
                        .iter()
                        .rposition(|&d| d > 0.0)
                        .map(|j| base + j);
                    break;
                }
                r -= s;
            }
            chosen.or_else(|| d2.iter().rposition(|&d| d > 0.0))
        } else {
            None
        };
        // All points coincide with a centre: any point (duplicates get split later).
        let i = pick.unwrap_or_else(|| rng.below(n));
        cents.extend_from_slice(&x[i * dim..(i + 1) * dim]);
    }
    cents
}

/// Lloyd iterations from `cents`.
fn lloyd(x: &[f32], dim: usize, k: usize, mut cents: Vec<f32>, iterations: usize) -> KMeans {
    let n = x.len() / dim;
    let mut assign = vec![u32::MAX; n];
    let mut prev = vec![u32::MAX; n];
    let mut dist = vec![0.0f32; n];
    let mut sums = vec![0.0f64; k * dim];
    let mut counts = vec![0usize; k];
    let mut inertia = 0.0f64;
    let mut splits = 0usize;
    let mut run = 0usize;
    for _ in 0..iterations {
        run += 1;
        let index = CentroidIndex::new(&cents, dim);
        index.nearest_par(x, &mut assign, &mut dist);
        inertia = dist.iter().map(|&d| f64::from(d)).sum();
        let changed = assign != prev;
        // Update: sequential f64 sums (deterministic).
        sums.iter_mut().for_each(|s| *s = 0.0);
        counts.iter_mut().for_each(|c| *c = 0);
        for (row, &a) in x.chunks_exact(dim).zip(&assign) {
            let a = (a as usize).min(k - 1);
            counts[a] += 1;
            for (s, &v) in sums[a * dim..(a + 1) * dim].iter_mut().zip(row) {
                *s += f64::from(v);
            }
        }
        for c in 0..k {
            if counts[c] > 0 {
                let inv = 1.0 / counts[c] as f64;
                for (dst, &s) in cents[c * dim..(c + 1) * dim]
                    .iter_mut()
                    .zip(&sums[c * dim..(c + 1) * dim])
                {
                    *dst = (s * inv) as f32;
                }
            }
        }
        let split_now = split_empty(&mut cents, &mut counts, dim);
        splits += split_now;
        if !changed && split_now == 0 {
            break;
        }
        std::mem::swap(&mut assign, &mut prev);
    }
    KMeans {
        dim,
        k,
        centroids: cents,
        inertia,
        iterations_run: run,
        splits,
        train_points: n,
    }
}

/// FAISS-style split: each empty cluster takes a perturbed copy of the largest one.
fn split_empty(cents: &mut [f32], counts: &mut [usize], dim: usize) -> usize {
    const EPS: f32 = 1.0 / 1024.0;
    let k = counts.len();
    let mut splits = 0;
    for ci in 0..k {
        if counts[ci] != 0 {
            continue;
        }
        // Largest cluster (smallest index on ties).
        let Some(cj) = (0..k).max_by_key(|&c| (counts[c], std::cmp::Reverse(c))) else {
            break;
        };
        if counts[cj] < 2 {
            // Nothing left worth splitting.
            break;
        }
        for d in 0..dim {
            let v = cents[cj * dim + d];
            // Symmetric: one side grows, the other shrinks; zero coordinates get a tiny nudge.
            let delta = if v != 0.0 { v * EPS } else { EPS * 1e-3 };
            let (a, b) = if d % 2 == 0 {
                (v + delta, v - delta)
            } else {
                (v - delta, v + delta)
            };
            cents[ci * dim + d] = a;
            cents[cj * dim + d] = b;
        }
        counts[ci] = counts[cj] / 2;
        counts[cj] -= counts[ci];
        splits += 1;
    }
    splits
}
