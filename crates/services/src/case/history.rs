//! Persisting historical cases ([`crate::history`]) as stored cases, so a
//! city's past years are evaluated by the same SQL sums as live cases.
//!
//! Each [`HistoricalCase`] becomes one case:
//! - **state** from the source's status: closed → 已结案 (正常结案 when closed
//!   by its deadline, else 超期结案), cancelled → 已作废, open → 待签收 when
//!   the source dispatched it, else 待派遣;
//! - **flow records** for every stage the source timed (report, register,
//!   dispatch, feedback, close / cancel), acted by the system, each with
//!   `{"imported": true, "source_system", "external_id"}` in its detail;
//! - **statistics rows** at the stage times: the report row carries
//!   `reported`, `needs_closing` (every imported case is due to close, as in
//!   [`HistoryStats`](crate::history::HistoryStats)) and, unless cancelled,
//!   `registered`/`needs_dispatch`; a dispatch row `dispatched`/`needs_disposal`;
//!   a feedback row `disposed` (+ in time); the close row `closed` and
//!   `closed_in_time` when closed at or before the deadline of the
//!   [`DeadlinePolicy`] (the record's own due date, else the limit);
//! - **location**: the WGS-84 point is kept as the source gave it. A point
//!   inside this city is located (grid, area, district); a point outside
//!   every area of the city (the LA and NYC 311 data, for a Chinese city)
//!   keeps its coordinates with no grid and no area — it is counted in
//!   [`HistoryImportReport::outside_city`], not dropped, and such cases
//!   show in city-wide evaluations but in no area's;
//! - **department**: the source's agency mapped through
//!   [`HistoryImportOptions::department_map`] to a stored department (the
//!   handling department); unmapped agencies go to the fallback center and
//!   are counted per agency in the report;
//! - **source**: 12345 热线 (`hotline`; 311 is a city's hotline), the
//!   reporter channel `import:<source_system>`, and the external id
//!   `<source_system>:<id>` — unique per source in the store, which makes
//!   the import idempotent: cases already stored are skipped and counted.
//!
//! The file is stored all or nothing ([`CaseStore::import_cases`] in one
//! transaction). Rows the parser rejected are not imported and are listed
//! with their line and the rule broken; rows whose matter code this city
//! does not know are rejected the same way (never half stored).

use super::{CaseActor, CaseError, CaseService};
use crate::history::{
    DeadlinePolicy, HistoricalCase, HistoricalStatus, ImportOutcome, RejectKind, RejectedRow,
};
use chengyun_domain::audit::AuditEvent;
use chengyun_domain::case::Urgency;
use chengyun_domain::case::evaluation::StageCounters;
use chengyun_domain::case::workflow::{CaseSnapshot, CaseState, CloseKind, Holder, Source, Stage};
use chengyun_store::{CaseChanges, CaseData, NewCaseWrite, NewFlowRecord, NewStatRow, Reporter};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// How to store a historical file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryImportOptions {
    /// The deadline each case is judged by (on-time closure).
    pub deadline: DeadlinePolicy,
    /// Source agency (as the file writes it, matched trimmed and
    /// case-insensitively) → stored department code.
    pub department_map: BTreeMap<String, String>,
    /// The command center that manages imported cases and handles those of
    /// unmapped agencies; the city (top-tier) center when `None`.
    pub fallback_center: Option<String>,
}

impl Default for HistoryImportOptions {
    /// The record's due date, else 10 natural days; no agency mapping.
    fn default() -> Self {
        Self {
            deadline: DeadlinePolicy::due_or_days(10),
            department_map: BTreeMap::new(),
            fallback_center: None,
        }
    }
}

/// What an import did, row by row accounted: `imported + already_imported
/// + rejected.len() == total_rows`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryImportReport {
    pub source_system: String,
    /// Data rows of the file.
    pub total_rows: u64,
    /// Cases stored by this run.
    pub imported: u64,
    /// Cases skipped because an earlier import stored them.
    pub already_imported: u64,
    /// Rows not imported, with their line and every rule they broke.
    pub rejected: Vec<RejectedRow>,
    /// Rejected rows per rule.
    pub rejections_by_kind: BTreeMap<RejectKind, u64>,
    /// Imported cases whose point lies outside every area of this city
    /// (kept with their coordinates, without grid or area).
    pub outside_city: u64,
    /// Imported cases without coordinates.
    pub without_location: u64,
    /// Source agencies with no mapping, and how many cases each sent to
    /// the fallback center.
    pub unmapped_departments: BTreeMap<String, u64>,
    /// The center that manages the imported cases.
    pub center: String,
}

