//! CSV and JSON-lines readers for historical cases.
//!
//! A row is checked completely and every problem is listed, so one pass
//! over the report is enough to fix a file. File-level problems (the layout
//! does not fit the catalogue, a mapped column is missing from the header,
//! the input cannot be read) stop the import before any row is judged.

use super::HistoricalCase;
use super::layout::{HistoricalStatus, Layout};
use chengyun_domain::Invalid;
use chengyun_domain::codes::ClassCode;
use chengyun_domain::standard::{Catalogue, ClassKind};
use chrono::Datelike;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Read};

/// Why a whole import could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Layout(#[from] Invalid),
    #[error("reading the input failed at line {line}: {message}")]
    Read { line: u64, message: String },
}

/// The rule a rejected row broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectKind {
    /// Not a record at all: wrong number of CSV fields, invalid JSON.
    Malformed,
    MissingField,
    UnparseableDate,
    /// A placeholder date such as NYC's `01/01/1900`.
    SentinelDate,
    /// A stage (立案, 派遣, 处置, 结案) timestamp earlier than the report.
    StageBeforeCreation,
    InvalidNumber,
    CoordinateOutOfRange,
    UnmappedCategory,
    UnknownMatterCode,
    DuplicateId,
}

/// One broken rule of one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: RejectKind,
    /// The HistoricalCase field concerned (`closed_at`, `lat`, …).
    pub field: String,
    /// What is wrong, naming the column and the value.
    pub reason: String,
}

/// A row that was not imported, with every problem found in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRow {
    /// Line of the input where the row starts (1 = CSV header).
    pub line: u64,
    pub external_id: Option<String>,
    pub problems: Vec<Problem>,
}

impl RejectedRow {
    pub fn has(&self, kind: RejectKind) -> bool {
        self.problems.iter().any(|p| p.kind == kind)
    }
}

/// The result of reading one file: every data row is in `cases` or in
/// `rejected`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportOutcome {
    pub source_system: String,
    /// Data rows read (header and blank lines excluded).
    pub total_rows: u64,
    pub cases: Vec<HistoricalCase>,
    pub rejected: Vec<RejectedRow>,
    /// Source categories with no mapping and how many rows carried each,
    /// whether those rows went to the fallback or were rejected.
    pub unmapped_categories: BTreeMap<String, u64>,
}

impl ImportOutcome {
    fn new(layout: &Layout) -> Self {
        Self {
            source_system: layout.source_system.clone(),
            total_rows: 0,
            cases: Vec::new(),
            rejected: Vec::new(),
            unmapped_categories: BTreeMap::new(),
        }
    }

    /// Rejected rows per rule (a row with two problems counts under both).
    pub fn rejections_by_kind(&self) -> BTreeMap<RejectKind, u64> {
        let mut out = BTreeMap::new();
        for row in &self.rejected {
            let mut kinds: Vec<RejectKind> = row.problems.iter().map(|p| p.kind).collect();
            kinds.dedup();
            for k in kinds {
                *out.entry(k).or_insert(0) += 1;
            }
        }
        out
    }
}

