//! What a time to live costs a key: memory and CPU of `SET key value` against
//! `SET key value EX 100` in a `Keyspace`, beside redis-server's `used_memory` for the same keys
//! in the same run.
//!
//! `cargo bench -p meridian-crdt --bench expiry [-- KEYS]` (default 200,000 keys of 16 B with
//! 100 B values; ops carry a three-region causal context, as in a mesh-3 cluster)
//!
//! Meridian's figures are the RSS growth of a child process that builds the keyspace (so each
//! build starts from a clean heap) and the time per `Keyspace::apply`; redis-server's are
//! `INFO memory`'s `used_memory` after loading the same keys over one pipelined connection.
//! Without redis-server installed, its column says so.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use meridian_bench::{RedisServer, child_figures, ratio_header, ratio_row, status_kib};
use meridian_crdt::{ActorId, Dot, Keyspace, OpMeta, Payload, VersionVector, hlc};

const KEYS: u64 = 200_000;
const VALUE_LEN: usize = 100;
/// A deadline far ahead (2100-01-01), so that nothing expires during the run.
const AT: u64 = 4_102_444_800_000;

fn key(i: u64) -> Bytes {
    Bytes::from(format!("key:{i:012}"))
}

/// The op that writes key `i`: a plain SET, or a SET with a deadline.
fn payload(ttl: bool) -> Payload {
    let set = Payload::Set {
        value: Bytes::from(vec![b'v'; VALUE_LEN]),
    };
    if ttl {
        Payload::Timed {
            write: Box::new(set),
            at: AT,
            floor: None,
        }
    } else {
        set
    }
}

/// Builds a keyspace of `n` keys, each written once by region 1 after it had seen some ops of
/// regions 2 and 3; the time per apply, in ns.
fn build(n: u64, ttl: bool) -> (Keyspace, f64) {
    let mut ks = Keyspace::new();
    let mut deps = VersionVector::new();
    deps.set(ActorId(2), 1_000);
    deps.set(ActorId(3), 2_000);
    let p = payload(ttl);
    let started = Instant::now();
    for i in 0..n {
        let seq = i + 1;
        let meta = OpMeta {
            dot: Dot::new(ActorId(1), seq),
            hlc: hlc(1_700_000_000_000 + seq, 0),
            deps: &deps,
        };
        black_box(ks.apply(&key(i), meta, &p));
        deps.set(ActorId(1), seq);
    }
    let ns = started.elapsed().as_nanos() as f64 / n as f64;
    (ks, ns)
}

/// In a child process: RSS growth (KiB) and ns per apply of building `n` keys.
fn measure(n: u64, ttl: bool) -> Option<(u64, f64)> {
    let figures = child_figures(&[if ttl { "ttl" } else { "plain" }, &n.to_string()])?;
    Some((*figures.first()? as u64, *figures.get(1)?))
}

/// redis-server's `used_memory` growth (bytes) for `n` keys, plain and with `EX 100`.
fn redis(n: u64) -> Option<(u64, u64)> {
    let server = RedisServer::start()?;
    let empty = server.used_memory()?;
    let value = "v".repeat(VALUE_LEN);
    let set = |ttl: bool| {
        let value = value.clone();
        (0..n).map(move |i| {
            let mut c = vec!["SET".to_owned(), format!("key:{i:012}"), value.clone()];
            if ttl {
                c.extend(["EX".to_owned(), "100000".to_owned()]);
            }
            c
        })
    };
    server.pipeline(set(false))?;
    let plain = server.used_memory()?.saturating_sub(empty);
    server.pipeline(std::iter::once(vec![
        "FLUSHALL".to_owned(),
        "SYNC".to_owned(),
    ]))?;
    let empty = server.used_memory()?;
    server.pipeline(set(true))?;
    let ttl = server.used_memory()?.saturating_sub(empty);
    Some((plain, ttl))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        let ttl = args.get(at + 1).is_some_and(|m| m == "ttl");
        let n = args
            .get(at + 2)
            .and_then(|n| n.parse().ok())
            .unwrap_or(KEYS);
        let before = status_kib("VmRSS:");
        let (ks, ns) = build(n, ttl);
        let after = status_kib("VmRSS:");
        black_box(&ks);
        println!("{} {ns:.0}", after.saturating_sub(before));
        return;
    }
    let n = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(KEYS);
    println!(
        "Meridian crdt benchmark: what a time to live costs a key (single thread; shared machine)"
    );
    println!(
        "{n} keys of 16 B, values of {VALUE_LEN} B; SET, then SET ... EX in a fresh keyspace or server"
    );
    println!();
    let plain = measure(n, false);
    let ttl = measure(n, true);
    let redis = redis(n);
    let per_key = |kib: u64| kib as f64 * 1024.0 / n as f64;
    ratio_header("Meridian B/key", "Redis B/key");
    let row = ratio_row;
    let ours_plain = plain.map(|(kib, _)| per_key(kib));
    let ours_ttl = ttl.map(|(kib, _)| per_key(kib));
    let theirs_plain = redis.map(|(b, _)| b as f64 / n as f64);
    let theirs_ttl = redis.map(|(_, b)| b as f64 / n as f64);
    row("SET key value", ours_plain, theirs_plain);
    row("SET key value EX 100", ours_ttl, theirs_ttl);
    let delta = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
    row(
        "the time to live alone",
        delta(ours_ttl, ours_plain),
        delta(theirs_ttl, theirs_plain),
    );
    if redis.is_none() {
        println!("(redis-server not installed or not answering: apt-get install -y redis-server)");
    }
    println!();
    if let (Some((_, a)), Some((_, b))) = (plain, ttl) {
        println!(
            "Keyspace::apply ns/op: SET {a:.0}, SET EX {b:.0} ({:+.0} for the deadline)",
            b - a
        );
    }
}
