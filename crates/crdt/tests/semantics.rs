//! One test per rule of docs/data-model.md, on hand-built concurrent histories.

#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::Cluster;
use meridian_crdt::{
    ActorId, Command, ConflictKind, Dot, KeyType, Keyspace, OpMeta, Payload, PrepareError, Value,
    VersionVector, hlc,
};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn set(members: &[&str]) -> Value {
    Value::Set(members.iter().map(|m| b(m)).collect())
}

fn sync(c: &mut Cluster) {
    c.deliver_all(&[0]);
}

fn kinds(a: &meridian_crdt::Applied) -> Vec<ConflictKind> {
    a.conflicts.iter().map(|c| c.kind).collect()
}

#[test]
fn concurrent_add_wins_over_remove() {
    let mut c = Cluster::new(2);
    c.write(0, "s", Command::SAdd(vec![b("x")]), 1);
    sync(&mut c);
    c.write(0, "s", Command::SRem(vec![b("x")]), 2);
    c.write(1, "s", Command::SAdd(vec![b("x")]), 2);
    sync(&mut c);
    for r in &c.replicas {
        assert_eq!(r.ks.get(b"s"), Some(set(&["x"])));
    }
}

#[test]
fn observed_remove_removes_member() {
    let mut c = Cluster::new(2);
    c.write(0, "s", Command::SAdd(vec![b("x"), b("y")]), 1);
    sync(&mut c);
    c.write(1, "s", Command::SRem(vec![b("x")]), 2);
    sync(&mut c);
    assert_eq!(c.replicas[0].ks.get(b"s"), Some(set(&["y"])));
    c.write(0, "s", Command::SRem(vec![b("y")]), 3);
    assert_eq!(c.replicas[0].ks.get(b"s"), None);
    assert!(!c.replicas[0].ks.contains(b"s"));
    assert_eq!(c.replicas[0].ks.retained_len(), 0);
}

#[test]
fn del_concurrent_with_incr_keeps_only_the_concurrent_increment() {
    let mut c = Cluster::new(3);
    c.write(0, "n", Command::IncrBy(5), 1);
    c.write(1, "n", Command::IncrBy(10), 1);
    sync(&mut c);
    assert_eq!(c.replicas[2].ks.get(b"n"), Some(Value::Int(15)));
    c.write(0, "n", Command::Del, 2);
    c.write(2, "n", Command::IncrBy(3), 2);
    sync(&mut c);
    for r in &c.replicas {
        assert_eq!(r.ks.get(b"n"), Some(Value::Int(3)));
        assert_eq!(r.ks.key_type(b"n"), Some(KeyType::Counter));
        // Exactly the concurrent increment is left: one entry.
        assert_eq!(r.ks.counter_entries(b"n"), 1);
    }
}

#[test]
fn del_leaves_no_retained_state_for_a_counter() {
    let mut c = Cluster::new(2);
    c.write(0, "n", Command::IncrBy(5), 1);
    c.write(1, "n", Command::IncrBy(-2), 1);
    c.write(
        0,
        "h",
        Command::HIncrBy {
            field: b("f"),
            by: 4,
        },
        2,
    );
    c.write(0, "s", Command::Set(b("9")), 3);
    c.write(0, "s", Command::IncrBy(1), 4);
    sync(&mut c);
    assert_eq!(c.replicas[1].ks.get(b"s"), Some(Value::Int(10)));
    c.write(1, "n", Command::Del, 5);
    c.write(1, "h", Command::HDel(vec![b("f")]), 5);
    c.write(1, "s", Command::Del, 5);
    sync(&mut c);
    for r in &c.replicas {
        assert_eq!(r.ks.retained_len(), 0);
        assert_eq!(r.ks.retained_keys().count(), 0);
        assert_eq!(r.ks.counter_entries(b"n"), 0);
        assert_eq!(r.ks.digest(), meridian_crdt::Digest::ZERO);
    }
    // Also after compaction: a compacted counter deleted leaves nothing either.
    c.write(0, "n", Command::IncrBy(1), 6);
    c.write(0, "n", Command::IncrBy(1), 7);
    sync(&mut c);
    assert_eq!(c.compact(0), 1);
    assert_eq!(c.replicas[0].ks.counter_entries(b"n"), 1);
    c.write(0, "n", Command::Del, 8);
    sync(&mut c);
    for r in &c.replicas {
        assert_eq!(r.ks.retained_len(), 0);
    }
}

