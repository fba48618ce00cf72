//! A run: consecutive elements of a sequence that one writer inserted one after another, kept
//! as one entry. Elements are identified by [`ElemId`]; a run enumerates its ids either along
//! one op's content (`(actor, seq, off + i)`) or along consecutive single-element ops of one
//! writer (`(actor, seq + i, 0)`: typing, one op per keystroke).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::ElemId;

/// What a sequence holds: text (Unicode scalar values) or list items.
pub trait SeqContent: Clone + std::fmt::Debug + Default + PartialEq + Eq {
    /// Elements held.
    fn len(&self) -> usize;
    /// Whether it holds no element.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Keeps the first `at` elements and returns the rest.
    fn split_off(&mut self, at: usize) -> Self;
    /// Appends `other`'s elements.
    fn append(&mut self, other: &Self);
    /// Elements `from..to` (`from <= to <= len`).
    fn slice(&self, from: usize, to: usize) -> Self;
    /// Calls `f` with each element's bytes, in order (a character's UTF-8, an item).
    fn for_each_elem(&self, f: impl FnMut(&[u8]));
}

/// Text: a run of Unicode scalar values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text(pub String);

impl Text {
    fn byte_at(&self, at: usize) -> usize {
        self.0
            .char_indices()
            .nth(at)
            .map_or(self.0.len(), |(b, _)| b)
    }
}

impl SeqContent for Text {
    fn len(&self) -> usize {
        self.0.chars().count()
    }

    fn split_off(&mut self, at: usize) -> Self {
        let byte = self.byte_at(at);
        let rest = Text(self.0.split_off(byte));
        // `String::split_off` leaves this part the whole capacity: a run split again and
        // again would keep its first size in every piece.
        if self.0.capacity() > 2 * self.0.len() {
            self.0.shrink_to_fit();
        }
        rest
    }

    fn append(&mut self, other: &Self) {
        self.0.push_str(&other.0);
    }

    fn slice(&self, from: usize, to: usize) -> Self {
        let rest = &self.0[self.byte_at(from)..];
        let end = rest
            .char_indices()
            .nth(to - from)
            .map_or(rest.len(), |(b, _)| b);
        Text(rest[..end].to_owned())
    }

    fn for_each_elem(&self, mut f: impl FnMut(&[u8])) {
        let mut buf = [0; 4];
        for c in self.0.chars() {
            f(c.encode_utf8(&mut buf).as_bytes());
        }
    }
}

/// List items: a run of byte strings (a Redis list's elements).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Items(pub Vec<Bytes>);

impl SeqContent for Items {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn split_off(&mut self, at: usize) -> Self {
        let rest = Items(self.0.split_off(at.min(self.0.len())));
        if self.0.capacity() > 2 * self.0.len() {
            self.0.shrink_to_fit();
        }
        rest
    }

    fn append(&mut self, other: &Self) {
        self.0.extend(other.0.iter().cloned());
    }

    fn slice(&self, from: usize, to: usize) -> Self {
        Items(self.0.get(from..to).unwrap_or_default().to_vec())
    }

    fn for_each_elem(&self, mut f: impl FnMut(&[u8])) {
        for item in &self.0 {
            f(item);
        }
    }
}

/// How a run's element ids follow each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Step {
    /// Along one op's content: `(actor, seq, off + i)`.
    Offset,
    /// Along consecutive ops of one element each: `(actor, seq + i, 0)`.
    Seq,
}

/// Consecutive elements: the first one's id and origins, how the ids go on, and the content
/// (once deleted, a tombstone keeps its ids and origins, which later inserts may name, and the
/// epoch of its delete, which says when it may be collected).
///
/// Every element of a run has the run's right origin, and every element but the first has the
/// element before it as its left origin: that is what typing (or inserting a string) makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Run<C> {
    pub(crate) id: ElemId,
    pub(crate) len: u32,
    pub(crate) step: Step,
    pub(crate) left: Origin,
    pub(crate) right: Origin,
    pub(crate) body: Body<C>,
}

/// What a run holds: its content, or, once deleted, the collection epoch in which the
/// delete was applied here ([`super::Sequence::collect`]). The epoch is this replica's own
/// bookkeeping: no encoding, digest or comparison sees it. Costs nothing: the epoch fits in
/// the niche of the content's capacity.
#[derive(Clone, Debug)]
pub(crate) enum Body<C> {
    Live(C),
    Deleted { epoch: u64 },
}

impl<C> Body<C> {
    pub(crate) fn live(&self) -> Option<&C> {
        match self {
            Body::Live(c) => Some(c),
            Body::Deleted { .. } => None,
        }
    }

    /// The epoch of the delete (`None`: live).
    pub(crate) fn deleted_in(&self) -> Option<u64> {
        match self {
            Body::Live(_) => None,
            Body::Deleted { epoch } => Some(*epoch),
        }
    }
}

impl<C: PartialEq> PartialEq for Body<C> {
    /// Equal contents, or both deleted (in whichever epochs).
    fn eq(&self, other: &Self) -> bool {
        self.live() == other.live()
    }
}

