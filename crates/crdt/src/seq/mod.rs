//! The sequence CRDT behind Redis lists and collaborative text: FugueMax, in the list form
//! that Yjs's integration takes with a modified tie-break (diamond-types' "YjsMod").
//!
//! Every element is named by an [`ElemId`]: the dot of the op that inserted it and its
//! offset in that op's content, so ids are unique as dots are, and dedup and causal delivery
//! come from the replica layer. An insert names its *origins*: the element just left of the
//! place it was typed (tombstones included) and the element just right of it. A replica
//! integrates an insert between its origins, ordering it among the concurrent inserts found
//! there by where their own origins lie ([`Sequence::apply_insert`]); the result does not
//! depend on the order in which concurrent inserts arrive, and two writers typing at one place
//! at once do not interleave (Weidner, Gentle and Kleppmann, "The Art of the Fugue", 2023:
//! FugueMax is maximally non-interleaving). A delete names element ids; a deleted element stays
//! as a tombstone (its ids and origins, no content), since inserts may name it as an origin,
//! until no op to come can ([`Sequence::collect`]).
//!
//! Elements one writer inserted one after another (a string in one op, or one op per keystroke)
//! are kept as one run, so typing costs one entry per run, not per character; runs are kept
//! in chunks that count their visible elements.

mod collect;
mod list;
mod run;

use std::fmt;

use serde::{Deserialize, Serialize};

use bytes::Bytes;

use crate::{ActorId, Dot, VersionVector};
use list::{Place, RunList};
use run::elem_of;
pub(crate) use run::{Body, Origin, Run};
pub use run::{Items, SeqContent, Step, Text};

/// The name of one element: the op that inserted it and its offset in that op's content.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub struct ElemId {
    /// The writer.
    pub actor: ActorId,
    /// The inserting op's seq.
    pub seq: u64,
    /// The element's index in the op's content.
    pub off: u32,
}

impl ElemId {
    /// The first element inserted by `dot`.
    pub fn first_of(dot: Dot) -> ElemId {
        ElemId {
            actor: dot.actor,
            seq: dot.seq,
            off: 0,
        }
    }
}

impl fmt::Display for ElemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}.{}", self.actor, self.seq, self.off)
    }
}

/// Consecutive element ids: `len` of them from `id`, going on by `step`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdSpan {
    /// The first element.
    pub id: ElemId,
    /// How many.
    pub len: u32,
    /// How the ids go on.
    pub step: Step,
}

impl IdSpan {
    fn elem(&self, i: u32) -> ElemId {
        elem_of(self.id, self.step, i)
    }
}

/// An insert as it travels: its origins and its content; its ids come from its op's dot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Insert<C> {
    /// The element just left of where it was typed (`None`: the start).
    pub left: Option<ElemId>,
    /// The element just right of it (`None`: the end).
    pub right: Option<ElemId>,
    /// What it inserts (at least one element).
    pub content: C,
}

/// A delete as it travels: the elements it removes.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Delete {
    /// The elements, in the order the writer saw them.
    pub spans: Vec<IdSpan>,
}

/// What an op did to the visible sequence, by position: what an editor applies to its copy
/// of the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delta {
    /// `len` elements now start at `pos`.
    Insert {
        /// Where.
        pos: u64,
        /// How many.
        len: u64,
    },
    /// The `len` elements from `pos` are gone.
    Delete {
        /// Where.
        pos: u64,
        /// How many.
        len: u64,
    },
}

/// A position that follows the text around it through concurrent edits: it sits just after an
/// element (or at the start), and resolves to wherever that element is now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cursor {
    /// The element the cursor follows (`None`: the start of the sequence).
    pub after: Option<ElemId>,
}

impl fmt::Display for Cursor {
    /// `^` for the start, else the element's id as `actor:seq.off`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.after {
            None => f.write_str("^"),
            Some(id) => write!(f, "{id}"),
        }
    }
}

