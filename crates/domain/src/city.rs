//! The city model: administrative areas, unit and responsibility grids,
//! departments of the three-tier command system, and their staff.

use crate::Invalid;
use crate::codes::{AreaLevel, DivisionCode, GridCode};
use geo_types::{MultiPolygon, Point};
use serde::{Deserialize, Serialize};

/// An administrative area: city, district/county, street/township, community/village.
/// Geometry is WGS-84.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Area {
    pub code: DivisionCode,
    pub name: String,
    pub level: AreaLevel,
    /// The area one level up, when it is known to the city.
    pub parent_code: Option<DivisionCode>,
    /// Boundary in WGS-84, GeoJSON in the API; `None` for areas imported from a code list only.
    #[serde(
        default,
        serialize_with = "geojson_opt::serialize",
        deserialize_with = "geojson_opt::deserialize"
    )]
    #[schema(value_type = Option<Object>)]
    pub boundary: Option<MultiPolygon<f64>>,
}

impl Area {
    /// The 12-digit statistical code (zero padded).
    pub fn statistical_code(&self) -> String {
        self.code.statistical()
    }
}

/// A unit grid (单元网格), the smallest management cell, ~100 m × 100 m.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UnitGrid {
    pub code: GridCode,
    pub name: Option<String>,
    /// The community (or street, when no communities are known) the grid lies in.
    pub area_code: DivisionCode,
    #[serde(
        serialize_with = "geojson_req::serialize",
        deserialize_with = "geojson_req::deserialize"
    )]
    #[schema(value_type = Object)]
    pub boundary: MultiPolygon<f64>,
    /// Surface in square metres.
    pub area_m2: f64,
}

/// A responsibility grid (责任网格): an area assigned to a responsible unit or person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResponsibilityGrid {
    pub code: String,
    pub name: String,
    pub department_code: Option<String>,
    pub staff_code: Option<String>,
    #[serde(
        serialize_with = "geojson_req::serialize",
        deserialize_with = "geojson_req::deserialize"
    )]
    #[schema(value_type = Object)]
    pub boundary: MultiPolygon<f64>,
}

/// The kind of a department in the command system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DepartmentKind {
    /// 指挥中心: the operations center of a tier.
    CommandCenter,
    /// 分中心: a city sub-center (城管, 110, 市场监管 …).
    SubCenter,
    /// 职能部门: a functional department that handles cases.
    Functional,
}

impl DepartmentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DepartmentKind::CommandCenter => "command_center",
            DepartmentKind::SubCenter => "sub_center",
            DepartmentKind::Functional => "functional",
        }
    }

    /// Accepts the API names and the Chinese names used in department lists.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Ok(match s.trim() {
            "command_center" | "指挥中心" | "城运中心" => DepartmentKind::CommandCenter,
            "sub_center" | "分中心" => DepartmentKind::SubCenter,
            "functional" | "职能部门" | "处置部门" => DepartmentKind::Functional,
            other => {
                return Err(Invalid::new(
                    "kind",
                    format!(
                        "unknown department kind {other:?}; use command_center (指挥中心), sub_center (分中心) or functional (职能部门)"
                    ),
                ));
            }
        })
    }
}

/// The tier of the three-tier command system a department works at.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    City,
    District,
    Street,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::City => "city",
            Tier::District => "district",
            Tier::Street => "street",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Ok(match s.trim() {
            "city" | "市" | "市级" => Tier::City,
            "district" | "区" | "县" | "区县" | "区级" => Tier::District,
            "street" | "街道" | "乡镇" | "街道乡镇" => Tier::Street,
            other => {
                return Err(Invalid::new(
                    "tier",
                    format!("unknown tier {other:?}; use city, district or street"),
                ));
            }
        })
    }

    /// The tier whose departments cover an area of `level`.
    pub fn for_level(level: AreaLevel) -> Option<Tier> {
        match level {
            AreaLevel::City => Some(Tier::City),
            AreaLevel::District => Some(Tier::District),
            AreaLevel::Street => Some(Tier::Street),
            AreaLevel::Province | AreaLevel::Community => None,
        }
    }
}

