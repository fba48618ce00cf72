//! The replica state machine.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use hybrid_clocks::{Clock, ManualClock, OffsetLimiter};
use meridian_crdt::{
    ActorId, Command, Digest, Dot, Hlc, Keyspace, OpMeta, PrepareError, VersionVector,
};
use thiserror::Error;

use crate::config::Config;
use crate::link::{Link, LinkState, LinkStatus};
use crate::log::OpLog;
use crate::matrix::{LinkView, MatrixClock};
use crate::op::{LinkAdvert, Message, Op, PROTOCOL_VERSION, Row};
use crate::stats::Stats;
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
/// [`Output::Persist`]; only after the driver reports it durable with
/// [`Replica::handle_persisted`] is it sent to neighbours ([`Output::Send`]) and, if it was
/// a local write, acknowledged ([`Output::Ack`]).
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
    /// Ops durable in the log, contiguous.
    received: VersionVector,
    /// Ops applied to the keyspace, contiguous and causally closed.
    applied: VersionVector,
    next_seq: u64,
    staged: Vec<Staged>,
    persisting: VecDeque<Batch>,
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
}

#[derive(Debug)]
struct Batch {
    id: u64,
    staged: Vec<Staged>,
    durable: bool,
}

#[derive(Debug)]
struct Staged {
    op: Arc<Op>,
    /// The neighbour it came from; `None` for a local write.
    from: Option<ActorId>,
}

/// An effect for the driver to carry out, in order.
#[derive(Debug, Clone)]
pub enum Output {
    /// Write these ops durably (one transaction, one fsync), then call
    /// [`Replica::handle_persisted`] with `batch`.
    Persist {
        /// Identifies the batch in `handle_persisted`.
        batch: u64,
        /// The ops, in acceptance order.
        ops: Vec<Arc<Op>>,
    },
    /// Send a message to a neighbour.
    Send {
        /// The neighbour.
        to: ActorId,
        /// What to send.
        msg: Message,
    },
    /// A local write is durable: acknowledge it to the client.
    Ack(Dot),
    /// An op was applied to the keyspace (local or remote): the change feed.
    Applied(Arc<Op>),
    /// The link to a neighbour must be closed: it broke the protocol.
    CloseLink {
        /// The neighbour.
        peer: ActorId,
        /// Why.
        error: PeerError,
    },
}

/// A local write that was refused. The state did not change.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WriteError {
    /// This node is a read-only or delayed replica.
    #[error("READONLY You can't write against a read only replica.")]
    ReadOnly,
    /// The command does not fit the key's current value.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
}

