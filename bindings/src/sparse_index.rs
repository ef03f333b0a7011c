//! `NativeSparseIndex` and `NativeSparseEncoder`: the JS classes over
//! `quiver_engine::sparse_index::SharedSparseIndex` (exact top-k dot product over learned sparse
//! vectors) and `quiver_engine::SparseEncoder`. Translation only.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Float32Array, PromiseRaw, Uint32Array, Uint8Array};
use napi::Env;
use napi_derive::napi;
use quiver_engine::options;
use quiver_engine::sparse_index::{self, SharedSparseIndex, SparseHits};
use quiver_engine::{
    Error as EngineError, Handle, HitMeta, MetaInput, SparseBatch, SparseEncoder, SparseVec,
};

use crate::arrays::{
    scored_batch_with, scored_options, scored_with, JsArray, NativeScoredResult,
    NativeScoredSearchOptions, ScoredWithMeta,
};
use crate::common::{close_methods, meta_methods, store_methods};
use crate::error::{guard, to_js};
use crate::tasks::{
    access, check_cancel, job, open_job, open_now, report, write_job, External, Job, Progress,
};
use crate::vector_index::{add_result, flag, CancelToken, NativeAddResult};

/// Sparse index options, resolved by the TypeScript layer.
#[napi(object)]
pub struct NativeSparseConfig {
    /// Term ids must be below this (1..=2^32-1).
    pub vocab_size: u32,
    pub threads: u32,
    /// Declared attribute fields: a JSON object of field name to type.
    pub attributes: Option<String>,
    /// Whether keys may carry a payload.
    pub payload: Option<bool>,
}

/// Resolved sparse index options (what a loaded index reports).
#[napi(object)]
pub struct NativeSparseInfo {
    pub vocab_size: u32,
    /// Declared attribute fields (JSON), if any.
    pub attributes: Option<String>,
    pub payload: bool,
}

/// Heap bytes of a sparse index, by part.
#[napi(object)]
pub struct NativeSparseMemory {
    pub total: f64,
    pub forward: f64,
    pub postings: f64,
    pub documents: f64,
    pub attributes: f64,
    pub payloads: f64,
}

/// One sparse vector: term ids (sorted) and weights.
#[napi(object, object_from_js = false)]
pub struct NativeSparseVector {
    #[napi(ts_type = "Uint32Array")]
    pub indices: JsArray<u32>,
    #[napi(ts_type = "Float32Array")]
    pub values: JsArray<f32>,
}

/// Sparse vectors in CSR form.
#[napi(object, object_from_js = false)]
pub struct NativeSparseCsr {
    #[napi(ts_type = "Uint32Array")]
    pub indptr: JsArray<u32>,
    #[napi(ts_type = "Uint32Array")]
    pub indices: JsArray<u32>,
    #[napi(ts_type = "Float32Array")]
    pub values: JsArray<f32>,
}

fn vector((indices, values): (Vec<u32>, Vec<f32>)) -> NativeSparseVector {
    NativeSparseVector {
        indices: JsArray(indices),
        values: JsArray(values),
    }
}

fn wrap(index: SharedSparseIndex) -> NativeSparseIndex {
    NativeSparseIndex {
        handle: Handle::new(index, "SparseIndex"),
        external: Arc::default(),
    }
}

fn load(path: String, threads: u32) -> Result<SharedSparseIndex, EngineError> {
    SharedSparseIndex::load(&PathBuf::from(path), threads as usize)
}

fn create(c: &NativeSparseConfig) -> Result<SharedSparseIndex, EngineError> {
    let meta = options::meta_config(c.attributes.as_deref(), c.payload.unwrap_or(false))?;
    SharedSparseIndex::create_with(c.vocab_size, &meta, c.threads as usize)
}

/// Runs one search with `opts` (no options: a plain search).
fn search_with(
    index: &SharedSparseIndex,
    query: SparseVec<'_>,
    k: u32,
    strategy: &str,
    candidates: u32,
    opts: Option<&NativeScoredSearchOptions>,
) -> Result<(SparseHits, HitMeta), EngineError> {
    let (filter, attributes, payload) = scored_options(opts);
    index.search_options(
        query,
        k as usize,
        options::sparse_strategy(strategy, candidates)?,
        filter,
        attributes,
        payload,
    )
}

/// An exact top-k dot-product index over sparse vectors.
#[napi(custom_finalize)]
pub struct NativeSparseIndex {
    handle: Handle<SharedSparseIndex>,
    external: Arc<External>,
}

#[napi]
impl NativeSparseIndex {
    /// An empty index.
    #[napi(constructor)]
    pub fn new(env: Env, config: NativeSparseConfig) -> napi::Result<Self> {
        guard(|| create(&config))
            .map(|index| open_now(&env, index, wrap, |n| &n.external))
            .map_err(|e| to_js(&env, e))
    }

    /// Loads a sparse index file on a worker thread.
    #[napi(ts_return_type = "Promise<NativeSparseIndex>")]
    pub fn load(
        path: String,
        threads: u32,
    ) -> AsyncTask<Job<SharedSparseIndex, NativeSparseIndex>> {
        open_job(move || load(path, threads), wrap, |n| &n.external)
    }

