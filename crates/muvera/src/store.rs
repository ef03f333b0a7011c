//! Token storage for exact MaxSim rerank.
//!
//! A [`TokenStore`] keeps every document's tokens in one contiguous arena in
//! one [`TokenStorage`] format, with `offsets[i]..offsets[i + 1]` the token
//! rows of slot `i`. Slots are dense `0..len()`, assigned by
//! [`TokenStore::push`]; the engine appends and tombstones, and reclaims
//! space with [`TokenStore::compact`]. Scores use the dispatched
//! [`quiver_distance::maxsim`] kernels; sq8 storage is scored with the query quantised to int8
//! too ([`quiver_distance::maxsim_i8`]: exact integer dot products, AVX-512 VNNI where present).
//!
//! # Serialized layout ([`TokenStore::to_bytes`], little endian)
//!
//! ```text
//! 0   magic "QTOK"
//! 4   version  u32   STORE_FORMAT_VERSION
//! 8   kind     u32   0 = f32, 1 = f16, 2 = sq8
//! 12  dim      u32
//! 16  docs     u64
//! 24  tokens   u64
//! 32  offsets  (docs + 1) × u64, token rows, offsets[0] = 0, strictly increasing
//! ..  payload  f32: tokens·dim × f32 | f16: tokens·dim × u16 |
//!              sq8: tokens × f32 scales, then tokens·dim × i8 codes
//! ```
//!
//! No checksum: the engine checksums each file section.

use quiver_distance::maxsim::{
    f16_to_f32, f32_to_f16, maxsim_kernels, quantize_sq8, MaxSimKernels,
};
use quiver_distance::maxsim_i8::{maxsim_i8, MaxSimI8, QueryI8};
use quiver_distance::TopK;
use rayon::prelude::*;

use crate::error::{check_tokens, MuveraError, Result};

/// Version of the [`TokenStore`] serialized layout.
pub const STORE_FORMAT_VERSION: u32 = 1;

const MAGIC: &[u8; 4] = b"QTOK";
const HEADER_LEN: usize = 32;

/// How document tokens are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenStorage {
    /// 4 bytes per component, exact.
    F32,
    /// IEEE binary16, 2 bytes per component.
    F16,
    /// Per-token symmetric int8 plus one f32 scale per token (see
    /// [`quiver_distance::maxsim`]): `dim + 4` bytes per token. Scored against the query
    /// quantised the same way (int8 × int8 dot products, see [`quiver_distance::maxsim_i8`]).
    Sq8,
}

impl TokenStorage {
    /// `"f32"`, `"f16"` or `"sq8"`.
    pub fn name(self) -> &'static str {
        match self {
            TokenStorage::F32 => "f32",
            TokenStorage::F16 => "f16",
            TokenStorage::Sq8 => "sq8",
        }
    }

    /// Inverse of [`TokenStorage::name`] (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        [TokenStorage::F32, TokenStorage::F16, TokenStorage::Sq8]
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
    }

    fn code(self) -> u32 {
        match self {
            TokenStorage::F32 => 0,
            TokenStorage::F16 => 1,
            TokenStorage::Sq8 => 2,
        }
    }
}

/// A query prepared for one store: the f32 tokens, and their int8 copy for sq8 storage.
struct Prepared<'q> {
    f32s: &'q [f32],
    int8: Option<QueryI8>,
}

/// Larger arenas for a [`TokenStore`], from [`TokenStore::grown`].
#[derive(Default)]
pub struct TokenGrowth {
    offsets: Option<Vec<u64>>,
    f32s: Option<Vec<f32>>,
    f16s: Option<Vec<u16>>,
    codes: Option<Vec<i8>>,
    scales: Option<Vec<f32>>,
}

/// Document token sets in one arena, with exact MaxSim scoring.
#[derive(Clone, Debug)]
pub struct TokenStore {
    kind: TokenStorage,
    dim: usize,
    offsets: Vec<u64>,
    f32s: Vec<f32>,
    f16s: Vec<u16>,
    codes: Vec<i8>,
    scales: Vec<f32>,
    kernels: &'static MaxSimKernels,
    int8: MaxSimI8,
}

