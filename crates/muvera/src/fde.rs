//! The MUVERA fixed-dimensional encoder (FDE).
//!
//! See the crate docs for the construction; this module implements it:
//! [`FdeParams`] (with [`FdeParams::preset`]), [`FdeEncoder`] with
//! [`FdeEncoder::encode_query`] / [`FdeEncoder::encode_document`], and
//! [`FdeEncoder::write_params`] / [`FdeEncoder::read_params`] persistence.
//!
//! # Encoding algorithm (per token set `X`, `n × dim`)
//!
//! 1. One matrix product `X · Gᵀ` with all `reps·k_sim` hyperplanes `G`
//!    (the blocked [`MaxSimKernels::dot_matrix`] kernel) gives every token's
//!    SimHash bits for every repetition.
//! 2. Per repetition: each token's `k_sim` sign bits `s` (first hyperplane =
//!    most significant bit) select partition `gray_decode(s)`, the index
//!    whose Gray code is `s` (as in the paper, adjacent partition indices
//!    then differ in one hyperplane). Tokens are summed per partition in
//!    `dim` space (SIMD `add_assign`).
//! 3. Documents with `fill_empty`: each empty partition `b` takes the token
//!    whose bit pattern is nearest in Hamming distance to `gray(b)` (ties:
//!    lowest token index).
//! 4. The non-empty partition sums are projected with the repetition's ±1
//!    matrix `S` in one more product (linearity: projecting the sum equals
//!    summing the projections, so each partition is projected once instead
//!    of each token) and scaled by `1/√d_proj` and, for documents, by
//!    `1/count` (AVERAGE; queries SUM). Filled partitions have weight 1.
//!    Empty partitions stay zero.
//! 5. Blocks are laid out `[rep][partition][d_proj]`; with `final_dim`, the
//!    concatenation is Count-Sketched: `out[h(i)] += σ(i)·fde[i]`.

use quiver_distance::maxsim::{maxsim_kernels, MaxSimKernels};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{check_tokens, MuveraError, Result};
use crate::rng::{
    stream_seed, Xoshiro256, PURPOSE_COUNT_SKETCH, PURPOSE_HYPERPLANES, PURPOSE_PROJECTION,
};

/// Version of the encoding (construction, random-matrix derivation and
/// serialized layout). Bumped whenever any of them changes; data written with
/// another version fails to load with [`MuveraError::VersionMismatch`].
pub const ENCODER_VERSION: u32 = 1;

/// Largest supported `k_sim` (2^10 = 1024 partitions per repetition).
pub const MAX_K_SIM: u32 = 10;

/// Largest supported concatenated FDE length `reps · 2^k_sim · d_proj`.
pub const MAX_FDE_DIM: usize = 1 << 24;

/// Largest supported number of random-matrix entries `reps·(k_sim + d_proj)·dim`.
pub const MAX_MATRIX_ENTRIES: usize = 1 << 26;

/// Seed used by [`FdeParams::preset`].
pub const DEFAULT_SEED: u64 = 0x6d75_7665_7261_0001;

/// Names accepted by [`FdeParams::preset`].
pub const PRESETS: [&str; 3] = ["paper-10240", "compact-2560", "wide-20480"];

const MAGIC: &[u8; 4] = b"QFDE";
const HEADER_LEN: usize = 40;

/// FDE construction parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdeParams {
    /// Token dimension.
    pub dim: usize,
    /// SimHash bits per repetition: `2^k_sim` partitions. At most [`MAX_K_SIM`].
    pub k_sim: u32,
    /// `Some(d)`: each partition block is projected to `d` dims with a ±1
    /// random matrix scaled by `1/√d` (`1 ≤ d ≤ dim`). `None`: identity (`dim` dims).
    pub d_proj: Option<usize>,
    /// Independent repetitions (≥ 1), concatenated.
    pub reps: usize,
    /// `Some(m)`: Count-Sketch the concatenation down to `m` dims
    /// (`1 ≤ m ≤ reps·2^k_sim·d_proj`). `None`: no final projection.
    pub final_dim: Option<usize>,
    /// Seed of every random matrix.
    pub seed: u64,
    /// Documents only: fill empty partitions with the Hamming-nearest token.
    pub fill_empty: bool,
}

