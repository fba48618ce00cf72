//! SCAN, SSCAN and HSCAN: their options and cursors. Keys (members, fields) are walked in
//! order, and a cursor stands for the last key a call
//! examined: the next call resumes right after it, so a key present for the whole scan is
//! returned at least once whatever is written or deleted meanwhile, as Redis promises. A
//! client sees only a number; the node keeps the key it stands for, shared by every
//! connection (a client may continue a scan on another connection of its pool), the oldest
//! forgotten past [`MAX_CURSORS`].

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use meridian_resp::{Reply, errors};

use super::exec::int_arg;
use super::glob;

/// COUNT's default and largest value: how many names one call examines.
const DEFAULT_COUNT: usize = 10;
const MAX_COUNT: usize = 100_000;

/// One call of a scan: where it resumes and what it keeps.
pub(crate) struct Scan<'a> {
    /// The name the walk resumes after (`None`: from the start).
    pub(crate) after: Option<Bytes>,
    /// MATCH's pattern.
    pub(crate) pattern: Option<&'a Bytes>,
    /// How many names to examine.
    pub(crate) count: usize,
    /// SCAN's TYPE, lower case.
    pub(crate) type_name: Option<Vec<u8>>,
}

impl Scan<'_> {
    /// Whether `name` passes MATCH.
    pub(crate) fn matches(&self, name: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob::matches(p, name))
    }

    /// Walks `names` (sorted, starting after [`Scan::after`]) for [`Scan::count`] of
    /// them: the items that `keep` keeps, the last name examined, and whether the walk
    /// reached the end.
    pub(crate) fn walk<'n, T>(
        &self,
        names: impl Iterator<Item = (&'n Bytes, T)>,
        mut keep: impl FnMut(&Bytes, &T) -> bool,
    ) -> (Vec<(Bytes, T)>, Option<Bytes>, bool) {
        let mut found = Vec::new();
        let mut last = None;
        let mut names = names.peekable();
        for (examined, (name, item)) in names.by_ref().enumerate() {
            if self.matches(name) && keep(name, &item) {
                found.push((name.clone(), item));
            }
            last = Some(name.clone());
            if examined + 1 == self.count {
                break;
            }
        }
        let done = names.peek().is_none();
        (found, last, done)
    }
}

impl Cursors {
    /// Reads `cursor [MATCH pattern] [COUNT count]` (and `[TYPE type]` if `with_type`):
    /// `args` starts at the cursor.
    pub(crate) fn parse<'a>(&self, args: &'a [Bytes], with_type: bool) -> Result<Scan<'a>, Reply> {
        let cursor = std::str::from_utf8(&args[0])
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(errors::invalid_cursor)?;
        let mut scan = Scan {
            after: None,
            pattern: None,
            count: DEFAULT_COUNT,
            type_name: None,
        };
        for pair in args[1..].chunks(2) {
            let [option, value] = pair else {
                return Err(errors::syntax());
            };
            match option.to_ascii_lowercase().as_slice() {
                b"match" => scan.pattern = Some(value),
                b"count" => match int_arg(value)? {
                    n if n >= 1 => {
                        scan.count = usize::try_from(n).unwrap_or(MAX_COUNT).min(MAX_COUNT)
                    }
                    _ => return Err(errors::syntax()),
                },
                b"type" if with_type => scan.type_name = Some(value.to_ascii_lowercase()),
                _ => return Err(errors::syntax()),
            }
        }
        if cursor != 0 {
            scan.after = Some(self.resume(cursor).ok_or_else(|| {
                Reply::error("ERR invalid cursor: unknown or expired, start the scan again from 0")
            })?);
        }
        Ok(scan)
    }

    /// The reply of one call: the cursor that resumes after `last` (0 when `done`), and the
    /// items found.
    pub(crate) fn reply(&self, items: Vec<Reply>, last: Option<Bytes>, done: bool) -> Reply {
        let next = match (done, last) {
            (false, Some(last)) => self.issue(last),
            _ => 0,
        };
        Reply::Array(vec![
            Reply::bulk(Bytes::from(next.to_string())),
            Reply::Array(items),
        ])
    }
}

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
