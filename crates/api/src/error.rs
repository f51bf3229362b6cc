//! The one error type of the HTTP API and its code catalogue.
//!
//! Every failure leaves the server as
//! `{"error": {"code": "...", "message": "...", "details": ...}}`, where `code`
//! is one of the codes declared ONCE in [`error_codes!`] below, together with
//! its HTTP status and a description. The catalogue is served at
//! `GET /api/v1/errors`, listed in the OpenAPI document, and written to
//! `crates/api/ERRORS.md` (a test fails when that file and this list differ).
//!
//! Which code to use where (see also README.md, "Error policy"):
//! - input that does not parse (JSON syntax, a query number that is not a
//!   number, a path segment of the wrong type): the extractor wrappers in
//!   [`crate::extract`] answer `invalid_json`, `invalid_query`, `invalid_path`;
//! - input that parses but breaks a rule: `invalid_input`, with `details` the
//!   list of `{field, message}` problems ([`ApiError::invalid`],
//!   [`ApiError::validation`]);
//! - store errors convert with `?` ([`From<StoreError>`]): not found, conflict,
//!   invalid, unavailable; anything else is `internal` and its text is logged,
//!   never sent to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chengyun_domain::{Invalid, ValidationError};
use chengyun_store::StoreError;
use serde::Serialize;
use std::borrow::Cow;
use utoipa::ToSchema;

/// Declares the error codes: the variant, its wire code, HTTP status and a
/// description. Everything else (the enum, its lookups, the served catalogue,
/// the OpenAPI enum, ERRORS.md) is generated from this one list.
macro_rules! error_codes {
    ($($variant:ident = ($code:literal, $status:ident, $desc:literal)),* $(,)?) => {
        /// A stable, documented error code. Clients branch on this, not on messages.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(#[doc = $desc] $variant),*
        }

        impl ErrorCode {
            /// Every code, in catalogue order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as sent on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),* }
            }

            /// The HTTP status every response with this code has.
            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status),* }
            }

            /// When the code is used and what the client should do.
            pub fn description(self) -> &'static str {
                match self { $(ErrorCode::$variant => $desc),* }
            }

            /// The code with this wire name.
            pub fn from_code(code: &str) -> Option<ErrorCode> {
                match code { $($code => Some(ErrorCode::$variant),)* _ => None }
            }
        }
    };
}

