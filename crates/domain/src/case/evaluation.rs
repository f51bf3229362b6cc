//! Comprehensive evaluation (综合评价).
//!
//! The services keep one statistics row per case and stage, each a set of
//! [`StageCounters`] attributed to a department, a user and an area. Every
//! indicator is then a ratio of sums over a period and a scope: sum the rows
//! first, divide once (never average per-case rates).
//!
//! Rates are percentages (0–100). A rate whose denominator is zero is `None`
//! — "not applicable", shown as "—" — never NaN and never 0 or 100, because a
//! department with nothing to do has neither failed nor succeeded. A composite
//! score leaves such components out and spreads their weight over the others
//! in proportion; with no applicable component there is no score and no grade.
//! The volume component is not applicable at a volume of 0, so a department
//! or person with no work in the period gets no score rather than an E.
//! Components enter a score clamped to 0–100, so inconsistent counts (more
//! rework than cases due) cannot push a score out of range.

use super::CaseNumber;
use super::workflow::Stage;
use crate::city::Position;
use crate::codes::DivisionCode;
use crate::{Invalid, ValidationError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::iter::Sum;
use std::ops::{Add, AddAssign};

/// The counters of one statistics row. Each is 0 or 1 on a single row (a
/// case either was registered in this stage or not), or a count where a
/// stage can repeat (rework); sums over rows give the period totals.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(default)]
pub struct StageCounters {
    /// 上报数
    pub reported: u64,
    /// 有效上报数: reports that turned out to be real problems.
    pub valid_reported: u64,
    /// 漏报数: problems in an inspector's area first reported by the public.
    pub missed: u64,
    /// 应核实数
    pub needs_verify: u64,
    /// 核实数
    pub verified: u64,
    /// 按时核实数
    pub verified_in_time: u64,
    /// 核实派遣数: verification tasks the clerk sent out.
    pub verify_dispatched: u64,
    /// 按时核实派遣数
    pub verify_dispatched_in_time: u64,
    /// 监督员上报立案数: registered cases reported or verified by an inspector.
    pub inspector_registered: u64,
    /// 立案数
    pub registered: u64,
    /// 按时立案数
    pub registered_in_time: u64,
    /// 作废数
    pub cancelled: u64,
    /// 应派遣数
    pub needs_dispatch: u64,
    /// 派遣数
    pub dispatched: u64,
    /// 按时派遣数
    pub dispatched_in_time: u64,
    /// 应处置数
    pub needs_disposal: u64,
    /// 处置数
    pub disposed: u64,
    /// 按时处置数
    pub disposed_in_time: u64,
    /// 返工数
    pub rework: u64,
    /// 应核查数
    pub needs_check: u64,
    /// 核查数
    pub checked: u64,
    /// 按时核查数
    pub checked_in_time: u64,
    /// 核查派遣数: check tasks the clerk sent out.
    pub check_dispatched: u64,
    /// 按时核查派遣数
    pub check_dispatched_in_time: u64,
    /// 应结案数
    pub needs_closing: u64,
    /// 结案数
    pub closed: u64,
    /// 按时结案数
    pub closed_in_time: u64,
}

macro_rules! counters_add {
    ($($f:ident),* $(,)?) => {
        impl AddAssign for StageCounters {
            fn add_assign(&mut self, o: Self) {
                $( self.$f = self.$f.saturating_add(o.$f); )*
            }
        }
    };
}

counters_add!(
    reported,
    valid_reported,
    missed,
    needs_verify,
    verified,
    verified_in_time,
    verify_dispatched,
    verify_dispatched_in_time,
    inspector_registered,
    registered,
    registered_in_time,
    cancelled,
    needs_dispatch,
    dispatched,
    dispatched_in_time,
    needs_disposal,
    disposed,
    disposed_in_time,
    rework,
    needs_check,
    checked,
    checked_in_time,
    check_dispatched,
    check_dispatched_in_time,
    needs_closing,
    closed,
    closed_in_time,
);

impl Add for StageCounters {
    type Output = Self;
    fn add(mut self, o: Self) -> Self {
        self += o;
        self
    }
}

impl Sum for StageCounters {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), Add::add)
    }
}

impl<'a> Sum<&'a StageCounters> for StageCounters {
    fn sum<I: Iterator<Item = &'a Self>>(iter: I) -> Self {
        iter.copied().sum()
    }
}

