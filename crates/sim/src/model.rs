//! What every key should hold, computed from the definitions of the data model directly on
//! the history of writes, independently of the CRDT code: a write survives unless a later
//! write that observed it (its `deps` cover the write's dot) overwrote or removed it.
//!
//! A list or text is checked against what its ops say ([`sequence_mismatch`]): which elements
//! survive, and that each lies between the elements it was typed between.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use meridian_crdt::seq::{ElemId, IdSpan, Insert, SeqContent, Step};
use meridian_crdt::{Command, Dot, Payload, SeqEdit, Stamp, Value};
use meridian_replica::Op;

use crate::workload::Family;

/// One write that is part of the final history, with the command the client gave.
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    /// The op as replicated.
    pub op: &'a Op,
    /// The command it was made from.
    pub command: &'a Command,
}

impl Write<'_> {
    fn stamp(&self) -> Stamp {
        Stamp {
            hlc: self.op.hlc,
            actor: self.op.origin,
        }
    }

    /// Whether this write had observed `other` when it was made.
    fn observed(&self, other: &Write<'_>) -> bool {
        self.op.deps.covers(other.op.dot())
    }
}

/// The value the key must hold after every write in `writes` (all on that key) was applied,
/// or `None` when the key's family is not modelled.
pub fn expected(key: &[u8], writes: &[Write<'_>]) -> Option<Option<Value>> {
    let value = match Family::of(key) {
        Family::Register | Family::Unit => register(writes),
        Family::Counter => counter(writes, |c| match c {
            Command::IncrBy(by) => Some(*by),
            _ => None,
        })
        .map(Value::Int),
        Family::Set => set(writes),
        Family::Hash => hash(writes),
        Family::Mv => mv(writes),
        Family::ZSet => zset(writes),
        Family::Hll => hll(writes),
        Family::List | Family::Text | Family::Expiring | Family::Clash => return None,
    };
    Some(value)
}

/// One element a list or text op inserted: its content and the elements it was typed between.
struct Element {
    content: Bytes,
    left: Option<ElemId>,
    right: Option<ElemId>,
}

/// Why the value `got` of a list or text key is not what its ops make it, if it is not: the
/// elements inserted and not deleted (by a delete naming them, or a DEL or SET that had
/// observed their insert) are exactly the items or characters read, and every one of them is
/// read after its left origin and before its right origin, where those survive.
pub fn sequence_mismatch(writes: &[Write<'_>], got: &Option<Value>) -> Option<String> {
    let mut elements: BTreeMap<ElemId, Element> = BTreeMap::new();
    let mut gone: BTreeSet<ElemId> = BTreeSet::new();
    for w in writes {
        let dot = w.op.dot();
        match &w.op.payload {
            Payload::List(edit) => {
                note_edit(edit, dot, &mut elements, &mut gone, |c| c.0.clone());
            }
            Payload::Text(edit) => {
                note_edit(edit, dot, &mut elements, &mut gone, |t| chars(&t.0));
            }
            _ => {}
        }
    }
    for w in writes {
        if matches!(w.op.payload, Payload::Del | Payload::Set { .. }) {
            for id in elements.keys() {
                if w.op.deps.covers(Dot::new(id.actor, id.seq)) {
                    gone.insert(*id);
                }
            }
        }
    }
    let read: Vec<Bytes> = match got {
        None => Vec::new(),
        Some(Value::List(items)) => items.clone(),
        Some(Value::Text(text)) => chars(text),
        Some(other) => return Some(format!("a list or text, not {other:?}")),
    };
    let live: Vec<(&ElemId, &Element)> = elements
        .iter()
        .filter(|(id, _)| !gone.contains(id))
        .collect();
    let mut want: Vec<&Bytes> = live.iter().map(|(_, e)| &e.content).collect();
    let mut have: Vec<&Bytes> = read.iter().collect();
    want.sort();
    have.sort();
    if want != have {
        return Some(format!("the elements {want:?}"));
    }
    let at: BTreeMap<&Bytes, usize> = read.iter().enumerate().map(|(i, c)| (c, i)).collect();
    if at.len() < read.len() {
        // Contents repeat (more writes than the workload keeps unique): no order to check.
        return None;
    }
    let pos = |id: &Option<ElemId>| {
        id.filter(|i| !gone.contains(i))
            .and_then(|i| elements.get(&i))
            .and_then(|e| at.get(&e.content).copied())
    };
    for (id, e) in &live {
        let here = at.get(&e.content).copied()?;
        if pos(&e.left).is_some_and(|l| l >= here) || pos(&e.right).is_some_and(|r| r <= here) {
            return Some(format!(
                "{id} between its origins {:?} and {:?}",
                e.left, e.right
            ));
        }
    }
    None
}

/// A text's characters, each as its UTF-8 bytes.
fn chars(text: &str) -> Vec<Bytes> {
    text.chars()
        .map(|c| Bytes::from(c.to_string().into_bytes()))
        .collect()
}

/// Records the elements `edit` (of op `dot`) inserts and the ones it deletes.
fn note_edit<C: SeqContent>(
    edit: &SeqEdit<C>,
    dot: Dot,
    elements: &mut BTreeMap<ElemId, Element>,
    gone: &mut BTreeSet<ElemId>,
    split: impl Fn(&C) -> Vec<Bytes>,
) {
    for span in &edit.delete.spans {
        gone.extend(span_ids(span));
    }
    if let Some(Insert {
        left,
        right,
        content,
    }) = &edit.insert
    {
        let mut before = *left;
        for (off, c) in split(content).into_iter().enumerate() {
            let id = ElemId {
                actor: dot.actor,
                seq: dot.seq,
                off: off as u32,
            };
            elements.insert(
                id,
                Element {
                    content: c,
                    left: before,
                    right: *right,
                },
            );
            before = Some(id);
        }
    }
}

fn span_ids(span: &IdSpan) -> impl Iterator<Item = ElemId> + '_ {
    (0..span.len).map(move |i| match span.step {
        Step::Offset => ElemId {
            off: span.id.off + i,
            ..span.id
        },
        Step::Seq => ElemId {
            seq: span.id.seq + u64::from(i),
            ..span.id
        },
    })
}

/// Writes not observed by any other write that removes them.
fn survivors<'a>(
    writes: &[Write<'a>],
    is_candidate: impl Fn(&Command) -> bool,
    removes: impl Fn(&Command) -> bool,
) -> Vec<Write<'a>> {
    writes
        .iter()
        .filter(|w| is_candidate(w.command))
        .filter(|w| {
            !writes
                .iter()
                .any(|other| removes(other.command) && other.observed(w))
        })
        .copied()
        .collect()
}

