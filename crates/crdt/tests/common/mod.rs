//! A small in-memory cluster: each actor has a keyspace, an applied vector and a log of its
//! own ops; ops are delivered exactly once and causally, as the replica layer guarantees.

#![allow(dead_code, clippy::unwrap_used)]

use bytes::Bytes;
use meridian_crdt::seq::{Items, Text};
use meridian_crdt::{
    ActorId, Applied, Command, Dot, Hlc, Keyspace, OpMeta, Payload, Score, Splice, VersionVector,
    hlc,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
pub struct Op {
    pub dot: Dot,
    pub hlc: Hlc,
    pub deps: VersionVector,
    pub key: Bytes,
    pub payload: Payload,
}

impl Op {
    pub fn meta(&self) -> OpMeta<'_> {
        OpMeta {
            dot: self.dot,
            hlc: self.hlc,
            deps: &self.deps,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Replica {
    pub ks: Keyspace,
    pub applied: VersionVector,
}

#[derive(Clone, Debug)]
pub struct Cluster {
    pub replicas: Vec<Replica>,
    /// `history[i][s - 1]` is actor `i`'s op with seq `s`.
    pub history: Vec<Vec<Op>>,
}

pub fn actor(i: usize) -> ActorId {
    ActorId(i as u32 + 1)
}

impl Cluster {
    pub fn new(n: usize) -> Self {
        Cluster {
            replicas: vec![Replica::default(); n],
            history: vec![Vec::new(); n],
        }
    }

    /// Actor `i` issues `cmd` on `key` at wall time `time`; returns the op if prepare accepted.
    pub fn issue(&mut self, i: usize, key: &[u8], cmd: Command, time: u64) -> Option<Op> {
        let r = &self.replicas[i];
        let payload = r.ks.prepare(key, cmd, &r.applied).ok()?;
        Some(self.issue_payload(i, key, payload, time))
    }

    /// Actor `i` issues an op with `payload` as it is (a reap, a forged payload).
    pub fn issue_payload(&mut self, i: usize, key: &[u8], payload: Payload, time: u64) -> Op {
        let r = &mut self.replicas[i];
        let seq = r.applied.get(actor(i)) + 1;
        let op = Op {
            dot: Dot::new(actor(i), seq),
            hlc: hlc(time, 0),
            deps: r.applied.clone(),
            key: Bytes::copy_from_slice(key),
            payload,
        };
        r.ks.apply(&op.key, op.meta(), &op.payload);
        r.applied.set(actor(i), seq);
        self.history[i].push(op.clone());
        op
    }

    /// Actor `i` reaps every deadline its clock would have passed at `time`, as a leader does
    /// (its keyspace's own clock is left alone, so that reads compare across replicas
    /// whatever their clocks).
    pub fn reap(&mut self, i: usize, time: u64) -> usize {
        let mut probe = self.replicas[i].ks.clone();
        probe.set_clock(time);
        let due = probe.due(usize::MAX);
        for (key, ctx) in &due {
            self.issue_payload(i, key, Payload::Reap { ctx: ctx.clone() }, time);
        }
        due.len()
    }

    /// Every replica applied the same ops and holds the same state, with a digest that
    /// matches a recomputation.
    pub fn assert_converged(&self) {
        let first = &self.replicas[0];
        for r in &self.replicas[1..] {
            assert_eq!(r.applied, first.applied);
            assert_eq!(r.ks.digest(), first.ks.digest());
            assert_eq!(r.ks, first.ks);
        }
        for r in &self.replicas {
            assert_eq!(r.ks.digest(), r.ks.recompute_digest());
        }
    }

    /// A wall time for actor `i`'s next op that a hybrid logical clock would give it: `time`,
    /// or just after the newest stamp it has applied (so that every op is stamped after the
    /// ops it observed, as `meridian-replica`'s clock stamps them while no peer runs too far
    /// ahead).
    pub fn causal_time(&self, i: usize, time: u64) -> u64 {
        let applied = &self.replicas[i].applied;
        self.history
            .iter()
            .enumerate()
            .flat_map(|(j, h)| &h[..applied.get(actor(j)) as usize])
            .map(|op| op.hlc.time + 1)
            .fold(time, u64::max)
    }

    /// Actor `i` issues and expects success.
    pub fn write(&mut self, i: usize, key: &str, cmd: Command, time: u64) -> Op {
        self.issue(i, key.as_bytes(), cmd, time)
            .expect("prepare accepted")
    }

    /// The next op of `from` that replica `to` lacks, if it is deliverable now.
    pub fn deliverable(&self, to: usize, from: usize) -> Option<&Op> {
        let r = &self.replicas[to];
        let next = r.applied.get(actor(from)) as usize;
        let op = self.history[from].get(next)?;
        r.applied.dominates(&op.deps).then_some(op)
    }

    /// Delivers the next op of `from` to `to` if causally ready.
    pub fn deliver(&mut self, to: usize, from: usize) -> Option<Applied> {
        let op = self.deliverable(to, from)?.clone();
        let r = &mut self.replicas[to];
        let applied = r.ks.apply(&op.key, op.meta(), &op.payload);
        r.applied.set(op.dot.actor, op.dot.seq);
        Some(applied)
    }

    /// Delivers everything to everyone, choosing among ready sources by `choices`.
    pub fn deliver_all(&mut self, choices: &[u8]) {
        let n = self.replicas.len();
        let mut c = 0usize;
        for to in 0..n {
            loop {
                let ready: Vec<usize> = (0..n)
                    .filter(|&f| self.deliverable(to, f).is_some())
                    .collect();
                if ready.is_empty() {
                    break;
                }
                let pick = choices.get(c % choices.len().max(1)).copied().unwrap_or(0) as usize;
                c += 1;
                self.deliver(to, ready[pick % ready.len()]);
            }
        }
    }

    /// The vector replica `i` may compact its counters at: ops every replica has applied,
    /// lowered to the `deps` of every op replica `i` has not applied yet (so every op it will
    /// still apply, and every state it will still merge, observed all of them).
    pub fn stable_for(&self, i: usize) -> VersionVector {
        let mut stable = self.replicas[0].applied.clone();
        for r in &self.replicas[1..] {
            stable = stable.meet(&r.applied);
        }
        let applied = &self.replicas[i].applied;
        for (j, h) in self.history.iter().enumerate() {
            for op in &h[applied.get(actor(j)) as usize..] {
                stable = stable.meet(&op.deps);
            }
        }
        stable
    }

    /// Replica `i` compacts its counters at `stable_for(i)`; values never change.
    pub fn compact(&mut self, i: usize) -> usize {
        let stable = self.stable_for(i);
        let r = &mut self.replicas[i];
        let before: Vec<_> = KEYS.iter().map(|k| r.ks.get(k.as_bytes())).collect();
        let types: Vec<_> = KEYS.iter().map(|k| r.ks.key_type(k.as_bytes())).collect();
        let merged = r.ks.compact(&stable);
        let after: Vec<_> = KEYS.iter().map(|k| r.ks.get(k.as_bytes())).collect();
        let types_after: Vec<_> = KEYS.iter().map(|k| r.ks.key_type(k.as_bytes())).collect();
        assert_eq!(before, after, "compaction changed a value");
        assert_eq!(types, types_after, "compaction changed a type");
        assert_eq!(r.ks.digest(), r.ks.recompute_digest());
        merged
    }

    /// A fresh replica that applied, in a causal order, exactly the ops `vv` covers.
    pub fn replay(&self, vv: &VersionVector) -> Replica {
        let mut r = Replica::default();
        loop {
            let mut progressed = false;
            for (i, h) in self.history.iter().enumerate() {
                let next = r.applied.get(actor(i));
                if next >= vv.get(actor(i)) {
                    continue;
                }
                let op = &h[next as usize];
                if r.applied.dominates(&op.deps) {
                    r.ks.apply(&op.key, op.meta(), &op.payload);
                    r.applied.set(op.dot.actor, op.dot.seq);
                    progressed = true;
                }
            }
            if !progressed {
                return r;
            }
        }
    }
}

pub const KEYS: [&str; 3] = ["k0", "k1", "k2"];

fn bytes_from(s: &'static [&'static str]) -> impl Strategy<Value = Bytes> + Clone {
    proptest::sample::select(s).prop_map(|v: &'static str| Bytes::from_static(v.as_bytes()))
}

fn vv_strategy() -> impl Strategy<Value = VersionVector> + Clone {
    proptest::collection::vec((0u32..4, 0u64..8), 0..4)
        .prop_map(|e| e.into_iter().map(|(a, s)| (ActorId(a), s)).collect())
}

fn by_strategy() -> impl Strategy<Value = i64> + Clone {
    prop_oneof![8 => -3i64..4, 1 => Just(i64::MAX - 1), 1 => Just(i64::MIN + 1)]
}

pub fn command() -> impl Strategy<Value = Command> + Clone {
    let value = bytes_from(&["1", "7", "x", "-2"]);
    let member = bytes_from(&["a", "b", "c"]);
    let field = bytes_from(&["f", "g"]);
    prop_oneof![
        value.clone().prop_map(Command::Set),
        (value.clone(), proptest::option::of(vv_strategy()))
            .prop_map(|(value, ctx)| Command::MvSet { value, ctx }),
        by_strategy().prop_map(Command::IncrBy),
        proptest::collection::vec(member.clone(), 1..3).prop_map(Command::SAdd),
        proptest::collection::vec(member, 1..3).prop_map(Command::SRem),
        proptest::collection::vec((field.clone(), value), 1..3).prop_map(Command::HSet),
        proptest::collection::vec(field.clone(), 1..3).prop_map(Command::HDel),
        (field, by_strategy()).prop_map(|(field, by)| Command::HIncrBy { field, by }),
        Just(Command::Del),
        list_command(),
        text_command(),
        expiry_command(),
        zset_command(),
        hll_command(),
    ]
}

/// PFADD and PFMERGE as the keyspace takes them: registers, few of them so that entries of
/// different ops meet on one, and an empty one now and then (a PFADD of no element).
pub fn hll_command() -> impl Strategy<Value = Command> + Clone {
    let observation = (prop_oneof![0u16..4, Just(16_383)], 1u8..5)
        .prop_map(|(register, rank)| meridian_crdt::hll::Observation { register, rank });
    proptest::collection::vec(observation, 0..4).prop_map(Command::PfAdd)
}

/// Registers as a faulty or hostile peer could send them: out of range, rank 0 or past 51,
/// repeated and out of order.
pub fn forged_observations() -> impl Strategy<Value = Vec<meridian_crdt::hll::Observation>> + Clone
{
    proptest::collection::vec(
        (
            prop_oneof![0u16..4, Just(16_383), Just(16_384), Just(u16::MAX)],
            prop_oneof![0u8..5, Just(51), Just(52), Just(u8::MAX)],
        )
            .prop_map(|(register, rank)| meridian_crdt::hll::Observation { register, rank }),
        0..5,
    )
}

/// Scores whose sums round differently in different orders, and the infinities (whose sum a
/// fold skips).
fn score_strategy() -> impl Strategy<Value = Score> + Clone {
    proptest::sample::select(
        &[
            0.1,
            0.2,
            0.3,
            1e16,
            -1e16,
            1.5,
            -0.0,
            2.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ][..],
    )
    .prop_map(Score::new)
}

/// Sorted set writes: mostly increments, whose floats must sum alike everywhere.
pub fn zset_command() -> impl Strategy<Value = Command> + Clone {
    let member = bytes_from(&["a", "b", "c"]);
    prop_oneof![
        2 => proptest::collection::vec((member.clone(), score_strategy()), 1..3)
            .prop_map(Command::ZAdd),
        4 => (member.clone(), score_strategy())
            .prop_map(|(member, by)| Command::ZIncrBy { member, by }),
        1 => proptest::collection::vec(member, 1..3).prop_map(Command::ZRem),
    ]
}

/// Scores as a faulty or hostile peer could send them: any bits, NaNs of every sign and
/// payload among them (which must never be stored), and the values whose sums need care.
pub fn forged_score() -> impl Strategy<Value = Score> + Clone {
    prop_oneof![
        3 => score_strategy(),
        1 => proptest::sample::select(
            vec![
                f64::NAN.to_bits(),
                (-f64::NAN).to_bits(),
                0x7ff0_0000_0000_0001,
                0xfff8_0000_0000_0001,
                u64::MAX,
                1,
                (-0.0f64).to_bits(),
            ]
        )
        .prop_map(|bits| Score::new(f64::from_bits(bits))),
        1 => any::<u64>().prop_map(|bits| Score::new(f64::from_bits(bits))),
    ]
}

/// Sorted set writes with the deletes and deadlines that clear them.
pub fn zset_history_command() -> impl Strategy<Value = Command> + Clone {
    let value = bytes_from(&["1", "x"]);
    prop_oneof![
        8 => zset_command(),
        1 => Just(Command::Del),
        1 => value.prop_map(Command::Set),
        1 => expiry_command(),
    ]
}

/// Deadlines set, kept and cleared, at small times (`Step::Reap` passes them; the keyspaces
/// here stay at clock 0, so reads never hide a key and compare across replicas).
pub fn expiry_command() -> impl Strategy<Value = Command> + Clone {
    let value = bytes_from(&["1", "x"]);
    prop_oneof![
        2 => (1u64..12).prop_map(|at| Command::Expire(Some(at))),
        1 => Just(Command::Expire(None)),
        2 => (value, proptest::option::of(1u64..12))
            .prop_map(|(value, at)| Command::SetTimed { value, at }),
    ]
}

/// Deletes of small ranges near the start (positions past the end are refused by prepare, and
/// the op is not issued).
fn ranges() -> impl Strategy<Value = Vec<(u64, u64)>> + Clone {
    prop_oneof![
        2 => Just(Vec::new()),
        2 => proptest::collection::vec((0u64..2, 1u64..3), 1..2),
        1 => proptest::collection::vec((0u64..4, 0u64..3), 1..3),
    ]
}

/// Mostly an insert, near the start.
fn maybe<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T> + Clone,
) -> impl Strategy<Value = Option<T>> + Clone {
    prop_oneof![3 => s.prop_map(Some), 1 => Just(None)]
}

/// List edits: pushes, inserts, pops and replacements at small positions.
pub fn list_command() -> impl Strategy<Value = Command> + Clone {
    let item = bytes_from(&["a", "b", "c", ""]);
    let insert = maybe((0u64..3, proptest::collection::vec(item, 1..4)));
    (ranges(), insert).prop_map(|(delete, insert)| {
        Command::List(Splice {
            delete,
            insert: insert.map(|(pos, items)| (pos, Items(items))),
        })
    })
}

/// Text edits: typing, pasting and deleting at small positions.
pub fn text_command() -> impl Strategy<Value = Command> + Clone {
    let text = proptest::sample::select(&["x", "yz", "héllo", "🙂", "ab"][..]);
    let insert = maybe((0u64..4, text));
    (ranges(), insert).prop_map(|(delete, insert)| {
        Command::Text(Splice {
            delete,
            insert: insert.map(|(pos, t)| (pos, Text(t.to_owned()))),
        })
    })
}

/// Commands on sequences mostly, with the writes that clear them.
pub fn sequence_command() -> impl Strategy<Value = Command> + Clone {
    let value = bytes_from(&["1", "x"]);
    prop_oneof![
        5 => list_command(),
        5 => text_command(),
        1 => Just(Command::Del),
        1 => value.prop_map(Command::Set),
    ]
}

/// Commands that exercise counters (and their deletes) most.
pub fn counter_command() -> impl Strategy<Value = Command> + Clone {
    let value = bytes_from(&["1", "7", "x"]);
    let field = bytes_from(&["f", "g"]);
    prop_oneof![
        6 => by_strategy().prop_map(Command::IncrBy),
        3 => (field.clone(), by_strategy()).prop_map(|(field, by)| Command::HIncrBy { field, by }),
        2 => Just(Command::Del),
        1 => value.clone().prop_map(Command::Set),
        1 => proptest::collection::vec((field.clone(), value), 1..2).prop_map(Command::HSet),
        1 => proptest::collection::vec(field, 1..2).prop_map(Command::HDel),
        2 => expiry_command(),
    ]
}

/// Histories of any commands, or of mostly counter commands.
pub fn any_steps() -> impl Strategy<Value = Vec<Step>> {
    prop_oneof![
        steps(command()),
        steps(counter_command()),
        steps(sequence_command()),
        steps(zset_history_command())
    ]
}

pub fn set_command() -> impl Strategy<Value = Command> + Clone {
    let member = bytes_from(&["a", "b", "c"]);
    prop_oneof![
        3 => proptest::collection::vec(member.clone(), 1..3).prop_map(Command::SAdd),
        2 => proptest::collection::vec(member, 1..3).prop_map(Command::SRem),
        1 => Just(Command::Del),
    ]
}

#[derive(Clone, Debug)]
pub enum Step {
    Issue {
        actor: usize,
        key: usize,
        cmd: Command,
        time: u64,
    },
    Deliver {
        to: usize,
        from: usize,
    },
    Snapshot {
        actor: usize,
    },
    Compact {
        actor: usize,
    },
    /// Everything delivered everywhere (so that some ops become stable).
    Sync {
        choice: u8,
    },
    /// An actor's clock passes `time`: it reaps the deadlines due.
    Reap {
        actor: usize,
        time: u64,
    },
}

pub fn steps(cmd: impl Strategy<Value = Command> + Clone) -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        4 => (0usize..4, 0usize..KEYS.len(), cmd, 0u64..6)
            .prop_map(|(actor, key, cmd, time)| Step::Issue { actor, key, cmd, time }),
        4 => (0usize..4, 0usize..4).prop_map(|(to, from)| Step::Deliver { to, from }),
        1 => (0usize..4).prop_map(|actor| Step::Snapshot { actor }),
        2 => (0usize..4).prop_map(|actor| Step::Compact { actor }),
        1 => any::<u8>().prop_map(|choice| Step::Sync { choice }),
        1 => (0usize..4, 0u64..14).prop_map(|(actor, time)| Step::Reap { actor, time }),
    ];
    proptest::collection::vec(step, 0..60)
}

