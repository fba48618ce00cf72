//! The keyspace: every key's state, local write preparation, op application, state merge, and
//! an incrementally maintained digest.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::codec::{StateDecodeError, decode_state};
use crate::digest::{Digest, key_hash};
use crate::expiry;
use crate::hll::Sketch;
use crate::hllslot::HllView;
use crate::index::{KeyIndex, Part, Touched};
use crate::key::{Counted, KeyChange, KeyState};
use crate::payload::{Command, FieldWrite, Payload, ScoreWrite};
use crate::scalar::{Scalar, parse_int};
use crate::seq::{Delete, Delta, Items, SeqContent, SeqError, Sequence, Text};
use crate::seqslot::{SeqEdit, SeqRun, Splice};
use crate::spans::Span;
use crate::table::KeyTable;
use crate::zset::Folded;

mod stability;
use crate::{
    ActorId, Applied, Dot, Hlc, KeyType, OpMeta, PrepareError, Score, Stamp, StringRef, Value,
    VersionVector,
};

/// A key's state with what the keyspace keeps beside it. Invariant: `index` is
/// `KeyIndex::of(&state)`, `hash` is `key_hash(key, index.digest())` and `visible` is
/// `state.key_type(&index)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Slot {
    state: KeyState,
    index: KeyIndex,
    hash: Digest,
    visible: Option<KeyType>,
}

impl Slot {
    /// A slot for `state`, indexed from scratch: O(size of the state).
    fn new(key: &[u8], state: KeyState) -> Self {
        let index = KeyIndex::of(&state);
        let mut slot = Slot {
            state,
            index,
            hash: Digest::ZERO,
            visible: None,
        };
        slot.refresh(key);
        slot
    }

    /// Recomputes what follows from the index: O(log n) plus the key's length.
    fn refresh(&mut self, key: &[u8]) {
        self.hash = key_hash(key, &self.index.digest());
        self.visible = self.state.key_type(&self.index);
    }

    fn live(&self) -> bool {
        self.visible.is_some()
    }

    /// Compacts one counter (the key's own, a hash field's, or a sorted set member's score) at
    /// `stable`, updating the index for that part alone; how many entries were merged away, and
    /// for a score, the entry to wait for before it can fold further (`ZSet::compact_member`).
    fn compact(&mut self, key: &[u8], what: &Counted, stable: &VersionVector) -> Folded {
        if *what == Counted::Hll {
            return self.compact_hll(key, stable);
        }
        let counter = match what {
            Counted::Key => Some(&self.state.scalar.counter),
            Counted::Field(f) => match self.state.hash.get(f) {
                Some(s) => Some(&s.counter),
                None => return Folded::default(),
            },
            Counted::Member(_) | Counted::Hll => None,
        };
        if counter.is_some_and(|c| !c.mergeable(stable)) {
            return Folded::default();
        }
        let part = match what {
            Counted::Key => Part::Scalar,
            Counted::Field(f) => Part::Field(f),
            Counted::Member(m) => Part::ZMember(m),
            Counted::Hll => return Folded::default(),
        };
        let mut buf = Vec::new();
        self.index.remove(&self.state, part, &mut buf);
        let folded = match what {
            Counted::Key => Folded {
                merged: self.state.scalar.counter.compact(stable),
                waiting: None,
            },
            Counted::Field(f) => Folded {
                merged: self
                    .state
                    .hash
                    .get_mut(f)
                    .map_or(0, |s| s.counter.compact(stable)),
                waiting: None,
            },
            Counted::Member(m) => self
                .state
                .zset
                .as_mut()
                .map(|z| z.compact_member(m, stable))
                .unwrap_or_default(),
            Counted::Hll => Folded::default(),
        };
        self.index.add(&self.state, part, &mut buf);
        self.refresh(key);
        folded
    }

    /// Folds the HyperLogLog entries `stable` covers, per actor; each entry is a part of its
    /// own, so those folded leave the index and the folded ones enter it.
    fn compact_hll(&mut self, key: &[u8], stable: &VersionVector) -> Folded {
        let spans = |state: &KeyState| -> Vec<Span> {
            state
                .hll
                .as_ref()
                .map(|h| h.parts.keys().copied().collect())
                .unwrap_or_default()
        };
        if !self.state.hll.as_ref().is_some_and(|h| h.mergeable(stable)) {
            return Folded::default();
        }
        let mut buf = Vec::new();
        for s in spans(&self.state) {
            self.index.remove(&self.state, Part::HllSpan(s), &mut buf);
        }
        let merged = self.state.hll.as_mut().map_or(0, |h| h.compact(stable));
        for s in spans(&self.state) {
            self.index.add(&self.state, Part::HllSpan(s), &mut buf);
        }
        self.refresh(key);
        Folded {
            merged,
            waiting: None,
        }
    }

