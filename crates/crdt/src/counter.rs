//! The counter: an observed-remove dot store of increments, compacted at causal stability.
//!
//! Every increment is its own entry (`spans`), keyed by `(actor, from, to)` with `from = to =
//! seq` of the op, holding the amount and the op's HLC. A delete (DEL, SET over a counter, HSET or HDEL of
//! a counter field) removes exactly the entries whose `to` its `deps` cover; entries it had not
//! observed survive. There are no floors, cuts or tombstones: a deleted counter leaves nothing
//! behind. The value is the newest conversion base (INCRBY on an integer string) plus the sum
//! of the entries.
//!
//! Entries would grow with the number of increments, so `compact` merges, per actor, every
//! entry whose `to` is causally stable into one entry `(actor, min from, max to, Σ sum)`. Once
//! stable, every op still to be applied here has `deps` covering all of them, so they are
//! always removed together and the merged entry behaves exactly as its parts did.

use crate::dots::DotStore;
pub(crate) use crate::spans::Span;
use crate::spans::{self, Folded, Spans};
use crate::{Dot, Hlc, Stamp, Tag, VersionVector};

/// What a counter entry holds: the sum of its increments and the tag of the newest of them
/// (its seq and HLC; the actor is the span's), which the visible-type rule needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Run {
    pub(crate) sum: i128,
    pub(crate) newest: u64,
    pub(crate) hlc: Hlc,
}

impl Folded for Run {
    fn newest(&self) -> (u64, Hlc) {
        (self.newest, self.hlc)
    }

    fn set_newest(&mut self, seq: u64, hlc: Hlc) {
        self.newest = seq;
        self.hlc = hlc;
    }

    fn absorb(&mut self, other: &Run) {
        self.sum = self.sum.saturating_add(other.sum);
    }

    fn either(a: &Run, b: &Run) -> Run {
        (*a).max(*b)
    }
}

/// The range of sums a span of `width` increments of `i64` can hold.
pub(crate) fn sum_in_range(sum: i128, width: u128) -> bool {
    let w = i128::try_from(width).unwrap_or(i128::MAX);
    let lo = w.checked_mul(i128::from(i64::MIN)).unwrap_or(i128::MIN);
    let hi = w.checked_mul(i128::from(i64::MAX)).unwrap_or(i128::MAX);
    (lo..=hi).contains(&sum)
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counter {
    /// Increments still present, by span; spans of one actor never overlap.
    pub(crate) entries: Spans<Run>,
    /// Integer values of LWW register entries this counter was converted from (INCRBY on a
    /// string), keyed by the register entry's dot. The newest one counts.
    pub(crate) bases: DotStore<i64>,
}

impl Counter {
    /// Visible (and retained): some increment or conversion has not been deleted.
    pub(crate) fn is_live(&self) -> bool {
        !self.entries.is_empty() || !self.bases.is_empty()
    }

    /// Exact value, which concurrent increments may push outside `i64`.
    pub(crate) fn value_wide(&self) -> i128 {
        let base = self.bases.newest().map_or(0, |(_, v)| *v);
        self.entries
            .values()
            .fold(i128::from(base), |acc, r| acc.saturating_add(r.sum))
    }

    /// The value, saturated to `i64`.
    pub(crate) fn value(&self) -> i64 {
        let v = self.value_wide();
        i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
    }

    /// Adds the increment `by` of the op `tag` as its own entry.
    pub(crate) fn increment(&mut self, tag: Tag, by: i64) {
        let run = Run {
            sum: i128::from(by),
            newest: tag.dot.seq,
            hlc: tag.hlc,
        };
        spans::insert(&mut self.entries, tag.dot, run);
    }

    /// Removes what `deps` observed: the entries whose `to` it covers, and the bases it covers.
    pub(crate) fn clear(&mut self, deps: &VersionVector) {
        spans::clear(&mut self.entries, deps);
        self.bases.remove_covered(deps);
    }

    pub(crate) fn newest(&self) -> Option<(Stamp, Dot)> {
        let p = spans::newest(&self.entries);
        let b = self.bases.newest().map(|(t, _)| (t.stamp(), t.dot));
        crate::dots::newest_stamp(p, b)
    }

    /// Number of increment entries.
    pub(crate) fn entry_count(&self) -> usize {
        self.entries.len()
    }

    /// Whether `compact(stable)` would merge anything: some actor has two entries `stable`
    /// covers.
    pub(crate) fn mergeable(&self, stable: &VersionVector) -> bool {
        spans::mergeable(&self.entries, stable)
    }

    /// The dot at the end of every entry (its actor and `to`).
    pub(crate) fn tips(&self) -> impl Iterator<Item = Dot> + '_ {
        self.entries.keys().map(|s| Dot::new(s.actor, s.to))
    }

    /// Merges, per actor, every entry whose `to` `stable` covers into one. Returns how many
    /// entries were merged away.
    pub(crate) fn compact(&mut self, stable: &VersionVector) -> usize {
        spans::compact(&mut self.entries, stable)
    }

    /// Joins the entries (`spans::join`; bases are joined by `Scalar::join`, which knows
    /// the registers).
    pub(crate) fn join_entries(
        &mut self,
        ctx: &VersionVector,
        other: &Counter,
        other_ctx: &VersionVector,
    ) {
        self.entries = spans::join(&self.entries, ctx, &other.entries, other_ctx);
    }
}
