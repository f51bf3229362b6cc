//! Process and catalogue endpoints: liveness, readiness, metrics, error codes.

use crate::error::{ApiError, ErrorBody, ErrorCode, ErrorCodeInfo};
use crate::extract::Json;
use crate::middleware::install_metrics;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

/// A short status answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// `ok` (alive) or `ready` (the database answers).
    pub status: String,
}

/// Liveness: answers 200 whenever the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, description = "The process is up", body = Status)))]
pub async fn healthz() -> Json<Status> {
    Json(Status {
        status: "ok".into(),
    })
}

/// How long `/readyz` waits for the database.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Readiness: 200 when the database answers, else 503 `database_unavailable`.
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses(
        (status = 200, description = "Ready to serve", body = Status),
        (status = 503, description = "The database does not answer", body = ErrorBody),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    // A readiness probe answers in bounded time even when the database
    // hangs instead of refusing.
    let ping = tokio::time::timeout(READY_TIMEOUT, state.store().ping()).await;
    match ping.unwrap_or_else(|_| {
        Err(chengyun_store::StoreError::Unavailable(format!(
            "no answer within {READY_TIMEOUT:?}"
        )))
    }) {
        Ok(()) => Ok(Json(Status {
            status: "ready".into(),
        })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::new(
                ErrorCode::DatabaseUnavailable,
                "the database does not answer; retry later",
            ))
        }
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain")))]
pub async fn metrics() -> impl IntoResponse {
    let handle = install_metrics();
    handle.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
}

/// The error code catalogue: every code, its HTTP status and meaning.
#[utoipa::path(get, path = "/api/v1/errors", tag = "system",
    responses((status = 200, description = "Every error code", body = Vec<ErrorCodeInfo>)))]
pub async fn errors() -> Json<Vec<ErrorCodeInfo>> {
    Json(crate::error::catalogue())
}
