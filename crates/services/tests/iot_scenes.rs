//! The scenario flows across the IoT brain and the case loop, on SQLite and
//! PostgreSQL: the e-bike theft report → armed tracker → alarm and track →
//! closed as recovered → disarmed, with the solved/recovered KPIs; and the
//! weigh-in-motion over-limit rate per station and day, against hand counts.

mod case_support;
mod pack_support;

use case_support::{IN_STREET, World};
use chengyun_domain::audit::Actor;
use chengyun_domain::case::workflow::{ActionRequest, CaseAction, CaseOutcome, Source};
use chengyun_domain::iot::{Device, GeoPoint, Telemetry, Value};
use chengyun_services::case::NewCase;
use chengyun_services::iot::{IotService, KpiValue, THEFT_MATTER};
use chengyun_store::AlarmQuery;
use chrono::Duration;
use pack_support::{FakeTransport, iot_with_pack};
use std::collections::BTreeMap;
use std::sync::Arc;

fn tracker(id: &str) -> Device {
    let mut d = Device::new(id, "ebike_tracker_jt808", id, "YH-GAJ");
    d.terminal_id = Some(format!("0133070{id}"));
    d
}

async fn fix(iot: &IotService, device: &str, at: chrono::DateTime<chrono::Utc>, p: GeoPoint) {
    iot.ingest(Telemetry {
        device_id: device.into(),
        at,
        values: [("speed".to_string(), Value::Float(0.0))].into(),
        events: Vec::new(),
        location: Some(p),
    })
    .await
    .unwrap();
}

/// Drives a case from its report through the loop to 结案 with `outcome`.
async fn close(w: &World, id: i64, outcome: Option<CaseOutcome>) {
    let insp = Some(w.user("inspector").id);
    let steps = [
        ("clerk", CaseAction::Receive),
        ("leader_shift", CaseAction::Register),
        (
            "dispatcher",
            CaseAction::Dispatch {
                department: "YH-CGJ".into(),
                user: None,
            },
        ),
        ("handler", CaseAction::Accept),
        ("handler", CaseAction::Feedback),
        ("clerk", CaseAction::RequestCheck { inspector: insp }),
        ("inspector", CaseAction::CheckPass),
    ];
    for (who, a) in steps {
        w.service
            .act(id, ActionRequest::new(a.clone()), &w.actor(who))
            .await
            .unwrap_or_else(|e| panic!("{a:?} by {who}: {e}"));
    }
    let mut req = ActionRequest::new(CaseAction::Close).with_opinion("车辆已找回，发还车主");
    req.outcome = outcome;
    w.service
        .act(id, req, &w.actor("dispatcher"))
        .await
        .unwrap();
}

fn report(device: &str) -> NewCase {
    NewCase {
        description: format!("车主报案：电动自行车 {device} 被盗"),
        device_id: Some(device.into()),
        source: Some(Source::Hotline),
        reporter_name: Some("车主".into()),
        lon: Some(IN_STREET.0),
        lat: Some(IN_STREET.1),
        ..Default::default()
    }
}

fn value(kpis: &[KpiValue], kpi: &str, group: &[(&str, &str)]) -> Option<f64> {
    let g: BTreeMap<String, String> = group
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    kpis.iter()
        .find(|k| k.kpi == kpi && k.group == g)
        .unwrap_or_else(|| panic!("no {kpi} for {group:?} in {kpis:?}"))
        .value
}

