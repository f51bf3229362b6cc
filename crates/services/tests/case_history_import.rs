//! Historical import persisted: the real LA 311 December 2018 export stored
//! as cases on SQLite and PostgreSQL, then evaluated by the same SQL sums as
//! live cases; the closure and on-time closure rates must equal an
//! independent computation written here on the raw CSV (its own column
//! lookup, date parsing and validity rules; nothing shared with the importer).

mod case_support;

use case_support::World;
use chengyun_domain::case::workflow::{CaseState, Source};
use chengyun_domain::codes::ClassCode;
use chengyun_domain::standard::Catalogue;
use chengyun_services::case::{EvaluationGroup, EvaluationQuery, HistoryImportOptions};
use chengyun_services::history::{Layout, import_csv};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use std::collections::BTreeSet;
use std::path::PathBuf;

const FILE: &str = "la311_2018_dec_10k.csv";

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/service-requests-311")
        .join(FILE)
}

struct Independent {
    valid: u64,
    closed: u64,
    on_time: u64,
    with_point: u64,
    bad_lines: BTreeSet<u64>,
    /// (SRNumber, closed, lon, lat) of the first valid closed row with a point.
    sample: Option<(String, f64, f64)>,
}

fn la_time(raw: &str) -> Result<Option<DateTime<Utc>>, ()> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let naive = NaiveDateTime::parse_from_str(raw, "%m/%d/%Y %I:%M:%S %p").map_err(|_| ())?;
    let local = chrono_tz::America::Los_Angeles
        .from_local_datetime(&naive)
        .earliest()
        .ok_or(())?;
    Ok(Some(local.with_timezone(&Utc)))
}

