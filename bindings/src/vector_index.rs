//! `NativeVectorIndex`: the JS class over `quiver_engine::SharedIndex`. Translation only:
//! every method converts arguments, runs one engine call (on a libuv worker for the async
//! methods, on the JS thread for the `*Sync` twins) and converts the result.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Float32Array, PromiseRaw, Uint32Array};
use napi::Env;
use napi_derive::napi;
use quiver_engine::quantized::{QuantConfig, QuantKind};
use quiver_engine::{
    options, persist, AddOutcome, BatchHits, Config, Error as EngineError, FilteredBatch, Handle,
    HitMeta, MetaConfig, MetaInput, Plan, SearchHits, SearchOptions, SharedIndex, VectorIndex,
};

use crate::arrays::JsArray;
use crate::common::store_methods;
use crate::error::{guard, to_js};
use crate::tasks::{
    access, check_cancel, job, open_job, open_now, report, write_job, CancelFlag, External, Job,
    Progress,
};

/// Options, fully resolved by the TypeScript layer (which applies the defaults).
#[napi(object)]
pub struct NativeConfig {
    pub dim: u32,
    pub metric: String,
    pub index: String,
    pub m: u32,
    pub ef_construction: u32,
    pub ef_search: u32,
    pub seed: u32,
    pub threads: u32,
    /// none | sq8 | binary | rabitq | pq
    pub quantization: String,
    /// PQ sub-spaces.
    pub pq_m: u32,
    /// PQ bits per sub-code (4 or 8).
    pub nbits: u32,
    /// PQ: learn an OPQ rotation.
    pub opq: bool,
    /// Binary: query bits (1 or 4).
    pub query_bits: u32,
    /// Rescore final candidates with f32.
    pub rerank: bool,
    /// Candidates = max(ef, k × oversample).
    pub oversample: f64,
    /// Vectors used for automatic training.
    pub training_size: u32,
    /// memory | mmap | none
    pub originals: String,
    /// Declared attribute fields: a JSON object of field name to type.
    pub attributes: Option<String>,
    /// Whether keys may carry a payload.
    pub payload: Option<bool>,
}

/// A search with a filter, a range bound or metadata to return.
#[napi(object)]
pub struct NativeSearchRequest {
    pub k: u32,
    pub ef: u32,
    /// The compiled filter (JSON).
    pub filter: Option<String>,
    /// auto | exact | acorn | graph
    pub filter_strategy: Option<String>,
    pub max_distance: Option<f64>,
    pub include_attributes: Option<bool>,
    pub include_payload: Option<bool>,
}

/// How a filtered or range search was answered.
#[napi(object)]
pub struct NativePlan {
    /// exact | acorn | graph
    pub strategy: String,
    pub matched: u32,
    pub distance_computations: f64,
    pub capped: bool,
}

/// One filtered/range search's hits, nearest first, with the plan and requested metadata.
#[napi(object, object_from_js = false)]
pub struct NativeFilteredResult {
    #[napi(ts_type = "Uint32Array")]
    pub keys: JsArray<u32>,
    #[napi(ts_type = "Float32Array")]
    pub distances: JsArray<f32>,
    pub plan: NativePlan,
    /// Each hit's attributes (JSON object text), when requested.
    pub attributes: Option<Vec<Option<String>>>,
    /// Each hit's payload (JSON text), when requested.
    pub payloads: Option<Vec<Option<String>>>,
}

/// A filtered batch: row-major `n × k` hits, counts, one plan per query, and the requested
/// metadata of every hit, row after row (`counts[i]` entries for row `i`).
#[napi(object, object_from_js = false)]
pub struct NativeFilteredBatchResult {
    #[napi(ts_type = "Uint32Array")]
    pub keys: JsArray<u32>,
    #[napi(ts_type = "Float32Array")]
    pub distances: JsArray<f32>,
    #[napi(ts_type = "Uint32Array")]
    pub counts: JsArray<u32>,
    pub plans: Vec<NativePlan>,
    pub attributes: Option<Vec<Option<String>>>,
    pub payloads: Option<Vec<Option<String>>>,
}

/// Heap bytes by part.
#[napi(object)]
pub struct NativeMemoryUsage {
    pub total: f64,
    pub originals: f64,
    pub codes: f64,
    pub graph: f64,
    pub keys: f64,
    pub attributes: f64,
    pub payloads: f64,
}

