//! Time limits on a work calendar (立结案标准 and 工作日历).
//!
//! Limits are counted in one of the units the standards use: 紧急工作时 (the
//! clock runs 24×7), 工作时 and 工作日 (only working hours of working days
//! count), or 自然日 (natural days). Deadlines are absolute UTC instants, so a
//! service can store them and a restart loses no timer; time a case spends on
//! hold (挂账) does not count, which pushes the deadline later.
//!
//! The calendar knows the city's time zone (Asia/Shanghai by default, which has
//! no daylight saving), its weekend days, public holidays, make-up working days
//! (调休上班) and working-hour periods (e.g. 08:30–12:00 and 14:00–17:30). The
//! city edits it; [`WorkCalendarConfig::china_2026`] is the shipped default.

use super::Urgency;
use crate::codes::ClassCode;
use crate::standard::{self, ClassKind};
use crate::{Invalid, ValidationError};
use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// How far ahead the calendar looks for working time (about 100 years). A
/// limit longer than that, or a clock paused by a hold that never ends, has no
/// deadline within the horizon.
pub const HORIZON_DAYS: i64 = 36_525;

/// The unit a time limit is counted in.
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
pub enum LimitUnit {
    /// Minutes on the 24×7 clock (紧急工作时, e.g. the 10-minute 立案+派遣 of urgent cases).
    UrgentMinutes,
    /// 紧急工作时: hours on the 24×7 clock.
    UrgentHours,
    /// Minutes of working time (e.g. the 30-minute 核实 and 核查).
    WorkMinutes,
    /// 工作时: hours of working time.
    WorkHours,
    /// 工作日: working days, each as long as the working hours of one day.
    WorkDays,
    /// 自然日: natural days of 24 hours.
    NaturalDays,
}

impl LimitUnit {
    pub const ALL: [LimitUnit; 6] = [
        LimitUnit::UrgentMinutes,
        LimitUnit::UrgentHours,
        LimitUnit::WorkMinutes,
        LimitUnit::WorkHours,
        LimitUnit::WorkDays,
        LimitUnit::NaturalDays,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LimitUnit::UrgentMinutes => "urgent_minutes",
            LimitUnit::UrgentHours => "urgent_hours",
            LimitUnit::WorkMinutes => "work_minutes",
            LimitUnit::WorkHours => "work_hours",
            LimitUnit::WorkDays => "work_days",
            LimitUnit::NaturalDays => "natural_days",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            LimitUnit::UrgentMinutes => "分钟（紧急工作时）",
            LimitUnit::UrgentHours => "紧急工作时",
            LimitUnit::WorkMinutes => "分钟（工作时）",
            LimitUnit::WorkHours => "工作时",
            LimitUnit::WorkDays => "工作日",
            LimitUnit::NaturalDays => "自然日",
        }
    }

    /// Accepts the API names and the Chinese unit names of 立结案标准 tables.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        LimitUnit::ALL
            .into_iter()
            .find(|u| u.as_str() == s || u.label_zh() == s)
            .or(match s {
                "紧急小时" => Some(LimitUnit::UrgentHours),
                "工作小时" => Some(LimitUnit::WorkHours),
                "天" | "日" => Some(LimitUnit::NaturalDays),
                _ => None,
            })
            .ok_or_else(|| {
                Invalid::new(
                    "unit",
                    format!(
                        "unknown time-limit unit {s:?}; use urgent_minutes, urgent_hours (紧急工作时), work_minutes, work_hours (工作时), work_days (工作日) or natural_days (自然日)"
                    ),
                )
            })
    }

    /// True when only working time counts (工作时, 工作日).
    pub fn counts_working_time(self) -> bool {
        matches!(
            self,
            LimitUnit::WorkMinutes | LimitUnit::WorkHours | LimitUnit::WorkDays
        )
    }

    /// The largest value a limit may have in this unit (about ten years), so
    /// that a typing error cannot produce a timer that never fires.
    pub fn max_value(self) -> u32 {
        match self {
            LimitUnit::UrgentMinutes | LimitUnit::WorkMinutes => 5_256_000,
            LimitUnit::UrgentHours | LimitUnit::WorkHours => 87_600,
            LimitUnit::WorkDays | LimitUnit::NaturalDays => 3_650,
        }
    }
}

/// A time limit: a value and its unit, e.g. 4 工作时.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimeLimit {
    pub value: u32,
    pub unit: LimitUnit,
}

impl TimeLimit {
    pub const fn new(value: u32, unit: LimitUnit) -> Self {
        Self { value, unit }
    }

    /// A limit must be positive and at most [`LimitUnit::max_value`].
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.value == 0 {
            return Err(Invalid::new(
                "value",
                "a time limit must be at least 1; a case cannot be due the moment it starts",
            ));
        }
        if self.value > self.unit.max_value() {
            return Err(Invalid::new(
                "value",
                format!(
                    "a time limit of {} {} is longer than the {} allowed",
                    self.value,
                    self.unit.as_str(),
                    self.unit.max_value()
                ),
            ));
        }
        Ok(())
    }

    /// The limit as shown to users, e.g. `4工作时`.
    pub fn label_zh(&self) -> String {
        format!("{}{}", self.value, self.unit.label_zh())
    }
}

impl fmt::Display for TimeLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value, self.unit.as_str())
    }
}

/// The four timed steps of a case, each with its own limit in the standard.
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
pub enum Clock {
    /// 核实: from the verification request to the inspector's answer.
    Verify,
    /// 立案+派遣: from the case being ready to register to its dispatch.
    RegisterDispatch,
    /// 处置: from dispatch to the handler's feedback.
    Dispose,
    /// 核查: from the check request to the inspector's answer.
    Check,
}

impl Clock {
    pub const ALL: [Clock; 4] = [
        Clock::Verify,
        Clock::RegisterDispatch,
        Clock::Dispose,
        Clock::Check,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Clock::Verify => "verify",
            Clock::RegisterDispatch => "register_dispatch",
            Clock::Dispose => "dispose",
            Clock::Check => "check",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Clock::Verify => "核实",
            Clock::RegisterDispatch => "立案派遣",
            Clock::Dispose => "处置",
            Clock::Check => "核查",
        }
    }
}

/// A working-hour period of a working day, in local time, `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkPeriod {
    #[schema(value_type = String, example = "08:30:00")]
    pub start: NaiveTime,
    #[schema(value_type = String, example = "12:00:00")]
    pub end: NaiveTime,
}

impl WorkPeriod {
    fn hm(sh: u32, sm: u32, eh: u32, em: u32) -> Self {
        Self {
            start: NaiveTime::from_hms_opt(sh, sm, 0).unwrap_or_default(),
            end: NaiveTime::from_hms_opt(eh, em, 0).unwrap_or_default(),
        }
    }
}

