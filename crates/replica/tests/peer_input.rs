//! Bad input from a peer is an error that closes the link, never a panic, and leaves the state
//! as the valid messages before it made it. Also: duplicates are dropped and counted,
//! out-of-order and causally early ops wait for what they need.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use meridian_crdt::{ActorId, Dot, VersionVector};
use meridian_replica::{
    Config, Limits, Message, Op, Output, PROTOCOL_VERSION, PeerError, Replica, Row, Topology,
};
use proptest::prelude::*;
use support::*;

const A: ActorId = ActorId(1);
const B: ActorId = ActorId(2);
const C: ActorId = ActorId(3);

/// Node 1 of mesh-3 with a few writes of its own and one op of node 3 applied, so that a bad
/// message has state to corrupt and links have something to send.
fn busy_node(topology: &Arc<Topology>) -> Replica {
    let mut r = Replica::new(A, Arc::clone(topology), Config::lan(), wall(0)).unwrap();
    for i in 0..3 {
        r.write(0, wall(0), key(&format!("own{i}")), set("v"))
            .unwrap();
    }
    drain_persisting(&mut r, 0);
    handshake(&mut r, topology, C, 0);
    r.handle_message(0, wall(0), C, Message::Ops(ops_of(topology, C, 1)));
    drain_persisting(&mut r, 0);
    assert_eq!(r.applied().get(C), 1);
    r
}

/// Delivers `msg` from `from` and checks that exactly one CloseLink to `from` came out, with
/// an error `expected` accepts, one protocol error was counted, and the state did not change.
fn assert_refused(
    r: &mut Replica,
    from: ActorId,
    msg: Message,
    expected: impl Fn(&PeerError) -> bool,
) {
    let before = snapshot(r);
    let errors_before = r.stats().protocol_errors;
    r.handle_message(5, wall(5), from, msg);
    let out = drain_persisting(r, 5);
    let closes = close_errors(&out);
    assert_eq!(closes.len(), 1, "one CloseLink: {out:?}");
    assert_eq!(closes[0].0, from);
    assert!(expected(&closes[0].1), "wrong error: {:?}", closes[0].1);
    assert!(
        !closes[0].1.to_string().is_empty(),
        "the error says what is wrong"
    );
    assert!(
        applied_dots(&out).is_empty(),
        "nothing applied from a bad message"
    );
    assert_eq!(r.stats().protocol_errors, errors_before + 1);
    assert_eq!(snapshot(r), before, "state changed by a refused message");
}

/// `busy_node` with the handshake with B done.
fn linked_to_b(topology: &Arc<Topology>) -> Replica {
    let mut r = busy_node(topology);
    handshake(&mut r, topology, B, 0);
    r
}

fn op_of_b(topology: &Arc<Topology>) -> Op {
    (*ops_of(topology, B, 1)[0]).clone()
}

#[test]
fn a_hello_from_another_cluster_closes_the_link() {
    let t = mesh_3();
    let mut r = busy_node(&t);
    r.handle_link_up(1, B);
    drain(&mut r);
    let msg = Message::Hello {
        cluster: "someone-else".into(),
        node: B,
        protocol: PROTOCOL_VERSION,
        received: VersionVector::new(),
    };
    assert_refused(
        &mut r,
        B,
        msg,
        |e| matches!(e, PeerError::WrongCluster { ours, theirs } if ours == "three-continents" && theirs == "someone-else"),
    );
}

#[test]
fn a_hello_with_another_protocol_version_closes_the_link() {
    let t = mesh_3();
    let mut r = busy_node(&t);
    r.handle_link_up(1, B);
    drain(&mut r);
    let msg = Message::Hello {
        cluster: t.cluster.clone(),
        node: B,
        protocol: PROTOCOL_VERSION + 1,
        received: VersionVector::new(),
    };
    assert_refused(&mut r, B, msg, |e| {
        *e == PeerError::WrongProtocol {
            theirs: PROTOCOL_VERSION + 1,
        }
    });
}

#[test]
fn a_hello_claiming_another_node_closes_the_link() {
    let t = mesh_3();
    let mut r = busy_node(&t);
    r.handle_link_up(1, B);
    drain(&mut r);
    assert_refused(&mut r, B, hello(&t, C, VersionVector::new()), |e| {
        *e == PeerError::WrongIdentity {
            expected: B,
            claimed: C,
        }
    });
}