/// A cursor's text is not `^` or `actor:seq.off`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a cursor is ^ or actor:seq.off")]
pub struct CursorParseError;

impl std::str::FromStr for Cursor {
    type Err = CursorParseError;

    fn from_str(s: &str) -> Result<Cursor, CursorParseError> {
        if s == "^" {
            return Ok(Cursor { after: None });
        }
        let (actor, rest) = s.split_once(':').ok_or(CursorParseError)?;
        let (seq, off) = rest.split_once('.').ok_or(CursorParseError)?;
        let id = ElemId {
            actor: ActorId(actor.parse().map_err(|_| CursorParseError)?),
            seq: seq.parse().map_err(|_| CursorParseError)?,
            off: off.parse().map_err(|_| CursorParseError)?,
        };
        Ok(Cursor { after: Some(id) })
    }
}

/// An op that cannot apply: it names what this sequence does not hold, or holds already.
/// Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SeqError {
    /// The insert's ids are already taken (a forged or replayed op).
    #[error("element {0} is already in the sequence")]
    Duplicate(ElemId),
    /// An origin, a deleted element or a cursor's element is not in the sequence.
    #[error("element {0} is not in the sequence")]
    Unknown(ElemId),
    /// An insert of nothing.
    #[error("an insert must hold at least one element")]
    Empty,
    /// More elements than one op may insert.
    #[error("an insert of {0} elements is over the limit")]
    TooLong(usize),
    /// A local edit past the end.
    #[error("position {pos} is past the end ({len})")]
    OutOfRange {
        /// The position asked for.
        pos: u64,
        /// The visible length.
        len: u64,
    },
}

/// One run in canonical form: maximal (every run that continues the one before it is merged
/// into it), whatever the order in which its elements arrived. Replicas holding the same
/// elements list the same canonical runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanonicalRun<C> {
    /// The first element.
    pub id: ElemId,
    /// Elements.
    pub len: u32,
    /// How the ids go on (`Offset` for a single element).
    pub step: Step,
    /// The first element's left origin.
    pub left: Option<ElemId>,
    /// Every element's right origin.
    pub right: Option<ElemId>,
    /// The content; `None` for a tombstone.
    pub content: Option<C>,
}

/// A replicated sequence of `C` (text or list items).
#[derive(Clone, Debug)]
pub struct Sequence<C> {
    list: RunList<C>,
}

impl<C: SeqContent> Default for Sequence<C> {
    fn default() -> Self {
        Sequence {
            list: RunList::default(),
        }
    }
}

/// Where an origin lies, for comparisons: before everything, at an element, after everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Bound {
    Start,
    At(Place),
    End,
}

impl<C: SeqContent> Sequence<C> {
    /// An empty sequence.
    pub fn new() -> Self {
        Self::default()
    }

    /// Elements a reader sees.
    pub fn len(&self) -> u64 {
        self.list.visible()
    }

    /// Whether a reader sees no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The insert that puts `content` at visible position `pos` (`0..=len`), for this
    /// replica to apply as the op `dot` ([`Sequence::apply_insert`]) and to send. Its origins
    /// are the elements on either side of the place it goes, tombstones included: just before
    /// the element now at `pos`, after any tombstones that precede it.
    pub fn prepare_insert(&self, pos: u64, content: C) -> Result<Insert<C>, SeqError> {
        if content.is_empty() {
            return Err(SeqError::Empty);
        }
        let (left, right) = match self.list.find_visible(pos) {
            Some(at) => (
                self.list.elem_before(at),
                Some(self.list.run(at).elem(at.off)),
            ),
            None if pos == self.len() => (self.list.last_elem(), None),
            None => {
                return Err(SeqError::OutOfRange {
                    pos,
                    len: self.len(),
                });
            }
        };
        Ok(Insert {
            left,
            right,
            content,
        })
    }