/// A department: a command center, a sub-center or a functional department.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Department {
    /// Stable code chosen by the city (e.g. `YT-CGJ`), unique.
    pub code: String,
    pub name: String,
    pub kind: DepartmentKind,
    pub tier: Tier,
    /// The area the department is responsible for.
    pub area_code: DivisionCode,
    /// The department it reports to (a sub-center reports to the city center, a
    /// district center to the city center, a street center to its district center).
    pub parent_code: Option<String>,
}

impl Department {
    /// Checks the rules that hold within one department record.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.code.trim().is_empty() || self.code.len() > 64 {
            return Err(Invalid::new(
                "code",
                "a department code must be 1-64 characters",
            ));
        }
        if self.name.trim().is_empty() {
            return Err(Invalid::new("name", "a department needs a name"));
        }
        let expected = Tier::for_level(self.area_code.level());
        if expected != Some(self.tier) {
            return Err(Invalid::new(
                "tier",
                format!(
                    "a {} tier department must cover a {} area, but {} is a {}",
                    self.tier.as_str(),
                    self.tier.as_str(),
                    self.area_code,
                    self.area_code.level().as_str()
                ),
            ));
        }
        if self.kind == DepartmentKind::SubCenter && self.tier != Tier::City {
            return Err(Invalid::new(
                "kind",
                "sub-centers (分中心) exist at the city tier only",
            ));
        }
        if self.parent_code.as_deref() == Some(self.code.as_str()) {
            return Err(Invalid::new(
                "parent_code",
                "a department cannot be its own parent",
            ));
        }
        Ok(())
    }
}

/// The positions (岗位) staff hold; each is also a role in access control.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// 受理员
    Clerk,
    /// 值班长
    ShiftLeader,
    /// 派遣员
    Dispatcher,
    /// 监督员 / 网格员
    Inspector,
    /// 处置人员
    Handler,
    /// 领导
    Leader,
    /// 管理员
    Admin,
}

impl Position {
    pub const ALL: [Position; 7] = [
        Position::Clerk,
        Position::ShiftLeader,
        Position::Dispatcher,
        Position::Inspector,
        Position::Handler,
        Position::Leader,
        Position::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Position::Clerk => "clerk",
            Position::ShiftLeader => "shift_leader",
            Position::Dispatcher => "dispatcher",
            Position::Inspector => "inspector",
            Position::Handler => "handler",
            Position::Leader => "leader",
            Position::Admin => "admin",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Position::Clerk => "受理员",
            Position::ShiftLeader => "值班长",
            Position::Dispatcher => "派遣员",
            Position::Inspector => "监督员",
            Position::Handler => "处置人员",
            Position::Leader => "领导",
            Position::Admin => "管理员",
        }
    }

    /// Accepts the API names and the Chinese position names.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        Position::ALL
            .into_iter()
            .find(|p| p.as_str() == s || p.label_zh() == s)
            .or(match s {
                "网格员" => Some(Position::Inspector),
                "处置员" => Some(Position::Handler),
                _ => None,
            })
            .ok_or_else(|| {
                Invalid::new(
                    "position",
                    format!("unknown position {s:?}; use one of clerk 受理员, shift_leader 值班长, dispatcher 派遣员, inspector 监督员/网格员, handler 处置人员, leader 领导, admin 管理员"),
                )
            })
    }
}

/// A member of staff of a department.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Staff {
    /// Staff number, unique in the city.
    pub code: String,
    pub name: String,
    pub department_code: String,
    pub position: Position,
    pub phone: Option<String>,
    /// The user account this person logs in with, if any.
    pub username: Option<String>,
}

impl Staff {
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.code.trim().is_empty() || self.code.len() > 64 {
            return Err(Invalid::new("code", "a staff code must be 1-64 characters"));
        }
        if self.name.trim().is_empty() {
            return Err(Invalid::new("name", "a staff member needs a name"));
        }
        if let Some(phone) = &self.phone
            && !phone
                .chars()
                .all(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == ' ')
        {
            return Err(Invalid::new(
                "phone",
                format!("phone {phone:?} may hold digits, spaces, '+' and '-' only"),
            ));
        }
        Ok(())
    }
}

