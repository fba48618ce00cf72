//! Expiry on a real cluster: a key set with a deadline is read at every region until the
//! deadline and reads as absent everywhere after it, its state reaped; a write made at another
//! region concurrently with an EXPIRE survives it.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use meridian_crdt::Value;
use support::{all_links_up, converged, eventually, options, start};

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_a_deadline_is_read_everywhere_until_it_passes_then_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _) = start(dir.path(), "mesh", 3, &options()).await;
    eventually("every link up", LIMIT, || async { all_links_up(&cluster) }).await;
    let deadline = SystemTime::now() + Duration::from_millis(1500);
    cluster.nodes[0]
        .set_until("session:1", "token", deadline)
        .await
        .unwrap();
    eventually("every region reads the key", LIMIT, || async {
        for node in &cluster.nodes {
            if node.get(b"session:1").await != Some(Value::Str(Bytes::from("token"))) {
                return false;
            }
        }
        true
    })
    .await;
    for node in &cluster.nodes {
        let expires = node.expires(b"session:1").unwrap();
        let off = expires
            .duration_since(deadline)
            .unwrap_or_else(|e| e.duration());
        assert!(off < Duration::from_millis(1), "{off:?}");
    }
    eventually("no region reads the key", LIMIT, || async {
        for node in &cluster.nodes {
            if node.get(b"session:1").await.is_some() {
                return false;
            }
        }
        true
    })
    .await;
    // Deadlines are kept to the millisecond: the key may go up to 1 ms before `deadline`.
    assert!(
        SystemTime::now() + Duration::from_millis(1) >= deadline,
        "read as absent before its deadline"
    );
    eventually("the reaps converged", LIMIT, || converged(&cluster)).await;
    for node in &cluster.nodes {
        assert_eq!(node.status().keys, 0);
        assert_eq!(node.expires(b"session:1"), None);
    }
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_concurrent_with_an_expire_at_another_region_survives_it() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _) = start(dir.path(), "mesh", 2, &options()).await;
    eventually("the link is up", LIMIT, || async { all_links_up(&cluster) }).await;
    let (n1, n2) = (&cluster.nodes[0], &cluster.nodes[1]);
    n1.sadd("cart", vec![Bytes::from("seen")]).await.unwrap();
    eventually("both hold the cart", LIMIT, || converged(&cluster)).await;

    // Concurrent: each region writes before it sees the other's write.
    assert!(n1.disconnect("n2"));
    eventually("the link is down", LIMIT, || async {
        !all_links_up(&cluster)
    })
    .await;
    let deadline = SystemTime::now() + Duration::from_millis(500);
    assert!(n1.expire_at("cart", deadline).await.unwrap().is_some());
    n2.sadd("cart", vec![Bytes::from("concurrent")])
        .await
        .unwrap();
    assert!(n1.reconnect("n2"));

    eventually("both read only the concurrent member", LIMIT, || async {
        let want = Some(Value::Set(vec![Bytes::from("concurrent")]));
        n1.get(b"cart").await == want && n2.get(b"cart").await == want
    })
    .await;
    eventually("converged", LIMIT, || converged(&cluster)).await;
    assert_eq!(n1.expires(b"cart"), None);
    // A key absent here is not written.
    assert!(n1.persist("nothing").await.unwrap().is_none());
    cluster.shutdown().await.unwrap();
}