/// One statistics row: the counters one case earned in one stage, and whom
/// they are credited to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatRow {
    pub case_number: CaseNumber,
    pub stage: Stage,
    /// When the stage ended (or the case entered it, for "needs" counters).
    pub at: DateTime<Utc>,
    pub department_code: Option<String>,
    pub user_id: Option<i64>,
    /// The area the case lies in (community, street or district code).
    pub area_code: Option<DivisionCode>,
    pub counters: StageCounters,
}

/// A period and scope to sum rows over; `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct StatFilter {
    /// Inclusive start.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive end.
    pub to: Option<DateTime<Utc>>,
    pub department_code: Option<String>,
    pub user_id: Option<i64>,
    /// Rows whose area lies within this area.
    pub area_code: Option<DivisionCode>,
}

impl StatFilter {
    pub fn matches(&self, row: &StatRow) -> bool {
        self.from.is_none_or(|f| row.at >= f)
            && self.to.is_none_or(|t| row.at < t)
            && self
                .department_code
                .as_ref()
                .is_none_or(|d| row.department_code.as_ref() == Some(d))
            && self.user_id.is_none_or(|u| row.user_id == Some(u))
            && self.area_code.as_ref().is_none_or(|a| {
                row.area_code
                    .as_ref()
                    .is_some_and(|r| a == r || a.contains(r))
            })
    }

    /// The sum of the counters of the rows this filter keeps.
    pub fn sum<'a>(&self, rows: impl IntoIterator<Item = &'a StatRow>) -> StageCounters {
        rows.into_iter()
            .filter(|r| self.matches(r))
            .map(|r| r.counters)
            .sum()
    }
}

/// `num / den` as a percentage; `None` when `den` is 0.
pub fn percent(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 * 100.0 / den as f64)
}

/// The headline figures: matters reported, handled (closed), completion rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Headline {
    pub reported: u64,
    pub handled: u64,
    /// handled / reported, %.
    pub completion_rate: Option<f64>,
}

impl Headline {
    pub fn from_counters(c: &StageCounters) -> Self {
        Self {
            reported: c.reported,
            handled: c.closed,
            completion_rate: percent(c.closed, c.reported),
        }
    }
}

/// The area indicators.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AreaScore {
    /// 监督举报率 = inspector-reported registered cases / registered, %.
    pub supervision_report_rate: Option<f64>,
    /// 结案率 = closed / due to close, %.
    pub close_rate: Option<f64>,
    /// 按期结案率 = closed in time / due to close, %.
    pub close_in_time_rate: Option<f64>,
}

impl AreaScore {
    pub fn from_counters(c: &StageCounters) -> Self {
        Self {
            supervision_report_rate: percent(c.inspector_registered, c.registered),
            close_rate: percent(c.closed, c.needs_closing),
            close_in_time_rate: percent(c.closed_in_time, c.needs_closing),
        }
    }
}

/// A volume-score table: the score of the highest step whose `min` the
/// volume reaches; 0 below the first step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VolumeScoreTable {
    pub steps: Vec<VolumeStep>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VolumeStep {
    pub min: u64,
    pub score: f64,
}

impl VolumeScoreTable {
    /// Steps as `(min, score)` pairs.
    pub fn new(steps: &[(u64, f64)]) -> Self {
        Self {
            steps: steps
                .iter()
                .map(|&(min, score)| VolumeStep { min, score })
                .collect(),
        }
    }

    pub fn score(&self, volume: u64) -> f64 {
        self.steps
            .iter()
            .filter(|s| volume >= s.min)
            .max_by_key(|s| s.min)
            .map_or(0.0, |s| s.score)
    }

