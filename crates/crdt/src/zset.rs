//! The sorted set (ZADD): an observed-remove set of members, each with a score made of entries
//! tagged like every other entry, so that a ZADD, a ZREM and concurrent ZINCRBYs all merge.
//!
//! A member is present while it holds an entry. ZADD removes the member's entries its `deps`
//! cover and adds a *set* entry; ZINCRBY adds an *add* entry and removes nothing, so
//! concurrent increments all count; ZREM removes the entries its `deps` cover. The score is the
//! newest set entry's value (by LWW stamp), or the first add without one, plus every other
//! add entry in *causal order*: by depth (how many ops the writer had applied, the sum of its
//! `deps`), then by dot. An op's depth exceeds that of every op it observed, so this order
//! extends causality, and every region agrees on it; HLC stamps would not do, since a node
//! that refuses a peer's clock as too far ahead writes after it with a lower stamp. The sum is
//! a left fold in that order, so floats sum to the same bits everywhere, and a single writer's
//! increments come in the order it made them: one client sees exactly Redis's sums. An add
//! that would make the score NaN (`+inf` met `-inf`) is skipped, so no score is NaN.
//!
//! Add entries would grow with the number of increments, so `compact_member` folds the
//! longest prefix (in causal order) of a member's entries that a causally stable vector covers
//! into one *sum* entry, named by the prefix's last dot and depth and keeping the stamp of its
//! newest entry (so the key's visible type does not change), when no set entry lies after the
//! prefix. Every op still to come observed the whole prefix (its `deps` cover the
//! stable vector), so its depth is higher, and every entry after the prefix is later in the
//! order too: the fold is the same left fold done earlier, and the score, and every later op's
//! effect, are unchanged. A sum entry counts as a set entry; it differs only in a state join,
//! where it wins over an entry of the same dot (the part of it that the other side still
//! holds).
//!
//! Beside the members, `order` holds `(score, member)` for each, in Redis's order, with ranks:
//! ranges by score, rank or name cost O(log n + m). Small sets keep it as a sorted vector (as
//! Redis keeps small sorted sets in a listpack), large ones as an order-statistic B-tree.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{ActorId, Dot, Stamp, Tag, VersionVector};

/// A score as it travels in commands and ops: an `f64`, kept as its bits so that commands and
/// payloads compare exactly. A NaN score is refused where it would apply.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Score(u64);

impl Score {
    /// The score `v`.
    pub fn new(v: f64) -> Score {
        Score(v.to_bits())
    }

    /// Its value.
    pub fn get(self) -> f64 {
        f64::from_bits(self.0)
    }
}

impl std::fmt::Debug for Score {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

/// How an entry counts toward its member's score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// ZADD: the base; the newest base by stamp counts.
    Set,
    /// ZINCRBY: added to the base in stamp order.
    Add,
    /// Entries folded by compaction: a base.
    Sum,
}

/// One score entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) tag: Tag,
    pub(crate) kind: Kind,
    /// The value's `f64` bits (never NaN).
    pub(crate) bits: u64,
    /// The writer's causal depth: the sum of its op's `deps` (`depth`).
    pub(crate) depth: u64,
    /// The actor of the entry's LWW stamp: the writer's (`tag.dot.actor`), but for a sum,
    /// which keeps the stamp of the newest entry it folded (`tag.hlc` is that entry's too).
    pub(crate) actor: ActorId,
}

/// An op's causal depth: how many ops its writer had applied.
pub(crate) fn depth(deps: &VersionVector) -> u64 {
    deps.iter().fold(0u64, |d, (_, seq)| d.saturating_add(seq))
}

impl Entry {
    fn value(&self) -> f64 {
        f64::from_bits(self.bits)
    }

    /// Causal order: by depth, then by dot.
    fn order(&self) -> (u64, Dot) {
        (self.depth, self.tag.dot)
    }

    /// LWW order, for choosing among set entries.
    fn stamp(&self) -> (Stamp, Dot) {
        let stamp = Stamp {
            hlc: self.tag.hlc,
            actor: self.actor,
        };
        (stamp, self.tag.dot)
    }
}

/// A member's entries, sorted by dot; never empty while the member is present.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) entries: Vec<Entry>,
}

/// `acc + x`, unless that is NaN.
fn add(acc: f64, x: f64) -> f64 {
    let s = acc + x;
    if s.is_nan() { acc } else { s }
}

