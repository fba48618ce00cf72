//! A small synchronous in-memory driver shared by the role and peer-input tests, adapted from
//! `cluster.rs`: outputs are executed in order, messages delivered in order, timers fired in
//! time order. Nodes can be told to hold their Persist batches until the test reports them
//! durable, and single replicas can be driven by hand.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::{ActorId, Command, Digest, Dot, VersionVector};
use meridian_replica::{
    Config, Message, Op, Output, PROTOCOL_VERSION, PeerError, Replica, Topology, WriteError,
};

/// Wall-clock milliseconds at virtual time 0.
pub const WALL0: u64 = 1_700_000_000_000;

/// Wall-clock time at virtual time `now`.
pub fn wall(now: u64) -> u64 {
    WALL0 + now
}

/// `topologies/primary-replica.toml`: leader dublin is the hub; oregon and sao-paulo are read
/// replicas; stockholm is a replica delayed by 30 s.
pub fn primary_replica() -> Arc<Topology> {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../topologies/primary-replica.toml"
    ));
    Arc::new(Topology::parse(text, "primary-replica.toml").unwrap())
}

/// `topologies/mesh-3.toml`: three leaders, all linked.
pub fn mesh_3() -> Arc<Topology> {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../topologies/mesh-3.toml"
    ));
    Arc::new(Topology::parse(text, "mesh-3.toml").unwrap())
}

/// `topologies/ring-5.toml`: five leaders in a ring, each linked to two others.
pub fn ring_5() -> Arc<Topology> {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../topologies/ring-5.toml"
    ));
    Arc::new(Topology::parse(text, "ring-5.toml").unwrap())
}

/// `topologies/mesh-delayed.toml`: leaders london and tokyo, read replica mumbai, and zurich,
/// a replica delayed by 2 s, all linked.
pub fn mesh_delayed() -> Arc<Topology> {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../topologies/mesh-delayed.toml"
    ));
    Arc::new(Topology::parse(text, "mesh-delayed.toml").unwrap())
}

pub const DUBLIN: ActorId = ActorId(1);
pub const OREGON: ActorId = ActorId(2);
pub const SAO_PAULO: ActorId = ActorId(3);
pub const STOCKHOLM: ActorId = ActorId(4);
/// Stockholm's delay in `primary-replica.toml`.
pub const STOCKHOLM_DELAY_MS: u64 = 30_000;

/// What a test compares to show that the state did not change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub digest: Digest,
    pub applied: VersionVector,
    pub received: VersionVector,
    pub log_len: usize,
    pub unpersisted: usize,
    pub causal_depth: u64,
}

pub fn snapshot(r: &Replica) -> Snapshot {
    Snapshot {
        digest: r.digest(),
        applied: r.applied().clone(),
        received: r.received().clone(),
        log_len: r.log().len(),
        unpersisted: r.unpersisted(),
        causal_depth: r.causal_depth(),
    }
}

/// Every pending output of `r`, without executing any.
pub fn drain(r: &mut Replica) -> Vec<Output> {
    std::iter::from_fn(|| r.poll_output()).collect()
}

/// Every pending output of `r`, reporting each Persist batch durable at `now` as it comes.
pub fn drain_persisting(r: &mut Replica, now: u64) -> Vec<Output> {
    let mut all = Vec::new();
    while let Some(out) = r.poll_output() {
        if let Output::Persist { batch, .. } = &out {
            r.handle_persisted(now, *batch);
        }
        all.push(out);
    }
    all
}

/// The Hello `node` of `topology` sends.
pub fn hello(topology: &Topology, node: ActorId, received: VersionVector) -> Message {
    Message::Hello {
        cluster: topology.cluster.clone(),
        node,
        protocol: PROTOCOL_VERSION,
        received,
    }
}

/// Brings up the link from `r` to `peer` and delivers the peer's Hello (holding nothing);
/// returns the outputs, persisting as they come.
pub fn handshake(r: &mut Replica, topology: &Topology, peer: ActorId, now: u64) -> Vec<Output> {
    r.handle_link_up(now, peer);
    r.handle_message(
        now,
        wall(now),
        peer,
        hello(topology, peer, VersionVector::new()),
    );
    drain_persisting(r, now)
}

/// The ops a Persist output carries, in order.
pub fn persisted_ops(outputs: &[Output]) -> Vec<Arc<Op>> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Persist { ops, .. } => Some(ops.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Dots of the Applied outputs, in order.
pub fn applied_dots(outputs: &[Output]) -> Vec<Dot> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Applied { op, .. } => Some(op.dot()),
            _ => None,
        })
        .collect()
}

