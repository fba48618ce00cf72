//! The one encoding of a key's retained state: canonical (the digest hashes it), compact and
//! decodable (the durable store keeps it, and state snapshots carry it between regions).
//!
//! ```text
//! state   = version:u8 (= 3)  flags:u8  more:u8
//!           [reg] [counter] [bases] [mv] [set] [hash] [list] [text] [zset] [hll] [ttl]
//! flags   : bit 0 reg, 1 counter, 2 bases (the key's scalar: LWW register and counter),
//!           3 mv, 4 set, 5 hash, 6 list, 7 text; more: bit 0 ttl, 1 zset, 2 hll. A bracketed part
//!           is present exactly when its bit is set, and a present collection is never empty.
//! reg, mv = count  (dot hlc bytes)*          dot store with byte-string values
//! bases   = count  (dot hlc zigzag-varint)*  dot store with i64 values
//! counter = count  (actor from to-from newest-from hlc zigzag-sum)*
//!           increments by span: an actor's spans never overlap, `newest` (the seq of the
//!           newest increment, whose HLC is `hlc`) lies in the span, and the i128 sum is one
//!           that `to - from + 1` increments of i64 can reach
//! set     = count  (member:bytes  tags:(count (dot hlc)*))*
//! hash    = count  (field:bytes  flags:u8 (bits 0-2 only, non-zero)  [reg] [counter] [bases])*
//! list, text: see `seq`;  hll: see `hll`
//! zset    = count  (member:bytes  entries:(count entry)*)*
//! entry   = dot hlc kind:u8 [actor:varint] depth:varint score:f64-le
//!           kind 0 set (ZADD), 1 add (ZINCRBY), 2 sum (folded by compaction); a sum's `hlc`
//!           and `actor` are the stamp of the newest entry it folded (for the others the actor
//!           is the dot's, not written); depth the writer's causal depth; score never NaN,
//!           8 bytes little-endian (`zset`)
//! ttl     = count  (dot hlc at:varint ctx:vv (0 | 1 floor:vv))*
//!           deadlines (`expiry`): `ctx` covers the entry's own dot; a floor is present
//!           exactly when it differs from `ctx`, and lies below it
//! vv      = n:varint (actor:varint seq:varint)^n   actors increasing, seqs non-zero
//! dot     = actor:varint seq:varint      hlc = epoch:varint time:varint count:varint
//! bytes   = len:varint raw               count = varint, at least 1
//! ```
//!
//! Integers are unsigned LEB128 varints, minimal; every collection lists its items in strictly
//! increasing key order (`BTreeMap` order: dots by actor then seq, byte strings
//! lexicographically). The decoder accepts exactly the bytes the encoder produces for some
//! state a keyspace can hold, so decoding then encoding gives the input back.
//!
//! Version 1 held counters as per-actor cells with floors (tombstones); version 2 holds the
//! increments themselves (no tombstones); version 3 adds a second flags byte and the deadlines.
//! A build reads only its own version.

mod hll;
mod seq;

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::counter::{Counter, Run, Span, sum_in_range};
use crate::dots::DotStore;
use crate::expiry::{Deadline, Deadlines};
use crate::index::PartOf;
use crate::key::KeyState;
use crate::scalar::Scalar;
use crate::zset::{Entry, Kind, Member, ZSet};
use crate::{ActorId, Dot, Hlc, VersionVector};
pub(crate) use seq::for_each_elem;

/// The format version, the first byte of every encoded key state.
pub const STATE_FORMAT_VERSION: u8 = 3;

const REG: u8 = 1 << 0;
const COUNTER: u8 = 1 << 1;
const BASES: u8 = 1 << 2;
const SCALAR_BITS: u8 = REG | COUNTER | BASES;
const MV: u8 = 1 << 3;
const SET: u8 = 1 << 4;
const HASH: u8 = 1 << 5;
const LIST: u8 = 1 << 6;
const TEXT: u8 = 1 << 7;
/// Bits of the second flags byte.
const TTL: u8 = 1 << 0;
const ZSET: u8 = 1 << 1;
const HLL: u8 = 1 << 2;