/// A span during which a case was on hold (挂账). `end` is `None` while the
/// case is still on hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HoldPeriod {
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
}

/// The editable form of a work calendar, as stored and as sent over the API.
/// Turn it into a [`WorkCalendar`] (which checks it) to compute with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkCalendarConfig {
    /// IANA time zone name of the city.
    #[schema(value_type = String, example = "Asia/Shanghai")]
    pub time_zone: Tz,
    /// Days of the week that are not working days unless listed as make-up days.
    #[schema(value_type = Vec<String>, example = json!(["Sat", "Sun"]))]
    pub weekend: Vec<Weekday>,
    /// Public holidays (放假): not working days even on a weekday.
    #[schema(value_type = Vec<String>)]
    pub holidays: Vec<NaiveDate>,
    /// Make-up working days (调休上班): working days even on a weekend.
    #[schema(value_type = Vec<String>)]
    pub make_up_workdays: Vec<NaiveDate>,
    /// Working-hour periods of every working day, local time.
    pub working_hours: Vec<WorkPeriod>,
}

impl Default for WorkCalendarConfig {
    fn default() -> Self {
        Self::china_2026()
    }
}

impl WorkCalendarConfig {
    /// Asia/Shanghai, Saturday and Sunday off, 08:30–12:00 and 14:00–17:30,
    /// and the 2026 national holidays and make-up working days as published by
    /// the State Council General Office on 2025-11-04 (国办发明电〔2025〕7号).
    /// Later years must be added by the city each December, when the schedule
    /// is published; local holidays are the city's to add too.
    pub fn china_2026() -> Self {
        let d = |m: u32, day: u32| NaiveDate::from_ymd_opt(2026, m, day).unwrap_or_default();
        let span = |m: u32, from: u32, to: u32| (from..=to).map(move |day| d(m, day));
        let holidays = span(1, 1, 3) // 元旦
            .chain(span(2, 15, 23)) // 春节
            .chain(span(4, 4, 6)) // 清明节
            .chain(span(5, 1, 5)) // 劳动节
            .chain(span(6, 19, 21)) // 端午节
            .chain(span(9, 25, 27)) // 中秋节
            .chain(span(10, 1, 7)) // 国庆节
            .collect();
        let make_up_workdays = vec![d(1, 4), d(2, 14), d(2, 28), d(5, 9), d(9, 20), d(10, 10)];
        Self {
            time_zone: chrono_tz::Asia::Shanghai,
            weekend: vec![Weekday::Sat, Weekday::Sun],
            holidays,
            make_up_workdays,
            working_hours: vec![WorkPeriod::hm(8, 30, 12, 0), WorkPeriod::hm(14, 0, 17, 30)],
        }
    }
}

/// A checked work calendar. Build it from a [`WorkCalendarConfig`]; it
/// (de)serialises as one, refusing a config that breaks a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "WorkCalendarConfig", into = "WorkCalendarConfig")]
pub struct WorkCalendar {
    tz: Tz,
    weekend: [bool; 7],
    holidays: BTreeSet<NaiveDate>,
    make_up: BTreeSet<NaiveDate>,
    periods: Vec<WorkPeriod>,
    day_seconds: i64,
}

impl Default for WorkCalendar {
    fn default() -> Self {
        // The shipped default satisfies every rule `new` checks.
        Self::new(WorkCalendarConfig::china_2026()).unwrap_or_else(|_| Self::always_open())
    }
}

impl TryFrom<WorkCalendarConfig> for WorkCalendar {
    type Error = ValidationError;
    fn try_from(value: WorkCalendarConfig) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<WorkCalendar> for WorkCalendarConfig {
    fn from(value: WorkCalendar) -> Self {
        value.config()
    }
}

impl WorkCalendar {
    /// Checks the config: at least one working weekday, at least one working
    /// period, periods that do not overlap, and no date that is both a holiday
    /// and a make-up working day.
    pub fn new(config: WorkCalendarConfig) -> Result<Self, ValidationError> {
        let mut problems = ValidationError::default();
        let mut weekend = [false; 7];
        for day in &config.weekend {
            weekend[day.num_days_from_monday() as usize] = true;
        }
        if weekend.iter().all(|w| *w) {
            problems.push(Invalid::new(
                "weekend",
                "every day of the week is a weekend day; leave at least one working weekday",
            ));
        }
        let mut periods = config.working_hours.clone();
        periods.sort_by_key(|p| p.start);
        if periods.is_empty() {
            problems.push(Invalid::new(
                "working_hours",
                "a work calendar needs at least one working-hour period, e.g. 08:30-12:00",
            ));
        }
        for (i, p) in periods.iter().enumerate() {
            if p.start >= p.end {
                problems.push(Invalid::new(
                    format!("working_hours[{i}]"),
                    format!(
                        "period {}-{} must start before it ends (a period cannot cross midnight)",
                        p.start, p.end
                    ),
                ));
            }
            if let Some(next) = periods.get(i + 1)
                && next.start < p.end
            {
                problems.push(Invalid::new(
                    format!("working_hours[{}]", i + 1),
                    format!(
                        "period {}-{} overlaps period {}-{}",
                        next.start, next.end, p.start, p.end
                    ),
                ));
            }
        }
        let holidays: BTreeSet<NaiveDate> = config.holidays.iter().copied().collect();
        let make_up: BTreeSet<NaiveDate> = config.make_up_workdays.iter().copied().collect();
        for both in holidays.intersection(&make_up) {
            problems.push(Invalid::new(
                "make_up_workdays",
                format!("{both} is listed both as a holiday and as a make-up working day"),
            ));
        }
        problems.into_result()?;
        let day_seconds = periods
            .iter()
            .map(|p| (p.end - p.start).num_seconds())
            .sum();
        Ok(Self {
            tz: config.time_zone,
            weekend,
            holidays,
            make_up,
            periods,
            day_seconds,
        })
    }

    /// A calendar where every day is worked around the clock; the fallback
    /// that can never loop, used only if the shipped default were broken.
    fn always_open() -> Self {
        Self {
            tz: chrono_tz::Asia::Shanghai,
            weekend: [false; 7],
            holidays: BTreeSet::new(),
            make_up: BTreeSet::new(),
            periods: vec![WorkPeriod {
                start: NaiveTime::MIN,
                end: NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default(),
            }],
            day_seconds: 86_399,
        }
    }

