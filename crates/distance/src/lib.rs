//! SIMD distance kernels for quiver-search.
//!
//! # Layout
//!
//! ```text
//! isa.rs          levels (Isa), CPU feature detection (once), QUIVER_FORCE_ISA, the policy
//! lanes.rs        x86 vector widths (L512, L256) the AVX2 and AVX-512 kernels are written over
//! float/          f32 dot, squared L2, cosine: Kernels, kernels(), kernels_for()
//!   mod.rs        dispatch and numeric notes;  scalar.rs  the oracle (pub as `scalar`)
//!   x86.rs        AVX2+FMA and AVX-512F;       neon.rs    aarch64 NEON
//! sq8/            f32 × u8 and u8 × i8 (VNNI) dots for scalar-quantized codes
//! bits/           Hamming, popcount, bit-plane AND-popcount (VPOPCNTDQ)
//! pq/             PQ ADC sums, 4-bit fast-scan, nearest centroid
//! maxsim/         multi-vector MaxSim over f32 / f16 / sq8 tokens, dot matrix
//! maxsim_i8/      integer MaxSim for sq8 tokens (VNNI)
//! hadamard/       fast Walsh–Hadamard transform
//! ```
//!
//! Every family folder has the same shape: `mod.rs` holds the scalar reference (the oracle
//! the SIMD code is tested against), the list of variants and the process-wide dispatch, and
//! notes on accumulation order and on whether the variants agree bit for bit; `x86.rs` (and
//! `neon.rs` where one exists) holds the SIMD code. Where the AVX2 and AVX-512 kernels of a
//! family share their algorithm (f32, MaxSim, PQ nearest centroid and fast-scan) the x86 code
//! is written once over the lane width and stamped per ISA by a macro, so each copy carries
//! its own `#[target_feature]` list.
//!
//! # Dispatch
//!
//! A family lists its variants best first, each with a level ([`Isa`]) and the CPU features
//! it needs beyond that level (F16C, POPCNT, AVX-512BW, AVX-512 VNNI, AVX-512 VPOPCNTDQ),
//! ending with the scalar variant. [`isa`] detects the CPU's features once and decides one
//! process-wide level: the best the CPU can run (AVX-512F, then AVX2+FMA, on aarch64 NEON,
//! else scalar) unless `QUIVER_FORCE_ISA` names another it can run. Each family then uses,
//! once per process, its first variant at or below that level whose extra features the CPU
//! has: with AVX-512 chosen, the integer kernels use VNNI where the CPU has it and the AVX2
//! code where it does not. The `*_for(isa)` functions ([`kernels_for`],
//! [`sq8::dot_u8_for`], [`maxsim::maxsim_kernels_for`], …) apply the same rule under the
//! level they are given, and return `None` when the CPU cannot run that level at all.
//!
//! Every kernel is safe to call with any slices: it works on the largest prefix that is in
//! bounds and never reads out of bounds. SIMD functions are only reachable through variants
//! the policy selected after detection, so they never run instructions the CPU lacks.
//! [`capabilities`] reports the level and the variant every family uses;
//! [`available_isas`] lists the levels this CPU can run, best first.
//!
//! # `QUIVER_FORCE_ISA`
//!
//! Setting the environment variable `QUIVER_FORCE_ISA` to `scalar`, `avx2`,
//! `avx512` or `neon` (case-insensitive) before the first kernel call
//! forces that level for every family — useful for benchmarking and for reproducing
//! problems on a narrower path. A value naming an ISA this CPU/build cannot run, or an
//! unknown value, is ignored and the best detected ISA is used instead; it
//! can never cause undefined behaviour. [`forced_isa`] reports whether the
//! variable was honoured. The variable is read only once, so changing it
//! after the first call has no effect.
//!
//! # Distance conventions
//!
//! See [`Metric`]: smaller is always closer. `L2` is the *squared* Euclidean
//! distance, `Ip` is `1 - a·b`, `Cosine` is `1 - cos(a, b)`. For cosine
//! indexes, vectors can be [`normalize`]d once on insert/query and compared
//! with [`Kernels::distance_fn`], which then uses the cheaper `1 - a·b`.
//!
//! # Measured speed
//!
//! Measured on a shared 2-vCPU KVM guest, "Intel Xeon Processor" @ 2.3 GHz
//! nominal (Sapphire Rapids-class: AVX2, FMA, AVX-512F/BW/VL/VPOPCNTDQ),
//! Rust 1.95, with `cargo run --release -p quiver-distance --example
//! kernel_speed`: f32 `dot`, both vectors resident in L1 and 64-byte aligned,
//! called through the function pointer in the table; GFLOP/s counts 2 flops
//! per element. The guest is noisy: the same binary swings between a fast and
//! a slow state, so both the best and the slowest of 8 runs are shown.
//!
//! ```text
//! isa       dim   best ns/call  GFLOP/s   slowest ns/call  GFLOP/s
//! avx512    384        11.0       70.0          18.1         42.3
//! avx512    768        19.8       77.5          33.1         46.3
//! avx512    784        20.2       77.6          36.7         42.7
//! avx512   1536        38.4       80.0          56.8         54.1
//! avx2      384        15.7       48.8          26.8         28.7
//! avx2      768        31.1       49.4          50.1         30.6
//! avx2      784        32.0       49.0          50.6         31.0
//! avx2     1536        61.8       49.7          85.9         35.7
//! scalar    384       298.0        2.6         409.2          1.9
//! scalar    768       599.3        2.6         816.1          1.9
//! scalar    784       612.7        2.6         842.0          1.9
//! scalar   1536      1186.5        2.6        1659.2          1.9
//! ```
//!
//! Slices that start 4 bytes past a 64-byte boundary are markedly slower
//! (AVX-512 768-d: 42 ns vs 20 ns in the same run; AVX2: 48 ns vs 31 ns),
//! because most loads then split cache lines: keep stored vectors 64-byte
//! aligned. `--all` also times `l2sq` and `cosine` and the misaligned case.
//! The scalar path is the `f64`-accumulating oracle, not a tuned kernel.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

