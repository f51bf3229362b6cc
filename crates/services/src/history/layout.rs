//! How a source file is laid out: which column holds which field, how its
//! dates are written and in which time zone, and how its categories and
//! statuses map onto chengyun's matter codes and stages.
//!
//! Layouts are plain data (serde) so an operator can describe a new source
//! system in JSON without code; the presets cover the layouts we have seen.

use chengyun_domain::Invalid;
use chengyun_domain::codes::ClassCode;
use chengyun_domain::standard::{Catalogue, ClassKind};
use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which source column holds which field of a [`super::HistoricalCase`].
/// Column names are matched exactly against the header (CSV) or the object
/// keys (JSON lines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMapping {
    pub external_id: String,
    pub created_at: String,
    /// The source's own category text, mapped through [`CategoryMapping`].
    #[serde(default)]
    pub category: Option<String>,
    /// A column that already holds a GB/T 47678.5 matter code; wins over
    /// `category` when both are set and the cell is not empty.
    #[serde(default)]
    pub matter_code: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub registered_at: Option<String>,
    #[serde(default)]
    pub dispatched_at: Option<String>,
    #[serde(default)]
    pub disposed_at: Option<String>,
    #[serde(default)]
    pub closed_at: Option<String>,
    #[serde(default)]
    pub due_at: Option<String>,
    #[serde(default)]
    pub lon: Option<String>,
    #[serde(default)]
    pub lat: Option<String>,
    /// Columns joined (non-empty cells, ", ") into the address.
    #[serde(default)]
    pub address: Vec<String>,
    /// Columns joined (non-empty cells, " / ") into the description.
    #[serde(default)]
    pub description: Vec<String>,
}

impl ColumnMapping {
    /// Every column the mapping names, with the field it fills, so a header
    /// can be checked before any row is read.
    pub fn named_columns(&self) -> Vec<(&'static str, &str)> {
        let mut out = vec![
            ("external_id", self.external_id.as_str()),
            ("created_at", self.created_at.as_str()),
        ];
        let optional = [
            ("category", &self.category),
            ("matter_code", &self.matter_code),
            ("department", &self.department),
            ("status", &self.status),
            ("registered_at", &self.registered_at),
            ("dispatched_at", &self.dispatched_at),
            ("disposed_at", &self.disposed_at),
            ("closed_at", &self.closed_at),
            ("due_at", &self.due_at),
            ("lon", &self.lon),
            ("lat", &self.lat),
        ];
        for (field, column) in optional {
            if let Some(c) = column {
                out.push((field, c.as_str()));
            }
        }
        out.extend(self.address.iter().map(|c| ("address", c.as_str())));
        out.extend(self.description.iter().map(|c| ("description", c.as_str())));
        out
    }
}

/// A way the source writes timestamps. Naive forms are read in the layout's
/// time zone; forms with an offset keep their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "pattern")]
pub enum DateFormat {
    /// `12/31/2018 11:55:30 PM` (LA 2018, NYC).
    UsTwelveHour,
    /// `2020-01-01 00:05:00`, optionally with fractional seconds.
    SpaceSeparated,
    /// ISO 8601 / RFC 3339: `2020-01-01T00:05:00`, `…Z`, `…+08:00`.
    Iso8601,
    /// A chrono `strftime` pattern for a naive local date-time.
    Custom(String),
}

impl DateFormat {
    fn parse(&self, raw: &str, tz: Tz) -> Option<Result<DateTime<Utc>, String>> {
        let naive = match self {
            DateFormat::UsTwelveHour => NaiveDateTime::parse_from_str(raw, "%m/%d/%Y %I:%M:%S %p")
                .or_else(|_| NaiveDateTime::parse_from_str(raw, "%m/%d/%Y %I:%M %p"))
                .ok()?,
            DateFormat::SpaceSeparated => {
                NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f").ok()?
            }
            DateFormat::Iso8601 => {
                if let Ok(with_offset) = DateTime::parse_from_rfc3339(raw) {
                    return Some(Ok(with_offset.with_timezone(&Utc)));
                }
                NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f").ok()?
            }
            DateFormat::Custom(pattern) => NaiveDateTime::parse_from_str(raw, pattern).ok()?,
        };
        Some(local_to_utc(naive, tz))
    }
}

