//! A run of log entries: the ops of one origin with consecutive seqs, stored as one record.
//!
//! The log of a [`crate::RedbStore`] keeps runs, not single ops: a group commit appends
//! hundreds of ops of an origin at once, and one B-tree insert of their concatenation costs
//! a fraction of one insert per op (BENCHMARKS.md 7j). A run is keyed by its origin and first
//! seq; the entry at index `i` has seq `first + i`.
//!
//! Payload format (inside the [`crate::record`] envelope):
//! `[count u32 LE]` then `count` times `[len u32 LE][len bytes]`, and nothing after.

use thiserror::Error;

/// Most entries a run written by this build holds; a longer stretch of consecutive seqs is
/// split. Bounds the cost of rewriting a run's tail when the log is truncated inside it.
pub const MAX_ENTRIES: usize = 1024;

/// Most payload bytes a run written by this build holds (a single larger entry still gets a
/// run of its own).
pub const MAX_BYTES: usize = 1 << 20;

/// Why a run's payload does not decode.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RunError {
    /// The payload ends inside the count, a length or an entry.
    #[error("run truncated: {needed} bytes needed at offset {at}, {len} in all")]
    Truncated {
        /// Where the missing bytes start.
        at: usize,
        /// How many were needed there.
        needed: usize,
        /// The payload's length.
        len: usize,
    },
    /// Bytes follow the last entry.
    #[error("run has {0} bytes after its last entry")]
    TrailingBytes(usize),
    /// A run of no entries (never written).
    #[error("run holds no entries")]
    Empty,
    /// The run's entries would take seqs past the largest one.
    #[error("run of {count} entries from seq {first} passes the largest seq")]
    PastLastSeq {
        /// The run's first seq (its key).
        first: u64,
        /// Its entries.
        count: usize,
    },
}

/// The seq of each entry of a run that starts at `first`, beside its range.
pub fn numbered(
    first: u64,
    ranges: Vec<std::ops::Range<usize>>,
) -> Result<impl Iterator<Item = (u64, std::ops::Range<usize>)>, RunError> {
    let count = ranges.len();
    let fits = u64::try_from(count.saturating_sub(1))
        .ok()
        .and_then(|n| first.checked_add(n));
    if fits.is_none() {
        return Err(RunError::PastLastSeq { first, count });
    }
    // No overflow: `first + count - 1` fits.
    Ok(ranges
        .into_iter()
        .zip(0u64..)
        .map(move |(r, i)| (first + i, r)))
}

/// Appends the payload of a run of `entries` to `out`.
pub fn encode_into<'a>(entries: impl ExactSizeIterator<Item = &'a [u8]>, out: &mut Vec<u8>) {
    let count = u32::try_from(entries.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_le_bytes());
    for entry in entries.take(count as usize) {
        // An entry longer than 4 GiB cannot reach the store: ops are bounded far below.
        let len = u32::try_from(entry.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&entry[..len as usize]);
    }
}

/// The entries of a run's payload, as ranges into `payload`. Never panics; never reserves
/// more than the payload's size allows.
pub fn decode(payload: &[u8]) -> Result<Vec<std::ops::Range<usize>>, RunError> {
    let mut at = 0;
    let count = read_u32(payload, &mut at)? as usize;
    if count == 0 {
        return Err(RunError::Empty);
    }
    // Each entry takes at least its 4-byte length.
    let mut entries = Vec::with_capacity(count.min(payload.len() / 4));
    for _ in 0..count {
        let len = read_u32(payload, &mut at)? as usize;
        let end = at.checked_add(len).filter(|&end| end <= payload.len());
        let Some(end) = end else {
            return Err(RunError::Truncated {
                at,
                needed: len,
                len: payload.len(),
            });
        };
        entries.push(at..end);
        at = end;
    }
    if at != payload.len() {
        return Err(RunError::TrailingBytes(payload.len() - at));
    }
    Ok(entries)
}

fn read_u32(payload: &[u8], at: &mut usize) -> Result<u32, RunError> {
    let bytes = payload
        .get(*at..)
        .and_then(|rest| rest.first_chunk::<4>())
        .ok_or(RunError::Truncated {
            at: *at,
            needed: 4,
            len: payload.len(),
        })?;
    *at += 4;
    Ok(u32::from_le_bytes(*bytes))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn encoded(entries: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(entries.iter().copied(), &mut out);
        out
    }

    #[test]
    fn roundtrip() {
        let run = encoded(&[b"op one", b"", b"op three"]);
        let ranges = decode(&run).unwrap();
        let entries: Vec<&[u8]> = ranges.into_iter().map(|r| &run[r]).collect();
        assert_eq!(entries, [&b"op one"[..], b"", b"op three"]);
    }

    #[test]
    fn each_kind_of_damage_is_an_error() {
        let run = encoded(&[b"abc", b"de"]);
        assert_eq!(decode(&encoded(&[])), Err(RunError::Empty));
        assert!(matches!(
            decode(&run[..run.len() - 1]),
            Err(RunError::Truncated { needed: 2, .. })
        ));
        assert!(matches!(
            decode(&run[..2]),
            Err(RunError::Truncated {
                at: 0,
                needed: 4,
                ..
            })
        ));
        let mut long = run.clone();
        long.push(0);
        assert_eq!(decode(&long), Err(RunError::TrailingBytes(1)));
        // A count of 2^32 - 1 in a tiny payload fails without reserving for it.
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(&[0; 8]);
        assert!(matches!(decode(&huge), Err(RunError::Truncated { .. })));
        // A length past the end, including one that would overflow the offset.
        let mut past = 1u32.to_le_bytes().to_vec();
        past.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(&past), Err(RunError::Truncated { .. })));
    }

    #[test]
    fn a_run_near_the_largest_seq_is_numbered_or_refused() {
        let three = decode(&encoded(&[b"a", b"b", b"c"])).unwrap();
        let seqs: Vec<u64> = numbered(u64::MAX - 2, three.clone())
            .unwrap()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(seqs, [u64::MAX - 2, u64::MAX - 1, u64::MAX]);
        assert_eq!(
            numbered(u64::MAX - 1, three).err(),
            Some(RunError::PastLastSeq {
                first: u64::MAX - 1,
                count: 3
            })
        );
    }
}
