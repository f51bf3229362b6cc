//! The Open311 GeoReport v2 endpoints under `/open311/v2/`, every resource
//! as `.json` or `.xml`:
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `discovery.{fmt}` | endpoints and formats |
//! | GET | `services.{fmt}` | the matter classes (GB/T 47678.5 + local), grouped by major class |
//! | GET | `services/{code}.{fmt}` | the definition: `urgency` and, where the limit standard names some, `condition` |
//! | POST | `requests.{fmt}` | a new case (form-encoded; `api_key` = a chengyun API token) |
//! | GET | `requests.{fmt}` | `service_request_id`, `service_code`, `start_date`, `end_date`, `status`; default the past 90 days, at most 1000 |
//! | GET | `requests/{id}.{fmt}` | one request (the case number) |
//! | GET | `tokens/{token}.{fmt}` | the request a token became |
//!
//! Mapping: `service_request_id` is the case number; `status` is `closed`
//! for closed and cancelled cases, else `open`; `status_notes` is the
//! latest flow record's Chinese label and opinion (`派遣：请尽快处理`);
//! `agency_responsible` the department handling it (else the managing
//! center); `expected_datetime` the running clock's deadline. Times are
//! W3C datetimes in the city's time zone.
//!
//! `POST requests`: the key's user must have a role. A user with the clerk
//! position enters hotline calls (source `hotline`); anyone else's reports
//! are public reports (source `public`). The answer carries both the
//! `service_request_id` and a `token` (kept as the case's external id) that
//! `tokens/{token}` resolves. Errors are the spec's list of `{code,
//! description}` with the first code as the HTTP status: 400 bad input, 403
//! bad `api_key`, 404 unknown service, request or token.

use super::format::{
    self, Attribute, AttributeAnswer, AttributeValue, Datatype, Discovery, Endpoint, ErrorItem,
    Errors, Format, PostRequest, PostResponse, PostResponses, RequestLocation, RequestsFilter,
    Resource, Service, ServiceDefinition, ServiceList, ServiceRequest, ServiceRequests,
    ServiceType, Status, TokenResponse, TokenResponses,
};
use crate::extract::RequestContext;
use crate::state::AppState;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chengyun_domain::case::Urgency;
use chengyun_domain::case::workflow::{CaseActionKind, CaseState, Source};
use chengyun_domain::city::Position;
use chengyun_domain::codes::ClassCode;
use chengyun_domain::standard::ClassKind;
use chengyun_services::case::NewCase;
use chengyun_store::{CaseQuery, CaseRecord};
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use std::collections::HashMap;

/// The Open311 routes (merged into the main router).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/open311/v2/{file}", get(get_root).post(post_root))
        .route("/open311/v2/services/{file}", get(get_service))
        .route("/open311/v2/requests/{file}", get(get_request))
        .route("/open311/v2/tokens/{file}", get(get_token))
}

