//! 事件智能分拨: responsibility rules (matter × area → department) and the
//! choice of the managing command center.
//!
//! A rule matches a case when its matter pattern covers the case's matter
//! (`*` covers every case, also one without a code) and its area is `*` or a
//! prefix of the case's area. The most specific rule wins: the longest area
//! prefix first — so a street's rule beats its district's, which beats the
//! city's (the fallback up the tiers) — then the longest matter pattern,
//! then the higher priority, then the older rule. With no rule, the case
//! falls back to its managing center. Every decision says which rule decided
//! and why; the flow record of the dispatch keeps that text.

use super::{CaseError, CaseService, Directory};
use chengyun_domain::case::calendar::MatterPattern;
use chengyun_domain::city::Department;
use chengyun_domain::codes::{ClassCode, DivisionCode};
use chengyun_store::{CaseRecord, DispatchRule};
use serde::{Deserialize, Serialize};

/// Where a case should go, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DispatchDecision {
    pub department_code: String,
    /// The rule that decided; `None` when the case fell back to its center.
    pub rule_id: Option<i64>,
    /// Whether the rule lets the system register and dispatch automatic-source cases.
    pub auto_dispatch: bool,
    /// The reason in words, stored in the dispatch's flow record.
    pub reason: String,
}

fn matter_matches(pattern: &str, matter: Option<&ClassCode>) -> Option<usize> {
    if pattern == "*" {
        return Some(0);
    }
    let p = MatterPattern::parse(pattern).ok()?;
    let code = matter?;
    p.matches(code).then(|| p.specificity())
}

fn area_matches(rule_area: &str, area: Option<&str>) -> Option<usize> {
    if rule_area == "*" {
        return Some(0);
    }
    area.filter(|a| a.starts_with(rule_area))
        .map(|_| rule_area.len())
}

/// Resolves the responsibility rules for a matter and an area.
pub(crate) fn resolve(
    dir: &Directory,
    matter: Option<&str>,
    area: Option<&str>,
    center: &str,
) -> DispatchDecision {
    let code = matter.and_then(|m| ClassCode::parse(m).ok());
    let mut candidates: Vec<(&DispatchRule, usize, usize)> = dir
        .rules
        .iter()
        .filter(|r| r.enabled && dir.departments.contains_key(&r.department_code))
        .filter_map(|r| {
            let a = area_matches(&r.area_code, area)?;
            let m = matter_matches(&r.matter_pattern, code.as_ref())?;
            Some((r, a, m))
        })
        .collect();
    candidates.sort_by(|x, y| {
        y.1.cmp(&x.1)
            .then(y.2.cmp(&x.2))
            .then(y.0.priority.cmp(&x.0.priority))
            .then(x.0.id.cmp(&y.0.id))
    });
    let matter_text = matter.unwrap_or("(none)");
    let area_text = area.unwrap_or("(unknown)");
    match candidates.first() {
        Some((rule, a, m)) => DispatchDecision {
            department_code: rule.department_code.clone(),
            rule_id: Some(rule.id),
            auto_dispatch: rule.auto_dispatch,
            reason: format!(
                "rule #{} (matter {}, area {}, priority {}) sends matter {matter_text} in area {area_text} to {}: \
                 the most specific of {} matching rule(s) (area prefix {a} digits, matter {m} digits)",
                rule.id,
                rule.matter_pattern,
                rule.area_code,
                rule.priority,
                rule.department_code,
                candidates.len()
            ),
        },
        None => DispatchDecision {
            department_code: center.to_string(),
            rule_id: None,
            auto_dispatch: false,
            reason: format!(
                "no responsibility rule covers matter {matter_text} in area {area_text}; the case falls back to its command center {center}"
            ),
        },
    }
}

/// The command center that manages a case in `area`: the lowest-tier
/// center whose area holds it (street → district → city), or the city
/// center when the case spans districts or lies in no center's area.
pub(crate) fn managing_center<'a>(
    dir: &'a Directory,
    area: Option<&DivisionCode>,
    cross_district: bool,
) -> Result<(&'a Department, String), CaseError> {
    if !cross_district && let Some(area) = area {
        let centers = dir.centers_over(area);
        if let Some(c) = centers.first() {
            return Ok((
                c,
                format!(
                    "{} is the lowest-tier command center ({}) whose area {} holds {area}",
                    c.code,
                    c.tier.as_str(),
                    c.area_code
                ),
            ));
        }
    }
    let top = dir.top_center().ok_or_else(|| {
        CaseError::invalid(
            "department",
            "the city has no command center (指挥中心) department; import the departments first",
        )
    })?;
    let why = if cross_district {
        format!(
            "the case spans districts, so the level above manages it: {}",
            top.code
        )
    } else {
        format!(
            "no command center covers area {}; the top-level center {} manages it",
            area.map(|a| a.to_string())
                .unwrap_or_else(|| "(unknown)".into()),
            top.code
        )
    };
    Ok((top, why))
}