pub mod bits;
mod float;
pub mod hadamard;
pub mod isa;
#[cfg(target_arch = "x86_64")]
mod lanes;
pub mod maxsim;
pub mod maxsim_i8;
pub mod pq;
pub mod sq8;

pub use float::{kernels, kernels_for, scalar, Kernels};
pub use isa::{available_isas, Isa, FORCE_ISA_ENV};

#[cfg(test)]
use isa::{honoured_force, select_isa};

/// Distance metric. Smaller distances are always closer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Squared Euclidean distance `Σ (a[i]-b[i])²`.
    L2,
    /// Inner-product distance `1 - a·b`.
    Ip,
    /// Cosine distance `1 - cos(a, b)`, in `[0, 2]`.
    Cosine,
}

impl Metric {
    /// `"l2"`, `"ip"` or `"cosine"`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::Ip => "ip",
            Metric::Cosine => "cosine",
        }
    }

    /// Inverse of [`Metric::name`] (ASCII case-insensitive, surrounding whitespace ignored).
    pub fn parse(s: &str) -> Option<Metric> {
        let s = s.trim();
        [Metric::L2, Metric::Ip, Metric::Cosine]
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s))
    }
}

/// The ISA forced by `QUIVER_FORCE_ISA` at selection time, if the variable was
/// set and honoured; `None` if unset, unknown, or not runnable here.
pub fn forced_isa() -> Option<Isa> {
    isa::forced()
}

/// What each kernel family actually runs in this process; see [`capabilities`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The process-wide level every family is capped at (forced or best available).
    pub isa: Isa,
    /// Whether `isa` comes from an honoured `QUIVER_FORCE_ISA`.
    pub forced: bool,
    /// `(family, variant)` pairs, e.g. `("sq8_i8", "avx512-vnni")`, in a fixed order:
    /// `f32`, `sq8`, `sq8_i8`, `bits`, `pq`, `maxsim`, `maxsim_i8`, `hadamard`.
    pub families: Vec<(&'static str, &'static str)>,
}

