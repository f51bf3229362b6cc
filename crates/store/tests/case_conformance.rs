//! CaseStore conformance on SQLite and PostgreSQL (fresh file / fresh schema
//! per test; PostgreSQL at CHENGYUN_TEST_DATABASE_URL, never skipped).

#[macro_use]
mod support;

use chengyun_domain::audit::{Actor, AuditEvent};
use chengyun_domain::case::Urgency;
use chengyun_domain::case::evaluation::StageCounters;
use chengyun_domain::case::workflow::{CaseSnapshot, CaseState, Source, Stage};
use chengyun_domain::city::Tier;
use chengyun_store::{
    CaseChanges, CaseData, CaseSave, Database, NewCaseWrite, NewStatRow, StatGroup, StatQuery,
    StoreError, Webhook,
};
use chrono::{NaiveDate, TimeZone, Utc};

fn audit() -> AuditEvent {
    AuditEvent::new(&Actor::system("test"), "test", "case", "")
}

fn data(ext: Option<&str>) -> CaseData {
    CaseData {
        title: "t".into(),
        description: "d".into(),
        matter_code: Some("01001".into()),
        condition: None,
        source: Source::IotAlarm,
        urgency: Urgency::Normal,
        lon: Some(117.02),
        lat: Some(28.22),
        address: None,
        grid_code: None,
        area_code: Some("360602001".into()),
        district_code: Some("360602".into()),
        component_id: None,
        device_id: None,
        external_id: ext.map(str::to_string),
        reporter_user: None,
        snapshot: CaseSnapshot::reported(Source::IotAlarm, Urgency::Normal, "C", Tier::Street),
        duplicate_of: None,
        likely_duplicate_of: None,
        reported_at: Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap(),
        registered_at: None,
        dispatched_at: None,
        disposed_at: None,
        closed_at: None,
        deadline_at: None,
    }
}

fn write(ext: Option<&str>, day: u32) -> NewCaseWrite {
    let stat = NewStatRow {
        stage: Stage::InformationCollection,
        at: Utc.with_ymd_and_hms(2026, 3, day, 2, 0, 0).unwrap(),
        department_code: Some("C".into()),
        user_id: Some(7),
        area_code: Some("360602001".into()),
        counters: StageCounters {
            reported: 1,
            closed: u64::from(day % 2),
            ..Default::default()
        },
    };
    NewCaseWrite {
        data: data(ext),
        number_prefix: "YT".into(),
        number_date: NaiveDate::from_ymd_opt(2026, 3, 10).unwrap(),
        changes: CaseChanges {
            stats: vec![stat],
            ..Default::default()
        },
        idempotency: None,
    }
}

async fn cases_numbers_versions_and_atomic_import(s: &dyn Database) {
    let a = s
        .create_case(&write(Some("x1"), 10), &audit())
        .await
        .unwrap();
    let b = s.create_case(&write(None, 11), &audit()).await.unwrap();
    assert_eq!(a.number.as_str(), "YT20260310000001");
    assert_eq!(b.number.as_str(), "YT20260310000002");
    assert!(matches!(
        s.create_case(&write(Some("x1"), 10), &audit()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.case_by_external_id(Source::IotAlarm, "x1")
            .await
            .unwrap()
            .unwrap()
            .id,
        a.id
    );
    // an import with one bad row stores nothing
    let before = s.count_cases(&Default::default()).await.unwrap();
    let e = s
        .import_cases(&[write(Some("y1"), 12), write(Some("x1"), 12)], &audit())
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict(ref m) if m.starts_with("[1]")),
        "{e:?}"
    );
    assert_eq!(s.count_cases(&Default::default()).await.unwrap(), before);
    // optimistic versions
    let mut d = a.data.clone();
    d.snapshot.state = CaseState::Cancelled;
    let save = CaseSave {
        id: a.id,
        expected_version: a.version,
        data: d,
        changes: Default::default(),
    };
    let saved = s
        .save_cases(std::slice::from_ref(&save), &audit())
        .await
        .unwrap();
    assert_eq!(saved[0].version, a.version + 1);
    assert!(matches!(
        s.save_cases(&[save], &audit()).await,
        Err(StoreError::Conflict(_))
    ));
    let open = chengyun_store::CaseQuery {
        open: Some(true),
        ..Default::default()
    };
    assert_eq!(s.count_cases(&open).await.unwrap(), 1);
    let text = chengyun_store::CaseQuery {
        text: Some("YT20260310000002".into()),
        ..Default::default()
    };
    assert_eq!(
        s.list_cases(&text, &chengyun_domain::page::PageRequest::first(10))
            .await
            .unwrap()
            .items[0]
            .id,
        b.id
    );
}

