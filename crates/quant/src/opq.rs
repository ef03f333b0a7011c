//! Optimized product quantization (OPQ, non-parametric variant of Ge et al., 2013): learn an
//! orthogonal rotation `R` so that PQ of `x·R` loses less than PQ of `x`.
//!
//! Alternating minimisation of `‖X·R − Y‖²` on the training sample, starting from `R = I`:
//! 1. fit PQ codebooks on `X·R` (first round 10 Lloyd iterations from k-means++, then 4
//!    iterations warm-started from the previous codebooks, like FAISS's `niter_pq_0` /
//!    `niter_pq` hot start), and reconstruct `Y = decode(encode(X·R))`;
//! 2. solve the orthogonal Procrustes problem `R = U·Vᵀ` where `Xᵀ·Y = U·Σ·Vᵀ`.
//!
//! `opq_iterations` rounds (default 4; FAISS uses 50) on at most [`OPQ_MAX_ROWS`] rows. The
//! SVD is a small one-sided Jacobi (Hestenes) in `f64`, no dependency: each pair of columns
//! costs one vectorised dot product (column norms are carried through the rotations). Cost
//! grows as `dim³` per round (Jacobi) plus `n·dim²` (the products): at 100k × 384 OPQ adds
//! about 5 s on 2 threads to plain PQ training (8.3 s in all, `pq_quality --opq --train-only`);
//! at 1,000+ dimensions expect tens of seconds.

use rayon::prelude::*;

use crate::pq::{train_codebooks, PqParams};
use crate::QuantError;

/// An orthogonal `dim × dim` rotation applied as `x_rot = x·R` (row vector times `R`).
#[derive(Clone, Debug, PartialEq)]
pub struct Rotation {
    dim: usize,
    /// `R`, row-major: `r[i·dim + j] = R[i][j]`.
    r: Vec<f32>,
    /// `Rᵀ`, row-major (so `x_rot[j] = dot(x, rt[j])`).
    rt: Vec<f32>,
}

impl Rotation {
    /// The identity rotation.
    pub fn identity(dim: usize) -> Self {
        let mut r = vec![0.0f32; dim * dim];
        for i in 0..dim {
            r[i * dim + i] = 1.0;
        }
        Rotation {
            dim,
            rt: r.clone(),
            r,
        }
    }

