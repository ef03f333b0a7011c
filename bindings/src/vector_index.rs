//! `NativeVectorIndex`: the JS class over `quiver_engine::SharedIndex`. Translation only:
//! every method converts arguments, runs one engine call (on a libuv worker for the async
//! methods, on the JS thread for the `*Sync` twins) and converts the result.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Float32Array, FnArgs, Uint32Array, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Task};
use napi_derive::napi;
use quiver_engine::quantized::{Originals, QuantConfig, QuantKind};
use quiver_engine::{
    persist, AddOutcome, BatchHits, Config, Error as EngineError, IndexKind, Metric, SearchHits,
    SharedIndex, VectorIndex,
};

use crate::error::{guard, invalid, to_js};

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
#[napi(object)]
pub struct NativeSearchResult {
    pub keys: Uint32Array,
    pub distances: Float32Array,
}

/// A batch's hits, row-major `n × k`, with the hit count of each row.
#[napi(object)]
pub struct NativeBatchResult {
    pub keys: Uint32Array,
    pub distances: Float32Array,
    pub counts: Uint32Array,
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

pub(crate) fn flag(token: Option<&CancelToken>) -> Arc<AtomicBool> {
    token.map_or_else(|| Arc::new(AtomicBool::new(false)), |t| t.flag.clone())
}

pub(crate) fn to_config(c: NativeConfig) -> Result<Config, EngineError> {
    let metric = Metric::parse(&c.metric).ok_or_else(|| {
        invalid(format!(
            "metric must be 'l2', 'ip' or 'cosine', got '{}'",
            c.metric
        ))
    })?;
    let kind = IndexKind::parse(&c.index)
        .ok_or_else(|| invalid(format!("index must be 'hnsw' or 'flat', got '{}'", c.index)))?;
    let small = |x: u32, what: &str| {
        u8::try_from(x).map_err(|_| invalid(format!("quantization.{what} is out of range: {x}")))
    };
    let quant_kind = match c.quantization.as_str() {
        "none" => QuantKind::None,
        "sq8" => QuantKind::Sq8,
        "binary" => QuantKind::Binary {
            query_bits: small(c.query_bits, "queryBits")?,
        },
        "rabitq" => QuantKind::Rabitq,
        "pq" => QuantKind::Pq {
            m: c.pq_m,
            nbits: small(c.nbits, "nbits")?,
            opq: c.opq,
        },
        other => {
            return Err(invalid(format!(
                "quantization.type must be 'none', 'sq8', 'binary', 'rabitq' or 'pq', got '{other}'"
            )))
        }
    };
    let originals = Originals::parse(&c.originals).ok_or_else(|| {
        invalid(format!(
            "originals must be 'memory', 'mmap' or 'none', got '{}'",
            c.originals
        ))
    })?;
    let config = Config {
        dim: c.dim as usize,
        metric,
        kind,
        m: c.m as usize,
        ef_construction: c.ef_construction as usize,
        ef_search: c.ef_search as usize,
        seed: u64::from(c.seed),
        threads: c.threads as usize,
        quant: QuantConfig {
            kind: quant_kind,
            rerank: c.rerank,
            oversample: c.oversample as f32,
            training_size: c.training_size as usize,
        },
        originals,
    };
    config.validate()?;
    Ok(config)
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
        keys: Uint32Array::new(h.keys),
        distances: Float32Array::new(h.distances),
    }
}

fn batch_result(h: BatchHits) -> NativeBatchResult {
    NativeBatchResult {
        keys: Uint32Array::new(h.keys),
        distances: Float32Array::new(h.distances),
        counts: Uint32Array::new(h.counts),
    }
}

