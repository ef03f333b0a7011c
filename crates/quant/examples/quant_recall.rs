//! Recall and speed of the binary and RaBitQ quantizers.
//!
//! ```text
//! cargo run --release -p quiver-quant --example quant_recall -- [binary|rabitq] [options]
//!   --data fashion        Fashion-MNIST from /work/shared/data/fashion-mnist (default if present;
//!                         the .gz files are read through `gzip -dc`), exact L2 ground truth
//!                         from its groundtruth/ folder
//!   --data synthetic      seeded Gaussian clusters (default otherwise)
//!   --data FILE.fvecs     base vectors; queries are the last --queries rows
//!   --n N --dim D         synthetic size (default 100000 × 384)
//!   --queries Q           number of queries (default 200)
//!   --metric l2|ip|cosine (default l2)
//!   --query-bits 1|4      binary only (default 4)
//! ```
//!
//! Prints train time, encode time, ns per estimate, and recall@10 after an exact rerank of the
//! top-C candidates by estimate for several C.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use quiver_quant::binary::{Binary, BinaryParams};
use quiver_quant::rabitq::{Rabitq, RabitqParams};
use quiver_quant::{Metric, PreparedQuery, Quantizer};

const FASHION: &str = "/work/shared/data/fashion-mnist";

struct Data {
    dim: usize,
    base: Vec<f32>,
    queries: Vec<f32>,
    /// Top-10 exact neighbours per query, if known.
    truth: Option<Vec<Vec<usize>>>,
}

fn gunzip(path: &Path) -> Result<Vec<u8>, String> {
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(path)
        .output()
        .map_err(|e| format!("gzip: {e}"))?;
    if !out.status.success() {
        return Err(format!("gzip failed on {}", path.display()));
    }
    Ok(out.stdout)
}

fn idx_images(path: &Path) -> Result<(usize, usize, Vec<f32>), String> {
    let b = gunzip(path)?;
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
    if b.len() < 16 || be(0) != 2051 {
        return Err("not an IDX image file".into());
    }
    let (n, dim) = (be(4), be(8) * be(12));
    if b.len() != 16 + n * dim {
        return Err("IDX size mismatch".into());
    }
    Ok((n, dim, b[16..].iter().map(|&x| f32::from(x)).collect()))
}

fn ivecs(path: &Path) -> Result<Vec<Vec<usize>>, String> {
    let b = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut i = 0;
    while i + 4 <= b.len() {
        let k = u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
        i += 4;
        let row = (0..k)
            .map(|j| {
                let o = i + 4 * j;
                u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]) as usize
            })
            .collect();
        i += 4 * k;
        out.push(row);
    }
    Ok(out)
}

fn fvecs(path: &Path) -> Result<(usize, Vec<f32>), String> {
    let b = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut dim = 0;
    let mut i = 0;
    while i + 4 <= b.len() {
        let d = u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
        if dim != 0 && d != dim {
            return Err("ragged fvecs".into());
        }
        dim = d;
        i += 4;
        for j in 0..d {
            let o = i + 4 * j;
            out.push(f32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]));
        }
        i += 4 * d;
    }
    Ok((dim, out))
}

