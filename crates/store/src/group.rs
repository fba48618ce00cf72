//! Group commit: one writer thread owns the store, merges every queued batch into one commit
//! and at most one fsync, then acknowledges them together.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::{Batch, CommitError, Store};

/// When a node's writes are made durable, and so what a crash can take back.
///
/// The losses below are of *acknowledged* writes, on [`crate::RedbStore`]. redb keeps a
/// commit made without fsync (`Durability::None`) in the process's memory: its pages may
/// reach the file, but the header that makes them reachable is written only by the next
/// fsynced commit or a clean close. So unlike Redis's `appendfsync everysec`, where an
/// acknowledged write is already in the OS page cache, an unsynced commit does not survive
/// even a crash of the process alone (kill -9, abort, OOM kill).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FsyncPolicy {
    /// Acknowledge after the batch's commit is fsynced. Nothing acknowledged is lost by a
    /// process crash, a kernel crash or a power loss (as far as the device honours flushes).
    Always,
    /// Acknowledge after the commit; fsync at most one interval after the first unsynced
    /// commit (by a timer when idle, right after a commit under load). A crash of the process
    /// or the machine loses the acknowledged writes since the last fsync: about one interval.
    Periodic(Duration),
    /// Acknowledge after the commit; no fsync is ever awaited or timed for the sake of local
    /// durability. The writer still syncs in the background, once a second
    /// ([`FsyncPolicy::NEVER_SYNC_INTERVAL`]), because an op leaves its region only once
    /// synced (a crash must never take back an op that other regions hold, or built on). A
    /// crash of the process or the machine loses the acknowledged writes since the last of
    /// those syncs.
    Never,
}

impl FsyncPolicy {
    /// The interval of `periodic` when none is given.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);

    /// How often the writer syncs under `never`: only so that ops can leave the region.
    pub const NEVER_SYNC_INTERVAL: Duration = Duration::from_secs(1);

    /// How long a commit may stay unsynced: `None` under `always`, which syncs every commit.
    pub fn sync_interval(self) -> Option<Duration> {
        match self {
            FsyncPolicy::Always => None,
            FsyncPolicy::Periodic(every) => Some(every),
            FsyncPolicy::Never => Some(Self::NEVER_SYNC_INTERVAL),
        }
    }
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsyncPolicy::Always => f.write_str("always"),
            FsyncPolicy::Periodic(d) => write!(f, "periodic:{}ms", d.as_millis()),
            FsyncPolicy::Never => f.write_str("never"),
        }
    }
}

/// A string that is not an fsync policy.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "invalid fsync policy {0:?}: expected \"always\", \"never\", \"periodic\" or \"periodic:<n>ms\" / \"periodic:<n>s\""
)]
pub struct ParsePolicyError(pub String);

impl FromStr for FsyncPolicy {
    type Err = ParsePolicyError;

    /// `always`, `never`, `periodic` (every 100 ms), `periodic:250ms`, `periodic:1s`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParsePolicyError(s.to_owned());
        match s {
            "always" => return Ok(FsyncPolicy::Always),
            "never" => return Ok(FsyncPolicy::Never),
            "periodic" => return Ok(FsyncPolicy::Periodic(Self::DEFAULT_INTERVAL)),
            _ => {}
        }
        let every = s.strip_prefix("periodic:").ok_or_else(bad)?;
        let (digits, unit) = if let Some(ms) = every.strip_suffix("ms") {
            (ms, Duration::from_millis(1))
        } else if let Some(secs) = every.strip_suffix('s') {
            (secs, Duration::from_secs(1))
        } else {
            return Err(bad());
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let n: u32 = digits.parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(bad());
        }
        Ok(FsyncPolicy::Periodic(unit * n))
    }
}

/// What the writer has done so far (for benchmarks and metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Batches submitted.
    pub submitted: u64,
    /// Batches whose commit has been reported (success or failure).
    pub reported: u64,
    /// Successful store commits (each of one or more merged batches).
    pub commits: u64,
    /// Successful fsyncs (commits with sync, and syncs).
    pub fsyncs: u64,
    /// Most batches merged into one commit.
    pub max_merged: u64,
    /// Records (log, state and meta entries) committed.
    pub records: u64,
}

#[derive(Debug, Default)]
struct Counters {
    submitted: AtomicU64,
    reported: AtomicU64,
    commits: AtomicU64,
    fsyncs: AtomicU64,
    max_merged: AtomicU64,
    records: AtomicU64,
}