/// The level chosen for this process, whether it was forced, and for every kernel family
/// the name of the variant it uses (a level name, with the extra feature it relies on
/// appended where it needs one: `"avx512-vnni"`, `"avx512-vpopcntdq"`, `"avx512bw"`, …).
pub fn capabilities() -> Capabilities {
    Capabilities {
        isa: isa::chosen(),
        forced: isa::forced().is_some(),
        families: vec![
            ("f32", float::chosen_variant().name),
            ("sq8", sq8::chosen_dot_u8().name),
            ("sq8_i8", sq8::chosen_dot_u8_i8().name),
            ("bits", bits::chosen_variant().name),
            ("pq", pq::chosen_variant().name),
            ("maxsim", maxsim::chosen_variant().name),
            ("maxsim_i8", maxsim_i8::chosen_variant().name),
            ("hadamard", hadamard::chosen_variant().name),
        ],
    }
}

/// Normalises `v` in place to unit L2 norm and returns its original norm.
///
/// The norm is accumulated in `f64`. A zero vector is left unchanged and
/// `0.0` is returned; a vector whose norm is not finite (it contains NaN or
/// ±inf) is also left unchanged and that non-finite norm is returned.
pub fn normalize(v: &mut [f32]) -> f32 {
    let sq: f64 = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    let norm = sq.sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return norm as f32;
    }
    let inv = 1.0 / norm;
    for x in v.iter_mut() {
        *x = (f64::from(*x) * inv) as f32;
    }
    norm as f32
}

