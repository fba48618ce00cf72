//! A delayed replica on a topology with two leaders: an op can be due (its delay passed) and
//! still wait for an op of the other leader.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use meridian_crdt::{ActorId, VersionVector};
use meridian_replica::{Config, Message, Op, Replica};
use support::*;

const LONDON: ActorId = ActorId(1);
const TOKYO: ActorId = ActorId(2);
const ZURICH: ActorId = ActorId(4);
/// Zurich's delay in `mesh-delayed.toml`.
const ZURICH_DELAY_MS: u64 = 2_000;

/// London writes one op; Tokyo applies it, then writes one of its own that depends on it.
fn dependent_ops() -> (Arc<Op>, Arc<Op>) {
    let topology = mesh_delayed();
    let mut london = Replica::new(LONDON, Arc::clone(&topology), Config::wan(), wall(0)).unwrap();
    london
        .write(0, wall(0), key("a"), set("from-london"))
        .unwrap();
    let l1 = persisted_ops(&drain_persisting(&mut london, 0)).remove(0);

    let mut tokyo = Replica::new(TOKYO, Arc::clone(&topology), Config::wan(), wall(0)).unwrap();
    handshake(&mut tokyo, &topology, LONDON, 0);
    tokyo.handle_message(0, wall(0), LONDON, Message::Ops(vec![Arc::clone(&l1)]));
    drain_persisting(&mut tokyo, 0);
    assert_eq!(tokyo.applied().get(LONDON), 1);
    tokyo
        .write(1, wall(1), key("b"), set("from-tokyo"))
        .unwrap();
    let t1 = persisted_ops(&drain_persisting(&mut tokyo, 1)).remove(0);
    assert_eq!(t1.deps.get(LONDON), 1, "Tokyo's op depends on London's");
    (l1, t1)
}

/// The story of the bug: Zurich, delayed 2 s, received Tokyo's op T1 at 1 s (durable at once)
/// but not London's op L1, which T1 depends on (a lost frame, a cut link). At 3 s T1 was due;
/// `try_apply` left it queued, since L1 was missing, and `poll_timeout` kept returning 3 s, a
/// deadline in the past. The simulator fired the timer at one virtual instant for ever (`meridian
/// sim --faults lossy` never finished on such a topology), and a real node's timer task spun a
/// core until L1 arrived. A due op waiting for another origin asks for no timer: the arrival of
/// what it waits for applies it.
#[test]
fn a_due_op_waiting_for_another_leader_does_not_spin_the_timer() {
    let topology = mesh_delayed();
    let (l1, t1) = dependent_ops();
    let mut zurich = Replica::new(ZURICH, Arc::clone(&topology), Config::wan(), wall(0)).unwrap();
    handshake(&mut zurich, &topology, TOKYO, 0);
    handshake(&mut zurich, &topology, LONDON, 0);

    let t1_durable = 1_000;
    zurich.handle_message(t1_durable, wall(t1_durable), TOKYO, Message::Ops(vec![t1]));
    drain_persisting(&mut zurich, t1_durable);
    assert_eq!(zurich.received().get(TOKYO), 1);

    // Fire every timer the replica asks for, as a driver does, until long after T1 was due.
    let mut now = t1_durable;
    let mut fired_at_one_instant = 0;
    while now < t1_durable + 3 * ZURICH_DELAY_MS {
        let next = zurich.poll_timeout().expect("gossip keeps a timer armed");
        if next <= now {
            fired_at_one_instant += 1;
            assert!(
                fired_at_one_instant < 100,
                "the timer is due again at {next} ms, at or before now ({now} ms): it spins"
            );
        } else {
            fired_at_one_instant = 0;
            now = next;
        }
        zurich.handle_timeout(now, 0);
        drain_persisting(&mut zurich, now);
    }
    assert_eq!(zurich.applied().get(TOKYO), 0, "T1 still waits for L1");
    assert_eq!(zurich.causal_depth(), 1);

    // L1 arrives: it waits for its own delay, then both apply at once, L1 first.
    let l1_durable = now;
    zurich.handle_message(l1_durable, wall(l1_durable), LONDON, Message::Ops(vec![l1]));
    drain_persisting(&mut zurich, l1_durable);
    let due = l1_durable + ZURICH_DELAY_MS;
    zurich.handle_timeout(due - 1, 0);
    drain_persisting(&mut zurich, due - 1);
    assert_eq!(zurich.applied().get(LONDON), 0, "one millisecond early");
    let mut applied = VersionVector::new();
    applied.set(LONDON, 1);
    applied.set(TOKYO, 1);
    while zurich.applied() != &applied {
        let next = zurich.poll_timeout().expect("a timer for L1");
        assert!(next <= due, "L1's deadline is asked for");
        zurich.handle_timeout(next, 0);
        drain_persisting(&mut zurich, next);
    }
    assert_eq!(zurich.causal_depth(), 0);
}
