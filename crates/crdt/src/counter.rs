//! The counter: a PN counter per actor with observed-remove presence and reset floors.
//!
//! Each actor's cell `(p, n)` only ever grows, and only by the actor's own increments, so a
//! state join takes the maximum. A delete does not subtract: it records the cells it observed
//! as floors (`floor_p`, `floor_n`, joined by maximum), and the value counts only what lies
//! above the floors. Two concurrent deletes of one counter therefore cancel it once, and an
//! increment concurrent with a delete survives exactly. Presence is a dot store holding each
//! actor's latest increment; the counter exists while presence (or a conversion base) is
//! non-empty.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dots::DotStore;
use crate::{ActorId, Dot, Stamp, Tag, VersionVector};

/// The counter cells a writer observed when it deleted or overwrote a counter: for each actor
/// `(actor, p, n)`, sorted by actor, zero cells left out. Applying it raises the floors.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterCut(pub Vec<(ActorId, u64, u64)>);

impl CounterCut {
    /// Whether the cut observed nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One actor's share of a counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cell {
    pub(crate) p: u64,
    pub(crate) n: u64,
    pub(crate) floor_p: u64,
    pub(crate) floor_n: u64,
}

impl Cell {
    fn is_zero(&self) -> bool {
        *self == Cell::default()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counter {
    pub(crate) cells: BTreeMap<ActorId, Cell>,
    /// Each actor's latest increment still observed-present.
    pub(crate) presence: DotStore<()>,
    /// Integer values of LWW register entries this counter was converted from (INCRBY on a
    /// string), keyed by the register entry's dot. The newest one counts.
    pub(crate) bases: DotStore<i64>,
}

impl Counter {
    /// Visible: some increment or conversion has not been deleted.
    pub(crate) fn is_live(&self) -> bool {
        !self.presence.is_empty() || !self.bases.is_empty()
    }

    /// Must be kept: live, or holding cells that later operations build on (a tombstone).
    pub(crate) fn is_retained(&self) -> bool {
        self.is_live() || !self.cells.is_empty()
    }

    /// Exact value, which concurrent increments may push outside `i64`.
    pub(crate) fn value_wide(&self) -> i128 {
        let base = self.bases.newest().map_or(0, |(_, v)| *v);
        self.cells.values().fold(i128::from(base), |acc, c| {
            acc + i128::from(c.p.saturating_sub(c.floor_p))
                - i128::from(c.n.saturating_sub(c.floor_n))
        })
    }

    /// The value, saturated to `i64`.
    pub(crate) fn value(&self) -> i64 {
        let v = self.value_wide();
        i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
    }

    pub(crate) fn cut(&self) -> CounterCut {
        CounterCut(
            self.cells
                .iter()
                .filter(|(_, c)| c.p != 0 || c.n != 0)
                .map(|(a, c)| (*a, c.p, c.n))
                .collect(),
        )
    }

    /// Adds `by` to the writer's cell; the writer's presence tag replaces its previous one.
    pub(crate) fn increment(&mut self, tag: Tag, by: i64) {
        let cell = self.cells.entry(tag.dot.actor).or_default();
        if by >= 0 {
            cell.p = cell.p.saturating_add(by.unsigned_abs());
        } else {
            cell.n = cell.n.saturating_add(by.unsigned_abs());
        }
        if cell.is_zero() {
            self.cells.remove(&tag.dot.actor);
        }
        self.presence
            .entries
            .retain(|d, _| d.actor != tag.dot.actor);
        self.presence.insert(tag, ());
    }

    /// Removes what `deps` observed: presence and bases it covers, and the cells in `cut`.
    pub(crate) fn clear(&mut self, deps: &VersionVector, cut: &CounterCut) {
        self.presence.remove_covered(deps);
        self.bases.remove_covered(deps);
        for &(a, p, n) in &cut.0 {
            let cell = self.cells.entry(a).or_default();
            cell.floor_p = cell.floor_p.max(p);
            cell.floor_n = cell.floor_n.max(n);
            if cell.is_zero() {
                self.cells.remove(&a);
            }
        }
    }

    pub(crate) fn newest(&self) -> Option<(Stamp, Dot)> {
        let p = self.presence.newest().map(|(t, _)| (t.stamp(), t.dot));
        let b = self.bases.newest().map(|(t, _)| (t.stamp(), t.dot));
        crate::dots::newest_stamp(p, b)
    }

    /// Joins cells and presence. Bases are joined by `Scalar::join`, which knows the registers.
    pub(crate) fn join_cells_and_presence(
        &mut self,
        ctx: &VersionVector,
        other: &Counter,
        other_ctx: &VersionVector,
    ) {
        for (a, o) in &other.cells {
            let c = self.cells.entry(*a).or_default();
            c.p = c.p.max(o.p);
            c.n = c.n.max(o.n);
            c.floor_p = c.floor_p.max(o.floor_p);
            c.floor_n = c.floor_n.max(o.floor_n);
        }
        self.presence.join(ctx, &other.presence, other_ctx);
    }
}
