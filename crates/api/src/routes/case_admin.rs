//! Administration of the case loop: dispatch (responsibility) rules and the
//! editable settings (work calendar, limit standard, workflow rules,
//! evaluation configuration, dedupe distances). Every change is audited and
//! the case service reloads at once.

use crate::error::{ApiError, ApiResult};
use crate::extract::{CurrentUser, Json, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chengyun_domain::Invalid;
use chengyun_domain::audit::AuditEvent;
use chengyun_domain::auth::Permission;
use chengyun_domain::case::calendar::{
    LimitStandard, MatterPattern, WorkCalendar, WorkCalendarConfig,
};
use chengyun_domain::case::evaluation::EvaluationConfig;
use chengyun_domain::case::workflow::WorkflowRules;
use chengyun_domain::city::Position;
use chengyun_services::case::{DedupeSettings, settings_keys};
use chengyun_store::DispatchRule;
use serde::Deserialize;
use utoipa::ToSchema;

/// Dispatch rules are kept by administrators and dispatchers; a dispatcher
/// only for rules inside their scope (a `*` area only for whole-city users).
fn require_rule_keeper(me: &CurrentUser, area: Option<&str>) -> ApiResult<()> {
    if me.is_admin() {
        return Ok(());
    }
    if !me.user.roles.contains(&Position::Dispatcher) {
        return Err(ApiError::forbidden(
            "keeping dispatch rules (admin or dispatcher)",
        ));
    }
    match area {
        None => Ok(()),
        Some("*") if matches!(me.scope, chengyun_domain::auth::Scope::All) => Ok(()),
        Some("*") => Err(ApiError::out_of_scope("a rule for the whole city (area *)")),
        Some(code) => me.require_in_scope(code),
    }
}

/// Reloads this node's case service and has the other nodes on the bus
/// reload theirs.
async fn reload(state: &AppState) -> ApiResult<()> {
    state.cases().reload().await.map_err(ApiError::from)?;
    state.announce_change("case_settings", 1);
    Ok(())
}

/// Every dispatch rule, by id.
#[utoipa::path(
    get,
    path = "/api/v1/dispatch-rules",
    tag = "case admin",
    responses((status = 200, description = "The rules", body = Vec<DispatchRule>)),
    security(("session" = []), ("token" = []))
)]
pub async fn list_rules(
    State(state): State<AppState>,
    me: CurrentUser,
) -> ApiResult<Json<Vec<DispatchRule>>> {
    require_rule_keeper(&me, None)?;
    Ok(Json(state.store().dispatch_rules().await?))
}

/// A responsibility rule: cases of `matter_pattern` in `area_code` go to `department_code`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    /// `01001`, `01*` or `*`.
    pub matter_pattern: String,
    /// An area code (prefix) or `*`.
    pub area_code: String,
    pub department_code: String,
    #[serde(default)]
    pub priority: i64,
    /// Let the system register and dispatch cases of automatic sources (IoT, AI).
    #[serde(default)]
    pub auto_dispatch: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub note: Option<String>,
}

fn yes() -> bool {
    true
}

impl RuleBody {
    fn into_rule(self, id: i64) -> ApiResult<DispatchRule> {
        let mut problems = chengyun_domain::ValidationError::default();
        let matter = self.matter_pattern.trim().to_string();
        if matter != "*"
            && let Err(e) = MatterPattern::parse(&matter)
        {
            problems.push(Invalid::new("matter_pattern", e.message));
        }
        let area = self.area_code.trim().to_string();
        if area != "*"
            && (area.is_empty() || !area.bytes().all(|b| b.is_ascii_digit()) || area.len() > 12)
        {
            problems.push(Invalid::new(
                "area_code",
                format!("{area:?} must be * or an area code (prefix) of up to 12 digits"),
            ));
        }
        if self.department_code.trim().is_empty() {
            problems.push(Invalid::new(
                "department_code",
                "name the department the cases go to",
            ));
        }
        if let Some(n) = &self.note
            && n.chars().count() > 500
        {
            problems.push(Invalid::new("note", "at most 500 characters"));
        }
        problems.into_result()?;
        Ok(DispatchRule {
            id,
            matter_pattern: matter,
            area_code: area,
            department_code: self.department_code.trim().to_string(),
            priority: self.priority,
            auto_dispatch: self.auto_dispatch,
            enabled: self.enabled,
            note: self.note,
        })
    }
}