    /// Drops the list's and the text's collectable tombstones (`Sequence::collect`), taking
    /// their elements out of the index.
    fn collect(&mut self, key: &[u8], stable: &VersionVector, epoch: u64) -> u64 {
        let mut buf = Vec::new();
        let index = &mut self.index;
        let mut dropped = 0;
        if let Some(l) = self.state.list.as_mut() {
            dropped += l.seq.collect_with(stable, epoch, |run| {
                index.toggle_run(SeqRun::List(run), &mut buf);
            });
        }
        if let Some(t) = self.state.text.as_mut() {
            dropped += t.seq.collect_with(stable, epoch, |run| {
                index.toggle_run(SeqRun::Text(run), &mut buf);
            });
        }
        if dropped > 0 {
            self.refresh(key);
        }
        dropped
    }

    /// Stamps every tombstone collection `epoch`; whether it holds any.
    fn restamp(&mut self, epoch: u64) -> bool {
        let mut any = false;
        if let Some(l) = self.state.list.as_mut() {
            l.seq.restamp(epoch);
            any |= l.seq.has_tombstones();
        }
        if let Some(t) = self.state.text.as_mut() {
            t.seq.restamp(epoch);
            any |= t.seq.has_tombstones();
        }
        any
    }

    /// Applies one op, updating the index part by part: the cost is that of the parts the
    /// op touches (for SADD, its members), except for SET and DEL, which clear every slot.
    fn apply(&mut self, key: &[u8], meta: OpMeta<'_>, payload: &Payload, epoch: u64) -> KeyChange {
        let mut buf = Vec::new();
        let touched = Touched::by(payload, meta.dot);
        if let Touched::Parts(parts) = &touched {
            for p in parts {
                self.index.remove(&self.state, *p, &mut buf);
            }
        }
        let index = &mut self.index;
        let by_parts = matches!(touched, Touched::Parts(_));
        let mut change = self.state.apply(meta, payload, epoch, &mut |run| {
            if by_parts {
                index.toggle_run(run, &mut buf);
            }
        });
        match &touched {
            Touched::Parts(parts) => {
                for p in parts {
                    self.index.add(&self.state, *p, &mut buf);
                }
            }
            Touched::All => self.index = KeyIndex::of(&self.state),
        }
        change.conflicts.extend(self.state.type_clash(&self.index));
        self.refresh(key);
        change
    }
}

/// Every key's CRDT state, plus the replica digest: the XOR of each retained key's
/// `blake3(version || len(key) || key || state digest)`, where a state digest is the XOR of
/// `blake3` of each part of the state (its scalar, MV register, each set member with its
/// tags, each hash field; `codec::encode_part`), kept up to date on every change at the cost
/// of the parts changed (docs/design.md, "Digests").
///
/// A keyspace reflects exactly the ops of its replica's applied version vector; `merge` needs
/// that vector of both sides.
///
/// Keys are found by hash and walked in order: `keys` answers every lookup (a read, an op's
/// apply) in one hash and a probe or two, and `order` holds the same keys sorted, for the
/// walks that promise key order (KEYS, SCAN, snapshots, the store). Invariant: the two hold
/// the same set of keys. (A `BTreeMap` alone cost a GET about 30 key comparisons, each a
/// cache miss into a key's bytes: 40 % of a node's CPU under `redis-benchmark -t get`,
/// BENCHMARKS.md 7g.) Nothing order-dependent ever iterates `keys`, whose order is random.
/// The slots are boxed so that growing a shard moves 40 bytes per key, not the slot.
///
/// Two keyspaces are equal when they hold the same keys with the same states; `increments`
/// is bookkeeping about how they got there.
#[derive(Clone, Debug, Default)]
pub struct Keyspace {
    keys: KeyTable<Box<Slot>>,
    order: BTreeSet<Bytes>,
    digest: Digest,
    live: usize,
    /// Every counter entry that may still take part in a compaction, by the dot at its end:
    /// the key and the counter holding it (one dot may name several: a ZADD of many members). An entry comes
    /// in when an increment is applied or a state is installed (merged, loaded) and leaves at
    /// the first compaction whose stable vector covers it, which compacts its counter then.
    /// So a compaction costs the increments it finds stable, not the keys with counters (a
    /// scan of every key holding more than one entry, once per gossip interval, took 20 % of
    /// a node's CPU under `redis-benchmark -t incr`, and never ended for a counter that two
    /// regions incremented). Entries of keys changed since are harmless: their compaction
    /// merges nothing.
    increments: BTreeMap<ActorId, BTreeSet<(u64, Bytes, Counted)>>,
    /// The collection epoch that deletes applied now belong to (`Keyspace::next_epoch`).
    epoch: u64,
    /// Keys that may hold collectable tombstones, by the epoch of a delete that made one (or
    /// that installed the state): a collection
    /// up to an epoch looks at these keys only, as a compaction does at `increments`.
    tombstones: BTreeMap<u64, BTreeSet<Bytes>>,
    /// Every key with a deadline, by its earliest one: what the expiry sweep walks
    /// (`Keyspace::due`). Invariant: holds `(state.expires(), key)` for every key that has one.
    deadlines: BTreeSet<(u64, Bytes)>,
    /// This region's wall clock (milliseconds since the Unix epoch), as the replica last set
    /// it: a key whose earliest deadline it has passed reads as absent until its reap.
    clock: u64,
}