/// Reads a wall-clock time of `tz` as UTC. In the hour repeated when daylight
/// saving ends the earlier instant is taken (the source cannot tell us which);
/// a time inside the hour skipped when it starts does not exist and is refused.
pub fn local_to_utc(naive: NaiveDateTime, tz: Tz) -> Result<DateTime<Utc>, String> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(earliest, _) => Ok(earliest.with_timezone(&Utc)),
        LocalResult::None => Err(format!(
            "{naive} does not exist in {tz} (skipped by the daylight-saving change)"
        )),
    }
}

/// Source category → matter code. Keys are compared trimmed and
/// case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryMapping {
    #[serde(default)]
    pub map: BTreeMap<String, ClassCode>,
    /// Where categories missing from `map` go; without it such rows are
    /// rejected and the category is listed in the report.
    #[serde(default)]
    pub fallback: Option<ClassCode>,
}

impl CategoryMapping {
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<Self, Invalid> {
        let mut map = BTreeMap::new();
        for (category, code) in pairs {
            map.insert(normalise(category), ClassCode::parse(code)?);
        }
        Ok(Self {
            map,
            fallback: None,
        })
    }

    /// The mapped code and whether it came from the fallback.
    pub fn lookup(&self, category: &str) -> Option<(ClassCode, bool)> {
        let key = normalise(category);
        if let Some(code) = self.map.get(&key) {
            return Some((code.clone(), false));
        }
        // Keys written by hand in JSON may not be normalised.
        if let Some((_, code)) = self.map.iter().find(|(k, _)| normalise(k) == key) {
            return Some((code.clone(), false));
        }
        self.fallback.clone().map(|code| (code, true))
    }
}

/// Which source statuses mean closed and which mean cancelled; every other
/// status is still open. Compared trimmed and case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusMapping {
    pub closed: Vec<String>,
    pub cancelled: Vec<String>,
}

impl Default for StatusMapping {
    fn default() -> Self {
        Self {
            closed: vec!["closed".into()],
            cancelled: vec!["cancelled".into(), "canceled".into()],
        }
    }
}

/// Where a historical case stands at the time of the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoricalStatus {
    Open,
    Closed,
    /// Withdrawn, cancelled or referred out: ended without being handled
    /// here (chengyun's 作废 / 错误结案).
    Cancelled,
}

impl HistoricalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HistoricalStatus::Open => "open",
            HistoricalStatus::Closed => "closed",
            HistoricalStatus::Cancelled => "cancelled",
        }
    }
}

impl StatusMapping {
    pub fn map(&self, status: &str) -> HistoricalStatus {
        let key = normalise(status);
        if self.closed.iter().any(|s| normalise(s) == key) {
            HistoricalStatus::Closed
        } else if self.cancelled.iter().any(|s| normalise(s) == key) {
            HistoricalStatus::Cancelled
        } else {
            HistoricalStatus::Open
        }
    }
}

fn normalise(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Everything needed to read one source system's export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    /// Stored with each case (`la311`, `nyc311`, `chengyun`, …) so external
    /// ids stay unique per source.
    pub source_system: String,
    pub columns: ColumnMapping,
    /// Tried in order; the first that parses wins.
    pub date_formats: Vec<DateFormat>,
    /// The zone the source's naive timestamps are written in.
    pub time_zone: Tz,
    #[serde(default)]
    pub categories: CategoryMapping,
    #[serde(default)]
    pub statuses: StatusMapping,
    /// Dates before 1 January of this year are "no date" sentinels of the
    /// source (NYC writes `01/01/1900`) and reject the row.
    #[serde(default = "default_sentinel_year")]
    pub sentinel_before_year: i32,
}

fn default_sentinel_year() -> i32 {
    1901
}

impl Layout {
    /// Checks the layout against the city's catalogue before any row is read,
    /// so a typo in a mapping is one clear error, not thousands of bad rows.
    pub fn validate(&self, catalogue: &Catalogue) -> Result<(), Invalid> {
        if self.columns.category.is_none() && self.columns.matter_code.is_none() {
            return Err(Invalid::new(
                "columns",
                "map either a category column or a matter_code column: a case needs a matter",
            ));
        }
        if self.date_formats.is_empty() {
            return Err(Invalid::new(
                "date_formats",
                "list at least one date format",
            ));
        }
        if self.columns.lon.is_some() != self.columns.lat.is_some() {
            return Err(Invalid::new("columns", "map both lon and lat, or neither"));
        }
        for (category, code) in &self.categories.map {
            if catalogue.get(ClassKind::Matter, code).is_none() {
                return Err(Invalid::new(
                    format!("categories.map[{category:?}]"),
                    format!("matter class {code} is not in the catalogue"),
                ));
            }
        }
        if let Some(code) = &self.categories.fallback
            && catalogue.get(ClassKind::Matter, code).is_none()
        {
            return Err(Invalid::new(
                "categories.fallback",
                format!("matter class {code} is not in the catalogue"),
            ));
        }
        Ok(())
    }