/// What the decode errors of an entry keyed by span call its parts.
struct SpanWords {
    actor: &'static str,
    start: &'static str,
    width: &'static str,
    newest: &'static str,
    beyond: &'static str,
    order: &'static str,
    outside: &'static str,
}

const COUNTER_SPAN: SpanWords = SpanWords {
    actor: "a counter entry's actor",
    start: "a counter entry's start",
    width: "a counter entry's width",
    newest: "a counter entry's newest",
    beyond: "counter entry beyond u64",
    order: "counter entries out of order or overlapping",
    outside: "counter entry's newest outside its span",
};

/// Smallest encodings, to bound a claimed count by the input left.
const MIN_DOT_HLC: usize = 2 + 3;
const MIN_ENTRY: usize = 4 + 3 + 1;
const MIN_MEMBER: usize = 1 + 1 + MIN_DOT_HLC;
const MIN_FIELD: usize = 1 + 1 + 1 + MIN_DOT_HLC;
const MIN_DEADLINE: usize = MIN_DOT_HLC + 1 + 1 + 2 + 1;
const MIN_SCORE_ENTRY: usize = MIN_DOT_HLC + 1 + 1 + 8;
const MIN_ZMEMBER: usize = 1 + 1 + MIN_SCORE_ENTRY;

/// Why bytes are not an encoded key state. Decoding never panics and never allocates more
/// than the input's size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateDecodeError {
    /// The input ended inside a value.
    #[error("key state truncated: input ended inside {0}")]
    Truncated(&'static str),
    /// The first byte names a format this build does not read.
    #[error("unknown key state format version {0} (this build reads version 2)")]
    UnknownVersion(u8),
    /// A slot flags byte has bits no slot uses.
    #[error("bad tag in key state: {what} flags byte {found:#04x} has unknown bits")]
    BadTag {
        /// Which flags byte.
        what: &'static str,
        /// The byte found.
        found: u8,
    },
    /// A count claims more entries than the remaining input could hold.
    #[error(
        "too many entries in key state: {count} {what} claimed, but the {remaining} bytes left hold at most {max}"
    )]
    TooManyEntries {
        /// Which collection.
        what: &'static str,
        /// The count claimed.
        count: u64,
        /// Bytes left in the input.
        remaining: usize,
        /// The most entries those bytes could hold.
        max: usize,
    },
    /// A byte string's length prefix runs past the end of the input.
    #[error(
        "length beyond limit in key state: {what} of {len} bytes claimed, but only {remaining} bytes are left"
    )]
    LengthBeyondLimit {
        /// Which byte string.
        what: &'static str,
        /// The length claimed.
        len: u64,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// Well-formed, but not the canonical form of any state (non-minimal varint, items out of
    /// order or repeated, an empty collection marked present, a value out of range, …).
    #[error("key state is not canonical: {0}")]
    NotCanonical(&'static str),
    /// Bytes after the end of the state.
    #[error("{0} trailing bytes after key state")]
    TrailingBytes(usize),
}

type Result<T> = std::result::Result<T, StateDecodeError>;

// ---------------------------------------------------------------------------------------------
// Encoding

#[derive(Debug, Default)]
struct Enc {
    buf: Vec<u8>,
}

impl Enc {
    fn varint(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf.push(byte);
                return;
            }
            self.buf.push(byte | 0x80);
        }
    }
    fn len(&mut self, n: usize) {
        self.varint(n as u64);
    }
    fn i64(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }
    fn i128(&mut self, v: i128) {
        let mut z = ((v << 1) ^ (v >> 127)) as u128;
        loop {
            let byte = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                self.buf.push(byte);
                return;
            }
            self.buf.push(byte | 0x80);
        }
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.buf.extend_from_slice(b);
    }
    fn dot(&mut self, d: Dot) {
        self.varint(u64::from(d.actor.0));
        self.varint(d.seq);
    }
    fn hlc(&mut self, h: Hlc) {
        self.varint(u64::from(h.epoch));
        self.varint(h.time);
        self.varint(u64::from(h.count));
    }
    fn dot_store<V>(&mut self, s: &DotStore<V>, mut value: impl FnMut(&mut Enc, &V)) {
        self.len(s.entries.len());
        for (d, (h, v)) in &s.entries {
            self.dot(*d);
            self.hlc(*h);
            value(self, v);
        }
    }
}