#[test]
fn a_hello_whose_vector_names_an_unknown_node_closes_the_link() {
    let t = mesh_3();
    let mut r = busy_node(&t);
    r.handle_link_up(1, B);
    drain(&mut r);
    let received: VersionVector = [(ActorId(99), 1)].into_iter().collect();
    assert_refused(&mut r, B, hello(&t, B, received), |e| {
        matches!(e, PeerError::InvalidOp { .. })
    });
}

#[test]
fn a_message_from_a_node_not_in_the_topology_closes_the_link() {
    let t = mesh_3();
    let mut r = linked_to_b(&t);
    let stranger = ActorId(99);
    assert_refused(
        &mut r,
        stranger,
        hello(&t, stranger, VersionVector::new()),
        |e| *e == PeerError::UnknownNode(stranger),
    );
    let ops = Message::Ops(vec![Arc::new(op_of_b(&t))]);
    assert_refused(&mut r, stranger, ops, |e| {
        *e == PeerError::UnknownNode(stranger)
    });
    let mut r2 = Replica::new(DUBLIN, primary_replica(), Config::lan(), wall(0)).unwrap();
    r2.handle_link_up(0, stranger);
    let out = drain(&mut r2);
    assert!(
        close_errors(&out).iter().any(|(p, _)| *p == stranger),
        "a link up to a stranger is refused: {out:?}"
    );
}

#[test]
fn a_message_from_a_node_that_is_not_a_neighbour_closes_the_link() {
    // In the star, the two read replicas are not linked to each other.
    let t = primary_replica();
    let mut oregon = Replica::new(OREGON, Arc::clone(&t), Config::lan(), wall(0)).unwrap();
    handshake(&mut oregon, &t, DUBLIN, 0);
    let dublin_op = ops_of(&t, DUBLIN, 1);
    oregon.handle_message(1, wall(1), DUBLIN, Message::Ops(dublin_op.clone()));
    drain_persisting(&mut oregon, 1);
    assert_eq!(oregon.applied().get(DUBLIN), 1);
    assert_refused(
        &mut oregon,
        SAO_PAULO,
        hello(&t, SAO_PAULO, VersionVector::new()),
        |e| *e == PeerError::NotANeighbour(SAO_PAULO),
    );
    assert_refused(
        &mut oregon,
        SAO_PAULO,
        Message::Ops(ops_of(&t, DUBLIN, 2)),
        |e| *e == PeerError::NotANeighbour(SAO_PAULO),
    );
}

#[test]
fn ops_or_gossip_before_the_hello_close_the_link() {
    let t = mesh_3();
    let mut r = busy_node(&t);
    r.handle_link_up(1, B);
    drain(&mut r);
    assert_refused(&mut r, B, Message::Ops(vec![Arc::new(op_of_b(&t))]), |e| {
        *e == PeerError::BeforeHello("ops")
    });
    // The close put the link down again: gossip now comes before any Hello too.
    let gossip = Message::Gossip {
        rows: vec![(B, Row::default())],
        links: vec![],
        accepted: VersionVector::new(),
    };
    assert_refused(&mut r, B, gossip, |e| {
        *e == PeerError::BeforeHello("gossip")
    });
}

#[test]
fn a_frame_with_more_ops_than_the_limit_closes_the_link() {
    let t = mesh_3();
    let mut r = linked_to_b(&t);
    let limit = Limits::default().max_ops_per_frame;
    let op = Arc::new(op_of_b(&t));
    let frame = Message::Ops(vec![op; limit + 1]);
    assert_refused(&mut r, B, frame, |e| {
        *e == PeerError::TooManyOps {
            count: limit + 1,
            limit,
        }
    });
}

fn assert_invalid_op(mutate: impl Fn(&mut Op), reason_has: &str) {
    let t = mesh_3();
    let mut r = linked_to_b(&t);
    let mut op = op_of_b(&t);
    mutate(&mut op);
    let (origin, seq) = (op.origin, op.seq);
    assert_refused(
        &mut r,
        B,
        Message::Ops(vec![Arc::new(op)]),
        |e| matches!(e, PeerError::InvalidOp { origin: o, seq: s, reason } if *o == origin && *s == seq && reason.contains(reason_has)),
    );
}

#[test]
fn an_op_with_seq_zero_closes_the_link() {
    assert_invalid_op(|op| op.seq = 0, "seq 0");
}

