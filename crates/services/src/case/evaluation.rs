//! 综合评价 from SQL sums: the store adds up the statistics rows per group
//! (department, user, area prefix) and the domain turns each sum into the
//! indicators, composite scores and grades of DOMAIN.md §5.

use super::{CaseError, CaseService};
use chengyun_domain::case::evaluation::{
    AreaScore, DepartmentScore, Headline, PositionScore, StageCounters,
};
use chengyun_domain::codes::AreaLevel;
use chengyun_store::{StatGroup, StatQuery};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// How to break an evaluation down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvaluationGroup {
    /// One row for the whole scope.
    #[default]
    Total,
    /// Per area at a level (district, street or community).
    Area {
        #[schema(value_type = String)]
        level: AreaLevel,
    },
    /// Per department (department indicators and score).
    Department,
    /// Per member of staff (position scores for each scored position they hold).
    Position,
}

/// A period and a scope to evaluate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct EvaluationQuery {
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    /// Area code prefix (the viewer's scope).
    pub within: Option<String>,
    pub group: EvaluationGroup,
}

/// One group's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvaluationRow {
    /// Department code, user id, area code, or `total`.
    pub key: String,
    /// Department, user or area name when known.
    pub name: Option<String>,
    #[schema(value_type = Object)]
    pub counters: StageCounters,
    #[schema(value_type = Object)]
    pub headline: Headline,
    #[schema(value_type = Object)]
    pub area: AreaScore,
    #[schema(value_type = Option<Object>)]
    pub department: Option<DepartmentScore>,
    #[schema(value_type = Vec<Object>)]
    pub positions: Vec<PositionScore>,
}

/// An evaluation: the headline figures of the whole scope and one row per group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EvaluationReport {
    pub query: EvaluationQuery,
    #[schema(value_type = Object)]
    pub headline: Headline,
    #[schema(value_type = Object)]
    pub total: StageCounters,
    pub rows: Vec<EvaluationRow>,
}

fn level_len(level: AreaLevel) -> Result<u8, CaseError> {
    match level {
        AreaLevel::District => Ok(6),
        AreaLevel::Street => Ok(9),
        AreaLevel::Community => Ok(12),
        other => Err(CaseError::invalid(
            "group.level",
            format!(
                "areas are evaluated by district, street or community, not by {}",
                other.as_str()
            ),
        )),
    }
}

impl CaseService {
    /// The headline figures (reported, handled, completion rate) of a period and scope.
    pub async fn headline(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        within: Option<String>,
    ) -> Result<Headline, CaseError> {
        let q = StatQuery {
            from,
            to,
            within,
            ..Default::default()
        };
        let total = self.store().stat_totals(&q, StatGroup::Total).await?;
        let c = total.first().map(|t| t.counters).unwrap_or_default();
        Ok(Headline::from_counters(&c))
    }

    /// Evaluates a period and scope (see [`EvaluationQuery`]).
    pub async fn evaluate(&self, query: &EvaluationQuery) -> Result<EvaluationReport, CaseError> {
        if let (Some(f), Some(t)) = (query.from, query.to)
            && t <= f
        {
            return Err(CaseError::invalid(
                "to",
                "the end of the period must come after its start",
            ));
        }
        let sq = StatQuery {
            from: query.from,
            to: query.to,
            within: query.within.clone(),
            ..Default::default()
        };
        let store = self.store();
        let total = store
            .stat_totals(&sq, StatGroup::Total)
            .await?
            .first()
            .map(|t| t.counters)
            .unwrap_or_default();
        let settings = self.settings();
        let cfg = &settings.evaluation;
        let group = match query.group {
            EvaluationGroup::Total => StatGroup::Total,
            EvaluationGroup::Area { level } => StatGroup::AreaPrefix(level_len(level)?),
            EvaluationGroup::Department => StatGroup::Department,
            EvaluationGroup::Position => StatGroup::User,
        };
        let sums = store.stat_totals(&sq, group).await?;
        let dir = self.directory();
        let mut rows = Vec::with_capacity(sums.len());
        for s in sums {
            let c = s.counters;
            let (key, name, department, positions) = match query.group {
                EvaluationGroup::Total => ("total".to_string(), None, None, Vec::new()),
                EvaluationGroup::Area { .. } => {
                    let Some(k) = s.key else { continue };
                    let name = chengyun_domain::codes::DivisionCode::parse(&k)
                        .ok()
                        .and_then(|d| self.city().area_name(&d));
                    (k, name, None, Vec::new())
                }
                EvaluationGroup::Department => {
                    let Some(k) = s.key else { continue };
                    let name = dir.departments.get(&k).map(|d| d.name.clone());
                    (
                        k,
                        name,
                        Some(DepartmentScore::from_counters(&c, cfg)),
                        Vec::new(),
                    )
                }
                EvaluationGroup::Position => {
                    let Some(k) = s.key else { continue };
                    let user = match k.parse::<i64>() {
                        Ok(id) => store.user(id).await?,
                        Err(_) => None,
                    };
                    let positions = user
                        .as_ref()
                        .map(|u| {
                            u.roles
                                .iter()
                                .filter_map(|p| PositionScore::for_position(*p, &c, cfg))
                                .collect()
                        })
                        .unwrap_or_default();
                    (k, user.map(|u| u.display_name), None, positions)
                }
            };
            rows.push(EvaluationRow {
                key,
                name,
                counters: c,
                headline: Headline::from_counters(&c),
                area: AreaScore::from_counters(&c),
                department,
                positions,
            });
        }
        Ok(EvaluationReport {
            query: query.clone(),
            headline: Headline::from_counters(&total),
            total,
            rows,
        })
    }
}

fn num(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.2}")).unwrap_or_default()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl EvaluationReport {
    /// The report as CSV (UTF-8 with a BOM so spreadsheet programs read the
    /// Chinese names): one line per group with the counters, rates, score and grade.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("\u{feff}");
        out.push_str(
            "key,name,reported,registered,dispatched,disposed,disposed_in_time,rework,needs_disposal,needs_closing,closed,closed_in_time,\
             completion_rate,supervision_report_rate,close_rate,close_in_time_rate,disposal_rate,disposal_in_time_rate,rework_rate,score,grade,positions\n",
        );
        for r in &self.rows {
            let c = &r.counters;
            let (score, grade) = match &r.department {
                Some(d) => (
                    num(d.score.total),
                    d.score.grade.map(|g| g.as_str()).unwrap_or(""),
                ),
                None => (String::new(), ""),
            };
            let positions: Vec<String> = r
                .positions
                .iter()
                .map(|p| {
                    format!(
                        "{}:{}:{}",
                        p.position.as_str(),
                        num(p.score.total),
                        p.score.grade.map(|g| g.as_str()).unwrap_or("-")
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                csv_field(&r.key),
                csv_field(r.name.as_deref().unwrap_or("")),
                c.reported,
                c.registered,
                c.dispatched,
                c.disposed,
                c.disposed_in_time,
                c.rework,
                c.needs_disposal,
                c.needs_closing,
                c.closed,
                c.closed_in_time,
                num(r.headline.completion_rate),
                num(r.area.supervision_report_rate),
                num(r.area.close_rate),
                num(r.area.close_in_time_rate),
                num(r.department.as_ref().and_then(|d| d.disposal_rate)),
                num(r.department.as_ref().and_then(|d| d.disposal_in_time_rate)),
                num(r.department.as_ref().and_then(|d| d.rework_rate)),
                score,
                grade,
                csv_field(&positions.join(" ")),
            );
        }
        out
    }
}
