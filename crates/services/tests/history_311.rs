//! The historical importer on the real LA and NYC 311 exports in
//! /work/shared/data/service-requests-311/, checked against an independent
//! computation written here directly on the raw CSV: its own column lookup,
//! date parsing, validity rules and rates, sharing no helper with the importer.

use chengyun_domain::codes::ClassCode;
use chengyun_domain::standard::Catalogue;
use chengyun_services::history::{DeadlinePolicy, HistoryStats, Layout, RejectKind, import_csv};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::BTreeSet;
use std::path::PathBuf;

const DEFAULT_DAYS: i64 = 10;

fn data(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/service-requests-311")
        .join(file)
}

/// Columns of one file, by header name, for the independent reader.
struct Cols {
    id: &'static str,
    created: &'static str,
    closed: &'static str,
    due: Option<&'static str>,
    status: &'static str,
    lat: &'static str,
    lon: &'static str,
    /// chrono pattern of the file's timestamps.
    pattern: &'static str,
    tz: Tz,
    /// Statuses the independent rule counts as closed.
    closed_word: &'static str,
}

struct Independent {
    total: u64,
    valid: u64,
    closed: u64,
    on_time: u64,
    bad_lines: BTreeSet<u64>,
    closed_before_created: u64,
    sentinel: u64,
}

fn to_utc(raw: &str, c: &Cols) -> Result<Option<DateTime<Utc>>, ()> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    let naive = NaiveDateTime::parse_from_str(raw.trim(), c.pattern).map_err(|_| ())?;
    let local = c.tz.from_local_datetime(&naive).earliest().ok_or(())?;
    Ok(Some(local.with_timezone(&Utc)))
}

fn independent(file: &str, c: &Cols) -> Independent {
    let mut rdr = csv::Reader::from_path(data(file)).expect("open the 311 file");
    let headers = rdr.byte_headers().expect("header").clone();
    let pos = |name: &str| {
        headers
            .iter()
            .position(|h| h == name.as_bytes())
            .unwrap_or_else(|| panic!("{file} has no column {name}"))
    };
    let (id, created, closed, status, lat, lon) = (
        pos(c.id),
        pos(c.created),
        pos(c.closed),
        pos(c.status),
        pos(c.lat),
        pos(c.lon),
    );
    let due = c.due.map(pos);
    let mut out = Independent {
        total: 0,
        valid: 0,
        closed: 0,
        on_time: 0,
        bad_lines: BTreeSet::new(),
        closed_before_created: 0,
        sentinel: 0,
    };
    for rec in rdr.byte_records() {
        let rec = rec.expect("the 311 files are well-formed CSV");
        out.total += 1;
        let line = rec.position().expect("position").line();
        let get = |i: usize| String::from_utf8_lossy(&rec[i]).trim().to_string();
        let mut ok = !get(id).is_empty();
        let created_t = to_utc(&get(created), c).ok().flatten();
        ok &= created_t.is_some();
        let closed_t = to_utc(&get(closed), c);
        let due_t = due.map(|i| to_utc(&get(i), c)).unwrap_or(Ok(None));
        ok &= closed_t.is_ok() && due_t.is_ok();
        let closed_t = closed_t.ok().flatten();
        let due_t = due_t.ok().flatten();
        if closed_t.is_some_and(|t| t.format("%Y").to_string() == "1900")
            || due_t.is_some_and(|t| t.format("%Y").to_string() == "1900")
        {
            out.sentinel += 1;
            ok = false;
        } else if let (Some(cr), Some(cl)) = (created_t, closed_t)
            && cl < cr
        {
            out.closed_before_created += 1;
            ok = false;
        }
        let is_closed = get(status).eq_ignore_ascii_case(c.closed_word);
        if is_closed && closed_t.is_none() {
            ok = false;
        }
        let (la, lo) = (get(lat), get(lon));
        if la.is_empty() != lo.is_empty() {
            ok = false;
        }
        if !la.is_empty() && !lo.is_empty() {
            match (la.parse::<f64>(), lo.parse::<f64>()) {
                (Ok(a), Ok(o)) if a.abs() <= 90.0 && o.abs() <= 180.0 => {}
                _ => ok = false,
            }
        }
        if !ok {
            out.bad_lines.insert(line);
            continue;
        }
        out.valid += 1;
        if is_closed {
            out.closed += 1;
            let created_t = created_t.expect("checked above");
            let deadline = due_t.unwrap_or(created_t + chrono::Duration::days(DEFAULT_DAYS));
            if closed_t.is_some_and(|t| t <= deadline) {
                out.on_time += 1;
            }
        }
    }
    out
}