/// An answer in the chosen format.
fn respond<R: Resource>(status: StatusCode, value: &R, fmt: Format) -> Response {
    let (content_type, body) = format::render(value, fmt);
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn fail(errors: Errors, fmt: Format) -> Response {
    let status = StatusCode::from_u16(errors.status()).unwrap_or(StatusCode::BAD_REQUEST);
    respond(status, &errors, fmt)
}

fn not_found(what: String, fmt: Format) -> Response {
    fail(Errors::one(404, what), fmt)
}

fn unavailable(e: impl std::fmt::Display, fmt: Format) -> Response {
    tracing::warn!(error = %e, "open311 request failed");
    fail(
        Errors::one(500, "an internal error occurred; retry later"),
        fmt,
    )
}

/// The 404 for a path without `.json` or `.xml` (answered in JSON).
fn bad_suffix(file: &str) -> Response {
    not_found(
        format!("{file:?}: Open311 resources end in .json or .xml"),
        Format::Json,
    )
}

fn zone(state: &AppState) -> chrono_tz::Tz {
    state.cases().settings().calendar.time_zone()
}

fn local<Z: TimeZone>(t: &DateTime<Utc>, z: &Z) -> DateTime<FixedOffset> {
    format::in_city(t, z)
}

async fn get_root(
    State(state): State<AppState>,
    axum::extract::Path(file): axum::extract::Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some((stem, fmt)) = Format::split(&file) else {
        return bad_suffix(&file);
    };
    match stem {
        "discovery" => discovery(&state, &headers, fmt),
        "services" => services(&state, fmt),
        "requests" => list_requests(&state, query.as_deref().unwrap_or(""), fmt).await,
        other => not_found(format!("no Open311 resource {other:?}"), fmt),
    }
}

fn discovery(state: &AppState, headers: &HeaderMap, fmt: Format) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    let changeset = local(
        &Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
            .single()
            .unwrap_or_default(),
        &zone(state),
    );
    let d = Discovery {
        changeset,
        contact: "城运中心 chengyun operations center".into(),
        key_service: "An API token of a chengyun account: log in and POST /api/v1/tokens".into(),
        endpoints: vec![Endpoint {
            specification: format::SPECIFICATION_URL.into(),
            url: format!("http://{host}/open311/v2"),
            changeset,
            kind: "production".into(),
            formats: vec!["text/xml".into(), "application/json".into()],
        }],
    };
    respond(StatusCode::OK, &d, fmt)
}

fn services(state: &AppState, fmt: Format) -> Response {
    let city = state.city();
    let list: Vec<Service> = city
        .catalogue
        .iter(ClassKind::Matter)
        .map(|c| Service {
            service_code: c.code.to_string(),
            service_name: c.name.clone(),
            description: format!("{}：{}", c.major_name, c.name),
            metadata: true,
            kind: ServiceType::Realtime,
            keywords: format!("{},{}", c.major_name, c.name),
            group: c.major_name.clone(),
        })
        .collect();
    respond(StatusCode::OK, &ServiceList(list), fmt)
}

/// The definition of a matter class as a service: urgency, and the 立案条件
/// the city's limit standard names for it.
fn definition(state: &AppState, code: &ClassCode) -> ServiceDefinition {
    let settings = state.cases().settings();
    let mut conditions: Vec<String> = settings
        .limits
        .rules
        .iter()
        .filter(|r| r.matter.matches(code))
        .filter_map(|r| r.condition.clone())
        .collect();
    conditions.sort();
    conditions.dedup();
    let mut attributes = vec![Attribute {
        variable: true,
        code: "urgency".into(),
        datatype: Datatype::Singlevaluelist,
        required: false,
        datatype_description: None,
        order: 1,
        description: "紧急程度 (urgency)".into(),
        values: [Urgency::Normal, Urgency::Urgent]
            .into_iter()
            .map(|u| AttributeValue {
                key: u.as_str().into(),
                name: u.label_zh().into(),
            })
            .collect(),
    }];
    if !conditions.is_empty() {
        attributes.push(Attribute {
            variable: true,
            code: "condition".into(),
            datatype: Datatype::Singlevaluelist,
            required: false,
            datatype_description: None,
            order: 2,
            description: "立案条件 (the condition found)".into(),
            values: conditions
                .into_iter()
                .map(|c| AttributeValue {
                    key: c.clone(),
                    name: c,
                })
                .collect(),
        });
    }
    ServiceDefinition {
        service_code: code.to_string(),
        attributes,
    }
}

fn known_service(state: &AppState, raw: &str) -> Option<ClassCode> {
    let code = ClassCode::parse(raw).ok()?;
    state
        .city()
        .catalogue
        .get(ClassKind::Matter, &code)
        .map(|_| code)
}

async fn get_service(
    State(state): State<AppState>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    let Some((code, fmt)) = Format::split(&file) else {
        return bad_suffix(&file);
    };
    match known_service(&state, code) {
        Some(c) => respond(StatusCode::OK, &definition(&state, &c), fmt),
        None => not_found(format!("service_code {code:?} is not a service"), fmt),
    }
}

fn status_of(state: CaseState) -> Status {
    if state.is_final() {
        Status::Closed
    } else {
        Status::Open
    }
}

