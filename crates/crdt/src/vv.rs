//! Version vectors: `applied[actor] = n` means the actor's operations `1..=n` are all applied.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::{ActorId, Dot};

/// Largest number of entries `VersionVector::from_bytes` accepts.
pub const MAX_DECODED_ACTORS: usize = 4096;

/// A contiguous version vector. Zero entries are never stored, so equal vectors have equal
/// representations.
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct VersionVector(BTreeMap<ActorId, u64>);

impl<'de> Deserialize<'de> for VersionVector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<ActorId, u64>::deserialize(d)?;
        Ok(VersionVector(
            map.into_iter().filter(|&(_, s)| s != 0).collect(),
        ))
    }
}

impl fmt::Debug for VersionVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

impl fmt::Display for VersionVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (a, s)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{a}:{s}")?;
        }
        f.write_str("}")
    }
}

/// Why a byte string is not a canonical encoded version vector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside a value.
    #[error("truncated version vector")]
    Truncated,
    /// A varint was longer than its type allows or not minimally encoded.
    #[error("malformed varint in version vector")]
    BadVarint,
    /// More entries than `MAX_DECODED_ACTORS`.
    #[error("version vector has too many entries ({0})")]
    TooLong(u64),
    /// Actors out of order, repeated, or a zero sequence number.
    #[error("version vector is not canonical")]
    NotCanonical,
    /// Bytes after the last entry.
    #[error("trailing bytes after version vector")]
    Trailing,
}

impl VersionVector {
    /// The empty vector.
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest contiguous sequence number of `a` (0 if none).
    pub fn get(&self, a: ActorId) -> u64 {
        self.0.get(&a).copied().unwrap_or(0)
    }

    /// Sets the entry of `a`; 0 removes it.
    pub fn set(&mut self, a: ActorId, seq: u64) {
        if seq == 0 {
            self.0.remove(&a);
        } else {
            self.0.insert(a, seq);
        }
    }

    /// Whether the operation `dot` is among those this vector summarises.
    pub fn covers(&self, dot: Dot) -> bool {
        dot.seq <= self.get(dot.actor)
    }

    /// Whether `self >= other` pointwise.
    pub fn dominates(&self, other: &VersionVector) -> bool {
        other.0.iter().all(|(&a, &s)| self.get(a) >= s)
    }

    /// Pointwise maximum.
    pub fn merge(&mut self, other: &VersionVector) {
        for (&a, &s) in &other.0 {
            let e = self.0.entry(a).or_insert(0);
            *e = (*e).max(s);
        }
    }

    /// Pointwise minimum.
    pub fn meet(&self, other: &VersionVector) -> VersionVector {
        VersionVector(
            self.0
                .iter()
                .filter_map(|(&a, &s)| {
                    let m = s.min(other.get(a));
                    (m != 0).then_some((a, m))
                })
                .collect(),
        )
    }

    /// The entries, by actor.
    pub fn iter(&self) -> impl Iterator<Item = (ActorId, u64)> + '_ {
        self.0.iter().map(|(&a, &s)| (a, s))
    }

    /// Number of non-zero entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether every entry is zero.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sum of the entries: the number of operations summarised (saturating).
    pub fn total(&self) -> u64 {
        self.0.values().fold(0u64, |t, &s| t.saturating_add(s))
    }

    /// Compact canonical encoding (for causal tokens): varint count, then for each actor in
    /// ascending order varint actor and varint seq (LEB128, minimal).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.0.len() * 4);
        put_varint(&mut out, self.0.len() as u64);
        for (&a, &s) in &self.0 {
            put_varint(&mut out, u64::from(a.0));
            put_varint(&mut out, s);
        }
        out
    }

    /// Decodes `to_bytes` output. Rejects anything that `to_bytes` would not produce; never
    /// allocates more than the input justifies.
    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        let mut pos = 0;
        let n = get_varint(b, &mut pos)?;
        if n > MAX_DECODED_ACTORS as u64 {
            return Err(DecodeError::TooLong(n));
        }
        let mut map = BTreeMap::new();
        let mut last: Option<u32> = None;
        for _ in 0..n {
            let a = get_varint(b, &mut pos)?;
            let a = u32::try_from(a).map_err(|_| DecodeError::BadVarint)?;
            let s = get_varint(b, &mut pos)?;
            if s == 0 || last.is_some_and(|l| l >= a) {
                return Err(DecodeError::NotCanonical);
            }
            last = Some(a);
            map.insert(ActorId(a), s);
        }
        if pos != b.len() {
            return Err(DecodeError::Trailing);
        }
        Ok(VersionVector(map))
    }
}

