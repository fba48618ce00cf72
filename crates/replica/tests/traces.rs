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
#[path = "../../crdt/tests/support/traces.rs"]
mod traces;

use meridian_crdt::seq::Text;
use meridian_crdt::{ActorId, Command, Splice};
use meridian_replica::Message;
use support::{Cluster, key, mesh_3};
use traces::Patch;

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
    let trace = traces::load(env!("CARGO_MANIFEST_DIR"), "friendsforever");
    let txns = &trace.txns;
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
        let agent = txn.agent;
        let mut past = [0usize; 2];
        for &p in &txn.parents {
            let pa = txns[p].agent;
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
        for Patch(pos, del, ins) in &txn.patches {
            let command = Command::Text(Splice::replace(*pos, *del, Text(ins.clone())));
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
    let end = &trace.end;
    let digest = c.node(watcher).digest();
    for id in [regions[0], regions[1], watcher] {
        let text = c.node(id).keyspace().text(b"doc").unwrap().unwrap().text();
        assert!(text == *end, "region {id} does not read the end content");
        assert_eq!(c.node(id).digest(), digest, "region {id}");
    }
}
