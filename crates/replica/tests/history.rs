//! A node whose store is new while its actor id has history at its peers (a replaced disk, a
//! reinstalled host) must never reuse a sequence number: a reused seq would be dropped by every
//! peer as a duplicate of the old op, so the new write would be acknowledged and then lost,
//! and the regions would diverge. Its history gate stays closed until the handshake of every
//! neighbour has told it how far its own history goes and it holds all of it again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use meridian_crdt::{ActorId, Dot, VersionVector};
use meridian_replica::{
    Config, HistoryWait, Message, NewError, Replica, Restored, Row, Topology, WriteError,
};
use support::{Cluster, drain_persisting, hello, key, mesh_3, ring_5, set, snapshot, wall};

const ME: ActorId = ActorId(1);
const VIRGINIA: ActorId = ActorId(2);
const SINGAPORE: ActorId = ActorId(3);

/// The neighbours a refused write says it waits for.
fn waiting_for(result: Result<Dot, WriteError>) -> Vec<ActorId> {
    match result {
        Err(WriteError::Recovering(wait)) => wait.neighbours.iter().map(|(id, _)| *id).collect(),
        other => panic!("expected the history gate to refuse the write, got {other:?}"),
    }
}

fn config_without(gone: &[ActorId]) -> Config {
    Config {
        open_history_without: gone.to_vec(),
        ..Config::lan()
    }
}

fn assert_converged(c: &Cluster) {
    let digests: Vec<_> = c.replicas.values().map(|r| r.digest()).collect();
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
}

#[test]
fn a_new_store_learns_its_own_history_from_its_peers_before_writing() {
    let topology = mesh_3();
    let mut c = Cluster::new(Arc::clone(&topology));
    for i in 0..5 {
        c.write(ME, &format!("k{i}"), set("before")).unwrap();
    }
    assert_eq!(c.node(VIRGINIA).received().get(ME), 5);

    // The disk is replaced: the node starts on an empty store, cut off at first.
    c.link_down(ME, VIRGINIA);
    c.link_down(ME, SINGAPORE);
    let now = c.now;
    let fresh = Replica::rejoin(ME, Arc::clone(&topology), Config::lan(), wall(now)).unwrap();
    c.replace(ME, fresh);
    assert_eq!(
        waiting_for(c.write(ME, "early", set("refused"))),
        vec![VIRGINIA, SINGAPORE],
        "a write before any peer was heard could reuse seq 1"
    );

    c.link_up(ME, VIRGINIA);
    c.link_up(ME, SINGAPORE);
    c.settle();
    c.advance(1_000);
    assert_eq!(c.node(ME).received().get(ME), 5, "own history fetched back");
    assert_eq!(c.node(ME).history_wait(), None);
    let dot = c.write(ME, "after", set("rejoined")).unwrap();
    assert_eq!(dot, Dot::new(ME, 6));
    c.advance(1_000);
    assert_converged(&c);
    for r in c.replicas.values() {
        assert_eq!(r.applied().get(ME), 6, "node {}", r.id());
    }
}

