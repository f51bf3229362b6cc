//! Cases (事件): intake, lists, the detail view, workflow actions, merging,
//! dispatch suggestions, attachments and matter-code suggestions.
//!
//! Who may do what is the workflow's business ([`chengyun_domain::case::workflow`]):
//! the handlers only authenticate, check the caller's scope and pass the
//! caller's positions and department to the [`chengyun_services::case::CaseService`].
//! A refused action is 409 `refused_action` with `details` = `{action,
//! state, state_label, reason, message, allowed}`.
//!
//! Scope: a case is in the caller's scope when its area is; a case without
//! an area only for whole-city users. Reading or acting on a case outside
//! is 403 `out_of_scope`; lists are filtered silently.

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{CurrentUser, Json, Path, Query, RawBody};
use crate::pagination::{PageParams, Paged};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chengyun_domain::auth::{Permission, Scope};
use chengyun_domain::case::workflow::{ActionRequest, CaseState, Source};
use chengyun_services::case::{
    CaseActor, CaseSummary, CaseView, DispatchDecision, MatterSuggestion, NewCase,
    sniff_content_type,
};
use chengyun_store::{AttachmentMeta, CaseQuery, CaseRecord};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// The header that makes a POST safe to retry.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The case actor of the caller.
pub(crate) fn actor_of(state: &AppState, me: &CurrentUser) -> CaseActor {
    state.cases().actor(&me.user, me.actor.clone())
}

/// `out_of_scope` unless the case lies in the caller's scope.
pub(crate) fn require_case_scope(me: &CurrentUser, case: &CaseRecord) -> ApiResult<()> {
    match &case.data.area_code {
        Some(area) => me.require_in_scope(area),
        None if matches!(me.scope, Scope::All) => Ok(()),
        None => Err(ApiError::out_of_scope(format!(
            "case {} (it has no area; only whole-city users see it)",
            case.number
        ))),
    }
}

async fn load_in_scope(state: &AppState, me: &CurrentUser, id: i64) -> ApiResult<CaseRecord> {
    let case = state
        .store()
        .case(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("case {id}")))?;
    require_case_scope(me, &case)?;
    Ok(case)
}

/// Reports a new case. With `Idempotency-Key`, a retry with the same body
/// answers the first result; the same key with another body is 409
/// `idempotency_conflict`. Without a matter code the answer carries
/// `suggestions`; a likely duplicate is flagged in `case.likely_duplicate_of`.
#[utoipa::path(
    post,
    path = "/api/v1/cases",
    tag = "cases",
    request_body = NewCase,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST answer the first result (≤ 255 characters)")),
    responses((status = 201, description = "The new case (or the first result of a retried key)", body = CaseView)),
    security(("session" = []), ("token" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    headers: HeaderMap,
    Json(body): Json<NewCase>,
) -> ApiResult<(StatusCode, Json<CaseView>)> {
    me.require(Permission::ReadCity)?;
    let key = headers
        .get(IDEMPOTENCY_KEY)
        .map(|v| {
            v.to_str().map_err(|_| {
                ApiError::invalid(chengyun_domain::Invalid::new(
                    "Idempotency-Key",
                    "the key must be visible ASCII",
                ))
            })
        })
        .transpose()?;
    let actor = actor_of(&state, &me);
    let view = state.cases().intake(body, &actor, key).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Filters of the case list; every one narrows the list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseFilter {
    /// Comma-separated states (`reported,dispatched`).
    pub state: Option<String>,
    /// Held now by this department.
    pub holder: Option<String>,
    /// Dispatched to this department.
    pub handling: Option<String>,
    /// Managed by this command center.
    pub center: Option<String>,
    /// Within this area (must lie in the caller's scope).
    pub area: Option<String>,
    /// Matter code or prefix (`01` = every 01xxx matter).
    pub matter: Option<String>,
    /// inspector, public, hotline, video_ai, iot_alarm, upper_level, self_found.
    pub source: Option<String>,
    pub overdue: Option<bool>,
    /// true = not closed or cancelled; false = closed or cancelled.
    pub open: Option<bool>,
    /// Text in the number, title, description or address.
    pub q: Option<String>,
    /// Reported at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Reported before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// My queue: open cases held by my department on which I may act now.
    /// Pages may then hold fewer items than `limit` while `next_cursor` is set.
    pub mine: Option<bool>,
}

fn parse_states(raw: &str) -> ApiResult<Vec<CaseState>> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            CaseState::ALL
                .into_iter()
                .find(|st| st.as_str() == s || st.label_zh() == s)
                .ok_or_else(|| {
                    ApiError::invalid(chengyun_domain::Invalid::new(
                        "state",
                        format!(
                            "{s:?} is not a case state; use one of {}",
                            CaseState::ALL.map(|s| s.as_str()).join(", ")
                        ),
                    ))
                })
        })
        .collect()
}

