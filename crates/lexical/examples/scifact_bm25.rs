//! BM25 on BEIR SciFact: nDCG@10 of the test queries, index build time, and Block-Max WAND
//! versus exhaustive latency.
//!
//! ```text
//! QUIVER_SHARED_DATA=/work/shared/data cargo run --release -p quiver-lexical --example scifact_bm25
//! ```
//!
//! Options (environment): `SCIFACT_CONFIGS=all` also runs the analyzer variants (no
//! stemming, no stop words, Pyserini's k1=0.9/b=0.4); `SCIFACT_REPEAT=n` repeats every query
//! n times for the latency figures (default 5); `SCIFACT_SCALE=n` also times a collection of
//! n copies of the corpus; `SCIFACT_SENTENCES=1` also times the ~46k abstract sentences
//! (`sentences.jsonl`) as separate documents; `SCIFACT_PROFILE=bmw|bmm|ex` just runs one strategy many times
//! (for `perf`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use quiver_lexical::{AnalyzerConfig, AnalyzerKind, Bm25Params, StopWords, Strategy, TextIndex};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Data {
    ids: Vec<String>,
    texts: Vec<String>,
    queries: Vec<(String, String)>,
    qrels: HashMap<String, HashMap<String, i64>>,
}

fn read_jsonl(path: &PathBuf) -> Res<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Ok(serde_json::from_str(l)?))
        .collect()
}

fn field(v: &serde_json::Value, name: &str) -> String {
    match v.get(name) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) if !other.is_null() => other.to_string(),
        _ => String::new(),
    }
}

fn load() -> Res<Data> {
    let root = std::env::var("QUIVER_SHARED_DATA").unwrap_or_else(|_| "/work/shared/data".into());
    let dir = PathBuf::from(root).join("beir-scifact");
    let corpus = read_jsonl(&dir.join("corpus.jsonl"))?;
    let mut ids = Vec::with_capacity(corpus.len());
    let mut texts = Vec::with_capacity(corpus.len());
    for d in &corpus {
        ids.push(field(d, "_id"));
        texts.push(format!("{} {}", field(d, "title"), field(d, "text")));
    }
    let qtext: HashMap<String, String> = read_jsonl(&dir.join("queries.jsonl"))?
        .iter()
        .map(|q| (field(q, "_id"), field(q, "text")))
        .collect();
    let qrels_path = dir.join("qrels").join("test.tsv");
    let tsv = std::fs::read_to_string(&qrels_path)
        .map_err(|e| format!("{}: {e}", qrels_path.display()))?;
    let mut qrels: HashMap<String, HashMap<String, i64>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 {
            continue;
        }
        if !qrels.contains_key(cols[0]) {
            order.push(cols[0].to_string());
        }
        qrels
            .entry(cols[0].to_string())
            .or_default()
            .insert(cols[1].to_string(), cols[2].trim().parse()?);
    }
    let queries = order
        .into_iter()
        .filter_map(|q| qtext.get(&q).map(|t| (q.clone(), t.clone())))
        .collect();
    Ok(Data {
        ids,
        texts,
        queries,
        qrels,
    })
}

