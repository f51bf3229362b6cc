//! Two IoT services ("nodes") over one store (SQLite and PostgreSQL), each
//! on its own in-process bus: what node B announces is handed to node A as
//! a remote event (`IotService::on_remote_event`, what `follow_bus` does
//! with a NATS bus), and A follows it — a pack, devices and a rotated
//! credential, a batch, grants, rule versions (keeping A's open alarm), an
//! alarm acknowledged and cleared through B reaching A's engine, A's racing
//! update written back, a removed rule clearing A's alarm. One node on the
//! in-process bus skips its own announcements. The two-node run over NATS is
//! `crates/api/tests/cluster.rs`.

mod case_support;

use case_support::{IN_STREET, World};
use chengyun_bus::{Bus, DynBus, Event, InProcessBus, Received, Subscription};
use chengyun_domain::audit::{Actor, AuditEvent};
use chengyun_domain::iot::{
    AlarmState, ClearReason, Device, Grant, GrantTarget, Permission, Protocol, Telemetry, Value,
};
use chengyun_ingest::source::contract::{AuthRequest, Credential};
use chengyun_services::iot::{IotConfig, IotService};
use chengyun_store::{AlarmQuery, StoredAlarm};
use std::sync::Arc;
use std::time::Duration;

struct NoTransport;

impl chengyun_services::iot::CommandTransport for NoTransport {
    fn send(
        &self,
        device_id: &str,
        _frame: chengyun_ingest::source::contract::OutboundFrame,
    ) -> Result<(), chengyun_ingest::source::contract::SendError> {
        Err(chengyun_ingest::source::contract::SendError::NotConnected {
            device_id: device_id.into(),
        })
    }
}

/// A node: the service on its own bus, and a subscription to that bus.
async fn node(w: &World) -> (IotService, Arc<InProcessBus>, Subscription) {
    let bus = Arc::new(InProcessBus::new());
    let events = bus.subscribe();
    let clock = w.clock.clone();
    let svc = IotService::with_clock(
        w.store.clone(),
        bus.clone() as DynBus,
        None,
        Arc::new(NoTransport),
        IotConfig::default(),
        Arc::new(move || *clock.lock().unwrap()),
    )
    .await
    .expect("iot service");
    (svc, bus, events)
}

/// What a node published since the last call.
async fn published(events: &mut Subscription) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(got) = tokio::time::timeout(Duration::from_millis(20), events.recv()).await {
        match got {
            Received::Event(e) => out.push(e),
            other => panic!("{other:?}"),
        }
    }
    out
}

/// Hands what `from` published to `to` as remote events; answers them.
async fn forward(from: &mut Subscription, to: &IotService) -> Vec<Event> {
    let events = published(from).await;
    for e in &events {
        to.on_remote_event(e).await.unwrap();
    }
    events
}

fn auth(terminal: &str, secret: &str) -> AuthRequest {
    AuthRequest {
        protocol: Protocol::Mqtt,
        terminal_id: terminal.into(),
        credential: Credential::Secret(secret.into()),
        peer: None,
    }
}

fn light(id: &str, terminal: &str) -> Device {
    let mut d = Device::new(id, "street_light_controller", "路灯", "YH-SZJ");
    d.terminal_id = Some(terminal.into());
    d.location = Some(chengyun_domain::iot::GeoPoint::new(
        IN_STREET.0,
        IN_STREET.1,
    ));
    d
}

fn fault(w: &World, id: &str, bit: i64) -> Telemetry {
    Telemetry::new(id, w.now()).with("fault_word", Value::Int(bit))
}

async fn open_alarms(iot: &IotService) -> Vec<StoredAlarm> {
    iot.alarms(
        &AlarmQuery {
            open_only: true,
            ..Default::default()
        },
        &chengyun_domain::page::PageRequest::first(10),
    )
    .await
    .unwrap()
    .items
}

