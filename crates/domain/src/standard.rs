//! The GB/T 47678.5-2026 code tables: management components (管理部件, 153
//! classes) and management matters (管理事项, 250 classes), shipped in the
//! binary, plus city-local extensions stored by the city.
//!
//! The same 5-digit code can name a component class and a matter class
//! (matters 01001–05xxx are "`<component>`异常"), so classes are keyed by
//! `(kind, code)`.

use crate::Invalid;
use crate::codes::ClassCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Which table a class belongs to.
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
pub enum ClassKind {
    /// 管理部件
    Component,
    /// 管理事项
    Matter,
}

impl ClassKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClassKind::Component => "component",
            ClassKind::Matter => "matter",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "component" => Ok(ClassKind::Component),
            "matter" => Ok(ClassKind::Matter),
            other => Err(Invalid::new(
                "kind",
                format!("unknown class kind {other:?}; use component or matter"),
            )),
        }
    }
}

/// One class of the standard or of a city-local extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StandardClass {
    pub kind: ClassKind,
    pub code: ClassCode,
    pub major_code: String,
    pub major_name: String,
    pub name: String,
    /// True for a city-local extension, false for a class of the national standard.
    pub local: bool,
}

const COMPONENTS_CSV: &str = include_str!("../data/components.csv");
const MATTERS_CSV: &str = include_str!("../data/matters.csv");

fn parse_table(kind: ClassKind, csv_text: &str) -> Vec<StandardClass> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    reader
        .records()
        .map(|row| {
            let row = row.expect("embedded standard table is valid CSV");
            StandardClass {
                kind,
                code: ClassCode::parse(&row[0]).expect("embedded standard code is 5 digits"),
                major_code: row[1].to_string(),
                major_name: row[2].to_string(),
                name: row[3].to_string(),
                local: false,
            }
        })
        .collect()
}

/// The national tables, parsed once.
pub fn national() -> &'static [StandardClass] {
    static TABLE: OnceLock<Vec<StandardClass>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut all = parse_table(ClassKind::Component, COMPONENTS_CSV);
        all.extend(parse_table(ClassKind::Matter, MATTERS_CSV));
        all
    })
}

/// The national classes plus a city's local extensions, looked up by `(kind, code)`.
#[derive(Debug, Clone)]
pub struct Catalogue {
    classes: BTreeMap<(ClassKind, ClassCode), StandardClass>,
}

impl Default for Catalogue {
    fn default() -> Self {
        Self::national()
    }
}

impl Catalogue {
    /// The national tables alone.
    pub fn national() -> Self {
        let classes = national()
            .iter()
            .map(|c| ((c.kind, c.code.clone()), c.clone()))
            .collect();
        Self { classes }
    }

    /// Adds a city-local class. Its code must not collide with a national class
    /// of the same kind; local codes conventionally use minor codes 900–999.
    pub fn extend(&mut self, class: StandardClass) -> Result<(), Invalid> {
        validate_local(&class)?;
        if let Some(existing) = self.classes.get(&(class.kind, class.code.clone()))
            && !existing.local
        {
            return Err(Invalid::new(
                "code",
                format!(
                    "{} class {} is already the national class {:?}; pick a free code (e.g. minor 900-999)",
                    class.kind.as_str(),
                    class.code,
                    existing.name
                ),
            ));
        }
        self.classes.insert((class.kind, class.code.clone()), class);
        Ok(())
    }

    pub fn get(&self, kind: ClassKind, code: &ClassCode) -> Option<&StandardClass> {
        self.classes.get(&(kind, code.clone()))
    }

    pub fn iter(&self, kind: ClassKind) -> impl Iterator<Item = &StandardClass> {
        self.classes.values().filter(move |c| c.kind == kind)
    }

    /// The class of `kind` with `code`, or an error naming the code and the table.
    pub fn require(&self, kind: ClassKind, code: &str) -> Result<&StandardClass, Invalid> {
        let parsed = ClassCode::parse(code)?;
        self.get(kind, &parsed).ok_or_else(|| {
            Invalid::new(
                "class_code",
                format!(
                    "{} class {code} is not in GB/T 47678.5-2026 nor in this city's local extensions",
                    kind.as_str()
                ),
            )
        })
    }
}

/// Checks the fields of a local class before it is stored.
pub fn validate_local(class: &StandardClass) -> Result<(), Invalid> {
    if !class.local {
        return Err(Invalid::new(
            "local",
            "only local classes can be added; the national tables are fixed",
        ));
    }
    if class.name.trim().is_empty() {
        return Err(Invalid::new("name", "a local class needs a name"));
    }
    if class.major_code != class.code.major() {
        return Err(Invalid::new(
            "major_code",
            format!(
                "major code {:?} must be the first two digits of {}",
                class.major_code, class.code
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_tables_have_the_standard_sizes() {
        let cat = Catalogue::national();
        assert_eq!(cat.iter(ClassKind::Component).count(), 153);
        assert_eq!(cat.iter(ClassKind::Matter).count(), 250);
        let c = cat.require(ClassKind::Component, "01001").unwrap();
        assert_eq!(c.name, "供水井盖");
        let m = cat.require(ClassKind::Matter, "01001").unwrap();
        assert_eq!(m.name, "供水井盖异常");
        assert!(cat.require(ClassKind::Matter, "99999").is_err());
    }

    #[test]
    fn local_extensions_cannot_shadow_national_classes() {
        let mut cat = Catalogue::national();
        let mut local = StandardClass {
            kind: ClassKind::Matter,
            code: ClassCode::parse("01001").unwrap(),
            major_code: "01".into(),
            major_name: "市政公用设施类".into(),
            name: "本地".into(),
            local: true,
        };
        assert!(cat.extend(local.clone()).is_err());
        local.code = ClassCode::parse("01901").unwrap();
        cat.extend(local).unwrap();
        assert!(cat.require(ClassKind::Matter, "01901").unwrap().local);
    }
}
