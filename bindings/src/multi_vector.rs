//! `NativeFdeEncoder` and `NativeMultiVectorIndex`: the JS classes over
//! `quiver_muvera::FdeEncoder` and `quiver_engine::multi_vector`. Translation only.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Float32Array, PromiseRaw, Uint32Array};
use napi::Env;
use napi_derive::napi;
use quiver_engine::multi_vector::{
    muvera_error, DocBatch, MultiConfig, MultiHits, MultiVectorIndex, SearchTimings,
    SharedMultiIndex,
};
use quiver_engine::options::{self, FdeOptions};
use quiver_engine::{
    Error as EngineError, FdeEncoder, FdeParams, Handle, MetaInput, ENCODER_VERSION,
};

use crate::arrays::JsArray;
use crate::common::{close_methods, store_methods};
use crate::error::{guard, to_js};
use crate::tasks::{
    access, check_cancel, job, open_job, open_now, report, write_job, External, Job, Progress,
};
use crate::vector_index::{
    add_result, flag, memory_of, to_config, to_meta, CancelToken, NativeAddResult, NativeConfig,
    NativeMemoryUsage,
};

/// FDE encoder parameters: a preset, then explicit overrides (0 / empty = keep the preset's).
#[napi(object)]
pub struct NativeFdeConfig {
    pub dim: u32,
    /// 'paper-10240' | 'compact-2560' | 'wide-20480' (default 'paper-10240').
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
#[napi(object, object_from_js = false)]
pub struct NativeMultiResult {
    #[napi(ts_type = "Uint32Array")]
    pub keys: JsArray<u32>,
    #[napi(ts_type = "Float32Array")]
    pub scores: JsArray<f32>,
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
    FdeOptions {
        dim: c.dim,
        preset: c.preset.as_deref(),
        k_sim: c.k_sim,
        d_proj: c.d_proj,
        reps: c.reps,
        final_dim: c.final_dim,
        seed: c.seed.as_deref(),
        fill_empty: c.fill_empty,
    }
    .resolve()
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
        version: ENCODER_VERSION,
    }
}

/// A MUVERA FDE encoder.
#[napi]
pub struct NativeFdeEncoder {
    handle: Handle<FdeEncoder>,
}

#[napi]
impl NativeFdeEncoder {
    /// Builds the encoder (random matrices from the seed).
    #[napi(constructor)]
    pub fn new(env: Env, config: NativeFdeConfig) -> napi::Result<Self> {
        let enc = guard(|| FdeEncoder::new(fde_params(&config)?).map_err(muvera_error))
            .map_err(|e| to_js(&env, e))?;
        Ok(NativeFdeEncoder {
            handle: Handle::new(enc, "FdeEncoder"),
        })
    }

    /// Output dimension.
    #[napi(getter)]
    pub fn output_dim(&self, env: Env) -> napi::Result<u32> {
        access(&env, &self.handle, |e| e.output_dim() as u32)
    }

    /// Resolved parameters.
    #[napi]
    pub fn params(&self, env: Env) -> napi::Result<NativeFdeParams> {
        access(&env, &self.handle, |e| {
            params_out(e.params(), e.output_dim())
        })
    }

    /// Query FDE (blocks SUM their tokens).
    #[napi(ts_return_type = "Float32Array")]
    pub fn encode_query(&self, env: Env, tokens: Float32Array) -> napi::Result<JsArray<f32>> {
        guard(|| {
            let enc = self.handle.get()?;
            let mut out = vec![0f32; enc.output_dim()];
            enc.encode_query(&tokens, &mut out).map_err(muvera_error)?;
            Ok(out)
        })
        .map(JsArray)
        .map_err(|e| to_js(&env, e))
    }

    /// Document FDE (blocks AVERAGE their tokens; empty partitions filled if configured).
    #[napi(ts_return_type = "Float32Array")]
    pub fn encode_document(&self, env: Env, tokens: Float32Array) -> napi::Result<JsArray<f32>> {
        guard(|| {
            let enc = self.handle.get()?;
            let mut out = vec![0f32; enc.output_dim()];
            enc.encode_document(&tokens, &mut out)
                .map_err(muvera_error)?;
            Ok(out)
        })
        .map(JsArray)
        .map_err(|e| to_js(&env, e))
    }
}

