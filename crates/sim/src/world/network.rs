//! The simulated network: links with latency, loss, duplication and reordering between
//! nodes, sends, deliveries, and links going down and coming back.

use meridian_crdt::ActorId;
use meridian_replica::Message;
use rand::Rng;

use super::{DEFAULT_LATENCY_MS, Event, World};

impl World {
    pub(super) fn link_key(a: ActorId, b: ActorId) -> ((ActorId, ActorId), usize) {
        if a < b { ((a, b), 0) } else { ((b, a), 1) }
    }

    pub(super) fn send(&mut self, from: ActorId, to: ActorId, msg: Message) {
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
        let chunk = match &msg {
            Message::Snapshot(chunk) => {
                self.counters.snapshot_chunks_sent += 1;
                Some((chunk.index, chunk.last))
            }
            _ => None,
        };
        link.sent[dir] += 1;
        let sent = link.sent[dir];
        let epoch = link.epoch;
        let base = link.latency_ms;
        if self.drop_a_snapshot_chunk && chunk.is_some_and(|(index, _)| index == 1) {
            self.drop_a_snapshot_chunk = false;
            self.counters.lost += 1;
            self.counters.snapshot_chunks_lost += 1;
            return;
        }
        // The handshake rides the transport's reliable control stream: never lost.
        let faulty = !matches!(msg, Message::Hello { .. });
        let mut copies = 1;
        let mut jitter = 0.0;
        if let (Some(lossy), true) = (self.lossy, faulty) {
            if self.rng.random_bool(lossy.loss) {
                self.counters.lost += 1;
                if chunk.is_some() {
                    self.counters.snapshot_chunks_lost += 1;
                }
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

    pub(super) fn deliver(
        &mut self,
        from: ActorId,
        to: ActorId,
        msg: Message,
        epoch: u64,
        sent: u64,
    ) {
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
        // The last chunk of a snapshot of several: did it complete one that was merged?
        let closes_chunks = matches!(&msg, Message::Snapshot(c) if c.last && c.index > 0);
        if let Some(r) = self.nodes.get_mut(&to).and_then(|n| n.replica.as_mut()) {
            let merged = r.stats().snapshots_merged;
            r.handle_message(now, wall, from, msg);
            if closes_chunks && r.stats().snapshots_merged > merged {
                self.counters.multi_chunk_snapshots_merged += 1;
            }
        }
        self.drain(to);
    }

    pub(super) fn alive(&self, node: ActorId) -> bool {
        self.nodes.get(&node).is_some_and(|n| n.replica.is_some())
    }

    pub(super) fn connect(&mut self, a: ActorId, b: ActorId) {
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

    pub(super) fn disconnect(&mut self, a: ActorId, b: ActorId) {
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
    pub(super) fn reconnect_later(&mut self, a: ActorId, b: ActorId) {
        let (key, _) = Self::link_key(a, b);
        let rtt = self
            .links
            .get(&key)
            .map_or(DEFAULT_LATENCY_MS, |l| l.latency_ms)
            * 2;
        self.push(self.now + rtt, Event::Connect(a, b));
    }
}
