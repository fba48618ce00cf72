//! The keyspace keeps each key's digest, newest stamps and counter count up to date part by
//! part (the members and fields an op names) instead of recomputing them from the whole key.
//! These tests check the incremental figures against a recomputation from scratch after
//! random histories, merges, compactions and forged payloads, and that the digest tells
//! states apart exactly when their canonical bytes differ.

#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::{Replica, forged_observations, forged_score, hll_command, merged, run, steps};
use meridian_crdt::{
    ActorId, Command, Dot, FieldWrite, Keyspace, OpMeta, Payload, Score, ScoreWrite, VersionVector,
    hlc,
};
use proptest::prelude::*;

/// A keyspace loaded key by key from `ks`'s canonical bytes: indexed from scratch.
fn rebuilt(ks: &Keyspace) -> Keyspace {
    let mut out = Keyspace::new();
    for k in ks.retained_keys() {
        out.load_key(k.clone(), &ks.encode_key(k).unwrap()).unwrap();
    }
    out
}

/// The incremental digest equals the recomputed one, and the whole keyspace (states, per-key
/// indexes, visible types, counts) equals one indexed from scratch.
fn check_incremental(ks: &Keyspace) -> Result<(), TestCaseError> {
    prop_assert_eq!(ks.digest(), ks.recompute_digest());
    let fresh = rebuilt(ks);
    prop_assert_eq!(fresh.digest(), ks.digest());
    for k in ks.retained_keys() {
        prop_assert_eq!(fresh.key_type(k), ks.key_type(k));
        prop_assert_eq!(fresh.key_digest(k), ks.key_digest(k));
    }
    prop_assert_eq!(&fresh, ks);
    Ok(())
}

fn name(prefix: &'static str, n: u8) -> Bytes {
    Bytes::from(format!("{prefix}{n}"))
}

/// Commands on many members and fields, so that sets and hashes grow past a few entries and
/// members carry several concurrent tags.
fn wide_command() -> impl Strategy<Value = Command> + Clone {
    let member = (0u8..24).prop_map(|n| name("m", n));
    let field = (0u8..16).prop_map(|n| name("f", n));
    let value = prop_oneof![
        Just(Bytes::from_static(b"1")),
        Just(Bytes::from_static(b"x"))
    ];
    prop_oneof![
        6 => proptest::collection::vec(member.clone(), 1..6).prop_map(Command::SAdd),
        3 => proptest::collection::vec(member, 1..4).prop_map(Command::SRem),
        5 => proptest::collection::vec((field.clone(), value.clone()), 1..4).prop_map(Command::HSet),
        2 => proptest::collection::vec(field.clone(), 1..3).prop_map(Command::HDel),
        3 => (field, -3i64..4).prop_map(|(field, by)| Command::HIncrBy { field, by }),
        1 => value.prop_map(Command::Set),
        1 => (-3i64..4).prop_map(Command::IncrBy),
        1 => Just(Command::Del),
        4 => wide_zset_command(),
        2 => hll_command(),
    ]
}

/// Sorted set writes on many members, with scores whose sums round and infinities.
fn wide_zset_command() -> impl Strategy<Value = Command> + Clone {
    let member = (0u8..24).prop_map(|n| name("m", n));
    let score = proptest::sample::select(&[0.5, -0.0, 0.1, 0.2, 1e16, f64::INFINITY][..])
        .prop_map(Score::new);
    prop_oneof![
        3 => proptest::collection::vec((member.clone(), score.clone()), 1..6).prop_map(Command::ZAdd),
        3 => (member.clone(), score).prop_map(|(member, by)| Command::ZIncrBy { member, by }),
        2 => proptest::collection::vec(member, 1..4).prop_map(Command::ZRem),
    ]
}