#[test]
fn two_concurrent_dels_cancel_a_counter_once() {
    let mut c = Cluster::new(3);
    c.write(0, "n", Command::IncrBy(5), 1);
    c.write(1, "n", Command::IncrBy(7), 1);
    sync(&mut c);
    c.write(0, "n", Command::Del, 2);
    c.write(1, "n", Command::Del, 2);
    // Concurrent with both deletes.
    c.write(2, "n", Command::IncrBy(2), 2);
    sync(&mut c);
    for r in &c.replicas {
        assert_eq!(r.ks.get(b"n"), Some(Value::Int(2)));
        assert_eq!(r.ks.counter_entries(b"n"), 1);
    }
    c.write(2, "n", Command::Del, 3);
    sync(&mut c);
    // No tombstone: nothing retained.
    assert_eq!(c.replicas[0].ks.get(b"n"), None);
    assert_eq!(c.replicas[0].ks.len(), 0);
    assert_eq!(c.replicas[0].ks.retained_len(), 0);
    c.write(1, "n", Command::IncrBy(1), 4);
    sync(&mut c);
    for r in &c.replicas {
        assert_eq!(r.ks.get(b"n"), Some(Value::Int(1)));
    }
}

#[test]
fn compaction_merges_stable_increments_and_keeps_later_ones_exact() {
    let mut c = Cluster::new(3);
    for t in 1..=4 {
        c.write(0, "n", Command::IncrBy(t), t as u64);
        c.write(1, "n", Command::IncrBy(10), t as u64);
    }
    sync(&mut c);
    assert_eq!(c.replicas[2].ks.counter_entries(b"n"), 8);
    // Actor 2 (index 1) increments again; nobody else has it yet, so it is not stable.
    c.write(1, "n", Command::IncrBy(100), 5);
    assert_eq!(c.compact(1), 6);
    assert_eq!(c.replicas[1].ks.counter_entries(b"n"), 3);
    assert_eq!(c.replicas[1].ks.get(b"n"), Some(Value::Int(150)));
    // A delete that observed the compacted entries but not the new increment.
    c.write(2, "n", Command::Del, 6);
    sync(&mut c);
    for r in &c.replicas {
        assert_eq!(r.ks.get(b"n"), Some(Value::Int(100)));
    }
    for i in 0..3 {
        c.compact(i);
    }
    let d = c.replicas[0].ks.digest();
    assert!(c.replicas.iter().all(|r| r.ks.digest() == d));
}

/// A compaction visits only the increments that became stable since the last one. Before,
/// every gossip interval scanned every key holding more than one counter entry, and a
/// counter two regions had incremented kept one entry per region, so it was scanned at every
/// interval for good: with many such keys, a node spent its time compacting nothing.
#[test]
fn compaction_visits_only_the_increments_that_became_stable() {
    let mut c = Cluster::new(2);
    for t in 1..=3 {
        c.write(0, "n", Command::IncrBy(1), t);
        c.write(1, "n", Command::IncrBy(1), t);
        c.write(
            0,
            "h",
            Command::HIncrBy {
                field: b("f"),
                by: 1,
            },
            t,
        );
    }
    sync(&mut c);
    assert_eq!(c.replicas[0].ks.pending_compaction(), 9);
    // n: three entries of each actor become one each; h's field f: three become one.
    assert_eq!(c.compact(0), 2 + 2 + 2);
    assert_eq!(c.replicas[0].ks.counter_entries(b"n"), 2);
    assert_eq!(c.replicas[0].ks.pending_compaction(), 0);
    assert_eq!(c.compact(0), 0);
    c.write(1, "n", Command::IncrBy(1), 4);
    sync(&mut c);
    assert_eq!(c.replicas[0].ks.pending_compaction(), 1);
    assert_eq!(c.compact(0), 1);
    assert_eq!(c.replicas[0].ks.get(b"n"), Some(Value::Int(7)));
    assert_eq!(c.replicas[0].ks.pending_compaction(), 0);
}

