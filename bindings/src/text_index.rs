//! `NativeTextIndex`: the JS class over `quiver_engine::text_index::SharedTextIndex` (BM25 over
//! HuggingFace `tokenizers`). Translation only.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, PromiseRaw, Uint32Array};
use napi::Env;
use napi_derive::napi;
use quiver_engine::options;
use quiver_engine::text_index::{SharedTextIndex, TextHits};
use quiver_engine::{Bm25Params, Error as EngineError, Handle, HitMeta, MetaInput};

use crate::arrays::{
    scored_batch, scored_options, scored_with, NativeScoredResult, NativeScoredSearchOptions,
};
use crate::common::{meta_methods, store_methods};
use crate::error::{guard, to_js};
use crate::tasks::{
    access, check_cancel, job, open_job, open_now, report, write_job, External, Job, Progress,
};
use crate::vector_index::{add_result, flag, CancelToken, NativeAddResult};

/// Text index options, resolved by the TypeScript layer.
#[napi(object)]
pub struct NativeTextConfig {
    /// 'default' or 'tokenizer-json'.
    pub analyzer: String,
    /// Path of the tokenizer.json (analyzer 'tokenizer-json').
    pub tokenizer_json: Option<String>,
    /// 'pretokenize' | 'subword'.
    pub mode: Option<String>,
    pub stem: bool,
    /// 'english' | 'none' | 'custom'.
    pub stop_words: String,
    pub stop_word_list: Vec<String>,
    pub k1: f64,
    pub b: f64,
    pub threads: u32,
    /// Declared attribute fields: a JSON object of field name to type.
    pub attributes: Option<String>,
    /// Whether keys may carry a payload.
    pub payload: Option<bool>,
}

/// Resolved text index options (what a loaded index reports).
#[napi(object)]
pub struct NativeTextInfo {
    /// 'default' or 'tokenizer-json'.
    pub analyzer: String,
    /// Where the tokenizer.json came from (its bytes are stored in the index).
    pub tokenizer_name: Option<String>,
    pub mode: Option<String>,
    pub stem: bool,
    pub stop_words: String,
    pub stop_word_list: Vec<String>,
    pub k1: f64,
    pub b: f64,
    /// Declared attribute fields (JSON), if any.
    pub attributes: Option<String>,
    pub payload: bool,
}

/// Heap bytes of a text index, by part.
#[napi(object)]
pub struct NativeTextMemory {
    pub total: f64,
    pub postings: f64,
    pub terms: f64,
    pub documents: f64,
    pub attributes: f64,
    pub payloads: f64,
}

fn create(c: &NativeTextConfig) -> Result<SharedTextIndex, EngineError> {
    let analyzer = options::analyzer(
        &c.analyzer,
        c.tokenizer_json.as_deref(),
        c.mode.as_deref(),
        c.stem,
        &c.stop_words,
        &c.stop_word_list,
    )?;
    let params = Bm25Params {
        k1: c.k1 as f32,
        b: c.b as f32,
    };
    let meta = options::meta_config(c.attributes.as_deref(), c.payload.unwrap_or(false))?;
    SharedTextIndex::create_with(analyzer, params, &meta, c.threads as usize)
}

/// Runs one search with `opts` (no options: a plain search).
fn search_with(
    index: &SharedTextIndex,
    query: &str,
    k: u32,
    strategy: &str,
    opts: Option<&NativeScoredSearchOptions>,
) -> Result<(TextHits, HitMeta), EngineError> {
    let (filter, attributes, payload) = scored_options(opts);
    index.search_options(
        query,
        k as usize,
        options::text_strategy(strategy)?,
        filter,
        attributes,
        payload,
    )
}

fn wrap(index: SharedTextIndex) -> NativeTextIndex {
    NativeTextIndex {
        handle: Handle::new(index, "TextIndex"),
        external: Arc::default(),
    }
}

fn load(path: String, threads: u32) -> Result<SharedTextIndex, EngineError> {
    SharedTextIndex::load(&PathBuf::from(path), threads as usize)
}

/// A BM25 text index.
#[napi(custom_finalize)]
pub struct NativeTextIndex {
    handle: Handle<SharedTextIndex>,
    external: Arc<External>,
}

#[napi]
impl NativeTextIndex {
    /// An empty index (reads the tokenizer.json, if any, now).
    #[napi(constructor)]
    pub fn new(env: Env, config: NativeTextConfig) -> napi::Result<Self> {
        guard(|| create(&config))
            .map(|index| open_now(&env, index, wrap, |n| &n.external))
            .map_err(|e| to_js(&env, e))
    }

    /// Loads a text index file on a worker thread.
    #[napi(ts_return_type = "Promise<NativeTextIndex>")]
    pub fn load(path: String, threads: u32) -> AsyncTask<Job<SharedTextIndex, NativeTextIndex>> {
        open_job(move || load(path, threads), wrap, |n| &n.external)
    }

    /// Loads a text index file on the JS thread.
    #[napi]
    pub fn load_sync(env: Env, path: String, threads: u32) -> napi::Result<NativeTextIndex> {
        guard(|| load(path, threads))
            .map(|index| open_now(&env, index, wrap, |n| &n.external))
            .map_err(|e| to_js(&env, e))
    }

