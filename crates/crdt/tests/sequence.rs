//! The sequence CRDT: runs and chunks against a one-element-per-entry reference of FugueMax
//! written from the paper's list form, convergence whatever the order of delivery, no
//! interleaving of concurrent typing, positional deltas that rebuild the text, cursors
//! that follow their text, and tombstone collection that changes nothing any replica reads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use meridian_crdt::seq::{Cursor, Delete, Delta, ElemId, Insert, Sequence, Text};
use meridian_crdt::{ActorId, Dot, VersionVector};
use proptest::prelude::*;

/// FugueMax as the paper's list form states it, one element per entry, every lookup a scan.
#[derive(Clone, Debug, Default)]
struct Reference {
    items: Vec<RefItem>,
}

/// An element: id, left and right origins, content, whether it is visible.
type RefItem = (ElemId, Option<ElemId>, Option<ElemId>, char, bool);

impl Reference {
    fn index(&self, id: ElemId) -> usize {
        self.items.iter().position(|e| e.0 == id).unwrap()
    }

    fn insert(&mut self, dot: Dot, ins: &Insert<Text>) {
        let mut left = ins.left;
        for (k, ch) in ins.content.0.chars().enumerate() {
            let id = ElemId {
                actor: dot.actor,
                seq: dot.seq,
                off: k as u32,
            };
            self.integrate(id, left, ins.right, ch);
            left = Some(id);
        }
    }

    fn integrate(&mut self, id: ElemId, left: Option<ElemId>, right: Option<ElemId>, ch: char) {
        let n = self.items.len() as i64;
        let pos =
            |r: &Reference, o: Option<ElemId>, none: i64| o.map_or(none, |o| r.index(o) as i64);
        let l = pos(self, left, -1);
        let r = pos(self, right, n);
        let mut dest = l + 1;
        let mut scanning = false;
        let mut i = l + 1;
        loop {
            if !scanning {
                dest = i;
            }
            if i == n || i == r {
                break;
            }
            let other = self.items[i as usize];
            let ol = pos(self, other.1, -1);
            let or = pos(self, other.2, n);
            if ol < l || (ol == l && or == r && id < other.0) {
                break;
            }
            if ol == l {
                scanning = or < r;
            }
            i += 1;
        }
        self.items
            .insert(dest as usize, (id, left, right, ch, true));
    }

    fn delete(&mut self, del: &Delete) {
        for span in &del.spans {
            for i in 0..span.len {
                let id = match span.step {
                    meridian_crdt::seq::Step::Offset => ElemId {
                        off: span.id.off + i,
                        ..span.id
                    },
                    meridian_crdt::seq::Step::Seq => ElemId {
                        seq: span.id.seq + u64::from(i),
                        ..span.id
                    },
                };
                let ix = self.index(id);
                self.items[ix].4 = false;
            }
        }
    }

    fn text(&self) -> String {
        self.items.iter().filter(|e| e.4).map(|e| e.3).collect()
    }
}

#[derive(Clone, Debug)]
enum Op {
    Insert(Dot, Insert<Text>),
    Delete(Delete),
}

/// A replica under test: the sequence, the reference fed the same ops in the same order, and
/// the text rebuilt from the deltas alone.
#[derive(Clone, Debug, Default)]
struct Replica {
    seq: Sequence<Text>,
    reference: Reference,
    shadow: Vec<char>,
    /// Indexes (in the history) of the ops applied here.
    applied: Vec<bool>,
    /// The collection epoch deletes applied now are of.
    epoch: u64,
    /// Epochs ended, with the ops applied when each did.
    epochs: Vec<(u64, Vec<bool>)>,
}

impl Replica {
    fn apply(&mut self, op: &Op) {
        match op {
            Op::Insert(dot, ins) => {
                let delta = self.seq.apply_insert(*dot, ins).unwrap();
                self.reference.insert(*dot, ins);
                let Delta::Insert { pos, len } = delta else {
                    panic!("an insert reported {delta:?}")
                };
                assert_eq!(len as usize, ins.content.0.chars().count());
                let at = pos as usize;
                self.shadow.splice(at..at, ins.content.0.chars());
            }
            Op::Delete(del) => {
                for delta in self.seq.apply_delete_in(del, self.epoch).unwrap() {
                    let Delta::Delete { pos, len } = delta else {
                        panic!("a delete reported {delta:?}")
                    };
                    self.shadow.drain(pos as usize..(pos + len) as usize);
                }
                self.reference.delete(del);
            }
        }
        let text = self.seq.text();
        assert_eq!(
            text,
            self.reference.text(),
            "runs and chunks against the reference"
        );
        assert_eq!(
            text,
            self.shadow.iter().collect::<String>(),
            "deltas rebuild the text"
        );
        assert_eq!(self.seq.len() as usize, text.chars().count());
    }
}