impl PartialEq for Keyspace {
    fn eq(&self, other: &Self) -> bool {
        // `digest` and `live` follow from the keys' states.
        self.keys == other.keys && self.order == other.order
    }
}

impl Eq for Keyspace {}

/// A stand-in op for computing the outcome of a local increment before it is issued.
fn probe(deps: &VersionVector) -> OpMeta<'_> {
    OpMeta {
        dot: Dot::new(ActorId(u32::MAX), u64::MAX),
        hlc: Hlc {
            epoch: u32::MAX,
            time: u64::MAX,
            count: u32::MAX,
        },
        deps,
    }
}

/// Checks that an increment of `s` keeps its counter inside `i64`.
fn check_increment(
    s: &Scalar,
    by: i64,
    from: Option<Dot>,
    deps: &VersionVector,
) -> Result<(), PrepareError> {
    let mut after = s.clone();
    after.increment(probe(deps).tag(), deps, by, from);
    i64::try_from(after.counter.value_wide()).map_err(|_| PrepareError::Overflow)?;
    Ok(())
}

/// What INCRBY does to a scalar whose visible part is a register: convert its integer.
fn conversion(s: &Scalar) -> Result<Option<Dot>, PrepareError> {
    match s.register_value() {
        Some((tag, v)) => {
            parse_int(v).ok_or(PrepareError::NotInteger)?;
            Ok(Some(tag.dot))
        }
        None => Ok(None),
    }
}

