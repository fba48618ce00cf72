//! The storage encoding of one key's state (`Keyspace::encode_key` / `load_key`): round trips
//! over random histories, totality on garbage, and one test per decode error.

#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::{Cluster, Replica, any_steps, forged_observations, forged_score, merged, run};
use meridian_crdt::{
    ActorId, Command, Dot, FieldWrite, Keyspace, OpMeta, Payload, STATE_FORMAT_VERSION, Score,
    ScoreWrite, StateDecodeError, Value, VersionVector, hlc,
};
use proptest::prelude::*;

/// Every key of `r` survives encode → load into a fresh keyspace unchanged, and the whole
/// keyspace rebuilt from its keys is equal to the original.
fn check_round_trip(r: &Replica) -> Result<(), TestCaseError> {
    let ks = &r.ks;
    let mut rebuilt = Keyspace::new();
    let mut reloaded = ks.clone();
    let keys: Vec<Bytes> = ks.retained_keys().cloned().collect();
    prop_assert!(keys.windows(2).all(|w| w[0] < w[1]), "sorted");
    prop_assert_eq!(keys.len(), ks.retained_len());
    for key in &keys {
        let bytes = ks.encode_key(key).unwrap();
        prop_assert_eq!(bytes[0], STATE_FORMAT_VERSION);
        prop_assert_eq!(Some(bytes.clone()), ks.canonical_key_bytes(key));

        let mut fresh = Keyspace::new();
        fresh.load_key(key.clone(), &bytes).unwrap();
        prop_assert_eq!(fresh.key_digest(key), ks.key_digest(key));
        prop_assert_eq!(fresh.digest(), ks.key_digest(key).unwrap());
        prop_assert_eq!(fresh.get(key), ks.get(key));
        prop_assert_eq!(fresh.key_type(key), ks.key_type(key));
        prop_assert_eq!(fresh.mv_siblings(key), ks.mv_siblings(key));
        prop_assert_eq!(fresh.contains(key), ks.contains(key));
        prop_assert_eq!(fresh.encode_key(key), Some(bytes.clone()));

        rebuilt.load_key(key.clone(), &bytes).unwrap();
        // Loading over an existing state replaces it and keeps the digest right.
        reloaded.load_key(key.clone(), &bytes).unwrap();
        prop_assert_eq!(reloaded.digest(), reloaded.recompute_digest());
    }
    prop_assert_eq!(rebuilt.digest(), ks.digest());
    prop_assert_eq!(rebuilt.digest(), rebuilt.recompute_digest());
    prop_assert_eq!(rebuilt.len(), ks.len());
    prop_assert_eq!(&rebuilt, ks);
    prop_assert_eq!(&reloaded, ks);

    // Removing every key, one at a time, keeps the digest right down to zero.
    for key in &keys {
        rebuilt.remove_key(key);
        prop_assert_eq!(rebuilt.digest(), rebuilt.recompute_digest());
        prop_assert!(rebuilt.encode_key(key).is_none());
    }
    prop_assert_eq!(rebuilt.digest(), meridian_crdt::Digest::ZERO);
    prop_assert_eq!(rebuilt.retained_len(), 0);
    Ok(())
}

