//! State snapshots: how a neighbour that needs ops below our log's horizon catches up.
//!
//! The sender encodes every key's whole state at its applied vector `V`, in chunks of at most
//! `snapshot_chunk_bytes`, then serves the log tail after `V`. The receiver collects the
//! chunks and, once the last arrives, joins the snapshot into its state (the causal merge of
//! `Keyspace::merge`, with `V` as the snapshot's context), so nothing either side holds is
//! lost and nothing the sender had removed comes back. A lost chunk makes the snapshot
//! incomplete: the receiver drops it, makes no progress, and the sender's stall repair sends
//! a new one.

use std::collections::BTreeSet;

use bytes::Bytes;
use meridian_crdt::{ActorId, Keyspace, VersionVector};

use super::Replica;
use crate::op::{Message, SnapshotChunk};
use crate::output::{Output, PeerError};
use crate::replica::Millis;

/// A snapshot being received.
#[derive(Debug)]
pub(crate) struct Incoming {
    id: u64,
    next_index: u32,
    applied: VersionVector,
    entries: Vec<(Bytes, Bytes)>,
    bytes: u64,
}

impl Replica {
    /// Whether `peer` needs ops that our log can no longer serve.
    pub(super) fn needs_snapshot(&self, peer: ActorId) -> bool {
        let Some(link) = self.links.get(&peer) else {
            return false;
        };
        self.synced.iter().any(|(origin, have)| {
            let sent = link.sent.get(origin);
            have > sent && sent + 1 < self.log.horizon(origin) && self.feeds(link, origin, peer)
        })
    }

    /// Sends `peer` our whole state at our applied vector; the log tail follows.
    ///
    /// The state includes our latest local writes, applied at once but maybe not durable
    /// yet. Like ops, a snapshot leaves only after everything in it is durable here: were we to
    /// crash first, a write that never became durable would live on at the peer while we
    /// reused its sequence number. So the chunks wait until our own ops up to the snapshot's
    /// vector are durable, and the link sends nothing else meanwhile.
    pub(super) fn send_snapshot(&mut self, peer: ActorId) {
        let id = self.next_snapshot_id;
        self.next_snapshot_id += 1;
        let applied = self.applied.clone();
        let limit = self.config.snapshot_chunk_bytes;
        let mut chunks: Vec<Vec<(Bytes, Bytes)>> = vec![Vec::new()];
        let mut size = 0;
        for key in self.keyspace.retained_keys() {
            let Some(state) = self.keyspace.encode_key(key) else {
                continue;
            };
            let len = key.len() + state.len();
            if size > 0 && size + len > limit {
                chunks.push(Vec::new());
                size = 0;
            }
            size += len;
            if let Some(chunk) = chunks.last_mut() {
                chunk.push((key.clone(), Bytes::from(state)));
            }
        }
        let count = chunks.len();
        let messages = chunks
            .into_iter()
            .enumerate()
            .map(|(index, entries)| {
                Message::Snapshot(SnapshotChunk {
                    id,
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                    last: index + 1 == count,
                    applied: applied.clone(),
                    newest: self.newest_applied,
                    entries,
                })
            })
            .collect();
        let own = applied.get(self.me);
        if let Some(link) = self.links.get_mut(&peer) {
            for (origin, seq) in applied.iter() {
                if seq > link.sent.get(origin) {
                    link.sent.set(origin, seq);
                }
            }
            link.held_snapshot = Some((own, messages));
        }
        self.stats.snapshots_sent += 1;
        self.release_snapshots();
    }

    /// Sends the snapshots whose local writes have all been synced.
    pub(super) fn release_snapshots(&mut self) {
        let durable = self.synced.get(self.me);
        let mut released = Vec::new();
        for (peer, link) in &mut self.links {
            if link
                .held_snapshot
                .as_ref()
                .is_some_and(|(own, _)| *own <= durable)
                && let Some((_, messages)) = link.held_snapshot.take()
            {
                released.push(*peer);
                self.outputs.extend(
                    messages
                        .into_iter()
                        .map(|msg| Output::Send { to: *peer, msg }),
                );
            }
        }
        for peer in released {
            self.pump(peer);
        }
    }

