//! Workflow actions and merging duplicates.

use super::stats;
use super::timers::apply_effects;
use super::{CaseActor, CaseError, CaseService, CaseView};
use chengyun_domain::audit::AuditEvent;
use chengyun_domain::case::workflow::{
    ActionRequest, CaseAction, CaseActionKind, CaseState, CloseKind, Refusal, RefusalReason,
    TimerEffect,
};
use chengyun_domain::city::Position;
use chengyun_store::{CaseChanges, CaseRecord, CaseSave, NewFlowRecord};

impl CaseService {
    /// Takes one workflow action on a case for `actor`. A refused action is
    /// `CaseError::Refused` with the case's state and the actions the actor
    /// may take; a case changed by someone else meanwhile is `Conflict`.
    pub async fn act(
        &self,
        case_id: i64,
        request: ActionRequest,
        actor: &CaseActor,
    ) -> Result<CaseView, CaseError> {
        let store = self.store();
        let case = store
            .case(case_id)
            .await?
            .ok_or_else(|| CaseError::NotFound(format!("case {case_id}")))?;
        let now = self.now();
        let settings = self.settings();
        let t = settings
            .rules
            .transition(&case.data.snapshot, &actor.context, &request, now)?;
        // Details the pure rules cannot check: the department dispatched to
        // must exist, attachments must have been uploaded.
        let mut detail = serde_json::to_value(&t.record.detail).unwrap_or_default();
        if let CaseAction::Dispatch { department, .. } = &request.action {
            let department = department.trim();
            if !self.directory().departments.contains_key(department) {
                return Err(Refusal {
                    action: CaseActionKind::Dispatch,
                    state: case.data.snapshot.state,
                    reason: RefusalReason::BadRequest,
                    message: format!("department {department} does not exist"),
                    allowed: settings
                        .rules
                        .allowed_actions(&case.data.snapshot, &actor.context),
                }
                .into());
            }
            let suggestion = self.suggest_for(&case);
            if let Some(obj) = detail.as_object_mut() {
                let (rule, reason) = if suggestion.department_code == department {
                    (suggestion.rule_id, suggestion.reason.clone())
                } else {
                    (
                        None,
                        format!(
                            "dispatcher chose {department}; the rules suggested {} ({})",
                            suggestion.department_code, suggestion.reason
                        ),
                    )
                };
                obj.insert("rule_id".into(), serde_json::json!(rule));
                obj.insert("reason".into(), serde_json::json!(reason));
            }
        }
        if let Some(outcome) = request.outcome {
            if !matches!(
                request.action.kind(),
                CaseActionKind::Close | CaseActionKind::SpecialClose
            ) {
                return Err(CaseError::invalid(
                    "outcome",
                    format!(
                        "an outcome marks a closing; {} does not close the case",
                        request.action.kind().as_str()
                    ),
                ));
            }
            if let Some(obj) = detail.as_object_mut() {
                obj.insert("outcome".into(), serde_json::json!(outcome));
            }
        }
        for a in &request.attachments {
            match store.attachment(a).await? {
                Some(m) if m.case_id.is_none_or(|c| c == case.id) => {}
                _ => {
                    return Err(CaseError::invalid(
                        "attachments",
                        format!(
                            "attachment {a} does not exist or belongs to another case; upload it first"
                        ),
                    ));
                }
            }
        }
        let mut clocks = store.case_clocks(case.id).await?;
        let reporter_department = case.data.snapshot.reporter_department.clone();
        let mut stat_rows = stats::on_action(
            &settings,
            &case.data,
            &t.case,
            &request.action,
            &actor.context,
            reporter_department,
            &clocks,
            now,
        );
        if matches!(request.action.kind(), CaseActionKind::Register)
            && case.data.registered_at.is_none()
            && let Some(row) = self.missed_report(&case.data, now).await?
        {
            stat_rows.push(row);
        }
        let changed_clocks = apply_effects(&settings, &case, &mut clocks, &t.timers, now)?;
        let mut data = case.data.clone();
        data.snapshot = t.case.clone();
        match request.action.kind() {
            CaseActionKind::Register => data.registered_at = data.registered_at.or(Some(now)),
            CaseActionKind::Dispatch => data.dispatched_at = data.dispatched_at.or(Some(now)),
            CaseActionKind::Feedback => data.disposed_at = Some(now),
            CaseActionKind::SelfHandle => {
                data.registered_at = Some(now);
                data.dispatched_at = Some(now);
                data.disposed_at = Some(now);
                data.closed_at = Some(now);
            }
            _ => {}
        }
        if t.case.state.is_final() && !case.data.snapshot.state.is_final() {
            data.closed_at = data.closed_at.or(Some(now));
        }
        data.deadline_at = data
            .snapshot
            .state
            .running_clock()
            .and_then(|rc| {
                clocks
                    .iter()
                    .find(|c| c.clock == rc && c.stopped_at.is_none())
            })
            .and_then(|c| c.deadline_at);
        let flow = NewFlowRecord {
            action: t.record.action.as_str().to_string(),
            detail,
            from_state: Some(t.record.from),
            to_state: t.record.to,
            actor_user: t.record.actor_user,
            actor_department: t.record.actor_department.clone(),
            acted_as: super::position_name(t.record.acted_as),
            at: now,
            opinion: t.record.opinion.clone(),
            attachments: t.record.attachments.clone(),
        };
        let audit = AuditEvent::new(
            &actor.audit,
            &format!("case.{}", request.action.kind().as_str()),
            "case",
            case.number.to_string(),
        )
        .with(serde_json::json!({
            "from": t.record.from.as_str(),
            "to": t.record.to.as_str(),
            "timers": t.timers.iter().filter(|e| !matches!(e, TimerEffect::Start { .. })).count(),
        }));
        let save = CaseSave {
            id: case.id,
            expected_version: case.version,
            data,
            changes: CaseChanges {
                reporters: Vec::new(),
                flow: vec![flow],
                clocks: changed_clocks,
                stats: stat_rows,
                attachments: request.attachments.clone(),
            },
        };
        let saved = store
            .save_cases(&[save], &audit)
            .await?
            .pop()
            .ok_or_else(|| CaseError::NotFound(format!("case {case_id}")))?;
        self.publish_change(&saved, request.action.kind().as_str());
        self.view_of(saved, actor, Vec::new()).await
    }