impl Counters {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

type Done = Box<dyn FnOnce(Result<(), CommitError>) + Send>;

struct Job {
    batch: Batch,
    done: Done,
    /// Called once the batch is synced too (`submit_staged`).
    synced: Option<Done>,
}

/// Stop merging queued batches once a group holds this many records.
const MAX_GROUP_RECORDS: usize = 100_000;

/// The store's writer: a thread that owns the store and commits in groups.
///
/// Each round it takes every batch queued (up to about 100 000 records), merges
/// them in submission order into one batch, commits it once (with fsync under
/// [`FsyncPolicy::Always`]) and then resolves all their tickets together. After a failed
/// commit or fsync, the failing group and every later one get the error
/// ([`CommitError::Failed`] naming the first failure for the later ones): the writer never
/// retries and never reports success again. Dropping it without [`GroupCommit::shutdown`]
/// does the same work (drain, final sync, join) but discards the result.
pub struct GroupCommit {
    tx: Option<Sender<Job>>,
    writer: Option<JoinHandle<Result<(), CommitError>>>,
    counters: Arc<Counters>,
    policy: FsyncPolicy,
}

impl fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCommit")
            .field("policy", &self.policy)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// Spawns the writer thread, which owns `store` from now on.
    pub fn start(store: impl Store, policy: FsyncPolicy) -> GroupCommit {
        let (tx, rx) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            store,
            policy,
            rx,
            counters: Arc::clone(&counters),
            failed: None,
            sync_due: None,
            awaiting_sync: Vec::new(),
        };
        let writer = thread::Builder::new()
            .name("meridian-store-writer".into())
            .spawn(move || writer.run())
            .unwrap_or_else(|e| panic!("cannot spawn the store writer thread: {e}"));
        GroupCommit {
            tx: Some(tx),
            writer: Some(writer),
            counters,
            policy,
        }
    }

    /// The policy the writer follows.
    pub fn policy(&self) -> FsyncPolicy {
        self.policy
    }

    /// Queues a batch; the ticket resolves when it is committed under the policy (`Always`:
    /// after the fsync; `Periodic`, `Never`: after the commit).
    pub fn submit(&self, batch: Batch) -> Ticket {
        let (tx, rx) = mpsc::channel();
        self.submit_with(batch, move |result| {
            // The ticket may have been dropped: nobody is waiting, nothing to do.
            let _ = tx.send(result);
        });
        Ticket { rx, outcome: None }
    }

    /// Queues a batch; `done` is called on the writer thread with the outcome, as a ticket
    /// would resolve (or at once on this thread if the writer is gone). `done` must not block:
    /// every other acknowledgement waits for it. A panic in it is caught and ignored.
    pub fn submit_with(
        &self,
        batch: Batch,
        done: impl FnOnce(Result<(), CommitError>) + Send + 'static,
    ) {
        self.enqueue(Job {
            batch,
            done: Box::new(done),
            synced: None,
        });
    }

    /// Queues a batch and hears of it twice: `committed` as [`GroupCommit::submit_with`]'s
    /// `done` (after the commit, or after its fsync under `always`), then `synced` once an
    /// fsync covers it (right after `committed` under `always`). A batch whose commit failed
    /// gets no `synced` call; one whose commit succeeded always gets exactly one, with `Err`
    /// if the fsync that was to cover it failed, or if the writer stopped before it. Both run
    /// on the writer thread, in submission order among batches, and must not block.
    pub fn submit_staged(
        &self,
        batch: Batch,
        committed: impl FnOnce(Result<(), CommitError>) + Send + 'static,
        synced: impl FnOnce(Result<(), CommitError>) + Send + 'static,
    ) {
        self.enqueue(Job {
            batch,
            done: Box::new(committed),
            synced: Some(Box::new(synced)),
        });
    }

    fn enqueue(&self, job: Job) {
        Counters::add(&self.counters.submitted, 1);
        let refused = match &self.tx {
            Some(tx) => tx.send(job).err().map(|e| e.0),
            None => Some(job),
        };
        if let Some(job) = refused {
            Counters::add(&self.counters.reported, 1);
            (job.done)(Err(CommitError::WriterGone));
        }
    }

    /// The writer's counters so far.
    pub fn stats(&self) -> GroupCommitStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        GroupCommitStats {
            submitted: get(&c.submitted),
            reported: get(&c.reported),
            commits: get(&c.commits),
            fsyncs: get(&c.fsyncs),
            max_merged: get(&c.max_merged),
            records: get(&c.records),
        }
    }

    /// Commits everything queued, syncs, and stops the writer. The error is the failure that
    /// stopped the writer, if one did (earlier or in this final sync).
    pub fn shutdown(mut self) -> Result<(), CommitError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), CommitError> {
        // Disconnecting lets the writer drain what is queued, then return.
        self.tx = None;
        match self.writer.take() {
            Some(writer) => writer.join().unwrap_or(Err(CommitError::WriterGone)),
            None => Ok(()),
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        // The caller chose not to hear about a failure of the final sync.
        let _ = self.stop();
    }
}

/// The outcome of one submitted batch, once the writer reports it.
#[derive(Debug)]
pub struct Ticket {
    rx: Receiver<Result<(), CommitError>>,
    outcome: Option<Result<(), CommitError>>,
}