/// The score of `entries` (any order): the newest base, then the adds in stamp order.
fn fold(entries: &[Entry]) -> f64 {
    if let [one] = entries {
        return one.value();
    }
    let base = entries
        .iter()
        .filter(|e| e.kind != Kind::Add)
        .max_by_key(|e| e.stamp())
        .map(Entry::value);
    let mut adds: Vec<&Entry> = entries.iter().filter(|e| e.kind == Kind::Add).collect();
    adds.sort_unstable_by_key(|e| e.order());
    let mut adds = adds.into_iter().map(Entry::value);
    let start = base.or_else(|| adds.next()).unwrap_or(0.0);
    adds.fold(start, add)
}

impl Member {
    /// The member's score.
    pub(crate) fn score(&self) -> f64 {
        fold(&self.entries)
    }

    fn remove_covered(&mut self, deps: &VersionVector) {
        self.entries.retain(|e| !deps.covers(e.tag.dot));
    }

    fn insert(&mut self, e: Entry) {
        match self.entries.binary_search_by_key(&e.tag.dot, |x| x.tag.dot) {
            // Only a forged op reuses a dot; the first entry stays.
            Ok(_) => {}
            Err(i) => self.entries.insert(i, e),
        }
    }

    /// The newest `(stamp, dot)` of the member's entries.
    pub(crate) fn newest(&self) -> Option<(Stamp, Dot)> {
        self.entries.iter().map(Entry::stamp).max()
    }
}

/// A score in Redis's order: by value, `-0` equal to `0`. Never NaN.
#[derive(Clone, Copy, Debug)]
struct Rank(f64);

impl Rank {
    fn new(v: f64) -> Rank {
        Rank(if v == 0.0 { 0.0 } else { v })
    }
}

impl PartialEq for Rank {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Rank {}
impl PartialOrd for Rank {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Rank {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0)
    }
}

type Key = (Rank, Bytes);

/// The least double above `v` (finite, not NaN, `-0` taken as `0`): `f64::next_up`, which
/// the workspace's minimum Rust version lacks.
fn next_up(v: f64) -> f64 {
    if v == 0.0 {
        f64::from_bits(1)
    } else if v > 0.0 {
        f64::from_bits(v.to_bits() + 1)
    } else {
        f64::from_bits(v.to_bits() - 1)
    }
}

/// Past this many members the order moves from a sorted vector into the B-tree, and back
/// below half of it.
const SMALL: usize = 128;
/// The B-tree's node size: a node is one allocation of this many keys.
const NODE: usize = 256;

/// `(score, member)` of every member, sorted, with ranks.
#[derive(Clone, Debug)]
enum Order {
    Small(Vec<Key>),
    Large(indexset::BTreeSet<Key>),
}

impl Default for Order {
    fn default() -> Self {
        Order::Small(Vec::new())
    }
}

impl Order {
    fn len(&self) -> usize {
        match self {
            Order::Small(v) => v.len(),
            Order::Large(t) => t.len(),
        }
    }

    /// How many keys sort before `k`.
    fn rank(&self, k: &Key) -> usize {
        match self {
            Order::Small(v) => v.partition_point(|x| x < k),
            Order::Large(t) => t.rank(k),
        }
    }

    fn get(&self, i: usize) -> Option<&Key> {
        match self {
            Order::Small(v) => v.get(i),
            Order::Large(t) => t.get_index(i),
        }
    }

    fn insert(&mut self, k: Key) {
        match self {
            Order::Small(v) => {
                if let Err(i) = v.binary_search(&k) {
                    v.insert(i, k);
                }
                if v.len() > SMALL {
                    let mut t = indexset::BTreeSet::with_maximum_node_size(NODE);
                    for k in v.drain(..) {
                        t.insert(k);
                    }
                    *self = Order::Large(t);
                }
            }
            Order::Large(t) => {
                t.insert(k);
            }
        }
    }

    fn remove(&mut self, k: &Key) {
        match self {
            Order::Small(v) => {
                if let Ok(i) = v.binary_search(k) {
                    v.remove(i);
                }
            }
            Order::Large(t) => {
                t.remove(k);
                if t.len() < SMALL / 2 {
                    *self = Order::Small(t.iter().cloned().collect());
                }
            }
        }
    }