/// What a list of requests needs besides the cases: department and matter names.
struct Names {
    departments: HashMap<String, Option<String>>,
}

impl Names {
    fn new() -> Self {
        Self {
            departments: HashMap::new(),
        }
    }

    async fn department(
        &mut self,
        state: &AppState,
        code: &str,
    ) -> Result<Option<String>, chengyun_store::StoreError> {
        if let Some(n) = self.departments.get(code) {
            return Ok(n.clone());
        }
        let name = state.store().department(code).await?.map(|d| d.name);
        self.departments.insert(code.to_string(), name.clone());
        Ok(name)
    }
}

fn action_label(action: &str) -> String {
    match serde_json::from_value::<CaseActionKind>(serde_json::Value::String(action.into())) {
        Ok(k) => k.label_zh().to_string(),
        Err(_) => match action {
            "report" | "created" => "上报".into(),
            "merge" => "合并".into(),
            "merged_into" => "并案".into(),
            "timer_warning" => "时限预警".into(),
            "overdue" => "超时".into(),
            other => other.to_string(),
        },
    }
}

async fn to_request(
    state: &AppState,
    case: &CaseRecord,
    names: &mut Names,
) -> Result<ServiceRequest, chengyun_store::StoreError> {
    let z = zone(state);
    let snap = &case.data.snapshot;
    let flow = state.store().flow_records(case.id).await?;
    let status_notes = flow.last().map(|f| {
        let label = action_label(&f.record.action);
        match f
            .record
            .opinion
            .as_deref()
            .map(str::trim)
            .filter(|o| !o.is_empty())
        {
            Some(o) => format!("{label}：{o}（{}）", f.record.to_state.label_zh()),
            None => format!("{label}（{}）", f.record.to_state.label_zh()),
        }
    });
    let agency_code = snap
        .handling_department
        .clone()
        .unwrap_or_else(|| snap.center_department.clone());
    let agency = names
        .department(state, &agency_code)
        .await?
        .or(Some(agency_code));
    let city = state.city();
    let service_name = case
        .data
        .matter_code
        .as_deref()
        .and_then(|c| ClassCode::parse(c).ok())
        .and_then(|c| {
            city.catalogue
                .get(ClassKind::Matter, &c)
                .map(|m| m.name.clone())
        });
    Ok(ServiceRequest {
        service_request_id: case.number.to_string(),
        status: status_of(snap.state),
        status_notes,
        service_name,
        service_code: case.data.matter_code.clone(),
        description: Some(case.data.description.clone()).filter(|d| !d.is_empty()),
        agency_responsible: agency,
        service_notice: None,
        requested_datetime: local(&case.data.reported_at, &z),
        updated_datetime: Some(local(&case.updated_at, &z)),
        expected_datetime: case.data.deadline_at.map(|d| local(&d, &z)),
        address: case.data.address.clone(),
        address_id: None,
        zipcode: None,
        lat: case.data.lat,
        long: case.data.lon,
        media_url: None,
    })
}

async fn list_requests(state: &AppState, query: &str, fmt: Format) -> Response {
    let filter = match RequestsFilter::from_query(query, Utc::now()) {
        Ok(f) => f,
        Err(e) => return fail(e, fmt),
    };
    match find_requests(state, &filter).await {
        Ok(cases) => {
            let mut names = Names::new();
            let mut out = Vec::with_capacity(cases.len());
            for c in &cases {
                match to_request(state, c, &mut names).await {
                    Ok(r) => out.push(r),
                    Err(e) => return unavailable(e, fmt),
                }
            }
            respond(StatusCode::OK, &ServiceRequests(out), fmt)
        }
        Err(e) => unavailable(e, fmt),
    }
}