/// Reads a CSV export with a header row. Cells need not be valid UTF-8
/// (exports with mojibake are common); invalid bytes become U+FFFD.
pub fn import_csv<R: Read>(
    input: R,
    layout: &Layout,
    catalogue: &Catalogue,
) -> Result<ImportOutcome, HistoryError> {
    layout.validate(catalogue)?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(input);
    let header: Vec<String> = reader
        .byte_headers()
        .map_err(|e| HistoryError::Read {
            line: 1,
            message: e.to_string(),
        })?
        .iter()
        .map(|c| {
            String::from_utf8_lossy(c)
                .trim_start_matches('\u{feff}')
                .to_string()
        })
        .collect();
    let index: HashMap<&str, usize> = header
        .iter()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i))
        .collect();
    let missing: Vec<String> = layout
        .columns
        .named_columns()
        .into_iter()
        .filter(|(_, col)| !index.contains_key(col))
        .map(|(field, col)| format!("{col:?} (for {field})"))
        .collect();
    if !missing.is_empty() {
        return Err(Invalid::new(
            "header",
            format!(
                "the header lacks the mapped column(s) {}; it has {:?}",
                missing.join(", "),
                header
            ),
        )
        .into());
    }

    let mut judge = Judge::new(layout, catalogue);
    let mut outcome = ImportOutcome::new(layout);
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                outcome.total_rows += 1;
                let line = record.position().map_or(0, |p| p.line());
                if record.len() != header.len() {
                    outcome.rejected.push(RejectedRow {
                        line,
                        external_id: None,
                        problems: vec![Problem {
                            kind: RejectKind::Malformed,
                            field: "row".into(),
                            reason: format!(
                                "the row has {} fields, the header has {}",
                                record.len(),
                                header.len()
                            ),
                        }],
                    });
                    continue;
                }
                let cells: Vec<String> = record
                    .iter()
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect();
                let row = |col: &str| index.get(col).map(|&i| cells[i].clone());
                judge.judge(line, &row, &mut outcome);
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                if let csv::ErrorKind::Io(io) = e.kind() {
                    return Err(HistoryError::Read {
                        line,
                        message: io.to_string(),
                    });
                }
                outcome.total_rows += 1;
                outcome.rejected.push(RejectedRow {
                    line,
                    external_id: None,
                    problems: vec![Problem {
                        kind: RejectKind::Malformed,
                        field: "row".into(),
                        reason: e.to_string(),
                    }],
                });
            }
        }
    }
    Ok(outcome)
}

/// Reads one JSON object per line, keyed by the layout's column names.
/// Blank lines are skipped; `null` and absent keys are empty cells; numbers
/// and booleans are read as their text.
pub fn import_json_lines<R: BufRead>(
    input: R,
    layout: &Layout,
    catalogue: &Catalogue,
) -> Result<ImportOutcome, HistoryError> {
    layout.validate(catalogue)?;
    let mut judge = Judge::new(layout, catalogue);
    let mut outcome = ImportOutcome::new(layout);
    for (i, text) in input.lines().enumerate() {
        let line = i as u64 + 1;
        let text = text.map_err(|e| HistoryError::Read {
            line,
            message: e.to_string(),
        })?;
        if text.trim().is_empty() {
            continue;
        }
        outcome.total_rows += 1;
        let object = match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(other) => {
                outcome.rejected.push(malformed(
                    line,
                    format!("expected a JSON object, found {}", json_kind(&other)),
                ));
                continue;
            }
            Err(e) => {
                outcome
                    .rejected
                    .push(malformed(line, format!("invalid JSON: {e}")));
                continue;
            }
        };
        let cells: HashMap<&str, String> = object
            .iter()
            .filter_map(|(k, v)| {
                let text = match v {
                    serde_json::Value::Null => return None,
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Some((k.as_str(), text))
            })
            .collect();
        let row = |col: &str| cells.get(col).cloned();
        judge.judge(line, &row, &mut outcome);
    }
    Ok(outcome)
}