async fn stat_sums_group_in_sql(s: &dyn Database) {
    s.create_case(&write(None, 10), &audit()).await.unwrap();
    s.create_case(&write(None, 11), &audit()).await.unwrap();
    s.create_case(&write(None, 11), &audit()).await.unwrap();
    let q = StatQuery::default();
    let total = s.stat_totals(&q, StatGroup::Total).await.unwrap();
    assert_eq!(
        (total[0].counters.reported, total[0].counters.closed),
        (3, 2)
    );
    let days = s.stat_totals(&q, StatGroup::Day).await.unwrap();
    let keys: Vec<_> = days
        .iter()
        .map(|d| (d.key.clone().unwrap(), d.counters.reported))
        .collect();
    assert_eq!(
        keys,
        vec![("2026-03-10".into(), 1), ("2026-03-11".into(), 2)]
    );
    let users = s.stat_totals(&q, StatGroup::User).await.unwrap();
    assert_eq!(users[0].key.as_deref(), Some("7"));
    let q = StatQuery {
        within: Some("360603".into()),
        ..Default::default()
    };
    assert_eq!(
        s.stat_totals(&q, StatGroup::Total).await.unwrap()[0]
            .counters
            .reported,
        0
    );
    let streets = s
        .stat_totals(&StatQuery::default(), StatGroup::AreaPrefix(9))
        .await
        .unwrap();
    assert_eq!(streets[0].key.as_deref(), Some("360602001"));
}

