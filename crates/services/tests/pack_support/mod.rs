//! The city for the scenario-pack tests, built on `case_support`: the same
//! three-tier 鹰潭 and store (SQLite or a fresh PostgreSQL schema), plus
//!
//! - the case loop's catalogue extended with every shipped pack's local
//!   matter classes (109xx), so the case intake knows 电动自行车被盗 & co.;
//! - a department for each target the packs' alarm mappings name
//!   (`department_hint`): police, community, judicial office, railway
//!   patrol, traffic enforcement, market supervision, fire, municipal;
//! - an [`IotService`] feeding that case loop, with every hint mapped to its
//!   department in [`IotConfig::departments`].
#![allow(dead_code)]

use super::case_support::{self, World};
use chengyun_domain::audit::{Actor, AuditEvent};
use chengyun_domain::city::{Department, DepartmentKind, Tier};
use chengyun_domain::codes::DivisionCode;
use chengyun_domain::iot::packs;
use chengyun_domain::standard::Catalogue;
use chengyun_ingest::source::contract::{OutboundFrame, SendError};
use chengyun_services::case::{CaseConfig, CaseService, StaticCity};
use chengyun_services::iot::{CommandTransport, IotConfig, IotService};
use std::sync::{Arc, Mutex};

/// Department hint of the packs → (code, name, tier) in the test city.
pub const TARGETS: [(&str, &str, &str, Tier); 9] = [
    ("police", "YH-GAJ", "月湖公安分局", Tier::District),
    ("community", "JB-SQ", "江边街道社区", Tier::Street),
    ("judicial_office", "JB-SFS", "江边司法所", Tier::Street),
    ("railway_patrol", "YH-HLB", "月湖区护路办", Tier::District),
    (
        "traffic_enforcement",
        "YH-JTZF",
        "月湖区交通运输综合执法大队",
        Tier::District,
    ),
    (
        "market_supervision",
        "YH-SCJG",
        "月湖区市场监督管理局",
        Tier::District,
    ),
    (
        "fire_department",
        "YH-XF",
        "月湖区消防救援大队",
        Tier::District,
    ),
    // Municipal (市政, already in case_support): street lights and manholes.
    ("street_lighting", "YH-SZJ", "月湖区市政局", Tier::District),
    ("component_owner", "YH-SZJ", "月湖区市政局", Tier::District),
];

/// The department code a pack's hint resolves to here.
pub fn department_for(hint: &str) -> &'static str {
    TARGETS
        .iter()
        .find(|t| t.0 == hint)
        .map(|t| t.1)
        .unwrap_or_else(|| panic!("no department for hint {hint}"))
}

/// Records every frame; devices listed in `connected` accept.
#[derive(Default)]
pub struct FakeTransport {
    pub sent: Mutex<Vec<(String, OutboundFrame)>>,
    pub connected: Mutex<Vec<String>>,
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

/// Every shipped pack's local matter classes on top of the national catalogue.
pub fn pack_catalogue() -> Catalogue {
    let mut catalogue = Catalogue::national();
    assert_eq!(
        packs::all().len(),
        packs::keys().len(),
        "a pack failed to parse"
    );
    for pack in packs::all() {
        pack.extend_catalogue(&mut catalogue)
            .unwrap_or_else(|e| panic!("pack {}: {e}", pack.key));
    }
    catalogue
}

/// Turns a `case_support` world into the pack city: departments for every
/// target, and a case loop whose catalogue has the packs' local classes.
pub async fn pack_world(mut w: World) -> World {
    let audit = AuditEvent::new(&Actor::system("test"), "setup", "city", "yingtan-iot");
    let mut depts = Vec::new();
    for (_, code, name, tier) in TARGETS {
        if code == "YH-SZJ" || depts.iter().any(|d: &Department| d.code == code) {
            continue;
        }
        let (area, parent) = match tier {
            Tier::Street => ("360602001", "JB-CENTER"),
            _ => ("360602", "YH-CENTER"),
        };
        depts.push(Department {
            code: code.into(),
            name: name.into(),
            kind: DepartmentKind::Functional,
            tier,
            area_code: DivisionCode::parse(area).unwrap(),
            parent_code: Some(parent.into()),
        });
    }
    w.store.upsert_departments(&depts, &audit).await.unwrap();
    let city = Arc::new(StaticCity {
        locator: w.city.locator.clone(),
        catalogue: pack_catalogue(),
    });
    let clock = w.clock.clone();
    let service = CaseService::new(
        w.store.clone(),
        w.bus.clone(),
        city.clone(),
        CaseConfig::new(w.dir.path()),
    )
    .await
    .unwrap()
    .with_clock(move || *clock.lock().unwrap());
    w.city = city;
    w.service = service;
    w
}

pub async fn sqlite() -> World {
    pack_world(case_support::sqlite().await).await
}

pub async fn postgres() -> World {
    pack_world(case_support::postgres().await).await
}

/// Every pack hint → its department.
pub fn config() -> IotConfig {
    IotConfig {
        departments: TARGETS
            .iter()
            .map(|(hint, code, _, _)| (hint.to_string(), code.to_string()))
            .collect(),
        ..IotConfig::default()
    }
}

/// The IoT service on the world's store, bus, case loop and clock, with
/// `pack` enabled and the case loop reloaded (departments, dispatch rules).
pub async fn iot_with_pack(w: &World, pack: &str, transport: Arc<FakeTransport>) -> IotService {
    let clock = w.clock.clone();
    let iot = IotService::with_clock(
        w.store.clone(),
        w.bus.clone(),
        Some(w.service.clone()),
        transport,
        config(),
        Arc::new(move || *clock.lock().unwrap()),
    )
    .await
    .expect("iot service");
    iot.enable_pack(pack, &Actor::system("test"))
        .await
        .unwrap_or_else(|e| panic!("enable pack {pack}: {e}"));
    w.service.reload().await.unwrap();
    iot
}

/// Runs async pack tests on both backends (PostgreSQL never skipped).
#[macro_export]
macro_rules! both_packs {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let w = super::pack_support::sqlite().await;
                    super::$case(&w).await;
                    w.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let w = super::pack_support::postgres().await;
                    super::$case(&w).await;
                    w.finish().await;
                }
            )*
        }
    };
}