    /// The keys at ranks `from..to`, in order (reversed if `rev`).
    fn slice(&self, from: usize, to: usize, rev: bool) -> Box<dyn Iterator<Item = &Key> + '_> {
        let to = to.min(self.len());
        let from = from.min(to);
        match (self, rev) {
            (Order::Small(v), false) => Box::new(v[from..to].iter()),
            (Order::Small(v), true) => Box::new(v[from..to].iter().rev()),
            (Order::Large(t), false) => Box::new(t.range_idx(from..to)),
            (Order::Large(t), true) => Box::new(t.range_idx(from..to).rev()),
        }
    }
}

/// The sorted set slot.
#[derive(Clone, Debug, Default)]
pub(crate) struct ZSet {
    /// Every member present, with its entries.
    pub(crate) members: BTreeMap<Bytes, Member>,
    /// Invariant: holds `(Rank::new(m.score()), name)` for each member `m`, and nothing else.
    order: Order,
}

impl PartialEq for ZSet {
    fn eq(&self, o: &Self) -> bool {
        // `order` follows from the members.
        self.members == o.members
    }
}
impl Eq for ZSet {}

/// What a compaction of one member did.
#[derive(Debug, Default)]
pub(crate) struct Folded {
    /// Entries merged away.
    pub(crate) merged: usize,
    /// The entry to wait for before the member can fold further: the first one in causal
    /// order that the bound did not cover.
    pub(crate) waiting: Option<Dot>,
}

