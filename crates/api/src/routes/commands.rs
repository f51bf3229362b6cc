//! The one command interface over HTTP: `POST /api/v1/devices/{id}/commands`
//! answers the tracked [`CommandRecord`] (202: queued, or already failed when
//! the device is not connected); its status then moves to sent, acknowledged,
//! failed or timed out — read it at `GET /api/v1/commands/{id}` or follow
//! `command.changed` on the live feed.
//!
//! A device the caller may not see is 404; one they may only read is 403
//! `forbidden` (see [`super::devices`]). Parameters are checked against the
//! product's command definition: a wrong one is 400 naming the parameter.

use super::devices::Viewer;
use crate::error::{ApiError, ApiResult};
use crate::extract::{CurrentUser, Json, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chengyun_domain::auth::Permission as CityPermission;
use chengyun_domain::iot::{Permission, Value};
use chengyun_store::CommandRecord;
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A command to send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandBody {
    /// A command id of the device's product (see `commands` of GET /devices/{id}).
    pub command: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, Value>,
}

/// Sends a command to a device.
#[utoipa::path(post, path = "/api/v1/devices/{id}/commands", tag = "iot",
    params(("id" = String, Path, description = "Device id")),
    request_body = CommandBody,
    responses((status = 202, description = "Accepted and tracked", body = CommandRecord)),
    security(("session" = []), ("token" = [])))]
pub async fn send(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<CommandBody>,
) -> ApiResult<(StatusCode, Json<CommandRecord>)> {
    me.require(CityPermission::ReadCity)?;
    let viewer = Viewer::of(&me);
    let iot = state.iot();
    let device = viewer.commandable(iot, &id)?;
    let rec = iot
        .send(
            &device.id,
            &body.command,
            body.params,
            &viewer.command_actor(),
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(rec)))
}

/// One command and its status.
#[utoipa::path(get, path = "/api/v1/commands/{id}", tag = "iot",
    params(("id" = i64, Path, description = "Command id")),
    responses((status = 200, description = "The command", body = CommandRecord)),
    security(("session" = []), ("token" = [])))]
pub async fn get(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<CommandRecord>> {
    me.require(CityPermission::ReadCity)?;
    let viewer = Viewer::of(&me);
    let iot = state.iot();
    let rec = iot
        .command(id)
        .await?
        .filter(|c| viewer.may(iot, &c.device_id, Permission::Read))
        .ok_or_else(|| ApiError::not_found(format!("command {id}")))?;
    Ok(Json(rec))
}
