//! Payloads arrive from peers: decoding garbage must fail cleanly, and whatever decodes must
//! apply without panicking.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use meridian_crdt::{ActorId, Dot, Keyspace, OpMeta, Payload, VersionVector, hlc};
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
        seed in 0usize..4,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let payloads = [
            Payload::Set { value: Bytes::from_static(b"v") },
            Payload::MvSet { value: Bytes::from_static(b"v"), ctx: Some(VersionVector::new()) },
            Payload::IncrBy { by: 5, from: Some(Dot::new(ActorId(2), 3)) },
            Payload::SAdd(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]),
        ];
        let mut bytes = rmp_serde::to_vec(&payloads[seed]).unwrap();
        for (i, v) in flips {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        let _ = rmp_serde::from_slice::<Payload>(&bytes);
    }
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
