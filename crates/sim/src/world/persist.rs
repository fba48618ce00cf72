//! The disk pipeline of every node under its fsync policy, and what crashes, restarts and
//! replaced disks do to it.
//!
//! Under `always` a batch is written, then fsynced, then reported to the replica as durable
//! (`handle_persisted`: it then sends its ops on and acknowledges its local writes). Under
//! `periodic` and `never` it is reported right after its write (`handle_written`: local writes
//! are acknowledged), as the store's `GroupCommit` does, and an fsync one interval after the
//! first unsynced write (`FsyncPolicy::sync_interval`) reports every batch written before it
//! synced (`handle_synced`: only now do its ops leave the node). A crash loses every batch not
//! synced.

use std::sync::Arc;

use meridian_crdt::ActorId;
use meridian_replica::{Replica, Role};
use meridian_store::FsyncPolicy;
use rand::Rng;

use super::{Event, Persisting, SyncedAt, World};
use crate::disk::SimDisk;
use crate::faults::{CrashPoint, Fault};
use crate::report::Violation;

impl World {
    /// The disk wrote a batch: now its fsync (`always`), or its report (`periodic`, `never`).
    pub(super) fn committed(&mut self, p: Persisting) {
        let now = self.now;
        let Some(n) = self.nodes.get_mut(&p.node) else {
            return;
        };
        if n.incarnation != p.incarnation {
            return;
        }
        if let Err(e) = n.disk.commit(&p.store_batch) {
            self.store_failed(p.node, p.batch, e.to_string());
            return;
        }
        for op in &p.ops {
            n.unsynced.insert(op.dot(), Arc::clone(op));
        }
        if n.crash_armed == Some(CrashPoint::Committed) {
            self.kill(p.node, Some(CrashPoint::Committed));
            return;
        }
        n.written_through = n.written_through.max(p.batch);
        match self.fsync.sync_interval() {
            None => {
                let fsync = self.rng.random_range(1..=8);
                let done = n.disk.busy_until.max(now) + fsync;
                n.disk.busy_until = done;
                self.push(done, Event::Synced(p));
            }
            Some(every) => {
                if !n.sync_due {
                    n.sync_due = true;
                    let every = u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1);
                    let (node, incarnation) = (p.node, p.incarnation);
                    self.push(now + every, Event::SyncDue { node, incarnation });
                }
                self.report(&p);
            }
        }
    }

    /// The batch's fsync returned (`always`): the replica may go on with it.
    pub(super) fn synced(&mut self, p: Persisting) {
        let Some(n) = self.nodes.get_mut(&p.node) else {
            return;
        };
        if n.incarnation != p.incarnation {
            return;
        }
        if let Err(e) = n.disk.sync() {
            self.store_failed(p.node, p.batch, e.to_string());
            return;
        }
        self.made_durable(p.node);
        if self
            .nodes
            .get(&p.node)
            .is_some_and(|n| n.crash_armed == Some(CrashPoint::Synced))
        {
            self.kill(p.node, Some(CrashPoint::Synced));
            return;
        }
        self.report(&p);
    }

    /// Tells the replica its batch is durable (`always`) or written (else). An armed
    /// `Reported` crash strikes right after a batch that acknowledged a local write (any batch
    /// on a node that takes none).
    fn report(&mut self, p: &Persisting) {
        let (node, batch) = (p.node, p.batch);
        let now = self.now;
        let leader = self
            .topology
            .node(node)
            .is_some_and(|spec| spec.role == Role::Leader);
        let acknowledges = !leader || p.ops.iter().any(|op| op.origin == node);
        let always = self.fsync == FsyncPolicy::Always;
        if let Some(r) = self.nodes.get_mut(&node).and_then(|n| n.replica.as_mut()) {
            if always {
                r.handle_persisted(now, batch);
            } else {
                r.handle_written(now, batch);
            }
        }
        self.drain(node);
        if acknowledges
            && self
                .nodes
                .get(&node)
                .is_some_and(|n| n.crash_armed == Some(CrashPoint::Reported))
        {
            self.kill(node, Some(CrashPoint::Reported));
        }
    }

    /// The periodic fsync starts once the disk's writer is free.
    pub(super) fn sync_due(&mut self, node: ActorId, incarnation: u64) {
        let now = self.now;
        let fsync = self.rng.random_range(1..=8);
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        if n.incarnation != incarnation {
            return;
        }
        n.sync_due = false;
        let done = n.disk.busy_until.max(now) + fsync;
        n.disk.busy_until = done;
        // The disk is busy until the fsync returns, so it covers exactly what was written.
        let through = n.written_through;
        self.push(
            done,
            Event::PeriodicSynced {
                node,
                incarnation,
                through,
            },
        );
    }

    /// The periodic fsync returned: every batch up to `through` is synced, and the replica
    /// may send their ops on. If it failed, the store is poisoned and the replica is told, as
    /// a real node's writer reports a failed sync to the batches it was to cover.
    pub(super) fn periodic_synced(&mut self, node: ActorId, incarnation: u64, through: u64) {
        let now = self.now;
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        if n.incarnation != incarnation {
            return;
        }
        if let Err(e) = n.disk.sync() {
            self.store_failed(node, through, e.to_string());
            return;
        }
        self.made_durable(node);
        if self
            .nodes
            .get(&node)
            .is_some_and(|n| n.crash_armed == Some(CrashPoint::Synced))
        {
            self.kill(node, Some(CrashPoint::Synced));
            return;
        }
        if let Some(r) = self.nodes.get_mut(&node).and_then(|n| n.replica.as_mut()) {
            r.handle_synced(now, through);
        }
        self.drain(node);
    }

    /// Everything written on `node`'s disk is now synced.
    fn made_durable(&mut self, node: ActorId) {
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        for op in std::mem::take(&mut n.unsynced).into_values() {
            self.synced.entry(op.dot()).or_default().push(SyncedAt {
                node,
                disk_gen: n.disk_gen,
                op,
            });
        }
    }

    pub(super) fn store_failed(&mut self, node: ActorId, batch: u64, reason: String) {
        let now = self.now;
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        if n.store_failed_at.is_none() {
            n.store_failed_at = Some(now);
            n.disk_fault = None;
            self.counters.store_failures += 1;
        }
        if let Some(r) = n.replica.as_mut() {
            r.handle_persist_failed(now, batch, reason);
        }
        self.drain(node);
    }

    /// A crash fault: the node dies at once if it holds ops that are not durable yet, else
    /// right after it next accepts something (a client write is sent to a leader at once), so
    /// that the crash loses an op; or at its restart time if nothing comes.
    pub(super) fn crash(&mut self, node: ActorId) {
        let always = self.fsync == FsyncPolicy::Always;
        let drawn = CrashPoint::drawn(always)[self.rng.random_range(0..3)];
        let point = self.forced_crash_point.unwrap_or(drawn);
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        n.down += 1;
        match &n.replica {
            Some(r) if point == CrashPoint::Accepted && r.unpersisted() > 0 => {
                self.kill(node, Some(CrashPoint::Accepted));
            }
            Some(r) => {
                n.crash_armed = Some(point);
                if r.role() == Role::Leader {
                    // A client is writing at that moment.
                    self.push(self.now, Event::CrashWrite(node));
                }
            }
            None => {}
        }
    }

    /// The process dies, at step `struck` of a persistence if it struck at one: whatever was
    /// accepted but not yet synced is lost with it.
    pub(super) fn kill(&mut self, node: ActorId, struck: Option<CrashPoint>) {
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        n.crash_armed = None;
        let Some(r) = n.replica.take() else {
            return;
        };
        self.counters.crashes += 1;
        if let Some(point) = struck {
            *self.counters.crashes_at_mut(point) += 1;
        }
        let lost_unsynced = n.disk.unsynced_batches() > 0;
        if r.unpersisted() > 0 || lost_unsynced || struck == Some(CrashPoint::Synced) {
            self.counters.crashes_mid_persistence += 1;
        }
        self.counters.lost_unpersisted += r.unpersisted() as u64;
        let acked_unsynced = n
            .unsynced
            .values()
            .filter(|op| op.origin == node && self.acked_dots.contains(&op.dot()))
            .count();
        self.counters.acked_lost_at_crash += acked_unsynced as u64;
        n.incarnation += 1;
        n.timer = None;
        n.disk.crash();
        n.store_failed_at = None;
        n.unsynced.clear();
        n.sync_due = false;
        n.written_through = 0;
        n.issued.clear();
        n.rejoined = false;
        // What the node still holds is what its disk holds: the state's vector, the log's
        // base and the log.
        match n.disk.restored(true) {
            Ok(on_disk) => {
                let mut covered = on_disk.applied.clone();
                covered.merge(&on_disk.truncated);
                let logged: std::collections::BTreeSet<_> =
                    on_disk.ops.iter().map(|op| op.dot()).collect();
                n.held
                    .retain(|dot, _| covered.covers(*dot) || logged.contains(dot));
            }
            Err(error) => self.violations.push(Violation::Recovery { node, error }),
        }
        for peer in self.neighbours(node) {
            self.disconnect(node, peer);
        }
    }

    /// The node dies and its disk is destroyed: it restarts on an empty store.
    pub(super) fn lose_disk(&mut self, node: ActorId) {
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        n.down += 1;
        self.kill(node, None);
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        n.disk = SimDisk::default();
        n.disk_gen += 1;
        n.fresh_disk = true;
        n.disk_fault = None;
        n.held.clear();
        self.counters.disks_replaced += 1;
    }

    pub(super) fn restart(&mut self, node: ActorId) {
        let now = self.now;
        let wall = self.wall(node);
        let topology = Arc::clone(&self.topology);
        let config = self.config.clone();
        // Whatever the policy, an op leaves a node only once synced: a crash takes back
        // nothing any peer holds, so the store holds the node's whole history.
        let history_complete = true;
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        if let Some(every) = self.fsync.sync_interval()
            && n.crash_armed == Some(CrashPoint::Synced)
            && !n.unsynced.is_empty()
        {
            // The crash waits for the background fsync that is due or under way: without this,
            // a restart sooner than one interval after the crash would never see it strike.
            let every = u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1);
            self.push(now + every + 10, Event::Fault(Fault::Restart(node)));
            return;
        }
        n.down = n.down.saturating_sub(1);
        if n.down > 0 {
            return;
        }
        if n.crash_armed.is_some() {
            self.kill(node, None);
        }
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        if n.replica.is_some() {
            return;
        }
        let rejoining = n.fresh_disk;
        let started = if n.fresh_disk {
            n.fresh_disk = false;
            n.rejoined = true;
            self.counters.rejoins += 1;
            Replica::rejoin(node, topology, config, wall)
        } else {
            let restored = match n.disk.restored(history_complete) {
                Ok(restored) => restored,
                Err(error) => {
                    self.violations.push(Violation::Recovery { node, error });
                    return;
                }
            };
            if let Some((n_ops, kind)) = n.disk_fault {
                n.disk.fail_after(n_ops, kind);
            }
            // A batch whose fsync failed may have reached the disk all the same: whatever the
            // restarted node reads back is part of the history from now on.
            for op in &restored.ops {
                n.held.entry(op.dot()).or_insert_with(|| Arc::clone(op));
                self.contents
                    .entry(op.dot())
                    .or_insert_with(|| Arc::clone(op));
            }
            Replica::restore(node, topology, config, now, wall, restored)
        };
        match started {
            Ok(r) => {
                n.seen_applied = r.applied().clone();
                n.truncated_seen = 0;
                n.replica = Some(r);
                self.counters.restarts += 1;
            }
            Err(e) => self.violations.push(Violation::Recovery {
                node,
                error: e.to_string(),
            }),
        }
        self.drain(node);
        let leader = self
            .topology
            .node(node)
            .is_some_and(|spec| spec.role == Role::Leader);
        if rejoining && leader {
            // A client writes at once, before any peer was heard: it must be refused.
            self.push(now, Event::Write(node));
        }
        for peer in self.neighbours(node) {
            self.reconnect_later(node, peer);
        }
    }

    /// Brings every node back and heals every link (the settle phase).
    pub(crate) fn heal_everything(&mut self) {
        let ids: Vec<ActorId> = self.nodes.keys().copied().collect();
        for id in ids {
            // The operator freed the disk and restarts the node on what it had synced.
            if self
                .nodes
                .get(&id)
                .is_some_and(|n| n.store_failed_at.is_some())
            {
                self.kill(id, None);
            }
            if let Some(n) = self.nodes.get_mut(&id) {
                n.down = n.down.min(1);
            }
            self.restart(id);
        }
        let keys: Vec<(ActorId, ActorId)> = self.links.keys().copied().collect();
        for (a, b) in keys {
            if let Some(link) = self.links.get_mut(&(a, b)) {
                link.cuts = 0;
            }
            self.reconnect_later(a, b);
        }
    }
}