error_codes! {
    InvalidInput = ("invalid_input", BAD_REQUEST,
        "The request parsed but breaks a rule. `details` lists every problem as {field, message}."),
    InvalidJson = ("invalid_json", BAD_REQUEST,
        "The body is not valid JSON or does not have the expected shape (a missing field, a wrong type)."),
    UnknownField = ("unknown_field", BAD_REQUEST,
        "The body has a field the endpoint does not accept (bodies are strict, to catch typos)."),
    InvalidQuery = ("invalid_query", BAD_REQUEST,
        "A query parameter could not be read, e.g. a number that is not a number."),
    InvalidPath = ("invalid_path", BAD_REQUEST,
        "A path segment could not be read, e.g. an id that is not a number."),
    PayloadTooLarge = ("payload_too_large", PAYLOAD_TOO_LARGE,
        "The body is larger than the server accepts for this endpoint."),
    UnsupportedMediaType = ("unsupported_media_type", UNSUPPORTED_MEDIA_TYPE,
        "The body needs `Content-Type: application/json`."),
    Unauthenticated = ("unauthenticated", UNAUTHORIZED,
        "No valid session cookie or API token, or wrong username or password. Log in again."),
    Forbidden = ("forbidden", FORBIDDEN,
        "The caller's roles do not allow this action."),
    OutOfScope = ("out_of_scope", FORBIDDEN,
        "The item lies outside the area the caller's department covers."),
    NotFound = ("not_found", NOT_FOUND,
        "The addressed item does not exist."),
    RouteNotFound = ("route_not_found", NOT_FOUND,
        "No endpoint has this path. See /api/openapi.json."),
    MethodNotAllowed = ("method_not_allowed", METHOD_NOT_ALLOWED,
        "The endpoint exists but not with this HTTP method."),
    Conflict = ("conflict", CONFLICT,
        "The write collides with existing data (a taken username, a national class code)."),
    RefusedAction = ("refused_action", CONFLICT,
        "The workflow refused the case action: wrong state, a position that may not take it, not the holder, or a missing opinion. `details` has {action, state, reason, message, allowed}: the case's state and the actions the caller may take instead."),
    IdempotencyConflict = ("idempotency_conflict", CONFLICT,
        "The Idempotency-Key was already used for a different request body. Use a new key for a new request."),
    UnsupportedAttachment = ("unsupported_attachment", UNSUPPORTED_MEDIA_TYPE,
        "The uploaded file is not an accepted type (JPEG, PNG, WebP, PDF, judged by its content) or its declared Content-Type does not match its content."),
    DatabaseUnavailable = ("database_unavailable", SERVICE_UNAVAILABLE,
        "The database cannot be reached. Retry later."),
    Internal = ("internal", INTERNAL_SERVER_ERROR,
        "An unexpected server error. Report it with the x-request-id of the response."),
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let description = ErrorCode::ALL
            .iter()
            .map(|c| {
                format!(
                    "- `{}` ({}): {}",
                    c.as_str(),
                    c.status().as_u16(),
                    c.description()
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
            .description(Some(format!("A stable error code:\n{description}")))
            .into()
    }
}

impl ToSchema for ErrorCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorCode")
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// A sentence for people; may change between versions.
    pub message: String,
    /// Structured facts: for `invalid_input` the list of `{field, message}`.
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// One entry of the served catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorCodeInfo {
    pub code: ErrorCode,
    pub status: u16,
    pub description: String,
}

/// The catalogue as served at `GET /api/v1/errors`.
pub fn catalogue() -> Vec<ErrorCodeInfo> {
    ErrorCode::ALL
        .iter()
        .map(|&c| ErrorCodeInfo {
            code: c,
            status: c.status().as_u16(),
            description: c.description().to_string(),
        })
        .collect()
}

/// The catalogue as Markdown, the content of `crates/api/ERRORS.md`.
pub fn catalogue_markdown() -> String {
    let mut out = String::from(
        "# Error codes\n\n\
         Generated from `crates/api/src/error.rs` by the test `errors_doc_matches_catalogue`\n\
         (`UPDATE_SNAPSHOTS=1 cargo test -p chengyun-api` rewrites it). Every error response is\n\
         `{\"error\": {\"code\": \"...\", \"message\": \"...\", \"details\": ...}}`; clients branch on\n\
         `code`, which never changes meaning. The same list is served at `GET /api/v1/errors`.\n\n\
         | code | HTTP status | meaning |\n|---|---|---|\n",
    );
    for c in ErrorCode::ALL {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            c.as_str(),
            c.status().as_u16(),
            c.description().replace('|', "\\|")
        ));
    }
    out
}

/// An error answered by a handler or extractor.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// One broken rule.
    pub fn invalid(problem: Invalid) -> Self {
        Self::validation(ValidationError::from(problem))
    }

    /// Several broken rules, all listed in `details`.
    pub fn validation(e: ValidationError) -> Self {
        let message = match e.problems.as_slice() {
            [one] => one.to_string(),
            many => format!("{} problems; the first: {}", many.len(), e),
        };
        let details = serde_json::to_value(&e.problems).unwrap_or(serde_json::Value::Null);
        Self::new(ErrorCode::InvalidInput, message).with_details(details)
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn forbidden(action: &str) -> Self {
        Self::new(
            ErrorCode::Forbidden,
            format!("your roles do not allow {action}"),
        )
    }

    pub fn out_of_scope(what: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::OutOfScope,
            format!("{what} lies outside the area your department covers"),
        )
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    /// An unexpected failure: the cause is logged, the client gets a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            ErrorCode::Internal,
            "an internal error occurred; report it with the x-request-id of this response",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Conflict(msg) => ApiError::new(ErrorCode::Conflict, msg),
            StoreError::Invalid(v) => ApiError::validation(v),
            StoreError::Unavailable(msg) => {
                tracing::warn!(error = %msg, "database unavailable");
                ApiError::new(
                    ErrorCode::DatabaseUnavailable,
                    "the database cannot be reached; retry later",
                )
            }
            other @ StoreError::Database(_) => ApiError::internal(other),
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::invalid(e)
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::validation(e)
    }
}

