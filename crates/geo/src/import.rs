//! GeoJSON import of boundaries, unit grids and point features.
//!
//! Uploads come from DataV GeoAtlas, AMap-derived exports, legacy GIS systems
//! and hand-made files, so parsing is lenient about shape (a FeatureCollection,
//! a bare JSON array of Features as gmap exports write, or a single Feature)
//! and about property names (`adcode`, `code` or `QUHUADAIMA` …), but strict
//! about content. Imports are all-or-nothing: every feature is checked and up
//! to [`ValidationError::LIMIT`] problems are returned together, each naming
//! the feature (`features[3].properties.adcode`) and the rule it broke, so a
//! user can fix a whole file in one pass. Coordinates are converted to WGS-84.

use crate::crs::{self, Crs};
use crate::index::Locator;
use chengyun_domain::city::{Area, ResponsibilityGrid, UnitGrid};
use chengyun_domain::codes::{AreaLevel, DivisionCode, GridCode};
use chengyun_domain::{Invalid, ValidationError};
use geo::line_intersection::{LineIntersection, line_intersection};
use geo::orient::{Direction, Orient};
use geo::{Coord, InteriorPoint, Line, LineString, MultiPolygon, Polygon};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Property names accepted for an area's division code.
const AREA_CODE_KEYS: [&str; 3] = ["adcode", "code", "QUHUADAIMA"];
const NAME_KEYS: [&str; 2] = ["name", "NAME"];
const GRID_CODE_KEYS: [&str; 3] = ["code", "BGID", "grid_code"];
const GRID_AREA_KEYS: [&str; 2] = ["area_code", "community_code"];
/// DataV marks the top of its hierarchy with the country code as parent.
const COUNTRY_CODE: &str = "100000";
const RESP_CODE_KEYS: [&str; 2] = ["code", "ZRWGBM"];
const RESP_DEPT_KEYS: [&str; 2] = ["department_code", "DEPTCODE"];
const RESP_STAFF_KEYS: [&str; 2] = ["staff_code", "STAFFCODE"];

/// A point feature: (index in the file, properties, WGS-84 lon, lat).
pub type PointFeature = (usize, Map<String, Value>, f64, f64);

/// Parses administrative areas with their boundaries.
///
/// Properties: the code from `adcode`, `code` or `QUHUADAIMA` (number or
/// string; 6, 9 or 12 digits), the name from `name` or `NAME`, an optional
/// `level` (`province`, `city`, `district`, `street`, `community`) that must
/// agree with the code, and the parent from `parent.adcode` (DataV), `parent`
/// or `parent_code`, else from the code itself. Geometry: Polygon or
/// MultiPolygon with closed, non-self-intersecting rings.
pub fn parse_areas(json: &[u8], crs: Crs) -> Result<Vec<Area>, ValidationError> {
    let doc = Features::parse(json)?;
    let mut errs = ValidationError::default();
    let mut seen: HashMap<DivisionCode, String> = HashMap::new();
    let mut out = Vec::with_capacity(doc.items.len());
    for (i, f) in doc.items.iter().enumerate() {
        if errs.problems.len() >= ValidationError::LIMIT {
            break;
        }
        let path = doc.path(i);
        let Some(props) = feature_properties(f, &path, &mut errs) else {
            continue;
        };
        let pp = format!("{path}.properties");
        let code = match find(props, &AREA_CODE_KEYS) {
            None => {
                errs.push(Invalid::new(
                    &pp,
                    "missing the division code: give adcode, code or QUHUADAIMA (6, 9 or 12 digits)",
                ));
                None
            }
            Some((key, v)) => {
                match code_text(v).and_then(|s| DivisionCode::parse(&s).map_err(|e| e.message)) {
                    Ok(c) => {
                        if let Some(first) = seen.get(&c) {
                            errs.push(Invalid::new(
                                format!("{pp}.{key}"),
                                format!("duplicate code {c}: {first} has it already"),
                            ));
                        } else {
                            seen.insert(c.clone(), path.clone());
                        }
                        Some(c)
                    }
                    Err(m) => {
                        errs.push(Invalid::new(format!("{pp}.{key}"), m));
                        None
                    }
                }
            }
        };
        let name = required_name(props, &pp, &mut errs);
        let parent = code.as_ref().and_then(|c| {
            check_level(props, c, &pp, &mut errs);
            area_parent(props, c, &pp, &mut errs)
        });
        let boundary = polygonal(f, crs, &path, &mut errs);
        if let (Some(code), Some(name), Some(boundary)) = (code, name, boundary) {
            out.push(Area {
                level: code.level(),
                code,
                name,
                parent_code: parent.unwrap_or(None),
                boundary: Some(boundary),
            });
        }
    }
    errs.into_result()?;
    Ok(out)
}

