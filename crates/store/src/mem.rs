//! In-memory stores: [`MemStore`] (every commit durable at once) and [`FaultStore`] (crashes
//! lose unsynced batches; injected failures poison it), for tests and the simulator.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use meridian_crdt::Dot;

use crate::{Batch, Cause, CommitError, LoadError, Loaded, Store};

/// The three tables in memory.
#[derive(Debug, Default, Clone)]
struct Image {
    log: BTreeMap<Dot, Bytes>,
    state: BTreeMap<Bytes, Bytes>,
    meta: BTreeMap<String, Bytes>,
}

impl Image {
    fn apply(&mut self, batch: &Batch) {
        for (dot, op) in &batch.log {
            self.log.insert(*dot, op.clone());
        }
        if let Some(upto) = &batch.truncate {
            for (actor, seq) in upto.iter() {
                let covered: Vec<Dot> = self
                    .log
                    .range(Dot::new(actor, 0)..=Dot::new(actor, seq))
                    .map(|(dot, _)| *dot)
                    .collect();
                for dot in covered {
                    self.log.remove(&dot);
                }
            }
        }
        for (key, value) in &batch.state {
            match value {
                Some(v) => self.state.insert(key.clone(), v.clone()),
                None => self.state.remove(key),
            };
        }
        for (name, value) in &batch.meta {
            self.meta.insert(name.clone(), value.clone());
        }
    }

