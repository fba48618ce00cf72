//! The embedded API on a real cluster: the change feed delivers local and remote changes of
//! a prefix, MV registers keep concurrent writes as siblings until a write with their
//! context, causal tokens carry read-your-writes across regions, and the admin endpoint
//! answers `/health` and `/status`.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use meridian_crdt::Value;
use meridian_node::{FeedError, Readiness, Status};
use support::{all_links_up, converged, eventually, http_get, options, start};

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_feed_delivers_local_and_remote_changes_of_its_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _) = start(dir.path(), "mesh", 2, &options()).await;
    eventually("the link is up", LIMIT, || async { all_links_up(&cluster) }).await;
    let (n1, n2) = (&cluster.nodes[0], &cluster.nodes[1]);
    let mut feed = n2.subscribe("doc:");

    n1.set("other:1", "ignored").await.unwrap();
    let remote = n1.incr_by("doc:1:views", 5).await.unwrap();
    let local = n2
        .sadd("doc:1:editors", vec![Bytes::from("ada")])
        .await
        .unwrap();

    let mut seen = Vec::new();
    while seen.len() < 2 {
        let change = tokio::time::timeout(LIMIT, feed.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(
            change.key.starts_with(b"doc:"),
            "{:?} is outside the prefix",
            change.key
        );
        seen.push(change);
    }
    let views = seen
        .iter()
        .find(|c| c.key.as_ref() == b"doc:1:views")
        .unwrap();
    assert!(!views.local);
    assert_eq!(views.dot, Some(remote.dot));
    assert_eq!(views.value, Some(Value::Int(5)));
    let editors = seen
        .iter()
        .find(|c| c.key.as_ref() == b"doc:1:editors")
        .unwrap();
    assert!(editors.local);
    assert_eq!(editors.dot, Some(local.dot));

    cluster.shutdown().await.unwrap();
    assert_eq!(feed.recv().await.unwrap_err(), FeedError::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_mvsets_are_siblings_until_a_write_with_their_context() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _) = start(dir.path(), "mesh", 2, &options()).await;
    eventually("the link is up", LIMIT, || async { all_links_up(&cluster) }).await;
    let (n1, n2) = (&cluster.nodes[0], &cluster.nodes[1]);

    // Concurrent: each region writes before it sees the other's write.
    assert!(n1.disconnect("n2"));
    eventually("the link is down", LIMIT, || async {
        !all_links_up(&cluster)
    })
    .await;
    n1.mvset("cart", "apples", None).await.unwrap();
    n2.mvset("cart", "pears", None).await.unwrap();
    assert!(n1.reconnect("n2"));
    eventually("converged", LIMIT, || converged(&cluster)).await;

    let siblings = n2.mvget(b"cart").await.unwrap();
    let mut values: Vec<_> = siblings.values.iter().map(|(v, _)| v.clone()).collect();
    values.sort();
    assert_eq!(values, [Bytes::from("apples"), Bytes::from("pears")]);

    let resolved = n2
        .mvset("cart", "apples+pears", Some(siblings.context))
        .await
        .unwrap();
    n1.wait_for(&resolved.token).await;
    let after = n1.mvget(b"cart").await.unwrap();
    assert_eq!(after.values.len(), 1, "{:?}", after.values);
    assert_eq!(after.values[0].0, Bytes::from("apples+pears"));
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_causal_token_gives_read_your_writes_in_another_region() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _) = start(dir.path(), "chain", 3, &options()).await;
    eventually("every link up", LIMIT, || async { all_links_up(&cluster) }).await;
    let receipt = cluster.nodes[0].set("profile", "v2").await.unwrap();
    // n3 is two hops away: the token makes the read wait until it has applied the write.
    let n3 = &cluster.nodes[2];
    tokio::time::timeout(LIMIT, n3.wait_for(&receipt.token))
        .await
        .unwrap();
    assert_eq!(n3.get(b"profile").await, Some(Value::Str("v2".into())));
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_endpoint_reports_health_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _) = start(dir.path(), "mesh", 3, &options()).await;
    eventually("every link up", LIMIT, || async { all_links_up(&cluster) }).await;
    cluster.nodes[0].set("k", "v").await.unwrap();
    eventually("converged", LIMIT, || converged(&cluster)).await;

    let n1 = &cluster.nodes[0];
    let admin = n1.addresses().admin;
    let (code, body) = tokio::task::spawn_blocking(move || http_get(admin, "/health"))
        .await
        .unwrap();
    assert_eq!((code, body.trim()), (200, "ok"));

    let (code, body) = tokio::task::spawn_blocking(move || http_get(admin, "/status"))
        .await
        .unwrap();
    assert_eq!(code, 200);
    let status: Status = serde_json::from_str(&body).unwrap();
    assert_eq!(status.node, "n1");
    assert_eq!(status.role, "leader");
    assert_eq!(status.keys, 1);
    assert_eq!(status.applied.get("n1"), Some(&1));
    let mut peers: Vec<_> = status
        .links
        .iter()
        .map(|l| (l.peer.as_str(), l.state.as_str()))
        .collect();
    peers.sort();
    assert_eq!(peers, [("n2", "up"), ("n3", "up")]);

    let table = status.to_table();
    assert!(table.contains("node     n1"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("n2") && l.contains("up")),
        "{table}"
    );

    // A cut link shows as down, and as cut by the operator.
    assert!(n1.disconnect("n3"));
    eventually("n1 sees the link to n3 down", LIMIT, || async {
        n1.status()
            .links
            .iter()
            .any(|l| l.peer == "n3" && l.state == "down" && l.disabled)
    })
    .await;
    assert!(n1.status().to_table().contains("down (cut)"));
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_waits_for_the_regions_asked_for_and_a_timeout_says_who_holds_it() {
    use meridian_node::{AckError, Acknowledgement};
    use std::num::NonZeroUsize;

    let dir = tempfile::tempdir().unwrap();
    let (cluster, _) = start(dir.path(), "mesh", 3, &options()).await;
    eventually("every link up", LIMIT, || async { all_links_up(&cluster) }).await;
    let (n1, n2) = (&cluster.nodes[0], &cluster.nodes[1]);

    let first = n1.set("k", "1").await.unwrap();
    n1.wait_acknowledged(first.dot, &Acknowledgement::All, LIMIT)
        .await
        .unwrap();

    // n3 cut off from both: two regions can hold a write, three cannot.
    assert!(n1.disconnect("n3") && n2.disconnect("n3"));
    eventually("n3 is cut off", LIMIT, || async {
        cluster.nodes[2]
            .status()
            .links
            .iter()
            .all(|l| l.state == "down")
    })
    .await;
    let second = n1.set("k", "2").await.unwrap();
    let two = Acknowledgement::Regions(NonZeroUsize::new(2).unwrap());
    n1.wait_acknowledged(second.dot, &two, LIMIT).await.unwrap();
    n1.wait_acknowledged(second.dot, &Acknowledgement::Majority, LIMIT)
        .await
        .unwrap();
    n1.wait_acknowledged(second.dot, &Acknowledgement::Region("n2".into()), LIMIT)
        .await
        .unwrap();
    let short = Duration::from_millis(300);
    match n1
        .wait_acknowledged(second.dot, &Acknowledgement::All, short)
        .await
    {
        Err(AckError::Timeout { holding, nodes, .. }) => {
            assert_eq!(holding, ["n1", "n2"]);
            assert_eq!(nodes, 3);
        }
        other => panic!("{other:?}"),
    }
    let e = n1
        .wait_acknowledged(second.dot, &Acknowledgement::Region("n3".into()), short)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("held by 2 of 3 (n1, n2)"), "{e}");
    let e = n1
        .wait_acknowledged(
            second.dot,
            &Acknowledgement::Region("atlantis".into()),
            short,
        )
        .await
        .unwrap_err();
    assert_eq!(e, AckError::UnknownRegion("atlantis".into()));
    // Not rolled back: the write is still there, and reaches n3 once it is back.
    assert_eq!(n1.get(b"k").await, Some(Value::Str("2".into())));
    assert!(n1.reconnect("n3") && n2.reconnect("n3"));
    n1.wait_acknowledged(second.dot, &Acknowledgement::All, LIMIT)
        .await
        .unwrap();
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_store_takes_writes_only_after_every_neighbour_or_an_override() {
    use meridian_node::{InitialClusterState, Node, NodeConfig, NodeError};
    use meridian_replica::WriteError;

    let dir = tempfile::tempdir().unwrap();
    let topology = support::topology(dir.path(), "mesh", 3);
    let existing = meridian_node::cluster::Options {
        initial_cluster_state: Some(InitialClusterState::Existing),
        ..options()
    };
    let configs =
        meridian_node::cluster::prepare(&topology, &dir.path().join("cluster"), &existing).unwrap();
    // n1 alone, with a new store: it cannot know whether n2 or n3 hold ops of an earlier n1.
    let n1 = Node::start(NodeConfig::load(&configs[0]).unwrap())
        .await
        .unwrap();
    // Alive, not ready: a load balancer keeps it, and sends it no writes yet.
    let admin = n1.addresses().admin;
    let (health, ready) = tokio::task::spawn_blocking(move || {
        (http_get(admin, "/health"), http_get(admin, "/ready"))
    })
    .await
    .unwrap();
    assert_eq!(health, (200, "ok\n".to_owned()));
    assert_eq!(ready.0, 503, "{ready:?}");
    assert!(
        ready.1.starts_with("not ready: this region is recovering") && ready.1.contains("n2"),
        "{ready:?}"
    );
    assert!(!n1.readiness().is_ready() && !n1.status().ready);
    let refused = n1.set("k", "v").await.unwrap_err();
    assert!(
        matches!(refused, NodeError::Write(WriteError::Recovering(_))),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("recovering its own history"),
        "{refused}"
    );
    let recovering = n1.status().recovering.unwrap();
    assert!(
        recovering.contains("n2") && recovering.contains("n3"),
        "{recovering}"
    );
    // n2 alone is not enough.
    let n2 = Node::start(NodeConfig::load(&configs[1]).unwrap())
        .await
        .unwrap();
    eventually("n1 heard n2", LIMIT, || async {
        n1.status().recovering.is_some_and(|w| !w.contains("n2"))
    })
    .await;
    assert!(n1.set("k", "v").await.is_err());
    n1.shutdown().await.unwrap();
    n2.shutdown().await.unwrap();

    // An operator who knows n2 and n3 hold nothing of n1 may say so.
    std::fs::remove_dir_all(dir.path().join("cluster/node-1/data")).unwrap();
    let mut text = std::fs::read_to_string(&configs[0]).unwrap();
    text = text.replace(
        "[replication]\n",
        "[replication]\nopen_history_without = [\"n2\", \"n3\"]\n",
    );
    std::fs::write(&configs[0], text).unwrap();
    let n1 = Node::start(NodeConfig::load(&configs[0]).unwrap())
        .await
        .unwrap();
    assert!(n1.status().recovering.is_none());
    assert_eq!(n1.readiness(), Readiness::Writable);
    n1.set("k", "v").await.unwrap();
    n1.shutdown().await.unwrap();
}