fn register(writes: &[Write<'_>]) -> Option<Value> {
    let live = survivors(writes, |c| matches!(c, Command::Set(_)), |_| true);
    let winner = live.iter().max_by_key(|w| w.stamp())?;
    match winner.command {
        Command::Set(v) => Some(Value::Str(v.clone())),
        _ => None,
    }
}

fn counter(writes: &[Write<'_>], increment: impl Fn(&Command) -> Option<i64>) -> Option<i64> {
    let live = survivors(
        writes,
        |c| increment(c).is_some(),
        |c| matches!(c, Command::Del),
    );
    if live.is_empty() {
        return None;
    }
    Some(live.iter().filter_map(|w| increment(w.command)).sum())
}

fn set(writes: &[Write<'_>]) -> Option<Value> {
    let mut members = BTreeSet::new();
    let added: BTreeSet<&Bytes> = writes
        .iter()
        .filter_map(|w| match w.command {
            Command::SAdd(ms) => Some(ms.iter()),
            _ => None,
        })
        .flatten()
        .collect();
    for m in added {
        let live = survivors(
            writes,
            |c| matches!(c, Command::SAdd(ms) if ms.contains(m)),
            |c| matches!(c, Command::Del) || matches!(c, Command::SRem(ms) if ms.contains(m)),
        );
        if !live.is_empty() {
            members.insert(m.clone());
        }
    }
    (!members.is_empty()).then(|| Value::Set(members.into_iter().collect()))
}

fn hash(writes: &[Write<'_>]) -> Option<Value> {
    let mut fields: BTreeMap<Bytes, Bytes> = BTreeMap::new();
    let mut names: BTreeSet<Bytes> = BTreeSet::new();
    for w in writes {
        match w.command {
            Command::HSet(pairs) => names.extend(pairs.iter().map(|(f, _)| f.clone())),
            Command::HIncrBy { field, .. } => {
                names.insert(field.clone());
            }
            _ => {}
        }
    }
    for f in names {
        let removes = |c: &Command| match c {
            Command::Del => true,
            Command::HDel(fs) => fs.contains(&f),
            Command::HSet(pairs) => pairs.iter().any(|(g, _)| *g == f),
            _ => false,
        };
        let live = survivors(
            writes,
            |c| matches!(c, Command::HSet(pairs) if pairs.iter().any(|(g, _)| *g == f)),
            removes,
        );
        if let Some(winner) = live.iter().max_by_key(|w| w.stamp()) {
            if let Command::HSet(pairs) = winner.command
                && let Some((_, v)) = pairs.iter().rev().find(|(g, _)| *g == f)
            {
                fields.insert(f.clone(), v.clone());
            }
            continue;
        }
        // HDEL of the field removes what it observed, like DEL.
        let live_incr = survivors(
            writes,
            |c| matches!(c, Command::HIncrBy { field, .. } if *field == f),
            |c| matches!(c, Command::Del) || matches!(c, Command::HDel(fs) if fs.contains(&f)),
        );
        if !live_incr.is_empty() {
            let sum: i64 = live_incr
                .iter()
                .filter_map(|w| match w.command {
                    Command::HIncrBy { by, .. } => Some(*by),
                    _ => None,
                })
                .sum();
            fields.insert(f.clone(), Bytes::from(sum.to_string()));
        }
    }
    (!fields.is_empty()).then(|| Value::Hash(fields.into_iter().collect()))
}

fn mv(writes: &[Write<'_>]) -> Option<Value> {
    let mut live = survivors(
        writes,
        |c| matches!(c, Command::MvSet { .. }),
        |c| matches!(c, Command::MvSet { .. } | Command::Del | Command::Set(_)),
    );
    live.sort_by_key(|w| w.stamp());
    let siblings: Vec<Bytes> = live
        .iter()
        .filter_map(|w| match w.command {
            Command::MvSet { value, .. } => Some(value.clone()),
            _ => None,
        })
        .collect();
    (!siblings.is_empty()).then_some(Value::Mv(siblings))
}

/// A sorted set: a member is present while a ZADD or ZINCRBY of it survives (no ZADD, ZREM or
/// DEL observed it); its score is the surviving ZADD with the highest stamp (or the first
/// increment), plus the surviving increments in causal order (by the number of ops their
/// writer had applied, then by dot), an increment that would make it NaN skipped; members in
/// score order, then by name.
/// Every register at the highest rank any surviving PFADD gave it: a DEL removes the PFADDs
/// it observed, whatever the registers they reached held elsewhere.
fn hll(writes: &[Write<'_>]) -> Option<Value> {
    let live = survivors(
        writes,
        |c| matches!(c, Command::PfAdd(_)),
        |c| matches!(c, Command::Del),
    );
    if live.is_empty() {
        return None;
    }
    let mut registers: BTreeMap<u16, u8> = BTreeMap::new();
    for w in &live {
        if let Command::PfAdd(observations) = w.command {
            for o in observations {
                let r = registers.entry(o.register).or_insert(0);
                *r = (*r).max(o.rank);
            }
        }
    }
    Some(Value::Hll(
        registers
            .into_iter()
            .map(|(register, rank)| meridian_crdt::hll::Observation { register, rank })
            .collect(),
    ))
}

fn zset(writes: &[Write<'_>]) -> Option<Value> {
    let names: BTreeSet<Bytes> = writes
        .iter()
        .flat_map(|w| match w.command {
            Command::ZAdd(pairs) => pairs.iter().map(|(m, _)| m.clone()).collect(),
            Command::ZIncrBy { member, .. } => vec![member.clone()],
            _ => Vec::new(),
        })
        .collect();
    let mut members: Vec<(Bytes, f64)> = Vec::new();
    for m in names {
        let set_of = |c: &Command| match c {
            Command::ZAdd(pairs) => pairs
                .iter()
                .rev()
                .find(|(n, _)| *n == m)
                .map(|(_, s)| s.get()),
            _ => None,
        };
        let add_of = |c: &Command| match c {
            Command::ZIncrBy { member, by } if *member == m => Some(by.get()),
            _ => None,
        };
        let removes = |c: &Command| {
            matches!(c, Command::Del)
                || set_of(c).is_some()
                || matches!(c, Command::ZRem(ms) if ms.contains(&m))
        };
        let live = survivors(
            writes,
            |c| set_of(c).is_some() || add_of(c).is_some(),
            removes,
        );
        if live.is_empty() {
            continue;
        }
        let base = live
            .iter()
            .filter_map(|w| set_of(w.command).map(|s| (w.stamp(), s)))
            .max_by_key(|(stamp, _)| *stamp)
            .map(|(_, s)| s);
        // Causal order: by how many ops the writer had applied, then by dot.
        let mut adds: Vec<((u64, Dot), f64)> = live
            .iter()
            .filter_map(|w| {
                let depth = w.op.deps.iter().map(|(_, seq)| seq).sum::<u64>();
                add_of(w.command).map(|b| ((depth, w.op.dot()), b))
            })
            .collect();
        adds.sort_by_key(|(order, _)| *order);
        let mut adds = adds.into_iter().map(|(_, b)| b);
        let Some(start) = base.or_else(|| adds.next()) else {
            continue;
        };
        let score = adds.fold(start, |acc, b| {
            let s = acc + b;
            if s.is_nan() { acc } else { s }
        });
        members.push((m, score));
    }
    let order = |s: f64| if s == 0.0 { 0.0 } else { s };
    members.sort_by(|(m, s), (n, t)| order(*s).total_cmp(&order(*t)).then_with(|| m.cmp(n)));
    (!members.is_empty())
        .then(|| Value::ZSet(members.into_iter().map(|(m, s)| (m, s.to_bits())).collect()))
}

/// What an expiring register (family `e`) must read at a node whose clock is `clock`, from
/// the data model's definitions applied to the whole history: the client's writes and the
/// reaps (`Payload::Reap`) regions issued.
///
/// A value (from SET, or SET with a deadline) survives unless a SET, a DEL or a reap observed
/// it: the SET or DEL's `deps`, or the reap's context, covers its dot. A deadline (from SET
/// with one, EXPIRE, PERSIST's that never passes) survives unless a SET, a DEL, another
/// deadline's writer or a reap observed it. The key reads as the newest surviving value,
/// and as absent where the clock has passed a surviving deadline.
pub fn expiring(writes: &[&Op], clock: u64) -> Option<Value> {
    let observed_by = |dot: Dot, clears: &dyn Fn(&Payload) -> bool| {
        writes.iter().any(|o| match &o.payload {
            Payload::Reap { ctx } => ctx.covers(dot),
            p => clears(p) && o.deps.covers(dot),
        })
    };
    let value_of = |p: &Payload| match p {
        Payload::Set { value } => Some(value.clone()),
        Payload::Timed { write, .. } => match &**write {
            Payload::Set { value } => Some(value.clone()),
            _ => None,
        },
        _ => None,
    };
    let deadline_of = |p: &Payload| match p {
        Payload::Timed { at, .. } => Some(*at),
        Payload::Expire { at, .. } => Some(at.unwrap_or(u64::MAX)),
        _ => None,
    };
    let clears_value = |p: &Payload| value_of(p).is_some() || matches!(p, Payload::Del);
    let clears_deadline = |p: &Payload| clears_value(p) || deadline_of(p).is_some();
    let expired = writes
        .iter()
        .filter(|o| !observed_by(o.dot(), &clears_deadline))
        .filter_map(|o| deadline_of(&o.payload))
        .any(|at| at != u64::MAX && at <= clock);
    if expired {
        return None;
    }
    writes
        .iter()
        .filter(|o| !observed_by(o.dot(), &clears_value))
        .filter_map(|o| {
            let stamp = Stamp {
                hlc: o.hlc,
                actor: o.origin,
            };
            value_of(&o.payload).map(|v| (stamp, v))
        })
        .max_by_key(|(stamp, _)| *stamp)
        .map(|(_, v)| Value::Str(v))
}