    /// Adds (or replaces) documents on the index's write thread; all or nothing.
    #[napi(
        ts_args_type = "keys: Uint32Array, texts: string[], onProgress?: ((err: Error | null, done: number, total: number) => void) | null, cancel?: CancelToken | null, attributes?: string | null, payloads?: Array<string | null> | null",
        ts_return_type = "Promise<NativeAddResult>"
    )]
    #[allow(clippy::too_many_arguments)]
    pub fn add<'env>(
        &self,
        env: &'env Env,
        keys: Uint32Array,
        texts: Vec<String>,
        on_progress: Option<Progress>,
        cancel: Option<&CancelToken>,
        attributes: Option<String>,
        payloads: Option<Vec<Option<String>>>,
    ) -> napi::Result<PromiseRaw<'env, NativeAddResult>> {
        let (inner, cancel, keys) = (self.handle.get(), flag(cancel), keys.to_vec());
        write_job(
            env,
            inner,
            Some(&self.external),
            move |inner| {
                let meta = MetaInput {
                    attributes: attributes.as_deref(),
                    payloads: payloads.as_deref(),
                };
                inner.add_with(&keys, &texts, &meta, &cancel, &report(on_progress.as_ref()))
            },
            add_result,
        )
    }

    /// Adds (or replaces) documents on the JS thread (analysis still uses the pool).
    #[napi]
    pub fn add_sync(
        &self,
        env: Env,
        keys: Uint32Array,
        texts: Vec<String>,
        attributes: Option<String>,
        payloads: Option<Vec<Option<String>>>,
    ) -> napi::Result<()> {
        let never = AtomicBool::new(false);
        let meta = MetaInput {
            attributes: attributes.as_deref(),
            payloads: payloads.as_deref(),
        };
        guard(|| {
            let inner = self.handle.get()?;
            inner.add_with(&keys, &texts, &meta, &never, &|_, _| {})?;
            self.external.report_store(&env, &*inner);
            Ok(())
        })
        .map_err(|e| to_js(&env, e))
    }

    /// BM25 top-k on a worker thread.
    #[napi(ts_return_type = "Promise<NativeScoredResult>")]
    pub fn search(
        &self,
        query: String,
        k: u32,
        strategy: String,
        cancel: Option<&CancelToken>,
        opts: Option<NativeScoredSearchOptions>,
    ) -> AsyncTask<Job<(TextHits, HitMeta), NativeScoredResult>> {
        let (inner, cancel) = (self.handle.get(), flag(cancel));
        job(
            move || {
                let inner = inner?;
                check_cancel(&cancel)?;
                search_with(&inner, &query, k, &strategy, opts.as_ref())
            },
            scored_with,
        )
    }

    /// BM25 top-k on the JS thread.
    #[napi]
    pub fn search_sync(
        &self,
        env: Env,
        query: String,
        k: u32,
        strategy: String,
        opts: Option<NativeScoredSearchOptions>,
    ) -> napi::Result<NativeScoredResult> {
        guard(|| search_with(&*self.handle.get()?, &query, k, &strategy, opts.as_ref()))
            .map(scored_with)
            .map_err(|e| to_js(&env, e))
    }

    /// Searches many queries on the pool (one result per query).
    #[napi(ts_return_type = "Promise<NativeScoredResult[]>")]
    pub fn search_batch(
        &self,
        queries: Vec<String>,
        k: u32,
    ) -> AsyncTask<Job<Vec<TextHits>, Vec<NativeScoredResult>>> {
        let inner = self.handle.get();
        job(
            move || inner?.search_batch(&queries, k as usize),
            scored_batch,
        )
    }

    /// The analyzer's tokens for `text` (what is indexed / searched).
    #[napi]
    pub fn analyze(&self, env: Env, text: String) -> napi::Result<Vec<String>> {
        guard(|| self.handle.get()?.analyze(&text)).map_err(|e| to_js(&env, e))
    }

    /// Whether `key` is present.
    #[napi]
    pub fn has(&self, env: Env, key: u32) -> napi::Result<bool> {
        access(&env, &self.handle, |i| i.read().contains(key))
    }

    /// Live documents.
    #[napi(getter)]
    pub fn size(&self, env: Env) -> napi::Result<u32> {
        access(&env, &self.handle, |i| i.read().len() as u32)
    }

    /// Distinct indexed terms.
    #[napi(getter)]
    pub fn terms(&self, env: Env) -> napi::Result<u32> {
        access(&env, &self.handle, |i| i.read().num_terms() as u32)
    }

    /// Options of this index.
    #[napi]
    pub fn info(&self, env: Env) -> napi::Result<NativeTextInfo> {
        access(&env, &self.handle, |i| {
            let meta = i.meta().config();
            let index = i.read();
            let a = index.analyzer_config();
            let n = options::analyzer_names(a);
            let p = index.params();
            NativeTextInfo {
                analyzer: n.kind.into(),
                tokenizer_name: n.tokenizer_name,
                mode: n.mode.map(Into::into),
                stem: a.stem,
                stop_words: n.stop_words.into(),
                stop_word_list: n.stop_word_list,
                k1: f64::from(p.k1),
                b: f64::from(p.b),
                attributes: meta.attributes.map(|s| s.to_json()),
                payload: meta.payload,
            }
        })
    }

    /// Heap bytes held, by part.
    #[napi]
    pub fn memory_usage(&self, env: Env) -> napi::Result<NativeTextMemory> {
        access(&env, &self.handle, |i| {
            let m = i.read().memory_usage();
            let (attributes, payloads) = i.meta().memory_usage();
            NativeTextMemory {
                total: (m.total() + attributes + payloads) as f64,
                postings: m.postings as f64,
                terms: m.terms as f64,
                documents: m.documents as f64,
                attributes: attributes as f64,
                payloads: payloads as f64,
            }
        })
    }
}

meta_methods!(NativeTextIndex);
store_methods!(NativeTextIndex);