fn multi_config(c: NativeMultiConfig) -> Result<MultiConfig, EngineError> {
    Ok(MultiConfig {
        fde: fde_params(&c.fde)?,
        token_storage: options::token_storage(&c.token_storage)?,
        index: to_config(c.index)?,
    })
}

fn multi_result(h: MultiHits, t: SearchTimings) -> NativeMultiResult {
    NativeMultiResult {
        keys: h.keys.into(),
        scores: h.scores.into(),
        encode_ms: t.encode_ns as f64 / 1e6,
        search_ms: t.search_ns as f64 / 1e6,
        rerank_ms: t.rerank_ns as f64 / 1e6,
    }
}

fn opt(x: u32) -> Option<usize> {
    (x != 0).then_some(x as usize)
}

/// A MUVERA multi-vector index.
#[napi(custom_finalize)]
pub struct NativeMultiVectorIndex {
    handle: Handle<SharedMultiIndex>,
    external: Arc<External>,
}

fn wrap(index: SharedMultiIndex) -> NativeMultiVectorIndex {
    NativeMultiVectorIndex {
        handle: Handle::new(index, "MultiVectorIndex"),
        external: Arc::default(),
    }
}

fn exhaustive_result(h: MultiHits) -> NativeMultiResult {
    multi_result(h, SearchTimings::default())
}

#[napi]
impl NativeMultiVectorIndex {
    /// An empty index.
    #[napi(constructor)]
    pub fn new(env: Env, config: NativeMultiConfig) -> napi::Result<Self> {
        guard(|| {
            let meta = to_meta(&config.index)?;
            MultiVectorIndex::new_with(multi_config(config)?, &meta)
        })
        .map(|index| open_now(&env, SharedMultiIndex::new(index), wrap, |n| &n.external))
        .map_err(|e| to_js(&env, e))
    }

    /// Loads a multi-vector index file on a worker thread.
    #[napi(ts_return_type = "Promise<NativeMultiVectorIndex>")]
    pub fn load(
        path: String,
        mmap: bool,
        expected: Option<NativeFdeConfig>,
        threads: Option<u32>,
    ) -> AsyncTask<Job<SharedMultiIndex, NativeMultiVectorIndex>> {
        open_job(
            move || {
                load_multi(&PathBuf::from(path), mmap, expected.as_ref(), threads)
                    .map(SharedMultiIndex::new)
            },
            wrap,
            |n| &n.external,
        )
    }

    /// Loads a multi-vector index file on the JS thread.
    #[napi]
    pub fn load_sync(
        env: Env,
        path: String,
        mmap: bool,
        expected: Option<NativeFdeConfig>,
        threads: Option<u32>,
    ) -> napi::Result<NativeMultiVectorIndex> {
        guard(|| load_multi(&PathBuf::from(path), mmap, expected.as_ref(), threads))
            .map(|index| open_now(&env, SharedMultiIndex::new(index), wrap, |n| &n.external))
            .map_err(|e| to_js(&env, e))
    }

