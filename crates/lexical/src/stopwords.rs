//! Stop-word lists embedded in the crate.

/// Lucene's default English stop-word set (`EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`), the
/// list Pyserini/Anserini's BM25 baselines use. 33 words, all lowercase ASCII.
pub const ENGLISH: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Which stop words an analyzer removes. Stop words are matched after normalisation
/// (lowercasing and accent stripping in the default pipeline) and before stemming; a custom
/// list is normalised the same way as text, so `"Déjà"` in the list removes `déjà` and `deja`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StopWords {
    /// Keep every token.
    #[default]
    None,
    /// [`ENGLISH`] (Lucene's list).
    English,
    /// A caller-supplied list.
    Custom(Vec<String>),
}
