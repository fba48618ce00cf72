//! A backend wrapper that remembers which call failed: redb reports a failed write and a
//! failed fsync alike (an `Io` error out of `commit`), and the store must say which it was.

use std::io;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use redb::{BackendError, StorageBackend};

/// A backend call that can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    Len = 1,
    Read,
    SetLen,
    Write,
    Sync,
}

impl Call {
    const ALL: [Call; 5] = [Call::Len, Call::Read, Call::SetLen, Call::Write, Call::Sync];
}

/// The backend call that failed last, shared between a [`Watched`] backend and its store.
#[derive(Debug, Default)]
pub(crate) struct LastFailure(AtomicU8);

impl LastFailure {
    fn record(&self, call: Call) {
        self.0.store(call as u8, Ordering::Release);
    }

    /// The call that failed since the last `take`, if any.
    pub(crate) fn take(&self) -> Option<Call> {
        let code = self.0.swap(0, Ordering::AcqRel);
        Call::ALL.into_iter().find(|c| *c as u8 == code)
    }
}

/// `inner`, recording every failed call in `failed`; lock calls pass through unwatched.
#[derive(Debug)]
pub(crate) struct Watched<B> {
    pub(crate) inner: B,
    pub(crate) failed: Arc<LastFailure>,
}

impl<B> Watched<B> {
    fn watch<T>(&self, call: Call, result: Result<T, io::Error>) -> Result<T, io::Error> {
        if result.is_err() {
            self.failed.record(call);
        }
        result
    }
}

impl<B: StorageBackend> StorageBackend for Watched<B> {
    fn len(&self) -> Result<u64, io::Error> {
        self.watch(Call::Len, self.inner.len())
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.watch(Call::Read, self.inner.read(offset, out))
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.watch(Call::SetLen, self.inner.set_len(len))
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        self.watch(Call::Sync, self.inner.sync_data())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.watch(Call::Write, self.inner.write(offset, data))
    }

    fn close(&self) -> Result<(), io::Error> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}
