//! The replica state machine.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::{ActorId, Command, Digest, Dot, Hlc, Keyspace, OpMeta, Payload, VersionVector};

use crate::clock::HlcClock;
use crate::config::Config;
use crate::link::{Link, LinkState, LinkStatus};
use crate::log::OpLog;
use crate::matrix::{LinkView, MatrixClock};
use crate::op::{MAX_SEQ, Message, Op, PROTOCOL_VERSION};
use crate::output::{NewError, Output, PeerError, WriteError, printable_key};
use crate::stats::Stats;
use compact::Epochs;
use history::HistoryGate;

mod compact;
mod expiry;
mod forward;
mod history;
mod persist;
mod pubsub;
mod receive;
mod snapshot;
use crate::topology::{Role, Routes, Topology};

/// Milliseconds on the driver's monotonic clock (virtual time in the simulator).
pub type Millis = u64;

/// One region's replica of the whole keyspace, without IO.
///
/// Inputs are `handle_*` methods, commands are plain methods ([`Replica::write`]), outputs are
/// drained with [`Replica::poll_output`] and the next timer with [`Replica::poll_timeout`].
/// A driver calls, in a loop: any input or command, then `poll_output` until it returns
/// `None`, executing each output in order, then waits until the earliest of `poll_timeout`
/// and the next input, and calls [`Replica::handle_timeout`] when the timer fires.
///
/// Outputs come in the order the driver must execute them: an op is handed out in
/// [`Output::Persist`]; once the driver reports the batch written
/// ([`Replica::handle_written`]) a local write is acknowledged ([`Output::Ack`]), and only once
/// it reports the batch synced ([`Replica::handle_synced`]; both at once with
/// [`Replica::handle_persisted`]) is the op sent to neighbours ([`Output::Send`]). See
/// `persist.rs` for why.
#[derive(Debug)]
pub struct Replica {
    me: ActorId,
    role: Role,
    delay_ms: Millis,
    config: Config,
    topology: Arc<Topology>,
    keyspace: Keyspace,
    clock: HlcClock,
    log: OpLog,
    /// Ops taken into the persistence pipeline (staged, persisting or durable), contiguous.
    accepted: VersionVector,
    /// Ops written to the log (or covered by a merged snapshot), contiguous.
    received: VersionVector,
    /// Ops on batches an fsync covers, in the log or in state, contiguous; at most `received`.
    /// What this node forwards, and claims to hold (its Hello and its row).
    synced: VersionVector,
    /// Ops applied to the keyspace, contiguous and causally closed.
    applied: VersionVector,
    next_seq: u64,
    staged: Vec<Staged>,
    /// Batches handed to the driver and not written yet, in order.
    persisting: VecDeque<Batch>,
    /// Batches written and not synced yet, in order.
    unsynced: VecDeque<persist::Written>,
    /// Our own ops staged or being written, in seq order (the oldest gives our row's
    /// `applied` without a walk over every op in flight).
    own_unwritten: VecDeque<Arc<Op>>,
    /// The newest batch the driver reported synced: every batch up to it is.
    synced_through: u64,
    next_batch: u64,
    /// Ops that arrived ahead of a gap in their origin's sequence.
    out_of_order: BTreeMap<Dot, Arc<Op>>,
    /// Durable, not yet applied: when each became durable (delayed replicas wait on it).
    durable_at: BTreeMap<ActorId, VecDeque<Millis>>,
    links: BTreeMap<ActorId, Link>,
    view: LinkView,
    advert_version: u64,
    routes: Routes,
    matrix: MatrixClock,
    outputs: VecDeque<Output>,
    next_gossip: Option<Millis>,
    stats: Stats,
    /// Keys applied to since the last checkpoint: their state goes in the next one. Hashed,
    /// not sorted: every applied op inserts here, and a `BTreeSet` cost each one about 17 key
    /// comparisons (6 % of a node's CPU under `redis-benchmark -t set`); a checkpoint sorts
    /// its keys once.
    dirty: HashSet<Bytes>,
    /// When the next checkpoint is due (armed once a key is dirty).
    next_checkpoint: Option<Millis>,
    /// The next batch carries the state of every dirty key.
    checkpoint_now: bool,
    /// The applied vector of the newest checkpoint handed out: what the stored state reflects
    /// once that batch is written.
    checkpoint_applied: VersionVector,
    /// The vector counters were last compacted at (empty again after a snapshot merge, which
    /// may bring entries not compacted yet).
    compacted_at: VersionVector,
    /// Collection epochs not yet covered by stability, with the vector each ended at.
    epochs: Epochs,
    /// The applied vector of the newest synced state.
    durable_applied: VersionVector,
    /// The log's base: ops covered by it were truncated (or covered by a snapshot).
    truncated: VersionVector,
    /// The base moved since the last batch.
    truncate_pending: bool,
    /// Snapshots being received, by peer.
    snapshots_in: BTreeMap<ActorId, snapshot::Incoming>,
    next_snapshot_id: u64,
    /// Set once the driver reported a failed persist: nothing is acknowledged or accepted
    /// after it.
    store_failed: Option<String>,
    /// The newest HLC stamp among the ops applied here since start.
    newest_applied: Option<Hlc>,
    /// Set while a unit of local writes is open (`open_unit`): its ops are marked to be
    /// applied together everywhere, and until it closes nothing else happens to the state or
    /// the log here (no op from a peer is applied, no batch is cut, no snapshot is built, no
    /// deadline is reaped by the timer), so a unit is contiguous, causally uniform and
    /// persisted in one batch.
    unit_open: bool,
    /// The number of this region's next pub/sub message (`pubsub`).
    next_publish: u64,
    /// Per origin, the newest pub/sub message number seen: older ones are dropped.
    published_seen: BTreeMap<ActorId, u64>,
    /// While set, local writes wait: this node does not yet know how far its own history goes.
    history_gate: Option<HistoryGate>,
    /// The newest `(now, wall)` pair a driver passed in: maps a deadline in wall-clock time
    /// to a timer in driver time.
    wall_seen: (Millis, u64),
    /// Started on a new store on the operator's word that the cluster is new
    /// ([`Replica::new_cluster`]): a neighbour holding ops of ours proves the word wrong.
    verify_history: bool,
}

