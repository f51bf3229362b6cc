//! Rows as the database holds them, and their conversion to and from domain
//! types. Reading never panics: a stored value that no longer parses becomes a
//! `StoreError::Database` that names the row and the column.

use crate::StoreError;
use crate::sql::{Arg, Upsert};
use chengyun_domain::Invalid;
use chengyun_domain::auth::{ApiToken, User};
use chengyun_domain::city::{
    Area, Department, DepartmentKind, Position, ResponsibilityGrid, Staff, Tier, UnitGrid,
};
use chengyun_domain::codes::{AreaLevel, ClassCode, DivisionCode, GridCode};
use chengyun_domain::component::{Component, ComponentId, ComponentStatus, DeptRef};
use chengyun_domain::standard::{ClassKind, StandardClass};
use chrono::{DateTime, NaiveDate, Utc};
use geo_types::MultiPolygon;
use sqlx::types::Json;
use std::fmt::Display;
use std::str::FromStr;

fn corrupt(kind: &str, key: &str, column: &str, e: impl Display) -> StoreError {
    StoreError::Database(format!(
        "stored {kind} {key:?} is corrupt: column {column}: {e}"
    ))
}

// ── geometry ─────────────────────────────────────────────────────────────────

/// A boundary ready to store: GeoJSON text and its bounding box.
pub(crate) struct StoredGeometry {
    pub(crate) geojson: String,
    pub(crate) bbox: Option<[f64; 4]>,
}

/// Serialises a boundary as GeoJSON and computes its bounding box. Floats are
/// written in shortest round-trip form; serde_json's fast parser may read one
/// back a unit in the last place off (~1e-14°, far below a millimetre).
/// Non-finite coordinates are refused: JSON cannot hold them.
pub(crate) fn store_geometry(mp: &MultiPolygon<f64>) -> Result<StoredGeometry, Invalid> {
    let mut bbox: Option<[f64; 4]> = None;
    for polygon in &mp.0 {
        for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
            for c in &ring.0 {
                if !c.x.is_finite() || !c.y.is_finite() {
                    return Err(Invalid::new(
                        "boundary",
                        format!("coordinate ({}, {}) is not a finite number", c.x, c.y),
                    ));
                }
                bbox = Some(match bbox {
                    None => [c.x, c.y, c.x, c.y],
                    Some([a, b, x, y]) => [a.min(c.x), b.min(c.y), x.max(c.x), y.max(c.y)],
                });
            }
        }
    }
    let geojson = serde_json::to_string(&geojson::Geometry::from(mp))
        .map_err(|e| Invalid::new("boundary", format!("cannot write as GeoJSON: {e}")))?;
    Ok(StoredGeometry { geojson, bbox })
}

fn load_geometry(kind: &str, key: &str, text: &str) -> Result<MultiPolygon<f64>, StoreError> {
    let g: geojson::Geometry =
        serde_json::from_str(text).map_err(|e| corrupt(kind, key, "boundary", e))?;
    chengyun_domain::city::to_multipolygon(g).map_err(|e| corrupt(kind, key, "boundary", e))
}

fn bbox_args(out: &mut Vec<Arg>, bbox: Option<[f64; 4]>) {
    for i in 0..4 {
        out.push(Arg::Real(bbox.map(|b| b[i])));
    }
}

// ── areas ────────────────────────────────────────────────────────────────────

pub(crate) const AREA_COLUMNS: &str = "t.code, t.name, t.level, t.parent_code, t.boundary";

pub(crate) const AREA_UPSERT: Upsert = Upsert {
    table: "areas",
    columns: &[
        "code",
        "name",
        "level",
        "parent_code",
        "boundary",
        "min_lon",
        "min_lat",
        "max_lon",
        "max_lat",
    ],
    key: &["code"],
};

pub(crate) fn area_args(a: &Area, out: &mut Vec<Arg>) -> Result<(), Invalid> {
    let g = a.boundary.as_ref().map(store_geometry).transpose()?;
    out.push(a.code.as_str().into());
    out.push(a.name.clone().into());
    out.push(a.level.as_str().into());
    out.push(a.parent_code.as_ref().map(|p| p.as_str()).into());
    out.push(Arg::Text(g.as_ref().map(|g| g.geojson.clone())));
    bbox_args(out, g.and_then(|g| g.bbox));
    Ok(())
}

