//! What causal stability lets the keyspace drop: counter increments and sorted set score
//! entries merged (`compact`), and list and text tombstones collected (`collect_tombstones`),
//! each costing what it finds stable, not the size of the keyspace.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::Keyspace;
use crate::key::{Counted, KeyState};
use crate::{Dot, VersionVector};

impl Keyspace {
    /// Records the counter entry ending at `dot` for the compaction that finds it stable.
    pub(super) fn note_increment(&mut self, dot: Dot, key: &Bytes, what: Counted) {
        self.increments
            .entry(dot.actor)
            .or_default()
            .insert((dot.seq, key.clone(), what));
    }

    /// Merges, in every key, each actor's counter increments that `stable` covers into one
    /// entry; returns how many entries were merged away. Values, types and the behaviour of
    /// every later op are unchanged; the canonical state (and digest) changes.
    ///
    /// `stable` must be causally stable here: every op this keyspace will still apply (or
    /// receive in a merged state) has `deps` dominating `stable`, so those entries are always
    /// removed together afterwards.
    pub fn compact(&mut self, stable: &VersionVector) -> usize {
        self.compact_with(stable, |_| {})
    }

    /// `compact`, calling `changed` with every key whose state changed (so a replica can
    /// persist them).
    pub fn compact_with(
        &mut self,
        stable: &VersionVector,
        mut changed: impl FnMut(&Bytes),
    ) -> usize {
        let mut due: Vec<(Bytes, Counted)> = Vec::new();
        for (actor, waiting) in &mut self.increments {
            let upto = stable.get(*actor);
            if upto == 0 {
                continue;
            }
            let later = waiting.split_off(&(upto.saturating_add(1), Bytes::new(), Counted::Key));
            due.extend(
                std::mem::replace(waiting, later)
                    .into_iter()
                    .map(|(_, k, what)| (k, what)),
            );
        }
        self.increments.retain(|_, waiting| !waiting.is_empty());
        due.sort_unstable();
        due.dedup();
        let mut away = 0;
        for (key, what) in due {
            let Some(slot) = self.keys.get_mut(&key) else {
                continue;
            };
            // A reap removes counter entries whole: on a key with deadlines, entries merge
            // only below their floors (`expiry`); those above wait for a later compaction.
            let bound = slot.state.ttl.as_deref().map(|d| {
                d.entries
                    .iter()
                    .fold(stable.clone(), |b, e| b.meet(e.floor()))
            });
            let before = slot.hash;
            let folded = slot.compact(&key, &what, bound.as_ref().unwrap_or(stable));
            let n = folded.merged;
            // A score waits for its first entry the bound did not cover.
            let mut waiting: Vec<Dot> = folded.waiting.into_iter().collect();
            if let Some(bound) = &bound {
                let counter = match &what {
                    Counted::Key => Some(&slot.state.scalar.counter),
                    Counted::Field(f) => slot.state.hash.get(f).map(|s| &s.counter),
                    Counted::Member(_) | Counted::Hll => None,
                };
                let hll = match &what {
                    Counted::Hll => slot.state.hll.as_deref(),
                    _ => None,
                };
                waiting.extend(
                    counter
                        .into_iter()
                        .flat_map(|c| c.tips())
                        .chain(hll.into_iter().flat_map(|h| h.tips()))
                        .filter(|d| !bound.covers(*d) && stable.covers(*d)),
                );
            }
            for dot in waiting {
                self.note_increment(dot, &key, what.clone());
            }
            let Some(slot) = self.keys.get_mut(&key) else {
                continue;
            };
            if n > 0 {
                away += n;
                self.digest.xor(&before);
                self.digest.xor(&slot.hash);
                changed(&key);
            }
        }
        away
    }

    /// Ends the current collection epoch; returns it. Every delete applied from now on is of
    /// the next one, so a caller that records its applied vector now knows that vector covers
    /// every delete of the epoch returned and those before ([`Keyspace::collect_tombstones`]).
    pub fn next_epoch(&mut self) -> u64 {
        let ended = self.epoch;
        self.epoch += 1;
        ended
    }

    /// Drops, in every key with tombstones deleted in epochs up to `epoch`, the tombstones no
    /// op to come can name (`Sequence::collect`, and docs/data-model.md); returns how many.
    /// `stable` must be causally stable here as for `compact`, and cover every delete of
    /// epochs up to `epoch`. `changed` is called with every key whose state changed. What a
    /// reader sees is unchanged; the canonical state (and digest) loses the elements dropped.
    pub fn collect_tombstones(
        &mut self,
        stable: &VersionVector,
        epoch: u64,
        mut changed: impl FnMut(&Bytes),
    ) -> u64 {
        let later = self.tombstones.split_off(&epoch.saturating_add(1));
        let due: BTreeSet<Bytes> = std::mem::replace(&mut self.tombstones, later)
            .into_values()
            .flatten()
            .collect();
        let mut dropped = 0;
        for key in due {
            let Some(slot) = self.keys.get_mut(&key) else {
                continue;
            };
            let before = slot.hash;
            let elements = slot.collect(&key, stable, epoch);
            if elements > 0 {
                dropped += elements;
                self.digest.xor(&before);
                self.digest.xor(&slot.hash);
                changed(&key);
            }
        }
        dropped
    }

    /// The tombstones of the key's list and text that another tombstone follows: what a
    /// collection at the full vector drops (0 once every op applied anywhere was applied
    /// everywhere and collected).
    pub fn collectable_tombstones(&self, key: &[u8]) -> u64 {
        self.state(key).map_or(0, |s| {
            s.list.as_ref().map_or(0, |l| l.seq.stacked_tombstones())
                + s.text.as_ref().map_or(0, |t| t.seq.stacked_tombstones())
        })
    }

    /// Keys waiting for a collection whose epoch covers their newest tombstones.
    pub fn pending_collection(&self) -> usize {
        self.tombstones.values().map(BTreeSet::len).sum()
    }

    pub(super) fn note_tombstones(&mut self, key: &Bytes) {
        self.tombstones
            .entry(self.epoch)
            .or_default()
            .insert(key.clone());
    }

    /// Counter entries waiting for a compaction whose stable vector covers them: one per
    /// increment applied since (and one per entry of each state merged or loaded since).
    pub fn pending_compaction(&self) -> usize {
        self.increments.values().map(BTreeSet::len).sum()
    }

    /// The most entries any one counter of the key holds (the key's counter, or a hash
    /// field's), 0 if none. Each increment adds an entry; `compact` merges the stable ones into
    /// one per actor, so after compaction at everything applied this is at most the number of
    /// actors that incremented it.
    pub fn counter_entries(&self, key: &[u8]) -> usize {
        self.state(key).map_or(0, KeyState::max_counter_entries)
    }
}
