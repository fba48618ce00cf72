//! The replication waits: WAIT (how many other regions hold this connection's latest write)
//! and WAITTOKEN, Meridian's own (wait until this region has applied a causal token).

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use meridian_crdt::VersionVector;
use meridian_resp::{Reply, errors};

use super::Server;
use super::exec::{Answer, Session, count, int_arg, read};
use super::token::{format_token, parse_token};
use crate::Acknowledgement;

/// A timeout argument in milliseconds; 0 waits without end, as in Redis.
fn timeout_arg(arg: &[u8]) -> Result<Duration, Reply> {
    let ms = int_arg(arg)?;
    if ms < 0 {
        return Err(errors::timeout_negative());
    }
    Ok(if ms == 0 {
        Duration::from_secs(100 * 365 * 24 * 3600)
    } else {
        Duration::from_millis(ms.unsigned_abs())
    })
}

/// WAIT numregions timeout: how many other regions hold this connection's latest write
/// durably, once `numregions` of them do or the timeout passed.
pub(super) fn wait(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let wanted = match int_arg(&args[1]) {
        Ok(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
        Ok(_) => return Answer::Now(Reply::error("ERR numregions is negative")),
        Err(reply) => return Answer::Now(reply),
    };
    let timeout = match timeout_arg(&args[2]) {
        Ok(t) => t,
        Err(reply) => return Answer::Now(reply),
    };
    let others = server
        .shared
        .config
        .topology
        .ids()
        .count()
        .saturating_sub(1);
    let Some(receipt) = session.last_write.clone() else {
        // Nothing written on this connection: every region holds all of it.
        return Answer::Now(count(others));
    };
    let server = Arc::clone(server);
    Answer::Later(Box::pin(async move {
        let holding =
            |server: &Server| read(server, |r| r.matrix().durable_at(receipt.dot).count());
        if wanted > 0 {
            let level = Acknowledgement::Regions(
                NonZeroUsize::new(wanted.saturating_add(1)).unwrap_or(NonZeroUsize::MIN),
            );
            // A timeout is not an error for WAIT: it answers how many regions made it.
            let _ = crate::ack::wait(&server.shared, receipt.dot, &level, timeout).await;
        }
        count(holding(&server).saturating_sub(1))
    }))
}

/// WAITTOKEN token timeout: waits until this region has applied everything the causal
/// token covers (read-your-writes after a failover, monotonic reads across regions).
pub(super) fn wait_token(server: &Arc<Server>, _: &mut Session, args: &[Bytes]) -> Answer {
    let token: VersionVector = match parse_token(&args[1]) {
        Ok(vv) => vv,
        Err(why) => return Answer::Now(Reply::error(format!("ERR invalid causal token: {why}"))),
    };
    let timeout = match timeout_arg(&args[2]) {
        Ok(t) => t,
        Err(reply) => return Answer::Now(reply),
    };
    let server = Arc::clone(server);
    Answer::Later(Box::pin(async move {
        let shared = &server.shared;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let progress = shared.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            let applied = shared.read().replica.applied().clone();
            if applied.dominates(&token) {
                return Reply::ok();
            }
            tokio::select! {
                () = &mut progress => {}
                () = shared.shutdown.cancelled() => return Reply::error("ERR the node shut down"),
                () = tokio::time::sleep_until(deadline) => {
                    return Reply::error(format!(
                        "TIMEOUT this region has not applied the token within {timeout:?}; it has applied {}",
                        format_token(&applied)
                    ));
                }
            }
        }
    }))
}