fn b(v: bool) -> u64 {
    u64::from(v)
}

impl CaseService {
    /// Stores the parsed cases of one historical file (see the module
    /// docs): all or nothing, idempotent on (source system, external id).
    pub async fn import_history(
        &self,
        outcome: &ImportOutcome,
        options: &HistoryImportOptions,
        actor: &CaseActor,
    ) -> Result<HistoryImportReport, CaseError> {
        self.import_history_with_progress(outcome, options, actor, |_| {})
            .await
    }

    /// [`CaseService::import_history`] calling `progress(cases prepared)`
    /// as it goes (the CLI's progress bar).
    pub async fn import_history_with_progress(
        &self,
        outcome: &ImportOutcome,
        options: &HistoryImportOptions,
        actor: &CaseActor,
        progress: impl Fn(u64),
    ) -> Result<HistoryImportReport, CaseError> {
        let dir = self.directory();
        let center = match &options.fallback_center {
            Some(code) => dir.departments.get(code.trim()).ok_or_else(|| {
                CaseError::invalid(
                    "fallback_center",
                    format!("department {code} does not exist; import the departments first"),
                )
            })?,
            None => dir.top_center().ok_or_else(|| {
                CaseError::invalid(
                    "fallback_center",
                    "this city has no command center to manage imported cases; import the departments first",
                )
            })?,
        };
        let mut map: BTreeMap<String, String> = BTreeMap::new();
        for (agency, code) in &options.department_map {
            if !dir.departments.contains_key(code.trim()) {
                return Err(CaseError::invalid(
                    format!("department_map.{agency}"),
                    format!("department {code} does not exist"),
                ));
            }
            map.insert(agency.trim().to_lowercase(), code.trim().to_string());
        }
        let source_system = outcome.source_system.clone();
        let external = |c: &HistoricalCase| format!("{source_system}:{}", c.external_id);
        let ids: Vec<String> = outcome.cases.iter().map(external).collect();
        let existing: HashSet<String> = self
            .store()
            .existing_external_ids(Source::Hotline, &ids)
            .await?
            .into_iter()
            .collect();

        let settings = self.settings();
        let mut report = HistoryImportReport {
            source_system: source_system.clone(),
            total_rows: outcome.total_rows,
            imported: 0,
            already_imported: 0,
            rejected: outcome.rejected.clone(),
            rejections_by_kind: BTreeMap::new(),
            outside_city: 0,
            without_location: 0,
            unmapped_departments: BTreeMap::new(),
            center: center.code.clone(),
        };
        let mut writes = Vec::with_capacity(outcome.cases.len());
        for (n, c) in outcome.cases.iter().enumerate() {
            if n % 1_000 == 0 {
                progress(n as u64);
            }
            let external_id = external(c);
            if existing.contains(&external_id) {
                report.already_imported += 1;
                continue;
            }
            let Some(class) = self.city().matter(&c.matter_code) else {
                report.rejected.push(RejectedRow {
                    line: c.line,
                    external_id: Some(c.external_id.clone()),
                    problems: vec![crate::history::parse::Problem {
                        kind: RejectKind::UnknownMatterCode,
                        field: "matter_code".into(),
                        reason: format!(
                            "matter class {} is not in GB/T 47678.5-2026 nor in this city's local extensions",
                            c.matter_code
                        ),
                    }],
                });
                continue;
            };
            // Location: kept as given; located only inside this city.
            let (mut grid_code, mut area_code, mut district_code) = (None, None, None);
            match (c.lon, c.lat) {
                (Some(lon), Some(lat)) => {
                    let loc = self.city().locate(lon, lat);
                    grid_code = loc.grid.as_ref().map(|g| g.code.clone());
                    area_code = [&loc.community, &loc.street, &loc.district, &loc.city]
                        .into_iter()
                        .flatten()
                        .next()
                        .map(|a| a.code.clone());
                    district_code = loc.district.as_ref().map(|d| d.code.clone());
                    if area_code.is_none() {
                        report.outside_city += 1;
                    }
                }
                _ => report.without_location += 1,
            }
            let handling = match c
                .department
                .as_deref()
                .map(str::trim)
                .filter(|d| !d.is_empty())
            {
                Some(agency) => match map.get(&agency.to_lowercase()) {
                    Some(code) => code.clone(),
                    None => {
                        *report
                            .unmapped_departments
                            .entry(agency.to_string())
                            .or_insert(0) += 1;
                        center.code.clone()
                    }
                },
                None => center.code.clone(),
            };
            let deadline = options.deadline.deadline(c);
            let closed_in_time = c.status == HistoricalStatus::Closed
                && matches!((c.closed_at, deadline), (Some(at), Some(due)) if at <= due);
            let mut snapshot =
                CaseSnapshot::reported(Source::Hotline, Urgency::Normal, &center.code, center.tier);
            let registered_at = match c.status {
                HistoricalStatus::Cancelled => c.registered_at,
                _ => Some(c.registered_at.unwrap_or(c.created_at)),
            };
            snapshot.state = match c.status {
                HistoricalStatus::Closed => CaseState::Closed,
                HistoricalStatus::Cancelled => CaseState::Cancelled,
                HistoricalStatus::Open if c.dispatched_at.is_some() => CaseState::Dispatched,
                HistoricalStatus::Open => CaseState::Registered,
            };
            if c.status == HistoricalStatus::Closed {
                snapshot.close_kind = Some(if closed_in_time {
                    CloseKind::Normal
                } else {
                    CloseKind::Overdue
                });
                snapshot.overdue = !closed_in_time;
            }
            if c.dispatched_at.is_some() || c.status == HistoricalStatus::Closed {
                snapshot.handling_department = Some(handling.clone());
            }
            if snapshot.state == CaseState::Dispatched {
                snapshot.holder = Holder::department(handling.clone());
            }
            let title = c.category.chars().take(200).collect::<String>();
            let data = CaseData {
                title: if title.trim().is_empty() {
                    class.name.clone()
                } else {
                    title
                },
                description: c
                    .description
                    .clone()
                    .unwrap_or_default()
                    .chars()
                    .take(5_000)
                    .collect(),
                matter_code: Some(class.code.to_string()),
                condition: None,
                source: Source::Hotline,
                urgency: Urgency::Normal,
                lon: c.lon,
                lat: c.lat,
                address: c.address.clone(),
                grid_code,
                area_code,
                district_code,
                component_id: None,
                device_id: None,
                external_id: Some(external_id),
                reporter_user: None,
                snapshot,
                duplicate_of: None,
                likely_duplicate_of: None,
                reported_at: c.created_at,
                registered_at,
                dispatched_at: c.dispatched_at,
                disposed_at: c.disposed_at,
                closed_at: match c.status {
                    HistoricalStatus::Open => None,
                    _ => c.closed_at,
                },
                deadline_at: match c.status {
                    HistoricalStatus::Open => deadline,
                    _ => None,
                },
            };
            let changes = history_changes(c, &data, &handling, deadline, closed_in_time);
            let number_date = c
                .created_at
                .with_timezone(&settings.calendar.time_zone())
                .date_naive();
            writes.push(NewCaseWrite {
                data,
                number_prefix: self.config().number_prefix.clone(),
                number_date,
                changes,
                idempotency: None,
            });
        }
        progress(outcome.cases.len() as u64);
        report.rejected.sort_by_key(|r| r.line);
        for row in &report.rejected {
            let mut kinds: Vec<RejectKind> = row.problems.iter().map(|p| p.kind).collect();
            kinds.sort();
            kinds.dedup();
            for k in kinds {
                *report.rejections_by_kind.entry(k).or_insert(0) += 1;
            }
        }
        let audit = AuditEvent::new(&actor.audit, "case.import", "case", &source_system).with(
            serde_json::json!({
                "source_system": source_system,
                "imported": writes.len(),
                "already_imported": report.already_imported,
                "rejected": report.rejected.len(),
            }),
        );
        if !writes.is_empty() {
            self.store().import_cases(&writes, &audit).await?;
        }
        report.imported = writes.len() as u64;
        Ok(report)
    }
}

