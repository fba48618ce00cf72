//! The encoding of a key's list and text slots, and of their elements as digest parts.
//!
//! ```text
//! list, text = newest:(dot hlc) count run*           the canonical runs, in list order
//! run        = flags:u8 id len:varint [left:id] [right:id] [content]
//!   flags    : bit 0 live (content follows), 1 ids go by seq (only when len > 1),
//!              2 left origin present, 3 right origin present; bits 4-7 never set
//! id         = actor:varint seq:varint off:varint
//! content    : text = bytes holding the UTF-8 of exactly `len` scalar values;
//!              list = `len` times bytes
//! ```
//!
//! The runs are `Sequence::canonical_runs`: maximal, whatever runs a replica keeps in memory,
//! so equal sequences encode to equal bytes. The decoder rebuilds the sequence from them and
//! accepts them only if encoding it gives the same bytes back, every id is unique and every
//! origin is present.

use super::{Dec, Enc, Result, StateDecodeError};
use crate::seq::{
    Body, CanonicalRun, ElemId, Items, Origin, Run, SeqContent, Sequence, Step, Text,
};
use crate::seqslot::{SeqKind, SeqRun, SeqSlot};
use crate::{ActorId, Tag};

const LIVE: u8 = 1 << 0;
const BY_SEQ: u8 = 1 << 1;
const LEFT: u8 = 1 << 2;
const RIGHT: u8 = 1 << 3;
const RUN_BITS: u8 = LIVE | BY_SEQ | LEFT | RIGHT;

/// Smallest encoded run: flags, a three-varint id, a length.
const MIN_RUN: usize = 1 + 3 + 1;

/// Part tags of a list's and a text's elements and newest tags (`super::encode_part`).
const PART_LIST_ELEM: u8 = 5;
const PART_TEXT_ELEM: u8 = 6;
pub(super) const PART_LIST_META: u8 = 7;
pub(super) const PART_TEXT_META: u8 = 8;

/// What a sequence holds, as the state encoding writes it.
pub(crate) trait ContentCodec: SeqKind {
    fn encode(&self, e: &mut Enc);
    fn decode(d: &mut Dec<'_>, len: u32) -> Result<Self>;
}

impl ContentCodec for Text {
    fn encode(&self, e: &mut Enc) {
        e.bytes(self.0.as_bytes());
    }

    fn decode(d: &mut Dec<'_>, len: u32) -> Result<Self> {
        let raw = d.bytes("a text run")?;
        let text = String::from_utf8(raw.to_vec())
            .map_err(|_| StateDecodeError::NotCanonical("text run not UTF-8"))?;
        if text.chars().count() != len as usize {
            return Err(StateDecodeError::NotCanonical(
                "text run's length is not its character count",
            ));
        }
        Ok(Text(text))
    }
}

impl ContentCodec for Items {
    fn encode(&self, e: &mut Enc) {
        for item in &self.0 {
            e.bytes(item);
        }
    }

    fn decode(d: &mut Dec<'_>, len: u32) -> Result<Self> {
        // Each item takes a byte at least: the count cannot claim more than the input holds.
        if len as usize > d.remaining() {
            return Err(StateDecodeError::TooManyEntries {
                what: "list items",
                count: u64::from(len),
                remaining: d.remaining(),
                max: d.remaining(),
            });
        }
        let mut items = Vec::with_capacity(len as usize);
        for _ in 0..len {
            items.push(d.bytes("a list item")?);
        }
        Ok(Items(items))
    }
}

impl Enc {
    fn elem_id(&mut self, id: ElemId) {
        self.varint(u64::from(id.actor.0));
        self.varint(id.seq);
        self.varint(u64::from(id.off));
    }
}

impl Dec<'_> {
    fn elem_id(&mut self) -> Result<ElemId> {
        let id = ElemId {
            actor: ActorId(self.u32("an element's actor")?),
            seq: self.varint("an element's seq")?,
            off: self.u32("an element's offset")?,
        };
        if id.seq == 0 {
            return Err(StateDecodeError::NotCanonical("an element with seq 0"));
        }
        Ok(id)
    }
}

/// Writes a list or text slot.
pub(super) fn encode_slot<C: ContentCodec>(e: &mut Enc, slot: &SeqSlot<C>) {
    e.dot(slot.newest.dot);
    e.hlc(slot.newest.hlc);
    let runs = slot.seq.canonical_runs();
    e.len(runs.len());
    for run in &runs {
        encode_run(e, run);
    }
}

