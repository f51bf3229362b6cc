//! 综合评价: indicators, composite scores and grades of a period and scope
//! (DOMAIN.md §5), as JSON or CSV, and the headline figures.

use crate::error::{ApiError, ApiResult};
use crate::extract::{CurrentUser, Json, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chengyun_domain::Invalid;
use chengyun_domain::auth::Permission;
use chengyun_domain::case::evaluation::Headline;
use chengyun_domain::codes::AreaLevel;
use chengyun_services::case::{EvaluationGroup, EvaluationQuery, EvaluationReport};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

/// The period, scope and breakdown of an evaluation.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EvaluationParams {
    /// Start of the period (RFC 3339, inclusive).
    pub from: Option<DateTime<Utc>>,
    /// End of the period (RFC 3339, exclusive).
    pub to: Option<DateTime<Utc>>,
    /// `total` (default), `area`, `department` or `position`.
    pub group: Option<String>,
    /// For `group=area`: `district` (default), `street` or `community`.
    pub level: Option<String>,
    /// Only this area (must lie in the caller's scope); default the caller's scope.
    pub area: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

fn within(me: &CurrentUser, area: Option<&str>) -> ApiResult<Option<String>> {
    match area {
        Some(a) => {
            me.require_in_scope(a)?;
            Ok(Some(a.to_string()))
        }
        None => Ok(me.scope.prefix().map(str::to_string)),
    }
}

fn group_of(p: &EvaluationParams) -> ApiResult<EvaluationGroup> {
    Ok(match p.group.as_deref().unwrap_or("total") {
        "total" => EvaluationGroup::Total,
        "department" => EvaluationGroup::Department,
        "position" => EvaluationGroup::Position,
        "area" => {
            let level = match p.level.as_deref().unwrap_or("district") {
                "district" => AreaLevel::District,
                "street" => AreaLevel::Street,
                "community" => AreaLevel::Community,
                other => {
                    return Err(Invalid::new(
                        "level",
                        format!("{other:?}: areas are evaluated by district, street or community"),
                    )
                    .into());
                }
            };
            EvaluationGroup::Area { level }
        }
        other => {
            return Err(Invalid::new(
                "group",
                format!("{other:?}: group by total, area, department or position"),
            )
            .into());
        }
    })
}

/// The evaluation of a period in the caller's scope, grouped by area,
/// department or position. `format=csv` answers `text/csv` (one row per group).
#[utoipa::path(
    get,
    path = "/api/v1/evaluation",
    tag = "evaluation",
    params(EvaluationParams),
    responses(
        (status = 200, description = "The report (JSON) or its CSV", body = EvaluationReport),
    ),
    security(("session" = []), ("token" = []))
)]
pub async fn evaluation(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(p): Query<EvaluationParams>,
) -> ApiResult<Response> {
    me.require(Permission::ReadCity)?;
    let csv = match p.format.as_deref().unwrap_or("json") {
        "json" => false,
        "csv" => true,
        other => {
            return Err(Invalid::new("format", format!("{other:?}: use json or csv")).into());
        }
    };
    let query = EvaluationQuery {
        from: p.from,
        to: p.to,
        within: within(&me, p.area.as_deref())?,
        group: group_of(&p)?,
    };
    let report = state
        .cases()
        .evaluate(&query)
        .await
        .map_err(ApiError::from)?;
    if csv {
        Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"evaluation.csv\"",
                ),
            ],
            report.to_csv(),
        )
            .into_response())
    } else {
        Ok(Json(report).into_response())
    }
}

/// A period and scope for the headline figures.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HeadlineParams {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub area: Option<String>,
}

/// Matters reported, handled and the completion rate, in the caller's scope.
#[utoipa::path(
    get,
    path = "/api/v1/evaluation/headline",
    tag = "evaluation",
    params(HeadlineParams),
    responses((status = 200, description = "The headline figures", body = Object)),
    security(("session" = []), ("token" = []))
)]
pub async fn headline(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(p): Query<HeadlineParams>,
) -> ApiResult<Json<Headline>> {
    me.require(Permission::ReadCity)?;
    let h = state
        .cases()
        .headline(p.from, p.to, within(&me, p.area.as_deref())?)
        .await?;
    Ok(Json(h))
}