    /// The delete of the `len` visible elements from `pos`.
    pub fn prepare_delete(&self, pos: u64, len: u64) -> Result<Delete, SeqError> {
        let end = pos.checked_add(len).filter(|&e| e <= self.len());
        if end.is_none() {
            return Err(SeqError::OutOfRange {
                pos: pos.saturating_add(len),
                len: self.len(),
            });
        }
        let mut spans = Vec::new();
        let mut left = len;
        let mut at = if len == 0 {
            None
        } else {
            self.list.find_visible(pos)
        };
        while let Some(p) = at {
            if left == 0 {
                break;
            }
            let run = self.list.run(p);
            if run.is_live() {
                let n = u64::from(run.len - p.off).min(left);
                spans.push(IdSpan {
                    id: run.elem(p.off),
                    len: n as u32,
                    step: if n == 1 { Step::Offset } else { run.step },
                });
                left -= n;
            }
            at = self.list.next_run(p);
        }
        Ok(Delete { spans })
    }

    /// Integrates the insert of op `dot`: between its origins, after the concurrent inserts
    /// there that FugueMax orders first. Where its elements now are.
    pub fn apply_insert(&mut self, dot: Dot, insert: &Insert<C>) -> Result<Delta, SeqError> {
        let run = inserted_run(dot, insert)?;
        self.check(&run)?;
        Ok(self.integrate(run))
    }

    /// Whether the insert of op `dot` would apply here: what [`Sequence::apply_insert`]
    /// checks before it changes anything.
    pub fn check_insert(&self, dot: Dot, insert: &Insert<C>) -> Result<(), SeqError> {
        self.check(&inserted_run(dot, insert)?)
    }

    /// A run can go in when its ids are new here and its origins are here.
    pub(crate) fn check(&self, run: &Run<C>) -> Result<(), SeqError> {
        for i in [0, run.len - 1] {
            if self.list.locate(run.elem(i)).is_some() {
                return Err(SeqError::Duplicate(run.elem(i)));
            }
        }
        for origin in [run.left.get(), run.right.get()].into_iter().flatten() {
            if self.list.locate(origin).is_none() {
                return Err(SeqError::Unknown(origin));
            }
        }
        Ok(())
    }

    /// Places `run` between its origins: a run that passed [`Sequence::check`].
    pub(crate) fn integrate(&mut self, run: Run<C>) -> Delta {
        // The left origin ends a run and the right origin starts one, so that the new run
        // goes in between whole runs and every place the scan compares is a run start.
        // Splitting changes nothing a reader or the canonical form sees.
        if let Some(l) = run.left.get()
            && let Some(p) = self.list.locate(l)
            && p.off + 1 < self.list.run(p).len
        {
            let next = self.list.run(p).elem(p.off + 1);
            self.list.split_before(next);
        }
        if let Some(r) = run.right.get() {
            self.list.split_before(r);
        }
        let len = run.visible();
        let dest = self.integration_point(&run);
        let placed = self.list.insert(dest, run);
        let pos = self.list.visible_before(placed);
        self.list.merge_with_previous(placed);
        Delta::Insert { pos, len }
    }

