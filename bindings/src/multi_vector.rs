//! `NativeFdeEncoder` and `NativeMultiVectorIndex`: the JS classes over
//! `quiver_muvera::FdeEncoder` and `quiver_engine::multi_vector`. Translation only.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Float32Array, Uint32Array};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::{Env, Task};
use napi_derive::napi;
use quiver_engine::multi_vector::{
    muvera_error, DocBatch, MultiConfig, MultiHits, MultiVectorIndex, SearchTimings,
    SharedMultiIndex,
};
use quiver_engine::{AddOutcome, Error as EngineError, ErrorCode};
use quiver_muvera::fde::{FdeEncoder, FdeParams};
use quiver_muvera::store::TokenStorage;

use crate::error::{guard, invalid, to_js};
use crate::vector_index::{
    flag, memory_of, to_config, CancelToken, NativeAddResult, NativeConfig, NativeMemoryUsage,
    Progress,
};

/// FDE encoder parameters: a preset, then explicit overrides (0 / empty = keep the preset's).
#[napi(object)]
pub struct NativeFdeConfig {
    pub dim: u32,
    /// 'paper-10240' | 'compact-2560' (default 'paper-10240').
    pub preset: Option<String>,
    pub k_sim: Option<u32>,
    /// 0 = identity (no projection).
    pub d_proj: Option<u32>,
    pub reps: Option<u32>,
    /// 0 = no final Count-Sketch.
    pub final_dim: Option<u32>,
    /// Decimal u64.
    pub seed: Option<String>,
    pub fill_empty: Option<bool>,
}

/// Resolved FDE parameters.
#[napi(object)]
pub struct NativeFdeParams {
    pub dim: u32,
    pub k_sim: u32,
    /// 0 = identity.
    pub d_proj: u32,
    pub reps: u32,
    /// 0 = none.
    pub final_dim: u32,
    /// Decimal u64.
    pub seed: String,
    pub fill_empty: bool,
    pub output_dim: u32,
    pub version: u32,
}

/// Multi-vector index options.
#[napi(object)]
pub struct NativeMultiConfig {
    pub fde: NativeFdeConfig,
    /// f32 | f16 | sq8
    pub token_storage: String,
    /// The FDE index (dim and metric are set from the encoder).
    pub index: NativeConfig,
}

/// One multi-vector search: keys, scores (higher is better) and the time of each stage.
#[napi(object)]
pub struct NativeMultiResult {
    pub keys: Uint32Array,
    pub scores: Float32Array,
    pub encode_ms: f64,
    pub search_ms: f64,
    pub rerank_ms: f64,
}

/// Memory of a multi-vector index.
#[napi(object)]
pub struct NativeMultiMemory {
    pub total: f64,
    pub fde: NativeMemoryUsage,
    pub tokens: f64,
    pub encoder: f64,
}

fn fde_params(c: &NativeFdeConfig) -> Result<FdeParams, EngineError> {
    let preset = c.preset.as_deref().unwrap_or("paper-10240");
    let mut p = FdeParams::preset(preset, c.dim as usize).map_err(muvera_error)?;
    if let Some(k) = c.k_sim {
        p.k_sim = k;
    }
    if let Some(d) = c.d_proj {
        p.d_proj = (d != 0).then_some(d as usize);
    }
    if let Some(r) = c.reps {
        p.reps = r as usize;
    }
    if let Some(f) = c.final_dim {
        p.final_dim = (f != 0).then_some(f as usize);
    }
    if let Some(s) = &c.seed {
        p.seed = s
            .parse::<u64>()
            .map_err(|_| invalid(format!("fde.seed must be an integer in [0, 2^64), got {s}")))?;
    }
    if let Some(f) = c.fill_empty {
        p.fill_empty = f;
    }
    p.validate().map_err(muvera_error)?;
    Ok(p)
}

fn params_out(p: &FdeParams, output_dim: usize) -> NativeFdeParams {
    NativeFdeParams {
        dim: p.dim as u32,
        k_sim: p.k_sim,
        d_proj: p.d_proj.unwrap_or(0) as u32,
        reps: p.reps as u32,
        final_dim: p.final_dim.unwrap_or(0) as u32,
        seed: p.seed.to_string(),
        fill_empty: p.fill_empty,
        output_dim: output_dim as u32,
        version: quiver_muvera::fde::ENCODER_VERSION,
    }
}

fn storage(s: &str) -> Result<TokenStorage, EngineError> {
    TokenStorage::parse(s).ok_or_else(|| {
        invalid(format!(
            "tokenStorage must be 'f32', 'f16' or 'sq8', got '{s}'"
        ))
    })
}

