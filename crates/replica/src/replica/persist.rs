//! The persistence pipeline: batches handed to the driver, written, then synced.
//!
//! A batch takes two steps after [`Output::Persist`] hands it out.
//!
//! - **Written** ([`Replica::handle_written`]): its ops are in the log (and, at a checkpoint,
//!   the state of the keys changed since the last one is in the store), but under `periodic`
//!   and `never` a crash can still take them back. Local writes are acknowledged here (that is
//!   what those policies promise) and received ops applied.
//! - **Synced** ([`Replica::handle_synced`]): an fsync covers it. Only now are its ops sent to
//!   neighbours, counted in this node's row of the matrix clock and in its Hello, and a
//!   snapshot holding our own ops released.
//!
//! Why an op leaves a node only once synced there. If it left before, a crash could take it
//! back after other nodes hold it: (a) their matrix rows would keep claiming it for us (rows
//! only grow), so stability, counter compaction and a restarted node's history gate would
//! count on an op that is gone; (b) an op written on top of it (its `deps` covering it) could
//! survive elsewhere while the op itself was lost at every node that held it, and could then
//! never be applied anywhere. The simulator found both under `periodic` and `never`
//! (`crates/sim/tests/storage.rs`). Once every op is synced at its sender before it leaves,
//! any op a node holds is durable at some node, and so is everything it depends on: an op's
//! batch is synced only after every earlier batch, and its `deps` (the applied vector when it
//! was written) cover only ops written in earlier batches or in its own.
//!
//! Under `always` the driver reports both steps at once ([`Replica::handle_persisted`]).

use std::sync::Arc;

use meridian_crdt::{Dot, VersionVector};

use super::{Batch, Millis, Replica, Staged};
use crate::op::Row;
use crate::output::Output;

/// Most batches handed out and not yet written. Whatever arrives meanwhile (local writes,
/// received ops, a checkpoint) waits in `staged` and goes out as one batch when the store
/// reports the oldest written: the group commit happens here, so that every per-batch cost
/// (encoding the batch's vectors, the hop to the writer thread and the two reports back,
/// settling, forwarding) is paid once per commit instead of once per op. One is enough:
/// a second in flight, to keep the writer busy while the first one's report travels back,
/// measured no faster (smaller batches), BENCHMARKS.md 7i.
pub(super) const BATCHES_WRITING: usize = 1;

/// A batch written and not yet synced.
#[derive(Debug)]
pub(super) struct Written {
    id: u64,
    /// The applied vector of the stored state once it is written (its own checkpoint's, or
    /// the last one before it).
    applied: VersionVector,
    /// The newest op of each origin appended to the log with it.
    ops: VersionVector,
}

impl Replica {
    /// The driver made batch `batch` durable: written and synced (`always`, or a test). Its
    /// ops are sent before its local writes are acknowledged.
    pub fn handle_persisted(&mut self, now: Millis, batch: u64) {
        let acks = self.written(now, batch);
        self.handle_synced(now, batch);
        self.outputs.extend(acks.into_iter().map(Output::Ack));
    }

    /// The driver wrote batch `batch` (committed, not necessarily synced). Batches take
    /// effect in the order they were handed out: one reported early waits for those before
    /// it. Local writes in it are acknowledged; its ops wait for [`Replica::handle_synced`]
    /// before they are forwarded.
    pub fn handle_written(&mut self, now: Millis, batch: u64) {
        let acks = self.written(now, batch);
        self.outputs.extend(acks.into_iter().map(Output::Ack));
    }

    /// `handle_written` but for the acknowledgements, which it returns.
    fn written(&mut self, now: Millis, batch: u64) -> Vec<Dot> {
        if let Some(entry) = self.persisting.iter_mut().find(|b| b.id == batch) {
            entry.written = true;
        }
        let mut acks = Vec::new();
        let mut any = false;
        while self.persisting.front().is_some_and(|b| b.written) {
            if let Some(b) = self.persisting.pop_front() {
                any = true;
                self.write_batch(now, b, &mut acks);
            }
        }
        if any {
            self.settle_synced();
            self.try_apply(now);
            self.arm_checkpoint(now);
            self.learn_own_history(0);
            self.update_own_row();
            self.release_snapshots();
            self.pump_all();
        }
        acks
    }

    /// The driver synced every batch up to and including `batch` (an fsync after its
    /// commit). Their ops may now leave this node.
    pub fn handle_synced(&mut self, _now: Millis, batch: u64) {
        if batch <= self.synced_through {
            return;
        }
        self.synced_through = batch;
        if self.settle_synced() {
            self.update_own_row();
            self.release_snapshots();
            self.pump_all();
        }
    }

    /// The driver could not make batch `batch` durable: a write or an fsync failed, or the
    /// disk is full. Nothing of it or of any later batch is acknowledged, forwarded or
    /// reported as held (nor anything written and not yet synced); local writes are refused
    /// with [`crate::WriteError::StoreFailed`] and ops from peers are no longer taken (they
    /// keep them and resend after a restart); reads go on from the state in memory, which may
    /// show writes that were never acknowledged.
    pub fn handle_persist_failed(&mut self, _now: Millis, batch: u64, reason: String) {
        if self.store_failed.is_none() {
            self.stats.store_failures += 1;
            self.store_failed = Some(format!("batch {batch}: {reason}"));
        }
        self.persisting.clear();
        self.unsynced.clear();
        self.own_unwritten.clear();
        self.staged.clear();
        self.dirty.clear();
        self.truncate_pending = false;
    }