    /// State-based join with another replica's sequence of the same key: afterwards this one
    /// holds every element either held, deleted where either deleted it, in the order the
    /// ops of both would have given, except the tombstones either side collected. A side
    /// collected an element when its applied vector (`applied` for this one, `theirs` for
    /// the other) covers the element's insert and the side lacks it: this one does not take
    /// it back, and deletes it if it holds it (only a tombstone is ever collected). The
    /// elements this one lacks are integrated as pieces of the other's runs, each once its
    /// origins are here (a piece's elements were adjacent in the other's order, and no
    /// element here can go between them: it would name one of them as an origin, and they
    /// are absent here). Tombstones it brings or makes are of collection epoch `epoch`.
    pub fn join(
        &mut self,
        other: &Sequence<C>,
        applied: &VersionVector,
        theirs: &VersionVector,
        epoch: u64,
    ) -> Result<(), SeqError> {
        let mut pending: Vec<Run<C>> = Vec::new();
        for run in other.list.runs() {
            let key = |id| (self.list.locate(id).is_some(), covers(applied, id));
            for (start, end, (held, collected)) in pieces_by(run, key) {
                if !held && !collected {
                    let mut p = piece(run, start, end);
                    if !p.is_live() {
                        p.body = Body::Deleted { epoch };
                    }
                    pending.push(p);
                }
            }
        }
        while !pending.is_empty() {
            let before = pending.len();
            let mut later = Vec::new();
            for run in pending {
                let ready = [run.left.get(), run.right.get()]
                    .into_iter()
                    .flatten()
                    .all(|o| self.list.locate(o).is_some());
                if ready {
                    self.check(&run)?;
                    self.integrate(run);
                } else {
                    later.push(run);
                }
            }
            if later.len() == before {
                let missing = later[0]
                    .left
                    .get()
                    .or(later[0].right.get())
                    .unwrap_or(later[0].id);
                return Err(SeqError::Unknown(missing));
            }
            pending = later;
        }
        let mut deleted = Vec::new();
        for run in other.list.runs().filter(|r| !r.is_live()) {
            for (start, end, held) in pieces_by(run, |id| self.list.locate(id).is_some()) {
                if held {
                    deleted.push(span_of(run, start, end));
                }
            }
        }
        // What the other side collected: held here, live or not, lacking there.
        for run in self.list.runs() {
            let key = |id| other.list.locate(id).is_none() && covers(theirs, id);
            for (start, end, collected) in pieces_by(run, key) {
                if collected {
                    deleted.push(span_of(run, start, end));
                }
            }
        }
        self.apply_delete_in(&Delete { spans: deleted }, epoch)?;
        Ok(())
    }

    /// FugueMax's scan: from just after the left origin, over the runs up to the right
    /// origin, find where `new` goes (`None`: the end).
    fn integration_point(&self, new: &Run<C>) -> Option<Place> {
        let left = self.bound(new.left.get(), Bound::Start);
        let right = self.bound(new.right.get(), Bound::End);
        let mut at = match left {
            Bound::At(p) => self.list.next_run(p),
            _ => self.list.first_run(),
        };
        let mut dest = at;
        let mut scanning = false;
        while let Some(p) = at {
            if !scanning {
                dest = Some(p);
            }
            if Bound::At(p) == right {
                break;
            }
            let other = self.list.run(p);
            let oleft = self.bound(other.left.get(), Bound::Start);
            let oright = self.bound(other.right.get(), Bound::End);
            if oleft < left || (oleft == left && oright == right && new.id < other.id) {
                break;
            }
            if oleft == left {
                scanning = oright < right;
            }
            // The other elements of this run have the element before them as left origin,
            // which lies after ours: skipped, as FugueMax skips them one by one.
            at = self.list.next_run(p);
        }
        if at.is_none() && !scanning {
            dest = None;
        }
        dest
    }

    /// Where origin `id` lies; `none` when there is none, or when it is a collected
    /// tombstone: a left origin then counts as the start and a right one as the end, which
    /// compare with the origins of any insert still to come as the tombstone would have
    /// (`collect.rs`).
    fn bound(&self, id: Option<ElemId>, none: Bound) -> Bound {
        match id.and_then(|id| self.list.locate(id)) {
            Some(p) => Bound::At(p),
            None => none,
        }
    }

    /// Deletes the elements `delete` names; already deleted ones stay so (concurrent deletes
    /// of one element agree). What a reader lost, in the order it happened.
    /// The tombstones are of collection epoch 0 ([`Sequence::apply_delete_in`]).
    pub fn apply_delete(&mut self, delete: &Delete) -> Result<Vec<Delta>, SeqError> {
        self.apply_delete_in(delete, 0)
    }

    /// `apply_delete`, leaving tombstones of collection `epoch` ([`Sequence::collect`]).
    pub fn apply_delete_in(&mut self, delete: &Delete, epoch: u64) -> Result<Vec<Delta>, SeqError> {
        self.apply_delete_with(delete, epoch, |_| {})
    }