impl FdeParams {
    /// A named preset for token dimension `dim` (seed [`DEFAULT_SEED`],
    /// `fill_empty` on, no `final_dim`):
    ///
    /// * `"paper-10240"`: reps 20, k_sim 5, d_proj 16 → 20·32·16 = 10240 dims;
    /// * `"compact-2560"`: reps 10, k_sim 4, d_proj 16 → 10·16·16 = 2560 dims;
    /// * `"wide-20480"`: reps 40, k_sim 4, d_proj 32 → 40·16·32 = 20480 dims (more, coarser
    ///   partitions: fewer candidates for the same recall once the FDEs are 4-bit PQ codes).
    ///
    /// Unknown names and `dim` below the preset's `d_proj` are [`MuveraError::InvalidArgument`].
    pub fn preset(name: &str, dim: usize) -> Result<Self> {
        let p = Self::preset_unchecked(name, dim)?;
        p.validate()?;
        Ok(p)
    }

    /// [`FdeParams::preset`] without validating the result, for callers that override some
    /// fields first and validate the combination (a preset's `d_proj` of 16 alone would reject
    /// token dimensions below 16 that an override makes valid). Unknown names are still errors.
    pub fn preset_unchecked(name: &str, dim: usize) -> Result<Self> {
        let (reps, k_sim, d_proj) = match name.trim().to_ascii_lowercase().as_str() {
            "paper-10240" => (20, 5, 16),
            "compact-2560" => (10, 4, 16),
            "wide-20480" => (40, 4, 32),
            other => {
                return Err(MuveraError::InvalidArgument(format!(
                    "unknown FDE preset {other:?} (known: {})",
                    PRESETS.join(", ")
                )))
            }
        };
        Ok(FdeParams {
            dim,
            k_sim,
            d_proj: Some(d_proj),
            reps,
            final_dim: None,
            seed: DEFAULT_SEED,
            fill_empty: true,
        })
    }

    /// Number of partitions per repetition, `2^k_sim`.
    pub fn partitions(&self) -> usize {
        1usize << self.k_sim.min(MAX_K_SIM)
    }

    /// Width of one partition block: `d_proj`, or `dim` for the identity.
    pub fn block_dim(&self) -> usize {
        self.d_proj.unwrap_or(self.dim)
    }

    /// Length of the concatenation `reps · 2^k_sim · block_dim` (before `final_dim`).
    pub fn concat_dim(&self) -> usize {
        self.reps
            .saturating_mul(self.partitions())
            .saturating_mul(self.block_dim())
    }

    /// Length of an encoding: `final_dim` if set, else [`FdeParams::concat_dim`].
    pub fn output_dim(&self) -> usize {
        self.final_dim.unwrap_or_else(|| self.concat_dim())
    }

    /// Floats (and Count-Sketch words) an encoder with these parameters holds: hyperplanes,
    /// projection matrices and the Count-Sketch table (saturating).
    pub fn matrix_entries(&self) -> usize {
        let per_rep = (self.k_sim as usize).saturating_add(self.d_proj.unwrap_or(0));
        let cs = if self.final_dim.is_some() {
            self.concat_dim()
        } else {
            0
        };
        self.reps
            .saturating_mul(per_rep)
            .saturating_mul(self.dim)
            .saturating_add(cs)
    }

