//! Scenario packs: each scene of DOMAIN.md §7 as one declarative JSON file
//! (thing models, rules, alarm → matter mappings, local matter classes, KPIs)
//! embedded in the binary, so a city enables a scene without writing code.
//!
//! Matter codes: the national catalogue (GB/T 47678.5) covers urban
//! management — manholes, bins, street lights, fire facilities, cameras — but
//! has no class for a stolen e-bike, an elderly person's SOS or an overloaded
//! truck. Packs that need one declare a city-local matter class (major 10
//! 其他事项类, minor 901–999, the convention of [`Catalogue::extend`]); the
//! city adds them to its catalogue with [`Pack::extend_catalogue`].

use super::alarm_mapping::{AlarmMapping, MappingTable};
use super::kpi::KpiDef;
use super::model::{Product, check_identifier};
use super::rules::Rule;
use crate::codes::ClassCode;
use crate::standard::{Catalogue, ClassKind, StandardClass};
use crate::{Invalid, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// A city-local matter class a pack needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalMatter {
    pub code: String,
    pub name: String,
}

/// A scenario pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pack {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub products: Vec<Product>,
    pub rules: Vec<Rule>,
    pub alarm_mappings: Vec<AlarmMapping>,
    #[serde(default)]
    pub local_matters: Vec<LocalMatter>,
    /// The counters the services keep for this pack; KPI formulas use them.
    #[serde(default)]
    pub counters: Vec<String>,
    #[serde(default)]
    pub kpis: Vec<KpiDef>,
}

const PACK_FILES: [(&str, &str); 8] = [
    (
        "ebike_antitheft",
        include_str!("../../../data/packs/ebike_antitheft.json"),
    ),
    (
        "elderly_wristband",
        include_str!("../../../data/packs/elderly_wristband.json"),
    ),
    (
        "community_corrections",
        include_str!("../../../data/packs/community_corrections.json"),
    ),
    (
        "railway_perimeter",
        include_str!("../../../data/packs/railway_perimeter.json"),
    ),
    (
        "weigh_in_motion",
        include_str!("../../../data/packs/weigh_in_motion.json"),
    ),
    (
        "bright_kitchen",
        include_str!("../../../data/packs/bright_kitchen.json"),
    ),
    (
        "smart_fire",
        include_str!("../../../data/packs/smart_fire.json"),
    ),
    (
        "city_components",
        include_str!("../../../data/packs/city_components.json"),
    ),
];

/// Every shipped pack. The embedded files are checked by the tests, so a
/// parse failure here is a build defect; such a pack is left out rather than
/// taking the process down.
pub fn all() -> Vec<Pack> {
    PACK_FILES
        .iter()
        .filter_map(|(_, text)| Pack::from_json(text).ok())
        .collect()
}

/// The keys of the shipped packs, in order.
pub fn keys() -> Vec<&'static str> {
    PACK_FILES.iter().map(|(k, _)| *k).collect()
}

/// One shipped pack by key.
pub fn get(key: &str) -> Option<Pack> {
    PACK_FILES
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, text)| Pack::from_json(text).ok())
}

impl Pack {
    /// Parses a pack (shipped or uploaded by a city); does not validate it.
    pub fn from_json(text: &str) -> Result<Pack, Invalid> {
        serde_json::from_str(text).map_err(|e| {
            Invalid::new(
                "pack",
                format!("not a pack (line {}, column {}): {e}", e.line(), e.column()),
            )
        })
    }

    /// The catalogue with this pack's local matter classes added.
    pub fn extend_catalogue(&self, catalogue: &mut Catalogue) -> Result<(), ValidationError> {
        let mut errors = ValidationError::default();
        for (i, m) in self.local_matters.iter().enumerate() {
            let class = ClassCode::parse(&m.code).and_then(|code| {
                let major_code = code.major().to_string();
                let major_name = catalogue
                    .iter(ClassKind::Matter)
                    .find(|c| c.major_code == major_code)
                    .map(|c| c.major_name.clone())
                    .unwrap_or_else(|| "本地扩展事项".to_string());
                catalogue.extend(StandardClass {
                    kind: ClassKind::Matter,
                    code,
                    major_code,
                    major_name,
                    name: m.name.clone(),
                    local: true,
                })
            });
            if let Err(e) = class {
                errors.push(e.at(format!("local_matters[{i}]")));
            }
        }
        errors.into_result()
    }