    /// Adds (or upserts) documents on the index's write thread, after the writes queued before.
    #[napi(
        ts_args_type = "keys: Uint32Array, data: Float32Array, offsets: Uint32Array, upsert: boolean, onProgress?: ((err: Error | null, done: number, total: number) => void) | null, cancel?: CancelToken | null, attributes?: string | null, payloads?: Array<string | null> | null",
        ts_return_type = "Promise<NativeAddResult>"
    )]
    #[allow(clippy::too_many_arguments)]
    pub fn add<'env>(
        &self,
        env: &'env Env,
        keys: Uint32Array,
        data: Float32Array,
        offsets: Uint32Array,
        upsert: bool,
        on_progress: Option<Progress>,
        cancel: Option<&CancelToken>,
        attributes: Option<String>,
        payloads: Option<Vec<Option<String>>>,
    ) -> napi::Result<PromiseRaw<'env, NativeAddResult>> {
        let (inner, cancel) = (self.handle.get(), flag(cancel));
        let (keys, data, offsets) = (keys.to_vec(), data.to_vec(), offsets.to_vec());
        write_job(
            env,
            inner,
            Some(&self.external),
            move |inner| {
                let report = report(on_progress.as_ref());
                let docs = DocBatch {
                    data: &data,
                    offsets: &offsets,
                };
                let meta = MetaInput {
                    attributes: attributes.as_deref(),
                    payloads: payloads.as_deref(),
                };
                inner.add_with(&keys, &docs, upsert, &meta, &cancel, &mut |d, t| {
                    report(d, t)
                })
            },
            add_result,
        )
    }

    /// Adds (or upserts) documents on the JS thread.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn add_sync(
        &self,
        env: Env,
        keys: Uint32Array,
        data: Float32Array,
        offsets: Uint32Array,
        upsert: bool,
        attributes: Option<String>,
        payloads: Option<Vec<Option<String>>>,
    ) -> napi::Result<NativeAddResult> {
        let never = AtomicBool::new(false);
        let docs = DocBatch {
            data: &data,
            offsets: &offsets,
        };
        let meta = MetaInput {
            attributes: attributes.as_deref(),
            payloads: payloads.as_deref(),
        };
        guard(|| {
            let inner = self.handle.get()?;
            let out = inner.add_with(&keys, &docs, upsert, &meta, &never, &mut |_, _| {})?;
            self.external.report_store(&env, &*inner);
            Ok(out)
        })
        .map(add_result)
        .map_err(|e| to_js(&env, e))
    }

    /// MUVERA search on a worker thread (the rerank uses the index's pool).
    #[napi(ts_return_type = "Promise<NativeMultiResult>")]
    #[allow(clippy::too_many_arguments)]
    pub fn search(
        &self,
        query: Float32Array,
        k: u32,
        candidates: u32,
        ef: u32,
        rerank: bool,
        cancel: Option<&CancelToken>,
        filter: Option<String>,
    ) -> AsyncTask<Job<(MultiHits, SearchTimings), NativeMultiResult>> {
        let (inner, cancel, query) = (self.handle.get(), flag(cancel), query.to_vec());
        job(
            move || {
                let inner = inner?;
                check_cancel(&cancel)?;
                let hits = inner.read().search_filtered(
                    &query,
                    k as usize,
                    opt(candidates),
                    opt(ef),
                    rerank,
                    filter.as_deref(),
                );
                hits
            },
            |(h, t)| multi_result(h, t),
        )
    }

    /// MUVERA search on the JS thread.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn search_sync(
        &self,
        env: Env,
        query: Float32Array,
        k: u32,
        candidates: u32,
        ef: u32,
        rerank: bool,
        filter: Option<String>,
    ) -> napi::Result<NativeMultiResult> {
        guard(|| {
            self.handle.get()?.read().search_filtered(
                &query,
                k as usize,
                opt(candidates),
                opt(ef),
                rerank,
                filter.as_deref(),
            )
        })
        .map(|(h, t)| multi_result(h, t))
        .map_err(|e| to_js(&env, e))
    }

    /// Documents matching a compiled filter (all without one).
    #[napi]
    pub fn count(&self, env: Env, filter: Option<String>) -> napi::Result<u32> {
        guard(|| {
            self.handle
                .get()?
                .read()
                .fde_index()
                .count_json(filter.as_deref())
        })
        .map(|n| n as u32)
        .map_err(|e| to_js(&env, e))
    }

    /// A document's attributes (JSON object text), or null.
    #[napi]
    pub fn get_attributes(&self, env: Env, key: u32) -> napi::Result<Option<String>> {
        access(&env, &self.handle, |i| {
            let g = i.read();
            let f = g.fde_index();
            f.slot(key).and_then(|s| f.meta().attributes_json(s))
        })
    }

    /// A document's payload (JSON text), or null.
    #[napi]
    pub fn get_payload(&self, env: Env, key: u32) -> napi::Result<Option<String>> {
        access(&env, &self.handle, |i| {
            let g = i.read();
            let f = g.fde_index();
            f.slot(key)
                .and_then(|s| f.meta().payload(s).map(str::to_owned))
        })
    }

    /// Exact MaxSim over every document, on a worker thread.
    #[napi(ts_return_type = "Promise<NativeMultiResult>")]
    pub fn search_exhaustive(
        &self,
        query: Float32Array,
        k: u32,
        cancel: Option<&CancelToken>,
    ) -> AsyncTask<Job<MultiHits, NativeMultiResult>> {
        let (inner, cancel, query) = (self.handle.get(), flag(cancel), query.to_vec());
        job(
            move || {
                let inner = inner?;
                check_cancel(&cancel)?;
                let hits = inner.read().search_exhaustive(&query, k as usize, &cancel);
                hits
            },
            exhaustive_result,
        )
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
            self.handle
                .get()?
                .read()
                .search_exhaustive(&query, k as usize, &never)
        })
        .map(exhaustive_result)
        .map_err(|e| to_js(&env, e))
    }

    /// Exact MaxSim of the query against the given documents (NaN where absent), on the JS
    /// thread (the scoring uses the pool).
    #[napi(ts_return_type = "Float32Array")]
    pub fn score_sync(
        &self,
        env: Env,
        query: Float32Array,
        keys: Uint32Array,
    ) -> napi::Result<JsArray<f32>> {
        guard(|| self.handle.get()?.read().score(&query, &keys))
            .map(JsArray)
            .map_err(|e| to_js(&env, e))
    }

    /// Whether `key` is present.
    #[napi]
    pub fn has(&self, env: Env, key: u32) -> napi::Result<bool> {
        access(&env, &self.handle, |i| i.read().has(key))
    }

    /// The stored tokens of `key` (decoded to f32), or null.
    #[napi(ts_return_type = "Float32Array | null")]
    pub fn tokens(&self, env: Env, key: u32) -> napi::Result<Option<JsArray<f32>>> {
        access(&env, &self.handle, |i| i.read().tokens_of(key).map(JsArray))
    }

    /// Live documents.
    #[napi(getter)]
    pub fn size(&self, env: Env) -> napi::Result<u32> {
        access(&env, &self.handle, |i| i.read().len() as u32)
    }

    /// Resolved encoder parameters.
    #[napi]
    pub fn fde_params(&self, env: Env) -> napi::Result<NativeFdeParams> {
        access(&env, &self.handle, |i| {
            let r = i.read();
            params_out(r.encoder().params(), r.encoder().output_dim())
        })
    }

    /// Token storage name.
    #[napi(getter)]
    pub fn token_storage(&self, env: Env) -> napi::Result<String> {
        access(&env, &self.handle, |i| {
            i.read().config().token_storage.name().into()
        })
    }

    /// The FDE index's resolved configuration.
    #[napi]
    pub fn index_config(&self, env: Env) -> napi::Result<NativeConfig> {
        access(&env, &self.handle, |i| {
            let g = i.read();
            let f = g.fde_index();
            crate::vector_index::from_config(f.config(), Some(f.meta().config()))
        })
    }

    /// Heap bytes by part.
    #[napi]
    pub fn memory_usage(&self, env: Env) -> napi::Result<NativeMultiMemory> {
        access(&env, &self.handle, |i| {
            let m = i.read().memory_usage();
            NativeMultiMemory {
                total: m.total() as f64,
                fde: memory_of(&m.fde),
                tokens: m.tokens as f64,
                encoder: m.encoder as f64,
            }
        })
    }
}

fn load_multi(
    path: &std::path::Path,
    mmap: bool,
    expected: Option<&NativeFdeConfig>,
    threads: Option<u32>,
) -> Result<MultiVectorIndex, EngineError> {
    let want = expected.map(fde_params).transpose()?;
    MultiVectorIndex::load_threads(path, mmap, want.as_ref(), threads.map(|t| t as usize))
}

store_methods!(NativeMultiVectorIndex);
close_methods!(NativeFdeEncoder);
