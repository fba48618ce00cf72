//! What one run measured and what its checkers found.

use std::fmt;

use meridian_crdt::{ActorId, Dot};
use meridian_replica::Millis;

use crate::faults::FaultMix;

/// Counters of one run, kept by the world.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Writes accepted by a leader.
    pub writes: u64,
    /// Writes refused (WRONGTYPE and the like).
    pub writes_refused: u64,
    /// Writes aimed at a crashed node.
    pub writes_to_down_nodes: u64,
    /// Messages sent, of every kind.
    pub messages: u64,
    /// Bytes of those messages, encoded as on the wire.
    pub bytes: u64,
    /// `Ops` frames sent.
    pub op_frames: u64,
    /// Bytes of `Ops` frames.
    pub op_frame_bytes: u64,
    /// Ops carried in `Ops` frames.
    pub ops_carried: u64,
    /// Messages lost by the lossy network.
    pub lost: u64,
    /// Messages duplicated by the lossy network.
    pub duplicated: u64,
    /// Messages delivered after one sent later on the same link direction.
    pub reordered: u64,
    /// Messages dropped because their link was down.
    pub dropped_disconnected: u64,
    /// Links cut.
    pub cuts: u64,
    /// Nodes crashed.
    pub crashes: u64,
    /// Nodes restarted.
    pub restarts: u64,
    /// Ops accepted but not yet durable when their node crashed.
    pub lost_unpersisted: u64,
    /// Crashes that struck in the middle of a persistence: an op accepted and not written, a
    /// batch written and not synced, or a batch synced and not yet reported to the replica.
    pub crashes_mid_persistence: u64,
    /// Store failures armed by the fault schedule.
    pub disk_faults_armed: u64,
    /// Nodes whose store failed (write, fsync, full disk).
    pub store_failures: u64,
    /// Writes refused because the node's store had failed.
    pub writes_refused_store_failed: u64,
}

/// Something a checker found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// An op was applied before its causal dependencies or out of its origin's order.
    CausalOrder {
        /// Where.
        node: ActorId,
        /// The op's origin.
        origin: ActorId,
        /// The op's seq.
        seq: u64,
    },
    /// A replica closed a link for a protocol error: nobody in the simulator sends bad input.
    ProtocolError {
        /// Who closed.
        node: ActorId,
        /// The peer.
        peer: ActorId,
        /// Why.
        error: String,
    },
    /// A node could not recover from its disk.
    Recovery {
        /// Which.
        node: ActorId,
        /// Why.
        error: String,
    },
    /// The cluster did not converge within the settle limit.
    NotConverged,
    /// Replicas that applied the same ops hold different states.
    Diverged {
        /// The first replica's digest.
        first: String,
        /// A replica that differs.
        node: ActorId,
        /// Its digest.
        digest: String,
    },
    /// An acknowledged write is missing somewhere, or was replaced.
    LostAck {
        /// The write.
        dot: Dot,
        /// Where it is missing.
        node: ActorId,
    },
    /// A key's value differs from what the data model's definitions give for its history.
    Model {
        /// The key.
        key: String,
        /// Where.
        node: ActorId,
        /// What the model expects.
        expected: String,
        /// What the replica holds.
        got: String,
    },
    /// A write was acknowledged by a node after its store failed.
    AckAfterStoreFailure {
        /// The node.
        node: ActorId,
        /// The write.
        dot: Dot,
    },
    /// The scenario's fault did not happen, so the run proved nothing about it.
    FaultMissing(&'static str),
    /// Ops received twice on a perfect network.
    SteadyStateDuplicates(u64),
    /// After convergence, a counter holds more entries than there are nodes: compaction at
    /// causal stability did not bound its metadata.
    CounterEntries {
        /// The key.
        key: String,
        /// Where.
        node: ActorId,
        /// Entries of the key's largest counter.
        entries: usize,
        /// The bound (number of nodes).
        bound: usize,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::CausalOrder { node, origin, seq } => {
                write!(f, "node {node} applied {origin}:{seq} out of causal order")
            }
            Violation::ProtocolError { node, peer, error } => {
                write!(f, "node {node} closed its link to {peer}: {error}")
            }
            Violation::Recovery { node, error } => {
                write!(f, "node {node} failed to recover: {error}")
            }
            Violation::NotConverged => f.write_str("did not converge within the settle limit"),
            Violation::CounterEntries {
                key,
                node,
                entries,
                bound,
            } => write!(
                f,
                "key {key:?} at node {node} holds a counter of {entries} entries after convergence (bound {bound})"
            ),
            Violation::Diverged {
                first,
                node,
                digest,
            } => {
                write!(f, "node {node} has digest {digest}, another {first}")
            }
            Violation::LostAck { dot, node } => write!(
                f,
                "acknowledged write {}:{} missing at node {node}",
                dot.actor, dot.seq
            ),
            Violation::Model {
                key,
                node,
                expected,
                got,
            } => write!(
                f,
                "key {key} at node {node}: model expects {expected}, replica holds {got}"
            ),
            Violation::AckAfterStoreFailure { node, dot } => write!(
                f,
                "node {node} acknowledged {}:{} after its store failed",
                dot.actor, dot.seq
            ),
            Violation::FaultMissing(what) => {
                write!(f, "the scenario's fault never happened: {what}")
            }
            Violation::SteadyStateDuplicates(n) => {
                write!(f, "{n} ops received twice on a perfect network")
            }
        }
    }
}