impl From<chengyun_services::auth::AuthError> for ApiError {
    fn from(e: chengyun_services::auth::AuthError) -> Self {
        use chengyun_services::auth::AuthError;
        match e {
            AuthError::InvalidCredentials => ApiError::unauthenticated(e.to_string()),
            AuthError::Invalid(i) => ApiError::invalid(i),
            AuthError::Store(s) => s.into(),
            AuthError::Hash(h) => ApiError::internal(h),
        }
    }
}

impl From<chengyun_services::import::ImportError> for ApiError {
    fn from(e: chengyun_services::import::ImportError) -> Self {
        use chengyun_services::import::ImportError;
        match e {
            ImportError::Invalid(v) => ApiError::validation(v),
            ImportError::Store(s) => s.into(),
        }
    }
}

impl From<chengyun_services::case::CaseError> for ApiError {
    fn from(e: chengyun_services::case::CaseError) -> Self {
        use chengyun_services::case::CaseError;
        match e {
            CaseError::Invalid(v) => ApiError::validation(v),
            CaseError::NotFound(what) => ApiError::not_found(what),
            CaseError::Refused(r) => {
                let details = serde_json::json!({
                    "action": r.action,
                    "state": r.state,
                    "state_label": r.state.label_zh(),
                    "reason": r.reason,
                    "message": r.message,
                    "allowed": r.allowed,
                });
                ApiError::new(ErrorCode::RefusedAction, r.to_string()).with_details(details)
            }
            // The service words every reused-key conflict "idempotency key …".
            CaseError::Conflict(m) if m.starts_with("idempotency key") => {
                ApiError::new(ErrorCode::IdempotencyConflict, m)
            }
            CaseError::Conflict(m) => ApiError::new(ErrorCode::Conflict, m),
            CaseError::TooLarge(m) => ApiError::new(ErrorCode::PayloadTooLarge, m),
            CaseError::Store(s) => s.into(),
        }
    }
}

impl From<chengyun_services::iot::IotError> for ApiError {
    fn from(e: chengyun_services::iot::IotError) -> Self {
        use chengyun_services::iot::IotError;
        match e {
            IotError::Invalid(v) => ApiError::validation(v),
            IotError::NotFound(what) => ApiError::not_found(what),
            IotError::Forbidden(m) => ApiError::new(ErrorCode::Forbidden, m),
            IotError::Conflict(m) => ApiError::new(ErrorCode::Conflict, m),
            IotError::Store(s) => s.into(),
            other @ (IotError::Unavailable(_) | IotError::Case(_)) => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        if status.is_server_error() {
            tracing::warn!(code = self.code.as_str(), message = %self.message, "request failed");
        } else {
            tracing::debug!(code = self.code.as_str(), message = %self.message, "request refused");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                details: self.details,
            },
        };
        (status, axum::Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate code {}", c.as_str());
            assert!(
                c.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{} is not snake_case",
                c.as_str()
            );
            assert_eq!(ErrorCode::from_code(c.as_str()), Some(*c));
            assert!(c.status().is_client_error() || c.status().is_server_error());
        }
        assert_eq!(ErrorCode::from_code("nope"), None);
    }

    #[test]
    fn store_errors_map_to_codes() {
        let cases = [
            (StoreError::NotFound("user 3".into()), ErrorCode::NotFound),
            (StoreError::Conflict("taken".into()), ErrorCode::Conflict),
            (
                StoreError::Unavailable("refused".into()),
                ErrorCode::DatabaseUnavailable,
            ),
            (StoreError::Database("syntax".into()), ErrorCode::Internal),
            (
                StoreError::from(Invalid::new("parent_code", "missing")),
                ErrorCode::InvalidInput,
            ),
        ];
        for (e, code) in cases {
            assert_eq!(ApiError::from(e).code, code);
        }
    }

    #[test]
    fn internal_errors_hide_the_cause() {
        let e = ApiError::from(StoreError::Database("password=secret in dsn".into()));
        assert!(!e.message.contains("secret"));
    }

    #[test]
    fn validation_lists_every_problem() {
        let mut v = ValidationError::default();
        v.push(Invalid::new("a", "bad a"));
        v.push(Invalid::new("b", "bad b"));
        let e = ApiError::validation(v);
        let details = e.details.unwrap();
        assert_eq!(details.as_array().unwrap().len(), 2);
        assert_eq!(details[1]["field"], "b");
    }
}