    /// From a row-major `dim × dim` matrix. Checks the length, finiteness and orthogonality
    /// (`‖RᵀR − I‖_max ≤ 1e-3`).
    pub fn from_matrix(r: Vec<f32>, dim: usize) -> Result<Self, QuantError> {
        if dim == 0 || r.len() != dim * dim {
            return Err(QuantError::InvalidArgument(format!(
                "rotation holds {} floats, expected {dim}²",
                r.len()
            )));
        }
        if r.iter().any(|v| !v.is_finite()) {
            return Err(QuantError::InvalidArgument(
                "rotation holds a non-finite value".into(),
            ));
        }
        let mut rt = vec![0.0f32; dim * dim];
        for i in 0..dim {
            for j in 0..dim {
                rt[j * dim + i] = r[i * dim + j];
            }
        }
        let rot = Rotation { dim, r, rt };
        let dot = quiver_distance::kernels().dot;
        for i in 0..dim {
            for j in 0..dim {
                let v = dot(
                    &rot.rt[i * dim..(i + 1) * dim],
                    &rot.rt[j * dim..(j + 1) * dim],
                );
                let want = if i == j { 1.0 } else { 0.0 };
                if (v - want).abs() > 1e-3 {
                    return Err(QuantError::InvalidArgument(
                        "rotation is not orthogonal".into(),
                    ));
                }
            }
        }
        Ok(rot)
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// `R`, row-major.
    pub fn matrix(&self) -> &[f32] {
        &self.r
    }

    /// `out = x·R` for one vector (`x`, `out`: `dim` floats; shorter slices are truncated).
    pub fn apply(&self, x: &[f32], out: &mut [f32]) {
        let dot = quiver_distance::kernels().dot;
        for (o, col) in out.iter_mut().zip(self.rt.chunks_exact(self.dim)) {
            *o = dot(x, col);
        }
    }

    /// `out = y·Rᵀ` (the inverse rotation) for one vector.
    pub fn apply_inverse(&self, y: &[f32], out: &mut [f32]) {
        let dot = quiver_distance::kernels().dot;
        for (o, row) in out.iter_mut().zip(self.r.chunks_exact(self.dim)) {
            *o = dot(y, row);
        }
    }

    /// `X·R` for `n` rows (`x.len()/dim`), in parallel.
    pub fn apply_rows(&self, x: &[f32]) -> Vec<f32> {
        let n = x.len() / self.dim;
        let mut out = vec![0.0f32; n * self.dim];
        out.par_chunks_mut(self.dim)
            .zip(x.par_chunks(self.dim))
            .for_each(|(o, row)| self.apply(row, o));
        out
    }
}

/// Most rows the rotation is learned on.
pub const OPQ_MAX_ROWS: usize = 16_384;

/// Learns the OPQ rotation on `x` (`n × dim`, already sampled). See the module docs.
pub(crate) fn train_rotation(
    x: &[f32],
    dim: usize,
    m: usize,
    ksub: usize,
    params: &PqParams,
    seed: u64,
) -> Result<Rotation, QuantError> {
    // The rotation is learned on at most OPQ_MAX_ROWS rows (an even stride through the sample):
    // a dim × dim rotation is well determined by far fewer rows than the codebooks need, and
    // this keeps OPQ on 100k × 384 inside the training-time budget.
    let n = x.len() / dim;
    let strided;
    let x: &[f32] = if n > OPQ_MAX_ROWS {
        let step = n as f64 / OPQ_MAX_ROWS as f64;
        strided = (0..OPQ_MAX_ROWS)
            .flat_map(|i| {
                let r = (i as f64 * step) as usize;
                x[r * dim..(r + 1) * dim].iter().copied()
            })
            .collect::<Vec<f32>>();
        &strided
    } else {
        x
    };
    let mut rot = Rotation::identity(dim);
    let mut books: Option<Vec<f32>> = None;
    let dsub = dim / m;
    for it in 0..params.opq_iterations {
        let xr = rot.apply_rows(x);
        let iters = if it == 0 { 10 } else { 4 };
        let cb = train_codebooks(&xr, dim, m, ksub, iters, seed, books.as_deref())?;
        // Y = reconstruction of X·R.
        let mut y = vec![0.0f32; xr.len()];
        y.par_chunks_mut(dim)
            .zip(xr.par_chunks(dim))
            .for_each(|(yr, xrow)| {
                for s in 0..m {
                    let xs = &xrow[s * dsub..(s + 1) * dsub];
                    let cents = &cb[s * ksub * dsub..(s + 1) * ksub * dsub];
                    let mut best = (f32::INFINITY, 0usize);
                    for (c, cv) in cents.chunks_exact(dsub).enumerate() {
                        let d: f32 = xs.iter().zip(cv).map(|(a, b)| (a - b) * (a - b)).sum();
                        if d < best.0 {
                            best = (d, c);
                        }
                    }
                    yr[s * dsub..(s + 1) * dsub]
                        .copy_from_slice(&cents[best.1 * dsub..(best.1 + 1) * dsub]);
                }
            });
        rot = procrustes(x, &y, dim)?;
        books = Some(cb);
    }
    Ok(rot)
}

/// Transpose of an `n × dim` row-major matrix (`dim × n`).
fn transpose(x: &[f32], dim: usize) -> Vec<f32> {
    let n = x.len() / dim;
    let mut t = vec![0.0f32; x.len()];
    for (r, row) in x.chunks_exact(dim).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            t[c * n + r] = v;
        }
    }
    t
}

/// The orthogonal `R` minimising `‖X·R − Y‖_F`: `U·Vᵀ` for `Xᵀ·Y = U·Σ·Vᵀ`.
fn procrustes(x: &[f32], y: &[f32], dim: usize) -> Result<Rotation, QuantError> {
    let n = x.len() / dim;
    let (xt, yt) = (transpose(x, dim), transpose(y, dim));
    let dot = quiver_distance::kernels().dot;
    // M = XᵀY; we store its columns: col_j[i] = M[i][j] = dot(Xt_i, Yt_j).
    let mut cols = vec![0.0f64; dim * dim];
    cols.par_chunks_mut(dim).enumerate().for_each(|(j, col)| {
        let yj = &yt[j * n..(j + 1) * n];
        for (i, c) in col.iter_mut().enumerate() {
            *c = f64::from(dot(&xt[i * n..(i + 1) * n], yj));
        }
    });
    let (u, v) = polar_parts(cols, dim);
    // R[i][k] = Σ_j U[i][j]·V[k][j], with u/v holding columns.
    let mut r = vec![0.0f32; dim * dim];
    r.par_chunks_mut(dim).enumerate().for_each(|(i, row)| {
        for (k, out) in row.iter_mut().enumerate() {
            let mut s = 0.0f64;
            for j in 0..dim {
                s += u[j * dim + i] * v[j * dim + k];
            }
            *out = s as f32;
        }
    });
    Rotation::from_matrix(r, dim)
}

