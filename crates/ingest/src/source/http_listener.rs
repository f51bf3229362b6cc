//! Serving an ingest router on its own listener (when it is not mounted into the API).

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

use super::contract::{Resource, SourceContext, SourceError};

/// Bind `listen`, serve `router` until shutdown, let in-flight requests finish.
pub(crate) async fn serve_router(
    name: &'static str,
    listen: SocketAddr,
    router: Router,
    ctx: &SourceContext,
) -> Result<(), SourceError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|error| SourceError::Bind {
            source_name: name.to_owned(),
            resource: Resource::TcpPort(listen),
            error,
        })?;
    let local = listener.local_addr().map_err(|error| SourceError::Bind {
        source_name: name.to_owned(),
        resource: Resource::TcpPort(listen),
        error,
    })?;
    tracing::info!(source = name, listen = %local, "listening");
    ctx.announce(name, Resource::TcpPort(local));
    let mut shutdown = ctx.shutdown.clone();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.recv().await })
        .await
        .map_err(|e| SourceError::Fatal {
            source_name: name.to_owned(),
            reason: format!("server failed: {e}"),
        })
}