fn malformed(line: u64, reason: String) -> RejectedRow {
    RejectedRow {
        line,
        external_id: None,
        problems: vec![Problem {
            kind: RejectKind::Malformed,
            field: "row".into(),
            reason,
        }],
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Applies the row rules; remembers accepted ids to catch duplicates.
struct Judge<'a> {
    layout: &'a Layout,
    catalogue: &'a Catalogue,
    seen: HashMap<String, u64>,
}

impl<'a> Judge<'a> {
    fn new(layout: &'a Layout, catalogue: &'a Catalogue) -> Self {
        Self {
            layout,
            catalogue,
            seen: HashMap::new(),
        }
    }

    fn judge(&mut self, line: u64, row: &dyn Fn(&str) -> Option<String>, out: &mut ImportOutcome) {
        let cols = &self.layout.columns;
        let mut problems = Vec::new();
        let cell = |col: &Option<String>| -> Option<String> {
            col.as_deref()
                .and_then(row)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };

        let external_id = cell(&Some(cols.external_id.clone()));
        if external_id.is_none() {
            problems.push(missing("external_id", &cols.external_id));
        }

        let date = |field: &str, col: &Option<String>, problems: &mut Vec<Problem>| {
            let raw = cell(col)?;
            let column = col.as_deref().unwrap_or_default();
            match self.layout.parse_date(&raw) {
                None => {
                    problems.push(Problem {
                        kind: RejectKind::UnparseableDate,
                        field: field.into(),
                        reason: format!(
                            "{raw:?} in column {column:?} matches none of the date formats {:?}",
                            self.layout.date_formats
                        ),
                    });
                    None
                }
                Some(Err(msg)) => {
                    problems.push(Problem {
                        kind: RejectKind::UnparseableDate,
                        field: field.into(),
                        reason: format!("{raw:?} in column {column:?}: {msg}"),
                    });
                    None
                }
                Some(Ok(t)) if t.year() < self.layout.sentinel_before_year => {
                    problems.push(Problem {
                        kind: RejectKind::SentinelDate,
                        field: field.into(),
                        reason: format!(
                            "{raw:?} in column {column:?} is a placeholder date (before {}), not a real time",
                            self.layout.sentinel_before_year
                        ),
                    });
                    None
                }
                Some(Ok(t)) => Some(t),
            }
        };

        let created_col = Some(cols.created_at.clone());
        let created_at = date("created_at", &created_col, &mut problems);
        if cell(&created_col).is_none() {
            problems.push(missing("created_at", &cols.created_at));
        }
        let registered_at = date("registered_at", &cols.registered_at, &mut problems);
        let dispatched_at = date("dispatched_at", &cols.dispatched_at, &mut problems);
        let disposed_at = date("disposed_at", &cols.disposed_at, &mut problems);
        let closed_at = date("closed_at", &cols.closed_at, &mut problems);
        let due_at = date("due_at", &cols.due_at, &mut problems);

        if let Some(created) = created_at {
            let stages = [
                ("registered_at", &cols.registered_at, registered_at),
                ("dispatched_at", &cols.dispatched_at, dispatched_at),
                ("disposed_at", &cols.disposed_at, disposed_at),
                ("closed_at", &cols.closed_at, closed_at),
            ];
            for (field, col, at) in stages {
                if let Some(at) = at
                    && at < created
                {
                    let tz = self.layout.time_zone;
                    problems.push(Problem {
                        kind: RejectKind::StageBeforeCreation,
                        field: field.into(),
                        reason: format!(
                            "{field} ({:?} = {}) is before created_at ({:?} = {})",
                            col.as_deref().unwrap_or_default(),
                            at.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z"),
                            cols.created_at,
                            created.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z"),
                        ),
                    });
                }
            }
        }

        let source_status = cell(&cols.status).unwrap_or_default();
        let status = if source_status.is_empty() {
            if closed_at.is_some() {
                HistoricalStatus::Closed
            } else {
                HistoricalStatus::Open
            }
        } else {
            self.layout.statuses.map(&source_status)
        };
        if status == HistoricalStatus::Closed
            && closed_at.is_none()
            && cell(&cols.closed_at).is_none()
        {
            problems.push(Problem {
                kind: RejectKind::MissingField,
                field: "closed_at".into(),
                reason: format!(
                    "status {source_status:?} means closed but column {:?} is empty: a closed case needs its close time",
                    cols.closed_at.as_deref().unwrap_or("(unmapped)")
                ),
            });
        }

        let (lon, lat) = self.coordinates(&cell(&cols.lon), &cell(&cols.lat), &mut problems);

        let category = cell(&cols.category);
        let direct_code = cell(&cols.matter_code);
        let mut matter: Option<(ClassCode, bool)> = None;
        if let Some(raw) = &direct_code {
            match ClassCode::parse(raw) {
                Ok(code) if self.catalogue.get(ClassKind::Matter, &code).is_some() => {
                    matter = Some((code, false));
                }
                Ok(code) => problems.push(Problem {
                    kind: RejectKind::UnknownMatterCode,
                    field: "matter_code".into(),
                    reason: format!(
                        "matter class {code} is not in GB/T 47678.5 nor in this city's local extensions"
                    ),
                }),
                Err(e) => problems.push(Problem {
                    kind: RejectKind::UnknownMatterCode,
                    field: "matter_code".into(),
                    reason: e.message,
                }),
            }
        } else if let Some(cat) = &category {
            match self.layout.categories.lookup(cat) {
                Some((code, fallback)) => {
                    if fallback {
                        *out.unmapped_categories.entry(cat.clone()).or_insert(0) += 1;
                    }
                    matter = Some((code, fallback));
                }
                None => {
                    *out.unmapped_categories.entry(cat.clone()).or_insert(0) += 1;
                    problems.push(Problem {
                        kind: RejectKind::UnmappedCategory,
                        field: "matter_code".into(),
                        reason: format!(
                            "category {cat:?} has no matter code in the category mapping and no fallback is configured"
                        ),
                    });
                }
            }
        } else {
            let col = cols
                .matter_code
                .as_deref()
                .or(cols.category.as_deref())
                .unwrap_or_default();
            problems.push(missing("matter_code", col));
        }

        if let Some(id) = &external_id
            && let Some(first) = self.seen.get(id)
        {
            problems.push(Problem {
                kind: RejectKind::DuplicateId,
                field: "external_id".into(),
                reason: format!("external id {id:?} was already imported from line {first}"),
            });
        }

        match (external_id, created_at, matter) {
            (Some(external_id), Some(created_at), Some((matter_code, matter_from_fallback)))
                if problems.is_empty() =>
            {
                self.seen.insert(external_id.clone(), line);
                let join = |columns: &[String], sep: &str| {
                    let parts: Vec<String> = columns
                        .iter()
                        .filter_map(|c| cell(&Some(c.clone())))
                        .collect();
                    (!parts.is_empty()).then(|| parts.join(sep))
                };
                out.cases.push(HistoricalCase {
                    line,
                    external_id,
                    source_system: self.layout.source_system.clone(),
                    category: category.or(direct_code).unwrap_or_default(),
                    matter_code,
                    matter_from_fallback,
                    department: cell(&cols.department),
                    status,
                    source_status,
                    created_at,
                    registered_at,
                    dispatched_at,
                    disposed_at,
                    closed_at,
                    due_at,
                    lon,
                    lat,
                    address: join(&cols.address, ", "),
                    description: join(&cols.description, " / "),
                });
            }
            (external_id, ..) => out.rejected.push(RejectedRow {
                line,
                external_id,
                problems,
            }),
        }
    }

    fn coordinates(
        &self,
        lon: &Option<String>,
        lat: &Option<String>,
        problems: &mut Vec<Problem>,
    ) -> (Option<f64>, Option<f64>) {
        let cols = &self.layout.columns;
        match (lon, lat) {
            (None, None) => (None, None),
            (Some(_), None) => {
                problems.push(missing("lat", cols.lat.as_deref().unwrap_or_default()));
                (None, None)
            }
            (None, Some(_)) => {
                problems.push(missing("lon", cols.lon.as_deref().unwrap_or_default()));
                (None, None)
            }
            (Some(lon_raw), Some(lat_raw)) => {
                let lon = number("lon", lon_raw, 180.0, problems);
                let lat = number("lat", lat_raw, 90.0, problems);
                match (lon, lat) {
                    (Some(lon), Some(lat)) => (Some(lon), Some(lat)),
                    _ => (None, None),
                }
            }
        }
    }
}

fn number(field: &str, raw: &str, limit: f64, problems: &mut Vec<Problem>) -> Option<f64> {
    match raw.parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() <= limit => Some(v),
        Ok(v) => {
            problems.push(Problem {
                kind: RejectKind::CoordinateOutOfRange,
                field: field.into(),
                reason: format!("{field} {v} is outside -{limit}..{limit}"),
            });
            None
        }
        Err(_) => {
            problems.push(Problem {
                kind: RejectKind::InvalidNumber,
                field: field.into(),
                reason: format!("{field} {raw:?} is not a number"),
            });
            None
        }
    }
}

