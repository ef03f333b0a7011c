//! Text analysis: turning a string into the terms that are indexed and searched.
//!
//! Built on the HuggingFace `tokenizers` crate (pure-Rust features only: no C library, no
//! network). Three pipelines:
//!
//! * [`AnalyzerKind::Default`]: `BertNormalizer` (drop control characters and U+FFFD,
//!   whitespace → space, CJK ideographs padded with spaces, NFD + removal of combining marks,
//!   lowercase) then `BertPreTokenizer` (split on whitespace, split off every punctuation
//!   character). Then English possessives are removed (`patient's` → `patient`), stop words
//!   are removed, and optionally the Snowball English stemmer runs.
//! * [`AnalyzerKind::TokenizerJson`] with [`TokenizerMode::Pretokenize`]: the normalizer and
//!   pre-tokenizer of a user's `tokenizer.json` (whitespace split if it has no
//!   pre-tokenizer), then stop words and optional stemming.
//! * [`AnalyzerKind::TokenizerJson`] with [`TokenizerMode::Subword`]: the full tokenizer
//!   (normalizer, pre-tokenizer and model), producing sub-word tokens such as `play`, `##ing`;
//!   stop words apply to those tokens, stemming does not (it would corrupt sub-words),
//!   the model's unknown token (`[UNK]`, …) is dropped, and truncation/padding configured in
//!   the file are turned off.
//!
//! In every pipeline a token without any alphanumeric character (pure punctuation, symbols,
//! emoji) is dropped, as is a token longer than [`MAX_TOKEN_BYTES`]. Emoji inside a word are
//! kept as part of that word (`BertPreTokenizer` splits on punctuation, not on symbols).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;
use rust_stemmers::{Algorithm, Stemmer};
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::{
    Normalizer, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer, Tokenizer,
};

use crate::error::{invalid, Result};
use crate::stopwords::{StopWords, ENGLISH};

/// Tokens longer than this many bytes are dropped (like Lucene's 255-character limit, these
/// are base64 blobs, URLs gone wrong and the like).
pub const MAX_TOKEN_BYTES: usize = 255;

/// How a `tokenizer.json` is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenizerMode {
    /// Only its normalizer and pre-tokenizer: whole words, like the default pipeline.
    Pretokenize,
    /// The full tokenizer including its model: sub-word tokens.
    Subword,
}

/// Which pipeline an analyzer runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AnalyzerKind {
    /// The built-in BERT-like pipeline (see the module docs).
    #[default]
    Default,
    /// A `tokenizer.json` read from `path` when the analyzer is created. Its bytes are kept
    /// (and saved with the index), so the file is not needed afterwards.
    TokenizerJson {
        /// The file to read.
        path: PathBuf,
        /// How to use it.
        mode: TokenizerMode,
    },
    /// A `tokenizer.json` already in memory (this is what a loaded index reports).
    TokenizerJsonBytes {
        /// The file's content.
        bytes: Arc<[u8]>,
        /// Where it came from, for messages (the original path, or any label).
        name: String,
        /// How to use it.
        mode: TokenizerMode,
    },
}

/// Configuration of an [`Analyzer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnalyzerConfig {
    /// The pipeline.
    pub kind: AnalyzerKind,
    /// Snowball English stemming (`running` → `run`). Ignored in
    /// [`TokenizerMode::Subword`].
    pub stem: bool,
    /// Stop words to remove.
    pub stop_words: StopWords,
}

impl Default for AnalyzerConfig {
    /// The default pipeline with English stemming and Lucene's English stop words: the
    /// configuration that matches the BM25 baselines of the BEIR benchmark.
    fn default() -> Self {
        AnalyzerConfig {
            kind: AnalyzerKind::Default,
            stem: true,
            stop_words: StopWords::English,
        }
    }
}

enum Pipeline {
    Default {
        normalizer: BertNormalizer,
        pre: BertPreTokenizer,
    },
    Pretokenize(Box<Tokenizer>),
    /// The tokenizer and its model's unknown token (dropped: it would make every unknown
    /// word match every other).
    Subword(Box<Tokenizer>, Option<String>),
}