    /// Checks every range constraint; [`MuveraError::InvalidArgument`] names the first violated.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(MuveraError::InvalidArgument(m));
        if self.dim == 0 || self.dim > u32::MAX as usize {
            return bad(format!("dim must be in 1..=2^32-1, got {}", self.dim));
        }
        if self.k_sim > MAX_K_SIM {
            return bad(format!(
                "k_sim must be at most {MAX_K_SIM}, got {}",
                self.k_sim
            ));
        }
        if let Some(d) = self.d_proj {
            if d == 0 || d > self.dim {
                return bad(format!("d_proj must be in 1..=dim ({}), got {d}", self.dim));
            }
        }
        if self.reps == 0 {
            return bad("reps must be at least 1".into());
        }
        let concat = self.concat_dim();
        if concat > MAX_FDE_DIM {
            return bad(format!(
                "reps·2^k_sim·d_proj = {concat} exceeds the maximum {MAX_FDE_DIM}"
            ));
        }
        let per_rep = self.k_sim as usize + self.d_proj.unwrap_or(0);
        let entries = self.reps.saturating_mul(per_rep).saturating_mul(self.dim);
        if entries > MAX_MATRIX_ENTRIES {
            return bad(format!(
                "random matrices would hold {entries} entries, more than {MAX_MATRIX_ENTRIES}"
            ));
        }
        if let Some(m) = self.final_dim {
            if m == 0 || m > concat {
                return bad(format!(
                    "final_dim must be in 1..=reps·2^k_sim·d_proj ({concat}), got {m}"
                ));
            }
        }
        Ok(())
    }
}

/// Whether a token set is encoded as a query (partition SUM) or a document
/// (partition AVERAGE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSetKind {
    /// Query: blocks sum their tokens; empty partitions are never filled.
    Query,
    /// Document: blocks average their tokens.
    Document,
}

/// A ready-to-use FDE encoder: parameters plus the random matrices.
///
/// Cheap to share between threads (`&self` methods only).
#[derive(Clone, Debug)]
pub struct FdeEncoder {
    params: FdeParams,
    /// `(reps·k_sim) × dim` Gaussian hyperplanes; row `r·k_sim + b`.
    hyperplanes: Vec<f32>,
    /// `reps × d_proj × dim` entries ±1 (empty for the identity).
    projection: Vec<f32>,
    /// Per concatenated coordinate: bucket in the low 31 bits, sign (1 = −) in bit 31.
    /// Empty without `final_dim`.
    count_sketch: Vec<u32>,
    kernels: &'static MaxSimKernels,
}

impl PartialEq for FdeEncoder {
    fn eq(&self, other: &Self) -> bool {
        self.params == other.params
            && self.hyperplanes == other.hyperplanes
            && self.projection == other.projection
            && self.count_sketch == other.count_sketch
    }
}

/// Gray code of `p`.
#[inline]
pub fn gray(p: u32) -> u32 {
    p ^ (p >> 1)
}

/// Inverse of [`gray`]: the index whose Gray code is `g`.
#[inline]
pub fn gray_decode(g: u32) -> u32 {
    let mut p = g;
    let mut shift = 1;
    while shift < 32 {
        p ^= p >> shift;
        shift <<= 1;
    }
    p
}