/// A history: ops written at replicas, each with the ops its writer had applied, delivered
/// to the others in a random causal order.
struct Cluster {
    replicas: Vec<Replica>,
    history: Vec<(Op, Vec<bool>)>,
    /// The dot of each op in the history.
    dots: Vec<Dot>,
    next_seq: Vec<u64>,
}

#[derive(Clone, Debug)]
enum Step {
    Type { at: usize, pos: u8, text: String },
    Erase { at: usize, pos: u8, len: u8 },
    Deliver { to: usize, pick: u8 },
    Collect { at: usize },
}

impl Cluster {
    fn new(n: usize) -> Cluster {
        Cluster {
            replicas: vec![Replica::default(); n],
            history: Vec::new(),
            dots: Vec::new(),
            next_seq: vec![1; n],
        }
    }

    fn write(&mut self, at: usize, op: impl FnOnce(&Sequence<Text>, Dot) -> Option<Op>) {
        let dot = Dot::new(ActorId(at as u32 + 1), self.next_seq[at]);
        let Some(op) = op(&self.replicas[at].seq, dot) else {
            return;
        };
        self.next_seq[at] += 1;
        let seen = self.replicas[at].applied.clone();
        self.history.push((op, seen));
        self.dots.push(dot);
        let ix = self.history.len() - 1;
        self.deliver(at, ix);
    }

    fn deliver(&mut self, to: usize, ix: usize) {
        let r = &mut self.replicas[to];
        r.applied.resize(self.history.len(), false);
        r.apply(&self.history[ix].0);
        r.applied[ix] = true;
    }

    /// Ops `to` has not applied whose writer's context it has applied.
    fn deliverable(&self, to: usize) -> Vec<usize> {
        let applied = &self.replicas[to].applied;
        (0..self.history.len())
            .filter(|&ix| !applied.get(ix).copied().unwrap_or(false))
            .filter(|&ix| {
                self.history[ix]
                    .1
                    .iter()
                    .enumerate()
                    .all(|(j, seen)| !seen || applied.get(j).copied().unwrap_or(false))
            })
            .collect()
    }

    fn run(&mut self, step: &Step) {
        let n = self.replicas.len();
        match step {
            Step::Type { at, pos, text } => self.write(at % n, |seq, dot| {
                let pos = u64::from(*pos) % (seq.len() + 1);
                let ins = seq.prepare_insert(pos, Text(text.clone())).unwrap();
                Some(Op::Insert(dot, ins))
            }),
            Step::Erase { at, pos, len } => self.write(at % n, |seq, _| {
                if seq.is_empty() {
                    return None;
                }
                let pos = u64::from(*pos) % seq.len();
                let len = (u64::from(*len) % 4 + 1).min(seq.len() - pos);
                Some(Op::Delete(seq.prepare_delete(pos, len).unwrap()))
            }),
            Step::Deliver { to, pick } => {
                let to = to % n;
                let ready = self.deliverable(to);
                if !ready.is_empty() {
                    let ix = ready[*pick as usize % ready.len()];
                    self.deliver(to, ix);
                }
            }
            Step::Collect { at } => self.collect(at % n),
        }
    }

    /// The vector of the ops `held` marks (each writer's a prefix: delivery is causal).
    fn vector(&self, held: impl Fn(usize) -> bool) -> VersionVector {
        let mut v = VersionVector::new();
        for (ix, dot) in self.dots.iter().enumerate() {
            if held(ix) && v.get(dot.actor) < dot.seq {
                v.set(dot.actor, dot.seq);
            }
        }
        v
    }

