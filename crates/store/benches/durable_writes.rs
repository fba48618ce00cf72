//! Durable local writes through `GroupCommit` + `RedbStore` next to redis-server (in progress).

fn main() {
    println!("durable_writes: not yet written");
}