/// Adds a dispatch rule (the department must exist).
#[utoipa::path(
    post,
    path = "/api/v1/dispatch-rules",
    tag = "case admin",
    request_body = RuleBody,
    responses((status = 201, description = "Stored", body = DispatchRule)),
    security(("session" = []), ("token" = []))
)]
pub async fn create_rule(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<RuleBody>,
) -> ApiResult<(StatusCode, Json<DispatchRule>)> {
    let rule = body.into_rule(0)?;
    require_rule_keeper(&me, Some(&rule.area_code))?;
    let audit = AuditEvent::new(&me.actor, "dispatch_rule.create", "dispatch_rule", "")
        .with(serde_json::to_value(&rule).unwrap_or_default());
    let saved = state.store().put_dispatch_rule(&rule, &audit).await?;
    reload(&state).await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

async fn existing_rule(state: &AppState, id: i64) -> ApiResult<DispatchRule> {
    state
        .store()
        .dispatch_rules()
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| ApiError::not_found(format!("dispatch rule {id}")))
}

/// Replaces a dispatch rule.
#[utoipa::path(
    put,
    path = "/api/v1/dispatch-rules/{id}",
    tag = "case admin",
    params(("id" = i64, Path, description = "Rule id")),
    request_body = RuleBody,
    responses((status = 200, description = "Stored", body = DispatchRule)),
    security(("session" = []), ("token" = []))
)]
pub async fn update_rule(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Json(body): Json<RuleBody>,
) -> ApiResult<Json<DispatchRule>> {
    let old = existing_rule(&state, id).await?;
    require_rule_keeper(&me, Some(&old.area_code))?;
    let rule = body.into_rule(id)?;
    require_rule_keeper(&me, Some(&rule.area_code))?;
    let audit = AuditEvent::new(
        &me.actor,
        "dispatch_rule.update",
        "dispatch_rule",
        id.to_string(),
    )
    .with(serde_json::json!({ "before": old, "after": rule }));
    let saved = state.store().put_dispatch_rule(&rule, &audit).await?;
    reload(&state).await?;
    Ok(Json(saved))
}

/// Deletes a dispatch rule.
#[utoipa::path(
    delete,
    path = "/api/v1/dispatch-rules/{id}",
    tag = "case admin",
    params(("id" = i64, Path, description = "Rule id")),
    responses((status = 204, description = "Deleted")),
    security(("session" = []), ("token" = []))
)]
pub async fn delete_rule(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let old = existing_rule(&state, id).await?;
    require_rule_keeper(&me, Some(&old.area_code))?;
    let audit = AuditEvent::new(
        &me.actor,
        "dispatch_rule.delete",
        "dispatch_rule",
        id.to_string(),
    )
    .with(serde_json::to_value(&old).unwrap_or_default());
    state.store().delete_dispatch_rule(id, &audit).await?;
    reload(&state).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The editable settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SettingKind {
    Calendar,
    Limits,
    Workflow,
    Evaluation,
    Dedupe,
}

impl SettingKind {
    fn parse(raw: &str) -> ApiResult<Self> {
        Ok(match raw {
            "calendar" => Self::Calendar,
            "limits" => Self::Limits,
            "workflow" => Self::Workflow,
            "evaluation" => Self::Evaluation,
            "dedupe" => Self::Dedupe,
            other => {
                return Err(ApiError::not_found(format!(
                    "setting {other:?} (use calendar, limits, workflow, evaluation or dedupe)"
                )));
            }
        })
    }

    fn key(self) -> &'static str {
        match self {
            Self::Calendar => settings_keys::CALENDAR,
            Self::Limits => settings_keys::LIMITS,
            Self::Workflow => settings_keys::WORKFLOW,
            Self::Evaluation => settings_keys::EVALUATION,
            Self::Dedupe => settings_keys::DEDUPE,
        }
    }
}

