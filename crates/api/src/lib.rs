//! The HTTP API of chengyun: JSON under `/api/v1`, OpenAPI at
//! `/api/openapi.json`, Swagger UI at `/api/docs`, `/healthz`, `/readyz`,
//! Prometheus `/metrics`.
//!
//! Layout follows crates.io: one handler per action ([`routes`]), one error
//! type with a code catalogue ([`error`]), extractors that turn axum's own
//! rejections into that error ([`extract`]), an [`AppState`] built once.
//! See README.md for the route map, the auth model and the error policy.

pub mod error;
pub mod extract;
pub mod middleware;
pub mod open311;
pub mod openapi;
pub mod pagination;
pub mod routes;
pub mod state;
pub mod web;
pub mod webhooks;

pub use error::{ApiError, ErrorCode};
pub use middleware::install_metrics;
pub use routes::router;
pub use state::{ApiConfig, AppState, City};

use std::future::Future;
use std::net::SocketAddr;

/// Serves the API on `listener` until `shutdown` completes, then stops
/// accepting connections and waits for requests in flight to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let feed = state.feed().clone();
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    // Live-feed responses never end by themselves: close them when the
    // shutdown begins so the graceful shutdown does not wait forever.
    let shutdown = async move {
        shutdown.await;
        feed.close();
    };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving the HTTP API");
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
