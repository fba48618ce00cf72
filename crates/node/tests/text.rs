//! Collaborative text through the embedded API on a real two-region cluster: the sequential
//! editing trace `automerge-paper` (259,778 edits of a LaTeX paper; `data/editing-traces`,
//! CC BY 4.0) typed at one region reads back as its `endContent` at both; the change feed's
//! positional edits rebuild the document at the other region without re-reading it; and a
//! cursor keeps its place through the other region's edits.

#![allow(clippy::unwrap_used)]

mod support;
#[path = "../../crdt/tests/support/traces.rs"]
mod traces;

use std::time::Duration;

use meridian_node::{Edit, FeedError, cluster::Options};
use support::{all_links_up, converged, eventually, options, start};
use traces::Patch;

const LIMIT: Duration = Duration::from_secs(120);

fn trace(name: &str) -> traces::Trace {
    traces::load(env!("CARGO_MANIFEST_DIR"), name)
}

fn quick() -> Options {
    Options {
        fsync: "never".to_owned(),
        ..options()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sequential_trace_typed_at_one_region_reads_back_at_both() {
    let trace = trace("automerge-paper");
    let end = trace.end.as_str();
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _) = start(dir.path(), "mesh", 2, &quick()).await;
    eventually("the link is up", LIMIT, || async { all_links_up(&cluster) }).await;
    let (n1, n2) = (&cluster.nodes[0], &cluster.nodes[1]);
    for Patch(pos, del, ins) in trace.patches() {
        n1.text_splice("paper", *pos, *del, ins).await.unwrap();
    }
    assert_eq!(n1.text(b"paper").await.as_deref(), Some(end));
    eventually("the other region has every edit", LIMIT, || {
        converged(&cluster)
    })
    .await;
    assert_eq!(n2.text(b"paper").await.as_deref(), Some(end));
    assert_eq!(n2.text_len(b"paper").await, end.chars().count() as u64);
    cluster.shutdown().await.unwrap();
}

/// Applies one feed edit to a document held as characters.
fn apply(doc: &mut Vec<char>, edit: &Edit) {
    match edit {
        Edit::InsertText { pos, text } => {
            let at = *pos as usize;
            doc.splice(at..at, text.chars());
        }
        Edit::Delete { pos, len } => {
            let at = *pos as usize;
            doc.drain(at..at + *len as usize);
        }
        Edit::InsertItems { .. } => panic!("a text key reports text"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_feed_carries_positional_edits_that_rebuild_the_text() {
    let trace = trace("automerge-paper");
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _) = start(dir.path(), "mesh", 2, &quick()).await;
    eventually("the link is up", LIMIT, || async { all_links_up(&cluster) }).await;
    let (n1, n2) = (&cluster.nodes[0], &cluster.nodes[1]);
    let mut feed = n2.subscribe("notes");
    // The other region's copy, built from the feed alone while the edits are made, until it
    // has seen the last one.
    let (last_tx, mut last) = tokio::sync::watch::channel(None);
    let reader = tokio::spawn(async move {
        let mut doc: Vec<char> = Vec::new();
        let mut seen = None;
        loop {
            if seen.is_some() && seen == *last.borrow() {
                return doc;
            }
            tokio::select! {
                changed = last.changed() => changed.unwrap(),
                change = feed.recv() => {
                    let change = match change {
                        Ok(change) => change,
                        Err(FeedError::Lagged(n)) => panic!("the feed dropped {n} changes"),
                        Err(FeedError::Closed) => panic!("the node shut down"),
                    };
                    assert_eq!(change.value, None, "text changes carry edits, not the text");
                    for edit in change.edits.as_ref().unwrap() {
                        apply(&mut doc, edit);
                    }
                    seen = change.dot;
                }
            }
        }
    });
    let mut expect: Vec<char> = Vec::new();
    let mut receipt = None;
    for Patch(pos, del, ins) in trace.patches().take(20_000) {
        receipt = Some(n1.text_splice("notes", *pos, *del, ins).await.unwrap());
        let at = *pos as usize;
        expect.splice(at..at + *del as usize, ins.chars());
    }
    last_tx.send(receipt.map(|r| r.dot)).unwrap();
    let doc = tokio::time::timeout(LIMIT, reader).await.unwrap().unwrap();
    assert_eq!(doc, expect);
    let text: String = doc.iter().collect();
    assert_eq!(n2.text(b"notes").await.unwrap(), text);
    cluster.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_keeps_its_place_through_the_other_regions_edits() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, _) = start(dir.path(), "mesh", 2, &quick()).await;
    eventually("the link is up", LIMIT, || async { all_links_up(&cluster) }).await;
    let (n1, n2) = (&cluster.nodes[0], &cluster.nodes[1]);
    n1.text_insert("doc", 0, "hello world").await.unwrap();
    eventually("replicated", LIMIT, || converged(&cluster)).await;
    // A caret at n2, just before "world".
    let caret = n2.text_cursor(b"doc", 6).await.unwrap();
    assert_eq!(n2.text_cursor(b"doc", 12).await, None, "past the end");
    // n1 edits before and after the caret; n2 types at it.
    n1.text_insert("doc", 0, "Oh, ").await.unwrap();
    n1.text_splice("doc", 10, 1, "W").await.unwrap();
    eventually("replicated", LIMIT, || converged(&cluster)).await;
    let at = n2.text_resolve(b"doc", caret).await.unwrap();
    assert_eq!(at, 10);
    n2.text_insert("doc", at, "big ").await.unwrap();
    eventually("replicated", LIMIT, || converged(&cluster)).await;
    assert_eq!(n1.text(b"doc").await.unwrap(), "Oh, hello big World");
    assert_eq!(n1.text_range(b"doc", 4, 9).await.unwrap(), "hello");
    // A cursor that follows a deleted character stays where it was.
    n1.text_delete("doc", 4, 6).await.unwrap();
    eventually("replicated", LIMIT, || converged(&cluster)).await;
    assert_eq!(n2.text_resolve(b"doc", caret).await, Some(4));
    assert_eq!(n2.text(b"doc").await.unwrap(), "Oh, big World");
    cluster.shutdown().await.unwrap();
}