fn check(file: &str, mut layout: Layout, cols: Cols, expected_rows: u64) -> Independent {
    let cat = Catalogue::national();
    // Every category lands somewhere, so only the row rules reject.
    layout.categories.fallback = Some(ClassCode::parse("10002").unwrap());
    let f = std::fs::File::open(data(file)).expect("open the 311 file");
    let outcome = import_csv(f, &layout, &cat).expect("the layout fits the file");
    let ind = independent(file, &cols);

    assert_eq!(ind.total, expected_rows, "{file}: independent row count");
    assert_eq!(
        outcome.total_rows, expected_rows,
        "{file}: importer row count"
    );
    assert_eq!(
        outcome.cases.len() as u64 + outcome.rejected.len() as u64,
        outcome.total_rows,
        "{file}: every row imported or reported"
    );
    let rejected_lines: BTreeSet<u64> = outcome.rejected.iter().map(|r| r.line).collect();
    assert_eq!(
        rejected_lines, ind.bad_lines,
        "{file}: the same rows rejected"
    );
    assert_eq!(outcome.cases.len() as u64, ind.valid);
    for r in &outcome.rejected {
        assert!(
            !r.problems.is_empty(),
            "{file}: line {} has a reason",
            r.line
        );
    }

    let policy = DeadlinePolicy::due_or_days(DEFAULT_DAYS as u32);
    let stats = HistoryStats::compute(&outcome.cases, |c| policy.deadline(c));
    let closure = ind.closed as f64 / ind.valid as f64;
    let on_time = ind.on_time as f64 / ind.valid as f64;
    assert_eq!(stats.total, ind.valid);
    assert_eq!(stats.closed, ind.closed, "{file}: closed count");
    assert_eq!(stats.closed_on_time, ind.on_time, "{file}: on-time count");
    assert!(
        (stats.closure_rate - closure).abs() < 1e-9,
        "{file}: closure rate"
    );
    assert!(
        (stats.on_time_closure_rate - on_time).abs() < 1e-9,
        "{file}: on-time rate {} vs {}",
        stats.on_time_closure_rate,
        on_time
    );
    let kinds = outcome.rejections_by_kind();
    assert_eq!(
        kinds
            .get(&RejectKind::StageBeforeCreation)
            .copied()
            .unwrap_or(0),
        ind.closed_before_created,
        "{file}: closed-before-created rows"
    );
    assert_eq!(
        kinds.get(&RejectKind::SentinelDate).copied().unwrap_or(0),
        ind.sentinel,
        "{file}: sentinel rows"
    );
    ind
}

#[test]
fn la_2018_accounts_for_every_row_and_rejects_the_23_closed_before_creation() {
    let ind = check(
        "la311_2018_dec_10k.csv",
        Layout::la311_2018(),
        Cols {
            id: "SRNumber",
            created: "CreatedDate",
            closed: "ClosedDate",
            due: None,
            status: "Status",
            lat: "Latitude",
            lon: "Longitude",
            pattern: "%m/%d/%Y %I:%M:%S %p",
            tz: chrono_tz::America::Los_Angeles,
            closed_word: "Closed",
        },
        10_000,
    );
    assert_eq!(
        ind.closed_before_created, 23,
        "PROVENANCE.md: 23 rows close before creation"
    );
}