/// A MUVERA FDE encoder.
#[napi]
pub struct NativeFdeEncoder {
    inner: Arc<FdeEncoder>,
}

#[napi]
impl NativeFdeEncoder {
    /// Builds the encoder (random matrices from the seed).
    #[napi(constructor)]
    pub fn new(env: Env, config: NativeFdeConfig) -> napi::Result<Self> {
        let enc = guard(|| FdeEncoder::new(fde_params(&config)?).map_err(muvera_error))
            .map_err(|e| to_js(&env, e))?;
        Ok(NativeFdeEncoder {
            inner: Arc::new(enc),
        })
    }

    /// Output dimension.
    #[napi(getter)]
    pub fn output_dim(&self) -> u32 {
        self.inner.output_dim() as u32
    }

    /// Resolved parameters.
    #[napi]
    pub fn params(&self) -> NativeFdeParams {
        params_out(self.inner.params(), self.inner.output_dim())
    }

    /// Query FDE (blocks SUM their tokens).
    #[napi]
    pub fn encode_query(&self, env: Env, tokens: Float32Array) -> napi::Result<Float32Array> {
        let mut out = vec![0f32; self.inner.output_dim()];
        guard(|| {
            self.inner
                .encode_query(&tokens, &mut out)
                .map_err(muvera_error)
        })
        .map_err(|e| to_js(&env, e))?;
        Ok(Float32Array::new(out))
    }

    /// Document FDE (blocks AVERAGE their tokens; empty partitions filled if configured).
    #[napi]
    pub fn encode_document(&self, env: Env, tokens: Float32Array) -> napi::Result<Float32Array> {
        let mut out = vec![0f32; self.inner.output_dim()];
        guard(|| {
            self.inner
                .encode_document(&tokens, &mut out)
                .map_err(muvera_error)
        })
        .map_err(|e| to_js(&env, e))?;
        Ok(Float32Array::new(out))
    }
}

fn multi_config(c: NativeMultiConfig) -> Result<MultiConfig, EngineError> {
    let fde = fde_params(&c.fde)?;
    let token_storage = storage(&c.token_storage)?;
    let mut index_cfg = c.index;
    // The FDE index's dim and metric are the encoder's: quantizer options such as PQ's `m`
    // are validated against the FDE dimension.
    index_cfg.dim = u32::try_from(fde.output_dim())
        .map_err(|_| invalid("the FDE dimension exceeds 2^32 - 1"))?;
    index_cfg.metric = "ip".into();
    let index = to_config(index_cfg)?;
    Ok(MultiConfig {
        fde,
        token_storage,
        index,
    })
}

fn multi_result(h: MultiHits, t: SearchTimings) -> NativeMultiResult {
    NativeMultiResult {
        keys: Uint32Array::new(h.keys),
        scores: Float32Array::new(h.scores),
        encode_ms: t.encode_ns as f64 / 1e6,
        search_ms: t.search_ns as f64 / 1e6,
        rerank_ms: t.rerank_ns as f64 / 1e6,
    }
}

fn opt(x: u32) -> Option<usize> {
    (x != 0).then_some(x as usize)
}

/// A MUVERA multi-vector index.
#[napi]
pub struct NativeMultiVectorIndex {
    inner: Arc<SharedMultiIndex>,
}

#[napi]
impl NativeMultiVectorIndex {
    /// An empty index.
    #[napi(constructor)]
    pub fn new(env: Env, config: NativeMultiConfig) -> napi::Result<Self> {
        let index =
            guard(|| MultiVectorIndex::new(multi_config(config)?)).map_err(|e| to_js(&env, e))?;
        Ok(NativeMultiVectorIndex {
            inner: Arc::new(SharedMultiIndex::new(index)),
        })
    }

    /// Loads a multi-vector index file on a worker thread.
    #[napi(ts_return_type = "Promise<NativeMultiVectorIndex>")]
    pub fn load(
        path: String,
        mmap: bool,
        expected: Option<NativeFdeConfig>,
    ) -> AsyncTask<MultiLoadTask> {
        AsyncTask::new(MultiLoadTask {
            path: path.into(),
            mmap,
            expected,
        })
    }

    /// Loads a multi-vector index file on the JS thread.
    #[napi]
    pub fn load_sync(
        env: Env,
        path: String,
        mmap: bool,
        expected: Option<NativeFdeConfig>,
    ) -> napi::Result<NativeMultiVectorIndex> {
        guard(|| load_multi(&PathBuf::from(path), mmap, expected.as_ref()))
            .map(|i| NativeMultiVectorIndex {
                inner: Arc::new(SharedMultiIndex::new(i)),
            })
            .map_err(|e| to_js(&env, e))
    }

