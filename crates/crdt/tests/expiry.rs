//! Expiry: what a deadline removes, at which region, and that every region converges on it
//! whichever region's clock passes it first (docs/data-model.md, "Expiry").

#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::Cluster;
use meridian_crdt::{Command, Keyspace, Value};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn members(c: &Cluster, i: usize, key: &str) -> Vec<Bytes> {
    match c.replicas[i].ks.get(key.as_bytes()) {
        Some(Value::Set(m)) => m,
        None => Vec::new(),
        other => panic!("a set, not {other:?}"),
    }
}

fn assert_converged(c: &Cluster) {
    let first = &c.replicas[0];
    for r in &c.replicas[1..] {
        assert_eq!(r.applied, first.applied);
        assert_eq!(r.ks.digest(), first.ks.digest());
        assert_eq!(r.ks, first.ks);
    }
    for r in &c.replicas {
        assert_eq!(r.ks.digest(), r.ks.recompute_digest());
    }
}

#[test]
fn an_expired_key_reads_as_absent_once_the_clock_passes_and_is_gone_once_reaped() {
    let mut c = Cluster::new(1);
    c.write(
        0,
        "k",
        Command::SetTimed {
            value: b("v"),
            at: Some(200),
        },
        1,
    );
    let ks = &mut c.replicas[0].ks;
    ks.set_clock(199);
    assert_eq!(ks.get(b"k"), Some(Value::Str(b("v"))));
    assert_eq!(ks.expires(b"k"), Some(200));
    assert!(ks.due(10).is_empty());
    assert_eq!(ks.next_deadline(), Some(200));
    ks.set_clock(200);
    assert_eq!(ks.get(b"k"), None);
    assert!(!ks.contains(b"k"));
    assert_eq!(ks.keys().count(), 0);
    assert_eq!(ks.key_type(b"k"), None);
    assert_eq!(ks.random_key(7), None);
    // Still held (DBSIZE counts it, as Redis's does) until the reap.
    assert_eq!(ks.len(), 1);
    assert_eq!(ks.due(10).len(), 1);
    // The clock never goes back: a key read as expired stays so.
    ks.set_clock(100);
    assert_eq!(ks.get(b"k"), None);
    assert_eq!(c.reap(0, 200), 1);
    let ks = &c.replicas[0].ks;
    assert_eq!(ks.retained_len(), 0);
    assert_eq!(ks.expiring_len(), 0);
    assert_eq!(ks.digest(), Keyspace::new().digest());
}

#[test]
fn a_write_concurrent_with_the_deadline_survives_its_reap() {
    let mut c = Cluster::new(2);
    c.write(0, "s", Command::SAdd(vec![b("seen")]), 1);
    c.deliver_all(&[0]);
    c.write(0, "s", Command::Expire(Some(5)), 2);
    // Written at the other region before the EXPIRE reached it.
    c.write(1, "s", Command::SAdd(vec![b("concurrent")]), 2);
    c.deliver_all(&[0, 1]);
    assert_eq!(c.reap(0, 5), 1);
    c.deliver_all(&[0, 1]);
    for i in 0..2 {
        assert_eq!(members(&c, i, "s"), vec![b("concurrent")]);
        assert_eq!(c.replicas[i].ks.expires(b"s"), None);
    }
    assert_converged(&c);
}

#[test]
fn a_write_that_keeps_the_ttl_expires_with_the_key() {
    let mut c = Cluster::new(2);
    c.write(
        0,
        "n",
        Command::SetTimed {
            value: b("1"),
            at: Some(5),
        },
        1,
    );
    // INCR keeps the TTL, as in Redis: its increment goes when the key does.
    c.write(0, "n", Command::IncrBy(2), 2);
    assert_eq!(c.replicas[0].ks.expires(b"n"), Some(5));
    c.deliver_all(&[0]);
    c.write(1, "n", Command::IncrBy(3), 3);
    c.deliver_all(&[1]);
    assert_eq!(c.replicas[0].ks.get(b"n"), Some(Value::Int(6)));
    assert_eq!(c.reap(1, 5), 1);
    c.deliver_all(&[0, 1]);
    for r in &c.replicas {
        assert_eq!(r.ks.get(b"n"), None);
        assert_eq!(r.ks.retained_len(), 0);
    }
    assert_converged(&c);
}

#[test]
fn set_clears_the_deadline_and_keepttl_keeps_it() {
    let mut c = Cluster::new(1);
    c.write(
        0,
        "k",
        Command::SetTimed {
            value: b("a"),
            at: Some(9),
        },
        1,
    );
    c.write(
        0,
        "k",
        Command::SetTimed {
            value: b("b"),
            at: None,
        },
        2,
    );
    assert_eq!(c.replicas[0].ks.expires(b"k"), Some(9));
    c.write(0, "k", Command::Set(b("c")), 3);
    assert_eq!(c.replicas[0].ks.expires(b"k"), None);
    assert_eq!(c.reap(0, 100), 0);
    assert_eq!(c.replicas[0].ks.get(b"k"), Some(Value::Str(b("c"))));
}

