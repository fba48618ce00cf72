//! Node roles and the driver contract, on `topologies/primary-replica.toml`: read replicas and
//! the delayed replica refuse writes, replicas follow the leader, the delayed replica stores at
//! once and applies late, outputs come persist-send-ack, and a restart never reuses a seq.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::{ActorId, Command, Dot, Value};
use meridian_replica::{Config, Message, Output, Replica, WriteError};
use support::*;

fn value(r: &Replica, k: &str) -> Option<Value> {
    r.keyspace().get(k.as_bytes())
}

fn str_value(v: &str) -> Option<Value> {
    Some(Value::Str(Bytes::from(v.to_string())))
}

#[test]
fn read_replicas_and_the_delayed_replica_refuse_local_writes() {
    let mut c = Cluster::new(primary_replica());
    c.write(DUBLIN, "k", set("from-dublin")).unwrap();
    c.advance(STOCKHOLM_DELAY_MS + 1);
    for id in [OREGON, SAO_PAULO, STOCKHOLM] {
        let before = snapshot(c.node(id));
        let writes_before = c.node(id).stats().local_writes;
        let now = c.now;
        let r = c.node_mut(id);
        assert_eq!(
            r.write(now, wall(now), key("k"), set("local")),
            Err(WriteError::ReadOnly),
            "node {id}"
        );
        assert_eq!(
            r.write(now, wall(now), key("fresh"), Command::IncrBy(1)),
            Err(WriteError::ReadOnly),
            "node {id}"
        );
        assert!(
            drain(r).is_empty(),
            "a refused write has no effect to carry out"
        );
        assert_eq!(snapshot(r), before, "node {id}");
        assert_eq!(r.stats().local_writes, writes_before);
        assert_eq!(value(r, "k"), str_value("from-dublin"), "node {id}");
        assert_eq!(value(r, "fresh"), None);
    }
}

#[test]
fn replicas_receive_and_apply_the_leaders_writes() {
    let mut c = Cluster::new(primary_replica());
    let d1 = c.write(DUBLIN, "k", set("v1")).unwrap();
    let d2 = c.write(DUBLIN, "n", Command::IncrBy(5)).unwrap();
    let d3 = c.write(DUBLIN, "k", set("v2")).unwrap();
    assert_eq!(c.acks, vec![d1, d2, d3]);
    for id in [OREGON, SAO_PAULO] {
        let r = c.node(id);
        assert_eq!(value(r, "k"), str_value("v2"), "node {id}");
        assert_eq!(value(r, "n"), Some(Value::Int(5)), "node {id}");
        assert_eq!(r.applied().get(DUBLIN), 3, "node {id}");
        assert_eq!(r.digest(), c.node(DUBLIN).digest(), "node {id}");
        assert_eq!(c.applied_dots(id), vec![d1, d2, d3], "node {id}");
    }
    assert_eq!(c.node(STOCKHOLM).received().get(DUBLIN), 3);
    c.advance(STOCKHOLM_DELAY_MS);
    assert_eq!(c.node(STOCKHOLM).digest(), c.node(DUBLIN).digest());
    let dups: u64 = c.replicas.values().map(|r| r.stats().duplicates).sum();
    assert_eq!(dups, 0);
}

#[test]
fn the_delayed_replica_persists_at_once_and_applies_after_its_delay() {
    let mut c = Cluster::new(primary_replica());
    c.manual_persist.insert(STOCKHOLM);
    let start = 1_000;
    c.advance_to(start);

    let dot = c.write(DUBLIN, "k", set("v1")).unwrap();
    // The op reached Stockholm and waits in its Persist batch.
    assert_eq!(c.node(STOCKHOLM).received().get(DUBLIN), 0);
    assert_eq!(c.node(STOCKHOLM).unpersisted(), 1);
    let digest_before = c.node(STOCKHOLM).digest();

    c.persist(STOCKHOLM);
    let persisted_at = c.now;
    let s = c.node(STOCKHOLM);
    assert_eq!(
        s.received().get(DUBLIN),
        1,
        "durable as soon as the batch is"
    );
    assert_eq!(s.applied().get(DUBLIN), 0, "not applied before the delay");
    assert_eq!(s.digest(), digest_before);
    assert_eq!(s.causal_depth(), 1);

    c.advance_to(persisted_at + STOCKHOLM_DELAY_MS - 1);
    c.persist(STOCKHOLM);
    let s = c.node(STOCKHOLM);
    assert_eq!(s.applied().get(DUBLIN), 0, "one millisecond early");
    assert_eq!(value(s, "k"), None);
    assert_eq!(s.digest(), digest_before);
    assert!(c.applied_dots(STOCKHOLM).is_empty());

    c.advance_to(persisted_at + STOCKHOLM_DELAY_MS);
    let s = c.node(STOCKHOLM);
    assert_eq!(s.applied().get(DUBLIN), 1, "applied exactly at the delay");
    assert_eq!(value(s, "k"), str_value("v1"));
    assert_eq!(
        c.applied[&STOCKHOLM],
        vec![(persisted_at + STOCKHOLM_DELAY_MS, dot)]
    );
}

