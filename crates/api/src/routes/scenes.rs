//! Scene flows across cases and devices: the track of a theft case's
//! tracker, and the scenario packs' KPIs (e-bike solved/recovered rates,
//! weigh-in-motion over-limit rate per station and day).

use super::cases::actor_of;
use crate::error::ApiResult;
use crate::extract::{CurrentUser, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chengyun_domain::auth::Permission;
use chengyun_services::case::{CaseView, NewCase};
use chengyun_services::iot::KpiValue;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

/// The track (GeoJSON Feature with a LineString) of the device a case is
/// linked to, from the report until the case closed (or now): what the police
/// follow after a theft report. Scoped like the case itself.
#[utoipa::path(get, path = "/api/v1/cases/{id}/track", tag = "cases",
    params(("id" = i64, Path, description = "Case id")),
    responses((status = 200, description = "GeoJSON Feature", body = Object)),
    security(("session" = []), ("token" = [])))]
pub async fn case_track(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<serde_json::Value>> {
    me.require(Permission::ReadCity)?;
    let actor = actor_of(&state, &me);
    let track = state.iot().case_track(id, &actor).await?;
    Ok(Json(super::devices::track_feature(
        &track.device_id,
        track.from,
        track.to,
        &track.fixes,
    )))
}

/// Reports a stolen e-bike (被盗报案): a theft case linked to the bike's
/// tracker (`device_id`, required; `source` public by default or hotline),
/// and the tracker is armed so that any movement raises an alarm. Follow it at
/// `GET /api/v1/cases/{id}/track`; close it with `outcome {solved, recovered}`
/// (which disarms the tracker and feeds the pack's KPIs).
#[utoipa::path(post, path = "/api/v1/iot/theft-reports", tag = "iot",
    request_body = NewCase,
    responses((status = 201, description = "The theft case", body = CaseView)),
    security(("session" = []), ("token" = [])))]
pub async fn report_theft(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<NewCase>,
) -> ApiResult<(StatusCode, Json<CaseView>)> {
    me.require(Permission::ReadCity)?;
    let actor = actor_of(&state, &me);
    let view = state.iot().report_theft(body, &actor).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The period and pack of a KPI query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KpiParams {
    /// Scenario pack key: `ebike_antitheft` or `weigh_in_motion`.
    pub pack: String,
    /// Start (RFC 3339); default 30 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End (RFC 3339, exclusive); default now.
    pub to: Option<DateTime<Utc>>,
}

/// A scenario pack's KPIs over a period, computed with the pack's own
/// formulas: e-bike anti-theft solved % and recovered % over theft cases
/// closed in the period; weigh-in-motion over-limit rate per station and day.
#[utoipa::path(get, path = "/api/v1/iot/kpis", tag = "iot",
    params(KpiParams),
    responses((status = 200, description = "One value per KPI and group", body = Vec<KpiValue>)),
    security(("session" = []), ("token" = [])))]
pub async fn pack_kpis(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(p): Query<KpiParams>,
) -> ApiResult<Json<Vec<KpiValue>>> {
    me.require(Permission::ReadCity)?;
    let to = p.to.unwrap_or_else(Utc::now);
    let from = p.from.unwrap_or(to - Duration::days(30));
    Ok(Json(state.iot().pack_kpis(&p.pack, from, to).await?))
}