    /// `apply_delete_in`, showing `deleting` every piece of a run it deletes, just before.
    pub(crate) fn apply_delete_with(
        &mut self,
        delete: &Delete,
        epoch: u64,
        mut deleting: impl FnMut(&Run<C>),
    ) -> Result<Vec<Delta>, SeqError> {
        // Every element must be here before anything changes.
        for span in &delete.spans {
            let mut done = 0;
            while done < span.len {
                let id = span.elem(done);
                let p = self.list.locate(id).ok_or(SeqError::Unknown(id))?;
                done += self.matching(p, span, done);
            }
        }
        let mut deltas = Vec::new();
        for span in &delete.spans {
            let mut done = 0;
            while done < span.len {
                let id = span.elem(done);
                let p = self.list.split_before(id).ok_or(SeqError::Unknown(id))?;
                let n = self.matching(p, span, done);
                if n < self.list.run(p).len {
                    let end = self.list.run(p).elem(n);
                    self.list.split_before(end);
                }
                let p = self.list.locate(id).ok_or(SeqError::Unknown(id))?;
                if self.list.run(p).is_live() {
                    deleting(self.list.run(p));
                    let pos = self.list.visible_before(p);
                    let lost = self.list.delete_run(p, epoch);
                    push_delete(&mut deltas, pos, lost);
                    // Tombstones typed in a row become one run again.
                    let q = self.list.merge_with_previous(p);
                    if let Some(next) = self.list.next_run(q) {
                        self.list.merge_with_previous(next);
                    }
                }
                done += n;
            }
        }
        Ok(deltas)
    }

    /// How many of `span`'s ids from its element `from` on the run holding the first of them
    /// (at `p`) holds in a row (at least one).
    fn matching(&self, p: Place, span: &IdSpan, from: u32) -> u32 {
        let run = self.list.run(p);
        let max = (run.len - p.off).min(span.len - from);
        let mut n = 1;
        while n < max && run.elem(p.off + n) == span.elem(from + n) {
            n += 1;
        }
        n
    }

    /// A position that stays next to the same text through concurrent edits: just after the
    /// element now before visible position `pos`.
    pub fn cursor(&self, pos: u64) -> Result<Cursor, SeqError> {
        if pos == 0 {
            return Ok(Cursor { after: None });
        }
        let p = self
            .list
            .find_visible(pos - 1)
            .ok_or(SeqError::OutOfRange {
                pos,
                len: self.len(),
            })?;
        Ok(Cursor {
            after: Some(self.list.run(p).elem(p.off)),
        })
    }

    /// Where `cursor` is now: just after its element (or where that element was, if it was
    /// deleted).
    pub fn resolve(&self, cursor: Cursor) -> Result<u64, SeqError> {
        let Some(id) = cursor.after else {
            return Ok(0);
        };
        let p = self.list.locate(id).ok_or(SeqError::Unknown(id))?;
        let live = u64::from(self.list.run(p).is_live());
        Ok(self.list.visible_before(p) + live)
    }