/// What a restarted node read back from its store.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// Every key's state, as `Keyspace::encode_key` made it.
    pub state: Vec<(Bytes, Vec<u8>)>,
    /// The applied vector stored with that state.
    pub applied: VersionVector,
    /// The log's base: ops covered by it are gone from the log.
    pub truncated: VersionVector,
    /// The log, in seq order per origin, starting right after `truncated`.
    pub ops: Vec<Arc<Op>>,
    /// Whether the store surely holds every op this node ever sent (fsync `always`, or a clean
    /// shutdown). Otherwise the node learns its own history from a peer before writing.
    pub history_complete: bool,
}

#[derive(Debug)]
struct Batch {
    id: u64,
    staged: Vec<Staged>,
    applied: VersionVector,
    written: bool,
}

#[derive(Debug)]
struct Staged {
    op: Arc<Op>,
    /// The neighbour it came from; `None` for a local write.
    from: Option<ActorId>,
}

impl Replica {
    /// A replica with empty state. `wall` is the wall clock in milliseconds since the Unix epoch.
    pub fn new(
        me: ActorId,
        topology: Arc<Topology>,
        config: Config,
        wall: u64,
    ) -> Result<Replica, NewError> {
        config.validate()?;
        let spec = topology.node(me).ok_or(NewError::NotInTopology(me))?;
        let role = spec.role;
        let delay_ms = spec
            .delay
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let view = LinkView::default();
        let routes = Routes::new(&topology, |a, b| view.is_up(a, b));
        let clock = HlcClock::new(wall, config.max_clock_ahead_ms);
        let links = topology
            .neighbours(me)
            .map(|peer| (peer, Link::new()))
            .collect();
        let mut replica = Replica {
            me,
            role,
            delay_ms,
            config,
            matrix: MatrixClock::new(topology.ids()),
            topology,
            keyspace: Keyspace::new(),
            clock,
            log: OpLog::new(),
            accepted: VersionVector::new(),
            received: VersionVector::new(),
            synced: VersionVector::new(),
            applied: VersionVector::new(),
            next_seq: 1,
            staged: Vec::new(),
            persisting: VecDeque::new(),
            unsynced: VecDeque::new(),
            own_unwritten: VecDeque::new(),
            synced_through: 0,
            next_batch: 1,
            out_of_order: BTreeMap::new(),
            durable_at: BTreeMap::new(),
            links,
            view,
            advert_version: 0,
            routes,
            outputs: VecDeque::new(),
            next_gossip: None,
            stats: Stats::default(),
            dirty: HashSet::new(),
            next_checkpoint: None,
            checkpoint_now: false,
            checkpoint_applied: VersionVector::new(),
            compacted_at: VersionVector::new(),
            epochs: Epochs::default(),
            durable_applied: VersionVector::new(),
            truncated: VersionVector::new(),
            truncate_pending: false,
            snapshots_in: BTreeMap::new(),
            next_snapshot_id: 1,
            unit_open: false,
            next_publish: wall.saturating_mul(1000),
            published_seen: BTreeMap::new(),
            history_gate: None,
            verify_history: false,
            wall_seen: (0, wall),
            newest_applied: None,
            store_failed: None,
        };
        replica.keyspace.set_clock(wall);
        replica.check_history_override()?;
        // Until links come up, this node advertises none of them.
        replica.advertise_links();
        Ok(replica)
    }