/// The gate used to open at the first neighbour's handshake. Frankfurt wrote five ops while
/// its links to Singapore were down, so only Virginia got them. Then Frankfurt's disk was
/// replaced, and its new store happened to reach Singapore first: Singapore's Hello showed no
/// op of Frankfurt's, the gate opened, and Frankfurt wrote `1:1` again while Virginia held
/// `1:1..=1:5`: Virginia would drop the new writes as duplicates, acknowledged and lost. Nor
/// did Singapore's gossip help: the row of Virginia it relays predates the five writes.
///
/// Every op a node ever sent went first to one of its neighbours, so the gate waits for the
/// handshake of every neighbour.
#[test]
fn a_new_store_waits_for_every_neighbour_not_only_the_first_to_answer() {
    let topology = mesh_3();
    let mut c = Cluster::new(Arc::clone(&topology));
    c.link_down(ME, SINGAPORE);
    c.link_down(VIRGINIA, SINGAPORE);
    for i in 0..5 {
        c.write(ME, &format!("k{i}"), set("before")).unwrap();
    }
    c.settle();
    assert_eq!(c.node(VIRGINIA).received().get(ME), 5);
    assert_eq!(c.node(SINGAPORE).received().get(ME), 0);

    c.link_down(ME, VIRGINIA);
    let now = c.now;
    let fresh = Replica::rejoin(ME, Arc::clone(&topology), Config::lan(), wall(now)).unwrap();
    c.replace(ME, fresh);
    c.link_up(ME, SINGAPORE);
    c.settle();
    // Gossip rounds pass: Singapore relays every row it has, Virginia's (stale) among them.
    c.advance(1_000);
    assert!(
        c.node(ME)
            .matrix()
            .row(VIRGINIA)
            .is_some_and(|r| r.received.get(ME) == 0),
        "the stale row of Virginia reached the new store"
    );

    let refused = c.write(ME, "after", set("new"));
    let wait = c.node(ME).history_wait().expect("the gate is still closed");
    assert_eq!(
        wait,
        HistoryWait {
            neighbours: vec![(VIRGINIA, "virginia".to_string())],
            known: 0,
            held: 0,
        }
    );
    let message = refused.clone().unwrap_err().to_string();
    assert!(
        message.starts_with("this region is recovering") && message.contains("virginia (id 2)"),
        "{message}"
    );
    assert_eq!(waiting_for(refused), vec![VIRGINIA]);

    c.link_up(ME, VIRGINIA);
    c.settle();
    c.advance(1_000);
    assert_eq!(c.node(ME).received().get(ME), 5, "own history fetched back");
    assert_eq!(c.write(ME, "after", set("new")).unwrap(), Dot::new(ME, 6));
    c.link_up(VIRGINIA, SINGAPORE);
    c.link_up(ME, SINGAPORE);
    c.settle();
    c.advance(1_000);
    assert_converged(&c);
    for r in c.replicas.values() {
        assert_eq!(r.applied().get(ME), 6, "node {}", r.id());
    }
}

#[test]
fn a_new_store_with_no_history_anywhere_opens_once_every_neighbour_has_answered() {
    let topology = mesh_3();
    let mut c = Cluster::new(Arc::clone(&topology));
    c.link_down(ME, VIRGINIA);
    c.link_down(ME, SINGAPORE);
    let now = c.now;
    let fresh = Replica::rejoin(ME, Arc::clone(&topology), Config::lan(), wall(now)).unwrap();
    c.replace(ME, fresh);
    assert_eq!(
        waiting_for(c.write(ME, "k", set("v"))),
        vec![VIRGINIA, SINGAPORE]
    );
    c.link_up(ME, VIRGINIA);
    c.settle();
    assert_eq!(waiting_for(c.write(ME, "k", set("v"))), vec![SINGAPORE]);
    c.link_up(ME, SINGAPORE);
    c.settle();
    assert_eq!(c.write(ME, "k", set("v")).unwrap(), Dot::new(ME, 1));
}

