//! Options as a host language passes them (names as strings, numbers, optional overrides),
//! parsed into the engine's types. A binding copies fields into these functions and never
//! interprets an option itself, so every accepted spelling and every error message about an
//! option lives here.

use std::path::PathBuf;

use quiver_distance::Metric;
use quiver_lexical::{
    AnalyzerConfig, AnalyzerKind, SparseStrategy, StopWords, Strategy, TokenizerMode,
};
use quiver_muvera::fde::FdeParams;
use quiver_muvera::store::TokenStorage;

use crate::config::IndexKind;
use crate::error::{err, Result};
use crate::multi_vector::muvera_error;
use crate::quantized::{Originals, QuantKind};

/// `"l2"`, `"ip"` or `"cosine"`.
pub fn metric(s: &str) -> Result<Metric> {
    Metric::parse(s).ok_or_else(|| {
        err!(
            InvalidArgument,
            "metric must be 'l2', 'ip' or 'cosine', got '{s}'"
        )
    })
}

/// What an index stores besides vectors: `attributes` is the declared schema as a JSON object
/// of field names to `keyword | keyword[] | int | float | bool`.
pub fn meta_config(attributes: Option<&str>, payload: bool) -> Result<crate::meta::MetaConfig> {
    let attributes = attributes
        .map(|json| {
            quiver_filter::Schema::from_json(json)
                .map_err(|e| crate::meta::filter_error(e, "attributes: "))
        })
        .transpose()?;
    Ok(crate::meta::MetaConfig {
        attributes,
        payload,
    })
}

/// `"hnsw"` or `"flat"`.
pub fn index_kind(s: &str) -> Result<IndexKind> {
    IndexKind::parse(s)
        .ok_or_else(|| err!(InvalidArgument, "index must be 'hnsw' or 'flat', got '{s}'"))
}

/// `"memory"`, `"mmap"` or `"none"`.
pub fn originals(s: &str) -> Result<Originals> {
    Originals::parse(s).ok_or_else(|| {
        err!(
            InvalidArgument,
            "originals must be 'memory', 'mmap' or 'none', got '{s}'"
        )
    })
}

/// The quantizer named `name` with its parameters (those that do not apply to it are ignored):
/// `query_bits` for binary; `pq_m`, `nbits` and `opq` for PQ. Ranges are checked by
/// [`crate::Config::validate`].
pub fn quant_kind(
    name: &str,
    query_bits: u32,
    pq_m: u32,
    nbits: u32,
    opq: bool,
) -> Result<QuantKind> {
    let small = |x: u32, what: &str| {
        u8::try_from(x)
            .map_err(|_| err!(InvalidArgument, "quantization.{what} is out of range: {x}"))
    };
    Ok(match name {
        "none" => QuantKind::None,
        "sq8" => QuantKind::Sq8,
        "binary" => QuantKind::Binary {
            query_bits: small(query_bits, "queryBits")?,
        },
        "rabitq" => QuantKind::Rabitq,
        "pq" => QuantKind::Pq {
            m: pq_m,
            nbits: small(nbits, "nbits")?,
            opq,
        },
        other => {
            return Err(err!(
                InvalidArgument,
                "quantization.type must be 'none', 'sq8', 'binary', 'rabitq' or 'pq', got '{other}'"
            ))
        }
    })
}

/// `"f32"`, `"f16"` or `"sq8"`.
pub fn token_storage(s: &str) -> Result<TokenStorage> {
    TokenStorage::parse(s).ok_or_else(|| {
        err!(
            InvalidArgument,
            "tokenStorage must be 'f32', 'f16' or 'sq8', got '{s}'"
        )
    })
}

/// BM25 top-k strategy: `"bmm"` (or empty: the default), `"bmw"` or `"exhaustive"`.
pub fn text_strategy(s: &str) -> Result<Strategy> {
    match s {
        "bmm" | "" => Ok(Strategy::BlockMaxMaxScore),
        "bmw" => Ok(Strategy::BlockMaxWand),
        "exhaustive" => Ok(Strategy::Exhaustive),
        o => Err(err!(
            InvalidArgument,
            "strategy must be 'bmm', 'bmw' or 'exhaustive', got '{o}'"
        )),
    }
}

