//! The IoT brain end to end on SQLite and PostgreSQL, in the small city of
//! `case_support` (three tiers, departments, dispatch through the case loop):
//! a street light reports a fault bit → alarm → a DISPATCHED case at the
//! department the pack's hint maps to; duplicates bump the alarm's count and
//! open no second case; closing the loop clears the alarm; unknown
//! properties and unknown terminals are rejected and counted; the per-device
//! rate limit drops a flood; the offline sweep; commands acknowledged,
//! failed and timed out through a fake transport; durability across a
//! restart of the service.

mod case_support;

use case_support::{IN_STREET, World};
use chengyun_domain::audit::Actor;
use chengyun_domain::iot::{AlarmState, Device, Protocol, Telemetry, Value};
use chengyun_ingest::source::contract::{
    AuthRequest, CommandRef, CommandReply, Credential, DeviceSession, Inbound, IngestSink,
    OutboundFrame, SendError,
};
use chengyun_services::iot::{CommandActor, CommandTransport, IngestError, IotConfig, IotService};
use chengyun_store::{AlarmQuery, CommandStatus};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Records frames; "connected" devices accept, others fail like the registry.
#[derive(Default)]
struct FakeTransport {
    sent: Mutex<Vec<(String, OutboundFrame)>>,
    connected: Mutex<Vec<String>>,
}

impl CommandTransport for FakeTransport {
    fn send(&self, device_id: &str, frame: OutboundFrame) -> Result<(), SendError> {
        if !self
            .connected
            .lock()
            .unwrap()
            .iter()
            .any(|d| d == device_id)
        {
            return Err(SendError::NotConnected {
                device_id: device_id.into(),
            });
        }
        self.sent.lock().unwrap().push((device_id.into(), frame));
        Ok(())
    }
}

fn config() -> IotConfig {
    IotConfig {
        rate_per_sec: 1.0,
        burst: 20.0,
        departments: [("street_lighting".to_string(), "YH-SZJ".to_string())].into(),
        ..IotConfig::default()
    }
}