impl FdeEncoder {
    /// Validates `params` and derives the random matrices from `params.seed`:
    ///
    /// * hyperplanes of repetition `r`: `k_sim·dim` standard normals (row
    ///   major) from `Xoshiro256::new(stream_seed(seed, r, 1))`, rounded to f32;
    /// * projection of repetition `r`: `d_proj·dim` signs, bit 63 of
    ///   successive outputs of `Xoshiro256::new(stream_seed(seed, r, 2))`
    ///   (set → −1);
    /// * Count-Sketch: for each concatenated coordinate, one output `x` of
    ///   `Xoshiro256::new(stream_seed(seed, 0, 3))`: bucket `(x >> 32) mod
    ///   final_dim` (upper 32 bits, modulo), sign from bit 0.
    ///
    /// See [`crate::rng`] for the generators.
    pub fn new(params: FdeParams) -> Result<Self> {
        params.validate()?;
        let (dim, k) = (params.dim, params.k_sim as usize);
        let mut hyperplanes = Vec::with_capacity(params.reps * k * dim);
        let mut projection = Vec::with_capacity(params.reps * params.d_proj.unwrap_or(0) * dim);
        for r in 0..params.reps as u64 {
            let mut g = Xoshiro256::new(stream_seed(params.seed, r, PURPOSE_HYPERPLANES));
            hyperplanes.extend((0..k * dim).map(|_| g.gaussian() as f32));
            if let Some(d) = params.d_proj {
                let mut s = Xoshiro256::new(stream_seed(params.seed, r, PURPOSE_PROJECTION));
                projection.extend((0..d * dim).map(|_| {
                    if s.next_u64() >> 63 == 1 {
                        -1.0f32
                    } else {
                        1.0
                    }
                }));
            }
        }
        let mut count_sketch = Vec::new();
        if let Some(m) = params.final_dim {
            let mut s = Xoshiro256::new(stream_seed(params.seed, 0, PURPOSE_COUNT_SKETCH));
            count_sketch = (0..params.concat_dim())
                .map(|_| {
                    let x = s.next_u64();
                    let bucket = ((x >> 32) % m as u64) as u32;
                    bucket | (((x & 1) as u32) << 31)
                })
                .collect();
        }
        Ok(FdeEncoder {
            params,
            hyperplanes,
            projection,
            count_sketch,
            kernels: maxsim_kernels(),
        })
    }

    /// The parameters.
    pub fn params(&self) -> &FdeParams {
        &self.params
    }

    /// Length of every encoding ([`FdeParams::output_dim`]).
    pub fn output_dim(&self) -> usize {
        self.params.output_dim()
    }

    /// The SimHash partition of one token (`dim` floats) in repetition `rep`:
    /// `gray_decode` of its sign bits (first hyperplane = most significant).
    pub fn partition(&self, rep: usize, token: &[f32]) -> Result<u32> {
        let p = &self.params;
        if rep >= p.reps {
            return Err(MuveraError::InvalidArgument(format!(
                "rep {rep} out of range (reps {})",
                p.reps
            )));
        }
        if check_tokens(token, p.dim)? != 1 {
            return Err(MuveraError::InvalidArgument(
                "expected exactly one token".into(),
            ));
        }
        let k = p.k_sim as usize;
        let mut dots = vec![0.0f32; k];
        let planes = &self.hyperplanes[rep * k * p.dim..(rep + 1) * k * p.dim];
        (self.kernels.dot_matrix)(token, planes, p.dim, &mut dots);
        let s = dots
            .iter()
            .fold(0u32, |acc, &v| (acc << 1) | u32::from(v > 0.0));
        Ok(gray_decode(s))
    }

    /// Encodes a query token set (`n × dim`, row major) into `out`
    /// (`output_dim()` floats): partition blocks SUM their tokens.
    pub fn encode_query(&self, tokens: &[f32], out: &mut [f32]) -> Result<()> {
        self.encode(tokens, TokenSetKind::Query, false, out)
    }

    /// Encodes a document token set into `out`: partition blocks AVERAGE their
    /// tokens; empty partitions are filled if `params().fill_empty`.
    pub fn encode_document(&self, tokens: &[f32], out: &mut [f32]) -> Result<()> {
        self.encode(tokens, TokenSetKind::Document, self.params.fill_empty, out)
    }

    /// Encodes into a new vector (see [`FdeEncoder::encode`]).
    pub fn encode_to_vec(&self, tokens: &[f32], kind: TokenSetKind) -> Result<Vec<f32>> {
        let mut out = vec![0.0; self.output_dim()];
        let fill = kind == TokenSetKind::Document && self.params.fill_empty;
        self.encode(tokens, kind, fill, &mut out)?;
        Ok(out)
    }