#[derive(sqlx::FromRow)]
pub(crate) struct AreaRow {
    code: String,
    name: String,
    level: String,
    parent_code: Option<String>,
    boundary: Option<String>,
}

impl TryFrom<AreaRow> for Area {
    type Error = StoreError;
    fn try_from(r: AreaRow) -> Result<Self, StoreError> {
        let k = "area";
        Ok(Area {
            code: DivisionCode::parse(&r.code).map_err(|e| corrupt(k, &r.code, "code", e))?,
            level: AreaLevel::from_str(&r.level).map_err(|e| corrupt(k, &r.code, "level", e))?,
            parent_code: r
                .parent_code
                .as_deref()
                .map(DivisionCode::parse)
                .transpose()
                .map_err(|e| corrupt(k, &r.code, "parent_code", e))?,
            boundary: r
                .boundary
                .as_deref()
                .map(|b| load_geometry(k, &r.code, b))
                .transpose()?,
            name: r.name,
        })
    }
}

// ── unit and responsibility grids ────────────────────────────────────────────

pub(crate) const GRID_COLUMNS: &str = "t.code, t.name, t.area_code, t.boundary, t.area_m2";

pub(crate) const GRID_UPSERT: Upsert = Upsert {
    table: "unit_grids",
    columns: &[
        "code",
        "name",
        "area_code",
        "boundary",
        "area_m2",
        "min_lon",
        "min_lat",
        "max_lon",
        "max_lat",
    ],
    key: &["code"],
};

pub(crate) fn grid_args(g: &UnitGrid, out: &mut Vec<Arg>) -> Result<(), Invalid> {
    if !g.area_m2.is_finite() {
        return Err(Invalid::new(
            "area_m2",
            format!("surface {} is not a finite number", g.area_m2),
        ));
    }
    let geom = store_geometry(&g.boundary)?;
    out.push(g.code.as_str().into());
    out.push(g.name.clone().into());
    out.push(g.area_code.as_str().into());
    out.push(geom.geojson.into());
    out.push(g.area_m2.into());
    bbox_args(out, geom.bbox);
    Ok(())
}

#[derive(sqlx::FromRow)]
pub(crate) struct GridRow {
    code: String,
    name: Option<String>,
    area_code: String,
    boundary: String,
    area_m2: f64,
}

impl TryFrom<GridRow> for UnitGrid {
    type Error = StoreError;
    fn try_from(r: GridRow) -> Result<Self, StoreError> {
        let k = "unit grid";
        Ok(UnitGrid {
            code: GridCode::parse(&r.code).map_err(|e| corrupt(k, &r.code, "code", e))?,
            area_code: DivisionCode::parse(&r.area_code)
                .map_err(|e| corrupt(k, &r.code, "area_code", e))?,
            boundary: load_geometry(k, &r.code, &r.boundary)?,
            name: r.name,
            area_m2: r.area_m2,
        })
    }
}

pub(crate) const RESPONSIBILITY_COLUMNS: &str =
    "t.code, t.name, t.department_code, t.staff_code, t.boundary";

pub(crate) const RESPONSIBILITY_UPSERT: Upsert = Upsert {
    table: "responsibility_grids",
    columns: &[
        "code",
        "name",
        "department_code",
        "staff_code",
        "boundary",
        "min_lon",
        "min_lat",
        "max_lon",
        "max_lat",
    ],
    key: &["code"],
};

pub(crate) fn responsibility_args(
    g: &ResponsibilityGrid,
    out: &mut Vec<Arg>,
) -> Result<(), Invalid> {
    if g.code.trim().is_empty() {
        return Err(Invalid::new("code", "a responsibility grid needs a code"));
    }
    let geom = store_geometry(&g.boundary)?;
    out.push(g.code.clone().into());
    out.push(g.name.clone().into());
    out.push(g.department_code.clone().into());
    out.push(g.staff_code.clone().into());
    out.push(geom.geojson.into());
    bbox_args(out, geom.bbox);
    Ok(())
}