    /// Adds (or upserts) documents on a worker thread.
    #[napi(
        ts_args_type = "keys: Uint32Array, data: Float32Array, offsets: Uint32Array, upsert: boolean, onProgress?: ((err: Error | null, done: number, total: number) => void) | null, cancel?: CancelToken | null",
        ts_return_type = "Promise<NativeAddResult>"
    )]
    pub fn add(
        &self,
        keys: Uint32Array,
        data: Float32Array,
        offsets: Uint32Array,
        upsert: bool,
        on_progress: Option<Progress>,
        cancel: Option<&CancelToken>,
    ) -> AsyncTask<MultiAddTask> {
        AsyncTask::new(MultiAddTask {
            inner: self.inner.clone(),
            keys,
            data,
            offsets,
            upsert,
            progress: on_progress,
            cancel: flag(cancel),
        })
    }

    /// Adds (or upserts) documents on the JS thread.
    #[napi]
    pub fn add_sync(
        &self,
        env: Env,
        keys: Uint32Array,
        data: Float32Array,
        offsets: Uint32Array,
        upsert: bool,
    ) -> napi::Result<NativeAddResult> {
        let never = AtomicBool::new(false);
        let docs = DocBatch {
            data: &data,
            offsets: &offsets,
        };
        guard(|| self.inner.add(&keys, &docs, upsert, &never, &mut |_, _| {}))
            .map(add_out)
            .map_err(|e| to_js(&env, e))
    }

    /// MUVERA search on a worker thread (the rerank uses the index's pool).
    #[napi(ts_return_type = "Promise<NativeMultiResult>")]
    pub fn search(
        &self,
        query: Float32Array,
        k: u32,
        candidates: u32,
        ef: u32,
        rerank: bool,
        cancel: Option<&CancelToken>,
    ) -> AsyncTask<MultiSearchTask> {
        AsyncTask::new(MultiSearchTask {
            inner: self.inner.clone(),
            query,
            k,
            candidates,
            ef,
            rerank,
            exhaustive: false,
            cancel: flag(cancel),
        })
    }

    /// MUVERA search on the JS thread.
    #[napi]
    pub fn search_sync(
        &self,
        env: Env,
        query: Float32Array,
        k: u32,
        candidates: u32,
        ef: u32,
        rerank: bool,
    ) -> napi::Result<NativeMultiResult> {
        guard(|| {
            self.inner
                .read()
                .search(&query, k as usize, opt(candidates), opt(ef), rerank)
        })
        .map(|(h, t)| multi_result(h, t))
        .map_err(|e| to_js(&env, e))
    }

    /// Exact MaxSim over every document, on a worker thread.
    #[napi(ts_return_type = "Promise<NativeMultiResult>")]
    pub fn search_exhaustive(
        &self,
        query: Float32Array,
        k: u32,
        cancel: Option<&CancelToken>,
    ) -> AsyncTask<MultiSearchTask> {
        AsyncTask::new(MultiSearchTask {
            inner: self.inner.clone(),
            query,
            k,
            candidates: 0,
            ef: 0,
            rerank: true,
            exhaustive: true,
            cancel: flag(cancel),
        })
    }

    /// Exact MaxSim over every document, on the JS thread (the scan uses the pool).
    #[napi]
    pub fn search_exhaustive_sync(
        &self,
        env: Env,
        query: Float32Array,
        k: u32,
    ) -> napi::Result<NativeMultiResult> {
        let never = AtomicBool::new(false);
        guard(|| {
            self.inner
                .read()
                .search_exhaustive(&query, k as usize, &never)
        })
        .map(|h| multi_result(h, SearchTimings::default()))
        .map_err(|e| to_js(&env, e))
    }

    /// Exact MaxSim of the query against the given documents (NaN where absent), on the JS
    /// thread (the scoring uses the pool).
    #[napi]
    pub fn score_sync(
        &self,
        env: Env,
        query: Float32Array,
        keys: Uint32Array,
    ) -> napi::Result<Float32Array> {
        guard(|| self.inner.read().score(&query, &keys))
            .map(Float32Array::new)
            .map_err(|e| to_js(&env, e))
    }

    /// Removes keys on a worker thread.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn remove(&self, keys: Uint32Array) -> AsyncTask<MultiRemoveTask> {
        AsyncTask::new(MultiRemoveTask {
            inner: self.inner.clone(),
            keys,
        })
    }

    /// Removes keys on the JS thread.
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

    /// The stored tokens of `key` (decoded to f32), or null.
    #[napi]
    pub fn tokens(&self, key: u32) -> Option<Float32Array> {
        self.inner.read().tokens_of(key).map(Float32Array::new)
    }

    /// Live documents.
    #[napi(getter)]
    pub fn size(&self) -> u32 {
        self.inner.read().len() as u32
    }

    /// Resolved encoder parameters.
    #[napi]
    pub fn fde_params(&self) -> NativeFdeParams {
        let r = self.inner.read();
        params_out(r.encoder().params(), r.encoder().output_dim())
    }

    /// Token storage name.
    #[napi(getter)]
    pub fn token_storage(&self) -> String {
        self.inner.read().config().token_storage.name().into()
    }

    /// The FDE index's resolved configuration.
    #[napi]
    pub fn index_config(&self) -> NativeConfig {
        crate::vector_index::from_config(self.inner.read().fde_index().config())
    }

    /// Heap bytes by part.
    #[napi]
    pub fn memory_usage(&self) -> NativeMultiMemory {
        let m = self.inner.read().memory_usage();
        NativeMultiMemory {
            total: m.total() as f64,
            fde: memory_of(&m.fde),
            tokens: m.tokens as f64,
            encoder: m.encoder as f64,
        }
    }

    /// Saves atomically on a worker thread.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn save(&self, path: String) -> AsyncTask<MultiSaveTask> {
        AsyncTask::new(MultiSaveTask {
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

fn add_out(o: AddOutcome) -> NativeAddResult {
    NativeAddResult {
        inserted: o.inserted as u32,
        aborted: o.aborted,
    }
}

fn load_multi(
    path: &std::path::Path,
    mmap: bool,
    expected: Option<&NativeFdeConfig>,
) -> Result<MultiVectorIndex, EngineError> {
    let want = expected.map(fde_params).transpose()?;
    MultiVectorIndex::load(path, mmap, want.as_ref())
}

/// Async add.
pub struct MultiAddTask {
    inner: Arc<SharedMultiIndex>,
    keys: Uint32Array,
    data: Float32Array,
    offsets: Uint32Array,
    upsert: bool,
    progress: Option<Progress>,
    cancel: Arc<AtomicBool>,
}

impl Task for MultiAddTask {
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
        let docs = DocBatch {
            data: &self.data,
            offsets: &self.offsets,
        };
        Ok(guard(|| {
            self.inner
                .add(&self.keys, &docs, self.upsert, &self.cancel, &mut report)
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        output.map(add_out).map_err(|e| to_js(&env, e))
    }
}

/// Async search (MUVERA or exhaustive).
pub struct MultiSearchTask {
    inner: Arc<SharedMultiIndex>,
    query: Float32Array,
    k: u32,
    candidates: u32,
    ef: u32,
    rerank: bool,
    exhaustive: bool,
    cancel: Arc<AtomicBool>,
}

impl Task for MultiSearchTask {
    type Output = Result<(MultiHits, SearchTimings), EngineError>;
    type JsValue = NativeMultiResult;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        if self.cancel.load(Ordering::Relaxed) {
            return Ok(Err(EngineError::new(ErrorCode::Aborted, "search aborted")));
        }
        Ok(guard(|| {
            let r = self.inner.read();
            if self.exhaustive {
                r.search_exhaustive(&self.query, self.k as usize, &self.cancel)
                    .map(|h| (h, SearchTimings::default()))
            } else {
                r.search(
                    &self.query,
                    self.k as usize,
                    opt(self.candidates),
                    opt(self.ef),
                    self.rerank,
                )
            }
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        output
            .map(|(h, t)| multi_result(h, t))
            .map_err(|e| to_js(&env, e))
    }
}

/// Async remove.
pub struct MultiRemoveTask {
    inner: Arc<SharedMultiIndex>,
    keys: Uint32Array,
}

impl Task for MultiRemoveTask {
    type Output = Result<usize, EngineError>;
    type JsValue = u32;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(guard(|| self.inner.remove(&self.keys)))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<u32> {
        output.map(|n| n as u32).map_err(|e| to_js(&env, e))
    }
}

/// Async save.
pub struct MultiSaveTask {
    inner: Arc<SharedMultiIndex>,
    path: PathBuf,
}

impl Task for MultiSaveTask {
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
pub struct MultiLoadTask {
    path: PathBuf,
    mmap: bool,
    expected: Option<NativeFdeConfig>,
}

impl Task for MultiLoadTask {
    type Output = Result<MultiVectorIndex, EngineError>;
    type JsValue = NativeMultiVectorIndex;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(guard(|| {
            load_multi(&self.path, self.mmap, self.expected.as_ref())
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<NativeMultiVectorIndex> {
        output
            .map(|i| NativeMultiVectorIndex {
                inner: Arc::new(SharedMultiIndex::new(i)),
            })
            .map_err(|e| to_js(&env, e))
    }
}
