//! PQ quality and speed report.
//!
//! ```text
//! cargo run --release -p quiver-quant --example pq_quality -- \
//!     --data base.fvecs --queries query.fvecs [--gt gt.ivecs] --m 48 --nbits 8 [--opq]
//! cargo run --release -p quiver-quant --example pq_quality -- \
//!     --data base.bin --dim 384 --queries q.bin --m 96 --nbits 4
//! cargo run --release -p quiver-quant --example pq_quality -- \
//!     --synthetic 100000x384 --m 48 --nbits 8 [--threads 2] [--train-only]
//! ```
//!
//! Prints training time, reconstruction MSE on the base set (mean of ‖x − decode(encode(x))‖²),
//! recall@10 without rerank (ADC top-10 vs the true top-10; without `--gt` the truth is
//! computed by brute force), ns per ADC distance, and (4-bit) fast-scan vs f32 flat-scan
//! throughput over the whole base set. `.bin` files are raw little-endian f32 and need `--dim`.

use std::time::Instant;

use quiver_distance::{kernels, Metric, TopK};
use quiver_quant::fastscan::{FastScanCodes, FastScanLut};
use quiver_quant::kmeans::SplitMix64;
use quiver_quant::pq::{Pq, PqParams};
use quiver_quant::{PreparedQuery, Quantizer};

type Res<T> = Result<T, String>;

fn read_vecs(path: &str, dim_hint: Option<usize>) -> Res<(Vec<f32>, usize)> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    if path.ends_with(".fvecs") {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut dim = 0;
        while pos + 4 <= bytes.len() {
            let d = u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]])
                as usize;
            pos += 4;
            if d == 0 || pos + 4 * d > bytes.len() {
                return Err(format!("{path}: truncated"));
            }
            dim = d;
            out.extend(
                bytes[pos..pos + 4 * d]
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
            pos += 4 * d;
        }
        Ok((out, dim))
    } else {
        let dim = dim_hint.ok_or("raw .bin input needs --dim")?;
        let v: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if !v.len().is_multiple_of(dim) {
            return Err(format!("{path}: not a multiple of dim {dim}"));
        }
        Ok((v, dim))
    }
}

fn read_ivecs(path: &str) -> Res<Vec<Vec<u32>>> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 4 <= bytes.len() {
        let d = u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]])
            as usize;
        pos += 4;
        if pos + 4 * d > bytes.len() {
            return Err(format!("{path}: truncated"));
        }
        out.push(
            bytes[pos..pos + 4 * d]
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        );
        pos += 4 * d;
    }
    Ok(out)
}

fn synthetic(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let clusters = 256;
    let centres: Vec<f32> = (0..clusters * dim).map(|_| rng.normal() as f32).collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = rng.below(clusters);
        for d in 0..dim {
            out.push(centres[c * dim + d] + 0.7 * rng.normal() as f32);
        }
    }
    out
}

struct Args {
    data: Option<String>,
    queries: Option<String>,
    gt: Option<String>,
    dim: Option<usize>,
    synthetic: Option<(usize, usize)>,
    m: usize,
    nbits: u8,
    opq: bool,
    threads: Option<usize>,
    train_only: bool,
    metric: Metric,
}

