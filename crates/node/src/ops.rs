//! Writes as the embedded API and the Redis protocol make them: a look at the state and
//! one or more writes under one hold of the core's lock (so that what a command reports,
//! such as SET's old value or SADD's count of new members, is what its writes acted on),
//! then a wait until every write is durable.

use bytes::Bytes;
use meridian_crdt::Command;
use meridian_replica::{Replica, WriteError};
use tokio::sync::oneshot;

use crate::driver::{Shared, wall};
use crate::node::{NodeError, WriteReceipt};

/// What a command decided to write after looking at the state, and what it will reply.
#[derive(Debug)]
pub(crate) struct Plan<T> {
    /// The writes, in order; none for a command that found nothing to do (SET NX on an
    /// existing key).
    pub(crate) writes: Vec<(Bytes, Command)>,
    /// What the command answers once the writes are durable.
    pub(crate) outcome: T,
}

impl<T> Plan<T> {
    /// A plan of one write.
    pub(crate) fn one(key: Bytes, command: Command, outcome: T) -> Plan<T> {
        Plan {
            writes: vec![(key, command)],
            outcome,
        }
    }
}

/// Writes made and not yet known to be durable.
#[derive(Debug)]
pub(crate) struct Pending {
    acks: Vec<oneshot::Receiver<Result<(), WriteError>>>,
}

impl Pending {
    /// Resolves once every write is durable, or with the store's verdict.
    pub(crate) async fn durable(self) -> Result<(), NodeError> {
        for ack in self.acks {
            match ack.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => return Err(NodeError::ShutDown),
            }
        }
        Ok(())
    }
}

/// Runs `plan` on the replica and makes its writes; they are applied at once (reads see
/// them) and durable once the returned [`Pending`] resolves. The receipt is of the last write
/// (its token covers every earlier one); `None` when the plan wrote nothing. A write refused
/// midway leaves the earlier ones in place: they are made, durable in time, and replicated.
pub(crate) fn start_planned<T>(
    shared: &Shared,
    plan: impl FnOnce(&Replica) -> Result<Plan<T>, WriteError>,
) -> Result<(T, Option<WriteReceipt>, Pending), WriteError> {
    let wall = wall();
    shared.with_core(|core, now| {
        // The plan reads keys as this moment's clock leaves them: expired, and reaped.
        core.replica.handle_time(now, wall);
        let Plan { writes, outcome } = plan(&core.replica)?;
        let mut acks = Vec::with_capacity(writes.len());
        let mut last = None;
        // Several writes (MSET, SMOVE, a STORE) are one unit: every region applies them
        // together. A unit opened by a transaction (EXEC) is left for it to close.
        let unit = writes.len() > 1 && !core.replica.unit_is_open();
        if unit {
            core.replica.open_unit();
        }
        let mut refused = None;
        for (key, command) in writes {
            match core.replica.write(now, wall, key, command) {
                Ok(dot) => {
                    acks.push(core.wait_ack(dot.seq));
                    last = Some(dot);
                }
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        if unit {
            core.replica.close_unit(now);
        }
        if let Some(e) = refused {
            return Err(e);
        }
        let receipt = last.map(|dot| WriteReceipt {
            dot,
            token: core.replica.applied().clone(),
        });
        Ok((outcome, receipt, Pending { acks }))
    })
}

/// One write, planned from nothing, waited for until durable.
pub(crate) async fn write(
    shared: &Shared,
    key: Bytes,
    command: Command,
) -> Result<WriteReceipt, NodeError> {
    let planned = {
        let _gate = shared.gate();
        start_planned(shared, |_| Ok(Plan::one(key, command, ())))
    };
    let (_, receipt, pending) = planned?;
    pending.durable().await?;
    receipt.ok_or(NodeError::ShutDown)
}