/// A setting in force (the stored value, or the default when none is stored).
#[utoipa::path(
    get,
    path = "/api/v1/settings/{kind}",
    tag = "case admin",
    params(("kind" = String, Path, description = "calendar, limits, workflow, evaluation or dedupe")),
    responses((status = 200, description = "The setting as JSON (WorkCalendarConfig, LimitStandard, WorkflowRules, EvaluationConfig or DedupeSettings)", body = Object)),
    security(("session" = []), ("token" = []))
)]
pub async fn get_setting(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(kind): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    me.require(Permission::ReadCity)?;
    let kind = SettingKind::parse(&kind)?;
    let s = state.cases().settings();
    let v = match kind {
        SettingKind::Calendar => serde_json::to_value(s.calendar.config()),
        SettingKind::Limits => serde_json::to_value(&s.limits),
        SettingKind::Workflow => serde_json::to_value(&s.rules),
        SettingKind::Evaluation => serde_json::to_value(&s.evaluation),
        SettingKind::Dedupe => serde_json::to_value(s.dedupe),
    }
    .map_err(ApiError::internal)?;
    Ok(Json(v))
}

fn parse_as<T: serde::de::DeserializeOwned>(kind: &str, v: serde_json::Value) -> ApiResult<T> {
    serde_json::from_value(v).map_err(|e| {
        ApiError::invalid(Invalid::new(
            kind,
            format!("does not have the shape of this setting: {e}"),
        ))
    })
}

/// Replaces a setting (admin). The value is validated before it is stored
/// (a calendar must build, limits and evaluation weights must check out);
/// the change is audited with the previous value and applies at once.
#[utoipa::path(
    put,
    path = "/api/v1/settings/{kind}",
    tag = "case admin",
    params(("kind" = String, Path, description = "calendar, limits, workflow, evaluation or dedupe")),
    request_body(content = Object, description = "The whole setting"),
    responses((status = 200, description = "The setting now in force", body = Object)),
    security(("session" = []), ("token" = []))
)]
pub async fn put_setting(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(kind_raw): Path<String>,
    Json(value): Json<serde_json::Value>,
) -> ApiResult<Json<serde_json::Value>> {
    me.require(Permission::ManageCity)?;
    let kind = SettingKind::parse(&kind_raw)?;
    // Normalise through the typed form, so what is stored is what parses.
    let normal = match kind {
        SettingKind::Calendar => {
            let cfg: WorkCalendarConfig = parse_as(&kind_raw, value)?;
            WorkCalendar::new(cfg.clone())?;
            serde_json::to_value(cfg)
        }
        SettingKind::Limits => {
            let l: LimitStandard = parse_as(&kind_raw, value)?;
            l.validate()?;
            serde_json::to_value(l)
        }
        SettingKind::Workflow => {
            let r: WorkflowRules = parse_as(&kind_raw, value)?;
            serde_json::to_value(r)
        }
        SettingKind::Evaluation => {
            let e: EvaluationConfig = parse_as(&kind_raw, value)?;
            e.validate()?;
            serde_json::to_value(e)
        }
        SettingKind::Dedupe => {
            let d: DedupeSettings = parse_as(&kind_raw, value)?;
            if !(d.radius_m.is_finite() && d.radius_m >= 0.0 && d.radius_m <= 10_000.0) {
                return Err(
                    Invalid::new("radius_m", "the dedupe radius must be 0-10000 metres").into(),
                );
            }
            if d.window_hours > 24 * 365 {
                return Err(Invalid::new(
                    "window_hours",
                    "the dedupe window may be at most a year",
                )
                .into());
            }
            serde_json::to_value(d)
        }
    }
    .map_err(ApiError::internal)?;
    let before = state.store().setting(kind.key()).await?;
    let audit = AuditEvent::new(&me.actor, "setting.update", "setting", kind.key())
        .with(serde_json::json!({ "before": before, "after": normal }));
    state
        .store()
        .put_setting(kind.key(), &normal, &audit)
        .await?;
    reload(&state).await?;
    Ok(Json(normal))
}
