//! Instruction-set levels, CPU feature detection and the one selection policy every kernel
//! family follows.
//!
//! # Levels and features
//!
//! An [`Isa`] is a *level*: `Scalar`, `Avx2` (AVX2 + FMA), `Avx512` (AVX-512F, on top of
//! AVX2 + FMA) or `Neon`. Kernels may need features beyond their level's base set (F16C,
//! POPCNT, AVX-512BW, AVX-512 VNNI, AVX-512 VPOPCNTDQ); those are listed per kernel variant.
//! [`cpu`] detects every feature this crate uses **once** per process; no other code in the
//! crate asks the CPU.
//!
//! # Policy
//!
//! 1. The process-wide level ([`chosen`]) is the level named by `QUIVER_FORCE_ISA` if it
//!    parses and this CPU can run it, otherwise the best level the CPU can run. It is decided
//!    once, on first use.
//! 2. A kernel family lists its variants best first, each with a level and the extra
//!    features it needs, ending with the scalar variant. Under a ceiling level (the chosen
//!    level for the process-wide table, or the level a caller asks for) the family uses the
//!    first variant whose level is at or below the ceiling and whose extra features the CPU
//!    has. `Avx2` is below `Avx512`; `Scalar` is below everything; `Neon` and the x86 levels
//!    are unrelated. A ceiling the CPU cannot run selects nothing.
//!
//! A variant's functions are only ever handed out by the selection function of this module, after these checks, which is
//! the invariant that makes the `unsafe` calls into `#[target_feature]` code sound.

use std::sync::OnceLock;

/// Name of the environment variable that forces a kernel ISA.
pub const FORCE_ISA_ENV: &str = "QUIVER_FORCE_ISA";

/// Instruction-set level a kernel table is implemented with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable code, no explicit SIMD.
    Scalar,
    /// x86_64 AVX2 + FMA.
    Avx2,
    /// x86_64 AVX-512F.
    Avx512,
    /// aarch64 Advanced SIMD.
    Neon,
}

impl Isa {
    /// `"scalar"`, `"avx2"`, `"avx512"` or `"neon"`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// Inverse of [`Isa::name`] (ASCII case-insensitive, surrounding whitespace ignored).
    pub fn parse(s: &str) -> Option<Isa> {
        let s = s.trim();
        [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon]
            .into_iter()
            .find(|i| i.name().eq_ignore_ascii_case(s))
    }

    /// True if code for `self` may run where `ceiling` was chosen: the same level, scalar, or
    /// AVX2 under AVX-512.
    pub fn at_or_below(self, ceiling: Isa) -> bool {
        self == ceiling || self == Isa::Scalar || (self == Isa::Avx2 && ceiling == Isa::Avx512)
    }

    /// True if this CPU (and build target) has the base features of this level.
    pub fn runnable(self) -> bool {
        let c = cpu();
        match self {
            Isa::Scalar => true,
            Isa::Avx2 => c.avx2 && c.fma,
            Isa::Avx512 => c.avx512f && c.avx2 && c.fma,
            Isa::Neon => c.neon,
        }
    }
}

/// The CPU features this crate's kernels use, detected once ([`cpu`]). All `false` on
/// architectures they do not belong to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CpuFeatures {
    /// x86 AVX2.
    pub avx2: bool,
    /// x86 FMA3.
    pub fma: bool,
    /// x86 F16C (half-precision conversions).
    pub f16c: bool,
    /// x86 POPCNT.
    pub popcnt: bool,
    /// x86 AVX-512 Foundation.
    pub avx512f: bool,
    /// x86 AVX-512 byte/word instructions.
    pub avx512bw: bool,
    /// x86 AVX-512 vector neural-network instructions (`vpdpbusd`).
    pub avx512vnni: bool,
    /// x86 AVX-512 vector popcount of dwords/qwords.
    pub avx512vpopcntdq: bool,
    /// aarch64 Advanced SIMD.
    pub neon: bool,
}

fn detect() -> CpuFeatures {
    #[allow(unused_mut)]
    let mut f = CpuFeatures::default();
    #[cfg(target_arch = "x86_64")]
    {
        f.avx2 = is_x86_feature_detected!("avx2");
        f.fma = is_x86_feature_detected!("fma");
        f.f16c = is_x86_feature_detected!("f16c");
        f.popcnt = is_x86_feature_detected!("popcnt");
        f.avx512f = is_x86_feature_detected!("avx512f");
        f.avx512bw = is_x86_feature_detected!("avx512bw");
        f.avx512vnni = is_x86_feature_detected!("avx512vnni");
        f.avx512vpopcntdq = is_x86_feature_detected!("avx512vpopcntdq");
    }
    #[cfg(target_arch = "aarch64")]
    {
        f.neon = std::arch::is_aarch64_feature_detected!("neon");
    }
    f
}

static CPU: OnceLock<CpuFeatures> = OnceLock::new();