#[test]
fn unstable_increments_are_not_compacted() {
    let mut c = Cluster::new(2);
    c.write(0, "n", Command::IncrBy(1), 1);
    c.write(0, "n", Command::IncrBy(1), 2);
    // Replica 1 has not applied them: not stable.
    assert_eq!(c.compact(0), 0);
    // Replica 1 writes a delete that observed only the first increment.
    c.deliver(1, 0);
    c.write(1, "n", Command::Del, 3);
    c.deliver(1, 0);
    // Both increments are applied everywhere, but the delete is not yet at replica 0: its
    // deps do not cover the second one, so they may not be merged there yet.
    assert_eq!(c.stable_for(0).get(common::actor(0)), 1);
    c.compact(0);
    assert_eq!(c.replicas[0].ks.counter_entries(b"n"), 2);
    sync(&mut c);
    for r in &c.replicas {
        assert_eq!(r.ks.get(b"n"), Some(Value::Int(1)));
    }
}

#[test]
fn lww_highest_stamp_wins_with_actor_tie_break() {
    let mut c = Cluster::new(3);
    c.write(0, "k", Command::Set(b("a")), 7);
    c.write(1, "k", Command::Set(b("b")), 5);
    c.write(2, "k", Command::Set(b("c")), 7);
    sync(&mut c);
    for r in &c.replicas {
        // Actor 3 (index 2) ties actor 1 on time 7 and wins on actor id.
        assert_eq!(r.ks.get(b"k"), Some(Value::Str(b("c"))));
    }
    // A write that observed all of them replaces them all.
    c.write(1, "k", Command::Set(b("d")), 1);
    sync(&mut c);
    assert_eq!(c.replicas[0].ks.get(b"k"), Some(Value::Str(b("d"))));
}

#[test]
fn lww_write_meeting_unobserved_entries_reports_conflict() {
    let mut c = Cluster::new(2);
    c.write(0, "k", Command::Set(b("a")), 1);
    c.write(1, "k", Command::Set(b("b")), 2);
    let applied = c.deliver(0, 1).unwrap();
    assert_eq!(kinds(&applied), vec![ConflictKind::Lww]);
}

#[test]
fn mv_siblings_resolved_by_a_write_with_context() {
    let mut c = Cluster::new(2);
    c.write(
        0,
        "m",
        Command::MvSet {
            value: b("x"),
            ctx: None,
        },
        1,
    );
    c.write(
        1,
        "m",
        Command::MvSet {
            value: b("y"),
            ctx: None,
        },
        2,
    );
    let applied = c.deliver(0, 1).unwrap();
    assert_eq!(kinds(&applied), vec![ConflictKind::MvSiblings]);
    sync(&mut c);
    assert_eq!(
        c.replicas[1].ks.get(b"m"),
        Some(Value::Mv(vec![b("x"), b("y")]))
    );
    let siblings = c.replicas[1].ks.mv_siblings(b"m").unwrap();
    assert_eq!(siblings.len(), 2);
    // A token taken after reading both siblings resolves them.
    let token = c.replicas[1].applied.clone();
    c.write(
        0,
        "m",
        Command::MvSet {
            value: b("z"),
            ctx: Some(token),
        },
        3,
    );
    sync(&mut c);
    for r in &c.replicas {
        assert_eq!(r.ks.get(b"m"), Some(Value::Mv(vec![b("z")])));
    }
}

#[test]
fn mv_context_is_clamped_to_what_the_writer_applied() {
    let mut c = Cluster::new(2);
    c.write(
        1,
        "m",
        Command::MvSet {
            value: b("y"),
            ctx: None,
        },
        1,
    );
    let mut huge = VersionVector::new();
    huge.set(ActorId(1), 100);
    huge.set(ActorId(2), 100);
    let op = c.write(
        0,
        "m",
        Command::MvSet {
            value: b("x"),
            ctx: Some(huge),
        },
        2,
    );
    assert_eq!(
        op.payload,
        Payload::MvSet {
            value: b("x"),
            ctx: Some(VersionVector::new())
        }
    );
    sync(&mut c);
    assert_eq!(
        c.replicas[0].ks.get(b"m"),
        Some(Value::Mv(vec![b("y"), b("x")]))
    );
}

