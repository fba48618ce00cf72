//! HyperLogLog: PFADD, PFCOUNT, PFMERGE (docs/data-model.md, *HyperLogLog*).
//!
//! The sketches are Redis's (registers, hash and estimator), so one client at one region gets
//! redis-server's answers. PFADD answers whether a register rose at this region; its op
//! carries every register its elements reach, so that they stay counted through a DEL made
//! concurrently at another region.

use std::sync::Arc;

use bytes::Bytes;
use meridian_crdt::hll::{Observation, Sketch};
use meridian_crdt::{Command, KeyType, PrepareError};
use meridian_replica::Replica;
use meridian_resp::Reply;

use super::Server;
use super::exec::{Answer, Session, write_or_refuse};
use super::words;
use crate::ops::Plan;

/// Redis's refusal of a key that holds no HyperLogLog: its own words for a string, the usual
/// WRONGTYPE for any other type.
fn refusal(found: KeyType) -> Reply {
    match found {
        KeyType::Register | KeyType::Counter => {
            Reply::error("WRONGTYPE Key is not a valid HyperLogLog string value.")
        }
        found => words::prepare_error(&PrepareError::WrongType { found }),
    }
}

/// The union of the sketches at `keys` (absent keys add nothing), or the refusal of the
/// first key that holds another type.
fn union(r: &Replica, keys: &[Bytes]) -> Result<Sketch, Reply> {
    let mut all = Sketch::new();
    for key in keys {
        match r.keyspace().hll(key) {
            Ok(Some(h)) => {
                all.merge(&h.sketch());
            }
            Ok(None) => {}
            Err(found) => return Err(refusal(found)),
        }
    }
    Ok(all)
}

fn count(estimate: u64) -> Reply {
    Reply::Integer(i64::try_from(estimate).unwrap_or(i64::MAX))
}

/// PFADD key [element ...]: 1 if the key was made or a register rose here, else 0.
pub(super) fn pfadd(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let key = args[1].clone();
    let observations: Vec<Observation> = args[2..].iter().map(|e| Observation::of(e)).collect();
    write_or_refuse(
        server,
        session,
        |r| {
            let rose = match r.keyspace().hll(&key) {
                Err(found) => return Ok(Err(refusal(found))),
                Ok(None) => true,
                Ok(Some(h)) => observations.iter().any(|o| h.get(o.register) < o.rank),
            };
            Ok(Ok(Plan::one(
                key.clone(),
                Command::PfAdd(observations),
                rose,
            )))
        },
        |rose, _| Reply::Integer(i64::from(rose)),
    )
}

/// PFCOUNT key [key ...]: the estimate of the union of the keys' sketches.
pub(super) fn pfcount(r: &Replica, args: &[Bytes]) -> Reply {
    if let [_, key] = args {
        // One key: its sketch read in place, unless it has several entries to merge.
        return match r.keyspace().hll(key) {
            Ok(Some(h)) => count(h.estimate()),
            Ok(None) => Reply::Integer(0),
            Err(found) => refusal(found),
        };
    }
    union(r, &args[1..]).map_or_else(|refused| refused, |s| count(s.estimate()))
}

/// PFMERGE destkey [sourcekey ...]: the destination holds the union of itself and the
/// sources, as this region holds them.
pub(super) fn pfmerge(server: &Arc<Server>, session: &mut Session, args: &[Bytes]) -> Answer {
    let keys = args[1..].to_vec();
    write_or_refuse(
        server,
        session,
        |r| {
            let all = match union(r, &keys) {
                Ok(all) => all,
                Err(refused) => return Ok(Err(refused)),
            };
            Ok(Ok(Plan::one(
                keys[0].clone(),
                Command::PfAdd(all.observations().collect()),
                (),
            )))
        },
        |(), _| Reply::ok(),
    )
}