    fn loaded(&self) -> Loaded {
        Loaded {
            log: self.log.iter().map(|(d, op)| (*d, op.clone())).collect(),
            state: self
                .state
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            meta: self.meta.clone(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a panic elsewhere does not taint it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A store in memory where every commit is durable at once. A clone is another handle on the
/// same memory, so a test can hand one to a [`crate::GroupCommit`] and load through another.
#[derive(Debug, Clone, Default)]
pub struct MemStore {
    image: Arc<Mutex<Image>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemStore {
    fn load(&self) -> Result<Loaded, LoadError> {
        Ok(lock(&self.image).loaded())
    }

    fn commit(&mut self, batch: &Batch, _sync: bool) -> Result<(), CommitError> {
        lock(&self.image).apply(batch);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), CommitError> {
        Ok(())
    }
}

/// Which failure [`FaultStore::fail_after`] injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// The write fails: nothing of the batch is applied ([`CommitError::Write`]).
    Write,
    /// The fsync fails: a committed batch is visible to this process but nothing unsynced
    /// becomes durable, and a crash loses it all, as on Linux, where a failed fsync may drop
    /// the dirty pages ([`CommitError::Fsync`]).
    Fsync,
    /// The disk is full: nothing of the batch is applied ([`CommitError::DiskFull`]).
    DiskFull,
}

/// What a [`FaultStore`]'s disk has seen, across crashes (for the simulator to check that its
/// faults happened).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Successful commits.
    pub commits: u64,
    /// Successful fsyncs (a commit with `sync`, or a `sync`).
    pub syncs: u64,
    /// Committed but unsynced batches lost at crashes, in total.
    pub lost_batches_at_crash: u64,
    /// Crashes.
    pub crashes: u64,
    /// Injected failures that fired.
    pub failures: u64,
}

#[derive(Debug, Default)]
struct Disk {
    durable: Image,
    unsynced: Vec<Batch>,
    /// Incremented at each crash; a handle of an earlier life belongs to a dead process.
    life: u64,
    poisoned: Option<CommitError>,
    armed: Option<(u64, FaultKind)>,
    stats: FaultStats,
}

impl Disk {
    /// Applies the unsynced batches to the durable image.
    fn flush(&mut self) {
        for batch in std::mem::take(&mut self.unsynced) {
            self.durable.apply(&batch);
        }
        self.stats.syncs += 1;
    }

    /// Counts one commit or sync against the armed failure; the failure, if it fires now.
    fn fire(&mut self) -> Option<FaultKind> {
        let (left, kind) = self.armed.as_mut()?;
        *left -= 1;
        if *left > 0 {
            return None;
        }
        let kind = *kind;
        self.armed = None;
        self.stats.failures += 1;
        Some(kind)
    }

    fn poison(&mut self, e: CommitError) -> Result<(), CommitError> {
        self.poisoned = Some(e.clone());
        Err(e)
    }
}

fn injected(kind: FaultKind) -> CommitError {
    match kind {
        FaultKind::Write => CommitError::Write(Cause::msg("injected write failure")),
        FaultKind::Fsync => CommitError::Fsync(Cause::msg("injected fsync failure")),
        FaultKind::DiskFull => {
            CommitError::DiskFull(Cause::msg("injected: no space left on device"))
        }
    }
}

/// An in-memory store that models a disk with a page cache, for the simulator.
///
/// A commit without `sync` is visible at once but durable only after a later sync;
/// [`FaultStore::crash`] loses every unsynced batch and returns the handle of the restarted
/// process, which loads only what was synced. [`FaultStore::fail_after`] makes a chosen
/// commit or sync fail; after a failure, every further commit and sync fails too (the store
/// is poisoned until the next crash, like a process that stops after a failed fsync).
///
/// A clone is another handle of the same process on the same disk. Handles of a process that
/// crashed are dead: their commits fail with [`CommitError::Write`] and loads with
/// [`LoadError::Read`], and change nothing.
#[derive(Debug, Clone, Default)]
pub struct FaultStore {
    disk: Arc<Mutex<Disk>>,
    life: u64,
}

impl FaultStore {
    /// An empty disk.
    pub fn new() -> Self {
        Self::default()
    }

    /// Crashes the process (or the machine): every committed but unsynced batch is lost, an
    /// armed failure and the poison are cleared, and this handle and its clones die. Returns
    /// the handle of the restarted process.
    pub fn crash(&self) -> FaultStore {
        let mut disk = lock(&self.disk);
        disk.stats.lost_batches_at_crash += disk.unsynced.len() as u64;
        disk.stats.crashes += 1;
        disk.unsynced.clear();
        disk.poisoned = None;
        disk.armed = None;
        disk.life += 1;
        FaultStore {
            disk: Arc::clone(&self.disk),
            life: disk.life,
        }
    }

    /// Makes the `n`-th next commit or sync (counting both; 0 counts as 1) fail with `kind`,
    /// replacing any failure armed before.
    pub fn fail_after(&self, n: u64, kind: FaultKind) {
        lock(&self.disk).armed = Some((n.max(1), kind));
    }

    /// The disk's counters.
    pub fn stats(&self) -> FaultStats {
        lock(&self.disk).stats
    }

    /// Number of committed batches that a crash now would lose.
    pub fn unsynced_batches(&self) -> usize {
        lock(&self.disk).unsynced.len()
    }

    /// The disk, if this handle's process is alive and the store not poisoned.
    fn live(&self) -> Result<MutexGuard<'_, Disk>, CommitError> {
        let disk = lock(&self.disk);
        if disk.life != self.life {
            return Err(CommitError::Write(Cause::msg(
                "this store handle belongs to a process that crashed",
            )));
        }
        if let Some(first) = &disk.poisoned {
            return Err(CommitError::after(first));
        }
        Ok(disk)
    }
}

impl Store for FaultStore {
    fn load(&self) -> Result<Loaded, LoadError> {
        let disk = lock(&self.disk);
        if disk.life != self.life {
            return Err(LoadError::Read(Cause::msg(
                "this store handle belongs to a process that crashed",
            )));
        }
        if disk.unsynced.is_empty() {
            return Ok(disk.durable.loaded());
        }
        let mut seen = disk.durable.clone();
        for batch in &disk.unsynced {
            seen.apply(batch);
        }
        Ok(seen.loaded())
    }

    fn commit(&mut self, batch: &Batch, sync: bool) -> Result<(), CommitError> {
        let mut disk = self.live()?;
        match disk.fire() {
            Some(kind @ (FaultKind::Write | FaultKind::DiskFull)) => disk.poison(injected(kind)),
            Some(FaultKind::Fsync) => {
                disk.unsynced.push(batch.clone());
                disk.poison(injected(FaultKind::Fsync))
            }
            None => {
                disk.stats.commits += 1;
                if sync && disk.unsynced.is_empty() {
                    disk.durable.apply(batch);
                    disk.stats.syncs += 1;
                } else {
                    disk.unsynced.push(batch.clone());
                    if sync {
                        disk.flush();
                    }
                }
                Ok(())
            }
        }
    }

    fn sync(&mut self) -> Result<(), CommitError> {
        let mut disk = self.live()?;
        match disk.fire() {
            Some(kind) => disk.poison(injected(kind)),
            None => {
                disk.flush();
                Ok(())
            }
        }
    }
}
