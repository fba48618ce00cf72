//! What one run measured and what its checkers found.

use std::fmt;

use meridian_crdt::{ActorId, Dot};
use meridian_replica::Millis;
use meridian_store::FsyncPolicy;

use crate::faults::{CrashPoint, FaultMix};

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
    /// Crashes that struck as an op was accepted, before its write.
    pub crashes_at_accepted: u64,
    /// Crashes that struck after a batch's write, before its fsync and its report.
    pub crashes_at_committed: u64,
    /// Crashes that struck after an fsync, before the batch's report (`always`), or right
    /// after a periodic fsync.
    pub crashes_at_synced: u64,
    /// Crashes that struck right after a batch's report: its writes acknowledged.
    pub crashes_at_reported: u64,
    /// Acknowledged local writes in batches not yet synced when their node crashed: taken back
    /// from its disk (only under `periodic` and `never`; peers may still hold them).
    pub acked_lost_at_crash: u64,
    /// Acknowledged writes gone from every node in the end, which the fsync policy allowed:
    /// never fsynced on a disk still in place (counted by the checker).
    pub acked_lost_allowed: u64,
    /// Local writes that took a seq an earlier op of the same node had, after that op vanished
    /// without a trace (lost in a crash before any other node or synced disk held it).
    pub seqs_issued_again: u64,
    /// Of those, seqs whose earlier op had been acknowledged (`periodic`, `never`): a client
    /// holds a causal token naming a write that is gone and whose dot now names another.
    pub acked_seqs_issued_again: u64,
    /// Ops of its own a node took back from a peer: it was learning its own history.
    pub own_ops_recovered: u64,
    /// Snapshots merged that brought a node ops of its own it had lost.
    pub own_history_snapshots: u64,
    /// Writes refused while the node was learning its own history (`TRYAGAIN`).
    pub writes_refused_recovering: u64,
    /// Disks replaced: the node lost its whole store.
    pub disks_replaced: u64,
    /// Starts on an empty store (`Replica::rejoin`).
    pub rejoins: u64,
    /// Writes accepted by a node after it rejoined on an empty store.
    pub writes_after_rejoin: u64,
    /// Writes accepted as part of a unit of several (which every region applies together).
    pub unit_writes: u64,
    /// Pub/sub messages published (each region delivers each at most once).
    pub messages_published: u64,
    /// Gossip rounds after which a node's log was checked against its retention.
    pub retention_checks: u64,
    /// Of those, rounds after which the node's log had been truncated past what every node
    /// holds: the retention, not stability, was bounding it.
    pub rounds_truncated_past_stability: u64,
    /// State snapshot chunks sent.
    pub snapshot_chunks_sent: u64,
    /// State snapshot chunks lost on the way.
    pub snapshot_chunks_lost: u64,
    /// Snapshots of two chunks or more received whole and merged.
    pub multi_chunk_snapshots_merged: u64,
}

impl Counters {
    /// Crashes that struck at `point`.
    pub fn crashes_at(&self, point: CrashPoint) -> u64 {
        match point {
            CrashPoint::Accepted => self.crashes_at_accepted,
            CrashPoint::Committed => self.crashes_at_committed,
            CrashPoint::Synced => self.crashes_at_synced,
            CrashPoint::Reported => self.crashes_at_reported,
        }
    }

