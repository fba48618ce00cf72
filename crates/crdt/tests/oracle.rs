//! Our set against `crdts::Orswot` as an oracle: the same causal histories, applied op by op
//! at every replica, must leave the same members everywhere and at every step.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use bytes::Bytes;
use common::{Cluster, KEYS, Op, Step, set_command, steps};
use crdts::{CmRDT, VClock, orswot};
use meridian_crdt::{Payload, Value, VersionVector};
use proptest::prelude::*;

type Oracle = crdts::Orswot<Bytes, u32>;

const UNIVERSE: [&str; 3] = ["a", "b", "c"];

fn vclock(vv: &VersionVector) -> VClock<u32> {
    let mut c = VClock::new();
    for (a, s) in vv.iter() {
        c.apply(crdts::Dot::new(a.0, s));
    }
    c
}

/// Translates one of our ops into the equivalent Orswot op.
fn to_orswot(op: &Op) -> Option<orswot::Op<Bytes, u32>> {
    match &op.payload {
        Payload::SAdd(members) => Some(orswot::Op::Add {
            dot: crdts::Dot::new(op.dot.actor.0, op.dot.seq),
            members: members.clone(),
        }),
        Payload::SRem(members) => Some(orswot::Op::Rm {
            clock: vclock(&op.deps),
            members: members.clone(),
        }),
        Payload::Del => Some(orswot::Op::Rm {
            clock: vclock(&op.deps),
            members: UNIVERSE
                .iter()
                .map(|m| Bytes::from_static(m.as_bytes()))
                .collect(),
        }),
        _ => None,
    }
}

fn members(c: &Cluster, i: usize, key: &Bytes) -> Vec<Bytes> {
    match c.replicas[i].ks.get(key) {
        Some(Value::Set(m)) => m,
        None => Vec::new(),
        Some(other) => panic!("a set-only history produced {other:?}"),
    }
}

fn oracle_members(o: &BTreeMap<Bytes, Oracle>, key: &Bytes) -> Vec<Bytes> {
    let mut m: Vec<Bytes> = o
        .get(key)
        .map(|s| s.read().val.into_iter().collect())
        .unwrap_or_default();
    m.sort();
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn sets_agree_with_crdts_orswot(n in 2usize..5, steps in steps(set_command())) {
        let mut c = Cluster::new(n);
        let mut oracles: Vec<BTreeMap<Bytes, Oracle>> = vec![BTreeMap::new(); n];
        let apply = |oracles: &mut Vec<BTreeMap<Bytes, Oracle>>, i: usize, op: &Op| {
            if let Some(o) = to_orswot(op) {
                oracles[i].entry(op.key.clone()).or_default().apply(o);
            }
        };
        for s in &steps {
            let touched = match s {
                Step::Issue { actor, key, cmd, time } => {
                    let i = actor % n;
                    c.issue(i, KEYS[*key].as_bytes(), cmd.clone(), *time)
                        .map(|op| { apply(&mut oracles, i, &op); (i, op.key) })
                }
                Step::Deliver { to, from } => {
                    let (to, from) = (to % n, from % n);
                    c.deliverable(to, from).cloned().map(|op| {
                        c.deliver(to, from);
                        apply(&mut oracles, to, &op);
                        (to, op.key)
                    })
                }
                Step::Sync { .. } => {
                    // Everything everywhere, through the oracles too.
                    loop {
                        let mut progressed = false;
                        for to in 0..n {
                            for from in 0..n {
                                if let Some(op) = c.deliverable(to, from).cloned() {
                                    c.deliver(to, from);
                                    apply(&mut oracles, to, &op);
                                    prop_assert_eq!(
                                        members(&c, to, &op.key),
                                        oracle_members(&oracles[to], &op.key)
                                    );
                                    progressed = true;
                                }
                            }
                        }
                        if !progressed {
                            break;
                        }
                    }
                    None
                }
                Step::Snapshot { .. } | Step::Compact { .. } | Step::Reap { .. } => None,
            };
            if let Some((i, key)) = touched {
                prop_assert_eq!(members(&c, i, &key), oracle_members(&oracles[i], &key));
            }
        }
        c.deliver_all(&[0, 1, 2, 3, 5, 7]);
        for i in 0..n {
            for k in KEYS {
                let key = Bytes::from_static(k.as_bytes());
                // The final check rebuilds the oracle from the whole history in one causal
                // order, which differs from the orders the replicas applied it in.
                let mut full = Oracle::new();
                for op in causal_order(&c) {
                    if op.key == key {
                        if let Some(o) = to_orswot(&op) {
                            full.apply(o);
                        }
                    }
                }
                let mut expected: Vec<Bytes> = full.read().val.into_iter().collect();
                expected.sort();
                prop_assert_eq!(members(&c, i, &key), expected);
            }
        }
    }
}

/// Every op of the cluster in one causal order.
fn causal_order(c: &Cluster) -> Vec<Op> {
    let mut applied = VersionVector::new();
    let mut out = Vec::new();
    loop {
        let mut progressed = false;
        for (i, h) in c.history.iter().enumerate() {
            let next = applied.get(common::actor(i)) as usize;
            if let Some(op) = h.get(next) {
                if applied.dominates(&op.deps) {
                    applied.set(op.dot.actor, op.dot.seq);
                    out.push(op.clone());
                    progressed = true;
                }
            }
        }
        if !progressed {
            return out;
        }
    }
}