impl Keyspace {
    /// An empty keyspace.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self, key: &[u8]) -> Option<&KeyState> {
        self.keys.get(key).map(|s| &s.state)
    }

    /// The slot of `key`, created empty (and placed in `order`) if the key had none.
    fn slot_mut(&mut self, key: &Bytes) -> &mut Slot {
        let (slot, made) = self.keys.get_or_insert_with(key, Box::default);
        if made {
            self.order.insert(key.clone());
        }
        slot
    }

    /// Drops the slot of `key` from both maps.
    fn take_slot(&mut self, key: &[u8]) -> Option<Box<Slot>> {
        let slot = self.keys.remove(key)?;
        self.order.remove(key);
        if let Some(at) = slot.state.expires() {
            self.deadlines.remove(&(at, Bytes::copy_from_slice(key)));
        }
        Some(slot)
    }

    /// Moves `key` in the deadline index from `before` to its earliest deadline now.
    fn note_deadline(&mut self, key: &Bytes, before: Option<u64>) {
        let after = self.keys.get(key).and_then(|s| s.state.expires());
        if before != after {
            if let Some(at) = before {
                self.deadlines.remove(&(at, key.clone()));
            }
            if let Some(at) = after {
                self.deadlines.insert((at, key.clone()));
            }
        }
    }

    /// The slot of a key that has not expired at this region's clock: what every read goes
    /// through. A key whose earliest deadline has passed reads as absent, whole, until the
    /// reap of that deadline is applied (at once at a leader, `Keyspace::due`).
    fn readable(&self, key: &[u8]) -> Option<&Slot> {
        self.keys
            .get(key)
            .map(|s| &**s)
            .filter(|s| s.state.expires().is_none_or(|at| at > self.clock))
    }

    /// A visible key's state and visible type.
    pub(crate) fn slot_state(&self, key: &[u8]) -> Option<(&KeyState, KeyType)> {
        let slot = self.readable(key)?;
        Some((&slot.state, slot.visible?))
    }

    /// Sets this region's wall clock, in milliseconds since the Unix epoch, against which
    /// deadlines are read. It never goes back: a key read as expired stays so.
    pub fn set_clock(&mut self, wall: u64) {
        self.clock = self.clock.max(wall);
    }

    /// This region's wall clock as last set.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// The earliest deadline of a visible key (milliseconds since the Unix epoch), if it has
    /// one: what TTL reads.
    pub fn expires(&self, key: &[u8]) -> Option<u64> {
        self.readable(key)
            .filter(|s| s.live())
            .and_then(|s| s.state.expires())
    }

    /// Whether the key holds any deadline entry, PERSIST's included: its counters then do not
    /// compact (`Keyspace::compact`).
    pub fn holds_deadlines(&self, key: &[u8]) -> bool {
        self.keys.get(key).is_some_and(|s| s.state.ttl.is_some())
    }

    /// Up to `limit` deadlines the clock has passed, as `(key, context)`: each is reaped by
    /// an op whose payload is `Payload::Reap { ctx: context }`, which removes it.
    pub fn due(&self, limit: usize) -> Vec<(Bytes, VersionVector)> {
        let mut out = Vec::new();
        for (at, key) in &self.deadlines {
            if *at > self.clock || out.len() >= limit {
                break;
            }
            if let Some(d) = self.keys.get(key).and_then(|s| s.state.ttl.as_deref()) {
                out.extend(d.due(self.clock).map(|e| (key.clone(), e.ctx.clone())));
            }
        }
        out
    }

    /// The contexts of `key`'s deadlines the clock has passed (`due`, for one key).
    pub fn due_key(&self, key: &[u8]) -> Vec<VersionVector> {
        self.keys
            .get(key)
            .and_then(|s| s.state.ttl.as_deref())
            .map(|d| d.due(self.clock).map(|e| e.ctx.clone()).collect())
            .unwrap_or_default()
    }

    /// The earliest deadline the clock has not passed yet: when to look again.
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadlines
            .range((self.clock.saturating_add(1), Bytes::new())..)
            .next()
            .map(|(at, _)| *at)
    }

    /// Number of keys with a deadline (as Redis's `expires` count in INFO).
    pub fn expiring_len(&self) -> usize {
        self.deadlines.len()
    }

    /// The earliest deadline of any key, passed or not.
    pub fn first_deadline(&self) -> Option<u64> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    fn expect_type(&self, key: &[u8], allowed: &[KeyType]) -> Result<(), PrepareError> {
        match self.key_type(key) {
            Some(found) if !allowed.contains(&found) => Err(PrepareError::WrongType { found }),
            _ => Ok(()),
        }
    }

    /// Turns a local command into the payload of an op, from current state. `applied` is this
    /// replica's applied vector, which will be the op's `deps`. Nothing changes here: the
    /// caller then applies the payload with `apply`.
    pub fn prepare(
        &self,
        key: &[u8],
        cmd: Command,
        applied: &VersionVector,
    ) -> Result<Payload, PrepareError> {
        // A write that keeps the key's TTL re-sets the deadline it read, so that what it
        // writes expires with the key (`expiry`).
        let keeps_ttl = !matches!(
            cmd,
            Command::Set(_) | Command::SetTimed { .. } | Command::Del | Command::Expire(_)
        );
        let state = self.state(key);
        let floor = state.and_then(|s| expiry::floor_of(&s.ttl));
        // A key emptied by its last pop or SREM keeps its deadline until it passes; a write
        // that creates the key anew does not inherit it, as in Redis.
        let stale = !self.contains(key) && state.and_then(KeyState::expires).is_some();
        let payload = self.prepare_write(key, cmd, applied, floor.clone())?;
        let at = match self.expires(key) {
            Some(at) => Some(at),
            None if stale => Some(expiry::NEVER),
            None => None,
        };
        Ok(match at {
            Some(at) if keeps_ttl => Payload::Timed {
                write: Box::new(payload),
                at,
                floor,
            },
            _ => payload,
        })
    }

    /// `prepare`, leaving the key's deadlines to the caller.
    fn prepare_write(
        &self,
        key: &[u8],
        cmd: Command,
        applied: &VersionVector,
        floor: Option<VersionVector>,
    ) -> Result<Payload, PrepareError> {
        let empty = KeyState::default();
        let state = self.state(key).unwrap_or(&empty);
        Ok(match cmd {
            Command::Set(value) => Payload::Set { value },
            Command::SetTimed { value, at } => match at.or_else(|| self.expires(key)) {
                // A SET removes everything the deadlines it replaces covered.
                Some(at) => Payload::Timed {
                    write: Box::new(Payload::Set { value }),
                    at,
                    floor: None,
                },
                None => Payload::Set { value },
            },
            Command::Expire(at) => Payload::Expire { at, floor },
            Command::MvSet { value, ctx } => {
                self.expect_type(key, &[KeyType::MvRegister])?;
                Payload::MvSet {
                    value,
                    ctx: ctx.map(|c| c.meet(applied)),
                }
            }
            Command::IncrBy(by) => {
                let from = match self.key_type(key) {
                    None | Some(KeyType::Counter) => None,
                    Some(KeyType::Register) => conversion(&state.scalar)?,
                    Some(found) => return Err(PrepareError::WrongType { found }),
                };
                check_increment(&state.scalar, by, from, applied)?;
                Payload::IncrBy { by, from }
            }
            Command::SAdd(members) => {
                self.expect_type(key, &[KeyType::Set])?;
                Payload::SAdd(sorted_unique(members))
            }
            Command::SRem(members) => {
                self.expect_type(key, &[KeyType::Set])?;
                Payload::SRem(sorted_unique(members))
            }
            Command::HSet(pairs) => {
                self.expect_type(key, &[KeyType::Hash])?;
                let last: BTreeMap<Bytes, Bytes> = pairs.into_iter().collect();
                Payload::HSet(
                    last.into_iter()
                        .map(|(field, value)| FieldWrite { field, value })
                        .collect(),
                )
            }
            Command::HDel(fields) => {
                self.expect_type(key, &[KeyType::Hash])?;
                Payload::HDel(sorted_unique(fields))
            }
            Command::HIncrBy { field, by } => {
                self.expect_type(key, &[KeyType::Hash])?;
                let empty_field = Scalar::default();
                let f = state.hash.get(&field).unwrap_or(&empty_field);
                let from = conversion(f)?;
                check_increment(f, by, from, applied)?;
                Payload::HIncrBy { field, by, from }
            }
            Command::Del => Payload::Del,
            Command::List(splice) => {
                self.expect_type(key, &[KeyType::List])?;
                let seq = state.list.as_ref().map(|l| &l.seq);
                Payload::List(prepare_edit(seq, splice)?)
            }
            Command::Text(splice) => {
                self.expect_type(key, &[KeyType::Text])?;
                let seq = state.text.as_ref().map(|t| &t.seq);
                Payload::Text(prepare_edit(seq, splice)?)
            }
            Command::PfAdd(observations) => {
                self.expect_type(key, &[KeyType::Hll])?;
                // One observation per register, the highest, in register order; a register or
                // rank out of range is dropped (`Sketch::raise`).
                let mut sketch = Sketch::new();
                for o in observations {
                    sketch.raise(o);
                }
                Payload::PfAdd(sketch.observations().collect())
            }
            Command::ZAdd(members) => {
                self.expect_type(key, &[KeyType::ZSet])?;
                let last: BTreeMap<Bytes, Score> = members.into_iter().collect();
                if last.values().any(|s| s.get().is_nan()) {
                    return Err(PrepareError::NotANumber);
                }
                Payload::ZAdd(
                    last.into_iter()
                        .map(|(member, score)| ScoreWrite { member, score })
                        .collect(),
                )
            }
            Command::ZIncrBy { member, by } => {
                self.expect_type(key, &[KeyType::ZSet])?;
                let now = self.zset(key).ok().and_then(|z| z.score(&member));
                let after = now.map_or(by.get(), |s| s + by.get());
                if after.is_nan() {
                    return Err(PrepareError::NotANumber);
                }
                Payload::ZIncrBy { member, by }
            }
            Command::ZRem(members) => {
                self.expect_type(key, &[KeyType::ZSet])?;
                Payload::ZRem(sorted_unique(members))
            }
        })
    }

    /// Applies one op to `key`. The caller guarantees exactly-once, causal delivery; any
    /// payload is accepted without panicking. Costs O(log n) per member or field the op
    /// names (plus their tags), whatever the size of the key, except SET and DEL, which
    /// clear every slot.
    pub fn apply(&mut self, key: &Bytes, meta: OpMeta<'_>, payload: &Payload) -> Applied {
        let epoch = self.epoch;
        let slot = self.slot_mut(key);
        let expired_before = slot.state.expires();
        let mut digest = slot.hash;
        let was_live = slot.live();
        let KeyChange { conflicts, deltas } = slot.apply(key, meta, payload, epoch);
        let retained = slot.state.is_retained();
        let is_live = slot.live();
        if retained {
            digest.xor(&slot.hash);
        }
        self.digest.xor(&digest);
        self.live = self.live - usize::from(was_live) + usize::from(retained && is_live);
        if retained {
            self.note_deadline(key, expired_before);
        } else {
            if let Some(at) = expired_before {
                self.deadlines.remove(&(at, key.clone()));
            }
            self.take_slot(key);
        }
        if retained && deltas.iter().any(|d| matches!(d, Delta::Delete { .. })) {
            self.note_tombstones(key);
        }
        let write = match payload {
            Payload::Timed { write, .. } => write,
            other => other,
        };
        match write {
            Payload::IncrBy { .. } => self.note_increment(meta.dot, key, Counted::Key),
            Payload::HIncrBy { field, .. } => {
                self.note_increment(meta.dot, key, Counted::Field(field.clone()));
            }
            Payload::ZIncrBy { member, .. } => {
                self.note_increment(meta.dot, key, Counted::Member(member.clone()));
            }
            Payload::PfAdd(_) => self.note_increment(meta.dot, key, Counted::Hll),
            // Concurrent ZADDs leave a member several entries, which fold like increments:
            // every member with more than one is waiting for a compaction, whatever made it so.
            Payload::ZAdd(writes) => {
                let crowded: Vec<Bytes> = self
                    .state(key)
                    .and_then(|s| s.zset.as_ref())
                    .map(|z| {
                        writes
                            .iter()
                            .filter(|w| {
                                z.members
                                    .get(&w.member)
                                    .is_some_and(|m| m.entries.len() > 1)
                            })
                            .map(|w| w.member.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                for m in crowded {
                    self.note_increment(meta.dot, key, Counted::Member(m));
                }
            }
            _ => {}
        }
        Applied { conflicts, deltas }
    }

    /// Installs a key's new state, indexed from scratch, keeping digest and live count in
    /// step.
    fn replace(&mut self, key: &Bytes, state: KeyState) {
        self.remove_key(key);
        if state.is_retained() {
            self.insert(key.clone(), Slot::new(key, state));
        }
    }

    fn insert(&mut self, key: Bytes, mut slot: Slot) {
        for (dot, what) in slot.state.counter_tips() {
            self.note_increment(dot, &key, what);
        }
        // Its tombstones' deletes are among what this replica has applied once it is
        // installed, in no epoch known more closely.
        if slot.restamp(self.epoch) {
            self.note_tombstones(&key);
        }
        self.digest.xor(&slot.hash);
        self.live += usize::from(slot.live());
        if let Some(at) = slot.state.expires() {
            self.deadlines.insert((at, key.clone()));
        }
        self.order.insert(key.clone());
        self.keys.insert(key, Box::new(slot));
    }

    /// State-based join: afterwards `self` holds the state of a replica that applied the union
    /// of both sides' ops. `self_ctx` and `other_ctx` are the sides' applied vectors; the
    /// caller merges the vectors themselves.
    pub fn merge(&mut self, self_ctx: &VersionVector, other: &Keyspace, other_ctx: &VersionVector) {
        let empty = KeyState::default();
        let keys: Vec<Bytes> = {
            let mut ks: Vec<Bytes> = self.order.iter().cloned().collect();
            ks.extend(
                other
                    .order
                    .iter()
                    .filter(|k| !self.keys.contains_key(k))
                    .cloned(),
            );
            ks
        };
        for key in keys {
            let theirs = other.state(&key).unwrap_or(&empty);
            let mut mine = self.state(&key).cloned().unwrap_or_default();
            let before = mine.clone();
            mine.join(self_ctx, theirs, other_ctx);
            if mine != before || !self.keys.contains_key(&key) {
                self.replace(&key, mine);
            }
        }
    }

    /// The visible value, or `None` if the key is absent or holds nothing visible.
    pub fn get(&self, key: &[u8]) -> Option<Value> {
        let slot = self.readable(key)?;
        slot.state.value(slot.visible?)
    }

    /// The value of a string key, as GET reads it, in one lookup: `Value::Str` for a
    /// register, `Value::Int` for a counter, `Ok(None)` when the key holds nothing visible,
    /// and `Err` with the visible type of any other key, whose value is not read (so a GET of
    /// a large set refuses it without copying it).
    pub fn string(&self, key: &[u8]) -> Result<Option<Value>, KeyType> {
        Ok(self.string_ref(key)?.map(|v| match v {
            StringRef::Str(b) => Value::Str(b.clone()),
            StringRef::Int(n) => Value::Int(n),
        }))
    }

    /// `string`, without copying the value: a reply can be encoded from it in place.
    pub fn string_ref(&self, key: &[u8]) -> Result<Option<StringRef<'_>>, KeyType> {
        let Some(slot) = self.readable(key) else {
            return Ok(None);
        };
        match slot.visible {
            None => Ok(None),
            Some(KeyType::Register) => Ok(slot
                .state
                .scalar
                .register_value()
                .map(|(_, b)| StringRef::Str(b))),
            Some(KeyType::Counter) => Ok(Some(StringRef::Int(slot.state.scalar.counter.value()))),
            Some(other) => Err(other),
        }
    }

    /// The visible type (see the type-clash rule in the crate docs), in O(1).
    pub fn key_type(&self, key: &[u8]) -> Option<KeyType> {
        self.readable(key)?.visible
    }

    /// A list key's sequence, read in place: `Ok(None)` when the key holds nothing visible,
    /// `Err` with the visible type of any other key.
    pub fn list(&self, key: &[u8]) -> Result<Option<&Sequence<Items>>, KeyType> {
        match self.readable(key).map(|s| (s.visible, &s.state)) {
            None | Some((None, _)) => Ok(None),
            Some((Some(KeyType::List), state)) => Ok(state.list.as_ref().map(|l| &l.seq)),
            Some((Some(other), _)) => Err(other),
        }
    }

    /// A HyperLogLog key read in place; `Err` with the key's type if it holds another.
    pub fn hll(&self, key: &[u8]) -> Result<Option<HllView<'_>>, KeyType> {
        match self.readable(key).map(|s| (s.visible, &s.state)) {
            None | Some((None, _)) => Ok(None),
            Some((Some(KeyType::Hll), state)) => Ok(state.hll.as_deref().map(HllView::new)),
            Some((Some(other), _)) => Err(other),
        }
    }

    /// A text key's sequence, read in place, as `list` reads a list.
    pub fn text(&self, key: &[u8]) -> Result<Option<&Sequence<Text>>, KeyType> {
        match self.readable(key).map(|s| (s.visible, &s.state)) {
            None | Some((None, _)) => Ok(None),
            Some((Some(KeyType::Text), state)) => Ok(state.text.as_ref().map(|t| &t.seq)),
            Some((Some(other), _)) => Err(other),
        }
    }

    /// The MV register siblings with their stamps, sorted by stamp (for MVGET).
    pub fn mv_siblings(&self, key: &[u8]) -> Option<Vec<(Bytes, Stamp)>> {
        let s = self.readable(key)?.state.mv_siblings();
        (!s.is_empty()).then_some(s)
    }

    /// Whether the key holds something visible.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.readable(key).is_some_and(|s| s.live())
    }

    /// Number of keys holding something visible, those expired and not yet reaped included
    /// (as Redis's DBSIZE counts them).
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no key holds anything visible.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// A key holding something visible, chosen by `pick` (a random number, for RANDOMKEY):
    /// any such key can be chosen, at the cost of walking about 1/256 of the keys.
    pub fn random_key(&self, pick: u64) -> Option<&Bytes> {
        let clock = self.clock;
        self.keys.pick(pick, |slot| {
            slot.live() && slot.state.expires().is_none_or(|at| at > clock)
        })
    }

    /// Keys holding something visible, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &Bytes> {
        self.order.iter().filter(|k| self.contains(k))
    }

    /// Keys holding something visible, sorted, from the first one after `after` (all of them
    /// when `after` is `None`): the resumable walk behind SCAN.
    pub fn keys_after<'a>(&'a self, after: Option<&[u8]>) -> impl Iterator<Item = &'a Bytes> + 'a {
        use std::ops::Bound;
        let start = match after {
            Some(key) => Bound::Excluded(key),
            None => Bound::Unbounded,
        };
        self.order
            .range::<[u8], _>((start, Bound::Unbounded))
            .filter(|k| self.contains(k))
    }

    /// Number of keys holding state: `len()`, plus the lists and texts whose elements are all
    /// deleted (their tombstones are kept, as later inserts may name them).
    pub fn retained_len(&self) -> usize {
        self.keys.len()
    }

    /// The replica digest, in O(1).
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The hash of one retained key.
    pub fn key_digest(&self, key: &[u8]) -> Option<Digest> {
        self.keys.get(key).map(|s| s.hash)
    }

    /// The replica digest computed from scratch (every key's state re-indexed), to check
    /// the incremental one against.
    pub fn recompute_digest(&self) -> Digest {
        let mut d = Digest::ZERO;
        for (k, s) in self.keys.iter() {
            d.xor(&key_hash(k, &KeyIndex::of(&s.state).digest()));
        }
        d
    }

    /// The canonical bytes of a key's retained state: the same bytes as `encode_key`'s.
    /// Equal states give equal bytes, and equal bytes equal key digests.
    pub fn canonical_key_bytes(&self, key: &[u8]) -> Option<Vec<u8>> {
        let slot = self.keys.get(key)?;
        let buf = Vec::with_capacity(slot.index.encoded_len_hint());
        Some(crate::codec::encode_state_into(&slot.state, buf))
    }

    /// The key's full retained state as storage bytes; `None` if the key
    /// holds nothing retained. The bytes start with the format version
    /// (`STATE_FORMAT_VERSION`) and are canonical: equal states give equal bytes. O(size of
    /// the key).
    pub fn encode_key(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.canonical_key_bytes(key)
    }

    /// Replaces the key's state with decoded `bytes` (as `encode_key` made them), keeping the
    /// digest right. Errors leave the keyspace unchanged. The bytes come from the store or
    /// from a peer's snapshot, and nothing in them can make this panic; the caller decides
    /// which applied vector the loaded state belongs to.
    pub fn load_key(&mut self, key: Bytes, bytes: &[u8]) -> Result<(), StateDecodeError> {
        let state = decode_state(bytes)?;
        // The decoder accepts only canonical encodings of retained states.
        debug_assert!(state.is_retained());
        debug_assert_eq!(state.encode(), bytes);
        self.remove_key(&key);
        let slot = Slot::new(&key, state);
        self.insert(key, slot);
        Ok(())
    }

    /// Removes a key's retained state entirely (used when a snapshot replaces state); keeps
    /// the digest right. Absent keys are ignored.
    pub fn remove_key(&mut self, key: &[u8]) {
        if let Some(old) = self.take_slot(key) {
            self.digest.xor(&old.hash);
            self.live -= usize::from(old.live());
        }
    }

    /// Every key with retained state, sorted: for snapshots and stores.
    pub fn retained_keys(&self) -> impl Iterator<Item = &Bytes> + '_ {
        self.order.iter()
    }
}