/// One search's hits, nearest first.
#[napi(object, object_from_js = false)]
pub struct NativeSearchResult {
    #[napi(ts_type = "Uint32Array")]
    pub keys: JsArray<u32>,
    #[napi(ts_type = "Float32Array")]
    pub distances: JsArray<f32>,
}

/// A batch's hits, row-major `n × k`, with the hit count of each row.
#[napi(object, object_from_js = false)]
pub struct NativeBatchResult {
    #[napi(ts_type = "Uint32Array")]
    pub keys: JsArray<u32>,
    #[napi(ts_type = "Float32Array")]
    pub distances: JsArray<f32>,
    #[napi(ts_type = "Uint32Array")]
    pub counts: JsArray<u32>,
}

/// A list of separate searches: each query's hits, one query after another (`counts[i]` for
/// query `i`, 0 when it failed), and the queries that failed.
#[napi(object, object_from_js = false)]
pub struct NativeManyResult {
    #[napi(ts_type = "Uint32Array")]
    pub keys: JsArray<u32>,
    #[napi(ts_type = "Float32Array")]
    pub distances: JsArray<f32>,
    #[napi(ts_type = "Uint32Array")]
    pub counts: JsArray<u32>,
    pub failed: Vec<NativeQueryFailure>,
}

/// Why one query of a list failed: its position, the error's code and message.
#[napi(object, object_from_js = false)]
pub struct NativeQueryFailure {
    pub index: u32,
    pub code: String,
    pub message: String,
}

/// What an add did.
#[napi(object)]
pub struct NativeAddResult {
    pub inserted: u32,
    pub aborted: bool,
}

/// A cancel flag the TS layer sets from an AbortSignal.
#[napi]
pub struct CancelToken {
    flag: Arc<AtomicBool>,
}

#[napi]
impl CancelToken {
    /// A token that is not cancelled.
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        CancelToken {
            flag: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Requests cancellation; running work stops at its next check.
    #[napi]
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }

    /// Whether `cancel()` was called.
    #[napi(getter)]
    pub fn cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

pub(crate) fn flag(token: Option<&CancelToken>) -> CancelFlag {
    token.map_or_else(|| Arc::new(AtomicBool::new(false)), |t| t.flag.clone())
}

/// The engine configuration for `c` (validated when an index is built from it).
pub(crate) fn to_config(c: NativeConfig) -> Result<Config, EngineError> {
    Ok(Config {
        dim: c.dim as usize,
        metric: options::metric(&c.metric)?,
        kind: options::index_kind(&c.index)?,
        m: c.m as usize,
        ef_construction: c.ef_construction as usize,
        ef_search: c.ef_search as usize,
        seed: u64::from(c.seed),
        threads: c.threads as usize,
        quant: QuantConfig {
            kind: options::quant_kind(&c.quantization, c.query_bits, c.pq_m, c.nbits, c.opq)?,
            rerank: c.rerank,
            oversample: c.oversample as f32,
            training_size: c.training_size as usize,
        },
        originals: options::originals(&c.originals)?,
    })
}

/// What `c` declares besides vectors.
pub(crate) fn to_meta(c: &NativeConfig) -> Result<MetaConfig, EngineError> {
    options::meta_config(c.attributes.as_deref(), c.payload.unwrap_or(false))
}

pub(crate) fn from_config(c: &Config, meta: Option<MetaConfig>) -> NativeConfig {
    let meta = meta.unwrap_or_default();
    let (pq_m, nbits, opq, query_bits) = match c.quant.kind {
        QuantKind::Pq { m, nbits, opq } => (m, u32::from(nbits), opq, 4),
        QuantKind::Binary { query_bits } => (0, 8, false, u32::from(query_bits)),
        _ => (0, 8, false, 4),
    };
    NativeConfig {
        quantization: c.quant.kind.name().into(),
        pq_m,
        nbits,
        opq,
        query_bits,
        rerank: c.quant.rerank,
        oversample: f64::from(c.quant.oversample),
        training_size: c.quant.training_size as u32,
        originals: c.originals.name().into(),
        dim: c.dim as u32,
        metric: c.metric.name().into(),
        index: c.kind.name().into(),
        m: c.m as u32,
        ef_construction: c.ef_construction as u32,
        ef_search: c.ef_search as u32,
        seed: c.seed as u32,
        threads: c.threads as u32,
        attributes: meta.attributes.map(|s| s.to_json()),
        payload: Some(meta.payload),
    }
}

pub(crate) fn memory_of(m: &quiver_engine::MemoryUsage) -> NativeMemoryUsage {
    NativeMemoryUsage {
        total: m.total() as f64,
        originals: m.vectors as f64,
        codes: m.codes as f64,
        graph: m.graph as f64,
        keys: m.keys as f64,
        attributes: m.attributes as f64,
        payloads: m.payloads as f64,
    }
}

fn plan_of(p: Plan) -> NativePlan {
    NativePlan {
        strategy: p.strategy.name().into(),
        matched: p.matched as u32,
        distance_computations: p.distance_computations as f64,
        capped: p.capped,
    }
}

fn options_of(r: NativeSearchRequest) -> SearchOptions {
    SearchOptions {
        k: count(r.k),
        ef: Some(count(r.ef)),
        filter: r.filter,
        strategy: r.filter_strategy,
        max_distance: r.max_distance,
        include_attributes: r.include_attributes.unwrap_or(false),
        include_payload: r.include_payload.unwrap_or(false),
    }
}

fn filtered_result((h, m): (SearchHits, HitMeta)) -> NativeFilteredResult {
    NativeFilteredResult {
        plan: plan_of(h.plan.unwrap_or(Plan {
            strategy: quiver_engine::PlanKind::Exact,
            matched: 0,
            distance_computations: 0,
            capped: false,
        })),
        keys: h.keys.into(),
        distances: h.distances.into(),
        attributes: m.attributes,
        payloads: m.payloads,
    }
}

fn filtered_batch_result(b: FilteredBatch) -> NativeFilteredBatchResult {
    let (h, plans, metas) = (b.hits, b.plans, b.meta);
    let flatten = |pick: fn(HitMeta) -> Option<Vec<Option<String>>>, metas: &[HitMeta]| {
        if metas.iter().all(|m| pick(m.clone()).is_none()) {
            return None;
        }
        Some(
            metas
                .iter()
                .flat_map(|m| pick(m.clone()).unwrap_or_default())
                .collect(),
        )
    };
    NativeFilteredBatchResult {
        attributes: flatten(|m| m.attributes, &metas),
        payloads: flatten(|m| m.payloads, &metas),
        plans: plans.into_iter().map(plan_of).collect(),
        keys: h.keys.into(),
        distances: h.distances.into(),
        counts: h.counts.into(),
    }
}

fn search_result(h: SearchHits) -> NativeSearchResult {
    NativeSearchResult {
        keys: h.keys.into(),
        distances: h.distances.into(),
    }
}

fn many_result(each: Vec<Result<SearchHits, EngineError>>) -> NativeManyResult {
    let (mut keys, mut distances, mut counts, mut failed) = (vec![], vec![], vec![], vec![]);
    for (i, r) in each.into_iter().enumerate() {
        match r {
            Ok(h) => {
                counts.push(h.keys.len() as u32);
                keys.extend(h.keys);
                distances.extend(h.distances);
            }
            Err(e) => {
                counts.push(0);
                failed.push(NativeQueryFailure {
                    index: i as u32,
                    code: e.code.as_str().to_string(),
                    message: e.message,
                });
            }
        }
    }
    NativeManyResult {
        keys: keys.into(),
        distances: distances.into(),
        counts: counts.into(),
        failed,
    }
}

fn batch_result(h: BatchHits) -> NativeBatchResult {
    NativeBatchResult {
        keys: h.keys.into(),
        distances: h.distances.into(),
        counts: h.counts.into(),
    }
}

pub(crate) fn add_result(o: AddOutcome) -> NativeAddResult {
    NativeAddResult {
        inserted: o.inserted as u32,
        aborted: o.aborted,
    }
}

/// `k` and `ef` arrive as JS numbers already checked by the TS layer; a value that does not
/// fit is still caught by the engine's range checks (it becomes usize::MAX).
fn count(x: u32) -> usize {
    x as usize
}

/// A vector index. See the TypeScript `VectorIndex` for the documented API.
#[napi(custom_finalize)]
pub struct NativeVectorIndex {
    handle: Handle<SharedIndex>,
    external: Arc<External>,
}

fn wrap(index: SharedIndex) -> NativeVectorIndex {
    NativeVectorIndex {
        handle: Handle::new(index, "VectorIndex"),
        external: Arc::default(),
    }
}

/// The resolved `k`, `ef` pair of a search (ranges are the engine's to check).
fn k_ef(k: u32, ef: u32) -> (usize, Option<usize>) {
    (count(k), Some(count(ef)))
}

#[napi]
impl NativeVectorIndex {
    /// An empty index for a resolved configuration.
    #[napi(constructor)]
    pub fn new(env: Env, config: NativeConfig) -> napi::Result<Self> {
        guard(|| {
            let meta = to_meta(&config)?;
            VectorIndex::new_with(to_config(config)?, &meta)
        })
        .map(|index| open_now(&env, SharedIndex::new(index), wrap, |n| &n.external))
        .map_err(|e| to_js(&env, e))
    }