    /// The editable form of this calendar.
    pub fn config(&self) -> WorkCalendarConfig {
        WorkCalendarConfig {
            time_zone: self.tz,
            weekend: (0..7u8)
                .filter(|i| self.weekend[usize::from(*i)])
                .filter_map(|i| Weekday::try_from(i).ok())
                .collect(),
            holidays: self.holidays.iter().copied().collect(),
            make_up_workdays: self.make_up.iter().copied().collect(),
            working_hours: self.periods.clone(),
        }
    }

    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// Seconds of working time in one working day (one 工作日).
    pub fn working_seconds_per_day(&self) -> i64 {
        self.day_seconds
    }

    /// Make-up working days win over weekends; holidays win over weekdays.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.make_up.contains(&date) {
            return true;
        }
        if self.holidays.contains(&date) {
            return false;
        }
        !self.weekend[date.weekday().num_days_from_monday() as usize]
    }

    /// The length of `limit` in counted seconds (working seconds for working units).
    pub fn limit_seconds(&self, limit: TimeLimit) -> i64 {
        let v = i64::from(limit.value);
        match limit.unit {
            LimitUnit::UrgentMinutes | LimitUnit::WorkMinutes => v * 60,
            LimitUnit::UrgentHours | LimitUnit::WorkHours => v * 3_600,
            LimitUnit::WorkDays => v * self.day_seconds,
            LimitUnit::NaturalDays => v * 86_400,
        }
    }

    /// The instant `limit` runs out for a clock started at `start`, with no
    /// time on hold. Limits beyond [`HORIZON_DAYS`] end at the horizon.
    pub fn deadline(&self, start: DateTime<Utc>, limit: TimeLimit) -> DateTime<Utc> {
        self.deadline_with_holds(start, limit, &[])
            .unwrap_or_else(|| start + Duration::days(HORIZON_DAYS))
    }

    /// The deadline when the clock did not count during `holds`. `None` when
    /// the clock is paused by a hold that has not ended (the deadline is not
    /// known until the case resumes) or the limit reaches past the horizon.
    pub fn deadline_with_holds(
        &self,
        start: DateTime<Utc>,
        limit: TimeLimit,
        holds: &[HoldPeriod],
    ) -> Option<DateTime<Utc>> {
        let mut remaining = self.limit_seconds(limit);
        if remaining <= 0 {
            return Some(start);
        }
        let mut found = None;
        self.for_each_counted(start, limit.unit.counts_working_time(), holds, |a, b| {
            let len = (b - a).num_seconds();
            if remaining <= len {
                found = Some(a + Duration::seconds(remaining));
                false
            } else {
                remaining -= len;
                true
            }
        });
        found
    }

    /// Counted time between `from` and `to` (working time for working units,
    /// all time otherwise), less the time on hold. An open hold counts as
    /// lasting past `to`.
    pub fn counted(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        unit: LimitUnit,
        holds: &[HoldPeriod],
    ) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        let mut total = 0i64;
        self.for_each_counted(from, unit.counts_working_time(), holds, |a, b| {
            if a >= to {
                return false;
            }
            total += (b.min(to) - a).num_seconds();
            b < to
        });
        Duration::seconds(total)
    }

    /// The time elapsed between `from` and `to`, in `unit` (e.g. 1.5 工作时).
    pub fn elapsed(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        unit: LimitUnit,
        holds: &[HoldPeriod],
    ) -> f64 {
        let per_unit = self.limit_seconds(TimeLimit::new(1, unit)).max(1);
        self.counted(from, to, unit, holds).num_seconds() as f64 / per_unit as f64
    }

    /// Everything a timer display needs at `now`: deadline, elapsed share of
    /// the limit, colour, overdue, paused.
    pub fn status(
        &self,
        start: DateTime<Utc>,
        limit: TimeLimit,
        holds: &[HoldPeriod],
        now: DateTime<Utc>,
    ) -> TimerStatus {
        let limit_seconds = self.limit_seconds(limit);
        let elapsed_seconds = self.counted(start, now, limit.unit, holds).num_seconds();
        // A zero limit (refused by validation, possible in hand-built data) is
        // treated as one second so the fraction stays finite.
        let fraction = elapsed_seconds as f64 / limit_seconds.max(1) as f64;
        let paused = holds
            .iter()
            .any(|h| h.start <= now && h.end.is_none_or(|e| e > now));
        TimerStatus {
            deadline: self.deadline_with_holds(start, limit, holds),
            elapsed_seconds,
            limit_seconds,
            fraction,
            colour: TimerColour::from_fraction(fraction),
            overdue: elapsed_seconds > limit_seconds,
            paused,
        }
    }

    /// Calls `f(a, b)` for every counted interval from `from` on, in order,
    /// holds cut out, until `f` answers false, an open hold starts, or the
    /// horizon is reached.
    fn for_each_counted(
        &self,
        from: DateTime<Utc>,
        working: bool,
        holds: &[HoldPeriod],
        mut f: impl FnMut(DateTime<Utc>, DateTime<Utc>) -> bool,
    ) {
        let holds = merge_holds(holds);
        let first_day = from.with_timezone(&self.tz).date_naive();
        for offset in 0..=HORIZON_DAYS {
            let Some(day) = first_day.checked_add_signed(Duration::days(offset)) else {
                return;
            };
            let mut day_intervals: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
            if working {
                if self.is_working_day(day) {
                    for p in &self.periods {
                        day_intervals.push((
                            self.local_to_utc(day.and_time(p.start)),
                            self.local_to_utc(day.and_time(p.end)),
                        ));
                    }
                }
            } else {
                let start = self.local_to_utc(day.and_time(NaiveTime::MIN));
                let end = day
                    .succ_opt()
                    .map(|next| self.local_to_utc(next.and_time(NaiveTime::MIN)))
                    .unwrap_or(start + Duration::days(1));
                day_intervals.push((start, end));
            }
            for (a, b) in day_intervals {
                let a = a.max(from);
                if b <= a {
                    continue;
                }
                // Cut the holds out of [a, b).
                let mut cursor = a;
                for h in &holds {
                    if h.1.is_some_and(|e| e <= cursor) || h.0 >= b {
                        continue;
                    }
                    if h.0 > cursor && !f(cursor, h.0) {
                        return;
                    }
                    match h.1 {
                        Some(e) => cursor = cursor.max(e),
                        // An open hold: the clock never runs again.
                        None => return,
                    }
                    if cursor >= b {
                        break;
                    }
                }
                if cursor < b && !f(cursor, b) {
                    return;
                }
            }
        }
    }

    /// Local wall time to UTC. Asia/Shanghai has no gaps or folds; for zones
    /// with daylight saving, a folded time takes its earlier instant and a
    /// time in a gap is moved one hour on.
    fn local_to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        self.tz
            .from_local_datetime(&local)
            .earliest()
            .or_else(|| {
                self.tz
                    .from_local_datetime(&(local + Duration::hours(1)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&local))
    }
}