/// Sparse top-k strategy: `"maxscore"` (or empty: the default), `"wand"`, `"exhaustive"` or
/// `"approximate"`; `candidates` (0: not given) is the approximate strategy's number of
/// documents scored exactly and an error with any other strategy.
pub fn sparse_strategy(s: &str, candidates: u32) -> Result<SparseStrategy> {
    let strategy = match s {
        "maxscore" | "" => SparseStrategy::MaxScore,
        "wand" => SparseStrategy::Wand,
        "exhaustive" => SparseStrategy::Exhaustive,
        "approximate" => return Ok(SparseStrategy::Approximate { candidates }),
        o => {
            return Err(err!(
                InvalidArgument,
                "strategy must be 'maxscore', 'wand', 'exhaustive' or 'approximate', got '{o}'"
            ))
        }
    };
    if candidates != 0 {
        return Err(err!(
            InvalidArgument,
            "candidates applies to the 'approximate' strategy only"
        ));
    }
    Ok(strategy)
}

/// FDE encoder options: a preset (default `"paper-10240"`) for token dimension `dim`, then
/// explicit overrides (`d_proj` / `final_dim` of 0 mean none; `seed` is a decimal u64). The
/// combination is validated after the overrides, so an override can make a preset fit.
#[derive(Clone, Debug, Default)]
pub struct FdeOptions<'a> {
    /// Token dimension.
    pub dim: u32,
    /// Preset name.
    pub preset: Option<&'a str>,
    /// SimHash bits per repetition.
    pub k_sim: Option<u32>,
    /// Projection dimension (0: identity).
    pub d_proj: Option<u32>,
    /// Repetitions.
    pub reps: Option<u32>,
    /// Final Count-Sketch dimension (0: none).
    pub final_dim: Option<u32>,
    /// Seed, as a decimal string (it may exceed 2^53).
    pub seed: Option<&'a str>,
    /// Fill empty partitions of documents.
    pub fill_empty: Option<bool>,
}

impl FdeOptions<'_> {
    /// The resolved, validated encoder parameters.
    pub fn resolve(&self) -> Result<FdeParams> {
        let preset = self.preset.unwrap_or("paper-10240");
        let mut p = FdeParams::preset_unchecked(preset, self.dim as usize).map_err(muvera_error)?;
        if let Some(k) = self.k_sim {
            p.k_sim = k;
        }
        if let Some(d) = self.d_proj {
            p.d_proj = (d != 0).then_some(d as usize);
        }
        if let Some(r) = self.reps {
            p.reps = r as usize;
        }
        if let Some(f) = self.final_dim {
            p.final_dim = (f != 0).then_some(f as usize);
        }
        if let Some(s) = self.seed {
            p.seed = s.parse::<u64>().map_err(|_| {
                err!(
                    InvalidArgument,
                    "fde.seed must be an integer in [0, 2^64), got {s}"
                )
            })?;
        }
        if let Some(f) = self.fill_empty {
            p.fill_empty = f;
        }
        p.validate().map_err(muvera_error)?;
        Ok(p)
    }
}

/// Text analyzer options: `kind` is `"default"` or `"tokenizer-json"` (then `tokenizer_json`
/// is the file's path and `mode` `"pretokenize"` (default) or `"subword"`); `stop_words` is
/// `"english"`, `"none"` or `"custom"` (then `stop_word_list` is the list).
pub fn analyzer(
    kind: &str,
    tokenizer_json: Option<&str>,
    mode: Option<&str>,
    stem: bool,
    stop_words: &str,
    stop_word_list: &[String],
) -> Result<AnalyzerConfig> {
    let kind = match kind {
        "default" => AnalyzerKind::Default,
        "tokenizer-json" => {
            let path = tokenizer_json.ok_or_else(|| {
                err!(
                    InvalidArgument,
                    "analyzer.tokenizerJson (a path) is required"
                )
            })?;
            let mode = match mode.unwrap_or("pretokenize") {
                "pretokenize" => TokenizerMode::Pretokenize,
                "subword" => TokenizerMode::Subword,
                m => {
                    return Err(err!(
                        InvalidArgument,
                        "analyzer.mode must be 'pretokenize' or 'subword', got '{m}'"
                    ))
                }
            };
            AnalyzerKind::TokenizerJson {
                path: PathBuf::from(path),
                mode,
            }
        }
        a => {
            return Err(err!(
                InvalidArgument,
                "analyzer must be 'default' or a tokenizer.json, got '{a}'"
            ))
        }
    };
    let stop_words = match stop_words {
        "english" => StopWords::English,
        "none" => StopWords::None,
        "custom" => StopWords::Custom(stop_word_list.to_vec()),
        s => {
            return Err(err!(
                InvalidArgument,
                "stopWords must be 'english', false or a list, got '{s}'"
            ))
        }
    };
    Ok(AnalyzerConfig {
        kind,
        stem,
        stop_words,
    })
}