fn add_result(o: AddOutcome) -> NativeAddResult {
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

/// Progress callback: `(err, done, total)`, called without blocking the worker.
pub(crate) type Progress =
    ThreadsafeFunction<FnArgs<(u32, u32)>, Unknown<'static>, FnArgs<(u32, u32)>>;

/// A vector index. See the TypeScript `VectorIndex` for the documented API.
#[napi]
pub struct NativeVectorIndex {
    inner: Arc<SharedIndex>,
}

#[napi]
impl NativeVectorIndex {
    /// An empty index for a resolved configuration.
    #[napi(constructor)]
    pub fn new(env: Env, config: NativeConfig) -> napi::Result<Self> {
        let index = guard(|| VectorIndex::new(to_config(config)?)).map_err(|e| to_js(&env, e))?;
        Ok(NativeVectorIndex {
            inner: Arc::new(SharedIndex::new(index)),
        })
    }

    /// Loads an index file on a worker thread.
    #[napi(ts_return_type = "Promise<NativeVectorIndex>")]
    pub fn load(path: String, mmap: bool) -> AsyncTask<LoadTask> {
        AsyncTask::new(LoadTask {
            path: path.into(),
            mmap,
        })
    }

    /// Loads an index file on the JS thread.
    #[napi]
    pub fn load_sync(env: Env, path: String, mmap: bool) -> napi::Result<NativeVectorIndex> {
        let index = guard(|| persist::load(&PathBuf::from(path), mmap, None))
            .map_err(|e| to_js(&env, e))?;
        Ok(NativeVectorIndex {
            inner: Arc::new(SharedIndex::new(index)),
        })
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
    ) -> AsyncTask<AddTask> {
        AsyncTask::new(AddTask {
            inner: self.inner.clone(),
            keys,
            vectors,
            upsert,
            progress: on_progress,
            cancel: flag(cancel),
        })
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
            self.inner
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
    ) -> AsyncTask<SearchTask> {
        AsyncTask::new(SearchTask {
            inner: self.inner.clone(),
            query,
            k,
            ef,
            cancel: flag(cancel),
        })
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
        guard(|| self.inner.read().search(&query, count(k), Some(count(ef))))
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
    ) -> AsyncTask<BatchTask> {
        AsyncTask::new(BatchTask {
            inner: self.inner.clone(),
            queries,
            k,
            ef,
            cancel: flag(cancel),
        })
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
        guard(|| {
            self.inner
                .read()
                .search_batch(&queries, count(k), Some(count(ef)), &never)
        })
        .map(batch_result)
        .map_err(|e| to_js(&env, e))
    }

    /// Removes keys on a worker thread; resolves to how many were present.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn remove(&self, keys: Uint32Array) -> AsyncTask<RemoveTask> {
        AsyncTask::new(RemoveTask {
            inner: self.inner.clone(),
            keys,
        })
    }

    /// Removes keys on the JS thread; returns how many were present.
    #[napi]
    pub fn remove_sync(&self, env: Env, keys: Uint32Array) -> napi::Result<u32> {
        guard(|| self.inner.remove(&keys))
            .map(|n| n as u32)
            .map_err(|e| to_js(&env, e))
    }

    /// Whether `key` is present.
    #[napi]
    pub fn has(&self, key: u32) -> bool {
        self.inner.read().has(key)
    }

    /// A copy of the stored vector, or null.
    #[napi]
    pub fn get(&self, key: u32) -> Option<Float32Array> {
        self.inner.read().get(key).map(Float32Array::new)
    }

    /// Live vectors.
    #[napi(getter)]
    pub fn size(&self) -> u32 {
        self.inner.read().len() as u32
    }

    /// Dimension.
    #[napi(getter)]
    pub fn dim(&self) -> u32 {
        self.inner.read().config().dim as u32
    }

    /// Metric name.
    #[napi(getter)]
    pub fn metric(&self) -> String {
        self.inner.read().config().metric.name().into()
    }

    /// Whether this is a read-only memory-mapped view.
    #[napi(getter)]
    pub fn read_only(&self) -> bool {
        self.inner.read().is_read_only()
    }

    /// The resolved configuration.
    #[napi]
    pub fn config(&self) -> NativeConfig {
        from_config(self.inner.read().config())
    }

    /// Heap bytes held, by part.
    #[napi]
    pub fn memory_usage(&self) -> NativeMemoryUsage {
        memory_of(&self.inner.read().memory_usage())
    }

    /// Whether the quantizer is trained (true for an index without quantization).
    #[napi(getter)]
    pub fn trained(&self) -> bool {
        !self.inner.read().needs_training()
    }

    /// Trains the quantizer on a worker thread (`sample` empty: on the stored vectors).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn train(&self, sample: Float32Array) -> AsyncTask<TrainTask> {
        AsyncTask::new(TrainTask {
            inner: self.inner.clone(),
            sample,
        })
    }

    /// Trains the quantizer on the JS thread.
    #[napi]
    pub fn train_sync(&self, env: Env, sample: Float32Array) -> napi::Result<()> {
        guard(|| self.inner.train(sample_of(&sample))).map_err(|e| to_js(&env, e))
    }

    /// Saves atomically on a worker thread.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn save(&self, path: String) -> AsyncTask<SaveTask> {
        AsyncTask::new(SaveTask {
            inner: self.inner.clone(),
            path: path.into(),
        })
    }

    /// Saves atomically on the JS thread.
    #[napi]
    pub fn save_sync(&self, env: Env, path: String) -> napi::Result<()> {
        guard(|| self.inner.save(&PathBuf::from(path))).map_err(|e| to_js(&env, e))
    }
}