#[test]
fn type_clash_is_deterministic_and_keeps_every_slot() {
    let mut c = Cluster::new(2);
    c.write(0, "t", Command::SAdd(vec![b("x")]), 5);
    c.write(1, "t", Command::HSet(vec![(b("f"), b("v"))]), 4);
    let applied = c.deliver(0, 1).unwrap();
    assert_eq!(kinds(&applied), vec![ConflictKind::TypeClash]);
    sync(&mut c);
    for r in &c.replicas {
        // The set's newest tag has the higher stamp.
        assert_eq!(r.ks.key_type(b"t"), Some(KeyType::Set));
        assert_eq!(r.ks.get(b"t"), Some(set(&["x"])));
    }
    // Removing the set reveals the hash: nothing was lost.
    c.write(0, "t", Command::SRem(vec![b("x")]), 6);
    sync(&mut c);
    assert_eq!(c.replicas[1].ks.key_type(b"t"), Some(KeyType::Hash));
    assert_eq!(
        c.replicas[1].ks.get(b"t"),
        Some(Value::Hash(vec![(b("f"), b("v"))]))
    );
}

#[test]
fn set_overwrites_any_type_and_del_removes_any() {
    let mut c = Cluster::new(1);
    c.write(0, "k", Command::HSet(vec![(b("f"), b("1"))]), 1);
    c.write(
        0,
        "k",
        Command::HIncrBy {
            field: b("g"),
            by: 4,
        },
        2,
    );
    c.write(0, "k", Command::Set(b("s")), 3);
    assert_eq!(c.replicas[0].ks.get(b"k"), Some(Value::Str(b("s"))));
    c.write(0, "k", Command::Del, 4);
    assert_eq!(c.replicas[0].ks.get(b"k"), None);
    // A hash recreated after SET and DEL starts empty, its old counter field at zero.
    c.write(
        0,
        "k",
        Command::HIncrBy {
            field: b("g"),
            by: 1,
        },
        5,
    );
    assert_eq!(
        c.replicas[0].ks.get(b"k"),
        Some(Value::Hash(vec![(b("g"), b("1"))]))
    );
}

#[test]
fn incrby_converts_an_integer_string() {
    let mut c = Cluster::new(2);
    c.write(0, "n", Command::Set(b("10")), 1);
    c.write(0, "n", Command::IncrBy(5), 2);
    assert_eq!(c.replicas[0].ks.get(b"n"), Some(Value::Int(15)));
    assert_eq!(c.replicas[0].ks.key_type(b"n"), Some(KeyType::Counter));
    sync(&mut c);
    assert_eq!(c.replicas[1].ks.get(b"n"), Some(Value::Int(15)));
}

#[test]
fn concurrent_conversions_of_one_string_count_its_value_once() {
    let mut c = Cluster::new(2);
    c.write(0, "n", Command::Set(b("10")), 1);
    sync(&mut c);
    c.write(0, "n", Command::IncrBy(1), 2);
    c.write(1, "n", Command::IncrBy(1), 2);
    sync(&mut c);
    for r in &c.replicas {
        assert_eq!(r.ks.get(b"n"), Some(Value::Int(12)));
    }
}

/// Two concurrent strings (a register with two entries at one region), converted at two
/// regions from different entries: the conversion that saw both entries supersedes the other
/// one's base, in whichever order they arrive. (Found by `convergence.rs`: the region that
/// converted the newer entry first never made the other base, the others kept it.)
#[test]
fn conversions_of_concurrent_strings_converge_whatever_the_order() {
    let mut c = Cluster::new(4);
    c.write(0, "n", Command::Set(b("1")), 0);
    c.deliver(2, 0);
    c.write(3, "n", Command::Set(b("1")), 0);
    c.deliver(3, 0);
    c.write(2, "n", Command::IncrBy(0), 0);
    c.write(3, "n", Command::IncrBy(0), 0);
    c.deliver_all(&[0]);
    for r in &c.replicas {
        assert_eq!(r.ks.get(b"n"), Some(Value::Int(1)));
        assert_eq!(r.ks.digest(), c.replicas[0].ks.digest());
    }
}

