//! `NativeTextIndex`: the JS class over `quiver_engine::text_index::SharedTextIndex` (BM25 over
//! HuggingFace `tokenizers`). Translation only.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Float32Array, Uint32Array};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::{Env, Task};
use napi_derive::napi;
use quiver_engine::text_index::{lexical_error, SharedTextIndex};
use quiver_engine::{Error as EngineError, ErrorCode};
use quiver_lexical::{
    AnalyzerConfig, AnalyzerKind, Bm25Params, StopWords, Strategy, TextIndex, TokenizerMode,
};

use crate::error::{guard, invalid, to_js};
use crate::vector_index::{flag, CancelToken, Progress};

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
}

/// Search hits, best first.
#[napi(object)]
pub struct NativeTextResult {
    pub keys: Uint32Array,
    pub scores: Float32Array,
}

fn analyzer_config(c: &NativeTextConfig) -> Result<AnalyzerConfig, EngineError> {
    let kind = match c.analyzer.as_str() {
        "default" => AnalyzerKind::Default,
        "tokenizer-json" => {
            let path = c
                .tokenizer_json
                .as_ref()
                .ok_or_else(|| invalid("analyzer.tokenizerJson (a path) is required"))?;
            let mode = match c.mode.as_deref().unwrap_or("pretokenize") {
                "pretokenize" => TokenizerMode::Pretokenize,
                "subword" => TokenizerMode::Subword,
                m => {
                    return Err(invalid(format!(
                        "analyzer.mode must be 'pretokenize' or 'subword', got '{m}'"
                    )))
                }
            };
            AnalyzerKind::TokenizerJson {
                path: PathBuf::from(path),
                mode,
            }
        }
        a => {
            return Err(invalid(format!(
                "analyzer must be 'default' or a tokenizer.json, got '{a}'"
            )))
        }
    };
    let stop_words = match c.stop_words.as_str() {
        "english" => StopWords::English,
        "none" => StopWords::None,
        "custom" => StopWords::Custom(c.stop_word_list.clone()),
        s => {
            return Err(invalid(format!(
                "stopWords must be 'english', false or a list, got '{s}'"
            )))
        }
    };
    Ok(AnalyzerConfig {
        kind,
        stem: c.stem,
        stop_words,
    })
}

fn info(index: &TextIndex) -> NativeTextInfo {
    let a = index.analyzer_config();
    let (analyzer, tokenizer_name, mode) = match &a.kind {
        AnalyzerKind::Default => ("default", None, None),
        AnalyzerKind::TokenizerJson { path, mode } => (
            "tokenizer-json",
            Some(path.display().to_string()),
            Some(*mode),
        ),
        AnalyzerKind::TokenizerJsonBytes { name, mode, .. } => {
            ("tokenizer-json", Some(name.clone()), Some(*mode))
        }
    };
    let (stop_words, stop_word_list) = match &a.stop_words {
        StopWords::English => ("english", Vec::new()),
        StopWords::None => ("none", Vec::new()),
        StopWords::Custom(v) => ("custom", v.clone()),
    };
    let p = index.params();
    NativeTextInfo {
        analyzer: analyzer.into(),
        tokenizer_name,
        mode: mode.map(|m| match m {
            TokenizerMode::Pretokenize => "pretokenize".into(),
            TokenizerMode::Subword => "subword".into(),
        }),
        stem: a.stem,
        stop_words: stop_words.into(),
        stop_word_list,
        k1: f64::from(p.k1),
        b: f64::from(p.b),
    }
}

fn pool(threads: u32) -> Result<Arc<rayon::ThreadPool>, EngineError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.clamp(1, 256) as usize)
        .thread_name(|i| format!("quiver-text-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| {
            EngineError::new(
                ErrorCode::Internal,
                format!("cannot start the thread pool: {e}"),
            )
        })
}

fn hits(v: Vec<(u32, f32)>) -> NativeTextResult {
    NativeTextResult {
        keys: Uint32Array::new(v.iter().map(|h| h.0).collect()),
        scores: Float32Array::new(v.iter().map(|h| h.1).collect()),
    }
}

fn strategy(s: &str) -> Result<Strategy, EngineError> {
    match s {
        "bmm" | "" => Ok(Strategy::BlockMaxMaxScore),
        "bmw" => Ok(Strategy::BlockMaxWand),
        "exhaustive" => Ok(Strategy::Exhaustive),
        o => Err(invalid(format!(
            "strategy must be 'bmm', 'bmw' or 'exhaustive', got '{o}'"
        ))),
    }
}

/// A BM25 text index.
#[napi]
pub struct NativeTextIndex {
    inner: Arc<SharedTextIndex>,
    pool: Arc<rayon::ThreadPool>,
}