impl ZSet {
    /// A slot holding `members` (decoded or joined), with its order built.
    pub(crate) fn from_members(members: BTreeMap<Bytes, Member>) -> ZSet {
        let mut z = ZSet {
            members,
            order: Order::default(),
        };
        let keys: Vec<Key> = z
            .members
            .iter()
            .map(|(m, e)| (Rank::new(e.score()), m.clone()))
            .collect();
        for k in keys {
            z.order.insert(k);
        }
        z
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Changes one member through `f`, keeping the order in step: the cost is the member's
    /// entries and O(log n).
    fn update(&mut self, name: &Bytes, f: impl FnOnce(&mut Member)) {
        let member = self.members.entry(name.clone()).or_default();
        let before = (!member.entries.is_empty()).then(|| member.score());
        f(member);
        let after = (!member.entries.is_empty()).then(|| member.score());
        if after.is_none() {
            self.members.remove(name);
        }
        if before.map(f64::to_bits) == after.map(f64::to_bits) {
            return;
        }
        if let Some(s) = before {
            self.order.remove(&(Rank::new(s), name.clone()));
        }
        if let Some(s) = after {
            self.order.insert((Rank::new(s), name.clone()));
        }
    }

    /// ZADD of one member: replaces the entries `deps` cover with a set entry.
    pub(crate) fn set(&mut self, tag: Tag, deps: &VersionVector, name: &Bytes, score: f64) {
        if score.is_nan() {
            return;
        }
        let depth = depth(deps);
        self.update(name, |m| {
            m.remove_covered(deps);
            m.insert(Entry {
                tag,
                kind: Kind::Set,
                bits: score.to_bits(),
                depth,
                actor: tag.dot.actor,
            });
        });
    }

    /// ZINCRBY: adds an add entry.
    pub(crate) fn add(&mut self, tag: Tag, deps: &VersionVector, name: &Bytes, by: f64) {
        if by.is_nan() {
            return;
        }
        let depth = depth(deps);
        self.update(name, |m| {
            m.insert(Entry {
                tag,
                kind: Kind::Add,
                bits: by.to_bits(),
                depth,
                actor: tag.dot.actor,
            });
        });
    }

    /// ZREM of one member: removes the entries `deps` cover.
    pub(crate) fn remove(&mut self, deps: &VersionVector, name: &Bytes) {
        if self.members.contains_key(name) {
            self.update(name, |m| m.remove_covered(deps));
        }
    }

    /// Removes from every member the entries `deps` cover.
    pub(crate) fn clear(&mut self, deps: &VersionVector) {
        let mut members = std::mem::take(&mut self.members);
        for m in members.values_mut() {
            m.remove_covered(deps);
        }
        members.retain(|_, m| !m.entries.is_empty());
        *self = ZSet::from_members(members);
    }

    /// State join with another replica's sorted set, given both sides' applied vectors: an
    /// entry stays if both sides hold it or the side without it had not seen its dot; of two
    /// entries with one dot, a sum wins (it folded the other).
    pub(crate) fn join(&mut self, ctx: &VersionVector, other: &ZSet, other_ctx: &VersionVector) {
        let names: Vec<Bytes> = self
            .members
            .keys()
            .chain(other.members.keys())
            .cloned()
            .collect();
        let mut members = BTreeMap::new();
        let empty = Member::default();
        for name in names {
            if members.contains_key(&name) {
                continue;
            }
            let mine = self.members.get(&name).unwrap_or(&empty);
            let theirs = other.members.get(&name).unwrap_or(&empty);
            let mut joined: BTreeMap<Dot, Entry> = BTreeMap::new();
            for e in &mine.entries {
                let in_theirs = theirs.entries.iter().find(|x| x.tag.dot == e.tag.dot);
                match in_theirs {
                    Some(t) if t.kind == Kind::Sum && e.kind != Kind::Sum => {
                        joined.insert(t.tag.dot, *t);
                    }
                    Some(_) => {
                        joined.insert(e.tag.dot, *e);
                    }
                    None if !other_ctx.covers(e.tag.dot) => {
                        joined.insert(e.tag.dot, *e);
                    }
                    None => {}
                }
            }
            for t in &theirs.entries {
                let in_mine = mine.entries.iter().any(|x| x.tag.dot == t.tag.dot);
                if !in_mine && !ctx.covers(t.tag.dot) {
                    joined.insert(t.tag.dot, *t);
                }
            }
            // The other parts of a sum are gone from its side, which had applied them: the
            // rule above drops them from the side that still holds them.
            if !joined.is_empty() {
                members.insert(
                    name,
                    Member {
                        entries: joined.into_values().collect(),
                    },
                );
            }
        }
        *self = ZSet::from_members(members);
    }

    /// Folds the member's longest prefix (in causal order) of entries that `bound` covers into
    /// one sum entry, when no base lies after it (see the module doc). `bound` must be
    /// causally stable as for counter compaction.
    pub(crate) fn compact_member(&mut self, name: &Bytes, bound: &VersionVector) -> Folded {
        let Some(member) = self.members.get_mut(name) else {
            return Folded::default();
        };
        if member.entries.len() < 2 {
            return Folded::default();
        }
        let mut sorted = member.entries.clone();
        sorted.sort_unstable_by_key(Entry::order);
        let p = sorted
            .iter()
            .take_while(|e| bound.covers(e.tag.dot))
            .count();
        let waiting = sorted.get(p).map(|e| e.tag.dot);
        let base_after = sorted[p..].iter().any(|e| e.kind != Kind::Add);
        if p < 2 || base_after {
            return Folded { merged: 0, waiting };
        }
        let end = p;
        // The sum is named by the prefix's last entry (two sums of one dot folded the same
        // entries) and keeps the stamp of its newest, which the visible-type rule reads: a
        // compaction never changes a key's type.
        let newest = sorted[..end]
            .iter()
            .max_by_key(|e| e.stamp())
            .map_or((sorted[end - 1].tag.hlc, sorted[end - 1].actor), |e| {
                (e.tag.hlc, e.actor)
            });
        let sum = Entry {
            tag: Tag {
                dot: sorted[end - 1].tag.dot,
                hlc: newest.0,
            },
            kind: Kind::Sum,
            bits: fold(&sorted[..end]).to_bits(),
            depth: sorted[end - 1].depth,
            actor: newest.1,
        };
        let mut entries = sorted.split_off(end);
        entries.push(sum);
        entries.sort_unstable_by_key(|e| e.tag.dot);
        member.entries = entries;
        // The score is unchanged (the same fold), so the order is too.
        Folded {
            merged: end - 1,
            waiting,
        }
    }

    /// The number of entries of the member with the most.
    pub(crate) fn max_entries(&self) -> usize {
        self.members
            .values()
            .map(|m| m.entries.len())
            .max()
            .unwrap_or(0)
    }
}

/// One end of a score range (ZRANGEBYSCORE's `1`, `(1`, `-inf`, `+inf`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreBound {
    /// The score.
    pub value: f64,
    /// Whether the score itself is outside the range.
    pub exclusive: bool,
}

/// One end of a name range (ZRANGEBYLEX's `[a`, `(a`, `-`, `+`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexBound {
    /// Before every name (`-`).
    Min,
    /// After every name (`+`).
    Max,
    /// From or to this name, itself included (`[a`).
    Included(Bytes),
    /// From or to this name, itself excluded (`(a`).
    Excluded(Bytes),
}

