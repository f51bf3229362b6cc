//! All-or-nothing imports of the city model and components, shared by the CLI
//! (`chengyun import …`) and the API (`POST /api/v1/import/…`).
//!
//! Each import parses and validates the whole file first, collecting up to
//! [`ValidationError::LIMIT`] problems that name the line or feature and the rule
//! broken; only a clean file reaches the store, in one transaction.

use chengyun_domain::audit::{Actor, AuditEvent};
use chengyun_domain::city::{Area, Department, DepartmentKind, Position, Staff, Tier};
use chengyun_domain::codes::{ClassCode, DivisionCode, GridCode};
use chengyun_domain::component::{Component, ComponentId, ComponentStatus, DeptRef};
use chengyun_domain::standard::Catalogue;
use chengyun_domain::{Invalid, ValidationError};
use chengyun_geo::{Crs, Locator};
use chengyun_store::{Store, StoreError};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// What an import stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// `areas`, `grids`, `departments`, `staff` or `components`.
    pub kind: String,
    /// Rows written (inserted or replaced).
    pub count: u64,
}

/// Why an import stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Invalid> for ImportError {
    fn from(value: Invalid) -> Self {
        ImportError::Invalid(value.into())
    }
}

fn report(kind: &str, count: u64) -> ImportReport {
    ImportReport {
        kind: kind.to_string(),
        count,
    }
}

fn audit(actor: &Actor, kind: &str, count: usize) -> AuditEvent {
    AuditEvent::new(
        actor,
        &format!("{kind}.import"),
        kind,
        format!("{count} rows"),
    )
    .with(serde_json::json!({ "count": count }))
}

/// Imports administrative areas from GeoJSON (a FeatureCollection or a bare
/// array of features, as DataV exports them), converting from `crs` to WGS-84.
pub async fn import_areas(
    store: &dyn Store,
    json: &[u8],
    crs: Crs,
    actor: &Actor,
) -> Result<ImportReport, ImportError> {
    let mut areas = chengyun_geo::import::parse_areas(json, crs)?;
    detach_unknown_parents(store, &mut areas).await?;
    areas.sort_by_key(|a| (a.level, a.code.clone()));
    let n = store
        .upsert_areas(&areas, &audit(actor, "area", areas.len()))
        .await?;
    Ok(report("areas", n))
}

/// Imports areas without geometry from a CSV code list: columns `code`, `name`
/// and optionally `parent_code`. The national statistics layout (`ext_id`,
/// `ext_name`) is accepted too. Existing boundaries are kept.
pub async fn import_area_codes_csv(
    store: &dyn Store,
    csv_bytes: &[u8],
    actor: &Actor,
) -> Result<ImportReport, ImportError> {
    let table = CsvTable::read(csv_bytes)?;
    let mut problems = ValidationError::default();
    let mut areas = Vec::new();
    let mut seen = HashSet::new();
    for row in table.rows() {
        let parsed = (|| -> Result<Area, Invalid> {
            let code = DivisionCode::parse(row.require(&["code", "ext_id", "区划代码", "编码"])?)
                .map_err(|e| row.err("code", e))?;
            let name = row.require(&["ext_name", "name", "名称"])?.to_string();
            let parent_code = match row.get(&["parent_code", "上级代码"]) {
                Some(p) => Some(DivisionCode::parse(p).map_err(|e| row.err("parent_code", e))?),
                None => code.parent(),
            };
            if !seen.insert(code.clone()) {
                return Err(row.invalid("code", format!("code {code} appears twice in the file")));
            }
            Ok(Area {
                level: code.level(),
                code,
                name,
                parent_code,
                boundary: None,
            })
        })();
        match parsed {
            Ok(a) => areas.push(a),
            Err(e) => problems.push(e),
        }
    }
    problems.into_result()?;
    detach_unknown_parents(store, &mut areas).await?;
    for a in &mut areas {
        if let Some(stored) = store.area(&a.code).await? {
            a.boundary = stored.boundary;
        }
    }
    // Parents first, so each row's parent exists when the row is written.
    areas.sort_by_key(|a| (a.level, a.code.clone()));
    let n = store
        .upsert_areas(&areas, &audit(actor, "area", areas.len()))
        .await?;
    Ok(report("areas", n))
}

