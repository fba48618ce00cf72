//! Admin HTTP: `/health` (200 while the node takes writes, 503 once its store failed) and
//! `/status` (JSON, see [`crate::Status`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::driver::Shared;
use crate::status::Status;

/// Serves the admin endpoints on `listener` until the node shuts down.
pub(crate) async fn serve(shared: Arc<Shared>, listener: tokio::net::TcpListener) {
    let shutdown = shared.shutdown.clone();
    let app = Router::new()
        .route("/health", get(health))
        .route("/status", get(status))
        .with_state(shared);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "admin HTTP stopped");
    }
}

/// Binds the admin address.
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

async fn health(State(shared): State<Arc<Shared>>) -> (StatusCode, String) {
    match shared.read().replica.store_failure() {
        None => (StatusCode::OK, "ok\n".to_owned()),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store failed: {reason}\n"),
        ),
    }
}

async fn status(State(shared): State<Arc<Shared>>) -> axum::Json<Status> {
    axum::Json(Status::of(&shared))
}