#[test]
fn the_delayed_replica_applies_each_op_its_delay_after_it_became_durable_in_order() {
    let mut c = Cluster::new(primary_replica());
    c.manual_persist.insert(STOCKHOLM);
    let mut expected = Vec::new();
    for (i, at) in [1_000u64, 4_000, 4_000, 9_500].into_iter().enumerate() {
        c.advance_to(at);
        let dot = c.write(DUBLIN, "k", set(&format!("v{i}"))).unwrap();
        c.persist(STOCKHOLM);
        assert_eq!(c.node(STOCKHOLM).received().get(DUBLIN), dot.seq);
        expected.push((at + STOCKHOLM_DELAY_MS, dot));
    }
    assert_eq!(c.node(STOCKHOLM).applied().get(DUBLIN), 0);

    // Step through time with the replica's own timers, checking before and at each deadline.
    let mut deadlines: Vec<u64> = expected.iter().map(|(due, _)| *due).collect();
    deadlines.dedup();
    for due in deadlines {
        let due_before = expected.iter().filter(|(d, _)| *d < due).count() as u64;
        let due_by_then = expected.iter().filter(|(d, _)| *d <= due).count() as u64;
        c.advance_to(due - 1);
        c.persist(STOCKHOLM);
        assert_eq!(
            c.node(STOCKHOLM).applied().get(DUBLIN),
            due_before,
            "1 ms before {due}"
        );
        c.advance_to(due);
        c.persist(STOCKHOLM);
        assert_eq!(
            c.node(STOCKHOLM).applied().get(DUBLIN),
            due_by_then,
            "at {due}"
        );
    }
    assert_eq!(
        c.applied[&STOCKHOLM], expected,
        "in order, each at its time"
    );
    assert_eq!(c.node(STOCKHOLM).digest(), c.node(DUBLIN).digest());
}

/// Persist, then send, then acknowledge: a Send carrying an op that is not yet durable could
/// leave a neighbour holding an op its origin loses in a crash (and reuses the seq of).
#[test]
fn a_local_write_is_persisted_before_it_is_sent_and_acknowledged_after() {
    let topology = primary_replica();
    let mut dublin = Replica::new(DUBLIN, Arc::clone(&topology), Config::lan(), wall(0)).unwrap();
    for peer in [OREGON, SAO_PAULO, STOCKHOLM] {
        handshake(&mut dublin, &topology, peer, 0);
    }

    let dot = dublin.write(10, wall(10), key("k"), set("v")).unwrap();
    let before = drain(&mut dublin);
    let carries = |o: &Output| matches!(o, Output::Send { msg: Message::Ops(ops), .. } if ops.iter().any(|op| op.dot() == dot));
    let batch = before
        .iter()
        .find_map(|o| match o {
            Output::Persist { batch, ops, .. } if ops.iter().any(|op| op.dot() == dot) => {
                Some(*batch)
            }
            _ => None,
        })
        .expect("the write is handed out to persist");
    assert!(
        !before.iter().any(carries),
        "sent before durable: {before:?}"
    );
    assert!(
        !before.iter().any(|o| matches!(o, Output::Ack(_))),
        "acked before durable"
    );

    // Timers before the batch is durable must not leak it either.
    dublin.handle_timeout(10 + Config::lan().gossip_interval_ms * 10, 0);
    let timers = drain(&mut dublin);
    assert!(
        !timers.iter().any(carries),
        "sent by a timer before durable"
    );

    dublin.handle_persisted(20, batch);
    let after = drain(&mut dublin);
    let sends: Vec<usize> = after
        .iter()
        .enumerate()
        .filter(|(_, o)| carries(o))
        .map(|(i, _)| i)
        .collect();
    let mut to: Vec<ActorId> = sends
        .iter()
        .map(|&i| match &after[i] {
            Output::Send { to, .. } => *to,
            _ => unreachable!(),
        })
        .collect();
    to.sort();
    assert_eq!(
        to,
        vec![OREGON, SAO_PAULO, STOCKHOLM],
        "the hub sends to every replica"
    );
    let ack = after
        .iter()
        .position(|o| matches!(o, Output::Ack(d) if *d == dot))
        .expect("acknowledged once durable");
    assert!(
        sends.iter().all(|&s| s < ack),
        "ack after the sends: {after:?}"
    );
}

