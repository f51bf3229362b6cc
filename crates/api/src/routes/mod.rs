//! The route map: one handler per action, one module per resource.

pub mod alarms;
pub mod areas;
pub mod audit;
pub mod auth;
pub mod case_admin;
pub mod cases;
pub mod commands;
pub mod components;
pub mod departments;
pub mod devices;
pub mod evaluation;
pub mod gateways;
pub mod grids;
pub mod import;
pub mod locate;
pub mod map;
pub mod packs;
pub mod products;
pub mod rules;
pub mod scenes;
pub mod standards;
pub mod stream;
pub mod system;
pub mod tokens;
pub mod users;
pub mod webhooks;

use crate::extract::RequestId;
use crate::middleware::{
    install_metrics, method_not_allowed, panic_response, request_id, track_metrics,
};
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::routing::{get, post, put};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa_swagger_ui::SwaggerUi;

/// Builds the whole HTTP application on `state`.
pub fn router(state: AppState) -> Router {
    install_metrics();
    let config = state.config().clone();
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/metrics", get(system::metrics))
        .route("/api/v1/errors", get(system::errors))
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route("/api/v1/auth/me", get(auth::me))
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/api/v1/users", get(users::list).post(users::create))
        .route("/api/v1/users/{id}", get(users::get).patch(users::update))
        .route("/api/v1/users/{id}/password", put(users::set_password))
        .route("/api/v1/users/{id}/disable", post(users::disable))
        .route("/api/v1/users/{id}/enable", post(users::enable))
        .route("/api/v1/audit", get(audit::list))
        .route("/api/v1/areas", get(areas::list))
        .route("/api/v1/areas/{code}", get(areas::get))
        .route("/api/v1/areas/{code}/children", get(areas::children))
        .route("/api/v1/grids", get(grids::list))
        .route("/api/v1/grids/{code}", get(grids::get))
        .route(
            "/api/v1/departments",
            get(departments::list).post(departments::create),
        )
        .route("/api/v1/departments/{code}", get(departments::get))
        .route(
            "/api/v1/staff",
            get(departments::list_staff).post(departments::create_staff),
        )
        .route(
            "/api/v1/components",
            get(components::list).post(components::create),
        )
        .route("/api/v1/components/{id}", get(components::get))
        .route(
            "/api/v1/standards/{kind}",
            get(standards::list).post(standards::create),
        )
        .route("/api/v1/locate", get(locate::locate))
        .route("/api/v1/map/config", get(map::config))
        .route(
            "/api/v1/import/{kind}",
            post(import::import).layer(DefaultBodyLimit::max(config.max_import_bytes)),
        )
        .route("/api/v1/cases", get(cases::list).post(cases::create))
        .route("/api/v1/cases/{id}", get(cases::get))
        .route("/api/v1/cases/{id}/actions", post(cases::act))
        .route("/api/v1/cases/{id}/merge", post(cases::merge))
        .route(
            "/api/v1/cases/{id}/dispatch-suggestion",
            get(cases::dispatch_suggestion),
        )
        .route(
            "/api/v1/attachments",
            post(cases::upload).layer(DefaultBodyLimit::max(config.max_attachment_bytes)),
        )
        .route("/api/v1/attachments/{id}", get(cases::download))
        .route("/api/v1/classify", get(cases::classify))
        .route(
            "/api/v1/dispatch-rules",
            get(case_admin::list_rules).post(case_admin::create_rule),
        )
        .route(
            "/api/v1/dispatch-rules/{id}",
            put(case_admin::update_rule).delete(case_admin::delete_rule),
        )
        .route(
            "/api/v1/settings/{kind}",
            get(case_admin::get_setting).put(case_admin::put_setting),
        )
        .route("/api/v1/evaluation", get(evaluation::evaluation))
        .route("/api/v1/evaluation/headline", get(evaluation::headline))
        .route("/api/v1/stream", get(stream::stream))
        .route(
            "/api/v1/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/api/v1/webhooks/{id}",
            put(webhooks::update).delete(webhooks::delete),
        )
        .route("/api/v1/products", get(products::list))
        .route(
            "/api/v1/products/{key}",
            get(products::get).put(products::put),
        )
        .route("/api/v1/devices", get(devices::list).post(devices::create))
        .route("/api/v1/devices/batch", post(devices::batch))
        .route(
            "/api/v1/devices/{id}",
            get(devices::get).put(devices::update),
        )
        .route(
            "/api/v1/devices/{id}/credential",
            post(devices::rotate_credential),
        )
        .route("/api/v1/devices/{id}/telemetry", get(devices::telemetry))
        .route("/api/v1/devices/{id}/track", get(devices::track))
        .route(
            "/api/v1/devices/{id}/commands",
            get(devices::commands).post(commands::send),
        )
        .route("/api/v1/commands/{id}", get(commands::get))
        .route(
            "/api/v1/grants",
            get(devices::list_grants).post(devices::create_grant),
        )
        .route(
            "/api/v1/grants/{id}",
            axum::routing::delete(devices::revoke_grant),
        )
        .route("/api/v1/alarms", get(alarms::list))
        .route("/api/v1/alarms/{id}", get(alarms::get))
        .route("/api/v1/alarms/{id}/acknowledge", post(alarms::acknowledge))
        .route("/api/v1/alarms/{id}/clear", post(alarms::clear))
        .route("/api/v1/rules", get(rules::current).put(rules::put))
        .route("/api/v1/rules/versions", get(rules::versions))
        .route("/api/v1/rules/versions/{version}", get(rules::version))
        .route("/api/v1/rules/export", get(rules::export))
        .route("/api/v1/rules/import", post(rules::import))
        .route("/api/v1/packs", get(packs::list))
        .route("/api/v1/packs/{key}/enable", post(packs::enable))
        .route("/api/v1/iot/overview", get(packs::overview))
        .route("/api/v1/iot/gateways", get(gateways::list))
        .route("/api/v1/iot/kpis", get(scenes::pack_kpis))
        .route("/api/v1/iot/theft-reports", post(scenes::report_theft))
        .route("/api/v1/cases/{id}/track", get(scenes::case_track))
        .merge(crate::open311::routes::router())
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", crate::openapi::openapi()))
        .fallback(crate::web::fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(track_metrics))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<axum::body::Body>| {
                let id = req
                    .extensions()
                    .get::<RequestId>()
                    .map(|r| r.0.as_str())
                    .unwrap_or("-");
                tracing::info_span!(
                    "http",
                    method = %req.method(),
                    path = %req.uri().path(),
                    request_id = %id,
                )
            }),
        )
        .layer(axum::middleware::from_fn(request_id))
        .with_state(state.clone())
        // Device-facing endpoints: they authenticate devices themselves
        // (bearer device secret; GB/T 28181 DeviceID) and answer in their
        // protocols' own shapes, so they sit outside the API's error layer.
        .merge(chengyun_ingest::source::http::router(
            state.ingest_context(),
        ))
        .merge(chengyun_ingest::source::gb28181::router(
            state.ingest_context(),
        ))
}
