//! The embedded API of lists and collaborative text. Positions count elements: items of a
//! list, Unicode scalar values (Rust `char`s) of a text, never bytes. An edit names positions
//! in this node's copy as it is when the write is made; the op that replicates it names the
//! elements there, so it means the same text at every region however the others have
//! changed meanwhile. Remote edits arrive on the change feed as positional [`Edit`]s
//! (`crate::Change::edits`); a [`Cursor`] keeps a place in a text through everyone's edits.

use bytes::Bytes;
use meridian_crdt::seq::{Cursor, Items, Sequence, Text};
use meridian_crdt::{Command, Splice};

use crate::node::{Node, NodeError, WriteReceipt};
use crate::ops::{self, Pending, Plan};

/// A write applied at this node (its reads, and the edits made after it, see it) and on its
/// way to disk and to the other regions.
#[derive(Debug)]
#[must_use = "a pending write says when it is durable"]
pub struct PendingWrite {
    receipt: WriteReceipt,
    pending: Pending,
}

impl PendingWrite {
    /// The write's dot and causal token.
    pub fn receipt(&self) -> &WriteReceipt {
        &self.receipt
    }

    /// Resolves once the write is durable under the node's fsync policy. Writes become
    /// durable in the order they were made, so the last one's durability covers the earlier.
    pub async fn durable(self) -> Result<WriteReceipt, NodeError> {
        self.pending.durable().await?;
        Ok(self.receipt)
    }
}

#[cfg(doc)]
use crate::Edit;

impl Node {
    /// Deletes `len` characters of the text at `key` from `pos`, and inserts `text` there, in
    /// one op (a reader at any region sees neither half alone). The key becomes a text if it
    /// held nothing. Positions past the end are refused, changing nothing.
    pub async fn text_splice(
        &self,
        key: impl Into<Bytes>,
        pos: u64,
        len: u64,
        text: &str,
    ) -> Result<WriteReceipt, NodeError> {
        let command = splice(pos, len, text);
        self.write(key, command).await
    }

    /// [`Node::text_splice`] without waiting for durability: the edit is applied here when
    /// this returns, as an editor applies a keystroke, and the returned write resolves once it
    /// is durable. Typing a document edit by edit this way costs no round trip to the disk per
    /// edit.
    pub fn text_splice_now(
        &self,
        key: impl Into<Bytes>,
        pos: u64,
        len: u64,
        text: &str,
    ) -> Result<PendingWrite, NodeError> {
        let command = splice(pos, len, text);
        let key = key.into();
        let planned = {
            let _gate = self.shared.gate();
            ops::start_planned(&self.shared, |_| Ok(Plan::one(key, command, ())))
        };
        let ((), receipt, pending) = planned?;
        let receipt = receipt.ok_or(NodeError::ShutDown)?;
        Ok(PendingWrite { receipt, pending })
    }

    /// Inserts `text` at character position `pos` (`0..=length`) of the text at `key`.
    pub async fn text_insert(
        &self,
        key: impl Into<Bytes>,
        pos: u64,
        text: &str,
    ) -> Result<WriteReceipt, NodeError> {
        self.text_splice(key, pos, 0, text).await
    }

    /// Deletes `len` characters of the text at `key` from `pos`.
    pub async fn text_delete(
        &self,
        key: impl Into<Bytes>,
        pos: u64,
        len: u64,
    ) -> Result<WriteReceipt, NodeError> {
        let command = Command::Text(Splice {
            delete: vec![(pos, len)],
            insert: None,
        });
        self.write(key, command).await
    }

    /// The whole text at `key`; `None` when the key holds no text.
    pub async fn text(&self, key: &[u8]) -> Option<String> {
        self.read(|r| r.keyspace().text(key).ok().flatten().map(Sequence::text))
    }

    /// Characters `start..end` of the text at `key` (clamped to its length).
    pub async fn text_range(&self, key: &[u8], start: u64, end: u64) -> Option<String> {
        self.read(|r| {
            let text = r.keyspace().text(key).ok().flatten()?;
            Some(text.slice(start, end).0)
        })
    }

    /// The length in characters of the text at `key` (0 when it holds none).
    pub async fn text_len(&self, key: &[u8]) -> u64 {
        self.read(|r| {
            r.keyspace()
                .text(key)
                .ok()
                .flatten()
                .map_or(0, Sequence::len)
        })
    }

    /// A stable position in the text at `key`: just before the character now at `pos`
    /// (`0..=length`), following the text around it through every region's edits
    /// ([`Node::text_resolve`]). `None` when `pos` is past the end.
    pub async fn text_cursor(&self, key: &[u8], pos: u64) -> Option<Cursor> {
        self.read(|r| {
            let empty = Sequence::<Text>::new();
            let text = r.keyspace().text(key).ok().flatten().unwrap_or(&empty);
            text.cursor(pos).ok()
        })
    }

    /// Where `cursor` is now in the text at `key`: after the character it followed, or where
    /// that character was if it was deleted. `None` when the text does not hold that character
    /// (a cursor of another key, of text this node has not yet received, or of a deleted
    /// character whose tombstone was collected: docs/data-model.md).
    pub async fn text_resolve(&self, key: &[u8], cursor: Cursor) -> Option<u64> {
        self.read(|r| {
            let empty = Sequence::<Text>::new();
            let text = r.keyspace().text(key).ok().flatten().unwrap_or(&empty);
            text.resolve(cursor).ok()
        })
    }

    /// Inserts `items` at position `pos` (`0..=length`) of the list at `key`, in their order
    /// (RPUSH is `pos` = the length, LPUSH of one item `pos` = 0).
    pub async fn list_insert(
        &self,
        key: impl Into<Bytes>,
        pos: u64,
        items: Vec<Bytes>,
    ) -> Result<WriteReceipt, NodeError> {
        let command = Command::List(Splice {
            delete: Vec::new(),
            insert: Some((pos, Items(items))),
        });
        self.write(key, command).await
    }

    /// Deletes `len` items of the list at `key` from `pos`.
    pub async fn list_delete(
        &self,
        key: impl Into<Bytes>,
        pos: u64,
        len: u64,
    ) -> Result<WriteReceipt, NodeError> {
        let command = Command::List(Splice {
            delete: vec![(pos, len)],
            insert: None,
        });
        self.write(key, command).await
    }

    /// Items `start..end` of the list at `key` (clamped to its length); empty when the key
    /// holds no list.
    pub async fn list_range(&self, key: &[u8], start: u64, end: u64) -> Vec<Bytes> {
        self.read(|r| {
            r.keyspace()
                .list(key)
                .ok()
                .flatten()
                .map_or_else(Vec::new, |l| l.slice(start, end).0)
        })
    }
}

/// The text edit that deletes `len` characters from `pos` and inserts `text` there.
fn splice(pos: u64, len: u64, text: &str) -> Command {
    Command::Text(Splice::replace(pos, len, Text(text.to_owned())))
}