#[test]
fn conversion_concurrent_with_del_keeps_only_the_increment() {
    let mut c = Cluster::new(2);
    c.write(0, "n", Command::Set(b("10")), 1);
    sync(&mut c);
    c.write(0, "n", Command::IncrBy(1), 2);
    c.write(1, "n", Command::Del, 2);
    sync(&mut c);
    for r in &c.replicas {
        assert_eq!(r.ks.get(b"n"), Some(Value::Int(1)));
    }
}

#[test]
fn hash_field_clash_shows_the_register() {
    let mut c = Cluster::new(2);
    c.write(0, "h", Command::HSet(vec![(b("f"), b("v"))]), 1);
    c.write(
        1,
        "h",
        Command::HIncrBy {
            field: b("f"),
            by: 2,
        },
        2,
    );
    let applied = c.deliver(0, 1).unwrap();
    assert_eq!(kinds(&applied), vec![ConflictKind::FieldClash]);
    sync(&mut c);
    for r in &c.replicas {
        assert_eq!(r.ks.get(b"h"), Some(Value::Hash(vec![(b("f"), b("v"))])));
    }
    // HDEL removes both parts; the concurrent increment is gone because it was observed.
    c.write(0, "h", Command::HDel(vec![b("f")]), 3);
    sync(&mut c);
    assert_eq!(c.replicas[1].ks.get(b"h"), None);
}

#[test]
fn hincrby_counts_every_increment_and_hset_resets() {
    let mut c = Cluster::new(2);
    c.write(
        0,
        "h",
        Command::HIncrBy {
            field: b("f"),
            by: 2,
        },
        1,
    );
    c.write(
        1,
        "h",
        Command::HIncrBy {
            field: b("f"),
            by: 3,
        },
        1,
    );
    sync(&mut c);
    assert_eq!(
        c.replicas[0].ks.get(b"h"),
        Some(Value::Hash(vec![(b("f"), b("5"))]))
    );
    c.write(0, "h", Command::HSet(vec![(b("f"), b("7"))]), 2);
    c.write(
        0,
        "h",
        Command::HIncrBy {
            field: b("f"),
            by: 1,
        },
        3,
    );
    sync(&mut c);
    assert_eq!(
        c.replicas[1].ks.get(b"h"),
        Some(Value::Hash(vec![(b("f"), b("8"))]))
    );
}

#[test]
fn prepare_errors_follow_redis() {
    let mut c = Cluster::new(1);
    c.write(0, "s", Command::SAdd(vec![b("x")]), 1);
    c.write(0, "k", Command::Set(b("abc")), 1);
    c.write(0, "n", Command::IncrBy(i64::MAX), 1);
    let ks = &c.replicas[0].ks;
    let vv = &c.replicas[0].applied;
    let err = ks.prepare(b"s", Command::IncrBy(1), vv).unwrap_err();
    assert_eq!(
        err,
        PrepareError::WrongType {
            found: KeyType::Set
        }
    );
    assert_eq!(
        err.to_string(),
        "the key holds a set, which this command does not take"
    );
    assert_eq!(
        ks.prepare(b"k", Command::IncrBy(1), vv),
        Err(PrepareError::NotInteger)
    );
    assert_eq!(
        ks.prepare(b"n", Command::IncrBy(1), vv),
        Err(PrepareError::Overflow)
    );
    assert!(ks.prepare(b"n", Command::IncrBy(-1), vv).is_ok());
    assert_eq!(
        ks.prepare(b"k", Command::HSet(vec![(b("f"), b("v"))]), vv),
        Err(PrepareError::WrongType {
            found: KeyType::Register
        })
    );
    assert!(ks.prepare(b"s", Command::Set(b("v")), vv).is_ok());
    assert!(ks.prepare(b"s", Command::Del, vv).is_ok());
}

#[test]
fn apply_accepts_forged_payloads() {
    let mut ks = Keyspace::new();
    let deps = VersionVector::new();
    let meta = OpMeta {
        dot: Dot::new(ActorId(1), 1),
        hlc: hlc(1, 0),
        deps: &deps,
    };
    let key = b("k");
    ks.apply(
        &key,
        meta,
        &Payload::IncrBy {
            by: i64::MIN,
            from: Some(Dot::new(ActorId(9), 9)),
        },
    );
    ks.apply(
        &key,
        meta,
        &Payload::IncrBy {
            by: i64::MIN,
            from: None,
        },
    );
    assert_eq!(ks.get(b"k"), Some(Value::Int(i64::MIN)));
    assert_eq!(ks.digest(), ks.recompute_digest());
}