/// A neighbour broke the protocol. The link is closed; the state did not change beyond the
/// valid messages before the bad one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PeerError {
    /// The peer is not in our topology file.
    #[error("node {0} is not in the topology file")]
    UnknownNode(ActorId),
    /// The peer is a node of the topology but not our neighbour.
    #[error("node {0} is not linked to this node in the topology file")]
    NotANeighbour(ActorId),
    /// The peer's Hello names another cluster.
    #[error("peer belongs to cluster {theirs:?}, this node to {ours:?}")]
    WrongCluster {
        /// Our cluster name.
        ours: String,
        /// Theirs.
        theirs: String,
    },
    /// The peer speaks another protocol version.
    #[error("peer speaks protocol {theirs}, this node {PROTOCOL_VERSION}")]
    WrongProtocol {
        /// Their version.
        theirs: u32,
    },
    /// The peer's Hello claims to be another node than the link's.
    #[error("peer introduced itself as node {claimed}, expected node {expected}")]
    WrongIdentity {
        /// Who the link is to.
        expected: ActorId,
        /// Who the Hello says.
        claimed: ActorId,
    },
    /// A message other than Hello arrived before the handshake.
    #[error("{0} message before the handshake")]
    BeforeHello(&'static str),
    /// A frame held more ops than the limit.
    #[error("frame holds {count} ops, the limit is {limit}")]
    TooManyOps {
        /// Ops in the frame.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// An op that cannot be valid.
    #[error("invalid op {origin}:{seq}: {reason}")]
    InvalidOp {
        /// Its origin.
        origin: ActorId,
        /// Its seq.
        seq: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The replica could not be created.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NewError {
    /// `me` is not a node of the topology.
    #[error("node {0} is not in the topology file")]
    NotInTopology(ActorId),
    /// The config is inconsistent.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A recovered log has a gap.
    #[error("recovered log: {0}")]
    Log(#[from] crate::log::LogGap),
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
            applied: VersionVector::new(),
            next_seq: 1,
            staged: Vec::new(),
            persisting: VecDeque::new(),
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
        };
        // Until links come up, this node advertises none of them.
        replica.advertise_links();
        Ok(replica)
    }

    /// A replica rebuilt from its durable log after a restart: every op is re-applied in
    /// causal order. Ops must come in seq order per origin, each origin from seq 1.
    pub fn recover(
        me: ActorId,
        topology: Arc<Topology>,
        config: Config,
        now: Millis,
        wall: u64,
        ops: impl IntoIterator<Item = Arc<Op>>,
    ) -> Result<Replica, NewError> {
        let mut replica = Replica::new(me, topology, config, wall)?;
        for op in ops {
            let origin = op.origin;
            let seq = op.seq;
            replica.log.append(op)?;
            replica.received.set(origin, seq);
            replica.accepted.set(origin, seq);
            replica.durable_at.entry(origin).or_default().push_back(now);
        }
        replica.next_seq = replica.received.get(me) + 1;
        replica.try_apply(now);
        replica.update_own_row();
        // Recovery re-applies history: that is not news for a change feed.
        replica
            .outputs
            .retain(|o| !matches!(o, Output::Applied(_)));
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
        if self.role != Role::Leader {
            return Err(WriteError::ReadOnly);
        }
        let payload = self.keyspace.prepare(&key, command, &self.applied)?;
        let hlc = self.clock.now(wall);
        let op = Arc::new(Op {
            origin: self.me,
            seq: self.next_seq,
            hlc,
            deps: self.applied.clone(),
            key,
            payload,
        });
        self.next_seq += 1;
        let dot = op.dot();
        self.apply(&op);
        self.accepted.set(self.me, op.seq);
        self.stats.local_writes += 1;
        self.staged.push(Staged { op, from: None });
        self.ensure_gossip_timer(now);
        Ok(dot)
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
                received: self.received.clone(),
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
            _ if self.links.get(&from).is_none_or(|l| l.state != LinkState::Up) => {
                self.close(from, PeerError::BeforeHello(kind));
            }
            Message::Ops(ops) => self.handle_ops(now, wall, from, ops),
            Message::Gossip { rows, links } => self.handle_gossip(from, rows, links),
        }
    }

    /// The driver made batch `batch` durable. Batches take effect in the order they were
    /// handed out: one reported early waits for those before it.
    pub fn handle_persisted(&mut self, now: Millis, batch: u64) {
        if let Some(entry) = self.persisting.iter_mut().find(|b| b.id == batch) {
            entry.durable = true;
        }
        while self.persisting.front().is_some_and(|b| b.durable) {
            if let Some(b) = self.persisting.pop_front() {
                self.made_durable(now, b.staged);
            }
        }
    }

    fn made_durable(&mut self, now: Millis, staged: Vec<Staged>) {
        let mut acks = Vec::new();
        for Staged { op, from } in staged {
            let origin = op.origin;
            let seq = op.seq;
            if self.log.append(Arc::clone(&op)).is_err() {
                // Accepted ops are contiguous per origin, so this cannot happen; never lose
                // the op silently if it does.
                self.stats.internal_errors += 1;
                continue;
            }
            self.received.set(origin, seq);
            if from.is_none() {
                acks.push(op.dot());
            } else {
                self.durable_at.entry(origin).or_default().push_back(now);
            }
        }
        self.try_apply(now);
        self.update_own_row();
        self.pump_all();
        self.outputs.extend(acks.into_iter().map(Output::Ack));
    }

    /// A timer fired: gossip, repair, delayed application.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.try_apply(now);
        if self.next_gossip.is_some_and(|t| t <= now) {
            self.next_gossip = Some(now + self.config.gossip_interval_ms);
            self.update_own_row();
            self.gossip_and_repair(now);
        }
    }

    // ----- outputs -----

    /// The next effect to carry out, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        if !self.staged.is_empty() {
            let batch = self.next_batch;
            self.next_batch += 1;
            let staged = std::mem::take(&mut self.staged);
            let ops = staged.iter().map(|s| Arc::clone(&s.op)).collect();
            self.persisting.push_back(Batch {
                id: batch,
                staged,
                durable: false,
            });
            self.outputs.push_back(Output::Persist { batch, ops });
        }
        self.outputs.pop_front()
    }

    /// When [`Replica::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let delayed = if self.delay_ms > 0 {
            self.durable_at
                .values()
                .filter_map(|q| q.front())
                .min()
                .map(|t| t + self.delay_ms)
        } else {
            None
        };
        match (self.next_gossip, delayed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
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

    /// Ops held durably in the log.
    pub fn received(&self) -> &VersionVector {
        &self.received
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

    /// Ops accepted (local or received) that are not durable yet: what a crash would lose.
    pub fn unpersisted(&self) -> usize {
        self.staged.len() + self.persisting.iter().map(|b| b.staged.len()).sum::<usize>()
    }

    /// Whether nothing is staged or being persisted.
    pub fn is_quiescent(&self) -> bool {
        self.staged.is_empty() && self.persisting.is_empty() && self.outputs.is_empty()
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

    fn ensure_gossip_timer(&mut self, now: Millis) {
        if self.next_gossip.is_none() {
            self.next_gossip = Some(now + self.config.gossip_interval_ms);
        }
    }

    fn handle_hello(
        &mut self,
        now: Millis,
        from: ActorId,
        cluster: String,
        node: ActorId,
        protocol: u32,
        received: VersionVector,
    ) {
        if cluster != self.topology.cluster {
            let ours = self.topology.cluster.clone();
            self.close(
                from,
                PeerError::WrongCluster {
                    ours,
                    theirs: cluster,
                },
            );
            return;
        }
        if protocol != PROTOCOL_VERSION {
            self.close(from, PeerError::WrongProtocol { theirs: protocol });
            return;
        }
        if node != from {
            self.close(
                from,
                PeerError::WrongIdentity {
                    expected: from,
                    claimed: node,
                },
            );
            return;
        }
        if let Err(reason) = self.check_vector(&received) {
            self.close(
                from,
                PeerError::InvalidOp {
                    origin: from,
                    seq: 0,
                    reason,
                },
            );
            return;
        }
        let Some(link) = self.links.get_mut(&from) else {
            return;
        };
        link.up(received.clone());
        self.matrix.observe(
            from,
            &Row {
                received,
                applied: VersionVector::new(),
            },
        );
        self.ensure_gossip_timer(now);
        self.advertise_links();
        self.send_gossip(from, true);
        self.pump_all();
    }

    fn handle_ops(&mut self, now: Millis, wall: u64, from: ActorId, ops: Vec<Arc<Op>>) {
        let limit = self.config.limits.max_ops_per_frame;
        if ops.len() > limit {
            self.close(
                from,
                PeerError::TooManyOps {
                    count: ops.len(),
                    limit,
                },
            );
            return;
        }
        for op in ops {
            if let Err(reason) = self.check_op(&op) {
                let (origin, seq) = (op.origin, op.seq);
                self.close(
                    from,
                    PeerError::InvalidOp {
                        origin,
                        seq,
                        reason,
                    },
                );
                return;
            }
            if let Some(link) = self.links.get_mut(&from) {
                // Persist-before-send: the peer holds this op durably, so it never needs it
                // from us.
                link.peer_holds(op.origin, op.seq);
            }
            self.receive_op(now, wall, from, op);
        }
    }

    fn check_vector(&self, vector: &VersionVector) -> Result<(), &'static str> {
        if vector.iter().any(|(a, _)| self.topology.node(a).is_none()) {
            return Err("version vector names a node that is not in the topology");
        }
        Ok(())
    }

    fn check_op(&self, op: &Op) -> Result<(), &'static str> {
        match self.topology.node(op.origin) {
            None => return Err("origin is not in the topology"),
            Some(spec) if spec.role != Role::Leader => return Err("origin is not a leader"),
            Some(_) => {}
        }
        if op.seq == 0 {
            return Err("seq 0 does not exist");
        }
        if op.deps.get(op.origin) != op.seq - 1 {
            return Err("deps do not follow the origin's previous op");
        }
        if op.key.len() > self.config.limits.max_key_bytes {
            return Err("key longer than the limit");
        }
        self.check_vector(&op.deps)
    }

    fn receive_op(&mut self, now: Millis, wall: u64, from: ActorId, op: Arc<Op>) {
        let origin = op.origin;
        let dot = op.dot();
        if op.seq <= self.accepted.get(origin) || self.out_of_order.contains_key(&dot) {
            self.stats.duplicates += 1;
            return;
        }
        self.stats.ops_received += 1;
        if op.seq > self.accepted.get(origin) + 1 {
            if self.out_of_order.len() >= self.config.max_out_of_order {
                self.stats.out_of_order_dropped += 1;
            } else {
                self.out_of_order.insert(dot, op);
                self.note_depth();
            }
            return;
        }
        self.accept(wall, from, op);
        // Ops that waited on this gap.
        loop {
            let next = Dot {
                actor: origin,
                seq: self.accepted.get(origin) + 1,
            };
            let Some(op) = self.out_of_order.remove(&next) else {
                break;
            };
            self.accept(wall, from, op);
        }
        let _ = now;
    }

    fn accept(&mut self, wall: u64, from: ActorId, op: Arc<Op>) {
        if !self.clock.observe(wall, &op.hlc) {
            self.stats.clock_ahead_reports += 1;
        }
        if op.origin == self.me {
            // Our own history, held by a peer: never reuse these sequence numbers.
            self.next_seq = self.next_seq.max(op.seq + 1);
        }
        self.accepted.set(op.origin, op.seq);
        self.staged.push(Staged {
            op,
            from: Some(from),
        });
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
        self.outputs.push_back(Output::Applied(Arc::clone(op)));
    }

    /// Applies every durable op whose causal dependencies are met (and whose delay, on a
    /// delayed replica, has passed).
    fn try_apply(&mut self, now: Millis) {
        self.note_depth();
        loop {
            let mut progress = false;
            let origins: Vec<ActorId> = self
                .received
                .iter()
                .filter(|(o, r)| *r > self.applied.get(*o))
                .map(|(o, _)| o)
                .collect();
            for origin in origins {
                while self.received.get(origin) > self.applied.get(origin) {
                    let seq = self.applied.get(origin) + 1;
                    if let Some(at) = self.durable_at.get(&origin).and_then(|q| q.front())
                        && at + self.delay_ms > now
                    {
                        break;
                    }
                    let Some(op) = self.log.get(origin, seq).cloned() else {
                        break;
                    };
                    if !self.applied.dominates(&op.deps) {
                        break;
                    }
                    if let Some(q) = self.durable_at.get_mut(&origin) {
                        q.pop_front();
                    }
                    self.apply(&op);
                    progress = true;
                }
            }
            if !progress {
                break;
            }
        }
    }

    fn note_depth(&mut self) {
        let depth = self.causal_depth();
        self.stats.max_causal_depth = self.stats.max_causal_depth.max(depth);
    }

    fn update_own_row(&mut self) {
        let row = Row {
            received: self.received.clone(),
            applied: self.applied.clone(),
        };
        self.matrix.observe(self.me, &row);
    }

    /// Publishes our set of up links and recomputes the trees.
    fn advertise_links(&mut self) {
        self.advert_version += 1;
        let up = self
            .links
            .iter()
            .filter(|(_, l)| l.state == LinkState::Up)
            .map(|(p, _)| *p)
            .collect();
        self.view.observe(&LinkAdvert {
            node: self.me,
            version: self.advert_version,
            up,
        });
        self.recompute_routes();
        self.flood_adverts();
    }

    fn recompute_routes(&mut self) {
        let view = &self.view;
        self.routes = Routes::new(&self.topology, |a, b| view.is_up(a, b));
    }

    fn handle_gossip(&mut self, from: ActorId, rows: Vec<(ActorId, Row)>, adverts: Vec<LinkAdvert>) {
        for (node, row) in &rows {
            if self.topology.node(*node).is_none()
                || self.check_vector(&row.received).is_err()
                || self.check_vector(&row.applied).is_err()
            {
                self.close(
                    from,
                    PeerError::InvalidOp {
                        origin: *node,
                        seq: 0,
                        reason: "gossip row names a node that is not in the topology",
                    },
                );
                return;
            }
            if *node == self.me {
                continue;
            }
            self.matrix.observe(*node, row);
            if *node == from
                && let Some(link) = self.links.get_mut(&from)
            {
                link.reported(&row.received);
            }
        }
        let mut changed = false;
        for advert in &adverts {
            if advert.node != self.me && self.topology.node(advert.node).is_some() {
                changed |= self.view.observe(advert);
            }
        }
        if changed {
            self.recompute_routes();
            self.flood_adverts();
        }
        self.pump_all();
    }

    /// Link state is flooded as soon as it changes, so that trees agree again quickly: while
    /// two nodes disagree, an op may be sent twice (and dropped as a duplicate) or late
    /// (and repaired).
    fn flood_adverts(&mut self) {
        let version = self.view.changes();
        let stale: Vec<ActorId> = self
            .links
            .iter()
            .filter(|(_, l)| l.state == LinkState::Up && l.adverts_sent != version)
            .map(|(p, _)| *p)
            .collect();
        for peer in stale {
            self.send_gossip(peer, false);
        }
    }

    fn gossip_and_repair(&mut self, now: Millis) {
        let peers: Vec<ActorId> = self
            .links
            .iter()
            .filter(|(_, l)| l.state == LinkState::Up)
            .map(|(p, _)| *p)
            .collect();
        for peer in peers {
            self.send_gossip(peer, false);
            let me = self.me;
            let repair_after = self.config.repair_after_ms;
            let routes = &self.routes;
            let received = &self.received;
            if let Some(link) = self.links.get_mut(&peer) {
                let resends = link.check_stalls(now, repair_after, received, |origin| {
                    routes.parent(origin, peer) == Some(me)
                });
                self.stats.repairs += resends;
            }
            self.pump(peer);
        }
    }

    fn send_gossip(&mut self, peer: ActorId, everything: bool) {
        let view_version = self.view.changes();
        let Some(link) = self.links.get_mut(&peer) else {
            return;
        };
        let since = if everything { 0 } else { link.gossip_sent };
        let (rows, version) = self.matrix.changed_since(since);
        link.gossip_sent = version;
        let adverts = if everything || link.adverts_sent != view_version {
            link.adverts_sent = view_version;
            self.view.adverts()
        } else {
            Vec::new()
        };
        // Our own row always goes: it is the acknowledgement the peer's send window waits on.
        let mut rows = rows;
        if !rows.iter().any(|(n, _)| *n == self.me)
            && let Some(own) = self.matrix.row(self.me)
        {
            rows.push((self.me, own.clone()));
        }
        self.stats.gossip_sent += 1;
        self.outputs.push_back(Output::Send {
            to: peer,
            msg: Message::Gossip {
                rows,
                links: adverts,
            },
        });
    }

    fn pump_all(&mut self) {
        let peers: Vec<ActorId> = self.links.keys().copied().collect();
        for peer in peers {
            self.pump(peer);
        }
    }

    /// Sends `peer` every op it should get from us: of the origins whose tree makes us its
    /// parent, and of origins we are repairing for it, within the send window.
    fn pump(&mut self, peer: ActorId) {
        let Some(link) = self.links.get_mut(&peer) else {
            return;
        };
        if link.state != LinkState::Up {
            return;
        }
        let window = self.config.send_window.get() as u64;
        let batch_max = self.config.max_batch_ops.get();
        let mut batch: Vec<Arc<Op>> = Vec::new();
        for (origin, have) in self.received.iter() {
            let feeds = self.routes.parent(origin, peer) == Some(self.me)
                || link.is_repairing(origin);
            if !feeds || origin == peer {
                continue;
            }
            let mut next = link.sent.get(origin) + 1;
            while next <= have {
                let in_flight = link.in_flight();
                if in_flight >= window {
                    break;
                }
                let to = have.min(next + (window - in_flight) - 1);
                for op in self.log.range(origin, next, to) {
                    batch.push(Arc::clone(op));
                    if batch.len() >= batch_max {
                        self.stats.ops_sent += batch.len() as u64;
                        self.outputs.push_back(Output::Send {
                            to: peer,
                            msg: Message::Ops(std::mem::take(&mut batch)),
                        });
                    }
                }
                link.sent.set(origin, to);
                next = to + 1;
            }
        }
        if !batch.is_empty() {
            self.stats.ops_sent += batch.len() as u64;
            self.outputs.push_back(Output::Send {
                to: peer,
                msg: Message::Ops(batch),
            });
        }
    }
}