    /// General form: `fill_empty` overrides the parameter; requesting it for a
    /// query is [`MuveraError::InvalidArgument`]. Errors: empty token set,
    /// ragged length, non-finite values, `out.len() != output_dim()`.
    pub fn encode(
        &self,
        tokens: &[f32],
        kind: TokenSetKind,
        fill_empty: bool,
        out: &mut [f32],
    ) -> Result<()> {
        if fill_empty && kind == TokenSetKind::Query {
            return Err(MuveraError::InvalidArgument(
                "fill_empty applies to documents only, not queries".into(),
            ));
        }
        let out_dim = self.output_dim();
        if out.len() != out_dim {
            return Err(MuveraError::InvalidArgument(format!(
                "output buffer holds {} floats, the encoding has {out_dim}",
                out.len()
            )));
        }
        let p = &self.params;
        let n = check_tokens(tokens, p.dim)?;
        if self.count_sketch.is_empty() {
            self.encode_concat(tokens, n, kind, fill_empty, out);
        } else {
            let mut full = vec![0.0f32; p.concat_dim()];
            self.encode_concat(tokens, n, kind, fill_empty, &mut full);
            out.fill(0.0);
            for (&h, &x) in self.count_sketch.iter().zip(&full) {
                let v = if h >> 31 == 1 { -x } else { x };
                out[(h & 0x7fff_ffff) as usize] += v;
            }
        }
        Ok(())
    }

    /// Steps 1–4 of the module docs into `out` (`concat_dim()` floats); inputs validated.
    fn encode_concat(
        &self,
        tokens: &[f32],
        n: usize,
        kind: TokenSetKind,
        fill_empty: bool,
        out: &mut [f32],
    ) {
        let p = &self.params;
        let (dim, k) = (p.dim, p.k_sim as usize);
        let parts = p.partitions();
        let bdim = p.block_dim();
        let rk = p.reps * k;
        let kern = self.kernels;

        // 1. All SimHash dots at once: n × (reps·k).
        let mut sk = vec![0.0f32; n * rk];
        if rk > 0 {
            (kern.dot_matrix)(tokens, &self.hyperplanes, dim, &mut sk);
        }

        out.fill(0.0);
        let mut bits = vec![0u32; n];
        // Compact per-repetition block sums: slot s holds partition part_of_slot[s].
        let mut slot_of = vec![u32::MAX; parts];
        let mut part_of_slot: Vec<u32> = Vec::with_capacity(parts);
        let mut counts: Vec<u32> = Vec::with_capacity(parts);
        let mut sums = vec![0.0f32; parts * dim];
        let mut projected = vec![0.0f32; if p.d_proj.is_some() { parts * bdim } else { 0 }];
        let inv_sqrt = p.d_proj.map_or(1.0, |d| 1.0 / (d as f32).sqrt());

        for r in 0..p.reps {
            // 2. Partition of each token; sum per partition.
            slot_of.fill(u32::MAX);
            part_of_slot.clear();
            counts.clear();
            for t in 0..n {
                let row = &sk[t * rk + r * k..t * rk + (r + 1) * k];
                let s = row
                    .iter()
                    .fold(0u32, |acc, &v| (acc << 1) | u32::from(v > 0.0));
                bits[t] = s;
                let part = gray_decode(s) as usize;
                let x = &tokens[t * dim..(t + 1) * dim];
                let slot = slot_of[part];
                if slot == u32::MAX {
                    let s_idx = part_of_slot.len();
                    slot_of[part] = s_idx as u32;
                    part_of_slot.push(part as u32);
                    counts.push(1);
                    sums[s_idx * dim..(s_idx + 1) * dim].copy_from_slice(x);
                } else {
                    let s_idx = slot as usize;
                    counts[s_idx] += 1;
                    (kern.add_assign)(&mut sums[s_idx * dim..(s_idx + 1) * dim], x);
                }
            }
            // 3. Fill empty partitions with the Hamming-nearest token (weight 1).
            if fill_empty && part_of_slot.len() < parts {
                for (part, slot) in slot_of.iter_mut().enumerate() {
                    if *slot != u32::MAX {
                        continue;
                    }
                    let code = gray(part as u32);
                    let mut best = (u32::MAX, 0usize);
                    for (t, &b) in bits.iter().enumerate() {
                        let d = (b ^ code).count_ones();
                        if d < best.0 {
                            best = (d, t);
                        }
                    }
                    let s_idx = part_of_slot.len();
                    *slot = s_idx as u32;
                    part_of_slot.push(part as u32);
                    counts.push(1);
                    let t = best.1;
                    sums[s_idx * dim..(s_idx + 1) * dim]
                        .copy_from_slice(&tokens[t * dim..(t + 1) * dim]);
                }
            }
            // 4. Project (or copy) each used block, weight, write.
            let used = part_of_slot.len();
            let rep_out = &mut out[r * parts * bdim..(r + 1) * parts * bdim];
            let weight = |s_idx: usize| match kind {
                TokenSetKind::Query => inv_sqrt,
                TokenSetKind::Document => inv_sqrt / counts[s_idx] as f32,
            };
            match p.d_proj {
                Some(d) => {
                    let mat = &self.projection[r * d * dim..(r + 1) * d * dim];
                    (kern.dot_matrix)(&sums[..used * dim], mat, dim, &mut projected[..used * d]);
                    for (s_idx, &part) in part_of_slot.iter().enumerate() {
                        let w = weight(s_idx);
                        let dst = &mut rep_out[part as usize * d..(part as usize + 1) * d];
                        for (o, &v) in dst.iter_mut().zip(&projected[s_idx * d..(s_idx + 1) * d]) {
                            *o = v * w;
                        }
                    }
                }
                None => {
                    for (s_idx, &part) in part_of_slot.iter().enumerate() {
                        let w = weight(s_idx);
                        let dst = &mut rep_out[part as usize * dim..(part as usize + 1) * dim];
                        for (o, &v) in dst.iter_mut().zip(&sums[s_idx * dim..(s_idx + 1) * dim]) {
                            *o = v * w;
                        }
                    }
                }
            }
        }
    }

