//! The discrete-event world: nodes running the real replica state machine, a network of
//! links with latency and faults, simulated persistence, and the clients' writes.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::Arc;

use meridian_crdt::{ActorId, Command, Dot, VersionVector};
use meridian_replica::{Config, Message, Millis, Op, Output, Replica, Role, Topology, WriteError};
use meridian_store::{Batch, FaultKind, FsyncPolicy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::SimConfig;
use crate::disk::SimDisk;
use crate::faults::{self, CrashPoint, Fault, FaultMix, Lossy};
use crate::report::{Counters, Violation};
use crate::workload;

mod network;
mod persist;
mod stall;

use stall::describe;

/// Wall clock of virtual time 0: 2026-01-01, in ms since the Unix epoch.
const WALL_EPOCH: u64 = 1_767_225_600_000;
/// Latency of a link whose topology gives none.
const DEFAULT_LATENCY_MS: u64 = 10;
/// Events handled at one virtual instant past which a run counts as stuck: far more than a
/// burst of writes and frames ever makes at one ms (a few thousand with `--ops 100000`).
const EVENTS_PER_INSTANT: u64 = 100_000;

#[derive(Debug)]
enum Event {
    Deliver {
        from: ActorId,
        to: ActorId,
        msg: Message,
        epoch: u64,
        /// Send order on this direction of the link, to detect reordering.
        sent: u64,
    },
    Timer(ActorId),
    /// The disk's writer has written a batch (not yet synced).
    Committed(Persisting),
    /// The batch's fsync returned: it is durable (`always`).
    Synced(Persisting),
    /// The periodic fsync is due (`periodic`, `never`): it starts when the disk is free.
    SyncDue {
        node: ActorId,
        incarnation: u64,
    },
    /// The periodic fsync returned: it covers every batch up to `through`.
    PeriodicSynced {
        node: ActorId,
        incarnation: u64,
        through: u64,
    },
    Write(ActorId),
    /// A write that is always valid (a SET), sent at the moment of a crash.
    CrashWrite(ActorId),
    Connect(ActorId, ActorId),
    Fault(Fault),
}

/// A persist batch on its way to the disk.
#[derive(Debug)]
struct Persisting {
    node: ActorId,
    incarnation: u64,
    batch: u64,
    store_batch: Batch,
    ops: Vec<Arc<Op>>,
}

#[derive(Debug)]
struct Node {
    replica: Option<Replica>,
    disk: SimDisk,
    /// Which disk the node has: bumped when it is replaced, after which what only the old
    /// one held is gone.
    disk_gen: u64,
    /// The disk was replaced and the node has not restarted on the new one yet.
    fresh_disk: bool,
    incarnation: u64,
    /// Crash faults in force (overlapping crashes nest).
    down: u32,
    timer: Option<Millis>,
    /// A crash fault is due: it strikes at this step of the next persistence.
    crash_armed: Option<CrashPoint>,
    /// When the node's store failed, if it did: nothing may be acknowledged after.
    store_failed_at: Option<Millis>,
    /// A store failure armed and not yet struck (a crash clears it on the disk: re-armed at
    /// restart).
    disk_fault: Option<(u64, FaultKind)>,
    skew_ms: i64,
    /// The applied vector as seen through `Applied` outputs: checks causal order.
    seen_applied: VersionVector,
    /// The pub/sub messages delivered here, by origin and number.
    messages_seen: std::collections::BTreeSet<(ActorId, u64)>,
    /// Every op this node holds, with its content: taken into its persistence pipeline in
    /// this life, or still on its disk from an earlier one (kept while it is down).
    held: BTreeMap<Dot, Arc<Op>>,
    /// Ops of batches written and not synced yet: what a crash now takes back.
    unsynced: BTreeMap<Dot, Arc<Op>>,
    /// A periodic fsync is scheduled (`periodic`, `never`).
    sync_due: bool,
    /// The newest batch of this life written to the disk.
    written_through: u64,
    /// Seqs of the local writes this life made: an own op not among them came back from a
    /// peer (the node learning its own history).
    issued: BTreeSet<u64>,
    /// This life started on an empty store (`Replica::rejoin`).
    rejoined: bool,
    /// A retention violation was reported for this node (one is enough).
    retention_flagged: bool,
    /// The replica's count of ops truncated, at the last retention check.
    truncated_seen: u64,
}

#[derive(Debug)]
struct LinkSim {
    latency_ms: u64,
    /// Cut faults in force (overlapping cuts nest).
    cuts: u32,
    connected: bool,
    epoch: u64,
    /// Per direction (from lower id, from higher id): messages sent, highest delivered.
    sent: [u64; 2],
    delivered: [u64; 2],
}

/// A write a client made.
#[derive(Debug, Clone)]
pub(crate) struct ClientWrite {
    pub(crate) command: Command,
}

/// A write acknowledged to its client, with the op it was acknowledged as.
#[derive(Debug, Clone)]
pub(crate) struct Acked {
    pub(crate) dot: Dot,
    pub(crate) op: Arc<Op>,
}

/// Where an op was fsynced: a node and which disk it had then.
#[derive(Debug, Clone)]
pub(crate) struct SyncedAt {
    pub(crate) node: ActorId,
    pub(crate) disk_gen: u64,
    pub(crate) op: Arc<Op>,
}

/// One simulated cluster for one seed.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) topology: Arc<Topology>,
    config: Config,
    mix: FaultMix,
    fsync: FsyncPolicy,
    forced_crash_point: Option<CrashPoint>,
    rng: ChaCha8Rng,
    now: Millis,
    queue: BinaryHeap<Reverse<(Millis, u64)>>,
    events: BTreeMap<u64, Event>,
    next_event: u64,
    nodes: BTreeMap<ActorId, Node>,
    links: BTreeMap<(ActorId, ActorId), LinkSim>,
    lossy: Option<Lossy>,
    /// In the `all` mix, the second chunk of the first snapshot of two chunks or more is lost
    /// on purpose, so that an incomplete snapshot surely has to be sent again (the mix also
    /// requires a snapshot of several chunks to be merged, so this always strikes).
    drop_a_snapshot_chunk: bool,
    /// Every write a client made, by dot (a dot lost in a crash may be reused: last wins).
    pub(crate) writes: BTreeMap<Dot, ClientWrite>,
    /// The content of every op any node took into its persistence pipeline, by dot (a dot lost
    /// without a trace may be reused: last wins). The history the model checks values
    /// against: logs are truncated, so no replica keeps it all.
    pub(crate) contents: BTreeMap<Dot, Arc<Op>>,
    /// Every fsync of every op, by dot.
    pub(crate) synced: BTreeMap<Dot, Vec<SyncedAt>>,
    /// Acknowledged writes. A list, not a map: a dot may be acknowledged twice if its first
    /// write vanished and its seq was issued again.
    pub(crate) acked: Vec<Acked>,
    /// The dots of `acked`.
    acked_dots: BTreeSet<Dot>,
    pub(crate) counters: Counters,
    pub(crate) violations: Vec<Violation>,
    writes_issued: u64,
}