impl FromIterator<(ActorId, u64)> for VersionVector {
    fn from_iter<I: IntoIterator<Item = (ActorId, u64)>>(iter: I) -> Self {
        let mut v = VersionVector::new();
        for (a, s) in iter {
            v.set(a, s);
        }
        v
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn get_varint(b: &[u8], pos: &mut usize) -> Result<u64, DecodeError> {
    let mut v: u64 = 0;
    for i in 0..10u32 {
        let byte = *b.get(*pos).ok_or(DecodeError::Truncated)?;
        *pos += 1;
        let bits = u64::from(byte & 0x7f);
        if i == 9 && bits > 1 {
            return Err(DecodeError::BadVarint);
        }
        v |= bits << (7 * i);
        if byte & 0x80 == 0 {
            // Minimal: a multi-byte varint never ends in a zero group.
            if i > 0 && bits == 0 {
                return Err(DecodeError::BadVarint);
            }
            return Ok(v);
        }
    }
    Err(DecodeError::BadVarint)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn vv(e: &[(u32, u64)]) -> VersionVector {
        e.iter().map(|&(a, s)| (ActorId(a), s)).collect()
    }

    #[test]
    fn zero_entries_are_not_stored() {
        let mut v = vv(&[(1, 3), (2, 0)]);
        assert_eq!(v.len(), 1);
        v.set(ActorId(1), 0);
        assert!(v.is_empty());
        assert_eq!(v, VersionVector::new());
    }

    #[test]
    fn covers_dominates_merge_meet() {
        let a = vv(&[(1, 3), (2, 5)]);
        let b = vv(&[(1, 4), (3, 1)]);
        assert!(a.covers(Dot::new(ActorId(1), 3)));
        assert!(!a.covers(Dot::new(ActorId(1), 4)));
        assert!(!a.covers(Dot::new(ActorId(3), 1)));
        assert!(!a.dominates(&b) && !b.dominates(&a));
        let mut m = a.clone();
        m.merge(&b);
        assert_eq!(m, vv(&[(1, 4), (2, 5), (3, 1)]));
        assert!(m.dominates(&a) && m.dominates(&b));
        assert_eq!(a.meet(&b), vv(&[(1, 3)]));
        assert_eq!(m.total(), 10);
    }

    #[test]
    fn empty_vector_encodes_to_one_byte() {
        assert_eq!(VersionVector::new().to_bytes(), vec![0]);
    }

    #[test]
    fn non_canonical_encodings_are_rejected() {
        assert_eq!(VersionVector::from_bytes(&[]), Err(DecodeError::Truncated));
        assert_eq!(
            VersionVector::from_bytes(&[1, 1, 0]),
            Err(DecodeError::NotCanonical)
        );
        assert_eq!(
            VersionVector::from_bytes(&[2, 2, 1, 1, 1]),
            Err(DecodeError::NotCanonical)
        );
        assert_eq!(
            VersionVector::from_bytes(&[0x80, 0x00]),
            Err(DecodeError::BadVarint)
        );
        assert_eq!(
            VersionVector::from_bytes(&[0, 0]),
            Err(DecodeError::Trailing)
        );
        assert!(matches!(
            VersionVector::from_bytes(&[0xff, 0xff, 0x03]),
            Err(DecodeError::TooLong(_))
        ));
    }

    proptest! {
        #[test]
        fn bytes_round_trip(e in proptest::collection::btree_map(any::<u32>(), any::<u64>(), 0..20)) {
            let v: VersionVector = e.into_iter().map(|(a, s)| (ActorId(a), s)).collect();
            let b = v.to_bytes();
            prop_assert_eq!(VersionVector::from_bytes(&b).unwrap(), v);
        }

        #[test]
        fn decoding_garbage_never_panics_and_is_canonical(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(v) = VersionVector::from_bytes(&b) {
                prop_assert_eq!(v.to_bytes(), b);
            }
        }
    }
}
