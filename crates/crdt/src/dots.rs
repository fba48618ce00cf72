//! The dot store every type is built from: entries keyed by the dot of the operation that
//! made them. An entry is removed by an operation whose `deps` cover its dot.

use std::collections::BTreeMap;

use crate::{Dot, Hlc, Stamp, Tag, VersionVector};

/// Entries keyed by dot, each with the HLC of its writer and a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DotStore<V> {
    pub(crate) entries: BTreeMap<Dot, (Hlc, V)>,
}

impl<V> Default for DotStore<V> {
    fn default() -> Self {
        DotStore {
            entries: BTreeMap::new(),
        }
    }
}

impl<V: Clone> DotStore<V> {
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn insert(&mut self, tag: Tag, v: V) {
        self.entries.insert(tag.dot, (tag.hlc, v));
    }

    pub(crate) fn contains(&self, dot: Dot) -> bool {
        self.entries.contains_key(&dot)
    }

    /// Removes every entry whose dot `ctx` covers.
    pub(crate) fn remove_covered(&mut self, ctx: &VersionVector) {
        self.entries.retain(|d, _| !ctx.covers(*d));
    }

    /// Stamps of the entries `ctx` does not cover: writes concurrent with the observer.
    pub(crate) fn uncovered_stamps(&self, ctx: &VersionVector) -> Vec<Stamp> {
        self.entries
            .iter()
            .filter(|(d, _)| !ctx.covers(**d))
            .map(|(d, (h, _))| Tag { dot: *d, hlc: *h }.stamp())
            .collect()
    }

    /// The entry with the highest stamp (ties, possible only from forged input, go to the
    /// higher dot).
    pub(crate) fn newest(&self) -> Option<(Tag, &V)> {
        self.entries
            .iter()
            .map(|(d, (h, v))| (Tag { dot: *d, hlc: *h }, v))
            .max_by_key(|(t, _)| (t.stamp(), t.dot))
    }

    /// The state-based join: an entry survives if both sides hold it, or if one side holds it
    /// and the other has not yet seen its dot (had it seen the dot, it would hold the entry
    /// unless a later operation removed it).
    pub(crate) fn join(&mut self, ctx: &VersionVector, other: &Self, other_ctx: &VersionVector) {
        self.entries
            .retain(|d, _| other.entries.contains_key(d) || !other_ctx.covers(*d));
        for (d, e) in &other.entries {
            if !self.entries.contains_key(d) && !ctx.covers(*d) {
                self.entries.insert(*d, e.clone());
            }
        }
    }
}

pub(crate) fn newest_stamp(
    a: Option<(Stamp, Dot)>,
    b: Option<(Stamp, Dot)>,
) -> Option<(Stamp, Dot)> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}
