//! SCAN cursors. Keys are walked in key order, and a cursor stands for the last key a call
//! examined: the next call resumes right after it, so a key present for the whole scan is
//! returned at least once whatever is written or deleted meanwhile, as Redis promises. A
//! client sees only a number; the node keeps the key it stands for, shared by every
//! connection (a client may continue a scan on another connection of its pool), the oldest
//! forgotten past [`MAX_CURSORS`].

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;

/// Cursors kept per node; a scan older than that many later ones must start again.
pub(crate) const MAX_CURSORS: usize = 16_384;

/// The node's live cursors.
#[derive(Debug, Default)]
pub(crate) struct Cursors {
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    next: u64,
    last_key: HashMap<u64, Bytes>,
    order: VecDeque<u64>,
}

impl Cursors {
    /// A new cursor that resumes after `last`. Never 0, which means "start" and "done".
    pub(crate) fn issue(&self, last: Bytes) -> u64 {
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        t.next += 1;
        let id = t.next;
        t.last_key.insert(id, last);
        t.order.push_back(id);
        while t.order.len() > MAX_CURSORS {
            if let Some(old) = t.order.pop_front() {
                t.last_key.remove(&old);
            }
        }
        id
    }

    /// The key cursor `id` resumes after, if it is still kept.
    pub(crate) fn resume(&self, id: u64) -> Option<Bytes> {
        let t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        t.last_key.get(&id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_resume_until_forgotten() {
        let cursors = Cursors::default();
        let first = cursors.issue(Bytes::from("a"));
        assert_ne!(first, 0);
        assert_eq!(cursors.resume(first), Some(Bytes::from("a")));
        for i in 0..MAX_CURSORS {
            cursors.issue(Bytes::from(i.to_string()));
        }
        assert_eq!(
            cursors.resume(first),
            None,
            "the oldest cursor is forgotten"
        );
        assert_eq!(cursors.resume(12_345_678), None);
    }
}
