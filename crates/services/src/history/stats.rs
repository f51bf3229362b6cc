//! Closure and on-time closure rates of historical cases (DOMAIN.md §5:
//! 结案率 = closed / due to close, 按期结案率 = closed in time / due to close),
//! where every valid imported case is due to close.

use super::HistoricalCase;
use super::layout::HistoricalStatus;
use chengyun_domain::codes::ClassCode;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A time limit counted on the clock, without a work calendar: historical
/// sources rarely say which calendar their limits used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "unit", content = "value")]
pub enum NaturalLimit {
    Days(u32),
    Hours(u32),
}

impl NaturalLimit {
    pub fn duration(self) -> Duration {
        match self {
            NaturalLimit::Days(d) => Duration::days(i64::from(d)),
            NaturalLimit::Hours(h) => Duration::hours(i64::from(h)),
        }
    }
}

/// The default deadline rule: the record's own due date when it has one
/// (NYC keeps `Due Date`), else created + the limit of its matter code, else
/// created + `default_limit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlinePolicy {
    pub prefer_record_due: bool,
    pub default_limit: NaturalLimit,
    #[serde(default)]
    pub per_matter: BTreeMap<ClassCode, NaturalLimit>,
}

impl DeadlinePolicy {
    /// Record due date first, else `days` natural days after creation.
    pub fn due_or_days(days: u32) -> Self {
        Self {
            prefer_record_due: true,
            default_limit: NaturalLimit::Days(days),
            per_matter: BTreeMap::new(),
        }
    }

    pub fn deadline(&self, case: &HistoricalCase) -> Option<DateTime<Utc>> {
        if self.prefer_record_due
            && let Some(due) = case.due_at
        {
            return Some(due);
        }
        let limit = self
            .per_matter
            .get(&case.matter_code)
            .copied()
            .unwrap_or(self.default_limit);
        case.created_at.checked_add_signed(limit.duration())
    }
}

/// Headline figures of a set of historical cases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryStats {
    /// Valid (imported) cases: the "due to close" denominator.
    pub total: u64,
    pub closed: u64,
    pub cancelled: u64,
    pub open: u64,
    /// Cases for which the deadline function gave a deadline.
    pub with_deadline: u64,
    /// Closed cases whose close time is at or before their deadline.
    pub closed_on_time: u64,
    /// closed / total (0 when there are no cases).
    pub closure_rate: f64,
    /// closed_on_time / with_deadline (0 when no case has a deadline).
    pub on_time_closure_rate: f64,
    /// Mean hours from report to close over closed cases.
    pub mean_hours_to_close: Option<f64>,
}

impl HistoryStats {
    /// Computes the figures; `deadline` decides each case's deadline (pass
    /// `|c| policy.deadline(c)` or a work-calendar rule of the city).
    pub fn compute<F>(cases: &[HistoricalCase], deadline: F) -> Self
    where
        F: Fn(&HistoricalCase) -> Option<DateTime<Utc>>,
    {
        let mut s = HistoryStats {
            total: 0,
            closed: 0,
            cancelled: 0,
            open: 0,
            with_deadline: 0,
            closed_on_time: 0,
            closure_rate: 0.0,
            on_time_closure_rate: 0.0,
            mean_hours_to_close: None,
        };
        let mut hours_sum = 0.0;
        for case in cases {
            s.total += 1;
            match case.status {
                HistoricalStatus::Open => s.open += 1,
                HistoricalStatus::Cancelled => s.cancelled += 1,
                HistoricalStatus::Closed => s.closed += 1,
            }
            let closed_at = match (case.status, case.closed_at) {
                (HistoricalStatus::Closed, Some(at)) => {
                    hours_sum += (at - case.created_at).num_milliseconds() as f64 / 3_600_000.0;
                    Some(at)
                }
                _ => None,
            };
            if let Some(due) = deadline(case) {
                s.with_deadline += 1;
                if closed_at.is_some_and(|at| at <= due) {
                    s.closed_on_time += 1;
                }
            }
        }
        if s.total > 0 {
            s.closure_rate = s.closed as f64 / s.total as f64;
        }
        if s.with_deadline > 0 {
            s.on_time_closure_rate = s.closed_on_time as f64 / s.with_deadline as f64;
        }
        if s.closed > 0 {
            s.mean_hours_to_close = Some(hours_sum / s.closed as f64);
        }
        s
    }

