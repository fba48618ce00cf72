//! # A user profile: one LWW blob, a hash of per-field registers, and an MV register
//!
//! Alice's profile is edited in two regions at once while the link between them is down:
//! Frankfurt changes her city, Singapore her e-mail address, and both give her a new nickname.
//! The app keeps the profile three ways:
//!
//! - `profile:blob`: the whole profile as one value (`name=…;city=…;email=…`), read, changed
//!   and written back with SET. Last-write-wins keeps one region's whole profile: the other
//!   region's change is lost, though it touched another field.
//! - `profile:hash`: a hash, one last-write-wins register per field (HSET). Edits of
//!   different fields both survive.
//! - `profile:nickname`: a multi-value register (MVSET). Two concurrent values of one field
//!   are both kept as siblings, for the app (or the user) to resolve; a write that carries
//!   the context it read replaces exactly the siblings it saw.
//!
//! ```sh
//! cargo run --release --example user_profile
//! ```

mod common;

use anyhow::Result;
use bytes::Bytes;
use common::{Claims, Regions, table};
use meridian::Node;
use meridian::crdt::Value;

fn b(s: &str) -> Bytes {
    Bytes::from(s.to_owned())
}

/// The blob as the app stores it: `field=value` pairs joined by `;`, in field order.
async fn blob(region: &Node) -> Vec<(String, String)> {
    let Some(Value::Str(text)) = region.get(b"profile:blob").await else {
        return Vec::new();
    };
    String::from_utf8_lossy(&text)
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(f, v)| (f.to_owned(), v.to_owned()))
        .collect()
}

/// Read the blob here, change one field, write it all back.
async fn blob_edit(region: &Node, field: &str, value: &str) -> Result<()> {
    let mut fields = blob(region).await;
    match fields.iter_mut().find(|(f, _)| f == field) {
        Some(pair) => pair.1 = value.to_owned(),
        None => fields.push((field.to_owned(), value.to_owned())),
    }
    let text: Vec<String> = fields.iter().map(|(f, v)| format!("{f}={v}")).collect();
    region.set("profile:blob", text.join(";")).await?;
    Ok(())
}

async fn hash(region: &Node) -> Vec<(String, String)> {
    match region.get(b"profile:hash").await {
        Some(Value::Hash(fields)) => fields
            .iter()
            .map(|(f, v)| {
                (
                    String::from_utf8_lossy(f).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

async fn nicknames(region: &Node) -> Vec<String> {
    region
        .mvget(b"profile:nickname")
        .await
        .map(|s| {
            s.values
                .iter()
                .map(|(v, _)| String::from_utf8_lossy(v).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(f, _)| f == name)
        .map_or("-", |(_, v)| v.as_str())
}

#[tokio::main]
async fn main() -> Result<()> {
    let regions = Regions::start("mesh", &["frankfurt", "singapore"]).await?;
    let (frankfurt, singapore) = (regions.get("frankfurt"), regions.get("singapore"));

    println!("Alice's profile: name Alice, city Berlin, e-mail alice@old.example.");
    for (f, v) in [
        ("name", "Alice"),
        ("city", "Berlin"),
        ("email", "alice@old.example"),
    ] {
        blob_edit(frankfurt, f, v).await?;
    }
    frankfurt
        .hset(
            "profile:hash",
            vec![
                (b("name"), b("Alice")),
                (b("city"), b("Berlin")),
                (b("email"), b("alice@old.example")),
            ],
        )
        .await?;
    frankfurt.mvset("profile:nickname", "Al", None).await?;
    regions.settle().await?;

    println!("The link goes down. Frankfurt: city Paris, nickname Ally.");
    regions.cut("frankfurt", "singapore");
    blob_edit(frankfurt, "city", "Paris").await?;
    frankfurt
        .hset("profile:hash", vec![(b("city"), b("Paris"))])
        .await?;
    frankfurt.mvset("profile:nickname", "Ally", None).await?;

    println!("Singapore, at the same time: e-mail alice@new.example, nickname Lissie.");
    blob_edit(singapore, "email", "alice@new.example").await?;
    singapore
        .hset("profile:hash", vec![(b("email"), b("alice@new.example"))])
        .await?;
    singapore.mvset("profile:nickname", "Lissie", None).await?;

    println!("The link comes back; both regions converge.\n");
    regions.heal("frankfurt", "singapore");
    regions.settle().await?;

    let blob_now = blob(frankfurt).await;
    let hash_now = hash(frankfurt).await;
    let siblings = nicknames(frankfurt).await;
    let rows: Vec<Vec<String>> = ["name", "city", "email"]
        .iter()
        .map(|f| {
            vec![
                (*f).to_owned(),
                field(&blob_now, f).to_owned(),
                field(&hash_now, f).to_owned(),
            ]
        })
        .chain(std::iter::once(vec![
            "nickname".to_owned(),
            "-".to_owned(),
            format!("MV siblings: {}", siblings.join(" | ")),
        ]))
        .collect();
    table(
        &["field", "LWW blob (SET)", "hash (HSET) / MV register"],
        &rows,
    );

    println!("\nThe app shows both nicknames; Alice picks Ally. Its write carries the");
    println!("context it read, so it replaces exactly those two siblings.\n");
    let read = frankfurt
        .mvget(b"profile:nickname")
        .await
        .map(|s| s.context);
    frankfurt.mvset("profile:nickname", "Ally", read).await?;
    regions.settle().await?;
    let resolved = nicknames(singapore).await;
    println!("  nickname in Singapore after the resolving write: {resolved:?}\n");

    let mut claims = Claims::default();
    claims.check(
        "both regions read the same blob and hash after the heal",
        blob(singapore).await == blob_now && hash(singapore).await == hash_now,
    );
    // Which region's blob LWW kept depends on which stamp is later: both writes were made
    // within a millisecond or two, so the demo reads the outcome rather than assume it.
    let frankfurt_won =
        field(&blob_now, "city") == "Paris" && field(&blob_now, "email") == "alice@old.example";
    let singapore_won =
        field(&blob_now, "city") == "Berlin" && field(&blob_now, "email") == "alice@new.example";
    let lost = if frankfurt_won {
        "Singapore's e-mail"
    } else {
        "Frankfurt's city"
    };
    claims.check(
        &format!("the blob kept one region's write whole: {lost} change is lost"),
        frankfurt_won || singapore_won,
    );
    claims.check(
        "the hash kept both edits: city Paris and the new e-mail",
        field(&hash_now, "city") == "Paris" && field(&hash_now, "email") == "alice@new.example",
    );
    claims.check(
        "the MV register kept both concurrent nicknames as siblings",
        siblings.len() == 2 && siblings.contains(&"Ally".to_owned()),
    );
    claims.check(
        "a write with their context resolved them to one value everywhere",
        resolved == ["Ally"] && nicknames(frankfurt).await == ["Ally"],
    );
    regions.stop().await?;
    claims.result()
}