    /// Parses one non-empty cell. `None` when no format matches.
    pub(crate) fn parse_date(&self, raw: &str) -> Option<Result<DateTime<Utc>, String>> {
        self.date_formats
            .iter()
            .find_map(|f| f.parse(raw, self.time_zone))
    }

    /// MyLA311 exports up to 2019 (`SRNumber, CreatedDate, …`, 12-hour dates,
    /// Los Angeles time).
    pub fn la311_2018() -> Self {
        Self {
            source_system: "la311".into(),
            columns: ColumnMapping {
                external_id: "SRNumber".into(),
                created_at: "CreatedDate".into(),
                category: Some("RequestType".into()),
                matter_code: None,
                department: Some("Owner".into()),
                status: Some("Status".into()),
                registered_at: None,
                dispatched_at: None,
                disposed_at: None,
                closed_at: Some("ClosedDate".into()),
                due_at: None,
                lon: Some("Longitude".into()),
                lat: Some("Latitude".into()),
                address: vec!["Address".into()],
                description: vec!["RequestType".into(), "ActionTaken".into()],
            },
            date_formats: vec![DateFormat::UsTwelveHour, DateFormat::SpaceSeparated],
            time_zone: chrono_tz::America::Los_Angeles,
            categories: la311_categories(),
            statuses: la311_statuses(),
            sentinel_before_year: default_sentinel_year(),
        }
    }

    /// MyLA311 exports from 2020 (lower-case headers, `YYYY-MM-DD HH:MM:SS`).
    pub fn la311_2020() -> Self {
        Self {
            source_system: "la311".into(),
            columns: ColumnMapping {
                external_id: "srnumber".into(),
                created_at: "createddate".into(),
                category: Some("requesttype".into()),
                matter_code: None,
                department: Some("owner".into()),
                status: Some("status".into()),
                registered_at: None,
                dispatched_at: None,
                disposed_at: None,
                closed_at: Some("closeddate".into()),
                due_at: None,
                lon: Some("longitude".into()),
                lat: Some("latitude".into()),
                address: vec!["address".into()],
                description: vec!["requesttype".into(), "actiontaken".into()],
            },
            date_formats: vec![
                DateFormat::SpaceSeparated,
                DateFormat::Iso8601,
                DateFormat::UsTwelveHour,
            ],
            time_zone: chrono_tz::America::Los_Angeles,
            categories: la311_categories(),
            statuses: la311_statuses(),
            sentinel_before_year: default_sentinel_year(),
        }
    }

    /// NYC Open Data "311 Service Requests from 2010 to Present" (41 columns,
    /// 12-hour dates, New York time, its own `Due Date`).
    pub fn nyc311() -> Self {
        Self {
            source_system: "nyc311".into(),
            columns: ColumnMapping {
                external_id: "Unique Key".into(),
                created_at: "Created Date".into(),
                category: Some("Complaint Type".into()),
                matter_code: None,
                department: Some("Agency".into()),
                status: Some("Status".into()),
                registered_at: None,
                dispatched_at: None,
                disposed_at: None,
                closed_at: Some("Closed Date".into()),
                due_at: Some("Due Date".into()),
                lon: Some("Longitude".into()),
                lat: Some("Latitude".into()),
                address: vec![
                    "Incident Address".into(),
                    "City".into(),
                    "Incident Zip".into(),
                ],
                description: vec!["Complaint Type".into(), "Descriptor".into()],
            },
            date_formats: vec![DateFormat::UsTwelveHour, DateFormat::Iso8601],
            time_zone: chrono_tz::America::New_York,
            categories: nyc311_categories(),
            statuses: StatusMapping::default(),
            sentinel_before_year: default_sentinel_year(),
        }
    }

