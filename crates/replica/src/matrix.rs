//! The matrix clock: the newest row (received and applied vectors) known of every node,
//! and the link-state view that per-origin trees are computed from.

use std::collections::{BTreeMap, BTreeSet};

use meridian_crdt::{ActorId, Dot, VersionVector};

use crate::op::{LinkAdvert, Row};

/// Newest rows known of every node of the cluster.
///
/// Rows only grow (pointwise), so gossip in any order, duplicated or relayed, converges.
#[derive(Debug, Clone)]
pub struct MatrixClock {
    rows: BTreeMap<ActorId, Row>,
    /// Bumped on every change, so gossip can send only what changed since a peer's last round.
    versions: BTreeMap<ActorId, u64>,
    clock: u64,
}

impl MatrixClock {
    /// A matrix with an empty row for each node.
    pub fn new(nodes: impl IntoIterator<Item = ActorId>) -> Self {
        let rows: BTreeMap<ActorId, Row> = nodes.into_iter().map(|n| (n, Row::default())).collect();
        let versions = rows.keys().map(|n| (*n, 0)).collect();
        MatrixClock {
            rows,
            versions,
            clock: 0,
        }
    }

    /// Merges a reported row; returns whether it taught us anything. Rows of unknown nodes are
    /// ignored (the caller validates senders).
    pub fn observe(&mut self, node: ActorId, row: &Row) -> bool {
        let Some(known) = self.rows.get_mut(&node) else {
            return false;
        };
        if known.covers(row) {
            return false;
        }
        known.merge(row);
        self.clock += 1;
        self.versions.insert(node, self.clock);
        true
    }

    /// The newest row known of `node`.
    pub fn row(&self, node: ActorId) -> Option<&Row> {
        self.rows.get(&node)
    }

    /// Rows changed after version `since`, with the current version.
    pub fn changed_since(&self, since: u64) -> (Vec<(ActorId, Row)>, u64) {
        let rows = self
            .versions
            .iter()
            .filter(|(_, v)| **v > since)
            .filter_map(|(n, _)| self.rows.get(n).map(|r| (*n, r.clone())))
            .collect();
        (rows, self.clock)
    }

    /// Ops every node holds durably: nobody can need them from a log again.
    pub fn stable_received(&self) -> VersionVector {
        self.meet(|r| &r.received)
    }

    /// Ops every node has applied durably, and that every op any node still sends or writes
    /// covers (see `Row::applied`).
    pub fn stable_applied(&self) -> VersionVector {
        self.meet(|r| &r.applied)
    }

    /// Ops whose counter increments this node may compact (`Keyspace::compact`), given its
    /// applied vector: every node has applied them (`stable_applied`), *and* every op this
    /// node has still to apply covers them all. A row promises that every op its node sends
    /// later covers it, except its own durable ops up to `row.applied[node]`, which may still
    /// be on their way; so the second half holds once this node has applied those, for every
    /// node. Until then the answer is empty. `stable_applied` alone is not enough: a node can
    /// write an op, then apply the last stable op, report, and the op still be on its way
    /// here.
    pub fn compactable(&self, applied: &VersionVector) -> VersionVector {
        if self
            .rows
            .iter()
            .any(|(n, r)| applied.get(*n) < r.applied.get(*n))
        {
            return VersionVector::new();
        }
        self.stable_applied()
    }

    fn meet(&self, pick: impl Fn(&Row) -> &VersionVector) -> VersionVector {
        let mut rows = self.rows.values();
        let Some(first) = rows.next() else {
            return VersionVector::new();
        };
        rows.fold(pick(first).clone(), |acc, r| acc.meet(pick(r)))
    }

    /// How many nodes hold `dot` durably (the origin included).
    pub fn durable_count(&self, dot: Dot) -> usize {
        self.rows
            .values()
            .filter(|r| r.received.covers(dot))
            .count()
    }

    /// Nodes that hold `dot` durably.
    pub fn durable_at(&self, dot: Dot) -> impl Iterator<Item = ActorId> + '_ {
        self.rows
            .iter()
            .filter(move |(_, r)| r.received.covers(dot))
            .map(|(n, _)| *n)
    }
}

/// Which links are up, as every node last reported its own.
///
/// A link counts as up when neither end has reported it down; a node not heard from yet is
/// assumed to have all its topology links up, which is right in steady state and repaired by
/// anti-entropy otherwise.
#[derive(Debug, Clone, Default)]
pub struct LinkView {
    adverts: BTreeMap<ActorId, (u64, BTreeSet<ActorId>)>,
    changes: u64,
}

impl LinkView {
    /// Records an advert; returns whether it was newer than what we had.
    pub fn observe(&mut self, advert: &LinkAdvert) -> bool {
        match self.adverts.get(&advert.node) {
            Some((version, _)) if *version >= advert.version => false,
            _ => {
                self.adverts.insert(
                    advert.node,
                    (advert.version, advert.up.iter().copied().collect()),
                );
                self.changes += 1;
                true
            }
        }
    }

    /// A number that grows whenever the view changes.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Whether `node` reports its link to `peer` up (true if `node` never reported).
    fn reports_up(&self, node: ActorId, peer: ActorId) -> bool {
        self.adverts
            .get(&node)
            .is_none_or(|(_, up)| up.contains(&peer))
    }

    /// Whether the link `a`–`b` is up as far as this view knows.
    pub fn is_up(&self, a: ActorId, b: ActorId) -> bool {
        self.reports_up(a, b) && self.reports_up(b, a)
    }

    /// Every advert held, for gossip.
    pub fn adverts(&self) -> Vec<LinkAdvert> {
        self.adverts
            .iter()
            .map(|(node, (version, up))| LinkAdvert {
                node: *node,
                version: *version,
                up: up.iter().copied().collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vv(entries: &[(u32, u64)]) -> VersionVector {
        let mut v = VersionVector::new();
        for (a, s) in entries {
            v.set(ActorId(*a), *s);
        }
        v
    }

    #[test]
    fn stability_is_the_meet_of_every_row() {
        let mut m = MatrixClock::new([ActorId(1), ActorId(2), ActorId(3)]);
        let row = |e: &[(u32, u64)]| Row {
            received: vv(e),
            applied: vv(e),
        };
        assert!(m.observe(ActorId(1), &row(&[(1, 5), (2, 3)])));
        assert!(m.observe(ActorId(2), &row(&[(1, 4), (2, 3)])));
        assert!(m.stable_received().is_empty());
        assert!(m.observe(ActorId(3), &row(&[(1, 2), (2, 9)])));
        assert_eq!(m.stable_received(), vv(&[(1, 2), (2, 3)]));
        // An older report teaches nothing.
        assert!(!m.observe(ActorId(3), &row(&[(1, 1)])));
        assert_eq!(
            m.durable_count(Dot {
                actor: ActorId(1),
                seq: 4
            }),
            2
        );
    }

    #[test]
    fn link_view_takes_the_newest_advert() {
        let mut view = LinkView::default();
        assert!(view.is_up(ActorId(1), ActorId(2)));
        let advert = |version, up: &[u32]| LinkAdvert {
            node: ActorId(1),
            version,
            up: up.iter().map(|a| ActorId(*a)).collect(),
        };
        assert!(view.observe(&advert(2, &[3])));
        assert!(!view.is_up(ActorId(2), ActorId(1)));
        assert!(!view.observe(&advert(1, &[2, 3])));
        assert!(view.observe(&advert(3, &[2, 3])));
        assert!(view.is_up(ActorId(2), ActorId(1)));
    }
}