/// A configured text analyzer. `Send + Sync`; [`Analyzer::analyze_batch`] runs on the rayon
/// pool.
pub struct Analyzer {
    config: AnalyzerConfig,
    pipeline: Pipeline,
    stemmer: Option<Stemmer>,
    stop: HashSet<String>,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("kind", &kind_label(&self.config.kind))
            .field("stem", &self.config.stem)
            .field("stop_words", &self.stop.len())
            .finish()
    }
}

fn kind_label(kind: &AnalyzerKind) -> String {
    match kind {
        AnalyzerKind::Default => "default".into(),
        AnalyzerKind::TokenizerJson { path, mode } => {
            format!("tokenizer.json {} ({mode:?})", path.display())
        }
        AnalyzerKind::TokenizerJsonBytes { name, mode, .. } => {
            format!("tokenizer.json {name} ({mode:?})")
        }
    }
}

pub(crate) fn load_tokenizer(bytes: &[u8], name: &str) -> Result<Tokenizer> {
    let mut tok = Tokenizer::from_bytes(bytes)
        .map_err(|e| invalid(format!("cannot parse tokenizer file {name}: {e}")))?;
    tok.with_truncation(None)
        .map_err(|e| invalid(format!("tokenizer file {name}: {e}")))?;
    tok.with_padding(None);
    Ok(tok)
}

impl Analyzer {
    /// Builds an analyzer. A `tokenizer.json` that is missing, unreadable or malformed is an
    /// [`InvalidArgument`](crate::LexicalError::InvalidArgument) naming the file. On success
    /// the returned analyzer's [`config`](Analyzer::config) holds the file's bytes
    /// ([`AnalyzerKind::TokenizerJsonBytes`]), so it can be saved and rebuilt without the file.
    pub fn new(cfg: &AnalyzerConfig) -> Result<Self> {
        let (pipeline, kind) = match &cfg.kind {
            AnalyzerKind::Default => (
                Pipeline::Default {
                    normalizer: BertNormalizer::new(true, true, Some(true), true),
                    pre: BertPreTokenizer,
                },
                AnalyzerKind::Default,
            ),
            AnalyzerKind::TokenizerJson { path, mode } => {
                let name = path.display().to_string();
                let bytes = std::fs::read(path)
                    .map_err(|e| invalid(format!("cannot read tokenizer file {name}: {e}")))?;
                let tok = load_tokenizer(&bytes, &name)?;
                (
                    make_pipeline(tok, *mode, &bytes),
                    AnalyzerKind::TokenizerJsonBytes {
                        bytes: bytes.into(),
                        name,
                        mode: *mode,
                    },
                )
            }
            AnalyzerKind::TokenizerJsonBytes { bytes, name, mode } => {
                let tok = load_tokenizer(bytes, name)?;
                (make_pipeline(tok, *mode, bytes), cfg.kind.clone())
            }
        };
        let subword = matches!(pipeline, Pipeline::Subword(..));
        let mut analyzer = Analyzer {
            config: AnalyzerConfig {
                kind,
                stem: cfg.stem,
                stop_words: cfg.stop_words.clone(),
            },
            pipeline,
            stemmer: (cfg.stem && !subword).then(|| Stemmer::create(Algorithm::English)),
            stop: HashSet::new(),
        };
        let words: Vec<String> = match &cfg.stop_words {
            StopWords::None => Vec::new(),
            StopWords::English => ENGLISH.iter().map(|s| s.to_string()).collect(),
            StopWords::Custom(list) => list.clone(),
        };
        let mut stop = HashSet::with_capacity(words.len());
        for w in &words {
            let n = analyzer.normalize_only(w);
            let n = n.trim();
            if !n.is_empty() {
                stop.insert(n.to_string());
            }
        }
        analyzer.stop = stop;
        Ok(analyzer)
    }

    /// The configuration (with a `tokenizer.json` resolved to its bytes).
    pub fn config(&self) -> &AnalyzerConfig {
        &self.config
    }

    /// Applies only the normalizer (used for stop-word lists).
    fn normalize_only(&self, word: &str) -> String {
        let normalizer: Option<&dyn Normalizer> = match &self.pipeline {
            Pipeline::Default { normalizer, .. } => Some(normalizer),
            Pipeline::Pretokenize(t) | Pipeline::Subword(t, _) => {
                t.get_normalizer().map(|n| n as &dyn Normalizer)
            }
        };
        let mut n = tokenizers::NormalizedString::from(word);
        match normalizer {
            Some(norm) if norm.normalize(&mut n).is_ok() => n.get().to_string(),
            _ => word.to_string(),
        }
    }