/// Holds sorted by start and merged where they overlap; `None` end = open.
fn merge_holds(holds: &[HoldPeriod]) -> Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    let mut sorted: Vec<_> = holds
        .iter()
        .filter(|h| h.end.is_none_or(|e| e > h.start))
        .map(|h| (h.start, h.end))
        .collect();
    sorted.sort_by_key(|h| h.0);
    let mut merged: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = Vec::new();
    for (s, e) in sorted {
        if let Some(last) = merged.last_mut()
            && last.1.is_none_or(|le| s <= le)
        {
            last.1 = match (last.1, e) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            continue;
        }
        merged.push((s, e));
    }
    merged
}

/// What a timer shows at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimerStatus {
    /// `None` while paused by an open hold: the deadline moves until it resumes.
    pub deadline: Option<DateTime<Utc>>,
    pub elapsed_seconds: i64,
    pub limit_seconds: i64,
    /// Elapsed share of the limit: 0.5 is half way, above 1.0 overdue.
    pub fraction: f64,
    pub colour: TimerColour,
    pub overdue: bool,
    pub paused: bool,
}

/// The traffic-light colour of a timer (亮灯).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimerColour {
    /// 绿灯: at most 80% of the limit used.
    Green,
    /// 黄灯: more than 80%, at most 100%.
    Yellow,
    /// 红灯: over the limit.
    Red,
}

impl TimerColour {
    /// Share of the limit above which the light turns yellow.
    pub const YELLOW_AT: f64 = 0.8;
    /// Share of the limit above which the light turns red.
    pub const RED_AT: f64 = 1.0;

    /// The colour for an elapsed share of the limit, with the 80%/100% bands.
    pub fn from_fraction(fraction: f64) -> Self {
        Self::with_thresholds(fraction, Self::YELLOW_AT, Self::RED_AT)
    }

    /// The colour with a city's own bands. NaN counts as red, so a broken
    /// input is noticed rather than shown as fine.
    pub fn with_thresholds(fraction: f64, yellow_at: f64, red_at: f64) -> Self {
        if fraction.is_nan() || fraction > red_at {
            TimerColour::Red
        } else if fraction > yellow_at {
            TimerColour::Yellow
        } else {
            TimerColour::Green
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            TimerColour::Green => "绿灯",
            TimerColour::Yellow => "黄灯",
            TimerColour::Red => "红灯",
        }
    }
}

/// The matters a limit rule applies to: `*` for all, a 2-digit major class
/// (`06` or `06*`), any longer prefix, or a full 5-digit class code. Longer
/// patterns are more specific.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "06013")]
pub struct MatterPattern(String);

impl MatterPattern {
    /// Matches every matter.
    pub fn any() -> Self {
        Self(String::new())
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        let digits = s.strip_suffix('*').unwrap_or(s);
        if digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::new(
                "matter",
                format!(
                    "matter pattern {raw:?} must be *, a major class like 06 or 06*, or a 5-digit class code"
                ),
            ));
        }
        Ok(Self(digits.to_string()))
    }

    /// How many digits the pattern fixes (0 for `*`, 5 for one class).
    pub fn specificity(&self) -> usize {
        self.0.len()
    }

    pub fn matches(&self, code: &ClassCode) -> bool {
        code.as_str().starts_with(&self.0)
    }
}

impl fmt::Display for MatterPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() == 5 {
            f.write_str(&self.0)
        } else {
            write!(f, "{}*", self.0)
        }
    }
}

impl TryFrom<String> for MatterPattern {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<MatterPattern> for String {
    fn from(value: MatterPattern) -> Self {
        value.to_string()
    }
}

/// One row of the 立结案标准: the limit of one timed step for the matters the
/// pattern covers, optionally only under one condition and one urgency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LimitRule {
    pub matter: MatterPattern,
    /// The 立案条件 this row applies to (e.g. `井盖缺失`); `None` for any.
    /// Matched exactly (after trimming) against the condition chosen for the case.
    #[serde(default)]
    pub condition: Option<String>,
    pub clock: Clock,
    /// `None` for both urgencies.
    #[serde(default)]
    pub urgency: Option<Urgency>,
    pub limit: TimeLimit,
    /// For the 处置 step: how soon the handler must be on site (到场时限),
    /// shown beside the main limit; the workflow does not enforce it.
    #[serde(default)]
    pub on_site: Option<TimeLimit>,
}

impl LimitRule {
    fn any(clock: Clock, urgency: Option<Urgency>, limit: TimeLimit) -> Self {
        Self {
            matter: MatterPattern::any(),
            condition: None,
            clock,
            urgency,
            limit,
            on_site: None,
        }
    }

    fn specific(code: &str, condition: &str, limit: TimeLimit, on_site: Option<TimeLimit>) -> Self {
        Self {
            matter: MatterPattern(code.to_string()),
            condition: Some(condition.to_string()),
            clock: Clock::Dispose,
            urgency: None,
            limit,
            on_site,
        }
    }

    /// Sort key: matter digits, then a condition, then an urgency.
    fn specificity(&self) -> (usize, bool, bool) {
        (
            self.matter.specificity(),
            self.condition.is_some(),
            self.urgency.is_some(),
        )
    }
}

/// The table of time limits (立结案标准), looked up by most specific match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LimitStandard {
    pub rules: Vec<LimitRule>,
}

impl Default for LimitStandard {
    fn default() -> Self {
        Self::defaults()
    }
}