/// The CloseLink errors, in order.
pub fn close_errors(outputs: &[Output]) -> Vec<(ActorId, PeerError)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::CloseLink { peer, error } => Some((*peer, error.clone())),
            _ => None,
        })
        .collect()
}

/// `n` ops written by `origin` (a leader of `topology`) on a fresh replica with no links:
/// real ops, valid payloads, `deps[origin] == seq - 1`.
pub fn ops_of(topology: &Arc<Topology>, origin: ActorId, n: u64) -> Vec<Arc<Op>> {
    let mut r = Replica::new(origin, Arc::clone(topology), Config::lan(), wall(0)).unwrap();
    let mut ops = Vec::new();
    for i in 0..n {
        r.write(i, wall(i), key(&format!("k{i}")), Command::IncrBy(1))
            .unwrap();
        ops.extend(persisted_ops(&drain_persisting(&mut r, i)));
    }
    ops
}

pub fn key(k: &str) -> Bytes {
    Bytes::from(k.to_string())
}

pub fn set(v: &str) -> Command {
    Command::Set(Bytes::from(v.to_string()))
}

/// A Persist batch the driver holds back: its id and ops.
type HeldBatch = (u64, Vec<Arc<Op>>);

/// Replicas of one topology wired together in memory.
pub struct Cluster {
    pub topology: Arc<Topology>,
    pub replicas: BTreeMap<ActorId, Replica>,
    /// Messages in flight: (from, to, message), delivered in order.
    pub wire: VecDeque<(ActorId, ActorId, Message)>,
    pub now: u64,
    pub acks: Vec<Dot>,
    pub closed: Vec<(ActorId, ActorId, PeerError)>,
    /// The change feed of every node: Applied outputs, in order, with the time they came out.
    pub applied: BTreeMap<ActorId, Vec<(u64, Dot)>>,
    /// What each node's driver has made durable, in order: what a restart recovers from.
    pub durable: BTreeMap<ActorId, Vec<Arc<Op>>>,
    /// Nodes whose Persist batches wait for [`Cluster::persist`].
    pub manual_persist: BTreeSet<ActorId>,
    pending_persist: BTreeMap<ActorId, Vec<HeldBatch>>,
    /// Links that are down: nothing is delivered over them.
    down: BTreeSet<(ActorId, ActorId)>,
    /// The pub/sub messages each node delivered: (origin, seq, channel, message), in order.
    pub published: BTreeMap<ActorId, Vec<(ActorId, u64, Bytes, Bytes)>>,
}

impl Cluster {
    /// Every node with empty state, every link up, handshakes done.
    pub fn new(topology: Arc<Topology>) -> Cluster {
        Cluster::with_config(topology, Config::lan())
    }

    /// [`Cluster::new`] with every node on `config`.
    pub fn with_config(topology: Arc<Topology>, config: Config) -> Cluster {
        let settle_ms = config.link_settle_ms;
        let replicas = topology
            .ids()
            .map(|id| {
                let r = Replica::new(id, Arc::clone(&topology), config.clone(), wall(0)).unwrap();
                (id, r)
            })
            .collect();
        let mut c = Cluster {
            topology: Arc::clone(&topology),
            replicas,
            wire: VecDeque::new(),
            now: 0,
            acks: Vec::new(),
            closed: Vec::new(),
            published: BTreeMap::new(),
            applied: BTreeMap::new(),
            durable: BTreeMap::new(),
            manual_persist: BTreeSet::new(),
            pending_persist: BTreeMap::new(),
            down: BTreeSet::new(),
        };
        for link in topology.links.clone() {
            c.link_up(link.a, link.b);
        }
        c.settle();
        // Past the links' settle time: ops flow.
        c.advance(settle_ms);
        c
    }

    pub fn node(&self, id: ActorId) -> &Replica {
        &self.replicas[&id]
    }

    pub fn node_mut(&mut self, id: ActorId) -> &mut Replica {
        self.replicas.get_mut(&id).unwrap()
    }

    pub fn link_up(&mut self, a: ActorId, b: ActorId) {
        self.down.remove(&(a.min(b), a.max(b)));
        let now = self.now;
        self.node_mut(a).handle_link_up(now, b);
        self.node_mut(b).handle_link_up(now, a);
        self.drain(a);
        self.drain(b);
    }

    pub fn link_down(&mut self, a: ActorId, b: ActorId) {
        self.down.insert((a.min(b), a.max(b)));
        let now = self.now;
        self.node_mut(a).handle_link_down(now, b);
        self.node_mut(b).handle_link_down(now, a);
        self.wire
            .retain(|(f, t, _)| !((*f == a && *t == b) || (*f == b && *t == a)));
        self.drain(a);
        self.drain(b);
    }

