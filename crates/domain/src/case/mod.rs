//! The case closed loop (事件闭环): stages and transitions, time limits on a
//! work calendar, and the evaluation indicators computed from case statistics.
//!
//! - [`workflow`]: the fine case states, the actions, who may take them, and the
//!   pure [`workflow::transition`] function that turns one action into a new
//!   state, a flow record draft and timer effects (or a refusal that says why
//!   and which actions the actor may take instead).
//! - [`calendar`]: the work calendar (time zone, weekends, holidays, make-up
//!   working days, working hours), time limits in the four units of the
//!   立结案标准, deadlines as absolute UTC instants, and the limit standard table.
//! - [`evaluation`]: the per-case statistics counters and the indicators and
//!   scores of 综合评价 computed from their sums.
//!
//! Everything here is deterministic: "now" is always a parameter.

pub mod calendar;
pub mod evaluation;
pub mod workflow;

use crate::Invalid;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How urgent a case is. Urgent cases get the shorter 立案+派遣 limit and
/// usually limits counted on the 24×7 clock (紧急工作时).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
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
pub enum Urgency {
    /// 一般
    #[default]
    Normal,
    /// 紧急
    Urgent,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Normal => "normal",
            Urgency::Urgent => "urgent",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Urgency::Normal => "一般",
            Urgency::Urgent => "紧急",
        }
    }

    /// Accepts the API names and the Chinese labels.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s.trim() {
            "normal" | "一般" | "普通" => Ok(Urgency::Normal),
            "urgent" | "紧急" => Ok(Urgency::Urgent),
            other => Err(Invalid::new(
                "urgency",
                format!("unknown urgency {other:?}; use normal (一般) or urgent (紧急)"),
            )),
        }
    }
}

/// A case number (案卷编号): a 2–4 letter city prefix, the local date the case
/// was reported (yyyymmdd, in the city's time zone) and a 6-digit sequence
/// that restarts every day, e.g. `YT20260315000123`.
///
/// The date makes numbers readable on the phone and sortable; the daily
/// sequence is issued by the store (one counter per prefix and date), so the
/// same number is never handed out twice after a restart.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "YT20260315000123")]
pub struct CaseNumber(String);

impl CaseNumber {
    /// The largest daily sequence number (6 digits).
    pub const MAX_SEQUENCE: u32 = 999_999;

    /// Builds a number from its parts. `prefix` must be 2–4 ASCII capital
    /// letters; `sequence` 1..=999999.
    pub fn new(prefix: &str, date: NaiveDate, sequence: u32) -> Result<Self, Invalid> {
        validate_prefix(prefix)?;
        if sequence == 0 || sequence > Self::MAX_SEQUENCE {
            return Err(Invalid::new(
                "sequence",
                format!(
                    "case sequence {sequence} must be 1..={}: at most 999999 cases a day per prefix",
                    Self::MAX_SEQUENCE
                ),
            ));
        }
        if !(1000..=9999).contains(&date.year()) {
            return Err(Invalid::new(
                "date",
                format!("case date {date} must have a 4-digit year"),
            ));
        }
        Ok(Self(format!(
            "{prefix}{}{sequence:06}",
            date.format("%Y%m%d")
        )))
    }

    /// The number of a case reported at `at`, dated in the city's time zone
    /// (a report at 23:30 UTC on the 14th is dated the 15th in Asia/Shanghai).
    pub fn for_instant(
        prefix: &str,
        at: DateTime<Utc>,
        tz: Tz,
        sequence: u32,
    ) -> Result<Self, Invalid> {
        Self::new(prefix, at.with_timezone(&tz).date_naive(), sequence)
    }

    /// Parses a stored or typed case number.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        let letters = s.bytes().take_while(|b| b.is_ascii_uppercase()).count();
        let bad = || {
            Invalid::new(
                "case_number",
                format!(
                    "case number {raw:?} must be 2-4 capital letters, a date yyyymmdd and a 6-digit sequence, e.g. YT20260315000123"
                ),
            )
        };
        if !(2..=4).contains(&letters) || s.len() != letters + 14 {
            return Err(bad());
        }
        let digits = &s[letters..];
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let date = NaiveDate::parse_from_str(&digits[..8], "%Y%m%d").map_err(|_| {
            Invalid::new(
                "case_number",
                format!(
                    "case number {raw:?} holds the date {:?}, which is not a calendar date",
                    &digits[..8]
                ),
            )
        })?;
        let sequence: u32 = digits[8..].parse().map_err(|_| bad())?;
        Self::new(&s[..letters], date, sequence)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The city prefix, e.g. `YT`.
    pub fn prefix(&self) -> &str {
        &self.0[..self.0.len() - 14]
    }

