//! Extractors. The wrappers around axum's `Json`, `Query` and `Path` turn
//! axum's own rejections into [`ApiError`]s, so malformed input gets the same
//! error shape as everything else. [`CurrentUser`] authenticates the caller.

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chengyun_domain::audit::Actor;
use chengyun_domain::auth::{Permission, Scope, User};
use chengyun_domain::codes::DivisionCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "cy_session";

/// A JSON body (or response). Bodies are strict: request types use
/// `#[serde(deny_unknown_fields)]`, and an unknown field is `unknown_field`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the body needs the header Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(b) => bytes_rejection(b),
        JsonRejection::JsonDataError(e) => {
            let text = e.body_text();
            let detail = text
                .split_once(": ")
                .map(|(_, d)| d.to_string())
                .unwrap_or(text);
            if detail.contains("unknown field") {
                ApiError::new(ErrorCode::UnknownField, detail)
            } else {
                ApiError::new(ErrorCode::InvalidJson, detail)
            }
        }
        JsonRejection::JsonSyntaxError(e) => {
            let text = e.body_text();
            let detail = text
                .split_once(": ")
                .map(|(_, d)| d.to_string())
                .unwrap_or(text);
            ApiError::new(
                ErrorCode::InvalidJson,
                format!("the body is not valid JSON: {detail}"),
            )
        }
        other => ApiError::new(ErrorCode::InvalidJson, other.body_text()),
    }
}

fn bytes_rejection(b: BytesRejection) -> ApiError {
    if b.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            "the body is larger than this endpoint accepts",
        )
    } else {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!("could not read the body: {}", b.body_text()),
        )
    }
}

/// The raw body of an upload (imports), limited by the route's body limit.
#[derive(Debug, Clone)]
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(bytes_rejection)
    }
}

/// Query parameters; a value that does not parse is `invalid_query`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                let text = e.body_text();
                let detail = text
                    .split_once(": ")
                    .map(|(_, d)| d.to_string())
                    .unwrap_or(text);
                Err(ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("bad query parameters: {detail}"),
                ))
            }
            Err(other) => Err(ApiError::new(ErrorCode::InvalidQuery, other.body_text())),
        }
    }
}

/// Path parameters; a segment that does not parse is `invalid_path`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(ApiError::new(
                ErrorCode::InvalidPath,
                format!("bad path: {}", e.body_text()),
            )),
            Err(other) => Err(ApiError::internal(other.body_text())),
        }
    }
}

/// The id of the request, from a sane incoming `x-request-id` or a new UUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Where the request came from and under which id: everything an [`Actor`]
/// needs besides the user.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

impl RequestContext {
    /// The actor for audit records of an anonymous request (e.g. a login).
    pub fn anonymous_actor(&self, name: &str) -> Actor {
        Actor {
            user_id: None,
            name: name.to_string(),
            ip: self.ip.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

impl FromRequestParts<AppState> for RequestContext {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(context_of(parts, state))
    }
}

fn context_of(parts: &Parts, state: &AppState) -> RequestContext {
    let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone());
    let forwarded = if state.config().trust_forwarded_for {
        parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_string())
            .filter(|v| v.parse::<std::net::IpAddr>().is_ok())
    } else {
        None
    };
    let ip = forwarded.or_else(|| {
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string())
    });
    RequestContext { request_id, ip }
}

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// The session cookie; holds the cookie secret (for logout).
    Session(String),
    /// An API token; holds its id.
    Token(i64),
}

/// The authenticated caller: the user, the part of the city they may see, and
/// the actor to record in the audit log. Missing, expired or revoked
/// credentials and disabled users are `unauthenticated` (401).
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub scope: Scope,
    pub actor: Actor,
    pub credential: Credential,
}

impl CurrentUser {
    /// `forbidden` unless the user's roles allow `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if permission.allowed(&self.user.roles) {
            Ok(())
        } else {
            let action = match permission {
                Permission::ReadCity => "reading the city model",
                Permission::ManageCity => "changing the city model",
                Permission::ManageUsers => "managing users and reading the audit log",
            };
            Err(ApiError::forbidden(action))
        }
    }

    /// `out_of_scope` unless the area with this code lies in the caller's scope.
    pub fn require_in_scope(&self, code: &str) -> Result<(), ApiError> {
        if self.scope.contains_str(code) {
            Ok(())
        } else {
            Err(ApiError::out_of_scope(code))
        }
    }

    pub fn is_admin(&self) -> bool {
        Permission::ManageUsers.allowed(&self.user.roles)
    }
}

/// The value of cookie `name` in the request's Cookie headers.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<CurrentUser>() {
            return Ok(user.clone());
        }
        let store = state.store();
        let now = chrono::Utc::now();
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|v| v.trim().to_string());
        let (user, credential) = if let Some(secret) = bearer {
            match chengyun_services::auth::authenticate_token(store.as_ref(), &secret, now).await? {
                Some((token, user)) => (user, Credential::Token(token.id)),
                None => {
                    return Err(ApiError::unauthenticated(
                        "the API token is unknown, expired or revoked, or its user is disabled",
                    ));
                }
            }
        } else if let Some(secret) = cookie(parts, SESSION_COOKIE) {
            match chengyun_services::auth::authenticate_session(store.as_ref(), &secret, now)
                .await?
            {
                Some(user) => (user, Credential::Session(secret)),
                None => {
                    return Err(ApiError::unauthenticated(
                        "the session has expired or ended; log in again",
                    ));
                }
            }
        } else {
            return Err(ApiError::unauthenticated(
                "log in (POST /api/v1/auth/login) or send Authorization: Bearer <API token>",
            ));
        };
        if user.disabled {
            return Err(ApiError::unauthenticated("the account is disabled"));
        }
        let scope = scope_of(state, &user).await?;
        let ctx = context_of(parts, state);
        let actor = Actor {
            user_id: Some(user.id),
            name: user.username.clone(),
            ip: ctx.ip,
            request_id: ctx.request_id,
        };
        let current = CurrentUser {
            user,
            scope,
            actor,
            credential,
        };
        parts.extensions.insert(current.clone());
        Ok(current)
    }
}

/// The scope of a user: from their department's tier and area.
pub async fn scope_of(state: &AppState, user: &User) -> Result<Scope, ApiError> {
    let department = match &user.department_code {
        Some(code) => state.store().department(code).await?,
        None => None,
    };
    let dept: Option<(chengyun_domain::city::Tier, DivisionCode)> =
        department.map(|d| (d.tier, d.area_code));
    Ok(Scope::of(
        &user.roles,
        dept.as_ref().map(|(tier, area)| (*tier, area)),
    ))
}
