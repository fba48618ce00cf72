//! Admin HTTP: `/health` (liveness: 200 while the node works, 503 once its store failed and
//! it needs a restart), `/ready` (readiness: 200 while the node serves what its role serves,
//! a leader taking writes or a replica serving reads; 503 with the reason otherwise, see
//! [`crate::Readiness`]) and `/status` (JSON, see [`crate::Status`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::driver::Shared;
use crate::status::{Readiness, Status};

/// Serves the admin endpoints on `listener` until the node shuts down.
pub(crate) async fn serve(shared: Arc<Shared>, listener: tokio::net::TcpListener) {
    let shutdown = shared.shutdown.clone();
    let app = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
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

async fn ready(State(shared): State<Arc<Shared>>) -> (StatusCode, String) {
    let readiness = Readiness::of(&shared.read().replica);
    let code = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, format!("{readiness}\n"))
}

async fn status(State(shared): State<Arc<Shared>>) -> axum::Json<Status> {
    axum::Json(Status::of(&shared))
}
