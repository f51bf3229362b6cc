//! Identifiers of the city model: GB/T 2260 division codes and their
//! statistical extensions, unit grid codes, and 5-digit class codes.

use crate::Invalid;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Level of an administrative area in the city hierarchy.
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
pub enum AreaLevel {
    /// 省 (kept so a province outline can be imported as context)
    Province,
    /// 市 (prefecture-level city), e.g. 360600 鹰潭市
    City,
    /// 区/县/县级市, e.g. 360602 月湖区
    District,
    /// 街道/镇/乡, 9 digits
    Street,
    /// 社区/村, 12 digits
    Community,
}

impl AreaLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AreaLevel::Province => "province",
            AreaLevel::City => "city",
            AreaLevel::District => "district",
            AreaLevel::Street => "street",
            AreaLevel::Community => "community",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            AreaLevel::Province => "省",
            AreaLevel::City => "市",
            AreaLevel::District => "区县",
            AreaLevel::Street => "街道乡镇",
            AreaLevel::Community => "社区村",
        }
    }
}

impl FromStr for AreaLevel {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "province" => AreaLevel::Province,
            "city" => AreaLevel::City,
            "district" => AreaLevel::District,
            "street" => AreaLevel::Street,
            "community" => AreaLevel::Community,
            other => {
                return Err(Invalid::new(
                    "level",
                    format!(
                        "unknown area level {other:?}; use province, city, district, street or community"
                    ),
                ));
            }
        })
    }
}

/// An administrative division code in its shortest form: 6 digits (GB/T 2260)
/// for province, city and district, 9 for a street or township, 12 for a
/// community or village. The 12-digit statistical form with trailing zeros
/// (`360602001000`) is accepted and shortened.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "360602")]
pub struct DivisionCode(String);