/// Runs `steps` on `n` actors; returns the cluster and the snapshots taken.
pub fn run(n: usize, steps: &[Step]) -> (Cluster, Vec<Replica>) {
    run_with(n, steps, true)
}

/// `run`, with `Compact` steps carried out or skipped.
pub fn run_with(n: usize, steps: &[Step], compact: bool) -> (Cluster, Vec<Replica>) {
    run_stamped(n, steps, compact, false)
}

/// `run_with`; with `causal`, each op's time raised to `Cluster::causal_time`.
fn run_stamped(n: usize, steps: &[Step], compact: bool, causal: bool) -> (Cluster, Vec<Replica>) {
    let stamp = |c: &Cluster, i: usize, time: u64| {
        if causal { c.causal_time(i, time) } else { time }
    };
    let mut c = Cluster::new(n);
    let mut snaps = Vec::new();
    for s in steps {
        match s {
            Step::Issue {
                actor,
                key,
                cmd,
                time,
            } => {
                let time = stamp(&c, actor % n, *time);
                c.issue(actor % n, KEYS[*key].as_bytes(), cmd.clone(), time);
            }
            Step::Deliver { to, from } => {
                c.deliver(to % n, from % n);
            }
            Step::Snapshot { actor } => snaps.push(c.replicas[actor % n].clone()),
            Step::Compact { actor } => {
                if compact {
                    c.compact(actor % n);
                }
            }
            Step::Sync { choice } => c.deliver_all(&[*choice]),
            Step::Reap { actor, time } => {
                let time = stamp(&c, actor % n, *time);
                c.reap(actor % n, time);
            }
        }
    }
    for r in &c.replicas {
        snaps.push(r.clone());
    }
    (c, snaps)
}

/// `run_with`, with every op stamped after the ops its actor had applied (`causal_time`), as
/// a region's hybrid logical clock stamps them.
pub fn run_causal(n: usize, steps: &[Step], compact: bool) -> (Cluster, Vec<Replica>) {
    run_stamped(n, steps, compact, true)
}

/// `r` with every counter fully compacted at its own applied vector: the form that does not
/// depend on when compaction ran, for comparing states (not safe to continue from).
pub fn normalized(r: &Replica) -> Replica {
    let mut n = r.clone();
    n.ks.compact(&r.applied);
    n
}

/// `a` joined with `b`, as a replica.
pub fn merged(a: &Replica, b: &Replica) -> Replica {
    let mut ks = a.ks.clone();
    ks.merge(&a.applied, &b.ks, &b.applied);
    let mut applied = a.applied.clone();
    applied.merge(&b.applied);
    Replica { ks, applied }
}
