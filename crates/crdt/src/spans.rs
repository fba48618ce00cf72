//! Entries that fold per actor once causally stable: a counter's increments (summed) and a
//! HyperLogLog's sketches (merged by maximum).
//!
//! Every op's part is its own entry, keyed by `(actor, from, to)` with `from = to = seq` of
//! the op. A delete removes exactly the entries whose `to` its `deps` cover; entries it had
//! not observed survive. `compact` folds, per actor, every entry whose `to` is causally stable
//! into one entry `(actor, min from, max to)`: every op still to be applied here has `deps`
//! covering all of them, so they are always removed together, and the folded entry behaves
//! exactly as its parts did. Spans of one actor never overlap.

use std::collections::BTreeMap;

use crate::{ActorId, Dot, Hlc, Stamp, Tag, VersionVector};

/// The key of an entry: the actor and the range of its sequence numbers it folds. Ordered by
/// actor, then `from`, then `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Span {
    pub(crate) actor: ActorId,
    pub(crate) from: u64,
    pub(crate) to: u64,
}

impl Span {
    /// The span of one op.
    pub(crate) fn of(dot: Dot) -> Span {
        Span {
            actor: dot.actor,
            from: dot.seq,
            to: dot.seq,
        }
    }

    pub(crate) fn overlaps(&self, o: &Span) -> bool {
        self.actor == o.actor && self.from <= o.to && o.from <= self.to
    }

    /// Number of sequence numbers in the range.
    pub(crate) fn width(&self) -> u128 {
        u128::from(self.to.saturating_sub(self.from)) + 1
    }
}

/// What an entry holds: what its parts fold to, and the seq and HLC of the newest part (the
/// actor is the span's), which the visible-type rule reads.
pub(crate) trait Folded: Clone {
    /// The seq and HLC of the newest part.
    fn newest(&self) -> (u64, Hlc);
    /// Makes `(seq, hlc)` the newest part.
    fn set_newest(&mut self, seq: u64, hlc: Hlc);
    /// Folds in the parts of `other`, which holds other ops of the same actor.
    fn absorb(&mut self, other: &Self);
    /// Of two entries with the same span (which only forged input makes differ), the one a
    /// join keeps, whichever side it came from.
    fn either(a: &Self, b: &Self) -> Self;
}

/// A store of entries by span.
pub(crate) type Spans<R> = BTreeMap<Span, R>;

/// The tag of an entry's newest part.
pub(crate) fn tag<R: Folded>(span: &Span, r: &R) -> Tag {
    let (seq, hlc) = r.newest();
    Tag {
        dot: Dot::new(span.actor, seq),
        hlc,
    }
}

/// Adds the part of the op `dot`; a forged op landing inside an existing span is dropped, so
/// spans stay disjoint.
pub(crate) fn insert<R>(entries: &mut Spans<R>, dot: Dot, part: R) {
    let span = Span::of(dot);
    if entries.keys().any(|s| s.overlaps(&span)) {
        return;
    }
    entries.insert(span, part);
}

/// Removes the entries whose `to` `deps` covers.
pub(crate) fn clear<R>(entries: &mut Spans<R>, deps: &VersionVector) {
    entries.retain(|s, _| deps.get(s.actor) < s.to);
}

/// The newest stamp among the entries, with its dot.
pub(crate) fn newest<R: Folded>(entries: &Spans<R>) -> Option<(Stamp, Dot)> {
    entries
        .iter()
        .map(|(s, r)| {
            let t = tag(s, r);
            (t.stamp(), t.dot)
        })
        .max()
}

/// Whether `compact(stable)` would fold anything: some actor has two entries `stable` covers.
pub(crate) fn mergeable<R>(entries: &Spans<R>, stable: &VersionVector) -> bool {
    let mut last: Option<ActorId> = None;
    // Entries are ordered by actor: the covered entries of one actor come one after another,
    // with only uncovered ones of the same actor between them.
    for s in entries.keys() {
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

/// Folds, per actor, every entry whose `to` `stable` covers into one. Returns how many
/// entries were folded away.
pub(crate) fn compact<R: Folded>(entries: &mut Spans<R>, stable: &VersionVector) -> usize {
    let mut covered: BTreeMap<ActorId, Vec<Span>> = BTreeMap::new();
    for s in entries.keys() {
        if stable.get(s.actor) >= s.to {
            covered.entry(s.actor).or_default().push(*s);
        }
    }
    let mut away = 0;
    for spans in covered.into_values().filter(|spans| spans.len() > 1) {
        away += spans.len() - 1;
        // Moved out, not cloned: an entry may be a 12 KiB sketch.
        let mut parts = spans.into_iter().filter_map(|s| entries.remove_entry(&s));
        let Some((mut span, mut run)) = parts.next() else {
            continue;
        };
        for (s, r) in parts {
            span.from = span.from.min(s.from);
            span.to = span.to.max(s.to);
            let ((seq, hlc), (run_seq, run_hlc)) = (r.newest(), run.newest());
            run.absorb(&r);
            // One actor: its stamps order by HLC, and its seqs break ties.
            if (hlc, seq) > (run_hlc, run_seq) {
                run.set_newest(seq, hlc);
            } else {
                run.set_newest(run_seq, run_hlc);
            }
        }
        entries.insert(span, run);
    }
    away
}

/// The state join of two sides' entries, given what each side had applied.
///
/// An entry held by one side only survives unless the other side has seen its `to` and
/// holds no entry overlapping it (it was removed there). Where one side folded several
/// entries into a span the other still holds separately, the folded span is kept and the
/// entries it contains dropped: both sides agree on which stable parts remain.
pub(crate) fn join<R: Folded>(
    mine: &Spans<R>,
    ctx: &VersionVector,
    theirs: &Spans<R>,
    their_ctx: &VersionVector,
) -> Spans<R> {
    let survivors = |a: &Spans<R>, b: &Spans<R>, b_ctx: &VersionVector| {
        a.iter()
            .filter(|(s, _)| b_ctx.get(s.actor) < s.to || b.keys().any(|o| o.overlaps(s)))
            .map(|(s, r)| (*s, r.clone()))
            .collect::<Vec<_>>()
    };
    let mut all: Spans<R> = BTreeMap::new();
    for (s, r) in survivors(mine, theirs, their_ctx)
        .into_iter()
        .chain(survivors(theirs, mine, ctx))
    {
        match all.get_mut(&s) {
            Some(held) => *held = R::either(held, &r),
            None => {
                all.insert(s, r);
            }
        }
    }
    // Widest first at each start, then drop whatever overlaps what was kept.
    let mut order: Vec<(Span, R)> = all.into_iter().collect();
    order.sort_by_key(|(s, _)| (s.actor, s.from, std::cmp::Reverse(s.to)));
    let mut out: Spans<R> = BTreeMap::new();
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
    out
}