    /// A node of a cluster being created, on a new store, on the operator's word that no node
    /// holds any op yet (a node config's `initial_cluster_state = "new"`): it writes at once,
    /// like [`Replica::new`]. Should a neighbour's handshake show ops of ours that this node
    /// never wrote, the word was wrong: writes are then refused until those ops are back
    /// (`Stats::history_found_behind`), so that no later write reuses their seqs.
    pub fn new_cluster(
        me: ActorId,
        topology: Arc<Topology>,
        config: Config,
        wall: u64,
    ) -> Result<Replica, NewError> {
        let mut replica = Replica::new(me, topology, config, wall)?;
        replica.verify_history = true;
        Ok(replica)
    }

    /// A node joining a cluster with a new store while its actor id may already have history
    /// at its peers (a replaced disk, a reinstalled host), or a node of a brand-new cluster.
    /// Local writes are refused with [`WriteError::Recovering`] until the handshake of every
    /// neighbour (but those in `Config::open_history_without`) has told it how far its own
    /// history goes and it holds all of it again, so it never reuses a sequence number
    /// ([`Replica::history_wait`] says what it still waits for).
    pub fn rejoin(
        me: ActorId,
        topology: Arc<Topology>,
        config: Config,
        wall: u64,
    ) -> Result<Replica, NewError> {
        let mut replica = Replica::new(me, topology, config, wall)?;
        replica.close_history_gate();
        Ok(replica)
    }

    /// A replica rebuilt from its durable log alone (no stored state) after a restart: every
    /// op is re-applied in causal order. Ops must come in seq order per origin, each origin
    /// from seq 1. Every op the node sent is assumed to be in `ops`.
    pub fn recover(
        me: ActorId,
        topology: Arc<Topology>,
        config: Config,
        now: Millis,
        wall: u64,
        ops: impl IntoIterator<Item = Arc<Op>>,
    ) -> Result<Replica, NewError> {
        let restored = Restored {
            ops: ops.into_iter().collect(),
            history_complete: true,
            ..Restored::default()
        };
        Replica::restore(me, topology, config, now, wall, restored)
    }