struct Rng(u64);
impl Rng {
    fn u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn gauss(&mut self) -> f32 {
        let a = ((self.u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let b = ((self.u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        ((-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()) as f32
    }
}

fn synthetic(n: usize, dim: usize, nq: usize) -> Data {
    let mut rng = Rng(42);
    let k = 100;
    let centres: Vec<f32> = (0..k * dim).map(|_| rng.gauss()).collect();
    let mut all = Vec::with_capacity((n + nq) * dim);
    for _ in 0..n + nq {
        let c = (rng.u64() % k as u64) as usize;
        for j in 0..dim {
            all.push(centres[c * dim + j] + rng.gauss());
        }
    }
    let queries = all.split_off(n * dim);
    Data {
        dim,
        base: all,
        queries,
        truth: None,
    }
}

fn exact(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    let k = quiver_distance::kernels();
    k.distance_fn(metric)(a, b)
}

fn run<Q: Quantizer>(name: &str, q: Q, train_s: f64, data: &Data, metric: Metric) {
    let dim = data.dim;
    let n = data.base.len() / dim;
    let nq = data.queries.len() / dim;
    let cb = q.code_bytes();
    let t = Instant::now();
    let mut codes = vec![0u8; n * cb];
    for (v, c) in data.base.chunks_exact(dim).zip(codes.chunks_exact_mut(cb)) {
        q.encode(v, c);
    }
    let enc_s = t.elapsed().as_secs_f64();
    println!(
        "{name}: n={n} dim={dim} metric={} code_bytes={cb} train {:.3} s, encode {:.3} s ({:.2} µs/vector)",
        metric.name(),
        train_s,
        enc_s,
        enc_s * 1e6 / n as f64
    );

    let cand_list = [10usize, 20, 50, 100, 200, 500, 1000];
    let mut hits = vec![0usize; cand_list.len()];
    let mut scan_ns = 0.0f64;
    let mut prep_ns = 0.0f64;
    let mut est = vec![(0.0f32, 0u32); n];
    for (qi, qv) in data.queries.chunks_exact(dim).enumerate() {
        let truth: Vec<usize> = match &data.truth {
            Some(t) => t[qi][..10].to_vec(),
            None => {
                let mut all: Vec<(f32, usize)> = data
                    .base
                    .chunks_exact(dim)
                    .enumerate()
                    .map(|(i, v)| (exact(metric, qv, v), i))
                    .collect();
                all.select_nth_unstable_by(10, |a, b| a.0.total_cmp(&b.0));
                all[..10].iter().map(|x| x.1).collect()
            }
        };
        let t = Instant::now();
        let pq = q.prepare(qv);
        prep_ns += t.elapsed().as_nanos() as f64;
        let t = Instant::now();
        for ((e, c), i) in est.iter_mut().zip(codes.chunks_exact(cb)).zip(0u32..) {
            *e = (pq.distance(c), i);
        }
        scan_ns += t.elapsed().as_nanos() as f64;
        let maxc = *cand_list.last().unwrap_or(&10);
        est.select_nth_unstable_by(maxc, |a, b| a.0.total_cmp(&b.0));
        est[..maxc].sort_by(|a, b| a.0.total_cmp(&b.0));
        for (h, &c) in hits.iter_mut().zip(&cand_list) {
            let mut rr: Vec<(f32, usize)> = est[..c]
                .iter()
                .map(|&(_, i)| {
                    let i = i as usize;
                    (exact(metric, qv, &data.base[i * dim..(i + 1) * dim]), i)
                })
                .collect();
            rr.sort_by(|a, b| a.0.total_cmp(&b.0));
            *h += rr.iter().take(10).filter(|x| truth.contains(&x.1)).count();
        }
    }
    println!(
        "  prepare {:.1} µs/query, {:.2} ns/estimate (full scan, incl. loop)",
        prep_ns / nq as f64 / 1e3,
        scan_ns / (nq * n) as f64
    );
    println!("  candidates  recall@10");
    for (h, c) in hits.iter().zip(cand_list) {
        println!("  {c:>10}  {:.4}", *h as f64 / (nq * 10) as f64);
    }
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut which = "rabitq".to_string();
    let mut source = if Path::new(FASHION).exists() {
        "fashion".to_string()
    } else {
        "synthetic".to_string()
    };
    let (mut n, mut dim, mut nq, mut qb) = (100_000usize, 384usize, 200usize, 4u8);
    let mut metric = Metric::L2;
    let mut i = 0;
    while i < args.len() {
        let val = |i: usize| args.get(i + 1).cloned().ok_or("missing value");
        match args[i].as_str() {
            "binary" | "rabitq" => which = args[i].clone(),
            "--data" => {
                source = val(i)?;
                i += 1;
            }
            "--n" => {
                n = val(i)?.parse().map_err(|_| "bad --n")?;
                i += 1;
            }
            "--dim" => {
                dim = val(i)?.parse().map_err(|_| "bad --dim")?;
                i += 1;
            }
            "--queries" => {
                nq = val(i)?.parse().map_err(|_| "bad --queries")?;
                i += 1;
            }
            "--query-bits" => {
                qb = val(i)?.parse().map_err(|_| "bad --query-bits")?;
                i += 1;
            }
            "--metric" => {
                metric = Metric::parse(&val(i)?).ok_or("bad --metric")?;
                i += 1;
            }
            x => return Err(format!("unknown argument {x}")),
        }
        i += 1;
    }
    let mut data = match source.as_str() {
        "fashion" => {
            let (_, d, base) = idx_images(&Path::new(FASHION).join("train-images-idx3-ubyte.gz"))?;
            let (_, _, test) = idx_images(&Path::new(FASHION).join("t10k-images-idx3-ubyte.gz"))?;
            let truth = if metric == Metric::L2 {
                Some(ivecs(
                    &Path::new(FASHION).join("groundtruth/test_top100_l2_neighbors.ivecs"),
                )?)
            } else {
                None
            };
            Data {
                dim: d,
                base,
                queries: test[..nq.min(10_000) * d].to_vec(),
                truth,
            }
        }
        "synthetic" => synthetic(n, dim, nq),
        path => {
            let (d, mut all) = fvecs(Path::new(path))?;
            let q = all.split_off(all.len() - nq * d);
            Data {
                dim: d,
                base: all,
                queries: q,
                truth: None,
            }
        }
    };
    if metric == Metric::Cosine {
        for row in data.base.chunks_exact_mut(data.dim) {
            quiver_distance::normalize(row);
        }
        for row in data.queries.chunks_exact_mut(data.dim) {
            quiver_distance::normalize(row);
        }
    }
    let t = Instant::now();
    if which == "binary" {
        let q = Binary::train(
            &data.base,
            data.dim,
            metric,
            BinaryParams { query_bits: qb },
        )
        .map_err(|e| e.to_string())?;
        let s = t.elapsed().as_secs_f64();
        run(&format!("binary(query_bits={qb})"), q, s, &data, metric);
    } else {
        let q = Rabitq::train(&data.base, data.dim, metric, RabitqParams::default())
            .map_err(|e| e.to_string())?;
        let s = t.elapsed().as_secs_f64();
        run("rabitq", q, s, &data, metric);
    }
    Ok(())
}
