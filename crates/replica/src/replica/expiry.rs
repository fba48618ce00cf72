//! Expiry: a leader reaps, with an op of its own, every deadline its clock has passed.
//!
//! Reading needs no op: once this region's clock passes a key's deadline the keyspace reads
//! the key as absent (`Keyspace::set_clock`). The reap is what makes every region converge on
//! the expiry whatever its clock says: it removes exactly what the deadline's writer had
//! observed (`Payload::Reap`), so it does not matter which region reaps first, or whether
//! several do. A read-only node reaps nothing; it reads expired keys as absent until a leader's
//! reap arrives.

use bytes::Bytes;
use meridian_crdt::Payload;

use super::{Millis, Replica};

/// Deadlines reaped per step at most: a mass expiry is spread over steps, each bounded, and
/// the keys waiting read as absent meanwhile.
const REAP_PER_STEP: usize = 256;

impl Replica {
    /// Takes the driver's clocks into account: deadlines are in wall-clock time.
    pub(super) fn observe_wall(&mut self, now: Millis, wall: u64) {
        self.wall_seen = self.wall_seen.max((now, wall));
        self.keyspace.set_clock(wall);
    }

    /// The driver's clocks moved, with no other input (before a command reads the state):
    /// reads compare deadlines against `wall`, and a leader reaps what has passed.
    pub fn handle_time(&mut self, now: Millis, wall: u64) {
        self.observe_wall(now, wall);
        self.reap_due(now, wall);
    }

    /// Reaps up to [`REAP_PER_STEP`] deadlines the clock has passed, if this node writes.
    pub(super) fn reap_due(&mut self, now: Millis, wall: u64) {
        // A reap is a write of its own, which would land inside an open unit.
        if self.write_refusal().is_some() || self.unit_open {
            return;
        }
        for (key, ctx) in self.keyspace.due(REAP_PER_STEP) {
            self.reap(now, wall, key, ctx);
        }
    }

    /// Reaps the deadlines of `key` the clock has passed (before a write reads the key).
    pub(super) fn reap_key(&mut self, now: Millis, wall: u64, key: &Bytes) {
        // Every write passes here: with no deadline passed anywhere, skip the key's lookup.
        let clock = self.keyspace.clock();
        if self.keyspace.first_deadline().is_none_or(|at| at > clock) {
            return;
        }
        for ctx in self.keyspace.due_key(key) {
            self.reap(now, wall, key.clone(), ctx);
        }
    }

    fn reap(&mut self, now: Millis, wall: u64, key: Bytes, ctx: meridian_crdt::VersionVector) {
        self.issue(now, wall, key, Payload::Reap { ctx });
        self.stats.reaped += 1;
    }

    /// When expiry next needs a step: at once while passed deadlines wait for a reap here,
    /// else when the clock reaches the next deadline (a read-only node only moves its clock).
    pub(super) fn expiry_timer(&self) -> Option<Millis> {
        let (now, wall) = self.wall_seen;
        let waiting = self
            .keyspace
            .first_deadline()
            .is_some_and(|at| at <= self.keyspace.clock());
        if waiting && self.write_refusal().is_none() {
            return Some(now);
        }
        let at = self.keyspace.next_deadline()?;
        Some(now.saturating_add(at.saturating_sub(wall)))
    }
}
