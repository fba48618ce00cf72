//! A scalar slot: an LWW register next to a counter. A key's string slots and every hash
//! field are scalars; INCRBY on a register holding an integer converts it into the counter.

use bytes::Bytes;

use crate::counter::Counter;
use crate::dots::DotStore;
use crate::{Dot, Stamp, Tag, VersionVector};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scalar {
    pub(crate) reg: DotStore<Bytes>,
    pub(crate) counter: Counter,
}

/// Parses a register value as Redis does for INCRBY: canonical decimal `i64` only.
pub(crate) fn parse_int(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?;
    let v: i64 = s.parse().ok()?;
    (v.to_string() == s).then_some(v)
}

impl Scalar {
    pub(crate) fn is_retained(&self) -> bool {
        !self.reg.is_empty() || self.counter.is_live()
    }

    /// Visible: the register if it has entries, else the counter if live.
    pub(crate) fn is_visible(&self) -> bool {
        !self.reg.is_empty() || self.counter.is_live()
    }

    /// The newest register entry.
    pub(crate) fn register_value(&self) -> Option<(Tag, &Bytes)> {
        self.reg.newest()
    }

    /// The field rule: register value if any, else the counter rendered as decimal.
    pub(crate) fn field_value(&self) -> Option<Bytes> {
        if let Some((_, v)) = self.reg.newest() {
            Some(v.clone())
        } else if self.counter.is_live() {
            Some(Bytes::from(self.counter.value().to_string()))
        } else {
            None
        }
    }

    /// Both parts visible at once: a concurrent SET/HSET and INCRBY/HINCRBY.
    pub(crate) fn is_clash(&self) -> bool {
        !self.reg.is_empty() && self.counter.is_live()
    }

    /// Removes what `deps` observed from both parts.
    pub(crate) fn clear(&mut self, deps: &VersionVector) {
        self.reg.remove_covered(deps);
        self.counter.clear(deps);
    }

    /// An overwrite (SET, HSET): clears what `deps` observed, then writes.
    pub(crate) fn write(&mut self, tag: Tag, deps: &VersionVector, value: Bytes) {
        self.clear(deps);
        self.reg.insert(tag, value);
    }

    /// INCRBY/HINCRBY. With `from`, converts the observed register: its entries covered by
    /// `deps` go, and the entry `from` (if still present here and an integer) becomes a base.
    /// A `from` entry already removed by a concurrent write is not resurrected.
    pub(crate) fn increment(&mut self, tag: Tag, deps: &VersionVector, by: i64, from: Option<Dot>) {
        if let Some(from) = from {
            // The conversion supersedes what its writer had observed of the register, and
            // the bases converted from those entries elsewhere share their dots: they go too,
            // whichever arrived first (here, a base from an entry that a concurrent conversion
            // had already removed is never made). Only a base of the entry it converts stays:
            // two regions converting one entry at once count its value once. The value does
            // not change: the entry converted was the visible one, newer than what it observed.
            self.counter
                .bases
                .entries
                .retain(|d, _| *d == from || !deps.covers(*d));
            if let Some((hlc, v)) = self.reg.entries.get(&from) {
                if deps.covers(from) {
                    if let Some(n) = parse_int(v) {
                        self.counter.bases.insert(
                            Tag {
                                dot: from,
                                hlc: *hlc,
                            },
                            n,
                        );
                    }
                }
            }
            self.reg.remove_covered(deps);
        }
        self.counter.increment(tag, by);
    }

    /// State join. Bases share dots with register entries, so their rule looks at the
    /// registers before they are joined: a base survives if the other side still holds its
    /// register entry (not yet converted there) or has not seen the entry at all.
    pub(crate) fn join(&mut self, ctx: &VersionVector, other: &Scalar, other_ctx: &VersionVector) {
        let mut bases = self.counter.bases.clone();
        bases.entries.retain(|d, _| {
            other.counter.bases.contains(*d) || other.reg.contains(*d) || !other_ctx.covers(*d)
        });
        for (d, e) in &other.counter.bases.entries {
            if !bases.contains(*d) && (self.reg.contains(*d) || !ctx.covers(*d)) {
                bases.entries.insert(*d, *e);
            }
        }
        self.counter.bases = bases;
        self.counter.join_entries(ctx, &other.counter, other_ctx);
        self.reg.join(ctx, &other.reg, other_ctx);
    }

    pub(crate) fn register_newest(&self) -> Option<(Stamp, Dot)> {
        self.reg.newest().map(|(t, _)| (t.stamp(), t.dot))
    }

    /// The newest entry of a visible hash field (register or live counter), which the hash
    /// slot's newest stamp is the maximum of; `None` for a field that holds nothing.
    pub(crate) fn field_newest(&self) -> Option<(Stamp, Dot)> {
        if !self.is_visible() {
            return None;
        }
        let counter = self
            .counter
            .is_live()
            .then(|| self.counter.newest())
            .flatten();
        crate::dots::newest_stamp(self.register_newest(), counter)
    }
}
