//! [`SparseEncoder`]: an inference-free sparse query encoder.
//!
//! Inference-free learned sparse models (e.g. the OpenSearch "doc-v2/v3-distill" family)
//! encode documents with a neural model but queries with a lookup: the query's tokens, each
//! weighted by a fixed per-token weight (often an IDF). This encoder does that lookup:
//!
//! * the text is tokenised by a HuggingFace `tokenizer.json` (without truncation, padding
//!   or special tokens added; special tokens that occur in the text are skipped);
//! * every distinct token id gets its weight from the weights table; tokens without a
//!   weight, or whose weight is 0, are dropped; a token that occurs several times counts
//!   once;
//! * the result is sorted by token id, ready for [`SparseIndex::search`](crate::SparseIndex::search).
//!
//! The weights table is JSON, either
//!
//! * an array of numbers indexed by token id, whose length must equal the tokenizer's
//!   vocabulary size (the largest token id, added tokens included, plus one), or
//! * an object mapping tokens to numbers. If every key is a decimal integer, keys are token
//!   ids (each below the vocabulary size); otherwise keys are token strings (each must be in
//!   the tokenizer's vocabulary). Tokens not in the object have no weight.
//!
//! Weights must be finite and non-negative (the index rejects negative weights too). Any
//! violation, or a table with more entries than the vocabulary, is
//! [`InvalidArgument`](crate::LexicalError::InvalidArgument).

use std::path::Path;

use tokenizers::Tokenizer;

use crate::analyzer::load_tokenizer;
use crate::error::{invalid, Result};

/// An inference-free sparse query encoder: tokenizer plus per-token weights.
#[derive(Clone)]
pub struct SparseEncoder {
    tokenizer: Tokenizer,
    /// Weight by token id (0 = no weight).
    weights: Vec<f32>,
    /// Whether a token id is a special token.
    special: Vec<bool>,
}

impl std::fmt::Debug for SparseEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparseEncoder")
            .field("vocab_size", &self.weights.len())
            .finish_non_exhaustive()
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| invalid(format!("cannot read {what} {}: {e}", path.display())))
}

fn weight_of(v: &serde_json::Value, at: &dyn Fn() -> String) -> Result<f32> {
    let w = v.as_f64().ok_or_else(|| {
        invalid(format!(
            "weights table: the weight of {} is not a number",
            at()
        ))
    })? as f32;
    if !w.is_finite() || w < 0.0 {
        return Err(invalid(format!(
            "weights table: the weight of {} must be finite and >= 0, got {w}",
            at()
        )));
    }
    Ok(w)
}

impl SparseEncoder {
    /// Builds an encoder from the bytes of a `tokenizer.json` and of a weights table (see
    /// [`crate::sparse::encoder`] for the table's forms).
    pub fn from_bytes(tokenizer_json: &[u8], weights_json: &[u8]) -> Result<Self> {
        let tokenizer = load_tokenizer(tokenizer_json, "tokenizer.json")?;
        let vocab = tokenizer.get_vocab(true);
        let size = vocab.values().map(|&id| id as usize + 1).max().unwrap_or(0);
        let table: serde_json::Value = serde_json::from_slice(weights_json)
            .map_err(|e| invalid(format!("cannot parse the weights table: {e}")))?;
        let mut weights = vec![0f32; size];
        match &table {
            serde_json::Value::Array(a) => {
                if a.len() != size {
                    return Err(invalid(format!(
                        "the weights table has {} entries but the tokenizer's vocabulary has {size}",
                        a.len()
                    )));
                }
                for (id, v) in a.iter().enumerate() {
                    weights[id] = weight_of(v, &|| format!("token id {id}"))?;
                }
            }
            serde_json::Value::Object(m) => {
                if m.len() > size {
                    return Err(invalid(format!(
                        "the weights table has {} entries but the tokenizer's vocabulary has {size}",
                        m.len()
                    )));
                }
                let by_id = m.keys().all(|k| k.parse::<u32>().is_ok());
                for (k, v) in m {
                    let id = if by_id {
                        k.parse::<u32>().ok().filter(|&id| (id as usize) < size)
                    } else {
                        vocab.get(k.as_str()).copied()
                    };
                    let Some(id) = id else {
                        return Err(invalid(format!(
                            "weights table: token {k:?} is not in the tokenizer's vocabulary (size {size})"
                        )));
                    };
                    weights[id as usize] = weight_of(v, &|| format!("token {k:?}"))?;
                }
            }
            _ => return Err(invalid("the weights table must be a JSON array or object")),
        }
        let mut special = vec![false; size];
        for (id, t) in tokenizer.get_added_tokens_decoder() {
            if t.special {
                if let Some(s) = special.get_mut(id as usize) {
                    *s = true;
                }
            }
        }
        Ok(SparseEncoder {
            tokenizer,
            weights,
            special,
        })
    }

    /// [`SparseEncoder::from_bytes`] with the two files read from disk.
    pub fn from_files(tokenizer_json: &Path, weights_json: &Path) -> Result<Self> {
        Self::from_bytes(
            &read(tokenizer_json, "tokenizer file")?,
            &read(weights_json, "weights table")?,
        )
    }