    /// The runs in canonical form ([`CanonicalRun`]): a function of the elements in order
    /// alone, whatever runs they sit in here. An element and the next one in the list are
    /// linked when the next continues it (its left origin, the same right origin, deleted or
    /// not alike) with the next id along one op's content (`Step::Offset`) or of the
    /// writer's next single-element op (`Step::Seq`). A chain of elements can hold links of
    /// both kinds, and a run has one, so the form says which win: first every maximal chain
    /// of offset links is a run (an op's elements typed together stay together), then
    /// consecutive runs of one element each are joined along seq links (keystrokes).
    pub fn canonical_runs(&self) -> Vec<CanonicalRun<C>> {
        let mut groups: Vec<Run<C>> = Vec::new();
        let mut push = |piece: Run<C>| {
            if let Some(last) = groups.last_mut()
                && last.continues_with(&piece) == Some(Step::Offset)
            {
                last.absorb(&piece, Step::Offset);
            } else {
                groups.push(piece);
            }
        };
        for run in self.list.runs() {
            if run.step == Step::Seq && run.len > 1 {
                for i in 0..run.len {
                    push(piece(run, i, i + 1));
                }
            } else {
                push(run.clone());
            }
        }
        let mut out: Vec<Run<C>> = Vec::new();
        for g in groups {
            if let Some(last) = out.last_mut()
                && g.len == 1
                && (last.len == 1 || last.step == Step::Seq)
                && last.continues_with(&g) == Some(Step::Seq)
            {
                last.absorb(&g, Step::Seq);
                continue;
            }
            out.push(g);
        }
        out.into_iter()
            .map(|r| CanonicalRun {
                id: r.id,
                len: r.len,
                step: if r.len == 1 { Step::Offset } else { r.step },
                left: r.left.get(),
                right: r.right.get(),
                content: match r.body {
                    Body::Live(c) => Some(c),
                    Body::Deleted { .. } => None,
                },
            })
            .collect()
    }

    /// Runs held in memory (tombstones included): what the sequence costs.
    pub fn run_count(&self) -> usize {
        self.list.runs().count()
    }

    /// The visible content, run by run.
    pub fn contents(&self) -> impl Iterator<Item = &C> + '_ {
        self.list.runs().filter_map(|r| r.body.live())
    }
}

impl<C: SeqContent> Sequence<C> {
    /// The delete of every visible element whose inserting op `deps` covers: what a DEL or
    /// SET whose writer had observed `deps` removes (a concurrent insert survives it).
    pub fn covered(&self, deps: &VersionVector) -> Delete {
        let mut spans = Vec::new();
        for run in self.list.runs().filter(|r| r.is_live()) {
            let upto = deps.get(run.id.actor);
            let n = match run.step {
                _ if run.id.seq > upto => 0,
                Step::Offset => run.len,
                // A seq run's ids go one op after another: a prefix of them is covered.
                Step::Seq => u32::try_from(upto - run.id.seq + 1)
                    .unwrap_or(u32::MAX)
                    .min(run.len),
            };
            if n > 0 {
                spans.push(IdSpan {
                    id: run.id,
                    len: n,
                    step: if n == 1 { Step::Offset } else { run.step },
                });
            }
        }
        Delete { spans }
    }

    /// The visible elements `start..end` (clamped to the length), as one content.
    pub fn slice(&self, start: u64, end: u64) -> C {
        let mut out = C::default();
        let end = end.min(self.len());
        if start >= end {
            return out;
        }
        let mut left = end - start;
        let mut at = self.list.find_visible(start);
        while let Some(p) = at {
            let run = self.list.run(p);
            if let Some(c) = run.body.live() {
                let from = p.off as usize;
                let n = (c.len() - from).min(left as usize);
                out.append(&c.slice(from, from + n));
                left -= n as u64;
                if left == 0 {
                    break;
                }
            }
            at = self.list.next_run(p).map(|q| Place { off: 0, ..q });
        }
        out
    }

    /// The runs in list order, tombstones included.
    pub(crate) fn runs(&self) -> impl Iterator<Item = &Run<C>> + '_ {
        self.list.runs()
    }

    /// A sequence of `runs` in this order, as a decoder found them: every id unique and
    /// found where it is. The order itself is taken on trust (a decoder cannot tell it from
    /// the one FugueMax would give without the ops), and so are origins that are absent:
    /// collected tombstones ([`Sequence::collect`]) stay named by the stable elements that
    /// name them.
    pub(crate) fn from_runs(runs: Vec<Run<C>>) -> Result<Self, SeqError> {
        for run in &runs {
            if run.len == 0 || run.body.live().is_some_and(|c| c.len() != run.len as usize) {
                return Err(SeqError::Empty);
            }
        }
        let seq = Sequence {
            list: RunList::from_runs(runs),
        };
        let mut at = seq.list.first_run();
        while let Some(p) = at {
            let run = seq.list.run(p);
            for i in 0..run.len {
                if seq.list.locate(run.elem(i)) != Some(Place { off: i, ..p }) {
                    return Err(SeqError::Duplicate(run.elem(i)));
                }
            }
            at = seq.list.next_run(p);
        }
        Ok(seq)
    }
}

