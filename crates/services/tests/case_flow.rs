//! The case loop end to end on SQLite and PostgreSQL: every branch of the
//! workflow, refusals, dedupe and merge, automatic dispatch, timers across a
//! restart, idempotency and bad input.

mod case_support;

use case_support::{IN_STREET, World};
use chengyun_domain::audit::{Actor, AuditEvent};
use chengyun_domain::case::Urgency;
use chengyun_domain::case::calendar::{Clock, LimitUnit, TimeLimit, TimerColour};
use chengyun_domain::case::workflow::{
    ActionRequest, CaseAction, CaseActionKind, CaseState, CloseKind, RefusalReason, Source,
};
use chengyun_services::case::{CaseError, CaseView, NewCase};
use chengyun_store::DispatchRule;
use chrono::Duration;

fn report(matter: &str) -> NewCase {
    NewCase {
        title: "井盖缺失".into(),
        description: "人民路口供水井盖不见了".into(),
        matter_code: Some(matter.into()),
        source: Some(Source::Public),
        urgency: Some(Urgency::Urgent),
        lon: Some(IN_STREET.0),
        lat: Some(IN_STREET.1),
        reporter_name: Some("张三".into()),
        reporter_phone: Some("13800000000".into()),
        ..Default::default()
    }
}

async fn act(w: &World, id: i64, who: &str, action: CaseAction, opinion: Option<&str>) -> CaseView {
    let mut r = ActionRequest::new(action);
    r.opinion = opinion.map(str::to_string);
    match w.service.act(id, r, &w.actor(who)).await {
        Ok(v) => v,
        Err(e) => panic!("{who} could not act on case {id}: {e:?}"),
    }
}

fn state(v: &CaseView) -> CaseState {
    v.case.data.snapshot.state
}

