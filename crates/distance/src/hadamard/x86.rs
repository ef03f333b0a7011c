//! x86_64 variant of the Walsh–Hadamard transform: the portable body compiled with AVX2.

/// AVX2 wrapper; only handed out by [`crate::isa::select`] where AVX2 (and FMA) were detected.
pub(super) fn fwht_avx2(x: &mut [f32]) {
    if !x.len().is_power_of_two() {
        return;
    }
    // SAFETY: the `avx2` variant is selected only where AVX2 was detected.
    unsafe { fwht_avx2_impl(x) }
}

/// [`super::fwht_body`] compiled with AVX2 enabled (same code, wider vectors).
#[target_feature(enable = "avx2")]
fn fwht_avx2_impl(x: &mut [f32]) {
    super::fwht_body(x);
}