/// Parses unit grid polygons.
///
/// Properties: the grid code from `code`, `BGID` or `grid_code` (14 or 15
/// characters), an optional `name`, and the area the grid belongs to from
/// `area_code` or `community_code`; without one, the community (else street)
/// that `locator` finds at the polygon's interior point.
pub fn parse_grids(
    json: &[u8],
    crs: Crs,
    locator: &Locator,
) -> Result<Vec<UnitGrid>, ValidationError> {
    let doc = Features::parse(json)?;
    let mut errs = ValidationError::default();
    let mut seen: HashMap<GridCode, String> = HashMap::new();
    let mut out = Vec::with_capacity(doc.items.len());
    for (i, f) in doc.items.iter().enumerate() {
        if errs.problems.len() >= ValidationError::LIMIT {
            break;
        }
        let path = doc.path(i);
        let Some(props) = feature_properties(f, &path, &mut errs) else {
            continue;
        };
        let pp = format!("{path}.properties");
        let code = match find(props, &GRID_CODE_KEYS) {
            None => {
                errs.push(Invalid::new(
                    &pp,
                    "missing the grid code: give code, BGID or grid_code (15 characters, or 14 digits)",
                ));
                None
            }
            Some((key, v)) => {
                match code_text(v).and_then(|s| GridCode::parse(&s).map_err(|e| e.message)) {
                    Ok(c) => {
                        if let Some(first) = seen.get(&c) {
                            errs.push(Invalid::new(
                                format!("{pp}.{key}"),
                                format!("duplicate grid code {c}: {first} has it already"),
                            ));
                        } else {
                            seen.insert(c.clone(), path.clone());
                        }
                        Some(c)
                    }
                    Err(m) => {
                        errs.push(Invalid::new(format!("{pp}.{key}"), m));
                        None
                    }
                }
            }
        };
        let name = optional_name(props, &pp, &mut errs);
        let explicit_area = match find(props, &GRID_AREA_KEYS) {
            None => None,
            Some((key, v)) => {
                match code_text(v).and_then(|s| DivisionCode::parse(&s).map_err(|e| e.message)) {
                    Ok(c) => Some(c),
                    Err(m) => {
                        errs.push(Invalid::new(format!("{pp}.{key}"), m));
                        // Do not also complain that it is missing.
                        continue;
                    }
                }
            }
        };
        let Some(boundary) = polygonal(f, crs, &path, &mut errs) else {
            continue;
        };
        let area_code = match explicit_area {
            Some(c) => c,
            None => match locate_owner(&boundary, locator) {
                Ok(c) => c,
                Err(m) => {
                    errs.push(Invalid::new(format!("{pp}.area_code"), m));
                    continue;
                }
            },
        };
        if let Some(code) = code {
            let area_m2 = crate::grid::geodesic_area_m2(&boundary);
            out.push(UnitGrid {
                code,
                name,
                area_code,
                boundary,
                area_m2,
            });
        }
    }
    errs.into_result()?;
    Ok(out)
}

