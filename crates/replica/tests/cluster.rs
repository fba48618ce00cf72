//! Replicas driven in memory by a tiny synchronous driver: every output executed at once,
//! messages delivered in order. The simulator covers faults and time; these tests pin the
//! state machine's basic behaviours.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::{ActorId, Command, Value};
use meridian_replica::{Config, Message, Output, PeerError, Replica, Topology, WriteError};

struct Cluster {
    replicas: BTreeMap<ActorId, Replica>,
    wire: VecDeque<(ActorId, ActorId, Message)>,
    now: u64,
    acks: Vec<meridian_crdt::Dot>,
    closed: Vec<(ActorId, ActorId, PeerError)>,
    /// Links whose messages are dropped.
    cut: Vec<(ActorId, ActorId)>,
}

macro_rules! topology_file {
    ($name:literal) => {
        (
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../topologies/",
                $name,
                ".toml"
            )),
            concat!("topologies/", $name, ".toml"),
        )
    };
}

fn topology(name: &str) -> Arc<Topology> {
    let (text, path) = match name {
        "mesh-3" => topology_file!("mesh-3"),
        "ring-5" => topology_file!("ring-5"),
        other => panic!("no topology {other} in these tests"),
    };
    Arc::new(Topology::parse(text, path).unwrap())
}

impl Cluster {
    fn new(name: &str) -> Cluster {
        let topology = topology(name);
        let replicas = topology
            .ids()
            .map(|id| {
                (
                    id,
                    Replica::new(id, Arc::clone(&topology), Config::lan(), 1_000).unwrap(),
                )
            })
            .collect();
        let mut c = Cluster {
            replicas,
            wire: VecDeque::new(),
            now: 0,
            acks: Vec::new(),
            closed: Vec::new(),
            cut: Vec::new(),
        };
        for link in topology.links.clone() {
            c.link_up(link.a, link.b);
        }
        c.settle();
        // Past the links' settle time: ops flow.
        c.tick(Config::lan().link_settle_ms);
        c
    }

    fn link_up(&mut self, a: ActorId, b: ActorId) {
        let now = self.now;
        self.replicas.get_mut(&a).unwrap().handle_link_up(now, b);
        self.replicas.get_mut(&b).unwrap().handle_link_up(now, a);
        self.drain_all();
    }

    fn drain_all(&mut self) {
        let ids: Vec<ActorId> = self.replicas.keys().copied().collect();
        for id in ids {
            self.drain(id);
        }
    }

    fn drain(&mut self, id: ActorId) {
        let now = self.now;
        while let Some(out) = self.replicas.get_mut(&id).unwrap().poll_output() {
            match out {
                Output::Persist { batch, .. } => self
                    .replicas
                    .get_mut(&id)
                    .unwrap()
                    .handle_persisted(now, batch),
                Output::Send { to, msg } => {
                    if !self.cut.contains(&(id, to)) && !self.cut.contains(&(to, id)) {
                        self.wire.push_back((id, to, msg));
                    }
                }
                Output::Ack(dot) => self.acks.push(dot),
                Output::Applied { .. } | Output::Merged { .. } | Output::Published { .. } => {}
                Output::CloseLink { peer, error } => self.closed.push((id, peer, error)),
            }
        }
    }

    /// Delivers messages until none is left, advancing time by `step` per timer round.
    fn settle(&mut self) {
        for _ in 0..100_000 {
            if let Some((from, to, msg)) = self.wire.pop_front() {
                let now = self.now;
                self.replicas
                    .get_mut(&to)
                    .unwrap()
                    .handle_message(now, 1_000 + now, from, msg);
                self.drain(to);
            } else {
                return;
            }
        }
        panic!("the cluster never went quiet");
    }

    fn tick(&mut self, ms: u64) {
        self.now += ms;
        let now = self.now;
        let ids: Vec<ActorId> = self.replicas.keys().copied().collect();
        for id in ids {
            let r = self.replicas.get_mut(&id).unwrap();
            if r.poll_timeout().is_some_and(|t| t <= now) {
                r.handle_timeout(now, 1_000 + now);
            }
            self.drain(id);
        }
        self.settle();
    }

    fn write(
        &mut self,
        id: u32,
        key: &str,
        command: Command,
    ) -> Result<meridian_crdt::Dot, WriteError> {
        let now = self.now;
        let r = self.replicas.get_mut(&ActorId(id)).unwrap();
        let dot = r.write(now, 1_000 + now, Bytes::from(key.to_string()), command);
        self.drain(ActorId(id));
        self.settle();
        dot
    }

    fn digests(&self) -> Vec<String> {
        self.replicas
            .values()
            .map(|r| r.digest().to_string())
            .collect()
    }

    fn duplicates(&self) -> u64 {
        self.replicas.values().map(|r| r.stats().duplicates).sum()
    }
}

#[test]
fn a_write_reaches_every_node_of_a_mesh_once() {
    let mut c = Cluster::new("mesh-3");
    let dot = c
        .write(1, "k", Command::Set(Bytes::from_static(b"v")))
        .unwrap();
    assert_eq!(c.acks, vec![dot]);
    for r in c.replicas.values() {
        assert_eq!(
            r.keyspace().get(b"k"),
            Some(Value::Str(Bytes::from_static(b"v"))),
            "node {}",
            r.id()
        );
    }
    assert_eq!(c.duplicates(), 0);
    c.tick(60);
    c.tick(60);
    assert_eq!(c.duplicates(), 0);
}

#[test]
fn ring_of_five_delivers_each_op_once() {
    let mut c = Cluster::new("ring-5");
    for round in 0..20u32 {
        for id in 1..=5 {
            c.write(id, &format!("c{}", round % 3), Command::IncrBy(1))
                .unwrap();
        }
        c.tick(60);
    }
    let digests = c.digests();
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
    assert_eq!(c.duplicates(), 0);
    for r in c.replicas.values() {
        assert_eq!(r.stats().ops_received, 100 - 20, "node {}", r.id());
    }
}
