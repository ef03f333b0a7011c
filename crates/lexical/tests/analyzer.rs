//! Analyzer behaviour on hand-checked strings, and `tokenizer.json` loading.

use quiver_lexical::{
    Analyzer, AnalyzerConfig, AnalyzerKind, LexicalError, StopWords, TokenizerMode,
};

fn plain() -> Analyzer {
    Analyzer::new(&AnalyzerConfig {
        kind: AnalyzerKind::Default,
        stem: false,
        stop_words: StopWords::None,
    })
    .unwrap()
}

fn english() -> Analyzer {
    Analyzer::new(&AnalyzerConfig::default()).unwrap()
}

#[test]
fn accents_are_stripped_and_lowercased() {
    assert_eq!(plain().analyze("Café Déjà-vu"), ["cafe", "deja", "vu"]);
    assert_eq!(
        plain().analyze("NAÏVE Ångström façade"),
        ["naive", "angstrom", "facade"]
    );
}

#[test]
fn cjk_ideographs_are_single_tokens() {
    assert_eq!(plain().analyze("北京大学"), ["北", "京", "大", "学"]);
    assert_eq!(plain().analyze("abc漢字def"), ["abc", "漢", "字", "def"]);
}

#[test]
fn punctuation_and_symbols_are_dropped() {
    assert_eq!(
        plain().analyze("Hello, world!!! (yes) -- #tag @me 3.14"),
        ["hello", "world", "yes", "tag", "me", "3", "14"]
    );
    assert!(plain().analyze("?!.,;:-- ... ***").is_empty());
}

#[test]
fn emoji_alone_dropped_inside_words_kept() {
    // A standalone emoji has no alphanumeric character: dropped.
    assert_eq!(plain().analyze("I ❤ 🦀 rust 👍🏽"), ["i", "rust"]);
    // BertPreTokenizer does not split on symbols, so an emoji glued to a word stays in it.
    assert_eq!(plain().analyze("rust🦀"), ["rust🦀"]);
}

#[test]
fn control_characters_and_replacement_char_removed() {
    // U+FFFD (what a lone UTF-16 surrogate becomes) is removed like a control character.
    assert_eq!(plain().analyze("ab\u{FFFD}cd \u{0}x"), ["abcd", "x"]);
}

#[test]
fn stemming() {
    let a = Analyzer::new(&AnalyzerConfig {
        kind: AnalyzerKind::Default,
        stem: true,
        stop_words: StopWords::None,
    })
    .unwrap();
    assert_eq!(a.analyze("running runs ran"), ["run", "run", "ran"]);
    assert_eq!(a.analyze("Connections connected"), ["connect", "connect"]);
}

#[test]
fn stop_words_and_possessives() {
    let a = english();
    assert_eq!(a.analyze("The cat is on the mat"), ["cat", "mat"]);
    assert_eq!(a.analyze("the patient's dogs"), ["patient", "dog"]);
    assert!(a.analyze("the and of to in").is_empty());
}

#[test]
fn custom_stop_words_are_normalised() {
    let a = Analyzer::new(&AnalyzerConfig {
        kind: AnalyzerKind::Default,
        stem: false,
        stop_words: StopWords::Custom(vec!["Déjà".into(), "FOO".into()]),
    })
    .unwrap();
    assert_eq!(a.analyze("deja vu foo bar the"), ["vu", "bar", "the"]);
}

#[test]
fn batch_matches_single() {
    let a = english();
    let texts = ["Running dogs", "", "Café au lait", "北京"];
    let batch = a.analyze_batch(&texts).unwrap();
    for (t, b) in texts.iter().zip(&batch) {
        assert_eq!(&a.analyze(t), b);
    }
}

