//! Bytes from a peer, decoded as a `Message` and fed to a replica after a valid handshake:
//! whatever arrives, the replica answers with outputs (at worst a CloseLink), never a panic.
//! The stable-toolchain twin of this target is the proptest in
//! `crates/replica/tests/peer_input.rs`.

#![no_main]

use std::sync::Arc;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use meridian_crdt::{ActorId, Command, VersionVector};
use meridian_replica::{Config, Message, Output, PROTOCOL_VERSION, Replica, Topology};

const WALL0: u64 = 1_700_000_000_000;
const ME: ActorId = ActorId(1);
const PEER: ActorId = ActorId(2);
const OTHER: ActorId = ActorId(3);

fn drain(r: &mut Replica, now: u64) {
    while let Some(out) = r.poll_output() {
        if let Output::Persist { batch, .. } = out {
            r.handle_persisted(now, batch);
        }
    }
}

fn hello(topology: &Topology, node: ActorId, received: VersionVector) -> Message {
    Message::Hello {
        cluster: topology.cluster.clone(),
        node,
        protocol: PROTOCOL_VERSION,
        received,
    }
}

fn topology() -> Arc<Topology> {
    let text = include_str!("../../topologies/mesh-3.toml");
    match Topology::parse(text, "mesh-3.toml") {
        Ok(t) => Arc::new(t),
        Err(e) => panic!("shipped topology does not parse: {e}"),
    }
}

/// Node 1 of mesh-3 with writes of its own, one op of node 3 applied, and links up to both
/// neighbours: state to corrupt and links to send on.
fn busy_node(topology: &Arc<Topology>) -> Replica {
    let Ok(mut other) = Replica::new(OTHER, Arc::clone(topology), Config::lan(), WALL0) else {
        panic!("replica 3");
    };
    let _ = other.write(0, WALL0, Bytes::from_static(b"from-3"), Command::IncrBy(1));
    let mut other_ops = Vec::new();
    while let Some(out) = other.poll_output() {
        if let Output::Persist { batch, ops, .. } = out {
            other_ops.extend(ops);
            other.handle_persisted(0, batch);
        }
    }

    let Ok(mut r) = Replica::new(ME, Arc::clone(topology), Config::lan(), WALL0) else {
        panic!("replica 1");
    };
    for key in [&b"a"[..], b"b", b"c"] {
        let _ = r.write(0, WALL0, Bytes::copy_from_slice(key), Command::IncrBy(1));
    }
    drain(&mut r, 0);
    for peer in [OTHER, PEER] {
        r.handle_link_up(0, peer);
        r.handle_message(0, WALL0, peer, hello(topology, peer, VersionVector::new()));
        drain(&mut r, 0);
    }
    r.handle_message(0, WALL0, OTHER, Message::Ops(other_ops));
    drain(&mut r, 0);
    r
}

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = rmp_serde::from_slice::<Message>(data) else {
        return;
    };
    let topology = topology();
    let mut r = busy_node(&topology);
    r.handle_message(1, WALL0 + 1, PEER, msg);
    drain(&mut r, 1);
    let _ = r.write(
        2,
        WALL0 + 2,
        Bytes::from_static(b"after"),
        Command::IncrBy(1),
    );
    drain(&mut r, 2);
    r.handle_timeout(5_000, WALL0 + 5_000);
    drain(&mut r, 5_000);
    assert!(
        r.received().dominates(r.applied()),
        "applied beyond the durable log"
    );
    assert_eq!(r.stats().internal_errors, 0);
    let _ = r.links().count();
    let _ = r.lag(PEER);
});
