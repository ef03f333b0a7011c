//! `NativeVectorIndex`: the JS class over `quiver_engine::SharedIndex`. Translation only:
//! every method converts arguments, runs one engine call (on a libuv worker for the async
//! methods, on the JS thread for the `*Sync` twins) and converts the result.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Float32Array, Uint32Array};
use napi::Env;
use napi_derive::napi;
use quiver_engine::quantized::{QuantConfig, QuantKind};
use quiver_engine::{
    options, persist, AddOutcome, BatchHits, Config, Error as EngineError, Handle, SearchHits,
    SharedIndex, VectorIndex,
};

use crate::arrays::JsArray;
use crate::common::store_methods;
use crate::error::{guard, to_js};
use crate::tasks::{access, check_cancel, job, report, CancelFlag, Job, Progress};

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
}

/// Heap bytes by part.
#[napi(object)]
pub struct NativeMemoryUsage {
    pub total: f64,
    pub originals: f64,
    pub codes: f64,
    pub graph: f64,
    pub keys: f64,
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

pub(crate) fn from_config(c: &Config) -> NativeConfig {
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
    }
}

pub(crate) fn memory_of(m: &quiver_engine::MemoryUsage) -> NativeMemoryUsage {
    NativeMemoryUsage {
        total: m.total() as f64,
        originals: m.vectors as f64,
        codes: m.codes as f64,
        graph: m.graph as f64,
        keys: m.keys as f64,
    }
}

fn search_result(h: SearchHits) -> NativeSearchResult {
    NativeSearchResult {
        keys: h.keys.into(),
        distances: h.distances.into(),
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
#[napi]
pub struct NativeVectorIndex {
    handle: Handle<SharedIndex>,
}

fn wrap(index: VectorIndex) -> NativeVectorIndex {
    NativeVectorIndex {
        handle: Handle::new(SharedIndex::new(index), "VectorIndex"),
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
        guard(|| VectorIndex::new(to_config(config)?))
            .map(wrap)
            .map_err(|e| to_js(&env, e))
    }

    /// Loads an index file on a worker thread.
    #[napi(ts_return_type = "Promise<NativeVectorIndex>")]
    pub fn load(
        path: String,
        mmap: bool,
        threads: Option<u32>,
    ) -> AsyncTask<Job<VectorIndex, NativeVectorIndex>> {
        job(
            move || persist::load(&PathBuf::from(path), mmap, threads.map(count)),
            wrap,
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
            .map(wrap)
            .map_err(|e| to_js(&env, e))
    }

    /// Adds (or upserts) a batch on a worker thread.
    #[napi(
        ts_args_type = "keys: Uint32Array, vectors: Float32Array, upsert: boolean, onProgress?: ((err: Error | null, done: number, total: number) => void) | null, cancel?: CancelToken | null",
        ts_return_type = "Promise<NativeAddResult>"
    )]
    pub fn add(
        &self,
        keys: Uint32Array,
        vectors: Float32Array,
        upsert: bool,
        on_progress: Option<Progress>,
        cancel: Option<&CancelToken>,
    ) -> AsyncTask<Job<AddOutcome, NativeAddResult>> {
        let (inner, cancel) = (self.handle.get(), flag(cancel));
        let (keys, vectors) = (keys.to_vec(), vectors.to_vec());
        job(
            move || {
                let inner = inner?;
                let report = report(on_progress.as_ref());
                inner.add(&keys, &vectors, upsert, &cancel, &mut |d, t| report(d, t))
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
    ) -> napi::Result<NativeAddResult> {
        let never = AtomicBool::new(false);
        guard(|| {
            self.handle
                .get()?
                .add(&keys, &vectors, upsert, &never, &mut |_, _| {})
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
        access(&env, &self.handle, |i| from_config(i.read().config()))
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

    /// Trains the quantizer on a worker thread (`sample` empty: on the stored vectors).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn train(&self, sample: Float32Array) -> AsyncTask<Job<(), ()>> {
        let (inner, sample) = (self.handle.get(), sample.to_vec());
        job(move || inner?.train(sample_of(&sample)), |()| ())
    }

    /// Trains the quantizer on the JS thread.
    #[napi]
    pub fn train_sync(&self, env: Env, sample: Float32Array) -> napi::Result<()> {
        guard(|| self.handle.get()?.train(sample_of(&sample))).map_err(|e| to_js(&env, e))
    }
}

/// An empty sample means "train on the stored vectors".
fn sample_of(s: &[f32]) -> Option<&[f32]> {
    (!s.is_empty()).then_some(s)
}

store_methods!(NativeVectorIndex);
