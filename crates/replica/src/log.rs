//! The in-memory index of the durable op log: every op this node holds, own and received,
//! by origin and sequence, so that any neighbour's gap can be served.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::sync::Arc;

use meridian_crdt::{ActorId, VersionVector};

use crate::op::Op;

/// Ops by origin. Invariant: for each origin the ops held are exactly
/// `first..=last` with no gap, and `last` equals the received vector's entry.
#[derive(Debug, Default)]
pub struct OpLog {
    origins: BTreeMap<ActorId, OriginLog>,
    len: usize,
    /// Sum of the ops' encoded sizes.
    bytes: u64,
}

#[derive(Debug, Default)]
struct OriginLog {
    /// Sequence number of `ops[0]`.
    first: u64,
    ops: VecDeque<Arc<Op>>,
    /// `sizes[i]` is `ops[i].encoded_len()`, kept beside it: computing it is an encode, and
    /// every op's size is needed twice more (its truncation, a retention cut).
    sizes: VecDeque<u64>,
}

impl OriginLog {
    fn last(&self) -> u64 {
        if self.ops.is_empty() {
            self.first.saturating_sub(1)
        } else {
            self.first + self.ops.len() as u64 - 1
        }
    }
}

/// An op that does not extend its origin's log without a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("op {origin}:{seq} does not follow the log's last seq {last} for that origin")]
pub struct LogGap {
    /// Origin of the refused op.
    pub origin: ActorId,
    /// Its seq.
    pub seq: u64,
    /// The log's last seq for that origin.
    pub last: u64,
}

