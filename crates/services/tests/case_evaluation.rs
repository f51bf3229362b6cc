//! Evaluation numbers equal hand-computed ones for two cases, on both backends.

mod case_support;

use case_support::{IN_STREET, World};
use chengyun_domain::case::evaluation::Grade;
use chengyun_domain::case::workflow::{ActionRequest, CaseAction, Source};
use chengyun_domain::codes::AreaLevel;
use chengyun_services::case::{EvaluationGroup, EvaluationQuery, NewCase};
use chrono::Duration;

async fn act(w: &World, id: i64, who: &str, action: CaseAction) {
    let mut r = ActionRequest::new(action);
    r.opinion = Some("意见".into());
    w.service.act(id, r, &w.actor(who)).await.unwrap();
}

async fn run_loop(w: &World, source: Source, reporter: &str, rework: bool) {
    let new = NewCase {
        description: "井盖缺失".into(),
        matter_code: Some("01001".into()),
        source: Some(source),
        lon: Some(IN_STREET.0),
        lat: Some(IN_STREET.1),
        ..Default::default()
    };
    let id = w
        .service
        .intake(new, &w.actor(reporter), None)
        .await
        .unwrap()
        .case
        .id;
    let insp = Some(w.user("inspector").id);
    act(w, id, "clerk", CaseAction::Receive).await;
    act(w, id, "leader_shift", CaseAction::Register).await;
    act(
        w,
        id,
        "dispatcher",
        CaseAction::Dispatch {
            department: "YH-CGJ".into(),
            user: None,
        },
    )
    .await;
    act(w, id, "handler", CaseAction::Accept).await;
    act(w, id, "handler", CaseAction::Feedback).await;
    act(w, id, "clerk", CaseAction::RequestCheck { inspector: insp }).await;
    if rework {
        act(w, id, "inspector", CaseAction::CheckFail).await;
        act(w, id, "handler", CaseAction::Feedback).await;
        act(w, id, "clerk", CaseAction::RequestCheck { inspector: insp }).await;
    }
    act(w, id, "inspector", CaseAction::CheckPass).await;
    act(w, id, "dispatcher", CaseAction::Close).await;
}

async fn evaluation_by_hand(w: &World) {
    run_loop(w, Source::Inspector, "inspector", false).await;
    run_loop(w, Source::Public, "clerk", true).await;
    // a third case only reported
    let new = NewCase {
        matter_code: Some("01002".into()),
        lon: Some(IN_STREET.0),
        lat: Some(IN_STREET.1),
        ..Default::default()
    };
    w.service
        .intake(new, &w.actor("clerk"), None)
        .await
        .unwrap();

    let s = &w.service;
    let h = s.headline(None, None, Some("3606".into())).await.unwrap();
    assert_eq!((h.reported, h.handled), (3, 2));
    assert!((h.completion_rate.unwrap() - 200.0 / 3.0).abs() < 1e-9);

    let r = s
        .evaluate(&EvaluationQuery {
            group: EvaluationGroup::Department,
            ..Default::default()
        })
        .await
        .unwrap();
    let cgj = r.rows.iter().find(|r| r.key == "YH-CGJ").unwrap();
    let c = cgj.counters;
    assert_eq!(
        (
            c.needs_disposal,
            c.disposed,
            c.disposed_in_time,
            c.needs_closing,
            c.rework,
            c.closed,
            c.closed_in_time
        ),
        (2, 2, 2, 2, 1, 2, 2)
    );
    let d = cgj.department.as_ref().unwrap();
    // volume 2 → 60; 处置率 100; 按期 100; 返工率 50 → 50 points:
    // 60×10% + 100×30% + 100×30% + 50×30% = 81 → B
    assert!(
        (d.score.total.unwrap() - 81.0).abs() < 1e-9,
        "{:?}",
        d.score
    );
    assert_eq!(d.score.grade, Some(Grade::B));
    assert_eq!(cgj.name.as_deref(), Some("月湖区城管局"));

    let r = s
        .evaluate(&EvaluationQuery {
            group: EvaluationGroup::Area {
                level: AreaLevel::District,
            },
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(r.rows.len(), 1);
    let a = &r.rows[0];
    assert_eq!(a.key, "360602");
    // 监督举报率: 1 inspector report of 2 registered
    assert_eq!(a.area.supervision_report_rate, Some(50.0));
    assert_eq!(a.area.close_rate, Some(100.0));
    assert_eq!(r.total.reported, 3);

    // per person: the dispatcher dispatched 2 in time
    let r = s
        .evaluate(&EvaluationQuery {
            group: EvaluationGroup::Position,
            ..Default::default()
        })
        .await
        .unwrap();
    let disp = w.user("dispatcher").id.to_string();
    let row = r.rows.iter().find(|r| r.key == disp).unwrap();
    assert_eq!(
        (row.counters.dispatched, row.counters.dispatched_in_time),
        (2, 2)
    );
    assert_eq!(row.positions.len(), 1);
    let csv = r.to_csv();
    assert!(
        csv.lines().count() >= 3 && csv.contains("dispatcher:"),
        "{csv}"
    );

    // a period before anything happened is empty
    let before = EvaluationQuery {
        to: Some(case_support::t0() - Duration::days(1)),
        ..Default::default()
    };
    assert_eq!(s.evaluate(&before).await.unwrap().total.reported, 0);
    assert!(
        s.evaluate(&EvaluationQuery {
            from: Some(case_support::t0()),
            to: Some(case_support::t0()),
            ..Default::default()
        })
        .await
        .is_err()
    );
}

both!(evaluation_by_hand);