async fn full_loop_with_every_side_branch(w: &World) {
    let s = &w.service;
    let v = s
        .intake(report("01001"), &w.actor("clerk"), None)
        .await
        .unwrap();
    let id = v.case.id;
    assert_eq!(state(&v), CaseState::Reported);
    assert_eq!(v.case.number.as_str(), "YT20260310000001");
    assert_eq!(
        v.case.data.snapshot.center_department, "JB-CENTER",
        "street center manages"
    );
    assert_eq!(v.case.data.area_code.as_deref(), Some("360602001"));
    assert!(v.allowed.contains(&CaseActionKind::RequestVerify));
    assert_eq!(v.flow.len(), 1);
    let insp = w.user("inspector").id;

    // verify → register → dispatch → accept
    let v = act(
        w,
        id,
        "clerk",
        CaseAction::RequestVerify {
            inspector: Some(insp),
        },
        None,
    )
    .await;
    assert_eq!(state(&v), CaseState::AwaitingVerification);
    assert_eq!(v.timer.as_ref().unwrap().clock, Clock::Verify);
    let v = act(
        w,
        id,
        "inspector",
        CaseAction::Verify { confirmed: true },
        None,
    )
    .await;
    assert_eq!(state(&v), CaseState::AwaitingRegistration);
    let v = act(w, id, "leader_shift", CaseAction::Register, None).await;
    assert_eq!(state(&v), CaseState::Registered);
    let v = act(
        w,
        id,
        "dispatcher",
        CaseAction::Dispatch {
            department: "YH-CGJ".into(),
            user: None,
        },
        None,
    )
    .await;
    assert_eq!(state(&v), CaseState::Dispatched);
    let last = v.flow.last().unwrap();
    assert!(
        last.record.detail["reason"]
            .as_str()
            .unwrap()
            .contains("no responsibility rule"),
        "{:?}",
        last.record.detail
    );
    let timer = v.timer.clone().unwrap();
    assert_eq!(timer.clock, Clock::Dispose);
    assert_eq!(timer.colour, TimerColour::Green);
    // 井盖缺失 is not the condition given, so the urgent fallback: 4 urgent hours
    assert_eq!(timer.deadline, Some(w.now() + Duration::hours(4)));
    let v = act(w, id, "handler", CaseAction::Accept, None).await;
    assert_eq!(state(&v), CaseState::Handling);

    // return needs an opinion: refused with the state and allowed actions
    let e = w
        .service
        .act(
            id,
            ActionRequest::new(CaseAction::Return),
            &w.actor("handler"),
        )
        .await
        .unwrap_err();
    match e {
        CaseError::Refused(r) => {
            assert_eq!(r.reason, RefusalReason::OpinionRequired);
            assert_eq!(r.state, CaseState::Handling);
            assert!(r.allowed.contains(&CaseActionKind::Feedback));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // another department's handler is not the holder
    let e = w
        .service
        .act(
            id,
            ActionRequest::new(CaseAction::Feedback),
            &w.actor("handler2"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, CaseError::Refused(ref r) if r.reason == RefusalReason::NotHolder),
        "{e:?}"
    );
    let v = act(w, id, "handler", CaseAction::Return, Some("不属于我局职责")).await;
    assert_eq!(state(&v), CaseState::ReturnRequested);
    assert_eq!(
        v.flow.last().unwrap().record.opinion.as_deref(),
        Some("不属于我局职责")
    );
    act(
        w,
        id,
        "dispatcher",
        CaseAction::RejectReturn,
        Some("属于城管职责"),
    )
    .await;
    act(w, id, "handler", CaseAction::Accept, None).await;

    // extension: requested by the handler, approved by the dispatcher
    let before = s
        .view(id, &w.actor("handler"))
        .await
        .unwrap()
        .timer
        .unwrap()
        .deadline
        .unwrap();
    act(
        w,
        id,
        "handler",
        CaseAction::RequestExtension {
            extra: TimeLimit::new(1, LimitUnit::UrgentHours),
        },
        Some("需要调配井盖"),
    )
    .await;
    let v = act(
        w,
        id,
        "dispatcher",
        CaseAction::ApproveExtension { extra: None },
        None,
    )
    .await;
    assert_eq!(
        v.timer.unwrap().deadline.unwrap(),
        before + Duration::hours(1)
    );
    assert_eq!(v.case.data.deadline_at, Some(before + Duration::hours(1)));

    // hang / resume: paused clock, deadline moved by the time held
    let v = act(w, id, "dispatcher", CaseAction::Hang, Some("等待供水公司")).await;
    let t = v.timer.unwrap();
    assert!(t.paused);
    assert_eq!(t.deadline, None);
    w.advance(Duration::hours(2));
    let v = act(
        w,
        id,
        "dispatcher",
        CaseAction::Resume,
        Some("供水公司已到场"),
    )
    .await;
    assert_eq!(
        v.timer.unwrap().deadline.unwrap(),
        before + Duration::hours(3)
    );
    let clocks = w.store.case_clocks(id).await.unwrap();
    let dispose = clocks.iter().find(|c| c.clock == Clock::Dispose).unwrap();
    assert_eq!(dispose.held_seconds, 7200);

    // supervision by a higher-tier leader
    let v = act(w, id, "boss", CaseAction::Supervise, Some("请尽快处理")).await;
    assert_eq!(v.case.data.snapshot.supervision_count, 1);

    // feedback → check fails → rework → feedback → check passes → close
    act(w, id, "handler", CaseAction::Feedback, None).await;
    act(
        w,
        id,
        "clerk",
        CaseAction::RequestCheck {
            inspector: Some(insp),
        },
        None,
    )
    .await;
    let v = act(
        w,
        id,
        "inspector",
        CaseAction::CheckFail,
        Some("井盖尺寸不符"),
    )
    .await;
    assert_eq!(state(&v), CaseState::Handling);
    assert_eq!(v.case.data.snapshot.rework_count, 1);
    act(w, id, "handler", CaseAction::Feedback, None).await;
    act(
        w,
        id,
        "clerk",
        CaseAction::RequestCheck {
            inspector: Some(insp),
        },
        None,
    )
    .await;
    act(w, id, "inspector", CaseAction::CheckPass, None).await;
    let v = act(w, id, "dispatcher", CaseAction::Close, None).await;
    assert_eq!(state(&v), CaseState::Closed);
    assert_eq!(v.case.data.snapshot.close_kind, Some(CloseKind::Normal));
    assert!(v.case.data.closed_at.is_some());
    assert!(v.allowed.is_empty());
    let actions: Vec<&str> = v.flow.iter().map(|f| f.record.action.as_str()).collect();
    assert_eq!(actions.first(), Some(&"report"));
    assert_eq!(actions.iter().filter(|a| **a == "check_fail").count(), 1);
    assert!(
        w.store
            .case_clocks(id)
            .await
            .unwrap()
            .iter()
            .all(|c| c.stopped_at.is_some())
    );

    // the cancel branch
    let v = s
        .intake(report("01002"), &w.actor("clerk"), None)
        .await
        .unwrap();
    act(w, v.case.id, "clerk", CaseAction::Receive, None).await;
    let e = w
        .service
        .act(
            v.case.id,
            ActionRequest::new(CaseAction::Cancel),
            &w.actor("leader_shift"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, CaseError::Refused(_)));
    let v = act(
        w,
        v.case.id,
        "leader_shift",
        CaseAction::Cancel,
        Some("重复举报"),
    )
    .await;
    assert_eq!(state(&v), CaseState::Cancelled);

    // self-handle by the department that found it
    let mut own = report("01003");
    own.source = Some(Source::SelfFound);
    let v = s.intake(own, &w.actor("handler"), None).await.unwrap();
    let v = act(w, v.case.id, "handler", CaseAction::SelfHandle, None).await;
    assert_eq!(state(&v), CaseState::Closed);
    assert_eq!(
        v.case.data.snapshot.handling_department.as_deref(),
        Some("YH-CGJ")
    );
}

async fn automatic_dispatch_for_trusted_sources(w: &World) {
    let audit = AuditEvent::new(&Actor::system("test"), "rule", "dispatch_rule", "");
    let rule = w
        .store
        .put_dispatch_rule(
            &DispatchRule {
                id: 0,
                matter_pattern: "01*".into(),
                area_code: "360602".into(),
                department_code: "YH-SZJ".into(),
                priority: 0,
                auto_dispatch: true,
                enabled: true,
                note: Some("井盖归市政".into()),
            },
            &audit,
        )
        .await
        .unwrap();
    w.service.reload().await.unwrap();
    let mut alarm = report("01001");
    alarm.source = Some(Source::IotAlarm);
    alarm.external_id = Some("tilt-0001".into());
    let v = w
        .service
        .intake(alarm.clone(), &w.service.system_actor(), None)
        .await
        .unwrap();
    assert_eq!(state(&v), CaseState::Dispatched);
    assert_eq!(v.case.data.snapshot.holder.department, "YH-SZJ");
    let dispatch = v
        .flow
        .iter()
        .find(|f| f.record.action == "dispatch")
        .unwrap();
    assert_eq!(
        dispatch.record.detail["rule_id"],
        serde_json::json!(rule.id)
    );
    assert!(
        dispatch.record.detail["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("rule #{}", rule.id))
    );
    assert!(v.timer.is_some());
    // the same external id again is a conflict, not a second case
    let e = w
        .service
        .intake(alarm, &w.service.system_actor(), None)
        .await
        .unwrap_err();
    assert!(matches!(e, CaseError::Conflict(_)), "{e:?}");
    // a public report of the same matter is not dispatched automatically
    let v = w
        .service
        .intake(report("01002"), &w.actor("clerk"), None)
        .await
        .unwrap();
    assert_eq!(state(&v), CaseState::Reported);
    let sug = w.service.dispatch_suggestion(v.case.id).await.unwrap();
    assert_eq!(sug.department_code, "YH-SZJ");
}

async fn dedupe_and_merge(w: &World) {
    let s = &w.service;
    let first = s
        .intake(report("01001"), &w.actor("clerk"), None)
        .await
        .unwrap();
    w.advance(Duration::hours(1));
    let mut near = report("01001");
    near.lat = Some(IN_STREET.1 + 0.0003); // ≈ 33 m north
    near.reporter_name = Some("李四".into());
    let second = s.intake(near, &w.actor("clerk"), None).await.unwrap();
    assert_eq!(second.case.data.likely_duplicate_of, Some(first.case.id));
    let mut far = report("01001");
    far.lat = Some(IN_STREET.1 + 0.001); // ≈ 111 m
    let third = s.intake(far, &w.actor("clerk"), None).await.unwrap();
    assert_eq!(third.case.data.likely_duplicate_of, None);
    let mut other = report("01002");
    other.lat = Some(IN_STREET.1 + 0.0001);
    assert_eq!(
        s.intake(other, &w.actor("clerk"), None)
            .await
            .unwrap()
            .case
            .data
            .likely_duplicate_of,
        None
    );

    // merge the earlier case into the later one: the earliest time is kept
    let merged = s
        .merge(
            first.case.id,
            second.case.id,
            &w.actor("clerk"),
            Some("同一井盖".into()),
        )
        .await
        .unwrap();
    assert_eq!(merged.reporters.len(), 2);
    assert_eq!(merged.case.data.reported_at, first.case.data.reported_at);
    let dup = w.store.case(first.case.id).await.unwrap().unwrap();
    assert_eq!(dup.data.snapshot.state, CaseState::Closed);
    assert_eq!(dup.data.snapshot.close_kind, Some(CloseKind::Erroneous));
    assert_eq!(dup.data.duplicate_of, Some(second.case.id));
    // a handler may not merge
    assert!(
        s.merge(third.case.id, second.case.id, &w.actor("handler"), None)
            .await
            .is_err()
    );
}

async fn timers_fire_once_across_a_restart_and_appeal(w: &World) {
    let s = &w.service;
    let v = s
        .intake(report("01001"), &w.actor("clerk"), None)
        .await
        .unwrap();
    let id = v.case.id;
    act(w, id, "clerk", CaseAction::Receive, None).await;
    act(w, id, "leader_shift", CaseAction::Register, None).await;
    act(
        w,
        id,
        "dispatcher",
        CaseAction::Dispatch {
            department: "YH-CGJ".into(),
            user: None,
        },
        None,
    )
    .await;
    // 4 urgent hours: 80 % at 3h12m
    w.advance(Duration::minutes(193));
    let r = s.sweep(w.now()).await.unwrap();
    assert_eq!((r.warned, r.overdue), (1, 0), "{r:?}");
    assert_eq!(s.sweep(w.now()).await.unwrap().warned, 0, "warned once");
    let view = s.view(id, &w.actor("handler")).await.unwrap();
    assert_eq!(view.timer.unwrap().colour, TimerColour::Yellow);
    assert!(!view.allowed.contains(&CaseActionKind::Appeal));

    // the server is down past the deadline; a new service sweeps once
    w.advance(Duration::hours(2));
    let restarted = w.restart().await;
    let r = restarted.sweep(w.now()).await.unwrap();
    assert_eq!(r.overdue, 1, "{r:?}");
    let r = restarted.sweep(w.now()).await.unwrap();
    assert_eq!(r.overdue, 0);
    let again = w.restart().await;
    assert_eq!(again.sweep(w.now()).await.unwrap().overdue, 0);
    let view = s.view(id, &w.actor("handler")).await.unwrap();
    assert!(view.case.data.snapshot.overdue);
    assert_eq!(view.case.data.snapshot.supervision_count, 1);
    let supervisions: Vec<_> = view
        .flow
        .iter()
        .filter(|f| f.record.action == "supervise")
        .collect();
    assert_eq!(supervisions.len(), 1);
    assert_eq!(supervisions[0].record.actor_user, None, "by the system");
    assert_eq!(view.timer.unwrap().colour, TimerColour::Red);

    // appeal against the timeout, upheld
    assert!(view.allowed.contains(&CaseActionKind::Appeal));
    act(
        w,
        id,
        "handler",
        CaseAction::Appeal,
        Some("暴雨导致无法施工"),
    )
    .await;
    let v = act(
        w,
        id,
        "leader_shift",
        CaseAction::DecideAppeal { upheld: true },
        None,
    )
    .await;
    assert!(!v.case.data.snapshot.overdue);
}

async fn idempotency_and_bad_input(w: &World) {
    let s = &w.service;
    let clerk = w.actor("clerk");
    let a = s
        .intake(report("01001"), &clerk, Some("k-1"))
        .await
        .unwrap();
    let b = s
        .intake(report("01001"), &clerk, Some("k-1"))
        .await
        .unwrap();
    assert_eq!(a.case.id, b.case.id);
    assert_eq!(w.store.count_cases(&Default::default()).await.unwrap(), 1);
    let e = s
        .intake(report("01002"), &clerk, Some("k-1"))
        .await
        .unwrap_err();
    assert!(matches!(e, CaseError::Conflict(_)), "{e:?}");

    let e = s
        .intake(
            NewCase {
                description: "有问题".into(),
                ..Default::default()
            },
            &clerk,
            None,
        )
        .await
        .unwrap_err();
    match e {
        CaseError::Invalid(v) => assert_eq!(v.problems[0].field, "location", "{v:?}"),
        other => panic!("{other:?}"),
    }
    let e = s.intake(report("99999"), &clerk, None).await.unwrap_err();
    match e {
        CaseError::Invalid(v) => assert!(v.problems[0].message.contains("99999"), "{v:?}"),
        other => panic!("{other:?}"),
    }
    let mut outside = report("01001");
    outside.lon = Some(120.0);
    let e = s.intake(outside, &clerk, None).await.unwrap_err();
    match e {
        CaseError::Invalid(v) => assert!(
            v.problems[0].message.contains("outside every area"),
            "{v:?}"
        ),
        other => panic!("{other:?}"),
    }
    // An address alone that names no area of the city is refused, saying so.
    let e = s
        .intake(
            NewCase {
                description: "路灯不亮".into(),
                address: Some("北京市朝阳区某路".into()),
                ..Default::default()
            },
            &clerk,
            None,
        )
        .await
        .unwrap_err();
    match e {
        CaseError::Invalid(v) => assert_eq!(v.problems[0].field, "address", "{v:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        w.store.count_cases(&Default::default()).await.unwrap(),
        1,
        "nothing half stored"
    );
    // An address in the city locates the case to its street (地址 → 街道).
    let by_address = s
        .intake(
            NewCase {
                description: "井盖缺失".into(),
                matter_code: Some("01001".into()),
                address: Some("月湖区江边街道人民路口".into()),
                ..Default::default()
            },
            &clerk,
            None,
        )
        .await
        .unwrap();
    assert_eq!(by_address.case.data.area_code.as_deref(), Some("360602001"));
    assert_eq!(
        by_address.case.data.district_code.as_deref(),
        Some("360602")
    );
}

both!(
    full_loop_with_every_side_branch,
    automatic_dispatch_for_trusted_sources,
    dedupe_and_merge,
    timers_fire_once_across_a_restart_and_appeal,
    idempotency_and_bad_input,
);