#[test]
fn a_restarted_replica_recovers_its_state_and_never_reuses_a_seq() {
    let topology = mesh_3();
    let mut c = Cluster::new(Arc::clone(&topology));
    let me = ActorId(1);
    for i in 0..5u32 {
        c.write(ActorId(1 + i % 3), "n", Command::IncrBy(1))
            .unwrap();
        c.write(ActorId(1), &format!("k{i}"), set("v")).unwrap();
    }
    c.advance(200);
    let before = snapshot(c.node(me));
    let last = c.node(me).received().get(me);
    assert_eq!(last, 7);

    let recovered = Replica::recover(
        me,
        Arc::clone(&topology),
        Config::lan(),
        c.now,
        wall(c.now),
        c.durable[&me].clone(),
    )
    .unwrap();
    // This harness keeps only the durable ops, so recovery replays them and holds the counter
    // as separate increments, which the running node may have compacted since: the states are
    // equal once both are compacted at the applied vector.
    let compacted = |r: &Replica| {
        let mut ks = r.keyspace().clone();
        ks.compact(r.applied());
        ks.digest()
    };
    assert_eq!(compacted(&recovered), compacted(c.node(me)));
    assert_eq!(
        recovered.keyspace().get(b"n"),
        c.node(me).keyspace().get(b"n")
    );
    assert!(before.digest == recovered.digest() || c.node(me).stats().compacted > 0);
    assert_eq!(recovered.applied(), &before.applied);
    assert_eq!(recovered.received(), &before.received);
    let feed_before = c.applied_dots(me).len();
    c.replace(me, recovered);
    assert_eq!(
        c.applied_dots(me).len(),
        feed_before,
        "recovery re-applies history without feeding the change feed"
    );

    let now = c.now;
    let dot = c
        .node_mut(me)
        .write(now, wall(now), key("after"), set("restart"))
        .unwrap();
    assert_eq!(dot, Dot::new(me, last + 1));
}

/// A node fsyncs its log lazily, crashes, and loses its last own ops; but it had sent them
/// (the peers hold them durably), so they are part of history. If it wrote again from its own
/// log alone it would reuse seq 4 for a different write, which every peer drops as a duplicate:
/// that write is acknowledged and lost, and the regions diverge. The node must learn its own
/// history from its peers on the handshake before writing again.
#[test]
fn a_node_that_lost_its_latest_own_ops_learns_them_from_a_peer_before_writing_again() {
    let topology = mesh_3();
    let mut c = Cluster::new(Arc::clone(&topology));
    let me = ActorId(1);
    for i in 0..5 {
        c.write(me, &format!("k{i}"), set("v")).unwrap();
    }
    assert_eq!(c.node(ActorId(2)).received().get(me), 5);

    // The crash lost own ops 4 and 5 (never fsynced) that the peers already hold.
    let kept: Vec<_> = c.durable[&me]
        .iter()
        .filter(|op| op.seq <= 3)
        .cloned()
        .collect();
    let recovered = Replica::recover(
        me,
        Arc::clone(&topology),
        Config::lan(),
        c.now,
        wall(c.now),
        kept,
    )
    .unwrap();
    c.replace(me, recovered);
    c.link_up(me, ActorId(2));
    c.link_up(me, ActorId(3));
    c.settle();
    c.advance(1_000);

    assert_eq!(
        c.node(me).received().get(me),
        5,
        "own history learnt from the peers"
    );
    let now = c.now;
    let dot = c
        .node_mut(me)
        .write(now, wall(now), key("after"), set("restart"))
        .unwrap();
    assert_eq!(dot, Dot::new(me, 6), "seq 4 and 5 are taken");
    c.drain(me);
    c.settle();
    let digests: Vec<_> = c.replicas.values().map(|r| r.digest()).collect();
    assert!(digests.windows(2).all(|w| w[0] == w[1]));
}

