//! Legal limits for road vehicles (超限认定标准), as data.
//!
//! The table ships as `data/overload_limits.json` so a reader can check it
//! against 交通运输部令 2016 年第 62号 without reading code, and a city can load
//! a different table through [`OverloadTable::from_json`].

use crate::{Invalid, ValidationError};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

const LIMITS_JSON: &str = include_str!("../../data/overload_limits.json");

/// Truck (货车) or combination (汽车列车: tractor + trailer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Configuration {
    Truck,
    Combination,
}

/// One row of the gross-mass table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrossMassLimit {
    pub axles: u8,
    /// The row also applies to more axles (the "6 axles and more" row).
    #[serde(default)]
    pub or_more: bool,
    /// Only for this configuration; `None` applies to both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<Configuration>,
    /// Only for a tractor with a single drive axle (or only without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_drive_axle: Option<bool>,
    pub max_t: f64,
}

/// The whole table: gross mass by axle count, and the dimension limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverloadTable {
    #[serde(default)]
    pub source: String,
    pub gross_mass: Vec<GrossMassLimit>,
    pub max_height_m: f64,
    pub max_width_m: f64,
    pub max_length_m: f64,
}

/// A weigh-in-motion record, as far as the limits are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct VehicleMeasure {
    pub axles: u8,
    pub gross_t: f64,
    pub configuration: Option<Configuration>,
    pub single_drive_axle: Option<bool>,
    pub height_m: Option<f64>,
    pub width_m: Option<f64>,
    pub length_m: Option<f64>,
}

/// One limit a vehicle broke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// `gross_mass`, `height`, `width` or `length`.
    pub what: String,
    pub measured: f64,
    pub limit: f64,
}

impl Violation {
    /// How far over the limit, as a fraction of the limit (0.1 = 10 % over).
    pub fn excess_ratio(&self) -> f64 {
        (self.measured - self.limit) / self.limit
    }
}