    /// Loads a sparse index file on the JS thread.
    #[napi]
    pub fn load_sync(env: Env, path: String, threads: u32) -> napi::Result<NativeSparseIndex> {
        guard(|| load(path, threads))
            .map(|index| open_now(&env, index, wrap, |n| &n.external))
            .map_err(|e| to_js(&env, e))
    }

    /// Adds (or with `upsert` replaces) a CSR batch on the index's write thread; all or nothing.
    #[napi(
        ts_args_type = "keys: Uint32Array, indptr: Uint32Array, indices: Uint32Array, values: Float32Array, upsert: boolean, onProgress?: ((err: Error | null, done: number, total: number) => void) | null, cancel?: CancelToken | null, attributes?: string | null, payloads?: Array<string | null> | null",
        ts_return_type = "Promise<NativeAddResult>"
    )]
    #[allow(clippy::too_many_arguments)]
    pub fn add<'env>(
        &self,
        env: &'env Env,
        keys: Uint32Array,
        indptr: Uint32Array,
        indices: Uint32Array,
        values: Float32Array,
        upsert: bool,
        on_progress: Option<Progress>,
        cancel: Option<&CancelToken>,
        attributes: Option<String>,
        payloads: Option<Vec<Option<String>>>,
    ) -> napi::Result<PromiseRaw<'env, NativeAddResult>> {
        let (inner, cancel) = (self.handle.get(), flag(cancel));
        let (keys, indptr, indices, values) = (
            keys.to_vec(),
            indptr.to_vec(),
            indices.to_vec(),
            values.to_vec(),
        );
        write_job(
            env,
            inner,
            Some(&self.external),
            move |inner| {
                let batch = SparseBatch::new(&indptr, &indices, &values);
                let meta = MetaInput {
                    attributes: attributes.as_deref(),
                    payloads: payloads.as_deref(),
                };
                let progress = report(on_progress.as_ref());
                inner.add_with(&keys, batch, upsert, &meta, &cancel, &progress)
            },
            add_result,
        )
    }

    /// Adds (or replaces) a CSR batch on the JS thread.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn add_sync(
        &self,
        env: Env,
        keys: Uint32Array,
        indptr: Uint32Array,
        indices: Uint32Array,
        values: Float32Array,
        upsert: bool,
        attributes: Option<String>,
        payloads: Option<Vec<Option<String>>>,
    ) -> napi::Result<()> {
        let never = AtomicBool::new(false);
        let batch = SparseBatch::new(&indptr, &indices, &values);
        let meta = MetaInput {
            attributes: attributes.as_deref(),
            payloads: payloads.as_deref(),
        };
        guard(|| {
            let inner = self.handle.get()?;
            inner.add_with(&keys, batch, upsert, &meta, &never, &|_, _| {})?;
            self.external.report_store(&env, &*inner);
            Ok(())
        })
        .map_err(|e| to_js(&env, e))
    }

    /// Top-k on a worker thread.
    // The JS call's positional arguments, one each.
    #[allow(clippy::too_many_arguments)]
    #[napi(ts_return_type = "Promise<NativeScoredResult>")]
    pub fn search(
        &self,
        indices: Uint32Array,
        values: Float32Array,
        k: u32,
        strategy: String,
        candidates: u32,
        cancel: Option<&CancelToken>,
        opts: Option<NativeScoredSearchOptions>,
    ) -> AsyncTask<Job<(SparseHits, HitMeta), NativeScoredResult>> {
        let (inner, cancel) = (self.handle.get(), flag(cancel));
        let (indices, values) = (indices.to_vec(), values.to_vec());
        job(
            move || {
                let inner = inner?;
                check_cancel(&cancel)?;
                let q = SparseVec::new(&indices, &values);
                search_with(&inner, q, k, &strategy, candidates, opts.as_ref())
            },
            scored_with,
        )
    }

    /// Top-k on the JS thread.
    // The JS call's positional arguments, one each.
    #[allow(clippy::too_many_arguments)]
    #[napi]
    pub fn search_sync(
        &self,
        env: Env,
        indices: Uint32Array,
        values: Float32Array,
        k: u32,
        strategy: String,
        candidates: u32,
        opts: Option<NativeScoredSearchOptions>,
    ) -> napi::Result<NativeScoredResult> {
        guard(|| {
            let q = SparseVec::new(&indices, &values);
            search_with(
                &*self.handle.get()?,
                q,
                k,
                &strategy,
                candidates,
                opts.as_ref(),
            )
        })
        .map(scored_with)
        .map_err(|e| to_js(&env, e))
    }

    /// Searches a CSR batch of queries on the pool (one result per query; one filter for all).
    // The JS call's positional arguments, one each.
    #[allow(clippy::too_many_arguments)]
    #[napi(ts_return_type = "Promise<NativeScoredResult[]>")]
    pub fn search_batch(
        &self,
        indptr: Uint32Array,
        indices: Uint32Array,
        values: Float32Array,
        k: u32,
        strategy: String,
        candidates: u32,
        opts: Option<NativeScoredSearchOptions>,
    ) -> AsyncTask<Job<Vec<ScoredWithMeta>, Vec<NativeScoredResult>>> {
        let inner = self.handle.get();
        let (indptr, indices, values) = (indptr.to_vec(), indices.to_vec(), values.to_vec());
        job(
            move || {
                let batch = SparseBatch::new(&indptr, &indices, &values);
                let (filter, attributes, payload) = scored_options(opts.as_ref());
                let strategy = options::sparse_strategy(&strategy, candidates)?;
                inner?
                    .search_batch_options(batch, k as usize, strategy, filter, attributes, payload)
            },
            scored_batch_with,
        )
    }

    /// The stored vector of `key` (sorted term ids, zero weights dropped), or null.
    #[napi]
    pub fn get(&self, env: Env, key: u32) -> napi::Result<Option<NativeSparseVector>> {
        access(&env, &self.handle, |i| i.read().get(key).map(vector))
    }

    /// Whether `key` is present.
    #[napi]
    pub fn has(&self, env: Env, key: u32) -> napi::Result<bool> {
        access(&env, &self.handle, |i| i.read().contains(key))
    }

    /// Live documents (empty ones included).
    #[napi(getter)]
    pub fn size(&self, env: Env) -> napi::Result<u32> {
        access(&env, &self.handle, |i| i.read().len() as u32)
    }

    /// The vocabulary size term ids must stay below.
    #[napi(getter)]
    pub fn vocab_size(&self, env: Env) -> napi::Result<u32> {
        access(&env, &self.handle, |i| i.read().config().vocab_size)
    }

    /// Options of this index.
    #[napi]
    pub fn info(&self, env: Env) -> napi::Result<NativeSparseInfo> {
        access(&env, &self.handle, |i| {
            let meta = i.meta().config();
            NativeSparseInfo {
                vocab_size: i.read().config().vocab_size,
                attributes: meta.attributes.map(|s| s.to_json()),
                payload: meta.payload,
            }
        })
    }

    /// Heap bytes held, by part.
    #[napi]
    pub fn memory_usage(&self, env: Env) -> napi::Result<NativeSparseMemory> {
        access(&env, &self.handle, |i| {
            let m = i.read().memory_usage();
            let (attributes, payloads) = i.meta().memory_usage();
            NativeSparseMemory {
                total: (m.total() + attributes + payloads) as f64,
                forward: m.forward as f64,
                postings: m.postings as f64,
                documents: m.documents as f64,
                attributes: attributes as f64,
                payloads: payloads as f64,
            }
        })
    }
}

