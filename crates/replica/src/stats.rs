//! Counters a replica keeps since start, for metrics and the simulator's figures.

use meridian_crdt::{Conflict, ConflictKind};

/// Counters since start. All only grow, except `max_causal_depth` which is a high-water mark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Writes accepted from local clients.
    pub local_writes: u64,
    /// Deadlines this node reaped (an op each) once its clock passed them.
    pub reaped: u64,
    /// Ops received from neighbours that were new.
    pub ops_received: u64,
    /// Ops received that this node already had: loop detection at work. Zero in steady state.
    pub duplicates: u64,
    /// Ops put in `Ops` frames.
    pub ops_sent: u64,
    /// Gossip messages sent.
    pub gossip_sent: u64,
    /// Gossip rounds run (each truncates the log, compacts and gossips).
    pub gossip_rounds: u64,
    /// Times a neighbour's stall made us resend from the log.
    pub repairs: u64,
    /// Ops that arrived ahead of a gap when the out-of-order buffer was full (fetched again later).
    pub out_of_order_dropped: u64,
    /// Peer HLC stamps too far ahead of our wall clock.
    pub clock_ahead_reports: u64,
    /// Links closed for a protocol violation.
    pub protocol_errors: u64,
    /// Invariant breaches that were contained (should stay 0).
    pub internal_errors: u64,
    /// Ops dropped from the log: stable, or past the retention.
    pub truncated: u64,
    /// Counter entries merged away by compaction at causal stability.
    pub compacted: u64,
    /// List and text tombstones dropped once no op to come could name them.
    pub collected: u64,
    /// State snapshots sent to neighbours behind our log's horizon.
    pub snapshots_sent: u64,
    /// State snapshots received and merged.
    pub snapshots_merged: u64,
    /// Persist batches the driver reported failed (the first one stops the node's writes).
    pub store_failures: u64,
    /// Ops from peers left with them because this node's store failed.
    pub refused_store_failed: u64,
    /// Most ops ever waiting in the causal buffer at once.
    pub max_causal_depth: u64,
    /// Conflicts met while applying: last-write-wins losers.
    pub conflicts_lww: u64,
    /// MV registers left with siblings.
    pub conflicts_mv: u64,
    /// Keys created with different types concurrently.
    pub conflicts_type: u64,
    /// Hash fields written as string and counter concurrently.
    pub conflicts_field: u64,
    /// Handshakes in which a neighbour held ops of ours this node never wrote, on a node
    /// started as part of a new cluster (`Replica::new_cluster`): the operator's
    /// `initial_cluster_state = "new"` was wrong. Writes then wait until those ops are back.
    pub history_found_behind: u64,
    /// Pub/sub messages dropped as already seen (a tree changed under them).
    pub duplicate_messages: u64,
}

impl Stats {
    pub(crate) fn count_conflicts(&mut self, conflicts: &[Conflict]) {
        for c in conflicts {
            match c.kind {
                ConflictKind::Lww => self.conflicts_lww += 1,
                ConflictKind::MvSiblings => self.conflicts_mv += 1,
                ConflictKind::TypeClash => self.conflicts_type += 1,
                ConflictKind::FieldClash => self.conflicts_field += 1,
            }
        }
    }
}