impl OverloadTable {
    /// The national table shipped with chengyun.
    pub fn national() -> &'static OverloadTable {
        static TABLE: OnceLock<OverloadTable> = OnceLock::new();
        TABLE
            .get_or_init(|| Self::from_json(LIMITS_JSON).expect("embedded overload table is valid"))
    }

    pub fn from_json(text: &str) -> Result<Self, ValidationError> {
        let table: OverloadTable = serde_json::from_str(text)
            .map_err(|e| Invalid::new("overload_limits", format!("not a valid table: {e}")))?;
        table.validate()?;
        Ok(table)
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = ValidationError::default();
        for (i, row) in self.gross_mass.iter().enumerate() {
            if row.axles < 2 {
                errors.push(Invalid::new(
                    format!("gross_mass[{i}].axles"),
                    "a road vehicle has at least 2 axles",
                ));
            }
            if !(row.max_t.is_finite() && row.max_t > 0.0) {
                errors.push(Invalid::new(
                    format!("gross_mass[{i}].max_t"),
                    "the limit must be a positive number of tonnes",
                ));
            }
        }
        for axles in 2..=6u8 {
            if !self
                .gross_mass
                .iter()
                .any(|r| r.axles == axles || (r.or_more && r.axles <= axles))
            {
                errors.push(Invalid::new(
                    "gross_mass",
                    format!("no row covers {axles} axles"),
                ));
            }
        }
        for (field, v) in [
            ("max_height_m", self.max_height_m),
            ("max_width_m", self.max_width_m),
            ("max_length_m", self.max_length_m),
        ] {
            if !(v.is_finite() && v > 0.0) {
                errors.push(Invalid::new(field, "must be a positive number of metres"));
            }
        }
        errors.into_result()
    }

    /// The gross-mass limit for a vehicle. When the configuration or the drive
    /// axle is unknown, the most lenient matching row applies, so that a missing
    /// field never turns a legal vehicle into an enforcement case.
    pub fn gross_limit(
        &self,
        axles: u8,
        configuration: Option<Configuration>,
        single_drive_axle: Option<bool>,
    ) -> Option<f64> {
        let applicable = |r: &&GrossMassLimit| {
            (r.axles == axles || (r.or_more && axles >= r.axles))
                && match (r.configuration, configuration) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                }
                && match (r.single_drive_axle, single_drive_axle) {
                    (Some(a), Some(b)) => a == b,
                    (Some(true), None) => false,
                    _ => true,
                }
        };
        let rows: Vec<&GrossMassLimit> = self.gross_mass.iter().filter(applicable).collect();
        // Prefer the row that names the known facts; among equals take the highest limit.
        let specificity = |r: &GrossMassLimit| {
            usize::from(r.configuration.is_some() && configuration.is_some())
                + usize::from(r.single_drive_axle.is_some() && single_drive_axle.is_some())
                + usize::from(r.axles == axles)
        };
        let best = rows.iter().map(|r| specificity(r)).max()?;
        rows.iter()
            .filter(|r| specificity(r) == best)
            .map(|r| r.max_t)
            .fold(None, |acc: Option<f64>, x| {
                Some(acc.map_or(x, |a| a.max(x)))
            })
    }

    /// Every limit the vehicle broke (empty when legal).
    pub fn check(&self, v: &VehicleMeasure) -> Vec<Violation> {
        let mut out = Vec::new();
        if let Some(limit) = self.gross_limit(v.axles, v.configuration, v.single_drive_axle)
            && v.gross_t > limit
        {
            out.push(Violation {
                what: "gross_mass".into(),
                measured: v.gross_t,
                limit,
            });
        }
        for (what, measured, limit) in [
            ("height", v.height_m, self.max_height_m),
            ("width", v.width_m, self.max_width_m),
            ("length", v.length_m, self.max_length_m),
        ] {
            if let Some(m) = measured
                && m > limit
            {
                out.push(Violation {
                    what: what.into(),
                    measured: m,
                    limit,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Configuration::{Combination, Truck};

    #[test]
    fn gross_limit_per_axle_count() {
        let t = OverloadTable::national();
        let cases: [(u8, Option<Configuration>, Option<bool>, f64); 12] = [
            (2, None, None, 18.0),
            (2, Some(Truck), None, 18.0),
            (3, Some(Truck), None, 25.0),
            (3, Some(Combination), None, 27.0),
            (3, None, None, 27.0),
            (4, Some(Truck), None, 31.0),
            (4, Some(Combination), None, 36.0),
            (5, None, None, 43.0),
            (6, None, None, 49.0),
            (6, None, Some(true), 46.0),
            (6, None, Some(false), 49.0),
            (8, Some(Combination), Some(true), 46.0),
        ];
        for (axles, conf, single, want) in cases {
            assert_eq!(
                t.gross_limit(axles, conf, single),
                Some(want),
                "{axles} axles {conf:?} single drive {single:?}"
            );
        }
        assert_eq!(t.gross_limit(1, None, None), None);
    }

    #[test]
    fn check_reports_every_broken_limit() {
        let t = OverloadTable::national();
        let legal = VehicleMeasure {
            axles: 2,
            gross_t: 18.0,
            height_m: Some(4.0),
            width_m: Some(2.55),
            length_m: Some(12.0),
            ..Default::default()
        };
        assert!(t.check(&legal).is_empty(), "the limit itself is legal");
        let bad = VehicleMeasure {
            axles: 3,
            gross_t: 25.5,
            configuration: Some(Truck),
            height_m: Some(4.2),
            width_m: Some(2.6),
            length_m: Some(18.2),
            ..Default::default()
        };
        let v = t.check(&bad);
        let whats: Vec<_> = v.iter().map(|v| v.what.as_str()).collect();
        assert_eq!(whats, ["gross_mass", "height", "width", "length"]);
        assert!((v[0].excess_ratio() - 0.02).abs() < 1e-9);
    }

    #[test]
    fn bad_tables_are_refused() {
        let e = OverloadTable::from_json(
            r#"{"gross_mass":[{"axles":2,"max_t":-1}],"max_height_m":4,"max_width_m":2.55,"max_length_m":0}"#,
        )
        .unwrap_err();
        let fields: Vec<_> = e.problems.iter().map(|p| p.field.clone()).collect();
        assert!(fields.contains(&"gross_mass[0].max_t".to_string()));
        assert!(fields.contains(&"max_length_m".to_string()));
        assert!(fields.iter().filter(|f| *f == "gross_mass").count() >= 4);
    }
}
