//! Version vectors: `applied[actor] = n` means the actor's operations `1..=n` are all applied.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{ActorId, Dot};

/// Largest number of entries `VersionVector::from_bytes` accepts.
pub const MAX_DECODED_ACTORS: usize = 4096;

/// A contiguous version vector. Zero entries are never stored, so equal vectors have equal
/// representations.
///
/// Entries sit in a vector sorted by actor: a cluster has a handful of actors, and every op
/// carries one of these as its `deps`, cloned, compared and merged on every node. A
/// `BTreeMap` cost an allocation of a tree node per clone and a pointer chase per lookup.
/// Serialized as a map from actor to seq, as a `BTreeMap` is.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct VersionVector(Vec<(ActorId, u64)>);

impl Serialize for VersionVector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(a, seq)| (a, seq)))
    }
}

impl<'de> Deserialize<'de> for VersionVector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = VersionVector;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from actor to sequence number")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<VersionVector, M::Error> {
                // The hint comes from the peer: allocate for a few, grow for the rest.
                let mut v = VersionVector(Vec::with_capacity(map.size_hint().unwrap_or(0).min(16)));
                // As a map would: a later entry of the same actor replaces an earlier one.
                while let Some((a, seq)) = map.next_entry::<ActorId, u64>()? {
                    v.set(a, seq);
                }
                Ok(v)
            }
        }
        d.deserialize_map(Entries)
    }
}

impl fmt::Debug for VersionVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(a, s)| (a, s)))
            .finish()
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
        match self.find(a) {
            Ok(i) => self.0[i].1,
            Err(_) => 0,
        }
    }

    fn find(&self, a: ActorId) -> Result<usize, usize> {
        self.0.binary_search_by_key(&a, |&(actor, _)| actor)
    }

    /// Sets the entry of `a`; 0 removes it.
    pub fn set(&mut self, a: ActorId, seq: u64) {
        match (self.find(a), seq) {
            (Ok(i), 0) => {
                self.0.remove(i);
            }
            (Ok(i), _) => self.0[i].1 = seq,
            (Err(_), 0) => {}
            (Err(i), _) => self.0.insert(i, (a, seq)),
        }
    }

    /// Frees the room the vector does not use (for one kept long, as a deadline's context).
    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }

    /// Whether the operation `dot` is among those this vector summarises.
    pub fn covers(&self, dot: Dot) -> bool {
        dot.seq <= self.get(dot.actor)
    }

    /// Whether `self >= other` pointwise.
    pub fn dominates(&self, other: &VersionVector) -> bool {
        other.0.iter().all(|&(a, s)| self.get(a) >= s)
    }

    /// Pointwise maximum.
    pub fn merge(&mut self, other: &VersionVector) {
        for &(a, s) in &other.0 {
            match self.find(a) {
                Ok(i) => self.0[i].1 = self.0[i].1.max(s),
                Err(i) => self.0.insert(i, (a, s)),
            }
        }
    }

    /// Pointwise minimum.
    pub fn meet(&self, other: &VersionVector) -> VersionVector {
        VersionVector(
            self.0
                .iter()
                .filter_map(|&(a, s)| {
                    let m = s.min(other.get(a));
                    (m != 0).then_some((a, m))
                })
                .collect(),
        )
    }

    /// The entries, by actor.
    pub fn iter(&self) -> impl Iterator<Item = (ActorId, u64)> + '_ {
        self.0.iter().copied()
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
        self.0.iter().fold(0u64, |t, &(_, s)| t.saturating_add(s))
    }

    /// Compact canonical encoding (for causal tokens): varint count, then for each actor in
    /// ascending order varint actor and varint seq (LEB128, minimal).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.0.len() * 4);
        put_varint(&mut out, self.0.len() as u64);
        for &(a, s) in &self.0 {
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
        let mut entries = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(b.len()));
        let mut last: Option<u32> = None;
        for _ in 0..n {
            let a = get_varint(b, &mut pos)?;
            let a = u32::try_from(a).map_err(|_| DecodeError::BadVarint)?;
            let s = get_varint(b, &mut pos)?;
            if s == 0 || last.is_some_and(|l| l >= a) {
                return Err(DecodeError::NotCanonical);
            }
            last = Some(a);
            entries.push((ActorId(a), s));
        }
        if pos != b.len() {
            return Err(DecodeError::Trailing);
        }
        Ok(VersionVector(entries))
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
        // The wire and store formats are those of a `BTreeMap<ActorId, u64>`, which the vector
        // was until it became a sorted `Vec`: both ways, zero entries dropped, and a later
        // entry of an actor named twice winning.
        fn serde_format_is_a_map_from_actor_to_seq(
            e in proptest::collection::btree_map(0u32..8, 0u64..4, 0..8),
            twice in proptest::collection::vec((0u32..8, 0u64..4), 0..8),
        ) {
            let map: std::collections::BTreeMap<ActorId, u64> =
                e.iter().map(|(&a, &s)| (ActorId(a), s)).collect();
            let v: VersionVector = map.iter().map(|(&a, &s)| (a, s)).collect();
            let nonzero: std::collections::BTreeMap<ActorId, u64> =
                map.iter().filter(|(_, s)| **s != 0).map(|(&a, &s)| (a, s)).collect();
            prop_assert_eq!(rmp_serde::to_vec(&v).unwrap(), rmp_serde::to_vec(&nonzero).unwrap());
            let back: VersionVector = rmp_serde::from_slice(&rmp_serde::to_vec(&map).unwrap()).unwrap();
            prop_assert_eq!(&back, &v);
            // A map encoding that names an actor twice (no `BTreeMap` writes one, a peer may).
            struct Pairs<'a>(&'a [(u32, u64)]);
            impl Serialize for Pairs<'_> {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.collect_map(self.0.iter().map(|&(a, seq)| (ActorId(a), seq)))
                }
            }
            let raw = rmp_serde::to_vec(&Pairs(&twice)).unwrap();
            let last: std::collections::BTreeMap<ActorId, u64> =
                twice.iter().map(|&(a, s)| (ActorId(a), s)).collect();
            let decoded: VersionVector = rmp_serde::from_slice(&raw).unwrap();
            let expected: VersionVector = last.into_iter().collect();
            prop_assert_eq!(decoded, expected);
        }

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
