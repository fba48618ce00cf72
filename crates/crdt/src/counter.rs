//! The counter: an observed-remove dot store of increments, compacted at causal stability.
//!
//! Every increment is its own entry, keyed by `(actor, from, to)` with `from = to = seq` of the
//! op, holding the amount and the op's HLC. A delete (DEL, SET over a counter, HSET or HDEL of
//! a counter field) removes exactly the entries whose `to` its `deps` cover; entries it had not
//! observed survive. There are no floors, cuts or tombstones: a deleted counter leaves nothing
//! behind. The value is the newest conversion base (INCRBY on an integer string) plus the sum
//! of the entries.
//!
//! Entries would grow with the number of increments, so `compact` merges, per actor, every
//! entry whose `to` is causally stable into one entry `(actor, min from, max to, Σ sum)`. Once
//! stable, every op still to be applied here has `deps` covering all of them, so they are
//! always removed together and the merged entry behaves exactly as its parts did.

use std::collections::BTreeMap;

use crate::dots::DotStore;
use crate::{ActorId, Dot, Hlc, Stamp, Tag, VersionVector};

/// The key of a counter entry: the actor and the range of its sequence numbers it sums.
/// Ordered by actor, then `from`, then `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Span {
    pub(crate) actor: ActorId,
    pub(crate) from: u64,
    pub(crate) to: u64,
}

impl Span {
    fn overlaps(&self, o: &Span) -> bool {
        self.actor == o.actor && self.from <= o.to && o.from <= self.to
    }

    /// Number of sequence numbers in the range.
    pub(crate) fn width(&self) -> u128 {
        u128::from(self.to.saturating_sub(self.from)) + 1
    }
}

/// What a counter entry holds: the sum of its increments and the tag of the newest of them
/// (its seq and HLC; the actor is the span's), which the visible-type rule needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Run {
    pub(crate) sum: i128,
    pub(crate) newest: u64,
    pub(crate) hlc: Hlc,
}

impl Run {
    fn tag(&self, actor: ActorId) -> Tag {
        Tag {
            dot: Dot::new(actor, self.newest),
            hlc: self.hlc,
        }
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
    pub(crate) entries: BTreeMap<Span, Run>,
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
        let span = Span {
            actor: tag.dot.actor,
            from: tag.dot.seq,
            to: tag.dot.seq,
        };
        // Only a forged op can land inside an existing span; keep the spans disjoint.
        if self.entries.keys().any(|s| s.overlaps(&span)) {
            return;
        }
        self.entries.insert(
            span,
            Run {
                sum: i128::from(by),
                newest: tag.dot.seq,
                hlc: tag.hlc,
            },
        );
    }

    /// Removes what `deps` observed: the entries whose `to` it covers, and the bases it covers.
    pub(crate) fn clear(&mut self, deps: &VersionVector) {
        self.entries.retain(|s, _| deps.get(s.actor) < s.to);
        self.bases.remove_covered(deps);
    }

    pub(crate) fn newest(&self) -> Option<(Stamp, Dot)> {
        let p = self
            .entries
            .iter()
            .map(|(s, r)| {
                let t = r.tag(s.actor);
                (t.stamp(), t.dot)
            })
            .max();
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
        let mut last: Option<ActorId> = None;
        // Entries are ordered by actor: the covered entries of one actor come one after
        // another, with only uncovered ones of the same actor between them.
        for s in self.entries.keys() {
            if stable.get(s.actor) < s.to {
                continue;
            }
            if last == Some(s.actor) {
                return true;
            }
            last = Some(s.actor);
        }
        false
    }

    /// The dot at the end of every entry (its actor and `to`).
    pub(crate) fn tips(&self) -> impl Iterator<Item = Dot> + '_ {
        self.entries.keys().map(|s| Dot::new(s.actor, s.to))
    }

    /// Merges, per actor, every entry whose `to` `stable` covers into one. Returns how many
    /// entries were merged away.
    pub(crate) fn compact(&mut self, stable: &VersionVector) -> usize {
        let mut merged: BTreeMap<ActorId, (Span, Run, usize)> = BTreeMap::new();
        for (s, r) in &self.entries {
            if stable.get(s.actor) < s.to {
                continue;
            }
            merged
                .entry(s.actor)
                .and_modify(|(span, run, n)| {
                    span.from = span.from.min(s.from);
                    span.to = span.to.max(s.to);
                    run.sum = run.sum.saturating_add(r.sum);
                    if (r.tag(s.actor).stamp(), r.newest) > (run.tag(s.actor).stamp(), run.newest) {
                        run.newest = r.newest;
                        run.hlc = r.hlc;
                    }
                    *n += 1;
                })
                .or_insert((*s, *r, 1));
        }
        let mut away = 0;
        for (actor, (span, run, n)) in merged {
            if n < 2 {
                continue;
            }
            away += n - 1;
            self.entries
                .retain(|s, _| s.actor != actor || stable.get(actor) < s.to);
            self.entries.insert(span, run);
        }
        away
    }

    /// Joins the entries (bases are joined by `Scalar::join`, which knows the registers).
    ///
    /// An entry held by one side only survives unless the other side has seen its `to` and
    /// holds no entry overlapping it (it was removed there). Where one side compacted several
    /// entries into a range the other still holds separately, the compacted range is kept and
    /// the entries it contains dropped: both sides agree on which stable increments remain.
    pub(crate) fn join_entries(
        &mut self,
        ctx: &VersionVector,
        other: &Counter,
        other_ctx: &VersionVector,
    ) {
        let survivors = |mine: &Counter, theirs: &Counter, theirs_ctx: &VersionVector| {
            mine.entries
                .iter()
                .filter(|(s, _)| {
                    theirs_ctx.get(s.actor) < s.to || theirs.entries.keys().any(|o| o.overlaps(s))
                })
                .map(|(s, r)| (*s, *r))
                .collect::<Vec<_>>()
        };
        let mut all: BTreeMap<Span, Run> = BTreeMap::new();
        for (s, r) in survivors(self, other, other_ctx)
            .into_iter()
            .chain(survivors(other, self, ctx))
        {
            // Equal spans hold equal runs unless forged; keep the join symmetric anyway.
            let e = all.entry(s).or_insert(r);
            *e = (*e).max(r);
        }
        // Widest first at each start, then drop whatever overlaps what was kept.
        let mut order: Vec<(Span, Run)> = all.into_iter().collect();
        order.sort_by_key(|(s, _)| (s.actor, s.from, std::cmp::Reverse(s.to)));
        let mut out: BTreeMap<Span, Run> = BTreeMap::new();
        let mut last: Option<Span> = None;
        for (s, r) in order {
            // In states replicas can reach, what overlaps is contained; partial overlaps come
            // only from forged input and are dropped the same way.
            if last.is_some_and(|l| l.overlaps(&s)) {
                continue;
            }
            last = Some(s);
            out.insert(s, r);
        }
        self.entries = out;
    }
}
