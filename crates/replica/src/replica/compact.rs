//! What causal stability lets a replica drop from its state: counter increments merged into
//! one entry per actor, and tombstones no op to come can name. Both run on the gossip tick,
//! at the vector `MatrixClock::compactable` gives: every op this replica will still apply
//! was written by a writer who had applied every op it covers.

use std::collections::VecDeque;

use meridian_crdt::VersionVector;

use super::Replica;

/// Collection epochs whose vectors stability has not covered yet, oldest first: epoch `e`
/// ended (`Keyspace::next_epoch`) when this replica had applied the vector beside it, so
/// every tombstone of `e` or earlier was deleted by an op that vector covers.
#[derive(Debug, Default)]
pub(super) struct Epochs {
    ended: VecDeque<(u64, VersionVector)>,
}

/// Epochs remembered at most: past it, the two newest merge into the newer, which only
/// makes the older wait for a later vector. A partition leaves one epoch per gossip tick
/// uncovered; this bounds what they cost.
const MAX_EPOCHS: usize = 64;

impl Epochs {
    /// Records that `epoch` ended with `applied` applied.
    fn ended(&mut self, epoch: u64, applied: &VersionVector) {
        match self.ended.back_mut() {
            // Nothing applied since: the newer epoch ends at the same vector.
            Some(last) if last.1 == *applied => last.0 = epoch,
            _ => self.ended.push_back((epoch, applied.clone())),
        }
        if self.ended.len() > MAX_EPOCHS {
            self.ended.remove(self.ended.len() - 2);
        }
    }

    /// The newest epoch whose vector `stable` covers, forgetting it and those before.
    fn covered_by(&mut self, stable: &VersionVector) -> Option<u64> {
        let mut upto = None;
        while let Some((epoch, applied)) = self.ended.front() {
            if !stable.dominates(applied) {
                break;
            }
            upto = Some(*epoch);
            self.ended.pop_front();
        }
        upto
    }
}

impl Replica {
    /// Merges counter increments and collects tombstones that are causally stable here; the
    /// keys changed go to the store with the next batch.
    pub(super) fn compact(&mut self) {
        let ended = self.keyspace.next_epoch();
        self.epochs.ended(ended, &self.applied);
        let stable = self.matrix.compactable(&self.applied);
        if stable.is_empty() {
            return;
        }
        let dirty = &mut self.dirty;
        let merged = self.keyspace.compact_with(&stable, |k| {
            dirty.insert(k.clone());
        });
        self.stats.compacted += merged as u64;
        if let Some(epoch) = self.epochs.covered_by(&stable) {
            let dropped = self.keyspace.collect_tombstones(&stable, epoch, |k| {
                dirty.insert(k.clone());
            });
            self.stats.collected += dropped;
        }
        self.compacted_at = stable;
    }
}