    /// Loads an index file on a worker thread.
    #[napi(ts_return_type = "Promise<NativeVectorIndex>")]
    pub fn load(
        path: String,
        mmap: bool,
        threads: Option<u32>,
    ) -> AsyncTask<Job<SharedIndex, NativeVectorIndex>> {
        open_job(
            move || {
                persist::load(&PathBuf::from(path), mmap, threads.map(count)).map(SharedIndex::new)
            },
            wrap,
            |n| &n.external,
        )
    }

    /// Loads an index file on the JS thread.
    #[napi]
    pub fn load_sync(
        env: Env,
        path: String,
        mmap: bool,
        threads: Option<u32>,
    ) -> napi::Result<NativeVectorIndex> {
        guard(|| persist::load(&PathBuf::from(path), mmap, threads.map(count)))
            .map(|index| open_now(&env, SharedIndex::new(index), wrap, |n| &n.external))
            .map_err(|e| to_js(&env, e))
    }

    /// Adds (or upserts) a batch on the index's write thread, after the writes queued before.
    #[napi(
        ts_args_type = "keys: Uint32Array, vectors: Float32Array, upsert: boolean, onProgress?: ((err: Error | null, done: number, total: number) => void) | null, cancel?: CancelToken | null, attributes?: string | null, payloads?: Array<string | null> | null",
        ts_return_type = "Promise<NativeAddResult>"
    )]
    #[allow(clippy::too_many_arguments)]
    pub fn add<'env>(
        &self,
        env: &'env Env,
        keys: Uint32Array,
        vectors: Float32Array,
        upsert: bool,
        on_progress: Option<Progress>,
        cancel: Option<&CancelToken>,
        attributes: Option<String>,
        payloads: Option<Vec<Option<String>>>,
    ) -> napi::Result<PromiseRaw<'env, NativeAddResult>> {
        let (inner, cancel) = (self.handle.get(), flag(cancel));
        let (keys, vectors) = (keys.to_vec(), vectors.to_vec());
        write_job(
            env,
            inner,
            Some(&self.external),
            move |inner| {
                let report = report(on_progress.as_ref());
                let meta = MetaInput {
                    attributes: attributes.as_deref(),
                    payloads: payloads.as_deref(),
                };
                inner.add_with(&keys, &vectors, upsert, &meta, &cancel, &mut |d, t| {
                    report(d, t)
                })
            },
            add_result,
        )
    }

    /// Adds (or upserts) a batch on the JS thread.
    #[napi]
    pub fn add_sync(
        &self,
        env: Env,
        keys: Uint32Array,
        vectors: Float32Array,
        upsert: bool,
        attributes: Option<String>,
        payloads: Option<Vec<Option<String>>>,
    ) -> napi::Result<NativeAddResult> {
        let never = AtomicBool::new(false);
        let meta = MetaInput {
            attributes: attributes.as_deref(),
            payloads: payloads.as_deref(),
        };
        guard(|| {
            let inner = self.handle.get()?;
            let out = inner.add_with(&keys, &vectors, upsert, &meta, &never, &mut |_, _| {})?;
            self.external.report_store(&env, &*inner);
            Ok(out)
        })
        .map(add_result)
        .map_err(|e| to_js(&env, e))
    }

    /// Searches one query on a worker thread.
    #[napi(ts_return_type = "Promise<NativeSearchResult>")]
    pub fn search(
        &self,
        query: Float32Array,
        k: u32,
        ef: u32,
        cancel: Option<&CancelToken>,
    ) -> AsyncTask<Job<SearchHits, NativeSearchResult>> {
        let (inner, cancel, query) = (self.handle.get(), flag(cancel), query.to_vec());
        let (k, ef) = k_ef(k, ef);
        job(
            move || {
                let inner = inner?;
                check_cancel(&cancel)?;
                let hits = inner.read().search(&query, k, ef);
                hits
            },
            search_result,
        )
    }

    /// Searches one query on the JS thread.
    #[napi]
    pub fn search_sync(
        &self,
        env: Env,
        query: Float32Array,
        k: u32,
        ef: u32,
    ) -> napi::Result<NativeSearchResult> {
        let (k, ef) = k_ef(k, ef);
        guard(|| self.handle.get()?.read().search(&query, k, ef))
            .map(search_result)
            .map_err(|e| to_js(&env, e))
    }

    /// Searches each query of a list on its own, one after another on one worker thread.
    #[napi(ts_return_type = "Promise<NativeManyResult>")]
    pub fn search_many(
        &self,
        queries: Float32Array,
        k: u32,
        ef: u32,
    ) -> AsyncTask<Job<Vec<Result<SearchHits, EngineError>>, NativeManyResult>> {
        let (inner, queries) = (self.handle.get(), queries.to_vec());
        let (k, ef) = k_ef(k, ef);
        job(move || inner?.search_each(&queries, k, ef), many_result)
    }

    /// Searches many queries on the index's thread pool, from a worker thread.
    #[napi(ts_return_type = "Promise<NativeBatchResult>")]
    pub fn search_batch(
        &self,
        queries: Float32Array,
        k: u32,
        ef: u32,
        cancel: Option<&CancelToken>,
    ) -> AsyncTask<Job<BatchHits, NativeBatchResult>> {
        let (inner, cancel, queries) = (self.handle.get(), flag(cancel), queries.to_vec());
        let (k, ef) = k_ef(k, ef);
        job(
            move || inner?.read().search_batch(&queries, k, ef, &cancel),
            batch_result,
        )
    }

    /// Searches many queries on the index's thread pool; the JS thread waits.
    #[napi]
    pub fn search_batch_sync(
        &self,
        env: Env,
        queries: Float32Array,
        k: u32,
        ef: u32,
    ) -> napi::Result<NativeBatchResult> {
        let never = AtomicBool::new(false);
        let (k, ef) = k_ef(k, ef);
        guard(|| {
            self.handle
                .get()?
                .read()
                .search_batch(&queries, k, ef, &never)
        })
        .map(batch_result)
        .map_err(|e| to_js(&env, e))
    }

    /// A filtered and/or range search of one query, on a worker thread.
    #[napi(ts_return_type = "Promise<NativeFilteredResult>")]
    pub fn search_with(
        &self,
        query: Float32Array,
        request: NativeSearchRequest,
        cancel: Option<&CancelToken>,
    ) -> AsyncTask<Job<(SearchHits, HitMeta), NativeFilteredResult>> {
        let (inner, cancel, query) = (self.handle.get(), flag(cancel), query.to_vec());
        let opts = options_of(request);
        job(
            move || {
                let inner = inner?;
                check_cancel(&cancel)?;
                let hits = inner.read().search_options(&query, &opts);
                hits
            },
            filtered_result,
        )
    }

    /// A filtered and/or range search of one query, on the JS thread.
    #[napi]
    pub fn search_with_sync(
        &self,
        env: Env,
        query: Float32Array,
        request: NativeSearchRequest,
    ) -> napi::Result<NativeFilteredResult> {
        let opts = options_of(request);
        guard(|| self.handle.get()?.read().search_options(&query, &opts))
            .map(filtered_result)
            .map_err(|e| to_js(&env, e))
    }

    /// A filtered batch (one filter for all, or `filters`: one per query), from a worker
    /// thread on the index's pool.
    #[napi(ts_return_type = "Promise<NativeFilteredBatchResult>")]
    pub fn search_batch_with(
        &self,
        queries: Float32Array,
        request: NativeSearchRequest,
        filters: Option<Vec<String>>,
        cancel: Option<&CancelToken>,
    ) -> AsyncTask<Job<FilteredBatch, NativeFilteredBatchResult>> {
        let (inner, cancel, queries) = (self.handle.get(), flag(cancel), queries.to_vec());
        let opts = options_of(request);
        job(
            move || {
                inner?
                    .read()
                    .search_batch_options(&queries, &opts, filters.as_deref(), &cancel)
            },
            filtered_batch_result,
        )
    }

    /// A filtered batch on the JS thread (the pool works, the JS thread waits).
    #[napi]
    pub fn search_batch_with_sync(
        &self,
        env: Env,
        queries: Float32Array,
        request: NativeSearchRequest,
        filters: Option<Vec<String>>,
    ) -> napi::Result<NativeFilteredBatchResult> {
        let never = AtomicBool::new(false);
        let opts = options_of(request);
        guard(|| {
            self.handle.get()?.read().search_batch_options(
                &queries,
                &opts,
                filters.as_deref(),
                &never,
            )
        })
        .map(filtered_batch_result)
        .map_err(|e| to_js(&env, e))
    }

    /// Rows matching a compiled filter (all live rows without one).
    #[napi]
    pub fn count(&self, env: Env, filter: Option<String>) -> napi::Result<u32> {
        guard(|| self.handle.get()?.read().count_json(filter.as_deref()))
            .map(|n| n as u32)
            .map_err(|e| to_js(&env, e))
    }

    /// A key's attributes (JSON object text), or null.
    #[napi]
    pub fn get_attributes(&self, env: Env, key: u32) -> napi::Result<Option<String>> {
        access(&env, &self.handle, |i| {
            let g = i.read();
            g.slot(key).and_then(|s| g.meta().attributes_json(s))
        })
    }

    /// A key's payload (JSON text), or null.
    #[napi]
    pub fn get_payload(&self, env: Env, key: u32) -> napi::Result<Option<String>> {
        access(&env, &self.handle, |i| {
            let g = i.read();
            g.slot(key)
                .and_then(|s| g.meta().payload(s).map(str::to_owned))
        })
    }

    /// Whether `key` is present.
    #[napi]
    pub fn has(&self, env: Env, key: u32) -> napi::Result<bool> {
        access(&env, &self.handle, |i| i.read().has(key))
    }

    /// A copy of the stored vector, or null.
    #[napi(ts_return_type = "Float32Array | null")]
    pub fn get(&self, env: Env, key: u32) -> napi::Result<Option<JsArray<f32>>> {
        access(&env, &self.handle, |i| i.read().get(key).map(JsArray))
    }

    /// Live vectors.
    #[napi(getter)]
    pub fn size(&self, env: Env) -> napi::Result<u32> {
        access(&env, &self.handle, |i| i.read().len() as u32)
    }

    /// Dimension.
    #[napi(getter)]
    pub fn dim(&self, env: Env) -> napi::Result<u32> {
        access(&env, &self.handle, |i| i.read().config().dim as u32)
    }

    /// Metric name.
    #[napi(getter)]
    pub fn metric(&self, env: Env) -> napi::Result<String> {
        access(&env, &self.handle, |i| {
            i.read().config().metric.name().into()
        })
    }

    /// Whether this is a read-only memory-mapped view.
    #[napi(getter)]
    pub fn read_only(&self, env: Env) -> napi::Result<bool> {
        access(&env, &self.handle, |i| i.read().is_read_only())
    }

    /// The resolved configuration.
    #[napi]
    pub fn config(&self, env: Env) -> napi::Result<NativeConfig> {
        access(&env, &self.handle, |i| {
            let g = i.read();
            from_config(g.config(), Some(g.meta().config()))
        })
    }

    /// Heap bytes held, by part.
    #[napi]
    pub fn memory_usage(&self, env: Env) -> napi::Result<NativeMemoryUsage> {
        access(&env, &self.handle, |i| memory_of(&i.read().memory_usage()))
    }

    /// Whether the quantizer is trained (true for an index without quantization).
    #[napi(getter)]
    pub fn trained(&self, env: Env) -> napi::Result<bool> {
        access(&env, &self.handle, |i| !i.read().needs_training())
    }

    /// Trains the quantizer on the index's write thread (`sample` empty: on the stored vectors).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn train<'env>(
        &self,
        env: &'env Env,
        sample: Float32Array,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let (inner, sample) = (self.handle.get(), sample.to_vec());
        write_job(
            env,
            inner,
            Some(&self.external),
            move |inner| inner.train(sample_of(&sample)),
            |()| (),
        )
    }

    /// Trains the quantizer on the JS thread.
    #[napi]
    pub fn train_sync(&self, env: Env, sample: Float32Array) -> napi::Result<()> {
        guard(|| {
            let inner = self.handle.get()?;
            inner.train(sample_of(&sample))?;
            self.external.report_store(&env, &*inner);
            Ok(())
        })
        .map_err(|e| to_js(&env, e))
    }
}

/// An empty sample means "train on the stored vectors".
fn sample_of(s: &[f32]) -> Option<&[f32]> {
    (!s.is_empty()).then_some(s)
}

store_methods!(NativeVectorIndex);