    /// Replica `at` ends an epoch and collects at what a matrix clock would call stable:
    /// ops every replica applied that every op `at` has still to apply had seen.
    fn collect(&mut self, at: usize) {
        let len = self.history.len();
        let applied_by = |r: &Replica, ix: usize| r.applied.get(ix).copied().unwrap_or(false);
        let stable_ops: Vec<bool> = (0..len)
            .map(|ix| {
                self.replicas.iter().all(|r| applied_by(r, ix))
                    && (0..len)
                        .filter(|&j| !applied_by(&self.replicas[at], j))
                        .all(|j| self.history[j].1.get(ix).copied().unwrap_or(false))
            })
            .collect();
        // A vector covers an actor's ops up to its first unstable one.
        let mut stable = VersionVector::new();
        let mut blocked = std::collections::BTreeSet::new();
        for (ix, dot) in self.dots.iter().enumerate() {
            if !stable_ops[ix] {
                blocked.insert(dot.actor);
            } else if !blocked.contains(&dot.actor) {
                stable.set(dot.actor, dot.seq);
            }
        }
        let r = &mut self.replicas[at];
        r.epochs.push((r.epoch, r.applied.clone()));
        r.epoch += 1;
        let covered = |held: &Vec<bool>| {
            held.iter()
                .enumerate()
                .all(|(ix, h)| !h || stable.get(self.dots[ix].actor) >= self.dots[ix].seq)
        };
        let Some(epoch) = r
            .epochs
            .iter()
            .filter(|(_, held)| covered(held))
            .map(|e| e.0)
            .max()
        else {
            return;
        };
        let before = (r.seq.text(), r.seq.len());
        r.seq.collect(&stable, epoch);
        assert_eq!(
            (r.seq.text(), r.seq.len()),
            before,
            "a collection changed the text"
        );
    }

