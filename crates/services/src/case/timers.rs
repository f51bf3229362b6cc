//! Persistent timers: clock rows follow the workflow's timer effects, and a
//! sweep warns at 80 % and marks overdue (with an automatic 督办 by the
//! system) at 100 %, each exactly once. Both marks are stored, so a restart
//! neither repeats them nor loses one that fell due while the server was
//! down: the next sweep fires it, once.

use super::{CaseError, CaseService, CaseSettings};
use chengyun_bus::Event;
use chengyun_domain::audit::AuditEvent;
use chengyun_domain::case::Urgency;
use chengyun_domain::case::calendar::{
    Clock, HoldPeriod, LimitStandard, LimitUnit, TimeLimit, WorkCalendar,
};
use chengyun_domain::case::workflow::{ActionRequest, CaseAction, TimerEffect};
use chengyun_domain::codes::ClassCode;
use chengyun_store::{CaseChanges, CaseClock, CaseRecord, CaseSave, NewFlowRecord, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SweepReport {
    /// Clocks that crossed 80 % and were warned now.
    pub warned: u32,
    /// Clocks that ran out and were marked overdue (and supervised) now.
    pub overdue: u32,
    /// Clocks another sweeper handled first.
    pub skipped: u32,
}

/// The limit of one step of a case: the most specific rule of the standard;
/// without a matter code only the rules for any matter apply.
pub(crate) fn limit_for(
    limits: &LimitStandard,
    matter: Option<&str>,
    condition: Option<&str>,
    clock: Clock,
    urgency: Urgency,
) -> Option<TimeLimit> {
    match matter.and_then(|m| ClassCode::parse(m).ok()) {
        Some(code) => limits
            .lookup(&code, condition, clock, urgency)
            .map(|r| r.limit),
        None => limits
            .rules
            .iter()
            .filter(|r| {
                r.clock == clock
                    && r.matter.specificity() == 0
                    && r.condition.is_none()
                    && r.urgency.is_none_or(|u| u == urgency)
            })
            .max_by_key(|r| r.urgency.is_some())
            .map(|r| r.limit),
    }
}

/// Counted seconds of the limit and every extension.
pub(crate) fn total_seconds(cal: &WorkCalendar, c: &CaseClock) -> i64 {
    cal.limit_seconds(c.limit)
        + c.extensions
            .iter()
            .map(|e| cal.limit_seconds(*e))
            .sum::<i64>()
}

/// Recomputes the deadline and the 80 % instant from the start, the limit,
/// the extensions and the holds (unknown while a hold is open).
pub(crate) fn recompute(cal: &WorkCalendar, c: &mut CaseClock) {
    if c.paused_at.is_some() {
        c.deadline_at = None;
        c.warn_at = None;
        return;
    }
    let mut deadline = cal.deadline_with_holds(c.started_at, c.limit, &c.holds);
    for e in &c.extensions {
        deadline = deadline.and_then(|d| cal.deadline_with_holds(d, *e, &c.holds));
    }
    c.deadline_at = deadline.map(super::chengyun_store_time);
    let warn_seconds = (total_seconds(cal, c).max(0) * 4 + 4) / 5;
    let unit = if c.limit.unit.counts_working_time() {
        LimitUnit::WorkMinutes
    } else {
        LimitUnit::UrgentMinutes
    };
    let minutes = u32::try_from((warn_seconds + 59) / 60).unwrap_or(u32::MAX);
    c.warn_at = cal
        .deadline_with_holds(c.started_at, TimeLimit::new(minutes, unit), &c.holds)
        .map(super::chengyun_store_time);
}

/// Whether a clock that stops `now` kept its limit.
pub(crate) fn in_time(c: Option<&CaseClock>, now: DateTime<Utc>) -> bool {
    match c {
        None => true,
        Some(c) => c.overdue_at.is_none() && c.deadline_at.is_none_or(|d| now <= d),
    }
}

/// Applies a transition's timer effects to the case's clocks (in memory);
/// answers the clocks that changed, to store.
pub(crate) fn apply_effects(
    settings: &CaseSettings,
    case: &CaseRecord,
    clocks: &mut Vec<CaseClock>,
    effects: &[TimerEffect],
    now: DateTime<Utc>,
) -> Result<Vec<CaseClock>, CaseError> {
    let cal = &settings.calendar;
    let mut changed: Vec<Clock> = Vec::new();
    let running = |clocks: &mut Vec<CaseClock>, clock: Clock| -> Option<usize> {
        clocks
            .iter()
            .position(|c| c.clock == clock && c.stopped_at.is_none())
    };
    for e in effects {
        match e {
            TimerEffect::Start { clock } => {
                let limit = limit_for(
                    &settings.limits,
                    case.data.matter_code.as_deref(),
                    case.data.condition.as_deref(),
                    *clock,
                    case.data.urgency,
                )
                .ok_or_else(|| {
                    CaseError::invalid(
                        "limits",
                        format!(
                            "the limit standard has no rule for the {} step; add a fallback row",
                            clock.as_str()
                        ),
                    )
                })?;
                let mut c = CaseClock {
                    case_id: case.id,
                    clock: *clock,
                    started_at: now,
                    limit,
                    extensions: Vec::new(),
                    holds: Vec::new(),
                    deadline_at: None,
                    warn_at: None,
                    paused_at: None,
                    held_seconds: 0,
                    stopped_at: None,
                    warned_at: None,
                    overdue_at: None,
                };
                recompute(cal, &mut c);
                clocks.retain(|x| x.clock != *clock);
                clocks.push(c);
                changed.push(*clock);
            }
            TimerEffect::Stop { clock } => {
                if let Some(i) = running(clocks, *clock) {
                    clocks[i].stopped_at = Some(now);
                    changed.push(*clock);
                }
            }
            TimerEffect::Pause { clock } => {
                if let Some(i) = running(clocks, *clock) {
                    let c = &mut clocks[i];
                    if c.paused_at.is_none() {
                        c.paused_at = Some(now);
                        c.holds.push(HoldPeriod {
                            start: now,
                            end: None,
                        });
                        recompute(cal, c);
                        changed.push(*clock);
                    }
                }
            }
            TimerEffect::Resume { clock } => {
                if let Some(i) = running(clocks, *clock) {
                    let c = &mut clocks[i];
                    if let Some(start) = c.paused_at.take() {
                        if let Some(h) = c.holds.iter_mut().rev().find(|h| h.end.is_none()) {
                            h.end = Some(now);
                        }
                        c.held_seconds += (now - start).num_seconds().max(0);
                        recompute(cal, c);
                        changed.push(*clock);
                    }
                }
            }
            TimerEffect::Extend { clock, by } => {
                if let Some(i) = running(clocks, *clock) {
                    let c = &mut clocks[i];
                    c.extensions.push(*by);
                    recompute(cal, c);
                    if c.warn_at.is_some_and(|w| w > now) {
                        c.warned_at = None;
                    }
                    changed.push(*clock);
                }
            }
        }
    }
    changed.sort();
    changed.dedup();
    Ok(clocks
        .iter()
        .filter(|c| changed.contains(&c.clock))
        .cloned()
        .collect())
}

impl CaseService {
    /// Warns the clocks past 80 % and marks overdue (with an automatic 督办 by
    /// the system) the clocks past 100 % at `now`, each exactly once: the
    /// marks are stored with the case under its version, so concurrent or
    /// repeated sweeps (also after a restart) never fire one twice.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<SweepReport, CaseError> {
        let now = super::chengyun_store_time(now);
        let mut report = SweepReport::default();
        let batch = self.config().sweep_batch.max(1);
        let due = self.store().due_clocks(now, batch).await?;
        for clock in due {
            let overdue_due =
                clock.overdue_at.is_none() && clock.deadline_at.is_some_and(|d| d <= now);
            if overdue_due {
                match self.mark_overdue(&clock, now).await {
                    Ok(true) => report.overdue += 1,
                    Ok(false) => report.skipped += 1,
                    Err(CaseError::Conflict(_)) => report.skipped += 1,
                    Err(e) => return Err(e),
                }
            } else if clock.warned_at.is_none() && clock.warn_at.is_some_and(|w| w <= now) {
                let Some(case) = self.store().case(clock.case_id).await? else {
                    continue;
                };
                let audit = AuditEvent::new(
                    &self.system_actor().audit,
                    "case.timer_warning",
                    "case",
                    case.number.to_string(),
                )
                .with(serde_json::json!({ "clock": clock.clock.as_str() }));
                if self
                    .store()
                    .mark_clock_warned(clock.case_id, clock.clock, now, &audit)
                    .await?
                {
                    report.warned += 1;
                    self.publish_timer(&case, clock.clock, "warning", now);
                } else {
                    report.skipped += 1;
                }
            }
        }
        Ok(report)
    }

    /// Marks one clock overdue and supervises the case, in one save under
    /// the case's version. False when it turned out to be done already.
    async fn mark_overdue(&self, clock: &CaseClock, now: DateTime<Utc>) -> Result<bool, CaseError> {
        let store = self.store();
        let Some(case) = store.case(clock.case_id).await? else {
            return Ok(false);
        };
        let mut clocks = store.case_clocks(case.id).await?;
        let Some(c) = clocks
            .iter_mut()
            .find(|c| c.clock == clock.clock && c.stopped_at.is_none())
        else {
            return Ok(false);
        };
        if c.overdue_at.is_some() {
            return Ok(false);
        }
        c.overdue_at = Some(now);
        c.warned_at = c.warned_at.or(Some(now));
        let stored_clock = c.clone();
        let mut data = case.data.clone();
        let from = data.snapshot.state;
        data.snapshot.overdue = true;
        let settings = self.settings();
        let system = self.system_actor();
        let mut flow = Vec::new();
        let request = ActionRequest::new(CaseAction::Supervise)
            .with_opinion(format!("{}超时，系统自动督办", clock.clock.label_zh()));
        match settings
            .rules
            .transition(&data.snapshot, &system.context, &request, now)
        {
            Ok(t) => {
                data.snapshot = t.case;
                flow.push(NewFlowRecord {
                    action: t.record.action.as_str().to_string(),
                    detail: serde_json::json!({
                        "action": "supervise",
                        "automatic": true,
                        "clock": clock.clock.as_str(),
                        "deadline": clock.deadline_at,
                    }),
                    from_state: Some(from),
                    to_state: data.snapshot.state,
                    actor_user: None,
                    actor_department: None,
                    acted_as: None,
                    at: now,
                    opinion: t.record.opinion,
                    attachments: Vec::new(),
                });
            }
            Err(refusal) => {
                // The rules in force do not let the system supervise: the
                // overdue mark is still recorded, with why no notice went out.
                flow.push(NewFlowRecord {
                    action: "overdue".into(),
                    detail: serde_json::json!({
                        "clock": clock.clock.as_str(),
                        "supervision_refused": refusal.message,
                    }),
                    from_state: Some(from),
                    to_state: from,
                    actor_user: None,
                    actor_department: None,
                    acted_as: None,
                    at: now,
                    opinion: None,
                    attachments: Vec::new(),
                });
            }
        }
        if settings.escalation.escalate_overdue
            && let Some((to, tier)) = self.center_above(&data)
        {
            let old = data.snapshot.center_department.clone();
            data.snapshot.center_department = to.clone();
            data.snapshot.center_tier = tier;
            if data.snapshot.holder.department == old {
                data.snapshot.holder =
                    chengyun_domain::case::workflow::Holder::department(to.clone());
            }
            flow.push(NewFlowRecord {
                action: "escalate".into(),
                detail: serde_json::json!({
                    "automatic": true,
                    "clock": clock.clock.as_str(),
                    "from_center": old,
                    "to_center": to,
                    "reason": "overdue; the escalation setting hands the case to the center one tier up",
                }),
                from_state: Some(data.snapshot.state),
                to_state: data.snapshot.state,
                actor_user: None,
                actor_department: None,
                acted_as: None,
                at: now,
                opinion: None,
                attachments: Vec::new(),
            });
        }
        let audit = AuditEvent::new(
            &system.audit,
            "case.overdue",
            "case",
            case.number.to_string(),
        )
        .with(serde_json::json!({ "clock": clock.clock.as_str() }));
        let save = CaseSave {
            id: case.id,
            expected_version: case.version,
            data,
            changes: CaseChanges {
                flow,
                clocks: vec![stored_clock],
                ..Default::default()
            },
        };
        let saved = match store.save_cases(&[save], &audit).await {
            Ok(mut v) => v.pop(),
            Err(StoreError::Conflict(m)) => return Err(CaseError::Conflict(m)),
            Err(e) => return Err(e.into()),
        };
        if let Some(saved) = saved {
            self.publish_timer(&saved, clock.clock, "overdue", now);
            self.publish_change(&saved, "overdue");
        }
        Ok(true)
    }

    /// The command center one tier above the case's managing center whose
    /// area holds the case (the city center for a case without an area);
    /// `None` at the top.
    fn center_above(
        &self,
        data: &chengyun_store::CaseData,
    ) -> Option<(String, chengyun_domain::city::Tier)> {
        let dir = self.directory();
        let current = data.snapshot.center_tier;
        let area = data
            .area_code
            .as_deref()
            .and_then(|a| chengyun_domain::codes::DivisionCode::parse(a).ok());
        let next = match area {
            // lowest tier first: the first center above the current tier
            Some(a) => dir.centers_over(&a).into_iter().find(|c| c.tier < current),
            None => dir.top_center().filter(|c| c.tier < current),
        }?;
        Some((next.code.clone(), next.tier))
    }

    fn publish_timer(&self, case: &CaseRecord, clock: Clock, level: &str, now: DateTime<Utc>) {
        self.bus().publish(Event::CaseTimer {
            case_id: case.id,
            number: case.number.to_string(),
            clock: clock.as_str().to_string(),
            level: level.to_string(),
            area_code: case.data.area_code.clone(),
            holder_department: case.data.snapshot.holder.department.clone(),
            at: now.to_rfc3339(),
        });
    }

    /// Runs [`CaseService::sweep`] every `interval` until `shutdown` turns
    /// true (or its sender is dropped). A failed sweep is logged and retried
    /// at the next tick.
    pub fn spawn_worker(
        &self,
        interval: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let service = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let now = service.now();
                        match service.sweep(now).await {
                            Ok(r) if r.warned + r.overdue > 0 => {
                                tracing::info!(warned = r.warned, overdue = r.overdue, "case timer sweep");
                            }
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "case timer sweep failed"),
                        }
                    }
                    changed = shutdown.changed() => {
                        if changed.is_err() || *shutdown.borrow() {
                            break;
                        }
                    }
                }
            }
        })
    }
}