    /// A replica rebuilt from what its store held: the state, the vector it reflects, the log
    /// base and the log after it. Ops beyond the state's vector are re-applied. A key state
    /// that does not decode is [`NewError::State`], naming the key, never a panic.
    pub fn restore(
        me: ActorId,
        topology: Arc<Topology>,
        config: Config,
        now: Millis,
        wall: u64,
        restored: Restored,
    ) -> Result<Replica, NewError> {
        let mut replica = Replica::new(me, topology, config, wall)?;
        check_stored_seqs(&restored)?;
        for (key, bytes) in restored.state {
            replica
                .keyspace
                .load_key(key.clone(), &bytes)
                .map_err(|reason| NewError::State {
                    key: printable_key(&key),
                    reason,
                })?;
        }
        replica.applied = restored.applied.clone();
        replica.durable_applied = restored.applied.clone();
        replica.checkpoint_applied = restored.applied.clone();
        replica.truncated = restored.truncated.clone();
        for (origin, upto) in restored.truncated.iter() {
            replica.log.set_base(origin, upto);
        }
        for op in restored.ops {
            let origin = op.origin;
            let seq = op.seq;
            if seq < replica.log.horizon(origin) {
                continue;
            }
            replica.log.append(op)?;
            if seq > replica.applied.get(origin) {
                replica.durable_at.entry(origin).or_default().push_back(now);
            }
        }
        for (origin, upto) in restored.applied.iter() {
            let last = replica.log.horizon(origin) + replica.log.held(origin) as u64 - 1;
            if last < upto {
                // The state covers ops the log does not reach (a snapshot's): start after them.
                replica.log.set_base(origin, upto);
            }
        }
        let mut received = restored.applied.clone();
        received.merge(&restored.truncated);
        for origin in replica.topology.ids() {
            let last = replica.log.horizon(origin) + replica.log.held(origin) as u64;
            if last > 1 {
                received.set(origin, received.get(origin).max(last - 1));
            }
        }
        // What a store gives back on open is what survived: synced.
        replica.received = received.clone();
        replica.synced = received.clone();
        replica.accepted = received;
        replica.next_seq = replica.received.get(me) + 1;
        replica.try_apply(now);
        replica.update_own_row();
        // The ops re-applied from the log go to the store at the next checkpoint, and the
        // gossip tick truncates and compacts: neither may wait for a link or a write (a node
        // with no neighbour up would otherwise keep them pending for ever).
        replica.arm_checkpoint(now);
        replica.ensure_gossip_timer(now);
        // Recovery re-applies history: that is not news for a change feed, and the state it
        // rebuilds from the log goes to the store with the next batch anyway.
        replica
            .outputs
            .retain(|o| !matches!(o, Output::Applied { .. }));
        if !restored.history_complete {
            replica.close_history_gate();
        }
        Ok(replica)
    }

    // ----- commands -----

    /// Accepts a local write. The op is applied at once (reads see it) and acknowledged with
    /// [`Output::Ack`] once durable. Errors leave the state unchanged.
    pub fn write(
        &mut self,
        now: Millis,
        wall: u64,
        key: Bytes,
        command: Command,
    ) -> Result<Dot, WriteError> {
        if let Some(refused) = self.write_refusal() {
            return Err(refused);
        }
        let limit = self.config.limits.max_key_bytes;
        if key.len() > limit {
            return Err(WriteError::TooLong {
                what: "key",
                len: key.len(),
                limit,
            });
        }
        self.observe_wall(now, wall);
        // A write reads the key as its expiry left it: reaped, not merely hidden.
        self.reap_key(now, wall, &key);
        let payload = self.keyspace.prepare(&key, command, &self.applied)?;
        let dot = self.issue(now, wall, key.clone(), payload);
        // A deadline already passed (SET with PXAT in the past) is reaped at once.
        self.reap_key(now, wall, &key);
        Ok(dot)
    }

    /// Issues a local op: applied at once, acknowledged with [`Output::Ack`] once durable.
    fn issue(&mut self, now: Millis, wall: u64, key: Bytes, payload: Payload) -> Dot {
        let hlc = self.clock.now(wall);
        let op = Arc::new(Op {
            origin: self.me,
            seq: self.next_seq,
            hlc,
            deps: self.applied.clone(),
            key,
            payload,
            continues: self.unit_open,
        });
        self.next_seq += 1;
        let dot = op.dot();
        self.apply(&op);
        self.accepted.set(self.me, op.seq);
        self.stats.local_writes += 1;
        self.arm_checkpoint(now);
        self.own_unwritten.push_back(Arc::clone(&op));
        self.staged.push(Staged { op, from: None });
        self.ensure_gossip_timer(now);
        dot
    }