async fn theft_report_to_recovery(w: &World) {
    let iot = iot_with_pack(w, "ebike_antitheft", Arc::new(FakeTransport::default())).await;
    let admin = Actor::system("test");
    for id in ["eb1", "eb2", "eb3"] {
        iot.create_device(tracker(id), &admin).await.unwrap();
    }
    let home = GeoPoint::new(IN_STREET.0, IN_STREET.1);
    fix(&iot, "eb1", w.now(), home).await;
    w.advance(Duration::minutes(5));

    // The report: a case of 10901 linked to the tracker, which is armed where it stands.
    let clerk = w.actor("clerk");
    assert!(
        iot.report_theft(
            NewCase {
                matter_code: Some("01002".into()),
                ..report("eb1")
            },
            &clerk
        )
        .await
        .is_err(),
        "a theft report is 10901"
    );
    assert!(
        iot.report_theft(
            NewCase {
                device_id: None,
                ..report("eb1")
            },
            &clerk
        )
        .await
        .is_err(),
        "a theft report names the tracker"
    );
    let view = iot.report_theft(report("eb1"), &clerk).await.unwrap();
    let case = &view.case;
    assert_eq!(case.data.matter_code.as_deref(), Some(THEFT_MATTER));
    assert_eq!(case.data.device_id.as_deref(), Some("eb1"));
    assert_eq!(case.data.source, Source::Hotline);
    let d = iot.device("eb1").unwrap();
    assert!(d.armed, "the report arms the tracker");
    assert_eq!(d.armed_position, Some(home));

    // The thief rides off: about 480 m in ten minutes.
    let away = GeoPoint::new(IN_STREET.0 + 0.005, IN_STREET.1);
    w.advance(Duration::minutes(10));
    fix(&iot, "eb1", w.now(), away).await;
    iot.flush().await.unwrap();
    let alarms = iot
        .alarms(
            &AlarmQuery {
                device_id: Some("eb1".into()),
                alarm_type: Some("ebike.moved_while_armed".into()),
                ..Default::default()
            },
            &chengyun_domain::page::PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(alarms.items.len(), 1, "the move raised one alarm");

    // The case's track: the fixes since the report (not the one before it).
    let track = iot.case_track(case.id, &clerk).await.unwrap();
    assert_eq!(track.device_id, "eb1");
    assert_eq!(track.from, case.data.reported_at);
    assert_eq!(track.fixes.len(), 1, "{:?}", track.fixes);
    assert_eq!(track.fixes[0].1, away);

    // Recovered: closed with the outcome, the tracker disarmed.
    let both = CaseOutcome {
        solved: true,
        recovered: true,
    };
    close(w, case.id, Some(both)).await;
    iot.on_case_finished(case.id).await.unwrap();
    let d = iot.device("eb1").unwrap();
    assert!(!d.armed, "closing the theft case disarms the tracker");
    assert_eq!(d.armed_position, None);
    // An outcome on any other action is refused.
    let eb2 = iot
        .report_theft(report("eb2"), &clerk)
        .await
        .unwrap()
        .case
        .id;
    let bad = ActionRequest::new(CaseAction::Receive).with_outcome(both);
    assert!(w.service.act(eb2, bad, &clerk).await.is_err());
    close(
        w,
        eb2,
        Some(CaseOutcome {
            solved: true,
            recovered: false,
        }),
    )
    .await;
    let eb3 = iot
        .report_theft(report("eb3"), &clerk)
        .await
        .unwrap()
        .case
        .id;
    close(w, eb3, None).await;

    // KPIs over the three theft cases closed today: solved 2/3, recovered 1/3.
    let from = w.now() - Duration::days(1);
    let to = w.now() + Duration::hours(1);
    let kpis = iot.pack_kpis("ebike_antitheft", from, to).await.unwrap();
    let month = [("month", "2026-03")];
    let solved = value(&kpis, "solved_rate", &month).unwrap();
    let recovered = value(&kpis, "recovered_rate", &month).unwrap();
    assert!((solved - 200.0 / 3.0).abs() < 1e-9, "solved {solved}");
    assert!(
        (recovered - 100.0 / 3.0).abs() < 1e-9,
        "recovered {recovered}"
    );
    // Outside the period nothing was closed: no group at all.
    let none = iot
        .pack_kpis("ebike_antitheft", from - Duration::days(30), from)
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
    iot.shutdown().await.unwrap();
}

async fn weigh(
    iot: &IotService,
    station: &str,
    at: chrono::DateTime<chrono::Utc>,
    plate: &str,
    t: f64,
) {
    let values: BTreeMap<String, Value> = [
        ("plate".to_string(), Value::Text(plate.into())),
        ("axles".to_string(), Value::Int(2)),
        ("gross_mass_t".to_string(), Value::Float(t)),
        ("configuration".to_string(), Value::Text("truck".into())),
    ]
    .into();
    iot.ingest(Telemetry {
        device_id: station.into(),
        at,
        values,
        events: Vec::new(),
        location: None,
    })
    .await
    .unwrap();
}

async fn wim_rate_per_station_and_day(w: &World) {
    let iot = iot_with_pack(w, "weigh_in_motion", Arc::new(FakeTransport::default())).await;
    let admin = Actor::system("test");
    for id in ["wim1", "wim2"] {
        let mut d = Device::new(id, "wim_station", id, "YH-JTZF");
        d.location = Some(GeoPoint::new(IN_STREET.0, IN_STREET.1));
        iot.create_device(d, &admin).await.unwrap();
    }
    // t0 is 10:00 CST on 10 March; +13 h is 23:00 that day, +15 h is 01:00 on 11 March.
    let t0 = w.now();
    let at = |h: i64| t0 + Duration::hours(h);
    // wim1, 10 March: 3 weighed, 1 over (2 axles: 18 t legal).
    w.set_now(at(0));
    weigh(&iot, "wim1", at(0), "赣L00001", 15.2).await;
    weigh(&iot, "wim1", at(0), "赣L00002", 31.5).await;
    // wim2, 10 March: 2 weighed, none over.
    weigh(&iot, "wim2", at(0), "赣L00003", 12.0).await;
    w.set_now(at(13));
    weigh(&iot, "wim1", at(13), "赣L00004", 17.9).await;
    weigh(&iot, "wim2", at(13), "赣L00005", 16.0).await;
    // wim1, 11 March: 2 weighed, both over.
    w.set_now(at(15));
    weigh(&iot, "wim1", at(15), "赣L00006", 25.0).await;
    weigh(&iot, "wim1", at(15), "赣L00007", 40.0).await;
    iot.flush().await.unwrap();
    let kpis = iot
        .pack_kpis("weigh_in_motion", t0 - Duration::hours(1), at(24))
        .await
        .unwrap();
    let rate = |station: &str, day: &str| {
        value(
            &kpis,
            "over_limit_rate",
            &[("station", station), ("day", day)],
        )
    };
    let r = rate("wim1", "2026-03-10").unwrap();
    assert!((r - 100.0 / 3.0).abs() < 1e-9, "wim1 10 March: {r}");
    assert_eq!(rate("wim1", "2026-03-11"), Some(100.0));
    assert_eq!(rate("wim2", "2026-03-10"), Some(0.0));
    let groups = kpis.iter().filter(|k| k.kpi == "over_limit_rate").count();
    assert_eq!(groups, 3, "one value per station and day with data");
    // A pack that is not enabled has no KPIs here.
    assert!(iot.pack_kpis("ebike_antitheft", t0, at(24)).await.is_err());
    iot.shutdown().await.unwrap();
}

both_packs!(theft_report_to_recovery, wim_rate_per_station_and_day);