meta_methods!(NativeSparseIndex);
store_methods!(NativeSparseIndex);

/// A query encoder for inference-free sparse models: tokenizer plus per-token weights.
#[napi]
pub struct NativeSparseEncoder {
    handle: Handle<SparseEncoder>,
}

fn wrap_encoder(e: SparseEncoder) -> NativeSparseEncoder {
    NativeSparseEncoder {
        handle: Handle::new(e, "SparseEncoder"),
    }
}

#[napi]
impl NativeSparseEncoder {
    /// Reads a tokenizer.json and a weights file.
    #[napi(factory)]
    pub fn from_files(env: Env, tokenizer_json: String, weights: String) -> napi::Result<Self> {
        guard(|| {
            sparse_index::sparse_encoder_from_files(Path::new(&tokenizer_json), Path::new(&weights))
        })
        .map(wrap_encoder)
        .map_err(|e| to_js(&env, e))
    }

    /// Builds an encoder from the bytes of the two files.
    #[napi(factory)]
    pub fn from_buffers(
        env: Env,
        tokenizer_json: Uint8Array,
        weights: Uint8Array,
    ) -> napi::Result<Self> {
        guard(|| sparse_index::sparse_encoder(&tokenizer_json, &weights))
            .map(wrap_encoder)
            .map_err(|e| to_js(&env, e))
    }

    /// The vocabulary size (every encoded term id is below it).
    #[napi(getter)]
    pub fn vocab_size(&self, env: Env) -> napi::Result<u32> {
        access(&env, &self.handle, |e| e.vocab_size())
    }

    /// The sparse vector of one text.
    #[napi]
    pub fn encode(&self, env: Env, text: String) -> napi::Result<NativeSparseVector> {
        guard(|| sparse_index::encode(&*self.handle.get()?, &text))
            .map(vector)
            .map_err(|e| to_js(&env, e))
    }

    /// The sparse vectors of many texts, in CSR form.
    #[napi]
    pub fn encode_batch(&self, env: Env, texts: Vec<String>) -> napi::Result<NativeSparseCsr> {
        guard(|| sparse_index::encode_batch(&*self.handle.get()?, &texts))
            .map(|(indptr, indices, values)| NativeSparseCsr {
                indptr: JsArray(indptr),
                indices: JsArray(indices),
                values: JsArray(values),
            })
            .map_err(|e| to_js(&env, e))
    }
}

close_methods!(NativeSparseEncoder);