/// Leaves the parent empty where it is neither in the file nor stored, so a
/// city can be loaded top-down without its province, or a county alone.
async fn detach_unknown_parents(store: &dyn Store, areas: &mut [Area]) -> Result<(), StoreError> {
    let codes: HashSet<DivisionCode> = areas.iter().map(|a| a.code.clone()).collect();
    for a in areas.iter_mut() {
        if let Some(p) = &a.parent_code
            && !codes.contains(p)
            && store.area(p).await?.is_none()
        {
            a.parent_code = None;
        }
    }
    Ok(())
}

/// Imports unit grids from GeoJSON polygons.
pub async fn import_grids(
    store: &dyn Store,
    json: &[u8],
    crs: Crs,
    locator: &Locator,
    actor: &Actor,
) -> Result<ImportReport, ImportError> {
    let grids = chengyun_geo::import::parse_grids(json, crs, locator)?;
    let n = store
        .upsert_grids(&grids, &audit(actor, "grid", grids.len()))
        .await?;
    Ok(report("grids", n))
}

/// Imports responsibility grids (责任网格) from GeoJSON polygons.
pub async fn import_responsibility_grids(
    store: &dyn Store,
    json: &[u8],
    crs: Crs,
    actor: &Actor,
) -> Result<ImportReport, ImportError> {
    let grids = chengyun_geo::import::parse_responsibility_grids(json, crs)?;
    let n = store
        .upsert_responsibility_grids(&grids, &audit(actor, "responsibility_grid", grids.len()))
        .await?;
    Ok(report("responsibility grids", n))
}

/// Imports departments from CSV: `code,name,kind,tier,area_code,parent_code`
/// (Chinese headers 编码,名称,类型,层级,区划代码,上级编码 work too).
pub async fn import_departments_csv(
    store: &dyn Store,
    csv_bytes: &[u8],
    actor: &Actor,
) -> Result<ImportReport, ImportError> {
    let departments = parse_departments_csv(csv_bytes)?;
    let n = store
        .upsert_departments(&departments, &audit(actor, "department", departments.len()))
        .await?;
    Ok(report("departments", n))
}

pub fn parse_departments_csv(csv_bytes: &[u8]) -> Result<Vec<Department>, ValidationError> {
    let table = CsvTable::read(csv_bytes)?;
    let mut problems = ValidationError::default();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for row in table.rows() {
        let parsed = (|| -> Result<Department, Invalid> {
            let d = Department {
                code: row.require(&["code", "编码", "部门编码"])?.to_string(),
                name: row.require(&["name", "名称", "部门名称"])?.to_string(),
                kind: DepartmentKind::parse(row.require(&["kind", "类型"])?)
                    .map_err(|e| row.err("kind", e))?,
                tier: Tier::parse(row.require(&["tier", "层级"])?)
                    .map_err(|e| row.err("tier", e))?,
                area_code: DivisionCode::parse(row.require(&["area_code", "区划代码"])?)
                    .map_err(|e| row.err("area_code", e))?,
                parent_code: row.get(&["parent_code", "上级编码"]).map(str::to_string),
            };
            d.validate().map_err(|e| row.err("", e))?;
            if !seen.insert(d.code.clone()) {
                return Err(row.invalid(
                    "code",
                    format!("department {} appears twice in the file", d.code),
                ));
            }
            Ok(d)
        })();
        match parsed {
            Ok(d) => out.push(d),
            Err(e) => problems.push(e),
        }
    }
    problems.into_result()?;
    order_parents_first(&mut out);
    Ok(out)
}

/// Sorts departments so that a parent in the batch comes before its children.
fn order_parents_first(deps: &mut Vec<Department>) {
    let codes: HashSet<String> = deps.iter().map(|d| d.code.clone()).collect();
    let mut placed: HashSet<String> = HashSet::new();
    let mut ordered = Vec::with_capacity(deps.len());
    let mut rest = std::mem::take(deps);
    while !rest.is_empty() {
        let before = rest.len();
        let (ready, waiting): (Vec<_>, Vec<_>) =
            rest.into_iter().partition(|d| match &d.parent_code {
                Some(p) if codes.contains(p) => placed.contains(p),
                _ => true,
            });
        for d in &ready {
            placed.insert(d.code.clone());
        }
        ordered.extend(ready);
        rest = waiting;
        if rest.len() == before {
            // A cycle: keep the order; the store reports the broken reference.
            ordered.append(&mut rest);
        }
    }
    *deps = ordered;
}

