//! The city's rule set: declarative rules, versioned. `PUT` saves a new
//! version after validating every rule against the products (400
//! `invalid_input` listing every problem as `{field, message}`, e.g.
//! `rules[2].condition.property`); export answers the JSON document that
//! import takes back. Reading needs only `ReadCity`; writing is for admins.

use crate::error::{ApiError, ApiResult};
use crate::extract::{CurrentUser, Json, Path, Query};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chengyun_domain::auth::Permission;
use chengyun_domain::iot::{Product, RuleSet};
use chengyun_store::StoredRuleSet;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A stored version of the rule set.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleSetVersion {
    /// 0 when no version was saved yet (no rules).
    pub version: i64,
    pub note: Option<String>,
    pub created_by: String,
    pub created_at: Option<DateTime<Utc>>,
    pub rule_count: usize,
    /// The rules (`format_version`, `rules`); omitted in the version list.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub rule_set: Option<RuleSet>,
}

fn version_of(s: StoredRuleSet, with_rules: bool) -> RuleSetVersion {
    RuleSetVersion {
        version: s.version,
        note: s.note,
        created_by: s.created_by,
        created_at: Some(s.created_at),
        rule_count: s.rules.rules.len(),
        rule_set: with_rules.then_some(s.rules),
    }
}

fn empty() -> RuleSetVersion {
    RuleSetVersion {
        version: 0,
        note: None,
        created_by: String::new(),
        created_at: None,
        rule_count: 0,
        rule_set: Some(RuleSet {
            format_version: 1,
            rules: Vec::new(),
        }),
    }
}

/// The current rule set.
#[utoipa::path(get, path = "/api/v1/rules", tag = "iot",
    responses((status = 200, description = "The latest version with its rules", body = RuleSetVersion)),
    security(("session" = []), ("token" = [])))]
pub async fn current(
    State(state): State<AppState>,
    me: CurrentUser,
) -> ApiResult<Json<RuleSetVersion>> {
    me.require(Permission::ReadCity)?;
    Ok(Json(match state.store().rule_set(None).await? {
        Some(s) => version_of(s, true),
        None => empty(),
    }))
}

/// A new version of the rule set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesBody {
    /// `{format_version, rules}` as exported.
    #[schema(value_type = Object)]
    pub rule_set: RuleSet,
    /// Why this version (shown in the version list).
    pub note: Option<String>,
}

async fn save(
    state: &AppState,
    me: &CurrentUser,
    set: RuleSet,
    note: Option<&str>,
) -> ApiResult<RuleSetVersion> {
    let version = state.iot().save_rules(set, note, &me.actor).await?;
    let stored = state
        .store()
        .rule_set(Some(version))
        .await?
        .ok_or_else(|| ApiError::internal(format!("rule set version {version} vanished")))?;
    Ok(version_of(stored, true))
}

/// Saves a new version (admin); validated against the products.
#[utoipa::path(put, path = "/api/v1/rules", tag = "iot",
    request_body = RulesBody,
    responses((status = 200, description = "The saved version", body = RuleSetVersion)),
    security(("session" = []), ("token" = [])))]
pub async fn put(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<RulesBody>,
) -> ApiResult<Json<RuleSetVersion>> {
    me.require(Permission::ManageCity)?;
    Ok(Json(
        save(&state, &me, body.rule_set, body.note.as_deref()).await?,
    ))
}

/// Every version, newest first (without their rules).
#[utoipa::path(get, path = "/api/v1/rules/versions", tag = "iot",
    responses((status = 200, description = "Versions", body = [RuleSetVersion])),
    security(("session" = []), ("token" = [])))]
pub async fn versions(
    State(state): State<AppState>,
    me: CurrentUser,
) -> ApiResult<Json<Vec<RuleSetVersion>>> {
    me.require(Permission::ReadCity)?;
    let all = state.store().rule_sets().await?;
    Ok(Json(
        all.into_iter().map(|s| version_of(s, false)).collect(),
    ))
}

/// One version with its rules.
#[utoipa::path(get, path = "/api/v1/rules/versions/{version}", tag = "iot",
    params(("version" = i64, Path, description = "Version number")),
    responses((status = 200, description = "The version", body = RuleSetVersion)),
    security(("session" = []), ("token" = [])))]
pub async fn version(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(v): Path<i64>,
) -> ApiResult<Json<RuleSetVersion>> {
    me.require(Permission::ReadCity)?;
    match state.store().rule_set(Some(v)).await? {
        Some(s) => Ok(Json(version_of(s, true))),
        None => Err(ApiError::not_found(format!("rule set version {v}"))),
    }
}

/// Which version to export.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// A version number; the latest when absent.
    pub version: Option<i64>,
}

/// The rule set as a JSON document to download (and import elsewhere).
#[utoipa::path(get, path = "/api/v1/rules/export", tag = "iot",
    params(ExportParams),
    responses((status = 200, description = "`{format_version, rules}` as an attachment", body = Object)),
    security(("session" = []), ("token" = [])))]
pub async fn export(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(p): Query<ExportParams>,
) -> ApiResult<Response> {
    me.require(Permission::ReadCity)?;
    let (set, version) = match state.store().rule_set(p.version).await? {
        Some(s) => (s.rules, s.version),
        None if p.version.is_none() => (
            RuleSet {
                format_version: 1,
                rules: Vec::new(),
            },
            0,
        ),
        None => {
            return Err(ApiError::not_found(format!(
                "rule set version {}",
                p.version.unwrap_or_default()
            )));
        }
    };
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"chengyun-rules-v{version}.json\""),
            ),
        ],
        set.to_json(),
    )
        .into_response())
}

/// Import options.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Note of the new version (default `imported`).
    pub note: Option<String>,
}

/// Imports an exported rule set as a new version (admin). The body is the
/// exported document; a broken one is 400 naming line, column and rule.
#[utoipa::path(post, path = "/api/v1/rules/import", tag = "iot",
    params(ImportParams),
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, description = "The saved version", body = RuleSetVersion)),
    security(("session" = []), ("token" = [])))]
pub async fn import(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(p): Query<ImportParams>,
    body: Bytes,
) -> ApiResult<Json<RuleSetVersion>> {
    me.require(Permission::ManageCity)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| chengyun_domain::Invalid::new("body", "the rule set is not UTF-8 text"))?;
    let products: Vec<Product> = state.store().products().await?;
    let set = RuleSet::from_json(text, &products)?;
    let note = p.note.unwrap_or_else(|| "imported".into());
    Ok(Json(save(&state, &me, set, Some(&note)).await?))
}
