//! What a stuck run reports: the event it was about to handle at the instant where virtual
//! time stopped moving (`World::run_until`).

use super::Event;

/// An event in a few words, for a stall's report.
pub(super) fn describe(event: &Event) -> String {
    match event {
        Event::Deliver { from, to, .. } => format!("a message from node {from} to node {to}"),
        Event::Timer(node) => format!("the timer of node {node}"),
        Event::Committed(p) | Event::Synced(p) => format!("the disk of node {}", p.node),
        Event::SyncDue { node, .. } | Event::PeriodicSynced { node, .. } => {
            format!("the periodic fsync of node {node}")
        }
        Event::Write(node) | Event::CrashWrite(node) => format!("a write at node {node}"),
        Event::Connect(a, b) => format!("connecting nodes {a} and {b}"),
        Event::Fault(fault) => format!("the fault {fault:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;

    /// The detector itself: a world whose events never let virtual time move on (here, more
    /// connection events at one instant than any run makes) stops with `NoProgress` instead
    /// of running for ever, and runs nothing after.
    #[test]
    fn a_world_stuck_at_one_instant_stops_with_no_progress() {
        let text = "cluster = \"c\"\nshape = \"mesh\"\n\n[[node]]\nname = \"a\"\nid = 1\nquic = \"127.0.0.1:7001\"\nresp = \"127.0.0.1:6001\"\nadmin = \"127.0.0.1:9001\"\n\n[[node]]\nname = \"b\"\nid = 2\nquic = \"127.0.0.1:7002\"\nresp = \"127.0.0.1:6002\"\nadmin = \"127.0.0.1:9002\"\n";
        let topology = Arc::new(Topology::parse(text, "two.toml").expect("valid"));
        let config = SimConfig::new(topology, 0, FaultMix::None);
        let mut world = World::new(&config);
        for _ in 0..=EVENTS_PER_INSTANT {
            world.push(5, Event::Connect(ActorId(1), ActorId(2)));
        }
        world.push(6, Event::Write(ActorId(1)));
        world.run_until(10);
        assert!(world.stalled());
        assert!(
            matches!(
                &world.violations[..],
                [Violation::NoProgress { at: 5, events, next }]
                    if *events == EVENTS_PER_INSTANT && next.contains("connecting")
            ),
            "{:?}",
            world.violations
        );
        assert_eq!(world.counters.writes, 0, "nothing ran after the stall");
        world.run_until(20);
        assert_eq!(world.violations.len(), 1);
    }
}
