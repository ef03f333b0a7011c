//! napi-rs bindings for quiver-search: translation only. Each JS method converts its
//! arguments, makes one engine call (async methods on a libuv worker through the one generic
//! task in `tasks/`, `*Sync` twins on the JS thread) and converts the result to typed arrays.
//! Engine errors become JS errors with a `code` in `error.rs`; panics are caught there too.

mod arrays;
mod common;
mod error;
mod multi_vector;
mod sparse_index;
mod tasks;
mod text_index;
mod vector_index;

use napi::bindgen_prelude::{AsyncTask, Uint8Array};
use napi_derive::napi;

use crate::tasks::{job, Job};

pub use multi_vector::*;
pub use sparse_index::*;
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
    /// Each kernel family and the variant it runs (e.g. sq8_i8 → avx512-vnni).
    pub kernels: Vec<NativeKernel>,
    /// Logical CPUs available to this process.
    pub cpu_threads: u32,
    /// Version of the native module.
    pub version: String,
    /// Operating system the module was built for.
    pub platform: String,
    /// CPU architecture the module was built for.
    pub arch: String,
}

/// One kernel family and the variant it runs.
#[napi(object)]
pub struct NativeKernel {
    pub family: String,
    pub variant: String,
}

/// Reports the SIMD path in use and the build.
#[napi]
pub fn capabilities() -> NativeCapabilities {
    let caps = quiver_distance::capabilities();
    NativeCapabilities {
        isa: caps.isa.name().into(),
        kernels: caps
            .families
            .into_iter()
            .map(|(family, variant)| NativeKernel {
                family: family.into(),
                variant: variant.into(),
            })
            .collect(),
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

/// The engine's limits and defaults (the TypeScript layer's option checks are generated from
/// these).
#[napi(object)]
pub struct NativeLimits {
    pub max_dim: u32,
    pub max_k: u32,
    pub max_ef: u32,
    pub max_m: u32,
    pub max_threads: u32,
    pub max_training: u32,
    pub min_oversample: f64,
    pub max_oversample: f64,
    pub default_m: u32,
    pub default_ef_construction: u32,
    pub default_ef_search: u32,
    pub default_seed: u32,
    pub default_oversample: f64,
    pub default_training_size: u32,
    pub default_training_size_pq8: u32,
    pub default_training_size_pq4: u32,
}

/// The engine's limits and defaults.
#[napi]
pub fn limits() -> NativeLimits {
    let l = quiver_engine::limits();
    NativeLimits {
        max_dim: l.max_dim as u32,
        max_k: l.max_k as u32,
        max_ef: l.max_ef as u32,
        max_m: l.max_m as u32,
        max_threads: l.max_threads as u32,
        max_training: l.max_training as u32,
        min_oversample: f64::from(l.oversample_range.0),
        max_oversample: f64::from(l.oversample_range.1),
        default_m: l.default_m as u32,
        default_ef_construction: l.default_ef_construction as u32,
        default_ef_search: l.default_ef_search as u32,
        default_seed: l.default_seed as u32,
        default_oversample: f64::from(l.default_oversample),
        default_training_size: l.default_training_size as u32,
        default_training_size_pq8: l.default_training_size_pq8 as u32,
        default_training_size_pq4: l.default_training_size_pq4 as u32,
    }
}

/// Writes `data` to `path` durably and atomically on a worker thread (temporary file in the same
/// directory, fsync, rename, directory fsync), for small files such as a collection manifest.
#[napi(ts_return_type = "Promise<void>")]
pub fn write_file_atomic(path: String, data: Uint8Array) -> AsyncTask<Job<(), ()>> {
    let data = data.to_vec();
    job(
        move || quiver_engine::write_atomic(std::path::Path::new(&path), &data),
        |()| (),
    )
}
