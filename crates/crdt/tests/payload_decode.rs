//! Payloads arrive from peers: decoding garbage must fail cleanly, and whatever decodes must
//! apply without panicking.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use meridian_crdt::hll::{MAX_RANK, Observation, REGISTERS};
use meridian_crdt::{
    ActorId, Dot, Keyspace, OpMeta, Payload, Score, ScoreWrite, VersionVector, hlc,
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn decoding_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(p) = rmp_serde::from_slice::<Payload>(&bytes) {
            let mut ks = Keyspace::new();
            let deps = VersionVector::new();
            let meta = OpMeta { dot: Dot::new(ActorId(1), 1), hlc: hlc(1, 0), deps: &deps };
            ks.apply(&Bytes::from_static(b"k"), meta, &p);
            prop_assert_eq!(ks.digest(), ks.recompute_digest());
        }
    }

    #[test]
    fn mutated_encodings_never_panic(
        seed in 0usize..7,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let payloads = [
            Payload::Set { value: Bytes::from_static(b"v") },
            Payload::MvSet { value: Bytes::from_static(b"v"), ctx: Some(VersionVector::new()) },
            Payload::IncrBy { by: 5, from: Some(Dot::new(ActorId(2), 3)) },
            Payload::SAdd(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]),
            zadd(&[("a", 1.5), ("b", -0.0)]),
            Payload::ZIncrBy { member: Bytes::from_static(b"a"), by: Score::new(0.1) },
            Payload::ZRem(vec![Bytes::from_static(b"a")]),
        ];
        let mut bytes = rmp_serde::to_vec(&payloads[seed]).unwrap();
        for (i, v) in flips {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        let _ = rmp_serde::from_slice::<Payload>(&bytes);
    }

    /// A score is eight bytes of a peer's choosing: whatever they say, applying the payload
    /// must not panic and must not store a NaN (the key must still load from its encoding,
    /// which refuses NaN).
    #[test]
    fn sorted_set_payloads_with_any_score_bits_apply_without_storing_nan(
        seed in 0usize..3,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
    ) {
        let payloads = [
            zadd(&[("a", 1.5), ("b", f64::INFINITY)]),
            Payload::ZIncrBy { member: Bytes::from_static(b"a"), by: Score::new(f64::NEG_INFINITY) },
            Payload::ZRem(vec![Bytes::from_static(b"a")]),
        ];
        let mut bytes = rmp_serde::to_vec(&payloads[seed]).unwrap();
        for (i, v) in flips {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        if let Ok(p) = rmp_serde::from_slice::<Payload>(&bytes) {
            let key = Bytes::from_static(b"k");
            let mut ks = Keyspace::new();
            let deps = VersionVector::new();
            let meta = OpMeta { dot: Dot::new(ActorId(1), 1), hlc: hlc(1, 0), deps: &deps };
            ks.apply(&key, meta, &zadd(&[("a", f64::INFINITY), ("b", 2.0)]));
            let deps = VersionVector::new();
            let meta = OpMeta { dot: Dot::new(ActorId(2), 1), hlc: hlc(2, 0), deps: &deps };
            ks.apply(&key, meta, &p);
            prop_assert!(digest_kept_and_loads_back(&ks, &key));
            if let Ok(z) = ks.zset(&key) {
                prop_assert!(z.iter_after(None).all(|(_, s)| !s.is_nan()));
            }
        }
    }
}

/// Whether `ks`'s digest agrees with a recomputation and `key` loads back from its encoding
/// into a fresh keyspace (the decoder refuses what no keyspace can hold).
fn digest_kept_and_loads_back(ks: &Keyspace, key: &Bytes) -> bool {
    ks.digest() == ks.recompute_digest()
        && ks
            .encode_key(key)
            .is_none_or(|state| Keyspace::new().load_key(key.clone(), &state).is_ok())
}

fn zadd(pairs: &[(&'static str, f64)]) -> Payload {
    Payload::ZAdd(
        pairs
            .iter()
            .map(|(m, s)| ScoreWrite {
                member: Bytes::from_static(m.as_bytes()),
                score: Score::new(*s),
            })
            .collect(),
    )
}

#[test]
fn payloads_round_trip_through_rmp_serde() {
    let p = Payload::IncrBy {
        by: -3,
        from: Some(Dot::new(ActorId(1), 2)),
    };
    let bytes = rmp_serde::to_vec(&p).unwrap();
    assert_eq!(rmp_serde::from_slice::<Payload>(&bytes).unwrap(), p);
}

#[test]
fn sorted_set_payloads_round_trip_with_their_score_bits() {
    // -0 stays -0 and a NaN keeps its bits on the wire (it is refused where it would apply).
    for p in [
        zadd(&[("a", -0.0), ("b", f64::NEG_INFINITY), ("c", 0.1)]),
        zadd(&[("n", f64::from_bits(0x7ff8_0000_0000_0001))]),
        Payload::ZIncrBy {
            member: Bytes::from_static(b"a"),
            by: Score::new(-0.0),
        },
        Payload::ZRem(vec![Bytes::from_static(b"a"), Bytes::new()]),
        Payload::Timed {
            write: Box::new(zadd(&[("a", 1.0)])),
            at: 9,
            floor: None,
        },
    ] {
        let bytes = rmp_serde::to_vec(&p).unwrap();
        assert_eq!(rmp_serde::from_slice::<Payload>(&bytes).unwrap(), p);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// A PFADD's registers are a peer's to choose: out of range, rank 0 or past 51, repeated.
    /// Applying them must not panic, must keep only what a sketch can hold, and the key must
    /// load back from its encoding.
    #[test]
    fn hyperloglog_payloads_with_any_registers_apply_and_load(
        registers in proptest::collection::vec((any::<u16>(), any::<u8>()), 0..8),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let p = Payload::PfAdd(
            registers
                .into_iter()
                .map(|(register, rank)| Observation { register, rank })
                .collect(),
        );
        let mut bytes = rmp_serde::to_vec(&p).unwrap();
        prop_assert_eq!(rmp_serde::from_slice::<Payload>(&bytes).unwrap(), p);
        for (i, v) in flips {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        if let Ok(p) = rmp_serde::from_slice::<Payload>(&bytes) {
            let key = Bytes::from_static(b"k");
            let mut ks = Keyspace::new();
            let deps = VersionVector::new();
            let meta = OpMeta { dot: Dot::new(ActorId(1), 1), hlc: hlc(1, 0), deps: &deps };
            ks.apply(&key, meta, &p);
            prop_assert!(digest_kept_and_loads_back(&ks, &key));
            if let Ok(Some(h)) = ks.hll(&key) {
                prop_assert!(h.sketch().observations().all(|o| usize::from(o.register) < REGISTERS
                    && (1..=MAX_RANK).contains(&o.rank)));
            }
        }
    }
}