    /// Appends the parameters, [`ENCODER_VERSION`] and the random matrices to
    /// `out`. Layout (little endian):
    ///
    /// ```text
    /// 0   magic "QFDE"
    /// 4   version      u32   ENCODER_VERSION
    /// 8   dim          u32
    /// 12  k_sim        u32
    /// 16  d_proj       u32   0 = identity
    /// 20  reps         u32
    /// 24  final_dim    u32   0 = none
    /// 28  flags        u32   bit 0 = fill_empty
    /// 32  seed         u64
    /// 40  hyperplanes  reps·k_sim·dim × f32
    /// ..  projection   reps·d_proj·dim sign bits, LSB first, 1 = −1, padded to a byte
    /// ..  count sketch concat_dim × u32 (bucket | sign << 31), only with final_dim
    /// ..  checksum     u64   xxh3-64 of every preceding byte
    /// ```
    pub fn write_params(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let p = &self.params;
        out.extend_from_slice(MAGIC);
        for v in [
            ENCODER_VERSION,
            p.dim as u32,
            p.k_sim,
            p.d_proj.unwrap_or(0) as u32,
            p.reps as u32,
            p.final_dim.unwrap_or(0) as u32,
            u32::from(p.fill_empty),
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&p.seed.to_le_bytes());
        for h in &self.hyperplanes {
            out.extend_from_slice(&h.to_le_bytes());
        }
        for chunk in self.projection.chunks(8) {
            let byte = chunk
                .iter()
                .enumerate()
                .fold(0u8, |b, (i, &v)| b | (u8::from(v < 0.0) << i));
            out.push(byte);
        }
        for c in &self.count_sketch {
            out.extend_from_slice(&c.to_le_bytes());
        }
        let sum = xxh3_64(&out[start..]);
        out.extend_from_slice(&sum.to_le_bytes());
    }

