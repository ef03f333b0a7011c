//! Every async method's work in one of two shapes. Reads and loads: [`Job`] runs an engine
//! closure on a libuv worker (panics caught by [`guard`]) and converts its output to a JS
//! value on the JS thread. Writes: [`write_job`] queues the closure on the index's own write
//! thread and settles a promise from there. Engine errors reject the promise with a coded
//! error.
//!
//! The closures own everything they read. Typed-array inputs are copied into Rust memory on
//! the JS thread before the job is queued, so a caller that transfers, detaches or reuses a
//! buffer while the promise is pending cannot change or free what the worker reads.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use napi::bindgen_prelude::{AsyncTask, FnArgs, PromiseRaw, ToNapiValue, TypeName, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Task};
use quiver_engine::{Error as EngineError, ErrorCode, Handle, Store};

use crate::error::{guard, to_js};

/// Engine work to run off the JS thread.
type Work<T> = Box<dyn FnOnce() -> Result<T, EngineError> + Send>;

/// One async call: the work, then the conversion of its output.
pub struct Job<T, J> {
    work: Option<Work<T>>,
    done: fn(T) -> J,
    /// Where the heap bytes the work measured when it finished are reported.
    report: Report<J>,
}

/// Whom a job reports the native memory of its object to.
enum Report<J> {
    /// Not a write.
    Nothing,
    /// A new object (a load): its [`External`], reached once it is built.
    Open(fn(&J) -> &External, Arc<AtomicUsize>),
}

/// The native memory one JS object has reported to V8 (`napi_adjust_external_memory`), so
/// that V8's garbage collector weighs what an index holds. Updated after writes, from the heap
/// bytes measured on the worker when the write finished (the JS thread never takes an index
/// lock for it); withdrawn at `close()` and when the object is collected.
///
/// Measuring walks the text and sparse indexes' term lists, so a stream of small writes
/// measures at most once per [`MEASURE_EVERY_MS`]: a write's cost stays independent of the
/// index size, and the report lags a burst of writes by at most that long (until the next
/// write).
#[derive(Debug, Default)]
pub struct External {
    reported: AtomicI64,
    /// When the last measurement was taken, in ms since [`epoch_ms`]'s origin (0: never).
    measured_at: AtomicU64,
}

/// Writes measure an index's memory at most this often.
pub const MEASURE_EVERY_MS: u64 = 100;

/// Milliseconds since the first call (monotonic), plus 1 so that 0 means "never".
fn epoch_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
}

impl External {
    /// Reports `bytes` as what the object holds now: V8 is told the difference from the last
    /// report.
    pub fn report(&self, env: &Env, bytes: usize) {
        let now = i64::try_from(bytes).unwrap_or(i64::MAX);
        let before = self.reported.swap(now, Ordering::Relaxed);
        if now != before {
            // Only V8's accounting is affected if this fails; nothing to undo.
            let _ = env.adjust_external_memory(now - before);
        }
    }

    /// Whether a write should measure now (at most once per [`MEASURE_EVERY_MS`]); claims
    /// the slot when it says yes.
    pub fn due(&self) -> bool {
        let now = epoch_ms();
        let last = self.measured_at.load(Ordering::Relaxed);
        (last == 0 || now.saturating_sub(last) >= MEASURE_EVERY_MS)
            && self
                .measured_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Reports what `store` holds now, if a measurement is due (for writes already on the
    /// JS thread).
    pub fn report_store<S: Store + ?Sized>(&self, env: &Env, store: &S) {
        if self.due() {
            self.report(env, store.heap_bytes());
        }
    }
}

/// [`open_job`] on the JS thread (a constructor, a sync load): wraps `store` and reports its
/// heap bytes.
pub fn open_now<S: Store, J>(
    env: &Env,
    store: S,
    wrap: fn(S) -> J,
    external: fn(&J) -> &External,
) -> J {
    let bytes = store.heap_bytes();
    let out = wrap(store);
    external(&out).report(env, bytes);
    out
}

/// Marker of a write whose bytes are not measured yet.
const UNMEASURED: usize = usize::MAX;

/// What settles a queued write's promise, on the JS thread.
type Settle<J> = Box<dyn FnOnce(Env) -> napi::Result<J> + Send>;

/// A write on `store` (an add, remove, train or save): queued on the index's own write
/// thread ([`quiver_engine::writes::WriteQueue`]) rather than on libuv's pool, so writes
/// waiting for one another never hold a pool thread that searches need. The promise resolves
/// to `done(output)` on the JS thread. With `external`, the heap bytes measured after the work
/// are reported to V8 through it.
pub fn write_job<'env, S, T, J>(
    env: &'env Env,
    store: Result<Arc<S>, EngineError>,
    external: Option<&Arc<External>>,
    work: impl FnOnce(&S) -> Result<T, EngineError> + Send + 'static,
    done: fn(T) -> J,
) -> napi::Result<PromiseRaw<'env, J>>
where
    S: Store + ?Sized + 'static,
    T: Send + 'static,
    J: ToNapiValue + Send + 'static,
{
    let (deferred, promise) = env.create_deferred::<J, Settle<J>>()?;
    let promise = PromiseRaw::new(env.raw(), napi::JsValue::raw(&promise));
    let store = match store {
        Ok(store) => store,
        Err(e) => {
            deferred.resolve(Box::new(move |env| Err(to_js(&env, e))));
            return Ok(promise);
        }
    };
    let external = external.cloned();
    let queue = Arc::clone(store.writes());
    queue.submit(Box::new(move || {
        let out = guard(|| work(&store));
        let bytes = external
            .as_ref()
            .filter(|e| e.due())
            .map(|_| store.heap_bytes());
        // The index is not kept alive by a settled write (a `close()` meanwhile frees it).
        drop(store);
        deferred.resolve(Box::new(move |env| {
            if let (Some(external), Some(bytes)) = (&external, bytes) {
                external.report(&env, bytes);
            }
            out.map(done).map_err(|e| to_js(&env, e))
        }));
    }));
    Ok(promise)
}

/// Like [`job`] for a call that creates an object (a load): `work` builds the engine object,
/// its heap bytes are measured on the worker, `done` wraps it, and the bytes are reported
/// through the new object's [`External`] (`external` finds it).
pub fn open_job<S, J>(
    work: impl FnOnce() -> Result<S, EngineError> + Send + 'static,
    done: fn(S) -> J,
    external: fn(&J) -> &External,
) -> AsyncTask<Job<S, J>>
where
    S: Store + Send + 'static,
    J: ToNapiValue + TypeName,
{
    let bytes = Arc::new(AtomicUsize::new(UNMEASURED));
    let measured = Arc::clone(&bytes);
    AsyncTask::new(Job {
        work: Some(Box::new(move || {
            let store = work()?;
            measured.store(store.heap_bytes(), Ordering::Relaxed);
            Ok(store)
        })),
        done,
        report: Report::Open(external, bytes),
    })
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
        report: Report::Nothing,
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
        let measured =
            |bytes: &AtomicUsize| Some(bytes.load(Ordering::Relaxed)).filter(|&b| b != UNMEASURED);
        let out = output.map(self.done).map_err(|e| to_js(&env, e))?;
        if let Report::Open(external, bytes) = &self.report {
            if let Some(b) = measured(bytes) {
                external(&out).report(&env, b);
            }
        }
        Ok(out)
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
