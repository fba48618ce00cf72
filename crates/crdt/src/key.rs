//! One key's full state: one slot per type, normally only one of them non-empty.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::dots::DotStore;
use crate::expiry::{self, TtlSlot};
use crate::hllslot::{HllSlot, HllView};
use crate::index::KeyIndex;
use crate::payload::Payload;
use crate::scalar::Scalar;
use crate::seq::{Delta, Items, Text};
use crate::seqslot::{self, SeqRun, SeqSlot};
use crate::zset::ZSet;
use crate::{Conflict, ConflictKind, Dot, KeyType, OpMeta, Stamp, Value, VersionVector};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyState {
    /// The LWW register slot (`scalar.reg`) and the counter slot (`scalar.counter`).
    pub(crate) scalar: Scalar,
    pub(crate) mv: DotStore<Bytes>,
    pub(crate) set: BTreeMap<Bytes, DotStore<()>>,
    pub(crate) hash: BTreeMap<Bytes, Scalar>,
    /// Boxed: most keys hold no sequence, and an empty box is one word.
    pub(crate) list: Option<Box<SeqSlot<Items>>>,
    pub(crate) text: Option<Box<SeqSlot<Text>>>,
    /// Boxed for the same reason; never `Some` of an empty sorted set.
    pub(crate) zset: Option<Box<ZSet>>,
    /// Boxed likewise; never `Some` of an empty slot.
    pub(crate) hll: Option<Box<HllSlot>>,
    /// The deadlines (`expiry`); they make nothing visible on their own.
    pub(crate) ttl: TtlSlot,
}

/// A counter of a key: its own, a hash field's, a sorted set member's score (whose add
/// entries compact like increments, `zset`), or its HyperLogLog's entries (`hllslot`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Counted {
    Key,
    Field(Bytes),
    Member(Bytes),
    Hll,
}

/// What applying an op did to a key: conflicts found, and for a list or text what a reader
/// saw change, by position.
#[derive(Debug, Default)]
pub(crate) struct KeyChange {
    pub(crate) conflicts: Vec<Conflict>,
    pub(crate) deltas: Vec<Delta>,
}

/// Slot rank, a deterministic tie-break between slots (only forged input can tie stamps).
fn rank(t: KeyType) -> u8 {
    match t {
        KeyType::Register => 0,
        KeyType::MvRegister => 1,
        KeyType::Counter => 2,
        KeyType::Set => 3,
        KeyType::Hash => 4,
        KeyType::List => 5,
        KeyType::Text => 6,
        KeyType::ZSet => 7,
        KeyType::Hll => 8,
    }
}

impl KeyState {
    /// Whether anything must be kept: any slot holds an entry, or a sequence holds elements
    /// (deleted ones included: later inserts may name them).
    pub(crate) fn is_retained(&self) -> bool {
        self.scalar.is_retained()
            || !self.mv.is_empty()
            || !self.set.is_empty()
            || !self.hash.is_empty()
            || self.list.is_some()
            || self.text.is_some()
            || self.zset.is_some()
            || self.hll.is_some()
            || self.ttl.is_some()
    }

    /// The earliest deadline of the key, if it has one.
    pub(crate) fn expires(&self) -> Option<u64> {
        self.ttl.as_ref().and_then(|t| t.earliest())
    }

    /// The non-empty slots with their newest stamps; the set and hash slots' come from the
    /// key's index, so this costs O(log n) on a large set or hash.
    fn slots(&self, ix: &KeyIndex) -> Vec<(KeyType, (Stamp, Dot))> {
        let mut out = Vec::new();
        if let Some(s) = self.scalar.register_newest() {
            out.push((KeyType::Register, s));
        }
        if let Some((t, _)) = self.mv.newest() {
            out.push((KeyType::MvRegister, (t.stamp(), t.dot)));
        }
        if self.scalar.counter.is_live() {
            if let Some(s) = self.scalar.counter.newest() {
                out.push((KeyType::Counter, s));
            }
        }
        if let Some(s) = ix.set_newest() {
            out.push((KeyType::Set, s));
        }
        if let Some(s) = ix.hash_newest() {
            out.push((KeyType::Hash, s));
        }
        if let Some(l) = self.list.as_ref().filter(|l| !l.seq.is_empty()) {
            out.push((KeyType::List, (l.newest.stamp(), l.newest.dot)));
        }
        if let Some(t) = self.text.as_ref().filter(|t| !t.seq.is_empty()) {
            out.push((KeyType::Text, (t.newest.stamp(), t.newest.dot)));
        }
        if let Some(s) = ix.zset_newest() {
            out.push((KeyType::ZSet, s));
        }
        if let Some(s) = self.hll.as_ref().and_then(|h| h.newest()) {
            out.push((KeyType::Hll, s));
        }
        out
    }

