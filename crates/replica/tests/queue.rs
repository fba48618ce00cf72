//! A list used as a queue, pushed at two regions and popped at a third for as long as it
//! runs, keeps its live items and a few tombstones: each gossip tick collects the tombstones
//! no op to come can name (docs/data-model.md, "Collecting tombstones"). Without collection,
//! every push that does not continue the run before it would leave an entry behind for good.

#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use meridian_crdt::seq::Items;
use meridian_crdt::{ActorId, Command, Splice};
use support::{Cluster, mesh_3};

fn push(c: &Cluster, at: ActorId, item: &str) -> Command {
    let len = c
        .node(at)
        .keyspace()
        .list(b"q")
        .unwrap()
        .map_or(0, |l| l.len());
    Command::List(Splice {
        delete: Vec::new(),
        insert: Some((len, Items(vec![Bytes::from(item.to_string())]))),
    })
}

fn pop() -> Command {
    Command::List(Splice {
        delete: vec![(0, 1)],
        insert: None,
    })
}

#[test]
fn a_queue_pushed_and_popped_for_ever_keeps_its_live_items_and_little_else() {
    let mut c = Cluster::new(mesh_3());
    let (a, b, popper) = (ActorId(1), ActorId(2), ActorId(3));
    let mut largest = 0;
    for i in 0..1_200 {
        let at = if i % 2 == 0 { a } else { b };
        let command = push(&c, at, &format!("job-{i}"));
        c.write(at, "q", command).unwrap();
        if i >= 10 {
            c.write(popper, "q", pop()).unwrap();
        }
        c.advance(20);
        let size = c.node(popper).keyspace().encode_key(b"q").unwrap().len();
        largest = largest.max(size);
    }
    c.advance(2_000);
    for id in [a, b, popper] {
        let node = c.node(id);
        assert_eq!(node.keyspace().list(b"q").unwrap().unwrap().len(), 10);
        assert_eq!(node.keyspace().collectable_tombstones(b"q"), 0);
        assert!(
            node.stats().collected > 1_000,
            "{} collected",
            node.stats().collected
        );
    }
    // Ten live items, each its own run of about 40 bytes, and the tombstones between them.
    assert!(
        largest < 2_000,
        "the queue's state reached {largest} bytes while it ran"
    );
}