/// BEIR's nDCG@10 (pytrec_eval): gain = relevance, discount log2(rank + 1).
fn ndcg10(ranked: &[String], rel: &HashMap<String, i64>) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, d)| *rel.get(d).unwrap_or(&0) as f64 / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<i64> = rel.values().copied().filter(|&r| r > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, &r)| r as f64 / (i as f64 + 2.0).log2())
        .sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn run(data: &Data, name: &str, cfg: AnalyzerConfig, params: Bm25Params, timing: bool) -> Res<()> {
    let mut ix = TextIndex::new(cfg, params)?;
    let keys: Vec<u32> = (0..data.texts.len() as u32).collect();
    let texts: Vec<&str> = data.texts.iter().map(String::as_str).collect();
    let t0 = Instant::now();
    ix.add(&keys, &texts)?;
    let build = t0.elapsed().as_secs_f64();

    let mut ndcg = 0.0;
    let mut disagree = 0;
    for (qid, q) in &data.queries {
        let hits = ix.search_with(q, 10, Strategy::BlockMaxWand)?;
        let oracle = ix.search_exhaustive(q, 10)?;
        let bmm = ix.search_with(q, 10, Strategy::BlockMaxMaxScore)?;
        if hits != oracle || bmm != oracle {
            disagree += 1;
        }
        let ranked: Vec<String> = hits
            .iter()
            .map(|&(k, _)| data.ids[k as usize].clone())
            .collect();
        ndcg += ndcg10(&ranked, &data.qrels[qid]);
    }
    ndcg /= data.queries.len().max(1) as f64;
    println!(
        "{name:<44} nDCG@10 = {ndcg:.4}  ({} queries, {} docs, {} terms, build {:.3} s, {:.1} MiB, top-10 disagreements: {disagree})",
        data.queries.len(),
        ix.len(),
        ix.num_terms(),
        build,
        ix.memory_usage().total() as f64 / (1 << 20) as f64
    );
    if disagree > 0 {
        return Err(format!("{disagree} queries where the strategies disagree").into());
    }
    if let Ok(only) = std::env::var("SCIFACT_PROFILE") {
        // Profiling aid: run one strategy over all queries many times.
        let st = match only.as_str() {
            "bmw" => Strategy::BlockMaxWand,
            "bmm" => Strategy::BlockMaxMaxScore,
            _ => Strategy::Exhaustive,
        };
        for _ in 0..200 {
            for (_, q) in &data.queries {
                std::hint::black_box(ix.search_with(q, 10, st)?);
            }
        }
        return Ok(());
    }
    if timing {
        latency(&ix, data)?;
    }
    Ok(())
}