    /// The visible type: the non-empty slot whose newest entry has the highest stamp.
    pub(crate) fn key_type(&self, ix: &KeyIndex) -> Option<KeyType> {
        self.slots(ix)
            .into_iter()
            .max_by_key(|&(t, s)| (s, rank(t)))
            .map(|(t, _)| t)
    }

    /// The `TypeClash` conflict, if more than one slot is non-empty.
    pub(crate) fn type_clash(&self, ix: &KeyIndex) -> Option<Conflict> {
        let slots = self.slots(ix);
        (slots.len() > 1).then(|| Conflict {
            kind: ConflictKind::TypeClash,
            field: None,
            stamps: slots.iter().map(|(_, (s, _))| *s).collect(),
        })
    }

    /// The visible value of the slot `visible` (the key's visible type).
    pub(crate) fn value(&self, visible: KeyType) -> Option<Value> {
        Some(match visible {
            KeyType::Register => Value::Str(self.scalar.register_value()?.1.clone()),
            KeyType::Counter => Value::Int(self.scalar.counter.value()),
            KeyType::MvRegister => {
                Value::Mv(self.mv_siblings().into_iter().map(|(v, _)| v).collect())
            }
            KeyType::Set => Value::Set(self.set.keys().cloned().collect()),
            KeyType::Hash => Value::Hash(
                self.hash
                    .iter()
                    .filter_map(|(f, s)| s.field_value().map(|v| (f.clone(), v)))
                    .collect(),
            ),
            KeyType::List => Value::List(self.list.as_ref()?.seq.items().cloned().collect()),
            KeyType::Text => Value::Text(self.text.as_ref()?.seq.text()),
            KeyType::ZSet => {
                let z = crate::ZSetView::new(self.zset.as_deref());
                Value::ZSet(
                    z.by_rank(0, z.len(), false)
                        .map(|(m, s)| (m.clone(), s.to_bits()))
                        .collect(),
                )
            }
            KeyType::Hll => {
                let sketch = HllView::new(self.hll.as_deref()?).sketch();
                Value::Hll(sketch.observations().collect())
            }
        })
    }

    /// MV siblings sorted by stamp.
    pub(crate) fn mv_siblings(&self) -> Vec<(Bytes, Stamp)> {
        let mut v: Vec<_> = self
            .mv
            .entries
            .iter()
            .map(|(d, (h, v))| ((crate::Tag { dot: *d, hlc: *h }.stamp(), *d), v.clone()))
            .collect();
        v.sort_by_key(|(s, _)| *s);
        v.into_iter().map(|((s, _), v)| (v, s)).collect()
    }

    /// Removes from every slot what `deps` observed; what a reader of a list or text saw go
    /// (its tombstones of collection `epoch`).
    fn clear_all(&mut self, deps: &VersionVector, epoch: u64) -> Vec<Delta> {
        self.scalar.clear(deps);
        self.mv.remove_covered(deps);
        self.set.retain(|_, tags| {
            tags.remove_covered(deps);
            !tags.is_empty()
        });
        for s in self.hash.values_mut() {
            s.clear(deps);
        }
        self.hash.retain(|_, s| s.is_retained());
        expiry::remove_covered(&mut self.ttl, deps);
        if let Some(z) = self.zset.as_mut() {
            z.clear(deps);
        }
        drop_if_empty(&mut self.zset, ZSet::is_empty);
        if let Some(h) = self.hll.as_mut() {
            h.clear(deps);
        }
        drop_if_empty(&mut self.hll, HllSlot::is_empty);
        let mut deltas = seqslot::clear(&mut self.list, deps, epoch);
        deltas.extend(seqslot::clear(&mut self.text, deps, epoch));
        deltas
    }

