//! Pub/sub: a message published at one region reaches every region once, along the
//! publisher's forwarding tree, and is never logged; bad messages from a peer close the link.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use meridian_crdt::ActorId;
use meridian_replica::{Message, PeerError};
use support::*;

fn b(s: &str) -> Bytes {
    Bytes::from(s.to_owned())
}

#[test]
fn a_message_reaches_every_region_of_a_ring_once_whoever_publishes_it() {
    let mut c = Cluster::new(ring_5());
    c.advance(1_000);
    let nodes: Vec<ActorId> = c.replicas.keys().copied().collect();
    for (i, &from) in nodes.iter().enumerate() {
        let now = c.now;
        c.node_mut(from)
            .publish(now, b("news"), b(&format!("from {i}")))
            .unwrap();
        c.drain(from);
        c.settle();
    }
    for &node in &nodes {
        let got: Vec<&Bytes> = c.published[&node].iter().map(|(_, _, _, m)| m).collect();
        assert_eq!(got.len(), nodes.len(), "node {node}: {got:?}");
        for i in 0..nodes.len() {
            let want = b(&format!("from {i}"));
            assert_eq!(
                got.iter().filter(|m| ***m == want).count(),
                1,
                "node {node}"
            );
        }
    }
    // Nothing was logged or stored: the logs hold no op.
    for &node in &nodes {
        assert_eq!(c.node(node).log().len(), 0);
    }
}

#[test]
fn a_key_or_channel_longer_than_peers_take_is_refused_at_its_origin() {
    // The story of the bug: a 70,000-byte key was taken at its region, then refused by every
    // peer as over their 64 KiB limit, which closed the links; the region resent it at each
    // reconnection, so its links dropped for good and nothing it wrote reached anyone.
    let mut c = Cluster::new(mesh_3());
    let a = ActorId(1);
    let long = Bytes::from(vec![b'k'; 64 * 1024 + 1]);
    let now = c.now;
    let refused = c
        .node_mut(a)
        .write(now, wall(now), long.clone(), set("v"))
        .unwrap_err();
    assert!(matches!(
        refused,
        meridian_replica::WriteError::TooLong { what: "key", .. }
    ));
    assert!(c.node_mut(a).publish(now, long, b("m")).is_err());
    c.drain(a);
    c.settle();
    assert!(c.closed.is_empty());
    assert_eq!(c.node(a).applied().get(a), 0);
}

#[test]
fn a_message_seen_again_is_dropped() {
    let t = mesh_3();
    let mut c = Cluster::new(t);
    let (a, b2) = (ActorId(1), ActorId(2));
    let msg = Message::Publish {
        origin: ActorId(3),
        seq: 7,
        channel: b("ch"),
        message: b("once"),
    };
    let now = c.now;
    c.node_mut(a)
        .handle_message(now, wall(now), b2, msg.clone());
    c.node_mut(a).handle_message(now, wall(now), b2, msg);
    c.drain(a);
    assert_eq!(c.published[&a].len(), 1);
    assert_eq!(c.node(a).stats().duplicate_messages, 1);
}

#[test]
fn a_message_from_an_unknown_origin_or_over_the_limit_closes_the_link() {
    let t = mesh_3();
    for (origin, message) in [
        (ActorId(99), b("x")),
        (ActorId(3), Bytes::from(vec![0u8; (64 << 20) + 1])),
    ] {
        let mut c = Cluster::new(t.clone());
        let (a, b2) = (ActorId(1), ActorId(2));
        let now = c.now;
        c.node_mut(a).handle_message(
            now,
            wall(now),
            b2,
            Message::Publish {
                origin,
                seq: 1,
                channel: b("ch"),
                message,
            },
        );
        c.drain(a);
        assert!(
            c.closed.iter().any(|(n, p, e)| *n == a
                && *p == b2
                && matches!(e, PeerError::InvalidPublish { .. })),
            "{:?}",
            c.closed
        );
        assert!(c.published.get(&a).is_none_or(Vec::is_empty));
    }
}