impl PartialEq for TokenStore {
    fn eq(&self, o: &Self) -> bool {
        self.kind == o.kind
            && self.dim == o.dim
            && self.offsets == o.offsets
            && self.f32s == o.f32s
            && self.f16s == o.f16s
            && self.codes == o.codes
            && self.scales == o.scales
    }
}

impl TokenStore {
    /// An empty store for `dim`-dimensional tokens (`dim ≥ 1`).
    pub fn new(kind: TokenStorage, dim: usize) -> Result<Self> {
        if dim == 0 || dim > u32::MAX as usize {
            return Err(MuveraError::InvalidArgument(format!(
                "token dim must be in 1..=2^32-1, got {dim}"
            )));
        }
        Ok(TokenStore {
            kind,
            dim,
            offsets: vec![0],
            f32s: Vec::new(),
            f16s: Vec::new(),
            codes: Vec::new(),
            scales: Vec::new(),
            kernels: maxsim_kernels(),
            int8: maxsim_i8(),
        })
    }

    /// Storage format.
    pub fn kind(&self) -> TokenStorage {
        self.kind
    }

    /// Token dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// True if no slot exists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total number of stored tokens.
    pub fn total_tokens(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0) as usize
    }

    /// The token rows of `slot`, or `None` if out of range.
    fn rows(&self, slot: u32) -> Option<(usize, usize)> {
        let s = slot as usize;
        if s + 1 >= self.offsets.len() {
            return None;
        }
        Some((self.offsets[s] as usize, self.offsets[s + 1] as usize))
    }

    /// Number of tokens of `slot`, or `None` if out of range.
    pub fn token_count(&self, slot: u32) -> Option<usize> {
        self.rows(slot).map(|(a, b)| b - a)
    }

    /// Arenas with room for `docs` more documents of `tokens` tokens in all, copied from this
    /// store (each full arena gets at least double its room, so growth stays geometric), for
    /// [`TokenStore::install`]. Needs only `&self`: a writer copies a growth while searches
    /// read the store. Empty when every arena has the room already.
    pub fn grown(&self, docs: usize, tokens: usize) -> TokenGrowth {
        use quiver_grow::vec_with_room as room;
        let values = tokens * self.dim;
        let only = |kind: TokenStorage, n: usize| if self.kind == kind { n } else { 0 };
        TokenGrowth {
            offsets: room(&self.offsets, docs),
            f32s: room(&self.f32s, only(TokenStorage::F32, values)),
            f16s: room(&self.f16s, only(TokenStorage::F16, values)),
            codes: room(&self.codes, only(TokenStorage::Sq8, values)),
            scales: room(&self.scales, only(TokenStorage::Sq8, tokens)),
        }
    }

    /// Puts arenas from [`TokenStore::grown`] in place (no write may have run since) and
    /// returns the ones they replace, to be freed outside any lock.
    pub fn install(&mut self, mut g: TokenGrowth) -> TokenGrowth {
        use quiver_grow::swap_in as swap;
        swap(&mut self.offsets, &mut g.offsets);
        swap(&mut self.f32s, &mut g.f32s);
        swap(&mut self.f16s, &mut g.f16s);
        swap(&mut self.codes, &mut g.codes);
        swap(&mut self.scales, &mut g.scales);
        g
    }

    /// Appends a document (`n × dim` floats, n ≥ 1, all finite) and returns its slot.
    pub fn push(&mut self, tokens: &[f32]) -> Result<u32> {
        let n = check_tokens(tokens, self.dim)?;
        if self.len() >= u32::MAX as usize {
            return Err(MuveraError::InvalidArgument("token store is full".into()));
        }
        let slot = self.len() as u32;
        match self.kind {
            TokenStorage::F32 => self.f32s.extend_from_slice(tokens),
            TokenStorage::F16 => self.f16s.extend(tokens.iter().map(|&x| f32_to_f16(x))),
            TokenStorage::Sq8 => {
                let start = self.codes.len();
                self.codes.resize(start + tokens.len(), 0);
                for (x, c) in tokens
                    .chunks_exact(self.dim)
                    .zip(self.codes[start..].chunks_exact_mut(self.dim))
                {
                    self.scales.push(quantize_sq8(x, c));
                }
            }
        }
        let end = self.total_tokens() + n;
        self.offsets.push(end as u64);
        Ok(slot)
    }

    /// Decodes `slot`'s tokens as f32 (lossy formats give their stored
    /// approximation) into `out`, replacing its contents.
    pub fn tokens_into(&self, slot: u32, out: &mut Vec<f32>) -> Result<()> {
        let (a, b) = self.rows(slot).ok_or_else(|| self.bad_slot(slot))?;
        let d = self.dim;
        out.clear();
        match self.kind {
            TokenStorage::F32 => out.extend_from_slice(&self.f32s[a * d..b * d]),
            TokenStorage::F16 => out.extend(self.f16s[a * d..b * d].iter().map(|&h| f16_to_f32(h))),
            TokenStorage::Sq8 => {
                for t in a..b {
                    let s = self.scales[t];
                    out.extend(
                        self.codes[t * d..(t + 1) * d]
                            .iter()
                            .map(|&c| f32::from(c) * s),
                    );
                }
            }
        }
        Ok(())
    }

    fn bad_slot(&self, slot: u32) -> MuveraError {
        MuveraError::InvalidArgument(format!("slot {slot} out of range (len {})", self.len()))
    }

    /// MaxSim score of a pre-validated query against `slot` (in range).
    /// `query` ready for this store's kernel (sq8 storage scores an int8 copy of it).
    fn prepare<'q>(&self, query: &'q [f32]) -> Prepared<'q> {
        Prepared {
            f32s: query,
            int8: (self.kind == TokenStorage::Sq8).then(|| QueryI8::new(query, self.dim)),
        }
    }

    fn score(&self, q: &Prepared<'_>, a: usize, b: usize) -> f32 {
        let d = self.dim;
        let k = self.kernels;
        match (self.kind, &q.int8) {
            (TokenStorage::F32, _) => (k.maxsim_f32)(q.f32s, &self.f32s[a * d..b * d], d),
            (TokenStorage::F16, _) => (k.maxsim_f16)(q.f32s, &self.f16s[a * d..b * d], d),
            (TokenStorage::Sq8, Some(qi)) => {
                (self.int8)(qi, &self.codes[a * d..b * d], &self.scales[a..b])
            }
            (TokenStorage::Sq8, None) => {
                (k.maxsim_sq8)(q.f32s, &self.codes[a * d..b * d], &self.scales[a..b], d)
            }
        }
    }

    /// Exact MaxSim `Σ_q max_p ⟨q, p⟩` of `query` (`m × dim`, validated like
    /// a document) against the stored tokens of `slot`.
    pub fn maxsim(&self, query: &[f32], slot: u32) -> Result<f32> {
        check_tokens(query, self.dim)?;
        let q = self.prepare(query);
        let (a, b) = self.rows(slot).ok_or_else(|| self.bad_slot(slot))?;
        Ok(self.score(&q, a, b))
    }

    /// Exact MaxSim of `query` against each of `slots`, in parallel on the current rayon pool:
    /// `(slot, score)` in the order given. The query is validated once (not per slot); an
    /// out-of-range slot is an error.
    pub fn maxsim_many(&self, query: &[f32], slots: &[u32]) -> Result<Vec<(u32, f32)>> {
        check_tokens(query, self.dim)?;
        let q = self.prepare(query);
        if let Some(&bad) = slots.iter().find(|&&s| self.rows(s).is_none()) {
            return Err(self.bad_slot(bad));
        }
        Ok(slots
            .par_iter()
            .with_min_len(4)
            .map(|&s| {
                let (a, b) = self.rows(s).unwrap_or((0, 0));
                (s, self.score(&q, a, b))
            })
            .collect())
    }

    /// Scores `candidates` exactly and returns the best `k` as `(slot, score)`,
    /// score descending, ties by slot ascending. Out-of-range candidates are
    /// an error; duplicates are scored once.
    pub fn rerank(&self, query: &[f32], candidates: &[u32], k: usize) -> Result<Vec<(u32, f32)>> {
        check_tokens(query, self.dim)?;
        let q = self.prepare(query);
        if let Some(&bad) = candidates.iter().find(|&&s| self.rows(s).is_none()) {
            return Err(self.bad_slot(bad));
        }
        let mut c = candidates.to_vec();
        c.sort_unstable();
        c.dedup();
        let mut top = TopK::new(k);
        for s in c {
            if let Some((a, b)) = self.rows(s) {
                top.push(-self.score(&q, a, b), s);
            }
        }
        Ok(top
            .into_sorted()
            .into_iter()
            .map(|(d, s)| (s, -d))
            .collect())
    }

    /// Exact MaxSim of `query` against every slot for which `live(slot)` is
    /// true (in parallel with rayon); the best `k` as `(slot, score)`, score
    /// descending, ties by slot ascending.
    pub fn exhaustive_top_k(
        &self,
        query: &[f32],
        k: usize,
        live: impl Fn(u32) -> bool + Sync,
    ) -> Result<Vec<(u32, f32)>> {
        check_tokens(query, self.dim)?;
        let q = self.prepare(query);
        let n = self.len() as u32;
        let merged = (0..n)
            .into_par_iter()
            .with_min_len(32)
            .fold(
                || TopK::new(k),
                |mut top, s| {
                    if live(s) {
                        if let Some((a, b)) = self.rows(s) {
                            top.push(-self.score(&q, a, b), s);
                        }
                    }
                    top
                },
            )
            .reduce(
                || TopK::new(k),
                |mut x, y| {
                    for (d, s) in y.into_sorted() {
                        x.push(d, s);
                    }
                    x
                },
            );
        Ok(merged
            .into_sorted()
            .into_iter()
            .map(|(d, s)| (s, -d))
            .collect())
    }

    /// Heap bytes held (arena, scales and offsets, by capacity).
    pub fn bytes(&self) -> usize {
        self.offsets.capacity() * 8
            + self.f32s.capacity() * 4
            + self.f16s.capacity() * 2
            + self.codes.capacity()
            + self.scales.capacity() * 4
    }

    /// A new store holding only the slots with `keep[slot]`, renumbered
    /// densely in order, plus the old → new slot map (`None` for dropped
    /// slots). `keep.len()` must equal `len()`. Stored data is copied as is
    /// (no re-quantisation).
    pub fn compact(&self, keep: &[bool]) -> Result<(TokenStore, Vec<Option<u32>>)> {
        if keep.len() != self.len() {
            return Err(MuveraError::InvalidArgument(format!(
                "keep has {} entries, the store has {} slots",
                keep.len(),
                self.len()
            )));
        }
        let mut out = TokenStore::new(self.kind, self.dim)?;
        let mut map = Vec::with_capacity(keep.len());
        let d = self.dim;
        for (slot, &k) in keep.iter().enumerate() {
            if !k {
                map.push(None);
                continue;
            }
            let (a, b) = (self.offsets[slot] as usize, self.offsets[slot + 1] as usize);
            match self.kind {
                TokenStorage::F32 => out.f32s.extend_from_slice(&self.f32s[a * d..b * d]),
                TokenStorage::F16 => out.f16s.extend_from_slice(&self.f16s[a * d..b * d]),
                TokenStorage::Sq8 => {
                    out.codes.extend_from_slice(&self.codes[a * d..b * d]);
                    out.scales.extend_from_slice(&self.scales[a..b]);
                }
            }
            map.push(Some(out.len() as u32));
            let end = out.total_tokens() + (b - a);
            out.offsets.push(end as u64);
        }
        Ok((out, map))
    }

    /// Appends the serialized store to `out` (layout in the module docs).
    pub fn to_bytes(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&STORE_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&self.kind.code().to_le_bytes());
        out.extend_from_slice(&(self.dim as u32).to_le_bytes());
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.total_tokens() as u64).to_le_bytes());
        for o in &self.offsets {
            out.extend_from_slice(&o.to_le_bytes());
        }
        match self.kind {
            TokenStorage::F32 => self
                .f32s
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            TokenStorage::F16 => self
                .f16s
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            TokenStorage::Sq8 => {
                self.scales
                    .iter()
                    .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
                out.extend(self.codes.iter().map(|&c| c as u8));
            }
        }
    }

    /// Parses [`TokenStore::to_bytes`] output (exactly one store).
    ///
    /// Errors: [`MuveraError::VersionMismatch`] for another
    /// [`STORE_FORMAT_VERSION`]; [`MuveraError::Corrupt`] for a bad magic,
    /// unknown kind, inconsistent lengths or offsets, or non-finite values.
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let corrupt = |m: &str| MuveraError::Corrupt(format!("token store: {m}"));
        if b.len() < 8 || &b[..4] != MAGIC {
            return Err(corrupt("bad magic or truncated header"));
        }
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(w)
        };
        let version = u32_at(4);
        if version != STORE_FORMAT_VERSION {
            return Err(MuveraError::VersionMismatch {
                found: version,
                expected: STORE_FORMAT_VERSION,
            });
        }
        if b.len() < HEADER_LEN {
            return Err(corrupt("truncated header"));
        }
        let kind = match u32_at(8) {
            0 => TokenStorage::F32,
            1 => TokenStorage::F16,
            2 => TokenStorage::Sq8,
            k => return Err(corrupt(&format!("unknown storage kind {k}"))),
        };
        let dim = u32_at(12) as usize;
        let mut store = TokenStore::new(kind, dim).map_err(|_| corrupt("dim is 0"))?;
        let (docs, tokens) = (u64_at(16), u64_at(24));
        let elem = match kind {
            TokenStorage::F32 => 4u64,
            TokenStorage::F16 => 2,
            TokenStorage::Sq8 => 1,
        };
        let scale_bytes = if kind == TokenStorage::Sq8 { 4 } else { 0 };
        let expected = docs
            .checked_add(1)
            .and_then(|n| n.checked_mul(8))
            .and_then(|o| {
                tokens
                    .checked_mul(dim as u64)?
                    .checked_mul(elem)?
                    .checked_add(tokens.checked_mul(scale_bytes)?)?
                    .checked_add(o)
            })
            .and_then(|x| x.checked_add(HEADER_LEN as u64));
        if expected != Some(b.len() as u64) || docs >= u64::from(u32::MAX) {
            return Err(corrupt("length does not match the header"));
        }
        let (docs, tokens) = (docs as usize, tokens as usize);
        let mut o = HEADER_LEN;
        store.offsets = (0..=docs).map(|i| u64_at(o + 8 * i)).collect();
        o += 8 * (docs + 1);
        if store.offsets[0] != 0
            || store.offsets.windows(2).any(|w| w[1] <= w[0])
            || store.offsets[docs] != tokens as u64
        {
            return Err(corrupt(
                "offsets are not strictly increasing from 0 to the token count",
            ));
        }
        let n = tokens * dim;
        match kind {
            TokenStorage::F32 => {
                store.f32s = b[o..o + 4 * n]
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                if store.f32s.iter().any(|x| !x.is_finite()) {
                    return Err(corrupt("non-finite token value"));
                }
            }
            TokenStorage::F16 => {
                store.f16s = b[o..o + 2 * n]
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                if store.f16s.iter().any(|&h| h & 0x7c00 == 0x7c00) {
                    return Err(corrupt("non-finite token value"));
                }
            }
            TokenStorage::Sq8 => {
                store.scales = b[o..o + 4 * tokens]
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                if store.scales.iter().any(|x| !x.is_finite() || *x < 0.0) {
                    return Err(corrupt("invalid sq8 scale"));
                }
                o += 4 * tokens;
                store.codes = b[o..o + n].iter().map(|&c| c as i8).collect();
            }
        }
        Ok(store)
    }
}