/// Parses responsibility grids (责任网格): polygons with `code` (or `ZRWGBM`),
/// `name`, and optionally the responsible `department_code` and `staff_code`.
pub fn parse_responsibility_grids(
    json: &[u8],
    crs: Crs,
) -> Result<Vec<ResponsibilityGrid>, ValidationError> {
    let doc = Features::parse(json)?;
    let mut errs = ValidationError::default();
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut out = Vec::with_capacity(doc.items.len());
    for (i, f) in doc.items.iter().enumerate() {
        if errs.problems.len() >= ValidationError::LIMIT {
            break;
        }
        let path = doc.path(i);
        let Some(props) = feature_properties(f, &path, &mut errs) else {
            continue;
        };
        let pp = format!("{path}.properties");
        let text = |keys: &[&'static str], errs: &mut ValidationError| -> Option<String> {
            let (key, v) = find(props, keys)?;
            match code_text(v) {
                Ok(s) if s.is_empty() || s.len() > 64 => {
                    errs.push(Invalid::new(
                        format!("{pp}.{key}"),
                        "must be 1-64 characters",
                    ));
                    None
                }
                Ok(s) => Some(s),
                Err(m) => {
                    errs.push(Invalid::new(format!("{pp}.{key}"), m));
                    None
                }
            }
        };
        let code = text(&RESP_CODE_KEYS, &mut errs);
        if code.is_none() && find(props, &RESP_CODE_KEYS).is_none() {
            errs.push(Invalid::new(
                &pp,
                "missing the responsibility grid code: give code or ZRWGBM",
            ));
        }
        let name = optional_name(props, &pp, &mut errs);
        let department_code = text(&RESP_DEPT_KEYS, &mut errs);
        let staff_code = text(&RESP_STAFF_KEYS, &mut errs);
        let Some(boundary) = polygonal(f, crs, &path, &mut errs) else {
            continue;
        };
        let Some(code) = code else { continue };
        if let Some(first) = seen.insert(code.clone(), path.clone()) {
            errs.push(Invalid::new(
                format!("{pp}.code"),
                format!("duplicate responsibility grid code {code}: {first} has it already"),
            ));
            continue;
        }
        out.push(ResponsibilityGrid {
            name: name.unwrap_or_else(|| code.clone()),
            code,
            department_code,
            staff_code,
            boundary,
        });
    }
    errs.into_result()?;
    Ok(out)
}

/// Parses Point features (components, devices): each with its index in the
/// file, its properties (empty when null) and its WGS-84 longitude and latitude.
pub fn parse_point_features(json: &[u8], crs: Crs) -> Result<Vec<PointFeature>, ValidationError> {
    let doc = Features::parse(json)?;
    let mut errs = ValidationError::default();
    let mut out = Vec::with_capacity(doc.items.len());
    for (i, f) in doc.items.iter().enumerate() {
        if errs.problems.len() >= ValidationError::LIMIT {
            break;
        }
        let path = doc.path(i);
        let Some(props) = feature_properties(f, &path, &mut errs) else {
            continue;
        };
        let gp = format!("{path}.geometry");
        let point = match f.get("geometry") {
            None | Some(Value::Null) => Err(Invalid::new(&gp, "a Point geometry is required")),
            Some(g) => match g.get("type").and_then(Value::as_str) {
                Some("Point") => position(g.get("coordinates"), &format!("{gp}.coordinates")),
                Some(other) => Err(Invalid::new(
                    format!("{gp}.type"),
                    format!("expected a Point, found a {other}"),
                )),
                None => Err(Invalid::new(
                    format!("{gp}.type"),
                    "the geometry has no type; expected a Point",
                )),
            },
        };
        match point {
            Ok(c) => {
                let (lon, lat) = crs::to_wgs84(crs, c.x, c.y);
                out.push((i, props.clone(), lon, lat));
            }
            Err(e) => errs.push(e),
        }
    }
    errs.into_result()?;
    Ok(out)
}

/// The features of an uploaded document and how to name them in errors.
struct Features {
    items: Vec<Value>,
    /// `features` for a FeatureCollection, empty for a bare array.
    prefix: &'static str,
}