async fn find_requests(
    state: &AppState,
    f: &RequestsFilter,
) -> Result<Vec<CaseRecord>, chengyun_store::StoreError> {
    let store = state.store();
    if let Some(ids) = &f.service_request_ids {
        let mut out = Vec::new();
        for id in ids.iter().take(f.limit) {
            if let Some(c) = store.case_by_number(id).await? {
                out.push(c);
            }
        }
        return Ok(out);
    }
    let open = match f.statuses.as_slice() {
        [Status::Open] => Some(true),
        [Status::Closed] => Some(false),
        _ => None,
    };
    let base = CaseQuery {
        open,
        reported_from: Some(f.start),
        // The filter's end is inclusive; the store's is exclusive.
        reported_to: Some(f.end + chrono::Duration::microseconds(1)),
        ..Default::default()
    };
    let queries: Vec<CaseQuery> = if f.service_codes.is_empty() {
        vec![base]
    } else {
        f.service_codes
            .iter()
            .map(|c| CaseQuery {
                matter: Some(c.clone()),
                ..base.clone()
            })
            .collect()
    };
    let mut out: Vec<CaseRecord> = Vec::new();
    for q in queries {
        let mut page = chengyun_domain::page::PageRequest::first(500);
        loop {
            let got = store.list_cases(&q, &page).await?;
            let exact = q.matter.clone();
            out.extend(
                got.items
                    .into_iter()
                    // `matter` is a prefix filter; a service code is exact.
                    .filter(|c| exact.is_none() || c.data.matter_code == exact),
            );
            match got.next {
                Some(next) if out.len() < f.limit => page.after = Some(next),
                _ => break,
            }
        }
    }
    out.sort_by(|a, b| {
        b.data
            .reported_at
            .cmp(&a.data.reported_at)
            .then(b.id.cmp(&a.id))
    });
    out.dedup_by_key(|c| c.id);
    out.truncate(f.limit);
    Ok(out)
}

async fn get_request(
    State(state): State<AppState>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    let Some((id, fmt)) = Format::split(&file) else {
        return bad_suffix(&file);
    };
    match state.store().case_by_number(id).await {
        Ok(Some(c)) => match to_request(&state, &c, &mut Names::new()).await {
            Ok(r) => respond(StatusCode::OK, &ServiceRequests(vec![r]), fmt),
            Err(e) => unavailable(e, fmt),
        },
        Ok(None) => not_found(format!("service request {id:?} not found"), fmt),
        Err(e) => unavailable(e, fmt),
    }
}

/// The sources a token may have been issued for.
const TOKEN_SOURCES: [Source; 2] = [Source::Public, Source::Hotline];

async fn get_token(
    State(state): State<AppState>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    let Some((token, fmt)) = Format::split(&file) else {
        return bad_suffix(&file);
    };
    for source in TOKEN_SOURCES {
        match state.store().case_by_external_id(source, token).await {
            Ok(Some(c)) => {
                let r = TokenResponse {
                    service_request_id: Some(c.number.to_string()),
                    token: token.to_string(),
                };
                return respond(StatusCode::OK, &TokenResponses(vec![r]), fmt);
            }
            Ok(None) => {}
            Err(e) => return unavailable(e, fmt),
        }
    }
    not_found(format!("token {token:?} not found"), fmt)
}

