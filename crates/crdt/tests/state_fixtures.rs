//! The stable-toolchain twin of the `key_state` fuzz target: its body
//! (`fuzz/bodies/key_state.rs`) runs over the seed inputs in `fuzz/fixtures/key_state/`, over
//! every prefix and every single-bit flip of them, and over states made here. A fixture named
//! `valid-*` must load and one named `bad-*` must not; a crash libFuzzer finds is kept there so
//! that it runs here on every `cargo test`.

#![allow(clippy::expect_used)]

use std::fs;
use std::path::PathBuf;

use bytes::Bytes;
use meridian_crdt::{
    ActorId, Command, Dot, Keyspace, OpMeta, Score, StateDecodeError, VersionVector, hlc,
};

#[path = "../../../fuzz/bodies/key_state.rs"]
mod body;

/// Every fixture of `fuzz/fixtures/<target>/`, sorted by name.
fn fixtures(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/fixtures")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .expect("fixtures directory")
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("UTF-8 fixture name")
                .to_owned();
            (name, fs::read(&path).expect("fixture"))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn fixtures_load_as_named_and_never_panic() {
    let fixtures = fixtures("key_state");
    let valid = fixtures
        .iter()
        .filter(|(n, _)| n.starts_with("valid-"))
        .count();
    let bad = fixtures
        .iter()
        .filter(|(n, _)| n.starts_with("bad-"))
        .count();
    assert!(valid > 0 && bad > 0, "valid and bad seeds: {fixtures:?}");
    assert_eq!(
        valid + bad,
        fixtures.len(),
        "every fixture is valid-* or bad-*"
    );
    for (name, bytes) in &fixtures {
        assert_eq!(body::check(bytes), name.starts_with("valid-"), "{name}");
        for len in 0..bytes.len() {
            body::check(&bytes[..len]);
        }
        let mut flipped = bytes.clone();
        for i in 0..flipped.len() * 8 {
            flipped[i / 8] ^= 1 << (i % 8);
            body::check(&flipped);
            flipped[i / 8] ^= 1 << (i % 8);
        }
    }
}

/// The encoding of key `k` after actor 1 runs `cmds` in order on an empty keyspace.
fn state_after(cmds: Vec<Command>) -> Vec<u8> {
    let key = Bytes::from_static(b"k");
    let mut ks = Keyspace::new();
    let mut applied = VersionVector::new();
    for (seq, cmd) in (1..).zip(cmds) {
        let payload = ks.prepare(&key, cmd, &applied).expect("prepare");
        let meta = OpMeta {
            dot: Dot::new(ActorId(1), seq),
            hlc: hlc(seq, 0),
            deps: &applied,
        };
        ks.apply(&key, meta, &payload);
        applied.set(ActorId(1), seq);
    }
    ks.encode_key(b"k").expect("k holds state")
}

#[test]
fn states_made_here_load() {
    let b = |s: &'static str| Bytes::from_static(s.as_bytes());
    for cmds in [
        vec![Command::Set(b("v"))],
        vec![Command::IncrBy(i64::MAX), Command::IncrBy(i64::MIN)],
        vec![Command::IncrBy(3), Command::Del, Command::IncrBy(2)],
        vec![
            Command::SAdd(vec![b("a"), b("b")]),
            Command::SRem(vec![b("b")]),
        ],
        vec![
            Command::HSet(vec![(b("f"), b("7"))]),
            Command::HIncrBy {
                field: b("f"),
                by: -9,
            },
            Command::HSet(vec![(b("g"), b("1"))]),
            Command::HDel(vec![b("f")]),
        ],
        vec![Command::MvSet {
            value: b("m"),
            ctx: None,
        }],
        vec![Command::SetTimed {
            value: b("v"),
            at: Some(1_700_000_000_000),
        }],
        vec![
            Command::IncrBy(1),
            Command::Expire(Some(9)),
            Command::IncrBy(1),
            Command::Expire(None),
        ],
        vec![
            Command::ZAdd(vec![
                (b("a"), Score::new(1.5)),
                (b("b"), Score::new(-0.0)),
                (b("c"), Score::new(f64::NEG_INFINITY)),
            ]),
            Command::ZIncrBy {
                member: b("a"),
                by: Score::new(0.1),
            },
            Command::ZIncrBy {
                member: b("d"),
                by: Score::new(f64::INFINITY),
            },
            Command::ZRem(vec![b("c")]),
        ],
        vec![
            Command::ZAdd(vec![(b("a"), Score::new(1.0))]),
            Command::Expire(Some(9)),
            Command::ZIncrBy {
                member: b("a"),
                by: Score::new(2.0),
            },
        ],
    ] {
        let bytes = state_after(cmds);
        assert!(body::check(&bytes), "{bytes:?}");
        assert!(!body::check(&bytes[..bytes.len() - 1]));
    }
}

#[test]
fn compacted_counters_load_and_deleted_ones_leave_nothing() {
    let key = Bytes::from_static(b"k");
    let mut ks = Keyspace::new();
    let mut applied = VersionVector::new();
    for (seq, by) in (1..).zip([4, -1, 9]) {
        let payload = ks
            .prepare(&key, Command::IncrBy(by), &applied)
            .expect("prepare");
        let meta = OpMeta {
            dot: Dot::new(ActorId(1), seq),
            hlc: hlc(seq, 0),
            deps: &applied,
        };
        ks.apply(&key, meta, &payload);
        applied.set(ActorId(1), seq);
    }
    assert_eq!(ks.compact(&applied), 2);
    let bytes = ks.encode_key(b"k").expect("k holds state");
    assert!(body::check(&bytes), "{bytes:?}");
    let payload = ks.prepare(&key, Command::Del, &applied).expect("prepare");
    let meta = OpMeta {
        dot: Dot::new(ActorId(1), 4),
        hlc: hlc(4, 0),
        deps: &applied,
    };
    ks.apply(&key, meta, &payload);
    assert_eq!(ks.encode_key(b"k"), None);
}

/// The fixture `name` of `fuzz/fixtures/key_state/`.
fn fixture(name: &str) -> Vec<u8> {
    fixtures("key_state")
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, bytes)| bytes)
        .expect("fixture")
}