    /// The serialized form as a new vector (see [`FdeEncoder::write_params`]).
    pub fn params_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_params(&mut v);
        v
    }

    /// Rebuilds an encoder from [`FdeEncoder::write_params`] output, using the
    /// stored matrices (not regenerated). `b` must be exactly one record.
    ///
    /// Errors: [`MuveraError::VersionMismatch`] if the record was written by
    /// another [`ENCODER_VERSION`]; [`MuveraError::Corrupt`] for a bad magic,
    /// wrong length, invalid parameters or checksum mismatch.
    pub fn read_params(b: &[u8]) -> Result<Self> {
        let params = Self::read_params_header(b)?;
        Self::read_params_body(b, params)
    }

    /// The parameters of a [`FdeEncoder::write_params`] record, validated, without reading
    /// (or allocating) its matrices: lets a loader check them against the rest of a file
    /// before [`FdeEncoder::read_params`] allocates
    /// [`FdeParams::matrix_entries`] floats. Errors as [`FdeEncoder::read_params`].
    pub fn read_params_header(b: &[u8]) -> Result<FdeParams> {
        let corrupt = |m: &str| MuveraError::Corrupt(format!("FDE params: {m}"));
        if b.len() < 8 || &b[..4] != MAGIC {
            return Err(corrupt("bad magic or truncated header"));
        }
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let version = u32_at(4);
        if version != ENCODER_VERSION {
            return Err(MuveraError::VersionMismatch {
                found: version,
                expected: ENCODER_VERSION,
            });
        }
        if b.len() < HEADER_LEN + 8 {
            return Err(corrupt("truncated header"));
        }
        let flags = u32_at(28);
        if flags > 1 {
            return Err(corrupt("unknown flags"));
        }
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&b[32..40]);
        let opt = |v: u32| (v != 0).then_some(v as usize);
        let params = FdeParams {
            dim: u32_at(8) as usize,
            k_sim: u32_at(12),
            d_proj: opt(u32_at(16)),
            reps: u32_at(20) as usize,
            final_dim: opt(u32_at(24)),
            seed: u64::from_le_bytes(seed),
            fill_empty: flags & 1 == 1,
        };
        params
            .validate()
            .map_err(|e| MuveraError::Corrupt(format!("FDE params: {e}")))?;
        Ok(params)
    }

    fn read_params_body(b: &[u8], params: FdeParams) -> Result<Self> {
        let corrupt = |m: &str| MuveraError::Corrupt(format!("FDE params: {m}"));
        let n_hyper = params.reps * params.k_sim as usize * params.dim;
        let n_proj = params.reps * params.d_proj.unwrap_or(0) * params.dim;
        let n_cs = if params.final_dim.is_some() {
            params.concat_dim()
        } else {
            0
        };
        let expected = HEADER_LEN + 4 * n_hyper + n_proj.div_ceil(8) + 4 * n_cs + 8;
        if b.len() != expected {
            return Err(corrupt(&format!(
                "length {} does not match the parameters ({expected})",
                b.len()
            )));
        }
        let body = &b[..expected - 8];
        let mut sum = [0u8; 8];
        sum.copy_from_slice(&b[expected - 8..]);
        if xxh3_64(body) != u64::from_le_bytes(sum) {
            return Err(corrupt("checksum mismatch"));
        }
        let mut o = HEADER_LEN;
        let hyperplanes: Vec<f32> = b[o..o + 4 * n_hyper]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if hyperplanes.iter().any(|x| !x.is_finite()) {
            return Err(corrupt("non-finite hyperplane"));
        }
        o += 4 * n_hyper;
        let bits = &b[o..o + n_proj.div_ceil(8)];
        let projection: Vec<f32> = (0..n_proj)
            .map(|i| {
                if (bits[i / 8] >> (i % 8)) & 1 == 1 {
                    -1.0
                } else {
                    1.0
                }
            })
            .collect();
        o += n_proj.div_ceil(8);
        let count_sketch: Vec<u32> = b[o..o + 4 * n_cs]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if let Some(m) = params.final_dim {
            if count_sketch
                .iter()
                .any(|&h| (h & 0x7fff_ffff) as usize >= m)
            {
                return Err(corrupt("count-sketch bucket out of range"));
            }
        }
        Ok(FdeEncoder {
            params,
            hyperplanes,
            projection,
            count_sketch,
            kernels: maxsim_kernels(),
        })
    }
}