pub(crate) fn parse_source(raw: &str) -> ApiResult<Source> {
    Source::ALL
        .into_iter()
        .find(|s| s.as_str() == raw.trim())
        .ok_or_else(|| {
            ApiError::invalid(chengyun_domain::Invalid::new(
                "source",
                format!(
                    "{raw:?} is not a source; use one of {}",
                    Source::ALL.map(|s| s.as_str()).join(", ")
                ),
            ))
        })
}

/// Cases in the caller's scope, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/cases",
    tag = "cases",
    params(CaseFilter, PageParams),
    responses((status = 200, description = "One page of cases", body = Paged<CaseSummary>)),
    security(("session" = []), ("token" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(f): Query<CaseFilter>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Paged<CaseSummary>>> {
    me.require(Permission::ReadCity)?;
    let page = page.to_request()?;
    let within = match (&f.area, me.scope.prefix()) {
        (Some(area), _) => {
            me.require_in_scope(area)?;
            Some(area.clone())
        }
        (None, prefix) => prefix.map(str::to_string),
    };
    let mut q = CaseQuery {
        states: f
            .state
            .as_deref()
            .map(parse_states)
            .transpose()?
            .unwrap_or_default(),
        holder_department: f.holder.clone(),
        center_department: f.center.clone(),
        handling_department: f.handling.clone(),
        within,
        matter: f.matter.clone(),
        source: f.source.as_deref().map(parse_source).transpose()?,
        overdue: f.overdue,
        open: f.open,
        text: f.q.clone().filter(|t| !t.trim().is_empty()),
        reported_from: f.from,
        reported_to: f.to,
        external_id: None,
    };
    if f.mine != Some(true) {
        let got = state.cases().list(&q, &page).await?;
        return Ok(Json(got.into()));
    }
    // My queue: held by my department, open, and some action is mine now.
    let Some(dept) = me.user.department_code.clone() else {
        return Ok(Json(Paged {
            items: Vec::new(),
            next_cursor: None,
        }));
    };
    q.holder_department = Some(dept);
    q.open = Some(true);
    let records = state.store().list_cases(&q, &page).await?;
    let actor = actor_of(&state, &me);
    let rules = state.cases().settings();
    let mine: std::collections::HashSet<i64> = records
        .items
        .iter()
        .filter(|c| {
            !rules
                .rules
                .allowed_actions(&c.data.snapshot, &actor.context)
                .is_empty()
        })
        .map(|c| c.id)
        .collect();
    let got = state.cases().list(&q, &page).await?;
    let next = records.next.clone();
    let mut paged: Paged<CaseSummary> = got.into();
    paged.items.retain(|s| mine.contains(&s.id));
    paged.next_cursor = next.as_deref().map(crate::pagination::encode_cursor);
    Ok(Json(paged))
}

/// One case: the case, its reporters, flow records (the timeline),
/// attachments, the running timer with its colour, and `allowed` — the
/// actions the caller may take now.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{id}",
    tag = "cases",
    params(("id" = i64, Path, description = "Case id")),
    responses((status = 200, description = "The case as the caller sees it", body = CaseView)),
    security(("session" = []), ("token" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<CaseView>> {
    me.require(Permission::ReadCity)?;
    load_in_scope(&state, &me, id).await?;
    let view = state.cases().view(id, &actor_of(&state, &me)).await?;
    Ok(Json(view))
}

/// Takes a workflow action: `{"action": "dispatch", "department": "…",
/// "opinion": "…", "attachments": ["<attachment id>"]}`. Refused → 409
/// `refused_action` with the state and the allowed actions.
#[utoipa::path(
    post,
    path = "/api/v1/cases/{id}/actions",
    tag = "cases",
    params(("id" = i64, Path, description = "Case id")),
    request_body = ActionRequest,
    responses((status = 200, description = "The case after the action", body = CaseView)),
    security(("session" = []), ("token" = []))
)]
pub async fn act(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Json(body): Json<ActionRequest>,
) -> ApiResult<Json<CaseView>> {
    me.require(Permission::ReadCity)?;
    load_in_scope(&state, &me, id).await?;
    let view = state.cases().act(id, body, &actor_of(&state, &me)).await?;
    Ok(Json(view))
}

/// Merges this case (a duplicate) into another.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The case that stays.
    pub into: i64,
    pub opinion: Option<String>,
}

/// Merges the case into `into`: `into` keeps every reporter and the earliest
/// report time; this case is closed as erroneous (错误结案) with a link.
/// Staff of `into`'s command center only.
#[utoipa::path(
    post,
    path = "/api/v1/cases/{id}/merge",
    tag = "cases",
    params(("id" = i64, Path, description = "The duplicate case")),
    request_body = MergeBody,
    responses((status = 200, description = "The case merged into", body = CaseView)),
    security(("session" = []), ("token" = []))
)]
pub async fn merge(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Json(body): Json<MergeBody>,
) -> ApiResult<Json<CaseView>> {
    me.require(Permission::ReadCity)?;
    load_in_scope(&state, &me, id).await?;
    load_in_scope(&state, &me, body.into).await?;
    let view = state
        .cases()
        .merge(id, body.into, &actor_of(&state, &me), body.opinion)
        .await?;
    Ok(Json(view))
}

