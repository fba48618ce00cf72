//! The keyspace's hash table: keys to slots, split into shards so that growing it never
//! rehashes more than a small part of the keys at once.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use bytes::Bytes;

/// How many shards. Growing one table of n keys rehashes all n under the caller's lock (one
/// `HashMap` took 0.28 s to grow past 917,504 keys, BENCHMARKS.md 7g); a shard holds about
/// n / 256 of them.
const SHARDS: usize = 256;

/// Keys to values in [`SHARDS`] `HashMap`s, each keyed by std's randomly seeded SipHash (so a
/// client cannot choose keys that collide in one). Iteration order is unspecified: callers
/// that need key order keep it elsewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyTable<V> {
    shards: Box<[HashMap<Bytes, V>]>,
    len: usize,
}

impl<V> Default for KeyTable<V> {
    fn default() -> Self {
        KeyTable {
            shards: (0..SHARDS).map(|_| HashMap::new()).collect(),
            len: 0,
        }
    }
}

/// The shard of a key: FNV-1a of its bytes, folded to a shard index. It is not seeded: a
/// client that aims every key at one shard gets one ordinary table, no worse than unsharded.
fn shard_of(key: &[u8]) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for &b in key {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    (h ^ (h >> 16)) as usize % SHARDS
}

impl<V> KeyTable<V> {
    fn shard(&self, key: &[u8]) -> &HashMap<Bytes, V> {
        &self.shards[shard_of(key)]
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<&V> {
        self.shard(key).get(key)
    }

    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.shards[shard_of(key)].get_mut(key)
    }

    pub(crate) fn contains_key(&self, key: &[u8]) -> bool {
        self.shard(key).contains_key(key)
    }

    /// The value of `key`, made by `make` first if the key had none; `true` when it was made.
    pub(crate) fn get_or_insert_with(
        &mut self,
        key: &Bytes,
        make: impl FnOnce() -> V,
    ) -> (&mut V, bool) {
        let shard = &mut self.shards[shard_of(key)];
        match shard.entry(key.clone()) {
            Entry::Occupied(slot) => (slot.into_mut(), false),
            Entry::Vacant(vacant) => {
                self.len += 1;
                (vacant.insert(make()), true)
            }
        }
    }

    pub(crate) fn insert(&mut self, key: Bytes, value: V) {
        let shard = &mut self.shards[shard_of(&key)];
        if shard.insert(key, value).is_none() {
            self.len += 1;
        }
    }

    pub(crate) fn remove<Q: Borrow<[u8]> + ?Sized>(&mut self, key: &Q) -> Option<V> {
        let key = key.borrow();
        let removed = self.shards[shard_of(key)].remove(key);
        self.len -= usize::from(removed.is_some());
        removed
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// An entry chosen by `pick` that `keep` keeps, if one is: the shard `pick` names, or
    /// the next one holding such an entry, and an entry of it chosen by `pick` again. Costs
    /// one shard's walk, about 1/256 of the keys; every kept entry can be chosen, those of
    /// small shards more often than those of large ones.
    pub(crate) fn pick(&self, pick: u64, keep: impl Fn(&V) -> bool) -> Option<&Bytes> {
        let first = (pick % SHARDS as u64) as usize;
        (0..SHARDS).find_map(|i| {
            let shard = &self.shards[(first + i) % SHARDS];
            let kept: Vec<&Bytes> = shard
                .iter()
                .filter(|(_, v)| keep(v))
                .map(|(k, _)| k)
                .collect();
            let at = (pick / SHARDS as u64) % (kept.len().max(1) as u64);
            kept.get(at as usize).copied()
        })
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Bytes, &V)> {
        self.shards.iter().flat_map(HashMap::iter)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn pick_reaches_every_kept_entry_and_only_those() {
        let mut t = KeyTable::default();
        for i in 0..300u32 {
            t.insert(Bytes::from(format!("key:{i}")), i);
        }
        let odd = |v: &u32| v % 2 == 1;
        let picked: BTreeSet<&Bytes> = (0..200_000u64)
            .map(|p| p.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .filter_map(|p| t.pick(p, odd))
            .collect();
        assert_eq!(picked.len(), 150, "every odd entry, no even one");
        assert!(picked.iter().all(|k| t.get(k).is_some_and(odd)));
        assert_eq!(t.pick(7, |_| false), None);
        assert_eq!(KeyTable::<u32>::default().pick(7, |_| true), None);
    }

    #[test]
    fn a_table_counts_what_it_holds_across_shards() {
        let mut t = KeyTable::default();
        for i in 0..1000u32 {
            t.insert(Bytes::from(format!("key:{i}")), i);
        }
        t.insert(Bytes::from("key:7"), 70);
        assert_eq!(t.len(), 1000);
        assert_eq!(t.get(b"key:7"), Some(&70));
        assert_eq!(
            t.get_or_insert_with(&Bytes::from("key:8"), || 0),
            (&mut 8, false)
        );
        assert_eq!(
            t.get_or_insert_with(&Bytes::from("new"), || 1),
            (&mut 1, true)
        );
        assert_eq!(t.remove(&b"key:1"[..]), Some(1));
        assert_eq!(t.remove(&b"key:1"[..]), None);
        assert_eq!(t.len(), 1000);
        assert_eq!(t.iter().count(), 1000);
        assert!(t.shards.iter().filter(|s| !s.is_empty()).count() > SHARDS / 2);
    }
}
