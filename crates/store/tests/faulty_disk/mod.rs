//! A redb [`StorageBackend`] over a simulated disk with a page cache, which fails a chosen
//! write or fsync and counts every call, for the store's fault tests.
//!
//! Reads see every write made so far (the page cache, redb's [`InMemoryBackend`]). A write
//! becomes durable only when a later `sync_data` succeeds. A failed `sync_data` drops the
//! writes it should have made durable, as Linux may after a failed fsync (it marks the dirty
//! pages clean): a retried fsync would then succeed over lost data, which is why the store
//! must never retry one. [`Disk::after_power_loss`] is the disk a restarted machine finds.
//!
//! Injected failures are one-shot: the call after a failed one would succeed, so only the
//! store's own refusal keeps it from writing on.

use std::fmt;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use redb::StorageBackend;
use redb::backends::InMemoryBackend;

/// ENOSPC as the OS reports it: "No space left on device (os error 28)".
pub fn enospc() -> io::Error {
    io::Error::from_raw_os_error(28)
}

/// A full disk as only an `ErrorKind` (a backend that is not a file, say).
pub fn storage_full() -> io::Error {
    io::Error::from(io::ErrorKind::StorageFull)
}

/// EIO: "Input/output error (os error 5)".
pub fn eio() -> io::Error {
    io::Error::from_raw_os_error(5)
}

/// Calls the disk has seen, failed ones included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// `write` calls.
    pub writes: u64,
    /// `sync_data` calls.
    pub syncs: u64,
    /// Injected write failures that fired.
    pub failed_writes: u64,
    /// Injected fsync failures that fired.
    pub failed_syncs: u64,
}

/// A change not yet durable.
enum Change {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

struct State {
    cache: InMemoryBackend,
    /// What a power loss leaves: the cache as of the last successful sync.
    durable: Vec<u8>,
    pending: Vec<Change>,
    /// The write failure to inject: calls left until it fires, and the error.
    fail_write: Option<(u64, fn() -> io::Error)>,
    /// Sync calls left until the injected fsync failure fires.
    fail_sync: Option<u64>,
    stats: DiskStats,
}

/// Counts one call against an armed failure; whether it fires now.
fn fires(armed: &mut Option<u64>) -> bool {
    match armed {
        Some(1) => {
            *armed = None;
            true
        }
        Some(left) => {
            *left -= 1;
            false
        }
        None => false,
    }
}

fn apply(image: &mut Vec<u8>, change: &Change) {
    match change {
        Change::SetLen(len) => image.resize(to_usize(*len), 0),
        Change::Write(offset, data) => {
            let at = to_usize(*offset);
            if image.len() < at + data.len() {
                image.resize(at + data.len(), 0);
            }
            image[at..at + data.len()].copy_from_slice(data);
        }
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The disk, shared by every backend opened on it (one at a time, as one file by one process).
#[derive(Clone)]
pub struct Disk {
    state: Arc<(Mutex<State>, Condvar)>,
}

impl fmt::Debug for Disk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Disk")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Disk {
    /// An empty disk.
    pub fn new() -> Disk {
        Disk::holding(Vec::new())
    }

    /// A disk holding `image`, as if synced.
    pub fn holding(image: Vec<u8>) -> Disk {
        let durable = image;
        let cache = InMemoryBackend::new();
        let len = durable.len() as u64;
        cache
            .set_len(len)
            .and_then(|()| cache.write(0, &durable))
            .unwrap_or_else(|e| panic!("the in-memory backend refused {len} bytes: {e}"));
        Disk {
            state: Arc::new((
                Mutex::new(State {
                    cache,
                    durable,
                    pending: Vec::new(),
                    fail_write: None,
                    fail_sync: None,
                    stats: DiskStats::default(),
                }),
                Condvar::new(),
            )),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A backend for redb on this disk.
    pub fn backend(&self) -> DiskBackend {
        DiskBackend { disk: self.clone() }
    }

    /// The disk after a power loss: what was synced, nothing more; no failure armed, counters
    /// at zero. This disk stays as it was.
    pub fn after_power_loss(&self) -> Disk {
        Disk::holding(self.lock().durable.clone())
    }

    /// What a power loss now would leave.
    pub fn durable_image(&self) -> Vec<u8> {
        self.lock().durable.clone()
    }

    /// Makes the `n`-th next `write` (1: the next one) fail with `error()`, once.
    pub fn fail_write_after(&self, n: u64, error: fn() -> io::Error) {
        self.lock().fail_write = Some((n.max(1), error));
    }

    /// Makes the `n`-th next `sync_data` (1: the next one) fail with EIO, once.
    pub fn fail_sync_after(&self, n: u64) {
        self.lock().fail_sync = Some(n.max(1));
    }

    /// The calls so far.
    pub fn stats(&self) -> DiskStats {
        self.lock().stats
    }

    /// Waits until `done(stats)` holds, at most `limit`; whether it does.
    pub fn wait_until(&self, limit: Duration, done: impl Fn(&DiskStats) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        let mut state = self.lock();
        while !done(&state.stats) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .state
                .1
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    fn call<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let out = f(&mut self.lock());
        self.state.1.notify_all();
        out
    }
}

/// A redb backend on a [`Disk`].
pub struct DiskBackend {
    disk: Disk,
}

impl fmt::Debug for DiskBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskBackend")
            .field("disk", &self.disk)
            .finish()
    }
}

impl StorageBackend for DiskBackend {
    fn len(&self) -> Result<u64, io::Error> {
        self.disk.lock().cache.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.disk.lock().cache.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.disk.call(|s| {
            s.cache.set_len(len)?;
            s.pending.push(Change::SetLen(len));
            Ok(())
        })
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        self.disk.call(|s| {
            s.stats.syncs += 1;
            let pending = std::mem::take(&mut s.pending);
            if fires(&mut s.fail_sync) {
                s.stats.failed_syncs += 1;
                // Dropped: the kernel no longer holds them as dirty.
                return Err(eio());
            }
            for change in &pending {
                apply(&mut s.durable, change);
            }
            Ok(())
        })
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.disk.call(|s| {
            s.stats.writes += 1;
            let mut left = s.fail_write.map(|(n, _)| n);
            let fired = fires(&mut left);
            let error = s.fail_write.map(|(_, e)| e);
            s.fail_write = left.zip(error);
            if let (true, Some(error)) = (fired, error) {
                s.stats.failed_writes += 1;
                return Err(error());
            }
            s.cache.write(offset, data)?;
            s.pending.push(Change::Write(offset, data.to_vec()));
            Ok(())
        })
    }
}