    /// Analyzes `text` into terms, in order (repeats kept). A tokenizer that fails on the
    /// text is an [`InvalidArgument`](crate::LexicalError::InvalidArgument).
    pub fn try_analyze(&self, text: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        match &self.pipeline {
            Pipeline::Default { normalizer, pre } => {
                if let Some(lower) = plain_ascii_lowercase(text) {
                    // Fast path, identical to the tokenizers pipeline below for ASCII text
                    // without control characters (tested): lowercase, split on whitespace,
                    // isolate each ASCII punctuation character.
                    self.words(ascii_splits(&lower), &mut out);
                    return Ok(out);
                }
                self.default_pipeline(normalizer, pre, text, &mut out)?;
            }
            Pipeline::Pretokenize(tok) => {
                let mut pts = PreTokenizedString::from(text);
                if let Some(n) = tok.get_normalizer() {
                    pts.normalize(|s| n.normalize(s))
                        .map_err(|e| invalid(format!("tokenizer normalizer failed: {e}")))?;
                }
                match tok.get_pre_tokenizer() {
                    Some(p) => p.pre_tokenize(&mut pts),
                    None => pts.split(|_, s| {
                        s.split(
                            char::is_whitespace,
                            tokenizers::SplitDelimiterBehavior::Removed,
                        )
                    }),
                }
                .map_err(|e| invalid(format!("tokenizer pre-tokenizer failed: {e}")))?;
                let splits = pts.get_splits(OffsetReferential::Original, OffsetType::Byte);
                self.words(splits.iter().map(|(s, o, _)| (*s, *o)), &mut out);
            }
            Pipeline::Subword(tok, unk) => {
                let enc = tok
                    .encode_fast(text, false)
                    .map_err(|e| invalid(format!("tokenizer failed: {e}")))?;
                // `encode_fast` skips offsets and token strings; map the ids back.
                for &id in enc.get_ids() {
                    if let Some(t) = tok.id_to_token(id) {
                        if keep_token(&t)
                            && !self.stop.contains(t.as_str())
                            && unk.as_deref() != Some(t.as_str())
                        {
                            out.push(t);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// The default pipeline through `tokenizers` (any text).
    fn default_pipeline(
        &self,
        normalizer: &BertNormalizer,
        pre: &BertPreTokenizer,
        text: &str,
        out: &mut Vec<String>,
    ) -> Result<()> {
        let mut pts = PreTokenizedString::from(text);
        pts.normalize(|n| normalizer.normalize(n))
            .and_then(|_| pre.pre_tokenize(&mut pts))
            .map_err(|e| invalid(format!("text analysis failed: {e}")))?;
        let splits = pts.get_splits(OffsetReferential::Original, OffsetType::Byte);
        self.words(splits.iter().map(|(s, o, _)| (*s, *o)), out);
        Ok(())
    }

    /// Post-processes pre-tokenized words: possessive removal, symbol dropping, stop words,
    /// stemming. `splits` carries each word's byte range in the original text, used to see
    /// whether an apostrophe and an `s` are glued to the word before them.
    fn words<'a>(
        &self,
        splits: impl Iterator<Item = (&'a str, (usize, usize))>,
        out: &mut Vec<String>,
    ) {
        // (word, start, end) of the two previous splits, for `word ' s` → `word`.
        let mut prev: [Option<(&str, usize, usize)>; 2] = [None, None];
        for (w, (start, end)) in splits {
            let w = w.trim();
            let possessive = w == "s"
                && matches!(prev, [Some((p, ps, pe)), Some((_, _, qe))]
                    if is_apostrophe(p) && pe == start && qe == ps);
            prev = [Some((w, start, end)), prev[0]];
            if possessive || !keep_token(w) || self.stop.contains(w) {
                continue;
            }
            match &self.stemmer {
                Some(s) => out.push(s.stem(w).into_owned()),
                None => out.push(w.to_string()),
            }
        }
    }

    /// Analyzes `text`; a tokenizer failure yields no terms (see [`Analyzer::try_analyze`]).
    pub fn analyze(&self, text: &str) -> Vec<String> {
        self.try_analyze(text).unwrap_or_default()
    }

    /// Analyzes many texts in parallel on the rayon pool; output `i` belongs to `texts[i]`.
    pub fn analyze_batch(&self, texts: &[&str]) -> Result<Vec<Vec<String>>> {
        texts.par_iter().map(|t| self.try_analyze(t)).collect()
    }
}

/// The lowercased text if it is ASCII without control characters other than tab, CR, LF.
fn plain_ascii_lowercase(text: &str) -> Option<String> {
    text.bytes()
        .all(|b| (0x20..0x7F).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r'))
        .then(|| text.to_ascii_lowercase())
}

/// BERT pre-tokenisation of plain ASCII: words split on whitespace, each punctuation
/// character its own split; byte offsets are those of the input.
fn ascii_splits(lower: &str) -> impl Iterator<Item = (&str, (usize, usize))> {
    let b = lower.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let start = i;
        if b[i].is_ascii_punctuation() {
            i += 1;
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() && !b[i].is_ascii_punctuation() {
                i += 1;
            }
        }
        Some((&lower[start..i], (start, i)))
    })
}

fn is_apostrophe(s: &str) -> bool {
    matches!(s, "'" | "\u{2019}" | "\u{FF07}")
}

fn make_pipeline(tok: Tokenizer, mode: TokenizerMode, json: &[u8]) -> Pipeline {
    match mode {
        TokenizerMode::Pretokenize => Pipeline::Pretokenize(Box::new(tok)),
        TokenizerMode::Subword => Pipeline::Subword(Box::new(tok), unk_token(json)),
    }
}

/// The model's unknown token from a tokenizer.json: `model.unk_token` (WordPiece, BPE,
/// WordLevel) or the vocabulary entry at `model.unk_id` (Unigram).
fn unk_token(json: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let model = v.get("model")?;
    if let Some(s) = model.get("unk_token").and_then(|t| t.as_str()) {
        return Some(s.to_string());
    }
    let id = usize::try_from(model.get("unk_id")?.as_u64()?).ok()?;
    let entry = model.get("vocab")?.as_array()?.get(id)?;
    entry
        .as_array()
        .and_then(|e| e.first())
        .and_then(|s| s.as_str())
        .map(str::to_string)
}

/// A token is kept when it has an alphanumeric character and is not absurdly long.
fn keep_token(t: &str) -> bool {
    !t.is_empty() && t.len() <= MAX_TOKEN_BYTES && t.chars().any(char::is_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ASCII fast path gives exactly what the tokenizers pipeline gives.
    fn same_as_slow(a: &Analyzer, text: &str) {
        let Pipeline::Default { normalizer, pre } = &a.pipeline else {
            panic!("default pipeline expected")
        };
        let mut slow = Vec::new();
        a.default_pipeline(normalizer, pre, text, &mut slow)
            .unwrap();
        assert_eq!(a.analyze(text), slow, "text {text:?}");
    }

    #[test]
    fn ascii_fast_path_matches_tokenizers() {
        let configs = [
            AnalyzerConfig::default(),
            AnalyzerConfig {
                kind: AnalyzerKind::Default,
                stem: false,
                stop_words: StopWords::None,
            },
        ];
        for cfg in &configs {
            let a = Analyzer::new(cfg).unwrap();
            for t in [
                "",
                "  ",
                "Hello, World!",
                "The patient's dogs' owner's it's don't",
                "x's 's s' a'b'c",
                "U.S.A. e-mail foo_bar 3.14 100% C++ <tag> #hash @user",
                "tab\there\nnew\rline",
                "'''s",
            ] {
                same_as_slow(&a, t);
            }
            let mut rng = 0x9E3779B97F4A7C15u64;
            let alphabet = b"ab sS'-.,!x9Z \t\n\rthe";
            for _ in 0..2000 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let n = (rng % 24) as usize;
                let mut s = String::new();
                let mut r = rng;
                for _ in 0..n {
                    r = r
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    s.push(alphabet[(r >> 33) as usize % alphabet.len()] as char);
                }
                same_as_slow(&a, &s);
            }
        }
    }

    #[test]
    fn send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Analyzer>();
    }
}