impl Features {
    fn parse(json: &[u8]) -> Result<Features, ValidationError> {
        let v: Value = serde_json::from_slice(json)
            .map_err(|e| Invalid::new("json", format!("the file is not valid JSON: {e}")))?;
        let doc = match v {
            Value::Array(items) => Features { items, prefix: "" },
            Value::Object(mut o) => match o.get("type").and_then(Value::as_str) {
                Some("FeatureCollection") => match o.remove("features") {
                    Some(Value::Array(items)) => Features {
                        items,
                        prefix: "features",
                    },
                    _ => {
                        return Err(Invalid::new(
                            "features",
                            "a FeatureCollection needs a \"features\" array",
                        )
                        .into());
                    }
                },
                Some("Feature") => Features {
                    items: vec![Value::Object(o)],
                    prefix: "features",
                },
                other => {
                    return Err(Invalid::new(
                        "type",
                        format!(
                            "expected a FeatureCollection, a Feature or a JSON array of Features, found type {}",
                            other.map_or("(none)".to_string(), |t| format!("{t:?}"))
                        ),
                    )
                    .into());
                }
            },
            other => {
                return Err(Invalid::new(
                    "json",
                    format!(
                        "expected a FeatureCollection or an array of Features, found {}",
                        json_kind(&other)
                    ),
                )
                .into());
            }
        };
        if doc.items.is_empty() {
            return Err(Invalid::new(
                if doc.prefix.is_empty() {
                    "json"
                } else {
                    doc.prefix
                },
                "the file holds no features",
            )
            .into());
        }
        Ok(doc)
    }

    fn path(&self, i: usize) -> String {
        format!("{}[{i}]", self.prefix)
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

/// Checks a feature's shape and returns its properties (empty when null).
fn feature_properties<'a>(
    f: &'a Value,
    path: &str,
    errs: &mut ValidationError,
) -> Option<&'a Map<String, Value>> {
    let Some(o) = f.as_object() else {
        errs.push(Invalid::new(
            path,
            format!("expected a Feature object, found {}", json_kind(f)),
        ));
        return None;
    };
    match o.get("type").and_then(Value::as_str) {
        Some("Feature") => {}
        other => {
            errs.push(Invalid::new(
                format!("{path}.type"),
                format!(
                    "expected \"Feature\", found {}",
                    other.map_or("nothing".to_string(), |t| format!("{t:?}"))
                ),
            ));
            return None;
        }
    }
    match o.get("properties") {
        None | Some(Value::Null) => Some(&EMPTY),
        Some(Value::Object(p)) => Some(p),
        Some(other) => {
            errs.push(Invalid::new(
                format!("{path}.properties"),
                format!("expected an object, found {}", json_kind(other)),
            ));
            None
        }
    }
}

/// The first of `keys` present with a non-null value.
fn find<'a>(
    props: &'a Map<String, Value>,
    keys: &[&'static str],
) -> Option<(&'static str, &'a Value)> {
    keys.iter()
        .find_map(|k| props.get(*k).filter(|v| !v.is_null()).map(|v| (*k, v)))
}

/// A code given as a string or a whole number.
fn code_text(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.trim().to_string()),
        Value::Number(n) => n.as_u64().map(|u| u.to_string()).ok_or_else(|| {
            format!("code {n} must be a whole non-negative number or a string of digits")
        }),
        other => Err(format!(
            "a code must be a string or a number, found {}",
            json_kind(other)
        )),
    }
}

fn required_name(
    props: &Map<String, Value>,
    pp: &str,
    errs: &mut ValidationError,
) -> Option<String> {
    match find(props, &NAME_KEYS) {
        None => {
            errs.push(Invalid::new(pp, "missing the name: give name or NAME"));
            None
        }
        Some((_, Value::String(s))) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some((key, other)) => {
            errs.push(Invalid::new(
                format!("{pp}.{key}"),
                format!(
                    "the name must be a non-empty string, found {}",
                    json_kind(other)
                ),
            ));
            None
        }
    }
}

fn optional_name(
    props: &Map<String, Value>,
    pp: &str,
    errs: &mut ValidationError,
) -> Option<String> {
    match find(props, &NAME_KEYS) {
        None => None,
        Some((_, Value::String(s))) if s.trim().is_empty() => None,
        Some((_, Value::String(s))) => Some(s.trim().to_string()),
        Some((key, other)) => {
            errs.push(Invalid::new(
                format!("{pp}.{key}"),
                format!("the name must be a string, found {}", json_kind(other)),
            ));
            None
        }
    }
}