    /// The vocabulary size (the largest token id plus one); every id
    /// [`SparseEncoder::encode`] returns is below it, so it fits
    /// [`SparseConfig::vocab_size`](crate::SparseConfig::vocab_size).
    pub fn vocab_size(&self) -> u32 {
        self.weights.len() as u32
    }

    /// The distinct token ids of `text` that have a non-zero weight, sorted, with their
    /// weights.
    pub fn encode(&self, text: &str) -> Result<(Vec<u32>, Vec<f32>)> {
        let enc = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| invalid(format!("cannot tokenize the query: {e}")))?;
        let mask = enc.get_special_tokens_mask();
        let mut ids: Vec<u32> = enc
            .get_ids()
            .iter()
            .enumerate()
            .filter(|&(i, &id)| {
                mask.get(i) != Some(&1) && !self.special.get(id as usize).copied().unwrap_or(false)
            })
            .map(|(_, &id)| id)
            .filter(|&id| self.weights.get(id as usize).is_some_and(|&w| w > 0.0))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let vals = ids.iter().map(|&id| self.weights[id as usize]).collect();
        Ok((ids, vals))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SparseBatch, SparseConfig, SparseIndex, SparseVec};

    const TOKENIZER: &str = r###"{"version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [
            {"id": 0, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false,
             "normalized": false, "special": true},
            {"id": 1, "content": "[CLS]", "single_word": false, "lstrip": false, "rstrip": false,
             "normalized": false, "special": true}],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": true, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[CLS]", 1], "cls": ["[CLS]", 1]},
        "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100,
                  "vocab": {"[UNK]": 0, "[CLS]": 1, "dog": 2, "##s": 3, "green": 4, "run": 5,
                            "##ning": 6, "the": 7}}}"###;

    #[test]
    fn encodes_distinct_weighted_tokens() {
        let weights = r#"[9.0, 9.0, 2.5, 0.5, 1.25, 3.0, 0.0, 0.0]"#;
        let e = SparseEncoder::from_bytes(TOKENIZER.as_bytes(), weights.as_bytes()).unwrap();
        assert_eq!(e.vocab_size(), 8);
        // "dogs" = dog ##s; "running" = run ##ning (##ning has weight 0); "the" weight 0;
        // "zebra" is [UNK] (special); "[CLS]" in the text is special; repeats count once.
        let (ids, vals) = e
            .encode("The green dogs running [CLS] zebra, green DOGS")
            .unwrap();
        assert_eq!(ids, vec![2, 3, 4, 5]);
        assert_eq!(vals, vec![2.5, 0.5, 1.25, 3.0]);
        assert_eq!(e.encode("").unwrap(), (vec![], vec![]));

        // Same table keyed by token string and by id (missing tokens: no weight).
        let by_tok = r###"{"dog": 2.5, "##s": 0.5, "green": 1.25, "run": 3.0, "[CLS]": 9.0}"###;
        let by_id = r#"{"2": 2.5, "3": 0.5, "4": 1.25, "5": 3.0}"#;
        for w in [by_tok, by_id] {
            let e2 = SparseEncoder::from_bytes(TOKENIZER.as_bytes(), w.as_bytes()).unwrap();
            assert_eq!(
                e2.encode("the green dogs running").unwrap(),
                (ids.clone(), vals.clone())
            );
        }

        // The output is a valid query.
        let mut ix = SparseIndex::new(SparseConfig {
            vocab_size: e.vocab_size(),
        });
        ix.add(
            &[1, 2],
            SparseBatch::new(&[0, 2, 3], &[2, 5, 4], &[1.0, 1.0, 2.0]),
            false,
        )
        .unwrap();
        let hits = ix.search(&SparseVec::new(&ids, &vals), 10).unwrap();
        assert_eq!(hits, vec![(1, 5.5), (2, 2.5)]);
    }

    #[test]
    fn bad_tables_are_rejected() {
        let tok = TOKENIZER.as_bytes();
        for (table, needle) in [
            (
                "[1.0, 2.0]",
                "has 2 entries but the tokenizer's vocabulary has 8",
            ),
            ("[1,1,1,1,1,1,1,1,1]", "has 9 entries"),
            ("[1,1,1,1,1,1,1,-1]", "finite and >= 0"),
            ("[1,1,1,1,1,1,1,\"x\"]", "not a number"),
            (r#"{"cat": 1.0}"#, "not in the tokenizer's vocabulary"),
            (r#"{"8": 1.0}"#, "not in the tokenizer's vocabulary"),
            (r#"{"dog": -2}"#, "finite and >= 0"),
            ("3", "array or object"),
            ("{", "cannot parse"),
        ] {
            match SparseEncoder::from_bytes(tok, table.as_bytes()) {
                Err(crate::LexicalError::InvalidArgument(m)) => {
                    assert!(m.contains(needle), "{table}: {m}")
                }
                other => panic!("{table}: {other:?}"),
            }
        }
        assert!(SparseEncoder::from_bytes(b"{not json", b"[]").is_err());
        assert!(matches!(
            SparseEncoder::from_files(Path::new("/nonexistent/t.json"), Path::new("/x")),
            Err(crate::LexicalError::InvalidArgument(_))
        ));
    }
}