async fn post_root(
    State(state): State<AppState>,
    axum::extract::Path(file): axum::extract::Path<String>,
    ctx: RequestContext,
    body: axum::body::Bytes,
) -> Response {
    let Some((stem, fmt)) = Format::split(&file) else {
        return bad_suffix(&file);
    };
    if stem != "requests" {
        return fail(
            Errors::one(
                405,
                format!("{stem} does not take POST; POST requests.{{json,xml}}"),
            ),
            fmt,
        );
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return fail(Errors::one(400, "the body is not UTF-8 form data"), fmt);
    };
    let req = match PostRequest::from_form(text) {
        Ok(r) => r,
        Err(e) => return fail(e, fmt),
    };
    // The key: a chengyun API token whose user may report.
    let user = match chengyun_services::auth::authenticate_token(
        state.store().as_ref(),
        &req.api_key,
        Utc::now(),
    )
    .await
    {
        Ok(Some((_, user))) if !user.disabled && !user.roles.is_empty() => user,
        Ok(Some(_)) => {
            return fail(
                Errors::one(403, "the api_key's account may not report problems"),
                fmt,
            );
        }
        Ok(None) => {
            return fail(
                Errors::one(403, "api_key is unknown, expired or revoked"),
                fmt,
            );
        }
        Err(e) => return unavailable(e, fmt),
    };
    let Some(code) = known_service(&state, &req.service_code) else {
        return fail(
            Errors::one(
                404,
                format!("service_code {:?} is not a service", req.service_code),
            ),
            fmt,
        );
    };
    let def = definition(&state, &code);
    let problems = def.check(&req.attributes);
    if !problems.is_empty() {
        return fail(Errors(problems), fmt);
    }
    let answer = |k: &str| match req.attributes.get(k) {
        Some(AttributeAnswer::Single(v)) => Some(v.clone()),
        _ => None,
    };
    let urgency = match answer("urgency").as_deref() {
        Some("urgent") => Some(Urgency::Urgent),
        Some(_) => Some(Urgency::Normal),
        None => None,
    };
    let (lon, lat, mut address) = match &req.location {
        RequestLocation::Point { lat, long } => (Some(*long), Some(*lat), None),
        RequestLocation::Address(a) => (None, None, Some(a.clone())),
        RequestLocation::AddressId(id) => (None, None, Some(format!("address id {id}"))),
    };
    if req.address_string.is_some() {
        address = req.address_string.clone();
    }
    let mut description = req.description.clone().unwrap_or_default();
    if let Some(url) = &req.media_url {
        if !description.is_empty() {
            description.push('\n');
        }
        description.push_str(&format!("照片 media_url: {url}"));
    }
    let name = [req.first_name.as_deref(), req.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let source = if user.roles.contains(&Position::Clerk) {
        Source::Hotline
    } else {
        Source::Public
    };
    let token = uuid::Uuid::new_v4().to_string();
    let new = NewCase {
        description,
        matter_code: Some(code.to_string()),
        condition: answer("condition"),
        source: Some(source),
        urgency,
        lon,
        lat,
        address,
        external_id: Some(token.clone()),
        reporter_name: Some(name).filter(|n| !n.trim().is_empty()),
        reporter_phone: req.phone.clone(),
        channel: Some("open311".into()),
        ..Default::default()
    };
    let audit = chengyun_domain::audit::Actor {
        user_id: Some(user.id),
        name: user.username.clone(),
        ip: ctx.ip,
        request_id: ctx.request_id,
    };
    let actor = state.cases().actor(&user, audit);
    match state.cases().intake(new, &actor, None).await {
        Ok(view) => {
            let r = PostResponse {
                service_request_id: Some(view.case.number.to_string()),
                token: Some(token),
                service_notice: view.case.data.likely_duplicate_of.map(|_| {
                    "可能与附近未结案件重复 (a likely duplicate of an open case nearby)".to_string()
                }),
                account_id: None,
            };
            respond(StatusCode::CREATED, &PostResponses(vec![r]), fmt)
        }
        Err(e) => {
            let api = crate::error::ApiError::from(e);
            let status = api.code.status().as_u16();
            let mut items = vec![ErrorItem::new(status, api.message.clone())];
            if let Some(list) = api.details.as_ref().and_then(|d| d.as_array()) {
                items = list
                    .iter()
                    .map(|p| {
                        ErrorItem::new(
                            status,
                            format!(
                                "{}: {}",
                                p["field"].as_str().unwrap_or("request"),
                                p["message"].as_str().unwrap_or("invalid")
                            ),
                        )
                    })
                    .collect();
            }
            fail(Errors(items), fmt)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_of_flow_actions() {
        assert_eq!(action_label("dispatch"), "派遣");
        assert_eq!(action_label("check_fail"), "返工");
        assert_eq!(action_label("report"), "上报");
        assert_eq!(action_label("something_else"), "something_else");
        assert_eq!(status_of(CaseState::Cancelled), Status::Closed);
        assert_eq!(status_of(CaseState::Handling), Status::Open);
    }
}