fn registers(pairs: &[(u16, u8)]) -> Vec<meridian_crdt::hll::Observation> {
    pairs
        .iter()
        .map(|&(register, rank)| meridian_crdt::hll::Observation { register, rank })
        .collect()
}

fn hll(pairs: &[(u16, u8)]) -> Option<Value> {
    Some(Value::Hll(registers(pairs)))
}

#[test]
fn concurrent_pfadds_merge_register_by_register() {
    let mut c = Cluster::new(2);
    c.write(0, "h", Command::PfAdd(registers(&[(1, 3), (2, 1)])), 1);
    c.write(1, "h", Command::PfAdd(registers(&[(1, 2), (5, 4)])), 2);
    sync(&mut c);
    for r in &c.replicas {
        assert_eq!(r.ks.get(b"h"), hll(&[(1, 3), (2, 1), (5, 4)]));
        assert_eq!(r.ks.key_type(b"h"), Some(KeyType::Hll));
    }
}

#[test]
fn a_pfadd_concurrent_with_a_del_survives_it() {
    let mut c = Cluster::new(2);
    c.write(0, "h", Command::PfAdd(registers(&[(7, 9)])), 1);
    sync(&mut c);
    // Region 1 adds a lower rank to the same register, unaware of region 0's DEL: its
    // element counts after the merge, though it rose no register where it was written.
    c.write(0, "h", Command::Del, 2);
    c.write(1, "h", Command::PfAdd(registers(&[(7, 2)])), 3);
    sync(&mut c);
    for r in &c.replicas {
        assert_eq!(r.ks.get(b"h"), hll(&[(7, 2)]));
    }
    // A DEL that observed everything leaves nothing.
    c.write(1, "h", Command::Del, 4);
    sync(&mut c);
    for r in &c.replicas {
        assert_eq!(r.ks.get(b"h"), None);
    }
}

#[test]
fn a_pfadd_of_no_element_creates_the_key() {
    let mut c = Cluster::new(1);
    c.write(0, "h", Command::PfAdd(Vec::new()), 1);
    assert_eq!(c.replicas[0].ks.get(b"h"), hll(&[]));
    assert_eq!(c.replicas[0].ks.hll(b"h").unwrap().unwrap().estimate(), 0);
}

#[test]
fn pfadd_takes_only_a_hyperloglog() {
    let mut c = Cluster::new(1);
    c.write(0, "s", Command::SAdd(vec![b("a")]), 1);
    let vv = c.replicas[0].applied.clone();
    assert_eq!(
        c.replicas[0]
            .ks
            .prepare(b"s", Command::PfAdd(registers(&[(1, 1)])), &vv),
        Err(PrepareError::WrongType {
            found: KeyType::Set
        })
    );
    c.write(0, "h", Command::PfAdd(registers(&[(1, 1)])), 2);
    assert_eq!(c.replicas[0].ks.hll(b"s").unwrap_err(), KeyType::Set);
    let vv = c.replicas[0].applied.clone();
    assert!(
        c.replicas[0]
            .ks
            .prepare(b"h", Command::SAdd(vec![b("a")]), &vv)
            .is_err()
    );
}

#[test]
fn stable_pfadds_of_one_region_fold_into_one_entry_and_read_the_same() {
    let mut c = Cluster::new(2);
    for (t, r) in (1..=5).zip([3u8, 1, 7, 2, 2]) {
        c.write(0, "h", Command::PfAdd(registers(&[(u16::from(r), r)])), t);
    }
    c.write(1, "h", Command::PfAdd(registers(&[(3, 9)])), 6);
    sync(&mut c);
    let before = c.replicas[0].ks.get(b"h");
    let stable = c.replicas[0].applied.clone();
    let folded = c.replicas[0].ks.compact(&stable);
    assert_eq!(folded, 4, "five entries of region 0 become one");
    assert_eq!(c.replicas[0].ks.get(b"h"), before);
    // The other region folds the same, and both hold the same bytes.
    c.replicas[1].ks.compact(&stable);
    assert_eq!(
        c.replicas[0].ks.encode_key(b"h"),
        c.replicas[1].ks.encode_key(b"h")
    );
}