/// Every node of a brand-new cluster starts on a new store, so every gate is closed; each
/// opens as soon as its own neighbours have answered, whoever else is still away.
#[test]
fn a_brand_new_ring_opens_each_gate_once_its_two_neighbours_have_answered() {
    let topology = ring_5();
    let mut c = Cluster::new(Arc::clone(&topology));
    let ids: Vec<ActorId> = topology.ids().collect();
    for &id in &ids {
        let fresh = Replica::rejoin(id, Arc::clone(&topology), Config::lan(), wall(c.now)).unwrap();
        c.replace(id, fresh);
    }
    let mut links: Vec<(ActorId, ActorId)> = topology.links.iter().map(|l| (l.a, l.b)).collect();
    // The last link to come up closes the ring; until then its two ends wait for each other.
    let (last_a, last_b) = links.pop().unwrap();
    for (a, b) in links {
        c.link_up(a, b);
        c.settle();
    }
    for &id in &ids {
        let waits = waiting_for_or_open(&mut c, id);
        if id == last_a {
            assert_eq!(waits, Some(vec![last_b]), "node {id}");
        } else if id == last_b {
            assert_eq!(waits, Some(vec![last_a]), "node {id}");
        } else {
            assert_eq!(waits, None, "node {id} heard both its neighbours");
        }
    }
    c.link_up(last_a, last_b);
    c.settle();
    for &id in &[last_a, last_b] {
        assert_eq!(c.write(id, "first", set("v")).unwrap(), Dot::new(id, 1));
    }
    c.advance(1_000);
    assert_converged(&c);
    for r in c.replicas.values() {
        assert_eq!(r.applied().iter().count(), ids.len(), "node {}", r.id());
    }
}

/// Writes `first` at `id` if its gate is open (`None`), or returns whom it waits for.
fn waiting_for_or_open(c: &mut Cluster, id: ActorId) -> Option<Vec<ActorId>> {
    match c.write(id, "first", set("v")) {
        Ok(dot) => {
            assert_eq!(dot, Dot::new(id, 1));
            None
        }
        refused => Some(waiting_for(refused)),
    }
}

/// Virginia is gone for good, its store with it; the operator tells the new store of
/// Frankfurt not to wait for it. Singapore holds everything Frankfurt wrote, so Frankfurt
/// fetches it back from Singapore and continues its sequence.
#[test]
fn a_neighbour_gone_for_good_can_be_left_out_of_the_gate_by_the_operator() {
    let topology = mesh_3();
    let mut c = Cluster::new(Arc::clone(&topology));
    for i in 0..5 {
        c.write(ME, &format!("k{i}"), set("before")).unwrap();
    }
    assert_eq!(c.node(SINGAPORE).received().get(ME), 5);
    c.link_down(ME, VIRGINIA);
    c.link_down(VIRGINIA, SINGAPORE);

    let now = c.now;
    let waits = Replica::rejoin(ME, Arc::clone(&topology), Config::lan(), wall(now)).unwrap();
    c.replace(ME, waits);
    c.link_up(ME, SINGAPORE);
    c.settle();
    c.advance(1_000);
    assert_eq!(
        waiting_for(c.write(ME, "after", set("v"))),
        vec![VIRGINIA],
        "without the override, the gate waits for Virginia forever"
    );

    let now = c.now;
    let config = config_without(&[VIRGINIA]);
    let overridden = Replica::rejoin(ME, Arc::clone(&topology), config, wall(now)).unwrap();
    c.replace(ME, overridden);
    assert_eq!(
        waiting_for(c.write(ME, "early", set("v"))),
        vec![SINGAPORE],
        "Singapore is still waited for"
    );
    c.link_up(ME, SINGAPORE);
    c.settle();
    c.advance(1_000);
    assert_eq!(c.node(ME).received().get(ME), 5);
    assert_eq!(c.write(ME, "after", set("v")).unwrap(), Dot::new(ME, 6));
}

#[test]
fn naming_every_neighbour_in_the_override_opens_the_gate_at_once() {
    let topology = mesh_3();
    let config = config_without(&[VIRGINIA, SINGAPORE]);
    let mut r = Replica::rejoin(ME, Arc::clone(&topology), config, wall(0)).unwrap();
    assert_eq!(r.history_wait(), None);
    assert_eq!(
        r.write(0, wall(0), key("k"), set("v")).unwrap(),
        Dot::new(ME, 1)
    );
}