/// The payload of a list or text edit at positions of `seq` (`None`: the key holds none).
fn prepare_edit<C: SeqContent>(
    seq: Option<&Sequence<C>>,
    splice: Splice<C>,
) -> Result<SeqEdit<C>, PrepareError> {
    let empty = Sequence::new();
    let seq = seq.unwrap_or(&empty);
    let mut delete = Delete::default();
    for (pos, len) in splice.delete {
        let d = seq.prepare_delete(pos, len).map_err(seq_error)?;
        delete.spans.extend(d.spans);
    }
    let insert = match splice.insert {
        // Inserting nothing changes nothing, wherever it is.
        Some((pos, content)) if content.is_empty() => {
            if pos > seq.len() {
                return Err(PrepareError::OutOfRange);
            }
            None
        }
        Some((pos, content)) => Some(seq.prepare_insert(pos, content).map_err(seq_error)?),
        None => None,
    };
    Ok(SeqEdit { delete, insert })
}

fn seq_error(e: SeqError) -> PrepareError {
    match e {
        SeqError::TooLong(n) => PrepareError::TooLong(n),
        _ => PrepareError::OutOfRange,
    }
}

fn sorted_unique(mut v: Vec<Bytes>) -> Vec<Bytes> {
    v.sort();
    v.dedup();
    v
}
