//! Application services of chengyun: the work behind the API and the CLI,
//! written once so both entry points apply the same rules.
//!
//! - [`auth`]: passwords, sessions, API tokens, the first admin account.
//! - [`case`]: the case closed loop: intake, workflow, dispatch, timers, evaluation.
//! - [`classify`]: matter-code suggestions for free Chinese text.
//! - [`history`]: parsing past cases (311 exports, chengyun CSV) with a per-row report.
//! - [`import`]: all-or-nothing imports of the city model and components.
//! - [`iot`]: the IoT brain: device registry, telemetry pipeline, rules, alarms → cases, commands, packs.

pub mod auth;
pub mod case;
pub mod classify;
pub mod history;
pub mod import;
pub mod iot;