impl DivisionCode {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::new(
                "code",
                format!(
                    "division code {raw:?} must be 6, 9 or 12 digits (GB/T 2260 plus street and community digits)"
                ),
            ));
        }
        let short = match s.len() {
            6 | 9 => s,
            12 if s.ends_with("000000") => &s[..6],
            12 if s.ends_with("000") => &s[..9],
            12 => s,
            n => {
                return Err(Invalid::new(
                    "code",
                    format!(
                        "division code {raw:?} has {n} digits; use 6 (district and above), 9 (street) or 12 (community)"
                    ),
                ));
            }
        };
        if &short[..2] == "00" {
            return Err(Invalid::new(
                "code",
                format!("division code {raw:?} has no province part (it starts with 00)"),
            ));
        }
        Ok(Self(short.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn level(&self) -> AreaLevel {
        match self.0.len() {
            12 => AreaLevel::Community,
            9 => AreaLevel::Street,
            _ if self.0.ends_with("0000") => AreaLevel::Province,
            _ if self.0.ends_with("00") => AreaLevel::City,
            _ => AreaLevel::District,
        }
    }

    /// The code of the area one level up, if this is not a province.
    pub fn parent(&self) -> Option<DivisionCode> {
        let s = &self.0;
        match self.level() {
            AreaLevel::Province => None,
            AreaLevel::City => Some(Self(format!("{}0000", &s[..2]))),
            AreaLevel::District => Some(Self(format!("{}00", &s[..4]))),
            AreaLevel::Street => Some(Self(s[..6].to_string())),
            AreaLevel::Community => Some(Self(s[..9].to_string())),
        }
    }

    /// The 12-digit statistical code (zero padded), as the national statistics use it.
    pub fn statistical(&self) -> String {
        format!("{:0<12}", self.0)
    }

    /// The significant prefix: every area inside this one has a code that starts with it.
    pub fn prefix(&self) -> &str {
        match self.level() {
            AreaLevel::Province => &self.0[..2],
            AreaLevel::City => &self.0[..4],
            _ => &self.0,
        }
    }

    /// Whether `other` lies inside (or is) this area, by code.
    pub fn contains(&self, other: &DivisionCode) -> bool {
        other.0.starts_with(self.prefix())
    }
}

impl fmt::Display for DivisionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DivisionCode {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for DivisionCode {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<DivisionCode> for String {
    fn from(value: DivisionCode) -> Self {
        value.0
    }
}

/// A unit grid (单元网格) code: 15 characters in the new standard (12-digit
/// community code + 3-digit sequence), or 14 digits in the old one.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "360602001001001")]
pub struct GridCode(String);

impl GridCode {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        let ok_chars = s.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok_chars || !(s.len() == 15 || s.len() == 14) {
            return Err(Invalid::new(
                "code",
                format!(
                    "grid code {raw:?} must be 15 characters (new standard) or 14 digits (old standard), letters and digits only"
                ),
            ));
        }
        if s.len() == 14 && !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::new(
                "code",
                format!("old-standard grid code {raw:?} must be 14 digits"),
            ));
        }
        Ok(Self(s.to_string()))
    }

    /// Builds the 15-digit code of the `seq`-th grid of an area: the area's code
    /// in its shortest form followed by the sequence, zero padded to 15 digits.
    /// A community (12 digits) holds up to 999 grids — the standard's layout —
    /// a street up to 999,999, a district up to 999,999,999 (cities that have no
    /// community boundaries yet grid whole streets).
    pub fn compose(area: &DivisionCode, seq: u64) -> Result<Self, Invalid> {
        let width = 15 - area.as_str().len();
        let max = 10u64.pow(width as u32) - 1;
        if seq == 0 || seq > max {
            return Err(Invalid::new(
                "seq",
                format!("grid sequence {seq} must be 1..={max} within area {area}"),
            ));
        }
        Ok(Self(format!("{}{:0width$}", area.as_str(), seq)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The district (first 6 digits) the code names, when it starts with digits.
    pub fn district_prefix(&self) -> &str {
        &self.0[..6]
    }
}

impl fmt::Display for GridCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for GridCode {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<GridCode> for String {
    fn from(value: GridCode) -> Self {
        value.0
    }
}

/// A 5-digit class code of GB/T 47678.5 (2 major + 3 minor digits), for a
/// component class or a matter class.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "01001")]
pub struct ClassCode(String);

impl ClassCode {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        if s.len() != 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::new(
                "class_code",
                format!(
                    "class code {raw:?} must be 5 digits: 2 for the major class, 3 for the minor"
                ),
            ));
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn major(&self) -> &str {
        &self.0[..2]
    }
}

impl fmt::Display for ClassCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ClassCode {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ClassCode> for String {
    fn from(value: ClassCode) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_levels_and_parents() {
        let city = DivisionCode::parse("360600").unwrap();
        assert_eq!(city.level(), AreaLevel::City);
        assert_eq!(city.parent().unwrap().as_str(), "360000");
        let d = DivisionCode::parse("360602").unwrap();
        assert_eq!(d.level(), AreaLevel::District);
        assert_eq!(d.parent().unwrap(), city);
        let s = DivisionCode::parse("360602001000").unwrap();
        assert_eq!(s.as_str(), "360602001");
        assert_eq!(s.level(), AreaLevel::Street);
        assert_eq!(s.parent().unwrap(), d);
        assert_eq!(s.statistical(), "360602001000");
        let c = DivisionCode::parse("360602001002").unwrap();
        assert_eq!(c.level(), AreaLevel::Community);
        assert!(city.contains(&c));
        assert!(d.contains(&c));
        assert!(!DivisionCode::parse("360603").unwrap().contains(&c));
        assert_eq!(
            DivisionCode::parse("360000000000").unwrap().level(),
            AreaLevel::Province
        );
    }

    #[test]
    fn division_rejects_bad_codes() {
        for bad in ["", "36060", "3606020", "36060a", "000600", "3606020010011"] {
            let e = DivisionCode::parse(bad).unwrap_err();
            assert!(e.message.contains("division code"), "{bad}: {e}");
        }
    }

    #[test]
    fn grid_codes() {
        let c = DivisionCode::parse("360602001002").unwrap();
        assert_eq!(
            GridCode::compose(&c, 7).unwrap().as_str(),
            "360602001002007"
        );
        assert!(GridCode::parse("36060200100207").is_ok());
        assert!(GridCode::parse("3606020010020").is_err());
        assert!(GridCode::parse("3606020010020A").is_err());
        assert!(GridCode::compose(&c, 1000).is_err());
        let street = DivisionCode::parse("360602001").unwrap();
        assert_eq!(
            GridCode::compose(&street, 1000).unwrap().as_str(),
            "360602001001000"
        );
    }

    #[test]
    fn class_codes() {
        assert_eq!(ClassCode::parse("01001").unwrap().major(), "01");
        assert!(ClassCode::parse("1001").is_err());
    }
}