impl World {
    pub(crate) fn new(sim: &SimConfig) -> World {
        let topology = Arc::clone(&sim.topology);
        let mut config = sim.replica.clone();
        config.allow_for_sync_interval(sim.fsync.sync_interval());
        let mix = sim.faults;
        let mut rng = ChaCha8Rng::seed_from_u64(sim.seed);
        let ids: Vec<ActorId> = topology.ids().collect();
        let first_leader = topology
            .nodes
            .iter()
            .find(|n| n.role == Role::Leader)
            .map(|n| n.id);
        let mut nodes = BTreeMap::new();
        for id in &ids {
            let skew_ms = if mix.skew() {
                // Mild skew everywhere, and the first leader five minutes ahead.
                if Some(*id) == first_leader {
                    300_000
                } else {
                    rng.random_range(-2_000..2_000)
                }
            } else {
                0
            };
            let wall = wall_at(0, skew_ms);
            let replica = Replica::new(*id, Arc::clone(&topology), config.clone(), wall)
                .expect("every topology node can start");
            nodes.insert(
                *id,
                Node {
                    replica: Some(replica),
                    disk: SimDisk::default(),
                    disk_gen: 0,
                    fresh_disk: false,
                    incarnation: 0,
                    down: 0,
                    timer: None,
                    crash_armed: None,
                    store_failed_at: None,
                    disk_fault: None,
                    skew_ms,
                    seen_applied: VersionVector::new(),
                    messages_seen: std::collections::BTreeSet::new(),
                    held: BTreeMap::new(),
                    unsynced: BTreeMap::new(),
                    sync_due: false,
                    written_through: 0,
                    issued: BTreeSet::new(),
                    rejoined: false,
                    retention_flagged: false,
                    truncated_seen: 0,
                },
            );
        }
        let links = topology
            .links
            .iter()
            .map(|l| {
                (
                    (l.a, l.b),
                    LinkSim {
                        latency_ms: l.latency_ms.map(u64::from).unwrap_or(DEFAULT_LATENCY_MS),
                        cuts: 0,
                        connected: false,
                        epoch: 0,
                        sent: [0; 2],
                        delivered: [0; 2],
                    },
                )
            })
            .collect();
        let lossy = mix.lossy().then_some(Lossy {
            loss: 0.05,
            duplicate: 0.05,
            jitter: 1.0,
        });
        World {
            topology,
            config,
            mix,
            fsync: sim.fsync,
            forced_crash_point: sim.crash_point,
            rng,
            now: 0,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            next_event: 0,
            nodes,
            links,
            lossy,
            drop_a_snapshot_chunk: mix == FaultMix::All,
            writes: BTreeMap::new(),
            contents: BTreeMap::new(),
            synced: BTreeMap::new(),
            acked: Vec::new(),
            acked_dots: BTreeSet::new(),
            counters: Counters::default(),
            violations: Vec::new(),
            writes_issued: 0,
        }
    }

