//! What a replica does when its store lets it down: a failed persist stops writes and
//! acknowledgements but not reads; a stored key state that does not decode is an error that
//! names the key, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::{ActorId, Command, Dot, Value};
use meridian_replica::{Config, MAX_SEQ, Message, NewError, Output, Replica, Restored, WriteError};
use proptest::prelude::*;
use support::{drain, drain_persisting, handshake, key, mesh_3, ops_of, set, snapshot, wall};

const ME: ActorId = ActorId(1);
const VIRGINIA: ActorId = ActorId(2);
const SINGAPORE: ActorId = ActorId(3);

fn acks(outputs: &[Output]) -> Vec<Dot> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Ack(dot) => Some(*dot),
            _ => None,
        })
        .collect()
}

/// Ops sent to peers, as dots.
fn sent_ops(outputs: &[Output]) -> Vec<Dot> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                msg: Message::Ops(ops),
                ..
            } => Some(ops.iter().map(|op| op.dot()).collect::<Vec<_>>()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn persist_batches(outputs: &[Output]) -> Vec<u64> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Persist { batch, .. } => Some(*batch),
            _ => None,
        })
        .collect()
}

fn str_value(v: &str) -> Option<Value> {
    Some(Value::Str(Bytes::from(v.to_string())))
}

#[test]
fn after_a_failed_persist_writes_are_refused_nothing_more_is_acknowledged_and_reads_go_on() {
    let topology = mesh_3();
    let mut r = Replica::new(ME, Arc::clone(&topology), Config::lan(), wall(0)).unwrap();
    handshake(&mut r, &topology, VIRGINIA, 0);
    handshake(&mut r, &topology, SINGAPORE, 0);
    let settled = Config::lan().link_settle_ms;
    r.handle_timeout(settled, 0);
    drain_persisting(&mut r, settled);

    let t = settled + 1;
    let durable = r.write(t, wall(t), key("k1"), set("durable")).unwrap();
    let out = drain_persisting(&mut r, t);
    assert_eq!(acks(&out), vec![durable]);
    assert_eq!(sent_ops(&out), vec![durable, durable], "to both peers");

    // Two more writes go into one batch, which the disk then fails.
    let lost: Vec<Dot> = ["k2", "k3"]
        .iter()
        .map(|k| r.write(t, wall(t), key(k), set("in memory")).unwrap())
        .collect();
    let out = drain(&mut r);
    let batches = persist_batches(&out);
    assert_eq!(batches.len(), 1, "{out:?}");
    assert!(acks(&out).is_empty() && sent_ops(&out).is_empty());
    let digest = r.digest();
    r.handle_persist_failed(t, batches[0], "fsync: Input/output error".to_string());
    assert_eq!(
        r.store_failure(),
        Some("batch 2: fsync: Input/output error")
    );
    assert_eq!(r.stats().store_failures, 1);
    // A confused driver reporting the failed batch durable anyway changes nothing.
    r.handle_persisted(t, batches[0]);
    let out = drain(&mut r);
    assert!(
        acks(&out).is_empty() && sent_ops(&out).is_empty() && persist_batches(&out).is_empty(),
        "nothing of the failed batch is acknowledged, sent or persisted again: {out:?}"
    );

    let before = snapshot(&r);
    let refused = r.write(t, wall(t), key("k4"), Command::IncrBy(1));
    match &refused {
        Err(WriteError::StoreFailed(reason)) => {
            assert!(reason.contains("Input/output error"), "{reason}");
        }
        other => panic!("expected StoreFailed, got {other:?}"),
    }
    assert!(drain(&mut r).is_empty(), "a refused write has no effect");
    assert_eq!(snapshot(&r), before);

    // An op from a peer is left with it: it could not be persisted here.
    let theirs = ops_of(&topology, VIRGINIA, 1);
    r.handle_message(t, wall(t), VIRGINIA, Message::Ops(theirs));
    let out = drain(&mut r);
    assert!(persist_batches(&out).is_empty(), "{out:?}");
    assert_eq!(r.received().get(VIRGINIA), 0);
    assert_eq!(r.stats().refused_store_failed, 1);
    assert_eq!(snapshot(&r), before);

    // Reads go on from memory, including the writes that were never acknowledged.
    assert_eq!(r.keyspace().get(b"k1"), str_value("durable"));
    assert_eq!(r.keyspace().get(b"k2"), str_value("in memory"));
    assert_eq!(r.keyspace().get(b"k4"), None);
    assert_eq!(r.digest(), digest);
    assert_eq!(r.applied().get(ME), lost[1].seq);
    assert_eq!(
        r.received().get(ME),
        durable.seq,
        "only the durable op is held"
    );

    // Gossip goes on, and never reports the lost ops as held.
    r.handle_timeout(t + Config::lan().gossip_interval_ms, 0);
    let out = drain(&mut r);
    let own_rows: Vec<u64> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                msg: Message::Gossip { rows, .. },
                ..
            } => rows
                .iter()
                .find(|(n, _)| *n == ME)
                .map(|(_, row)| row.received.get(ME)),
            _ => None,
        })
        .collect();
    assert_eq!(own_rows, vec![durable.seq, durable.seq], "{out:?}");
    assert!(acks(&out).is_empty() && sent_ops(&out).is_empty());
}