impl Enc {
    fn deadlines(&mut self, d: &Deadlines) {
        self.len(d.entries.len());
        for e in &d.entries {
            self.dot(e.tag.dot);
            self.hlc(e.tag.hlc);
            self.varint(e.at);
            self.vv(&e.ctx);
            match &e.floor {
                None => self.buf.push(0),
                Some(f) => {
                    self.buf.push(1);
                    self.vv(f);
                }
            }
        }
    }

    fn zmember(&mut self, name: &[u8], m: &Member) {
        self.bytes(name);
        self.len(m.entries.len());
        for e in &m.entries {
            self.dot(e.tag.dot);
            self.hlc(e.tag.hlc);
            self.buf.push(match e.kind {
                Kind::Set => 0,
                Kind::Add => 1,
                Kind::Sum => 2,
            });
            // A sum keeps the stamp of the newest entry it folded: its actor, when not the
            // dot's.
            if e.kind == Kind::Sum {
                self.varint(u64::from(e.actor.0));
            }
            self.varint(e.depth);
            self.buf.extend_from_slice(&e.bits.to_le_bytes());
        }
    }

    /// The head of an entry keyed by span (counter increments, HyperLogLog sketches):
    /// `actor from to-from newest-from hlc`.
    fn span_head(&mut self, span: &Span, newest: u64, hlc: Hlc) {
        self.varint(u64::from(span.actor.0));
        self.varint(span.from);
        self.varint(span.to - span.from);
        self.varint(newest - span.from);
        self.hlc(hlc);
    }

    fn vv(&mut self, v: &VersionVector) {
        self.len(v.len());
        for (a, seq) in v.iter() {
            self.varint(u64::from(a.0));
            self.varint(seq);
        }
    }
}

fn scalar_flags(s: &Scalar) -> u8 {
    let mut f = 0;
    if !s.reg.is_empty() {
        f |= REG;
    }
    if !s.counter.entries.is_empty() {
        f |= COUNTER;
    }
    if !s.counter.bases.is_empty() {
        f |= BASES;
    }
    f
}

fn encode_scalar_body(e: &mut Enc, s: &Scalar) {
    if !s.reg.is_empty() {
        e.dot_store(&s.reg, |e, v| e.bytes(v));
    }
    let c = &s.counter;
    if !c.entries.is_empty() {
        e.len(c.entries.len());
        for (span, run) in &c.entries {
            e.span_head(span, run.newest, run.hlc);
            e.i128(run.sum);
        }
    }
    if !c.bases.is_empty() {
        e.dot_store(&c.bases, |e, v| e.i64(*v));
    }
}

/// The canonical, storable bytes of a key's state.
pub(crate) fn encode_state(s: &KeyState) -> Vec<u8> {
    encode_state_into(s, Vec::new())
}