    pub(crate) fn now(&self) -> Millis {
        self.now
    }

    fn push(&mut self, at: Millis, event: Event) {
        let id = self.next_event;
        self.next_event += 1;
        self.events.insert(id, event);
        self.queue.push(Reverse((at, id)));
    }

    /// Schedules the workload and the faults; connects every link at time 0.
    pub(crate) fn plan(&mut self, ops: usize, window: Millis) {
        let links: Vec<(ActorId, ActorId)> = self.links.keys().copied().collect();
        for (a, b) in &links {
            self.push(0, Event::Connect(*a, *b));
        }
        let leaders: Vec<ActorId> = self
            .topology
            .nodes
            .iter()
            .filter(|n| n.role == Role::Leader)
            .map(|n| n.id)
            .collect();
        // Writes start once the links are up and their state has spread: the steady state.
        let start = (window / 10).min(1_000);
        for _ in 0..ops {
            let at = self.rng.random_range(start..window);
            let node = leaders[self.rng.random_range(0..leaders.len())];
            self.push(at, Event::Write(node));
        }
        let ids: Vec<ActorId> = self.nodes.keys().copied().collect();
        for (at, fault) in faults::schedule(&mut self.rng, self.mix, &ids, &leaders, &links, window)
        {
            if let Fault::LoseDisk(node) = fault
                && leaders.contains(&node)
            {
                // Clients write there just before the disk goes, so that it has a history of
                // its own at its peers, and go on writing through its return.
                for i in 1..=3 {
                    self.push(at.saturating_sub(i * 100), Event::Write(node));
                }
                for i in 1..=12 {
                    if at + i * 250 < window {
                        self.push(at + i * 250, Event::Write(node));
                    }
                }
            }
            self.push(at, Event::Fault(fault));
        }
    }

    /// Runs events up to and including time `until`. A world that handles
    /// [`EVENTS_PER_INSTANT`] events without virtual time moving is stuck (a timer asked for
    /// again and again at a past instant, messages bouncing with no latency): it records
    /// [`Violation::NoProgress`] and runs nothing more, so that the seed fails instead of
    /// hanging.
    pub(crate) fn run_until(&mut self, until: Millis) {
        if self.stalled() {
            return;
        }
        let mut at_this_instant = 0u64;
        while let Some(Reverse((at, id))) = self.queue.peek().copied() {
            if at > until {
                break;
            }
            if at == self.now {
                at_this_instant += 1;
                if at_this_instant > EVENTS_PER_INSTANT {
                    let next = self.events.get(&id).map_or_else(String::new, describe);
                    self.violations.push(Violation::NoProgress {
                        at,
                        events: at_this_instant - 1,
                        next,
                    });
                    self.queue.clear();
                    self.events.clear();
                    return;
                }
            } else {
                at_this_instant = 1;
            }
            self.queue.pop();
            self.now = at;
            if let Some(event) = self.events.remove(&id) {
                self.handle(event);
            }
        }
        self.now = until;
    }

