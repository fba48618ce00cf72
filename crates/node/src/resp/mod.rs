//! The Redis protocol listener, in the shape of mini-redis: one task accepts, a semaphore
//! bounds the connections (`clients.max_clients`; one past it is told so and closed), and
//! each connection runs in its own task until the client leaves, misbehaves, idles past
//! `clients.idle_timeout_s` or the node shuts down.
//!
//! Commands run against the replica under the core's lock, in the order they arrive; a
//! write is applied at once (later commands of the pipeline see it) and its reply is held
//! back until it is durable, replies leaving in request order.

mod conn;
mod connection;
mod exec;
mod expiry;
mod glob;
mod hashes;
mod hyperloglog;
mod info;
mod keys;
mod lists;
mod pubsub;
mod registers;
mod replication;
mod scan;
mod score;
mod server;
mod sets;
mod strings;
mod table;
mod text;
mod token;
mod transaction;
mod words;
mod zranges;
mod zsets;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::driver::Shared;

/// What every connection of a node shares.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) shared: Arc<Shared>,
    permits: Arc<Semaphore>,
    next_client: AtomicU64,
    pub(crate) started: Instant,
    pub(crate) cursors: scan::Cursors,
    pub(crate) commands_processed: AtomicU64,
    pub(crate) connections_received: AtomicU64,
    pub(crate) rejected_connections: AtomicU64,
    /// How many of this node's connections subscribe to each channel and pattern.
    pub(crate) subscriptions: std::sync::Mutex<pubsub::Registry>,
}

impl Server {
    /// Clients connected now.
    pub(crate) fn connected(&self) -> usize {
        self.shared
            .config
            .clients
            .max_clients
            .saturating_sub(self.permits.available_permits())
    }
}

/// Accepts Redis protocol clients on `listener` until the node shuts down.
pub(crate) async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    let server = Arc::new(Server {
        permits: Arc::new(Semaphore::new(shared.config.clients.max_clients)),
        shared,
        next_client: AtomicU64::new(1),
        started: Instant::now(),
        cursors: scan::Cursors::default(),
        commands_processed: AtomicU64::new(0),
        connections_received: AtomicU64::new(0),
        rejected_connections: AtomicU64::new(0),
        subscriptions: pubsub::new_registry(),
    });
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = server.shared.shutdown.cancelled() => return,
        };
        let (mut socket, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: give the running clients a moment.
                tracing::warn!(node = %server.shared.config.node, error = %e, "accepting a client failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        server.connections_received.fetch_add(1, Ordering::Relaxed);
        let _ = socket.set_nodelay(true);
        match Arc::clone(&server.permits).try_acquire_owned() {
            Ok(permit) => {
                let id = server.next_client.fetch_add(1, Ordering::Relaxed);
                let server = Arc::clone(&server);
                tokio::spawn(async move {
                    conn::run(&server, socket, remote, id).await;
                    drop(permit);
                });
            }
            Err(_) => {
                server.rejected_connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let _ = socket
                        .write_all(b"-ERR max number of clients reached\r\n")
                        .await;
                });
            }
        }
    }
}