/// The outcome of one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// The fault mix.
    pub faults: FaultMix,
    /// Nodes in the topology.
    pub nodes: usize,
    /// What the world counted.
    pub counters: Counters,
    /// Virtual ms from the end of faults to convergence, if it converged.
    pub convergence_ms: Option<Millis>,
    /// Ops received twice, summed over nodes.
    pub duplicates: u64,
    /// Highest causal-buffer depth at any node.
    pub max_causal_depth: u64,
    /// Resends triggered by stalls, summed over nodes.
    pub repairs: u64,
    /// HLC stamps from too far ahead, summed over nodes.
    pub clock_ahead_reports: u64,
    /// State snapshots merged, summed over nodes.
    pub snapshots_merged: u64,
    /// Acknowledged writes.
    pub acked: u64,
    /// Acknowledged writes missing or replaced somewhere.
    pub lost_acked: u64,
    /// Everything the checkers found.
    pub violations: Vec<Violation>,
    /// The digest every node agreed on (or the first node's).
    pub digest: String,
}

impl Report {
    /// Whether replicas failed to reach one state consistent with the model.
    pub fn diverged(&self) -> bool {
        self.violations.iter().any(|v| {
            matches!(
                v,
                Violation::NotConverged
                    | Violation::Diverged { .. }
                    | Violation::Model { .. }
                    | Violation::CausalOrder { .. }
            )
        })
    }

    /// Whether every checker passed.
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// Messages sent per write accepted.
    pub fn messages_per_op(&self) -> f64 {
        ratio(self.counters.messages, self.counters.writes)
    }

    /// Bytes sent per write accepted.
    pub fn bytes_per_op(&self) -> f64 {
        ratio(self.counters.bytes, self.counters.writes)
    }

    /// Duplicates received per write accepted.
    pub fn duplicates_per_op(&self) -> f64 {
        ratio(self.duplicates, self.counters.writes)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        write!(
            f,
            "seed={} faults={} {} writes={} acked={} msgs/op={:.2} bytes/op={:.0} dup/op={:.3} max_causal={} converge_ms={} snapshots={} lost={} dup_net={} reordered={} cuts={} crashes={} lost_unpersisted={} digest={}",
            self.seed,
            self.faults,
            if self.ok() { "ok" } else { "FAIL" },
            c.writes,
            self.acked,
            self.messages_per_op(),
            self.bytes_per_op(),
            self.duplicates_per_op(),
            self.max_causal_depth,
            self.convergence_ms
                .map_or_else(|| "never".to_string(), |m| m.to_string()),
            self.snapshots_merged,
            c.lost,
            c.duplicated,
            c.reordered,
            c.cuts,
            c.crashes,
            c.lost_unpersisted,
            self.digest,
        )
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}