    /// Merges `duplicate` into `into`: `into` gains every reporter of the
    /// duplicate and the earlier report time; the duplicate is closed as
    /// erroneous (错误结案) with a link. Both in one transaction. Only staff
    /// of `into`'s command center (clerk, shift leader, dispatcher) may merge.
    pub async fn merge(
        &self,
        duplicate: i64,
        into: i64,
        actor: &CaseActor,
        opinion: Option<String>,
    ) -> Result<CaseView, CaseError> {
        if duplicate == into {
            return Err(CaseError::invalid(
                "into",
                "a case cannot be merged into itself",
            ));
        }
        let store = self.store();
        let load = |id: i64| async move {
            store
                .case(id)
                .await?
                .ok_or_else(|| CaseError::NotFound(format!("case {id}")))
        };
        let dup: CaseRecord = load(duplicate).await?;
        let target: CaseRecord = load(into).await?;
        let ctx = &actor.context;
        let center_staff = ctx.department_code.as_deref()
            == Some(target.data.snapshot.center_department.as_str())
            && ctx.roles.iter().any(|r| {
                matches!(
                    r,
                    Position::Clerk | Position::ShiftLeader | Position::Dispatcher
                )
            });
        if !center_staff {
            // A permission refusal, like any refused action (409 with the
            // state and the actions this actor may take). The workflow has
            // no merge action kind; merging closes the duplicate in error,
            // so it is reported as the cancel kind.
            let allowed = self
                .settings()
                .rules
                .allowed_actions(&target.data.snapshot, ctx);
            return Err(CaseError::Refused(Box::new(
                chengyun_domain::case::workflow::Refusal {
                    action: chengyun_domain::case::workflow::CaseActionKind::Cancel,
                    state: target.data.snapshot.state,
                    reason: chengyun_domain::case::workflow::RefusalReason::NotPermitted,
                    message: format!(
                        "only the clerks, shift leaders and dispatchers of {} may merge cases into {}",
                        target.data.snapshot.center_department, target.number
                    ),
                    allowed,
                },
            )));
        }
        for (c, role) in [(&dup, "duplicate"), (&target, "into")] {
            if c.data.snapshot.state.is_final() {
                return Err(CaseError::invalid(
                    role,
                    format!(
                        "case {} is {} and cannot be merged",
                        c.number, c.data.snapshot.state
                    ),
                ));
            }
        }
        if dup.data.matter_code.is_some()
            && target.data.matter_code.is_some()
            && dup.data.matter_code != target.data.matter_code
        {
            return Err(CaseError::invalid(
                "duplicate",
                format!(
                    "case {} is matter {} but {} is matter {}; only cases of one matter are merged",
                    dup.number,
                    dup.data.matter_code.as_deref().unwrap_or("-"),
                    target.number,
                    target.data.matter_code.as_deref().unwrap_or("-")
                ),
            ));
        }
        let now = self.now();
        let reporters = store.case_reporters(dup.id).await?;
        let mut dup_clocks = store.case_clocks(dup.id).await?;
        for c in dup_clocks.iter_mut().filter(|c| c.stopped_at.is_none()) {
            c.stopped_at = Some(now);
        }
        let mut into_data = target.data.clone();
        into_data.reported_at = into_data.reported_at.min(dup.data.reported_at);
        let opinion = opinion
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty());
        let mut dup_data = dup.data.clone();
        let from = dup_data.snapshot.state;
        dup_data.snapshot.state = CaseState::Closed;
        dup_data.snapshot.close_kind = Some(CloseKind::Erroneous);
        dup_data.snapshot.holder = chengyun_domain::case::workflow::Holder::department(
            dup_data.snapshot.center_department.clone(),
        );
        dup_data.duplicate_of = Some(target.id);
        dup_data.closed_at = Some(now);
        dup_data.deadline_at = None;
        let record = |action: &str, detail: serde_json::Value, from, to| NewFlowRecord {
            action: action.into(),
            detail,
            from_state: Some(from),
            to_state: to,
            actor_user: ctx.user_id,
            actor_department: ctx.department_code.clone(),
            acted_as: None,
            at: now,
            opinion: opinion.clone(),
            attachments: Vec::new(),
        };
        let saves = [
            CaseSave {
                id: dup.id,
                expected_version: dup.version,
                data: dup_data,
                changes: CaseChanges {
                    flow: vec![record(
                        "merged_into",
                        serde_json::json!({ "into": target.id, "into_number": target.number, "close_kind": "erroneous" }),
                        from,
                        CaseState::Closed,
                    )],
                    clocks: dup_clocks,
                    ..Default::default()
                },
            },
            CaseSave {
                id: target.id,
                expected_version: target.version,
                data: into_data,
                changes: CaseChanges {
                    reporters,
                    flow: vec![record(
                        "merge",
                        serde_json::json!({ "duplicate": dup.id, "duplicate_number": dup.number }),
                        target.data.snapshot.state,
                        target.data.snapshot.state,
                    )],
                    ..Default::default()
                },
            },
        ];
        let audit = AuditEvent::new(
            &actor.audit,
            "case.merge",
            "case",
            target.number.to_string(),
        )
        .with(serde_json::json!({ "duplicate": dup.number }));
        let mut saved = store.save_cases(&saves, &audit).await?;
        let merged = saved
            .pop()
            .ok_or_else(|| CaseError::NotFound(format!("case {into}")))?;
        if let Some(d) = saved.pop() {
            self.publish_change(&d, "merged_into");
        }
        self.publish_change(&merged, "merged");
        self.view_of(merged, actor, Vec::new()).await
    }
}
