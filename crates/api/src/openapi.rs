//! The OpenAPI 3 document, generated from the handlers' annotations.

use crate::error::{ErrorBody, ErrorCode, ErrorCodeInfo, ErrorDetail};
use crate::routes::*;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chengyun API",
        description = "城运 unified city operations platform. Errors are `{\"error\": {\"code\", \"message\", \"details\"}}`; the codes are listed in the ErrorCode schema and at /api/v1/errors. Lists are cursor-paginated: `?limit=` (1-500, default 50) and `?cursor=` (the previous page's `next_cursor`)."
    ),
    paths(
        system::healthz, system::readyz, system::metrics, system::errors,
        auth::login, auth::logout, auth::me,
        tokens::list, tokens::create, tokens::revoke,
        users::list, users::create, users::get, users::update, users::set_password,
        users::disable, users::enable,
        audit::list,
        areas::list, areas::get, areas::children,
        grids::list, grids::get,
        departments::list, departments::get, departments::create,
        departments::list_staff, departments::create_staff,
        components::list, components::get, components::create,
        standards::list, standards::create,
        locate::locate, map::config,
        import::import,
        cases::create, cases::list, cases::get, cases::act, cases::merge,
        cases::dispatch_suggestion, cases::upload, cases::download, cases::classify,
        case_admin::list_rules, case_admin::create_rule, case_admin::update_rule,
        case_admin::delete_rule, case_admin::get_setting, case_admin::put_setting,
        evaluation::evaluation, evaluation::headline,
        stream::stream,
        webhooks::list, webhooks::create, webhooks::update, webhooks::delete,
        products::list, products::get, products::put,
        devices::list, devices::get, devices::create, devices::update, devices::rotate_credential, devices::batch,
        devices::telemetry, devices::track, devices::commands,
        devices::list_grants, devices::create_grant, devices::revoke_grant,
        commands::send, commands::get,
        alarms::list, alarms::get, alarms::acknowledge, alarms::clear,
        rules::current, rules::put, rules::versions, rules::version, rules::export,
        rules::import,
        packs::list, packs::enable, packs::overview, gateways::list, scenes::pack_kpis, scenes::case_track, scenes::report_theft,
    ),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode, ErrorCodeInfo)),
    modifiers(&Security, &DefaultError),
    tags(
        (name = "system", description = "Health, readiness, metrics, error codes"),
        (name = "auth", description = "Login sessions and API tokens"),
        (name = "users", description = "User administration and the audit log (admin)"),
        (name = "city", description = "Areas, grids, departments, staff, components, location; scoped to the caller's area"),
        (name = "standards", description = "GB/T 47678.5 classes and local extensions"),
        (name = "import", description = "Bulk imports (admin)"),
        (name = "cases", description = "The case closed loop: intake, lists, actions (refused → 409 refused_action with the allowed actions), merging, attachments, classification, the live feed (SSE). Open311 GeoReport v2 is served under /open311/v2/ (see its specification)"),
        (name = "case admin", description = "Dispatch rules (admin, dispatcher) and case settings (admin)"),
        (name = "evaluation", description = "综合评价 indicators, scores and grades; headline figures"),
        (name = "webhooks", description = "Signed webhooks for external systems (admin)"),
        (name = "iot", description = "The IoT brain: products, devices (owned or granted; others are 404), grants, telemetry and tracks, alarms, commands, rules, scenario packs, headline figures. Devices send data to /ingest/http/v1/telemetry (bearer device secret) and /ingest/gb28181/notify, outside this document"),
    )
)]
struct ApiDoc;

/// The two ways to authenticate: the session cookie and bearer API tokens.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::extract::SESSION_COOKIE,
                "Set by POST /api/v1/auth/login",
            ))),
        );
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token (cy_...) from POST /api/v1/tokens"))
                    .build(),
            ),
        );
    }
}

/// Every operation can fail with the error shape: documented once as the
/// `default` response of each operation.
struct DefaultError;

impl Modify for DefaultError {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                op.responses
                    .responses
                    .entry("default".to_string())
                    .or_insert_with(|| {
                        ResponseBuilder::new()
                            .description("An error; `error.code` is one of the ErrorCode values")
                            .content(
                                "application/json",
                                ContentBuilder::new()
                                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                                    .build(),
                            )
                            .build()
                            .into()
                    });
            }
        }
    }
}

/// The document served at `/api/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