/// The hybrid logical clock, fed wall time by the driver.
struct HlcClock(OffsetLimiter<ManualClock>);

impl HlcClock {
    fn new(wall: u64, max_ahead_ms: u64) -> HlcClock {
        // A manual clock source reads no time, so creating it cannot fail; fall back to a
        // clock at 0 rather than panic if a future version disagrees.
        let clock = Clock::new(ManualClock::new(wall))
            .or_else(|_| Clock::new(ManualClock::new(0)))
            .map(|c| c.with_max_diff(max_ahead_ms));
        match clock {
            Ok(c) => HlcClock(c),
            Err(_) => unreachable!("hybrid-clocks' manual source never fails"),
        }
    }

    /// A fresh stamp, after every stamp made or observed so far.
    fn now(&mut self, wall: u64) -> Hlc {
        self.0.inner_mut().set_time(wall);
        match self.0.now() {
            Ok(t) => t,
            Err(_) => unreachable!("hybrid-clocks' manual source never fails"),
        }
    }

    /// Takes a remote stamp into account; `false` (and the clock left alone) when the stamp is
    /// further ahead of `wall` than the limit.
    fn observe(&mut self, wall: u64, stamp: &Hlc) -> bool {
        self.0.inner_mut().set_time(wall);
        self.0.observe(stamp).is_ok()
    }
}

impl std::fmt::Debug for HlcClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HlcClock").finish_non_exhaustive()
    }
}

fn lag(mine: &VersionVector, theirs: &VersionVector) -> u64 {
    mine.iter()
        .map(|(o, s)| s.saturating_sub(theirs.get(o)))
        .sum()
}