/// `encode_state`, into `buf` (empty, with whatever capacity the caller expects to need).
pub(crate) fn encode_state_into(s: &KeyState, buf: Vec<u8>) -> Vec<u8> {
    let mut e = Enc { buf };
    e.buf.push(STATE_FORMAT_VERSION);
    let mut flags = scalar_flags(&s.scalar);
    if !s.mv.is_empty() {
        flags |= MV;
    }
    if !s.set.is_empty() {
        flags |= SET;
    }
    if !s.hash.is_empty() {
        flags |= HASH;
    }
    if s.list.is_some() {
        flags |= LIST;
    }
    if s.text.is_some() {
        flags |= TEXT;
    }
    e.buf.push(flags);
    let mut more = 0;
    if s.ttl.is_some() {
        more |= TTL;
    }
    if s.zset.is_some() {
        more |= ZSET;
    }
    if s.hll.is_some() {
        more |= HLL;
    }
    e.buf.push(more);
    encode_scalar_body(&mut e, &s.scalar);
    if !s.mv.is_empty() {
        e.dot_store(&s.mv, |e, v| e.bytes(v));
    }
    if !s.set.is_empty() {
        e.len(s.set.len());
        for (m, tags) in &s.set {
            e.bytes(m);
            e.dot_store(tags, |_, _| {});
        }
    }
    if !s.hash.is_empty() {
        e.len(s.hash.len());
        for (f, sc) in &s.hash {
            e.bytes(f);
            e.buf.push(scalar_flags(sc));
            encode_scalar_body(&mut e, sc);
        }
    }
    if let Some(l) = &s.list {
        seq::encode_slot(&mut e, l);
    }
    if let Some(t) = &s.text {
        seq::encode_slot(&mut e, t);
    }
    if let Some(z) = &s.zset {
        e.len(z.members.len());
        for (name, m) in &z.members {
            e.zmember(name, m);
        }
    }
    if let Some(h) = &s.hll {
        e.hll_slot(h);
    }
    if let Some(d) = &s.ttl {
        e.deadlines(d);
    }
    e.buf
}

/// Tags of the parts of a key's state that the state digest hashes one by one (`index`).
const PART_SCALAR: u8 = 1;
const PART_MV: u8 = 2;
const PART_MEMBER: u8 = 3;
const PART_FIELD: u8 = 4;
const PART_TTL: u8 = 9;
const PART_ZMEMBER: u8 = 10;

/// Writes the canonical bytes of one part of a key's state into `buf` (replacing what it held), in the
/// same grammar as `encode_state` with a part tag first:
///
/// ```text
/// scalar = 1 flags:u8 [reg] [counter] [bases]      (the key's scalar, flags non-zero)
/// mv     = 2 count (dot hlc bytes)*
/// member = 3 member:bytes tags:(count (dot hlc)*)
/// field  = 4 field:bytes flags:u8 [reg] [counter] [bases]
/// meta   = 7 (list) | 8 (text)  newest:(dot hlc)
/// ttl    = 9 count (dot hlc at:varint ctx:vv (0 | 1 floor:vv))*
/// zmember = 10 member:bytes entries:(count entry)*    (entry as in `encode_state`)
/// hll    = 11 entry                               (one HyperLogLog entry, `hll`)
/// ```
///
/// A list's or text's elements are parts of their own (`seq::for_each_elem`).
///
/// Returns false, leaving `buf` empty, when the part holds nothing (an empty slot, a member
/// or field not present). Each part is self-delimiting and names its member or field, so the
/// set of a state's parts determines the state.
///
/// The part comes looked up in its state (`Part::of`): the index uses one lookup twice (the
/// part's bytes, its stamps), and in a set or hash of 100,000 entries each lookup is some 17
/// key comparisons, most of them cache misses.
pub(crate) fn encode_part(part: Option<PartOf<'_>>, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    let mut e = Enc {
        buf: std::mem::take(buf),
    };
    let present = match part {
        Some(PartOf::Scalar(sc)) => {
            let flags = scalar_flags(sc);
            if flags != 0 {
                e.buf.push(PART_SCALAR);
                e.buf.push(flags);
                encode_scalar_body(&mut e, sc);
            }
            flags != 0
        }
        Some(PartOf::Mv(mv)) => {
            let present = !mv.is_empty();
            if present {
                e.buf.push(PART_MV);
                e.dot_store(mv, |e, v| e.bytes(v));
            }
            present
        }
        Some(PartOf::Member(m, tags)) if !tags.is_empty() => {
            e.buf.push(PART_MEMBER);
            e.bytes(m);
            e.dot_store(tags, |_, _| {});
            true
        }
        Some(PartOf::Field(f, sc)) => {
            let flags = scalar_flags(sc);
            if flags != 0 {
                e.buf.push(PART_FIELD);
                e.bytes(f);
                e.buf.push(flags);
                encode_scalar_body(&mut e, sc);
            }
            flags != 0
        }
        Some(PartOf::ListMeta(tag)) | Some(PartOf::TextMeta(tag)) => {
            e.buf.push(match part {
                Some(PartOf::ListMeta(_)) => seq::PART_LIST_META,
                _ => seq::PART_TEXT_META,
            });
            e.dot(tag.dot);
            e.hlc(tag.hlc);
            true
        }
        Some(PartOf::Ttl(d)) => {
            e.buf.push(PART_TTL);
            e.deadlines(d);
            true
        }
        Some(PartOf::ZMember(name, m)) if !m.entries.is_empty() => {
            e.buf.push(PART_ZMEMBER);
            e.zmember(name, m);
            true
        }
        Some(PartOf::HllSpan(span, p)) => {
            e.buf.push(hll::PART_HLL);
            e.hll_entry(&span, p);
            true
        }
        Some(PartOf::Member(..) | PartOf::ZMember(..)) | None => false,
    };
    *buf = e.buf;
    present
}

