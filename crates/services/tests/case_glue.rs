//! The case loop's roll-up, bulk intake and glue on SQLite and PostgreSQL:
//! evaluation from the daily roll-up equals the raw statistics rows for any
//! period; intake_many stores each case whole and flags duplicates within a
//! batch; merge refused for permission; list lights turn yellow from clock
//! rows; overdue escalation up one tier; the 漏报 counter; a classifier
//! learnt from stored cases.

mod case_support;

use case_support::{IN_STREET, World};
use chengyun_domain::audit::{Actor, AuditEvent};
use chengyun_domain::case::calendar::TimerColour;
use chengyun_domain::case::workflow::{ActionRequest, CaseAction, Source};
use chengyun_domain::city::{Position, ResponsibilityGrid, Staff};
use chengyun_domain::standard::Catalogue;
use chengyun_services::case::{
    CaseError, EvaluationGroup, EvaluationQuery, NewCase, settings_keys,
};
use chengyun_store::{DispatchRule, StatGroup, StatQuery};
use chrono::{Duration, TimeZone, Utc};
use geo_types::{LineString, MultiPolygon, Polygon};

fn report(matter: &str, source: Source, dx: f64) -> NewCase {
    NewCase {
        title: "井盖缺失".into(),
        description: "人民路口供水井盖不见了".into(),
        matter_code: Some(matter.into()),
        source: Some(source),
        lon: Some(IN_STREET.0 + dx),
        lat: Some(IN_STREET.1),
        ..Default::default()
    }
}

fn audit() -> AuditEvent {
    AuditEvent::new(&Actor::system("test"), "setup", "test", "")
}

async fn act(w: &World, id: i64, who: &str, action: CaseAction) {
    w.service
        .act(id, ActionRequest::new(action), &w.actor(who))
        .await
        .unwrap_or_else(|e| panic!("{who}: {e:?}"));
}

async fn auto_rule(w: &World) {
    w.store
        .put_dispatch_rule(
            &DispatchRule {
                id: 0,
                matter_pattern: "01*".into(),
                area_code: "360602".into(),
                department_code: "YH-SZJ".into(),
                priority: 0,
                auto_dispatch: true,
                enabled: true,
                note: None,
            },
            &audit(),
        )
        .await
        .unwrap();
    w.service.reload().await.unwrap();
}

async fn rollup_equals_raw_rows(w: &World) {
    auto_rule(w).await;
    let s = &w.service;
    // cases over five days at uneven hours, some auto-dispatched, some registered
    for day in 0..5i64 {
        for k in 0..4i64 {
            w.set_now(case_support::t0() + Duration::days(day) + Duration::hours(k * 5 + day));
            let source = if k % 2 == 0 {
                Source::IotAlarm
            } else {
                Source::Public
            };
            let v = s
                .intake(
                    report("01001", source, (day * 4 + k) as f64 * 0.001),
                    &w.actor("clerk"),
                    None,
                )
                .await
                .unwrap();
            if source == Source::Public && k == 1 {
                act(w, v.case.id, "clerk", CaseAction::Receive).await;
                act(w, v.case.id, "leader_shift", CaseAction::Register).await;
            }
        }
    }
    let t = |d: i64, h: i64| case_support::t0() + Duration::days(d) + Duration::hours(h);
    let midnight = Utc.with_ymd_and_hms(2026, 3, 11, 0, 0, 0).unwrap();
    let periods = [
        (None, None),
        (Some(t(1, 3)), Some(t(3, 7))),
        (Some(midnight), Some(midnight + Duration::days(2))),
        (Some(t(2, 1)), Some(t(2, 9))),
        (Some(t(1, 0)), None),
        (None, Some(t(4, 0) + Duration::minutes(1))),
    ];
    for (from, to) in periods {
        for group in [
            StatGroup::Total,
            StatGroup::Department,
            StatGroup::User,
            StatGroup::AreaPrefix(9),
            StatGroup::Day,
        ] {
            let q = StatQuery {
                from,
                to,
                ..Default::default()
            };
            let rolled = w.store.stat_totals(&q, group).await.unwrap();
            let raw = w.store.stat_totals_raw(&q, group).await.unwrap();
            assert_eq!(rolled, raw, "{from:?}..{to:?} by {group:?}");
        }
        let report = s
            .evaluate(&EvaluationQuery {
                from,
                to,
                group: EvaluationGroup::Department,
                ..Default::default()
            })
            .await
            .unwrap();
        let raw = w
            .store
            .stat_totals_raw(
                &StatQuery {
                    from,
                    to,
                    ..Default::default()
                },
                StatGroup::Total,
            )
            .await
            .unwrap();
        assert_eq!(report.total, raw[0].counters);
    }
    let all = w
        .store
        .stat_totals(&StatQuery::default(), StatGroup::Total)
        .await
        .unwrap();
    assert_eq!(all[0].counters.reported, 20);
}