    pub(crate) fn crashes_at_mut(&mut self, point: CrashPoint) -> &mut u64 {
        match point {
            CrashPoint::Accepted => &mut self.crashes_at_accepted,
            CrashPoint::Committed => &mut self.crashes_at_committed,
            CrashPoint::Synced => &mut self.crashes_at_synced,
            CrashPoint::Reported => &mut self.crashes_at_reported,
        }
    }
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
    /// A unit's ops (a transaction, a multi-key write) were not applied together: a reader
    /// could have seen some of them without the others.
    UnitSplit {
        /// Where.
        node: ActorId,
        /// The op applied apart from the rest of its unit.
        origin: ActorId,
        /// Its seq.
        seq: u64,
    },
    /// A pub/sub message was delivered twice at one region.
    MessageTwice {
        /// Where.
        node: ActorId,
        /// Its origin.
        origin: ActorId,
        /// Its number.
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
    /// A local write was acknowledged before it was durable at the node's fsync level:
    /// fsynced on its disk under `always`, written under `periodic` and `never`.
    AckBeforeDurable {
        /// The node.
        node: ActorId,
        /// The write.
        dot: Dot,
    },
    /// Two different ops under one dot were held at once: a sequence number was issued again
    /// while an op that had it still existed somewhere (in memory or on a disk).
    SeqReused {
        /// The dot.
        dot: Dot,
        /// The node that took in the second op.
        node: ActorId,
        /// A node holding the other one.
        holder: ActorId,
    },
    /// Right after a gossip round, a log past its retention still held an op that the node's
    /// durable state reflects.
    RetentionExceeded {
        /// The node.
        node: ActorId,
        /// Ops in its log.
        ops: usize,
        /// Bytes of them.
        bytes: u64,
        /// An op kept that should have gone.
        kept: Dot,
    },
    /// After convergence and some gossip rounds without faults, a log still held ops that
    /// every node holds.
    LogNotTruncated {
        /// The node.
        node: ActorId,
        /// Ops in the replica's log.
        in_memory: usize,
        /// Ops in its store's log.
        on_disk: usize,
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
    /// The fault mix cannot happen on this topology; nothing ran.
    Refused(String),
    /// Something panicked during the run (the replica, the store or the simulator itself).
    Panicked(String),
    /// The world handled this many events at one virtual instant without time moving on:
    /// stuck (a timer due in the past fired again and again). The run was stopped there.
    NoProgress {
        /// The virtual ms it was stuck at.
        at: Millis,
        /// Events handled at that instant.
        events: u64,
        /// The event that was next.
        next: String,
    },
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
    /// After convergence, a list or text keeps a tombstone that another follows: collection
    /// at causal stability did not bound its history.
    TombstonesLeft {
        /// The key.
        key: String,
        /// Where.
        node: ActorId,
        /// Tombstones followed by another.
        left: u64,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::MessageTwice { node, origin, seq } => {
                write!(
                    f,
                    "node {node} delivered pub/sub message {origin}:{seq} twice"
                )
            }
            Violation::UnitSplit { node, origin, seq } => {
                write!(
                    f,
                    "node {node} applied {origin}:{seq} apart from the rest of its unit"
                )
            }
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
            Violation::TombstonesLeft { key, node, left } => write!(
                f,
                "key {key:?} at node {node} keeps {left} tombstones that another follows after convergence"
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
            Violation::AckBeforeDurable { node, dot } => write!(
                f,
                "node {node} acknowledged {}:{} before it was durable at its fsync level",
                dot.actor, dot.seq
            ),
            Violation::SeqReused { dot, node, holder } => write!(
                f,
                "seq {}:{} issued again: node {node} took in an op under it while node {holder} held another",
                dot.actor, dot.seq
            ),
            Violation::RetentionExceeded {
                node,
                ops,
                bytes,
                kept,
            } => write!(
                f,
                "node {node}'s log holds {ops} ops ({bytes} bytes) after a gossip round, past its retention, and still {}:{}, which its durable state reflects",
                kept.actor, kept.seq
            ),
            Violation::LogNotTruncated {
                node,
                in_memory,
                on_disk,
            } => write!(
                f,
                "node {node}'s log still holds {in_memory} ops in memory and {on_disk} in its store after convergence and rounds of gossip"
            ),
            Violation::AckAfterStoreFailure { node, dot } => write!(
                f,
                "node {node} acknowledged {}:{} after its store failed",
                dot.actor, dot.seq
            ),
            Violation::Refused(why) => write!(f, "not run: {why}"),
            Violation::Panicked(message) => write!(f, "the run panicked: {message}"),
            Violation::NoProgress { at, events, next } => write!(
                f,
                "no progress in virtual time: {events} events at {at} ms without time moving on (next: {next})"
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
    /// The nodes' fsync policy.
    pub fsync: FsyncPolicy,
    /// The crash point forced, if one was.
    pub crash_point: Option<CrashPoint>,
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
    /// List and text tombstones collected, summed over nodes.
    pub collected: u64,
    /// Deadlines reaped, summed over nodes (a deadline reaped by two regions counts twice).
    pub reaped: u64,
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
    /// A report of `config`'s run with what it counted and found, and nothing measured: the
    /// whole report of a run that ended before its checkers could run (a refused mix, a
    /// panic, a stall), and where the checkers' report starts.
    pub(crate) fn new(
        config: &crate::SimConfig,
        counters: Counters,
        violations: Vec<Violation>,
    ) -> Report {
        Report {
            seed: config.seed,
            faults: config.faults,
            fsync: config.fsync,
            crash_point: config.crash_point,
            nodes: config.topology.nodes.len(),
            counters,
            convergence_ms: None,
            duplicates: 0,
            max_causal_depth: 0,
            repairs: 0,
            clock_ahead_reports: 0,
            snapshots_merged: 0,
            collected: 0,
            reaped: 0,
            acked: 0,
            lost_acked: 0,
            violations,
            digest: String::new(),
        }
    }

    /// Whether replicas failed to reach one state consistent with the model.
    pub fn diverged(&self) -> bool {
        self.violations.iter().any(|v| {
            matches!(
                v,
                Violation::NotConverged
                    | Violation::Diverged { .. }
                    | Violation::Model { .. }
                    | Violation::CausalOrder { .. }
                    | Violation::UnitSplit { .. }
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
        write!(f, "seed={} faults={} ", self.seed, self.faults)?;
        if self.fsync != FsyncPolicy::Always {
            write!(f, "fsync={} ", self.fsync)?;
        }
        if let Some(point) = self.crash_point {
            write!(f, "crash_point={point} ")?;
        }
        write!(
            f,
            "{} writes={} acked={} msgs/op={:.2} bytes/op={:.0} dup/op={:.3} max_causal={} converge_ms={} snapshots={} collected={} reaped={} lost={} dup_net={} reordered={} cuts={} crashes={} lost_unpersisted={} digest={}",
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
            self.collected,
            self.reaped,
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
