//! MUVERA building blocks for multi-vector (late-interaction) search.
//!
//! Multi-vector models (ColBERT and friends) embed a text as a *set* of token
//! vectors and score a query `Q` against a document `P` with MaxSim / Chamfer
//! similarity `Σ_{q∈Q} max_{p∈P} ⟨q, p⟩`. MUVERA (Dhulipala et al., 2024,
//! "MUVERA: Multi-Vector Retrieval via Fixed Dimensional Encodings") turns
//! each set into one *fixed dimensional encoding* (FDE) whose plain inner
//! product approximates MaxSim, so an ordinary single-vector index can find
//! candidates, which are then reranked exactly.
//!
//! This crate provides:
//!
//! * [`fde`] — the encoder ([`FdeParams`], [`FdeEncoder`]). **Start here.**
//! * [`store`] — [`TokenStore`]: document token sets in one arena (f32, f16
//!   or sq8) with exact MaxSim scoring, rerank and exhaustive top-k.
//! * [`rng`] — the self-contained PRNG the random matrices come from.
//!
//! The SIMD MaxSim kernels themselves live in `quiver_distance::maxsim`.
//!
//! # The construction
//!
//! For each of `reps` independent repetitions:
//!
//! 1. **Space partitioning (SimHash).** Draw `k_sim` Gaussian hyperplanes
//!    `g_1..g_k`. A token `x` gets the bit pattern `s(x)` with bit `i` set iff
//!    `⟨g_i, x⟩ > 0`, and lands in partition `gray_decode(s(x))` of `2^k_sim`.
//!    Nearby tokens tend to share a partition, so for each query token the
//!    document tokens in *its* partition are the likely MaxSim winners.
//! 2. **Blocks.** A query's block for partition `b` is the **sum** of its
//!    tokens in `b`; a document's block is the **average** of its tokens in
//!    `b`. Then `⟨q-block, d-block⟩` summed over partitions approximates
//!    `Σ_q ⟨q, average of the document tokens near q⟩ ≈ MaxSim`.
//!    With `fill_empty`, a document's empty partition takes the token whose
//!    bit pattern is nearest (Hamming) to the partition's, so query tokens
//!    falling there still meet a plausible match.
//! 3. **Inner projection.** Each block is multiplied by a random ±1 matrix
//!    `S ∈ {±1}^{d_proj × dim}` scaled by `1/√d_proj` (a Johnson–Lindenstrauss
//!    map that keeps inner products in expectation), or kept as is
//!    (`d_proj = None`).
//!
//! The repetitions' `2^k_sim · d_proj` blocks are concatenated; optionally a
//! final Count-Sketch reduces the result to `final_dim` coordinates. The
//! inner product of a query FDE and a document FDE is the estimate.
//!
//! Without projection, with one repetition and no `fill_empty`, the estimate
//! never exceeds the true MaxSim: each query token's contribution is its dot
//! with an *average* of document tokens, which is at most the maximum (tests
//! check this one-sided bound). More repetitions average out partitioning
//! luck; projection and Count-Sketch trade accuracy for size.
//!
//! # Reproducibility and persistence
//!
//! Random matrices come from the crate's own xoshiro256** + polar Box–Muller
//! generator ([`rng`]) with a documented seed derivation, so a seed yields the
//! same encoder on every platform and dependency version. Indexes should
//! still store the matrices: [`FdeEncoder::write_params`] writes parameters,
//! [`ENCODER_VERSION`] and the matrices with a checksum, and
//! [`FdeEncoder::read_params`] restores exactly that encoder or reports
//! [`MuveraError::VersionMismatch`] for data from another encoder version.
//!
//! # Example
//!
//! ```
//! use quiver_muvera::{FdeEncoder, FdeParams};
//!
//! let enc = FdeEncoder::new(FdeParams::preset("compact-2560", 32)?)?;
//! let doc: Vec<f32> = (0..5 * 32).map(|i| (i as f32 * 0.37).sin()).collect();
//! let query: Vec<f32> = doc[..2 * 32].to_vec();
//! let (mut fd, mut fq) = (vec![0.0; enc.output_dim()], vec![0.0; enc.output_dim()]);
//! enc.encode_document(&doc, &mut fd)?;
//! enc.encode_query(&query, &mut fq)?;
//! let estimate: f32 = fd.iter().zip(&fq).map(|(a, b)| a * b).sum();
//! assert!(estimate.is_finite());
//! # Ok::<(), quiver_muvera::MuveraError>(())
//! ```

pub mod error;
pub mod fde;
pub mod rng;
pub mod store;

pub use error::{MuveraError, Result};
pub use fde::{
    FdeEncoder, FdeParams, TokenSetKind, DEFAULT_SEED, ENCODER_VERSION, MAX_K_SIM, PRESETS,
};
pub use store::{TokenStorage, TokenStore, STORE_FORMAT_VERSION};