/// An optional `level` must agree with the code's own level.
fn check_level(
    props: &Map<String, Value>,
    code: &DivisionCode,
    pp: &str,
    errs: &mut ValidationError,
) {
    let Some(v) = props.get("level").filter(|v| !v.is_null()) else {
        return;
    };
    let field = format!("{pp}.level");
    let Some(s) = v.as_str() else {
        errs.push(Invalid::new(
            field,
            format!("the level must be a string, found {}", json_kind(v)),
        ));
        return;
    };
    match s.trim().to_ascii_lowercase().parse::<AreaLevel>() {
        Err(e) => errs.push(Invalid::new(field, e.message)),
        Ok(level) if level != code.level() => errs.push(Invalid::new(
            field,
            format!(
                "level {s:?} disagrees with code {code}, which is a {} code",
                code.level().as_str()
            ),
        )),
        Ok(_) => {}
    }
}

/// The parent code: `Some(None)` for a top-level area, `None` after an error.
fn area_parent(
    props: &Map<String, Value>,
    code: &DivisionCode,
    pp: &str,
    errs: &mut ValidationError,
) -> Option<Option<DivisionCode>> {
    let given = match props.get("parent").filter(|v| !v.is_null()) {
        Some(Value::Object(o)) => Some(("parent.adcode", o.get("adcode").unwrap_or(&Value::Null))),
        Some(v) => Some(("parent", v)),
        None => props
            .get("parent_code")
            .filter(|v| !v.is_null())
            .map(|v| ("parent_code", v)),
    };
    let Some((key, v)) = given else {
        return Some(code.parent());
    };
    let field = format!("{pp}.{key}");
    let parent = match code_text(v).and_then(|s| {
        if s == COUNTRY_CODE {
            Ok(None)
        } else {
            DivisionCode::parse(&s).map(Some).map_err(|e| e.message)
        }
    }) {
        Ok(p) => p,
        Err(m) => {
            errs.push(Invalid::new(field, m));
            return None;
        }
    };
    if let Some(p) = &parent
        && (p.level() >= code.level() || !p.contains(code))
    {
        errs.push(Invalid::new(
            field,
            format!("parent {p} does not contain area {code}: a parent is a coarser area whose code prefixes the child's"),
        ));
        return None;
    }
    Some(parent)
}

/// The community (else street) the locator finds inside a grid polygon.
fn locate_owner(boundary: &MultiPolygon<f64>, locator: &Locator) -> Result<DivisionCode, String> {
    let p = boundary
        .interior_point()
        .ok_or_else(|| "the grid polygon has no interior point to locate".to_string())?;
    let hit = locator.locate_hit(p.x(), p.y());
    [AreaLevel::Community, AreaLevel::Street]
        .into_iter()
        .find_map(|l| locator.area(&hit, l))
        .map(|(c, _)| c.clone())
        .ok_or_else(|| {
            format!(
                "missing, and the grid's interior point ({:.6}, {:.6}) lies in no known community or street; give area_code",
                p.x(),
                p.y()
            )
        })
}

/// One [lon, lat] position, finite and on the globe.
fn position(v: Option<&Value>, field: &str) -> Result<Coord<f64>, Invalid> {
    let arr = v
        .and_then(Value::as_array)
        .ok_or_else(|| Invalid::new(field, "a position must be an array [longitude, latitude]"))?;
    if arr.len() < 2 {
        return Err(Invalid::new(
            field,
            format!(
                "a position needs longitude and latitude, found {} number(s)",
                arr.len()
            ),
        ));
    }
    let num = |k: usize| arr[k].as_f64().filter(|x| x.is_finite());
    let (Some(x), Some(y)) = (num(0), num(1)) else {
        return Err(Invalid::new(
            field,
            "longitude and latitude must be finite numbers",
        ));
    };
    if !(-180.0..=180.0).contains(&x) || !(-90.0..=90.0).contains(&y) {
        return Err(Invalid::new(
            field,
            format!(
                "position [{x}, {y}] is off the globe: longitude must be in -180..180 and latitude in -90..90 (is it projected, or lat/lon swapped?)"
            ),
        ));
    }
    Ok(Coord { x, y })
}

