//! How much of the log a node keeps past its retention, and who then needs a snapshot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use meridian_crdt::ActorId;
use meridian_replica::Config;
use support::{Cluster, mesh_3, set};

const FRANKFURT: ActorId = ActorId(1);
const VIRGINIA: ActorId = ActorId(2);
const SINGAPORE: ActorId = ActorId(3);
const RETENTION: usize = 20;

/// Singapore is away for long, so Frankfurt's log keeps passing its retention of 20 ops.
/// Past retention, the log used to be cut back to everything applied, not to the newest 20
/// ops: Frankfurt's log had grown back to 18 ops when Virginia's link was cut for a moment,
/// Frankfurt wrote 5 more, the log passed 20 and was emptied, and Virginia, live and only 5
/// ops behind, was pushed into a full state snapshot. The log now keeps its newest 20 ops, so
/// Virginia catches up from it; only Singapore, behind by far more, needs a snapshot.
#[test]
fn a_neighbour_behind_by_less_than_the_retention_catches_up_from_the_log() {
    // State checkpointed at every batch, so that every op is in durable state at once and
    // retention alone decides what the log keeps.
    let config = Config {
        retention_ops: RETENTION,
        checkpoint_interval_ms: 0,
        ..Config::lan()
    };
    let gossip = config.gossip_interval_ms;
    let mut c = Cluster::with_config(mesh_3(), config);
    c.link_down(FRANKFURT, SINGAPORE);
    c.link_down(VIRGINIA, SINGAPORE);
    let mut written = 0;
    let mut write = |c: &mut Cluster, n: u64| {
        for _ in 0..n {
            written += 1;
            c.write(FRANKFURT, &format!("k{written}"), set("v"))
                .unwrap();
        }
        c.advance(10 * gossip);
        written
    };
    write(&mut c, 50);
    let last = write(&mut c, 18);
    assert_eq!(c.node(VIRGINIA).received().get(FRANKFURT), last);
    let log = c.node(FRANKFURT).log();
    assert_eq!(
        log.len(),
        RETENTION,
        "the newest ops are kept, the rest went"
    );
    assert_eq!(log.first(FRANKFURT), Some(last - RETENTION as u64 + 1));

    c.link_down(FRANKFURT, VIRGINIA);
    let last = write(&mut c, 5);
    assert_eq!(c.node(FRANKFURT).log().len(), RETENTION);
    c.link_up(FRANKFURT, VIRGINIA);
    c.settle();
    c.advance(10 * gossip);
    assert_eq!(c.node(VIRGINIA).received().get(FRANKFURT), last);
    assert_eq!(c.node(VIRGINIA).stats().snapshots_merged, 0);
    assert_eq!(
        c.node(FRANKFURT).stats().snapshots_sent,
        0,
        "Virginia was served from the log"
    );
    assert_eq!(c.node(VIRGINIA).digest(), c.node(FRANKFURT).digest());

    // Singapore lacks every op: far beyond anyone's log, so a snapshot.
    c.link_up(FRANKFURT, SINGAPORE);
    c.link_up(VIRGINIA, SINGAPORE);
    c.settle();
    c.advance(10 * gossip);
    assert_eq!(c.node(SINGAPORE).stats().snapshots_merged, 1);
    assert_eq!(c.node(SINGAPORE).applied().get(FRANKFURT), last);
    assert_eq!(c.node(SINGAPORE).digest(), c.node(FRANKFURT).digest());
}
