//! The demo city and the city simulator.
//!
//! - [`city`]: a generated city — districts, streets, communities, unit grids,
//!   the three-tier command system, one user per role, thousands of
//!   components — written through the same store interface as real imports.
//! - [`protocol`]: the device side of JT/T 808, the watch protocol and GB/T 28181 Notify.
//! - [`devices`]: fleets per scenario pack with movement and episodes (theft, SOS, falls,
//!   intrusions, overloads …).
//! - [`people`]: citizens and inspectors reporting cases, staff working them, through the
//!   REST API.
//! - [`enrol`]: registers the fleet in the server's device registry through the REST API.
//! - [`runner`]: paces a fleet and the people against a target, with live stats.
//! - [`bench`]: the end-to-end benchmark scenarios behind `chengyun bench`.

pub mod bench;
pub mod city;
pub mod devices;
pub mod enrol;
pub mod people;
pub mod protocol;
pub mod runner;
