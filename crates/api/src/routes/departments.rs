//! Departments of the three-tier command system, and their staff.

use crate::error::ApiError;
use crate::extract::{CurrentUser, Json, Path, Query};
use crate::pagination::{PageParams, Paged};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chengyun_domain::audit::AuditEvent;
use chengyun_domain::auth::Permission;
use chengyun_domain::city::{Department, DepartmentKind, Position, Staff, Tier};
use chengyun_domain::codes::DivisionCode;
use chengyun_store::{DepartmentQuery, StaffQuery};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// A department to store (strict: unknown fields are refused).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentBody {
    pub code: String,
    pub name: String,
    pub kind: DepartmentKind,
    pub tier: Tier,
    pub area_code: DivisionCode,
    pub parent_code: Option<String>,
}

impl From<DepartmentBody> for Department {
    fn from(b: DepartmentBody) -> Self {
        Department {
            code: b.code,
            name: b.name,
            kind: b.kind,
            tier: b.tier,
            area_code: b.area_code,
            parent_code: b.parent_code,
        }
    }
}

/// A member of staff to store (strict: unknown fields are refused).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffBody {
    pub code: String,
    pub name: String,
    pub department_code: String,
    pub position: Position,
    pub phone: Option<String>,
    pub username: Option<String>,
}

impl From<StaffBody> for Staff {
    fn from(b: StaffBody) -> Self {
        Staff {
            code: b.code,
            name: b.name,
            department_code: b.department_code,
            position: b.position,
            phone: b.phone,
            username: b.username,
        }
    }
}

/// Filters of the department list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DepartmentFilter {
    /// city, district or street.
    pub tier: Option<String>,
    /// command_center, sub_center or functional.
    pub kind: Option<String>,
    /// Only departments reporting to this one.
    pub parent_code: Option<String>,
}

/// Departments whose area lies in the caller's scope, by code.
#[utoipa::path(get, path = "/api/v1/departments", tag = "city",
    params(DepartmentFilter, PageParams),
    responses((status = 200, description = "Departments", body = Paged<Department>)),
    security(("session" = []), ("token" = [])))]
pub async fn list(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(filter): Query<DepartmentFilter>,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<Department>>, ApiError> {
    me.require(Permission::ReadCity)?;
    let q = DepartmentQuery {
        within: me.scope.prefix().map(str::to_string),
        tier: filter.tier.as_deref().map(Tier::parse).transpose()?,
        kind: filter
            .kind
            .as_deref()
            .map(DepartmentKind::parse)
            .transpose()?,
        parent_code: filter.parent_code,
    };
    let page = state
        .store()
        .list_departments(&q, &page.to_request()?)
        .await?;
    Ok(Json(page.into()))
}

/// One department.
#[utoipa::path(get, path = "/api/v1/departments/{code}", tag = "city",
    params(("code" = String, Path, description = "Department code")),
    responses((status = 200, description = "The department", body = Department)),
    security(("session" = []), ("token" = [])))]
pub async fn get(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(code): Path<String>,
) -> Result<Json<Department>, ApiError> {
    me.require(Permission::ReadCity)?;
    let d = state
        .store()
        .department(&code)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("department {code:?}")))?;
    me.require_in_scope(d.area_code.as_str())
        .map_err(|_| ApiError::out_of_scope(format!("department {code:?}")))?;
    Ok(Json(d))
}

/// Creates or replaces a department (role admin).
#[utoipa::path(post, path = "/api/v1/departments", tag = "city", request_body = DepartmentBody,
    responses((status = 201, description = "Stored", body = Department)),
    security(("session" = []), ("token" = [])))]
pub async fn create(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<DepartmentBody>,
) -> Result<(StatusCode, Json<Department>), ApiError> {
    me.require(Permission::ManageCity)?;
    let d = Department::from(body);
    d.validate()?;
    me.require_in_scope(d.area_code.as_str())?;
    let event = AuditEvent::new(&me.actor, "department.upsert", "department", d.code.clone())
        .with(serde_json::json!({ "name": d.name, "tier": d.tier, "area_code": d.area_code }));
    state
        .store()
        .upsert_departments(std::slice::from_ref(&d), &event)
        .await?;
    Ok((StatusCode::CREATED, Json(d)))
}

/// Filters of the staff list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StaffFilter {
    /// Only staff of this department.
    pub department_code: Option<String>,
}

/// Staff of departments in the caller's scope, by code.
#[utoipa::path(get, path = "/api/v1/staff", tag = "city", params(StaffFilter, PageParams),
    responses((status = 200, description = "Staff", body = Paged<Staff>)),
    security(("session" = []), ("token" = [])))]
pub async fn list_staff(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(filter): Query<StaffFilter>,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<Staff>>, ApiError> {
    me.require(Permission::ReadCity)?;
    let q = StaffQuery {
        department_code: filter.department_code,
        within: me.scope.prefix().map(str::to_string),
    };
    let page = state.store().list_staff(&q, &page.to_request()?).await?;
    Ok(Json(page.into()))
}

/// Creates or replaces a member of staff (role admin).
#[utoipa::path(post, path = "/api/v1/staff", tag = "city", request_body = StaffBody,
    responses((status = 201, description = "Stored", body = Staff)),
    security(("session" = []), ("token" = [])))]
pub async fn create_staff(
    State(state): State<AppState>,
    me: CurrentUser,
    Json(body): Json<StaffBody>,
) -> Result<(StatusCode, Json<Staff>), ApiError> {
    me.require(Permission::ManageCity)?;
    let s = Staff::from(body);
    s.validate()?;
    let dept = state
        .store()
        .department(&s.department_code)
        .await?
        .ok_or_else(|| {
            ApiError::invalid(chengyun_domain::Invalid::new(
                "department_code",
                format!("department {:?} does not exist", s.department_code),
            ))
        })?;
    me.require_in_scope(dept.area_code.as_str())?;
    let event = AuditEvent::new(&me.actor, "staff.upsert", "staff", s.code.clone()).with(
        serde_json::json!({ "name": s.name, "department_code": s.department_code, "position": s.position }),
    );
    state
        .store()
        .upsert_staff(std::slice::from_ref(&s), &event)
        .await?;
    Ok((StatusCode::CREATED, Json(s)))
}