// ---------------------------------------------------------------------------------------------
// Decoding

struct Dec<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    fn remaining(&self) -> usize {
        self.b.len().saturating_sub(self.pos)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8> {
        let v = *self
            .b
            .get(self.pos)
            .ok_or(StateDecodeError::Truncated(what))?;
        self.pos += 1;
        Ok(v)
    }

    fn varint(&mut self, what: &'static str) -> Result<u64> {
        let mut v: u64 = 0;
        for i in 0..10u32 {
            let byte = self.u8(what)?;
            let bits = u64::from(byte & 0x7f);
            if i == 9 && bits > 1 {
                return Err(StateDecodeError::NotCanonical("varint overflows 64 bits"));
            }
            v |= bits << (7 * i);
            if byte & 0x80 == 0 {
                if i > 0 && bits == 0 {
                    return Err(StateDecodeError::NotCanonical("varint not minimal"));
                }
                return Ok(v);
            }
        }
        Err(StateDecodeError::NotCanonical("varint overflows 64 bits"))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32> {
        u32::try_from(self.varint(what)?)
            .map_err(|_| StateDecodeError::NotCanonical("32-bit value out of range"))
    }

    fn i128(&mut self, what: &'static str) -> Result<i128> {
        let mut z: u128 = 0;
        for i in 0..19u32 {
            let byte = self.u8(what)?;
            let bits = u128::from(byte & 0x7f);
            if i == 18 && bits > 3 {
                return Err(StateDecodeError::NotCanonical("varint overflows 128 bits"));
            }
            z |= bits << (7 * i);
            if byte & 0x80 == 0 {
                if i > 0 && bits == 0 {
                    return Err(StateDecodeError::NotCanonical("varint not minimal"));
                }
                return Ok(((z >> 1) as i128) ^ -((z & 1) as i128));
            }
        }
        Err(StateDecodeError::NotCanonical("varint overflows 128 bits"))
    }

    fn i64(&mut self, what: &'static str) -> Result<i64> {
        let z = self.varint(what)?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    fn bytes(&mut self, what: &'static str) -> Result<Bytes> {
        let len = self.varint(what)?;
        let remaining = self.remaining();
        let n = usize::try_from(len)
            .ok()
            .filter(|&n| n <= remaining)
            .ok_or(StateDecodeError::LengthBeyondLimit {
                what,
                len,
                remaining,
            })?;
        let out = Bytes::copy_from_slice(&self.b[self.pos..self.pos + n]);
        self.pos += n;
        Ok(out)
    }

    /// A collection's count: at least 1, and no more than the input left could hold.
    fn count(&mut self, what: &'static str, min_item: usize) -> Result<usize> {
        let count = self.varint(what)?;
        if count == 0 {
            return Err(StateDecodeError::NotCanonical(
                "empty collection marked present",
            ));
        }
        let remaining = self.remaining();
        let max = remaining / min_item.max(1);
        match usize::try_from(count) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(StateDecodeError::TooManyEntries {
                what,
                count,
                remaining,
                max,
            }),
        }
    }

    fn dot(&mut self) -> Result<Dot> {
        let actor = ActorId(self.u32("a dot's actor")?);
        let seq = self.varint("a dot's seq")?;
        Ok(Dot { actor, seq })
    }

    fn hlc(&mut self) -> Result<Hlc> {
        let epoch = self.u32("an hlc epoch")?;
        let time = self.varint("an hlc time")?;
        let count = self.u32("an hlc count")?;
        Ok(Hlc { epoch, time, count })
    }

    fn dot_store<V>(
        &mut self,
        what: &'static str,
        min_value: usize,
        mut value: impl FnMut(&mut Self) -> Result<V>,
    ) -> Result<DotStore<V>> {
        let n = self.count(what, MIN_DOT_HLC + min_value)?;
        let mut entries = BTreeMap::new();
        let mut prev: Option<Dot> = None;
        for _ in 0..n {
            let d = self.dot()?;
            if prev.is_some_and(|p| p >= d) {
                return Err(StateDecodeError::NotCanonical("dots out of order"));
            }
            prev = Some(d);
            let h = self.hlc()?;
            let v = value(self)?;
            entries.insert(d, (h, v));
        }
        Ok(DotStore { entries })
    }

    fn deadlines(&mut self) -> Result<Deadlines> {
        let n = self.count("deadlines", MIN_DEADLINE)?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let dot = self.dot()?;
            if entries.last().is_some_and(|p: &Deadline| p.tag.dot >= dot) {
                return Err(StateDecodeError::NotCanonical("deadlines out of order"));
            }
            let hlc = self.hlc()?;
            let at = self.varint("a deadline")?;
            let ctx = self.vv("a deadline's context")?;
            if !ctx.covers(dot) {
                return Err(StateDecodeError::NotCanonical(
                    "a deadline's context does not cover its own dot",
                ));
            }
            let floor = match self.u8("a deadline's floor flag")? {
                0 => None,
                1 => {
                    let f = self.vv("a deadline's floor")?;
                    if f == ctx || f.meet(&ctx) != f {
                        return Err(StateDecodeError::NotCanonical(
                            "a deadline's floor is not below its context",
                        ));
                    }
                    Some(f)
                }
                found => {
                    return Err(StateDecodeError::BadTag {
                        what: "deadline floor",
                        found,
                    });
                }
            };
            entries.push(Deadline {
                tag: crate::Tag { dot, hlc },
                at,
                ctx,
                floor,
            });
        }
        Ok(Deadlines { entries })
    }