/// Imports staff from CSV: `code,name,department_code,position,phone,username`
/// (Chinese headers 工号,姓名,部门编码,岗位,电话,账号 work too).
pub async fn import_staff_csv(
    store: &dyn Store,
    csv_bytes: &[u8],
    actor: &Actor,
) -> Result<ImportReport, ImportError> {
    let staff = parse_staff_csv(csv_bytes)?;
    let n = store
        .upsert_staff(&staff, &audit(actor, "staff", staff.len()))
        .await?;
    Ok(report("staff", n))
}

pub fn parse_staff_csv(csv_bytes: &[u8]) -> Result<Vec<Staff>, ValidationError> {
    let table = CsvTable::read(csv_bytes)?;
    let mut problems = ValidationError::default();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for row in table.rows() {
        let parsed = (|| -> Result<Staff, Invalid> {
            let s = Staff {
                code: row.require(&["code", "工号"])?.to_string(),
                name: row.require(&["name", "姓名"])?.to_string(),
                department_code: row.require(&["department_code", "部门编码"])?.to_string(),
                position: Position::parse(row.require(&["position", "岗位"])?)
                    .map_err(|e| row.err("position", e))?,
                phone: row.get(&["phone", "电话"]).map(str::to_string),
                username: row.get(&["username", "账号"]).map(str::to_string),
            };
            s.validate().map_err(|e| row.err("", e))?;
            if !seen.insert(s.code.clone()) {
                return Err(row.invalid(
                    "code",
                    format!("staff {} appears twice in the file", s.code),
                ));
            }
            Ok(s)
        })();
        match parsed {
            Ok(s) => out.push(s),
            Err(e) => problems.push(e),
        }
    }
    problems.into_result()?;
    Ok(out)
}

/// The file layout of a component import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentFormat {
    Csv,
    GeoJson,
}

impl ComponentFormat {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(ComponentFormat::Csv),
            "geojson" | "json" => Ok(ComponentFormat::GeoJson),
            other => Err(Invalid::new(
                "format",
                format!("unknown format {other:?}; use csv or geojson"),
            )),
        }
    }

    /// Guesses the format from a file name.
    pub fn from_path(path: &str) -> Option<Self> {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Some(ComponentFormat::Csv)
        } else if lower.ends_with(".json") || lower.ends_with(".geojson") {
            Some(ComponentFormat::GeoJson)
        } else {
            None
        }
    }
}

/// Imports components from CSV (with `lon`/`lat` or legacy `POINTX`/`POINTY`
/// columns) or GeoJSON points. Standard and legacy field names are both read:
/// OBJID, OBJNAME, DEPTCODE1/DEPTNAME1 (主管), DEPTCODE2/DEPTNAME2 (权属),
/// DEPTCODE3/DEPTNAME3 (养护), BGID, OBJSTATE, ORDATE, CHDATE, DATASOURCE, NOTE.
/// A component without a grid code is placed in the unit grid at its position.
pub async fn import_components(
    store: &dyn Store,
    bytes: &[u8],
    format: ComponentFormat,
    crs: Crs,
    catalogue: &Catalogue,
    locator: &Locator,
    actor: &Actor,
) -> Result<ImportReport, ImportError> {
    let components = parse_components(bytes, format, crs, catalogue, locator)?;
    let n = store
        .upsert_components(&components, &audit(actor, "component", components.len()))
        .await?;
    Ok(report("components", n))
}

