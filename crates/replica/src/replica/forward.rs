//! Forwarding along per-origin trees, gossip of the matrix clock and link state, and repair
//! of neighbours that stall.

use std::sync::Arc;

use meridian_crdt::{ActorId, VersionVector};

use super::Replica;
use crate::link::{Link, LinkState};
use crate::op::{LinkAdvert, Message, Op, Row};
use crate::output::{Output, PeerError};
use crate::replica::Millis;
use crate::topology::Routes;

impl Replica {
    /// Publishes our set of up links and recomputes the trees.
    pub(super) fn advertise_links(&mut self) {
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

    pub(super) fn recompute_routes(&mut self) {
        let view = &self.view;
        self.routes = Routes::new(&self.topology, |a, b| view.is_up(a, b));
    }

    pub(super) fn handle_gossip(
        &mut self,
        from: ActorId,
        rows: Vec<(ActorId, Row)>,
        adverts: Vec<LinkAdvert>,
        accepted: VersionVector,
    ) {
        if self.check_vector(&accepted).is_err() {
            self.close(
                from,
                PeerError::InvalidOp {
                    origin: from,
                    seq: 0,
                    reason: "gossip's accepted vector names a node that is not in the topology",
                },
            );
            return;
        }
        if let Some(link) = self.links.get_mut(&from) {
            link.took(&accepted);
        }
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
                // Our own row as a peer relays it may be our previous incarnation's: what it
                // held, not what reached anyone else.
                continue;
            }
            // A relayed row may be older than this store, so it never counts a neighbour as
            // heard; it still proves that its node held our ops this far (history.rs).
            self.learn_own_history(row.received.get(self.me));
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
    pub(super) fn flood_adverts(&mut self) {
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

    pub(super) fn gossip_and_repair(&mut self, now: Millis) {
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
            let synced = &self.synced;
            if let Some(link) = self.links.get_mut(&peer) {
                let resends = link.check_stalls(now, repair_after, synced, |origin| {
                    routes.parent(origin, peer) == Some(me)
                });
                self.stats.repairs += resends;
            }
            self.pump(peer);
        }
    }

    pub(super) fn send_gossip(&mut self, peer: ActorId, everything: bool) {
        let view_version = self.view.changes();
        let Some(link) = self.links.get_mut(&peer) else {
            return;
        };
        let since = if everything { 0 } else { link.gossip_sent };
        let (mut rows, version) = self.matrix.changed_since(since);
        if rows.is_empty() {
            // Nothing changed since the last round: send every row again. A row relayed once
            // and lost on the way would otherwise stay stale at the peer until it changes,
            // and at rest it never does; counter compaction (`MatrixClock::compactable`)
            // needs every node to learn every node's final row.
            rows = self.matrix.changed_since(0).0;
        }
        link.gossip_sent = version;
        let adverts = if everything || link.adverts_sent != view_version {
            link.adverts_sent = view_version;
            self.view.adverts()
        } else {
            Vec::new()
        };
        // Our own row always goes: it is the acknowledgement the peer's send window waits on.
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
                accepted: self.accepted.clone(),
            },
        });
    }

    pub(super) fn pump_all(&mut self) {
        let peers: Vec<ActorId> = self.links.keys().copied().collect();
        for peer in peers {
            self.pump(peer);
        }
    }

    /// Whether we serve `peer` the ops of `origin`: we are its parent in the origin's tree, or
    /// we are repairing a stall; and a peer's own ops go back to it only when its handshake
    /// showed it lost some that we hold (a new store): it must learn them before it writes.
    ///
    /// Not whenever it has not yet reported an op of its own that we hold: we may get its
    /// op through another neighbour before its own gossip says it holds it (on
    /// `mesh-delayed`, Zurich gets Tokyo's ops through Mumbai, 110 ms, faster than Tokyo's
    /// direct link of 115 ms), and every such op went back to Tokyo as a duplicate. A peer
    /// whose handshake showed nothing lost holds every op of its own anyone holds: ops leave
    /// a node only once synced. And one that lost some hears, at its handshake, from the
    /// neighbour each lost op first went through, which held it durably before forwarding it.
    pub(super) fn feeds(&self, link: &Link, origin: ActorId, peer: ActorId) -> bool {
        if origin == peer {
            link.lost_own_ops && link.reported_of(origin) < self.synced.get(origin)
        } else {
            self.routes.parent(origin, peer) == Some(self.me) || link.is_repairing(origin)
        }
    }

    /// Sends `peer` every op it should get from us: of the origins whose tree makes us its
    /// parent, and of origins we are repairing for it, within the send window. Only synced
    /// ops leave (persist.rs says why).
    pub(super) fn pump(&mut self, peer: ActorId) {
        let Some(link) = self.links.get_mut(&peer) else {
            return;
        };
        if link.state != LinkState::Up || link.settling.is_some() || link.held_snapshot.is_some() {
            return;
        }
        // A snapshot is of the state at the applied vector, which an open unit cuts through.
        if !self.unit_open && self.needs_snapshot(peer) {
            self.send_snapshot(peer);
        }
        let fed: Vec<(ActorId, u64)> = match self.links.get(&peer) {
            Some(link) => self
                .synced
                .iter()
                .filter(|(origin, _)| self.feeds(link, *origin, peer))
                .collect(),
            None => return,
        };
        let Some(link) = self.links.get_mut(&peer) else {
            return;
        };
        let window = self.config.send_window.get() as u64;
        let batch_max = self.config.max_batch_ops.get();
        let mut batch: Vec<Arc<Op>> = Vec::new();
        for (origin, have) in fed {
            let mut next = link.sent.get(origin).saturating_add(1);
            while next <= have {
                let in_flight = link.in_flight();
                if in_flight >= window {
                    break;
                }
                let to = have.min(next.saturating_add(window - in_flight - 1));
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
                next = to.saturating_add(1);
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
