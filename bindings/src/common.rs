//! The methods every class shares, written once: `close`/`closed` for every class with a
//! `handle: Handle<_>`, and remove/save/close for the index classes, whose handle owns an
//! engine object that implements [`quiver_engine::Store`] and which report their native
//! memory to V8 through an `external: Arc<External>` field.

/// Adds `remove`/`removeSync`, `save`/`saveSync`, `close`/`closed` and the finalizer that
/// withdraws the reported memory to a class with `handle: Handle<impl Store>` and
/// `external: Arc<crate::tasks::External>` fields (declared `#[napi(custom_finalize)]`).
macro_rules! store_methods {
    ($native:ident) => {
        #[napi_derive::napi]
        impl $native {
            /// Removes keys on the index's write thread, after the writes queued before;
            /// resolves to how many were present.
            #[napi(ts_return_type = "Promise<number>")]
            pub fn remove<'env>(
                &self,
                env: &'env napi::Env,
                keys: napi::bindgen_prelude::Uint32Array,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, u32>> {
                let (inner, keys) = (self.handle.get(), keys.to_vec());
                crate::tasks::write_job(
                    env,
                    inner,
                    Some(&self.external),
                    move |store| quiver_engine::Store::remove(store, &keys),
                    |n| n as u32,
                )
            }

            /// Removes keys on the JS thread; returns how many were present.
            #[napi]
            pub fn remove_sync(
                &self,
                env: napi::Env,
                keys: napi::bindgen_prelude::Uint32Array,
            ) -> napi::Result<u32> {
                crate::error::guard(|| {
                    let store = self.handle.get()?;
                    let n = quiver_engine::Store::remove(&*store, &keys)?;
                    self.external.report_store(&env, &*store);
                    Ok(n)
                })
                .map(|n| n as u32)
                .map_err(|e| crate::error::to_js(&env, e))
            }

            /// Saves atomically on the index's write thread: the file holds every write
            /// queued before the call. Searches go on meanwhile.
            #[napi(ts_return_type = "Promise<void>")]
            pub fn save<'env>(
                &self,
                env: &'env napi::Env,
                path: String,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, ()>> {
                crate::tasks::write_job(
                    env,
                    self.handle.get(),
                    None,
                    move |store| quiver_engine::Store::save(store, std::path::Path::new(&path)),
                    |()| (),
                )
            }

            /// Saves atomically on the JS thread.
            #[napi]
            pub fn save_sync(&self, env: napi::Env, path: String) -> napi::Result<()> {
                crate::error::guard(|| {
                    quiver_engine::Store::save(&*self.handle.get()?, std::path::Path::new(&path))
                })
                .map_err(|e| crate::error::to_js(&env, e))
            }

            /// Releases the object now: its memory, thread pool and any file mapping (calls in
            /// flight finish first). Idempotent; every later call fails with `ERR_CLOSED`.
            #[napi]
            pub fn close(&self, env: napi::Env) {
                self.handle.close();
                self.external.report(&env, 0);
            }

            /// Whether `close()` was called.
            #[napi(getter)]
            pub fn closed(&self) -> bool {
                self.handle.is_closed()
            }
        }

        impl napi::bindgen_prelude::ObjectFinalize for $native {
            /// Collected without `close()`: V8 no longer counts the memory.
            fn finalize(self, env: napi::Env) -> napi::Result<()> {
                self.external.report(&env, 0);
                Ok(())
            }
        }
    };
}

/// Adds `count`, `getAttributes` and `getPayload` to a class with a
/// `handle: Handle<quiver_engine::pooled::Pooled<_>>` field (the text and sparse indexes, whose
/// metadata is keyed by the user key).
macro_rules! meta_methods {
    ($native:ident) => {
        #[napi_derive::napi]
        impl $native {
            /// Documents matching a compiled filter (all without one).
            #[napi]
            pub fn count(&self, env: napi::Env, filter: Option<String>) -> napi::Result<u32> {
                crate::error::guard(|| self.handle.get()?.count(filter.as_deref()))
                    .map(|n| n as u32)
                    .map_err(|e| crate::error::to_js(&env, e))
            }

            /// A key's attributes (JSON object text), or null.
            #[napi]
            pub fn get_attributes(&self, env: napi::Env, key: u32) -> napi::Result<Option<String>> {
                crate::tasks::access(&env, &self.handle, |i| i.meta().attributes_json(key))
            }

            /// A key's payload (JSON text), or null.
            #[napi]
            pub fn get_payload(&self, env: napi::Env, key: u32) -> napi::Result<Option<String>> {
                crate::tasks::access(&env, &self.handle, |i| {
                    i.meta().payload(key).map(str::to_owned)
                })
            }
        }
    };
}

/// Adds `close` and `closed` to a class with a `handle: Handle<_>` field.
macro_rules! close_methods {
    ($native:ident) => {
        #[napi_derive::napi]
        impl $native {
            /// Releases the object now: its memory, thread pool and any file mapping (calls in
            /// flight finish first). Idempotent; every later call fails with `ERR_CLOSED`.
            #[napi]
            pub fn close(&self) {
                self.handle.close();
            }

            /// Whether `close()` was called.
            #[napi(getter)]
            pub fn closed(&self) -> bool {
                self.handle.is_closed()
            }
        }
    };
}

pub(crate) use {close_methods, meta_methods, store_methods};
