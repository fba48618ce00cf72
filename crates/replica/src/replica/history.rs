//! The history gate: a node whose store is new, or may have lost its latest writes, learns
//! how far its own sequence goes before it writes, so that it never reuses a sequence number.
//!
//! A reused seq is a silent loss: every node that holds the old op drops the new one as a
//! duplicate, so the write is acknowledged here and never arrives there, and the regions
//! diverge. The gate opens once it has heard, first-hand, the received vector of every
//! neighbour in the topology and this node holds again every op of its own that any node is
//! known to hold.
//!
//! Why every neighbour, and why first-hand. An op of ours can only be held by another node if
//! we sent it, and we send our own ops (and snapshots holding them) only over our links, to
//! neighbours, which sync them before they forward them anywhere (persist.rs), and report in
//! their Hello only what they synced. So whatever node holds an op of ours, some neighbour
//! held it durably first, and a neighbour's received vector only
//! grows: a report of it made after this store was created covers every op of ours that ever
//! passed through it. The highest `received[me]` over such reports of all neighbours is
//! therefore at least the last seq anyone holds. One neighbour is not enough: ours may have
//! gone to a single neighbour while the others never saw them.
//!
//! The Hello of a neighbour on a link to this replica is such a report: it is sent after the
//! link came up, so after this store was created. A row relayed in gossip is not: rows carry
//! no time and the matrix keeps the pointwise maximum of every copy, so a neighbour's row as
//! another node relays it may date from before that neighbour received our last ops (the
//! relay may have been cut off from it since). A relayed row, or the row of a non-neighbour,
//! still proves that the node held our ops up to its `received[me]` at some point, so it
//! raises the seq we must fetch back before writing, but never counts a neighbour as heard.
//! Our own row, relayed back to us, counts for nothing: it may be our previous incarnation's,
//! which shows how far that one got, not what reached anyone (a row can arrive where its ops
//! were lost), and waiting for it could keep the gate shut for ops nobody can send back.
//!
//! What the argument assumes: the old incarnation stopped before this store was created (one
//! process per actor id), and no neighbour lost its disk after forwarding ops of ours to a
//! node that is not our neighbour (a crash cannot take back what it forwarded: that was
//! synced). Outside those, or when a neighbour is gone for good,
//! `Config::open_history_without` lets an operator open the gate without it, at the risk its
//! docs state.

use std::collections::BTreeSet;

use meridian_crdt::ActorId;

use super::Replica;
use crate::output::{HistoryWait, NewError};
use crate::topology::Role;

/// What a node whose store is new (or may have lost its latest writes) still waits for.
#[derive(Debug, Clone, Default)]
pub(super) struct HistoryGate {
    /// Neighbours whose received vector this replica has not heard first-hand yet.
    waiting: BTreeSet<ActorId>,
    /// The highest seq of ours any node is known to hold (or to have held).
    known: u64,
}

impl Replica {
    /// Checks that `open_history_without` names only neighbours: any other node is a mistake
    /// (the gate never waits for it), and a mistake here may stand for the neighbour meant.
    pub(super) fn check_history_override(&self) -> Result<(), NewError> {
        match self
            .config
            .open_history_without
            .iter()
            .find(|n| !self.topology.are_linked(self.me, **n))
        {
            Some(node) => Err(NewError::HistoryOverride(*node)),
            None => Ok(()),
        }
    }

    /// Closes the gate: local writes are refused until every neighbour not named in
    /// `open_history_without` has been heard and our own history is complete again. A node
    /// that never writes (a replica) or has no neighbour has nothing to learn.
    pub(super) fn close_history_gate(&mut self) {
        if self.role != Role::Leader || self.topology.neighbours(self.me).next().is_none() {
            return;
        }
        let waiting = self
            .topology
            .neighbours(self.me)
            .filter(|n| !self.config.open_history_without.contains(n))
            .collect();
        self.history_gate = Some(HistoryGate { waiting, known: 0 });
        self.try_open_history_gate();
    }

    /// A neighbour's handshake on a link to this replica: first-hand news of what it holds,
    /// `seq` being the last of our ops among it.
    pub(super) fn heard_neighbour(&mut self, peer: ActorId, seq: u64) {
        match self.history_gate.as_mut() {
            Some(gate) => {
                gate.waiting.remove(&peer);
            }
            None if self.verify_history && self.role == Role::Leader && seq >= self.next_seq => {
                // A neighbour holds ops of ours this node never wrote in this life: the store
                // was started as part of a new cluster (`Replica::new_cluster`) while the
                // cluster had history. Any seq written from here on might be one the neighbour
                // already holds, so writes wait until those ops are back. (Seqs written
                // before this Hello may already collide: the operator's word was wrong.)
                // Only on that word: a store that was restored holds its whole history (ops
                // leave a node only once synced), and a peer claiming more of our ops than we
                // wrote is then wrong, not a reason to stop writing.
                self.stats.history_found_behind += 1;
                self.history_gate = Some(HistoryGate {
                    waiting: BTreeSet::new(),
                    known: 0,
                });
            }
            None => {}
        }
        self.learn_own_history(seq);
    }

    /// Learns that some node holds (or held) our own ops up to `seq`, and opens the gate if
    /// nothing else is missing.
    pub(super) fn learn_own_history(&mut self, seq: u64) {
        if let Some(gate) = self.history_gate.as_mut() {
            gate.known = gate.known.max(seq);
        }
        self.try_open_history_gate();
    }

    /// Opens the gate once every neighbour was heard and our own ops up to the highest seq
    /// known are durable *and applied* here: the next write's `deps[me]` must be `seq - 1`,
    /// or peers refuse it ("deps do not follow") and we would apply it out of causal order.
    /// (An earlier version checked durability only; the simulator's replaced-disk scenarios
    /// caught the write made while the node's own ops still waited in the causal buffer.)
    fn try_open_history_gate(&mut self) {
        let durable = self.received.get(self.me);
        let applied = self.applied.get(self.me);
        if self
            .history_gate
            .as_ref()
            .is_some_and(|g| g.waiting.is_empty() && durable.min(applied) >= g.known)
        {
            self.history_gate = None;
            self.next_seq = self.next_seq.max(durable.max(applied) + 1);
        }
    }

    /// Why local writes are refused, while the history gate is closed: the neighbours it still
    /// waits for, and how far our own history is known to go and held again. `None` once the
    /// node writes.
    pub fn history_wait(&self) -> Option<HistoryWait> {
        let gate = self.history_gate.as_ref()?;
        let neighbours = gate
            .waiting
            .iter()
            .map(|n| {
                let name = self
                    .topology
                    .node(*n)
                    .map_or_else(String::new, |spec| spec.name.clone());
                (*n, name)
            })
            .collect();
        Some(HistoryWait {
            neighbours,
            known: gate.known,
            held: self.received.get(self.me).min(self.applied.get(self.me)),
        })
    }
}
