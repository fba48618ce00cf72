//! A node whose store is new while its actor id has history at its peers (a replaced disk, a
//! reinstalled host) must never reuse a sequence number: a reused seq would be dropped by every
//! peer as a duplicate of the old op, so the new write would be acknowledged and then lost,
//! and the regions would diverge.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use meridian_crdt::{ActorId, Dot};
use meridian_replica::{Config, Replica, WriteError};
use support::{Cluster, mesh_3, set, wall};

const ME: ActorId = ActorId(1);

#[test]
fn a_new_store_learns_its_own_history_from_its_peers_before_writing() {
    let topology = mesh_3();
    let mut c = Cluster::new(Arc::clone(&topology));
    for i in 0..5 {
        c.write(ME, &format!("k{i}"), set("before")).unwrap();
    }
    assert_eq!(c.node(ActorId(2)).received().get(ME), 5);

    // The disk is replaced: the node starts on an empty store, cut off at first.
    c.link_down(ME, ActorId(2));
    c.link_down(ME, ActorId(3));
    let now = c.now;
    let fresh = Replica::rejoin(ME, Arc::clone(&topology), Config::lan(), wall(now)).unwrap();
    c.replace(ME, fresh);
    assert_eq!(
        c.write(ME, "early", set("refused")),
        Err(WriteError::Recovering),
        "a write before any peer was heard could reuse seq 1"
    );

    c.link_up(ME, ActorId(2));
    c.link_up(ME, ActorId(3));
    c.settle();
    c.advance(1_000);
    assert_eq!(c.node(ME).received().get(ME), 5, "own history fetched back");
    let dot = c.write(ME, "after", set("rejoined")).unwrap();
    assert_eq!(dot, Dot::new(ME, 6));
    c.advance(1_000);
    let digests: Vec<_> = c.replicas.values().map(|r| r.digest()).collect();
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
    for r in c.replicas.values() {
        assert_eq!(r.applied().get(ME), 6, "node {}", r.id());
    }
}

#[test]
fn a_new_store_with_no_history_anywhere_opens_at_the_first_handshake() {
    let topology = mesh_3();
    let mut c = Cluster::new(Arc::clone(&topology));
    c.link_down(ME, ActorId(2));
    c.link_down(ME, ActorId(3));
    let now = c.now;
    let fresh = Replica::rejoin(ME, Arc::clone(&topology), Config::lan(), wall(now)).unwrap();
    c.replace(ME, fresh);
    assert_eq!(c.write(ME, "k", set("v")), Err(WriteError::Recovering));
    c.link_up(ME, ActorId(2));
    c.settle();
    assert_eq!(c.write(ME, "k", set("v")).unwrap(), Dot::new(ME, 1));
}

#[test]
fn a_restarted_store_that_may_have_lost_writes_waits_for_a_peer() {
    let topology = mesh_3();
    let mut c = Cluster::new(Arc::clone(&topology));
    for i in 0..3 {
        c.write(ME, &format!("k{i}"), set("v")).unwrap();
    }
    // Restarted with fsync `periodic`: the last writes may be gone from the disk though peers
    // hold them. Here the store lost op 3.
    let kept: Vec<_> = c.durable[&ME]
        .iter()
        .filter(|op| op.seq <= 2)
        .cloned()
        .collect();
    c.link_down(ME, ActorId(2));
    c.link_down(ME, ActorId(3));
    let now = c.now;
    let restored = meridian_replica::Restored {
        ops: kept,
        history_complete: false,
        ..Default::default()
    };
    let r = Replica::restore(
        ME,
        Arc::clone(&topology),
        Config::lan(),
        now,
        wall(now),
        restored,
    )
    .unwrap();
    c.replace(ME, r);
    assert_eq!(c.write(ME, "x", set("v")), Err(WriteError::Recovering));
    c.link_up(ME, ActorId(2));
    c.settle();
    c.advance(1_000);
    assert_eq!(c.write(ME, "x", set("v")).unwrap(), Dot::new(ME, 4));
}