    /// Whether the run stopped for making no progress in virtual time.
    pub(crate) fn stalled(&self) -> bool {
        self.violations
            .iter()
            .any(|v| matches!(v, Violation::NoProgress { .. }))
    }

    /// Stops injecting loss and duplication: the network heals for the settle phase.
    pub(crate) fn calm(&mut self) {
        self.lossy = None;
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Deliver {
                from,
                to,
                msg,
                epoch,
                sent,
            } => self.deliver(from, to, msg, epoch, sent),
            Event::Timer(node) => self.timer(node),
            Event::Committed(p) => self.committed(p),
            Event::Synced(p) => self.synced(p),
            Event::SyncDue { node, incarnation } => self.sync_due(node, incarnation),
            Event::PeriodicSynced {
                node,
                incarnation,
                through,
            } => self.periodic_synced(node, incarnation, through),
            Event::Write(node) => self.client_write(node, false),
            Event::CrashWrite(node) => self.client_write(node, true),
            Event::Connect(a, b) => self.connect(a, b),
            Event::Fault(fault) => self.fault(fault),
        }
    }

    fn timer(&mut self, node: ActorId) {
        let now = self.now;
        let wall = self.wall(node);
        let mut ticked = false;
        if let Some(n) = self.nodes.get_mut(&node) {
            n.timer = None;
            if let Some(r) = n.replica.as_mut()
                && r.poll_timeout().is_some_and(|t| t <= now)
            {
                let rounds = r.stats().gossip_rounds;
                r.handle_timeout(now, wall);
                // A gossip round truncates the log.
                ticked = r.stats().gossip_rounds > rounds;
            }
        }
        if ticked {
            self.check_retention(node);
        }
        self.drain(node);
    }

    /// Right after a gossip round, which truncates the log: a log past `retention_ops` or
    /// `retention_bytes` keeps no op that this node's durable state already reflects. The
    /// node's own matrix row reports a vector at most its durable applied one, so an op it
    /// covers must be gone.
    fn check_retention(&mut self, node: ActorId) {
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        let Some(r) = n.replica.as_ref() else {
            return;
        };
        let log = r.log();
        let over =
            log.len() > self.config.retention_ops || log.bytes() > self.config.retention_bytes;
        let Some(row) = r.matrix().row(node) else {
            return;
        };
        let stable = r.matrix().stable_received();
        // Whether this round dropped ops that not every node holds.
        let truncated = r.stats().truncated;
        let dropped = truncated > n.truncated_seen;
        n.truncated_seen = truncated;
        let mut past_stability = false;
        let mut kept = None;
        for origin in self.topology.ids() {
            if over
                && let Some(first) = log.first(origin)
                && first <= row.applied.get(origin)
            {
                kept = Some(Dot::new(origin, first));
            }
            past_stability |= log.horizon(origin) > stable.get(origin) + 1;
        }
        self.counters.retention_checks += 1;
        if dropped && past_stability {
            self.counters.rounds_truncated_past_stability += 1;
        }
        if let Some(dot) = kept
            && !n.retention_flagged
        {
            n.retention_flagged = true;
            self.violations.push(Violation::RetentionExceeded {
                node,
                ops: log.len(),
                bytes: log.bytes(),
                kept: dot,
            });
        }
    }

    fn wall(&self, node: ActorId) -> u64 {
        wall_at(self.now, self.nodes.get(&node).map_or(0, |n| n.skew_ms))
    }

    fn client_write(&mut self, node: ActorId, always_valid: bool) {
        let n_write = self.writes_issued;
        self.writes_issued += 1;
        let writes = if always_valid {
            vec![workload::set_write(n_write)]
        } else if self.rng.random_ratio(1, 16) {
            workload::unit_write(&mut self.rng, n_write)
        } else {
            let replica = self.nodes.get(&node).and_then(|n| n.replica.as_ref());
            vec![workload::next_write(
                &mut self.rng,
                n_write,
                replica.map(|r| r.keyspace()),
            )]
        };
        let now = self.now;
        let wall = self.wall(node);
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        let Some(replica) = n.replica.as_mut() else {
            self.counters.writes_to_down_nodes += 1;
            return;
        };
        if !always_valid && n_write % 8 == 0 {
            let message = bytes::Bytes::from(format!("m{n_write}"));
            if replica
                .publish(now, bytes::Bytes::from_static(b"news"), message)
                .is_ok()
            {
                self.counters.messages_published += 1;
            }
        }
        let unit = writes.len() > 1;
        if unit {
            replica.open_unit();
        }
        for (key, command) in writes {
            match replica.write(now, wall, key, command.clone()) {
                Ok(dot) => {
                    self.counters.writes += 1;
                    if unit {
                        self.counters.unit_writes += 1;
                    }
                    if n.rejoined {
                        self.counters.writes_after_rejoin += 1;
                    }
                    n.issued.insert(dot.seq);
                    self.writes.insert(dot, ClientWrite { command });
                }
                Err(WriteError::StoreFailed(_)) => self.counters.writes_refused_store_failed += 1,
                Err(WriteError::Recovering(_)) => self.counters.writes_refused_recovering += 1,
                Err(_) => self.counters.writes_refused += 1,
            }
        }
        if unit {
            replica.close_unit(now);
        }
        self.drain(node);
    }

    /// Executes every output of `node`, in order, and rearms its timer.
    fn drain(&mut self, node: ActorId) {
        // The next op of a unit being applied from a peer: it must come next, in this drain.
        let mut unit_next: Option<Dot> = None;
        loop {
            let Some(n) = self.nodes.get_mut(&node) else {
                return;
            };
            let Some(replica) = n.replica.as_mut() else {
                return;
            };
            let Some(output) = replica.poll_output() else {
                break;
            };
            match output {
                Output::Persist {
                    batch,
                    ops,
                    state,
                    applied,
                    truncate,
                } => {
                    self.take_in(node, &ops);
                    let Some(n) = self.nodes.get_mut(&node) else {
                        return;
                    };
                    let incarnation = n.incarnation;
                    let write = self.rng.random_range(1..=3);
                    let done = n.disk.busy_until.max(self.now) + write;
                    n.disk.busy_until = done;
                    let store_batch = crate::disk::store_batch(&ops, state, &applied, truncate);
                    self.push(
                        done,
                        Event::Committed(Persisting {
                            node,
                            incarnation,
                            batch,
                            store_batch,
                            ops,
                        }),
                    );
                }
                Output::Send { to, msg } => self.send(node, to, msg),
                Output::Ack(dot) => self.acknowledged(node, dot),
                Output::Applied { op, .. } => {
                    // A peer's unit is applied in one step: its ops one after another, the
                    // first after an op that ends a unit (or none).
                    if op.origin != node {
                        let dot = op.dot();
                        let starts_inside = op.seq > 1
                            && self
                                .contents
                                .get(&Dot::new(op.origin, op.seq - 1))
                                .is_some_and(|prev| prev.continues);
                        let split = match unit_next {
                            Some(next) => next != dot,
                            None => starts_inside,
                        };
                        if split {
                            self.violations.push(Violation::UnitSplit {
                                node,
                                origin: op.origin,
                                seq: op.seq,
                            });
                        }
                        unit_next = op.continues.then(|| Dot::new(op.origin, op.seq + 1));
                    }
                    let seen = &mut n.seen_applied;
                    if seen.get(op.origin) + 1 != op.seq || !seen.dominates(&op.deps) {
                        self.violations.push(Violation::CausalOrder {
                            node,
                            origin: op.origin,
                            seq: op.seq,
                        });
                    }
                    seen.set(op.origin, op.seq);
                }
                Output::Merged { applied, .. } => {
                    if applied.get(node) > n.seen_applied.get(node) {
                        // The snapshot brought back ops of our own: learning our history.
                        self.counters.own_history_snapshots += 1;
                    }
                    n.seen_applied.merge(&applied);
                }
                // Pub/sub reaches each region at most once.
                Output::Published { origin, seq, .. } => {
                    if !n.messages_seen.insert((origin, seq)) {
                        self.violations
                            .push(Violation::MessageTwice { node, origin, seq });
                    }
                }
                Output::CloseLink { peer, error } => {
                    self.violations.push(Violation::ProtocolError {
                        node,
                        peer,
                        error: error.to_string(),
                    });
                }
            }
        }
        if let Some(dot) = unit_next {
            self.violations.push(Violation::UnitSplit {
                node,
                origin: dot.actor,
                seq: dot.seq - 1,
            });
        }
        // An armed crash strikes between an op's acceptance and its write.
        if self.nodes.get(&node).is_some_and(|n| {
            n.crash_armed == Some(CrashPoint::Accepted)
                && n.replica.as_ref().is_some_and(|r| r.unpersisted() > 0)
        }) {
            self.kill(node, Some(CrashPoint::Accepted));
            return;
        }
        self.arm_timer(node);
    }

    /// `node` takes `ops` into its persistence pipeline (its own new writes, or ops from its
    /// peers). A sequence number may be issued again only for an op that vanished without a
    /// trace: if any node still holds another op under the same dot, in memory or on disk,
    /// one of the two is dropped as a duplicate wherever the other arrived first.
    fn take_in(&mut self, node: ActorId, ops: &[Arc<Op>]) {
        for op in ops {
            let dot = op.dot();
            for (holder, h) in &self.nodes {
                if let Some(other) = h.held.get(&dot)
                    && !same_op(other, op)
                {
                    self.violations.push(Violation::SeqReused {
                        dot,
                        node,
                        holder: *holder,
                    });
                }
            }
            let Some(n) = self.nodes.get_mut(&node) else {
                return;
            };
            // A reap is the node's own op, issued by its replica, not by a client.
            if op.origin == node && matches!(op.payload, meridian_crdt::Payload::Reap { .. }) {
                n.issued.insert(op.seq);
            }
            if op.origin == node {
                if !n.issued.contains(&op.seq) {
                    self.counters.own_ops_recovered += 1;
                } else if self
                    .contents
                    .get(&dot)
                    .is_some_and(|earlier| !same_op(earlier, op))
                {
                    self.counters.seqs_issued_again += 1;
                    if self.acked_dots.contains(&dot) {
                        self.counters.acked_seqs_issued_again += 1;
                    }
                }
            }
            n.held.insert(dot, Arc::clone(op));
            self.contents.insert(dot, Arc::clone(op));
        }
    }

    /// A local write is acknowledged: it must be durable at the fsync level, synced on this
    /// node's disk under `always`, written under `periodic` and `never`.
    fn acknowledged(&mut self, node: ActorId, dot: Dot) {
        let Some(n) = self.nodes.get(&node) else {
            return;
        };
        if n.store_failed_at.is_some() {
            self.violations
                .push(Violation::AckAfterStoreFailure { node, dot });
        }
        let Some(op) = n.held.get(&dot).cloned() else {
            self.violations
                .push(Violation::AckBeforeDurable { node, dot });
            return;
        };
        let synced_here = self.synced.get(&dot).is_some_and(|at| {
            at.iter()
                .any(|s| s.node == node && s.disk_gen == n.disk_gen && same_op(&s.op, &op))
        });
        let written = synced_here || n.unsynced.get(&dot).is_some_and(|o| same_op(o, &op));
        let durable = match self.fsync {
            FsyncPolicy::Always => synced_here,
            FsyncPolicy::Periodic(_) | FsyncPolicy::Never => written,
        };
        if !durable {
            self.violations
                .push(Violation::AckBeforeDurable { node, dot });
        }
        if self.writes.contains_key(&dot) {
            self.acked.push(Acked { dot, op });
            self.acked_dots.insert(dot);
        }
    }

    fn arm_timer(&mut self, node: ActorId) {
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        let Some(due) = n.replica.as_ref().and_then(|r| r.poll_timeout()) else {
            return;
        };
        let due = due.max(self.now);
        if n.timer.is_some_and(|t| t <= due) {
            return;
        }
        n.timer = Some(due);
        self.push(due, Event::Timer(node));
    }

    fn fault(&mut self, fault: Fault) {
        match fault {
            Fault::Cut(a, b) => {
                self.counters.cuts += 1;
                let (key, _) = Self::link_key(a, b);
                if let Some(link) = self.links.get_mut(&key) {
                    link.cuts += 1;
                }
                self.disconnect(a, b);
            }
            Fault::Heal(a, b) => {
                let (key, _) = Self::link_key(a, b);
                if let Some(link) = self.links.get_mut(&key) {
                    link.cuts = link.cuts.saturating_sub(1);
                }
                self.reconnect_later(a, b);
            }
            Fault::DiskFail(node) => {
                let n_ops = self.rng.random_range(1..=4);
                let kind = match self.rng.random_range(0..3) {
                    0 => FaultKind::Write,
                    1 => FaultKind::Fsync,
                    _ => FaultKind::DiskFull,
                };
                self.counters.disk_faults_armed += 1;
                if let Some(n) = self.nodes.get_mut(&node) {
                    n.disk.fail_after(n_ops, kind);
                    n.disk_fault = Some((n_ops, kind));
                    // Clients keep writing there.
                    for i in 0..8 {
                        self.push(self.now + i * 50, Event::Write(node));
                    }
                }
            }
            Fault::Crash(node) => self.crash(node),
            Fault::LoseDisk(node) => self.lose_disk(node),
            Fault::Restart(node) => self.restart(node),
        }
    }

    fn neighbours(&self, node: ActorId) -> Vec<ActorId> {
        self.topology.neighbours(node).collect()
    }

    /// Whether every node is up, holds and has applied every op any node holds, has nothing
    /// in flight to its disk, and holds no deadline still to pass (whose reap would be news).
    pub(crate) fn converged(&self) -> bool {
        let mut all = VersionVector::new();
        for n in self.nodes.values() {
            match &n.replica {
                Some(r) => all.merge(r.received()),
                None => return false,
            }
        }
        let digest = self
            .nodes
            .values()
            .find_map(|n| n.replica.as_ref().map(|r| r.digest()));
        // Counter compaction changes the canonical state: wait until every replica compacted
        // at the full vector (a gossip tick after everything was applied everywhere), after
        // which replicas that applied the same ops hold the same bytes.
        self.nodes.values().all(|n| {
            n.replica.as_ref().is_some_and(|r| {
                r.is_quiescent()
                    && r.keyspace().first_deadline().is_none()
                    && *r.received() == all
                    && *r.applied() == all
                    && *r.compacted_at() == all
                    && Some(r.digest()) == digest
            })
        })
    }

    /// Whether every node is up with nothing on its way to its disk.
    pub(crate) fn quiescent(&self) -> bool {
        self.nodes
            .values()
            .all(|n| n.replica.as_ref().is_some_and(|r| r.is_quiescent()))
    }

    /// Ops in each node's log, in memory and in its store.
    pub(crate) fn logs(&self) -> Vec<(ActorId, usize, Result<usize, String>)> {
        self.nodes
            .iter()
            .filter_map(|(id, n)| {
                let r = n.replica.as_ref()?;
                Some((*id, r.log().len(), n.disk.logged_ops()))
            })
            .collect()
    }

    /// The replicas, for the checkers.
    pub(crate) fn replicas(&self) -> impl Iterator<Item = (ActorId, &Replica)> + '_ {
        self.nodes
            .iter()
            .filter_map(|(id, n)| n.replica.as_ref().map(|r| (*id, r)))
    }

    /// The op `node` holds under `dot`, if it holds one with its content.
    pub(crate) fn held(&self, node: ActorId, dot: Dot) -> Option<&Arc<Op>> {
        self.nodes.get(&node)?.held.get(&dot)
    }

    /// Whether `op` was fsynced on a disk that is still in place.
    pub(crate) fn durable_somewhere(&self, op: &Arc<Op>) -> bool {
        self.synced.get(&op.dot()).is_some_and(|at| {
            at.iter().any(|s| {
                same_op(&s.op, op)
                    && self
                        .nodes
                        .get(&s.node)
                        .is_some_and(|n| n.disk_gen == s.disk_gen)
            })
        })
    }

    /// Whether any node, up or down, holds `op`.
    pub(crate) fn held_somewhere(&self, op: &Arc<Op>) -> bool {
        self.nodes
            .values()
            .any(|n| n.held.get(&op.dot()).is_some_and(|h| same_op(h, op)))
    }
}

/// Whether two ops are the same op (not only the same dot).
pub(crate) fn same_op(a: &Arc<Op>, b: &Arc<Op>) -> bool {
    Arc::ptr_eq(a, b) || **a == **b
}

fn wall_at(now: Millis, skew_ms: i64) -> u64 {
    (WALL_EPOCH + now).saturating_add_signed(skew_ms)
}