/// The receiving half of the same promise: when a peer does hand a node its own ops (catch-up
/// of history it lost), the node takes them and continues its sequence above them.
#[test]
fn own_ops_received_from_a_peer_move_the_next_seq_above_them() {
    let topology = mesh_3();
    let me = ActorId(1);
    let history = ops_of(&topology, me, 5);
    let mut r = Replica::recover(
        me,
        Arc::clone(&topology),
        Config::lan(),
        0,
        wall(0),
        history[..3].to_vec(),
    )
    .unwrap();
    handshake(&mut r, &topology, ActorId(2), 0);
    r.handle_message(1, wall(1), ActorId(2), Message::Ops(history[3..].to_vec()));
    let out = drain_persisting(&mut r, 1);
    assert!(close_errors(&out).is_empty(), "{out:?}");
    assert_eq!(r.received().get(me), 5);
    assert_eq!(r.applied().get(me), 5);
    let dot = r.write(2, wall(2), key("after"), set("v")).unwrap();
    assert_eq!(dot, Dot::new(me, 6));
}

/// Under `periodic` and `never` a batch is written before it is synced: its local writes are
/// acknowledged at the write, but its ops leave, and count in our row and our Hello, only once
/// synced. A crash between the two takes back ops no neighbour ever saw.
#[test]
fn a_written_batch_is_acknowledged_but_sent_and_claimed_only_once_synced() {
    let topology = primary_replica();
    // Key state written with every batch: only the fsync is awaited.
    let config = Config {
        checkpoint_interval_ms: 0,
        ..Config::lan()
    };
    let mut dublin = Replica::new(DUBLIN, Arc::clone(&topology), config, wall(0)).unwrap();
    for peer in [OREGON, SAO_PAULO, STOCKHOLM] {
        handshake(&mut dublin, &topology, peer, 0);
    }
    drain(&mut dublin);
    let dot = dublin.write(10, wall(10), key("k"), set("v")).unwrap();
    let batch = drain(&mut dublin)
        .iter()
        .find_map(|o| match o {
            Output::Persist { batch, .. } => Some(*batch),
            _ => None,
        })
        .expect("the write is handed out to persist");
    let carries = |o: &Output| matches!(o, Output::Send { msg: Message::Ops(ops), .. } if ops.iter().any(|op| op.dot() == dot));
    let claims = |o: &Output| matches!(o, Output::Send { msg: Message::Gossip { rows, .. }, .. } if rows.iter().any(|(n, r)| *n == DUBLIN && r.received.covers(dot)));

    dublin.handle_written(20, batch);
    dublin.handle_timeout(20 + Config::lan().gossip_interval_ms * 10, 0);
    let written = drain(&mut dublin);
    assert!(
        written
            .iter()
            .any(|o| matches!(o, Output::Ack(d) if *d == dot)),
        "acknowledged once written: {written:?}"
    );
    assert!(
        !written.iter().any(carries),
        "sent before synced: {written:?}"
    );
    assert!(
        !written.iter().any(claims),
        "claimed before synced: {written:?}"
    );
    assert_eq!(dublin.received().get(DUBLIN), 1);
    assert_eq!(dublin.synced().get(DUBLIN), 0);
    assert!(!dublin.is_quiescent(), "a batch waits for its fsync");
    dublin.handle_link_up(30, OREGON);
    let hello = drain(&mut dublin);
    assert!(
        hello.iter().any(|o| matches!(o, Output::Send { msg: Message::Hello { received, .. }, .. } if received.get(DUBLIN) == 0)),
        "a Hello claims only what is synced: {hello:?}"
    );

    dublin.handle_synced(40, batch);
    let synced = drain(&mut dublin);
    let mut to: Vec<ActorId> = synced
        .iter()
        .filter(|o| carries(o))
        .map(|o| match o {
            Output::Send { to, .. } => *to,
            _ => unreachable!(),
        })
        .collect();
    to.sort();
    assert_eq!(to, vec![OREGON, SAO_PAULO, STOCKHOLM]);
    assert_eq!(dublin.synced().get(DUBLIN), 1);
    assert_eq!(dublin.matrix().row(DUBLIN).unwrap().received.get(DUBLIN), 1);
    assert!(dublin.is_quiescent());
    // A report of an fsync already heard of changes nothing.
    dublin.handle_synced(50, batch);
    assert!(drain(&mut dublin).is_empty());
}

