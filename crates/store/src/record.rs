//! The record envelope every stored value travels in:
//! `[version u8 = 1][crc32 of payload, u32 LE][payload]`.
//!
//! The version byte lets a later format coexist with this one; the checksum catches torn or
//! flipped bytes that the storage engine's own checks missed (or a file edited by hand).

use thiserror::Error;

/// The only envelope version this build writes and reads.
pub const VERSION: u8 = 1;

/// Bytes the envelope adds in front of the payload.
pub const HEADER_LEN: usize = 5;

/// Why a stored record could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    /// Fewer bytes than the envelope's header.
    #[error("record too short: {len} bytes, the envelope alone takes {HEADER_LEN}")]
    TooShort {
        /// The record's length.
        len: usize,
    },
    /// A version byte this build does not know (written by a newer build, or garbage).
    #[error("unknown record version {0} (this build reads version {VERSION})")]
    UnknownVersion(u8),
    /// The payload does not match its checksum.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// The checksum in the envelope.
        stored: u32,
        /// The checksum of the payload as read.
        computed: u32,
    },
    /// The payload of a log run does not decode ([`crate::run`]).
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
}

/// Appends the envelope of `payload` to `out`.
pub fn encode_into(payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(HEADER_LEN + payload.len());
    out.push(VERSION);
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Appends an envelope to `out` whose payload is what `payload` appends to the buffer it is
/// given: the payload is built in place, with no copy.
pub fn encode_with(out: &mut Vec<u8>, payload: impl FnOnce(&mut Vec<u8>)) {
    let header = out.len();
    out.push(VERSION);
    out.extend_from_slice(&[0; 4]);
    payload(out);
    let crc = crc32fast::hash(&out[header + HEADER_LEN..]).to_le_bytes();
    out[header + 1..header + HEADER_LEN].copy_from_slice(&crc);
}

/// The envelope of `payload`.
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(payload, &mut out);
    out
}

/// The payload inside `record`, once its version and checksum are checked.
pub fn decode(record: &[u8]) -> Result<&[u8], RecordError> {
    let Some((header, payload)) = record.split_first_chunk::<HEADER_LEN>() else {
        return Err(RecordError::TooShort { len: record.len() });
    };
    let [version, c0, c1, c2, c3] = *header;
    if version != VERSION {
        return Err(RecordError::UnknownVersion(version));
    }
    let stored = u32::from_le_bytes([c0, c1, c2, c3]);
    let computed = crc32fast::hash(payload);
    if stored != computed {
        return Err(RecordError::ChecksumMismatch { stored, computed });
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_built_in_place_gets_the_same_envelope() {
        let mut out = b"before".to_vec();
        encode_with(&mut out, |buf| buf.extend_from_slice(b"hello"));
        assert_eq!(&out[..6], b"before");
        assert_eq!(out[6..], encode(b"hello"));
    }

    #[test]
    fn roundtrip_and_each_kind_of_damage() {
        let rec = encode(b"hello");
        assert_eq!(decode(&rec), Ok(&b"hello"[..]));
        assert_eq!(decode(&encode(b"")), Ok(&b""[..]));
        assert_eq!(decode(&rec[..4]), Err(RecordError::TooShort { len: 4 }));
        let mut v2 = rec.clone();
        v2[0] = 2;
        assert_eq!(decode(&v2), Err(RecordError::UnknownVersion(2)));
        let mut flipped = rec;
        flipped[6] ^= 1;
        assert!(matches!(
            decode(&flipped),
            Err(RecordError::ChecksumMismatch { .. })
        ));
    }
}