#[test]
fn an_op_whose_deps_skip_the_origins_previous_op_closes_the_link() {
    assert_invalid_op(|op| op.deps.set(op.origin, op.seq), "previous op");
    assert_invalid_op(
        |op| {
            op.seq = 2;
            op.deps = VersionVector::new();
        },
        "previous op",
    );
}

#[test]
fn an_op_whose_deps_name_an_unknown_node_closes_the_link() {
    assert_invalid_op(|op| op.deps.set(ActorId(99), 1), "not in the topology");
}

#[test]
fn an_op_from_an_unknown_origin_closes_the_link() {
    assert_invalid_op(
        |op| {
            op.origin = ActorId(99);
            op.deps = VersionVector::new();
        },
        "not in the topology",
    );
}

#[test]
fn an_op_from_a_non_leader_origin_closes_the_link() {
    // Oregon is a read replica: no op can originate there.
    let t = primary_replica();
    let mut dublin = Replica::new(DUBLIN, Arc::clone(&t), Config::lan(), wall(0)).unwrap();
    handshake(&mut dublin, &t, OREGON, 0);
    handshake(&mut dublin, &t, SAO_PAULO, 0);
    let mut op = (*ops_of(&t, DUBLIN, 1)[0]).clone();
    op.origin = OREGON;
    op.deps = VersionVector::new();
    assert_refused(
        &mut dublin,
        SAO_PAULO,
        Message::Ops(vec![Arc::new(op)]),
        |e| matches!(e, PeerError::InvalidOp { origin, reason, .. } if *origin == OREGON && reason.contains("not a leader")),
    );
}

#[test]
fn an_op_with_a_key_longer_than_the_limit_closes_the_link() {
    let limit = Limits::default().max_key_bytes;
    assert_invalid_op(
        |op| op.key = Bytes::from(vec![b'k'; limit + 1]),
        "key longer",
    );
}

#[test]
fn gossip_naming_unknown_nodes_closes_the_link() {
    let t = mesh_3();
    let unknown_row = Message::Gossip {
        rows: vec![(ActorId(99), Row::default())],
        links: vec![],
        accepted: VersionVector::new(),
    };
    let mut r = linked_to_b(&t);
    assert_refused(&mut r, B, unknown_row, |e| {
        matches!(e, PeerError::InvalidOp { .. })
    });

    let row = Row {
        received: [(B, 1), (ActorId(99), 3)].into_iter().collect(),
        applied: VersionVector::new(),
    };
    let mut r = linked_to_b(&t);
    assert_refused(
        &mut r,
        B,
        Message::Gossip {
            rows: vec![(B, row)],
            links: vec![],
            accepted: VersionVector::new(),
        },
        |e| matches!(e, PeerError::InvalidOp { .. }),
    );
}

/// A frame is one message: a bad op in it refuses the whole frame, as `PeerError` documents
/// ("the state did not change beyond the valid messages before the bad one").
#[test]
fn a_frame_with_one_bad_op_changes_nothing() {
    let t = mesh_3();
    let mut r = linked_to_b(&t);
    let ops = ops_of(&t, B, 2);
    let mut bad = (*ops[1]).clone();
    bad.seq = 0;
    assert_refused(
        &mut r,
        B,
        Message::Ops(vec![Arc::clone(&ops[0]), Arc::new(bad)]),
        |e| matches!(e, PeerError::InvalidOp { .. }),
    );
}

#[test]
fn a_frame_delivered_twice_is_dropped_and_counted_as_duplicates() {
    let t = mesh_3();
    let mut r = linked_to_b(&t);
    let frame = Message::Ops(ops_of(&t, B, 3));
    r.handle_message(1, wall(1), B, frame.clone());
    let first = drain_persisting(&mut r, 1);
    assert_eq!(applied_dots(&first).len(), 3);
    let after_first = snapshot(&r);
    let received_before = r.stats().ops_received;
    assert_eq!(r.stats().duplicates, 0);

    r.handle_message(2, wall(2), B, frame.clone());
    let second = drain_persisting(&mut r, 2);
    assert!(applied_dots(&second).is_empty());
    assert!(close_errors(&second).is_empty(), "duplicates are no error");
    assert!(
        persisted_ops(&second).is_empty(),
        "duplicates are not persisted again"
    );
    assert_eq!(snapshot(&r), after_first);
    assert_eq!(r.stats().duplicates, 3);
    assert_eq!(r.stats().ops_received, received_before);

    // Also while the first copy is still being persisted.
    let mut r = linked_to_b(&t);
    r.handle_message(1, wall(1), B, frame.clone());
    r.handle_message(1, wall(1), B, frame);
    let out = drain_persisting(&mut r, 1);
    assert_eq!(persisted_ops(&out).len(), 3);
    assert_eq!(r.stats().duplicates, 3);
}