/// The Polygon or MultiPolygon geometry of a feature, checked and in WGS-84.
fn polygonal(
    f: &Value,
    crs: Crs,
    path: &str,
    errs: &mut ValidationError,
) -> Option<MultiPolygon<f64>> {
    let gp = format!("{path}.geometry");
    let Some(g) = f.get("geometry").filter(|g| !g.is_null()) else {
        errs.push(Invalid::new(
            gp,
            "a Polygon or MultiPolygon geometry is required",
        ));
        return None;
    };
    let coords = g.get("coordinates");
    let cp = format!("{gp}.coordinates");
    let polys: Vec<(String, &Value)> = match g.get("type").and_then(Value::as_str) {
        Some("Polygon") => vec![(cp, coords.unwrap_or(&Value::Null))],
        Some("MultiPolygon") => match coords.and_then(Value::as_array) {
            Some(parts) if !parts.is_empty() => parts
                .iter()
                .enumerate()
                .map(|(k, p)| (format!("{cp}[{k}]"), p))
                .collect(),
            _ => {
                errs.push(Invalid::new(
                    cp,
                    "a MultiPolygon needs a non-empty array of polygons",
                ));
                return None;
            }
        },
        Some(other) => {
            errs.push(Invalid::new(
                format!("{gp}.type"),
                format!("expected a Polygon or MultiPolygon, found a {other}"),
            ));
            return None;
        }
        None => {
            errs.push(Invalid::new(
                format!("{gp}.type"),
                "the geometry has no type; expected a Polygon or MultiPolygon",
            ));
            return None;
        }
    };
    let mut out = Vec::with_capacity(polys.len());
    let mut ok = true;
    for (pp, pv) in polys {
        match polygon(pv, crs, &pp) {
            Ok(p) => out.push(p),
            Err(e) => {
                errs.push(e);
                ok = false;
            }
        }
    }
    ok.then_some(MultiPolygon(out))
}

fn polygon(v: &Value, crs: Crs, path: &str) -> Result<Polygon<f64>, Invalid> {
    let rings = v
        .as_array()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| Invalid::new(path, "a polygon must be a non-empty array of rings"))?;
    let mut parsed = Vec::with_capacity(rings.len());
    for (r, ring) in rings.iter().enumerate() {
        let rp = format!("{path}[{r}]");
        let positions = ring
            .as_array()
            .ok_or_else(|| Invalid::new(&rp, "a ring must be an array of positions"))?;
        if positions.len() < 4 {
            return Err(Invalid::new(
                &rp,
                format!(
                    "a ring needs at least 4 positions (first repeated last), found {}",
                    positions.len()
                ),
            ));
        }
        let mut pts = Vec::with_capacity(positions.len());
        for (k, p) in positions.iter().enumerate() {
            pts.push(position(Some(p), &format!("{rp}[{k}]"))?);
        }
        let (first, last) = (pts[0], pts[pts.len() - 1]);
        if first != last {
            return Err(Invalid::new(
                &rp,
                format!(
                    "the ring is not closed: it starts at [{}, {}] but ends at [{}, {}]",
                    first.x, first.y, last.x, last.y
                ),
            ));
        }
        for c in &mut pts {
            let (x, y) = crs::to_wgs84(crs, c.x, c.y);
            *c = Coord { x, y };
        }
        pts.dedup();
        if pts.len() < 4 {
            return Err(Invalid::new(&rp, "a ring needs at least 3 distinct points"));
        }
        parsed.push((rp, pts));
    }
    for (rp, pts) in &parsed {
        if let Some((a, b, at)) = self_intersection(pts) {
            return Err(Invalid::new(
                rp,
                format!(
                    "the ring intersects itself (edges {a} and {b} meet at [{:.6}, {:.6}]); a boundary must be a simple ring",
                    at.x, at.y
                ),
            ));
        }
    }
    let mut rings = parsed.into_iter().map(|(_, pts)| LineString(pts));
    let exterior = rings.next().unwrap_or_else(|| LineString(Vec::new()));
    // RFC 7946 winding (exterior counter-clockwise), whatever the source used.
    Ok(Polygon::new(exterior, rings.collect()).orient(Direction::Default))
}