/// Flow records and statistics rows of one historical case.
fn history_changes(
    c: &HistoricalCase,
    data: &CaseData,
    handling: &str,
    deadline: Option<DateTime<Utc>>,
    closed_in_time: bool,
) -> CaseChanges {
    let center = data.snapshot.center_department.clone();
    let detail = |extra: serde_json::Value| {
        let mut d = serde_json::json!({
            "imported": true,
            "source_system": c.source_system,
            "external_id": c.external_id,
            "source_status": c.source_status,
        });
        if let (Some(obj), Some(more)) = (d.as_object_mut(), extra.as_object()) {
            for (k, v) in more {
                obj.insert(k.clone(), v.clone());
            }
        }
        d
    };
    let record = |action: &str, from: Option<CaseState>, to: CaseState, at, extra| NewFlowRecord {
        action: action.into(),
        detail: detail(extra),
        from_state: from,
        to_state: to,
        actor_user: None,
        actor_department: None,
        acted_as: None,
        at,
        opinion: None,
        attachments: Vec::new(),
    };
    let stat = |stage, at, department: Option<String>, counters| NewStatRow {
        stage,
        at,
        department_code: department,
        user_id: None,
        area_code: data.area_code.clone(),
        counters,
    };
    let cancelled = c.status == HistoricalStatus::Cancelled;
    let mut flow = vec![record(
        "report",
        None,
        CaseState::Reported,
        c.created_at,
        serde_json::json!({ "category": c.category, "deadline": deadline }),
    )];
    let mut stats = vec![stat(
        Stage::InformationCollection,
        c.created_at,
        Some(center.clone()),
        StageCounters {
            reported: 1,
            needs_closing: 1,
            registered: b(!cancelled),
            registered_in_time: b(!cancelled),
            needs_dispatch: b(!cancelled),
            ..Default::default()
        },
    )];
    let mut state = CaseState::Reported;
    if let Some(at) = data.registered_at {
        flow.push(record(
            "register",
            Some(state),
            CaseState::Registered,
            at,
            serde_json::json!({}),
        ));
        state = CaseState::Registered;
    }
    if let Some(at) = c.dispatched_at {
        flow.push(record(
            "dispatch",
            Some(state),
            CaseState::Dispatched,
            at,
            serde_json::json!({ "department": handling, "agency": c.department }),
        ));
        state = CaseState::Dispatched;
        stats.push(stat(
            Stage::Dispatch,
            at,
            Some(handling.to_string()),
            StageCounters {
                dispatched: 1,
                dispatched_in_time: 1,
                needs_disposal: 1,
                ..Default::default()
            },
        ));
    }
    if let Some(at) = c.disposed_at {
        flow.push(record(
            "feedback",
            Some(state),
            CaseState::FeedbackGiven,
            at,
            serde_json::json!({}),
        ));
        state = CaseState::FeedbackGiven;
        stats.push(stat(
            Stage::Handling,
            at,
            Some(handling.to_string()),
            StageCounters {
                disposed: 1,
                disposed_in_time: b(deadline.is_none_or(|d| at <= d)),
                ..Default::default()
            },
        ));
    }
    match c.status {
        HistoricalStatus::Closed => {
            let at = c.closed_at.unwrap_or(c.created_at);
            flow.push(record(
                "close",
                Some(state),
                CaseState::Closed,
                at,
                serde_json::json!({ "in_time": closed_in_time, "close_time_known": c.closed_at.is_some() }),
            ));
            stats.push(stat(
                Stage::CheckClose,
                at,
                Some(handling.to_string()),
                StageCounters {
                    closed: 1,
                    closed_in_time: b(closed_in_time),
                    ..Default::default()
                },
            ));
        }
        HistoricalStatus::Cancelled => {
            let at = c.closed_at.unwrap_or(c.created_at);
            flow.push(record(
                "cancel",
                Some(state),
                CaseState::Cancelled,
                at,
                serde_json::json!({}),
            ));
            stats.push(stat(
                Stage::CaseCreation,
                at,
                Some(center.clone()),
                StageCounters {
                    cancelled: 1,
                    ..Default::default()
                },
            ));
        }
        HistoricalStatus::Open => {}
    }
    CaseChanges {
        reporters: vec![Reporter {
            name: None,
            phone: None,
            user_id: None,
            channel: format!("import:{}", c.source_system),
            reported_at: c.created_at,
        }],
        flow,
        clocks: Vec::new(),
        stats,
        attachments: Vec::new(),
    }
}