/// The story of the bug: on a fresh `meridian up` of a four-region mesh, every `/health`
/// answered OK and the first SET still got `TRYAGAIN ... waiting for the handshake of
/// neighbours`: every new store waited to hear all its neighbours, although in a cluster
/// created that moment no node can hold anything of another. A store created with the cluster
/// (`initial_cluster_state = "new"`, what `prepare` writes when it makes the cluster's CA)
/// takes writes at once, alone; one created later in the same cluster (an emptied data
/// directory: `existing`, what `prepare` writes when the CA is there) waits, and says so on
/// `/ready`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brand_new_cluster_takes_writes_at_once_and_a_node_rejoining_it_waits() {
    use meridian_node::{Node, NodeConfig, NodeError};
    use meridian_replica::WriteError;

    let dir = tempfile::tempdir().unwrap();
    let topology = support::topology(dir.path(), "mesh", 4);
    let root = dir.path().join("cluster");
    let configs = meridian_node::cluster::prepare(&topology, &root, &options()).unwrap();
    let text = std::fs::read_to_string(&configs[0]).unwrap();
    assert!(text.contains("initial_cluster_state = \"new\""), "{text}");
    // n1 alone, none of its three neighbours started: ready, and writes at once.
    let n1 = Node::start(NodeConfig::load(&configs[0]).unwrap())
        .await
        .unwrap();
    assert_eq!(n1.readiness(), Readiness::Writable);
    let admin = n1.addresses().admin;
    let ready = tokio::task::spawn_blocking(move || http_get(admin, "/ready"))
        .await
        .unwrap();
    assert_eq!(ready, (200, "ready: takes writes\n".to_owned()));
    n1.set("k", "v1").await.unwrap();
    let n2 = Node::start(NodeConfig::load(&configs[1]).unwrap())
        .await
        .unwrap();
    n2.set("k2", "v").await.unwrap();
    eventually("n2 holds n1's write", LIMIT, || async {
        n2.get(b"k").await == Some(Value::Str("v1".into()))
    })
    .await;
    n1.shutdown().await.unwrap();

    // n1's disk is replaced; the cluster is prepared again, as `meridian up` does on every
    // run: its CA exists, so the configs say `existing`, and n1 waits for every neighbour.
    std::fs::remove_dir_all(root.join("node-1/data")).unwrap();
    let configs = meridian_node::cluster::prepare(&topology, &root, &options()).unwrap();
    let n1 = Node::start(NodeConfig::load(&configs[0]).unwrap())
        .await
        .unwrap();
    assert!(
        matches!(
            n1.set("k", "v2").await,
            Err(NodeError::Write(WriteError::Recovering(_)))
        ),
        "a node rejoining with a new store waits"
    );
    assert!(matches!(n1.readiness(), Readiness::NotReady(_)));
    let rest: Vec<Node> = {
        let mut started = Vec::new();
        for config in &configs[2..] {
            started.push(
                Node::start(NodeConfig::load(config).unwrap())
                    .await
                    .unwrap(),
            );
        }
        started
    };
    eventually("n1 ready once it heard every neighbour", LIMIT, || async {
        n1.readiness() == Readiness::Writable
    })
    .await;
    let receipt = n1.set("k", "v2").await.unwrap();
    assert_eq!(receipt.dot.seq, 2, "n1 learned its first write back first");
    n1.shutdown().await.unwrap();
    n2.shutdown().await.unwrap();
    for node in rest {
        node.shutdown().await.unwrap();
    }
}