impl LimitStandard {
    /// The defaults of DOMAIN.md §4, for the city to edit:
    /// - 核实 and 核查: 30 working minutes;
    /// - 立案+派遣: 10 minutes on the 24×7 clock when urgent, 30 working minutes otherwise;
    /// - 处置 of any matter: 3 working days (normal), 4 urgent hours (urgent) —
    ///   a fallback only; the city's 立结案标准 rows should cover its matters;
    /// - every 井盖异常 matter of GB/T 47678.5 under `井盖缺失`: 2 urgent hours;
    /// - 06013 道路破损 under `破损面积大于25平方厘米`: 4 working hours;
    /// - 01037 路灯异常 under `连续3盏及以上不亮`: 1 working day;
    /// - 06029 露天烧烤 under `露天烧烤`: on site within 1 urgent hour, done within 2.
    pub fn defaults() -> Self {
        use LimitUnit::*;
        let mut rules = vec![
            LimitRule::any(Clock::Verify, None, TimeLimit::new(30, WorkMinutes)),
            LimitRule::any(Clock::Check, None, TimeLimit::new(30, WorkMinutes)),
            LimitRule::any(
                Clock::RegisterDispatch,
                Some(Urgency::Urgent),
                TimeLimit::new(10, UrgentMinutes),
            ),
            LimitRule::any(
                Clock::RegisterDispatch,
                Some(Urgency::Normal),
                TimeLimit::new(30, WorkMinutes),
            ),
            LimitRule::any(
                Clock::Dispose,
                Some(Urgency::Urgent),
                TimeLimit::new(4, UrgentHours),
            ),
            LimitRule::any(
                Clock::Dispose,
                Some(Urgency::Normal),
                TimeLimit::new(3, WorkDays),
            ),
        ];
        rules.extend(
            standard::national()
                .iter()
                .filter(|c| c.kind == ClassKind::Matter && c.name.ends_with("井盖异常"))
                .map(|c| {
                    LimitRule::specific(
                        c.code.as_str(),
                        "井盖缺失",
                        TimeLimit::new(2, UrgentHours),
                        None,
                    )
                }),
        );
        rules.push(LimitRule::specific(
            "06013",
            "破损面积大于25平方厘米",
            TimeLimit::new(4, WorkHours),
            None,
        ));
        rules.push(LimitRule::specific(
            "01037",
            "连续3盏及以上不亮",
            TimeLimit::new(1, WorkDays),
            None,
        ));
        rules.push(LimitRule::specific(
            "06029",
            "露天烧烤",
            TimeLimit::new(2, UrgentHours),
            Some(TimeLimit::new(1, UrgentHours)),
        ));
        Self { rules }
    }