async fn intake_many_group_commit(w: &World) {
    let s = &w.service;
    let mut repeated = report("01002", Source::Hotline, 0.01);
    repeated.external_id = Some("hl-1".into());
    let cases = vec![
        report("01001", Source::Public, 0.0),
        report("99999", Source::Public, 0.0), // unknown matter
        report("01001", Source::Public, 0.0001), // ~10 m from the first
        repeated.clone(),
        repeated,
    ];
    let out = s.intake_many(cases, &w.actor("clerk")).await.unwrap();
    assert_eq!(out.len(), 5);
    let first = out[0].as_ref().unwrap();
    assert!(matches!(out[1], Err(CaseError::Invalid(_))));
    let near = out[2].as_ref().unwrap();
    assert_eq!(near.case.data.likely_duplicate_of, Some(first.case.id));
    assert!(out[3].is_ok());
    assert!(
        matches!(out[4], Err(CaseError::Conflict(_))),
        "{:?}",
        out[4].as_ref().err()
    );
    // the answered view equals the stored one
    let stored = s.view(near.case.id, &w.actor("clerk")).await.unwrap();
    assert_eq!(stored.case, near.case);
    assert_eq!(stored.flow, near.flow);
    assert_eq!(stored.reporters, near.reporters);
    let n = w.store.count_cases(&Default::default()).await.unwrap();
    assert_eq!(n, 3);
}

