//! What a sorted set costs: memory per member and CPU per ZADD and ZINCRBY in a `Keyspace`,
//! beside redis-server's `used_memory` for the same members in the same run.
//!
//! `cargo bench -p meridian-crdt --bench zsets [-- MEMBERS]` (default 200,000 members of 19 B;
//! ops carry a three-region causal context, as in a mesh-3 cluster)
//!
//! Two shapes: one large sorted set (a leaderboard), and many sorted sets of 10 members
//! (which redis-server keeps in its compact listpack encoding). Meridian's figures are the
//! RSS growth of a child process that builds the keyspace (so each build starts from a clean
//! heap) and the time per `Keyspace::apply`; redis-server's are `INFO memory`'s
//! `used_memory` after loading the same members over one pipelined connection.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use meridian_bench::{RedisServer, child_figures, ratio_header, ratio_row, status_kib};
use meridian_crdt::{
    ActorId, Dot, Keyspace, OpMeta, Payload, Score, ScoreWrite, VersionVector, hlc,
};

const MEMBERS: u64 = 200_000;
/// Members per key in the many-small-sets shape.
const SMALL: u64 = 10;

fn member(i: u64) -> Bytes {
    Bytes::from(format!("member:{i:012}"))
}

fn score(i: u64) -> f64 {
    (i.wrapping_mul(2_654_435_761) % 1_000_000) as f64 / 8.0
}

/// The key member `i` goes to: one key, or one per `SMALL` members.
fn key_of(i: u64, small: bool) -> Bytes {
    if small {
        Bytes::from(format!("board:{:08}", i / SMALL))
    } else {
        Bytes::from_static(b"board")
    }
}

/// Applies `n` ops made by `op(i)`, each by region 1 after it had seen some ops of regions 2
/// and 3; the time per apply, in ns.
fn apply_all(
    ks: &mut Keyspace,
    n: u64,
    first_seq: u64,
    op: impl Fn(u64) -> (Bytes, Payload),
) -> f64 {
    let mut deps = VersionVector::new();
    deps.set(ActorId(2), 1_000);
    deps.set(ActorId(3), 2_000);
    deps.set(ActorId(1), first_seq - 1);
    let started = Instant::now();
    for i in 0..n {
        let seq = first_seq + i;
        let (key, payload) = op(i);
        let meta = OpMeta {
            dot: Dot::new(ActorId(1), seq),
            hlc: hlc(1_700_000_000_000 + seq, 0),
            deps: &deps,
        };
        black_box(ks.apply(&key, meta, &payload));
        deps.set(ActorId(1), seq);
    }
    started.elapsed().as_nanos() as f64 / n as f64
}

/// Builds the sorted sets: `n` ZADDs of one member each; then, if `incr`, `n` ZINCRBYs.
/// The ns per ZADD and per ZINCRBY.
fn build(n: u64, small: bool, incr: bool) -> (Keyspace, f64, f64) {
    let mut ks = Keyspace::new();
    let zadd = apply_all(&mut ks, n, 1, |i| {
        let write = ScoreWrite {
            member: member(i),
            score: Score::new(score(i)),
        };
        (key_of(i, small), Payload::ZAdd(vec![write]))
    });
    let zincrby = if incr {
        apply_all(&mut ks, n, n + 1, |i| {
            let payload = Payload::ZIncrBy {
                member: member(i),
                by: Score::new(0.5),
            };
            (key_of(i, small), payload)
        })
    } else {
        0.0
    };
    (ks, zadd, zincrby)
}

/// In a child process: RSS growth (KiB) and ns per ZADD and per ZINCRBY.
fn measure(n: u64, small: bool, incr: bool) -> Option<(u64, f64, f64)> {
    let shape = if small { "small" } else { "large" };
    let figures = child_figures(&[shape, if incr { "incr" } else { "add" }, &n.to_string()])?;
    Some((*figures.first()? as u64, *figures.get(1)?, *figures.get(2)?))
}

/// redis-server's `used_memory` growth (bytes) for the `n` members in one key and in keys of
/// `SMALL`.
fn redis(n: u64) -> Option<(u64, u64)> {
    let server = RedisServer::start()?;
    let load = |small: bool| {
        (0..n).map(move |i| {
            vec![
                "ZADD".to_owned(),
                String::from_utf8_lossy(&key_of(i, small)).into_owned(),
                format!("{}", score(i)),
                String::from_utf8_lossy(&member(i)).into_owned(),
            ]
        })
    };
    let empty = server.used_memory()?;
    server.pipeline(load(false))?;
    let large = server.used_memory()?.saturating_sub(empty);
    server.pipeline(std::iter::once(vec![
        "FLUSHALL".to_owned(),
        "SYNC".to_owned(),
    ]))?;
    let empty = server.used_memory()?;
    server.pipeline(load(true))?;
    let small = server.used_memory()?.saturating_sub(empty);
    Some((large, small))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        let small = args.get(at + 1).is_some_and(|m| m == "small");
        let incr = args.get(at + 2).is_some_and(|m| m == "incr");
        let n = args
            .get(at + 3)
            .and_then(|n| n.parse().ok())
            .unwrap_or(MEMBERS);
        let before = status_kib("VmRSS:");
        let (ks, zadd, zincrby) = build(n, small, incr);
        let after = status_kib("VmRSS:");
        black_box(&ks);
        println!("{} {zadd:.0} {zincrby:.0}", after.saturating_sub(before));
        return;
    }
    let n = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(MEMBERS);
    println!("Meridian crdt benchmark: what a sorted set costs (single thread; shared machine)");
    println!("{n} members of 19 B with scores; one ZADD per member, in a fresh keyspace or server");
    println!();
    let large = measure(n, false, false);
    let small = measure(n, true, false);
    let incr = measure(n, false, true);
    let redis = redis(n);
    let per_member = |kib: u64| kib as f64 * 1024.0 / n as f64;
    ratio_header("Meridian B/member", "Redis B/member");
    let row = ratio_row;
    row(
        "one sorted set (skiplist in Redis)",
        large.map(|(kib, _, _)| per_member(kib)),
        redis.map(|(b, _)| b as f64 / n as f64),
    );
    row(
        &format!("sorted sets of {SMALL} (listpack in Redis)"),
        small.map(|(kib, _, _)| per_member(kib)),
        redis.map(|(_, b)| b as f64 / n as f64),
    );
    row(
        "one sorted set, each member +1 ZINCRBY",
        incr.map(|(kib, _, _)| per_member(kib)),
        None,
    );
    if redis.is_none() {
        println!("(redis-server not installed or not answering: apt-get install -y redis-server)");
    }
    println!();
    if let (Some((_, a, _)), Some((_, b, _)), Some((_, _, c))) = (large, small, incr) {
        println!(
            "Keyspace::apply ns/op: ZADD into one set {a:.0}, into sets of {SMALL} {b:.0}; ZINCRBY {c:.0}"
        );
    }
}