    fn zmember_entries(&mut self) -> Result<Member> {
        let n = self.count("a member's score entries", MIN_SCORE_ENTRY)?;
        let mut entries: Vec<Entry> = Vec::with_capacity(n);
        for _ in 0..n {
            let dot = self.dot()?;
            if entries.last().is_some_and(|p| p.tag.dot >= dot) {
                return Err(StateDecodeError::NotCanonical("score entries out of order"));
            }
            let hlc = self.hlc()?;
            let kind = match self.u8("a score entry's kind")? {
                0 => Kind::Set,
                1 => Kind::Add,
                2 => Kind::Sum,
                found => {
                    return Err(StateDecodeError::BadTag {
                        what: "score entry kind",
                        found,
                    });
                }
            };
            let actor = match kind {
                Kind::Sum => ActorId(self.u32("a sum's stamp actor")?),
                Kind::Set | Kind::Add => dot.actor,
            };
            let depth = self.varint("a score entry's depth")?;
            let mut raw = [0u8; 8];
            for b in &mut raw {
                *b = self.u8("a score")?;
            }
            let bits = u64::from_le_bytes(raw);
            if f64::from_bits(bits).is_nan() {
                return Err(StateDecodeError::NotCanonical("a score is NaN"));
            }
            entries.push(Entry {
                tag: crate::Tag { dot, hlc },
                kind,
                bits,
                depth,
                actor,
            });
        }
        Ok(Member { entries })
    }

