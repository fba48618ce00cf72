//! Units: the local writes between `open_unit` and `close_unit` (a transaction, a multi-key
//! write) reach every region as ops that are applied together, so no reader anywhere sees
//! some of them without the others.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use meridian_crdt::{ActorId, Command, Dot};
use meridian_replica::{Config, Message, Op, Output, Replica, Topology};
use support::*;

const A: ActorId = ActorId(1);
const B: ActorId = ActorId(2);
const C: ActorId = ActorId(3);

/// Node `origin`'s ops: one write, then a unit of three, then one more write.
fn ops_with_a_unit(topology: &Arc<Topology>, origin: ActorId) -> Vec<Arc<Op>> {
    let mut r = Replica::new(origin, Arc::clone(topology), Config::lan(), wall(0)).unwrap();
    r.write(0, wall(0), key("before"), set("0")).unwrap();
    r.open_unit();
    for k in ["x", "y", "z"] {
        r.write(1, wall(1), key(k), set("1")).unwrap();
        // Nothing leaves for the store while the unit is open: it goes in one batch.
        assert!(persisted_ops(&drain(&mut r)).is_empty());
    }
    r.close_unit(1);
    r.write(2, wall(2), key("after"), set("2")).unwrap();
    let ops = persisted_ops(&drain_persisting(&mut r, 2));
    assert_eq!(ops.len(), 5);
    ops
}

#[test]
fn a_units_ops_are_marked_all_but_the_last() {
    let ops = ops_with_a_unit(&mesh_3(), A);
    let continues: Vec<bool> = ops.iter().map(|op| op.continues).collect();
    assert_eq!(continues, [false, true, true, false, false]);
    // The unit's ops share their causal context, but for their own origin.
    assert_eq!(ops[2].deps.get(C), ops[1].deps.get(C));
    assert_eq!(ops[2].deps.get(A), ops[1].deps.get(A) + 1);
}

#[test]
fn a_peer_applies_a_unit_only_once_it_holds_all_of_it() {
    let t = mesh_3();
    let ops = ops_with_a_unit(&t, A);
    let mut b = Replica::new(B, Arc::clone(&t), Config::lan(), wall(0)).unwrap();
    handshake(&mut b, &t, A, 0);
    drain(&mut b);
    let mut applied_per_step = Vec::new();
    for op in &ops {
        b.handle_message(3, wall(3), A, Message::Ops(vec![Arc::clone(op)]));
        let outputs = drain_persisting(&mut b, 3);
        applied_per_step.push(applied_dots(&outputs));
    }
    let dot = |seq| Dot::new(A, seq);
    assert_eq!(
        applied_per_step,
        [
            vec![dot(1)],
            vec![],
            vec![],
            vec![dot(2), dot(3), dot(4)],
            vec![dot(5)],
        ]
    );
    assert_eq!(b.applied().get(A), 5);
}

#[test]
fn a_unit_missing_its_last_op_stays_unapplied_and_blocks_its_origin() {
    // The unit's last op is late (lost and resent): the ops after it wait too, as any op
    // waits for its origin's earlier ones.
    let t = mesh_3();
    let ops = ops_with_a_unit(&t, A);
    let mut b = Replica::new(B, Arc::clone(&t), Config::lan(), wall(0)).unwrap();
    handshake(&mut b, &t, A, 0);
    drain(&mut b);
    let early: Vec<Arc<Op>> = [0, 1, 2].iter().map(|&i| Arc::clone(&ops[i])).collect();
    b.handle_message(3, wall(3), A, Message::Ops(early));
    drain_persisting(&mut b, 3);
    assert_eq!(b.applied().get(A), 1);
    assert!(b.keyspace().get(b"x").is_none());
    b.handle_message(4, wall(4), A, Message::Ops(vec![Arc::clone(&ops[3])]));
    drain_persisting(&mut b, 4);
    assert_eq!(b.applied().get(A), 4);
    for k in ["x", "y", "z"] {
        assert!(b.keyspace().get(k.as_bytes()).is_some(), "{k}");
    }
}

#[test]
fn while_a_unit_is_open_ops_from_peers_wait() {
    let t = mesh_3();
    let c_ops = ops_of(&t, C, 1);
    let mut a = Replica::new(A, Arc::clone(&t), Config::lan(), wall(0)).unwrap();
    handshake(&mut a, &t, C, 0);
    drain(&mut a);
    a.open_unit();
    a.write(1, wall(1), key("x"), set("1")).unwrap();
    a.handle_message(1, wall(1), C, Message::Ops(c_ops));
    drain(&mut a);
    a.write(1, wall(1), key("y"), set("1")).unwrap();
    assert_eq!(a.applied().get(C), 0, "a peer's op applied inside the unit");
    a.close_unit(1);
    let outputs = drain_persisting(&mut a, 1);
    let batches = outputs
        .iter()
        .filter(|o| matches!(o, Output::Persist { .. }))
        .count();
    assert!(batches >= 1);
    assert_eq!(a.applied().get(C), 1);
    // Both ops of the unit say so, and name the same context.
    let ops = persisted_ops(&outputs);
    let own: Vec<&Arc<Op>> = ops.iter().filter(|op| op.origin == A).collect();
    assert_eq!(own.len(), 2);
    assert!(own[0].continues && !own[1].continues);
    assert_eq!(own[0].deps.get(C), own[1].deps.get(C));
}

#[test]
fn a_unit_of_one_write_or_none_marks_nothing() {
    let t = mesh_3();
    let mut a = Replica::new(A, Arc::clone(&t), Config::lan(), wall(0)).unwrap();
    a.open_unit();
    a.close_unit(0);
    a.open_unit();
    a.write(0, wall(0), key("x"), Command::IncrBy(1)).unwrap();
    a.close_unit(0);
    let ops = persisted_ops(&drain_persisting(&mut a, 0));
    assert_eq!(ops.len(), 1);
    assert!(!ops[0].continues);
}