async fn registry_and_alarm_actions_follow_the_other_node(w: &World) {
    let admin = Actor::system("test");
    let (a, _bus_a, mut from_a) = node(w).await;
    let (b, _bus_b, mut from_b) = node(w).await;

    // A pack enabled on B: its products, rules and mappings reach A.
    b.enable_pack("city_components", &admin).await.unwrap();
    let seen = forward(&mut from_b, &a).await;
    assert!(seen.contains(&Event::iot_changed_all("packs")), "{seen:?}");
    assert!(
        seen.contains(&Event::iot_changed(
            "products",
            vec!["street_light_controller".into()]
        )),
        "{seen:?}"
    );
    assert!(a.product("street_light_controller").is_some());
    assert!(!a.running_rules().rules.is_empty());
    assert_eq!(a.running_rules(), b.running_rules());

    // A device created on B authenticates on A; its rotated secret replaces the old one there.
    let secret = b
        .create_device(light("sl1", "SL0001"), &admin)
        .await
        .unwrap();
    assert!(a.authenticate_terminal(&auth("SL0001", &secret)).is_err());
    let seen = forward(&mut from_b, &a).await;
    assert_eq!(seen, [Event::iot_changed("devices", vec!["sl1".into()])]);
    let session = a.authenticate_terminal(&auth("SL0001", &secret)).unwrap();
    assert_eq!(session.device_id, "sl1");
    let rotated = b
        .create_device((*b.device("sl1").unwrap()).clone(), &admin)
        .await
        .unwrap();
    forward(&mut from_b, &a).await;
    let refused = a
        .authenticate_terminal(&auth("SL0001", &secret))
        .unwrap_err();
    assert!(refused.reason.contains("wrong credential"), "{refused:?}");
    assert!(a.authenticate_terminal(&auth("SL0001", &rotated)).is_ok());

    // A batch names every device.
    let batch: Vec<Device> = (2..5)
        .map(|i| light(&format!("sl{i}"), &format!("SL000{i}")))
        .collect();
    b.put_devices(batch, &admin).await.unwrap();
    let seen = forward(&mut from_b, &a).await;
    assert_eq!(
        seen,
        [Event::iot_changed(
            "devices",
            vec!["sl2".into(), "sl3".into(), "sl4".into()]
        )]
    );
    assert!(a.authenticate_terminal(&auth("SL0003", "")).is_ok());

    // Grants and their revocation.
    assert!(!a.may("sl1", "YH-CGJ", Permission::Read));
    let grant = b
        .grant(
            Grant {
                target: GrantTarget::Device("sl1".into()),
                grantee_department: "YH-CGJ".into(),
                permissions: [Permission::Read].into(),
            },
            &admin,
        )
        .await
        .unwrap();
    assert_eq!(
        forward(&mut from_b, &a).await,
        [Event::iot_changed_all("grants")]
    );
    assert!(a.may("sl1", "YH-CGJ", Permission::Read));
    b.revoke_grant(grant, &admin).await.unwrap();
    forward(&mut from_b, &a).await;
    assert!(!a.may("sl1", "YH-CGJ", Permission::Read));

    // sl1 reports to A: A's engine raises the alarm; B's does not hold it
    // and ignores A's events.
    a.ingest(fault(w, "sl1", 1)).await.unwrap();
    let open = open_alarms(&a).await;
    assert_eq!(open.len(), 1);
    let alarm_id = open[0].alarm.id.clone();
    assert!(a.held_alarm(&alarm_id).is_some());
    for e in published(&mut from_a).await {
        assert!(!b.on_remote_event(&e).await.unwrap(), "{e:?}");
    }
    assert!(b.held_alarm(&alarm_id).is_none());

    // Acknowledged through B: stored and announced there, and A's engine follows.
    b.acknowledge_alarm(&alarm_id, "handler2").await.unwrap();
    let seen = forward(&mut from_b, &a).await;
    assert!(
        seen.iter().any(|e| matches!(e, Event::AlarmChanged { change, alarm_id: id, .. } if change == "acknowledged" && *id == alarm_id)),
        "{seen:?}"
    );
    let held = a.held_alarm(&alarm_id).unwrap();
    assert_eq!(held.state, AlarmState::Acknowledged);
    assert_eq!(held.acknowledged_by.as_deref(), Some("handler2"));

    // A new version of the rule saved on B runs on A, and A keeps the open alarm.
    let mut rules = b.running_rules();
    let rule = rules
        .rules
        .iter_mut()
        .find(|r| r.id == "street_light_out")
        .unwrap();
    rule.version = 2;
    rule.name = "路灯不亮（夜间巡查）".into();
    b.save_rules(rules.clone(), Some("v2"), &admin)
        .await
        .unwrap();
    assert_eq!(
        forward(&mut from_b, &a).await,
        [Event::iot_changed_all("rules")]
    );
    assert_eq!(a.running_rules(), rules);
    assert_eq!(
        a.held_alarm(&alarm_id).map(|x| x.state),
        Some(AlarmState::Acknowledged)
    );
    // The new version restarted the condition; the fault is seen again.
    w.advance(chrono::Duration::seconds(30));
    a.ingest(fault(w, "sl1", 1)).await.unwrap();

    // Cleared through B: A's engine lets go of it, and with the fault still
    // on neither raises it again nor writes it back.
    b.clear_alarm(&alarm_id, "handler2").await.unwrap();
    forward(&mut from_b, &a).await;
    assert!(a.held_alarm(&alarm_id).is_none());
    w.advance(chrono::Duration::seconds(90));
    a.ingest(fault(w, "sl1", 1)).await.unwrap();
    a.ingest(fault(w, "sl1", 1)).await.unwrap();
    assert!(open_alarms(&a).await.is_empty());
    let stored = w.store.alarm(&alarm_id).await.unwrap().unwrap();
    assert_eq!(stored.alarm.state, AlarmState::Cleared);
    assert_eq!(
        stored.alarm.clear_reason,
        Some(ClearReason::Person {
            user: "handler2".into()
        })
    );
    // The fault goes and comes back: a new alarm.
    w.advance(chrono::Duration::seconds(30));
    a.ingest(fault(w, "sl1", 0)).await.unwrap();
    w.advance(chrono::Duration::seconds(30));
    a.ingest(fault(w, "sl1", 1)).await.unwrap();
    let open = open_alarms(&a).await;
    assert_eq!(open.len(), 1);
    let second = open[0].alarm.id.clone();
    assert_ne!(second, alarm_id);

    // B acknowledges it, but an update of A's is stored over that before A
    // hears of it: A follows and writes the acknowledgement back.
    b.acknowledge_alarm(&second, "handler2").await.unwrap();
    let mut stale = a.held_alarm(&second).unwrap();
    stale.count += 1;
    w.store
        .upsert_alarms(&[(stale, "YH-SZJ".into())])
        .await
        .unwrap();
    assert_eq!(
        w.store.alarm(&second).await.unwrap().unwrap().alarm.state,
        AlarmState::Active
    );
    forward(&mut from_b, &a).await;
    assert_eq!(
        a.held_alarm(&second).map(|x| x.state),
        Some(AlarmState::Acknowledged)
    );
    assert_eq!(
        w.store.alarm(&second).await.unwrap().unwrap().alarm.state,
        AlarmState::Acknowledged
    );

    // The rule removed on B: A, whose engine holds its alarm, clears it.
    rules.rules.retain(|r| r.id != "street_light_out");
    b.save_rules(rules.clone(), Some("no lights"), &admin)
        .await
        .unwrap();
    forward(&mut from_b, &a).await;
    assert_eq!(a.running_rules(), rules);
    assert!(a.held_alarm(&second).is_none());
    let gone = w.store.alarm(&second).await.unwrap().unwrap();
    assert_eq!(gone.alarm.state, AlarmState::Cleared);
    assert_eq!(gone.alarm.clear_reason, Some(ClearReason::RuleRemoved));
    assert!(
        published(&mut from_a).await.iter().any(|e| matches!(e, Event::AlarmChanged { change, alarm_id: id, .. } if change == "cleared" && *id == second)),
        "A announces the alarm it cleared"
    );

    // A full reload (what a lagging node does) agrees with what A holds.
    a.reload_registry().await.unwrap();
    assert_eq!(a.running_rules(), rules);
    assert!(a.authenticate_terminal(&auth("SL0001", &rotated)).is_ok());
    assert!(a.device("sl4").is_some());

    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

async fn one_node_skips_its_own_announcements(w: &World) {
    let admin = Actor::system("test");
    let (c, bus, _events) = node(w).await;
    let follower = c.follow_bus();
    c.enable_pack("city_components", &admin).await.unwrap();
    // A device written behind the service's back, then announced on the
    // node's own bus: the node does not reload (it holds what it writes).
    w.store
        .upsert_device(
            &light("ghost", "SL0999"),
            &AuditEvent::new(&admin, "iot.device.put", "device", "ghost"),
        )
        .await
        .unwrap();
    bus.publish(Event::iot_changed("devices", vec!["ghost".into()]));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(c.device("ghost").is_none());
    // The same event as another node's would load it.
    assert!(
        c.on_remote_event(&Event::iot_changed("devices", vec!["ghost".into()]))
            .await
            .unwrap()
    );
    assert!(c.device("ghost").is_some());
    assert!(!follower.is_finished());
    follower.abort();
    c.shutdown().await.unwrap();
}

both!(
    registry_and_alarm_actions_follow_the_other_node,
    one_node_skips_its_own_announcements
);