    /// Products valid, rules valid against the pack's products, every alarm
    /// type mapped to a matter that exists in the national catalogue or in the
    /// pack's local classes, KPI formulas over declared counters.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = ValidationError::default();
        if let Err(e) = check_identifier(&self.key) {
            errors.push(e.at("key"));
        }
        if self.name.trim().is_empty() {
            errors.push(Invalid::new("name", "a pack needs a name"));
        }
        let mut seen = HashSet::new();
        for (i, p) in self.products.iter().enumerate() {
            if !seen.insert(p.key.as_str()) {
                errors.push(Invalid::new(
                    format!("products[{i}].key"),
                    format!("product {} is declared twice", p.key),
                ));
            }
            if let Err(e) = p.validate() {
                for problem in e.problems {
                    errors.push(problem.at(format!("products[{i}]")));
                }
            }
        }
        let mut seen = HashSet::new();
        let mut raised = HashSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            if !seen.insert(r.id.as_str()) {
                errors.push(Invalid::new(
                    format!("rules[{i}].id"),
                    format!("rule {} is declared twice", r.id),
                ));
            }
            raised.insert(r.raise.alarm_type.as_str());
            if let Err(e) = r.validate(&self.products) {
                for problem in e.problems {
                    errors.push(problem.at(format!("rules[{i}]")));
                }
            }
        }
        let mut catalogue = Catalogue::national();
        if let Err(e) = self.extend_catalogue(&mut catalogue) {
            for problem in e.problems {
                errors.push(problem);
            }
        }
        let table = MappingTable {
            mappings: self.alarm_mappings.clone(),
        };
        if let Err(e) = table.validate(&catalogue) {
            for problem in e.problems {
                let field = problem.field.replacen("mappings", "alarm_mappings", 1);
                errors.push(Invalid::new(field, problem.message));
            }
        }
        for alarm_type in &raised {
            if table.for_alarm(alarm_type).is_none() {
                errors.push(Invalid::new(
                    "alarm_mappings",
                    format!(
                        "alarm type {alarm_type} is raised by a rule but not mapped to a matter"
                    ),
                ));
            }
        }
        for (i, m) in self.alarm_mappings.iter().enumerate() {
            if !raised.contains(m.alarm_type.as_str()) {
                errors.push(Invalid::new(
                    format!("alarm_mappings[{i}].alarm_type"),
                    format!(
                        "alarm type {} is mapped but no rule raises it",
                        m.alarm_type
                    ),
                ));
            }
        }
        let mut seen = HashSet::new();
        for (i, k) in self.kpis.iter().enumerate() {
            if !seen.insert(k.id.as_str()) {
                errors.push(Invalid::new(
                    format!("kpis[{i}].id"),
                    format!("KPI {} is declared twice", k.id),
                ));
            }
            if let Err(e) = k.validate(&self.counters) {
                for problem in e.problems {
                    errors.push(problem.at(format!("kpis[{i}]")));
                }
            }
        }
        errors.into_result()
    }

    /// The pack's alarm mappings as a lookup table.
    pub fn mapping_table(&self) -> MappingTable {
        MappingTable {
            mappings: self.alarm_mappings.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_pack_parses_and_validates() {
        assert_eq!(
            all().len(),
            PACK_FILES.len(),
            "a shipped pack failed to parse"
        );
        for (key, text) in PACK_FILES {
            let pack = Pack::from_json(text).unwrap_or_else(|e| panic!("{key}: {e}"));
            assert_eq!(pack.key, key);
            if let Err(e) = pack.validate() {
                panic!("{key}: {:#?}", e.problems);
            }
        }
    }

    #[test]
    fn local_matters_do_not_shadow_national_classes() {
        let mut pack = get("smart_fire").unwrap();
        pack.local_matters.push(LocalMatter {
            code: "01013".into(),
            name: "冒名".into(),
        });
        let e = pack.validate().unwrap_err();
        assert!(
            e.problems
                .iter()
                .any(|p| p.field.starts_with("local_matters[1]")),
            "{e:?}"
        );
    }

    #[test]
    fn unmapped_and_unknown_codes_are_reported() {
        let mut pack = get("city_components").unwrap();
        pack.alarm_mappings[2].matter = crate::iot::MatterTarget::Code {
            code: "06999".into(),
        };
        pack.alarm_mappings.pop();
        let e = pack.validate().unwrap_err();
        let fields: Vec<_> = e.problems.iter().map(|p| p.field.as_str()).collect();
        assert!(
            fields.contains(&"alarm_mappings[2].matter.code"),
            "{fields:?}"
        );
        assert!(
            e.problems
                .iter()
                .any(|p| p.message.contains("component.street_light_out")),
            "{e:?}"
        );
    }
}