/// The first pair of edges of a closed ring (consecutive duplicates removed)
/// that touch or cross where they should not: non-neighbours meeting anywhere,
/// or neighbours folding back over each other. Sort-and-sweep over x keeps
/// this near O(n log n) for real boundaries.
fn self_intersection(pts: &[Coord<f64>]) -> Option<(usize, usize, Coord<f64>)> {
    let n = pts.len() - 1;
    if n < 3 {
        return None;
    }
    let lines: Vec<Line<f64>> = (0..n).map(|i| Line::new(pts[i], pts[i + 1])).collect();
    let mut order: Vec<usize> = (0..n).collect();
    let min_x = |i: usize| lines[i].start.x.min(lines[i].end.x);
    let max_x = |i: usize| lines[i].start.x.max(lines[i].end.x);
    order.sort_by(|&a, &b| min_x(a).total_cmp(&min_x(b)));
    let mut active: Vec<usize> = Vec::new();
    for &i in &order {
        let x = min_x(i);
        active.retain(|&j| max_x(j) >= x);
        let (ilo, ihi) = y_span(&lines[i]);
        for &j in &active {
            let (jlo, jhi) = y_span(&lines[j]);
            if jhi < ilo || jlo > ihi {
                continue;
            }
            let neighbours = i.abs_diff(j) == 1 || i.abs_diff(j) == n - 1;
            match line_intersection(lines[i], lines[j]) {
                Some(LineIntersection::SinglePoint { intersection, .. }) if !neighbours => {
                    return Some((i.min(j), i.max(j), intersection));
                }
                // Neighbours share one point; sharing a stretch is a fold.
                Some(LineIntersection::Collinear { intersection })
                    if !neighbours || intersection.start != intersection.end =>
                {
                    return Some((i.min(j), i.max(j), intersection.start));
                }
                _ => {}
            }
        }
        active.push(i);
    }
    None
}

