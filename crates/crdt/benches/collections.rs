//! The cost of one op on a large set or hash, against the size of the key: `Keyspace::apply`
//! of SADD and HSET (one new member or field each, as redis-benchmark sends them) on keys of
//! 1,000 to 100,000 members, next to `Keyspace::encode_key` of the same key (what the
//! replica hands the store for every dirty key in every persisted batch).
//!
//! `cargo bench -p meridian-crdt --bench collections [-- SIZE ...]` (default sizes 1,000,
//! 10,000 and 100,000 members)

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use meridian_crdt::{ActorId, Dot, FieldWrite, Keyspace, OpMeta, Payload, VersionVector, hlc};

const SIZES: [u64; 3] = [1_000, 10_000, 100_000];
/// Ops timed at each size.
const OPS: u64 = 2_000;
/// `encode_key` calls timed at each size.
const ENCODES: u64 = 50;

fn payload(hash: bool, i: u64) -> Payload {
    let name = Bytes::from(format!("element:{i:012}"));
    if hash {
        Payload::HSet(vec![FieldWrite {
            field: name,
            value: Bytes::from(vec![b'x'; 100]),
        }])
    } else {
        Payload::SAdd(vec![name])
    }
}

/// Applies ops `from..to` of actor 1 to `key`, each observing everything before it.
fn fill(ks: &mut Keyspace, vv: &mut VersionVector, key: &Bytes, hash: bool, from: u64, to: u64) {
    for i in from..to {
        let deps = vv.clone();
        let seq = i + 1;
        let meta = OpMeta {
            dot: Dot::new(ActorId(1), seq),
            hlc: hlc(seq, 0),
            deps: &deps,
        };
        black_box(ks.apply(key, meta, &payload(hash, i)));
        vv.set(ActorId(1), seq);
    }
}

fn main() {
    let mut sizes: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if sizes.is_empty() {
        sizes = SIZES.to_vec();
    }
    println!(
        "Meridian crdt benchmark: one op on a large set or hash (single thread; shared machine)"
    );
    println!();
    println!("type  members  apply us/op  encode_key us  encoded KiB");
    println!("----  -------  -----------  -------------  -----------");
    for hash in [false, true] {
        for &size in &sizes {
            let key = Bytes::from_static(b"k");
            let mut ks = Keyspace::new();
            let mut vv = VersionVector::new();
            fill(&mut ks, &mut vv, &key, hash, 0, size);
            let t = Instant::now();
            fill(&mut ks, &mut vv, &key, hash, size, size + OPS);
            let apply = t.elapsed().as_secs_f64() * 1e6 / OPS as f64;
            let t = Instant::now();
            let mut len = 0;
            for _ in 0..ENCODES {
                len = black_box(ks.encode_key(&key)).map_or(0, |b| b.len());
            }
            let encode = t.elapsed().as_secs_f64() * 1e6 / ENCODES as f64;
            let name = if hash { "hash" } else { "set" };
            println!(
                "{name:<4}  {size:>7}  {apply:>11.2}  {encode:>13.1}  {:>11.1}",
                len as f64 / 1024.0
            );
        }
    }
}