    /// Opens a unit: the local writes until [`Replica::close_unit`] are applied together at
    /// every region (no reader anywhere sees some of them without the others), as a
    /// transaction or a multi-key write needs. Meanwhile this replica applies nothing from
    /// its peers, cuts no batch and builds no snapshot; the driver closes the unit before it
    /// waits for anything.
    pub fn open_unit(&mut self) {
        self.unit_open = true;
    }

    /// Whether a unit is open.
    pub fn unit_is_open(&self) -> bool {
        self.unit_open
    }

    /// Closes the unit [`Replica::open_unit`] opened: its last op is marked as the last, and
    /// what waited for it (ops from peers, the batch) goes on.
    pub fn close_unit(&mut self, now: Millis) {
        if !std::mem::take(&mut self.unit_open) {
            return;
        }
        // The unit's ops are all still staged (no batch was cut while it was open).
        let last_dot = self.staged.last().map(|s| s.op.dot());
        if let Some(last) = self.staged.last_mut()
            && last.op.origin == self.me
            && last.op.continues
        {
            let mut op = (*last.op).clone();
            op.continues = false;
            last.op = Arc::new(op);
            if let Some(own) = self.own_unwritten.back_mut()
                && Some(own.dot()) == last_dot
            {
                *own = Arc::clone(&last.op);
            }
        }
        self.try_apply(now);
        self.pump_all();
    }

    /// Why a local write would be refused now, whatever its key and command: the node is
    /// not a leader, its store failed, or it is still learning its own history. `None` when
    /// it takes writes: what a readiness check asks.
    pub fn write_refusal(&self) -> Option<WriteError> {
        if self.role != Role::Leader {
            return Some(WriteError::ReadOnly);
        }
        if let Some(reason) = &self.store_failed {
            return Some(WriteError::StoreFailed(reason.clone()));
        }
        self.history_wait().map(WriteError::Recovering)
    }

    // ----- inputs -----

    /// The transport connected to `peer`: start the handshake.
    pub fn handle_link_up(&mut self, now: Millis, peer: ActorId) {
        let Some(link) = self.links.get_mut(&peer) else {
            self.outputs.push_back(Output::CloseLink {
                peer,
                error: PeerError::NotANeighbour(peer),
            });
            return;
        };
        if link.state == LinkState::Down {
            link.state = LinkState::Handshaking;
        }
        self.outputs.push_back(Output::Send {
            to: peer,
            msg: Message::Hello {
                cluster: self.topology.cluster.clone(),
                node: self.me,
                protocol: PROTOCOL_VERSION,
                received: self.synced.clone(),
            },
        });
        self.ensure_gossip_timer(now);
    }

    /// The transport lost `peer`.
    pub fn handle_link_down(&mut self, _now: Millis, peer: ActorId) {
        let Some(link) = self.links.get_mut(&peer) else {
            return;
        };
        let was_up = link.state == LinkState::Up;
        link.reset();
        if was_up {
            self.advertise_links();
            self.pump_all();
        }
    }

    /// A message arrived from neighbour `from`.
    pub fn handle_message(&mut self, now: Millis, wall: u64, from: ActorId, msg: Message) {
        self.observe_wall(now, wall);
        self.receive_message(now, wall, from, msg);
        // An op may arrive with its deadline already passed here.
        self.reap_due(now, wall);
    }

    fn receive_message(&mut self, now: Millis, wall: u64, from: ActorId, msg: Message) {
        if !self.links.contains_key(&from) {
            let error = if self.topology.node(from).is_some() {
                PeerError::NotANeighbour(from)
            } else {
                PeerError::UnknownNode(from)
            };
            self.close(from, error);
            return;
        }
        let kind = msg.kind();
        match msg {
            Message::Hello {
                cluster,
                node,
                protocol,
                received,
            } => self.handle_hello(now, from, cluster, node, protocol, received),
            _ if self
                .links
                .get(&from)
                .is_none_or(|l| l.state != LinkState::Up) =>
            {
                self.close(from, PeerError::BeforeHello(kind));
            }
            Message::Ops(ops) => self.handle_ops(now, wall, from, ops),
            Message::Snapshot(chunk) => self.handle_snapshot(now, wall, from, chunk),
            Message::Gossip {
                rows,
                links,
                accepted,
            } => self.handle_gossip(from, rows, links, accepted),
            Message::Publish {
                origin,
                seq,
                channel,
                message,
            } => self.handle_publish(from, origin, seq, channel, message),
        }
    }