/// Writes a tiny BERT-style WordPiece tokenizer.json into a temp dir (parsed and saved with
/// the tokenizers API, so it is a file the library itself produces).
fn write_wordpiece(dir: &std::path::Path) -> std::path::PathBuf {
    let vocab: Vec<String> = [
        "[UNK]", "play", "##ing", "##ed", "the", "cafe", "run", "##ning", "dog", "##s",
    ]
    .iter()
    .enumerate()
    .map(|(i, w)| format!("\"{w}\": {i}"))
    .collect();
    let json = format!(
        r###"{{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": {{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                        "strip_accents": true, "lowercase": true}},
        "pre_tokenizer": {{"type": "BertPreTokenizer"}},
        "post_processor": null, "decoder": null,
        "model": {{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                   "max_input_chars_per_word": 100, "vocab": {{{}}}}}}}"###,
        vocab.join(", ")
    );
    let tok: tokenizers::Tokenizer = json.parse().unwrap();
    let path = dir.join("tokenizer.json");
    tok.save(&path, false).unwrap();
    path
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("quiver-lexical-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn tokenizer_json_modes() {
    let dir = tempdir("tokjson");
    let path = write_wordpiece(&dir);
    let pre = Analyzer::new(&AnalyzerConfig {
        kind: AnalyzerKind::TokenizerJson {
            path: path.clone(),
            mode: TokenizerMode::Pretokenize,
        },
        stem: true,
        stop_words: StopWords::English,
    })
    .unwrap();
    assert_eq!(
        pre.analyze("The Café: playing dogs!"),
        ["cafe", "play", "dog"]
    );
    let sub = Analyzer::new(&AnalyzerConfig {
        kind: AnalyzerKind::TokenizerJson {
            path: path.clone(),
            mode: TokenizerMode::Subword,
        },
        stem: true, // ignored for sub-words
        stop_words: StopWords::None,
    })
    .unwrap();
    assert_eq!(
        sub.try_analyze("The Café: playing dogs!").unwrap(),
        ["the", "cafe", "play", "##ing", "dog", "##s"]
    );
    // The file's bytes are kept: the analyzer can be rebuilt without the file.
    let cfg = sub.config().clone();
    std::fs::remove_file(&path).unwrap();
    match &cfg.kind {
        AnalyzerKind::TokenizerJsonBytes { bytes, name, mode } => {
            assert!(!bytes.is_empty());
            assert!(name.ends_with("tokenizer.json"));
            assert_eq!(*mode, TokenizerMode::Subword);
        }
        other => panic!("unexpected {other:?}"),
    }
    let again = Analyzer::new(&cfg).unwrap();
    assert_eq!(again.analyze("running"), ["run", "##ning"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tokenizer_json_errors_name_the_file() {
    let dir = tempdir("tokerr");
    let missing = dir.join("nope.json");
    let err = Analyzer::new(&AnalyzerConfig {
        kind: AnalyzerKind::TokenizerJson {
            path: missing.clone(),
            mode: TokenizerMode::Pretokenize,
        },
        stem: false,
        stop_words: StopWords::None,
    })
    .unwrap_err();
    match err {
        LexicalError::InvalidArgument(m) => assert!(m.contains("nope.json"), "{m}"),
        e => panic!("unexpected {e:?}"),
    }
    let bad = dir.join("bad.json");
    std::fs::write(&bad, b"{ this is not json").unwrap();
    let err = Analyzer::new(&AnalyzerConfig {
        kind: AnalyzerKind::TokenizerJson {
            path: bad,
            mode: TokenizerMode::Subword,
        },
        stem: false,
        stop_words: StopWords::None,
    })
    .unwrap_err();
    match err {
        LexicalError::InvalidArgument(m) => assert!(m.contains("bad.json"), "{m}"),
        e => panic!("unexpected {e:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

proptest::proptest! {
    #[test]
    fn never_panics_and_tokens_are_clean(s in "\\PC{0,64}") {
        for a in [plain(), english()] {
            for t in a.analyze(&s) {
                proptest::prop_assert!(!t.is_empty());
                proptest::prop_assert!(t.chars().any(char::is_alphanumeric));
            }
        }
    }
}