fn encode_run<C: ContentCodec>(e: &mut Enc, run: &CanonicalRun<C>) {
    let mut flags = 0;
    if run.content.is_some() {
        flags |= LIVE;
    }
    if run.step == Step::Seq {
        flags |= BY_SEQ;
    }
    if run.left.is_some() {
        flags |= LEFT;
    }
    if run.right.is_some() {
        flags |= RIGHT;
    }
    e.buf.push(flags);
    e.elem_id(run.id);
    e.varint(u64::from(run.len));
    for origin in [run.left, run.right].into_iter().flatten() {
        e.elem_id(origin);
    }
    if let Some(c) = &run.content {
        c.encode(e);
    }
}

/// Reads a list or text slot (the input from its first byte on).
pub(super) fn decode_slot<C: ContentCodec>(d: &mut Dec<'_>) -> Result<SeqSlot<C>> {
    let start = d.pos;
    let dot = d.dot()?;
    let hlc = d.hlc()?;
    let n = d.count("sequence runs", MIN_RUN)?;
    let mut runs = Vec::with_capacity(n);
    for _ in 0..n {
        let flags = d.u8("a run's flags")?;
        if flags & !RUN_BITS != 0 {
            return Err(StateDecodeError::BadTag {
                what: "sequence run",
                found: flags,
            });
        }
        let id = d.elem_id()?;
        let len = d.u32("a run's length")?;
        if len == 0 || (len == 1 && flags & BY_SEQ != 0) {
            return Err(StateDecodeError::NotCanonical("run length"));
        }
        let left = (flags & LEFT != 0).then(|| d.elem_id()).transpose()?;
        let right = (flags & RIGHT != 0).then(|| d.elem_id()).transpose()?;
        let content = (flags & LIVE != 0).then(|| C::decode(d, len)).transpose()?;
        let step = if flags & BY_SEQ != 0 {
            Step::Seq
        } else {
            Step::Offset
        };
        // Ids past the end of their numbers cannot be named.
        let last = u64::from(len - 1);
        let fits = match step {
            Step::Offset => u64::from(id.off) + last <= u64::from(u32::MAX),
            Step::Seq => id.off == 0 && id.seq.checked_add(last).is_some(),
        };
        if !fits {
            return Err(StateDecodeError::NotCanonical("run ids overflow"));
        }
        runs.push(Run {
            id,
            len,
            step,
            left: Origin::new(left),
            right: Origin::new(right),
            // A loaded tombstone's delete is of no known epoch until the keyspace holding
            // it says ([`Sequence::restamp`]): never collectable before.
            body: content.map_or(Body::Deleted { epoch: u64::MAX }, Body::Live),
        });
    }
    let seq = Sequence::from_runs(runs)
        .map_err(|_| StateDecodeError::NotCanonical("sequence elements repeated or orphaned"))?;
    let slot = SeqSlot {
        seq,
        newest: Tag { dot, hlc },
    };
    let mut again = Enc::default();
    encode_slot(&mut again, &slot);
    if again.buf != d.b[start..d.pos] {
        return Err(StateDecodeError::NotCanonical("sequence runs not maximal"));
    }
    Ok(slot)
}

/// Calls `f` with the digest part of every element of `run` (the bytes, in `buf`):
///
/// ```text
/// elem = 5 (list) | 6 (text)  id  flags:u8 (bit 0 live, 1 left, 2 right)  [left:id] [right:id]
///        [content: the element's bytes]
/// ```
///
/// An element's origins and content never change; deleting it changes its part.
pub(crate) fn for_each_elem(run: SeqRun<'_>, buf: &mut Vec<u8>, f: impl FnMut(&[u8])) {
    match run {
        SeqRun::List(r) => elems(PART_LIST_ELEM, r, buf, f),
        SeqRun::Text(r) => elems(PART_TEXT_ELEM, r, buf, f),
    }
}

fn elems<C: SeqContent>(tag: u8, run: &Run<C>, buf: &mut Vec<u8>, mut f: impl FnMut(&[u8])) {
    let mut e = Enc {
        buf: std::mem::take(buf),
    };
    let mut one = |e: &mut Enc, i: u32, content: Option<&[u8]>| {
        e.buf.clear();
        e.buf.push(tag);
        e.elem_id(run.elem(i));
        let left = if i == 0 {
            run.left.get()
        } else {
            Some(run.elem(i - 1))
        };
        let flags = u8::from(content.is_some())
            | u8::from(left.is_some()) << 1
            | u8::from(run.right.get().is_some()) << 2;
        e.buf.push(flags);
        for origin in [left, run.right.get()].into_iter().flatten() {
            e.elem_id(origin);
        }
        if let Some(c) = content {
            e.bytes(c);
        }
        f(&e.buf);
    };
    match run.body.live() {
        Some(c) => {
            let mut i = 0;
            c.for_each_elem(|bytes| {
                one(&mut e, i, Some(bytes));
                i += 1;
            });
        }
        None => {
            for i in 0..run.len {
                one(&mut e, i, None);
            }
        }
    }
    *buf = e.buf;
}