fn latency(ix: &TextIndex, data: &Data) -> Res<()> {
    let repeat: usize = std::env::var("SCIFACT_REPEAT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let analyzer = ix.analyzer();
    let strategies = [
        ("query analysis only", None),
        ("Block-Max WAND", Some(Strategy::BlockMaxWand)),
        ("Block-Max MaxScore", Some(Strategy::BlockMaxMaxScore)),
        ("exhaustive", Some(Strategy::Exhaustive)),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); strategies.len()];
    for _ in 0..repeat {
        for (_, q) in &data.queries {
            for (i, (_, st)) in strategies.iter().enumerate() {
                let t = Instant::now();
                match st {
                    None => {
                        std::hint::black_box(analyzer.analyze(q));
                    }
                    Some(st) => {
                        std::hint::black_box(ix.search_with(q, 10, *st)?);
                    }
                }
                times[i].push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
    }
    let stats: Vec<(f64, f64, f64)> = times
        .iter_mut()
        .map(|v| {
            let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
            v.sort_by(f64::total_cmp);
            (pct(v, 0.5), pct(v, 0.99), mean)
        })
        .collect();
    println!(
        "  per-query latency, k=10, {} runs each (µs, search includes query analysis):",
        times[0].len()
    );
    let ex = stats[3];
    for ((name, _), (p50, p99, mean)) in strategies.iter().zip(&stats) {
        println!(
            "    {name:<20} p50 {p50:8.1}  p99 {p99:8.1}  mean {mean:8.1}   exhaustive/this: p50 {:.2}x  p99 {:.2}x  mean {:.2}x",
            ex.0 / p50,
            ex.1 / p99,
            ex.2 / mean
        );
    }
    Ok(())
}

fn main() -> Res<()> {
    let data = load()?;
    let all = std::env::var("SCIFACT_CONFIGS").is_ok_and(|v| v == "all");
    let cfg = |stem: bool, stop: StopWords| AnalyzerConfig {
        kind: AnalyzerKind::Default,
        stem,
        stop_words: stop,
    };
    run(
        &data,
        "default (stem + English stop), k1=1.2 b=0.75",
        AnalyzerConfig::default(),
        Bm25Params::default(),
        true,
    )?;
    if let Some(scale) = std::env::var("SCIFACT_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
    {
        // Latency on a larger collection: the corpus repeated `scale` times (distinct keys).
        let mut ix = TextIndex::new(AnalyzerConfig::default(), Bm25Params::default())?;
        let n = data.texts.len() as u32;
        let texts: Vec<&str> = data.texts.iter().map(String::as_str).collect();
        let t0 = Instant::now();
        for r in 0..scale {
            let keys: Vec<u32> = (0..n).map(|i| r * n + i).collect();
            ix.add(&keys, &texts)?;
        }
        println!(
            "corpus x{scale}: {} docs, build {:.2} s, {:.1} MiB",
            ix.len(),
            t0.elapsed().as_secs_f64(),
            ix.memory_usage().total() as f64 / (1 << 20) as f64
        );
        for (_, q) in &data.queries {
            let want = ix.search_exhaustive(q, 10)?;
            if ix.search_with(q, 10, Strategy::BlockMaxWand)? != want
                || ix.search_with(q, 10, Strategy::BlockMaxMaxScore)? != want
            {
                return Err(format!("strategies disagree on {q:?}").into());
            }
        }
        latency(&ix, &data)?;
    }
    if std::env::var("SCIFACT_SENTENCES").is_ok_and(|v| v == "1") {
        // Latency on a larger real collection: every abstract sentence of SciFact as its own
        // document (sentences.jsonl, ~46k short documents), same queries.
        let root =
            std::env::var("QUIVER_SHARED_DATA").unwrap_or_else(|_| "/work/shared/data".into());
        let path = PathBuf::from(root)
            .join("beir-scifact")
            .join("sentences.jsonl");
        let mut sentences: Vec<String> = Vec::new();
        for d in read_jsonl(&path)? {
            if let Some(serde_json::Value::Array(a)) = d.get("sentences") {
                sentences.extend(a.iter().filter_map(|v| v.as_str().map(str::to_string)));
            }
        }
        let mut ix = TextIndex::new(AnalyzerConfig::default(), Bm25Params::default())?;
        let keys: Vec<u32> = (0..sentences.len() as u32).collect();
        let texts: Vec<&str> = sentences.iter().map(String::as_str).collect();
        let t0 = Instant::now();
        ix.add(&keys, &texts)?;
        println!(
            "sentences: {} docs, build {:.2} s, {:.1} MiB",
            ix.len(),
            t0.elapsed().as_secs_f64(),
            ix.memory_usage().total() as f64 / (1 << 20) as f64
        );
        for (_, q) in &data.queries {
            let want = ix.search_exhaustive(q, 10)?;
            if ix.search_with(q, 10, Strategy::BlockMaxWand)? != want
                || ix.search_with(q, 10, Strategy::BlockMaxMaxScore)? != want
            {
                return Err(format!("strategies disagree on {q:?}").into());
            }
        }
        latency(&ix, &data)?;
    }
    if all {
        let pyserini = Bm25Params { k1: 0.9, b: 0.4 };
        run(
            &data,
            "stem + English stop, k1=0.9 b=0.4",
            cfg(true, StopWords::English),
            pyserini,
            false,
        )?;
        run(
            &data,
            "stem, no stop words",
            cfg(true, StopWords::None),
            Bm25Params::default(),
            false,
        )?;
        run(
            &data,
            "no stem, English stop",
            cfg(false, StopWords::English),
            Bm25Params::default(),
            false,
        )?;
        run(
            &data,
            "no stem, no stop words",
            cfg(false, StopWords::None),
            Bm25Params::default(),
            false,
        )?;
        run(
            &data,
            "no stem, no stop, k1=0.9 b=0.4",
            cfg(false, StopWords::None),
            pyserini,
            false,
        )?;
    }
    Ok(())
}