async fn merge_refused_for_permission(w: &World) {
    let s = &w.service;
    let a = s
        .intake(
            report("01001", Source::Public, 0.0),
            &w.actor("clerk"),
            None,
        )
        .await
        .unwrap();
    let b = s
        .intake(
            report("01001", Source::Public, 0.0),
            &w.actor("clerk"),
            None,
        )
        .await
        .unwrap();
    match s
        .merge(a.case.id, b.case.id, &w.actor("handler"), None)
        .await
    {
        Err(CaseError::Refused(r)) => {
            assert_eq!(r.state, b.case.data.snapshot.state);
            assert!(r.message.contains("may merge"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn list_lights_turn_yellow(w: &World) {
    auto_rule(w).await;
    let s = &w.service;
    let v = s
        .intake(
            report("01001", Source::IotAlarm, 0.0),
            &s.system_actor(),
            None,
        )
        .await
        .unwrap();
    let viewer = w.actor("dispatcher");
    let list_colour = || async {
        let page = s
            .list(
                &Default::default(),
                &chengyun_domain::page::PageRequest::first(10),
            )
            .await
            .unwrap();
        page.items
            .iter()
            .find(|c| c.id == v.case.id)
            .unwrap()
            .colour
    };
    assert_eq!(list_colour().await, Some(TimerColour::Green));
    let mut seen_yellow = false;
    for _ in 0..2_000 {
        w.advance(Duration::minutes(15));
        let view = s.view(v.case.id, &viewer).await.unwrap();
        let colour = view.timer.unwrap().colour;
        assert_eq!(list_colour().await, Some(colour), "list and detail agree");
        if colour == TimerColour::Yellow {
            seen_yellow = true;
            break;
        }
    }
    assert!(seen_yellow, "the light turns yellow at 80 %");
}

async fn overdue_escalates_one_tier(w: &World) {
    auto_rule(w).await;
    let s = &w.service;
    w.store
        .put_setting(
            settings_keys::ESCALATION,
            &serde_json::json!({ "escalate_overdue": true }),
            &audit(),
        )
        .await
        .unwrap();
    s.reload().await.unwrap();
    let v = s
        .intake(
            report("01001", Source::IotAlarm, 0.0),
            &s.system_actor(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(v.case.data.snapshot.center_department, "JB-CENTER");
    w.advance(Duration::days(60));
    s.sweep(w.now()).await.unwrap();
    let c = w.store.case(v.case.id).await.unwrap().unwrap();
    assert_eq!(
        c.data.snapshot.center_department, "YH-CENTER",
        "street → district"
    );
    assert!(c.data.snapshot.overdue);
    let flow = w.store.flow_records(v.case.id).await.unwrap();
    assert!(flow.iter().any(|f| f.record.action == "escalate"));
    // swept again: nothing more (the overdue mark fires once)
    s.sweep(w.now()).await.unwrap();
    let again = w.store.case(v.case.id).await.unwrap().unwrap();
    assert_eq!(again.data.snapshot.center_department, "YH-CENTER");
}

async fn missed_reports_count_for_the_grid_inspector(w: &World) {
    let square = |x0: f64, y0: f64, x1: f64, y1: f64| {
        MultiPolygon(vec![Polygon::new(
            LineString::from(vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]),
            vec![],
        )])
    };
    w.store
        .upsert_staff(
            &[Staff {
                code: "S-INSP".into(),
                name: "巡查员".into(),
                department_code: "JB-CENTER".into(),
                position: Position::Inspector,
                phone: None,
                username: Some("inspector".into()),
            }],
            &audit(),
        )
        .await
        .unwrap();
    w.store
        .upsert_responsibility_grids(
            &[ResponsibilityGrid {
                code: "RG-1".into(),
                name: "人民路".into(),
                department_code: Some("JB-CENTER".into()),
                staff_code: Some("S-INSP".into()),
                boundary: square(117.01, 28.21, 117.03, 28.23),
            }],
            &audit(),
        )
        .await
        .unwrap();
    let s = &w.service;
    s.reload().await.unwrap();
    let inspector = w.user("inspector").id;
    let missed = || async {
        w.store
            .stat_totals(
                &StatQuery {
                    user_id: Some(inspector),
                    ..Default::default()
                },
                StatGroup::Total,
            )
            .await
            .unwrap()[0]
            .counters
            .missed
    };
    // a public report nobody from inspection reported: missed once registered
    let p = s
        .intake(
            report("01001", Source::Public, 0.0),
            &w.actor("clerk"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(missed().await, 0, "not before 立案");
    act(w, p.case.id, "clerk", CaseAction::Receive).await;
    act(w, p.case.id, "leader_shift", CaseAction::Register).await;
    assert_eq!(missed().await, 1);
    // the inspector reported this one first: not missed
    s.intake(
        report("01002", Source::Inspector, 0.0),
        &w.actor("inspector"),
        None,
    )
    .await
    .unwrap();
    w.advance(Duration::hours(1));
    let q = s
        .intake(
            report("01002", Source::Public, 0.0001),
            &w.actor("clerk"),
            None,
        )
        .await
        .unwrap();
    act(w, q.case.id, "clerk", CaseAction::Receive).await;
    act(w, q.case.id, "leader_shift", CaseAction::Register).await;
    assert_eq!(missed().await, 1);
    // outside the grid: nobody's miss
    let r = s
        .intake(
            report("01003", Source::Public, 0.02),
            &w.actor("clerk"),
            None,
        )
        .await
        .unwrap();
    act(w, r.case.id, "clerk", CaseAction::Receive).await;
    act(w, r.case.id, "leader_shift", CaseAction::Register).await;
    assert_eq!(missed().await, 1);
}

async fn classifier_learns_from_stored_cases(w: &World) {
    let s = &w.service;
    for _ in 0..3 {
        let mut c = report("06013", Source::Public, 0.0);
        c.title = "噗噗怪声".into();
        c.description = "噗噗怪声扰民".into();
        s.intake(c, &w.actor("clerk"), None).await.unwrap();
    }
    let (learnt, rep) = s
        .with_learnt_classifier(&Catalogue::national(), 2)
        .await
        .unwrap();
    assert_eq!(rep.read, 2, "bounded to the newest 2");
    assert_eq!(rep.learnt, 2);
    let v = learnt
        .intake(
            NewCase {
                description: "噗噗怪声".into(),
                lon: Some(IN_STREET.0),
                lat: Some(IN_STREET.1),
                ..Default::default()
            },
            &w.actor("clerk"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        v.suggestions.first().map(|m| m.code.as_str()),
        Some("06013")
    );
}

both!(
    rollup_equals_raw_rows,
    intake_many_group_commit,
    merge_refused_for_permission,
    list_lights_turn_yellow,
    overdue_escalates_one_tier,
    missed_reports_count_for_the_grid_inspector,
    classifier_learns_from_stored_cases,
);