/// `Σ a[i]·b[i]` with eight independent partial sums (a plain `.sum()` over f64 is one serial
/// chain of dependent adds, which the compiler may not reorder; this vectorises).
fn dot_f64(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// One-sided Jacobi SVD of the matrix whose columns are `a` (`dim` columns of `dim`): returns
/// the columns of `U` (orthonormal, completed where singular values vanish) and of `V`.
fn polar_parts(mut a: Vec<f64>, dim: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0f64; dim * dim];
    for i in 0..dim {
        v[i * dim + i] = 1.0;
    }
    let col_dot = |m: &[f64], p: usize, q: usize| -> f64 {
        dot_f64(&m[p * dim..(p + 1) * dim], &m[q * dim..(q + 1) * dim])
    };
    let rotate = |m: &mut [f64], p: usize, q: usize, c: f64, s: f64| {
        let (lo, hi) = m.split_at_mut(q * dim);
        let cp = &mut lo[p * dim..(p + 1) * dim];
        let cq = &mut hi[..dim];
        for (x, y) in cp.iter_mut().zip(cq.iter_mut()) {
            let (xp, xq) = (*x, *y);
            *x = c * xp - s * xq;
            *y = s * xp + c * xq;
        }
    };
    for _sweep in 0..60 {
        let mut rotated = false;
        // Squared column norms, recomputed every sweep and updated exactly by each rotation
        // in between (α' = α − tγ, β' = β + tγ), so a pair costs one dot product, not three.
        let mut norm2: Vec<f64> = (0..dim).map(|j| col_dot(&a, j, j)).collect();
        for p in 0..dim {
            for q in p + 1..dim {
                let (alpha, beta) = (norm2[p], norm2[q]);
                let gamma = col_dot(&a, p, q);
                if gamma == 0.0 || gamma.abs() <= 1e-15 * (alpha * beta).sqrt() {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                rotate(&mut a, p, q, c, s);
                rotate(&mut v, p, q, c, s);
                norm2[p] = alpha - t * gamma;
                norm2[q] = beta + t * gamma;
            }
        }
        if !rotated {
            break;
        }
    }
    // Normalise columns into U; complete tiny ones by Gram–Schmidt on unit vectors.
    let norms: Vec<f64> = (0..dim).map(|j| col_dot(&a, j, j).sqrt()).collect();
    let max = norms.iter().fold(0.0f64, |m, &x| m.max(x));
    let mut weak = Vec::new();
    for (j, &nj) in norms.iter().enumerate() {
        if nj > 1e-12 * max.max(f64::MIN_POSITIVE) {
            a[j * dim..(j + 1) * dim].iter_mut().for_each(|x| *x /= nj);
        } else {
            weak.push(j);
        }
    }
    let mut e = 0;
    for &j in &weak {
        while e < dim {
            let mut cand = vec![0.0f64; dim];
            cand[e] = 1.0;
            e += 1;
            for k in 0..dim {
                if k == j || (weak.contains(&k) && k > j) {
                    continue;
                }
                let d: f64 = cand
                    .iter()
                    .zip(&a[k * dim..(k + 1) * dim])
                    .map(|(x, y)| x * y)
                    .sum();
                for (c, y) in cand.iter_mut().zip(&a[k * dim..(k + 1) * dim]) {
                    *c -= d * y;
                }
            }
            let nn = cand.iter().map(|x| x * x).sum::<f64>().sqrt();
            if nn > 1e-6 {
                for (dst, c) in a[j * dim..(j + 1) * dim].iter_mut().zip(&cand) {
                    *dst = c / nn;
                }
                break;
            }
        }
    }
    (a, v)
}