#[test]
fn persist_concurrent_with_a_reap_converges_on_the_reap() {
    let mut c = Cluster::new(2);
    c.write(
        0,
        "k",
        Command::SetTimed {
            value: b("v"),
            at: Some(5),
        },
        1,
    );
    c.deliver_all(&[0]);
    // Region 1's clock is behind: it persists the key while region 0 reaps it.
    c.write(1, "k", Command::Expire(None), 2);
    assert_eq!(c.replicas[1].ks.expires(b"k"), None);
    assert_eq!(c.reap(0, 5), 1);
    c.deliver_all(&[0, 1]);
    for r in &c.replicas {
        assert_eq!(r.ks.get(b"k"), None);
    }
    assert_converged(&c);
}

#[test]
fn which_region_reaps_first_does_not_change_the_outcome() {
    let mut once = Cluster::new(3);
    once.write(0, "s", Command::SAdd(vec![b("a"), b("b")]), 1);
    once.write(0, "s", Command::Expire(Some(5)), 2);
    once.deliver_all(&[0]);
    let mut all = once.clone();
    assert_eq!(once.reap(2, 5), 1);
    once.deliver_all(&[0, 1, 2]);
    // Every region's clock passes before any reap arrives: three reaps, one outcome.
    for i in 0..3 {
        assert_eq!(all.reap(i, 6), 1);
    }
    all.deliver_all(&[2, 1, 0]);
    for c in [&once, &all] {
        assert_converged(c);
        assert_eq!(c.replicas[0].ks.get(b"s"), None);
        assert_eq!(c.replicas[0].ks.retained_len(), 0);
    }
}

#[test]
fn concurrent_deadlines_each_expire_what_their_writer_had_seen() {
    let mut c = Cluster::new(2);
    c.write(0, "s", Command::SAdd(vec![b("both")]), 1);
    c.deliver_all(&[0]);
    c.write(0, "s", Command::SAdd(vec![b("first")]), 2);
    c.write(0, "s", Command::Expire(Some(5)), 3);
    c.write(1, "s", Command::SAdd(vec![b("second")]), 2);
    c.write(1, "s", Command::Expire(Some(10)), 3);
    c.deliver_all(&[0, 1]);
    // The key's TTL is the earliest deadline.
    assert_eq!(c.replicas[1].ks.expires(b"s"), Some(5));
    assert_eq!(c.reap(1, 5), 1);
    c.deliver_all(&[0, 1]);
    assert_eq!(members(&c, 0, "s"), vec![b("second")]);
    assert_eq!(c.replicas[0].ks.expires(b"s"), Some(10));
    assert_eq!(c.reap(0, 10), 1);
    c.deliver_all(&[0, 1]);
    assert_eq!(members(&c, 1, "s"), Vec::<Bytes>::new());
    assert_converged(&c);
}

#[test]
fn a_deadline_round_trips_through_the_storage_encoding() {
    let mut c = Cluster::new(2);
    c.write(0, "n", Command::IncrBy(1), 1);
    c.deliver_all(&[0]);
    c.write(1, "n", Command::Expire(Some(50)), 2);
    c.write(1, "n", Command::IncrBy(1), 3);
    c.write(1, "n", Command::Expire(None), 4);
    let ks = &c.replicas[1].ks;
    assert!(ks.holds_deadlines(b"n"));
    assert_eq!(ks.expires(b"n"), None);
    let bytes = ks.encode_key(b"n").unwrap();
    let mut loaded = Keyspace::new();
    loaded.load_key(b("n"), &bytes).unwrap();
    assert_eq!(loaded.key_digest(b"n"), ks.key_digest(b"n"));
    assert_eq!(loaded.encode_key(b"n").unwrap(), bytes);
    assert!(loaded.holds_deadlines(b"n"));
}

#[test]
fn a_key_emptied_and_written_again_does_not_inherit_its_old_deadline() {
    let mut c = Cluster::new(1);
    c.write(0, "s", Command::SAdd(vec![b("a")]), 1);
    c.write(0, "s", Command::Expire(Some(50)), 2);
    c.write(0, "s", Command::SRem(vec![b("a")]), 3);
    assert!(!c.replicas[0].ks.contains(b"s"));
    // As in Redis, the SADD makes a new key, without a time to live.
    c.write(0, "s", Command::SAdd(vec![b("b")]), 4);
    assert_eq!(c.replicas[0].ks.expires(b"s"), None);
    assert_eq!(c.reap(0, 50), 0);
    assert_eq!(members(&c, 0, "s"), vec![b("b")]);
}