fn y_span(l: &Line<f64>) -> (f64, f64) {
    (l.start.y.min(l.end.y), l.start.y.max(l.end.y))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fc(features: &str) -> Vec<u8> {
        format!(r#"{{"type":"FeatureCollection","features":[{features}]}}"#).into_bytes()
    }

    const SQUARE: &str = r#"{"type":"Polygon","coordinates":[[[117.0,28.2],[117.1,28.2],[117.1,28.3],[117.0,28.3],[117.0,28.2]]]}"#;

    #[test]
    fn self_intersection_finds_bow_tie_and_folds() {
        let c = |x: f64, y: f64| Coord { x, y };
        let bow = [c(0., 0.), c(1., 1.), c(1., 0.), c(0., 1.), c(0., 0.)];
        assert!(self_intersection(&bow).is_some());
        let square = [c(0., 0.), c(1., 0.), c(1., 1.), c(0., 1.), c(0., 0.)];
        assert!(self_intersection(&square).is_none());
        let fold = [c(0., 0.), c(2., 0.), c(1., 0.), c(1., 1.), c(0., 0.)];
        assert!(self_intersection(&fold).is_some());
        let touch = [
            c(0., 0.),
            c(2., 0.),
            c(1., 1.),
            c(2., 2.),
            c(0., 2.),
            c(1., 1.),
            c(0., 0.),
        ];
        assert!(self_intersection(&touch).is_some());
    }

    #[test]
    fn parses_string_codes_and_derives_parents() {
        let json = fc(&format!(
            r#"{{"type":"Feature","properties":{{"code":"360602001000","NAME":"江边街道"}},"geometry":{SQUARE}}}"#
        ));
        let areas = parse_areas(&json, Crs::Wgs84).unwrap();
        assert_eq!(areas[0].code.as_str(), "360602001");
        assert_eq!(areas[0].level, AreaLevel::Street);
        assert_eq!(areas[0].parent_code.as_ref().unwrap().as_str(), "360602");
        assert_eq!(areas[0].boundary.as_ref().unwrap().0.len(), 1);
    }

    #[test]
    fn collects_every_problem_with_feature_paths() {
        let json = fc(&format!(
            r#"{{"type":"Feature","properties":{{"adcode":"3606","name":"x"}},"geometry":{SQUARE}}},
               {{"type":"Feature","properties":{{"adcode":360602,"name":"y","level":"city"}},"geometry":{SQUARE}}},
               {{"type":"Feature","properties":{{"adcode":360603,"name":"z","parent":{{"adcode":360700}}}},"geometry":{SQUARE}}},
               {{"type":"Feature","properties":{{"adcode":360681,"name":"w"}},"geometry":{{"type":"Polygon","coordinates":[[[117.0,28.2],[117.1,28.2],[117.1,28.3]]]}}}},
               {{"type":"Feature","properties":{{"adcode":360682,"name":"v"}},"geometry":{{"type":"Polygon","coordinates":[[[117.0,28.2],[117.1,28.2],[117.1,28.3],[117.0,28.3],[117.0,28.25]]]}}}},
               {{"type":"Feature","properties":{{"adcode":360683,"name":"u"}},"geometry":{{"type":"Polygon","coordinates":[[[117.0,28.2],[417.1,28.2],[117.1,28.3],[117.0,28.2]]]}}}}"#
        ));
        let e = parse_areas(&json, Crs::Wgs84).unwrap_err();
        let fields: Vec<&str> = e.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "features[0].properties.adcode",
                "features[1].properties.level",
                "features[2].properties.parent.adcode",
                "features[3].geometry.coordinates[0]",
                "features[4].geometry.coordinates[0]",
                "features[5].geometry.coordinates[0][1]",
            ],
            "{e:?}"
        );
        assert!(e.problems[3].message.contains("at least 4"));
        assert!(e.problems[4].message.contains("not closed"));
        assert!(e.problems[5].message.contains("off the globe"));
    }

    #[test]
    fn point_features_keep_properties_and_convert() {
        let json = br#"[{"type":"Feature","properties":{"OBJID":"1"},"geometry":{"type":"Point","coordinates":[117.05,28.24]}},
                        {"type":"Feature","properties":null,"geometry":{"type":"Point","coordinates":[117.06,28.25]}}]"#;
        let pts = parse_point_features(json, Crs::Gcj02).unwrap();
        assert_eq!(pts.len(), 2);
        assert_eq!(pts[0].1["OBJID"], "1");
        assert!(pts[1].1.is_empty());
        let (x, y) = crs::gcj02_to_wgs84(117.05, 28.24);
        assert_eq!((pts[0].2, pts[0].3), (x, y));
        let bad = format!(r#"[{{"type":"Feature","properties":{{}},"geometry":{SQUARE}}}]"#);
        let e = parse_point_features(bad.as_bytes(), Crs::Wgs84).unwrap_err();
        assert_eq!(e.problems[0].field, "[0].geometry.type");
    }

    #[test]
    fn grids_take_area_from_property_or_locator() {
        let areas = parse_areas(
            &fc(&format!(
                r#"{{"type":"Feature","properties":{{"code":"360602001","name":"江边街道"}},"geometry":{SQUARE}}}"#
            )),
            Crs::Wgs84,
        )
        .unwrap();
        let locator = Locator::build(&areas, &[]);
        let cell = r#"{"type":"Polygon","coordinates":[[[117.01,28.21],[117.02,28.21],[117.02,28.22],[117.01,28.22],[117.01,28.21]]]}"#;
        let json = fc(&format!(
            r#"{{"type":"Feature","properties":{{"BGID":"360602001000001"}},"geometry":{cell}}},
               {{"type":"Feature","properties":{{"code":"360602001000002","name":"二号","area_code":"360602001001"}},"geometry":{cell}}}"#
        ));
        let grids = parse_grids(&json, Crs::Wgs84, &locator).unwrap();
        assert_eq!(grids[0].area_code.as_str(), "360602001");
        assert_eq!(grids[1].area_code.as_str(), "360602001001");
        assert_eq!(grids[1].name.as_deref(), Some("二号"));
        assert!(
            (grids[0].area_m2 - 1.08e6).abs() < 0.1e6,
            "{}",
            grids[0].area_m2
        );
        let e = parse_grids(&json, Crs::Wgs84, &Locator::empty()).unwrap_err();
        assert_eq!(e.problems.len(), 1);
        assert_eq!(e.problems[0].field, "features[0].properties.area_code");
        let dup = fc(&format!(
            r#"{{"type":"Feature","properties":{{"code":"360602001000001","area_code":"360602001"}},"geometry":{cell}}},
               {{"type":"Feature","properties":{{"code":"360602001000001","area_code":"360602001"}},"geometry":{cell}}}"#
        ));
        let e = parse_grids(&dup, Crs::Wgs84, &locator).unwrap_err();
        assert!(e.problems[0].message.contains("duplicate"), "{e}");
        assert!(e.problems[0].message.contains("features[0]"), "{e}");
    }
}
