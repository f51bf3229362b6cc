//! Which statistics counters each step of a case earns, and whom they are
//! credited to. One fact is counted once (area sums add every row), and each
//! row names the department and the user the indicator of DOMAIN.md §5 reads:
//!
//! | step | row: department / user | counters |
//! |---|---|---|
//! | report | reporter's department (or center) / reporter | reported |
//! | 派核实 | center / clerk | verify_dispatched (+in time: within the 立案+派遣 limit since the report) |
//! | 派核实 | center / inspector sent | needs_verify |
//! | 核实 | center / inspector | verified (+in time by the verify clock) |
//! | 立案 | center / shift leader | registered (+in time), needs_dispatch, inspector_registered for inspector reports or verified ones |
//! | 立案 | reporter's department / reporter | valid_reported |
//! | 作废 | center / actor | cancelled |
//! | 派遣 | center / dispatcher | dispatched (+in time by the 立案+派遣 clock) |
//! | 派遣 | handling department / — | needs_disposal; needs_closing on the first dispatch |
//! | 处置反馈 (first) | handling department / handler | disposed (+in time by the dispose clock) |
//! | 派核查 | center / clerk | check_dispatched (+in time: within the check limit since the feedback) |
//! | 派核查 | center / inspector sent | needs_check |
//! | 核查 | center / inspector | checked (+in time by the check clock) |
//! | 返工 | handling department / — | rework |
//! | 结案, 特殊结案 | handling department (or center) / closer | closed (+in time unless overdue) |
//! | 自处理 | reporter's department / handler | needs_disposal, disposed, in time, needs_closing, closed, in time |
//! | 立案 of a 漏报 | the grid's department / its inspector | missed |
//!
//! **漏报 (missed report)**, precisely: a case counts as missed by inspector
//! X when (1) it came from the public or the 12345 hotline, (2) it is
//! registered (立案 — a report rejected as invalid is no problem anyone
//! missed), (3) its point lies in a responsibility grid (责任网格) whose staff
//! member is X, an inspector with a user account, and (4) no case of the
//! same matter reported by an inspector lies within the dedupe radius and
//! was reported at or before the public report, within the dedupe window
//! before it. It is counted once per case, when the case is first
//! registered, on a row of stage 信息收集 credited to X and the grid's
//! department (the 漏报率 of DOMAIN.md §5 divides it by reported + missed).

use super::CaseSettings;
use super::timers::{in_time, limit_for};
use chengyun_domain::case::calendar::Clock;
use chengyun_domain::case::evaluation::StageCounters;
use chengyun_domain::case::workflow::{
    ActorContext, CaseAction, CaseSnapshot, CaseState, CloseKind, Source, Stage,
};
use chengyun_store::{CaseClock, CaseData, NewStatRow};
use chrono::{DateTime, Utc};

fn row(
    data: &CaseData,
    stage: Stage,
    at: DateTime<Utc>,
    department: Option<String>,
    user: Option<i64>,
    counters: StageCounters,
) -> NewStatRow {
    NewStatRow {
        stage,
        at,
        department_code: department,
        user_id: user,
        area_code: data.area_code.clone(),
        counters,
    }
}

fn b(v: bool) -> u64 {
    u64::from(v)
}

/// The row of a new report.
pub(crate) fn on_report(data: &CaseData, reporter_department: Option<String>) -> NewStatRow {
    row(
        data,
        Stage::InformationCollection,
        data.reported_at,
        reporter_department.or_else(|| Some(data.snapshot.center_department.clone())),
        data.reporter_user,
        StageCounters {
            reported: 1,
            ..Default::default()
        },
    )
}