    pub(super) fn handle_snapshot(
        &mut self,
        now: Millis,
        wall: u64,
        from: ActorId,
        chunk: SnapshotChunk,
    ) {
        if let Err(reason) = self.check_vector(&chunk.applied) {
            self.close(from, PeerError::BadSnapshot(reason.to_string()));
            return;
        }
        if chunk.index == 0 {
            self.snapshots_in.insert(
                from,
                Incoming {
                    id: chunk.id,
                    next_index: 0,
                    applied: chunk.applied.clone(),
                    entries: Vec::new(),
                    bytes: 0,
                },
            );
        }
        let Some(incoming) = self.snapshots_in.get_mut(&from) else {
            return;
        };
        if incoming.id != chunk.id
            || incoming.next_index != chunk.index
            || incoming.applied != chunk.applied
        {
            // A chunk went missing: drop this snapshot; the sender will send another.
            self.snapshots_in.remove(&from);
            return;
        }
        let size: u64 = chunk
            .entries
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum();
        incoming.bytes += size;
        if incoming.bytes > self.config.limits.max_snapshot_bytes {
            let limit = self.config.limits.max_snapshot_bytes;
            self.snapshots_in.remove(&from);
            self.close(
                from,
                PeerError::BadSnapshot(format!("larger than the limit of {limit} bytes")),
            );
            return;
        }
        incoming.entries.extend(chunk.entries);
        incoming.next_index += 1;
        if !chunk.last {
            return;
        }
        if let Some(stamp) = chunk.newest {
            self.observe_stamp(wall, &stamp);
        }
        let Some(incoming) = self.snapshots_in.remove(&from) else {
            return;
        };
        self.merge_snapshot(now, wall, from, incoming.applied, incoming.entries);
    }

    fn merge_snapshot(
        &mut self,
        now: Millis,
        wall: u64,
        from: ActorId,
        theirs: VersionVector,
        entries: Vec<(Bytes, Bytes)>,
    ) {
        if self.applied.dominates(&theirs) {
            return;
        }
        let mut other = Keyspace::new();
        for (key, state) in entries {
            if let Err(e) = other.load_key(key.clone(), &state) {
                let key = String::from_utf8_lossy(&key).into_owned();
                self.close(from, PeerError::BadSnapshot(format!("key {key:?}: {e}")));
                return;
            }
        }
        // Every key either side holds may change: all of them go to the store, and those
        // whose state did change to the change feed.
        let keys: BTreeSet<Bytes> = self
            .keyspace
            .retained_keys()
            .chain(other.retained_keys())
            .cloned()
            .collect();
        let before: Vec<_> = keys.iter().map(|k| self.keyspace.key_digest(k)).collect();
        self.keyspace.merge(&self.applied, &other, &theirs);
        self.compacted_at = VersionVector::new();
        let changed: Vec<Bytes> = keys
            .iter()
            .zip(before)
            .filter(|(k, d)| self.keyspace.key_digest(k) != *d)
            .map(|(k, _)| k.clone())
            .collect();
        self.dirty.extend(keys);
        // The ops the snapshot covers are in no log of ours: its state must reach the store.
        self.checkpoint();
        self.applied.merge(&theirs);
        let mut jumped = VersionVector::new();
        for (origin, seq) in theirs.iter() {
            if seq > self.received.get(origin) {
                // The snapshot covers ops our log never had: it starts after them.
                self.log.set_base(origin, seq);
                self.received.set(origin, seq);
                jumped.set(origin, seq);
            }
            if seq > self.accepted.get(origin) {
                self.accepted.set(origin, seq);
            }
        }
        if !jumped.is_empty() {
            self.truncated.merge(&jumped);
            self.truncate_pending = true;
        }
        // Durable ops now applied by the merge no longer wait.
        for (origin, queue) in &mut self.durable_at {
            let waiting = self
                .received
                .get(*origin)
                .saturating_sub(self.applied.get(*origin));
            while queue.len() as u64 > waiting {
                queue.pop_front();
            }
        }
        if let Some(link) = self.links.get_mut(&from) {
            for (origin, seq) in theirs.iter() {
                link.peer_holds(origin, seq);
            }
        }
        self.out_of_order
            .retain(|dot, _| dot.seq > self.accepted.get(dot.actor));
        let origins: Vec<ActorId> = self.accepted.iter().map(|(o, _)| o).collect();
        for origin in origins {
            self.drain_out_of_order(wall, from, origin);
        }
        self.stats.snapshots_merged += 1;
        self.outputs.push_back(Output::Merged {
            applied: theirs,
            keys: changed,
        });
        self.try_apply(now);
        self.learn_own_history(0);
        self.update_own_row();
        self.pump_all();
    }
}