/// Async add.
pub struct AddTask {
    inner: Arc<SharedIndex>,
    keys: Uint32Array,
    vectors: Float32Array,
    upsert: bool,
    progress: Option<Progress>,
    cancel: Arc<AtomicBool>,
}

impl Task for AddTask {
    type Output = Result<AddOutcome, EngineError>;
    type JsValue = NativeAddResult;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let progress = self.progress.as_ref();
        let mut report = |done: usize, total: usize| {
            if let Some(p) = progress {
                p.call(
                    Ok((done as u32, total as u32).into()),
                    ThreadsafeFunctionCallMode::NonBlocking,
                );
            }
        };
        Ok(guard(|| {
            self.inner.add(
                &self.keys,
                &self.vectors,
                self.upsert,
                &self.cancel,
                &mut report,
            )
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        output.map(add_result).map_err(|e| to_js(&env, e))
    }
}

/// Async single search.
pub struct SearchTask {
    inner: Arc<SharedIndex>,
    query: Float32Array,
    k: u32,
    ef: u32,
    cancel: Arc<AtomicBool>,
}

impl Task for SearchTask {
    type Output = Result<SearchHits, EngineError>;
    type JsValue = NativeSearchResult;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        if self.cancel.load(Ordering::Relaxed) {
            return Ok(Err(EngineError::new(
                quiver_engine::ErrorCode::Aborted,
                "search aborted",
            )));
        }
        Ok(guard(|| {
            self.inner
                .read()
                .search(&self.query, count(self.k), Some(count(self.ef)))
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        output.map(search_result).map_err(|e| to_js(&env, e))
    }
}

/// Async batch search.
pub struct BatchTask {
    inner: Arc<SharedIndex>,
    queries: Float32Array,
    k: u32,
    ef: u32,
    cancel: Arc<AtomicBool>,
}

impl Task for BatchTask {
    type Output = Result<BatchHits, EngineError>;
    type JsValue = NativeBatchResult;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(guard(|| {
            self.inner.read().search_batch(
                &self.queries,
                count(self.k),
                Some(count(self.ef)),
                &self.cancel,
            )
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        output.map(batch_result).map_err(|e| to_js(&env, e))
    }
}

/// Async remove.
pub struct RemoveTask {
    inner: Arc<SharedIndex>,
    keys: Uint32Array,
}

impl Task for RemoveTask {
    type Output = Result<usize, EngineError>;
    type JsValue = u32;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(guard(|| self.inner.remove(&self.keys)))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<u32> {
        output.map(|n| n as u32).map_err(|e| to_js(&env, e))
    }
}

fn sample_of(s: &Float32Array) -> Option<&[f32]> {
    (!s.is_empty()).then_some(&s[..])
}

/// Async train.
pub struct TrainTask {
    inner: Arc<SharedIndex>,
    sample: Float32Array,
}

impl Task for TrainTask {
    type Output = Result<(), EngineError>;
    type JsValue = ();

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(guard(|| self.inner.train(sample_of(&self.sample))))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<()> {
        output.map_err(|e| to_js(&env, e))
    }
}

/// Async save.
pub struct SaveTask {
    inner: Arc<SharedIndex>,
    path: PathBuf,
}

impl Task for SaveTask {
    type Output = Result<(), EngineError>;
    type JsValue = ();

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(guard(|| self.inner.save(&self.path)))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<()> {
        output.map_err(|e| to_js(&env, e))
    }
}

/// Async load.
pub struct LoadTask {
    path: PathBuf,
    mmap: bool,
}

impl Task for LoadTask {
    type Output = Result<VectorIndex, EngineError>;
    type JsValue = NativeVectorIndex;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(guard(|| persist::load(&self.path, self.mmap, None)))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<NativeVectorIndex> {
        output
            .map(|index| NativeVectorIndex {
                inner: Arc::new(SharedIndex::new(index)),
            })
            .map_err(|e| to_js(&env, e))
    }
}
