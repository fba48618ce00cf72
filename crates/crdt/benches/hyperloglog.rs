//! What a HyperLogLog costs: memory per key and CPU per PFADD and PFCOUNT in a `Keyspace`,
//! beside redis-server's `used_memory` for the same elements in the same run.
//!
//! `cargo bench -p meridian-crdt --bench hyperloglog`
//!
//! Three shapes: many small HyperLogLogs (sparse in both), a few large ones written at one
//! region, and the same written at three regions (a sketch per region here). Each PFADD adds
//! one element; as a replica does, the keyspace compacts what is stable as it goes (every
//! 10,000 ops here, with every op stable), so the figures are those of a steady state.
//! Meridian's memory is the RSS growth of a child process; redis-server's is `used_memory`.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use meridian_bench::{RedisServer, child_figures, ratio_header, ratio_row, status_kib};
use meridian_crdt::hll::Observation;
use meridian_crdt::{ActorId, Dot, Keyspace, OpMeta, Payload, VersionVector, hlc};

/// The shapes: name, keys, elements per key, regions writing.
const SHAPES: &[(&str, u64, u64, u32)] = &[
    ("10,000 keys of 100 elements", 10_000, 100, 1),
    ("200 keys of 20,000 elements, one region", 200, 20_000, 1),
    ("200 keys of 20,000 elements, three regions", 200, 20_000, 3),
];

fn key(k: u64) -> Bytes {
    Bytes::from(format!("visitors:{k:08}"))
}

fn element(k: u64, i: u64) -> String {
    format!("user:{k}:{i:010}")
}

/// Builds one shape; the ns per PFADD (compaction included) and per PFCOUNT of one key.
fn build(keys: u64, per_key: u64, regions: u32) -> (Keyspace, f64, f64) {
    let mut ks = Keyspace::new();
    let mut applied = VersionVector::new();
    let started = Instant::now();
    let mut n = 0u64;
    for i in 0..per_key {
        for k in 0..keys {
            let actor = ActorId(1 + (n % u64::from(regions)) as u32);
            let seq = applied.get(actor) + 1;
            let payload = Payload::PfAdd(vec![Observation::of(element(k, i).as_bytes())]);
            let meta = OpMeta {
                dot: Dot::new(actor, seq),
                hlc: hlc(1_700_000_000_000 + n, 0),
                deps: &applied.clone(),
            };
            black_box(ks.apply(&key(k), meta, &payload));
            applied.set(actor, seq);
            n += 1;
            if n % 10_000 == 0 {
                ks.compact(&applied);
            }
        }
    }
    ks.compact(&applied);
    let pfadd = started.elapsed().as_nanos() as f64 / n as f64;
    let started = Instant::now();
    let rounds = 200u64;
    for r in 0..rounds {
        let sketch = ks.hll(&key(r % keys)).ok().flatten();
        black_box(sketch.map(|s| s.estimate()));
    }
    let pfcount = started.elapsed().as_nanos() as f64 / rounds as f64;
    (ks, pfadd, pfcount)
}

/// redis-server's `used_memory` growth (bytes) for a shape.
fn redis(server: &RedisServer, keys: u64, per_key: u64) -> Option<u64> {
    server.pipeline(std::iter::once(vec![
        "FLUSHALL".to_owned(),
        "SYNC".to_owned(),
    ]))?;
    let empty = server.used_memory()?;
    server.pipeline((0..per_key).flat_map(|i| {
        (0..keys).map(move |k| {
            vec![
                "PFADD".to_owned(),
                String::from_utf8_lossy(&key(k)).into_owned(),
                element(k, i),
            ]
        })
    }))?;
    Some(server.used_memory()?.saturating_sub(empty))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        let arg = |i: usize| args.get(at + i).and_then(|v| v.parse::<u64>().ok());
        let (Some(keys), Some(per_key), Some(regions)) = (arg(1), arg(2), arg(3)) else {
            return;
        };
        let before = status_kib("VmRSS:");
        let (ks, pfadd, pfcount) = build(keys, per_key, regions as u32);
        let after = status_kib("VmRSS:");
        black_box(&ks);
        println!("{} {pfadd:.0} {pfcount:.0}", after.saturating_sub(before));
        return;
    }
    println!("Meridian crdt benchmark: what a HyperLogLog costs (single thread; shared machine)");
    println!("one element per PFADD, compacted as it goes; a fresh keyspace or server per shape");
    println!();
    let server = RedisServer::start();
    ratio_header("Meridian B/key", "Redis B/key");
    let mut cpu = Vec::new();
    for &(name, keys, per_key, regions) in SHAPES {
        let ours = child_figures(&[
            &keys.to_string(),
            &per_key.to_string(),
            &regions.to_string(),
        ]);
        let theirs = server.as_ref().and_then(|s| redis(s, keys, per_key));
        ratio_row(
            name,
            ours.as_ref().map(|f| f[0] * 1024.0 / keys as f64),
            theirs.map(|b| b as f64 / keys as f64),
        );
        if let Some(f) = ours {
            cpu.push(format!(
                "{name}: PFADD {:.0} ns, PFCOUNT {:.0} ns",
                f[1], f[2]
            ));
        }
    }
    if server.is_none() {
        println!("(redis-server not installed or not answering: apt-get install -y redis-server)");
    }
    println!();
    println!("Keyspace::apply per PFADD (compaction included) and sketch estimate per PFCOUNT:");
    for line in cpu {
        println!("  {line}");
    }
}