/// A located point answered by `locate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Location {
    pub lon: f64,
    pub lat: f64,
    pub grid: Option<NamedCode>,
    pub community: Option<NamedCode>,
    pub street: Option<NamedCode>,
    pub district: Option<NamedCode>,
    pub city: Option<NamedCode>,
}

/// A code with its display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NamedCode {
    pub code: String,
    pub name: String,
}

/// A WGS-84 point, checked to lie on the globe.
pub fn wgs84_point(lon: f64, lat: f64) -> Result<Point<f64>, Invalid> {
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err(Invalid::new(
            "lon",
            format!("longitude {lon} must be a number in -180..180"),
        ));
    }
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(Invalid::new(
            "lat",
            format!("latitude {lat} must be a number in -90..90"),
        ));
    }
    Ok(Point::new(lon, lat))
}

/// GeoJSON (de)serialisation for geometry fields.
pub mod geojson_req {
    use geo_types::MultiPolygon;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(g: &MultiPolygon<f64>, s: S) -> Result<S::Ok, S::Error> {
        geojson::Geometry::from(g).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MultiPolygon<f64>, D::Error> {
        let g = geojson::Geometry::deserialize(d)?;
        super::to_multipolygon(g).map_err(serde::de::Error::custom)
    }
}

/// GeoJSON (de)serialisation for optional geometry fields.
pub mod geojson_opt {
    use geo_types::MultiPolygon;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        g: &Option<MultiPolygon<f64>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        g.as_ref().map(geojson::Geometry::from).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<MultiPolygon<f64>>, D::Error> {
        let g = Option::<geojson::Geometry>::deserialize(d)?;
        g.map(super::to_multipolygon)
            .transpose()
            .map_err(serde::de::Error::custom)
    }
}

/// A Polygon or MultiPolygon GeoJSON geometry as a MultiPolygon.
pub fn to_multipolygon(g: geojson::Geometry) -> Result<MultiPolygon<f64>, Invalid> {
    match g.value {
        geojson::Value::Polygon(_) => {
            let p: geo_types::Polygon<f64> = g
                .value
                .try_into()
                .map_err(|e| Invalid::new("geometry", format!("bad polygon: {e}")))?;
            Ok(MultiPolygon(vec![p]))
        }
        geojson::Value::MultiPolygon(_) => g
            .value
            .try_into()
            .map_err(|e| Invalid::new("geometry", format!("bad multipolygon: {e}"))),
        other => Err(Invalid::new(
            "geometry",
            format!(
                "expected a Polygon or MultiPolygon, found a {}",
                other.type_name()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_parse_both_languages() {
        assert_eq!(Position::parse("网格员").unwrap(), Position::Inspector);
        assert_eq!(Position::parse("dispatcher").unwrap(), Position::Dispatcher);
        assert!(
            Position::parse("boss")
                .unwrap_err()
                .message
                .contains("受理员")
        );
    }

    #[test]
    fn department_tier_must_match_area_level() {
        let mut d = Department {
            code: "YH-CENTER".into(),
            name: "月湖区城运中心".into(),
            kind: DepartmentKind::CommandCenter,
            tier: Tier::District,
            area_code: DivisionCode::parse("360602").unwrap(),
            parent_code: Some("YT-CENTER".into()),
        };
        d.validate().unwrap();
        d.tier = Tier::Street;
        assert!(d.validate().unwrap_err().message.contains("street tier"));
    }

    #[test]
    fn area_geometry_round_trips_as_geojson() {
        let json = serde_json::json!({
            "code": "360602", "name": "月湖区", "level": "district", "parent_code": "360600",
            "boundary": {"type": "Polygon", "coordinates": [[[117.0,28.2],[117.1,28.2],[117.1,28.3],[117.0,28.2]]]}
        });
        let a: Area = serde_json::from_value(json).unwrap();
        assert_eq!(a.boundary.as_ref().unwrap().0.len(), 1);
        let back = serde_json::to_value(&a).unwrap();
        assert_eq!(back["boundary"]["type"], "MultiPolygon");
        assert!(wgs84_point(190.0, 0.0).is_err());
    }
}