    /// The same figures per department (cases without one under "").
    pub fn by_department<F>(cases: &[HistoricalCase], deadline: F) -> BTreeMap<String, Self>
    where
        F: Fn(&HistoricalCase) -> Option<DateTime<Utc>>,
    {
        let mut groups: BTreeMap<String, Vec<HistoricalCase>> = BTreeMap::new();
        for case in cases {
            groups
                .entry(case.department.clone().unwrap_or_default())
                .or_default()
                .push(case.clone());
        }
        groups
            .into_iter()
            .map(|(dept, group)| (dept, Self::compute(&group, &deadline)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn case(status: HistoricalStatus, created_h: i64, closed_h: Option<i64>) -> HistoricalCase {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).single().unwrap();
        HistoricalCase {
            line: 2,
            external_id: format!("x{created_h}"),
            source_system: "test".into(),
            category: "06028".into(),
            matter_code: ClassCode::parse("06028").unwrap(),
            matter_from_fallback: false,
            department: Some("D1".into()),
            status,
            source_status: status.as_str().into(),
            created_at: t0 + Duration::hours(created_h),
            registered_at: None,
            dispatched_at: None,
            disposed_at: None,
            closed_at: closed_h.map(|h| t0 + Duration::hours(h)),
            due_at: None,
            lon: None,
            lat: None,
            address: None,
            description: None,
        }
    }

    #[test]
    fn rates_count_closed_and_on_time_against_the_deadline() {
        let cases = vec![
            case(HistoricalStatus::Closed, 0, Some(10)),
            case(HistoricalStatus::Closed, 0, Some(30)),
            case(HistoricalStatus::Cancelled, 0, Some(1)),
            case(HistoricalStatus::Open, 0, None),
        ];
        let policy = DeadlinePolicy {
            prefer_record_due: true,
            default_limit: NaturalLimit::Hours(24),
            per_matter: BTreeMap::new(),
        };
        let s = HistoryStats::compute(&cases, |c| policy.deadline(c));
        assert_eq!((s.total, s.closed, s.cancelled, s.open), (4, 2, 1, 1));
        assert_eq!(s.closed_on_time, 1);
        assert_eq!(s.closure_rate, 0.5);
        assert_eq!(s.on_time_closure_rate, 0.25);
        assert_eq!(s.mean_hours_to_close, Some(20.0));
    }

    #[test]
    fn record_due_dates_and_per_matter_limits_take_precedence() {
        let mut c = case(HistoricalStatus::Closed, 0, Some(30));
        let mut policy = DeadlinePolicy::due_or_days(1);
        assert_eq!(policy.deadline(&c), Some(c.created_at + Duration::days(1)));
        policy
            .per_matter
            .insert(ClassCode::parse("06028").unwrap(), NaturalLimit::Hours(48));
        assert_eq!(
            policy.deadline(&c),
            Some(c.created_at + Duration::hours(48))
        );
        c.due_at = Some(c.created_at + Duration::hours(2));
        assert_eq!(policy.deadline(&c), c.due_at);
        policy.prefer_record_due = false;
        assert_eq!(
            policy.deadline(&c),
            Some(c.created_at + Duration::hours(48))
        );
    }

    #[test]
    fn empty_input_and_no_deadlines_give_zero_rates() {
        let s = HistoryStats::compute(&[], |_| None);
        assert_eq!(
            (s.total, s.closure_rate, s.on_time_closure_rate),
            (0, 0.0, 0.0)
        );
        let s = HistoryStats::compute(&[case(HistoricalStatus::Closed, 0, Some(1))], |_| None);
        assert_eq!((s.with_deadline, s.on_time_closure_rate), (0, 0.0));
        assert_eq!(s.closure_rate, 1.0);
        let by = HistoryStats::by_department(&[case(HistoricalStatus::Open, 0, None)], |_| None);
        assert_eq!(by["D1"].open, 1);
    }
}