/// Any payload a peer could send, repeated names and unseen dots included.
fn forged_payload() -> impl Strategy<Value = Payload> {
    let member = (0u8..6).prop_map(|n| name("m", n));
    let field = (0u8..4).prop_map(|n| name("f", n));
    let value = prop_oneof![
        Just(Bytes::from_static(b"5")),
        Just(Bytes::from_static(b"v"))
    ];
    let dot = (1u32..3, 1u64..6).prop_map(|(a, s)| Dot::new(ActorId(a), s));
    prop_oneof![
        proptest::collection::vec(member.clone(), 0..5).prop_map(Payload::SAdd),
        proptest::collection::vec(member.clone(), 0..5).prop_map(Payload::SRem),
        proptest::collection::vec((field.clone(), value.clone()), 0..4).prop_map(|w| {
            Payload::HSet(
                w.into_iter()
                    .map(|(field, value)| FieldWrite { field, value })
                    .collect(),
            )
        }),
        proptest::collection::vec(field.clone(), 0..4).prop_map(Payload::HDel),
        (field, -3i64..4, proptest::option::of(dot.clone()))
            .prop_map(|(field, by, from)| Payload::HIncrBy { field, by, from }),
        (-3i64..4, proptest::option::of(dot)).prop_map(|(by, from)| Payload::IncrBy { by, from }),
        value
            .clone()
            .prop_map(|value| Payload::MvSet { value, ctx: None }),
        value.prop_map(|value| Payload::Set { value }),
        Just(Payload::Del),
        proptest::collection::vec((member.clone(), forged_score()), 0..5).prop_map(|w| {
            Payload::ZAdd(
                w.into_iter()
                    .map(|(member, score)| ScoreWrite { member, score })
                    .collect(),
            )
        }),
        (member.clone(), forged_score()).prop_map(|(member, by)| Payload::ZIncrBy { member, by }),
        proptest::collection::vec(member, 0..5).prop_map(Payload::ZRem),
        forged_observations().prop_map(Payload::PfAdd),
    ]
}

/// The canonical bytes of every key of `r`.
fn canonical(r: &Replica) -> Vec<(Bytes, Vec<u8>)> {
    r.ks.retained_keys()
        .map(|k| (k.clone(), r.ks.encode_key(k).unwrap()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn incremental_digest_matches_recomputation_after_random_histories(
        n in 2usize..4,
        history in steps(wide_command()),
        choices in proptest::collection::vec(any::<u8>(), 1..8),
    ) {
        let (mut c, snaps) = run(n, &history);
        for s in &snaps {
            check_incremental(&s.ks)?;
        }
        c.deliver_all(&choices);
        for i in 0..n {
            check_incremental(&c.replicas[i].ks)?;
            c.compact(i);
            check_incremental(&c.replicas[i].ks)?;
        }
    }

    #[test]
    fn incremental_digest_matches_recomputation_after_merges(
        n in 2usize..4,
        history in steps(wide_command()),
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 2),
    ) {
        let (_, snaps) = run(n, &history);
        let a = picks[0].get(&snaps);
        let b = picks[1].get(&snaps);
        check_incremental(&merged(a, b).ks)?;
        // And ops applied on top of a merged state keep it right.
        let mut ab = merged(a, b);
        let deps = ab.applied.clone();
        let meta = OpMeta { dot: Dot::new(ActorId(9), 1), hlc: hlc(9, 0), deps: &deps };
        for k in common::KEYS {
            let key = Bytes::from_static(k.as_bytes());
            ab.ks.apply(&key, meta, &Payload::SAdd(vec![name("m", 1), name("m", 30)]));
            ab.ks.apply(&key, meta, &Payload::HDel(vec![name("f", 1)]));
            let by = Score::new(0.1);
            ab.ks.apply(&key, meta, &Payload::ZIncrBy { member: name("m", 2), by });
        }
        check_incremental(&ab.ks)?;
    }

    #[test]
    fn incremental_digest_matches_recomputation_after_forged_payloads(
        ops in proptest::collection::vec((forged_payload(), 1u32..3, 1u64..8, 0u64..5, 0u64..5), 0..40),
    ) {
        let mut ks = Keyspace::new();
        let key = Bytes::from_static(b"k");
        for (p, actor, seq, covered, time) in &ops {
            let deps: VersionVector = [(ActorId(1), *covered), (ActorId(2), *covered / 2)]
                .into_iter()
                .collect();
            let meta = OpMeta { dot: Dot::new(ActorId(*actor), *seq), hlc: hlc(*time, 0), deps: &deps };
            ks.apply(&key, meta, p);
            check_incremental(&ks)?;
        }
    }

    #[test]
    fn digests_are_equal_exactly_when_canonical_states_are(
        n in 2usize..4,
        history in steps(wide_command()),
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 2),
    ) {
        let (_, snaps) = run(n, &history);
        let a = picks[0].get(&snaps);
        let b = picks[1].get(&snaps);
        prop_assert_eq!(a.ks.digest() == b.ks.digest(), canonical(a) == canonical(b));
        for k in common::KEYS {
            prop_assert_eq!(
                a.ks.key_digest(k.as_bytes()) == b.ks.key_digest(k.as_bytes()),
                a.ks.encode_key(k.as_bytes()) == b.ks.encode_key(k.as_bytes()),
            );
        }
    }
}

