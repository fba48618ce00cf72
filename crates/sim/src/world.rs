//! The discrete-event world: nodes running the real replica state machine, a network of
//! links with latency and faults, simulated persistence, and the clients' writes.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::{ActorId, Command, Dot, VersionVector};
use meridian_replica::{Config, Message, Millis, Op, Output, Replica, Role, Topology, WriteError};
use meridian_store::{Batch, FaultKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::disk::SimDisk;
use crate::faults::{self, Fault, FaultMix, Lossy};
use crate::report::{Counters, Violation};
use crate::workload;

/// Wall clock of virtual time 0: 2026-01-01, in ms since the Unix epoch.
const WALL_EPOCH: u64 = 1_767_225_600_000;
/// Latency of a link whose topology gives none.
const DEFAULT_LATENCY_MS: u64 = 10;

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
    /// The batch's fsync returned: it is durable.
    Synced(Persisting),
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

/// Where in the persistence of a batch an armed crash strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CrashPoint {
    /// The op is accepted, not yet written.
    Accepted,
    /// The batch is written, not yet synced: the crash loses it.
    Committed,
    /// The batch is synced, the replica not yet told: durable but never acknowledged.
    Synced,
}

#[derive(Debug)]
struct Node {
    replica: Option<Replica>,
    disk: SimDisk,
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

/// A write a client made and what became of it.
#[derive(Debug, Clone)]
pub(crate) struct ClientWrite {
    pub(crate) key: Bytes,
    pub(crate) command: Command,
}

/// One simulated cluster for one seed.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) topology: Arc<Topology>,
    config: Config,
    mix: FaultMix,
    rng: ChaCha8Rng,
    now: Millis,
    queue: BinaryHeap<Reverse<(Millis, u64)>>,
    events: BTreeMap<u64, Event>,
    next_event: u64,
    nodes: BTreeMap<ActorId, Node>,
    links: BTreeMap<(ActorId, ActorId), LinkSim>,
    lossy: Option<Lossy>,
    /// Every write a client made, by dot (a dot lost in a crash may be reused: last wins).
    pub(crate) writes: BTreeMap<Dot, ClientWrite>,
    /// Every op made durable anywhere, by dot: the history the model checks values against
    /// (logs are truncated, so no replica keeps it all).
    pub(crate) history: BTreeMap<Dot, Arc<Op>>,
    /// Acknowledged writes, with what they were when acknowledged. A list, not a map: a dot
    /// acknowledged twice means the first write was lost and its seq reused.
    pub(crate) acked: Vec<(Dot, ClientWrite)>,
    pub(crate) counters: Counters,
    pub(crate) violations: Vec<Violation>,
    writes_issued: u64,
}