/// Valid: an id, a creation time, a parseable close time not before the
/// creation, a closed status only with a close time, both or neither
/// coordinates and both in range. Closed: status `Closed`. On time: closed
/// within 10 days of creation (the LA file keeps no due date).
fn independent() -> Independent {
    let mut rdr = csv::Reader::from_path(data()).expect("open the LA 311 file");
    let headers = rdr.byte_headers().expect("header").clone();
    let pos = |name: &str| {
        headers
            .iter()
            .position(|h| h == name.as_bytes())
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let (id, created, closed, status, lat, lon) = (
        pos("SRNumber"),
        pos("CreatedDate"),
        pos("ClosedDate"),
        pos("Status"),
        pos("Latitude"),
        pos("Longitude"),
    );
    let mut out = Independent {
        valid: 0,
        closed: 0,
        on_time: 0,
        with_point: 0,
        bad_lines: BTreeSet::new(),
        sample: None,
    };
    for rec in rdr.byte_records() {
        let rec = rec.expect("well-formed CSV");
        let line = rec.position().expect("position").line();
        let get = |i: usize| String::from_utf8_lossy(&rec[i]).trim().to_string();
        let created_t = la_time(&get(created)).ok().flatten();
        let closed_t = la_time(&get(closed));
        let mut ok = !get(id).is_empty() && created_t.is_some() && closed_t.is_ok();
        let closed_t = closed_t.ok().flatten();
        if let (Some(cr), Some(cl)) = (created_t, closed_t)
            && cl < cr
        {
            ok = false;
        }
        if closed_t.is_some_and(|t| t.format("%Y").to_string() == "1900") {
            ok = false;
        }
        let is_closed = get(status).eq_ignore_ascii_case("Closed");
        if is_closed && closed_t.is_none() {
            ok = false;
        }
        let (la, lo) = (get(lat), get(lon));
        if la.is_empty() != lo.is_empty() {
            ok = false;
        }
        let mut point = None;
        if !la.is_empty() && !lo.is_empty() {
            match (la.parse::<f64>(), lo.parse::<f64>()) {
                (Ok(a), Ok(o)) if a.abs() <= 90.0 && o.abs() <= 180.0 => point = Some((o, a)),
                _ => ok = false,
            }
        }
        if !ok {
            out.bad_lines.insert(line);
            continue;
        }
        out.valid += 1;
        if point.is_some() {
            out.with_point += 1;
        }
        if is_closed {
            out.closed += 1;
            let deadline = created_t.expect("valid") + chrono::Duration::days(10);
            if closed_t.is_some_and(|t| t <= deadline) {
                out.on_time += 1;
            }
            if out.sample.is_none()
                && let Some((o, a)) = point
            {
                out.sample = Some((get(id), o, a));
            }
        }
    }
    out
}

async fn imports_and_evaluates(w: World) {
    let ind = independent();
    let mut layout = Layout::la311_2018();
    // every category lands somewhere, so only the row rules reject
    layout.categories.fallback = Some(ClassCode::parse("10002").unwrap());
    let f = std::fs::File::open(data()).expect("open");
    let outcome = import_csv(f, &layout, &Catalogue::national()).expect("layout fits");
    let system = w.service.system_actor();
    let options = HistoryImportOptions::default();
    let report = w
        .service
        .import_history(&outcome, &options, &system)
        .await
        .expect("import");

    assert_eq!(report.total_rows, 10_000);
    assert_eq!(report.imported, ind.valid);
    assert_eq!(
        report.imported + report.already_imported + report.rejected.len() as u64,
        report.total_rows,
        "every row imported or listed"
    );
    let rejected: BTreeSet<u64> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(rejected, ind.bad_lines, "the same rows rejected");
    assert!(report.rejected.iter().all(|r| !r.problems.is_empty()));
    // LA lies outside every area of this (Yingtan) city: kept, not dropped
    assert_eq!(report.outside_city, ind.with_point);
    assert_eq!(report.without_location, ind.valid - ind.with_point);

    let check_rates = |label: &str, reported: u64, close: Option<f64>, in_time: Option<f64>| {
        assert_eq!(reported, ind.valid, "{label}: reported");
        let closure = ind.closed as f64 / ind.valid as f64;
        let on_time = ind.on_time as f64 / ind.valid as f64;
        let close = close.expect("close rate") / 100.0;
        let in_time = in_time.expect("on-time rate") / 100.0;
        assert!(
            (close - closure).abs() < 1e-9,
            "{label}: closure {close} vs {closure}"
        );
        assert!(
            (in_time - on_time).abs() < 1e-9,
            "{label}: on time {in_time} vs {on_time}"
        );
    };
    let report_total = w
        .service
        .evaluate(&EvaluationQuery {
            group: EvaluationGroup::Total,
            ..Default::default()
        })
        .await
        .expect("evaluate");
    let row = &report_total.rows[0];
    check_rates(
        "evaluate",
        row.counters.reported,
        row.area.close_rate,
        row.area.close_in_time_rate,
    );
    let headline = w
        .service
        .headline(None, None, None)
        .await
        .expect("headline");
    assert_eq!(headline.handled, ind.closed);
    let completion = headline.completion_rate.expect("rate") / 100.0;
    assert!((completion - ind.closed as f64 / ind.valid as f64).abs() < 1e-9);
    check_rates(
        "headline+area",
        headline.reported,
        row.area.close_rate,
        row.area.close_in_time_rate,
    );

    // a stored case keeps its point, has no grid, and its flow
    let (id, lon, lat) = ind.sample.clone().expect("a closed LA case with a point");
    let case = w
        .store
        .case_by_external_id(Source::Hotline, &format!("la311:{id}"))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(case.data.lon, Some(lon));
    assert_eq!(case.data.lat, Some(lat));
    assert_eq!(case.data.grid_code, None);
    assert_eq!(case.data.area_code, None);
    assert_eq!(case.data.snapshot.state, CaseState::Closed);
    let flow = w.store.flow_records(case.id).await.unwrap();
    assert_eq!(
        flow.first().map(|f| f.record.action.as_str()),
        Some("report")
    );
    assert_eq!(flow.last().map(|f| f.record.action.as_str()), Some("close"));

    // idempotent: a second run stores nothing and changes no figure
    let again = w
        .service
        .import_history(&outcome, &options, &system)
        .await
        .expect("second import");
    assert_eq!(again.imported, 0);
    assert_eq!(again.already_imported, ind.valid);
    let after = w
        .service
        .evaluate(&EvaluationQuery::default())
        .await
        .expect("evaluate");
    assert_eq!(after.total, report_total.total);
    // the roll-up answers the same as the raw rows
    let raw = w
        .store
        .stat_totals_raw(&Default::default(), chengyun_store::StatGroup::Day)
        .await
        .unwrap();
    let rolled = w
        .store
        .stat_totals(&Default::default(), chengyun_store::StatGroup::Day)
        .await
        .unwrap();
    assert_eq!(raw, rolled);
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn la_2018_imported_on_sqlite_rates_equal_the_csv() {
    imports_and_evaluates(case_support::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn la_2018_imported_on_postgres_rates_equal_the_csv() {
    imports_and_evaluates(case_support::postgres().await).await;
}
