//! The concurrent editing trace `friendsforever` (two people typing into one document at
//! once; `data/editing-traces`, CC BY 4.0) replayed through replicas: each person writes at a
//! region of their own, one op per patch, and each transaction is written once its region has
//! applied exactly the transactions it saw, no more (the other region's ops are held on the
//! wire until then, in order). Every region must end at the trace's `endContent`.
//!
//! This runs on in-memory replicas rather than on `meridian::Node`s because the replay needs
//! to hold back one direction of a link op by op; a node's link is up or down as a whole.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Read;

use meridian_crdt::seq::Text;
use meridian_crdt::{ActorId, Command, Splice};
use meridian_replica::Message;
use serde_json::Value;
use support::{Cluster, key, mesh_3};

fn trace(name: &str) -> Value {
    let path = format!(
        "{}/../../data/editing-traces/{name}.json.gz",
        env!("CARGO_MANIFEST_DIR")
    );
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut json = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut json)
        .unwrap();
    serde_json::from_str(&json).unwrap()
}

/// Delivers, in order, the messages on the wire from `from` to `to` until `to` has applied
/// `from`'s ops up to `seq`; every other message stays where it is.
fn deliver_up_to(c: &mut Cluster, from: ActorId, to: ActorId, seq: u64) {
    while c.node(to).applied().get(from) < seq {
        let i = c
            .wire
            .iter()
            .position(|(f, t, _)| *f == from && *t == to)
            .expect("the ops wanted are on the wire");
        let (_, _, msg) = c.wire.remove(i).unwrap();
        if let Message::Ops(ops) = &msg {
            // One op per message here: the region sees exactly what the writer had seen.
            assert!(ops.iter().all(|op| op.seq <= seq), "delivery overshoots");
        }
        let now = c.now;
        c.node_mut(to)
            .handle_message(now, support::wall(now), from, msg);
        c.drain(to);
    }
}

/// Delivers every message that involves `third` (the region that only watches), in order.
fn deliver_to_and_from(c: &mut Cluster, third: ActorId) {
    while let Some(i) = c
        .wire
        .iter()
        .position(|(f, t, _)| *f == third || *t == third)
    {
        let (from, to, msg) = c.wire.remove(i).unwrap();
        let now = c.now;
        c.node_mut(to)
            .handle_message(now, support::wall(now), from, msg);
        c.drain(to);
    }
}

#[test]
fn the_concurrent_trace_converges_to_its_end_content_at_every_region() {
    let trace = trace("friendsforever");
    let txns = trace["txns"].as_array().unwrap();
    let regions = [ActorId(1), ActorId(2)];
    let watcher = ActorId(3);
    let mut c = Cluster::new(mesh_3());
    // For every transaction: its writer's seq after it (what a region must have applied to
    // have seen it), and the transactions of each agent in its causal past.
    let mut seq_after: Vec<u64> = Vec::with_capacity(txns.len());
    let mut seen: Vec<[usize; 2]> = Vec::with_capacity(txns.len());
    let mut written = [0usize; 2];
    let mut last_txn: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    for (i, txn) in txns.iter().enumerate() {
        let agent = txn["agent"].as_u64().unwrap() as usize;
        let mut past = [0usize; 2];
        for p in txn["parents"].as_array().unwrap() {
            let p = p.as_u64().unwrap() as usize;
            let pa = txns[p]["agent"].as_u64().unwrap() as usize;
            for a in 0..2 {
                past[a] = past[a].max(seen[p][a]);
            }
            past[pa] = past[pa].max(seen[p][pa] + 1);
        }
        // An agent's transaction follows its own previous one.
        assert_eq!(past[agent], written[agent], "txn {i}");
        let (me, other) = (regions[agent], regions[1 - agent]);
        let wanted = past[1 - agent]
            .checked_sub(1)
            .map_or(0, |t| seq_after[last_txn[1 - agent][t]]);
        deliver_up_to(&mut c, other, me, wanted);
        // Exactly what the writer had seen: not one op of the other region more.
        assert_eq!(c.node(me).applied().get(other), wanted, "txn {i}");
        for patch in txn["patches"].as_array().unwrap() {
            let pos = patch[0].as_u64().unwrap();
            let del = patch[1].as_u64().unwrap();
            let ins = patch[2].as_str().unwrap();
            let command = Command::Text(Splice {
                delete: if del > 0 {
                    vec![(pos, del)]
                } else {
                    Vec::new()
                },
                insert: (!ins.is_empty()).then(|| (pos, Text(ins.to_owned()))),
            });
            let now = c.now;
            c.node_mut(me)
                .write(now, support::wall(now), key("doc"), command)
                .unwrap_or_else(|e| panic!("txn {i}: {e}"));
            c.drain(me);
        }
        seq_after.push(c.node(me).applied().get(me));
        seen.push(past);
        last_txn[agent].push(i);
        written[agent] += 1;
        deliver_to_and_from(&mut c, watcher);
    }
    c.settle();
    let end = trace["endContent"].as_str().unwrap();
    let digest = c.node(watcher).digest();
    for id in [regions[0], regions[1], watcher] {
        let text = c.node(id).keyspace().text(b"doc").unwrap().unwrap().text();
        assert!(text == end, "region {id} does not read the end content");
        assert_eq!(c.node(id).digest(), digest, "region {id}");
    }
}