/// Every encoded key state of the replicas (and snapshots) of a random history.
fn encodings(n: usize, steps: &[common::Step]) -> Vec<Vec<u8>> {
    let (_, snaps) = run(n, steps);
    snaps
        .iter()
        .flat_map(|r| {
            r.ks.retained_keys()
                .map(|k| r.ks.encode_key(k).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Loads `bytes`; on success the state must re-encode to `bytes` with a right digest, on
/// failure the keyspace must be unchanged.
fn check_load(bytes: &[u8]) -> Result<(), TestCaseError> {
    let key = Bytes::from_static(b"k");
    let mut ks = Keyspace::new();
    ks.load_key(Bytes::from_static(b"other"), &simple_set())
        .unwrap();
    let before = ks.clone();
    match ks.load_key(key.clone(), bytes) {
        Ok(()) => {
            prop_assert_eq!(ks.encode_key(&key), Some(bytes.to_vec()));
            prop_assert_eq!(ks.digest(), ks.recompute_digest());
            let _ = ks.get(&key);
            let _ = ks.key_type(&key);
            let _ = ks.mv_siblings(&key);
            ks.remove_key(&key);
            prop_assert_eq!(&ks, &before);
        }
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            prop_assert_eq!(&ks, &before);
        }
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(prop::sample::Index, u8),
    Set(prop::sample::Index, u8),
    Truncate(prop::sample::Index),
    Append(Vec<u8>),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<prop::sample::Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        2 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        1 => proptest::collection::vec(any::<u8>(), 1..4).prop_map(Mutation::Append),
        1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<prop::sample::Index>().prop_map(Mutation::Remove),
    ]
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        if let Mutation::Append(b) = m {
            bytes.extend_from_slice(b);
        }
        return;
    }
    let len = bytes.len();
    match m {
        Mutation::Flip(i, bit) => bytes[i.index(len)] ^= 1 << bit,
        Mutation::Set(i, b) => bytes[i.index(len)] = *b,
        Mutation::Truncate(i) => bytes.truncate(i.index(len)),
        Mutation::Append(b) => bytes.extend_from_slice(b),
        Mutation::Insert(i, b) => bytes.insert(i.index(len + 1), *b),
        Mutation::Remove(i) => {
            bytes.remove(i.index(len));
        }
    }
}

fn small_bytes() -> impl Strategy<Value = Bytes> + Clone {
    proptest::collection::vec(0u8..3, 0..3).prop_map(Bytes::from)
}

fn vv() -> impl Strategy<Value = VersionVector> + Clone {
    proptest::collection::vec((0u32..4, 0u64..6), 0..4)
        .prop_map(|e| e.into_iter().map(|(a, s)| (ActorId(a), s)).collect())
}

fn dot() -> impl Strategy<Value = Dot> + Clone {
    (0u32..4, 0u64..6).prop_map(|(a, s)| Dot::new(ActorId(a), s))
}

/// Any payload, as a faulty or hostile peer could send it (unsorted, repeated, stale dots).
fn forged_payload() -> impl Strategy<Value = Payload> {
    let by = prop_oneof![-2i64..3, Just(i64::MAX), Just(i64::MIN)];
    let list = proptest::collection::vec(small_bytes(), 0..3);
    prop_oneof![
        small_bytes().prop_map(|value| Payload::Set { value }),
        (small_bytes(), proptest::option::of(vv()))
            .prop_map(|(value, ctx)| Payload::MvSet { value, ctx }),
        (by.clone(), proptest::option::of(dot()))
            .prop_map(|(by, from)| Payload::IncrBy { by, from }),
        list.clone().prop_map(Payload::SAdd),
        list.prop_map(Payload::SRem),
        proptest::collection::vec((small_bytes(), small_bytes()), 0..3).prop_map(|w| {
            Payload::HSet(
                w.into_iter()
                    .map(|(field, value)| FieldWrite { field, value })
                    .collect(),
            )
        }),
        proptest::collection::vec(small_bytes(), 0..3).prop_map(Payload::HDel),
        (small_bytes(), by, proptest::option::of(dot()))
            .prop_map(|(field, by, from)| Payload::HIncrBy { field, by, from }),
        Just(Payload::Del),
        proptest::collection::vec((small_bytes(), forged_score()), 0..3).prop_map(|w| {
            Payload::ZAdd(
                w.into_iter()
                    .map(|(member, score)| ScoreWrite { member, score })
                    .collect(),
            )
        }),
        (small_bytes(), forged_score()).prop_map(|(member, by)| Payload::ZIncrBy { member, by }),
        proptest::collection::vec(small_bytes(), 0..3).prop_map(Payload::ZRem),
        forged_observations().prop_map(Payload::PfAdd),
    ]
}

/// Whether every sorted set of `ks` reads only numbers.
fn scores_are_numbers(ks: &Keyspace) -> bool {
    ks.retained_keys().all(|k| {
        ks.zset(k)
            .map_or(true, |z| z.iter_after(None).all(|(_, s)| !s.is_nan()))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// `apply` is total on forged payloads, so whatever state they leave must be storable:
    /// a keyspace that cannot reload its own keys would lose them at restart.
    #[test]
    fn states_from_forged_payloads_round_trip(
        ops in proptest::collection::vec(
            (0usize..2, dot(), 0u64..4, vv(), forged_payload()),
            0..24,
        ),
    ) {
        let keys = [Bytes::from_static(b"a"), Bytes::from_static(b"")];
        let mut ks = Keyspace::new();
        for (k, dot, time, deps, payload) in &ops {
            let meta = OpMeta { dot: *dot, hlc: hlc(*time, 0), deps };
            ks.apply(&keys[*k], meta, payload);
            if *time == 0 {
                // Compaction at any vector keeps every state storable.
                ks.compact(deps);
            }
        }
        prop_assert!(scores_are_numbers(&ks));
        check_round_trip(&Replica { ks, applied: VersionVector::new() })?;
    }

    #[test]
    fn every_key_round_trips(n in 2usize..5, steps in any_steps()) {
        let (_, snaps) = run(n, &steps);
        for r in &snaps {
            check_round_trip(r)?;
        }
    }

    #[test]
    fn merged_and_fully_delivered_states_round_trip(
        n in 2usize..5,
        steps in any_steps(),
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 2),
        choices in proptest::collection::vec(any::<u8>(), 1..16),
    ) {
        let (mut c, snaps) = run(n, &steps);
        check_round_trip(&merged(picks[0].get(&snaps), picks[1].get(&snaps)))?;
        c.deliver_all(&choices);
        check_round_trip(&c.replicas[0])?;
    }

    #[test]
    fn mutated_encodings_never_panic(
        n in 2usize..4,
        steps in any_steps(),
        pick in any::<prop::sample::Index>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let all = encodings(n, &steps);
        let mut bytes = if all.is_empty() { simple_set() } else { pick.get(&all).clone() };
        for m in &mutations {
            mutate(&mut bytes, m);
        }
        check_load(&bytes)?;
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        check_load(&bytes)?;
    }

    #[test]
    fn random_bytes_after_a_valid_header_never_panic(
        flags in any::<u8>(),
        rest in proptest::collection::vec(prop_oneof![4 => 0u8..4, 1 => any::<u8>()], 0..48),
    ) {
        let mut bytes = vec![STATE_FORMAT_VERSION, flags];
        bytes.extend(rest);
        check_load(&bytes)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed states and the exact layout.

/// The encoding of a set `{"a"}` added by actor 1 at seq 1, hlc (5, 0).
fn simple_set() -> Vec<u8> {
    let mut c = Cluster::new(1);
    c.write(0, "k", Command::SAdd(vec![Bytes::from_static(b"a")]), 5);
    c.replicas[0].ks.encode_key(b"k").unwrap()
}

#[test]
fn layout_is_compact_and_pinned() {
    let mut c = Cluster::new(1);
    c.write(0, "k", Command::Set(Bytes::from_static(b"v")), 5);
    // version, flags (register), second flags, count 1, dot (actor 1, seq 1), hlc (epoch 0, time 5,
    // count 0), value "v".
    assert_eq!(
        c.replicas[0].ks.encode_key(b"k").unwrap(),
        [3, 0b0000_0001, 0, 1, 1, 1, 0, 5, 0, 1, b'v']
    );
    // version, flags (set), second flags, 1 member "a", 1 tag: dot 1:1, hlc (0, 5, 0).
    assert_eq!(
        simple_set(),
        [3, 0b0001_0000, 0, 1, 1, b'a', 1, 1, 1, 0, 5, 0]
    );
    // version, flags (counter), second flags, 1 entry: actor 1, from 1, width 0, newest +0, hlc (0, 5, 0),
    // sum 3 (zigzag 6).
    let mut c = Cluster::new(1);
    c.write(0, "n", Command::IncrBy(3), 5);
    assert_eq!(
        c.replicas[0].ks.encode_key(b"n").unwrap(),
        [3, 0b0000_0010, 0, 1, 1, 1, 0, 0, 0, 5, 0, 6]
    );
    // Two more increments, compacted: one entry 1..=3, newest 3 (+2) at hlc (0, 7, 0), sum 0.
    c.write(0, "n", Command::IncrBy(-1), 6);
    c.write(0, "n", Command::IncrBy(-2), 7);
    assert_eq!(c.compact(0), 2);
    assert_eq!(
        c.replicas[0].ks.encode_key(b"n").unwrap(),
        [3, 0b0000_0010, 0, 1, 1, 1, 2, 2, 0, 7, 0, 0]
    );
}

#[test]
fn zset_layout_is_compact_and_pinned() {
    let f = |v: f64| v.to_le_bytes();
    let mut c = Cluster::new(1);
    c.write(
        0,
        "k0",
        Command::ZAdd(vec![(Bytes::from_static(b"m"), Score::new(1.5))]),
        5,
    );
    // version, flags (none), second flags (zset), 1 member "m", 1 entry: dot 1:1, hlc (0, 5, 0),
    // kind 0 (set), depth 0 (its writer had applied nothing), score 1.5 as little-endian f64
    // bits.
    let mut want = vec![3, 0, 0b10, 1, 1, b'm', 1, 1, 1, 0, 5, 0, 0, 0];
    want.extend(f(1.5));
    assert_eq!(c.replicas[0].ks.encode_key(b"k0").unwrap(), want);
    c.write(
        0,
        "k0",
        Command::ZIncrBy {
            member: Bytes::from_static(b"m"),
            by: Score::new(-0.25),
        },
        6,
    );
    // A second entry: dot 1:2, hlc (0, 6, 0), kind 1 (add), depth 1.
    let mut want = vec![3, 0, 0b10, 1, 1, b'm', 2, 1, 1, 0, 5, 0, 0, 0];
    want.extend(f(1.5));
    want.extend([1, 2, 0, 6, 0, 1, 1]);
    want.extend(f(-0.25));
    assert_eq!(c.replicas[0].ks.encode_key(b"k0").unwrap(), want);
    // Compacted: one entry of kind 2 (sum): the later entry's dot, the newest's stamp (hlc
    // (0, 6, 0), actor 1), the later depth.
    assert_eq!(c.compact(0), 1);
    let mut want = vec![3, 0, 0b10, 1, 1, b'm', 1, 1, 2, 0, 6, 0, 2, 1, 1];
    want.extend(f(1.25));
    assert_eq!(c.replicas[0].ks.encode_key(b"k0").unwrap(), want);
    check_round_trip(&c.replicas[0]).unwrap();
    // Beside a deadline, the sorted set comes first.
    c.write(0, "k0", Command::Expire(Some(9)), 7);
    let bytes = c.replicas[0].ks.encode_key(b"k0").unwrap();
    assert_eq!(bytes[..3], [3, 0, 0b11]);
    assert_eq!(bytes[3..want.len()], want[3..]);
    check_round_trip(&c.replicas[0]).unwrap();
}

/// The encoding of `k` holding a sorted set with one entry (`m`, 1.5) at dot 1:1: the
/// offsets below name its bytes.
fn simple_zset() -> Vec<u8> {
    let mut b = vec![3, 0, 0b10, 1, 1, b'm', 1, 1, 1, 0, 5, 0, 0, 0];
    b.extend(1.5f64.to_le_bytes());
    Keyspace::new()
        .load_key(Bytes::from_static(b"k"), &b)
        .unwrap();
    b
}

#[test]
fn zset_decode_errors_name_what_is_wrong() {
    // Every NaN is refused, whatever its sign and payload: a score is never NaN.
    for nan in [
        f64::NAN.to_bits(),
        (-f64::NAN).to_bits(),
        0x7ff0_0000_0000_0001,
    ] {
        let mut b = simple_zset();
        b[14..].copy_from_slice(&nan.to_le_bytes());
        assert_eq!(load(&b), StateDecodeError::NotCanonical("a score is NaN"));
    }
    // A kind beyond sum.
    let mut b = simple_zset();
    b[12] = 3;
    assert_eq!(
        load(&b),
        StateDecodeError::BadTag {
            what: "score entry kind",
            found: 3
        }
    );
    // A bit of the second flags byte that names no slot.
    let mut b = simple_zset();
    b[2] = 0b1010;
    assert!(matches!(
        load(&b),
        StateDecodeError::BadTag { found: 0b1010, .. }
    ));
    // Cut anywhere.
    let b = simple_zset();
    for cut in 3..b.len() {
        assert!(
            matches!(
                load(&b[..cut]),
                StateDecodeError::Truncated(_)
                    | StateDecodeError::TooManyEntries { .. }
                    | StateDecodeError::LengthBeyondLimit { .. }
            ),
            "cut at {cut}"
        );
    }
    // Two entries of one member out of dot order: 1:2 before 1:1.
    let entry = |seq: u8, kind: u8, v: f64| {
        let mut e = vec![1, seq, 0, 5, 0, kind, 0];
        e.extend(v.to_le_bytes());
        e
    };
    let mut b = vec![3, 0, 0b10, 1, 1, b'm', 2];
    b.extend(entry(2, 1, 1.0));
    b.extend(entry(1, 0, 2.0));
    assert_eq!(
        load(&b),
        StateDecodeError::NotCanonical("score entries out of order")
    );
    // The same dot twice.
    let mut b = vec![3, 0, 0b10, 1, 1, b'm', 2];
    b.extend(entry(1, 1, 1.0));
    b.extend(entry(1, 0, 2.0));
    assert_eq!(
        load(&b),
        StateDecodeError::NotCanonical("score entries out of order")
    );
    // Members out of order, or repeated.
    for second in [b'a', b'm'] {
        let mut b = vec![3, 0, 0b10, 2, 1, b'm', 1];
        b.extend(entry(1, 0, 1.0));
        b.extend([1, second, 1]);
        b.extend(entry(2, 0, 1.0));
        assert_eq!(
            load(&b),
            StateDecodeError::NotCanonical("sorted set members out of order")
        );
    }
    // A sorted set, or a member, marked present but empty (bytes after it, so that the
    // member count passes its bound).
    let mut empty_member = vec![3, 0, 0b10, 1, 1, b'm', 0];
    empty_member.extend([0; 14]);
    for b in [vec![3, 0, 0b10, 0], empty_member] {
        assert!(matches!(
            load(&b),
            StateDecodeError::NotCanonical("empty collection marked present")
        ));
    }
    // More members claimed than the bytes left could hold.
    let mut b = simple_zset();
    b[3] = 2;
    assert!(matches!(
        load(&b),
        StateDecodeError::TooManyEntries { count: 2, .. }
    ));
}

#[test]
fn deleted_and_compacted_counters_type_clashes_and_siblings_round_trip() {
    let mut c = Cluster::new(3);
    // A counter deleted: nothing left.
    c.write(0, "t", Command::IncrBy(7), 1);
    c.write(0, "t", Command::IncrBy(-2), 2);
    c.write(0, "t", Command::Del, 3);
    // A type clash: a set and a hash created concurrently.
    c.write(1, "clash", Command::SAdd(vec![Bytes::from_static(b"m")]), 4);
    c.write(
        2,
        "clash",
        Command::HSet(vec![(Bytes::from_static(b"f"), Bytes::from_static(b"1"))]),
        4,
    );
    // MV siblings.
    c.write(
        1,
        "mv",
        Command::MvSet {
            value: Bytes::from_static(b"x"),
            ctx: None,
        },
        5,
    );
    c.write(
        2,
        "mv",
        Command::MvSet {
            value: Bytes::from_static(b"y"),
            ctx: None,
        },
        6,
    );
    // A converted string with a hash counter field.
    c.write(0, "n", Command::Set(Bytes::from_static(b"40")), 7);
    c.write(0, "n", Command::IncrBy(2), 8);
    c.write(
        0,
        "h",
        Command::HIncrBy {
            field: Bytes::from_static(b"f"),
            by: -5,
        },
        9,
    );
    c.deliver_all(&[0, 1, 2]);
    let r = &c.replicas[0];
    assert!(!r.ks.retained_keys().any(|k| k.as_ref() == b"t"));
    assert!(!r.ks.contains(b"t"));
    assert!(matches!(r.ks.get(b"mv"), Some(Value::Mv(v)) if v.len() == 2));
    assert_eq!(r.ks.get(b"n"), Some(Value::Int(42)));
    check_round_trip(r).unwrap();
    for key in ["clash", "mv", "n", "h"] {
        let bytes = r.ks.encode_key(key.as_bytes()).unwrap();
        let mut fresh = Keyspace::new();
        fresh.load_key(Bytes::from(key), &bytes).unwrap();
        assert_eq!(
            fresh.key_digest(key.as_bytes()),
            r.ks.key_digest(key.as_bytes())
        );
        assert_eq!(fresh.get(key.as_bytes()), r.ks.get(key.as_bytes()));
    }
    // Further ops apply to loaded state exactly as to the original.
    let mut loaded = Keyspace::new();
    for k in r.ks.retained_keys() {
        loaded
            .load_key(k.clone(), &r.ks.encode_key(k).unwrap())
            .unwrap();
    }
    let mut c2 = c.clone();
    c2.replicas[0].ks = loaded;
    c.write(0, "t", Command::IncrBy(3), 10);
    c2.write(0, "t", Command::IncrBy(3), 10);
    c.write(0, "n", Command::IncrBy(1), 11);
    c2.write(0, "n", Command::IncrBy(1), 11);
    assert_eq!(c.replicas[0].ks, c2.replicas[0].ks);
    assert_eq!(c2.replicas[0].ks.get(b"t"), Some(Value::Int(3)));
    assert_eq!(c2.replicas[0].ks.get(b"n"), Some(Value::Int(43)));
    // And to compacted state, reloaded.
    c.deliver_all(&[0]);
    for i in 0..3 {
        c.compact(i);
    }
    check_round_trip(&c.replicas[0]).unwrap();
    assert_eq!(c.replicas[0].ks.counter_entries(b"n"), 1);
}

#[test]
fn absent_keys_encode_to_nothing_and_remove_is_a_no_op() {
    let mut ks = Keyspace::new();
    assert_eq!(ks.encode_key(b"nope"), None);
    ks.remove_key(b"nope");
    assert_eq!(ks, Keyspace::new());
    assert_eq!(ks.retained_keys().count(), 0);
}

// ---------------------------------------------------------------------------------------------
// One test per error.

fn load(bytes: &[u8]) -> StateDecodeError {
    let mut ks = Keyspace::new();
    let e = ks.load_key(Bytes::from_static(b"k"), bytes).unwrap_err();
    assert_eq!(ks, Keyspace::new(), "errors leave the keyspace unchanged");
    e
}

#[test]
fn error_truncated() {
    let e = load(&[]);
    assert_eq!(e, StateDecodeError::Truncated("the format version"));
    assert!(e.to_string().contains("truncated"), "{e}");
    assert!(matches!(load(&[3, 1]), StateDecodeError::Truncated(_)));
    let full = simple_set();
    for cut in 1..full.len() {
        assert!(
            matches!(
                load(&full[..cut]),
                StateDecodeError::Truncated(_)
                    | StateDecodeError::TooManyEntries { .. }
                    | StateDecodeError::LengthBeyondLimit { .. }
            ),
            "cut at {cut}"
        );
    }
    // Inside a varint: a set member's length that never ends.
    assert_eq!(
        load(&[3, 0x10, 0, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]),
        StateDecodeError::Truncated("a set member")
    );
}

#[test]
fn error_unknown_version() {
    let mut b = simple_set();
    b[0] = 4;
    let e = load(&b);
    assert_eq!(e, StateDecodeError::UnknownVersion(4));
    assert!(
        e.to_string().contains("unknown key state format version 4"),
        "{e}"
    );
    // Version 1 (counters with cells and floors) and version 2 (no deadlines) are not read by
    // this build.
    b[0] = 1;
    assert_eq!(load(&b), StateDecodeError::UnknownVersion(1));
    b[0] = 2;
    assert_eq!(load(&b), StateDecodeError::UnknownVersion(2));
}

#[test]
fn error_bad_tag() {
    // Every bit of the key's flags names a slot; a list run's flags use bits 0-3 only.
    let e = load(&[3, 0x40, 0, 1, 1, 0, 5, 0, 1, 0x10, 1, 1, 0, 1]);
    assert!(
        matches!(
            e,
            StateDecodeError::BadTag {
                found: 0x10,
                what: "sequence run"
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("bad tag"), "{e}");
    // A hash field takes only scalar slots (bits 0-2): flags 0x08 (mv) is a bad tag there.
    let e = load(&[3, 0x20, 0, 1, 1, b'f', 0x08, 1, 1, 1, 0, 5, 0]);
    assert!(
        matches!(
            e,
            StateDecodeError::BadTag {
                found: 0x08,
                what: "hash field"
            }
        ),
        "{e}"
    );
}

#[test]
fn error_too_many_entries() {
    // A register claiming 2^63 entries in a handful of bytes: refused before any loop.
    let e = load(&[
        3, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0,
    ]);
    assert!(matches!(e, StateDecodeError::TooManyEntries { .. }), "{e}");
    assert!(e.to_string().contains("too many entries"), "{e}");
    // Two entries claimed, room for one at most.
    let mut b = vec![3, 1, 0, 2, 1, 1, 0, 5, 0, 1, b'v'];
    assert!(matches!(
        load(&b),
        StateDecodeError::TooManyEntries { count: 2, .. }
    ));
    b[3] = 1;
    Keyspace::new()
        .load_key(Bytes::from_static(b"k"), &b)
        .unwrap();
}

#[test]
fn error_length_beyond_limit() {
    // A register value claiming 2^40 bytes.
    let e = load(&[
        3, 1, 0, 1, 1, 1, 0, 5, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, b'v',
    ]);
    assert!(
        matches!(e, StateDecodeError::LengthBeyondLimit { len, .. } if len == 1 << 40),
        "{e}"
    );
    assert!(e.to_string().contains("length beyond limit"), "{e}");
    // One byte too long.
    let e = load(&[3, 1, 0, 1, 1, 1, 0, 5, 0, 2, b'v']);
    assert!(matches!(
        e,
        StateDecodeError::LengthBeyondLimit {
            len: 2,
            remaining: 1,
            ..
        }
    ));
}

#[test]
fn error_not_canonical() {
    let cases: &[(&[u8], &str)] = &[
        // Nothing retained.
        (&[3, 0, 0], "nothing retained"),
        // A register marked present but empty.
        (&[3, 1, 0, 0], "empty collection"),
        // A non-minimal varint (seq 1 as 0x81 0x00).
        (
            &[3, 1, 0, 1, 1, 0x81, 0x00, 0, 5, 0, 1, b'v'],
            "not minimal",
        ),
        // A varint beyond 64 bits.
        (
            &[
                3, 1, 0, 1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
            ],
            "overflows",
        ),
        // An actor beyond u32.
        (
            &[
                3, 1, 0, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 1, 0, 5, 0, 1, b'v',
            ],
            "out of range",
        ),
        // Dots out of order: 1:2 then 1:1.
        (
            &[3, 1, 0, 2, 1, 2, 0, 5, 0, 1, b'v', 1, 1, 0, 5, 0, 1, b'w'],
            "out of order",
        ),
        // A repeated set member.
        (
            &[
                3, 0x10, 0, 2, 1, b'a', 1, 1, 1, 0, 5, 0, 1, b'a', 1, 2, 1, 0, 5, 0,
            ],
            "out of order",
        ),
        // Counter entries 1:1..=2 and 1:2..=2 overlap.
        (
            &[
                3, 0x02, 0, 2, 1, 1, 1, 0, 0, 5, 0, 2, 1, 2, 0, 0, 0, 5, 0, 2,
            ],
            "overlapping",
        ),
        // Counter entries out of order: actor 2 before actor 1.
        (
            &[
                3, 0x02, 0, 2, 2, 1, 0, 0, 0, 5, 0, 2, 1, 1, 0, 0, 0, 5, 0, 2,
            ],
            "out of order",
        ),
        // A counter entry's newest seq outside its span 1..=1.
        (&[3, 0x02, 0, 1, 1, 1, 0, 1, 0, 5, 0, 2], "newest outside"),
        // One increment summing to 2^63: beyond i64.
        (
            &[
                3, 0x02, 0, 1, 1, 1, 0, 0, 0, 5, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                0x80, 0x02,
            ],
            "sum out of range",
        ),
        // A hash field holding nothing.
        (
            &[3, 0x20, 0, 1, 1, b'f', 0, 0, 0, 0, 0, 0],
            "nothing retained",
        ),
    ];
    for (bytes, what) in cases {
        let e = load(bytes);
        assert!(
            matches!(e, StateDecodeError::NotCanonical(_)),
            "{bytes:?}: {e}"
        );
        assert!(e.to_string().contains("not canonical"), "{e}");
        assert!(
            e.to_string().contains(what),
            "{bytes:?}: {e} lacks {what:?}"
        );
    }
}

#[test]
fn error_trailing_bytes() {
    let mut b = simple_set();
    b.extend_from_slice(&[0, 0]);
    let e = load(&b);
    assert_eq!(e, StateDecodeError::TrailingBytes(2));
    assert!(e.to_string().contains("trailing bytes"), "{e}");
}
