//! Frames on a link's streams: `[length u32 BE][version u8][rmp-serde Message]`, where the
//! length counts the version byte and the body. A frame over the limit, of another version
//! or that does not decode closes the link with an error; nothing in it is applied.

use meridian_replica::Message;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The frame format this build writes and reads.
pub const FRAME_VERSION: u8 = 1;

/// Bytes before the body.
pub const HEADER_LEN: usize = 5;

/// A frame that cannot be read.
#[derive(Debug, Error)]
pub enum FrameError {
    /// The peer announced a frame larger than the limit.
    #[error("frame of {len} bytes is over the limit of {limit}")]
    TooLarge {
        /// Announced length.
        len: u64,
        /// The limit.
        limit: u32,
    },
    /// An empty frame (no version byte).
    #[error("empty frame")]
    Empty,
    /// A frame of a version this build does not read.
    #[error("frame version {0}, this node reads version {FRAME_VERSION}")]
    Version(u8),
    /// The body is not a message.
    #[error("undecodable message: {0}")]
    Decode(String),
    /// The stream failed or ended inside a frame.
    #[error("stream: {0}")]
    Io(#[from] std::io::Error),
}

/// Encodes a message as one frame, or says why it cannot be sent (over the limit: a bug or a
/// misconfigured limit, since chunks and batches are sized below it).
pub fn encode(msg: &Message, limit: u32) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0; HEADER_LEN];
    out[4] = FRAME_VERSION;
    rmp_serde::encode::write(&mut out, msg).map_err(|e| FrameError::Decode(e.to_string()))?;
    let len = out.len() - 4;
    if len > limit as usize {
        return Err(FrameError::TooLarge {
            len: len as u64,
            limit,
        });
    }
    // `len <= limit`, a u32.
    out[..4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(out)
}

/// Decodes one frame's content (version byte and body).
pub fn decode(content: &[u8]) -> Result<Message, FrameError> {
    let (&version, body) = content.split_first().ok_or(FrameError::Empty)?;
    if version != FRAME_VERSION {
        return Err(FrameError::Version(version));
    }
    rmp_serde::from_slice(body).map_err(|e| FrameError::Decode(e.to_string()))
}

/// Reads the next frame; `Ok(None)` at a clean end of stream between frames.
pub async fn read<R: AsyncRead + Unpin>(
    stream: &mut R,
    limit: u32,
    buf: &mut Vec<u8>,
) -> Result<Option<Message>, FrameError> {
    let mut header = [0u8; 4];
    match stream.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(header);
    if len > limit {
        return Err(FrameError::TooLarge {
            len: u64::from(len),
            limit,
        });
    }
    buf.clear();
    buf.resize(len as usize, 0);
    stream.read_exact(buf).await?;
    decode(buf).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_crdt::{ActorId, VersionVector};

    fn hello() -> Message {
        Message::Hello {
            cluster: "c".into(),
            node: ActorId(3),
            protocol: meridian_replica::PROTOCOL_VERSION,
            received: VersionVector::new(),
        }
    }

    #[tokio::test]
    async fn frames_round_trip_back_to_back() {
        let mut wire = encode(&hello(), 1024).unwrap_or_else(|e| panic!("{e}"));
        wire.extend(encode(&Message::Ops(Vec::new()), 1024).unwrap_or_else(|e| panic!("{e}")));
        let mut reader = &wire[..];
        let mut buf = Vec::new();
        let first = read(&mut reader, 1024, &mut buf).await;
        assert!(matches!(
            first,
            Ok(Some(Message::Hello {
                node: ActorId(3),
                ..
            }))
        ));
        let second = read(&mut reader, 1024, &mut buf).await;
        assert!(matches!(second, Ok(Some(Message::Ops(ops))) if ops.is_empty()));
        assert!(matches!(read(&mut reader, 1024, &mut buf).await, Ok(None)));
    }

    #[tokio::test]
    async fn a_frame_over_the_limit_is_refused_before_it_is_read() {
        let wire = [0xff, 0xff, 0xff, 0xff, FRAME_VERSION];
        let mut buf = Vec::new();
        let got = read(&mut &wire[..], 1 << 20, &mut buf).await;
        assert!(matches!(got, Err(FrameError::TooLarge { .. })));
        assert!(buf.capacity() < 1024, "nothing was allocated for it");
    }

    #[test]
    fn bad_versions_bodies_and_sizes_are_errors() {
        assert!(matches!(decode(&[]), Err(FrameError::Empty)));
        assert!(matches!(decode(&[9, 0x90]), Err(FrameError::Version(9))));
        assert!(matches!(
            decode(&[FRAME_VERSION, 0xc1]),
            Err(FrameError::Decode(_))
        ));
        assert!(matches!(
            encode(&hello(), 4),
            Err(FrameError::TooLarge { limit: 4, .. })
        ));
    }

    #[tokio::test]
    async fn a_stream_cut_inside_a_frame_is_an_error() {
        let wire = encode(&hello(), 1024).unwrap_or_else(|e| panic!("{e}"));
        let mut buf = Vec::new();
        let got = read(&mut &wire[..wire.len() - 1], 1024, &mut buf).await;
        assert!(matches!(got, Err(FrameError::Io(_))));
    }
}