    /// Steps strictly ascending by `min`, scores within 0–100.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.steps.is_empty() {
            return Err(Invalid::new(
                "steps",
                "a volume table needs at least one step",
            ));
        }
        for (i, s) in self.steps.iter().enumerate() {
            if !(0.0..=100.0).contains(&s.score) {
                return Err(Invalid::new(
                    format!("steps[{i}].score"),
                    format!("score {} must be within 0-100", s.score),
                ));
            }
            if i > 0 && s.min <= self.steps[i - 1].min {
                return Err(Invalid::new(
                    format!("steps[{i}].min"),
                    format!(
                        "step minimums must rise: {} follows {}",
                        s.min,
                        self.steps[i - 1].min
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Grade thresholds: a score at or above `a` is A, and so on; below `d` is E.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GradeThresholds {
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub d: f64,
}

impl Default for GradeThresholds {
    fn default() -> Self {
        Self {
            a: 90.0,
            b: 75.0,
            c: 60.0,
            d: 40.0,
        }
    }
}

/// A grade A–E.
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
pub enum Grade {
    A,
    B,
    C,
    D,
    E,
}

impl Grade {
    pub fn from_score(score: f64, t: &GradeThresholds) -> Self {
        if score >= t.a {
            Grade::A
        } else if score >= t.b {
            Grade::B
        } else if score >= t.c {
            Grade::C
        } else if score >= t.d {
            Grade::D
        } else {
            Grade::E
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Grade::A => "A",
            Grade::B => "B",
            Grade::C => "C",
            Grade::D => "D",
            Grade::E => "E",
        }
    }
}

/// Weights of the department score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct DepartmentWeights {
    pub volume: f64,
    pub disposal_rate: f64,
    pub disposal_in_time: f64,
    /// Applied to 100 − 返工率.
    pub rework: f64,
}

impl Default for DepartmentWeights {
    fn default() -> Self {
        Self {
            volume: 0.10,
            disposal_rate: 0.30,
            disposal_in_time: 0.30,
            rework: 0.30,
        }
    }
}

/// Weights of the inspector (监督员) score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct InspectorWeights {
    pub valid_report: f64,
    /// Applied to 100 − 漏报率.
    pub missed_report: f64,
    pub verify_in_time: f64,
    pub check_in_time: f64,
}

impl Default for InspectorWeights {
    fn default() -> Self {
        Self {
            valid_report: 0.40,
            missed_report: 0.20,
            verify_in_time: 0.20,
            check_in_time: 0.20,
        }
    }
}

/// Weights of the intake clerk (受理员) score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ClerkWeights {
    pub volume: f64,
    pub verify_dispatch_in_time: f64,
    pub check_dispatch_in_time: f64,
}

impl Default for ClerkWeights {
    fn default() -> Self {
        Self {
            volume: 0.25,
            verify_dispatch_in_time: 0.40,
            check_dispatch_in_time: 0.35,
        }
    }
}

/// Weights of the shift leader (值班长) score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct ShiftLeaderWeights {
    pub registered_in_time: f64,
    pub accurate_registration: f64,
    pub closed_in_time: f64,
}

impl Default for ShiftLeaderWeights {
    fn default() -> Self {
        Self {
            registered_in_time: 0.25,
            accurate_registration: 0.40,
            closed_in_time: 0.35,
        }
    }
}

/// Weights of the dispatcher (派遣员) score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct DispatcherWeights {
    pub volume: f64,
    pub dispatched_in_time: f64,
    pub accurate_dispatch: f64,
}

impl Default for DispatcherWeights {
    fn default() -> Self {
        Self {
            volume: 0.20,
            dispatched_in_time: 0.40,
            accurate_dispatch: 0.40,
        }
    }
}

/// The city's evaluation configuration. Every field has the default of
/// DOMAIN.md §5, so a config file need only hold what the city changes.
///
/// The default volume tables are starting points for the city to tune to its
/// own case numbers per period: department (cases due for disposal) 1→60,
/// 20→80, 50→90, 100→100; clerk (reports taken in) 1→60, 100→80, 300→90,
/// 600→100; dispatcher (cases dispatched) 1→60, 100→80, 300→90, 600→100.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct EvaluationConfig {
    pub department: DepartmentWeights,
    pub inspector: InspectorWeights,
    pub clerk: ClerkWeights,
    pub shift_leader: ShiftLeaderWeights,
    pub dispatcher: DispatcherWeights,
    pub department_volume: VolumeScoreTable,
    pub clerk_volume: VolumeScoreTable,
    pub dispatcher_volume: VolumeScoreTable,
    pub grades: GradeThresholds,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        Self {
            department: DepartmentWeights::default(),
            inspector: InspectorWeights::default(),
            clerk: ClerkWeights::default(),
            shift_leader: ShiftLeaderWeights::default(),
            dispatcher: DispatcherWeights::default(),
            department_volume: VolumeScoreTable::new(&[
                (1, 60.0),
                (20, 80.0),
                (50, 90.0),
                (100, 100.0),
            ]),
            clerk_volume: VolumeScoreTable::new(&[
                (1, 60.0),
                (100, 80.0),
                (300, 90.0),
                (600, 100.0),
            ]),
            dispatcher_volume: VolumeScoreTable::new(&[
                (1, 60.0),
                (100, 80.0),
                (300, 90.0),
                (600, 100.0),
            ]),
            grades: GradeThresholds::default(),
        }
    }
}