#[test]
fn a_member_named_twice_in_one_op_is_counted_once() {
    // XOR-ing a part twice cancels it: a peer's SADD that repeats a member must still leave
    // the member in the digest.
    let mut ks = Keyspace::new();
    let key = Bytes::from_static(b"s");
    let deps = VersionVector::new();
    let meta = OpMeta {
        dot: Dot::new(ActorId(1), 1),
        hlc: hlc(1, 0),
        deps: &deps,
    };
    let m = Bytes::from_static(b"a");
    ks.apply(&key, meta, &Payload::SAdd(vec![m.clone(), m]));
    assert_eq!(ks.digest(), ks.recompute_digest());
    assert_ne!(ks.digest(), meridian_crdt::Digest::ZERO);
}

#[test]
fn a_member_named_twice_in_one_zadd_or_zrem_is_counted_once() {
    // As for SADD: a peer's ZADD or ZREM that repeats a member must leave the digest right.
    let mut ks = Keyspace::new();
    let key = Bytes::from_static(b"z");
    let deps = VersionVector::new();
    let meta = OpMeta {
        dot: Dot::new(ActorId(1), 1),
        hlc: hlc(1, 0),
        deps: &deps,
    };
    let write = |v: f64| ScoreWrite {
        member: name("m", 1),
        score: Score::new(v),
    };
    ks.apply(&key, meta, &Payload::ZAdd(vec![write(1.0), write(2.0)]));
    assert_eq!(ks.digest(), ks.recompute_digest());
    assert_ne!(ks.digest(), meridian_crdt::Digest::ZERO);
    assert_eq!(ks.zset(&key).unwrap().score(b"m1"), Some(1.0));
    let deps: VersionVector = [(ActorId(1), 1)].into_iter().collect();
    let meta = OpMeta {
        dot: Dot::new(ActorId(1), 2),
        hlc: hlc(2, 0),
        deps: &deps,
    };
    ks.apply(&key, meta, &Payload::ZRem(vec![name("m", 1), name("m", 1)]));
    assert_eq!(ks.digest(), ks.recompute_digest());
    assert_eq!(ks.digest(), meridian_crdt::Digest::ZERO);
}

#[test]
fn set_and_hash_views_read_members_and_fields_in_place() {
    let mut ks = Keyspace::new();
    let deps = VersionVector::new();
    let meta = OpMeta {
        dot: Dot::new(ActorId(1), 1),
        hlc: hlc(1, 0),
        deps: &deps,
    };
    let s = Bytes::from_static(b"s");
    let h = Bytes::from_static(b"h");
    ks.apply(&s, meta, &Payload::SAdd(vec![name("m", 2), name("m", 1)]));
    let hset = Payload::HSet(vec![FieldWrite {
        field: name("f", 1),
        value: Bytes::from_static(b"v"),
    }]);
    ks.apply(&h, meta, &hset);
    let view = ks.set(&s).unwrap();
    assert!(view.contains(b"m1") && !view.contains(b"m3"));
    assert_eq!(view.len(), 2);
    assert_eq!(
        view.iter().cloned().collect::<Vec<_>>(),
        [name("m", 1), name("m", 2)]
    );
    assert_eq!(ks.set(&h).unwrap_err(), meridian_crdt::KeyType::Hash);
    assert!(ks.set(b"absent").unwrap().is_empty());
    let view = ks.hash(&h).unwrap();
    assert_eq!(view.get(b"f1"), Some(Bytes::from_static(b"v")));
    assert_eq!(view.get(b"f2"), None);
    assert!(view.contains(b"f1"));
    assert_eq!(view.len(), 1);
    assert_eq!(ks.hash(&s).unwrap_err(), meridian_crdt::KeyType::Set);
}
