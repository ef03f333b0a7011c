//! napi-rs bindings for quiver-search: translation only. Each JS method converts its
//! arguments, makes one engine call (async methods on a libuv worker through `AsyncTask`,
//! `*Sync` twins on the JS thread) and converts the result to typed arrays. Engine errors
//! become JS errors with a `code` in `error.rs`; panics are caught there too.

mod error;
mod multi_vector;
mod text_index;
mod vector_index;

use napi_derive::napi;

pub use multi_vector::*;
pub use text_index::*;
pub use vector_index::*;

/// What this build and CPU run with.
#[napi(object)]
pub struct NativeCapabilities {
    /// SIMD instruction set the distance kernels use: scalar | avx2 | avx512 | neon.
    pub isa: String,
    /// Every instruction set this CPU can run, best first.
    pub available_isas: Vec<String>,
    /// The value of QUIVER_FORCE_ISA if it was honoured.
    pub forced_isa: Option<String>,
    /// Logical CPUs available to this process.
    pub cpu_threads: u32,
    /// Version of the native module.
    pub version: String,
    /// Operating system the module was built for.
    pub platform: String,
    /// CPU architecture the module was built for.
    pub arch: String,
}

/// Reports the SIMD path in use and the build.
#[napi]
pub fn capabilities() -> NativeCapabilities {
    NativeCapabilities {
        isa: quiver_distance::kernels().isa.name().into(),
        available_isas: quiver_distance::available_isas()
            .into_iter()
            .map(|i| i.name().to_string())
            .collect(),
        forced_isa: quiver_distance::forced_isa().map(|i| i.name().to_string()),
        cpu_threads: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        version: env!("CARGO_PKG_VERSION").into(),
        platform: std::env::consts::OS.into(),
        arch: std::env::consts::ARCH.into(),
    }
}