fn parse() -> Res<Args> {
    let mut a = Args {
        data: None,
        queries: None,
        gt: None,
        dim: None,
        synthetic: None,
        m: 0,
        nbits: 8,
        opq: false,
        threads: None,
        train_only: false,
        metric: Metric::L2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--data" => a.data = Some(val()?),
            "--queries" => a.queries = Some(val()?),
            "--gt" => a.gt = Some(val()?),
            "--dim" => a.dim = Some(val()?.parse().map_err(|e| format!("--dim: {e}"))?),
            "--m" => a.m = val()?.parse().map_err(|e| format!("--m: {e}"))?,
            "--nbits" => a.nbits = val()?.parse().map_err(|e| format!("--nbits: {e}"))?,
            "--threads" => a.threads = Some(val()?.parse().map_err(|e| format!("--threads: {e}"))?),
            "--metric" => a.metric = Metric::parse(&val()?).ok_or("bad --metric")?,
            "--synthetic" => {
                let v = val()?;
                let (n, d) = v.split_once('x').ok_or("--synthetic NxD")?;
                a.synthetic = Some((
                    n.parse().map_err(|e| format!("--synthetic: {e}"))?,
                    d.parse().map_err(|e| format!("--synthetic: {e}"))?,
                ));
            }
            "--opq" => a.opq = true,
            "--train-only" => a.train_only = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Res<()> {
    let a = parse()?;
    if let Some(t) = a.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .map_err(|e| e.to_string())?;
    }
    let (data, queries, dim) = if let Some((n, d)) = a.synthetic {
        let all = synthetic(n + 100, d, 1);
        let (base, q) = all.split_at(n * d);
        (base.to_vec(), q.to_vec(), d)
    } else {
        let (data, dim) = read_vecs(a.data.as_deref().ok_or("--data or --synthetic")?, a.dim)?;
        let (queries, qd) = read_vecs(a.queries.as_deref().ok_or("--queries")?, Some(dim))?;
        if qd != dim {
            return Err(format!("query dim {qd} != base dim {dim}"));
        }
        (data, queries, dim)
    };
    let n = data.len() / dim;
    let m = if a.m == 0 { dim / 8 } else { a.m };
    println!(
        "base {n} × {dim}, {} queries, m = {m}, nbits = {}, opq = {}, isa = {:?}, threads = {}",
        queries.len() / dim,
        a.nbits,
        a.opq,
        quiver_distance::pq::pq_kernels().isa,
        rayon::current_num_threads()
    );
    let params = PqParams {
        opq: a.opq,
        ..PqParams::new(m, a.nbits)
    };
    let t = Instant::now();
    let pq = Pq::train(&data, dim, a.metric, &params).map_err(|e| e.to_string())?;
    println!("training: {:.2} s", t.elapsed().as_secs_f64());
    if a.train_only {
        return Ok(());
    }
    let cb = pq.code_bytes();
    let mut codes = vec![0u8; n * cb];
    let t = Instant::now();
    pq.encode_batch(&data, &mut codes);
    println!("encoding: {:.2} s", t.elapsed().as_secs_f64());
    let mut rec = vec![0.0f32; dim];
    let mut total = 0.0f64;
    for (row, c) in data.chunks_exact(dim).zip(codes.chunks_exact(cb)) {
        pq.decode(c, &mut rec);
        total += f64::from(quiver_distance::scalar::l2sq(row, &rec));
    }
    println!("reconstruction MSE: {:.6}", total / n as f64);

    let f = kernels().distance_fn(a.metric);
    let nq = queries.len() / dim;
    let truth: Vec<Vec<u32>> = match &a.gt {
        Some(p) => read_ivecs(p)?,
        None => queries
            .chunks_exact(dim)
            .map(|q| {
                let mut t = TopK::new(10);
                for (i, r) in data.chunks_exact(dim).enumerate() {
                    t.push(f(q, r), i as u32);
                }
                t.into_sorted().into_iter().map(|(_, i)| i).collect()
            })
            .collect(),
    };
    let mut hits = 0usize;
    let mut adc_ns = 0.0f64;
    for (qi, q) in queries.chunks_exact(dim).enumerate() {
        let pq_q = pq.prepare(q);
        let mut t = TopK::new(10);
        let start = Instant::now();
        for (i, c) in codes.chunks_exact(cb).enumerate() {
            t.push(pq_q.distance(c), i as u32);
        }
        adc_ns += start.elapsed().as_nanos() as f64;
        let got: Vec<u32> = t.into_sorted().into_iter().map(|(_, i)| i).collect();
        let tr = truth.get(qi).map(|v| &v[..v.len().min(10)]).unwrap_or(&[]);
        hits += tr.iter().filter(|i| got.contains(i)).count();
    }
    println!(
        "recall@10 (ADC, no rerank): {:.4}",
        hits as f64 / (10 * nq) as f64
    );
    println!(
        "ADC scan (incl. top-k): {:.2} ns per distance",
        adc_ns / (nq * n) as f64
    );

    // f32 flat scan throughput.
    let mut out = vec![0.0f32; n];
    let reps = nq.min(20);
    let start = Instant::now();
    for q in queries.chunks_exact(dim).take(reps) {
        for (o, r) in out.iter_mut().zip(data.chunks_exact(dim)) {
            *o = f(q, r);
        }
        std::hint::black_box(&out);
    }
    let f32_rate = (reps * n) as f64 / start.elapsed().as_secs_f64();
    println!("f32 flat scan: {:.1} M vectors/s", f32_rate / 1e6);
    let start = Instant::now();
    for q in queries.chunks_exact(dim).take(reps) {
        let pq_q = pq.prepare(q);
        for (o, c) in out.iter_mut().zip(codes.chunks_exact(cb)) {
            *o = pq_q.distance(c);
        }
        std::hint::black_box(&out);
    }
    let adc_rate = (reps * n) as f64 / start.elapsed().as_secs_f64();
    println!(
        "ADC flat scan: {:.1} M vectors/s ({:.2}× f32)",
        adc_rate / 1e6,
        adc_rate / f32_rate
    );
    if a.nbits == 4 {
        let fs = FastScanCodes::from_codes(&codes, n, m).map_err(|e| e.to_string())?;
        let start = Instant::now();
        for q in queries.chunks_exact(dim).take(reps) {
            let lut = FastScanLut::new(&pq.prepare(q)).map_err(|e| e.to_string())?;
            fs.scan(&lut, &mut out).map_err(|e| e.to_string())?;
            std::hint::black_box(&out);
        }
        let fs_rate = (reps * n) as f64 / start.elapsed().as_secs_f64();
        println!(
            "fast-scan flat scan (incl. LUT build): {:.1} M vectors/s ({:.2}× f32)",
            fs_rate / 1e6,
            fs_rate / f32_rate
        );
        let mut hits = 0usize;
        for (qi, q) in queries.chunks_exact(dim).enumerate() {
            let lut = FastScanLut::new(&pq.prepare(q)).map_err(|e| e.to_string())?;
            let got = fs.scan_topk(&lut, 10).map_err(|e| e.to_string())?;
            let tr = truth.get(qi).map(|v| &v[..v.len().min(10)]).unwrap_or(&[]);
            hits += tr
                .iter()
                .filter(|i| got.iter().any(|(_, j)| j == *i))
                .count();
        }
        println!(
            "recall@10 (fast-scan, no rerank): {:.4}",
            hits as f64 / (10 * nq) as f64
        );
    }
    Ok(())
}