    /// A timer fired: gossip, repair, delayed application, expiry.
    pub fn handle_timeout(&mut self, now: Millis, wall: u64) {
        self.observe_wall(now, wall);
        self.try_apply(now);
        self.learn_own_history(0);
        if self.next_checkpoint.is_some_and(|t| t <= now) {
            self.checkpoint();
        }
        let settled: Vec<ActorId> = self
            .links
            .iter_mut()
            .filter(|(_, l)| l.settling.is_some_and(|t| t <= now))
            .map(|(peer, l)| {
                l.settling = None;
                *peer
            })
            .collect();
        for peer in settled {
            self.pump(peer);
        }
        if self.next_gossip.is_some_and(|t| t <= now) {
            self.next_gossip = Some(now + self.config.gossip_interval_ms);
            self.stats.gossip_rounds += 1;
            self.update_own_row();
            self.truncate_log();
            self.compact();
            self.gossip_and_repair(now);
        }
        self.reap_due(now, wall);
        self.arm_checkpoint(now);
    }

    /// Drops from the log the ops nobody can need: held by every node and applied into durable
    /// state here. Past `retention_ops` or `retention_bytes`, the oldest ops applied into
    /// durable state go too, stable or not, until the log is within both: a neighbour that
    /// needs one of them later gets a snapshot, while one only briefly behind, lacking only
    /// newer ops, is still served from the log.
    fn truncate_log(&mut self) {
        let stable = self.matrix.stable_received().meet(&self.durable_applied);
        self.truncate_to(&stable);
        let cut = self.log.retention_cut(
            self.config.retention_ops,
            self.config.retention_bytes,
            &self.durable_applied,
        );
        self.truncate_to(&cut);
    }

    fn truncate_to(&mut self, upto: &VersionVector) {
        if self.truncated.dominates(upto) {
            return;
        }
        self.truncated.merge(upto);
        let dropped = self.log.truncate(&self.truncated);
        self.stats.truncated += dropped as u64;
        self.truncate_pending = true;
    }

    // ----- outputs -----