/// The rows an accepted action earns. `before` is the case as it was,
/// `after` the snapshot after the action, `clocks` the clocks before the
/// action's timer effects (so a stopping clock is judged as it ran).
#[expect(clippy::too_many_arguments)]
pub(crate) fn on_action(
    settings: &CaseSettings,
    before: &CaseData,
    after: &CaseSnapshot,
    action: &CaseAction,
    actor: &ActorContext,
    reporter_department: Option<String>,
    clocks: &[CaseClock],
    now: DateTime<Utc>,
) -> Vec<NewStatRow> {
    let center = Some(before.snapshot.center_department.clone());
    let running = |clock: Clock| {
        clocks
            .iter()
            .find(|c| c.clock == clock && c.stopped_at.is_none())
    };
    let within_limit = |clock: Clock, since: DateTime<Utc>| {
        limit_for(
            &settings.limits,
            before.matter_code.as_deref(),
            before.condition.as_deref(),
            clock,
            before.urgency,
        )
        .is_none_or(|l| now <= settings.calendar.deadline(since, l))
    };
    let user = actor.user_id;
    let handling = after
        .handling_department
        .clone()
        .or_else(|| before.snapshot.handling_department.clone());
    let c = StageCounters::default;
    let mut rows = Vec::new();
    match action {
        CaseAction::RequestVerify { inspector } => {
            let ok = within_limit(Clock::RegisterDispatch, before.reported_at);
            rows.push(row(
                before,
                Stage::CaseCreation,
                now,
                center.clone(),
                user,
                StageCounters {
                    verify_dispatched: 1,
                    verify_dispatched_in_time: b(ok),
                    ..c()
                },
            ));
            rows.push(row(
                before,
                Stage::CaseCreation,
                now,
                center,
                *inspector,
                StageCounters {
                    needs_verify: 1,
                    ..c()
                },
            ));
        }
        CaseAction::Verify { .. } => rows.push(row(
            before,
            Stage::CaseCreation,
            now,
            center,
            user,
            StageCounters {
                verified: 1,
                verified_in_time: b(in_time(running(Clock::Verify), now)),
                ..c()
            },
        )),
        CaseAction::Register => {
            let by_inspector = before.source == Source::Inspector
                || before.snapshot.report_confirmed == Some(true);
            rows.push(row(
                before,
                Stage::CaseCreation,
                now,
                center,
                user,
                StageCounters {
                    registered: 1,
                    registered_in_time: b(in_time(running(Clock::RegisterDispatch), now)),
                    needs_dispatch: 1,
                    inspector_registered: b(by_inspector),
                    ..c()
                },
            ));
            if before.reporter_user.is_some() {
                rows.push(row(
                    before,
                    Stage::InformationCollection,
                    now,
                    reporter_department,
                    before.reporter_user,
                    StageCounters {
                        valid_reported: 1,
                        ..c()
                    },
                ));
            }
        }
        CaseAction::Cancel => rows.push(row(
            before,
            Stage::CaseCreation,
            now,
            center,
            user,
            StageCounters {
                cancelled: 1,
                ..c()
            },
        )),
        CaseAction::Dispatch { department, .. } => {
            rows.push(row(
                before,
                Stage::Dispatch,
                now,
                center,
                user,
                StageCounters {
                    dispatched: 1,
                    dispatched_in_time: b(in_time(running(Clock::RegisterDispatch), now)),
                    ..c()
                },
            ));
            rows.push(row(
                before,
                Stage::Handling,
                now,
                Some(department.trim().to_string()),
                None,
                StageCounters {
                    needs_disposal: 1,
                    needs_closing: b(before.dispatched_at.is_none()),
                    ..c()
                },
            ));
        }
        CaseAction::Feedback => rows.push(row(
            before,
            Stage::Handling,
            now,
            handling,
            user,
            StageCounters {
                // once per case: a feedback after rework is not a second disposal
                disposed: b(before.disposed_at.is_none()),
                disposed_in_time: b(
                    before.disposed_at.is_none() && in_time(running(Clock::Dispose), now)
                ),
                ..c()
            },
        )),
        CaseAction::RequestCheck { inspector } => {
            let since = before.disposed_at.unwrap_or(now);
            rows.push(row(
                before,
                Stage::Feedback,
                now,
                center.clone(),
                user,
                StageCounters {
                    check_dispatched: 1,
                    check_dispatched_in_time: b(within_limit(Clock::Check, since)),
                    ..c()
                },
            ));
            rows.push(row(
                before,
                Stage::CheckClose,
                now,
                center,
                *inspector,
                StageCounters {
                    needs_check: 1,
                    ..c()
                },
            ));
        }
        CaseAction::CheckPass | CaseAction::CheckFail => {
            rows.push(row(
                before,
                Stage::CheckClose,
                now,
                center,
                user,
                StageCounters {
                    checked: 1,
                    checked_in_time: b(in_time(running(Clock::Check), now)),
                    ..c()
                },
            ));
            if matches!(action, CaseAction::CheckFail) {
                rows.push(row(
                    before,
                    Stage::Handling,
                    now,
                    handling,
                    None,
                    StageCounters { rework: 1, ..c() },
                ));
            }
        }
        CaseAction::Close | CaseAction::SpecialClose { .. } => {
            let on_time = matches!(after.close_kind, Some(CloseKind::Normal))
                || (after.close_kind != Some(CloseKind::Overdue) && !after.overdue);
            rows.push(row(
                before,
                Stage::CheckClose,
                now,
                handling.or(center),
                user,
                StageCounters {
                    closed: 1,
                    closed_in_time: b(on_time && after.state == CaseState::Closed),
                    ..c()
                },
            ));
        }
        CaseAction::SelfHandle => rows.push(row(
            before,
            Stage::CheckClose,
            now,
            after.handling_department.clone(),
            user,
            StageCounters {
                needs_disposal: 1,
                disposed: 1,
                disposed_in_time: 1,
                needs_closing: 1,
                closed: 1,
                closed_in_time: 1,
                ..c()
            },
        )),
        _ => {}
    }
    rows
}

impl super::CaseService {
    /// The 漏报 row of a case being registered, if it is one (see the module docs).
    pub(crate) async fn missed_report(
        &self,
        data: &CaseData,
        now: DateTime<Utc>,
    ) -> Result<Option<NewStatRow>, super::CaseError> {
        if !matches!(data.source, Source::Public | Source::Hotline) {
            return Ok(None);
        }
        let (Some(lon), Some(lat), Some(matter)) =
            (data.lon, data.lat, data.matter_code.as_deref())
        else {
            return Ok(None);
        };
        let dir = self.directory();
        let Some(grid) = dir.responsible_inspector(lon, lat) else {
            return Ok(None);
        };
        let d = self.settings().dedupe;
        let since = data.reported_at - chrono::Duration::hours(i64::from(d.window_hours));
        let q = chengyun_store::CaseQuery {
            matter: Some(matter.to_string()),
            source: Some(Source::Inspector),
            reported_from: Some(since),
            reported_to: Some(data.reported_at + chrono::Duration::microseconds(1)),
            ..Default::default()
        };
        let mut page = chengyun_domain::page::PageRequest::first(200);
        loop {
            let got = self.store().list_cases(&q, &page).await?;
            let found = got.items.iter().any(|c| match (c.data.lon, c.data.lat) {
                (Some(o), Some(a)) => super::intake::distance_m((lon, lat), (o, a)) <= d.radius_m,
                _ => false,
            });
            if found {
                return Ok(None);
            }
            match got.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
        Ok(Some(row(
            data,
            Stage::InformationCollection,
            now,
            grid.department_code.clone(),
            Some(grid.user_id),
            StageCounters {
                missed: 1,
                ..Default::default()
            },
        )))
    }
}
