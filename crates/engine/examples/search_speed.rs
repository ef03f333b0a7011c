//! Engine-level search timing without JS in the way (for tuning the HNSW loop).
//!
//! `cargo run --release -p quiver-engine --example search_speed -- BASE.f32 QUERIES.f32 DIM [INDEX_CACHE]`
//! Files are raw little-endian f32 rows. Builds (THREADS, default 2) or loads the cached index, then
//! prints single-thread QPS and recall@10 against the flat index for several ef values.

use std::time::Instant;

use quiver_engine::quantized::{QuantConfig, QuantKind};
use quiver_engine::{persist, Config, IndexKind, Metric, VectorIndex};

fn read_f32(path: &str) -> Vec<f32> {
    let b = std::fs::read(path).expect("read");
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = read_f32(&args[1]);
    let queries = read_f32(&args[2]);
    let dim: usize = args[3].parse().expect("dim");
    let cache = args.get(4);
    let n = base.len() / dim;
    let nq = (queries.len() / dim).min(2000);
    let keys: Vec<u32> = (0..n as u32).collect();
    // QUANT=sq8|rabitq|binary|pq8|pq4 (OVERSAMPLE=x) searches through codes with an f32 rerank.
    let quant = match std::env::var("QUANT").as_deref() {
        Ok("sq8") => QuantKind::Sq8,
        Ok("rabitq") => QuantKind::Rabitq,
        Ok("binary") => QuantKind::Binary { query_bits: 4 },
        Ok("pq8") => QuantKind::Pq {
            m: (dim / 8) as u32,
            nbits: 8,
            opq: false,
        },
        Ok("pq4") => QuantKind::Pq {
            m: (dim / 4) as u32,
            nbits: 4,
            opq: false,
        },
        _ => QuantKind::None,
    };
    let cfg = Config {
        quant: QuantConfig {
            kind: quant,
            oversample: std::env::var("OVERSAMPLE")
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(2.0),
            training_size: 20_000,
            ..QuantConfig::default()
        },
        // METRIC=l2|cosine|ip (default l2).
        metric: match std::env::var("METRIC").as_deref() {
            Ok("cosine") => Metric::Cosine,
            Ok("ip") => Metric::Ip,
            _ => Metric::L2,
        },
        threads: std::env::var("THREADS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(2),
        ..Config::new(dim)
    };
    let hnsw = match cache.filter(|c| std::path::Path::new(c).exists()) {
        Some(c) => persist::load(std::path::Path::new(c), false, None).expect("load"),
        None => {
            let mut idx = VectorIndex::new(cfg).expect("cfg");
            let t = Instant::now();
            idx.add(&keys, &base, false).expect("add");
            eprintln!("build {:.2}s", t.elapsed().as_secs_f64());
            if let Some(c) = cache {
                persist::save(&idx, std::path::Path::new(c)).expect("save");
            }
            idx
        }
    };
    let mut flat = VectorIndex::new(Config {
        kind: IndexKind::Flat,
        quant: QuantConfig::default(),
        ..cfg
    })
    .expect("cfg");
    flat.add(&keys, &base, false).expect("add");
    let truth: Vec<Vec<u32>> = queries
        .chunks(dim)
        .take(nq)
        .map(|q| flat.search(q, 10, None).expect("s").keys)
        .collect();
    // EFS=10,16,... (default 10,16,32,64,128); REPEAT=n runs the queries n times per ef.
    let efs: Vec<usize> = std::env::var("EFS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 16, 32, 64, 128]);
    let repeat: usize = std::env::var("REPEAT")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    for ef in efs {
        let t = Instant::now();
        let mut hit = 0;
        for _ in 0..repeat {
            hit = 0;
            for (q, tr) in queries.chunks(dim).take(nq).zip(&truth) {
                let r = hnsw.search(q, 10, Some(ef)).expect("s");
                hit += r.keys.iter().filter(|k| tr.contains(k)).count();
            }
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "ef {ef:4}  qps {:8.0}  recall {:.4}",
            (nq * repeat) as f64 / s,
            hit as f64 / (nq * 10) as f64
        );
    }
}