/// A store that wrote these state bytes for key `k`, with nothing in its log.
fn stored(entries: Vec<(Bytes, Vec<u8>)>) -> Restored {
    Restored {
        state: entries,
        history_complete: true,
        ..Restored::default()
    }
}

fn restore(restored: Restored) -> Result<Replica, NewError> {
    Replica::restore(ME, mesh_3(), Config::lan(), 0, wall(0), restored)
}

/// A key's state as a replica encodes it for the store.
fn good_state(k: &str) -> Vec<u8> {
    let mut r = Replica::new(ME, mesh_3(), Config::lan(), wall(0)).unwrap();
    r.write(
        0,
        wall(0),
        key(k),
        Command::SAdd(vec![Bytes::from_static(b"m")]),
    )
    .unwrap();
    r.keyspace().encode_key(k.as_bytes()).unwrap()
}

#[test]
fn a_stored_key_state_that_does_not_decode_names_its_key_and_table() {
    let good = good_state("cart:7");
    let mut truncated = good.clone();
    truncated.truncate(good.len() - 1);
    let cases: Vec<(Bytes, Vec<u8>, &str)> = vec![
        (key("user:1"), Vec::new(), "user:1"),
        (key("user:2"), vec![0xee, 1, 2], "user:2"),
        (key("cart:7"), truncated, "cart:7"),
        (
            Bytes::from_static(&[0xff, 0x00, b'k']),
            vec![0xee],
            "0xff006b",
        ),
    ];
    for (k, bytes, shown) in cases {
        // A good key first: the bad one is found wherever it sits.
        let entries = vec![(key("cart:1"), good_state("cart:1")), (k, bytes)];
        let e = restore(stored(entries)).unwrap_err();
        assert!(
            matches!(&e, NewError::State { key, .. } if key == shown),
            "{e:?}"
        );
        let message = e.to_string();
        assert!(
            message.contains(&format!("key {shown} in table state")),
            "{message}"
        );
    }
    let ok = restore(stored(vec![(key("cart:7"), good)])).unwrap();
    assert!(ok.keyspace().get(b"cart:7").is_some());
}

proptest! {
    #[test]
    fn any_stored_state_bytes_restore_or_fail_naming_the_key(
        bytes in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        restores_or_names_the_key(bytes)?;
    }

    #[test]
    fn a_stored_state_with_one_byte_changed_restores_or_fails_naming_the_key(
        at in any::<prop::sample::Index>(),
        to in any::<u8>(),
    ) {
        let mut bytes = good_state("k");
        let i = at.index(bytes.len());
        bytes[i] = to;
        restores_or_names_the_key(bytes)?;
    }
}

fn restores_or_names_the_key(bytes: Vec<u8>) -> Result<(), TestCaseError> {
    match restore(stored(vec![(key("k"), bytes)])) {
        Ok(r) => prop_assert!(r.keyspace().encode_key(b"k").is_some()),
        Err(NewError::State { key, .. }) => prop_assert_eq!(key, "k"),
        Err(e) => prop_assert!(false, "unexpected error {e:?}"),
    }
    Ok(())
}

/// A `Restored` whose one vector or op holds `seq` for node 1.
fn with_seq(record: &str, seq: u64) -> Restored {
    let mut r = stored(Vec::new());
    match record {
        "applied vector" => r.applied.set(ME, seq),
        "log base" => r.truncated.set(ME, seq),
        _ => {
            let mut op = (*ops_of(&mesh_3(), ME, 1)[0]).clone();
            op.seq = seq;
            r.ops.push(Arc::new(op));
        }
    }
    r
}

#[test]
fn a_stored_seq_beyond_the_limit_is_an_error_not_an_overflow() {
    for record in ["applied vector", "log base", "log"] {
        for seq in [MAX_SEQ + 1, u64::MAX] {
            let e = restore(with_seq(record, seq)).unwrap_err();
            assert_eq!(
                e,
                NewError::StoredSeq {
                    record,
                    origin: ME,
                    seq,
                },
            );
            assert!(
                e.to_string()
                    .starts_with(&format!("stored {record}: node 1")),
                "{e}"
            );
        }
    }
    // At the limit itself the store is only odd, and a replica is made.
    let r = restore(with_seq("log base", MAX_SEQ)).unwrap();
    assert_eq!(r.received().get(ME), MAX_SEQ);
}