    /// Applies one op. Total: any payload is accepted (a list or text edit naming elements
    /// the key does not hold, which only a forged op can, changes nothing). `toggle` is shown
    /// every list or text run whose elements' digests the op changes (`seqslot::apply_edit`);
    /// the caller adds the `TypeClash` conflict (`type_clash`), which needs the key's index.
    /// Tombstones it leaves are of collection `epoch` (`Sequence::collect`).
    pub(crate) fn apply(
        &mut self,
        meta: OpMeta<'_>,
        payload: &Payload,
        epoch: u64,
        toggle: &mut dyn FnMut(SeqRun<'_>),
    ) -> KeyChange {
        let tag = meta.tag();
        let deps = meta.deps;
        let mut conflicts = Vec::new();
        let mut deltas = Vec::new();
        match payload {
            Payload::Set { value } => {
                let unseen = self.scalar.reg.uncovered_stamps(deps);
                if !unseen.is_empty() {
                    conflicts.push(Conflict {
                        kind: ConflictKind::Lww,
                        field: None,
                        stamps: unseen,
                    });
                }
                deltas = self.clear_all(deps, epoch);
                self.scalar.reg.insert(tag, value.clone());
            }
            Payload::MvSet { value, ctx } => {
                match ctx {
                    Some(c) => self.mv.remove_covered(&c.meet(deps)),
                    None => self.mv.remove_covered(deps),
                }
                self.mv.insert(tag, value.clone());
                if self.mv.len() > 1 {
                    conflicts.push(Conflict {
                        kind: ConflictKind::MvSiblings,
                        field: None,
                        stamps: self.mv_siblings().into_iter().map(|(_, s)| s).collect(),
                    });
                }
            }
            Payload::IncrBy { by, from } => self.scalar.increment(tag, deps, *by, *from),
            Payload::SAdd(members) => {
                for m in members {
                    let tags = self.set.entry(m.clone()).or_default();
                    tags.remove_covered(deps);
                    tags.insert(tag, ());
                }
            }
            Payload::SRem(members) => {
                for m in members {
                    if let Some(tags) = self.set.get_mut(m) {
                        tags.remove_covered(deps);
                        if tags.is_empty() {
                            self.set.remove(m);
                        }
                    }
                }
            }
            Payload::HSet(writes) => {
                for w in writes {
                    let f = self.hash.entry(w.field.clone()).or_default();
                    let unseen = f.reg.uncovered_stamps(deps);
                    if !unseen.is_empty() {
                        conflicts.push(Conflict {
                            kind: ConflictKind::Lww,
                            field: Some(w.field.clone()),
                            stamps: unseen,
                        });
                    }
                    f.write(tag, deps, w.value.clone());
                    field_clash(&mut conflicts, &w.field, f);
                }
            }
            Payload::HDel(fields) => {
                for field in fields {
                    if let Some(f) = self.hash.get_mut(field) {
                        f.clear(deps);
                        if !f.is_retained() {
                            self.hash.remove(field);
                        }
                    }
                }
            }
            Payload::HIncrBy { field, by, from } => {
                let f = self.hash.entry(field.clone()).or_default();
                f.increment(tag, deps, *by, *from);
                field_clash(&mut conflicts, field, f);
                // Only a forged op (a dot inside an existing span) can leave the field empty;
                // an empty field is never kept.
                if !f.is_retained() {
                    self.hash.remove(field);
                }
            }
            Payload::Del => deltas = self.clear_all(deps, epoch),
            Payload::List(edit) => {
                deltas = seqslot::apply_edit(&mut self.list, tag, edit, epoch, toggle)
                    .unwrap_or_default();
            }
            Payload::Text(edit) => {
                deltas = seqslot::apply_edit(&mut self.text, tag, edit, epoch, toggle)
                    .unwrap_or_default();
            }
            Payload::Expire { at, floor } => {
                let at = at.unwrap_or(expiry::NEVER);
                expiry::set(&mut self.ttl, tag, deps, at, floor.as_ref());
            }
            Payload::Timed { write, at, floor } => {
                if matches!(**write, Payload::Timed { .. }) {
                    return KeyChange::default();
                }
                let change = self.apply(meta, write, epoch, toggle);
                expiry::set(&mut self.ttl, tag, deps, *at, floor.as_ref());
                return change;
            }
            Payload::Reap { ctx } => deltas = self.clear_all(ctx, epoch),
            Payload::ZAdd(writes) => {
                let z = self.zset.get_or_insert_default();
                for w in writes {
                    z.set(tag, deps, &w.member, w.score.get());
                }
                drop_if_empty(&mut self.zset, ZSet::is_empty);
            }
            Payload::ZIncrBy { member, by } => {
                self.zset
                    .get_or_insert_default()
                    .add(tag, deps, member, by.get());
                drop_if_empty(&mut self.zset, ZSet::is_empty);
            }
            Payload::ZRem(members) => {
                if let Some(z) = self.zset.as_mut() {
                    for m in members {
                        z.remove(deps, m);
                    }
                }
                drop_if_empty(&mut self.zset, ZSet::is_empty);
            }
            Payload::PfAdd(observations) => {
                self.hll.get_or_insert_default().add(tag, observations);
                // Only a forged op (a dot inside an existing span) can leave it empty.
                drop_if_empty(&mut self.hll, HllSlot::is_empty);
            }
        }
        KeyChange { conflicts, deltas }
    }

    /// State join with another replica's state of the same key.
    pub(crate) fn join(
        &mut self,
        ctx: &VersionVector,
        other: &KeyState,
        other_ctx: &VersionVector,
    ) {
        self.scalar.join(ctx, &other.scalar, other_ctx);
        self.mv.join(ctx, &other.mv, other_ctx);
        let empty_tags = DotStore::default();
        for m in other.set.keys() {
            self.set.entry(m.clone()).or_default();
        }
        for (m, tags) in self.set.iter_mut() {
            tags.join(ctx, other.set.get(m).unwrap_or(&empty_tags), other_ctx);
        }
        self.set.retain(|_, t| !t.is_empty());
        let empty_field = Scalar::default();
        for f in other.hash.keys() {
            self.hash.entry(f.clone()).or_default();
        }
        for (f, s) in self.hash.iter_mut() {
            s.join(ctx, other.hash.get(f).unwrap_or(&empty_field), other_ctx);
        }
        self.hash.retain(|_, s| s.is_retained());
        // Only forged states can fail to join (an element whose origin neither side holds);
        // the slot then keeps what it had. Tombstones are stamped when the joined state is
        // installed (`Keyspace::merge`).
        let _ = seqslot::join(&mut self.list, other.list.as_deref(), ctx, other_ctx);
        let _ = seqslot::join(&mut self.text, other.text.as_deref(), ctx, other_ctx);
        expiry::join(&mut self.ttl, ctx, other.ttl.as_deref(), other_ctx);
        join_boxed(&mut self.zset, other.zset.as_deref(), |z, theirs| {
            z.join(ctx, theirs, other_ctx);
        });
        drop_if_empty(&mut self.zset, ZSet::is_empty);
        join_boxed(&mut self.hll, other.hll.as_deref(), |h, theirs| {
            h.join(ctx, theirs, other_ctx);
        });
        drop_if_empty(&mut self.hll, HllSlot::is_empty);
    }

    /// The dot at the end of every counter entry of the key, with the counter holding it; for
    /// a sorted set member with several score entries, the dot of its newest.
    pub(crate) fn counter_tips(&self) -> Vec<(Dot, Counted)> {
        let mut tips: Vec<(Dot, Counted)> = self
            .scalar
            .counter
            .tips()
            .map(|d| (d, Counted::Key))
            .collect();
        for (f, s) in &self.hash {
            tips.extend(s.counter.tips().map(|d| (d, Counted::Field(f.clone()))));
        }
        if let Some(z) = &self.zset {
            for (m, e) in z.members.iter().filter(|(_, e)| e.entries.len() > 1) {
                if let Some((_, dot)) = e.newest() {
                    tips.push((dot, Counted::Member(m.clone())));
                }
            }
        }
        if let Some(h) = &self.hll {
            tips.extend(h.tips().map(|d| (d, Counted::Hll)));
        }
        tips
    }

    /// The most entries any one counter of the key holds (a sorted set member's score
    /// entries count as a counter's).
    pub(crate) fn max_counter_entries(&self) -> usize {
        self.hash
            .values()
            .map(|f| f.counter.entry_count())
            .chain(self.zset.as_ref().map(|z| z.max_entries()))
            .chain(self.hll.as_ref().map(|h| h.entry_count()))
            .fold(self.scalar.counter.entry_count(), usize::max)
    }

    /// Canonical bytes of everything retained (also the storage encoding).
    pub(crate) fn encode(&self) -> Vec<u8> {
        crate::codec::encode_state(self)
    }
}

/// Joins a boxed slot with the other side's (an absent slot joins as an empty one).
fn join_boxed<T: Default>(
    mine: &mut Option<Box<T>>,
    theirs: Option<&T>,
    join: impl FnOnce(&mut T, &T),
) {
    if mine.is_none() && theirs.is_none() {
        return;
    }
    let empty = T::default();
    join(mine.get_or_insert_default(), theirs.unwrap_or(&empty));
}

/// Keeps the invariant that a present boxed slot (sorted set, HyperLogLog) is not empty.
fn drop_if_empty<T>(slot: &mut Option<Box<T>>, is_empty: impl Fn(&T) -> bool) {
    if slot.as_deref().is_some_and(is_empty) {
        *slot = None;
    }
}

fn field_clash(conflicts: &mut Vec<Conflict>, field: &Bytes, f: &Scalar) {
    if f.is_clash() {
        let stamps = [f.register_newest(), f.counter.newest()]
            .into_iter()
            .flatten()
            .map(|(s, _)| s)
            .collect();
        conflicts.push(Conflict {
            kind: ConflictKind::FieldClash,
            field: Some(field.clone()),
            stamps,
        });
    }
}
