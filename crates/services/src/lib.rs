//! Application services of chengyun: the work behind the API and the CLI,
//! written once so both entry points apply the same rules.
//!
//! - [`auth`]: passwords, sessions, API tokens, the first admin account.
//! - [`import`]: all-or-nothing imports of the city model and components.

pub mod auth;
pub mod import;
