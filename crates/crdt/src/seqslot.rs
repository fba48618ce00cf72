//! A key's list and text slots: a [`Sequence`] and the tag of the newest insert it applied.
//!
//! An op on a sequence slot (`Payload::List`, `Payload::Text`) deletes the elements it names
//! and inserts one run; its element ids come from its dot, so the replica layer's exactly-once,
//! causal delivery is all a sequence needs. A DEL or SET tombstones the elements whose inserts
//! its writer had observed (`Sequence::covered`): an insert concurrent with it survives, as a
//! concurrent SADD survives a DEL.

use serde::{Deserialize, Serialize};

use crate::seq::{Delete, Delta, Insert, Items, Run, SeqContent, SeqError, Sequence, Text};
use crate::{Tag, VersionVector};

/// The replicated effect of one list or text write: delete the elements `delete` names, then
/// insert `insert` (each optional). LSET, for one, deletes an item and inserts its
/// replacement in one op, so no region ever reads the list with neither or both.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SeqEdit<C> {
    /// Elements removed (already removed ones stay so).
    pub delete: Delete,
    /// A run inserted; its element ids are the op's dot with offsets 0, 1, 2 …
    pub insert: Option<Insert<C>>,
}

/// An edit at visible positions, as a local writer asks for it (`Command::List`,
/// `Command::Text`): `Keyspace::prepare` names the elements.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Splice<C> {
    /// Ranges `(pos, len)` to delete, in positions before the edit.
    pub delete: Vec<(u64, u64)>,
    /// Content to insert at a position before the edit: just before the element now there,
    /// so an insert at a deleted range's start takes its place.
    pub insert: Option<(u64, C)>,
}

impl<C: SeqContent> Splice<C> {
    /// Deletes `len` elements from `pos` and inserts `content` there, in one edit (an editor's
    /// replace; `len` 0 only inserts, an empty `content` only deletes, and a position past
    /// the end is refused either way).
    pub fn replace(pos: u64, len: u64, content: C) -> Splice<C> {
        Splice {
            delete: if len > 0 {
                vec![(pos, len)]
            } else {
                Vec::new()
            },
            insert: Some((pos, content)),
        }
    }
}

/// A key's list or text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SeqSlot<C: SeqContent> {
    pub(crate) seq: Sequence<C>,
    /// The newest insert applied, deleted since or not: the slot's stamp in the visible-type
    /// rule. A function of the ops applied (a maximum), so equal at every region.
    pub(crate) newest: Tag,
}

/// A run of a list or of a text, for the digest of a key's elements.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SeqRun<'a> {
    List(&'a Run<Items>),
    Text(&'a Run<Text>),
}

/// Which sequence a run belongs to.
pub(crate) trait SeqKind: SeqContent {
    fn wrap(run: &Run<Self>) -> SeqRun<'_>;
}

impl SeqKind for Items {
    fn wrap(run: &Run<Items>) -> SeqRun<'_> {
        SeqRun::List(run)
    }
}

impl SeqKind for Text {
    fn wrap(run: &Run<Text>) -> SeqRun<'_> {
        SeqRun::Text(run)
    }
}

fn newer(a: Tag, b: Tag) -> bool {
    (a.stamp(), a.dot) > (b.stamp(), b.dot)
}

/// Applies the edit of op `tag` to `slot` (created by its first insert), showing `toggle`
/// every run whose elements' digests change: a deleted piece before and after, an inserted
/// run after. All or nothing: an edit that names what the slot does not hold (only a forged
/// op can) changes nothing and says why. What a reader saw change, in order.
pub(crate) fn apply_edit<C: SeqKind>(
    slot: &mut Option<Box<SeqSlot<C>>>,
    tag: Tag,
    edit: &SeqEdit<C>,
    epoch: u64,
    toggle: &mut dyn FnMut(SeqRun<'_>),
) -> Result<Vec<Delta>, SeqError> {
    let run = match &edit.insert {
        Some(insert) => {
            let run = crate::seq::inserted_run(tag.dot, insert)?;
            match slot {
                Some(s) => s.seq.check(&run)?,
                None => Sequence::new().check(&run)?,
            }
            Some(run)
        }
        None => None,
    };
    let s = match (slot.as_mut(), &edit.insert) {
        (Some(s), _) => s,
        (None, None) => {
            return match edit.delete.spans.first() {
                Some(span) => Err(SeqError::Unknown(span.id)),
                None => Ok(Vec::new()),
            };
        }
        (None, Some(_)) => slot.insert(Box::new(SeqSlot {
            seq: Sequence::new(),
            newest: tag,
        })),
    };
    let mut deltas = s.seq.apply_delete_with(&edit.delete, epoch, |piece| {
        toggle(C::wrap(piece));
        toggle(C::wrap(&piece.tombstone(epoch)));
    })?;
    if let Some(run) = run {
        // Deleting takes no element away: the check still holds.
        toggle(C::wrap(&run));
        deltas.push(s.seq.integrate(run));
        if newer(tag, s.newest) {
            s.newest = tag;
        }
    }
    Ok(deltas)
}

/// Tombstones what `deps` observed (DEL and SET), of collection `epoch`. What a reader saw
/// go.
pub(crate) fn clear<C: SeqKind>(
    slot: &mut Option<Box<SeqSlot<C>>>,
    deps: &VersionVector,
    epoch: u64,
) -> Vec<Delta> {
    let Some(s) = slot else {
        return Vec::new();
    };
    let covered = s.seq.covered(deps);
    // `covered` names only elements the sequence holds.
    s.seq.apply_delete_in(&covered, epoch).unwrap_or_default()
}

/// State join of one slot with another region's, given both regions' applied vectors
/// (`Sequence::join`).
pub(crate) fn join<C: SeqKind>(
    mine: &mut Option<Box<SeqSlot<C>>>,
    theirs: Option<&SeqSlot<C>>,
    ctx: &VersionVector,
    other_ctx: &VersionVector,
) -> Result<(), SeqError> {
    let Some(theirs) = theirs else {
        return Ok(());
    };
    match mine {
        None => *mine = Some(Box::new(theirs.clone())),
        Some(m) => {
            // Joined into a copy: a join that fails part way leaves the slot as it was.
            let mut joined = m.seq.clone();
            joined.join(&theirs.seq, ctx, other_ctx, u64::MAX)?;
            m.seq = joined;
            if newer(theirs.newest, m.newest) {
                m.newest = theirs.newest;
            }
        }
    }
    Ok(())
}