    /// The next effect to carry out, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        let checkpoint = !self.dirty.is_empty()
            && (self.checkpoint_now || self.config.checkpoint_interval_ms == 0);
        let pending = !self.staged.is_empty() || checkpoint || self.truncate_pending;
        let writer_free = self.persisting.len() < persist::BATCHES_WRITING;
        if pending && writer_free && self.store_failed.is_none() && !self.unit_open {
            self.stage_batch(checkpoint);
        }
        self.outputs.pop_front()
    }

    /// When [`Replica::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Millis> {
        // An open unit holds back what the timers would do (applying, reaping, cutting a
        // checkpoint), so a due timer would fire at once for as long as it stays open; its
        // close lets all of that go on, and the driver asks again then.
        if self.unit_open {
            return None;
        }
        // A delayed origin's next op is due `delay_ms` after it became durable, unless it
        // waits for ops of other origins: then the timer would find it due and still not
        // appliable, and fire again at once, for ever. The `try_apply` that applies what it
        // waits for (on an arrival, or at another origin's deadline) applies it too if its
        // delay has passed; if not, its deadline is asked for from then on.
        let delayed = if self.delay_ms > 0 {
            self.durable_at
                .iter()
                // An op that starts a unit not yet whole waits for the rest, not its delay.
                .filter(|(origin, _)| {
                    self.next_applicable(**origin)
                        .is_some_and(|op| self.unit_rest(op).is_some())
                })
                .filter_map(|(_, q)| q.front())
                .min()
                .map(|t| t + self.delay_ms)
        } else {
            None
        };
        let settling = self.links.values().filter_map(|l| l.settling).min();
        [
            self.next_gossip,
            delayed,
            settling,
            self.next_checkpoint,
            self.expiry_timer(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ----- reads and introspection -----

    /// This node's actor id.
    pub fn id(&self) -> ActorId {
        self.me
    }

    /// This node's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The state, as applied.
    pub fn keyspace(&self) -> &Keyspace {
        &self.keyspace
    }

    /// Digest of the applied state.
    pub fn digest(&self) -> Digest {
        self.keyspace.digest()
    }

    /// Ops applied to the state: the causal token of everything a read can see.
    pub fn applied(&self) -> &VersionVector {
        &self.applied
    }

    /// The vector this replica last compacted its counters and collected its tombstones at:
    /// once it equals `applied`, every counter holds at most one entry per actor for the ops
    /// applied, and every tombstone that another follows is gone.
    pub fn compacted_at(&self) -> &VersionVector {
        &self.compacted_at
    }

    /// Ops written to the log (or covered by a merged snapshot): under `always` durable,
    /// otherwise durable once also [`Replica::synced`].
    pub fn received(&self) -> &VersionVector {
        &self.received
    }

    /// Ops on batches an fsync covers: what this node forwards and claims to hold.
    pub fn synced(&self) -> &VersionVector {
        &self.synced
    }

    /// The durable log.
    pub fn log(&self) -> &OpLog {
        &self.log
    }

    /// Counters since start.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The matrix clock: newest rows known of every node.
    pub fn matrix(&self) -> &MatrixClock {
        &self.matrix
    }

    /// Per-origin forwarding trees over the links believed up.
    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    /// Ops waiting to be applied: durable but blocked on causality or a delay, or arrived
    /// ahead of a gap.
    pub fn causal_depth(&self) -> u64 {
        let durable: u64 = self
            .received
            .iter()
            .map(|(o, r)| r.saturating_sub(self.applied.get(o)))
            .sum();
        durable + self.out_of_order.len() as u64
    }

    /// State of every link.
    pub fn links(&self) -> impl Iterator<Item = (ActorId, LinkStatus)> + '_ {
        self.links.iter().map(|(peer, link)| {
            let behind = self
                .matrix
                .row(*peer)
                .map(|r| lag(&self.received, &r.received))
                .unwrap_or(0);
            (*peer, link.status(behind, self.config.send_window.get()))
        })
    }

    /// Ops this node holds that `peer` is not known to hold durably.
    pub fn lag(&self, peer: ActorId) -> Option<u64> {
        self.matrix
            .row(peer)
            .map(|r| lag(&self.received, &r.received))
    }

    // ----- internals -----

    fn close(&mut self, peer: ActorId, error: PeerError) {
        self.stats.protocol_errors += 1;
        if let Some(link) = self.links.get_mut(&peer) {
            let was_up = link.state == LinkState::Up;
            link.reset();
            if was_up {
                self.advertise_links();
                self.pump_all();
            }
        }
        self.outputs.push_back(Output::CloseLink { peer, error });
    }

    /// Schedules the next checkpoint once some key's state waits for one.
    fn arm_checkpoint(&mut self, now: Millis) {
        if !self.dirty.is_empty() && self.next_checkpoint.is_none() && !self.checkpoint_now {
            self.next_checkpoint = Some(now + self.config.checkpoint_interval_ms);
        }
    }

    /// The next batch writes the state of every key changed since the last checkpoint: when
    /// one is due, after a snapshot merge, and at a clean shutdown (so that the next start
    /// re-applies nothing).
    pub fn checkpoint(&mut self) {
        self.checkpoint_now = true;
        self.next_checkpoint = None;
    }

    fn ensure_gossip_timer(&mut self, now: Millis) {
        if self.next_gossip.is_none() {
            self.next_gossip = Some(now + self.config.gossip_interval_ms);
        }
    }

    fn apply(&mut self, op: &Arc<Op>) {
        let applied = self.keyspace.apply(
            &op.key,
            OpMeta {
                dot: op.dot(),
                hlc: op.hlc,
                deps: &op.deps,
            },
            &op.payload,
        );
        self.stats.count_conflicts(&applied.conflicts);
        self.applied.set(op.origin, op.seq);
        self.dirty.insert(op.key.clone());
        self.newest_applied = self.newest_applied.max(Some(op.hlc));
        self.outputs.push_back(Output::Applied {
            op: Arc::clone(op),
            deltas: applied.deltas,
        });
    }

    /// Applies every durable op whose causal dependencies are met (and whose delay, on a
    /// delayed replica, has passed).
    fn try_apply(&mut self, now: Millis) {
        self.note_depth();
        if self.unit_open {
            return;
        }
        loop {
            let mut progress = false;
            let origins: Vec<ActorId> = self
                .received
                .iter()
                .filter(|(o, r)| *r > self.applied.get(*o))
                .map(|(o, _)| o)
                .collect();
            for origin in origins {
                loop {
                    if let Some(at) = self.durable_at.get(&origin).and_then(|q| q.front())
                        && at + self.delay_ms > now
                    {
                        break;
                    }
                    let Some(op) = self.next_applicable(origin).cloned() else {
                        break;
                    };
                    // A unit is applied whole, once every op of it is here.
                    let Some(rest) = self.unit_rest(&op) else {
                        break;
                    };
                    if let Some(q) = self.durable_at.get_mut(&origin) {
                        q.pop_front();
                    }
                    self.apply(&op);
                    for next in rest {
                        if let Some(q) = self.durable_at.get_mut(&origin) {
                            q.pop_front();
                        }
                        self.apply(&next);
                    }
                    progress = true;
                }
            }
            if !progress {
                break;
            }
        }
    }

    /// `origin`'s next op to apply, if it is durable and everything it depends on is applied:
    /// all that keeps it from being applied is a delay.
    fn next_applicable(&self, origin: ActorId) -> Option<&Arc<Op>> {
        if self.received.get(origin) <= self.applied.get(origin) {
            return None;
        }
        self.log
            .get(origin, self.applied.get(origin) + 1)
            .filter(|op| self.applied.dominates(&op.deps))
    }

    /// The ops of `op`'s unit after it, if this replica holds all of them (none for an op
    /// outside a unit): each follows the one before, with the same `deps` but for it, so once
    /// `op` applies so does each of them in turn. `None` while some are still to come.
    fn unit_rest(&self, op: &Op) -> Option<Vec<Arc<Op>>> {
        let mut rest = Vec::new();
        let mut last = op;
        while last.continues {
            let seq = last.seq + 1;
            if seq > self.received.get(op.origin) {
                return None;
            }
            let next = self.log.get(op.origin, seq)?;
            // A unit is causally uniform at its origin; an op that is not (only a forged one)
            // waits like any op whose dependencies are missing.
            let mut deps = next.deps.clone();
            deps.set(op.origin, op.seq - 1);
            if deps != op.deps {
                return None;
            }
            rest.push(Arc::clone(next));
            last = next;
        }
        Some(rest)
    }

    fn note_depth(&mut self) {
        let depth = self.causal_depth();
        self.stats.max_causal_depth = self.stats.max_causal_depth.max(depth);
    }
}

/// Refuses stored seqs beyond `MAX_SEQ`, so that no arithmetic on what a store holds can
/// overflow (peers' seqs are held to the same bound).
fn check_stored_seqs(restored: &Restored) -> Result<(), NewError> {
    let vectors = [
        ("applied vector", &restored.applied),
        ("log base", &restored.truncated),
    ];
    let in_vectors = vectors
        .into_iter()
        .flat_map(|(record, v)| v.iter().map(move |(origin, seq)| (record, origin, seq)));
    let in_log = restored.ops.iter().map(|op| ("log", op.origin, op.seq));
    match in_vectors.chain(in_log).find(|(_, _, seq)| *seq > MAX_SEQ) {
        Some((record, origin, seq)) => Err(NewError::StoredSeq {
            record,
            origin,
            seq,
        }),
        None => Ok(()),
    }
}

fn lag(mine: &VersionVector, theirs: &VersionVector) -> u64 {
    mine.iter()
        .map(|(o, s)| s.saturating_sub(theirs.get(o)))
        .sum()
}