async fn settings_idempotency_and_webhooks(s: &dyn Database) {
    assert_eq!(s.setting("k").await.unwrap(), None);
    s.put_setting("k", &serde_json::json!({"a": 1}), &audit())
        .await
        .unwrap();
    s.put_setting("k", &serde_json::json!({"a": 2}), &audit())
        .await
        .unwrap();
    assert_eq!(
        s.setting("k").await.unwrap(),
        Some(serde_json::json!({"a": 2}))
    );
    let key = chengyun_store::IdempotencyKey {
        user_id: 3,
        key: "k".into(),
        request_hash: "h".into(),
    };
    s.put_idempotency(&key, &serde_json::json!({"case_id": 1}))
        .await
        .unwrap();
    assert!(matches!(
        s.put_idempotency(&key, &serde_json::json!({})).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.idempotency(3, "k").await.unwrap().unwrap().response["case_id"],
        1
    );
    let hook = s
        .put_webhook(
            &Webhook {
                id: 0,
                url: "https://example.invalid/h".into(),
                secret: "0123456789abcdef".into(),
                event_filter: "case.".into(),
                enabled: true,
                created_by: None,
            },
            &audit(),
        )
        .await
        .unwrap();
    let now = Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap();
    assert_eq!(
        s.enqueue_deliveries("city.changed.areas", &serde_json::json!({}), now)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.enqueue_deliveries("case.changed.created", &serde_json::json!({"n": 1}), now)
            .await
            .unwrap(),
        1
    );
    let due = s.due_deliveries(now, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    s.record_delivery_attempt(
        due[0].id,
        now,
        Some("503"),
        Some(now + chrono::Duration::minutes(1)),
    )
    .await
    .unwrap();
    assert!(s.due_deliveries(now, 10).await.unwrap().is_empty());
    let later = now + chrono::Duration::minutes(2);
    let due = s.due_deliveries(later, 10).await.unwrap();
    assert_eq!(due[0].attempts, 1);
    s.record_delivery_attempt(due[0].id, later, None, None)
        .await
        .unwrap();
    assert!(s.due_deliveries(later, 10).await.unwrap().is_empty());
    s.delete_webhook(hook.id, &audit()).await.unwrap();
    assert!(s.webhooks().await.unwrap().is_empty());
    let bad = Webhook {
        id: 0,
        url: "ftp://x".into(),
        secret: "0123456789abcdef".into(),
        event_filter: "*".into(),
        enabled: true,
        created_by: None,
    };
    assert!(matches!(
        s.put_webhook(&bad, &audit()).await,
        Err(StoreError::Invalid(_))
    ));
}

/// Several server processes poll one database: each due delivery is claimed
/// by one of them, and comes due again when its lease ends.
async fn webhook_deliveries_are_claimed_once(s: &dyn Database) {
    s.put_webhook(
        &Webhook {
            id: 0,
            url: "http://127.0.0.1:9/h".into(),
            secret: "0123456789abcdef".into(),
            event_filter: "*".into(),
            enabled: true,
            created_by: None,
        },
        &audit(),
    )
    .await
    .unwrap();
    let now = Utc.with_ymd_and_hms(2026, 3, 10, 2, 0, 0).unwrap();
    for i in 0..60 {
        s.enqueue_deliveries("case.changed.created", &serde_json::json!({ "i": i }), now)
            .await
            .unwrap();
    }
    let lease = now + chrono::Duration::minutes(5);
    // Two claimers racing, 7 rows a round each, until nothing is due.
    let claimer = || async {
        let mut got = Vec::new();
        loop {
            let round = s.claim_due_deliveries(now, lease, 7).await.unwrap();
            if round.is_empty() {
                return got;
            }
            assert!(round.len() <= 7);
            assert!(round.windows(2).all(|w| w[0].id < w[1].id));
            got.extend(round.into_iter().map(|d| d.id));
        }
    };
    let (a, b) = tokio::join!(claimer(), claimer());
    let mut all: Vec<i64> = a.iter().chain(b.iter()).copied().collect();
    all.sort_unstable();
    let before = all.len();
    all.dedup();
    assert_eq!(before, all.len(), "a delivery was claimed twice");
    assert_eq!(all.len(), 60);
    // Claimed rows are not due (for anyone) until the lease ends.
    assert!(s.due_deliveries(now, 100).await.unwrap().is_empty());
    s.record_delivery_attempt(all[0], now, None, None)
        .await
        .unwrap();
    let after = lease + chrono::Duration::seconds(1);
    let again = s.claim_due_deliveries(after, after, 100).await.unwrap();
    assert_eq!(again.len(), 59, "the delivered one stays delivered");
    assert_eq!(again[0].id, all[1]);
}

async fn matters_reported_since_a_time(s: &dyn Database) {
    let mut early = write(None, 10);
    early.data.matter_code = Some("02003".into());
    early.data.reported_at = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
    s.create_case(&early, &audit()).await.unwrap();
    let mut none = write(None, 10);
    none.data.matter_code = None;
    s.create_case(&none, &audit()).await.unwrap();
    for _ in 0..2 {
        s.create_case(&write(None, 10), &audit()).await.unwrap();
    }
    let since = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap();
    assert_eq!(
        s.matters_reported_since(since(2026, 1, 1)).await.unwrap(),
        ["01001", "02003"]
    );
    assert_eq!(
        s.matters_reported_since(since(2026, 2, 1)).await.unwrap(),
        ["01001"]
    );
    assert!(
        s.matters_reported_since(since(2026, 4, 1))
            .await
            .unwrap()
            .is_empty()
    );
}

conformance!(
    matters_reported_since_a_time,
    cases_numbers_versions_and_atomic_import,
    stat_sums_group_in_sql,
    settings_idempotency_and_webhooks,
    webhook_deliveries_are_claimed_once
);