impl EvaluationConfig {
    /// Weights non-negative and summing to 1 per score, tables rising,
    /// grade thresholds falling from A to D.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut problems = ValidationError::default();
        let sets: [(&str, &[f64]); 5] = [
            (
                "department",
                &[
                    self.department.volume,
                    self.department.disposal_rate,
                    self.department.disposal_in_time,
                    self.department.rework,
                ],
            ),
            (
                "inspector",
                &[
                    self.inspector.valid_report,
                    self.inspector.missed_report,
                    self.inspector.verify_in_time,
                    self.inspector.check_in_time,
                ],
            ),
            (
                "clerk",
                &[
                    self.clerk.volume,
                    self.clerk.verify_dispatch_in_time,
                    self.clerk.check_dispatch_in_time,
                ],
            ),
            (
                "shift_leader",
                &[
                    self.shift_leader.registered_in_time,
                    self.shift_leader.accurate_registration,
                    self.shift_leader.closed_in_time,
                ],
            ),
            (
                "dispatcher",
                &[
                    self.dispatcher.volume,
                    self.dispatcher.dispatched_in_time,
                    self.dispatcher.accurate_dispatch,
                ],
            ),
        ];
        for (name, weights) in sets {
            if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
                problems.push(Invalid::new(name, "weights must be non-negative numbers"));
                continue;
            }
            let sum: f64 = weights.iter().sum();
            if (sum - 1.0).abs() > 1e-6 {
                problems.push(Invalid::new(
                    name,
                    format!("weights add up to {sum}; they must add up to 1 (100%)"),
                ));
            }
        }
        for (name, table) in [
            ("department_volume", &self.department_volume),
            ("clerk_volume", &self.clerk_volume),
            ("dispatcher_volume", &self.dispatcher_volume),
        ] {
            if let Err(e) = table.validate() {
                problems.push(e.at(name));
            }
        }
        let g = &self.grades;
        if !(g.a > g.b && g.b > g.c && g.c > g.d && g.d >= 0.0 && g.a <= 100.0) {
            problems.push(Invalid::new(
                "grades",
                format!(
                    "grade thresholds must fall from A to D within 0-100, got A {} B {} C {} D {}",
                    g.a, g.b, g.c, g.d
                ),
            ));
        }
        problems.into_result()
    }
}

/// One part of a composite score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScoreComponent {
    /// Stable key, e.g. `disposal_in_time`.
    pub key: String,
    pub label_zh: String,
    /// Points 0–100 before weighting; `None` when not applicable.
    pub points: Option<f64>,
    pub weight: f64,
}

/// A composite score with its parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Score {
    pub components: Vec<ScoreComponent>,
    /// Weighted points of the applicable components, their weights rescaled
    /// to add up to 1; `None` when no component applies.
    pub total: Option<f64>,
    pub grade: Option<Grade>,
}

impl Score {
    fn compose(parts: Vec<(&str, &str, Option<f64>, f64)>, grades: &GradeThresholds) -> Self {
        let components: Vec<ScoreComponent> = parts
            .into_iter()
            .map(|(key, label, points, weight)| ScoreComponent {
                key: key.to_string(),
                label_zh: label.to_string(),
                points: points.map(|p| p.clamp(0.0, 100.0)),
                weight,
            })
            .collect();
        let (weighted, weights) = components
            .iter()
            .filter_map(|c| c.points.map(|p| (p * c.weight, c.weight)))
            .fold((0.0, 0.0), |(s, w), (p, cw)| (s + p, w + cw));
        let total = (weights > 0.0).then(|| weighted / weights);
        Self {
            grade: total.map(|t| Grade::from_score(t, grades)),
            components,
            total,
        }
    }
}

/// The volume component: not applicable for someone with no work at all in
/// the period, so an idle department gets no score rather than an E.
fn volume_points(table: &VolumeScoreTable, volume: u64) -> Option<f64> {
    (volume > 0).then(|| table.score(volume))
}

