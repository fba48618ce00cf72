//! The HyperLogLog slot's encoding (`hllslot`), in the grammar of the module above:
//!
//! ```text
//! hll    = count  entry*                         entries by span, as counter entries
//! entry  = actor:varint from:varint to-from:varint newest-from:varint hlc sketch
//! sketch = n:varint (gap:varint rank:u8)^n      n may be 0 (a PFADD of no element)
//! ```
//!
//! A sketch lists its set registers in increasing order, each as the gap from the one
//! before plus one (the first from -1), so every register is below 16,384; ranks are
//! `1..=51`. A part of the digest is one entry: `11 entry`.

use super::{Dec, Enc, Result, SpanWords, StateDecodeError};
use crate::hll::{MAX_RANK, Observation, REGISTERS, Sketch};
use crate::hllslot::{HllSlot, Part};
use crate::spans::Span;

/// The digest part tag of one entry.
pub(super) const PART_HLL: u8 = 11;

const HLL_SPAN: SpanWords = SpanWords {
    actor: "a HyperLogLog entry's actor",
    start: "a HyperLogLog entry's start",
    width: "a HyperLogLog entry's width",
    newest: "a HyperLogLog entry's newest",
    beyond: "HyperLogLog entry beyond u64",
    order: "HyperLogLog entries out of order or overlapping",
    outside: "HyperLogLog entry's newest outside its span",
};

/// Smallest entry: actor, from, width, newest, an HLC of three varints, an empty sketch.
const MIN_ENTRY: usize = 4 + 3 + 1;

impl Enc {
    pub(super) fn hll_slot(&mut self, h: &HllSlot) {
        self.len(h.parts.len());
        for (s, p) in &h.parts {
            self.hll_entry(s, p);
        }
    }

    pub(super) fn hll_entry(&mut self, s: &Span, p: &Part) {
        self.span_head(s, p.newest, p.hlc);
        self.len(p.sketch.len());
        let mut next = 0u64;
        for o in p.sketch.observations() {
            let register = u64::from(o.register);
            self.varint(register - next);
            self.buf.push(o.rank);
            next = register + 1;
        }
    }
}

impl Dec<'_> {
    pub(super) fn hll_slot(&mut self) -> Result<HllSlot> {
        let n = self.count("HyperLogLog entries", MIN_ENTRY)?;
        let mut slot = HllSlot::default();
        let mut prev: Option<Span> = None;
        for _ in 0..n {
            let (span, part) = self.hll_entry(&mut prev)?;
            slot.parts.insert(span, part);
        }
        Ok(slot)
    }

    /// One entry, which must follow `prev` (`Dec::span_head`).
    fn hll_entry(&mut self, prev: &mut Option<Span>) -> Result<(Span, Part)> {
        let (span, newest, hlc) = self.span_head(&HLL_SPAN, prev)?;
        let claimed = self.varint("a sketch's register count")?;
        let remaining = self.remaining();
        let max = (remaining / 2).min(REGISTERS);
        let n = match usize::try_from(claimed) {
            Ok(n) if n <= max => n,
            _ => {
                return Err(StateDecodeError::TooManyEntries {
                    what: "sketch registers",
                    count: claimed,
                    remaining,
                    max,
                });
            }
        };
        let mut sketch = Sketch::new();
        let mut next = 0u64;
        for _ in 0..n {
            let register = next
                .checked_add(self.varint("a sketch register's gap")?)
                .filter(|&r| r < REGISTERS as u64)
                .ok_or(StateDecodeError::NotCanonical(
                    "sketch register out of range",
                ))?;
            let rank = self.u8("a sketch register's rank")?;
            if rank == 0 || rank > MAX_RANK {
                return Err(StateDecodeError::NotCanonical("sketch rank out of range"));
            }
            sketch.raise(Observation {
                register: register as u16,
                rank,
            });
            next = register + 1;
        }
        Ok((
            span,
            Part {
                sketch,
                newest,
                hlc,
            },
        ))
    }
}
