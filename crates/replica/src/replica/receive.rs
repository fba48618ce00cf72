//! What arrives from neighbours: the handshake and ops, validated before anything changes.

use std::sync::Arc;

use meridian_crdt::{ActorId, Dot, VersionVector};

use super::{Replica, Staged};
use crate::op::{MAX_SEQ, Op, PROTOCOL_VERSION, Row};
use crate::output::PeerError;
use crate::replica::Millis;
use crate::topology::Role;

impl Replica {
    pub(super) fn handle_hello(
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
        let lost_own_ops = received.get(from) < self.synced.get(from);
        let Some(link) = self.links.get_mut(&from) else {
            return;
        };
        link.up(
            received.clone(),
            lost_own_ops,
            now + self.config.link_settle_ms,
        );
        let mine = received.get(self.me);
        self.matrix.observe(
            from,
            &Row {
                received,
                applied: VersionVector::new(),
            },
        );
        self.ensure_gossip_timer(now);
        // Sent after the link to this replica came up: first-hand and newer than this store.
        self.heard_neighbour(from, mine);
        self.advertise_links();
        self.send_gossip(from, true);
        self.pump_all();
    }

    pub(super) fn handle_ops(&mut self, now: Millis, wall: u64, from: ActorId, ops: Vec<Arc<Op>>) {
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
        // The whole frame is checked before any op of it is taken: a bad frame changes nothing.
        if let Some((op, reason)) = ops
            .iter()
            .find_map(|op| self.check_op(op).err().map(|reason| (op, reason)))
        {
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
        for op in ops {
            if let Some(link) = self.links.get_mut(&from) {
                // Persist-before-send: the peer holds this op durably, so it never needs it
                // from us.
                link.peer_holds(op.origin, op.seq);
            }
            self.receive_op(now, wall, from, op);
        }
    }

    pub(super) fn check_vector(&self, vector: &VersionVector) -> Result<(), &'static str> {
        if vector.iter().any(|(a, _)| self.topology.node(a).is_none()) {
            return Err("version vector names a node that is not in the topology");
        }
        if vector.iter().any(|(_, seq)| seq > MAX_SEQ) {
            return Err("version vector holds a seq beyond the limit");
        }
        Ok(())
    }

    pub(super) fn check_op(&self, op: &Op) -> Result<(), &'static str> {
        match self.topology.node(op.origin) {
            None => return Err("origin is not in the topology"),
            Some(spec) if spec.role != Role::Leader => return Err("origin is not a leader"),
            Some(_) => {}
        }
        if op.seq == 0 {
            return Err("seq 0 does not exist");
        }
        if op.seq > MAX_SEQ {
            return Err("seq beyond the limit");
        }
        if op.deps.get(op.origin) != op.seq - 1 {
            return Err("deps do not follow the origin's previous op");
        }
        if op.key.len() > self.config.limits.max_key_bytes {
            return Err("key longer than the limit");
        }
        self.check_vector(&op.deps)
    }

    pub(super) fn receive_op(&mut self, now: Millis, wall: u64, from: ActorId, op: Arc<Op>) {
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
        self.drain_out_of_order(wall, from, origin);
        let _ = now;
    }

    /// Takes the ops of `origin` that waited for the gap before them to close.
    pub(super) fn drain_out_of_order(&mut self, wall: u64, from: ActorId, origin: ActorId) {
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
    }

    /// Moves our clock past a remote stamp, unless it is too far ahead of our wall clock: then
    /// it is counted and our clock left alone.
    pub(super) fn observe_stamp(&mut self, wall: u64, stamp: &meridian_crdt::Hlc) {
        if !self.clock.observe(wall, stamp) {
            self.stats.clock_ahead_reports += 1;
        }
    }

    pub(super) fn accept(&mut self, wall: u64, from: ActorId, op: Arc<Op>) {
        if self.store_failed.is_some() {
            // It could not be persisted: leave it with the peer.
            self.stats.refused_store_failed += 1;
            return;
        }
        self.observe_stamp(wall, &op.hlc);
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
}