#[derive(sqlx::FromRow)]
pub(crate) struct ResponsibilityRow {
    code: String,
    name: String,
    department_code: Option<String>,
    staff_code: Option<String>,
    boundary: String,
}

impl TryFrom<ResponsibilityRow> for ResponsibilityGrid {
    type Error = StoreError;
    fn try_from(r: ResponsibilityRow) -> Result<Self, StoreError> {
        Ok(ResponsibilityGrid {
            boundary: load_geometry("responsibility grid", &r.code, &r.boundary)?,
            code: r.code,
            name: r.name,
            department_code: r.department_code,
            staff_code: r.staff_code,
        })
    }
}

// ── departments and staff ────────────────────────────────────────────────────

pub(crate) const DEPARTMENT_COLUMNS: &str =
    "t.code, t.name, t.kind, t.tier, t.area_code, t.parent_code";

pub(crate) const DEPARTMENT_UPSERT: Upsert = Upsert {
    table: "departments",
    columns: &["code", "name", "kind", "tier", "area_code", "parent_code"],
    key: &["code"],
};

pub(crate) fn department_args(d: &Department, out: &mut Vec<Arg>) -> Result<(), Invalid> {
    out.push(d.code.clone().into());
    out.push(d.name.clone().into());
    out.push(d.kind.as_str().into());
    out.push(d.tier.as_str().into());
    out.push(d.area_code.as_str().into());
    out.push(d.parent_code.clone().into());
    Ok(())
}

#[derive(sqlx::FromRow)]
pub(crate) struct DepartmentRow {
    code: String,
    name: String,
    kind: String,
    tier: String,
    area_code: String,
    parent_code: Option<String>,
}

impl TryFrom<DepartmentRow> for Department {
    type Error = StoreError;
    fn try_from(r: DepartmentRow) -> Result<Self, StoreError> {
        let k = "department";
        Ok(Department {
            kind: DepartmentKind::parse(&r.kind).map_err(|e| corrupt(k, &r.code, "kind", e))?,
            tier: Tier::parse(&r.tier).map_err(|e| corrupt(k, &r.code, "tier", e))?,
            area_code: DivisionCode::parse(&r.area_code)
                .map_err(|e| corrupt(k, &r.code, "area_code", e))?,
            code: r.code,
            name: r.name,
            parent_code: r.parent_code,
        })
    }
}

pub(crate) const STAFF_COLUMNS: &str =
    "t.code, t.name, t.department_code, t.position, t.phone, t.username";

pub(crate) const STAFF_UPSERT: Upsert = Upsert {
    table: "staff",
    columns: &[
        "code",
        "name",
        "department_code",
        "position",
        "phone",
        "username",
    ],
    key: &["code"],
};

pub(crate) fn staff_args(s: &Staff, out: &mut Vec<Arg>) -> Result<(), Invalid> {
    out.push(s.code.clone().into());
    out.push(s.name.clone().into());
    out.push(s.department_code.clone().into());
    out.push(s.position.as_str().into());
    out.push(s.phone.clone().into());
    out.push(s.username.clone().into());
    Ok(())
}

#[derive(sqlx::FromRow)]
pub(crate) struct StaffRow {
    code: String,
    name: String,
    department_code: String,
    position: String,
    phone: Option<String>,
    username: Option<String>,
}

impl TryFrom<StaffRow> for Staff {
    type Error = StoreError;
    fn try_from(r: StaffRow) -> Result<Self, StoreError> {
        Ok(Staff {
            position: Position::parse(&r.position)
                .map_err(|e| corrupt("staff", &r.code, "position", e))?,
            code: r.code,
            name: r.name,
            department_code: r.department_code,
            phone: r.phone,
            username: r.username,
        })
    }
}

// ── components and local classes ─────────────────────────────────────────────

pub(crate) const COMPONENT_COLUMNS: &str = "t.id, t.class_code, t.name, t.owner_code, \
     t.owner_name, t.custodian_code, t.custodian_name, t.maintainer_code, t.maintainer_name, \
     t.grid_code, t.status, t.lon, t.lat, t.recorded_on, t.changed_on, t.source, t.note";

