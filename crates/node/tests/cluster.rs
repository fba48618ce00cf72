//! Whole nodes on real QUIC over loopback, with mutual TLS and redb stores: convergence
//! under writes at every leader, no duplicates in steady state, restart and catch-up, a cut
//! link. Every wait is a bounded poll on the nodes' own state.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use meridian_crdt::Value;
use support::{all_links_up, converged, eventually, options, start};

const LIMIT: Duration = Duration::from_secs(30);

/// Writes of every type at every node, concurrently.
async fn write_everywhere(
    cluster: &meridian_node::cluster::LocalCluster,
    round: usize,
    per_node: usize,
) {
    let mut writes = Vec::new();
    for (i, node) in cluster.nodes.iter().enumerate() {
        writes.push(async move {
            for j in 0..per_node {
                let key = format!("k{}", j % 7);
                node.set(format!("r{round}-n{i}-{j}"), format!("v{j}"))
                    .await
                    .unwrap();
                node.incr_by("hits", 1).await.unwrap();
                node.sadd("members", vec![Bytes::from(format!("n{i}-{j}"))])
                    .await
                    .unwrap();
                node.hset(
                    format!("h{}", j % 3),
                    vec![(Bytes::from(key), Bytes::from(format!("n{i}")))],
                )
                .await
                .unwrap();
            }
        });
    }
    futures_util::future::join_all(writes).await;
}

async fn converges_under_writes_at_every_leader(shape: &str, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _) = start(dir.path(), shape, n, &options()).await;
    eventually("every link up", LIMIT, || async { all_links_up(&cluster) }).await;
    write_everywhere(&cluster, 0, 50).await;
    eventually("equal digests and vectors", LIMIT, || converged(&cluster)).await;

    let hits = cluster.nodes[0].get(b"hits").await;
    assert_eq!(
        hits,
        Some(Value::Int(50 * n as i64)),
        "every increment counts"
    );
    for node in &cluster.nodes {
        let status = node.status();
        assert_eq!(
            status.counters["duplicates"], 0,
            "{}: an op arrived twice",
            status.node
        );
        assert_eq!(status.counters["protocol_errors"], 0);
        assert_eq!(status.keys, cluster.nodes[0].len().await);
    }
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_of_three_converges_under_writes_at_every_leader() {
    converges_under_writes_at_every_leader("mesh", 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_of_five_converges_without_duplicates() {
    converges_under_writes_at_every_leader("ring", 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_catches_up_on_what_it_missed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cluster, configs) = start(dir.path(), "mesh", 3, &options()).await;
    eventually("every link up", LIMIT, || async { all_links_up(&cluster) }).await;
    write_everywhere(&cluster, 0, 10).await;
    eventually("converged before the restart", LIMIT, || {
        converged(&cluster)
    })
    .await;

    // Stop the third node, write at the others, start it again from its store.
    let stopped = cluster.nodes.pop().unwrap();
    stopped.shutdown().await.unwrap();
    for j in 0..100 {
        cluster.nodes[j % 2]
            .set(format!("missed-{j}"), "x")
            .await
            .unwrap();
    }
    let config = meridian_node::NodeConfig::load(&configs[2]).unwrap();
    let restarted = meridian_node::Node::start(config).await.unwrap();
    assert!(
        restarted.get(b"h0").await.is_some(),
        "its own store kept what it had"
    );
    cluster.nodes.push(restarted);
    eventually("the restarted node caught up", LIMIT, || {
        converged(&cluster)
    })
    .await;
    assert_eq!(
        cluster.nodes[2].get(b"missed-99").await,
        Some(Value::Str("x".into()))
    );
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_link_converges_once_restored() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _) = start(dir.path(), "chain", 2, &options()).await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    eventually("the link up", LIMIT, || async { all_links_up(&cluster) }).await;

    assert!(a.disconnect("n2"));
    eventually("the link down at both ends", LIMIT, || async {
        a.status().links[0].state == "down" && b.status().links[0].state == "down"
    })
    .await;
    // Both sides keep taking writes; the same key written on both sides concurrently.
    for j in 0..20 {
        a.set(format!("a{j}"), "1").await.unwrap();
        b.set(format!("b{j}"), "1").await.unwrap();
    }
    a.set("contested", "from a").await.unwrap();
    b.set("contested", "from b").await.unwrap();
    a.incr_by("count", 5).await.unwrap();
    b.incr_by("count", 7).await.unwrap();
    assert!(!converged(&cluster).await);

    assert!(a.reconnect("n2"));
    eventually("converged after the link is restored", LIMIT, || {
        converged(&cluster)
    })
    .await;
    assert_eq!(b.get(b"a19").await, Some(Value::Str("1".into())));
    assert_eq!(a.get(b"count").await, Some(Value::Int(12)));
    assert_eq!(a.get(b"contested").await, b.get(b"contested").await);
    cluster.shutdown().await.unwrap();
}