/// The department indicators and score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DepartmentScore {
    /// Cases due for disposal: the volume the volume score is read from.
    pub volume: u64,
    /// 处置率 = disposed / due for disposal, %.
    pub disposal_rate: Option<f64>,
    /// 按期处置率 = disposed in time / due for disposal, %.
    pub disposal_in_time_rate: Option<f64>,
    /// 返工率 = rework / due to close, %.
    pub rework_rate: Option<f64>,
    pub score: Score,
}

impl DepartmentScore {
    pub fn from_counters(c: &StageCounters, cfg: &EvaluationConfig) -> Self {
        let w = &cfg.department;
        let disposal_rate = percent(c.disposed, c.needs_disposal);
        let disposal_in_time_rate = percent(c.disposed_in_time, c.needs_disposal);
        let rework_rate = percent(c.rework, c.needs_closing);
        let score = Score::compose(
            vec![
                (
                    "volume",
                    "工作量",
                    volume_points(&cfg.department_volume, c.needs_disposal),
                    w.volume,
                ),
                ("disposal_rate", "处置率", disposal_rate, w.disposal_rate),
                (
                    "disposal_in_time",
                    "按期处置率",
                    disposal_in_time_rate,
                    w.disposal_in_time,
                ),
                ("rework", "返工率", rework_rate.map(|r| 100.0 - r), w.rework),
            ],
            &cfg.grades,
        );
        Self {
            volume: c.needs_disposal,
            disposal_rate,
            disposal_in_time_rate,
            rework_rate,
            score,
        }
    }
}

/// The score of one member of staff in one position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PositionScore {
    pub position: Position,
    pub score: Score,
}