pub(crate) const COMPONENT_UPSERT: Upsert = Upsert {
    table: "components",
    columns: &[
        "id",
        "class_code",
        "name",
        "owner_code",
        "owner_name",
        "custodian_code",
        "custodian_name",
        "maintainer_code",
        "maintainer_name",
        "grid_code",
        "status",
        "lon",
        "lat",
        "recorded_on",
        "changed_on",
        "source",
        "note",
    ],
    key: &["id"],
};

fn dept_args(d: &Option<DeptRef>, out: &mut Vec<Arg>) {
    out.push(d.as_ref().map(|d| d.code.clone()).into());
    out.push(d.as_ref().and_then(|d| d.name.clone()).into());
}

pub(crate) fn component_args(c: &Component, out: &mut Vec<Arg>) -> Result<(), Invalid> {
    chengyun_domain::city::wgs84_point(c.lon, c.lat)?;
    out.push(c.id.as_str().into());
    out.push(c.class_code.as_str().into());
    out.push(c.name.clone().into());
    dept_args(&c.owner, out);
    dept_args(&c.custodian, out);
    dept_args(&c.maintainer, out);
    out.push(c.grid_code.as_ref().map(|g| g.as_str()).into());
    out.push(c.status.as_str().into());
    out.push(c.lon.into());
    out.push(c.lat.into());
    out.push(c.recorded_on.into());
    out.push(c.changed_on.into());
    out.push(c.source.clone().into());
    out.push(c.note.clone().into());
    Ok(())
}

#[derive(sqlx::FromRow)]
pub(crate) struct ComponentRow {
    id: String,
    class_code: String,
    name: String,
    owner_code: Option<String>,
    owner_name: Option<String>,
    custodian_code: Option<String>,
    custodian_name: Option<String>,
    maintainer_code: Option<String>,
    maintainer_name: Option<String>,
    grid_code: Option<String>,
    status: String,
    lon: f64,
    lat: f64,
    recorded_on: Option<NaiveDate>,
    changed_on: Option<NaiveDate>,
    source: Option<String>,
    note: Option<String>,
}

fn dept_ref(code: Option<String>, name: Option<String>) -> Option<DeptRef> {
    code.map(|code| DeptRef { code, name })
}