#[test]
fn la_2020_lower_case_headers_and_iso_dates() {
    let ind = check(
        "la311_2020_jan_10k.csv",
        Layout::la311_2020(),
        Cols {
            id: "srnumber",
            created: "createddate",
            closed: "closeddate",
            due: None,
            status: "status",
            lat: "latitude",
            lon: "longitude",
            pattern: "%Y-%m-%d %H:%M:%S",
            tz: chrono_tz::America::Los_Angeles,
            closed_word: "Closed",
        },
        10_000,
    );
    // Rows marked Closed without a close time cannot be evaluated.
    assert!(ind.total - ind.valid > 0);
}

#[test]
fn nyc_2011_rejects_the_1900_sentinel() {
    let ind = check(
        "nyc311_2011_2k.csv",
        Layout::nyc311(),
        Cols {
            id: "Unique Key",
            created: "Created Date",
            closed: "Closed Date",
            due: Some("Due Date"),
            status: "Status",
            lat: "Latitude",
            lon: "Longitude",
            pattern: "%m/%d/%Y %I:%M:%S %p",
            tz: chrono_tz::America::New_York,
            closed_word: "Closed",
        },
        2_000,
    );
    assert!(ind.sentinel >= 1);
}

#[test]
fn nyc_2023_rejects_close_dates_before_creation() {
    let ind = check(
        "nyc311_2023_feb_5k.csv",
        Layout::nyc311(),
        Cols {
            id: "Unique Key",
            created: "Created Date",
            closed: "Closed Date",
            due: Some("Due Date"),
            status: "Status",
            lat: "Latitude",
            lon: "Longitude",
            pattern: "%m/%d/%Y %I:%M:%S %p",
            tz: chrono_tz::America::New_York,
            closed_word: "Closed",
        },
        4_999,
    );
    assert!(ind.closed_before_created >= 2);
}

#[test]
fn unmapped_categories_are_reported_not_dropped() {
    let cat = Catalogue::national();
    let layout = Layout::nyc311();
    let f = std::fs::File::open(data("nyc311_2011_2k.csv")).unwrap();
    let outcome = import_csv(f, &layout, &cat).unwrap();
    assert_eq!(outcome.total_rows, 2_000);
    assert_eq!(outcome.cases.len() + outcome.rejected.len(), 2_000);
    let unmapped: u64 = outcome.unmapped_categories.values().sum();
    let rejected_unmapped = outcome
        .rejected
        .iter()
        .filter(|r| r.has(RejectKind::UnmappedCategory))
        .count() as u64;
    assert!(unmapped > 0);
    assert_eq!(unmapped, rejected_unmapped, "each unmapped row is listed");
    assert!(
        outcome
            .unmapped_categories
            .contains_key("DOF Property - Payment Issue")
    );
    // Mapped ones keep their real code.
    assert!(
        outcome
            .cases
            .iter()
            .any(|c| c.category == "Street Condition" && c.matter_code.as_str() == "06013")
    );
}

#[test]
fn la_2018_cases_carry_what_the_case_service_needs() {
    let cat = Catalogue::national();
    let f = std::fs::File::open(data("la311_2018_dec_10k.csv")).unwrap();
    let outcome = import_csv(f, &Layout::la311_2018(), &cat).unwrap();
    let first = &outcome.cases[0];
    assert_eq!(first.line, 2);
    assert_eq!(first.external_id, "1-1262691971");
    assert_eq!(first.source_system, "la311");
    assert_eq!(first.department.as_deref(), Some("OCB"));
    assert_eq!(first.matter_code.as_str(), "06004");
    // 12/31/2018 11:55:30 PM PST = 2019-01-01 07:55:30 UTC
    assert_eq!(first.created_at.to_rfc3339(), "2019-01-01T07:55:30+00:00");
    assert_eq!(
        first.closed_at.unwrap().to_rfc3339(),
        "2019-01-03T06:20:05+00:00"
    );
    assert_eq!(first.lat, Some(34.2473989385));
    assert_eq!(first.address.as_deref(), Some("9757 N RESEDA BLVD, 91324"));
    let before: Vec<_> = outcome
        .rejected
        .iter()
        .filter(|r| r.has(RejectKind::StageBeforeCreation))
        .collect();
    assert_eq!(before.len(), 23);
    assert!(before[0].problems[0].reason.contains("before created_at"));
    assert!(before[0].external_id.is_some());
}
