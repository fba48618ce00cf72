//! Deadlines: a key's time to live, kept as entries tagged with the op that set them.
//!
//! A deadline is `(tag, at, ctx)`: `at` in wall-clock milliseconds since the Unix epoch, and
//! `ctx` what the setting op had observed, itself included (its `deps` plus its dot). Once a
//! region's clock passes `at`, the key reads there as if a DEL with context `ctx` had been
//! applied: everything the deadline's writer had observed is gone, and a write concurrent
//! with it survives. A leader then issues that DEL as an op of its own
//! ([`crate::Payload::Reap`]), so every region applies the same removal whatever its clock
//! says and whichever region's clock passed first.
//!
//! Deadlines are removed like any entry, by an op whose `deps` cover them: SET and DEL (which
//! clear every slot), and the ops that set a new deadline (EXPIRE, and every write that keeps
//! the key's TTL: it re-sets the deadline it read, with its own, larger context, so that what it
//! wrote expires with the key). PERSIST sets one that never passes ([`NEVER`]). Deadlines
//! written concurrently are all kept, and each applies to what its own writer had observed: the
//! key's TTL is the earliest of them.
//!
//! A reap removes a counter's increments one entry at a time, and compaction merges entries:
//! an entry merged across a deadline's context would be removed whole or kept whole by that
//! deadline's reap, where unmerged it would be split. So a key's counters do not compact while
//! the key holds any deadline, and every path by which a key loses its deadlines while a reap of
//! one may still be on its way (renewal, EXPIRE, PERSIST) leaves it holding another.

use crate::{Dot, Tag, VersionVector};

/// The deadline PERSIST leaves: never due. It keeps the key's counters from compacting while
/// the key lives (`Keyspace::compact`): a region whose clock had passed the deadline PERSIST
/// removed may still send its reap, which removes only the increments that deadline covered.
pub(crate) const NEVER: u64 = u64::MAX;

/// One deadline entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Deadline {
    /// The op that set it.
    pub(crate) tag: Tag,
    /// When it passes: wall-clock milliseconds since the Unix epoch.
    pub(crate) at: u64,
    /// What the setting op had observed, itself included: what expires.
    pub(crate) ctx: VersionVector,
    /// The meet of the contexts of every deadline this one replaced, directly or through
    /// those it replaced, and its own; `None` when that is `ctx`. A reap of any of them may
    /// still arrive: counter entries merge only below it (`Keyspace::compact`).
    pub(crate) floor: Option<VersionVector>,
}

impl Deadline {
    /// Its floor: below it, every reap still to come of it or of a deadline it replaced
    /// removes counter entries whole.
    pub(crate) fn floor(&self) -> &VersionVector {
        self.floor.as_ref().unwrap_or(&self.ctx)
    }
}

/// A key's deadline entries, sorted by dot (usually one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Deadlines {
    pub(crate) entries: Vec<Deadline>,
}

impl Deadlines {
    /// The earliest deadline, when the key (or part of it) expires.
    pub(crate) fn earliest(&self) -> Option<u64> {
        self.entries
            .iter()
            .map(|d| d.at)
            .filter(|&at| at != NEVER)
            .min()
    }

    /// The entries whose time has come at `clock`.
    pub(crate) fn due(&self, clock: u64) -> impl Iterator<Item = &Deadline> + '_ {
        self.entries.iter().filter(move |d| d.at <= clock)
    }

    fn insert(&mut self, d: Deadline) {
        match self.entries.binary_search_by_key(&d.tag.dot, |e| e.tag.dot) {
            Ok(i) => self.entries[i] = d,
            Err(i) => {
                // Most keys hold one deadline: room for exactly one, not a Vec's default four.
                self.entries.reserve_exact(1);
                self.entries.insert(i, d);
            }
        }
    }

    fn contains(&self, dot: Dot) -> bool {
        self.entries
            .binary_search_by_key(&dot, |e| e.tag.dot)
            .is_ok()
    }
}

/// The deadline slot of a key: boxed, as most keys have none and an empty box is one word.
pub(crate) type TtlSlot = Option<Box<Deadlines>>;

/// Removes the deadlines `ctx` covers.
pub(crate) fn remove_covered(slot: &mut TtlSlot, ctx: &VersionVector) {
    if let Some(d) = slot {
        d.entries.retain(|e| !ctx.covers(e.tag.dot));
        if d.entries.is_empty() {
            *slot = None;
        }
    }
}

/// Replaces the deadlines `deps` cover with one at `at`, set by the op `tag`, whose writer
/// computed `floor` from the deadlines it replaced ([`floor_of`]).
pub(crate) fn set(
    slot: &mut TtlSlot,
    tag: Tag,
    deps: &VersionVector,
    at: u64,
    floor: Option<&VersionVector>,
) {
    remove_covered(slot, deps);
    let mut ctx = deps.clone();
    ctx.set(tag.dot.actor, ctx.get(tag.dot.actor).max(tag.dot.seq));
    ctx.shrink_to_fit();
    let floor = floor.map(|f| f.meet(&ctx)).filter(|f| *f != ctx);
    slot.get_or_insert_with(Box::default).insert(Deadline {
        tag,
        at,
        ctx,
        floor,
    });
}

/// The floor a writer gives the deadline it sets in place of every deadline it holds: the meet
/// of their floors (`None` when it holds none).
pub(crate) fn floor_of(slot: &TtlSlot) -> Option<VersionVector> {
    let d = slot.as_deref()?;
    let mut floors = d.entries.iter().map(Deadline::floor);
    let first = floors.next()?.clone();
    Some(floors.fold(first, |f, g| f.meet(g)))
}

/// The state-based join, as for every dot store: an entry survives if both sides hold it, or
/// if one side holds it and the other has not seen its dot.
pub(crate) fn join(
    slot: &mut TtlSlot,
    ctx: &VersionVector,
    other: Option<&Deadlines>,
    other_ctx: &VersionVector,
) {
    let empty = Deadlines::default();
    let other = other.unwrap_or(&empty);
    if let Some(mine) = slot.as_mut() {
        mine.entries
            .retain(|e| other.contains(e.tag.dot) || !other_ctx.covers(e.tag.dot));
    }
    for e in &other.entries {
        let held = slot.as_ref().is_some_and(|s| s.contains(e.tag.dot));
        if !held && !ctx.covers(e.tag.dot) {
            slot.get_or_insert_with(Box::default).insert(e.clone());
        }
    }
    if slot.as_ref().is_some_and(|s| s.entries.is_empty()) {
        *slot = None;
    }
}
