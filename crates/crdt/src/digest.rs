//! Canonical encoding of retained state and the digests built on it.

use std::fmt;

use crate::{Dot, Hlc};

/// A 32-byte blake3 digest of canonical state (or the XOR of several).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// All zeros: the digest of an empty keyspace.
    pub const ZERO: Digest = Digest([0; 32]);

    /// The full 64-character lowercase hex form.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// XORs `other` into `self` (adding or removing one key's hash).
    pub fn xor(&mut self, other: &Digest) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a ^= b;
        }
    }
}

impl fmt::Display for Digest {
    /// The first 16 hex characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

/// Writes the canonical form: fixed-width big-endian integers, u64-length-prefixed byte
/// strings, collections as a count followed by their items in `BTreeMap` order.
#[derive(Debug, Default)]
pub(crate) struct Canon {
    pub(crate) buf: Vec<u8>,
}

impl Canon {
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.buf.extend_from_slice(b);
    }
    pub(crate) fn dot(&mut self, d: Dot) {
        self.u32(d.actor.0);
        self.u64(d.seq);
    }
    pub(crate) fn hlc(&mut self, h: Hlc) {
        self.u32(h.epoch);
        self.u64(h.time);
        self.u32(h.count);
    }
}

/// The hash of one key: blake3(len(key) || key || canonical state).
pub(crate) fn key_hash(key: &[u8], canonical_state: &[u8]) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(&(key.len() as u64).to_be_bytes());
    h.update(key);
    h.update(canonical_state);
    Digest(*h.finalize().as_bytes())
}