/// A sorted set read in place: scores, ranks and ranges in O(log n) plus what they return.
/// An absent key reads as an empty sorted set.
#[derive(Clone, Copy, Debug)]
pub struct ZSetView<'a> {
    z: Option<&'a ZSet>,
}

impl<'a> ZSetView<'a> {
    pub(crate) fn new(z: Option<&'a ZSet>) -> Self {
        ZSetView { z }
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.z.map_or(0, |z| z.members.len())
    }

    /// Whether the sorted set has no member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The member's score.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.z?.members.get(member).map(Member::score)
    }

    /// The member's rank, from the lowest score (from the highest if `rev`).
    pub fn rank(&self, member: &[u8], rev: bool) -> Option<usize> {
        let z = self.z?;
        let (name, m) = z.members.get_key_value(member)?;
        let r = z.order.rank(&(Rank::new(m.score()), name.clone()));
        Some(if rev { z.order.len() - 1 - r } else { r })
    }

    /// The members at positions `from..to` in score order, with their scores, walked from
    /// the end down if `rev`.
    pub fn slice(
        &self,
        from: usize,
        to: usize,
        rev: bool,
    ) -> impl Iterator<Item = (&'a Bytes, f64)> + 'a {
        let view = *self;
        self.z
            .into_iter()
            .flat_map(move |z| z.order.slice(from, to, rev))
            // The order holds `-0` as `0`; the member's entries hold its sign.
            .map(move |(s, m)| {
                let v = if s.0 == 0.0 {
                    view.score(m).unwrap_or(0.0)
                } else {
                    s.0
                };
                (m, v)
            })
    }

    /// The members at ranks `from..to` (ranks from the highest score if `rev`), with their
    /// scores, in rank order.
    pub fn by_rank(
        &self,
        from: usize,
        to: usize,
        rev: bool,
    ) -> impl Iterator<Item = (&'a Bytes, f64)> + 'a {
        let n = self.len();
        if rev {
            self.slice(n.saturating_sub(to), n.saturating_sub(from), true)
        } else {
            self.slice(from, to, false)
        }
    }

    /// The ranks `from..to` of the members whose scores lie between `min` and `max`.
    pub fn score_ranks(&self, min: ScoreBound, max: ScoreBound) -> (usize, usize) {
        let Some(z) = self.z else { return (0, 0) };
        // How many members score below `v` (or at most `v` if `inclusive`).
        let below = |v: f64, inclusive: bool| {
            let v = if v == 0.0 { 0.0 } else { v };
            if inclusive {
                if v == f64::INFINITY {
                    z.order.len()
                } else {
                    z.order.rank(&(Rank::new(next_up(v)), Bytes::new()))
                }
            } else {
                z.order.rank(&(Rank::new(v), Bytes::new()))
            }
        };
        let from = below(min.value, min.exclusive);
        let to = below(max.value, !max.exclusive);
        (from, to.max(from))
    }

    /// The ranks `from..to` of the members whose names lie between `min` and `max`, when every
    /// member has the same score (as ZRANGEBYLEX requires; otherwise unspecified, as in Redis).
    pub fn lex_ranks(&self, min: &LexBound, max: &LexBound) -> (usize, usize) {
        let Some(z) = self.z else { return (0, 0) };
        let Some((score, _)) = z.order.get(0) else {
            return (0, 0);
        };
        let at = |name: &Bytes, after: bool| {
            let k = (*score, name.clone());
            let r = z.order.rank(&k);
            let hit = z.order.get(r).is_some_and(|x| *x == k);
            r + usize::from(after && hit)
        };
        let bound = |b: &LexBound, lower: bool| match b {
            LexBound::Min => 0,
            LexBound::Max => z.order.len(),
            LexBound::Included(n) => at(n, !lower),
            LexBound::Excluded(n) => at(n, lower),
        };
        let from = bound(min, true);
        let to = bound(max, false);
        (from, to.max(from))
    }

    /// The members after `after` in name order (all of them for `None`), with their scores:
    /// where ZSCAN resumes.
    pub fn iter_after(
        &self,
        after: Option<&[u8]>,
    ) -> impl Iterator<Item = (&'a Bytes, f64)> + use<'a> {
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.z
            .map(move |z| z.members.range::<[u8], _>((lower, Bound::Unbounded)))
            .into_iter()
            .flatten()
            .map(|(k, m)| (k, m.score()))
    }
}
