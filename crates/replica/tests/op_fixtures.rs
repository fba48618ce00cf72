//! The stable-toolchain twin of the `op_record` fuzz target: its body
//! (`fuzz/bodies/op_record.rs`) runs over the seed inputs in `fuzz/fixtures/op_record/`, over
//! every prefix and every single-bit flip of them, and over ops made here. A fixture named
//! `valid-*` must decode and one named `bad-*` must not; a crash libFuzzer finds is kept there
//! so that it runs here on every `cargo test`.
//!
//! This crate does no IO (see its `clippy.toml`), so the fixtures are embedded with
//! `include_bytes!`: a file added to `fuzz/fixtures/op_record/` must be named in `FIXTURES`.

#![allow(clippy::expect_used)]

use bytes::Bytes;
use meridian_crdt::{ActorId, Dot, FieldWrite, Payload, VersionVector, hlc};
use meridian_replica::{MAX_SEQ, Op};

#[path = "../../../fuzz/bodies/op_record.rs"]
mod body;

macro_rules! fixtures {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("../../../fuzz/fixtures/op_record/", $name)) as &[u8])),*]
    };
}

/// Every fixture of `fuzz/fixtures/op_record/`.
const FIXTURES: &[(&str, &[u8])] = fixtures![
    "bad-empty",
    "bad-garbage",
    "bad-nil-body",
    "bad-truncated",
    "bad-truncated-half",
    "bad-unknown-payload-variant",
    "bad-version-0",
    "bad-version-1",
    "bad-version-3",
    "bad-version-only",
    "valid-del",
    "valid-hincrby",
    "valid-hset",
    "valid-incrby",
    "valid-incrby-converting",
    "valid-incrby-negative",
    "valid-mvset",
    "valid-sadd",
    "valid-set",
    "valid-set-integer",
    "valid-srem",
];

#[test]
fn fixtures_decode_as_named_and_never_panic() {
    for (name, bytes) in FIXTURES {
        assert!(
            name.starts_with("valid-") || name.starts_with("bad-"),
            "{name}"
        );
        assert_eq!(body::check(bytes), name.starts_with("valid-"), "{name}");
        for len in 0..bytes.len() {
            body::check(&bytes[..len]);
        }
        let mut flipped = bytes.to_vec();
        for i in 0..flipped.len() * 8 {
            flipped[i / 8] ^= 1 << (i % 8);
            body::check(&flipped);
            flipped[i / 8] ^= 1 << (i % 8);
        }
    }
}

#[test]
fn ops_made_here_decode() {
    let mut deps = VersionVector::new();
    deps.set(ActorId(2), 5);
    deps.set(ActorId(u32::MAX), MAX_SEQ);
    let b = |s: &'static str| Bytes::from_static(s.as_bytes());
    for payload in [
        Payload::Set { value: b("v") },
        Payload::IncrBy {
            by: i64::MIN,
            from: Some(Dot::new(ActorId(2), 5)),
        },
        Payload::SAdd(vec![b("a"), b("")]),
        Payload::HSet(vec![FieldWrite {
            field: b("f"),
            value: b("1"),
        }]),
        Payload::HDel(vec![b("f")]),
        Payload::Del,
    ] {
        // Inside a unit and outside one.
        let continues = matches!(payload, Payload::Del);
        let op = Op {
            origin: ActorId(1),
            seq: MAX_SEQ,
            hlc: hlc(u64::MAX, u32::MAX),
            deps: deps.clone(),
            key: Bytes::from(vec![0xff; 300]),
            payload,
            continues,
        };
        let bytes = op.encode();
        assert!(body::check(&bytes), "{op:?}");
        assert_eq!(Op::decode(&bytes).expect("decodes"), op);
        assert!(!body::check(&bytes[..bytes.len() - 1]));
    }
}
