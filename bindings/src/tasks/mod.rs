//! Every async method's work in one shape: [`Job`] runs an engine closure on a libuv worker
//! (panics caught by [`guard`]) and converts its output to a JS value on the JS thread; engine
//! errors reject the promise with a coded error.
//!
//! The closures own everything they read. Typed-array inputs are copied into Rust memory on
//! the JS thread before the job is queued, so a caller that transfers, detaches or reuses a
//! buffer while the promise is pending cannot change or free what the worker reads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, FnArgs, ToNapiValue, TypeName, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Task};
use quiver_engine::{Error as EngineError, ErrorCode, Handle};

use crate::error::{guard, to_js};

/// Engine work to run off the JS thread.
type Work<T> = Box<dyn FnOnce() -> Result<T, EngineError> + Send>;

/// One async call: the work, then the conversion of its output.
pub struct Job<T, J> {
    work: Option<Work<T>>,
    done: fn(T) -> J,
}

/// Queues `work` on the libuv pool; the promise resolves to `done(output)`.
pub fn job<T, J>(
    work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
    done: fn(T) -> J,
) -> AsyncTask<Job<T, J>>
where
    T: Send + 'static,
    J: ToNapiValue + TypeName,
{
    AsyncTask::new(Job {
        work: Some(Box::new(work)),
        done,
    })
}

impl<T, J> Task for Job<T, J>
where
    T: Send + 'static,
    J: ToNapiValue + TypeName,
{
    type Output = Result<T, EngineError>;
    type JsValue = J;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(match self.work.take() {
            Some(work) => guard(work),
            None => Err(EngineError::new(
                ErrorCode::Internal,
                "an async task was run twice",
            )),
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<J> {
        output.map(self.done).map_err(|e| to_js(&env, e))
    }
}

/// Progress callback: `(err, done, total)`, called without blocking the worker.
pub type Progress = ThreadsafeFunction<FnArgs<(u32, u32)>, Unknown<'static>, FnArgs<(u32, u32)>>;

/// Relays `(done, total)` to an optional JS progress callback without blocking.
pub fn report(progress: Option<&Progress>) -> impl Fn(usize, usize) + Sync + '_ {
    move |done, total| {
        if let Some(p) = progress {
            p.call(
                Ok((done as u32, total as u32).into()),
                ThreadsafeFunctionCallMode::NonBlocking,
            );
        }
    }
}

/// `ERR_ABORTED` if `cancel` is set: a search whose signal fired while it was queued does not
/// start.
pub fn check_cancel(cancel: &AtomicBool) -> Result<(), EngineError> {
    if cancel.load(Ordering::Relaxed) {
        Err(EngineError::new(ErrorCode::Aborted, "search aborted"))
    } else {
        Ok(())
    }
}

/// A cancel flag shared with a JS `CancelToken` (or a fresh, never-set one).
pub type CancelFlag = Arc<AtomicBool>;

/// Runs a quick accessor on the object behind `handle` on the JS thread (`ERR_CLOSED` once the
/// object is closed).
pub fn access<T, R>(env: &Env, handle: &Handle<T>, f: impl FnOnce(&T) -> R) -> napi::Result<R> {
    handle.get().map(|t| f(&t)).map_err(|e| to_js(env, e))
}
