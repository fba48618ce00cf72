//! The embedded API of expiry: a key's deadline is a wall-clock time. Once this node's clock
//! passes it the key reads as absent here, and a leader reaps it with an op that removes what
//! the deadline's writer had observed: a write made concurrently in another region survives,
//! and every region ends with the same state whichever clock passed first
//! (docs/data-model.md, "Expiry").

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use meridian_crdt::Command;

use crate::node::{Node, NodeError, WriteReceipt};
use crate::ops::{self, Plan};

/// Milliseconds since the Unix epoch (a time before it counts as the epoch itself).
fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Node {
    /// SET with a deadline: the key holds `value` until `deadline`.
    pub async fn set_until(
        &self,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        deadline: SystemTime,
    ) -> Result<WriteReceipt, NodeError> {
        let command = Command::SetTimed {
            value: value.into(),
            at: Some(millis(deadline)),
        };
        self.write(key, command).await
    }

    /// EXPIREAT: the key, as this node holds it, expires at `deadline` (at once if that has
    /// passed). `None` when the key is absent here: nothing is written.
    pub async fn expire_at(
        &self,
        key: impl Into<Bytes>,
        deadline: SystemTime,
    ) -> Result<Option<WriteReceipt>, NodeError> {
        let at = millis(deadline);
        self.write_if_present(key.into(), move |clock| {
            if at > clock {
                Command::Expire(Some(at))
            } else {
                Command::Del
            }
        })
        .await
    }

    /// PERSIST: the key no longer expires (a deadline set concurrently at another region
    /// still applies). `None` when the key is absent here.
    pub async fn persist(&self, key: impl Into<Bytes>) -> Result<Option<WriteReceipt>, NodeError> {
        self.write_if_present(key.into(), |_| Command::Expire(None))
            .await
    }

    /// When the key expires (its earliest deadline), if it is present here and has one.
    pub fn expires(&self, key: &[u8]) -> Option<SystemTime> {
        self.read(|r| r.keyspace().expires(key))
            .map(|at| UNIX_EPOCH + Duration::from_millis(at))
    }

    /// Writes `command(this node's clock)` to `key` if the key is present here.
    async fn write_if_present(
        &self,
        key: Bytes,
        command: impl FnOnce(u64) -> Command,
    ) -> Result<Option<WriteReceipt>, NodeError> {
        let planned = {
            let _gate = self.shared.gate();
            ops::start_planned(&self.shared, |r| {
                let ks = r.keyspace();
                let writes = if ks.contains(&key) {
                    vec![(key.clone(), command(ks.clock()))]
                } else {
                    Vec::new()
                };
                Ok(Plan {
                    writes,
                    outcome: (),
                })
            })
        };
        let (_, receipt, pending) = planned?;
        pending.durable().await?;
        Ok(receipt)
    }
}