    /// A version vector: actors increasing, seqs non-zero (possibly empty).
    fn vv(&mut self, what: &'static str) -> Result<VersionVector> {
        let n = self.varint(what)?;
        let remaining = self.remaining();
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= remaining / 2)
            .ok_or(StateDecodeError::TooManyEntries {
                what,
                count: n,
                remaining,
                max: remaining / 2,
            })?;
        let mut v = VersionVector::new();
        let mut prev: Option<ActorId> = None;
        for _ in 0..n {
            let actor = ActorId(self.u32("a version vector's actor")?);
            let seq = self.varint("a version vector's seq")?;
            if prev.is_some_and(|p| p >= actor) || seq == 0 {
                return Err(StateDecodeError::NotCanonical(
                    "a version vector's actors out of order, or a zero seq",
                ));
            }
            prev = Some(actor);
            v.set(actor, seq);
        }
        Ok(v)
    }

    fn scalar_body(&mut self, flags: u8) -> Result<Scalar> {
        let mut s = Scalar::default();
        if flags & REG != 0 {
            s.reg = self.dot_store("register entries", 1, |d| d.bytes("a register value"))?;
        }
        if flags & COUNTER != 0 {
            s.counter = Counter {
                entries: self.counter_entries()?,
                ..Counter::default()
            };
        }
        if flags & BASES != 0 {
            s.counter.bases = self.dot_store("counter bases", 1, |d| d.i64("a counter base"))?;
        }
        Ok(s)
    }

    fn counter_entries(&mut self) -> Result<BTreeMap<Span, Run>> {
        let n = self.count("counter entries", MIN_ENTRY)?;
        let mut entries = BTreeMap::new();
        let mut prev: Option<Span> = None;
        for _ in 0..n {
            let (span, newest, hlc) = self.span_head(&COUNTER_SPAN, &mut prev)?;
            let sum = self.i128("a counter entry's sum")?;
            if !sum_in_range(sum, span.width()) {
                return Err(StateDecodeError::NotCanonical(
                    "counter entry's sum out of range",
                ));
            }
            entries.insert(span, Run { sum, newest, hlc });
        }
        Ok(entries)
    }

    /// The head of an entry keyed by span (`Enc::span_head`), which must follow `prev`:
    /// spans of one actor in order and disjoint, the newest seq inside the span.
    fn span_head(
        &mut self,
        words: &SpanWords,
        prev: &mut Option<Span>,
    ) -> Result<(Span, u64, Hlc)> {
        let actor = ActorId(self.u32(words.actor)?);
        let from = self.varint(words.start)?;
        let to = from
            .checked_add(self.varint(words.width)?)
            .ok_or(StateDecodeError::NotCanonical(words.beyond))?;
        let span = Span { actor, from, to };
        if prev.is_some_and(|p| (p.actor, p.to) >= (actor, from)) {
            return Err(StateDecodeError::NotCanonical(words.order));
        }
        *prev = Some(span);
        let newest = from
            .checked_add(self.varint(words.newest)?)
            .filter(|&s| s <= to)
            .ok_or(StateDecodeError::NotCanonical(words.outside))?;
        Ok((span, newest, self.hlc()?))
    }

    fn sorted_key(
        &mut self,
        what: &'static str,
        prev: &mut Option<Bytes>,
        order: &'static str,
    ) -> Result<Bytes> {
        let k = self.bytes(what)?;
        if prev.as_ref().is_some_and(|p| *p >= k) {
            return Err(StateDecodeError::NotCanonical(order));
        }
        *prev = Some(k.clone());
        Ok(k)
    }
}