#[test]
fn the_override_names_only_neighbours() {
    let topology = ring_5();
    // In the ring, node 1's neighbours are 2 and 5.
    assert_eq!(
        topology.neighbours(ME).collect::<Vec<_>>(),
        vec![ActorId(2), ActorId(5)]
    );
    for wrong in [ActorId(3), ME, ActorId(9)] {
        let e = Replica::rejoin(ME, Arc::clone(&topology), config_without(&[wrong]), wall(0))
            .unwrap_err();
        assert_eq!(e, NewError::HistoryOverride(wrong));
        assert!(
            e.to_string()
                .contains(&format!("node {wrong}, which is not a neighbour")),
            "{e}"
        );
    }
}

/// Our previous incarnation's row, as a peer relays it, says how far that incarnation got,
/// not what reached anyone: its last ops may have been lost on the way (a lossy link) when
/// its row was not. Counting it would keep the gate shut for ops that nobody can send back.
#[test]
fn our_previous_incarnations_row_relayed_by_a_peer_does_not_hold_the_gate_shut() {
    let topology = mesh_3();
    let mut r = Replica::rejoin(ME, Arc::clone(&topology), Config::lan(), wall(0)).unwrap();
    let mut old_row = Row::default();
    old_row.received.set(ME, 5);
    old_row.applied.set(ME, 5);
    for peer in [VIRGINIA, SINGAPORE] {
        r.handle_link_up(0, peer);
        r.handle_message(
            0,
            wall(0),
            peer,
            hello(&topology, peer, VersionVector::new()),
        );
        r.handle_message(
            0,
            wall(0),
            peer,
            Message::Gossip {
                rows: vec![(ME, old_row.clone()), (peer, Row::default())],
                links: Vec::new(),
                accepted: VersionVector::new(),
            },
        );
        drain_persisting(&mut r, 0);
    }
    assert_eq!(r.history_wait(), None);
    assert_eq!(
        r.write(1, wall(1), key("k"), set("v")).unwrap(),
        Dot::new(ME, 1)
    );
}

/// A row of another node, relayed, does prove that it held our ops that far: the gate waits
/// until they are fetched back, even after every neighbour has answered.
#[test]
fn a_relayed_row_holding_our_ops_keeps_the_gate_shut_until_they_are_back() {
    let topology = mesh_3();
    let history = support::ops_of(&topology, ME, 3);
    let mut r = Replica::rejoin(ME, Arc::clone(&topology), Config::lan(), wall(0)).unwrap();
    let mut singapore = Row::default();
    singapore.received.set(ME, 3);
    r.handle_link_up(0, VIRGINIA);
    r.handle_message(
        0,
        wall(0),
        VIRGINIA,
        hello(&topology, VIRGINIA, VersionVector::new()),
    );
    r.handle_message(
        0,
        wall(0),
        VIRGINIA,
        Message::Gossip {
            rows: vec![(SINGAPORE, singapore)],
            links: Vec::new(),
            accepted: VersionVector::new(),
        },
    );
    r.handle_link_up(0, SINGAPORE);
    let mut held = VersionVector::new();
    held.set(ME, 3);
    r.handle_message(0, wall(0), SINGAPORE, hello(&topology, SINGAPORE, held));
    drain_persisting(&mut r, 0);
    let before = snapshot(&r);
    let wait = r.history_wait().expect("ops 1..=3 are not back yet");
    assert_eq!((wait.neighbours.len(), wait.known, wait.held), (0, 3, 0));
    assert!(
        WriteError::Recovering(wait)
            .to_string()
            .contains("fetching its own ops 1..=3 back"),
    );
    assert!(matches!(
        r.write(0, wall(0), key("k"), set("v")),
        Err(WriteError::Recovering(_))
    ));
    assert_eq!(snapshot(&r), before, "a refused write changes nothing");

    r.handle_message(1, wall(1), SINGAPORE, Message::Ops(history));
    drain_persisting(&mut r, 1);
    assert_eq!(r.history_wait(), None);
    assert_eq!(
        r.write(2, wall(2), key("k"), set("v")).unwrap(),
        Dot::new(ME, 4)
    );
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
    c.link_down(ME, VIRGINIA);
    c.link_down(ME, SINGAPORE);
    let now = c.now;
    let restored = Restored {
        ops: kept,
        history_complete: false,
        ..Default::default()
    };
    let r = restore(&topology, now, restored);
    c.replace(ME, r);
    assert_eq!(
        waiting_for(c.write(ME, "x", set("v"))),
        vec![VIRGINIA, SINGAPORE]
    );
    c.link_up(ME, VIRGINIA);
    c.link_up(ME, SINGAPORE);
    c.settle();
    c.advance(1_000);
    assert_eq!(c.write(ME, "x", set("v")).unwrap(), Dot::new(ME, 4));
}