impl<C: SeqContent> PartialEq for Sequence<C> {
    /// Equal when they hold the same elements in the same order, deleted alike: the
    /// canonical runs, whatever runs each keeps in memory.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.canonical_runs() == other.canonical_runs()
    }
}

impl<C: SeqContent> Eq for Sequence<C> {}

impl Sequence<Items> {
    /// The item at visible position `pos`.
    pub fn get(&self, pos: u64) -> Option<&Bytes> {
        let p = self.list.find_visible(pos)?;
        self.list.run(p).body.live()?.0.get(p.off as usize)
    }

    /// Every visible item, in order.
    pub fn items(&self) -> impl DoubleEndedIterator<Item = &Bytes> + '_ {
        self.list
            .runs()
            .filter_map(|r| r.body.live())
            .flat_map(|c| c.0.iter())
            .collect::<Vec<_>>()
            .into_iter()
    }
}

impl Sequence<Text> {
    /// The text.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for c in self.contents() {
            s.push_str(&c.0);
        }
        s
    }
}

/// The run that op `dot` inserts.
pub(crate) fn inserted_run<C: SeqContent>(
    dot: Dot,
    insert: &Insert<C>,
) -> Result<Run<C>, SeqError> {
    let len = insert.content.len();
    if len == 0 {
        return Err(SeqError::Empty);
    }
    let len = u32::try_from(len).map_err(|_| SeqError::TooLong(len))?;
    // Seqs count from 1: no element has seq 0, and a run keeps "no origin" as seq 0.
    let id = ElemId::first_of(dot);
    for named in [Some(id), insert.left, insert.right].into_iter().flatten() {
        if named.seq == 0 {
            return Err(SeqError::Unknown(named));
        }
    }
    Ok(Run {
        id,
        len,
        step: Step::Offset,
        left: Origin::new(insert.left),
        right: Origin::new(insert.right),
        body: Body::Live(insert.content.clone()),
    })
}

/// `run` cut into maximal pieces `start..end` of elements alike by `key`.
fn pieces_by<C: SeqContent, K: PartialEq>(
    run: &Run<C>,
    key: impl Fn(ElemId) -> K,
) -> Vec<(u32, u32, K)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < run.len {
        let start = i;
        let k = key(run.elem(i));
        while i < run.len && key(run.elem(i)) == k {
            i += 1;
        }
        out.push((start, i, k));
    }
    out
}

/// The ids of elements `start..end` of `run`.
fn span_of<C: SeqContent>(run: &Run<C>, start: u32, end: u32) -> IdSpan {
    IdSpan {
        id: run.elem(start),
        len: end - start,
        step: if end - start == 1 {
            Step::Offset
        } else {
            run.step
        },
    }
}

/// Whether `applied` covers the op that inserted `id`.
fn covers(applied: &VersionVector, id: ElemId) -> bool {
    applied.get(id.actor) >= id.seq
}

/// Elements `start..end` of `run`, as a run of their own.
fn piece<C: SeqContent>(run: &Run<C>, start: u32, end: u32) -> Run<C> {
    let mut piece = run.clone();
    if end < piece.len {
        piece.split_off(end);
    }
    if start > 0 {
        piece = piece.split_off(start);
    }
    piece
}

/// Appends a deletion, merging it with the previous one when they touch (deleting a run
/// piece by piece reports one delta).
fn push_delete(deltas: &mut Vec<Delta>, pos: u64, len: u64) {
    if len == 0 {
        return;
    }
    if let Some(Delta::Delete { pos: p, len: l }) = deltas.last_mut()
        && *p == pos
    {
        *l += len;
        return;
    }
    deltas.push(Delta::Delete { pos, len });
}