#[napi]
impl NativeTextIndex {
    /// An empty index (reads the tokenizer.json, if any, now).
    #[napi(constructor)]
    pub fn new(env: Env, config: NativeTextConfig) -> napi::Result<Self> {
        guard(|| {
            let a = analyzer_config(&config)?;
            let p = Bm25Params {
                k1: config.k1 as f32,
                b: config.b as f32,
            };
            let index = TextIndex::new(a, p).map_err(lexical_error)?;
            Ok(NativeTextIndex {
                inner: Arc::new(SharedTextIndex::new(index)),
                pool: pool(config.threads)?,
            })
        })
        .map_err(|e| to_js(&env, e))
    }

    /// Loads a text index file on a worker thread.
    #[napi(ts_return_type = "Promise<NativeTextIndex>")]
    pub fn load(path: String, threads: u32) -> AsyncTask<TextLoadTask> {
        AsyncTask::new(TextLoadTask {
            path: path.into(),
            threads,
        })
    }

    /// Loads a text index file on the JS thread.
    #[napi]
    pub fn load_sync(env: Env, path: String, threads: u32) -> napi::Result<NativeTextIndex> {
        guard(|| load_text(&PathBuf::from(path), threads)).map_err(|e| to_js(&env, e))
    }

    /// Adds (or replaces) documents on a worker thread; all or nothing.
    #[napi(
        ts_args_type = "keys: Uint32Array, texts: string[], onProgress?: ((err: Error | null, done: number, total: number) => void) | null, cancel?: CancelToken | null",
        ts_return_type = "Promise<void>"
    )]
    pub fn add(
        &self,
        keys: Uint32Array,
        texts: Vec<String>,
        on_progress: Option<Progress>,
        cancel: Option<&CancelToken>,
    ) -> AsyncTask<TextAddTask> {
        AsyncTask::new(TextAddTask {
            inner: self.inner.clone(),
            pool: self.pool.clone(),
            keys,
            texts,
            progress: on_progress,
            cancel: flag(cancel),
        })
    }

    /// Adds (or replaces) documents on the JS thread (analysis still uses the pool).
    #[napi]
    pub fn add_sync(&self, env: Env, keys: Uint32Array, texts: Vec<String>) -> napi::Result<()> {
        let never = AtomicBool::new(false);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        guard(|| self.inner.add(&keys, &refs, &self.pool, &never, &|_, _| {}))
            .map_err(|e| to_js(&env, e))
    }

    /// BM25 top-k on a worker thread.
    #[napi(ts_return_type = "Promise<NativeTextResult>")]
    pub fn search(
        &self,
        query: String,
        k: u32,
        strategy: String,
        cancel: Option<&CancelToken>,
    ) -> AsyncTask<TextSearchTask> {
        AsyncTask::new(TextSearchTask {
            inner: self.inner.clone(),
            query,
            k,
            strategy,
            cancel: flag(cancel),
        })
    }

    /// BM25 top-k on the JS thread.
    #[napi]
    pub fn search_sync(
        &self,
        env: Env,
        query: String,
        k: u32,
        strategy: String,
    ) -> napi::Result<NativeTextResult> {
        guard(|| {
            let s = self::strategy(&strategy)?;
            self.inner
                .read()
                .search_with(&query, k as usize, s)
                .map_err(lexical_error)
        })
        .map(hits)
        .map_err(|e| to_js(&env, e))
    }

    /// Searches many queries on the pool (one result per query).
    #[napi(ts_return_type = "Promise<NativeTextResult[]>")]
    pub fn search_batch(&self, queries: Vec<String>, k: u32) -> AsyncTask<TextBatchTask> {
        AsyncTask::new(TextBatchTask {
            inner: self.inner.clone(),
            pool: self.pool.clone(),
            queries,
            k,
        })
    }

    /// The analyzer's tokens for `text` (what is indexed / searched).
    #[napi]
    pub fn analyze(&self, env: Env, text: String) -> napi::Result<Vec<String>> {
        guard(|| {
            self.inner
                .read()
                .analyzer()
                .try_analyze(&text)
                .map_err(lexical_error)
        })
        .map_err(|e| to_js(&env, e))
    }

    /// Removes keys on the JS thread; returns how many were present.
    #[napi]
    pub fn remove_sync(&self, keys: Uint32Array) -> u32 {
        self.inner.remove(&keys) as u32
    }

    /// Removes keys on a worker thread.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn remove(&self, keys: Uint32Array) -> AsyncTask<TextRemoveTask> {
        AsyncTask::new(TextRemoveTask {
            inner: self.inner.clone(),
            keys,
        })
    }

    /// Whether `key` is present.
    #[napi]
    pub fn has(&self, key: u32) -> bool {
        self.inner.read().contains(key)
    }

    /// Live documents.
    #[napi(getter)]
    pub fn size(&self) -> u32 {
        self.inner.read().len() as u32
    }

    /// Distinct indexed terms.
    #[napi(getter)]
    pub fn terms(&self) -> u32 {
        self.inner.read().num_terms() as u32
    }

    /// Options of this index.
    #[napi]
    pub fn info(&self) -> NativeTextInfo {
        info(&self.inner.read())
    }

    /// Heap bytes held.
    #[napi]
    pub fn memory_usage(&self) -> f64 {
        self.inner.read().memory_usage() as f64
    }

    /// Saves atomically on a worker thread.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn save(&self, path: String) -> AsyncTask<TextSaveTask> {
        AsyncTask::new(TextSaveTask {
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

fn load_text(path: &std::path::Path, threads: u32) -> Result<NativeTextIndex, EngineError> {
    let index = TextIndex::load(path).map_err(lexical_error)?;
    Ok(NativeTextIndex {
        inner: Arc::new(SharedTextIndex::new(index)),
        pool: pool(threads)?,
    })
}

/// Async add.
pub struct TextAddTask {
    inner: Arc<SharedTextIndex>,
    pool: Arc<rayon::ThreadPool>,
    keys: Uint32Array,
    texts: Vec<String>,
    progress: Option<Progress>,
    cancel: Arc<AtomicBool>,
}

impl Task for TextAddTask {
    type Output = Result<(), EngineError>;
    type JsValue = ();

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let progress = self.progress.as_ref();
        let report = |done: usize, total: usize| {
            if let Some(p) = progress {
                p.call(
                    Ok((done as u32, total as u32).into()),
                    ThreadsafeFunctionCallMode::NonBlocking,
                );
            }
        };
        let refs: Vec<&str> = self.texts.iter().map(String::as_str).collect();
        Ok(guard(|| {
            self.inner
                .add(&self.keys, &refs, &self.pool, &self.cancel, &report)
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<()> {
        output.map_err(|e| to_js(&env, e))
    }
}

/// Async search.
pub struct TextSearchTask {
    inner: Arc<SharedTextIndex>,
    query: String,
    k: u32,
    strategy: String,
    cancel: Arc<AtomicBool>,
}

impl Task for TextSearchTask {
    type Output = Result<Vec<(u32, f32)>, EngineError>;
    type JsValue = NativeTextResult;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        if self.cancel.load(Ordering::Relaxed) {
            return Ok(Err(EngineError::new(ErrorCode::Aborted, "search aborted")));
        }
        Ok(guard(|| {
            let s = strategy(&self.strategy)?;
            self.inner
                .read()
                .search_with(&self.query, self.k as usize, s)
                .map_err(lexical_error)
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        output.map(hits).map_err(|e| to_js(&env, e))
    }
}

/// Async batch search.
pub struct TextBatchTask {
    inner: Arc<SharedTextIndex>,
    pool: Arc<rayon::ThreadPool>,
    queries: Vec<String>,
    k: u32,
}

impl Task for TextBatchTask {
    type Output = Result<Vec<Vec<(u32, f32)>>, EngineError>;
    type JsValue = Vec<NativeTextResult>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        use rayon::prelude::*;
        Ok(guard(|| {
            let index = self.inner.read();
            self.pool.install(|| {
                self.queries
                    .par_iter()
                    .map(|q| index.search(q, self.k as usize).map_err(lexical_error))
                    .collect()
            })
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        output
            .map(|v| v.into_iter().map(hits).collect())
            .map_err(|e| to_js(&env, e))
    }
}

/// Async remove.
pub struct TextRemoveTask {
    inner: Arc<SharedTextIndex>,
    keys: Uint32Array,
}

impl Task for TextRemoveTask {
    type Output = usize;
    type JsValue = u32;

    fn compute(&mut self) -> napi::Result<usize> {
        Ok(self.inner.remove(&self.keys))
    }

    fn resolve(&mut self, _env: Env, output: usize) -> napi::Result<u32> {
        Ok(output as u32)
    }
}

/// Async save.
pub struct TextSaveTask {
    inner: Arc<SharedTextIndex>,
    path: PathBuf,
}

impl Task for TextSaveTask {
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
pub struct TextLoadTask {
    path: PathBuf,
    threads: u32,
}

impl Task for TextLoadTask {
    type Output = Result<NativeTextIndex, EngineError>;
    type JsValue = NativeTextIndex;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(guard(|| load_text(&self.path, self.threads)))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<NativeTextIndex> {
        output.map_err(|e| to_js(&env, e))
    }
}
