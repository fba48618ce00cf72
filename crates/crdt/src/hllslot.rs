//! A HyperLogLog key (PFADD, PFMERGE): an observed-remove store of sketches, one per op,
//! folded per actor once causally stable (`spans`).
//!
//! PFADD and PFMERGE each add an entry holding the registers their elements (or the sketches
//! merged) reach: every one of them, not only those that rose at the writer, so that a
//! concurrent DEL, which removes only the entries it observed, leaves the op's elements
//! counted (add wins, as for every other type). A PFADD of no element adds an empty entry:
//! the key exists, as in Redis. The key's sketch is the register-wise maximum of its entries,
//! which no order of arrival changes. Stable entries of one actor fold into one sketch, so a
//! key holds one sketch per region that wrote it, plus the ops not yet stable.

use std::borrow::Cow;

use crate::hll::{Observation, Sketch};
use crate::spans::{self, Folded, Spans};
use crate::{Dot, Hlc, Stamp, Tag, VersionVector};

/// The registers an op (or, folded, a run of one actor's ops) reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Part {
    pub(crate) sketch: Sketch,
    pub(crate) newest: u64,
    pub(crate) hlc: Hlc,
}

impl Folded for Part {
    fn newest(&self) -> (u64, Hlc) {
        (self.newest, self.hlc)
    }

    fn set_newest(&mut self, seq: u64, hlc: Hlc) {
        self.newest = seq;
        self.hlc = hlc;
    }

    fn absorb(&mut self, other: &Part) {
        self.sketch.merge(&other.sketch);
    }

    fn either(a: &Part, b: &Part) -> Part {
        let mut both = if (a.hlc, a.newest) >= (b.hlc, b.newest) {
            a.clone()
        } else {
            b.clone()
        };
        both.sketch.merge(&a.sketch);
        both.sketch.merge(&b.sketch);
        both
    }
}

/// The HyperLogLog slot of a key; never kept empty (`KeyState::hll` is `None` then).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HllSlot {
    pub(crate) parts: Spans<Part>,
}

impl HllSlot {
    pub(crate) fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Adds the op `tag`'s entry: the registers `observations` reach.
    pub(crate) fn add(&mut self, tag: Tag, observations: &[Observation]) {
        let mut sketch = Sketch::new();
        for &o in observations {
            sketch.raise(o);
        }
        let part = Part {
            sketch,
            newest: tag.dot.seq,
            hlc: tag.hlc,
        };
        spans::insert(&mut self.parts, tag.dot, part);
    }

    /// Removes the entries `deps` observed.
    pub(crate) fn clear(&mut self, deps: &VersionVector) {
        spans::clear(&mut self.parts, deps);
    }

    pub(crate) fn newest(&self) -> Option<(Stamp, Dot)> {
        spans::newest(&self.parts)
    }

    /// The dot at the end of every entry.
    pub(crate) fn tips(&self) -> impl Iterator<Item = Dot> + '_ {
        self.parts.keys().map(|s| Dot::new(s.actor, s.to))
    }

    pub(crate) fn entry_count(&self) -> usize {
        self.parts.len()
    }

    pub(crate) fn mergeable(&self, stable: &VersionVector) -> bool {
        spans::mergeable(&self.parts, stable)
    }

    /// Folds, per actor, the entries `stable` covers; how many were folded away.
    pub(crate) fn compact(&mut self, stable: &VersionVector) -> usize {
        spans::compact(&mut self.parts, stable)
    }

    pub(crate) fn join(&mut self, ctx: &VersionVector, other: &HllSlot, other_ctx: &VersionVector) {
        self.parts = spans::join(&self.parts, ctx, &other.parts, other_ctx);
    }
}

/// A HyperLogLog key read in place: its entries, whose register-wise maximum is its sketch.
/// Reading one register costs a look at each entry; only `sketch` merges them.
#[derive(Clone, Copy, Debug)]
pub struct HllView<'a> {
    slot: &'a HllSlot,
}

impl<'a> HllView<'a> {
    pub(crate) fn new(slot: &'a HllSlot) -> HllView<'a> {
        HllView { slot }
    }

    /// The rank register `register` holds: the highest any entry gives it.
    pub fn get(&self, register: u16) -> u8 {
        self.slot
            .parts
            .values()
            .map(|p| p.sketch.get(register))
            .max()
            .unwrap_or(0)
    }

    /// The key's sketch, merged from its entries (borrowed when there is one).
    pub fn sketch(&self) -> Cow<'a, Sketch> {
        let mut parts = self.slot.parts.values();
        let Some(first) = parts.next() else {
            return Cow::Owned(Sketch::new());
        };
        let mut out = Cow::Borrowed(&first.sketch);
        for p in parts {
            out.to_mut().merge(&p.sketch);
        }
        out
    }

    /// PFCOUNT's estimate of the key.
    pub fn estimate(&self) -> u64 {
        self.sketch().estimate()
    }
}
