//! The IoT store conformance suite: every case is written once against
//! `&dyn Database` and run on both backends (a fresh SQLite file per test; a
//! fresh PostgreSQL schema `cy_t_<random>` per test, dropped afterwards).
//!
//! PostgreSQL: `CHENGYUN_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`. An unreachable server fails
//! the tests (with instructions); they never skip silently.

use chengyun_domain::audit::{Actor, AuditEvent};
use chengyun_domain::iot::{
    Alarm, AlarmKey, AlarmState, CommandDef, DataType, Device, Grant, GrantTarget, Level,
    Permission, Product, PropertyDef, Protocol, RuleSet, Telemetry, Value, packs,
};
use chengyun_domain::page::PageRequest;
use chengyun_store::{
    AlarmQuery, CommandStatus, Database, DeviceQuery, LatestState, NewCommand, StoreError,
};
use chrono::{DateTime, Duration, TimeZone, Utc};

#[macro_use]
mod support;

conformance!(
    products_round_trip_and_replace,
    devices_terminals_filters_and_pages,
    grants_create_list_revoke,
    latest_state_upsert_many_and_offline,
    telemetry_history_downsample_and_retention,
    alarms_lifecycle_case_link_and_pages,
    commands_lifecycle,
    rule_set_versions_and_packs,
);

fn audit(action: &str) -> AuditEvent {
    AuditEvent::new(&Actor::system("test"), action, "iot", "")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap()
}

fn tracker() -> Product {
    let mut speed = PropertyDef::new("speed", "速度", DataType::Float);
    speed.min = Some(0.0);
    Product {
        key: "tracker".into(),
        name: "定位器".into(),
        protocol: Protocol::Jt808,
        properties: vec![
            speed,
            PropertyDef::new("alarm", "报警标志", DataType::Int),
            PropertyDef::new("acc", "ACC", DataType::Bool),
        ],
        events: vec![],
        commands: vec![CommandDef {
            id: "cut_power".into(),
            name: "断电".into(),
            params: vec![PropertyDef::new("on", "on", DataType::Bool)],
        }],
    }
}

fn device(id: &str, terminal: &str, owner: &str, lon: Option<f64>) -> Device {
    let mut d = Device::new(id, "tracker", &format!("车 {id}"), owner);
    d.terminal_id = Some(terminal.into());
    d.credential_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into());
    d.location = lon.map(|lon| chengyun_domain::iot::GeoPoint::new(lon, 28.24));
    d
}

async fn setup(s: &dyn Database) {
    s.upsert_product(&tracker(), &audit("product.put"))
        .await
        .expect("product");
}

// ── cases ─────────────────────────────────────────────────────────────────────