impl TryFrom<ComponentRow> for Component {
    type Error = StoreError;
    fn try_from(r: ComponentRow) -> Result<Self, StoreError> {
        let k = "component";
        Ok(Component {
            id: ComponentId::parse_digits(&r.id).map_err(|e| corrupt(k, &r.id, "id", e))?,
            class_code: ClassCode::parse(&r.class_code)
                .map_err(|e| corrupt(k, &r.id, "class_code", e))?,
            grid_code: r
                .grid_code
                .as_deref()
                .map(GridCode::parse)
                .transpose()
                .map_err(|e| corrupt(k, &r.id, "grid_code", e))?,
            status: ComponentStatus::parse(&r.status)
                .map_err(|e| corrupt(k, &r.id, "status", e))?,
            name: r.name,
            owner: dept_ref(r.owner_code, r.owner_name),
            custodian: dept_ref(r.custodian_code, r.custodian_name),
            maintainer: dept_ref(r.maintainer_code, r.maintainer_name),
            lon: r.lon,
            lat: r.lat,
            recorded_on: r.recorded_on,
            changed_on: r.changed_on,
            source: r.source,
            note: r.note,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct LocalClassRow {
    kind: String,
    code: String,
    major_code: String,
    major_name: String,
    name: String,
}

impl TryFrom<LocalClassRow> for StandardClass {
    type Error = StoreError;
    fn try_from(r: LocalClassRow) -> Result<Self, StoreError> {
        let k = "local class";
        Ok(StandardClass {
            kind: ClassKind::parse(&r.kind).map_err(|e| corrupt(k, &r.code, "kind", e))?,
            code: ClassCode::parse(&r.code).map_err(|e| corrupt(k, &r.code, "code", e))?,
            major_code: r.major_code,
            major_name: r.major_name,
            name: r.name,
            local: true,
        })
    }
}

// ── users and tokens ─────────────────────────────────────────────────────────

pub(crate) const USER_COLUMNS: &str =
    "t.id, t.username, t.display_name, t.department_code, t.roles, t.disabled, t.created_at";

pub(crate) fn roles_json(roles: &[Position]) -> serde_json::Value {
    serde_json::Value::Array(
        roles
            .iter()
            .map(|r| serde_json::Value::String(r.as_str().to_string()))
            .collect(),
    )
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: i64,
    username: String,
    display_name: String,
    department_code: Option<String>,
    roles: Json<Vec<String>>,
    disabled: bool,
    created_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        let roles = r
            .roles
            .0
            .iter()
            .map(|s| Position::parse(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| corrupt("user", &r.id.to_string(), "roles", e))?;
        Ok(User {
            id: r.id,
            username: r.username,
            display_name: r.display_name,
            department_code: r.department_code,
            roles,
            disabled: r.disabled,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserWithHashRow {
    #[sqlx(flatten)]
    pub(crate) user: UserRow,
    pub(crate) password_hash: String,
}

pub(crate) const TOKEN_COLUMNS: &str = "t.id, t.user_id, t.name, t.prefix, t.created_at, \
     t.expires_at, t.last_used_at, t.revoked_at";

#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    id: i64,
    user_id: i64,
    name: String,
    prefix: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<TokenRow> for ApiToken {
    fn from(r: TokenRow) -> Self {
        ApiToken {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            prefix: r.prefix,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }
}

// ── audit ────────────────────────────────────────────────────────────────────

pub(crate) const AUDIT_COLUMNS: &str = "t.id, t.at, t.user_id, t.actor, t.ip, t.request_id, \
     t.action, t.target_kind, t.target, t.details";

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: i64,
    at: DateTime<Utc>,
    user_id: Option<i64>,
    actor: String,
    ip: Option<String>,
    request_id: Option<String>,
    action: String,
    target_kind: String,
    target: String,
    details: Json<serde_json::Value>,
}

impl TryFrom<AuditRow> for chengyun_domain::audit::AuditRecord {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            at: r.at,
            user_id: r.user_id,
            actor: r.actor,
            ip: r.ip,
            request_id: r.request_id,
            action: r.action,
            target_kind: r.target_kind,
            target: r.target,
            details: r.details.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::{LineString, Polygon};

    #[test]
    fn geometry_round_trips_and_boxes() {
        let ring = LineString::from(vec![
            (117.069_123_456_789_01, 28.238_765_432_109_87),
            (117.08, 28.238_765_432_109_87),
            (117.08, 28.25),
            (117.069_123_456_789_01, 28.238_765_432_109_87),
        ]);
        let mp = MultiPolygon(vec![Polygon::new(ring, vec![])]);
        let g = store_geometry(&mp).unwrap();
        assert_eq!(
            g.bbox,
            Some([117.069_123_456_789_01, 28.238_765_432_109_87, 117.08, 28.25])
        );
        let back = load_geometry("area", "360602", &g.geojson).unwrap();
        let (a, b) = (&back.0[0].exterior().0, &mp.0[0].exterior().0);
        assert_eq!(a.len(), b.len());
        for (p, q) in a.iter().zip(b) {
            assert!(
                (p.x - q.x).abs() < 1e-12 && (p.y - q.y).abs() < 1e-12,
                "{p:?} {q:?}"
            );
        }
    }

    #[test]
    fn non_finite_coordinates_are_refused() {
        let ring = LineString::from(vec![
            (f64::NAN, 1.0),
            (2.0, 2.0),
            (3.0, 1.0),
            (f64::NAN, 1.0),
        ]);
        let mp = MultiPolygon(vec![Polygon::new(ring, vec![])]);
        let e = store_geometry(&mp).err().unwrap();
        assert_eq!(e.field, "boundary");
    }

    #[test]
    fn corrupt_rows_name_row_and_column() {
        let row = AreaRow {
            code: "360602".into(),
            name: "月湖区".into(),
            level: "galaxy".into(),
            parent_code: None,
            boundary: None,
        };
        let e = Area::try_from(row).unwrap_err().to_string();
        assert!(e.contains("360602") && e.contains("level"), "{e}");
        let row = AreaRow {
            code: "360602".into(),
            name: "月湖区".into(),
            level: "district".into(),
            parent_code: None,
            boundary: Some("{not json".into()),
        };
        let e = Area::try_from(row).unwrap_err().to_string();
        assert!(e.contains("boundary"), "{e}");
    }
}