/// A node told its cluster is new (`Replica::new_cluster` on a new store, what a node config's
/// `initial_cluster_state = "new"` does) writes at once. If the claim was false (the cluster
/// had history: a replaced disk with the bootstrap setting left in its config), the first
/// neighbour's handshake shows ops of ours this node never wrote in this life; from then on
/// writes wait until those ops are back, so that no seq written after the handshake collides.
#[test]
fn a_node_wrongly_started_as_new_stops_writing_once_a_neighbour_shows_its_history() {
    let topology = mesh_3();
    let mut c = Cluster::new(Arc::clone(&topology));
    for i in 0..5 {
        c.write(ME, &format!("k{i}"), set("before")).unwrap();
    }
    c.link_down(ME, VIRGINIA);
    c.link_down(ME, SINGAPORE);
    let now = c.now;
    let claimed_new =
        Replica::new_cluster(ME, Arc::clone(&topology), Config::lan(), wall(now)).unwrap();
    c.replace(ME, claimed_new);
    assert!(
        c.node(ME).write_refusal().is_none(),
        "told it is new, it writes"
    );

    c.link_up(ME, VIRGINIA);
    c.settle();
    assert_eq!(c.node(ME).stats().history_found_behind, 1);
    assert!(
        matches!(
            c.write(ME, "early", set("refused")),
            Err(WriteError::Recovering(_))
        ),
        "a write now could reuse a seq Virginia holds"
    );
    // Once Virginia served the five ops back, the gate is open again, and the next write
    // goes after them instead of reusing seq 1.
    c.advance(1_000);
    assert_eq!(c.node(ME).received().get(ME), 5);
    assert_eq!(c.node(ME).write_refusal(), None);
    let dot = c.write(ME, "after", set("v")).unwrap();
    assert_eq!(dot, Dot::new(ME, 6));
    c.link_up(ME, SINGAPORE);
    c.settle();
    c.advance(1_000);
    assert_converged(&c);
}

/// The same false claim, seen before the ops can come back: writes are refused meanwhile.
#[test]
fn a_node_wrongly_started_as_new_refuses_writes_until_its_ops_are_back() {
    let topology = mesh_3();
    let mut r = Replica::new_cluster(ME, Arc::clone(&topology), Config::lan(), wall(0)).unwrap();
    r.handle_link_up(0, VIRGINIA);
    let mut held = VersionVector::new();
    held.set(ME, 3);
    r.handle_message(0, wall(0), VIRGINIA, hello(&topology, VIRGINIA, held));
    drain_persisting(&mut r, 0);
    assert!(
        matches!(r.write_refusal(), Some(WriteError::Recovering(_))),
        "{:?}",
        r.write_refusal()
    );
    assert!(matches!(
        r.write(1, wall(1), key("k"), set("v")),
        Err(WriteError::Recovering(wait)) if wait.known == 3
    ));
}

fn restore(topology: &Arc<Topology>, now: u64, restored: Restored) -> Replica {
    Replica::restore(
        ME,
        Arc::clone(topology),
        Config::lan(),
        now,
        wall(now),
        restored,
    )
    .unwrap()
}
