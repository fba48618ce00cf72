//! # A shopping cart, two ways: one last-write-wins value against a Meridian set
//!
//! Two regions, Frankfurt and Singapore, lose the link between them. In Frankfurt a customer
//! adds a grinder and filters to their cart; at the same time their phone, served from
//! Singapore, removes the coffee beans and adds a mug and a kettle. The app keeps the cart
//! twice:
//!
//! - `cart:lww`: the whole cart as one value, read, changed and written back with SET, as an
//!   app that stores a serialised list does. Concurrent writes resolve by last-write-wins on
//!   the hybrid logical clock: one side's whole cart replaces the other's.
//! - `cart:set`: a Meridian set (SADD, SREM). An add is kept unless a remove observed it; a
//!   remove takes only the adds its region had seen.
//!
//! When the link heals, both regions converge, and the table shows what each cart kept.
//!
//! ```sh
//! cargo run --release --example shopping_cart
//! ```

mod common;

use anyhow::Result;
use bytes::Bytes;
use common::{Claims, Regions, table};
use meridian::Node;
use meridian::crdt::Value;

/// The LWW cart as the app stores it: item names joined by commas.
async fn lww_cart(region: &Node) -> Vec<String> {
    match region.get(b"cart:lww").await {
        Some(Value::Str(v)) => String::from_utf8_lossy(&v)
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// What a naive app does to change its cart: read it here, edit it, write it all back.
async fn lww_edit(region: &Node, remove: &[&str], add: &[&str]) -> Result<()> {
    let mut cart = lww_cart(region).await;
    cart.retain(|item| !remove.contains(&item.as_str()));
    cart.extend(add.iter().map(|s| (*s).to_owned()));
    region.set("cart:lww", cart.join(",")).await?;
    Ok(())
}

async fn set_cart(region: &Node) -> Vec<String> {
    match region.get(b"cart:set").await {
        Some(Value::Set(members)) => members
            .iter()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect(),
        _ => Vec::new(),
    }
}

fn items(names: &[&str]) -> Vec<Bytes> {
    names.iter().map(|s| Bytes::from(s.to_string())).collect()
}

#[tokio::main]
async fn main() -> Result<()> {
    let regions = Regions::start("mesh", &["frankfurt", "singapore"]).await?;
    let (frankfurt, singapore) = (regions.get("frankfurt"), regions.get("singapore"));

    println!("The cart starts with coffee beans, in both regions.");
    lww_edit(frankfurt, &[], &["coffee beans"]).await?;
    frankfurt.sadd("cart:set", items(&["coffee beans"])).await?;
    regions.settle().await?;

    println!("The link between Frankfurt and Singapore goes down.");
    regions.cut("frankfurt", "singapore");

    println!("Frankfurt: the customer adds a grinder and filters.");
    lww_edit(frankfurt, &[], &["grinder", "filters"]).await?;
    frankfurt
        .sadd("cart:set", items(&["grinder", "filters"]))
        .await?;

    println!("Singapore: their phone removes the coffee beans, adds a mug and a kettle.");
    lww_edit(singapore, &["coffee beans"], &["mug", "kettle"]).await?;
    singapore.srem("cart:set", items(&["coffee beans"])).await?;
    singapore
        .sadd("cart:set", items(&["mug", "kettle"]))
        .await?;

    println!("The link comes back; both regions converge.\n");
    regions.heal("frankfurt", "singapore");
    regions.settle().await?;

    let lww = lww_cart(frankfurt).await;
    let set = set_cart(frankfurt).await;
    // Which region's write LWW kept depends on which stamp is later: both were made within
    // the same millisecond or two, so the demo reads the outcome rather than assume it.
    let frankfurt_cart = ["coffee beans", "grinder", "filters"];
    let singapore_cart = ["mug", "kettle"];
    let (winner, loser) = if lww == frankfurt_cart {
        ("Frankfurt", "Singapore")
    } else {
        ("Singapore", "Frankfurt")
    };
    let rows: Vec<Vec<String>> = ["coffee beans", "grinder", "filters", "mug", "kettle"]
        .iter()
        .map(|item| {
            let held = |cart: &[String]| {
                if cart.iter().any(|i| i == item) {
                    "in the cart"
                } else {
                    "-"
                }
            };
            let in_lww = lww.iter().any(|i| i == item);
            let verdict = match (*item, in_lww) {
                ("coffee beans", true) => "removed in Singapore: LWW brought it back".to_owned(),
                ("coffee beans", false) => "removed in Singapore: gone from both".to_owned(),
                (_, true) => "kept by both".to_owned(),
                (_, false) => format!("added in {loser}: LWW lost it"),
            };
            vec![
                (*item).to_owned(),
                held(&lww).to_owned(),
                held(&set).to_owned(),
                verdict,
            ]
        })
        .collect();
    table(
        &["item", "LWW value (SET)", "Meridian set", "what happened"],
        &rows,
    );
    println!();

    let mut claims = Claims::default();
    claims.check(
        "both regions read the same carts after the heal",
        lww_cart(singapore).await == lww && set_cart(singapore).await == set,
    );
    claims.check(
        &format!("LWW kept {winner}'s whole cart and lost every change made in {loser}"),
        lww == frankfurt_cart || lww == singapore_cart,
    );
    claims.check(
        "the set kept every add and honoured the remove its region had observed",
        set == ["filters", "grinder", "kettle", "mug"],
    );
    regions.stop().await?;
    claims.result()
}