/// Where the responsibility rules would dispatch the case, and why.
#[utoipa::path(
    get,
    path = "/api/v1/cases/{id}/dispatch-suggestion",
    tag = "cases",
    params(("id" = i64, Path, description = "Case id")),
    responses((status = 200, description = "The department and the rule that decided", body = DispatchDecision)),
    security(("session" = []), ("token" = []))
)]
pub async fn dispatch_suggestion(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<DispatchDecision>> {
    me.require(Permission::ReadCity)?;
    load_in_scope(&state, &me, id).await?;
    Ok(Json(state.cases().dispatch_suggestion(id).await?))
}

/// The file name of an upload.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file's name as the user knows it (`photo.jpg`).
    pub name: Option<String>,
}

/// Content types a client may declare for an upload; the bytes decide.
const DECLARABLE: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "application/pdf",
    "application/octet-stream",
];

/// Uploads an attachment (photo or document) as the raw body with its
/// `Content-Type`. The type is judged from the bytes (JPEG, PNG, WebP, PDF);
/// another type, or a declared type that the bytes contradict, is 415
/// `unsupported_attachment`; over the size limit is 413. Answers the
/// metadata; pass its `id` in an action's or a new case's `attachments`.
#[utoipa::path(
    post,
    path = "/api/v1/attachments",
    tag = "cases",
    params(UploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes"),
    responses((status = 201, description = "Stored", body = AttachmentMeta)),
    security(("session" = []), ("token" = []))
)]
pub async fn upload(
    State(state): State<AppState>,
    me: CurrentUser,
    headers: HeaderMap,
    Query(p): Query<UploadParams>,
    RawBody(bytes): RawBody,
) -> ApiResult<(StatusCode, Json<AttachmentMeta>)> {
    me.require(Permission::ReadCity)?;
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if let Some(d) = &declared
        && !DECLARABLE.contains(&d.as_str())
    {
        return Err(ApiError::new(
            ErrorCode::UnsupportedAttachment,
            format!("attachments of type {d} are not accepted; send JPEG, PNG, WebP or PDF files"),
        ));
    }
    if !bytes.is_empty() {
        match sniff_content_type(&bytes) {
            None => {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedAttachment,
                    "the file is not a JPEG, PNG, WebP or PDF file (judged by its content, not its name)",
                ));
            }
            Some(sniffed) => {
                if let Some(d) = &declared
                    && d != "application/octet-stream"
                    && d != sniffed
                {
                    return Err(ApiError::new(
                        ErrorCode::UnsupportedAttachment,
                        format!("the file was declared {d} but its content is {sniffed}"),
                    ));
                }
            }
        }
    }
    let name = p.name.unwrap_or_else(|| "attachment".into());
    let meta = state
        .cases()
        .upload_attachment(&name, &bytes, &actor_of(&state, &me))
        .await?;
    Ok((StatusCode::CREATED, Json(meta)))
}