impl<C: Eq> Eq for Body<C> {}

impl<C: SeqContent> Run<C> {
    /// The id of element `i` (`i < len`).
    pub(crate) fn elem(&self, i: u32) -> ElemId {
        elem_of(self.id, self.step, i)
    }

    /// The last element's id.
    pub(crate) fn last(&self) -> ElemId {
        self.elem(self.len.saturating_sub(1))
    }

    /// Where `id` is in this run, if it is.
    pub(crate) fn offset_of(&self, id: ElemId) -> Option<u32> {
        if id.actor != self.id.actor {
            return None;
        }
        let i = match self.step {
            Step::Offset if id.seq == self.id.seq && id.off >= self.id.off => {
                u64::from(id.off - self.id.off)
            }
            Step::Seq if id.off == 0 && id.seq >= self.id.seq => id.seq - self.id.seq,
            _ => return None,
        };
        (i < u64::from(self.len)).then_some(i as u32)
    }

    pub(crate) fn is_live(&self) -> bool {
        matches!(self.body, Body::Live(_))
    }

    /// Elements a reader sees.
    pub(crate) fn visible(&self) -> u64 {
        if self.is_live() {
            u64::from(self.len)
        } else {
            0
        }
    }

    /// The run with its content dropped, as a delete in `epoch` leaves it.
    pub(crate) fn tombstone(&self, epoch: u64) -> Run<C> {
        Run {
            id: self.id,
            len: self.len,
            step: self.step,
            left: self.left,
            right: self.right,
            body: Body::Deleted { epoch },
        }
    }

    /// Keeps elements `..at` and returns `at..` as a run of its own (`0 < at < len`).
    pub(crate) fn split_off(&mut self, at: u32) -> Run<C> {
        let rest = Run {
            id: self.elem(at),
            len: self.len - at,
            step: self.step,
            left: Origin::new(Some(self.elem(at - 1))),
            right: self.right,
            body: match &mut self.body {
                Body::Live(c) => Body::Live(c.split_off(at as usize)),
                Body::Deleted { epoch } => Body::Deleted { epoch: *epoch },
            },
        };
        self.len = at;
        rest
    }

    /// Whether `next`, placed right after this run, continues it: the same writer's next
    /// id, typed right after this run's last element, before the same right origin, and
    /// deleted or not alike.
    pub(crate) fn continues_with(&self, next: &Run<C>) -> Option<Step> {
        if next.left.get() != Some(self.last())
            || next.right != self.right
            || self.is_live() != next.is_live()
            || next.id.actor != self.id.actor
        {
            return None;
        }
        let last = self.last();
        let fits = |run: &Run<C>, step: Step| run.len == 1 || run.step == step;
        if fits(self, Step::Offset)
            && fits(next, Step::Offset)
            && next.id.seq == last.seq
            && Some(next.id.off) == last.off.checked_add(1)
        {
            return Some(Step::Offset);
        }
        if fits(self, Step::Seq)
            && fits(next, Step::Seq)
            && self.id.off == 0
            && next.id.off == 0
            && Some(next.id.seq) == last.seq.checked_add(1)
        {
            return Some(Step::Seq);
        }
        None
    }

    /// Appends `next`, which continues this run by `step` ([`Run::continues_with`]).
    pub(crate) fn absorb(&mut self, next: &Run<C>, step: Step) {
        self.step = step;
        self.len += next.len;
        match (&mut self.body, &next.body) {
            (Body::Live(c), Body::Live(n)) => c.append(n),
            // A merged tombstone is collectable once both parts are: the later epoch.
            (Body::Deleted { epoch }, Body::Deleted { epoch: e }) => *epoch = (*epoch).max(*e),
            _ => {}
        }
    }
}

/// A run's origin in the space of an id: an element, or none (seq 0, which no element has:
/// seqs count from 1, and an insert naming seq 0 is refused before it becomes a run). An
/// `Option<ElemId>` takes 24 bytes and this 16, a sixth of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Origin(ElemId);

impl Origin {
    pub(crate) fn new(id: Option<ElemId>) -> Origin {
        Origin(id.unwrap_or_default())
    }

    pub(crate) fn get(self) -> Option<ElemId> {
        (self.0.seq != 0).then_some(self.0)
    }
}

/// Element `i` of a run or span starting at `id` and going on by `step`.
pub(crate) fn elem_of(id: ElemId, step: Step, i: u32) -> ElemId {
    match step {
        Step::Offset => ElemId {
            off: id.off.saturating_add(i),
            ..id
        },
        Step::Seq => ElemId {
            seq: id.seq.saturating_add(u64::from(i)),
            ..id
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run is most of what a document costs: its body holds a tombstone's epoch in the
    /// niche of the content's capacity, and its origins take 16 bytes each.
    #[test]
    fn a_run_takes_80_bytes() {
        assert_eq!(std::mem::size_of::<Run<Text>>(), 80);
        assert_eq!(std::mem::size_of::<Run<Items>>(), 80);
    }
}
