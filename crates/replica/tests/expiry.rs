//! Expiry in the replica: a leader's timer fires at a key's deadline and reaps it with an op
//! that every region applies; read-only regions read the key as absent once their clock has
//! passed the deadline, reap nothing themselves, and their timer never spins on a deadline
//! they cannot reap.

#![allow(clippy::unwrap_used)]

mod support;

use meridian_crdt::{ActorId, Command};
use support::{Cluster, key, mesh_3, primary_replica, wall};

fn set_until(v: &str, at: u64) -> Command {
    Command::SetTimed {
        value: bytes::Bytes::from(v.to_owned()),
        at: Some(at),
    }
}

#[test]
fn a_leader_reaps_a_key_when_its_deadline_passes_and_every_region_applies_the_reap() {
    let mut c = Cluster::new(mesh_3());
    let ids: Vec<ActorId> = (1..=3).map(ActorId).collect();
    let deadline = wall(c.now) + 1_000;
    c.write(ids[0], "session", set_until("token", deadline))
        .unwrap();
    for id in &ids {
        assert!(c.node(*id).keyspace().contains(b"session"));
        assert_eq!(c.node(*id).keyspace().expires(b"session"), Some(deadline));
        // Every leader asks to wake at the deadline, not before.
        let timer = c.node(*id).poll_timeout().unwrap();
        assert!(timer <= deadline - wall(0), "{timer}");
    }
    c.advance_to(deadline - wall(0) - 1);
    assert!(c.node(ids[1]).keyspace().contains(b"session"));
    c.advance_to(deadline - wall(0) + 1);
    c.advance(10_000);
    let reaped: u64 = ids.iter().map(|id| c.node(*id).stats().reaped).sum();
    assert!(reaped >= 1, "no region reaped the deadline");
    for id in &ids {
        let ks = c.node(*id).keyspace();
        assert!(!ks.contains(b"session"));
        assert_eq!(
            ks.retained_len(),
            0,
            "the state is reclaimed, not only hidden"
        );
        assert_eq!(c.node(*id).digest(), c.node(ids[0]).digest());
    }
}

#[test]
fn read_only_regions_hide_an_expired_key_until_a_leaders_reap_and_never_spin() {
    let mut c = Cluster::new(primary_replica());
    let (dublin, oregon) = (ActorId(1), ActorId(2));
    let deadline = wall(c.now) + 500;
    c.write(dublin, "k", set_until("v", deadline)).unwrap();
    assert!(c.node(oregon).keyspace().contains(b"k"));
    // The link from the leader goes down: only oregon's clock passes the deadline.
    c.link_down(dublin, oregon);
    let now = deadline - wall(0) + 1;
    c.node_mut(oregon).handle_timeout(now, wall(now));
    let r = c.node(oregon);
    assert!(
        !r.keyspace().contains(b"k"),
        "an expired key reads as absent"
    );
    assert_eq!(r.keyspace().retained_len(), 1, "a replica reaps nothing");
    assert_eq!(r.stats().reaped, 0);
    assert!(
        r.poll_timeout().is_none_or(|t| t > now),
        "the timer asks again at once for a deadline it cannot reap"
    );
    // The leader reaps; once the link is back, the replica applies the reap.
    c.advance_to(now);
    assert!(c.node(dublin).stats().reaped >= 1);
    c.link_up(dublin, oregon);
    c.advance(5_000);
    assert_eq!(c.node(oregon).keyspace().retained_len(), 0);
    assert_eq!(c.node(oregon).digest(), c.node(dublin).digest());
    assert!(c.node(oregon).keyspace().get(&key("k")).is_none());
}
