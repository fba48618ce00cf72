//! What the keyspace keeps beside each key's state so that an op costs in proportion to what
//! it changes, not to the size of the key: the state digest, the newest stamps of the set,
//! hash and sorted set slots (the visible-type rule needs them).
//!
//! A key's state is split into parts (`codec::encode_part`): its scalar, its MV register,
//! each set member with its tags, each hash field. The state digest is the XOR of
//! `blake3(part bytes)` over the parts present. An op names the parts it can change
//! (`Touched`); the keyspace takes them out of the index before the op and puts them back
//! after, which is exact because every quantity here is a sum (XOR, multiset, count) over
//! parts.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::codec::encode_part;
use crate::digest::{Digest, part_hash};
use crate::dots::DotStore;
use crate::expiry::Deadlines;
use crate::key::KeyState;
use crate::payload::Payload;
use crate::scalar::Scalar;
use crate::seqslot::SeqRun;
use crate::spans::Span;
use crate::{Dot, Stamp, Tag};

/// One part of a key's state.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Part<'a> {
    /// The key's LWW register and counter.
    Scalar,
    /// The MV register.
    Mv,
    /// One set member and its tags.
    Member(&'a Bytes),
    /// One hash field.
    Field(&'a Bytes),
    /// The list's newest insert tag (its elements are parts of their own, `SeqRun`).
    ListMeta,
    /// The text's newest insert tag.
    TextMeta,
    /// The deadlines.
    Ttl,
    /// One sorted set member and its score entries.
    ZMember(&'a Bytes),
    /// One HyperLogLog entry (`hllslot`).
    HllSpan(Span),
}

/// A part looked up in its state: the slot, or the member or field with its entry.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PartOf<'a> {
    Scalar(&'a Scalar),
    Mv(&'a DotStore<Bytes>),
    Member(&'a Bytes, &'a DotStore<()>),
    Field(&'a Bytes, &'a Scalar),
    ListMeta(&'a Tag),
    TextMeta(&'a Tag),
    Ttl(&'a Deadlines),
    ZMember(&'a Bytes, &'a crate::zset::Member),
    HllSpan(Span, &'a crate::hllslot::Part),
}

impl<'a> Part<'a> {
    /// The part in `state`; `None` for a member or field it does not hold.
    pub(crate) fn of<'s>(self, state: &'s KeyState) -> Option<PartOf<'s>>
    where
        'a: 's,
    {
        match self {
            Part::Scalar => Some(PartOf::Scalar(&state.scalar)),
            Part::Mv => Some(PartOf::Mv(&state.mv)),
            Part::Member(m) => state.set.get(m).map(|tags| PartOf::Member(m, tags)),
            Part::Field(f) => state.hash.get(f).map(|sc| PartOf::Field(f, sc)),
            Part::ListMeta => state.list.as_ref().map(|l| PartOf::ListMeta(&l.newest)),
            Part::TextMeta => state.text.as_ref().map(|t| PartOf::TextMeta(&t.newest)),
            Part::Ttl => state.ttl.as_deref().map(PartOf::Ttl),
            Part::ZMember(m) => state
                .zset
                .as_ref()
                .and_then(|z| z.members.get(m))
                .map(|e| PartOf::ZMember(m, e)),
            Part::HllSpan(s) => state
                .hll
                .as_ref()
                .and_then(|h| h.parts.get(&s))
                .map(|p| PartOf::HllSpan(s, p)),
        }
    }
}

/// A multiset of `(stamp, dot)`: its last key is the newest.
type Stamps = BTreeMap<(Stamp, Dot), u32>;

fn count_in(stamps: &mut Stamps, s: (Stamp, Dot)) {
    *stamps.entry(s).or_insert(0) += 1;
}

fn count_out(stamps: &mut Stamps, s: (Stamp, Dot)) {
    if let Some(n) = stamps.get_mut(&s) {
        *n -= 1;
        if *n == 0 {
            stamps.remove(&s);
        }
    }
}

/// The index of one key. Invariant: equal to `KeyIndex::of(state)` for the key's state
/// (`Keyspace` checks it against a recomputation in its tests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyIndex {
    /// XOR of `blake3(part)` over the parts present.
    digest: Digest,
    /// `(stamp, dot)` of every set entry (one per member and tag).
    set_stamps: Stamps,
    /// `field_newest` of every visible hash field.
    field_stamps: Stamps,
    /// The newest `(stamp, dot)` of every sorted set member.
    zset_stamps: Stamps,
    /// Bytes of all parts together: within a few bytes per slot of the key's encoded size,
    /// so `encode_key` can allocate once.
    parts_len: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Toggle {
    In,
    Out,
}

impl KeyIndex {
    /// The index of `state`, from scratch: O(size of the state).
    pub(crate) fn of(state: &KeyState) -> KeyIndex {
        let mut ix = KeyIndex::default();
        let mut buf = Vec::new();
        ix.toggle_part(Some(PartOf::Scalar(&state.scalar)), Toggle::In, &mut buf);
        ix.toggle_part(Some(PartOf::Mv(&state.mv)), Toggle::In, &mut buf);
        for (m, tags) in &state.set {
            ix.toggle_part(Some(PartOf::Member(m, tags)), Toggle::In, &mut buf);
        }
        for (f, sc) in &state.hash {
            ix.toggle_part(Some(PartOf::Field(f, sc)), Toggle::In, &mut buf);
        }
        if let Some(l) = &state.list {
            ix.toggle_part(Some(PartOf::ListMeta(&l.newest)), Toggle::In, &mut buf);
            for run in l.seq.runs() {
                ix.toggle_run(SeqRun::List(run), &mut buf);
            }
        }
        if let Some(t) = &state.text {
            ix.toggle_part(Some(PartOf::TextMeta(&t.newest)), Toggle::In, &mut buf);
            for run in t.seq.runs() {
                ix.toggle_run(SeqRun::Text(run), &mut buf);
            }
        }
        if let Some(z) = &state.zset {
            for (m, e) in &z.members {
                ix.toggle_part(Some(PartOf::ZMember(m, e)), Toggle::In, &mut buf);
            }
        }
        if let Some(h) = &state.hll {
            for (s, p) in &h.parts {
                ix.toggle_part(Some(PartOf::HllSpan(*s, p)), Toggle::In, &mut buf);
            }
        }
        ix.toggle_part(Part::Ttl.of(state), Toggle::In, &mut buf);
        ix
    }

    /// Adds to the digest, or takes out of it (the same step), the elements of a list or text
    /// run: each element is a part of its own (`codec::encode_elem`), so a digest does not
    /// depend on how elements are grouped in runs, and an op costs the elements it changes.
    pub(crate) fn toggle_run(&mut self, run: SeqRun<'_>, buf: &mut Vec<u8>) {
        crate::codec::for_each_elem(run, buf, |bytes| {
            self.digest.xor(&part_hash(bytes));
        });
    }

    /// The state digest: equal for equal states, and (up to blake3 collisions) different for
    /// different ones, see docs/design.md.
    pub(crate) fn digest(&self) -> Digest {
        self.digest
    }

    /// The newest `(stamp, dot)` of any set entry.
    pub(crate) fn set_newest(&self) -> Option<(Stamp, Dot)> {
        self.set_stamps.last_key_value().map(|(s, _)| *s)
    }

    /// The newest `(stamp, dot)` of any visible hash field.
    pub(crate) fn hash_newest(&self) -> Option<(Stamp, Dot)> {
        self.field_stamps.last_key_value().map(|(s, _)| *s)
    }

    /// The newest `(stamp, dot)` of any sorted set member.
    pub(crate) fn zset_newest(&self) -> Option<(Stamp, Dot)> {
        self.zset_stamps.last_key_value().map(|(s, _)| *s)
    }

    /// The capacity to encode the key's state in one allocation: the parts' bytes, plus the
    /// version, flags and collection counts.
    pub(crate) fn encoded_len_hint(&self) -> usize {
        self.parts_len + 32
    }

    /// Takes `part` of `state` out of the index (before the part changes).
    pub(crate) fn remove(&mut self, state: &KeyState, part: Part<'_>, buf: &mut Vec<u8>) {
        self.toggle(state, part, Toggle::Out, buf);
    }

    /// Puts `part` of `state` into the index (after the part changed).
    pub(crate) fn add(&mut self, state: &KeyState, part: Part<'_>, buf: &mut Vec<u8>) {
        self.toggle(state, part, Toggle::In, buf);
    }

    fn toggle(&mut self, state: &KeyState, part: Part<'_>, way: Toggle, buf: &mut Vec<u8>) {
        self.toggle_part(part.of(state), way, buf);
    }

    fn toggle_part(&mut self, part: Option<PartOf<'_>>, way: Toggle, buf: &mut Vec<u8>) {
        if !encode_part(part, buf) {
            return;
        }
        // XOR is its own inverse: taking a part out and putting it in are the same step.
        self.digest.xor(&part_hash(buf));
        self.parts_len = match way {
            Toggle::In => self.parts_len + buf.len(),
            Toggle::Out => self.parts_len.saturating_sub(buf.len()),
        };
        let count = |stamps: &mut Stamps, s| match way {
            Toggle::In => count_in(stamps, s),
            Toggle::Out => count_out(stamps, s),
        };
        match part {
            Some(PartOf::Member(_, tags)) => {
                for (dot, (hlc, ())) in &tags.entries {
                    let tag = crate::Tag {
                        dot: *dot,
                        hlc: *hlc,
                    };
                    count(&mut self.set_stamps, (tag.stamp(), *dot));
                }
            }
            Some(PartOf::Field(_, sc)) => {
                if let Some(s) = sc.field_newest() {
                    count(&mut self.field_stamps, s);
                }
            }
            Some(PartOf::ZMember(_, e)) => {
                if let Some(s) = e.newest() {
                    count(&mut self.zset_stamps, s);
                }
            }
            Some(
                PartOf::Scalar(_)
                | PartOf::Mv(_)
                | PartOf::ListMeta(_)
                | PartOf::TextMeta(_)
                | PartOf::Ttl(_)
                | PartOf::HllSpan(..),
            )
            | None => {}
        }
    }
}

/// The parts of a key an op can change; `All` for the ops that clear every slot.
pub(crate) enum Touched<'a> {
    All,
    Parts(Vec<Part<'a>>),
}

impl<'a> Touched<'a> {
    /// The parts `payload`, the op `dot`'s, can change, each once (a peer's payload may
    /// repeat a member, and XOR-ing one part twice would cancel it out).
    pub(crate) fn by(payload: &'a Payload, dot: Dot) -> Touched<'a> {
        fn unique<'a>(names: impl Iterator<Item = &'a Bytes>) -> Vec<&'a Bytes> {
            let mut v: Vec<&Bytes> = names.collect();
            v.sort();
            v.dedup();
            v
        }
        Touched::Parts(match payload {
            Payload::Set { .. } | Payload::Del | Payload::Reap { .. } => return Touched::All,
            Payload::Expire { .. } => vec![Part::Ttl],
            // A forged `Timed` inside a `Timed` changes nothing.
            Payload::Timed { write, .. } if matches!(**write, Payload::Timed { .. }) => vec![],
            Payload::Timed { write, .. } => match Touched::by(write, dot) {
                Touched::All => return Touched::All,
                Touched::Parts(mut parts) => {
                    parts.push(Part::Ttl);
                    parts
                }
            },
            Payload::MvSet { .. } => vec![Part::Mv],
            Payload::IncrBy { .. } => vec![Part::Scalar],
            Payload::SAdd(members) | Payload::SRem(members) => unique(members.iter())
                .into_iter()
                .map(Part::Member)
                .collect(),
            Payload::HSet(writes) => unique(writes.iter().map(|w| &w.field))
                .into_iter()
                .map(Part::Field)
                .collect(),
            Payload::HDel(fields) => unique(fields.iter()).into_iter().map(Part::Field).collect(),
            Payload::HIncrBy { field, .. } => vec![Part::Field(field)],
            // Elements changed are shown to the index one run at a time as the op applies.
            Payload::List(_) => vec![Part::ListMeta],
            Payload::Text(_) => vec![Part::TextMeta],
            Payload::ZAdd(writes) => unique(writes.iter().map(|w| &w.member))
                .into_iter()
                .map(Part::ZMember)
                .collect(),
            Payload::ZIncrBy { member, .. } => vec![Part::ZMember(member)],
            Payload::PfAdd(_) => vec![Part::HllSpan(Span::of(dot))],
            Payload::ZRem(members) => unique(members.iter())
                .into_iter()
                .map(Part::ZMember)
                .collect(),
        })
    }
}
