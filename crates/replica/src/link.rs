//! What a replica knows about each link to a neighbour: its state, what the peer holds, what
//! we have sent it, and which origins are stalled and need repair.

use std::collections::{BTreeMap, BTreeSet};

use meridian_crdt::{ActorId, VersionVector};

use crate::replica::Millis;

/// Where a link is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// No transport.
    Down,
    /// Transport up, our Hello sent, theirs not yet received.
    Handshaking,
    /// Handshake done: ops and gossip flow.
    Up,
}

/// A link as shown by status pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStatus {
    /// The link's state.
    pub state: LinkState,
    /// Whether the send window is full: the peer is served from the log as it acknowledges.
    pub catching_up: bool,
    /// Ops we hold that the peer is not known to hold.
    pub behind: u64,
    /// Ops sent and not yet acknowledged.
    pub in_flight: u64,
}

#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) state: LinkState,
    /// What the peer holds durably, as it last told us (or as its own frames show).
    reported: VersionVector,
    /// What the peer has taken into its log, synced or not, as it last told us: the send
    /// window's acknowledgement. At least `reported` in effect (`in_flight` takes the larger).
    taken: VersionVector,
    /// Highest seq per origin sent to the peer or known to be held by it.
    pub(crate) sent: VersionVector,
    /// Per origin: since when the peer has been behind us without progress.
    behind_since: BTreeMap<ActorId, Millis>,
    /// Origins we feed the peer although we are not its parent in their trees: its parent
    /// did not, for too long.
    repairing: BTreeSet<ActorId>,
    /// Matrix version of the last gossip sent.
    pub(crate) gossip_sent: u64,
    /// Link-view version of the last adverts sent.
    pub(crate) adverts_sent: u64,
    /// After a handshake, ops wait until this time so that the link-state adverts of links
    /// coming up together reach us first: otherwise two neighbours that each still think the
    /// other's link is down would both serve the whole backlog.
    pub(crate) settling: Option<Millis>,
    /// A snapshot waiting until the local writes it contains are durable (our own seq it
    /// needs durable, and its chunks); nothing else is sent on the link meanwhile.
    pub(crate) held_snapshot: Option<(u64, Vec<crate::op::Message>)>,
    /// The peer's handshake showed it lacks ops of its own that we hold: it lost them (a new
    /// store) and must get them back. Only then do its own ops go back to it.
    pub(crate) lost_own_ops: bool,
}

impl Link {
    pub(crate) fn new() -> Link {
        Link {
            state: LinkState::Down,
            reported: VersionVector::new(),
            taken: VersionVector::new(),
            sent: VersionVector::new(),
            behind_since: BTreeMap::new(),
            repairing: BTreeSet::new(),
            gossip_sent: 0,
            adverts_sent: 0,
            settling: None,
            held_snapshot: None,
            lost_own_ops: false,
        }
    }

    /// Forgets everything learnt over the transport that went away.
    pub(crate) fn reset(&mut self) {
        *self = Link::new();
    }

    /// Handshake done: the peer holds `received`, short of ops of its own that we hold if
    /// `lost_own_ops`; ops flow from `settle_until` on.
    pub(crate) fn up(&mut self, received: VersionVector, lost_own_ops: bool, settle_until: Millis) {
        self.reset();
        self.state = LinkState::Up;
        self.lost_own_ops = lost_own_ops;
        self.settling = Some(settle_until);
        self.sent = received.clone();
        self.reported = received;
    }

    /// The peer reports holding `received` durably.
    pub(crate) fn reported(&mut self, received: &VersionVector) {
        for (origin, seq) in received.iter() {
            self.peer_holds(origin, seq);
        }
    }

    /// The peer holds `origin` up to `seq` durably.
    pub(crate) fn peer_holds(&mut self, origin: ActorId, seq: u64) {
        if seq > self.reported.get(origin) {
            self.reported.set(origin, seq);
            self.behind_since.remove(&origin);
        }
        if seq > self.sent.get(origin) {
            self.sent.set(origin, seq);
        }
    }

    /// The peer has taken `accepted` into its log: ops it will not need again unless it loses
    /// them before they are synced (a crash; the stall check on `reported` resends then).
    pub(crate) fn took(&mut self, accepted: &VersionVector) {
        for (origin, seq) in accepted.iter() {
            if seq > self.taken.get(origin) {
                self.taken.set(origin, seq);
            }
            // It has them (from us or another neighbour): nothing below to send.
            if seq > self.sent.get(origin) {
                self.sent.set(origin, seq);
            }
        }
    }

    /// What the peer is known to hold of `origin`.
    pub(crate) fn reported_of(&self, origin: ActorId) -> u64 {
        self.reported.get(origin)
    }

    pub(crate) fn is_repairing(&self, origin: ActorId) -> bool {
        self.repairing.contains(&origin)
    }

    /// Ops sent and not yet taken by the peer.
    pub(crate) fn in_flight(&self) -> u64 {
        self.sent
            .iter()
            .map(|(o, s)| s.saturating_sub(self.reported.get(o).max(self.taken.get(o))))
            .sum()
    }

    /// Finds origins on which the peer has made no progress for too long and rewinds what
    /// we consider sent, so the next pump resends from the log. The parent in an origin's tree
    /// (`is_parent`) steps in after `repair_after`; any other neighbour after twice that.
    /// Returns how many origins were rewound.
    pub(crate) fn check_stalls(
        &mut self,
        now: Millis,
        repair_after: Millis,
        held: &VersionVector,
        is_parent: impl Fn(ActorId) -> bool,
    ) -> u64 {
        let mut rewound = 0;
        for (origin, have) in held.iter() {
            let reported = self.reported.get(origin);
            if reported >= have {
                self.behind_since.remove(&origin);
                self.repairing.remove(&origin);
                continue;
            }
            let since = *self.behind_since.entry(origin).or_insert(now);
            let stalled = now.saturating_sub(since);
            let feeding = is_parent(origin) || self.repairing.contains(&origin);
            let rewind = if feeding {
                stalled >= repair_after && self.sent.get(origin) > reported
            } else if stalled >= 2 * repair_after {
                self.repairing.insert(origin);
                true
            } else {
                false
            };
            if rewind {
                self.sent.set(origin, reported);
                self.behind_since.insert(origin, now);
                rewound += 1;
            }
        }
        rewound
    }

    pub(crate) fn status(&self, behind: u64, window: usize) -> LinkStatus {
        let in_flight = self.in_flight();
        LinkStatus {
            state: self.state,
            catching_up: self.state == LinkState::Up && in_flight >= window as u64,
            behind,
            in_flight,
        }
    }
}