impl Ticket {
    /// Blocks until the batch is committed under the policy, or failed.
    pub fn wait(self) -> Result<(), CommitError> {
        match self.outcome {
            Some(outcome) => outcome,
            None => self.rx.recv().unwrap_or(Err(CommitError::WriterGone)),
        }
    }

    /// Blocks at most `timeout`; `None` if the batch is still pending.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Result<(), CommitError>> {
        if self.outcome.is_none() {
            self.outcome = match self.rx.recv_timeout(timeout) {
                Ok(outcome) => Some(outcome),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => Some(Err(CommitError::WriterGone)),
            };
        }
        self.outcome.clone()
    }

    /// The outcome if known, without blocking; `None` while the batch is pending.
    pub fn try_wait(&mut self) -> Option<Result<(), CommitError>> {
        if self.outcome.is_none() {
            self.outcome = match self.rx.try_recv() {
                Ok(outcome) => Some(outcome),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => Some(Err(CommitError::WriterGone)),
            };
        }
        self.outcome.clone()
    }
}

struct Writer<S> {
    store: S,
    policy: FsyncPolicy,
    rx: Receiver<Job>,
    counters: Arc<Counters>,
    /// The failure that stopped the writer.
    failed: Option<CommitError>,
    /// When the oldest unsynced commit must be synced (`Periodic`, `Never`).
    sync_due: Option<Instant>,
    /// `synced` callbacks of committed batches no fsync covers yet, in submission order.
    awaiting_sync: Vec<Done>,
}

impl<S: Store> Writer<S> {
    fn run(mut self) -> Result<(), CommitError> {
        loop {
            let first = match self.sync_due {
                Some(due) => match self
                    .rx
                    .recv_timeout(due.saturating_duration_since(Instant::now()))
                {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => {
                        self.sync();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match self.rx.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                },
            };
            self.commit_group(first);
            if self.sync_due.is_some_and(|due| due <= Instant::now()) {
                self.sync();
            }
        }
        if self.sync_due.is_some() || !self.awaiting_sync.is_empty() {
            self.sync();
        }
        match &self.failed {
            Some(first) => Err(first.clone()),
            None => Ok(()),
        }
    }

    fn commit_group(&mut self, first: Job) {
        let mut records = first.batch.records();
        let mut merged = first.batch;
        let mut dones = vec![first.done];
        let mut synced: Vec<Done> = first.synced.into_iter().collect();
        while records < MAX_GROUP_RECORDS {
            let Ok(job) = self.rx.try_recv() else { break };
            records += job.batch.records();
            merged.merge(job.batch);
            dones.push(job.done);
            synced.extend(job.synced);
        }
        let c = &self.counters;
        c.max_merged
            .fetch_max(dones.len() as u64, Ordering::Relaxed);

        let result = match &self.failed {
            Some(first) => Err(CommitError::after(first)),
            None => {
                let always = self.policy == FsyncPolicy::Always;
                let result = self.store.commit(&merged, always);
                match &result {
                    Ok(()) => {
                        Counters::add(&c.commits, 1);
                        Counters::add(&c.records, records as u64);
                        match self.policy.sync_interval() {
                            None => Counters::add(&c.fsyncs, 1),
                            Some(every) if self.sync_due.is_none() => {
                                self.sync_due = Some(
                                    Instant::now().checked_add(every).unwrap_or_else(far_future),
                                );
                            }
                            Some(_) => {}
                        }
                    }
                    Err(e) => self.failed = Some(e.clone()),
                }
                result
            }
        };
        Counters::add(&c.reported, dones.len() as u64);
        report(dones, &result);
        match result {
            Ok(()) if self.policy == FsyncPolicy::Always => report(synced, &Ok(())),
            Ok(()) => self.awaiting_sync.extend(synced),
            // A failed commit gets no `synced` call (its `committed` said it failed); batches
            // committed before it will never be synced by this store either.
            Err(e) => {
                let earlier = std::mem::take(&mut self.awaiting_sync);
                report(earlier, &Err(CommitError::after(&e)));
            }
        }
    }

    fn sync(&mut self) {
        self.sync_due = None;
        let awaiting = std::mem::take(&mut self.awaiting_sync);
        let result = match &self.failed {
            Some(first) => Err(CommitError::after(first)),
            None => match self.store.sync() {
                Ok(()) => {
                    Counters::add(&self.counters.fsyncs, 1);
                    Ok(())
                }
                Err(e) => {
                    self.failed = Some(e.clone());
                    Err(e)
                }
            },
        };
        report(awaiting, &result);
    }
}

/// Calls every callback with `result`, in order.
fn report(callbacks: Vec<Done>, result: &Result<(), CommitError>) {
    for callback in callbacks {
        let result = result.clone();
        // A panicking callback must not take the other acknowledgements down with it.
        let _ = catch_unwind(AssertUnwindSafe(move || callback(result)));
    }
}

fn far_future() -> Instant {
    // About thirty years: never reached by a running process.
    Instant::now() + Duration::from_secs(1 << 30)
}