    /// Why this node's store failed, if it did.
    pub fn store_failure(&self) -> Option<&str> {
        self.store_failed.as_deref()
    }

    /// Ops accepted (local or received) that are not written yet.
    pub fn unpersisted(&self) -> usize {
        self.staged.len()
            + self
                .persisting
                .iter()
                .map(|b| b.staged.len())
                .sum::<usize>()
    }

    /// Whether nothing is staged, being persisted, waiting for an fsync or for a checkpoint.
    pub fn is_quiescent(&self) -> bool {
        self.dirty.is_empty()
            && self.staged.is_empty()
            && self.persisting.is_empty()
            && self.unsynced.is_empty()
            && self.outputs.is_empty()
    }

    /// Appends a written batch's ops to the log and queues it for its fsync.
    fn write_batch(&mut self, now: Millis, b: Batch, acks: &mut Vec<Dot>) {
        let mut ops = VersionVector::new();
        for Staged { op, from } in b.staged {
            let origin = op.origin;
            let seq = op.seq;
            if from.is_none() && self.own_unwritten.front().is_some_and(|o| o.seq == seq) {
                self.own_unwritten.pop_front();
            }
            if seq <= self.received.get(origin) {
                // A snapshot covered it while it was being persisted.
                if from.is_none() {
                    acks.push(op.dot());
                }
                continue;
            }
            if self.log.append(Arc::clone(&op)).is_err() {
                // Accepted ops are contiguous per origin, so this cannot happen; never lose
                // the op silently if it does.
                self.stats.internal_errors += 1;
                continue;
            }
            self.received.set(origin, seq);
            ops.set(origin, seq);
            if from.is_none() {
                acks.push(op.dot());
            } else {
                self.durable_at.entry(origin).or_default().push_back(now);
            }
        }
        self.unsynced.push_back(Written {
            id: b.id,
            applied: b.applied,
            ops,
        });
    }

    /// Moves every written batch an fsync now covers into `synced`; whether any moved.
    fn settle_synced(&mut self) -> bool {
        let mut moved = false;
        while self
            .unsynced
            .front()
            .is_some_and(|w| w.id <= self.synced_through)
        {
            if let Some(w) = self.unsynced.pop_front() {
                // Everything the stored state's vector covers is in this batch or an earlier
                // one: own ops staged up to its checkpoint, received ops applied only once
                // written, and snapshots merged before it (a merge forces a checkpoint).
                self.synced.merge(&w.ops);
                self.synced.merge(&w.applied);
                self.durable_applied.merge(&w.applied);
                moved = true;
            }
        }
        moved
    }

    /// Everything accepted since the last batch goes into one: the group commit. With
    /// `checkpoint`, the state of every key changed since the last checkpoint too, and the
    /// applied vector it reflects; without, the stored state and its vector stay as they are
    /// (the ops are in the log, and a restart re-applies them).
    pub(super) fn stage_batch(&mut self, checkpoint: bool) {
        let batch = self.next_batch;
        self.next_batch += 1;
        let staged = std::mem::take(&mut self.staged);
        let ops = staged.iter().map(|s| Arc::clone(&s.op)).collect();
        let state = if checkpoint {
            self.checkpoint_now = false;
            self.next_checkpoint = None;
            self.checkpoint_applied = self.applied.clone();
            let mut keys: Vec<_> = std::mem::take(&mut self.dirty).into_iter().collect();
            keys.sort_unstable();
            keys.into_iter()
                .map(|key| {
                    let bytes = self.keyspace.encode_key(&key);
                    (key, bytes)
                })
                .collect()
        } else {
            Vec::new()
        };
        let truncate = std::mem::take(&mut self.truncate_pending).then(|| self.truncated.clone());
        self.persisting.push_back(Batch {
            id: batch,
            staged,
            applied: self.checkpoint_applied.clone(),
            written: false,
        });
        self.outputs.push_back(Output::Persist {
            batch,
            ops,
            state,
            applied: self.checkpoint_applied.clone(),
            truncate,
        });
    }

    /// Our row of the matrix clock, from what is synced here.
    pub(super) fn update_own_row(&mut self) {
        // `applied` is reported as a promise about our writes, which counter compaction
        // (`MatrixClock::compactable`) relies on: every op we write from now on, and every
        // own op not yet synced (so possibly still to reach a peer), has `deps` covering it.
        // So: what our synced state reflects (a restart resumes from there), lowered to the
        // deps of our oldest own op not yet synced. An own op lost in a crash is never claimed.
        //
        // That one op suffices: an op's deps are the applied vector when it was written, and
        // `applied` only grows, so deps grow with seq. It is the op after `synced[me]`: in
        // the log if written, else the oldest own op staged or being written. Both lookups
        // are O(1): a walk over the ops in flight here took 47 % of a node's CPU under
        // `redis-benchmark -P 16` (BENCHMARKS.md section 7).
        let me = self.me;
        let next = self.synced.get(me) + 1;
        let oldest_deps = if next <= self.received.get(me) {
            self.log.get(me, next).map(|op| &op.deps)
        } else {
            self.own_unwritten.front().map(|op| &op.deps)
        };
        let applied = match oldest_deps {
            Some(deps) => self.durable_applied.meet(deps),
            None => self.durable_applied.clone(),
        };
        let row = Row {
            received: self.synced.clone(),
            applied,
        };
        self.matrix.observe(me, &row);
    }
}