impl World {
    pub(crate) fn new(topology: Arc<Topology>, config: Config, mix: FaultMix, seed: u64) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
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
                    incarnation: 0,
                    down: 0,
                    timer: None,
                    crash_armed: None,
                    store_failed_at: None,
                    disk_fault: None,
                    skew_ms,
                    seen_applied: VersionVector::new(),
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
            rng,
            now: 0,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            next_event: 0,
            nodes,
            links,
            lossy,
            writes: BTreeMap::new(),
            acked: Vec::new(),
            history: BTreeMap::new(),
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
            self.push(at, Event::Fault(fault));
        }
    }

    /// Runs events up to and including time `until`.
    pub(crate) fn run_until(&mut self, until: Millis) {
        while let Some(Reverse((at, id))) = self.queue.peek().copied() {
            if at > until {
                break;
            }
            self.queue.pop();
            self.now = at;
            if let Some(event) = self.events.remove(&id) {
                self.handle(event);
            }
        }
        self.now = until;
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
            Event::Timer(node) => {
                let now = self.now;
                if let Some(n) = self.nodes.get_mut(&node) {
                    n.timer = None;
                    if let Some(r) = n.replica.as_mut()
                        && r.poll_timeout().is_some_and(|t| t <= now)
                    {
                        r.handle_timeout(now);
                    }
                }
                self.drain(node);
            }
            Event::Committed(p) => self.committed(p),
            Event::Synced(p) => self.synced(p),
            Event::Write(node) => self.client_write(node, false),
            Event::CrashWrite(node) => self.client_write(node, true),
            Event::Connect(a, b) => self.connect(a, b),
            Event::Fault(fault) => self.fault(fault),
        }
    }

    /// The disk wrote a batch: now its fsync.
    fn committed(&mut self, p: Persisting) {
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
        if n.crash_armed == Some(CrashPoint::Committed) {
            self.kill(p.node);
            return;
        }
        let fsync = self.rng.random_range(1..=8);
        let done = n.disk.busy_until.max(self.now) + fsync;
        n.disk.busy_until = done;
        self.push(done, Event::Synced(p));
    }

    /// The batch's fsync returned: the replica may go on with it.
    fn synced(&mut self, p: Persisting) {
        let now = self.now;
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
        for op in &p.ops {
            self.history.insert(op.dot(), Arc::clone(op));
        }
        if n.crash_armed == Some(CrashPoint::Synced) {
            self.kill(p.node);
            return;
        }
        if let Some(r) = n.replica.as_mut() {
            r.handle_persisted(now, p.batch);
        }
        self.drain(p.node);
    }

    fn store_failed(&mut self, node: ActorId, batch: u64, reason: String) {
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

    fn wall(&self, node: ActorId) -> u64 {
        wall_at(self.now, self.nodes.get(&node).map_or(0, |n| n.skew_ms))
    }

    fn client_write(&mut self, node: ActorId, always_valid: bool) {
        let n_write = self.writes_issued;
        self.writes_issued += 1;
        let (key, command) = if always_valid {
            workload::set_write(n_write)
        } else {
            workload::next_write(&mut self.rng, n_write)
        };
        let now = self.now;
        let wall = self.wall(node);
        let Some(replica) = self.nodes.get_mut(&node).and_then(|n| n.replica.as_mut()) else {
            self.counters.writes_to_down_nodes += 1;
            return;
        };
        match replica.write(now, wall, key.clone(), command.clone()) {
            Ok(dot) => {
                self.counters.writes += 1;
                self.writes.insert(dot, ClientWrite { key, command });
            }
            Err(WriteError::StoreFailed(_)) => self.counters.writes_refused_store_failed += 1,
            Err(_) => self.counters.writes_refused += 1,
        }
        self.drain(node);
    }

    /// Executes every output of `node`, in order, and rearms its timer.
    fn drain(&mut self, node: ActorId) {
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
                Output::Ack(dot) => {
                    if n.store_failed_at.is_some() {
                        self.violations
                            .push(Violation::AckAfterStoreFailure { node, dot });
                    }
                    if let Some(w) = self.writes.get(&dot) {
                        self.acked.push((dot, w.clone()));
                    }
                }
                Output::Applied(op) => {
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
                Output::Merged { applied, .. } => n.seen_applied.merge(&applied),
                Output::CloseLink { peer, error } => {
                    self.violations.push(Violation::ProtocolError {
                        node,
                        peer,
                        error: error.to_string(),
                    });
                }
            }
        }
        // An armed crash strikes between an op's acceptance and its write.
        if self.nodes.get(&node).is_some_and(|n| {
            n.crash_armed == Some(CrashPoint::Accepted)
                && n.replica.as_ref().is_some_and(|r| r.unpersisted() > 0)
        }) {
            self.kill(node);
            return;
        }
        self.arm_timer(node);
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

    fn link_key(a: ActorId, b: ActorId) -> ((ActorId, ActorId), usize) {
        if a < b { ((a, b), 0) } else { ((b, a), 1) }
    }

    fn send(&mut self, from: ActorId, to: ActorId, msg: Message) {
        let (key, dir) = Self::link_key(from, to);
        let Some(link) = self.links.get_mut(&key) else {
            return;
        };
        if !link.connected {
            self.counters.dropped_disconnected += 1;
            return;
        }
        let bytes = rmp_serde::to_vec(&msg).map(|v| v.len()).unwrap_or(0) as u64;
        self.counters.messages += 1;
        self.counters.bytes += bytes;
        if let Message::Ops(ops) = &msg {
            self.counters.op_frames += 1;
            self.counters.op_frame_bytes += bytes;
            self.counters.ops_carried += ops.len() as u64;
        }
        link.sent[dir] += 1;
        let sent = link.sent[dir];
        let epoch = link.epoch;
        let base = link.latency_ms;
        // The handshake rides the transport's reliable control stream: never lost.
        let faulty = !matches!(msg, Message::Hello { .. });
        let mut copies = 1;
        let mut jitter = 0.0;
        if let (Some(lossy), true) = (self.lossy, faulty) {
            if self.rng.random_bool(lossy.loss) {
                self.counters.lost += 1;
                return;
            }
            if self.rng.random_bool(lossy.duplicate) {
                self.counters.duplicated += 1;
                copies = 2;
            }
            jitter = lossy.jitter;
        }
        for _ in 0..copies {
            let extra = if jitter > 0.0 {
                (base as f64 * jitter * self.rng.random::<f64>()) as u64
            } else {
                0
            };
            self.push(
                self.now + base + extra,
                Event::Deliver {
                    from,
                    to,
                    msg: msg.clone(),
                    epoch,
                    sent,
                },
            );
        }
    }

    fn deliver(&mut self, from: ActorId, to: ActorId, msg: Message, epoch: u64, sent: u64) {
        let (key, dir) = Self::link_key(from, to);
        let Some(link) = self.links.get_mut(&key) else {
            return;
        };
        if link.epoch != epoch || !link.connected {
            self.counters.dropped_disconnected += 1;
            return;
        }
        if sent < link.delivered[dir] {
            self.counters.reordered += 1;
        }
        link.delivered[dir] = link.delivered[dir].max(sent);
        let now = self.now;
        let wall = self.wall(to);
        if let Some(r) = self.nodes.get_mut(&to).and_then(|n| n.replica.as_mut()) {
            r.handle_message(now, wall, from, msg);
        }
        self.drain(to);
    }

    fn alive(&self, node: ActorId) -> bool {
        self.nodes.get(&node).is_some_and(|n| n.replica.is_some())
    }

    fn connect(&mut self, a: ActorId, b: ActorId) {
        let (key, _) = Self::link_key(a, b);
        let alive = self.alive(a) && self.alive(b);
        let Some(link) = self.links.get_mut(&key) else {
            return;
        };
        if link.connected || link.cuts > 0 || !alive {
            return;
        }
        link.connected = true;
        link.epoch += 1;
        link.sent = [0; 2];
        link.delivered = [0; 2];
        let now = self.now;
        for (me, peer) in [(a, b), (b, a)] {
            if let Some(r) = self.nodes.get_mut(&me).and_then(|n| n.replica.as_mut()) {
                r.handle_link_up(now, peer);
            }
            self.drain(me);
        }
    }

    fn disconnect(&mut self, a: ActorId, b: ActorId) {
        let (key, _) = Self::link_key(a, b);
        let Some(link) = self.links.get_mut(&key) else {
            return;
        };
        if !link.connected {
            return;
        }
        link.connected = false;
        link.epoch += 1;
        let now = self.now;
        for (me, peer) in [(a, b), (b, a)] {
            if let Some(r) = self.nodes.get_mut(&me).and_then(|n| n.replica.as_mut()) {
                r.handle_link_down(now, peer);
            }
            self.drain(me);
        }
    }

    /// Reconnects after the transport's handshake round trip.
    fn reconnect_later(&mut self, a: ActorId, b: ActorId) {
        let (key, _) = Self::link_key(a, b);
        let rtt = self
            .links
            .get(&key)
            .map_or(DEFAULT_LATENCY_MS, |l| l.latency_ms)
            * 2;
        self.push(self.now + rtt, Event::Connect(a, b));
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
            Fault::Restart(node) => self.restart(node),
        }
    }

    fn neighbours(&self, node: ActorId) -> Vec<ActorId> {
        self.topology.neighbours(node).collect()
    }

    /// A crash fault: the node dies at once if it holds ops that are not durable yet, else
    /// right after it next accepts something (a client write is sent to a leader at once), so
    /// that the crash loses an op; or at its restart time if nothing comes.
    fn crash(&mut self, node: ActorId) {
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        n.down += 1;
        let point = match self.rng.random_range(0..3) {
            0 => CrashPoint::Accepted,
            1 => CrashPoint::Committed,
            _ => CrashPoint::Synced,
        };
        match &n.replica {
            Some(r) if point == CrashPoint::Accepted && r.unpersisted() > 0 => self.kill(node),
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

    /// The process dies: whatever was accepted but not yet durable is lost with it.
    fn kill(&mut self, node: ActorId) {
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        let armed = n.crash_armed.take();
        let Some(r) = n.replica.take() else {
            return;
        };
        self.counters.crashes += 1;
        let lost_unsynced = n.disk.unsynced_batches() > 0;
        if r.unpersisted() > 0 || lost_unsynced || armed == Some(CrashPoint::Synced) {
            self.counters.crashes_mid_persistence += 1;
        }
        self.counters.lost_unpersisted += r.unpersisted() as u64;
        n.incarnation += 1;
        n.timer = None;
        n.disk.crash();
        n.store_failed_at = None;
        for peer in self.neighbours(node) {
            self.disconnect(node, peer);
        }
    }

    fn restart(&mut self, node: ActorId) {
        let now = self.now;
        let wall = self.wall(node);
        let topology = Arc::clone(&self.topology);
        let config = self.config.clone();
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        n.down = n.down.saturating_sub(1);
        if n.down > 0 {
            return;
        }
        if n.crash_armed.is_some() {
            self.kill(node);
        }
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        if n.replica.is_some() {
            return;
        }
        let restored = match n.disk.restored() {
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
            self.history
                .entry(op.dot())
                .or_insert_with(|| Arc::clone(op));
        }
        match Replica::restore(node, topology, config, now, wall, restored) {
            Ok(r) => {
                n.seen_applied = r.applied().clone();
                n.replica = Some(r);
                self.counters.restarts += 1;
            }
            Err(e) => self.violations.push(Violation::Recovery {
                node,
                error: e.to_string(),
            }),
        }
        self.drain(node);
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
                self.kill(id);
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

    /// Whether every node is up, holds and has applied every op any node holds, and has
    /// nothing in flight to its disk.
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
                    && *r.received() == all
                    && *r.applied() == all
                    && *r.compacted_at() == all
                    && Some(r.digest()) == digest
            })
        })
    }

    /// The replicas, for the checkers.
    pub(crate) fn replicas(&self) -> impl Iterator<Item = (ActorId, &Replica)> + '_ {
        self.nodes
            .iter()
            .filter_map(|(id, n)| n.replica.as_ref().map(|r| (*id, r)))
    }
}

fn wall_at(now: Millis, skew_ms: i64) -> u64 {
    (WALL_EPOCH + now).saturating_add_signed(skew_ms)
}