impl CaseService {
    /// Where the responsibility rules would send a case now.
    pub async fn dispatch_suggestion(&self, case_id: i64) -> Result<DispatchDecision, CaseError> {
        let case = self
            .store()
            .case(case_id)
            .await?
            .ok_or_else(|| CaseError::NotFound(format!("case {case_id}")))?;
        Ok(self.suggest_for(&case))
    }

    pub(crate) fn suggest_for(&self, case: &CaseRecord) -> DispatchDecision {
        resolve(
            &self.directory(),
            case.data.matter_code.as_deref(),
            case.data.area_code.as_deref(),
            &case.data.snapshot.center_department,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chengyun_domain::city::{DepartmentKind, Tier};

    fn dept(code: &str, tier: Tier, area: &str, kind: DepartmentKind) -> Department {
        Department {
            code: code.into(),
            name: code.into(),
            kind,
            tier,
            area_code: DivisionCode::parse(area).unwrap(),
            parent_code: None,
        }
    }

    fn rule(id: i64, matter: &str, area: &str, dept: &str, priority: i64) -> DispatchRule {
        DispatchRule {
            id,
            matter_pattern: matter.into(),
            area_code: area.into(),
            department_code: dept.into(),
            priority,
            auto_dispatch: false,
            enabled: true,
            note: None,
        }
    }

    fn dir() -> Directory {
        let mut d = Directory::default();
        for x in [
            dept("CITY", Tier::City, "360600", DepartmentKind::CommandCenter),
            dept(
                "YH",
                Tier::District,
                "360602",
                DepartmentKind::CommandCenter,
            ),
            dept(
                "JD",
                Tier::Street,
                "360602001",
                DepartmentKind::CommandCenter,
            ),
            dept("CGJ", Tier::District, "360602", DepartmentKind::Functional),
            dept("SZJ", Tier::District, "360602", DepartmentKind::Functional),
            dept("CITY-SZ", Tier::City, "360600", DepartmentKind::Functional),
        ] {
            d.departments.insert(x.code.clone(), x);
        }
        d
    }

    #[test]
    fn most_specific_rule_wins_then_priority() {
        let mut d = dir();
        d.rules = vec![
            rule(1, "*", "*", "CITY-SZ", 0),
            rule(2, "01*", "360602", "CGJ", 0),
            rule(3, "01001", "360602", "SZJ", 0),
            rule(4, "01001", "360602", "CGJ", 5),
        ];
        let x = resolve(&d, Some("01001"), Some("360602001"), "JD");
        assert_eq!(x.rule_id, Some(4), "{}", x.reason);
        assert!(x.reason.contains("rule #4") && x.reason.contains("4 matching"));
        let x = resolve(&d, Some("01002"), Some("360602001"), "JD");
        assert_eq!(x.rule_id, Some(2));
        // another district: only the catch-all city rule
        let x = resolve(&d, Some("01001"), Some("360603001"), "CITY");
        assert_eq!(
            (x.rule_id, x.department_code.as_str()),
            (Some(1), "CITY-SZ")
        );
        // no matter code: only * patterns apply
        let x = resolve(&d, None, Some("360602001"), "JD");
        assert_eq!(x.rule_id, Some(1));
    }

    #[test]
    fn no_rule_falls_back_to_the_center_and_says_so() {
        let d = dir();
        let x = resolve(&d, Some("01001"), Some("360602001"), "JD");
        assert_eq!((x.rule_id, x.department_code.as_str()), (None, "JD"));
        assert!(x.reason.contains("falls back"));
    }

    #[test]
    fn centers_from_street_up() {
        let d = dir();
        let street = DivisionCode::parse("360602001").unwrap();
        assert_eq!(
            managing_center(&d, Some(&street), false).unwrap().0.code,
            "JD"
        );
        let other_street = DivisionCode::parse("360602002").unwrap();
        assert_eq!(
            managing_center(&d, Some(&other_street), false)
                .unwrap()
                .0
                .code,
            "YH"
        );
        let other_district = DivisionCode::parse("360603").unwrap();
        assert_eq!(
            managing_center(&d, Some(&other_district), false)
                .unwrap()
                .0
                .code,
            "CITY"
        );
        let (c, why) = managing_center(&d, Some(&street), true).unwrap();
        assert_eq!(c.code, "CITY");
        assert!(why.contains("spans districts"));
    }
}
