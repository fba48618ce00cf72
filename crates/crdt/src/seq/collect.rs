//! Collecting tombstones: dropping deleted elements that no op to come can name and no
//! element still to be compared names, so that a queue pushed and popped forever, or a
//! document edited for years, holds its live elements and little else.
//!
//! The argument (docs/data-model.md, "Collecting tombstones"), for a tombstone `t` at a
//! replica whose `stable` vector says that every op it will still apply was written by a
//! writer who had applied every op `stable` covers:
//! - `t`'s insert and delete are covered (its delete was applied here in an epoch whose
//!   vector `stable` covers), so every writer to come saw `t` deleted;
//! - the element after `t` here, `u`, is a tombstone covered alike. A writer names a
//!   tombstone only as a left origin, and only when a visible element or the end follows it
//!   ([`Sequence::prepare_insert`]); no element can come between `t` and `u` without an
//!   insert naming `t` (or a tombstone collected before, which no insert names either), and
//!   the first such insert would have been written with `u` deleted right after `t`. So no
//!   op to come names `t`, and nothing ever lands between `t` and `u`;
//! - elements already here may name `t` as an origin, and keep naming it. FugueMax's scan
//!   for an insert to come compares the origins of the elements between that insert's
//!   origins `L` and `R`. Its writer saw `t`, with `L` and `R` adjacent, so `t` lies before
//!   `L` or after `R`: an element naming `t` as its left origin (which lies before it) has it
//!   before `L`, and one naming it as its right origin, after `R`. A missing left origin
//!   counts as the start, a missing right one as the end ([`Sequence::integration_point`]),
//!   which compare with `L` and `R` the same way: the scan decides as it would with `t`.
//!
//! Hence a block of consecutive such tombstones loses all but its last element, and what
//! every region reads, and where every insert to come lands, are unchanged. Once every region
//! has collected at the full vector they hold the same elements again: each tombstone that
//! another tombstone follows, in an order that collection never changes.

use super::list::RunList;
use super::run::{Body, Run, SeqContent};
use super::{Sequence, covers, piece};
use crate::VersionVector;

impl<C: SeqContent> Sequence<C> {
    /// Drops the tombstones that no op to come can name (module doc). `stable` must be
    /// causally stable here (every op this sequence will still apply, or receive in a
    /// merged state, was written by a writer who had applied every op it covers), and cover
    /// every delete applied here in collection epochs up to `epoch`
    /// ([`Sequence::apply_delete_in`]). Nothing a reader sees changes; the canonical runs
    /// lose the dropped elements. How many it dropped.
    pub fn collect(&mut self, stable: &VersionVector, epoch: u64) -> u64 {
        self.collect_with(stable, epoch, |_| {})
    }

    /// `collect`, showing `dropping` every piece it drops, just before.
    pub(crate) fn collect_with(
        &mut self,
        stable: &VersionVector,
        epoch: u64,
        mut dropping: impl FnMut(&Run<C>),
    ) -> u64 {
        let settled = |r: &Run<C>| {
            r.body.deleted_in().is_some_and(|e| e <= epoch) && covers(stable, r.last())
        };
        if !self.list.runs().any(settled) {
            return 0;
        }
        let mut dropped = 0;
        let runs: Vec<Run<C>> = std::mem::take(&mut self.list).into_runs().collect();
        let next_settled: Vec<bool> = runs
            .iter()
            .skip(1)
            .map(settled)
            .chain(std::iter::once(false))
            .collect();
        let mut kept: Vec<Run<C>> = Vec::with_capacity(runs.len());
        for (run, next_settled) in runs.into_iter().zip(next_settled) {
            if !settled(&run) {
                keep(&mut kept, run);
                continue;
            }
            // Every element but the last is followed by one of its own run; the last, by
            // the next run.
            if next_settled {
                dropping(&run);
                dropped += u64::from(run.len);
            } else {
                if run.len > 1 {
                    let gone = piece(&run, 0, run.len - 1);
                    dropping(&gone);
                    dropped += u64::from(gone.len);
                }
                keep(&mut kept, piece(&run, run.len - 1, run.len));
            }
        }
        self.list = RunList::from_runs(kept);
        dropped
    }

    /// Marks every tombstone deleted in collection `epoch`: what a replica does with
    /// tombstones it did not delete itself (loaded, or merged from a snapshot), whose
    /// deletes it knows only to be among what it has applied.
    pub fn restamp(&mut self, epoch: u64) {
        for run in self.list.runs_mut() {
            if let Body::Deleted { epoch: e } = &mut run.body {
                *e = epoch;
            }
        }
    }

    /// Tombstones that another tombstone follows: what a collection at the full vector drops.
    pub fn stacked_tombstones(&self) -> u64 {
        let mut n = 0;
        let mut runs = self.list.runs().peekable();
        while let Some(run) = runs.next() {
            if !run.is_live() {
                let next_dead = runs.peek().is_some_and(|r| !r.is_live());
                n += u64::from(run.len) - u64::from(!next_dead);
            }
        }
        n
    }

    /// Whether any element is deleted.
    pub fn has_tombstones(&self) -> bool {
        self.list.runs().any(|r| !r.is_live())
    }
}

/// Appends `run` to `kept`, merged into the last run if it continues it.
fn keep<C: SeqContent>(kept: &mut Vec<Run<C>>, run: Run<C>) {
    if let Some(last) = kept.last_mut()
        && let Some(step) = last.continues_with(&run)
    {
        last.absorb(&run, step);
        return;
    }
    kept.push(run);
}
