//! The IoT brain (物联大脑), pure part: thing models and devices, the telemetry
//! every ingest source produces, declarative rules and the engine that turns
//! telemetry into alarms, the alarm → matter mapping, and the scenario packs.
//!
//! - [`model`]: products (thing models), devices, sharing grants, telemetry and
//!   its validation against the product.
//! - [`rules`]: rules as data (JSON, versioned), their validation, and the
//!   [`rules::RuleEngine`] holding per (device, rule) state and the alarm
//!   lifecycle (raised → updated → acknowledged → cleared).
//! - [`overload`]: the legal gross-mass and dimension limits as data.
//! - [`alarm_mapping`]: alarm type → matter code, urgency, dispatch policy,
//!   and linkage actions (commands to the nearest loudspeaker or camera).
//! - [`kpi`]: the small KPI formula language of the packs.
//! - [`packs`]: the scenario packs of DOMAIN.md §7, embedded as JSON.
//!
//! No I/O and no clock: `now` is always a parameter, so every decision can be
//! replayed in a test with a synthetic time line.

pub mod alarm_mapping;
pub mod kpi;
pub mod model;
pub mod overload;
pub mod packs;
pub mod rules;

pub use alarm_mapping::{
    AlarmCaseDraft, AlarmMapping, DispatchPolicy, LinkageAction, MappingTable, MatterTarget,
    PlannedCommand,
};
pub use model::{
    CommandDef, DataType, Device, EventDef, EventOccurrence, GeoPoint, Grant, GrantTarget, Level,
    Permission, Product, PropertyDef, Protocol, Telemetry, Value, may,
};
pub use packs::Pack;
pub use rules::{
    Alarm, AlarmChange, AlarmChangeKind, AlarmKey, AlarmState, ClearPolicy, ClearReason, Condition,
    DeviceContext, Rule, RuleEngine, RuleSet,
};