    /// chengyun's own export/import layout: one column per stage, matter
    /// codes already GB/T 47678.5, city time (`Asia/Shanghai`) unless the
    /// timestamps carry an offset.
    ///
    /// Header: `external_id,matter_code,created_at,registered_at,dispatched_at,
    /// disposed_at,closed_at,due_at,lon,lat,department,status,address,description`.
    /// With no status column value, a case is closed when it has `closed_at`.
    pub fn chengyun() -> Self {
        Self {
            source_system: "chengyun".into(),
            columns: ColumnMapping {
                external_id: "external_id".into(),
                created_at: "created_at".into(),
                category: None,
                matter_code: Some("matter_code".into()),
                department: Some("department".into()),
                status: Some("status".into()),
                registered_at: Some("registered_at".into()),
                dispatched_at: Some("dispatched_at".into()),
                disposed_at: Some("disposed_at".into()),
                closed_at: Some("closed_at".into()),
                due_at: Some("due_at".into()),
                lon: Some("lon".into()),
                lat: Some("lat".into()),
                address: vec!["address".into()],
                description: vec!["description".into()],
            },
            date_formats: vec![DateFormat::Iso8601, DateFormat::SpaceSeparated],
            time_zone: chrono_tz::Asia::Shanghai,
            categories: CategoryMapping::default(),
            statuses: StatusMapping::default(),
            sentinel_before_year: default_sentinel_year(),
        }
    }
}

fn la311_statuses() -> StatusMapping {
    StatusMapping {
        closed: vec!["Closed".into()],
        // Referred Out: handed to another agency, so not closed by the city.
        cancelled: vec!["Cancelled".into(), "Referred Out".into()],
    }
}

/// The MyLA311 request types seen in 2018–2020 exports.
fn la311_categories() -> CategoryMapping {
    CategoryMapping::from_pairs(&[
        ("Bulky Items", "06035"),
        ("Metal/Household Appliances", "06035"),
        ("Electronic Waste", "06035"),
        ("Illegal Dumping Pickup", "06011"),
        ("Graffiti Removal", "06004"),
        ("Dead Animal Removal", "06037"),
        ("Homeless Encampment", "09003"),
        ("Single Streetlight Issue", "01037"),
        ("Multiple Streetlight Issue", "01037"),
        ("Report Water Waste", "06030"),
    ])
    .unwrap_or_default()
}