    /// Checks every limit, and that every timed step has a rule for any matter
    /// under each urgency, so [`LimitStandard::lookup`] always finds one.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut problems = ValidationError::default();
        for (i, rule) in self.rules.iter().enumerate() {
            if let Err(e) = rule.limit.validate() {
                problems.push(e.at(format!("rules[{i}].limit")));
            }
            if let Some(on_site) = &rule.on_site
                && let Err(e) = on_site.validate()
            {
                problems.push(e.at(format!("rules[{i}].on_site")));
            }
            if rule
                .condition
                .as_deref()
                .is_some_and(|c| c.trim().is_empty())
            {
                problems.push(Invalid::new(
                    format!("rules[{i}].condition"),
                    "a condition must not be blank; leave it out to match any condition",
                ));
            }
        }
        for clock in Clock::ALL {
            for urgency in [Urgency::Normal, Urgency::Urgent] {
                let covered = self.rules.iter().any(|r| {
                    r.clock == clock
                        && r.matter.specificity() == 0
                        && r.condition.is_none()
                        && r.urgency.is_none_or(|u| u == urgency)
                });
                if !covered {
                    problems.push(Invalid::new(
                        "rules",
                        format!(
                            "no fallback rule for the {} ({}) step of {} cases: add a row with matter *, no condition and urgency {} or none",
                            clock.as_str(),
                            clock.label_zh(),
                            urgency.as_str(),
                            urgency.as_str()
                        ),
                    ));
                }
            }
        }
        problems.into_result()
    }

    /// The most specific rule for a step of a case: the longest matter
    /// pattern wins, then a rule naming the case's condition, then one naming
    /// its urgency; among equals the earlier row wins.
    pub fn lookup(
        &self,
        matter: &ClassCode,
        condition: Option<&str>,
        clock: Clock,
        urgency: Urgency,
    ) -> Option<&LimitRule> {
        let condition = condition.map(str::trim);
        let mut best: Option<&LimitRule> = None;
        for rule in &self.rules {
            let fits = rule.clock == clock
                && rule.matter.matches(matter)
                && rule.urgency.is_none_or(|u| u == urgency)
                && rule
                    .condition
                    .as_deref()
                    .is_none_or(|c| Some(c.trim()) == condition);
            if fits && best.is_none_or(|b| rule.specificity() > b.specificity()) {
                best = Some(rule);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LimitUnit::*;
    use chrono_tz::Asia::Shanghai;

    /// A Shanghai wall-clock instant.
    fn sh(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Shanghai
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn cal() -> WorkCalendar {
        WorkCalendar::default()
    }

    #[test]
    fn default_calendar_knows_2026_holidays_and_make_up_days() {
        let c = cal();
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        let cases = [
            (d(1, 1), false, "元旦 (Thursday)"),
            (d(1, 4), true, "make-up Sunday after 元旦"),
            (d(2, 14), true, "make-up Saturday before 春节"),
            (d(2, 16), false, "春节 Monday"),
            (d(2, 23), false, "春节 last day, Monday"),
            (d(2, 24), true, "first Tuesday after 春节"),
            (d(2, 28), true, "make-up Saturday after 春节"),
            (d(3, 7), false, "ordinary Saturday"),
            (d(3, 9), true, "ordinary Monday"),
            (d(4, 6), false, "清明 Monday"),
            (d(5, 5), false, "劳动节 Tuesday"),
            (d(5, 9), true, "make-up Saturday"),
            (d(6, 19), false, "端午 Friday"),
            (d(9, 20), true, "make-up Sunday before 国庆"),
            (d(9, 25), false, "中秋 Friday"),
            (d(10, 7), false, "国庆 Wednesday"),
            (d(10, 10), true, "make-up Saturday after 国庆"),
        ];
        for (date, working, what) in cases {
            assert_eq!(c.is_working_day(date), working, "{what} ({date})");
        }
        assert_eq!(c.working_seconds_per_day(), 7 * 3600);
        assert_eq!(c.time_zone(), Shanghai);
    }

    #[test]
    fn deadlines_table() {
        let c = cal();
        // (start, limit, expected deadline, what)
        let cases = [
            (
                sh(2026, 3, 10, 9, 0),
                TimeLimit::new(2, UrgentHours),
                sh(2026, 3, 10, 11, 0),
                "urgent hours within the morning",
            ),
            (
                sh(2026, 3, 10, 23, 0),
                TimeLimit::new(2, UrgentHours),
                sh(2026, 3, 11, 1, 0),
                "urgent hours run through the night",
            ),
            (
                sh(2026, 3, 14, 10, 0),
                TimeLimit::new(10, UrgentMinutes),
                sh(2026, 3, 14, 10, 10),
                "urgent minutes on a Saturday",
            ),
            (
                sh(2026, 3, 10, 11, 0),
                TimeLimit::new(4, WorkHours),
                sh(2026, 3, 10, 17, 0),
                "work hours skip the lunch break",
            ),
            (
                sh(2026, 3, 10, 11, 45),
                TimeLimit::new(30, WorkMinutes),
                sh(2026, 3, 10, 14, 15),
                "work minutes across lunch",
            ),
            (
                sh(2026, 3, 10, 8, 30),
                TimeLimit::new(210, WorkMinutes),
                sh(2026, 3, 10, 12, 0),
                "a deadline at the end of a period stays there",
            ),
            (
                sh(2026, 3, 10, 16, 0),
                TimeLimit::new(4, WorkHours),
                sh(2026, 3, 11, 11, 0),
                "work hours across the night",
            ),
            (
                sh(2026, 3, 10, 20, 0),
                TimeLimit::new(1, WorkHours),
                sh(2026, 3, 11, 9, 30),
                "started after hours: counts from next morning",
            ),
            (
                sh(2026, 3, 13, 16, 0),
                TimeLimit::new(4, WorkHours),
                sh(2026, 3, 16, 11, 0),
                "Friday afternoon to Monday across the weekend",
            ),
            (
                sh(2026, 3, 14, 10, 0),
                TimeLimit::new(1, WorkHours),
                sh(2026, 3, 16, 9, 30),
                "started on a Saturday",
            ),
            (
                sh(2026, 3, 10, 16, 0),
                TimeLimit::new(1, WorkDays),
                sh(2026, 3, 11, 16, 0),
                "one working day = same time next working day",
            ),
            (
                sh(2026, 3, 13, 10, 0),
                TimeLimit::new(2, WorkDays),
                sh(2026, 3, 17, 10, 0),
                "working days skip the weekend",
            ),
            (
                sh(2026, 4, 3, 10, 0),
                TimeLimit::new(1, WorkDays),
                sh(2026, 4, 7, 10, 0),
                "清明 holiday Sat-Mon is skipped",
            ),
            (
                sh(2026, 2, 13, 16, 0),
                TimeLimit::new(4, WorkHours),
                sh(2026, 2, 14, 11, 0),
                "make-up Saturday 2-14 is worked",
            ),
            (
                sh(2026, 2, 14, 16, 0),
                TimeLimit::new(4, WorkHours),
                sh(2026, 2, 24, 11, 0),
                "then 春节 until 2-23 is skipped",
            ),
            (
                sh(2026, 9, 30, 17, 0),
                TimeLimit::new(1, WorkHours),
                sh(2026, 10, 8, 9, 0),
                "国庆 week is skipped",
            ),
            (
                sh(2026, 3, 10, 9, 0),
                TimeLimit::new(2, NaturalDays),
                sh(2026, 3, 12, 9, 0),
                "natural days ignore the calendar",
            ),
            (
                sh(2026, 9, 30, 9, 0),
                TimeLimit::new(3, NaturalDays),
                sh(2026, 10, 3, 9, 0),
                "natural days run through holidays",
            ),
        ];
        for (start, limit, want, what) in cases {
            assert_eq!(c.deadline(start, limit), want, "{what}");
            // elapsed from start to the deadline is exactly the limit
            let counted = c.counted(start, want, limit.unit, &[]).num_seconds();
            assert_eq!(counted, c.limit_seconds(limit), "{what}: counted time");
        }
    }

    #[test]
    fn holds_push_the_deadline_out() {
        let c = cal();
        let start = sh(2026, 3, 10, 9, 0);
        let limit = TimeLimit::new(2, WorkHours);
        assert_eq!(c.deadline(start, limit), sh(2026, 3, 10, 11, 0));
        // One hour on hold inside working time moves it one hour.
        let holds = [HoldPeriod {
            start: sh(2026, 3, 10, 9, 30),
            end: Some(sh(2026, 3, 10, 10, 30)),
        }];
        assert_eq!(
            c.deadline_with_holds(start, limit, &holds),
            Some(sh(2026, 3, 10, 12, 0))
        );
        // Two hours on hold push it past the lunch break.
        let holds = [HoldPeriod {
            start: sh(2026, 3, 10, 9, 30),
            end: Some(sh(2026, 3, 10, 11, 30)),
        }];
        assert_eq!(
            c.deadline_with_holds(start, limit, &holds),
            Some(sh(2026, 3, 10, 15, 0))
        );
        // A hold over the lunch break costs nothing extra.
        let lunch = [HoldPeriod {
            start: sh(2026, 3, 10, 12, 0),
            end: Some(sh(2026, 3, 10, 14, 0)),
        }];
        assert_eq!(
            c.deadline_with_holds(sh(2026, 3, 10, 11, 0), limit, &lunch),
            Some(sh(2026, 3, 10, 15, 0))
        );
        // Overlapping and unordered holds are merged.
        let messy = [
            HoldPeriod {
                start: sh(2026, 3, 10, 10, 0),
                end: Some(sh(2026, 3, 10, 10, 30)),
            },
            HoldPeriod {
                start: sh(2026, 3, 10, 9, 30),
                end: Some(sh(2026, 3, 10, 10, 15)),
            },
        ];
        assert_eq!(
            c.deadline_with_holds(start, limit, &messy),
            Some(sh(2026, 3, 10, 12, 0))
        );
        // Urgent clocks are paused by a hold at night too.
        let night = [HoldPeriod {
            start: sh(2026, 3, 10, 23, 0),
            end: Some(sh(2026, 3, 11, 3, 0)),
        }];
        assert_eq!(
            c.deadline_with_holds(
                sh(2026, 3, 10, 22, 0),
                TimeLimit::new(2, UrgentHours),
                &night
            ),
            Some(sh(2026, 3, 11, 4, 0))
        );
        // A hold before the start does not matter.
        let before = [HoldPeriod {
            start: sh(2026, 3, 9, 9, 0),
            end: Some(sh(2026, 3, 9, 12, 0)),
        }];
        assert_eq!(
            c.deadline_with_holds(start, limit, &before),
            Some(sh(2026, 3, 10, 11, 0))
        );
        // An open hold: no deadline until the case resumes.
        let open = [HoldPeriod {
            start: sh(2026, 3, 10, 10, 0),
            end: None,
        }];
        assert_eq!(c.deadline_with_holds(start, limit, &open), None);
        // but a hold after the deadline does not change it.
        let late = [HoldPeriod {
            start: sh(2026, 3, 10, 15, 0),
            end: None,
        }];
        assert_eq!(
            c.deadline_with_holds(start, limit, &late),
            Some(sh(2026, 3, 10, 11, 0))
        );
    }

    #[test]
    fn elapsed_counts_working_time_only() {
        let c = cal();
        let from = sh(2026, 3, 13, 16, 0); // Friday
        let to = sh(2026, 3, 16, 10, 0); // Monday
        assert_eq!(c.elapsed(from, to, WorkHours, &[]), 3.0);
        assert_eq!(c.elapsed(from, to, WorkMinutes, &[]), 180.0);
        assert!((c.elapsed(from, to, WorkDays, &[]) - 3.0 / 7.0).abs() < 1e-9);
        assert_eq!(c.elapsed(from, to, UrgentHours, &[]), 66.0);
        assert_eq!(c.elapsed(from, to, NaturalDays, &[]), 2.75);
        assert_eq!(c.elapsed(to, from, WorkHours, &[]), 0.0);
        let hold = [HoldPeriod {
            start: sh(2026, 3, 16, 9, 0),
            end: None,
        }];
        assert_eq!(c.elapsed(from, to, WorkHours, &hold), 2.0);
    }

    #[test]
    fn status_colours_at_80_and_100_percent() {
        let c = cal();
        let start = sh(2026, 3, 10, 9, 0);
        let limit = TimeLimit::new(10, UrgentHours);
        let cases = [
            (sh(2026, 3, 10, 9, 0), TimerColour::Green, false),
            (sh(2026, 3, 10, 17, 0), TimerColour::Green, false), // exactly 80%
            (sh(2026, 3, 10, 17, 1), TimerColour::Yellow, false),
            (sh(2026, 3, 10, 19, 0), TimerColour::Yellow, false), // exactly 100%
            (sh(2026, 3, 10, 19, 1), TimerColour::Red, true),
        ];
        for (now, colour, overdue) in cases {
            let s = c.status(start, limit, &[], now);
            assert_eq!(s.colour, colour, "at {now}");
            assert_eq!(s.overdue, overdue, "at {now}");
            assert_eq!(s.deadline, Some(sh(2026, 3, 10, 19, 0)));
            assert!(!s.paused);
        }
        let held = [HoldPeriod {
            start: sh(2026, 3, 10, 10, 0),
            end: None,
        }];
        let s = c.status(start, limit, &held, sh(2026, 3, 11, 9, 0));
        assert!(s.paused);
        assert_eq!(s.deadline, None);
        assert_eq!(s.elapsed_seconds, 3600);
        assert_eq!(s.colour, TimerColour::Green);
        assert_eq!(TimerColour::from_fraction(f64::NAN), TimerColour::Red);
        assert_eq!(
            TimerColour::with_thresholds(0.75, 0.7, 0.9),
            TimerColour::Yellow
        );
    }

    #[test]
    fn calendar_config_is_checked() {
        let mut config = WorkCalendarConfig::china_2026();
        config.weekend = vec![
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ];
        config.working_hours.push(WorkPeriod::hm(11, 0, 13, 0));
        config.working_hours.push(WorkPeriod::hm(18, 0, 17, 0));
        config
            .make_up_workdays
            .push(NaiveDate::from_ymd_opt(2026, 10, 1).unwrap());
        let err = WorkCalendar::new(config).unwrap_err();
        let fields: Vec<&str> = err.problems.iter().map(|p| p.field.as_str()).collect();
        assert!(fields.contains(&"weekend"), "{err:?}");
        assert!(
            err.problems.iter().any(|p| p.message.contains("overlaps")),
            "{err:?}"
        );
        assert!(
            err.problems
                .iter()
                .any(|p| p.message.contains("start before it ends")),
            "{err:?}"
        );
        assert!(
            err.problems
                .iter()
                .any(|p| p.message.contains("2026-10-01")),
            "{err:?}"
        );
        let empty = WorkCalendarConfig {
            working_hours: vec![],
            ..WorkCalendarConfig::china_2026()
        };
        assert_eq!(
            WorkCalendar::new(empty).unwrap_err().problems[0].field,
            "working_hours"
        );
    }

    #[test]
    fn calendar_round_trips_as_json_and_refuses_bad_json() {
        let c = cal();
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["time_zone"], "Asia/Shanghai");
        assert_eq!(json["weekend"], serde_json::json!(["Sat", "Sun"]));
        assert_eq!(json["working_hours"][0]["start"], "08:30:00");
        let back: WorkCalendar = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, c);
        let mut bad = json;
        bad["working_hours"] = serde_json::json!([]);
        assert!(serde_json::from_value::<WorkCalendar>(bad).is_err());
        let edited: WorkCalendar = serde_json::from_value(serde_json::json!({
            "time_zone": "Asia/Shanghai", "weekend": ["Sun"], "holidays": ["2026-03-10"],
            "make_up_workdays": [], "working_hours": [{"start": "09:00:00", "end": "17:00:00"}]
        }))
        .unwrap();
        assert!(edited.is_working_day(NaiveDate::from_ymd_opt(2026, 3, 14).unwrap()));
        assert!(!edited.is_working_day(NaiveDate::from_ymd_opt(2026, 3, 10).unwrap()));
        assert_eq!(
            edited.deadline(sh(2026, 3, 9, 16, 0), TimeLimit::new(2, WorkHours)),
            sh(2026, 3, 11, 10, 0)
        );
    }

    #[test]
    fn other_time_zones_are_honoured() {
        let config = WorkCalendarConfig {
            time_zone: chrono_tz::UTC,
            ..WorkCalendarConfig::china_2026()
        };
        let c = WorkCalendar::new(config).unwrap();
        let start = Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0).unwrap();
        assert_eq!(
            c.deadline(start, TimeLimit::new(1, WorkHours)),
            Utc.with_ymd_and_hms(2026, 3, 10, 10, 0, 0).unwrap()
        );
        // Shanghai is UTC+8 all year: 09:00 local is 01:00 UTC in summer and winter.
        for (m, d) in [(1, 5), (7, 6)] {
            assert_eq!(sh(2026, m, d, 9, 0).format("%H:%M").to_string(), "01:00");
        }
    }

    #[test]
    fn time_limits_parse_and_validate() {
        assert_eq!(LimitUnit::parse("工作日").unwrap(), WorkDays);
        assert_eq!(LimitUnit::parse("urgent_hours").unwrap(), UrgentHours);
        assert!(
            LimitUnit::parse("fortnights")
                .unwrap_err()
                .message
                .contains("工作时")
        );
        assert!(TimeLimit::new(0, WorkHours).validate().is_err());
        assert!(TimeLimit::new(87_601, WorkHours).validate().is_err());
        assert!(TimeLimit::new(4, WorkHours).validate().is_ok());
        assert_eq!(TimeLimit::new(4, WorkHours).label_zh(), "4工作时");
        // A limit past the horizon saturates rather than looping forever.
        let start = sh(2026, 3, 10, 9, 0);
        let huge = TimeLimit::new(u32::MAX, WorkDays);
        assert_eq!(
            cal().deadline(start, huge),
            start + Duration::days(HORIZON_DAYS)
        );
    }

    #[test]
    fn matter_patterns() {
        let code = ClassCode::parse("06013").unwrap();
        for (pattern, spec, hit) in [
            ("*", 0, true),
            ("06", 2, true),
            ("06*", 2, true),
            ("060", 3, true),
            ("06013", 5, true),
            ("01", 2, false),
            ("06014", 5, false),
        ] {
            let p = MatterPattern::parse(pattern).unwrap();
            assert_eq!(p.specificity(), spec, "{pattern}");
            assert_eq!(p.matches(&code), hit, "{pattern}");
        }
        for bad in ["0601300", "ab", "0*6"] {
            assert!(MatterPattern::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(MatterPattern::parse("06").unwrap().to_string(), "06*");
        assert_eq!(MatterPattern::any().to_string(), "*");
    }

    #[test]
    fn limit_standard_lookup_picks_the_most_specific_row() {
        let s = LimitStandard::defaults();
        s.validate().unwrap();
        let code = |c: &str| ClassCode::parse(c).unwrap();
        let cases: [(&str, Option<&str>, Clock, Urgency, TimeLimit); 12] = [
            (
                "01001",
                Some("井盖缺失"),
                Clock::Dispose,
                Urgency::Normal,
                TimeLimit::new(2, UrgentHours),
            ),
            (
                "01011",
                Some(" 井盖缺失 "),
                Clock::Dispose,
                Urgency::Urgent,
                TimeLimit::new(2, UrgentHours),
            ),
            (
                "01001",
                Some("井盖破损"),
                Clock::Dispose,
                Urgency::Normal,
                TimeLimit::new(3, WorkDays),
            ),
            (
                "01001",
                None,
                Clock::Dispose,
                Urgency::Urgent,
                TimeLimit::new(4, UrgentHours),
            ),
            (
                "06013",
                Some("破损面积大于25平方厘米"),
                Clock::Dispose,
                Urgency::Normal,
                TimeLimit::new(4, WorkHours),
            ),
            (
                "01037",
                Some("连续3盏及以上不亮"),
                Clock::Dispose,
                Urgency::Normal,
                TimeLimit::new(1, WorkDays),
            ),
            (
                "06029",
                Some("露天烧烤"),
                Clock::Dispose,
                Urgency::Normal,
                TimeLimit::new(2, UrgentHours),
            ),
            (
                "06029",
                Some("露天烧烤"),
                Clock::Verify,
                Urgency::Normal,
                TimeLimit::new(30, WorkMinutes),
            ),
            (
                "06013",
                None,
                Clock::Check,
                Urgency::Urgent,
                TimeLimit::new(30, WorkMinutes),
            ),
            (
                "06013",
                None,
                Clock::RegisterDispatch,
                Urgency::Urgent,
                TimeLimit::new(10, UrgentMinutes),
            ),
            (
                "06013",
                None,
                Clock::RegisterDispatch,
                Urgency::Normal,
                TimeLimit::new(30, WorkMinutes),
            ),
            (
                "99001",
                None,
                Clock::Dispose,
                Urgency::Normal,
                TimeLimit::new(3, WorkDays),
            ),
        ];
        for (matter, condition, clock, urgency, want) in cases {
            let rule = s.lookup(&code(matter), condition, clock, urgency).unwrap();
            assert_eq!(
                rule.limit, want,
                "{matter} {condition:?} {clock:?} {urgency:?}"
            );
        }
        let bbq = s
            .lookup(
                &code("06029"),
                Some("露天烧烤"),
                Clock::Dispose,
                Urgency::Normal,
            )
            .unwrap();
        assert_eq!(bbq.on_site, Some(TimeLimit::new(1, UrgentHours)));
        // All 井盖异常 matters got the missing-cover rule.
        let covers = s
            .rules
            .iter()
            .filter(|r| r.condition.as_deref() == Some("井盖缺失"))
            .count();
        assert!(covers >= 20, "{covers}");
    }

    #[test]
    fn limit_standard_specificity_order_and_ties() {
        let json = serde_json::json!({"rules": [
            {"matter": "*", "clock": "dispose", "limit": {"value": 5, "unit": "work_days"}},
            {"matter": "06", "clock": "dispose", "limit": {"value": 4, "unit": "work_days"}},
            {"matter": "06", "clock": "dispose", "urgency": "urgent", "limit": {"value": 3, "unit": "work_days"}},
            {"matter": "06", "condition": "大", "clock": "dispose", "limit": {"value": 2, "unit": "work_days"}},
            {"matter": "06013", "clock": "dispose", "limit": {"value": 1, "unit": "work_days"}},
            {"matter": "06013", "clock": "dispose", "limit": {"value": 9, "unit": "work_days"}}
        ]});
        let s: LimitStandard = serde_json::from_value(json).unwrap();
        let v = |m: &str, c: Option<&str>, u| {
            s.lookup(&ClassCode::parse(m).unwrap(), c, Clock::Dispose, u)
                .map(|r| r.limit.value)
        };
        assert_eq!(v("07001", None, Urgency::Normal), Some(5));
        assert_eq!(v("06001", None, Urgency::Normal), Some(4));
        assert_eq!(v("06001", None, Urgency::Urgent), Some(3));
        assert_eq!(
            v("06001", Some("大"), Urgency::Urgent),
            Some(2),
            "a condition beats an urgency"
        );
        assert_eq!(
            v("06013", Some("大"), Urgency::Urgent),
            Some(1),
            "a longer pattern beats both; first row wins ties"
        );
        assert_eq!(
            s.lookup(
                &ClassCode::parse("06001").unwrap(),
                None,
                Clock::Verify,
                Urgency::Normal
            ),
            None
        );
        let err = s.validate().unwrap_err();
        assert!(
            err.problems.iter().any(|p| p.message.contains("verify")),
            "{err:?}"
        );
        assert!(
            !err.problems
                .iter()
                .any(|p| p.message.contains("the dispose")),
            "{err:?}"
        );
        let bad = serde_json::json!({"rules": [{"matter": "x", "clock": "dispose", "limit": {"value": 1, "unit": "work_days"}}]});
        assert!(serde_json::from_value::<LimitStandard>(bad).is_err());
        let zero = LimitStandard {
            rules: vec![LimitRule::any(
                Clock::Dispose,
                None,
                TimeLimit::new(0, WorkDays),
            )],
        };
        assert!(
            zero.validate()
                .unwrap_err()
                .problems
                .iter()
                .any(|p| p.field == "rules[0].limit.value")
        );
    }
}
