//! The one place engine errors become JavaScript errors: an `Error` whose `code` property is
//! the engine's stable code (`ERR_…`) and whose message is the engine's message.

use std::panic::{catch_unwind, AssertUnwindSafe};

use napi::bindgen_prelude::{JsError, Unknown};
use napi::Env;
use quiver_engine::{Error as EngineError, ErrorCode};

/// A status string carrying our code into napi's error constructor.
struct Code(&'static str);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0
    }
}

/// Builds the JS error object for `e` and returns a napi error that refers to it, so napi
/// throws (or rejects with) exactly that object, `code` property included.
pub fn to_js(env: &Env, e: EngineError) -> napi::Error {
    let message = e.message.clone();
    let js = JsError::from(napi::Error::new(Code(e.code.as_str()), e.message));
    // SAFETY: `env` is the live environment of the current JS-thread call (sync methods and
    // `Task::resolve` both run on the JS thread), which is what `into_value` requires.
    let value = unsafe { js.into_value(env.raw()) };
    if value.is_null() {
        // The environment is shutting down; nothing can receive the error anyway.
        return napi::Error::from_reason(format!("{}: {message}", e.code.as_str()));
    }
    // SAFETY: `value` was just created in `env` and is a valid napi_value for this scope.
    let unknown = unsafe { Unknown::from_raw_unchecked(env.raw(), value) };
    napi::Error::from(unknown)
}

/// Runs engine code, turning a panic into `ERR_INTERNAL` so no panic crosses the FFI edge.
pub fn guard<T>(f: impl FnOnce() -> Result<T, EngineError>) -> Result<T, EngineError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(EngineError::new(
                ErrorCode::Internal,
                format!("internal error (please report it): {what}"),
            ))
        }
    }
}