#[test]
fn ops_arriving_in_reverse_order_are_applied_in_order() {
    let t = mesh_3();
    let mut r = linked_to_b(&t);
    let ops = ops_of(&t, B, 3);
    let mut out = Vec::new();
    for op in ops.iter().rev() {
        r.handle_message(1, wall(1), B, Message::Ops(vec![Arc::clone(op)]));
        out.extend(drain_persisting(&mut r, 1));
        if op.seq > 1 {
            assert_eq!(r.applied().get(B), 0, "op {} waits for its gap", op.seq);
        }
    }
    assert_eq!(
        applied_dots(&out),
        vec![Dot::new(B, 1), Dot::new(B, 2), Dot::new(B, 3)]
    );
    assert_eq!(r.applied().get(B), 3);
    assert!(
        r.stats().max_causal_depth >= 2,
        "depth {}",
        r.stats().max_causal_depth
    );
    assert_eq!(r.causal_depth(), 0);
    assert_eq!(r.stats().duplicates, 0);
}

#[test]
fn an_op_waits_for_the_ops_of_other_origins_its_writer_had_seen() {
    let t = mesh_3();
    // A writes a1; C applies it, then writes c1 (deps include A:1).
    let a_ops = ops_of(&t, A, 1);
    let mut c = Replica::new(C, Arc::clone(&t), Config::lan(), wall(0)).unwrap();
    handshake(&mut c, &t, A, 0);
    c.handle_message(1, wall(1), A, Message::Ops(a_ops.clone()));
    drain_persisting(&mut c, 1);
    let c1 = c.write(2, wall(2), key("c-saw-a"), set("yes")).unwrap();
    let c_ops = persisted_ops(&drain_persisting(&mut c, 2));
    assert_eq!(c_ops.len(), 1);
    assert_eq!(c_ops[0].deps.get(A), 1);

    // B gets c1 first, hand-carried from C: it is stored but waits.
    let mut b = Replica::new(B, Arc::clone(&t), Config::lan(), wall(0)).unwrap();
    handshake(&mut b, &t, A, 0);
    handshake(&mut b, &t, C, 0);
    let empty = b.digest();
    b.handle_message(3, wall(3), C, Message::Ops(c_ops.clone()));
    let out = drain_persisting(&mut b, 3);
    assert!(applied_dots(&out).is_empty(), "{out:?}");
    assert_eq!(b.received().get(C), 1, "stored at once");
    assert_eq!(b.applied().get(C), 0, "not applied before A's op");
    assert_eq!(b.digest(), empty);
    assert!(b.keyspace().get(b"c-saw-a").is_none());
    assert_eq!(b.causal_depth(), 1);

    // A's op arrives: both are applied, A's first.
    b.handle_message(4, wall(4), A, Message::Ops(a_ops.clone()));
    let out = drain_persisting(&mut b, 4);
    assert_eq!(applied_dots(&out), vec![Dot::new(A, 1), c1]);
    assert_eq!(b.digest(), c.digest());
    assert_eq!(b.causal_depth(), 0);
}

/// A peer that claims (in its Hello or its gossip) to hold the largest possible seq of an
/// origin we forward to it must not overflow our send bookkeeping.
#[test]
fn a_peer_claiming_the_largest_seq_is_no_panic() {
    let t = mesh_3();
    let mut r = busy_node(&t);
    r.handle_link_up(1, B);
    let claim: VersionVector = [(A, u64::MAX), (C, u64::MAX)].into_iter().collect();
    r.handle_message(1, wall(1), B, hello(&t, B, claim.clone()));
    drain_persisting(&mut r, 1);
    r.write(2, wall(2), key("more"), set("v")).unwrap();
    drain_persisting(&mut r, 2);
    r.handle_message(
        3,
        wall(3),
        B,
        Message::Gossip {
            rows: vec![(
                B,
                Row {
                    received: claim.clone(),
                    applied: claim,
                },
            )],
            links: vec![],
            accepted: VersionVector::new(),
        },
    );
    drain_persisting(&mut r, 3);
    r.handle_timeout(10_000, 0);
    drain_persisting(&mut r, 10_000);
    let _ = r.links().count();
    let _ = r.lag(B);
}