    fn settle(&mut self) {
        for to in 0..self.replicas.len() {
            while let Some(&ix) = self.deliverable(to).first() {
                self.deliver(to, ix);
            }
        }
    }
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0usize..4, any::<u8>(), "[a-e]{1,4}").prop_map(|(at, pos, text)| Step::Type { at, pos, text }),
        1 => (0usize..4, any::<u8>(), any::<u8>()).prop_map(|(at, pos, len)| Step::Erase { at, pos, len }),
        4 => (0usize..4, any::<u8>()).prop_map(|(to, pick)| Step::Deliver { to, pick }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Every replica, fed the same ops in any causal order, reads the same text and holds the
    /// same canonical runs; at every step each agrees with the reference and its deltas.
    #[test]
    fn replicas_converge_whatever_the_order_of_delivery(
        n in 2usize..5,
        steps in proptest::collection::vec(step(), 1..80),
    ) {
        let mut c = Cluster::new(n);
        for s in &steps {
            c.run(s);
        }
        c.settle();
        let first = &c.replicas[0];
        for r in &c.replicas[1..] {
            prop_assert_eq!(r.seq.text(), first.seq.text());
            prop_assert_eq!(r.seq.canonical_runs(), first.seq.canonical_runs());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The state join (what a snapshot merge does) gives what delivering the ops gives: two
    /// replicas' sequences joined hold exactly the canonical runs of a replica that applied
    /// the union of their ops.
    #[test]
    fn a_join_equals_applying_the_union_of_the_ops(
        n in 2usize..4,
        steps in proptest::collection::vec(step(), 1..80),
    ) {
        let mut c = Cluster::new(n);
        for s in &steps {
            c.run(s);
        }
        for i in 0..n {
            for j in 0..n {
                let mut joined = c.replicas[i].seq.clone();
                let none = VersionVector::new();
                joined.join(&c.replicas[j].seq, &none, &none, 0).unwrap();
                let mut union = Sequence::<Text>::new();
                for (ix, (op, _)) in c.history.iter().enumerate() {
                    let held = |r: &Replica| r.applied.get(ix).copied().unwrap_or(false);
                    if held(&c.replicas[i]) || held(&c.replicas[j]) {
                        match op {
                            Op::Insert(dot, ins) => {
                                union.apply_insert(*dot, ins).unwrap();
                            }
                            Op::Delete(del) => {
                                union.apply_delete(del).unwrap();
                            }
                        }
                    }
                }
                prop_assert_eq!(joined.text(), union.text());
                prop_assert_eq!(joined.canonical_runs(), union.canonical_runs());
            }
        }
    }
}

/// The text of a replica that applied the ops `held` marks, in history order.
fn union_text(c: &Cluster, held: impl Fn(usize) -> bool) -> String {
    let mut union = Sequence::<Text>::new();
    for (ix, (op, _)) in c.history.iter().enumerate() {
        if held(ix) {
            match op {
                Op::Insert(dot, ins) => {
                    union.apply_insert(*dot, ins).unwrap();
                }
                Op::Delete(del) => {
                    union.apply_delete(del).unwrap();
                }
            }
        }
    }
    union.text()
}

/// Checks that collection at the full vector left no tombstone next to another.
fn fully_collected(seq: &Sequence<Text>) -> Result<(), TestCaseError> {
    let runs = seq.canonical_runs();
    for (i, run) in runs.iter().enumerate() {
        if run.content.is_none() {
            prop_assert_eq!(run.len, 1, "a tombstone run of {} left", run.len);
            prop_assert!(
                runs.get(i + 1).is_none_or(|next| next.content.is_some()),
                "two tombstones in a row left"
            );
        }
    }
    Ok(())
}

fn step_or_collect() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => step(),
        1 => (0usize..4).prop_map(|at| Step::Collect { at }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Tombstones collected at causal stability change nothing a replica reads, now or after
    /// any op to come (every op still applies, and every replica checks its text and deltas
    /// against the reference, which never collects); a join skips what its side collected;
    /// and once every replica has collected at the full vector, all hold the same canonical
    /// runs as one that applied every op and collected once, with no two tombstones in a row.
    #[test]
    fn collecting_tombstones_changes_nothing_any_replica_reads(
        n in 2usize..5,
        steps in proptest::collection::vec(step_or_collect(), 1..120),
    ) {
        let mut c = Cluster::new(n);
        for s in &steps {
            c.run(s);
        }
        for i in 0..n {
            for j in 0..n {
                let held = |r: &Replica, ix: usize| r.applied.get(ix).copied().unwrap_or(false);
                let mine = c.vector(|ix| held(&c.replicas[i], ix));
                let theirs = c.vector(|ix| held(&c.replicas[j], ix));
                let mut joined = c.replicas[i].seq.clone();
                joined.join(&c.replicas[j].seq, &mine, &theirs, 0).unwrap();
                let union = union_text(&c, |ix| held(&c.replicas[i], ix) || held(&c.replicas[j], ix));
                prop_assert_eq!(joined.text(), union);
            }
        }
        c.settle();
        for at in 0..n {
            c.collect(at);
        }
        let all = c.vector(|_| true);
        let mut once = Sequence::<Text>::new();
        for (op, _) in &c.history {
            match op {
                Op::Insert(dot, ins) => {
                    once.apply_insert(*dot, ins).unwrap();
                }
                Op::Delete(del) => {
                    once.apply_delete(del).unwrap();
                }
            }
        }
        once.collect(&all, 0);
        fully_collected(&once)?;
        for r in &c.replicas {
            prop_assert_eq!(r.seq.text(), once.text());
            prop_assert_eq!(r.seq.canonical_runs(), once.canonical_runs());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Long histories: hundreds of runs, so that the runs span many chunks, which split as
    /// they fill.
    #[test]
    fn long_histories_converge_across_many_chunks(
        steps in proptest::collection::vec(step(), 600..900),
    ) {
        let mut c = Cluster::new(3);
        for s in &steps {
            c.run(s);
        }
        c.settle();
        prop_assert!(c.replicas[0].seq.run_count() > 128, "{} runs", c.replicas[0].seq.run_count());
        for r in &c.replicas[1..] {
            prop_assert_eq!(r.seq.text(), c.replicas[0].seq.text());
            prop_assert_eq!(r.seq.canonical_runs(), c.replicas[0].seq.canonical_runs());
        }
    }
}

fn typed(
    seq: &mut Sequence<Text>,
    actor: u32,
    first_seq: u64,
    pos: u64,
    text: &str,
) -> Vec<Insert<Text>> {
    let mut ops = Vec::new();
    for (i, ch) in text.chars().enumerate() {
        let ins = seq
            .prepare_insert(pos + i as u64, Text(ch.to_string()))
            .unwrap();
        seq.apply_insert(Dot::new(ActorId(actor), first_seq + i as u64), &ins)
            .unwrap();
        ops.push(ins);
    }
    ops
}

#[test]
fn typing_one_op_per_keystroke_is_one_run() {
    let mut seq = Sequence::<Text>::new();
    typed(&mut seq, 1, 1, 0, "hello, world");
    assert_eq!(seq.text(), "hello, world");
    assert_eq!(seq.run_count(), 1);
    // Deleting the middle leaves three runs: text, a tombstone, text.
    let del = seq.prepare_delete(5, 2).unwrap();
    assert_eq!(
        seq.apply_delete(&del).unwrap(),
        vec![Delta::Delete { pos: 5, len: 2 }]
    );
    assert_eq!(seq.text(), "helloworld");
    assert_eq!(seq.run_count(), 3);
}

/// Two writers type a word each at the same place at once: each word stays whole.
#[test]
fn concurrent_typing_at_one_place_does_not_interleave() {
    let mut base = Sequence::<Text>::new();
    typed(&mut base, 3, 1, 0, "[]");
    for (a_first, expected) in [(true, "[abcxyz]"), (false, "[abcxyz]")] {
        let mut a = base.clone();
        let mut b = base.clone();
        let ops_a = typed(&mut a, 1, 1, 1, "abc");
        let ops_b = typed(&mut b, 2, 1, 1, "xyz");
        let mut merged = base.clone();
        let mut apply = |ops: &[Insert<Text>], actor: u32| {
            for (i, ins) in ops.iter().enumerate() {
                merged
                    .apply_insert(Dot::new(ActorId(actor), 1 + i as u64), ins)
                    .unwrap();
            }
        };
        if a_first {
            apply(&ops_a, 1);
            apply(&ops_b, 2);
        } else {
            apply(&ops_b, 2);
            apply(&ops_a, 1);
        }
        assert_eq!(merged.text(), expected);
    }
}

#[test]
fn a_cursor_follows_its_text_through_concurrent_edits() {
    let mut seq = Sequence::<Text>::new();
    typed(&mut seq, 1, 1, 0, "hello world");
    let cursor: Cursor = seq.cursor(5).unwrap(); // just after "hello"
    let mut other = seq.clone();
    typed(&mut other, 2, 1, 0, ">> ");
    let ins = other.prepare_insert(other.len(), Text("!".into())).unwrap();
    other.apply_insert(Dot::new(ActorId(2), 4), &ins).unwrap();
    assert_eq!(
        other.resolve(cursor).unwrap(),
        8,
        "moved right by the three chars before it"
    );
    let del = other.prepare_delete(3, 5).unwrap(); // "hello"
    other.apply_delete(&del).unwrap();
    assert_eq!(other.text(), ">>  world!");
    assert_eq!(other.resolve(cursor).unwrap(), 3, "where its element was");
}

#[test]
fn ops_naming_what_is_not_there_are_refused_and_change_nothing() {
    let mut seq = Sequence::<Text>::new();
    typed(&mut seq, 1, 1, 0, "abc");
    let runs = seq.canonical_runs();
    let ghost = ElemId {
        actor: ActorId(9),
        seq: 1,
        off: 0,
    };
    let bad = Insert {
        left: Some(ghost),
        right: None,
        content: Text("x".into()),
    };
    assert!(seq.apply_insert(Dot::new(ActorId(2), 1), &bad).is_err());
    let again = seq.prepare_insert(0, Text("x".into())).unwrap();
    assert!(
        seq.apply_insert(Dot::new(ActorId(1), 2), &again).is_err(),
        "a dot already used"
    );
    let empty = Insert {
        left: None,
        right: None,
        content: Text(String::new()),
    };
    assert!(seq.apply_insert(Dot::new(ActorId(2), 1), &empty).is_err());
    let mut del = seq.prepare_delete(0, 3).unwrap();
    del.spans[0].len = 7;
    assert!(seq.apply_delete(&del).is_err());
    assert_eq!(seq.text(), "abc");
    assert_eq!(seq.canonical_runs(), runs);
    assert!(seq.prepare_insert(4, Text("x".into())).is_err());
    assert!(seq.prepare_delete(2, 2).is_err());
}

/// A region that lost its disk replays inserts from a peer's log, then merges the snapshot of
/// a region that had deleted two of those elements and collected one tombstone: the merge
/// must delete both, though the snapshot names only the tombstone it kept. (The simulator
/// found a region left reading the collected element, under a replaced disk behind a
/// lagging peer.)
#[test]
fn a_join_deletes_what_the_other_side_collected() {
    let mut ahead = Sequence::<Text>::new();
    typed(&mut ahead, 1, 1, 0, "abcd");
    let mut behind = ahead.clone();
    let del = ahead.prepare_delete(1, 2).unwrap();
    ahead.apply_delete_in(&del, 0).unwrap();
    let mut ahead_applied = VersionVector::new();
    ahead_applied.set(ActorId(1), 5);
    assert_eq!(
        ahead.collect(&ahead_applied, 0),
        1,
        "\"b\" goes; \"c\" ends its block"
    );
    let mut behind_applied = VersionVector::new();
    behind_applied.set(ActorId(1), 4);
    behind
        .join(&ahead, &behind_applied, &ahead_applied, 0)
        .unwrap();
    assert_eq!(behind.text(), "ad");
    behind.collect(&ahead_applied, 0);
    assert_eq!(behind.canonical_runs(), ahead.canonical_runs());
}