/// The features of this CPU, detected once per process.
#[inline]
pub fn cpu() -> &'static CpuFeatures {
    CPU.get_or_init(detect)
}

/// Levels this CPU can run, best first (always ends with [`Isa::Scalar`]).
pub fn available_isas() -> Vec<Isa> {
    [Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Scalar]
        .into_iter()
        .filter(|&isa| isa.runnable())
        .collect()
}

/// The ISA named by a `QUIVER_FORCE_ISA` value, if it parses and is in `available`.
pub(crate) fn honoured_force(forced: Option<&str>, available: &[Isa]) -> Option<Isa> {
    forced
        .and_then(Isa::parse)
        .filter(|isa| available.contains(isa))
}

/// Pure selection logic behind [`chosen`]: the forced ISA if it is valid and available,
/// otherwise the first (best) available one, otherwise scalar.
pub(crate) fn select_isa(forced: Option<&str>, available: &[Isa]) -> Isa {
    honoured_force(forced, available)
        .or_else(|| available.first().copied())
        .unwrap_or(Isa::Scalar)
}

struct Choice {
    level: Isa,
    forced: Option<Isa>,
}

static CHOICE: OnceLock<Choice> = OnceLock::new();

fn choice() -> &'static Choice {
    CHOICE.get_or_init(|| {
        // A non-UTF-8 value is treated like an unknown one: ignored.
        let env = std::env::var(FORCE_ISA_ENV).ok();
        let available = available_isas();
        Choice {
            level: select_isa(env.as_deref(), &available),
            forced: honoured_force(env.as_deref(), &available),
        }
    })
}

/// The process-wide level, decided once: the level forced by `QUIVER_FORCE_ISA` if this CPU
/// can run it, else the best level it can run.
#[inline]
pub fn chosen() -> Isa {
    choice().level
}

/// The level forced by `QUIVER_FORCE_ISA`, if the variable was set and honoured; `None` if
/// unset, unknown, or not runnable here.
pub fn forced() -> Option<Isa> {
    choice().forced
}

/// One implementation of a kernel family: its level, the name reported by
/// [`crate::capabilities`], the extra CPU features it needs beyond its level, and its table.
pub(crate) struct Variant<T: 'static> {
    /// Level whose base features the variant needs.
    pub level: Isa,
    /// Name reported by [`crate::capabilities`] (e.g. `"avx512-vnni"`).
    pub name: &'static str,
    /// Extra features beyond `level`'s base set.
    pub needs: fn(&CpuFeatures) -> bool,
    /// The functions (a table or a single function pointer).
    pub table: T,
}

/// `needs` for variants that use only their level's base features.
pub(crate) fn base_only(_: &CpuFeatures) -> bool {
    true
}

/// The policy: the first of `variants` (best first) at or below `ceiling` that this CPU can
/// run, or `None` when `ceiling` itself is not runnable here. Families end their list with a
/// scalar variant, so a runnable ceiling always selects something.
pub(crate) fn select<T>(
    variants: &'static [Variant<T>],
    ceiling: Isa,
) -> Option<&'static Variant<T>> {
    if !ceiling.runnable() {
        return None;
    }
    let c = cpu();
    variants
        .iter()
        .find(|v| v.level.at_or_below(ceiling) && v.level.runnable() && (v.needs)(c))
}

/// A kernel family's variants (best first, ending with the scalar one) and the variant
/// chosen for this process, decided once.
pub(crate) struct Family<T: 'static> {
    variants: &'static [Variant<T>],
    scalar: &'static Variant<T>,
    chosen: OnceLock<&'static Variant<T>>,
}

impl<T: Sync> Family<T> {
    /// A family over `variants`; `scalar` is its portable variant (the last of `variants`).
    pub(crate) const fn new(variants: &'static [Variant<T>], scalar: &'static Variant<T>) -> Self {
        Family {
            variants,
            scalar,
            chosen: OnceLock::new(),
        }
    }

    /// The variant this family uses in this process: [`select`] under [`chosen`].
    pub(crate) fn chosen(&'static self) -> &'static Variant<T> {
        self.chosen
            .get_or_init(|| select(self.variants, chosen()).unwrap_or(self.scalar))
    }

    /// The table of the variant [`select`] picks under `ceiling`.
    pub(crate) fn for_level(&'static self, ceiling: Isa) -> Option<&'static T> {
        select(self.variants, ceiling).map(|v| &v.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering() {
        assert!(Isa::Avx2.at_or_below(Isa::Avx512));
        assert!(!Isa::Avx512.at_or_below(Isa::Avx2));
        assert!(Isa::Scalar.at_or_below(Isa::Neon));
        assert!(!Isa::Neon.at_or_below(Isa::Avx512));
        assert!(!Isa::Avx2.at_or_below(Isa::Neon));
    }

    #[test]
    fn detection_is_cached_and_consistent() {
        assert!(std::ptr::eq(cpu(), cpu()));
        assert!(chosen().runnable());
        assert_eq!(available_isas().last(), Some(&Isa::Scalar));
    }
}