/// The NYC complaint types with a clear GB/T 47678.5 counterpart; the rest
/// (finance, housing, police matters) have none and need a fallback.
fn nyc311_categories() -> CategoryMapping {
    CategoryMapping::from_pairs(&[
        ("Noise", "06028"),
        ("Noise - Residential", "06028"),
        ("Noise - Commercial", "06028"),
        ("Noise - Street/Sidewalk", "06028"),
        ("Noise - Vehicle", "06028"),
        ("Noise - Park", "06028"),
        ("Noise - House of Worship", "06028"),
        ("Noise - Helicopter", "06028"),
        ("Illegal Parking", "09009"),
        ("Blocked Driveway", "09009"),
        ("Derelict Vehicle", "06034"),
        ("Derelict Vehicles", "06034"),
        ("Abandoned Vehicle", "06034"),
        ("Street Light Condition", "01037"),
        ("Traffic Signal Condition", "02014"),
        ("Street Sign - Dangling", "02010"),
        ("Street Sign - Damaged", "02010"),
        ("Street Sign - Missing", "02010"),
        ("Street Condition", "06013"),
        ("Sidewalk Condition", "06013"),
        ("Curb Condition", "06050"),
        ("Sewer", "01002"),
        ("Dirty Conditions", "06012"),
        ("Sanitation Condition", "06012"),
        ("Missed Collection (All Materials)", "06042"),
        ("Overflowing Litter Baskets", "06042"),
        ("Dead Animal", "06037"),
        ("Dead/Dying Tree", "04002"),
        ("Damaged Tree", "04002"),
        ("Overgrown Tree/Branches", "04002"),
        ("New Tree Request", "04002"),
        ("Graffiti", "06004"),
        ("Homeless Encampment", "09003"),
        ("Homeless Person Assistance", "09003"),
        ("Vending", "09006"),
        ("Snow", "10001"),
        ("Snow or Ice", "10001"),
        ("Air Quality", "06027"),
        ("Construction", "08001"),
        ("General Construction/Plumbing", "08001"),
        ("Building/Use", "06001"),
        ("Illegal Dumping", "06011"),
        ("Water System", "01024"),
        ("Litter Basket / Request", "03005"),
        ("Root/Sewer/Sidewalk Condition", "06013"),
        ("Obstruction", "06036"),
        ("Broken Muni Meter", "02003"),
        ("Broken Parking Meter", "02003"),
        ("Highway Condition", "06013"),
        ("Dead Tree", "04002"),
        ("Bus Stop Shelter Complaint", "02004"),
        ("Dirty Condition", "06012"),
        ("Encampment", "09003"),
        ("Elevator", "01076"),
        ("Electronics Waste Appointment", "06035"),
        ("Rodent", "06021"),
        ("Outdoor Dining", "09005"),
    ])
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_against_the_national_catalogue() {
        let cat = Catalogue::national();
        for layout in [
            Layout::la311_2018(),
            Layout::la311_2020(),
            Layout::nyc311(),
            Layout::chengyun(),
        ] {
            layout.validate(&cat).unwrap();
        }
        assert_eq!(Layout::la311_2018().categories.map.len(), 10);
        assert!(Layout::nyc311().categories.map.len() > 40);
    }

    #[test]
    fn date_formats_convert_local_time_to_utc() {
        let la = Layout::la311_2018();
        let t = la.parse_date("12/31/2018 11:55:30 PM").unwrap().unwrap();
        assert_eq!(t.to_rfc3339(), "2019-01-01T07:55:30+00:00");
        let t = la.parse_date("2018-07-01 12:00:00").unwrap().unwrap();
        assert_eq!(t.to_rfc3339(), "2018-07-01T19:00:00+00:00", "PDT is UTC-7");
        let cy = Layout::chengyun();
        let t = cy.parse_date("2026-03-01T08:00:00").unwrap().unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-01T00:00:00+00:00");
        let t = cy.parse_date("2026-03-01T08:00:00Z").unwrap().unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-01T08:00:00+00:00");
        let t = cy.parse_date("2026-03-01 08:00:00.5").unwrap().unwrap();
        assert_eq!(t.timestamp_millis() % 1000, 500);
        assert!(cy.parse_date("yesterday").is_none());
        assert!(cy.parse_date("2026-02-30 08:00:00").is_none());
    }

    #[test]
    fn daylight_saving_gaps_are_refused_and_overlaps_take_the_earlier_instant() {
        let ny = Layout::nyc311();
        let gap = ny.parse_date("03/13/2011 02:30:00 AM").unwrap();
        assert!(gap.unwrap_err().contains("does not exist"));
        let overlap = ny.parse_date("11/06/2011 01:30:00 AM").unwrap().unwrap();
        assert_eq!(overlap.to_rfc3339(), "2011-11-06T05:30:00+00:00");
    }

    #[test]
    fn categories_and_statuses_ignore_case_and_spaces() {
        let mut cats = CategoryMapping::from_pairs(&[("Graffiti Removal", "06004")]).unwrap();
        assert_eq!(
            cats.lookup(" graffiti removal "),
            Some((ClassCode::parse("06004").unwrap(), false))
        );
        assert_eq!(cats.lookup("Feedback"), None);
        cats.fallback = Some(ClassCode::parse("10002").unwrap());
        assert_eq!(
            cats.lookup("Feedback"),
            Some((ClassCode::parse("10002").unwrap(), true))
        );
        let st = la311_statuses();
        assert_eq!(st.map("CLOSED"), HistoricalStatus::Closed);
        assert_eq!(st.map("Referred Out"), HistoricalStatus::Cancelled);
        assert_eq!(st.map("Pending"), HistoricalStatus::Open);
    }

    #[test]
    fn layouts_refuse_codes_outside_the_catalogue_and_half_locations() {
        let cat = Catalogue::national();
        let mut l = Layout::la311_2018();
        l.categories.fallback = Some(ClassCode::parse("99999").unwrap());
        assert_eq!(l.validate(&cat).unwrap_err().field, "categories.fallback");
        let mut l = Layout::nyc311();
        l.columns.lat = None;
        assert!(
            l.validate(&cat)
                .unwrap_err()
                .message
                .contains("lon and lat")
        );
        let layout: Layout =
            serde_json::from_str(&serde_json::to_string(&Layout::nyc311()).unwrap()).unwrap();
        assert_eq!(layout, Layout::nyc311());
    }
}