/// Decodes `encode_state` output. Accepts exactly the canonical encodings of retained states.
pub(crate) fn decode_state(b: &[u8]) -> Result<KeyState> {
    let mut d = Dec { b, pos: 0 };
    let version = d.u8("the format version")?;
    if version != STATE_FORMAT_VERSION {
        return Err(StateDecodeError::UnknownVersion(version));
    }
    let flags = d.u8("the slot flags")?;
    let more = d.u8("the second slot flags")?;
    if more & !(TTL | ZSET | HLL) != 0 {
        return Err(StateDecodeError::BadTag {
            what: "second slot flags",
            found: more,
        });
    }
    // Every bit names a slot.
    if flags == 0 && more == 0 {
        return Err(StateDecodeError::NotCanonical("key with nothing retained"));
    }
    let mut s = KeyState {
        scalar: d.scalar_body(flags & SCALAR_BITS)?,
        ..KeyState::default()
    };
    if flags & MV != 0 {
        s.mv = d.dot_store("mv siblings", 1, |d| d.bytes("an mv value"))?;
    }
    if flags & SET != 0 {
        let n = d.count("set members", MIN_MEMBER)?;
        let mut prev = None;
        for _ in 0..n {
            let m = d.sorted_key("a set member", &mut prev, "set members out of order")?;
            let tags = d.dot_store("a member's tags", 0, |_| Ok(()))?;
            s.set.insert(m, tags);
        }
    }
    if flags & HASH != 0 {
        let n = d.count("hash fields", MIN_FIELD)?;
        let mut prev = None;
        for _ in 0..n {
            let f = d.sorted_key("a hash field", &mut prev, "hash fields out of order")?;
            let ff = d.u8("a hash field's flags")?;
            if ff & !SCALAR_BITS != 0 {
                return Err(StateDecodeError::BadTag {
                    what: "hash field",
                    found: ff,
                });
            }
            if ff == 0 {
                return Err(StateDecodeError::NotCanonical(
                    "hash field with nothing retained",
                ));
            }
            s.hash.insert(f, d.scalar_body(ff)?);
        }
    }
    if flags & LIST != 0 {
        s.list = Some(Box::new(seq::decode_slot(&mut d)?));
    }
    if flags & TEXT != 0 {
        s.text = Some(Box::new(seq::decode_slot(&mut d)?));
    }
    if more & ZSET != 0 {
        let n = d.count("sorted set members", MIN_ZMEMBER)?;
        let mut prev = None;
        let mut members = BTreeMap::new();
        for _ in 0..n {
            let m = d.sorted_key(
                "a sorted set member",
                &mut prev,
                "sorted set members out of order",
            )?;
            members.insert(m, d.zmember_entries()?);
        }
        s.zset = Some(Box::new(ZSet::from_members(members)));
    }
    if more & HLL != 0 {
        s.hll = Some(Box::new(d.hll_slot()?));
    }
    if more & TTL != 0 {
        s.ttl = Some(Box::new(d.deadlines()?));
    }
    match d.remaining() {
        0 => Ok(s),
        n => Err(StateDecodeError::TrailingBytes(n)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn zigzag_128_round_trips_extremes() {
        for v in [0, 1, -1, 63, -64, i128::MAX, i128::MIN] {
            let mut e = Enc::default();
            e.i128(v);
            let mut d = Dec { b: &e.buf, pos: 0 };
            assert_eq!(d.i128("x").unwrap(), v);
            assert_eq!(d.remaining(), 0);
        }
    }

    #[test]
    fn zigzag_round_trips_extremes() {
        for v in [0, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            let mut e = Enc::default();
            e.i64(v);
            let mut d = Dec { b: &e.buf, pos: 0 };
            assert_eq!(d.i64("x").unwrap(), v);
            assert_eq!(d.remaining(), 0);
        }
    }
}