pub fn parse_components(
    bytes: &[u8],
    format: ComponentFormat,
    crs: Crs,
    catalogue: &Catalogue,
    locator: &Locator,
) -> Result<Vec<Component>, ValidationError> {
    let records: Vec<(String, Record)> = match format {
        ComponentFormat::Csv => {
            let table = CsvTable::read(bytes)?;
            let mut out = Vec::new();
            for row in table.rows() {
                let place = row.place();
                let mut fields: HashMap<String, String> = HashMap::new();
                for (h, v) in table.headers.iter().zip(row.values.iter()) {
                    fields.insert(h.clone(), v.trim().to_string());
                }
                out.push((
                    place,
                    Record {
                        fields,
                        point: None,
                    },
                ));
            }
            out
        }
        ComponentFormat::GeoJson => chengyun_geo::import::parse_point_features(bytes, crs)?
            .into_iter()
            .map(|(i, props, lon, lat)| {
                let fields = props
                    .into_iter()
                    .map(|(k, v)| {
                        let s = match v {
                            serde_json::Value::String(s) => s,
                            serde_json::Value::Null => String::new(),
                            other => other.to_string(),
                        };
                        (k, s.trim().to_string())
                    })
                    .collect();
                (
                    format!("features[{i}].properties"),
                    Record {
                        fields,
                        point: Some((lon, lat)),
                    },
                )
            })
            .collect(),
    };
    let mut problems = ValidationError::default();
    let mut out = Vec::with_capacity(records.len());
    let mut seen = HashSet::new();
    for (place, rec) in records {
        match rec.component(crs, catalogue, locator) {
            Ok(c) => {
                if seen.insert(c.id.clone()) {
                    out.push(c);
                } else {
                    problems.push(
                        Invalid::new(
                            "id",
                            format!("component {} appears twice in the file", c.id),
                        )
                        .at(&place),
                    );
                }
            }
            Err(e) => problems.push(e.at(&place)),
        }
    }
    problems.into_result()?;
    Ok(out)
}

/// One component record from either format, keyed by field name.
struct Record {
    fields: HashMap<String, String>,
    /// WGS-84 position from a GeoJSON geometry.
    point: Option<(f64, f64)>,
}

impl Record {
    fn get(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .find_map(|n| {
                self.fields
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(n))
                    .map(|(_, v)| v.as_str())
            })
            .filter(|v| !v.is_empty())
    }

    fn require(&self, names: &[&str]) -> Result<&str, Invalid> {
        self.get(names).ok_or_else(|| {
            Invalid::new(
                names[0],
                format!(
                    "missing {} (also read as {})",
                    names[0],
                    names[1..].join(", ")
                ),
            )
        })
    }

    fn dept(&self, code: &[&str], name: &[&str]) -> Option<DeptRef> {
        self.get(code).map(|c| DeptRef {
            code: c.to_string(),
            name: self.get(name).map(str::to_string),
        })
    }

    fn number(&self, names: &[&str]) -> Result<f64, Invalid> {
        let raw = self.require(names)?;
        raw.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| Invalid::new(names[0], format!("{raw:?} is not a number")))
    }

    fn date(&self, names: &[&str]) -> Result<Option<NaiveDate>, Invalid> {
        let Some(raw) = self.get(names) else {
            return Ok(None);
        };
        let day = raw.split([' ', 'T']).next().unwrap_or(raw);
        for fmt in ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"] {
            if let Ok(d) = NaiveDate::parse_from_str(day, fmt) {
                return Ok(Some(d));
            }
        }
        Err(Invalid::new(
            names[0],
            format!("date {raw:?} must be YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD"),
        ))
    }

    fn component(
        &self,
        crs: Crs,
        catalogue: &Catalogue,
        locator: &Locator,
    ) -> Result<Component, Invalid> {
        let id = ComponentId::parse(self.require(&["id", "OBJID", "部件编码"])?, catalogue)?;
        let class_code = match self.get(&["class_code", "小类代码"]) {
            Some(c) => ClassCode::parse(c)?,
            None => ClassCode::parse(id.class_digits())?,
        };
        let (lon, lat) = match self.point {
            Some(p) => p,
            None => {
                let x = self.number(&["lon", "POINTX", "经度", "x"])?;
                let y = self.number(&["lat", "POINTY", "纬度", "y"])?;
                chengyun_domain::city::wgs84_point(x, y)?;
                chengyun_geo::crs::to_wgs84(crs, x, y)
            }
        };
        let grid_code = match self.get(&["grid_code", "BGID", "网格编码"]) {
            Some(g) => Some(GridCode::parse(g).map_err(|e| Invalid::new("grid_code", e.message))?),
            None => locator
                .locate(lon, lat)
                .grid
                .map(|g| GridCode::parse(&g.code))
                .transpose()?,
        };
        let status = match self.get(&["status", "OBJSTATE", "状态"]) {
            Some(s) => ComponentStatus::parse(s)?,
            None => ComponentStatus::Intact,
        };
        let name = match self.get(&["name", "OBJNAME", "部件名称"]) {
            Some(n) => n.to_string(),
            None => catalogue
                .require(
                    chengyun_domain::standard::ClassKind::Component,
                    class_code.as_str(),
                )?
                .name
                .clone(),
        };
        let c = Component {
            id,
            class_code,
            name,
            owner: self.dept(&["owner_code", "DEPTCODE1"], &["owner_name", "DEPTNAME1"]),
            custodian: self.dept(
                &["custodian_code", "DEPTCODE2"],
                &["custodian_name", "DEPTNAME2"],
            ),
            maintainer: self.dept(
                &["maintainer_code", "DEPTCODE3"],
                &["maintainer_name", "DEPTNAME3"],
            ),
            grid_code,
            status,
            lon,
            lat,
            recorded_on: self.date(&["recorded_on", "ORDATE"])?,
            changed_on: self.date(&["changed_on", "CHDATE"])?,
            source: self.get(&["source", "DATASOURCE"]).map(str::to_string),
            note: self.get(&["note", "NOTE"]).map(str::to_string),
        };
        c.validate(catalogue)?;
        Ok(c)
    }
}

