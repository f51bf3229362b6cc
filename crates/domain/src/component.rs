//! City components (管理部件): assets such as manhole covers, street lights and
//! bins, identified by a 17-digit id (6 division + 5 class + 6 sequence).

use crate::Invalid;
use crate::codes::{ClassCode, DivisionCode, GridCode};
use crate::standard::{Catalogue, ClassKind};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A component id. The old CJ/T 214 16-digit form (6 + 2 + 2 + 6) is accepted
/// and converted by inserting a 0 before the 2-digit minor code.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "36060201001000001")]
pub struct ComponentId(String);

impl ComponentId {
    /// Parses the digits and converts a legacy 16-digit id; the class is not checked here.
    pub fn parse_digits(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::new(
                "id",
                format!("component id {raw:?} must be digits only"),
            ));
        }
        let id = match s.len() {
            17 => s.to_string(),
            16 => format!("{}0{}", &s[..8], &s[8..]),
            n => {
                return Err(Invalid::new(
                    "id",
                    format!(
                        "component id {raw:?} has {n} digits; use 17 (6 division + 5 class + 6 sequence) or the old 16"
                    ),
                ));
            }
        };
        Ok(Self(id))
    }

    /// Parses and checks the division prefix and the class against the catalogue.
    pub fn parse(raw: &str, catalogue: &Catalogue) -> Result<Self, Invalid> {
        let id = Self::parse_digits(raw)?;
        let division = DivisionCode::parse(id.division_digits())
            .map_err(|e| Invalid::new("id", format!("component id {raw:?}: {}", e.message)))?;
        if division.level() == crate::codes::AreaLevel::Province {
            return Err(Invalid::new(
                "id",
                format!(
                    "component id {raw:?} must start with a city or district code, not a province"
                ),
            ));
        }
        catalogue
            .require(ClassKind::Component, id.class_digits())
            .map_err(|e| Invalid::new("id", format!("component id {raw:?}: {}", e.message)))?;
        if id.sequence() == 0 {
            return Err(Invalid::new(
                "id",
                format!("component id {raw:?} has sequence 000000; sequences start at 1"),
            ));
        }
        Ok(id)
    }

    /// Builds an id from its parts.
    pub fn compose(division: &DivisionCode, class: &ClassCode, seq: u32) -> Result<Self, Invalid> {
        if division.as_str().len() != 6 {
            return Err(Invalid::new(
                "division",
                "a component id starts with a 6-digit division code",
            ));
        }
        if seq == 0 || seq > 999_999 {
            return Err(Invalid::new(
                "seq",
                format!("sequence {seq} must be 1..=999999"),
            ));
        }
        Ok(Self(format!("{}{}{:06}", division, class, seq)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn division_digits(&self) -> &str {
        &self.0[..6]
    }

    pub fn class_digits(&self) -> &str {
        &self.0[6..11]
    }

    pub fn sequence(&self) -> u32 {
        self.0[11..].parse().unwrap_or(0)
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ComponentId {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse_digits(&value)
    }
}

impl From<ComponentId> for String {
    fn from(value: ComponentId) -> Self {
        value.0
    }
}

/// State of a component (部件状态).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    /// 完好
    Intact,
    /// 破损
    Damaged,
    /// 丢失
    Lost,
    /// 占用 (legacy OBJSTATE value)
    Occupied,
    /// 废弃
    Abandoned,
    /// 移除
    Removed,
}

impl ComponentStatus {
    pub const ALL: [ComponentStatus; 6] = [
        ComponentStatus::Intact,
        ComponentStatus::Damaged,
        ComponentStatus::Lost,
        ComponentStatus::Occupied,
        ComponentStatus::Abandoned,
        ComponentStatus::Removed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ComponentStatus::Intact => "intact",
            ComponentStatus::Damaged => "damaged",
            ComponentStatus::Lost => "lost",
            ComponentStatus::Occupied => "occupied",
            ComponentStatus::Abandoned => "abandoned",
            ComponentStatus::Removed => "removed",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            ComponentStatus::Intact => "完好",
            ComponentStatus::Damaged => "破损",
            ComponentStatus::Lost => "丢失",
            ComponentStatus::Occupied => "占用",
            ComponentStatus::Abandoned => "废弃",
            ComponentStatus::Removed => "移除",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        ComponentStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s || st.label_zh() == s)
            .ok_or_else(|| {
                Invalid::new(
                    "status",
                    format!("unknown component status {s:?}; use 完好/破损/丢失/占用/废弃/移除 (intact, damaged, lost, occupied, abandoned, removed)"),
                )
            })
    }
}

/// A department named on a component: code and, when known, name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeptRef {
    pub code: String,
    pub name: Option<String>,
}

/// A city component with the standard attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Component {
    pub id: ComponentId,
    pub class_code: ClassCode,
    pub name: String,
    /// 主管部门
    pub owner: Option<DeptRef>,
    /// 权属部门
    pub custodian: Option<DeptRef>,
    /// 养护部门
    pub maintainer: Option<DeptRef>,
    pub grid_code: Option<GridCode>,
    pub status: ComponentStatus,
    /// WGS-84 position.
    pub lon: f64,
    pub lat: f64,
    /// 初始日期 (ORDATE)
    pub recorded_on: Option<NaiveDate>,
    /// 变更日期 (CHDATE)
    pub changed_on: Option<NaiveDate>,
    /// 数据来源 (DATASOURCE)
    pub source: Option<String>,
    pub note: Option<String>,
}

impl Component {
    pub fn validate(&self, catalogue: &Catalogue) -> Result<(), Invalid> {
        ComponentId::parse(self.id.as_str(), catalogue)?;
        if self.id.class_digits() != self.class_code.as_str() {
            return Err(Invalid::new(
                "class_code",
                format!(
                    "class {} differs from the class digits {} of id {}",
                    self.class_code,
                    self.id.class_digits(),
                    self.id
                ),
            ));
        }
        crate::city::wgs84_point(self.lon, self.lat)?;
        if let (Some(a), Some(b)) = (self.recorded_on, self.changed_on)
            && b < a
        {
            return Err(Invalid::new(
                "changed_on",
                format!("change date {b} precedes the record date {a}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_against_division_and_class() {
        let cat = Catalogue::national();
        let id = ComponentId::parse("36060201001000001", &cat).unwrap();
        assert_eq!(id.class_digits(), "01001");
        assert_eq!(id.sequence(), 1);
        // legacy 16-digit: 360602 01 01 000001 → 360602 01 001 000001
        assert_eq!(ComponentId::parse("3606020101000001", &cat).unwrap(), id);
        assert!(
            ComponentId::parse("36060299999000001", &cat)
                .unwrap_err()
                .message
                .contains("99999")
        );
        assert!(ComponentId::parse("00060201001000001", &cat).is_err());
        assert!(ComponentId::parse("36060201001000000", &cat).is_err());
        assert!(ComponentId::parse("3606020100100000", &cat).is_err());
    }

    #[test]
    fn statuses_accept_legacy_chinese() {
        assert_eq!(
            ComponentStatus::parse("破损").unwrap(),
            ComponentStatus::Damaged
        );
        assert_eq!(
            ComponentStatus::parse("占用").unwrap(),
            ComponentStatus::Occupied
        );
        assert!(ComponentStatus::parse("坏了").is_err());
    }
}
