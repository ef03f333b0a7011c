//! Result arrays handed to JS as typed arrays that JS owns.
//!
//! napi-rs turns a `Uint32Array::new(vec)` into an *external* ArrayBuffer over the Rust `Vec`.
//! Node frees such a buffer's memory through a callback it queues on the event loop, so a
//! synchronous loop of searches never lets it run: every result stays allocated until the loop
//! yields, and the heap grows with the number of calls. [`JsArray`] instead copies the values
//! into an ArrayBuffer that V8 allocates and frees itself (during GC, which sees its size), and
//! drops the `Vec` at once. A result is at most `k` (or `n × k`) numbers, so the copy costs
//! nothing next to the search that produced it.

use std::ptr;

use napi::bindgen_prelude::{ToNapiValue, TypeName, TypedArrayType, ValueType};
use napi::{sys, Status};
use quiver_engine::HitMeta;

/// A number type a JS typed array can hold.
pub trait Element: Copy {
    /// The typed array kind that holds it.
    const KIND: TypedArrayType;
}

impl Element for u32 {
    const KIND: TypedArrayType = TypedArrayType::Uint32;
}

impl Element for f32 {
    const KIND: TypedArrayType = TypedArrayType::Float32;
}

/// Values that become a JS-owned `Uint32Array`/`Float32Array` (by copy) when returned to JS.
/// Every result array the bindings return goes through this type.
pub struct JsArray<T: Element>(pub Vec<T>);

impl<T: Element> From<Vec<T>> for JsArray<T> {
    fn from(v: Vec<T>) -> Self {
        JsArray(v)
    }
}

impl<T: Element> TypeName for JsArray<T> {
    fn type_name() -> &'static str {
        "TypedArray"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl<T: Element> ToNapiValue for JsArray<T> {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let values = val.0.as_slice();
        let bytes = std::mem::size_of_val(values);
        let mut data: *mut std::ffi::c_void = ptr::null_mut();
        let mut buffer = ptr::null_mut();
        // SAFETY: `env` is the live environment napi-rs passes to this conversion (JS thread);
        // the out-pointers are valid locals.
        let status = unsafe { sys::napi_create_arraybuffer(env, bytes, &mut data, &mut buffer) };
        ok(status, "Failed to create a result ArrayBuffer")?;
        if bytes > 0 {
            // SAFETY: `data` points to `bytes` freshly allocated, writable bytes of the new
            // ArrayBuffer, which cannot overlap `values` (a Rust-owned Vec); `T` is a plain
            // number type, so its bytes are a valid copy of it.
            unsafe {
                ptr::copy_nonoverlapping(values.as_ptr().cast::<u8>(), data.cast::<u8>(), bytes)
            };
        }
        let mut array = ptr::null_mut();
        let (kind, len) = (T::KIND.into(), values.len());
        // SAFETY: `buffer` is the ArrayBuffer created above, holding exactly `len` elements of
        // the kind `T::KIND` names, starting at offset 0.
        let status = unsafe { sys::napi_create_typedarray(env, kind, len, buffer, 0, &mut array) };
        ok(status, "Failed to create a result typed array")?;
        Ok(array)
    }
}

/// Hits of a scored search (higher is better), best first: what the text and sparse indexes
/// return.
#[napi_derive::napi(object, object_from_js = false)]
pub struct NativeScoredResult {
    #[napi(ts_type = "Uint32Array")]
    pub keys: JsArray<u32>,
    #[napi(ts_type = "Float32Array")]
    pub scores: JsArray<f32>,
    /// Each hit's attributes (JSON object text), when requested.
    pub attributes: Option<Vec<Option<String>>>,
    /// Each hit's payload (JSON text), when requested.
    pub payloads: Option<Vec<Option<String>>>,
}

/// A text or sparse search's filter and the metadata to return.
#[napi_derive::napi(object)]
pub struct NativeScoredSearchOptions {
    /// The compiled filter (JSON).
    pub filter: Option<String>,
    pub include_attributes: Option<bool>,
    pub include_payload: Option<bool>,
}

/// The engine's arguments for `opts` (none: no filter, nothing included): the filter, then
/// whether to include attributes and payloads.
pub fn scored_options(opts: Option<&NativeScoredSearchOptions>) -> (Option<&str>, bool, bool) {
    (
        opts.and_then(|o| o.filter.as_deref()),
        opts.and_then(|o| o.include_attributes).unwrap_or(false),
        opts.and_then(|o| o.include_payload).unwrap_or(false),
    )
}

/// `(key, score)` hits as a [`NativeScoredResult`].
pub fn scored(v: Vec<(u32, f32)>) -> NativeScoredResult {
    NativeScoredResult {
        keys: JsArray(v.iter().map(|h| h.0).collect()),
        scores: JsArray(v.iter().map(|h| h.1).collect()),
        attributes: None,
        payloads: None,
    }
}

/// `(key, score)` hits and their requested metadata, as the engine returns them.
pub type ScoredWithMeta = (Vec<(u32, f32)>, HitMeta);

/// Hits and their requested metadata as a [`NativeScoredResult`].
pub fn scored_with((v, m): ScoredWithMeta) -> NativeScoredResult {
    NativeScoredResult {
        attributes: m.attributes,
        payloads: m.payloads,
        ..scored(v)
    }
}

/// One [`NativeScoredResult`] per query.
pub fn scored_batch(v: Vec<Vec<(u32, f32)>>) -> Vec<NativeScoredResult> {
    v.into_iter().map(scored).collect()
}

/// One [`NativeScoredResult`] per query, with its metadata.
pub fn scored_batch_with(v: Vec<ScoredWithMeta>) -> Vec<NativeScoredResult> {
    v.into_iter().map(scored_with).collect()
}

/// A napi status as a `Result`.
fn ok(status: sys::napi_status, what: &str) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(Status::from(status), what))
    }
}