#[test]
fn zset_fixtures_read_as_written_and_bad_ones_fail_for_the_reason_named() {
    // valid-zset: actor 1 ran ZADD a 1.5 b -0 c +inf, ZINCRBY a 0.1, ZREM c; the compacted one
    // then compacted at everything it applied.
    for name in ["valid-zset", "valid-zset-compacted"] {
        let mut ks = Keyspace::new();
        ks.load_key(Bytes::from_static(b"k"), &fixture(name))
            .expect(name);
        let z = ks.zset(b"k").expect("a sorted set");
        let read: Vec<(Bytes, u64)> = z
            .by_rank(0, z.len(), false)
            .map(|(m, s)| (m.clone(), s.to_bits()))
            .collect();
        let want = [
            (Bytes::from_static(b"b"), (-0.0f64).to_bits()),
            (Bytes::from_static(b"a"), (1.5f64 + 0.1).to_bits()),
        ];
        assert_eq!(read, want, "{name}");
    }
    let load = |name: &str| {
        Keyspace::new()
            .load_key(Bytes::from_static(b"k"), &fixture(name))
            .expect_err(name)
    };
    assert_eq!(
        load("bad-zset-nan-score"),
        StateDecodeError::NotCanonical("a score is NaN")
    );
    assert_eq!(
        load("bad-zset-entries-out-of-order"),
        StateDecodeError::NotCanonical("score entries out of order")
    );
    assert_eq!(
        load("bad-zset-unknown-entry-kind"),
        StateDecodeError::BadTag {
            what: "score entry kind",
            found: 3
        }
    );
}

#[test]
fn compacted_scores_load_and_removed_members_leave_nothing() {
    let key = Bytes::from_static(b"k");
    let mut ks = Keyspace::new();
    let mut applied = VersionVector::new();
    let b = |s: &'static str| Bytes::from_static(s.as_bytes());
    let cmds = [
        Command::ZAdd(vec![(b("m"), Score::new(0.1))]),
        Command::ZIncrBy {
            member: b("m"),
            by: Score::new(0.2),
        },
        Command::ZIncrBy {
            member: b("m"),
            by: Score::new(0.3),
        },
        Command::ZRem(vec![b("m")]),
    ];
    for (seq, cmd) in (1..).zip(cmds) {
        if seq == 4 {
            assert_eq!(ks.compact(&applied), 2);
            let bytes = ks.encode_key(b"k").expect("k holds state");
            assert!(body::check(&bytes), "{bytes:?}");
        }
        let payload = ks.prepare(&key, cmd, &applied).expect("prepare");
        let meta = OpMeta {
            dot: Dot::new(ActorId(1), seq),
            hlc: hlc(seq, 0),
            deps: &applied,
        };
        ks.apply(&key, meta, &payload);
        applied.set(ActorId(1), seq);
    }
    assert_eq!(ks.encode_key(b"k"), None);
}
