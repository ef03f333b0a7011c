//! [`Handle`]: how a host object owns an engine object it can `close()`. Calls take a cheap
//! shared reference ([`Handle::get`]); `close` drops the handle's reference at once, so the
//! object (its memory, thread pool and file mappings) is freed as soon as the calls already in
//! flight finish, and every later call fails with `ERR_CLOSED`.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::error::{err, Result};

/// What every shared index offers a host besides search: removal by key, an atomic save, and
/// the heap bytes it holds (so a host can tell its garbage collector).
pub trait Store: Send + Sync {
    /// Removes `keys` (unknown keys are ignored); returns how many were present.
    fn remove(&self, keys: &[u32]) -> Result<usize>;
    /// Saves atomically to `path`.
    fn save(&self, path: &std::path::Path) -> Result<()>;
    /// Heap bytes held (the total of its `memory_usage`; mapped file pages are not heap).
    fn heap_bytes(&self) -> usize;
    /// The queue its asynchronous writes (adds, removes, saves) run through, in order, on the
    /// index's own write thread.
    fn writes(&self) -> &Arc<crate::writes::WriteQueue>;
}

macro_rules! impl_store {
    ($($t:ty => |$s:ident| $bytes:expr),*) => {$(
        impl Store for $t {
            fn remove(&self, keys: &[u32]) -> Result<usize> {
                <$t>::remove(self, keys)
            }
            fn save(&self, path: &std::path::Path) -> Result<()> {
                <$t>::save(self, path)
            }
            fn heap_bytes(&self) -> usize {
                let $s = self;
                $bytes
            }
            fn writes(&self) -> &Arc<crate::writes::WriteQueue> {
                &self.writes
            }
        }
    )*};
}
impl_store!(
    crate::SharedIndex => |s| s.read().memory_usage().total(),
    crate::multi_vector::SharedMultiIndex => |s| s.read().memory_usage().total(),
    crate::text_index::SharedTextIndex => |s| s.heap_bytes(),
    crate::sparse_index::SharedSparseIndex => |s| s.heap_bytes()
);

/// A closable shared owner of a `T`.
pub struct Handle<T> {
    inner: RwLock<Option<Arc<T>>>,
    what: &'static str,
}

impl<T> Handle<T> {
    /// Owns `value`; `what` names it in the `ERR_CLOSED` message (e.g. `"VectorIndex"`).
    pub fn new(value: T, what: &'static str) -> Self {
        Handle {
            inner: RwLock::new(Some(Arc::new(value))),
            what,
        }
    }

    /// A reference for one call, or `ERR_CLOSED`.
    pub fn get(&self) -> Result<Arc<T>> {
        self.inner
            .read()
            .clone()
            .ok_or_else(|| err!(Closed, "this {} was closed", self.what))
    }

    /// Drops the handle's reference (idempotent). Returns whether this call closed it.
    pub fn close(&self) -> bool {
        self.inner.write().take().is_some()
    }

    /// Whether `close` was called.
    pub fn is_closed(&self) -> bool {
        self.inner.read().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn close_frees_when_the_last_call_ends() {
        let h = Handle::new(vec![1u8; 16], "thing");
        let in_flight = h.get().expect("open");
        assert!(h.close());
        assert!(!h.close(), "idempotent");
        assert!(h.is_closed());
        assert_eq!(h.get().err().map(|e| e.code), Some(ErrorCode::Closed));
        let weak = Arc::downgrade(&in_flight);
        assert!(weak.upgrade().is_some(), "a call in flight keeps it alive");
        drop(in_flight);
        assert!(weak.upgrade().is_none(), "freed once that call ends");
    }
}