/// An op far ahead in its origin's sequence (seq u64::MAX, consistent deps) is valid in form;
/// it must wait or be refused, never overflow.
#[test]
fn an_op_with_the_largest_seq_is_no_panic() {
    let t = mesh_3();
    for origin in [A, B, C] {
        let mut r = linked_to_b(&t);
        let mut op = op_of_b(&t);
        op.origin = origin;
        op.seq = u64::MAX;
        op.deps = [(origin, u64::MAX - 1)].into_iter().collect();
        r.handle_message(1, wall(1), B, Message::Ops(vec![Arc::new(op)]));
        drain_persisting(&mut r, 1);
        r.write(2, wall(2), key("more"), set("v")).unwrap();
        drain_persisting(&mut r, 2);
        r.handle_timeout(10_000, 0);
        drain_persisting(&mut r, 10_000);
        r.handle_timeout(20_000, 0);
        drain_persisting(&mut r, 20_000);
    }
}

// ----- random and mutated input -----

static SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(seed_messages);

/// Valid messages of every kind, encoded: the seeds that mutations start from.
fn seed_messages() -> Vec<Vec<u8>> {
    let t = mesh_3();
    let b_ops = ops_of(&t, B, 3);
    let c_ops = ops_of(&t, C, 2);
    let mut busy = busy_node(&t);
    handshake(&mut busy, &t, B, 0);
    let gossip = drain(&mut busy)
        .into_iter()
        .chain({
            busy.handle_timeout(1_000, 0);
            drain(&mut busy)
        })
        .filter_map(|o| match o {
            Output::Send { msg, .. } => Some(msg),
            _ => None,
        });
    let mut msgs = vec![
        hello(&t, B, VersionVector::new()),
        hello(&t, B, [(A, 2), (B, 3)].into_iter().collect()),
        Message::Ops(b_ops.clone()),
        Message::Ops(b_ops[1..].to_vec()),
        Message::Ops(c_ops),
        Message::Gossip {
            rows: vec![(
                B,
                Row {
                    received: [(B, 3)].into_iter().collect(),
                    applied: [(B, 3)].into_iter().collect(),
                },
            )],
            links: vec![],
            accepted: VersionVector::new(),
        },
    ];
    msgs.extend(gossip);
    msgs.iter().map(|m| rmp_serde::to_vec(m).unwrap()).collect()
}

/// Feeds `bytes`, if they decode as a Message, to a node that has state and a link up with B,
/// then lets timers run; checks the replica's basic invariants.
fn feed(bytes: &[u8]) {
    let t = mesh_3();
    let mut r = linked_to_b(&t);
    if let Ok(msg) = rmp_serde::from_slice::<Message>(bytes) {
        r.handle_message(1, wall(1), B, msg);
        drain_persisting(&mut r, 1);
        r.write(2, wall(2), key("after"), set("v")).unwrap();
        drain_persisting(&mut r, 2);
        r.handle_timeout(5_000, 0);
        drain_persisting(&mut r, 5_000);
        assert!(r.received().dominates(r.applied()));
        assert_eq!(r.stats().internal_errors, 0);
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(Vec<(prop::sample::Index, u8)>),
    Overwrite(prop::sample::Index, u8),
    Truncate(prop::sample::Index),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn random_bytes_from_a_peer_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        feed(&bytes);
    }

    #[test]
    fn mutated_valid_messages_from_a_peer_never_panic(
        seed in any::<prop::sample::Index>(),
        mutation in prop_oneof![
            // A light touch keeps most inputs decodable, so they reach the replica.
            proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..3)
                .prop_map(Mutation::Flip),
            (any::<prop::sample::Index>(), prop::sample::select(vec![0x00, 0x01, 0x7f, 0xcc, 0xcf, 0xff]))
                .prop_map(|(at, byte)| Mutation::Overwrite(at, byte)),
            any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        ],
    ) {
        let mut bytes = seed.get(&SEEDS).clone();
        match mutation {
            Mutation::Flip(flips) => {
                for (at, bit) in flips {
                    let i = at.index(bytes.len());
                    bytes[i] ^= 1 << bit;
                }
            }
            Mutation::Overwrite(at, byte) => {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            Mutation::Truncate(at) => bytes.truncate(at.index(bytes.len() + 1)),
        }
        feed(&bytes);
    }
}
