//! # A likes counter, two ways: read-modify-write SET against INCR on a counter
//!
//! A post has 10 likes. Then the three regions serving it (Frankfurt, Singapore, Virginia)
//! are cut off from each other, and likes keep coming in everywhere. The app counts them
//! twice:
//!
//! - `likes:naive`: read the number, add one, SET it back, which is what an app does with a
//!   plain string. Each region counts only the likes it saw; when the regions meet again,
//!   last-write-wins keeps one region's total and drops the others' likes.
//! - `likes:counter`: INCR. Meridian's counter keeps every increment, wherever it was made,
//!   and every region converges to the sum.
//!
//! ```sh
//! cargo run --release --example likes_counter
//! ```

mod common;

use anyhow::Result;
use common::{Claims, Regions, table};
use meridian::Node;
use meridian::crdt::Value;

const REGIONS: [&str; 3] = ["frankfurt", "singapore", "virginia"];

/// Likes each region receives during the partition.
const LIKES: [(&str, i64); 3] = [("frankfurt", 5), ("singapore", 3), ("virginia", 4)];

async fn read(region: &Node, key: &[u8]) -> i64 {
    match region.get(key).await {
        Some(Value::Int(n)) => n,
        Some(Value::Str(s)) => String::from_utf8_lossy(&s).parse().unwrap_or(0),
        _ => 0,
    }
}

/// One like, the naive way: read, add one, write back.
async fn naive_like(region: &Node) -> Result<()> {
    let n = read(region, b"likes:naive").await;
    region.set("likes:naive", (n + 1).to_string()).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let regions = Regions::start("mesh", &REGIONS).await?;
    let first = regions.get("frankfurt");

    println!("The post starts with 10 likes.");
    first.set("likes:naive", "10").await?;
    first.incr_by("likes:counter", 10).await?;
    regions.settle().await?;

    println!("Every link between the three regions goes down.");
    regions.cut("frankfurt", "singapore");
    regions.cut("frankfurt", "virginia");
    regions.cut("singapore", "virginia");

    let mut rows = Vec::new();
    for (name, likes) in LIKES {
        let region = regions.get(name);
        for _ in 0..likes {
            naive_like(region).await?;
            region.incr_by("likes:counter", 1).await?;
        }
        println!("{name}: {likes} likes.");
        rows.push(vec![
            name.to_owned(),
            format!("+{likes}"),
            read(region, b"likes:naive").await.to_string(),
            read(region, b"likes:counter").await.to_string(),
        ]);
    }

    println!("The links come back; the regions converge.\n");
    regions.heal("frankfurt", "singapore");
    regions.heal("frankfurt", "virginia");
    regions.heal("singapore", "virginia");
    regions.settle().await?;

    let truth = 10 + LIKES.iter().map(|(_, n)| n).sum::<i64>();
    let naive = read(first, b"likes:naive").await;
    let counter = read(first, b"likes:counter").await;
    rows.push(vec![
        "after the heal".to_owned(),
        format!("true count {truth}"),
        naive.to_string(),
        counter.to_string(),
    ]);
    table(
        &["region", "likes", "read-modify-write SET", "INCR (counter)"],
        &rows,
    );
    println!();

    let mut claims = Claims::default();
    let mut agree = true;
    for name in REGIONS {
        let region = regions.get(name);
        agree &= read(region, b"likes:naive").await == naive
            && read(region, b"likes:counter").await == counter;
    }
    claims.check("every region reads the same two numbers", agree);
    claims.check(
        &format!("the counter holds the true count, {truth}: every increment counted once"),
        counter == truth,
    );
    claims.check(
        &format!(
            "SET kept one region's total ({naive}) and lost {} likes",
            truth - naive
        ),
        naive < truth && LIKES.iter().any(|(_, n)| 10 + n == naive),
    );
    regions.stop().await?;
    claims.result()
}