async fn products_round_trip_and_replace(s: &dyn Database) {
    setup(s).await;
    assert_eq!(s.product("tracker").await.unwrap(), Some(tracker()));
    let mut p = tracker();
    p.name = "电动车定位器".into();
    s.upsert_product(&p, &audit("product.put")).await.unwrap();
    assert_eq!(s.products().await.unwrap(), vec![p]);
    assert_eq!(s.product("none").await.unwrap(), None);
    // An invalid product is refused with the field named.
    let mut bad = tracker();
    bad.key = "bad key!".into();
    match s.upsert_product(&bad, &audit("product.put")).await {
        Err(StoreError::Invalid(v)) => assert_eq!(v.problems[0].field, "key"),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

async fn devices_terminals_filters_and_pages(s: &dyn Database) {
    setup(s).await;
    // A device of an unknown product is refused.
    let mut orphan = device("x1", "100", "police", None);
    orphan.product_key = "ghost".into();
    match s.upsert_device(&orphan, &audit("device.put")).await {
        Err(StoreError::Invalid(v)) => assert_eq!(v.problems[0].field, "product_key"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    for (id, term, owner, lon) in [
        ("d1", "013900000001", "police", Some(117.03)),
        ("d2", "013900000002", "police", Some(117.50)),
        ("d3", "013900000003", "community", None),
    ] {
        s.upsert_device(&device(id, term, owner, lon), &audit("device.put"))
            .await
            .unwrap();
    }
    let d1 = s.device("d1").await.unwrap().unwrap();
    assert_eq!(d1, device("d1", "013900000001", "police", Some(117.03)));
    assert!(d1.credential_hash.unwrap().starts_with("$argon2id$"));
    let by_t = s
        .device_by_terminal(Protocol::Jt808, "013900000002")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_t.id, "d2");
    assert!(
        s.device_by_terminal(Protocol::Watch, "013900000002")
            .await
            .unwrap()
            .is_none()
    );
    // The same terminal on another device is a conflict.
    match s
        .upsert_device(
            &device("d4", "013900000001", "police", None),
            &audit("device.put"),
        )
        .await
    {
        Err(StoreError::Conflict(m)) => assert!(m.contains("013900000001"), "{m}"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    // Filters.
    let ids = |p: chengyun_domain::page::Page<Device>| -> Vec<String> {
        p.items.into_iter().map(|d| d.id).collect()
    };
    let q = DeviceQuery {
        owner_department: Some("police".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(s.list_devices(&q, &PageRequest::first(10)).await.unwrap()),
        ["d1", "d2"]
    );
    let q = DeviceQuery {
        within: Some([117.0, 28.0, 117.1, 28.5]),
        ..Default::default()
    };
    assert_eq!(
        ids(s.list_devices(&q, &PageRequest::first(10)).await.unwrap()),
        ["d1"]
    );
    // d3 has no fixed point; its latest fix puts it in the box.
    s.upsert_latest(&[LatestState {
        device_id: "d3".into(),
        values: Default::default(),
        location: Some(chengyun_domain::iot::GeoPoint::new(117.05, 28.3)),
        last_seen: t0(),
        online: true,
    }])
    .await
    .unwrap();
    assert_eq!(
        ids(s.list_devices(&q, &PageRequest::first(10)).await.unwrap()),
        ["d1", "d3"]
    );
    let online = DeviceQuery {
        online: Some(true),
        ..Default::default()
    };
    assert_eq!(
        ids(s
            .list_devices(&online, &PageRequest::first(10))
            .await
            .unwrap()),
        ["d3"]
    );
    let offline = DeviceQuery {
        online: Some(false),
        ..Default::default()
    };
    assert_eq!(
        ids(s
            .list_devices(&offline, &PageRequest::first(10))
            .await
            .unwrap()),
        ["d1", "d2"]
    );
    // Pages.
    let p1 = s
        .list_devices(&DeviceQuery::default(), &PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!(p1.items.len(), 2);
    let next = p1.next.clone().expect("a next page");
    let p2 = s
        .list_devices(
            &DeviceQuery::default(),
            &PageRequest {
                after: Some(next),
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(p2), ["d3"]);
    assert_eq!(s.all_devices().await.unwrap().len(), 3);
    // A batch is all or nothing, and names the device that broke it.
    let mut bad = device("b2", "013900000012", "police", None);
    bad.product_key = "ghost".into();
    let batch = [device("b1", "013900000011", "police", None), bad];
    match s.upsert_devices(&batch, &audit("device.put_many")).await {
        Err(StoreError::Invalid(v)) => {
            assert_eq!(v.problems[0].field, "devices[1].product_key", "{v:?}")
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(
        s.device("b1").await.unwrap().is_none(),
        "nothing half-stored"
    );
    let clash = [
        device("b1", "013900000011", "police", None),
        device("b2", "013900000001", "police", None),
    ];
    assert!(matches!(
        s.upsert_devices(&clash, &audit("device.put_many")).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        s.device("b1").await.unwrap().is_none(),
        "nothing half-stored"
    );
    let good: Vec<Device> = (0..250)
        .map(|i| {
            device(
                &format!("b{i}"),
                &format!("0150000{i:05}"),
                "community",
                None,
            )
        })
        .collect();
    s.upsert_devices(&good, &audit("device.put_many"))
        .await
        .unwrap();
    assert_eq!(s.device("b249").await.unwrap().unwrap(), good[249]);
}

async fn grants_create_list_revoke(s: &dyn Database) {
    setup(s).await;
    let g = Grant {
        target: GrantTarget::Device("d1".into()),
        grantee_department: "community".into(),
        permissions: [Permission::Read].into(),
    };
    let stored = s.create_grant(&g, &audit("grant.create")).await.unwrap();
    let g2 = Grant {
        target: GrantTarget::Product("tracker".into()),
        grantee_department: "traffic".into(),
        permissions: [Permission::Command, Permission::Read].into(),
    };
    s.create_grant(&g2, &audit("grant.create")).await.unwrap();
    let all = s.grants(None).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].grant, g);
    assert_eq!(s.grants(Some("traffic")).await.unwrap()[0].grant, g2);
    s.revoke_grant(stored.id, &audit("grant.revoke"))
        .await
        .unwrap();
    assert_eq!(s.grants(None).await.unwrap().len(), 1);
    assert!(matches!(
        s.revoke_grant(stored.id, &audit("grant.revoke")).await,
        Err(StoreError::NotFound(_))
    ));
    let empty = Grant {
        permissions: Default::default(),
        ..g
    };
    assert!(matches!(
        s.create_grant(&empty, &audit("grant.create")).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn latest_state_upsert_many_and_offline(s: &dyn Database) {
    let state = |id: &str, speed: f64, at: DateTime<Utc>| LatestState {
        device_id: id.into(),
        values: [("speed".to_string(), Value::Float(speed))].into(),
        location: Some(chengyun_domain::iot::GeoPoint::new(117.0, 28.2)),
        last_seen: at,
        online: true,
    };
    // The same device twice in one batch: the later one wins.
    let n = s
        .upsert_latest(&[
            state("a", 1.0, t0()),
            state("b", 2.0, t0()),
            state("a", 3.0, t0() + Duration::seconds(1)),
        ])
        .await
        .unwrap();
    assert_eq!(n, 2);
    let a = s.latest("a").await.unwrap().unwrap();
    assert_eq!(a, state("a", 3.0, t0() + Duration::seconds(1)));
    assert_eq!(s.set_offline(&["a".into(), "zz".into()]).await.unwrap(), 1);
    assert_eq!(s.set_offline(&["a".into()]).await.unwrap(), 0);
    assert!(!s.latest("a").await.unwrap().unwrap().online);
    assert_eq!(s.all_latest().await.unwrap().len(), 2);
    // Many devices in one call.
    let many: Vec<LatestState> = (0..2_500)
        .map(|i| state(&format!("m{i:05}"), f64::from(i), t0()))
        .collect();
    assert_eq!(s.upsert_latest(&many).await.unwrap(), 2_500);
    assert_eq!(s.all_latest().await.unwrap().len(), 2_502);
}

async fn telemetry_history_downsample_and_retention(s: &dyn Database) {
    // 120 samples, one every 5 s, speed = i, alarm = i % 3, a bool and a text.
    let rows: Vec<Telemetry> = (0..120)
        .map(|i| {
            let mut t = Telemetry::new("d1", t0() + Duration::seconds(5 * i))
                .with("speed", Value::Float(i as f64))
                .with("alarm", Value::Int(i % 3))
                .with("acc", Value::Bool(true))
                .at_position(117.0, 28.2);
            if i == 7 {
                t = t.with_event("sos");
            }
            t
        })
        .chain((0..3).map(|i| Telemetry::new("d2", t0() + Duration::seconds(i))))
        .collect();
    assert_eq!(s.append_telemetry(&rows).await.unwrap(), 123);
    let got = s
        .telemetry("d1", t0(), t0() + Duration::hours(1), 1000)
        .await
        .unwrap();
    assert_eq!(got.len(), 120);
    assert_eq!(got[7], rows[7]);
    assert_eq!(got[119], rows[119]);
    let window = s
        .telemetry(
            "d1",
            t0() + Duration::seconds(10),
            t0() + Duration::seconds(20),
            1000,
        )
        .await
        .unwrap();
    assert_eq!(window.len(), 2, "from is inclusive, to exclusive");
    // Minute buckets: 12 samples each.
    let buckets = s
        .telemetry_downsampled("d1", t0(), t0() + Duration::hours(1), 60)
        .await
        .unwrap();
    let speed: Vec<_> = buckets.iter().filter(|b| b.property == "speed").collect();
    assert_eq!(speed.len(), 10);
    assert_eq!(speed[0].start, t0());
    assert_eq!(speed[0].count, 12);
    assert_eq!(
        (speed[0].min, speed[0].max, speed[0].last),
        (0.0, 11.0, 11.0)
    );
    assert!((speed[0].avg - 5.5).abs() < 1e-9);
    assert_eq!(speed[9].start, t0() + Duration::minutes(9));
    assert_eq!(speed[9].last, 119.0);
    let alarm: Vec<_> = buckets.iter().filter(|b| b.property == "alarm").collect();
    assert_eq!((alarm[0].min, alarm[0].max), (0.0, 2.0));
    assert!(
        buckets.iter().all(|b| b.property != "acc"),
        "booleans are not numeric"
    );
    assert!(matches!(
        s.telemetry_downsampled("d1", t0(), t0(), 0).await,
        Err(StoreError::Invalid(_))
    ));
    // Retention in bounded batches.
    let cut = t0() + Duration::seconds(100);
    let mut deleted = 0;
    loop {
        let n = s.delete_telemetry_before(cut, 7).await.unwrap();
        assert!(n <= 7);
        deleted += n;
        if n < 7 {
            break;
        }
    }
    assert_eq!(deleted, 20 + 3);
    let left = s
        .telemetry(
            "d1",
            t0() - Duration::hours(1),
            t0() + Duration::hours(1),
            1000,
        )
        .await
        .unwrap();
    assert_eq!(left.len(), 100);
    assert_eq!(left[0].at, cut);
}

fn alarm(device: &str, rule: &str, first: DateTime<Utc>, count: u64, state: AlarmState) -> Alarm {
    Alarm {
        id: format!("{device}/{rule}@{}", first.timestamp_millis()),
        key: AlarmKey {
            device_id: device.into(),
            rule_id: rule.into(),
            subject: None,
        },
        rule_version: 1,
        alarm_type: "power_cut".into(),
        level: Level::Major,
        state,
        first_at: first,
        last_at: first + Duration::seconds(count as i64),
        count,
        value: Some(Value::Int(256)),
        location: Some(chengyun_domain::iot::GeoPoint::new(117.0, 28.2)),
        message: "断电".into(),
        component_id: None,
        acknowledged_by: None,
        cleared_at: None,
        clear_reason: None,
    }
}

async fn alarms_lifecycle_case_link_and_pages(s: &dyn Database) {
    let a = alarm("d1", "r1", t0(), 1, AlarmState::Active);
    s.upsert_alarms(&[(a.clone(), "police".into())])
        .await
        .unwrap();
    s.set_alarm_case(&a.id, 42).await.unwrap();
    // Repeat hits update the same row; the case link stays.
    let a3 = alarm("d1", "r1", t0(), 3, AlarmState::Acknowledged);
    s.upsert_alarms(&[(a3.clone(), "police".into())])
        .await
        .unwrap();
    let got = s.alarm(&a.id).await.unwrap().unwrap();
    assert_eq!(got.alarm, a3);
    assert_eq!(got.case_id, Some(42));
    assert_eq!(s.open_alarm(&a.key).await.unwrap().unwrap().alarm.count, 3);
    assert_eq!(s.alarms_of_case(42).await.unwrap().len(), 1);
    let cleared = alarm("d1", "r1", t0(), 3, AlarmState::Cleared);
    s.upsert_alarms(&[(cleared, "police".into())])
        .await
        .unwrap();
    assert!(s.open_alarm(&a.key).await.unwrap().is_none());
    assert!(matches!(
        s.set_alarm_case("nope", 1).await,
        Err(StoreError::NotFound(_))
    ));
    // More alarms for pages and filters.
    let more: Vec<(Alarm, String)> = (0..5)
        .map(|i| {
            (
                alarm(
                    &format!("e{i}"),
                    "r2",
                    t0() + Duration::minutes(i),
                    1,
                    AlarmState::Active,
                ),
                if i % 2 == 0 { "police" } else { "community" }.to_string(),
            )
        })
        .collect();
    s.upsert_alarms(&more).await.unwrap();
    let q = AlarmQuery {
        open_only: true,
        ..Default::default()
    };
    let p1 = s.list_alarms(&q, &PageRequest::first(3)).await.unwrap();
    let ids: Vec<_> = p1
        .items
        .iter()
        .map(|a| a.alarm.key.device_id.clone())
        .collect();
    assert_eq!(ids, ["e4", "e3", "e2"], "newest first");
    let p2 = s
        .list_alarms(
            &q,
            &PageRequest {
                after: p1.next.clone(),
                limit: 3,
            },
        )
        .await
        .unwrap();
    let ids: Vec<_> = p2
        .items
        .iter()
        .map(|a| a.alarm.key.device_id.clone())
        .collect();
    assert_eq!(ids, ["e1", "e0"]);
    assert!(p2.next.is_none());
    let scoped = AlarmQuery {
        owners: Some(vec!["community".into()]),
        ..Default::default()
    };
    assert_eq!(
        s.list_alarms(&scoped, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    let none = AlarmQuery {
        owners: Some(vec![]),
        ..Default::default()
    };
    assert!(
        s.list_alarms(&none, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let cleared = AlarmQuery {
        state: Some(AlarmState::Cleared),
        ..Default::default()
    };
    assert_eq!(
        s.list_alarms(&cleared, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(matches!(
        s.list_alarms(
            &q,
            &PageRequest {
                after: Some("garbage".into()),
                limit: 3
            }
        )
        .await,
        Err(StoreError::Invalid(_))
    ));
}

async fn commands_lifecycle(s: &dyn Database) {
    let new = |device: &str, deadline: DateTime<Utc>| NewCommand {
        device_id: device.into(),
        command: "cut_power".into(),
        params: [("on".to_string(), Value::Bool(true))].into(),
        actor: "alice".into(),
        deadline_at: deadline,
    };
    let c1 = s
        .create_command(
            &new("d1", t0() + Duration::seconds(30)),
            &audit("command.send"),
        )
        .await
        .unwrap();
    assert_eq!(c1.status, CommandStatus::Queued);
    assert_eq!(c1.params["on"], Value::Bool(true));
    let sent = s
        .update_command(
            c1.id,
            CommandStatus::Sent,
            t0() + Duration::seconds(1),
            None,
        )
        .await
        .unwrap();
    assert_eq!(sent.sent_at, Some(t0() + Duration::seconds(1)));
    let acked = s
        .update_command(
            c1.id,
            CommandStatus::Acknowledged,
            t0() + Duration::seconds(2),
            None,
        )
        .await
        .unwrap();
    assert_eq!(acked.status, CommandStatus::Acknowledged);
    assert_eq!(acked.finished_at, Some(t0() + Duration::seconds(2)));
    assert!(matches!(
        s.update_command(c1.id, CommandStatus::Failed, t0(), Some("late"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let c2 = s
        .create_command(
            &new("d1", t0() + Duration::seconds(10)),
            &audit("command.send"),
        )
        .await
        .unwrap();
    let failed = s
        .update_command(
            c2.id,
            CommandStatus::Failed,
            t0(),
            Some("device not connected"),
        )
        .await
        .unwrap();
    assert_eq!(failed.error.as_deref(), Some("device not connected"));
    let c3 = s
        .create_command(
            &new("d1", t0() + Duration::seconds(10)),
            &audit("command.send"),
        )
        .await
        .unwrap();
    let c4 = s
        .create_command(
            &new("d2", t0() + Duration::seconds(100)),
            &audit("command.send"),
        )
        .await
        .unwrap();
    let overdue = s
        .overdue_commands(t0() + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(overdue.iter().map(|c| c.id).collect::<Vec<_>>(), [c3.id]);
    s.update_command(
        c3.id,
        CommandStatus::TimedOut,
        t0() + Duration::seconds(60),
        None,
    )
    .await
    .unwrap();
    assert!(
        s.overdue_commands(t0() + Duration::seconds(60), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let page = s.list_commands("d1", &PageRequest::first(2)).await.unwrap();
    assert_eq!(
        page.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        [c3.id, c2.id]
    );
    assert_eq!(s.command(c4.id).await.unwrap().unwrap().device_id, "d2");
    assert!(matches!(
        s.update_command(999_999, CommandStatus::Sent, t0(), None)
            .await,
        Err(StoreError::NotFound(_))
    ));
}

async fn rule_set_versions_and_packs(s: &dyn Database) {
    let pack = packs::get("ebike_antitheft").expect("the e-bike pack ships");
    let v1 = RuleSet {
        format_version: 1,
        rules: pack.rules.clone(),
    };
    let v2 = RuleSet {
        format_version: 1,
        rules: pack.rules[..1].to_vec(),
    };
    assert_eq!(
        s.save_rule_set(&v1, Some("first"), &audit("rules.save"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.save_rule_set(&v2, None, &audit("rules.save"))
            .await
            .unwrap(),
        2
    );
    let latest = s.rule_set(None).await.unwrap().unwrap();
    assert_eq!((latest.version, &latest.rules), (2, &v2));
    let first = s.rule_set(Some(1)).await.unwrap().unwrap();
    assert_eq!((first.rules, first.note.as_deref()), (v1, Some("first")));
    assert!(s.rule_set(Some(9)).await.unwrap().is_none());
    assert_eq!(
        s.rule_sets()
            .await
            .unwrap()
            .iter()
            .map(|r| r.version)
            .collect::<Vec<_>>(),
        [2, 1]
    );
    s.enable_pack(&pack, &audit("pack.enable")).await.unwrap();
    s.enable_pack(&pack, &audit("pack.enable")).await.unwrap();
    assert_eq!(s.enabled_packs().await.unwrap(), vec![pack.clone()]);
    s.disable_pack(&pack.key, &audit("pack.disable"))
        .await
        .unwrap();
    assert!(s.enabled_packs().await.unwrap().is_empty());
    assert!(matches!(
        s.disable_pack(&pack.key, &audit("pack.disable")).await,
        Err(StoreError::NotFound(_))
    ));
}
