//! The demo city and the city simulator.
//!
//! - [`city`]: a generated city — districts, streets, communities, unit grids,
//!   the three-tier command system, one user per role, thousands of
//!   components — written through the same store interface as real imports.

pub mod city;