    /// Replaces node `id` (after a restart) and marks all its links down.
    pub fn replace(&mut self, id: ActorId, replica: Replica) {
        let peers: Vec<ActorId> = self.topology.neighbours(id).collect();
        for peer in peers {
            self.down.insert((id.min(peer), id.max(peer)));
            let now = self.now;
            self.node_mut(peer).handle_link_down(now, id);
            self.drain(peer);
        }
        self.wire.retain(|(f, t, _)| *f != id && *t != id);
        self.pending_persist.remove(&id);
        self.replicas.insert(id, replica);
        self.drain(id);
    }

    /// Executes every pending output of `id`, in order.
    pub fn drain(&mut self, id: ActorId) {
        let now = self.now;
        while let Some(out) = self.node_mut(id).poll_output() {
            match out {
                Output::Persist { batch, ops, .. } => {
                    if self.manual_persist.contains(&id) {
                        self.pending_persist
                            .entry(id)
                            .or_default()
                            .push((batch, ops));
                    } else {
                        self.durable.entry(id).or_default().extend(ops);
                        self.node_mut(id).handle_persisted(now, batch);
                    }
                }
                Output::Send { to, msg } => {
                    if !self.down.contains(&(id.min(to), id.max(to))) {
                        self.wire.push_back((id, to, msg));
                    }
                }
                Output::Ack(dot) => self.acks.push(dot),
                Output::Applied { op, .. } => {
                    self.applied.entry(id).or_default().push((now, op.dot()))
                }
                Output::CloseLink { peer, error } => self.closed.push((id, peer, error)),
                Output::Merged { .. } => {}
                Output::Published {
                    origin,
                    seq,
                    channel,
                    message,
                } => self
                    .published
                    .entry(id)
                    .or_default()
                    .push((origin, seq, channel, message)),
            }
        }
    }

    /// Ops of `origin` in the Persist batches `id` holds back: taken, not yet durable.
    pub fn held(&self, id: ActorId, origin: ActorId) -> usize {
        self.pending_persist.get(&id).map_or(0, |batches| {
            batches
                .iter()
                .flat_map(|(_, ops)| ops)
                .filter(|op| op.origin == origin)
                .count()
        })
    }

    /// Reports every batch `id` holds durable, now.
    pub fn persist(&mut self, id: ActorId) {
        let batches = self.pending_persist.remove(&id).unwrap_or_default();
        let now = self.now;
        for (batch, ops) in batches {
            self.durable.entry(id).or_default().extend(ops);
            self.node_mut(id).handle_persisted(now, batch);
        }
        self.drain(id);
    }

    /// Delivers messages until none is left.
    pub fn settle(&mut self) {
        for _ in 0..1_000_000 {
            let Some((from, to, msg)) = self.wire.pop_front() else {
                return;
            };
            let now = self.now;
            self.node_mut(to).handle_message(now, wall(now), from, msg);
            self.drain(to);
        }
        panic!("the cluster never went quiet");
    }

    /// Fires every timer due up to `t`, in time order, settling after each; ends at `t`.
    pub fn advance_to(&mut self, t: u64) {
        assert!(t >= self.now, "time goes forward");
        loop {
            let next = self
                .replicas
                .values()
                .filter_map(|r| r.poll_timeout())
                .filter(|&at| at <= t)
                .min();
            let Some(at) = next else { break };
            self.now = self.now.max(at);
            let now = self.now;
            let due: Vec<ActorId> = self
                .replicas
                .iter()
                .filter(|(_, r)| r.poll_timeout().is_some_and(|at| at <= now))
                .map(|(id, _)| *id)
                .collect();
            for id in due {
                self.node_mut(id).handle_timeout(now, wall(now));
                self.drain(id);
            }
            self.settle();
        }
        self.now = t;
    }

    pub fn advance(&mut self, ms: u64) {
        self.advance_to(self.now + ms);
    }

    /// A local write at `id`, its outputs executed and the cluster settled.
    pub fn write(&mut self, id: ActorId, k: &str, command: Command) -> Result<Dot, WriteError> {
        let now = self.now;
        let dot = self.node_mut(id).write(now, wall(now), key(k), command);
        self.drain(id);
        self.settle();
        dot
    }

    /// The dots `id` applied, in order.
    pub fn applied_dots(&self, id: ActorId) -> Vec<Dot> {
        self.applied
            .get(&id)
            .map(|v| v.iter().map(|(_, d)| *d).collect())
            .unwrap_or_default()
    }
}
