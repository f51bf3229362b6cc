//! Pure domain types and rules of chengyun: codes, the city model, components,
//! users and roles, the audit record. No I/O, no async runtime, no database.
//!
//! Other crates build on these types; the store persists them, the api exposes
//! them, and validation lives here so every entry point applies the same rules.

pub mod audit;
pub mod auth;
pub mod case;
pub mod city;
pub mod codes;
pub mod component;
pub mod iot;
pub mod page;
pub mod standard;
pub mod validation;

pub use validation::{Invalid, ValidationError};