/// Every op goes to the log in the batch that accepts it, but the state of a key is written
/// once per checkpoint interval, for all the ops on it since the last: a hot key is encoded
/// once per interval, not once per batch.
#[test]
fn the_state_of_a_hot_key_is_written_once_per_checkpoint() {
    let topology = primary_replica();
    let config = Config::lan();
    let interval = config.checkpoint_interval_ms;
    let mut dublin = Replica::new(DUBLIN, Arc::clone(&topology), config, wall(0)).unwrap();
    let mut states = Vec::new();
    let mut ops = 0;
    let persist = |dublin: &mut Replica, now: u64, states: &mut Vec<usize>, ops: &mut usize| {
        for output in drain(dublin) {
            if let Output::Persist {
                batch,
                ops: logged,
                state,
                ..
            } = output
            {
                *ops += logged.len();
                states.push(state.len());
                dublin.handle_persisted(now, batch);
            }
        }
    };
    for i in 0..100 {
        let now = 1 + i;
        dublin
            .write(
                now,
                wall(now),
                key("hot"),
                Command::SAdd(vec![key(&format!("m{i}"))]),
            )
            .unwrap();
        persist(&mut dublin, now, &mut states, &mut ops);
    }
    assert_eq!(ops, 100, "every op logged in the batch that took it");
    assert!(states.iter().all(|&n| n == 0), "{states:?}");
    assert!(
        !dublin.is_quiescent(),
        "the key's state waits for its checkpoint"
    );
    // The first write armed the checkpoint one interval on; the timer asks to be called by then.
    let due = 1 + interval;
    assert!(dublin.poll_timeout().is_some_and(|t| t <= due));
    dublin.handle_timeout(due - 1, 0);
    states.clear();
    persist(&mut dublin, due - 1, &mut states, &mut ops);
    assert!(states.iter().all(|&n| n == 0), "early: {states:?}");
    dublin.handle_timeout(due, 0);
    states.clear();
    persist(&mut dublin, due, &mut states, &mut ops);
    assert_eq!(states, [1], "one record of the key's state for 100 ops");
    assert!(dublin.is_quiescent());
}

/// The group commit happens in the replica: while a batch is being written, whatever is
/// accepted waits, and goes out as one batch once the store reports the first written. (A
/// batch per op made every per-batch cost, from encoding vectors to the writer thread's two
/// reports, a per-op cost: half a node's CPU under `redis-benchmark -t set -P 16`.)
#[test]
fn writes_accepted_while_a_batch_is_written_go_out_as_one_batch() {
    let topology = primary_replica();
    let mut dublin = Replica::new(DUBLIN, Arc::clone(&topology), Config::lan(), wall(0)).unwrap();
    let persists = |outputs: &[Output]| -> Vec<(u64, Vec<Dot>)> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::Persist { batch, ops, .. } => {
                    Some((*batch, ops.iter().map(|op| op.dot()).collect()))
                }
                _ => None,
            })
            .collect()
    };
    let first = dublin.write(1, wall(1), key("k0"), set("v")).unwrap();
    let out = persists(&drain(&mut dublin));
    assert_eq!(out.len(), 1);
    let (batch, ops) = &out[0];
    assert_eq!(ops, &vec![first]);

    let mut waiting = Vec::new();
    for i in 1..=10 {
        waiting.push(
            dublin
                .write(2, wall(2), key(&format!("k{i}")), set("v"))
                .unwrap(),
        );
        assert!(
            persists(&drain(&mut dublin)).is_empty(),
            "a batch is being written: the write waits for it"
        );
    }
    assert_eq!(dublin.unpersisted(), 11);

    dublin.handle_persisted(3, *batch);
    let out = drain(&mut dublin);
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Ack(d) if *d == first))
    );
    let next = persists(&out);
    assert_eq!(
        next.len(),
        1,
        "one batch for every write that waited: {next:?}"
    );
    assert_eq!(next[0].1, waiting);
    dublin.handle_persisted(4, next[0].0);
    let acks: Vec<Dot> = drain(&mut dublin)
        .into_iter()
        .filter_map(|o| match o {
            Output::Ack(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(acks, waiting);
}

/// A driver may read a replica from several threads at once (the node's GETs take a read
/// lock): the replica must stay `Sync`.
#[test]
fn a_replica_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Replica>();
}