async fn service(w: &World, transport: Arc<FakeTransport>) -> IotService {
    let clock = w.clock.clone();
    IotService::with_clock(
        w.store.clone(),
        w.bus.clone(),
        Some(w.service.clone()),
        transport,
        config(),
        Arc::new(move || *clock.lock().unwrap()),
    )
    .await
    .expect("iot service")
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

async fn street_light_loop(w: &World) {
    let admin = Actor::system("test");
    let transport = Arc::new(FakeTransport::default());
    let iot = service(w, transport.clone()).await;
    iot.enable_pack("city_components", &admin).await.unwrap();
    w.service.reload().await.unwrap();
    let secret = iot
        .create_device(light("sl1", "SL0001"), &admin)
        .await
        .unwrap();
    iot.create_device(light("sl2", "SL0002"), &admin)
        .await
        .unwrap();

    // Authentication: the secret works, a wrong one and an unknown terminal do not.
    let auth = |terminal: &str, secret: &str| AuthRequest {
        protocol: Protocol::Mqtt,
        terminal_id: terminal.into(),
        credential: Credential::Secret(secret.into()),
        peer: None,
    };
    let session = iot.authenticate_terminal(&auth("SL0001", &secret)).unwrap();
    assert_eq!(session.device_id, "sl1");
    assert!(iot.authenticate_terminal(&auth("SL0001", "wrong")).is_err());
    let refused = iot
        .authenticate_terminal(&auth("SL9999", &secret))
        .unwrap_err();
    assert!(
        refused.reason.contains("unknown mqtt terminal"),
        "{}",
        refused.reason
    );
    assert_eq!(iot.counters().refused_terminals, 2);

    // A fault bit through the sink, as a gateway delivers it.
    let now = w.now();
    let fault = Telemetry::new("sl1", now)
        .with("fault_word", Value::Int(1))
        .with("power_w", Value::Float(0.0));
    iot.deliver(&session, Inbound::Telemetry(fault.clone()))
        .await
        .unwrap();
    let open = iot
        .alarms(
            &AlarmQuery {
                open_only: true,
                ..Default::default()
            },
            &chengyun_domain::page::PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(open.items.len(), 1);
    let alarm = &open.items[0];
    assert_eq!(alarm.alarm.alarm_type, "component.street_light_out");
    let case_id = alarm.case_id.expect("the alarm opened a case");
    let case = w.store.case(case_id).await.unwrap().unwrap();
    assert_eq!(case.data.matter_code.as_deref(), Some("01037"));
    assert_eq!(case.data.device_id.as_deref(), Some("sl1"));
    assert_eq!(case.data.snapshot.state.as_str(), "dispatched");
    assert_eq!(case.data.snapshot.holder.department, "YH-SZJ");

    // Duplicates: more hits, still one alarm and one case.
    for i in 1..5 {
        w.advance(chrono::Duration::seconds(90));
        let t = Telemetry::new("sl1", w.now()).with("fault_word", Value::Int(1));
        iot.ingest(t).await.unwrap();
        let _ = i;
    }
    let stored = w.store.alarm(&alarm.alarm.id).await.unwrap().unwrap();
    assert!(
        stored.alarm.count >= 2,
        "repeat hits bump the count: {}",
        stored.alarm.count
    );
    assert_eq!(iot.counters().cases_opened, 1);

    // The case closes → the alarm clears with the case as the reason.
    assert_eq!(iot.on_case_finished(case_id).await.unwrap(), 1);
    let cleared = w.store.alarm(&alarm.alarm.id).await.unwrap().unwrap();
    assert_eq!(cleared.alarm.state, AlarmState::Cleared);
    assert!(matches!(
        cleared.alarm.clear_reason,
        Some(chengyun_domain::iot::ClearReason::CaseClosed { .. })
    ));

    // Unknown property → rejected with the device and the reason, counted.
    let bad = Telemetry::new("sl1", w.now()).with("voltage", Value::Float(220.0));
    match iot.ingest(bad).await {
        Err(IngestError::Rejected { device, reason }) => {
            assert_eq!(device, "sl1");
            assert!(reason.contains("no property \"voltage\""), "{reason}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(iot.counters().rejected_invalid, 1);
    assert!(matches!(
        iot.ingest(Telemetry::new("ghost", w.now())).await,
        Err(IngestError::UnknownDevice(_))
    ));

    // Rate limit: a burst of 20 then drops, for this device only.
    let mut limited = 0;
    for _ in 0..40 {
        if let Err(IngestError::RateLimited(d)) = iot
            .ingest(Telemetry::new("sl2", w.now()).with("power_w", Value::Float(80.0)))
            .await
        {
            assert_eq!(d, "sl2");
            limited += 1;
        }
    }
    assert!((19..=21).contains(&limited), "{limited} dropped");
    assert_eq!(iot.counters().rate_limited, limited);

    // Commands: acknowledged, failed (not connected), timed out.
    transport.connected.lock().unwrap().push("sl1".into());
    let owner = CommandActor {
        name: "handler2".into(),
        department: Some("YH-SZJ".into()),
    };
    let on: BTreeMap<String, Value> = [("on".to_string(), Value::Bool(true))].into();
    let c1 = iot.send("sl1", "switch", on.clone(), &owner).await.unwrap();
    assert_eq!(c1.status, CommandStatus::Queued);
    let id = c1.id.to_string();
    iot.deliver(
        &session,
        Inbound::CommandSent {
            command_id: id.clone(),
            serial: None,
            at: w.now(),
        },
    )
    .await
    .unwrap();
    iot.deliver(
        &session,
        Inbound::CommandReply(CommandReply {
            command: CommandRef::Command(id),
            ok: true,
            detail: None,
            at: w.now(),
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        iot.command(c1.id).await.unwrap().unwrap().status,
        CommandStatus::Acknowledged
    );
    assert_eq!(transport.sent.lock().unwrap().len(), 1);
    let c2 = iot.send("sl2", "switch", on.clone(), &owner).await.unwrap();
    assert_eq!(c2.status, CommandStatus::Failed);
    assert!(c2.error.unwrap().contains("not connected"));
    let c3 = iot
        .send(
            "sl1",
            "dim",
            [("pct".to_string(), Value::Int(50))].into(),
            &owner,
        )
        .await
        .unwrap();
    w.advance(chrono::Duration::minutes(5));
    assert_eq!(iot.sweep_commands(w.now()).await.unwrap(), 1);
    assert_eq!(
        iot.command(c3.id).await.unwrap().unwrap().status,
        CommandStatus::TimedOut
    );
    // Permission and validation.
    let stranger = CommandActor {
        name: "x".into(),
        department: Some("YH-OTHER".into()),
    };
    assert!(
        iot.send("sl1", "switch", on.clone(), &stranger)
            .await
            .is_err()
    );
    assert!(
        iot.send("sl1", "explode", BTreeMap::new(), &owner)
            .await
            .is_err()
    );

    // Offline: nothing heard for longer than the threshold.
    w.advance(chrono::Duration::minutes(30));
    let offline = iot.sweep_offline(w.now()).await.unwrap();
    assert!(offline.contains(&"sl1".to_string()), "{offline:?}");
    assert!(!iot.latest("sl1").unwrap().online);

    // Durability: flush, stop, reopen — latest state and history are there.
    iot.shutdown().await.unwrap();
    drop(iot);
    let reopened = service(w, transport).await;
    let latest = reopened.latest("sl1").expect("latest state reloaded");
    assert_eq!(latest.values.get("fault_word"), Some(&Value::Int(1)));
    let history = w
        .store
        .telemetry(
            "sl1",
            now - chrono::Duration::hours(1),
            now + chrono::Duration::hours(2),
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        history.len(),
        5,
        "every accepted message of sl1 is in the history"
    );
    assert_eq!(history[0], fault);
    reopened.shutdown().await.unwrap();
    let _ = DeviceSession::new("a", "b", Protocol::Mqtt, "c");
}

both!(street_light_loop);
