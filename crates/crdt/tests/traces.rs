//! Real editing traces (`data/editing-traces`, CC BY 4.0, from Joseph Gentle's
//! editing-traces collection) replayed through the sequence CRDT: the sequential one as local
//! edits of one writer, the concurrent one with each user at a replica of their own, each
//! transaction applied once the transactions it saw are. Both must end at `endContent`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/traces.rs"]
mod traces;

use meridian_crdt::seq::{Delete, Insert, Sequence, Text};
use meridian_crdt::{ActorId, Dot};
use traces::Patch;

fn trace(name: &str) -> traces::Trace {
    traces::load(env!("CARGO_MANIFEST_DIR"), name)
}

#[derive(Clone, Debug)]
enum Op {
    Insert(Dot, Insert<Text>),
    Delete(Delete),
}

fn apply(seq: &mut Sequence<Text>, op: &Op) {
    match op {
        Op::Insert(dot, ins) => {
            seq.apply_insert(*dot, ins).unwrap();
        }
        Op::Delete(del) => {
            seq.apply_delete(del).unwrap();
        }
    }
}

/// One patch `[pos, del, ins]` as local ops of `actor`, applied to `seq`.
fn edit(seq: &mut Sequence<Text>, actor: ActorId, next: &mut u64, patch: &Patch) -> Vec<Op> {
    let Patch(pos, del, ins) = patch;
    let (pos, del) = (*pos, *del);
    let mut ops = Vec::new();
    if del > 0 {
        let op = Op::Delete(seq.prepare_delete(pos, del).unwrap());
        apply(seq, &op);
        *next += 1;
        ops.push(op);
    }
    if !ins.is_empty() {
        let dot = Dot::new(actor, *next);
        *next += 1;
        let op = Op::Insert(dot, seq.prepare_insert(pos, Text(ins.to_owned())).unwrap());
        apply(seq, &op);
        ops.push(op);
    }
    ops
}

#[test]
fn the_sequential_trace_ends_at_its_end_content() {
    let t = trace("automerge-paper");
    let mut seq = Sequence::<Text>::new();
    let mut next = 1;
    let mut edits = 0;
    for patch in t.patches() {
        edit(&mut seq, ActorId(1), &mut next, patch);
        edits += 1;
    }
    assert_eq!(edits, 259_778);
    assert_eq!(seq.text(), t.end);
    // Keystrokes typed in a row share a run: far fewer runs than the 182,315 inserts.
    // (11,822 when this was written.)
    assert!(seq.run_count() < 15_000, "{} runs", seq.run_count());
}

#[test]
fn the_concurrent_trace_converges_to_its_end_content_at_every_replica() {
    let t = trace("friendsforever");
    let agents = t.agents;
    let txns = &t.txns;
    let mut replicas = vec![Sequence::<Text>::new(); agents];
    let mut applied = vec![vec![false; txns.len()]; agents];
    let mut ops: Vec<Vec<Op>> = Vec::with_capacity(txns.len());
    let mut next = vec![1u64; agents];
    let parents: Vec<Vec<usize>> = txns.iter().map(|txn| txn.parents.clone()).collect();
    for (ix, txn) in txns.iter().enumerate() {
        let agent = txn.agent;
        // The writer's replica first applies everything the transaction saw and it lacks: a
        // transaction it applied came with everything that one saw.
        let mut missing = Vec::new();
        let mut stack = parents[ix].clone();
        while let Some(p) = stack.pop() {
            if !applied[agent][p] {
                applied[agent][p] = true;
                missing.push(p);
                stack.extend(&parents[p]);
            }
        }
        missing.sort_unstable();
        for p in missing {
            for op in &ops[p] {
                apply(&mut replicas[agent], op);
            }
        }
        let actor = ActorId(agent as u32 + 1);
        let mut made = Vec::new();
        for patch in &txn.patches {
            made.extend(edit(&mut replicas[agent], actor, &mut next[agent], patch));
        }
        applied[agent][ix] = true;
        ops.push(made);
    }
    let end = &t.end;
    for (agent, replica) in replicas.iter_mut().enumerate() {
        for (ix, txn_ops) in ops.iter().enumerate() {
            if !applied[agent][ix] {
                for op in txn_ops {
                    apply(replica, op);
                }
            }
        }
        assert_eq!(&replica.text(), end, "replica of agent {agent}");
    }
    assert_eq!(replicas[0].canonical_runs(), replicas[1].canonical_runs());
}
