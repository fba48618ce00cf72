//! Pub/sub: a message published at one region reaches every region once, along the
//! publisher's forwarding tree (the tree its ops take), and each region hands it to its own
//! subscribers ([`Output::Published`]). Messages are neither logged nor stored, and a region
//! that is cut off when one passes never gets it: best effort, as in Redis.
//!
//! A message carries its origin and a number that grows at that origin; a region drops one
//! whose number it has already passed (the tree never duplicates, but a tree that changes
//! under a message can). The numbers start at the origin's wall clock in microseconds when
//! the replica starts, so that a restarted region's messages are not taken for old ones.

use bytes::Bytes;
use meridian_crdt::ActorId;

use super::{Millis, Replica};
use crate::link::LinkState;
use crate::op::Message;
use crate::output::{Output, PeerError, WriteError};

impl Replica {
    /// Publishes `message` on `channel` from this region: delivered here at once
    /// ([`Output::Published`]) and sent to every other region along this region's tree.
    /// Refused, changing nothing, if the channel or the message is longer than a peer takes.
    pub fn publish(
        &mut self,
        _now: Millis,
        channel: Bytes,
        message: Bytes,
    ) -> Result<(), WriteError> {
        let limits = &self.config.limits;
        for (what, len, limit) in [
            ("channel", channel.len(), limits.max_key_bytes),
            ("message", message.len(), limits.max_message_bytes),
        ] {
            if len > limit {
                return Err(WriteError::TooLong { what, len, limit });
            }
        }
        let seq = self.next_publish;
        self.next_publish += 1;
        self.outputs.push_back(Output::Published {
            origin: self.me,
            seq,
            channel: channel.clone(),
            message: message.clone(),
        });
        self.forward_publish(self.me, None, seq, channel, message);
        Ok(())
    }

    pub(super) fn handle_publish(
        &mut self,
        from: ActorId,
        origin: ActorId,
        seq: u64,
        channel: Bytes,
        message: Bytes,
    ) {
        let reason = if self.topology.node(origin).is_none() {
            Some("origin is not in the topology")
        } else if channel.len() > self.config.limits.max_key_bytes {
            Some("channel longer than the limit")
        } else if message.len() > self.config.limits.max_message_bytes {
            Some("message longer than the limit")
        } else {
            None
        };
        if let Some(reason) = reason {
            self.close(from, PeerError::InvalidPublish { origin, reason });
            return;
        }
        if origin == self.me || self.published_seen.get(&origin).is_some_and(|&s| s >= seq) {
            self.stats.duplicate_messages += 1;
            return;
        }
        self.published_seen.insert(origin, seq);
        self.outputs.push_back(Output::Published {
            origin,
            seq,
            channel: channel.clone(),
            message: message.clone(),
        });
        self.forward_publish(origin, Some(from), seq, channel, message);
    }

    /// Sends a message of `origin` to every neighbour whose parent in `origin`'s tree is this
    /// region (but the one it came from).
    fn forward_publish(
        &mut self,
        origin: ActorId,
        from: Option<ActorId>,
        seq: u64,
        channel: Bytes,
        message: Bytes,
    ) {
        let children: Vec<ActorId> = self
            .links
            .iter()
            .filter(|(peer, link)| {
                Some(**peer) != from
                    && **peer != origin
                    && link.state == LinkState::Up
                    && self.routes.parent(origin, **peer) == Some(self.me)
            })
            .map(|(peer, _)| *peer)
            .collect();
        for to in children {
            self.outputs.push_back(Output::Send {
                to,
                msg: Message::Publish {
                    origin,
                    seq,
                    channel: channel.clone(),
                    message: message.clone(),
                },
            });
        }
    }
}