fn missing(field: &str, column: &str) -> Problem {
    Problem {
        kind: RejectKind::MissingField,
        field: field.into(),
        reason: format!("column {column:?} is empty; {field} is required"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "external_id,matter_code,created_at,registered_at,dispatched_at,disposed_at,closed_at,due_at,lon,lat,department,status,address,description\n";

    fn run(body: &str) -> ImportOutcome {
        let text = format!("{HEADER}{body}");
        import_csv(text.as_bytes(), &Layout::chengyun(), &Catalogue::national()).unwrap()
    }

    #[test]
    fn a_complete_chengyun_row_keeps_every_stage_in_utc() {
        let o = run(
            "YT-1,06028,2026-03-02 09:00:00,2026-03-02 09:10:00,2026-03-02 09:20:00,2026-03-02 11:00:00,2026-03-02T12:00:00+08:00,2026-03-03 09:00:00,117.03,28.24,D-CG,closed,\"信江路 1 号, 月湖区\",广场舞噪声\n",
        );
        assert!(o.rejected.is_empty(), "{:?}", o.rejected);
        let c = &o.cases[0];
        assert_eq!(c.line, 2);
        assert_eq!(c.created_at.to_rfc3339(), "2026-03-02T01:00:00+00:00");
        assert_eq!(
            c.registered_at.unwrap().to_rfc3339(),
            "2026-03-02T01:10:00+00:00"
        );
        assert_eq!(
            c.dispatched_at.unwrap().to_rfc3339(),
            "2026-03-02T01:20:00+00:00"
        );
        assert_eq!(
            c.disposed_at.unwrap().to_rfc3339(),
            "2026-03-02T03:00:00+00:00"
        );
        assert_eq!(
            c.closed_at.unwrap().to_rfc3339(),
            "2026-03-02T04:00:00+00:00"
        );
        assert_eq!(c.status, HistoricalStatus::Closed);
        assert_eq!(c.department.as_deref(), Some("D-CG"));
        assert_eq!((c.lon, c.lat), (Some(117.03), Some(28.24)));
        assert_eq!(c.address.as_deref(), Some("信江路 1 号, 月湖区"));
        assert_eq!(c.matter_code.as_str(), "06028");
    }

    #[test]
    fn each_bad_row_is_reported_with_its_line_and_rule() {
        let o = run(concat!(
            "A,06028,2026-03-02 09:00:00,,,,2026-03-01 09:00:00,,,,,,,\n",
            "B,06028,03/02/2026,,,,,,,,,,,\n",
            "C,06028,2026-03-02 09:00:00,,,,1900-01-01 00:00:00,,,,,,,\n",
            ",06028,2026-03-02 09:00:00,,,,,,,,,,,\n",
            "E,06028,2026-03-02 09:00:00,,,,,,117.0,,,,,\n",
            "F,06028,2026-03-02 09:00:00,,,,,,217.0,28.0,,,,\n",
            "G,99999,2026-03-02 09:00:00,,,,,,,,,,,\n",
            "H,06028,2026-03-02 09:00:00,,,,,,,,,closed,,\n",
            "I,06028,2026-03-02 09:00:00\n",
            "J,06028,2026-03-02 09:00:00,,,,,,east,28.0,,,,\n",
            "K,06028,2026-03-02 09:00:00,,,,,,,,,,,\n",
            "K,06028,2026-03-02 10:00:00,,,,,,,,,,,\n",
            "L,,2026-03-02 09:00:00,,,,,,,,,,,\n",
        ));
        assert_eq!(o.total_rows, 13);
        assert_eq!(o.cases.len(), 1, "only the first K is good");
        assert_eq!(o.cases.len() + o.rejected.len(), 13);
        let by_line: BTreeMap<u64, &RejectedRow> = o.rejected.iter().map(|r| (r.line, r)).collect();
        let expect = [
            (2, RejectKind::StageBeforeCreation),
            (3, RejectKind::UnparseableDate),
            (4, RejectKind::SentinelDate),
            (5, RejectKind::MissingField),
            (6, RejectKind::MissingField),
            (7, RejectKind::CoordinateOutOfRange),
            (8, RejectKind::UnknownMatterCode),
            (9, RejectKind::MissingField),
            (10, RejectKind::Malformed),
            (11, RejectKind::InvalidNumber),
            (13, RejectKind::DuplicateId),
            (14, RejectKind::MissingField),
        ];
        for (line, kind) in expect {
            let row = by_line
                .get(&line)
                .unwrap_or_else(|| panic!("line {line} not rejected"));
            assert!(row.has(kind), "line {line}: {:?}", row.problems);
        }
        assert!(by_line[&2].problems[0].reason.contains("before created_at"));
        assert!(by_line[&4].problems[0].reason.contains("placeholder"));
        assert!(
            by_line[&9].problems[0]
                .reason
                .contains("closed case needs its close time")
        );
        assert!(by_line[&13].problems[0].reason.contains("line 12"));
        assert_eq!(by_line[&5].external_id, None);
    }

    #[test]
    fn a_row_lists_all_its_problems_at_once() {
        let o = run("A,abc,never,,,,,,500,28.0,,,,\n");
        let kinds: Vec<RejectKind> = o.rejected[0].problems.iter().map(|p| p.kind).collect();
        assert!(kinds.contains(&RejectKind::UnparseableDate));
        assert!(kinds.contains(&RejectKind::CoordinateOutOfRange));
        assert!(kinds.contains(&RejectKind::UnknownMatterCode));
    }

    #[test]
    fn a_header_without_a_mapped_column_stops_the_import() {
        let err = import_csv(
            "id,created_at\n1,2026-03-02 09:00:00\n".as_bytes(),
            &Layout::chengyun(),
            &Catalogue::national(),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"external_id\" (for external_id)"), "{msg}");
    }

    #[test]
    fn json_lines_use_the_same_rules() {
        let input = concat!(
            "{\"external_id\":\"A\",\"matter_code\":\"06028\",\"created_at\":\"2026-03-02T09:00:00+08:00\",\"lon\":117.0,\"lat\":28.2,\"status\":null}\n",
            "\n",
            "not json\n",
            "[1,2]\n",
            "{\"external_id\":\"B\",\"matter_code\":\"06028\",\"created_at\":\"2026-03-02T09:00:00+08:00\",\"closed_at\":\"2026-03-01T09:00:00+08:00\"}\n",
        );
        let o = import_json_lines(
            input.as_bytes(),
            &Layout::chengyun(),
            &Catalogue::national(),
        )
        .unwrap();
        assert_eq!(o.total_rows, 4, "the blank line is not a row");
        assert_eq!(o.cases.len(), 1);
        assert_eq!(o.cases[0].lon, Some(117.0));
        assert_eq!(o.cases[0].status, HistoricalStatus::Open);
        let lines: Vec<(u64, RejectKind)> = o
            .rejected
            .iter()
            .map(|r| (r.line, r.problems[0].kind))
            .collect();
        assert_eq!(
            lines,
            vec![
                (3, RejectKind::Malformed),
                (4, RejectKind::Malformed),
                (5, RejectKind::StageBeforeCreation)
            ]
        );
        assert!(o.rejected[1].problems[0].reason.contains("an array"));
    }

    #[test]
    fn unmapped_categories_fall_back_when_configured() {
        let mut layout = Layout::la311_2018();
        let csv_text = "SRNumber,CreatedDate,Owner,RequestType,Status,ClosedDate,Latitude,Longitude,Address,ActionTaken\n\
            1,12/31/2018 11:55:30 PM,BOS,Feedback,Open,,,,,\n\
            2,12/31/2018 11:55:30 PM,BOS,Graffiti Removal,Open,,,,,\n";
        let cat = Catalogue::national();
        let o = import_csv(csv_text.as_bytes(), &layout, &cat).unwrap();
        assert_eq!((o.cases.len(), o.rejected.len()), (1, 1));
        assert!(o.rejected[0].has(RejectKind::UnmappedCategory));
        assert_eq!(o.unmapped_categories.get("Feedback"), Some(&1));
        layout.categories.fallback = Some(ClassCode::parse("10002").unwrap());
        let o = import_csv(csv_text.as_bytes(), &layout, &cat).unwrap();
        assert_eq!(o.cases.len(), 2);
        assert!(o.cases[0].matter_from_fallback);
        assert!(!o.cases[1].matter_from_fallback);
        assert_eq!(o.unmapped_categories.get("Feedback"), Some(&1));
    }

    #[test]
    fn invalid_utf8_is_kept_lossily_not_dropped() {
        let mut bytes = HEADER.as_bytes().to_vec();
        bytes.extend_from_slice(b"A,06028,2026-03-02 09:00:00,,,,,,,,,,,bad \xff byte\n");
        let o = import_csv(
            bytes.as_slice(),
            &Layout::chengyun(),
            &Catalogue::national(),
        )
        .unwrap();
        assert_eq!(o.cases.len(), 1);
        assert!(
            o.cases[0]
                .description
                .as_deref()
                .unwrap()
                .contains('\u{FFFD}')
        );
    }
}