/// Hints the CPU to pull `lines` 64-byte cache lines starting at `ptr` into
/// L1. Safe for any pointer value: prefetches never fault and the pointer is
/// never dereferenced.
#[inline]
pub fn prefetch(ptr: *const u8, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    for i in 0..lines {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = ptr.wrapping_add(i.wrapping_mul(64));
        // SAFETY: SSE (which `prefetcht0` belongs to) is part of the x86_64
        // baseline, so the instruction exists; a prefetch is only a hint, it
        // never faults (even for invalid addresses) and the pointer is not
        // dereferenced, so any address is fine.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>()) };
    }
    #[cfg(target_arch = "aarch64")]
    for i in 0..lines {
        let p = ptr.wrapping_add(i.wrapping_mul(64));
        // SAFETY: `prfm` is a hint: it never faults (even on unmapped or
        // invalid addresses), does not modify memory, registers or flags,
        // and has no effect on program semantics.
        unsafe {
            core::arch::asm!(
                "prfm pldl1keep, [{0}]",
                in(reg) p,
                options(nostack, preserves_flags, nomem)
            );
        }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = (ptr, lines);
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    dist: f32,
    id: u32,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist
            .total_cmp(&other.dist)
            .then(self.id.cmp(&other.id))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

/// Keeps the `k` smallest `(distance, id)` pairs pushed into it (a bounded
/// max-heap). Pairs are ordered by distance, ties broken by smaller id, so
/// the result is deterministic regardless of push order.
///
/// NaN distances are ignored; `-0.0` is treated as `0.0`.
#[derive(Clone, Debug)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Entry>,
}

impl TopK {
    /// An empty collector for the `k` best pairs.
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.min(4096)),
        }
    }

    /// The `k` this collector was created with.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Offers a pair; kept if fewer than `k` are held or it beats the current worst.
    #[inline]
    pub fn push(&mut self, dist: f32, id: u32) {
        if dist.is_nan() {
            return;
        }
        // `-0.0 + 0.0 == +0.0`: makes -0.0 and 0.0 tie instead of ordering apart.
        let e = Entry {
            dist: dist + 0.0,
            id,
        };
        if self.heap.len() < self.k {
            self.heap.push(e);
        } else if let Some(mut top) = self.heap.peek_mut() {
            if e < *top {
                *top = e;
            }
        }
    }

    /// The distance a new pair must beat to be kept: `INFINITY` until `k`
    /// pairs are held, then the largest held distance. (With `k == 0`
    /// nothing is ever kept, so this is `NEG_INFINITY`.)
    #[inline]
    pub fn worst(&self) -> f32 {
        if self.heap.len() < self.k {
            f32::INFINITY
        } else {
            self.heap.peek().map_or(f32::NEG_INFINITY, |e| e.dist)
        }
    }

    /// Number of pairs held (at most `k`).
    #[inline]
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True if no pair is held.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The held pairs, ascending by distance, ties by id ascending.
    pub fn into_sorted(self) -> Vec<(f32, u32)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|e| (e.dist, e.id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Isa; 4] = [Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Scalar];

    #[test]
    fn select_defaults_to_best_available() {
        assert_eq!(select_isa(None, &ALL), Isa::Avx512);
        assert_eq!(select_isa(None, &[Isa::Avx2, Isa::Scalar]), Isa::Avx2);
        assert_eq!(select_isa(None, &[Isa::Scalar]), Isa::Scalar);
        assert_eq!(select_isa(None, &[]), Isa::Scalar);
        assert_eq!(honoured_force(None, &ALL), None);
    }

    #[test]
    fn select_honours_available_forced_isa() {
        let avail = [Isa::Avx512, Isa::Avx2, Isa::Scalar];
        for (s, isa) in [
            ("scalar", Isa::Scalar),
            ("avx2", Isa::Avx2),
            ("avx512", Isa::Avx512),
            ("AVX2", Isa::Avx2),
            (" Scalar\n", Isa::Scalar),
        ] {
            assert_eq!(select_isa(Some(s), &avail), isa, "{s:?}");
            assert_eq!(honoured_force(Some(s), &avail), Some(isa), "{s:?}");
        }
    }

    #[test]
    fn select_ignores_unavailable_or_unknown_forced_isa() {
        let avail = [Isa::Avx2, Isa::Scalar];
        for s in ["avx512", "neon", "", "sse2", "avx-512", "fastest", "avx2x"] {
            assert_eq!(select_isa(Some(s), &avail), Isa::Avx2, "{s:?}");
            assert_eq!(honoured_force(Some(s), &avail), None, "{s:?}");
        }
        // Forcing something when only scalar exists.
        assert_eq!(select_isa(Some("avx2"), &[Isa::Scalar]), Isa::Scalar);
        assert_eq!(select_isa(Some("avx2"), &[]), Isa::Scalar);
    }

    #[test]
    fn selected_kernels_match_selection_logic() {
        let env = std::env::var(FORCE_ISA_ENV).ok();
        let avail = available_isas();
        assert_eq!(kernels().isa, select_isa(env.as_deref(), &avail));
        assert_eq!(forced_isa(), honoured_force(env.as_deref(), &avail));
        // Selected once: the same table every time.
        assert!(std::ptr::eq(kernels(), kernels()));
    }

    #[test]
    fn kernels_for_matches_isa_field() {
        for isa in ALL {
            if let Some(k) = kernels_for(isa) {
                assert_eq!(k.isa, isa);
            }
        }
    }

    #[test]
    fn capabilities_follow_the_chosen_level() {
        let c = capabilities();
        assert_eq!(c.isa, kernels().isa);
        assert_eq!(c.forced, forced_isa().is_some());
        let names: Vec<_> = c.families.iter().map(|f| f.0).collect();
        assert_eq!(
            names,
            [
                "f32",
                "sq8",
                "sq8_i8",
                "bits",
                "pq",
                "maxsim",
                "maxsim_i8",
                "hadamard"
            ]
        );
        assert_eq!(c.families[0].1, c.isa.name());
        for (family, variant) in &c.families {
            match c.isa {
                Isa::Scalar => assert_eq!(*variant, "scalar", "{family}"),
                Isa::Avx2 => assert!(["avx2", "scalar"].contains(variant), "{family}: {variant}"),
                _ => {}
            }
        }
    }

    #[test]
    fn topk_worst_k_zero() {
        let mut t = TopK::new(0);
        assert_eq!(t.worst(), f32::NEG_INFINITY);
        t.push(1.0, 1);
        assert!(t.is_empty());
        assert!(t.into_sorted().is_empty());
    }
}