    /// The local date the case was reported.
    pub fn date(&self) -> NaiveDate {
        let d = &self.0[self.0.len() - 14..self.0.len() - 6];
        // The constructor only accepts valid dates, so this parse cannot fail;
        // fall back to the epoch rather than panic if it ever did.
        NaiveDate::parse_from_str(d, "%Y%m%d").unwrap_or_default()
    }

    /// The daily sequence number.
    pub fn sequence(&self) -> u32 {
        self.0[self.0.len() - 6..].parse().unwrap_or_default()
    }
}

fn validate_prefix(prefix: &str) -> Result<(), Invalid> {
    if (2..=4).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(Invalid::new(
            "prefix",
            format!("case number prefix {prefix:?} must be 2-4 capital letters, e.g. YT"),
        ))
    }
}

impl fmt::Display for CaseNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for CaseNumber {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for CaseNumber {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CaseNumber> for String {
    fn from(value: CaseNumber) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn case_numbers_round_trip_through_their_parts() {
        let n = CaseNumber::new("YT", date(2026, 3, 15), 123).unwrap();
        assert_eq!(n.as_str(), "YT20260315000123");
        assert_eq!(n.prefix(), "YT");
        assert_eq!(n.date(), date(2026, 3, 15));
        assert_eq!(n.sequence(), 123);
        assert_eq!(CaseNumber::parse("YT20260315000123").unwrap(), n);
        let long = CaseNumber::new("YTYH", date(2026, 12, 31), 999_999).unwrap();
        assert_eq!(long.prefix(), "YTYH");
        assert_eq!(long.sequence(), 999_999);
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(json, "\"YT20260315000123\"");
        assert_eq!(serde_json::from_str::<CaseNumber>(&json).unwrap(), n);
    }

    #[test]
    fn case_numbers_reject_bad_input() {
        for bad in [
            "",
            "Y20260315000123",
            "yt20260315000123",
            "YT2026031500012",
            "YT20260230000001",
            "YT20260315000000",
            "YT2026031500012X",
            "YTABCDE20260315000001",
        ] {
            assert!(CaseNumber::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(
            CaseNumber::parse("YT20260230000001")
                .unwrap_err()
                .message
                .contains("not a calendar date")
        );
        assert_eq!(
            CaseNumber::new("YT", date(2026, 1, 1), 1_000_000)
                .unwrap_err()
                .field,
            "sequence"
        );
        assert_eq!(
            CaseNumber::new("Y1", date(2026, 1, 1), 1)
                .unwrap_err()
                .field,
            "prefix"
        );
        assert!(serde_json::from_str::<CaseNumber>("\"nope\"").is_err());
    }

    #[test]
    fn case_numbers_are_dated_in_the_city_time_zone() {
        let at = Utc.with_ymd_and_hms(2026, 3, 14, 17, 30, 0).unwrap();
        let n = CaseNumber::for_instant("YT", at, chrono_tz::Asia::Shanghai, 7).unwrap();
        assert_eq!(n.as_str(), "YT20260315000007");
        let n = CaseNumber::for_instant("YT", at, chrono_tz::UTC, 7).unwrap();
        assert_eq!(n.as_str(), "YT20260314000007");
    }

    #[test]
    fn api_schemas_generate() {
        use utoipa::PartialSchema;
        let schemas = [
            workflow::ActionRequest::schema(),
            workflow::Transition::schema(),
            workflow::Refusal::schema(),
            workflow::WorkflowRules::schema(),
            calendar::WorkCalendarConfig::schema(),
            calendar::LimitStandard::schema(),
            calendar::TimerStatus::schema(),
            evaluation::EvaluationConfig::schema(),
            evaluation::DepartmentScore::schema(),
            evaluation::StatRow::schema(),
            CaseNumber::schema(),
        ];
        for s in schemas {
            let json = serde_json::to_string(&s).unwrap();
            assert!(json.len() > 10, "{json}");
        }
    }

    #[test]
    fn urgency_parses_both_languages() {
        assert_eq!(Urgency::parse("紧急").unwrap(), Urgency::Urgent);
        assert_eq!(Urgency::parse("normal").unwrap(), Urgency::Normal);
        assert!(Urgency::parse("asap").unwrap_err().message.contains("紧急"));
        assert_eq!(Urgency::default(), Urgency::Normal);
    }
}