impl OpLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the next op of its origin: seq must follow the last one held (from 1).
    pub fn append(&mut self, op: Arc<Op>) -> Result<(), LogGap> {
        let entry = self.origins.entry(op.origin).or_insert_with(|| OriginLog {
            first: 1,
            ops: VecDeque::new(),
            sizes: VecDeque::new(),
        });
        let last = entry.last();
        if op.seq != last + 1 {
            return Err(LogGap {
                origin: op.origin,
                seq: op.seq,
                last,
            });
        }
        let size = op.encoded_len() as u64;
        self.bytes += size;
        entry.ops.push_back(op);
        entry.sizes.push_back(size);
        self.len += 1;
        Ok(())
    }

    /// The op `origin:seq`, if held.
    pub fn get(&self, origin: ActorId, seq: u64) -> Option<&Arc<Op>> {
        let entry = self.origins.get(&origin)?;
        let index = seq.checked_sub(entry.first)?;
        entry.ops.get(usize::try_from(index).ok()?)
    }

    /// Ops of `origin` with seq in `from..=to` that the log holds, in order.
    pub fn range(
        &self,
        origin: ActorId,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = &Arc<Op>> + '_ {
        let entry = self.origins.get(&origin);
        let (skip, take) = match entry {
            Some(entry) if to >= from => {
                let from = from.max(entry.first);
                let to = to.min(entry.last());
                if to < from {
                    (0, 0)
                } else {
                    ((from - entry.first) as usize, (to - from + 1) as usize)
                }
            }
            _ => (0, 0),
        };
        entry
            .into_iter()
            .flat_map(move |e| e.ops.iter().skip(skip).take(take))
    }

    /// Forgets every op of `origin` up to `upto` and starts the origin's log after it: used
    /// when a state snapshot or a restored store already covers them.
    pub fn set_base(&mut self, origin: ActorId, upto: u64) {
        let entry = self.origins.entry(origin).or_insert_with(|| OriginLog {
            first: 1,
            ops: VecDeque::new(),
            sizes: VecDeque::new(),
        });
        while entry.first <= upto {
            if entry.ops.pop_front().is_none() {
                break;
            }
            let size = entry.sizes.pop_front().unwrap_or(0);
            entry.first += 1;
            self.len -= 1;
            self.bytes = self.bytes.saturating_sub(size);
        }
        if entry.ops.is_empty() && entry.first <= upto {
            entry.first = upto + 1;
        }
    }

    /// The lowest seq of `origin` the log can still serve: ops below it were truncated or
    /// covered by a snapshot, so a peer that needs them needs a snapshot.
    pub fn horizon(&self, origin: ActorId) -> u64 {
        self.origins.get(&origin).map_or(1, |e| e.first)
    }

    /// Number of ops of `origin` held.
    pub fn held(&self, origin: ActorId) -> usize {
        self.origins.get(&origin).map_or(0, |e| e.ops.len())
    }

    /// Lowest seq still held for `origin` (ops below were truncated), or `None` if none held.
    pub fn first(&self, origin: ActorId) -> Option<u64> {
        let entry = self.origins.get(&origin)?;
        (!entry.ops.is_empty()).then_some(entry.first)
    }

    /// Drops every op covered by `upto` (ops held by every node, or past the retention).
    pub fn truncate(&mut self, upto: &VersionVector) -> usize {
        let stable = upto;
        let mut dropped = 0;
        let mut bytes = 0;
        for (origin, entry) in &mut self.origins {
            let upto = stable.get(*origin);
            while entry.first <= upto {
                if entry.ops.pop_front().is_none() {
                    break;
                }
                entry.first += 1;
                dropped += 1;
                bytes += entry.sizes.pop_front().unwrap_or(0);
            }
        }
        self.len -= dropped;
        self.bytes = self.bytes.saturating_sub(bytes);
        dropped
    }

    /// The cut that brings the log within `max_ops` ops and `max_bytes` bytes by dropping its
    /// oldest ops first (by HLC stamp across origins, ties to the smaller origin), never one
    /// beyond `within`: the newest ops stay, so a neighbour only briefly behind is still served
    /// from the log. Each origin loses a prefix (an origin's stamps grow with its seq). Empty
    /// when the log is within both limits.
    pub fn retention_cut(
        &self,
        max_ops: usize,
        max_bytes: u64,
        within: &VersionVector,
    ) -> VersionVector {
        let mut cut = VersionVector::new();
        let (mut len, mut bytes) = (self.len, self.bytes);
        if len <= max_ops && bytes <= max_bytes {
            return cut;
        }
        let droppable = |origin: ActorId, entry: &OriginLog, index: usize| {
            entry
                .ops
                .get(index)
                .filter(|op| op.seq <= within.get(origin))
                .map(|op| Reverse((op.hlc, origin, index)))
        };
        let mut oldest: BinaryHeap<_> = self
            .origins
            .iter()
            .filter_map(|(origin, entry)| droppable(*origin, entry, 0))
            .collect();
        while len > max_ops || bytes > max_bytes {
            let Some(Reverse((_, origin, index))) = oldest.pop() else {
                break;
            };
            let Some(entry) = self.origins.get(&origin) else {
                break;
            };
            if let Some(op) = entry.ops.get(index) {
                len -= 1;
                bytes = bytes.saturating_sub(entry.sizes.get(index).copied().unwrap_or(0));
                cut.set(origin, op.seq);
            }
            oldest.extend(droppable(origin, entry, index + 1));
        }
        cut
    }

    /// Number of ops held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Sum of the encoded sizes of the ops held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether no op is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bytes::Bytes;
    use meridian_crdt::{Hlc, Payload};

    fn op(origin: u32, seq: u64) -> Arc<Op> {
        Arc::new(Op {
            origin: ActorId(origin),
            seq,
            hlc: Hlc {
                epoch: 0,
                time: seq,
                count: 0,
            },
            deps: VersionVector::new(),
            key: Bytes::from_static(b"k"),
            payload: Payload::SAdd(Vec::new()),
            continues: false,
        })
    }

    #[test]
    fn log_refuses_gaps_and_serves_ranges() {
        let mut log = OpLog::new();
        log.append(op(1, 1)).unwrap();
        log.append(op(1, 2)).unwrap();
        assert!(log.append(op(1, 4)).is_err());
        log.append(op(1, 3)).unwrap();
        let seqs: Vec<u64> = log.range(ActorId(1), 2, 10).map(|o| o.seq).collect();
        assert_eq!(seqs, vec![2, 3]);
        assert_eq!(log.range(ActorId(2), 1, 10).count(), 0);
        let mut stable = VersionVector::new();
        stable.set(ActorId(1), 2);
        assert_eq!(log.truncate(&stable), 2);
        assert_eq!(log.first(ActorId(1)), Some(3));
        assert!(log.get(ActorId(1), 2).is_none());
        assert_eq!(log.get(ActorId(1), 3).unwrap().seq, 3);
        assert_eq!(log.len(), 1);
        assert_eq!(log.bytes(), op(1, 3).encoded_len() as u64);
        log.set_base(ActorId(1), 3);
        assert_eq!((log.len(), log.bytes()), (0, 0));
        assert_eq!(log.horizon(ActorId(1)), 4);
    }

    fn stamped(origin: u32, seq: u64, time: u64) -> Arc<Op> {
        let mut o = (*op(origin, seq)).clone();
        o.hlc.time = time;
        Arc::new(o)
    }

    fn vv(entries: &[(u32, u64)]) -> VersionVector {
        entries.iter().map(|&(a, s)| (ActorId(a), s)).collect()
    }

    #[test]
    fn the_retention_cut_drops_the_oldest_ops_first_and_never_beyond_the_bound() {
        let mut log = OpLog::new();
        // Origin 1 wrote long ago and recently; origin 2 in between.
        for (seq, time) in [(1, 10), (2, 20), (3, 90), (4, 100)] {
            log.append(stamped(1, seq, time)).unwrap();
        }
        for (seq, time) in [(1, 30), (2, 40), (3, 50)] {
            log.append(stamped(2, seq, time)).unwrap();
        }
        let all = vv(&[(1, 4), (2, 3)]);
        assert!(
            log.retention_cut(7, u64::MAX, &all).is_empty(),
            "within both limits"
        );
        assert_eq!(log.retention_cut(4, u64::MAX, &all), vv(&[(1, 2), (2, 1)]));
        assert_eq!(log.retention_cut(2, u64::MAX, &all), vv(&[(1, 2), (2, 3)]));
        // Only what `within` covers may go, however far over the limit.
        assert_eq!(
            log.retention_cut(0, u64::MAX, &vv(&[(2, 2)])),
            vv(&[(2, 2)])
        );
        // Bytes: every op here has the same size.
        let size = log.bytes() / 7;
        assert_eq!(log.retention_cut(usize::MAX, 5 * size, &all), vv(&[(1, 2)]));
        assert_eq!(log.retention_cut(usize::MAX, 6 * size, &all), vv(&[(1, 1)]));
        let cut = log.retention_cut(4, 5 * size, &all);
        assert_eq!(cut, vv(&[(1, 2), (2, 1)]), "the stricter limit wins");
        assert_eq!(log.truncate(&cut), 3);
        assert_eq!(log.len(), 4);
    }

    #[test]
    fn encoded_len_is_the_length_of_the_encoding() {
        let o = op(7, 42);
        assert_eq!(o.encoded_len(), o.encode().len());
        assert_eq!(Op::decode(&o.encode()).unwrap(), *o);
    }
}
