//! The send window is released by what a peer has taken into its log, not by what it has
//! synced: under a periodic fsync a peer syncs once an interval, and a window released only
//! by synced ops carried one window of ops per interval (BENCHMARKS.md 8: a 260,000-op text
//! replay took 17 s to reach the other region under `never`, 3.2 s under `always`).

#![allow(clippy::unwrap_used)]

mod support;

use std::num::NonZeroUsize;

use meridian_crdt::ActorId;
use meridian_replica::Config;
use support::{Cluster, mesh_3, set};

#[test]
fn a_peer_that_takes_ops_but_has_not_synced_them_keeps_receiving() {
    let config = Config {
        send_window: NonZeroUsize::new(8).unwrap(),
        ..Config::lan()
    };
    let mut c = Cluster::with_config(mesh_3(), config);
    let (a, b) = (ActorId(1), ActorId(2));
    // B takes what arrives into its log but syncs nothing.
    c.manual_persist.insert(b);
    for i in 0..40 {
        c.write(a, &format!("k{i}"), set("v")).unwrap();
    }
    // A few gossip rounds: B's gossip says what it has taken.
    c.advance(500);
    let (_, link) = c.node(a).links().find(|(p, _)| *p == b).unwrap();
    assert!(
        !link.catching_up && link.in_flight == 0,
        "B took all 40 ops, a window of 8, while it synced none: {link:?}"
    );
    assert_eq!(c.node(b).received().get(a), 0, "nothing synced yet");
    // As B syncs, it holds and applies them all, with no resend needed.
    for _ in 0..40 {
        c.persist(b);
        c.advance(50);
    }
    assert_eq!(c.node(b).received().get(a), 40);
    assert_eq!(c.node(b).applied().get(a), 40);
}
