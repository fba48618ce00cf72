//! Reads of one set or hash in place, for commands that look at a member or a field (SADD's
//! count of new members, SISMEMBER, HGET): O(log n), where `Keyspace::get` copies the whole
//! value out.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;

use crate::dots::DotStore;
use crate::scalar::Scalar;
use crate::{KeyType, Keyspace};

/// The members of a set key; an absent key reads as an empty set.
#[derive(Clone, Copy, Debug)]
pub struct SetView<'a> {
    /// Every member present has at least one tag (empty ones are removed).
    members: Option<&'a BTreeMap<Bytes, DotStore<()>>>,
}

impl<'a> SetView<'a> {
    /// Whether `member` is in the set.
    pub fn contains(&self, member: &[u8]) -> bool {
        self.members.is_some_and(|m| m.contains_key(member))
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.members.map_or(0, BTreeMap::len)
    }

    /// Whether the set has no member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The members, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &'a Bytes> + 'a {
        self.members.into_iter().flat_map(BTreeMap::keys)
    }

    /// The members after `after` (all of them for `None`), sorted: where a scan resumes,
    /// in O(log n).
    pub fn iter_after(&self, after: Option<&[u8]>) -> impl Iterator<Item = &'a Bytes> + use<'a> {
        self.members
            .map(|m| m.range::<[u8], _>(after_bound(after)))
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
    }
}

/// The range of names after `after`, for `BTreeMap::range`.
fn after_bound(after: Option<&[u8]>) -> (Bound<&[u8]>, Bound<&[u8]>) {
    (
        after.map_or(Bound::Unbounded, Bound::Excluded),
        Bound::Unbounded,
    )
}

/// The fields of a hash key; an absent key reads as an empty hash.
#[derive(Clone, Copy, Debug)]
pub struct HashView<'a> {
    /// Every field present is retained, hence visible (`Scalar::is_retained` and
    /// `is_visible` agree; empty fields are removed).
    fields: Option<&'a BTreeMap<Bytes, Scalar>>,
}

impl<'a> HashView<'a> {
    /// The value of `field` (a counter field as decimal), if the hash has it.
    pub fn get(&self, field: &[u8]) -> Option<Bytes> {
        self.fields?.get(field)?.field_value()
    }

    /// Whether the hash has `field`.
    pub fn contains(&self, field: &[u8]) -> bool {
        self.fields
            .and_then(|f| f.get(field))
            .is_some_and(Scalar::is_visible)
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.fields.map_or(0, BTreeMap::len)
    }

    /// Whether the hash has no field.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The fields with their values, sorted by field.
    pub fn iter(&self) -> impl Iterator<Item = (&'a Bytes, Bytes)> + 'a {
        self.iter_after(None)
    }

    /// The fields after `after` (all of them for `None`) with their values, sorted by
    /// field: where a scan resumes, in O(log n).
    pub fn iter_after(
        &self,
        after: Option<&[u8]>,
    ) -> impl Iterator<Item = (&'a Bytes, Bytes)> + use<'a> {
        self.fields
            .map(|f| f.range::<[u8], _>(after_bound(after)))
            .into_iter()
            .flatten()
            .filter_map(|(f, s)| s.field_value().map(|v| (f, v)))
    }
}

impl Keyspace {
    /// The set at `key` (empty if the key is absent), or the key's visible type if it holds
    /// something else.
    pub fn set(&self, key: &[u8]) -> Result<SetView<'_>, KeyType> {
        match self.slot_state(key) {
            None => Ok(SetView { members: None }),
            Some((state, KeyType::Set)) => Ok(SetView {
                members: Some(&state.set),
            }),
            Some((_, found)) => Err(found),
        }
    }

    /// The sorted set at `key` (empty if the key is absent), or the key's visible type if it
    /// holds something else.
    pub fn zset(&self, key: &[u8]) -> Result<crate::ZSetView<'_>, KeyType> {
        match self.slot_state(key) {
            None => Ok(crate::ZSetView::new(None)),
            Some((state, KeyType::ZSet)) => Ok(crate::ZSetView::new(state.zset.as_deref())),
            Some((_, found)) => Err(found),
        }
    }

    /// The hash at `key` (empty if the key is absent), or the key's visible type if it holds
    /// something else.
    pub fn hash(&self, key: &[u8]) -> Result<HashView<'_>, KeyType> {
        match self.slot_state(key) {
            None => Ok(HashView { fields: None }),
            Some((state, KeyType::Hash)) => Ok(HashView {
                fields: Some(&state.hash),
            }),
            Some((_, found)) => Err(found),
        }
    }
}