impl PositionScore {
    /// The score for `position` from the counters credited to one person;
    /// `None` for positions that are not scored (handlers are scored through
    /// their department; leaders and administrators not at all).
    pub fn for_position(
        position: Position,
        c: &StageCounters,
        cfg: &EvaluationConfig,
    ) -> Option<Self> {
        let g = &cfg.grades;
        let score = match position {
            Position::Inspector => {
                let w = &cfg.inspector;
                Score::compose(
                    vec![
                        (
                            "valid_report",
                            "有效上报率",
                            percent(c.valid_reported, c.reported),
                            w.valid_report,
                        ),
                        (
                            "missed_report",
                            "漏报率",
                            percent(c.missed, c.reported.saturating_add(c.missed))
                                .map(|r| 100.0 - r),
                            w.missed_report,
                        ),
                        (
                            "verify_in_time",
                            "按时核实率",
                            percent(c.verified_in_time, c.needs_verify),
                            w.verify_in_time,
                        ),
                        (
                            "check_in_time",
                            "按时核查率",
                            percent(c.checked_in_time, c.needs_check),
                            w.check_in_time,
                        ),
                    ],
                    g,
                )
            }
            Position::Clerk => {
                let w = &cfg.clerk;
                Score::compose(
                    vec![
                        (
                            "volume",
                            "工作量",
                            volume_points(&cfg.clerk_volume, c.reported),
                            w.volume,
                        ),
                        (
                            "verify_dispatch_in_time",
                            "核实派遣及时率",
                            percent(c.verify_dispatched_in_time, c.verify_dispatched),
                            w.verify_dispatch_in_time,
                        ),
                        (
                            "check_dispatch_in_time",
                            "核查派遣及时率",
                            percent(c.check_dispatched_in_time, c.check_dispatched),
                            w.check_dispatch_in_time,
                        ),
                    ],
                    g,
                )
            }
            Position::ShiftLeader => {
                let w = &cfg.shift_leader;
                Score::compose(
                    vec![
                        (
                            "registered_in_time",
                            "按时立案率",
                            percent(c.registered_in_time, c.registered),
                            w.registered_in_time,
                        ),
                        (
                            "accurate_registration",
                            "立案准确率",
                            percent(c.registered.saturating_sub(c.cancelled), c.registered),
                            w.accurate_registration,
                        ),
                        (
                            "closed_in_time",
                            "按时结案率",
                            percent(c.closed_in_time, c.needs_closing),
                            w.closed_in_time,
                        ),
                    ],
                    g,
                )
            }
            Position::Dispatcher => {
                let w = &cfg.dispatcher;
                Score::compose(
                    vec![
                        (
                            "volume",
                            "工作量",
                            volume_points(&cfg.dispatcher_volume, c.dispatched),
                            w.volume,
                        ),
                        (
                            "dispatched_in_time",
                            "按时派遣率",
                            percent(c.dispatched_in_time, c.needs_dispatch),
                            w.dispatched_in_time,
                        ),
                        (
                            "accurate_dispatch",
                            "派遣准确率",
                            percent(c.dispatched.saturating_sub(c.rework), c.dispatched),
                            w.accurate_dispatch,
                        ),
                    ],
                    g,
                )
            }
            Position::Handler | Position::Leader | Position::Admin => return None,
        };
        Some(Self { position, score })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    fn points(s: &Score, key: &str) -> Option<f64> {
        s.components
            .iter()
            .find(|c| c.key == key)
            .and_then(|c| c.points)
    }

    #[test]
    fn percent_is_none_when_nothing_is_due() {
        assert_eq!(percent(0, 0), None);
        assert_eq!(percent(5, 0), None);
        assert_eq!(percent(0, 4), Some(0.0));
        assert_eq!(percent(3, 4), Some(75.0));
    }

    #[test]
    fn counters_add_and_sum() {
        let a = StageCounters {
            reported: 1,
            closed: 1,
            rework: 2,
            ..Default::default()
        };
        let b = StageCounters {
            reported: 1,
            needs_closing: 1,
            ..Default::default()
        };
        let s = a + b;
        assert_eq!(
            (s.reported, s.closed, s.rework, s.needs_closing),
            (2, 1, 2, 1)
        );
        let total: StageCounters = [a, b, b].iter().sum();
        assert_eq!(total.reported, 3);
        let big = StageCounters {
            reported: u64::MAX,
            ..Default::default()
        };
        assert_eq!((big + a).reported, u64::MAX, "sums saturate");
        let parsed: StageCounters = serde_json::from_str(r#"{"reported": 4}"#).unwrap();
        assert_eq!(parsed.reported, 4);
        assert_eq!(parsed.closed, 0);
    }

    #[test]
    fn department_score_by_hand() {
        let c = StageCounters {
            needs_disposal: 40,
            disposed: 36,
            disposed_in_time: 30,
            needs_closing: 40,
            rework: 4,
            ..Default::default()
        };
        let d = DepartmentScore::from_counters(&c, &EvaluationConfig::default());
        assert_eq!(d.volume, 40);
        assert!(close(d.disposal_rate, 90.0));
        assert!(close(d.disposal_in_time_rate, 75.0));
        assert!(close(d.rework_rate, 10.0));
        assert!(close(points(&d.score, "volume"), 80.0));
        assert!(close(points(&d.score, "rework"), 90.0));
        // 80×10% + 90×30% + 75×30% + 90×30% = 84.5
        assert!(close(d.score.total, 84.5), "{:?}", d.score.total);
        assert_eq!(d.score.grade, Some(Grade::B));
    }

    #[test]
    fn rework_above_cases_due_cannot_go_negative() {
        let c = StageCounters {
            needs_disposal: 2,
            disposed: 2,
            disposed_in_time: 2,
            needs_closing: 2,
            rework: 5,
            ..Default::default()
        };
        let d = DepartmentScore::from_counters(&c, &EvaluationConfig::default());
        assert!(close(d.rework_rate, 250.0));
        assert_eq!(points(&d.score, "rework"), Some(0.0));
        // 60×10% + 100×30% + 100×30% + 0×30% = 66
        assert!(close(d.score.total, 66.0));
    }

    #[test]
    fn an_idle_department_has_no_score() {
        let d =
            DepartmentScore::from_counters(&StageCounters::default(), &EvaluationConfig::default());
        assert_eq!(d.disposal_rate, None);
        assert_eq!(d.score.total, None);
        assert_eq!(d.score.grade, None);
        assert!(d.score.components.iter().all(|c| c.points.is_none()));
    }

    #[test]
    fn position_scores_by_hand() {
        let cfg = EvaluationConfig::default();
        let cases: Vec<(Position, StageCounters, f64, Grade)> = vec![
            // 90×40% + (100 − 5/55×100)×20% + 90×20% + 90×20% = 90.1818…
            (
                Position::Inspector,
                StageCounters {
                    reported: 50,
                    valid_reported: 45,
                    missed: 5,
                    needs_verify: 20,
                    verified: 20,
                    verified_in_time: 18,
                    needs_check: 30,
                    checked: 30,
                    checked_in_time: 27,
                    ..Default::default()
                },
                36.0 + 0.2 * (100.0 - 500.0 / 55.0) + 18.0 + 18.0,
                Grade::A,
            ),
            // 80×25% + 90×40% + 80×35% = 84
            (
                Position::Clerk,
                StageCounters {
                    reported: 150,
                    verify_dispatched: 40,
                    verify_dispatched_in_time: 36,
                    check_dispatched: 50,
                    check_dispatched_in_time: 40,
                    ..Default::default()
                },
                84.0,
                Grade::B,
            ),
            // 95×25% + 90×40% + 75×35% = 86
            (
                Position::ShiftLeader,
                StageCounters {
                    registered: 100,
                    registered_in_time: 95,
                    cancelled: 10,
                    needs_closing: 80,
                    closed: 70,
                    closed_in_time: 60,
                    ..Default::default()
                },
                86.0,
                Grade::B,
            ),
            // 60×20% + 90×40% + 90×40% = 84
            (
                Position::Dispatcher,
                StageCounters {
                    dispatched: 80,
                    needs_dispatch: 80,
                    dispatched_in_time: 72,
                    rework: 8,
                    ..Default::default()
                },
                84.0,
                Grade::B,
            ),
            // Weak dispatcher: 60×20% + 50×40% + 25×40% = 42
            (
                Position::Dispatcher,
                StageCounters {
                    dispatched: 8,
                    needs_dispatch: 8,
                    dispatched_in_time: 4,
                    rework: 6,
                    ..Default::default()
                },
                42.0,
                Grade::D,
            ),
        ];
        for (position, c, want, grade) in cases {
            let s = PositionScore::for_position(position, &c, &cfg).unwrap();
            assert_eq!(s.position, position);
            assert!(
                close(s.score.total, want),
                "{position:?}: {:?} vs {want}",
                s.score.total
            );
            assert_eq!(s.score.grade, Some(grade), "{position:?}");
        }
        for p in [Position::Handler, Position::Leader, Position::Admin] {
            assert!(PositionScore::for_position(p, &StageCounters::default(), &cfg).is_none());
        }
    }

    #[test]
    fn missing_components_spread_their_weight() {
        // An inspector with reports but no verify or check tasks:
        // (80×40% + 100×20%) / 60% = 86.67
        let c = StageCounters {
            reported: 10,
            valid_reported: 8,
            ..Default::default()
        };
        let s = PositionScore::for_position(Position::Inspector, &c, &EvaluationConfig::default())
            .unwrap();
        assert!(close(s.score.total, 52.0 / 0.6));
        assert_eq!(points(&s.score, "verify_in_time"), None);
        assert_eq!(s.score.grade, Some(Grade::B));
    }

    #[test]
    fn area_and_headline_by_hand() {
        let c = StageCounters {
            registered: 200,
            inspector_registered: 150,
            needs_closing: 180,
            closed: 171,
            closed_in_time: 162,
            ..Default::default()
        };
        let a = AreaScore::from_counters(&c);
        assert!(close(a.supervision_report_rate, 75.0));
        assert!(close(a.close_rate, 95.0));
        assert!(close(a.close_in_time_rate, 90.0));
        assert_eq!(
            AreaScore::from_counters(&StageCounters::default()).close_rate,
            None
        );
        // Yingtan's year: 546,600 reported, 544,400 handled: 99.6%.
        let h = Headline::from_counters(&StageCounters {
            reported: 546_600,
            closed: 544_400,
            ..Default::default()
        });
        assert_eq!(h.handled, 544_400);
        assert_eq!(format!("{:.1}", h.completion_rate.unwrap()), "99.6");
    }

    #[test]
    fn grades_at_their_boundaries() {
        let t = GradeThresholds::default();
        for (score, grade) in [
            (100.0, Grade::A),
            (90.0, Grade::A),
            (89.99, Grade::B),
            (75.0, Grade::B),
            (74.9, Grade::C),
            (60.0, Grade::C),
            (59.9, Grade::D),
            (40.0, Grade::D),
            (39.9, Grade::E),
            (0.0, Grade::E),
        ] {
            assert_eq!(Grade::from_score(score, &t), grade, "{score}");
        }
        let strict = GradeThresholds {
            a: 95.0,
            b: 85.0,
            c: 70.0,
            d: 50.0,
        };
        assert_eq!(Grade::from_score(90.0, &strict), Grade::B);
        assert_eq!(Grade::C.as_str(), "C");
    }

    #[test]
    fn volume_tables() {
        let t = VolumeScoreTable::new(&[(1, 60.0), (20, 80.0), (50, 90.0), (100, 100.0)]);
        for (v, s) in [
            (0, 0.0),
            (1, 60.0),
            (19, 60.0),
            (20, 80.0),
            (99, 90.0),
            (100, 100.0),
            (10_000, 100.0),
        ] {
            assert_eq!(t.score(v), s, "{v}");
        }
        assert!(t.validate().is_ok());
        assert!(
            VolumeScoreTable::new(&[(10, 50.0), (5, 60.0)])
                .validate()
                .unwrap_err()
                .field
                .contains("min")
        );
        assert!(VolumeScoreTable::new(&[(1, 150.0)]).validate().is_err());
        assert!(VolumeScoreTable::new(&[]).validate().is_err());
    }

    #[test]
    fn config_loads_with_defaults_and_is_checked() {
        let cfg: EvaluationConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(cfg, EvaluationConfig::default());
        cfg.validate().unwrap();
        let cfg: EvaluationConfig = serde_json::from_value(serde_json::json!({
            "department": {"volume": 0.2, "rework": 0.2},
            "grades": {"a": 95, "b": 85, "c": 70, "d": 50}
        }))
        .unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.department.disposal_rate, 0.3);
        let c = StageCounters {
            needs_disposal: 40,
            disposed: 36,
            disposed_in_time: 30,
            needs_closing: 40,
            rework: 4,
            ..Default::default()
        };
        // 80×20% + 90×30% + 75×30% + 90×20% = 83.5, a C under the stricter grades
        let d = DepartmentScore::from_counters(&c, &cfg);
        assert!(close(d.score.total, 83.5));
        assert_eq!(d.score.grade, Some(Grade::C));
        let bad: EvaluationConfig = serde_json::from_value(serde_json::json!({
            "clerk": {"volume": 0.5},
            "dispatcher": {"volume": -0.2, "dispatched_in_time": 0.6, "accurate_dispatch": 0.6},
            "grades": {"a": 60, "b": 75, "c": 60, "d": 40},
            "clerk_volume": {"steps": []}
        }))
        .unwrap();
        let err = bad.validate().unwrap_err();
        let fields: Vec<&str> = err.problems.iter().map(|p| p.field.as_str()).collect();
        assert!(fields.contains(&"clerk"), "{fields:?}");
        assert!(fields.contains(&"dispatcher"), "{fields:?}");
        assert!(fields.contains(&"grades"), "{fields:?}");
        assert!(fields.contains(&"clerk_volume.steps"), "{fields:?}");
    }

    #[test]
    fn rows_are_summed_over_a_period_and_scope() {
        let at = |d| Utc.with_ymd_and_hms(2026, 3, d, 2, 0, 0).unwrap();
        let row = |n: u32, d, dept: &str, user, area: &str, closed| StatRow {
            case_number: CaseNumber::new(
                "YT",
                chrono::NaiveDate::from_ymd_opt(2026, 3, d).unwrap(),
                n,
            )
            .unwrap(),
            stage: Stage::CheckClose,
            at: at(d),
            department_code: Some(dept.into()),
            user_id: Some(user),
            area_code: Some(DivisionCode::parse(area).unwrap()),
            counters: StageCounters {
                needs_closing: 1,
                closed,
                ..Default::default()
            },
        };
        let rows = vec![
            row(1, 1, "YH-CGJ", 5, "360602001", 1),
            row(2, 2, "YH-CGJ", 6, "360602002", 0),
            row(3, 3, "YJ-CGJ", 7, "360603001", 1),
            row(4, 10, "YH-CGJ", 5, "360602001", 1),
        ];
        let all = StatFilter::default().sum(&rows);
        assert_eq!((all.needs_closing, all.closed), (4, 3));
        let march_first_week = StatFilter {
            from: Some(at(1)),
            to: Some(at(8)),
            ..Default::default()
        };
        assert_eq!(march_first_week.sum(&rows).needs_closing, 3);
        let yuehu = StatFilter {
            area_code: Some(DivisionCode::parse("360602").unwrap()),
            ..Default::default()
        };
        let s = yuehu.sum(&rows);
        assert_eq!((s.needs_closing, s.closed), (3, 2));
        assert!(close(AreaScore::from_counters(&s).close_rate, 200.0 / 3.0));
        let dept = StatFilter {
            department_code: Some("YH-CGJ".into()),
            user_id: Some(5),
            ..Default::default()
        };
        assert_eq!(dept.sum(&rows).closed, 2);
    }
}
