//! Digests of canonical key state (the encoding itself lives in `codec`, the per-key
//! bookkeeping in `index`).

use std::fmt;

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

/// The hash of one part of a key's state (`codec::encode_part`); a state digest is the XOR
/// of its parts' hashes.
pub(crate) fn part_hash(part: &[u8]) -> Digest {
    Digest(*blake3::hash(part).as_bytes())
}

/// The hash of one key: `blake3(version || len(key) || key || state digest)`; the replica
/// digest is the XOR of its keys' hashes.
pub(crate) fn key_hash(key: &[u8], state: &Digest) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(&[crate::STATE_FORMAT_VERSION]);
    h.update(&(key.len() as u64).to_be_bytes());
    h.update(key);
    h.update(&state.0);
    Digest(*h.finalize().as_bytes())
}