/// An attachment's bytes. Linked attachments follow their case's scope;
/// unlinked ones are visible to their uploader and to administrators.
#[utoipa::path(
    get,
    path = "/api/v1/attachments/{id}",
    tag = "cases",
    params(("id" = String, Path, description = "Attachment id (UUID)")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>)),
    security(("session" = []), ("token" = []))
)]
pub async fn download(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    me.require(Permission::ReadCity)?;
    let meta = state
        .store()
        .attachment(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("attachment {id}")))?;
    match meta.case_id {
        Some(case_id) => {
            load_in_scope(&state, &me, case_id).await?;
        }
        None if me.is_admin() || meta.uploaded_by == Some(me.user.id) => {}
        None => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "the attachment is not linked to a case yet; only its uploader may read it",
            ));
        }
    }
    let (meta, bytes) = state.cases().attachment_bytes(&id).await?;
    let safe_name: String = meta
        .file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, meta.content_type.clone()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{safe_name}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (
                header::CACHE_CONTROL,
                "private, max-age=86400, immutable".to_string(),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Free text to classify.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClassifyParams {
    /// The description of the problem (Chinese free text).
    pub text: String,
    /// At most this many suggestions (1-20, default 5).
    pub limit: Option<usize>,
}

/// Suggested matter codes for free text, best first, each with its reason
/// (matched keywords, what past cases teach). Empty when nothing points anywhere.
#[utoipa::path(
    get,
    path = "/api/v1/classify",
    tag = "cases",
    params(ClassifyParams),
    responses((status = 200, description = "Suggestions", body = Vec<MatterSuggestion>)),
    security(("session" = []), ("token" = []))
)]
pub async fn classify(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(p): Query<ClassifyParams>,
) -> ApiResult<Json<Vec<MatterSuggestion>>> {
    me.require(Permission::ReadCity)?;
    let limit = p.limit.unwrap_or(5);
    if !(1..=20).contains(&limit) {
        return Err(chengyun_domain::Invalid::new("limit", "limit must be 1-20").into());
    }
    if p.text.trim().is_empty() {
        return Err(chengyun_domain::Invalid::new("text", "give the text to classify").into());
    }
    let city = state.city();
    let got = city
        .classifier
        .suggest(&p.text, limit)
        .into_iter()
        .map(|s| MatterSuggestion {
            code: s.code.to_string(),
            name: s.name,
            score: s.score,
            reason: s.reason,
        })
        .collect();
    Ok(Json(got))
}
