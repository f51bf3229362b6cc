//! Cross-cutting layers: request ids, metrics, panics, unknown routes.

use crate::error::{ApiError, ErrorCode};
use crate::extract::RequestId;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::any::Any;
use std::sync::OnceLock;
use std::time::Instant;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Counter of answered requests, by method, matched route and status.
pub const REQUESTS_TOTAL: &str = "http_requests_total";
/// Histogram of request durations in seconds, by method, matched route and status.
pub const REQUEST_DURATION: &str = "http_request_duration_seconds";

/// An incoming request id is kept when it is short and plain, so it cannot
/// inject text into logs or headers; anything else is replaced.
pub fn sane_request_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Takes or makes the request id, stores it in the request's extensions for
/// the trace span, the audit actor and handlers, and returns it in the response.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane_request_id(v))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut res = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    res
}

/// Records the request count and latency by method, matched route and status.
/// The route is the pattern (`/api/v1/areas/{code}`), never the raw path, so
/// the number of series stays bounded.
pub async fn track_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(REQUEST_DURATION, &labels).record(start.elapsed().as_secs_f64());
    res
}

/// Installs the process-wide Prometheus recorder once and returns its handle;
/// later calls return the same handle. Should another recorder already be
/// installed (by an embedding program), metrics go there and the handle
/// renders an empty page.
pub fn install_metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = || {
                PrometheusBuilder::new().set_buckets_for_metric(
                    Matcher::Full(REQUEST_DURATION.to_string()),
                    &[
                        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ],
                )
            };
            match builder().and_then(|b| b.install_recorder()) {
                Ok(handle) => {
                    // Histogram samples wait in the recorder until an upkeep folds
                    // them into their buckets/summaries. Without the exporter's
                    // HTTP listener nothing does that unless /metrics is scraped,
                    // so a busy server nobody scrapes would grow by every sample
                    // (~40 KB/s at 5,000 device messages/s). Fold them every 5 s.
                    let upkeep = handle.clone();
                    let spawned = std::thread::Builder::new()
                        .name("metrics-upkeep".into())
                        .spawn(move || {
                            loop {
                                std::thread::sleep(std::time::Duration::from_secs(5));
                                upkeep.run_upkeep();
                            }
                        });
                    if let Err(e) = spawned {
                        tracing::warn!(error = %e, "no metrics upkeep thread: scrape /metrics to fold histogram samples");
                    }
                    handle
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not install the metrics recorder; /metrics will be empty");
                    PrometheusBuilder::new().build_recorder().handle()
                }
            }
        })
        .clone()
}

/// The answer for a path no route has.
pub async fn route_not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::RouteNotFound,
        format!("no endpoint {method} {}; see /api/openapi.json", uri.path()),
    )
}

/// The answer for a known path with an unsupported method.
pub async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{} does not accept {method}", uri.path()),
    )
}

/// Turns a panic in a handler into a 500 in the error shape (the panic message
/// is logged, not sent).
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".to_string());
    ApiError::internal(format!("handler panicked: {message}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_checked() {
        assert!(sane_request_id("abc-123_x.y:z"));
        assert!(!sane_request_id(""));
        assert!(!sane_request_id("has space"));
        assert!(!sane_request_id("line\nbreak"));
        assert!(!sane_request_id(&"a".repeat(129)));
    }

    #[tokio::test]
    async fn panics_become_internal_errors_in_the_error_shape() {
        use tower::ServiceExt;
        let app = axum::Router::new()
            .route(
                "/boom",
                axum::routing::get(|| async {
                    let v: Vec<u8> = Vec::new();
                    // Index out of bounds, as a bug in a handler would.
                    v[usize::from(v.is_empty())].to_string()
                }),
            )
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(
                panic_response,
            ))
            .layer(axum::middleware::from_fn(request_id));
        let req = axum::http::Request::get("/boom")
            .body(axum::body::Body::empty())
            .unwrap();
        let res = app.oneshot(req).await.unwrap();
        assert_eq!(res.status(), 500);
        assert!(res.headers().contains_key(REQUEST_ID_HEADER));
        let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "internal");
        assert!(!json.to_string().contains("index out of bounds"));
    }

    #[test]
    fn metrics_install_is_idempotent() {
        let a = install_metrics();
        let b = install_metrics();
        metrics::counter!("chengyun_test_counter").increment(1);
        assert!(a.render().contains("chengyun_test_counter"));
        assert!(b.render().contains("chengyun_test_counter"));
    }
}