/// An analyzer configuration described with the names [`analyzer`] accepts.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalyzerNames {
    /// `"default"` or `"tokenizer-json"`.
    pub kind: &'static str,
    /// Where the tokenizer.json came from (its bytes are stored in the index).
    pub tokenizer_name: Option<String>,
    /// `"pretokenize"` or `"subword"` for a tokenizer.json.
    pub mode: Option<&'static str>,
    /// `"english"`, `"none"` or `"custom"`.
    pub stop_words: &'static str,
    /// The custom list (empty otherwise).
    pub stop_word_list: Vec<String>,
}

/// The inverse of [`analyzer`] (the stemming flag is `config.stem`).
pub fn analyzer_names(config: &AnalyzerConfig) -> AnalyzerNames {
    let mode_name = |m: TokenizerMode| match m {
        TokenizerMode::Pretokenize => "pretokenize",
        TokenizerMode::Subword => "subword",
    };
    let (kind, tokenizer_name, mode) = match &config.kind {
        AnalyzerKind::Default => ("default", None, None),
        AnalyzerKind::TokenizerJson { path, mode } => (
            "tokenizer-json",
            Some(path.display().to_string()),
            Some(mode_name(*mode)),
        ),
        AnalyzerKind::TokenizerJsonBytes { name, mode, .. } => {
            ("tokenizer-json", Some(name.clone()), Some(mode_name(*mode)))
        }
    };
    let (stop_words, stop_word_list) = match &config.stop_words {
        StopWords::English => ("english", Vec::new()),
        StopWords::None => ("none", Vec::new()),
        StopWords::Custom(v) => ("custom", v.clone()),
    };
    AnalyzerNames {
        kind,
        tokenizer_name,
        mode,
        stop_words,
        stop_word_list,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn names_round_trip() {
        for s in ["l2", "ip", "cosine"] {
            assert_eq!(metric(s).map(Metric::name).ok(), Some(s));
        }
        for s in ["memory", "mmap", "none"] {
            assert_eq!(originals(s).map(Originals::name).ok(), Some(s));
        }
        for s in ["sq8", "binary", "rabitq", "pq", "none"] {
            assert_eq!(
                quant_kind(s, 4, 8, 8, false).map(|q| q.name()).ok(),
                Some(s)
            );
        }
        let c = analyzer("default", None, None, true, "custom", &["a".into()]).expect("valid");
        let n = analyzer_names(&c);
        assert_eq!((n.kind, n.stop_words), ("default", "custom"));
        assert_eq!(n.stop_word_list, vec!["a".to_string()]);
    }

    #[test]
    fn bad_names_are_coded() {
        for e in [
            metric("L3").err(),
            index_kind("ivf").err(),
            originals("disk").err(),
            quant_kind("sq4", 1, 1, 8, false).err(),
            quant_kind("pq", 1, 1, 300, false).err(),
            token_storage("f8").err(),
            text_strategy("fast").err(),
            sparse_strategy("bmm", 0).err(),
            sparse_strategy("maxscore", 100).err(),
            analyzer("spacy", None, None, false, "none", &[]).err(),
            analyzer("default", None, None, false, "french", &[]).err(),
            FdeOptions {
                dim: 32,
                seed: Some("-1"),
                ..FdeOptions::default()
            }
            .resolve()
            .err(),
        ] {
            assert_eq!(e.map(|e| e.code), Some(ErrorCode::InvalidArgument));
        }
    }

    #[test]
    fn fde_overrides_apply_before_validation() {
        // The preset's d_proj (16) alone does not fit 8-dim tokens; an override does.
        let p = FdeOptions {
            dim: 8,
            d_proj: Some(4),
            ..FdeOptions::default()
        }
        .resolve()
        .expect("valid after the override");
        assert_eq!((p.dim, p.d_proj), (8, Some(4)));
        assert!(FdeOptions {
            dim: 8,
            ..FdeOptions::default()
        }
        .resolve()
        .is_err());
    }
}
