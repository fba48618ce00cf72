//! # Read your writes, and monotonic reads, with a causal token
//!
//! Replication between regions is asynchronous: a region answers a read from what it has
//! applied, and a write made elsewhere a moment ago may not be there yet. A user who saves
//! something in Frankfurt and whose next request lands in Singapore can be shown the old
//! value, as if the save were lost; a user whose client fails over from one region to another
//! can see the newer value, then an older one.
//!
//! Meridian gives every write a causal token (`WriteReceipt::token`: a version vector of
//! everything the region had applied right after the write), and every read one
//! (`Node::applied`). A client that carries its token and presents it to another region
//! (`Node::wait_for`) is answered only once that region has applied at least as much: it
//! reads its own writes, and never goes back in time.
//!
//! So that "at once" does not depend on timing, the demo holds replication back by cutting
//! Singapore's links, as a slow or broken link would.
//!
//! ```sh
//! cargo run --release --example read_your_writes
//! ```

mod common;

use anyhow::{Context, Result};
use common::{Claims, LIMIT, Regions, table};
use futures_util::FutureExt;
use meridian::Node;
use meridian::crdt::Value;

async fn read(region: &Node, key: &[u8]) -> String {
    match region.get(key).await {
        Some(Value::Str(v)) => String::from_utf8_lossy(&v).into_owned(),
        Some(Value::Int(n)) => n.to_string(),
        Some(other) => format!("{other:?}"),
        None => "(none)".to_owned(),
    }
}

/// A counter reads as 0 where it does not exist yet, as INCR and GET see it.
async fn count(region: &Node, key: &[u8]) -> String {
    match region.get(key).await {
        None => "0".to_owned(),
        Some(_) => read(region, key).await,
    }
}

/// Cuts both of Singapore's links: nothing reaches it, nothing leaves it.
fn isolate_singapore(regions: &Regions) {
    regions.cut("singapore", "frankfurt");
    regions.cut("singapore", "virginia");
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut regions = Regions::start("mesh", &["frankfurt", "singapore", "virginia"]).await?;
    let mut claims = Claims::default();
    let mut rows = Vec::new();

    // Part one: read your writes.
    println!("1. Read your writes\n");
    let frankfurt = regions.get("frankfurt");
    frankfurt.set("status:ana", "at home").await?;
    regions.settle().await?;
    println!("Ana's status is \"at home\" in every region. Singapore's links go down.");
    isolate_singapore(&regions);

    let receipt = frankfurt.set("status:ana", "on a train").await?;
    println!("Ana sets her status to \"on a train\" in Frankfurt; her next request is");
    println!("served by Singapore.");
    let singapore = regions.get("singapore");
    let plain = read(singapore, b"status:ana").await;
    rows.push(vec![
        "Singapore, without a token".to_owned(),
        plain.clone(),
        "answers at once, from what it has".to_owned(),
    ]);
    claims.check(
        "without a token, Singapore answers with the value from before Ana's write",
        plain == "at home",
    );

    // The read with a token waits until Singapore has applied what the token covers. Poll it
    // once: while the links are down it cannot be answered.
    let mut waiting = Box::pin(singapore.wait_for(&receipt.token));
    let answered_early = waiting.as_mut().now_or_never().is_some();
    claims.check(
        "with the token, Singapore does not answer while it lacks the write",
        !answered_early,
    );
    println!("Singapore's links come back; the read with the token is answered.");
    regions.heal("singapore", "frankfurt");
    regions.heal("singapore", "virginia");
    tokio::time::timeout(LIMIT, waiting)
        .await
        .context("Singapore did not catch up")?;
    let with_token = read(singapore, b"status:ana").await;
    rows.push(vec![
        "Singapore, with the write's token".to_owned(),
        with_token.clone(),
        "waits until it holds the write".to_owned(),
    ]);
    claims.check(
        "with the token, Singapore answers with Ana's write",
        with_token == "on a train",
    );
    regions.settle().await?;

    // Part two: monotonic reads across a failover.
    println!("\n2. Monotonic reads across a failover\n");
    isolate_singapore(&regions);
    println!("Singapore's links go down again. Virginia posts three comments under Ana's");
    println!("photo; Frankfurt receives them.");
    let virginia = regions.get("virginia");
    let mut last = None;
    for _ in 0..3 {
        last = Some(virginia.incr_by("photo:comments", 1).await?);
    }
    let last = last.context("three writes")?;
    let frankfurt = regions.get("frankfurt");
    tokio::time::timeout(LIMIT, frankfurt.wait_for(&last.token))
        .await
        .context("Frankfurt did not receive Virginia's comments")?;
    let seen = count(frankfurt, b"photo:comments").await;
    let token = frankfurt.applied().await;
    rows.push(vec![
        "Frankfurt, before it fails".to_owned(),
        format!("{seen} comments"),
        "the client keeps the read's token".to_owned(),
    ]);
    println!("Ana's phone reads {seen} comments in Frankfurt. Then Frankfurt goes down,");
    println!("and her phone fails over to Singapore.");
    regions.fail("frankfurt").await?;

    let singapore = regions.get("singapore");
    let plain = count(singapore, b"photo:comments").await;
    rows.push(vec![
        "Singapore, without a token".to_owned(),
        format!("{plain} comments"),
        "goes back in time".to_owned(),
    ]);
    claims.check(
        "without a token, the failed-over read goes back in time",
        plain != seen,
    );
    let mut waiting = Box::pin(singapore.wait_for(&token));
    let answered_early = waiting.as_mut().now_or_never().is_some();
    claims.check(
        "with the token, Singapore does not answer with less than the client saw",
        !answered_early,
    );
    println!("Singapore's link to Virginia comes back; the read with the token is answered.");
    regions.heal("singapore", "virginia");
    tokio::time::timeout(LIMIT, waiting)
        .await
        .context("Singapore did not catch up with Virginia")?;
    let with_token = count(singapore, b"photo:comments").await;
    rows.push(vec![
        "Singapore, with the token".to_owned(),
        format!("{with_token} comments"),
        "never less than the client saw".to_owned(),
    ]);
    claims.check(
        "with the token, the failed-over read sees at least what the client saw",
        with_token == seen,
    );

    println!();
    table(&["read", "answer", "why"], &rows);
    println!();
    regions.stop().await?;
    claims.result()
}