/// A CSV file read whole, with its header row, for line-numbered errors.
struct CsvTable {
    headers: Vec<String>,
    rows: Vec<(u64, Vec<String>)>,
}

impl CsvTable {
    fn read(bytes: &[u8]) -> Result<Self, ValidationError> {
        let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
        let text = std::str::from_utf8(bytes).map_err(|e| {
            Invalid::new(
                "file",
                format!(
                    "the file is not UTF-8 (byte {}); save it as UTF-8 CSV",
                    e.valid_up_to()
                ),
            )
        })?;
        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .from_reader(text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| Invalid::new("line 1", format!("cannot read the header row: {e}")))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        if headers.iter().all(|h| h.is_empty()) {
            return Err(Invalid::new("line 1", "the file has no header row").into());
        }
        let mut rows = Vec::new();
        let mut problems = ValidationError::default();
        for rec in reader.records() {
            match rec {
                Ok(r) => {
                    let line = r.position().map(|p| p.line()).unwrap_or(0);
                    rows.push((line, r.iter().map(str::to_string).collect()));
                }
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    problems.push(Invalid::new(
                        format!("line {line}"),
                        format!("malformed CSV row: {e}"),
                    ));
                }
            }
        }
        problems.into_result()?;
        if rows.is_empty() {
            return Err(Invalid::new("file", "the file has a header but no rows").into());
        }
        Ok(Self { headers, rows })
    }

    fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|(line, values)| Row {
            headers: &self.headers,
            line: *line,
            values,
        })
    }
}

struct Row<'a> {
    headers: &'a [String],
    line: u64,
    values: &'a [String],
}

impl Row<'_> {
    fn place(&self) -> String {
        format!("line {}", self.line)
    }

    fn get(&self, names: &[&str]) -> Option<&str> {
        names
            .iter()
            .find_map(|n| self.headers.iter().position(|h| h.eq_ignore_ascii_case(n)))
            .and_then(|i| self.values.get(i))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn require(&self, names: &[&str]) -> Result<&str, Invalid> {
        self.get(names).ok_or_else(|| {
            let also = if names.len() > 1 {
                format!(" (or {})", names[1..].join(", "))
            } else {
                String::new()
            };
            self.invalid(
                names[0],
                format!("column {}{also} is missing or empty", names[0]),
            )
        })
    }

    fn invalid(&self, column: &str, message: String) -> Invalid {
        Invalid::new(column, message).at(self.place())
    }

    /// Re-homes a domain error onto this row and column.
    fn err(&self, column: &str, e: Invalid) -> Invalid {
        let field = if column.is_empty() {
            e.field
        } else {
            column.to_string()
        };
        Invalid::new(field, e.message).at(self.place())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn departments_csv_names_line_and_rule() {
        let csv = "code,name,kind,tier,area_code,parent_code\n\
                   YT-CENTER,鹰潭市城运中心,指挥中心,city,360600,\n\
                   YH-CENTER,月湖区城运中心,command_center,district,360602,YT-CENTER\n\
                   BAD,坏部门,command_center,street,360602,YT-CENTER\n";
        let e = parse_departments_csv(csv.as_bytes()).unwrap_err();
        assert_eq!(e.problems.len(), 1);
        assert_eq!(e.problems[0].field, "line 4.tier");
        let ok = &csv[..csv.find("BAD").unwrap()];
        let deps = parse_departments_csv(ok.as_bytes()).unwrap();
        assert_eq!(deps.len(), 2);
        assert_eq!(deps[0].code, "YT-CENTER");
    }

    #[test]
    fn parents_come_first() {
        let csv = "code,name,kind,tier,area_code,parent_code\n\
                   JB,江边街道指挥中心,command_center,street,360602001,YH\n\
                   YH,月湖区城运中心,command_center,district,360602,YT\n\
                   YT,鹰潭市城运中心,command_center,city,360600,\n";
        let deps = parse_departments_csv(csv.as_bytes()).unwrap();
        let order: Vec<_> = deps.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(order, ["YT", "YH", "JB"]);
    }

    #[test]
    fn staff_csv_reads_chinese_headers() {
        let csv =
            "工号,姓名,部门编码,岗位,电话,账号\nS001,张三,YH-CENTER,网格员,13800000000,zhangsan\n";
        let staff = parse_staff_csv(csv.as_bytes()).unwrap();
        assert_eq!(staff[0].position, Position::Inspector);
        let bad = "工号,姓名,部门编码,岗位\nS001,张三,YH-CENTER,厨师\n";
        let e = parse_staff_csv(bad.as_bytes()).unwrap_err();
        assert_eq!(e.problems[0].field, "line 2.position");
    }

    #[test]
    fn legacy_component_fields_are_mapped() {
        let cat = Catalogue::national();
        let loc = Locator::empty();
        let csv = "OBJID,OBJNAME,DEPTCODE1,DEPTNAME1,DEPTCODE3,DEPTNAME3,BGID,OBJSTATE,ORDATE,CHDATE,DATASOURCE,NOTE,POINTX,POINTY\n\
                   3606020101000001,供水井盖,YT-SW,市水务局,YT-SWYH,养护公司,360602001001001,破损,2019-05-01,2024/03/02,普查,,117.05,28.24\n";
        let cs =
            parse_components(csv.as_bytes(), ComponentFormat::Csv, Crs::Wgs84, &cat, &loc).unwrap();
        let c = &cs[0];
        assert_eq!(c.id.as_str(), "36060201001000001");
        assert_eq!(c.class_code.as_str(), "01001");
        assert_eq!(c.status, ComponentStatus::Damaged);
        assert_eq!(c.owner.as_ref().unwrap().name.as_deref(), Some("市水务局"));
        assert_eq!(c.maintainer.as_ref().unwrap().code, "YT-SWYH");
        assert!(c.custodian.is_none());
        assert_eq!(c.changed_on, NaiveDate::from_ymd_opt(2024, 3, 2));
        assert_eq!(c.grid_code.as_ref().unwrap().as_str(), "360602001001001");
    }

    #[test]
    fn bad_components_are_all_reported() {
        let cat = Catalogue::national();
        let loc = Locator::empty();
        let csv = "id,lon,lat,status\n\
                   36060299999000001,117.0,28.2,完好\n\
                   36060201001000002,117.0,128.2,完好\n\
                   36060201001000003,117.0,28.2,坏了\n\
                   36060201001000004,117.0,28.2,完好\n\
                   36060201001000004,117.0,28.2,完好\n";
        let e = parse_components(csv.as_bytes(), ComponentFormat::Csv, Crs::Wgs84, &cat, &loc)
            .unwrap_err();
        let fields: Vec<_> = e.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            ["line 2.id", "line 3.lat", "line 4.status", "line 6.id"]
        );
    }

    #[test]
    fn csv_errors_are_clear() {
        assert!(CsvTable::read(b"code,name\n").is_err());
        let e = CsvTable::read(b"a,b\n1,2,3\n").err().unwrap();
        assert!(e.problems[0].field.starts_with("line"));
        let e = CsvTable::read(&[0xff, 0xfe, 0x00]).err().unwrap();
        assert!(e.problems[0].message.contains("UTF-8"));
    }
}
