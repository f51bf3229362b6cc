//! Declarative rules and the engine that evaluates them.
//!
//! A [`Rule`] is data (JSON, versioned): which devices it watches, a
//! [`Condition`], the alarm it raises, how that alarm clears, and linkage
//! actions. The [`RuleEngine`] keeps per (device, rule) state and turns each
//! telemetry message — and the passage of time, through [`RuleEngine::tick`] —
//! into [`AlarmChange`]s.
//!
//! Alarm lifecycle per (device, rule[, subject]): raised once; repeat hits only
//! update count, last time, value and location (an `Updated` change is emitted
//! at most once per update interval, so a device reporting every second never
//! floods the case loop); acknowledged by a person; cleared by the clear
//! condition, by a person, or when the case is closed. A person clearing an
//! alarm whose condition still holds latches it: it is raised again only after
//! the condition has stopped holding once.
//!
//! Time: sample times are the telemetry's `at` (clamped to `now`, since device
//! clocks run ahead); a condition holds from its last sample until a later
//! sample says otherwise, which is how minimum durations and dwell times
//! elapse in [`RuleEngine::tick`] between messages.

use super::alarm_mapping::LinkageAction;
use super::model::{
    DataType, Device, GeoPoint, Level, Product, Telemetry, Value, check_identifier,
};
use super::overload::{Configuration, OverloadTable, VehicleMeasure};
use crate::component::ComponentId;
use crate::{Invalid, ValidationError};
use chrono::{DateTime, Duration, Utc};
use geo::{BoundingRect, Contains};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Version of the rule export format.
pub const RULES_FORMAT_VERSION: u32 = 1;

fn yes() -> bool {
    true
}

/// A declarative rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    /// Increases on every edit; alarms record the version that raised them.
    pub version: u32,
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub applies_to: AppliesTo,
    pub condition: Condition,
    pub raise: AlarmSpec,
    #[serde(default)]
    pub clear: ClearPolicy,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub linkage: Vec<LinkageAction>,
    /// A property whose value separates alarms of one device (e.g. the plate at
    /// a weigh station: one alarm per vehicle, not one per station).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_property: Option<String>,
}

/// Which devices a rule watches. A product is always named, because the
/// condition refers to that product's properties and events; device ids and a
/// tag narrow it down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliesTo {
    pub product: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

impl AppliesTo {
    pub fn matches(&self, device: &Device) -> bool {
        device.product_key == self.product
            && (self.devices.is_empty() || self.devices.iter().any(|d| d == &device.id))
            && self.tag.as_ref().is_none_or(|t| device.tags.contains(t))
    }
}

/// The alarm a rule raises. The message is a template with `{device}`,
/// `{device_name}`, `{value}`, `{detail}`, `{count}`, `{subject}`, `{rule}`,
/// `{lon}`, `{lat}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmSpec {
    #[serde(rename = "type")]
    pub alarm_type: String,
    #[serde(default)]
    pub level: Level,
    pub message: String,
}

const PLACEHOLDERS: [&str; 9] = [
    "device",
    "device_name",
    "value",
    "detail",
    "count",
    "subject",
    "rule",
    "lon",
    "lat",
];

/// Comparison of a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CmpOp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl CmpOp {
    fn test(self, x: f64, y: f64) -> bool {
        match self {
            CmpOp::Gt => x > y,
            CmpOp::Ge => x >= y,
            CmpOp::Lt => x < y,
            CmpOp::Le => x <= y,
            CmpOp::Eq => x == y,
            CmpOp::Ne => x != y,
        }
    }
}

/// A geofence area in WGS-84 (the caller converts other CRSs first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "shape", rename_all = "snake_case")]
pub enum Area {
    /// A GeoJSON Polygon or MultiPolygon geometry.
    Polygon {
        geometry: geojson::Geometry,
    },
    Circle {
        center: GeoPoint,
        radius_m: f64,
    },
    /// A circle around the device's registered location (a wearer's home):
    /// one rule serves every wristband, each with its own safe zone.
    AroundDeviceLocation {
        radius_m: f64,
    },
}

/// What a geofence watches for. Level semantics: `enter` holds while the
/// device is inside, `exit` while it is outside, `dwell` while it has been
/// inside for at least `for_secs`; the alarm clears when that stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeofenceTrigger {
    Enter,
    Exit,
    Dwell,
}

fn default_fix_age() -> i64 {
    300
}

/// What a rule watches for. Durations are whole seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Condition {
    /// `property op value`; with `clear_at` the condition stops holding only
    /// past that value (hysteresis), and it must hold `for_secs` to raise.
    Threshold {
        property: String,
        op: CmpOp,
        value: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clear_at: Option<f64>,
        #[serde(default)]
        for_secs: i64,
    },
    /// The value is outside `[low, high]` (e.g. heart rate); it stops holding
    /// once back inside by `hysteresis`.
    Band {
        property: String,
        low: f64,
        high: f64,
        #[serde(default)]
        hysteresis: f64,
        #[serde(default)]
        for_secs: i64,
    },
    Geofence {
        area: Area,
        trigger: GeofenceTrigger,
        #[serde(default)]
        for_secs: i64,
    },
    /// No telemetry for `after_secs`.
    Offline { after_secs: i64 },
    /// A bit of an integer property is set (JT/T 808 alarm word, watch status word).
    AlarmBit { property: String, bit: u8 },
    /// The device reported this event, with these parameter values.
    Event {
        event: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        params: BTreeMap<String, Value>,
    },
    /// The device and its paired device are farther apart than `max_m` (人机分离).
    PairedDistance {
        max_m: f64,
        #[serde(default)]
        for_secs: i64,
        /// The paired device's fix is ignored when older than this.
        #[serde(default = "default_fix_age")]
        max_fix_age_secs: i64,
    },
    /// Speed from `property` (km/h) or, without one, from successive fixes.
    Speed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        property: Option<String>,
        limit_kmh: f64,
        #[serde(default)]
        for_secs: i64,
    },
    /// The device moves while armed: farther than `max_displacement_m` from
    /// where it was armed, or faster than `max_speed_kmh`.
    MovementWhileArmed {
        max_displacement_m: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_speed_kmh: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        speed_property: Option<String>,
    },
    /// A weigh-in-motion record over the legal limits (see [`OverloadTable`]).
    Overload {
        axles: String,
        gross_mass_t: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        configuration: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        single_drive_axle: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        height_m: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        width_m: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        length_m: Option<String>,
    },
    /// At least `count` occurrences of `event` within a sliding `within_secs`.
    EventCount {
        event: String,
        count: u32,
        within_secs: i64,
    },
}

impl Condition {
    pub fn kind(&self) -> &'static str {
        match self {
            Condition::Threshold { .. } => "threshold",
            Condition::Band { .. } => "band",
            Condition::Geofence { .. } => "geofence",
            Condition::Offline { .. } => "offline",
            Condition::AlarmBit { .. } => "alarm_bit",
            Condition::Event { .. } => "event",
            Condition::PairedDistance { .. } => "paired_distance",
            Condition::Speed { .. } => "speed",
            Condition::MovementWhileArmed { .. } => "movement_while_armed",
            Condition::Overload { .. } => "overload",
            Condition::EventCount { .. } => "event_count",
        }
    }

    /// Momentary conditions are hits without a "no longer holds" sample; their
    /// alarms clear by [`ClearPolicy::Quiet`], by a person or by the case.
    fn is_momentary(&self) -> bool {
        matches!(self, Condition::Event { .. } | Condition::Overload { .. })
    }

    fn for_secs(&self) -> i64 {
        match self {
            Condition::Threshold { for_secs, .. }
            | Condition::Band { for_secs, .. }
            | Condition::Geofence { for_secs, .. }
            | Condition::PairedDistance { for_secs, .. }
            | Condition::Speed { for_secs, .. } => *for_secs,
            _ => 0,
        }
    }
}

/// How an alarm clears besides a person or the closed case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ClearPolicy {
    /// When the condition stops holding (momentary conditions never do).
    #[default]
    Auto,
    /// Only a person or the case clears it (an SOS stays until handled).
    Manual,
    /// After no hit for `secs`.
    Quiet { secs: i64 },
    /// When this other condition holds (checked on each sample, without its
    /// own duration); only conditions evaluated from one sample are allowed.
    When { condition: Box<Condition> },
}

/// Rules as exported and imported: a format version and the rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSet {
    pub format_version: u32,
    pub rules: Vec<Rule>,
}

impl RuleSet {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| {
            // Rules hold only plain data; serializing cannot fail, but never panic.
            format!("{{\"error\":\"{e}\"}}")
        })
    }

    /// Parses and validates an export against the products.
    pub fn from_json(text: &str, products: &[Product]) -> Result<RuleSet, ValidationError> {
        let set: RuleSet = serde_json::from_str(text).map_err(|e| {
            Invalid::new(
                "rules",
                format!(
                    "not a rule set (line {}, column {}): {e}",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        if set.format_version != RULES_FORMAT_VERSION {
            return Err(Invalid::new(
                "format_version",
                format!(
                    "format version {} is not supported; this build reads {RULES_FORMAT_VERSION}",
                    set.format_version
                ),
            )
            .into());
        }
        let mut errors = ValidationError::default();
        let mut seen = std::collections::HashSet::new();
        for (i, r) in set.rules.iter().enumerate() {
            if !seen.insert(r.id.as_str()) {
                errors.push(Invalid::new(
                    format!("rules[{i}].id"),
                    format!("rule id {} appears twice", r.id),
                ));
            }
            if let Err(e) = r.validate(products) {
                for p in e.problems {
                    errors.push(p.at(format!("rules[{i}]")));
                }
            }
        }
        errors.into_result().map(|()| set)
    }
}

fn check_secs(field: &str, secs: i64, errors: &mut ValidationError) {
    if secs < 0 {
        errors.push(Invalid::new(
            field,
            format!("duration {secs} s is negative; use 0 or more seconds"),
        ));
    } else if secs > 366 * 86_400 {
        errors.push(Invalid::new(
            field,
            format!("duration {secs} s is longer than a year"),
        ));
    }
}

fn check_positive(field: &str, x: f64, errors: &mut ValidationError) {
    if !(x.is_finite() && x > 0.0) {
        errors.push(Invalid::new(
            field,
            format!("{x} must be a positive number"),
        ));
    }
}

fn check_property(
    product: &Product,
    field: &str,
    id: &str,
    allowed: &[DataType],
    errors: &mut ValidationError,
) {
    match product.property(id) {
        None => errors.push(Invalid::new(
            field,
            format!("product {} has no property {id:?}", product.key),
        )),
        Some(p) if !allowed.contains(&p.data_type) => errors.push(Invalid::new(
            field,
            format!(
                "property {id} is {} but this condition needs {}",
                p.data_type.as_str(),
                allowed
                    .iter()
                    .map(|d| d.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        )),
        Some(_) => {}
    }
}

const NUMERIC: [DataType; 2] = [DataType::Int, DataType::Float];

impl Condition {
    /// Checks the condition against the product; `at` prefixes field paths.
    pub fn validate(&self, product: &Product, errors: &mut ValidationError, at: &str) {
        let f = |name: &str| format!("{at}.{name}");
        match self {
            Condition::Threshold {
                property,
                op,
                value,
                clear_at,
                for_secs,
            } => {
                check_property(product, &f("property"), property, &NUMERIC, errors);
                if !value.is_finite() {
                    errors.push(Invalid::new(f("value"), "must be a finite number"));
                }
                check_secs(&f("for_secs"), *for_secs, errors);
                if let Some(c) = clear_at {
                    let ok = match op {
                        CmpOp::Gt | CmpOp::Ge => *c <= *value,
                        CmpOp::Lt | CmpOp::Le => *c >= *value,
                        CmpOp::Eq | CmpOp::Ne => false,
                    };
                    if !ok || !c.is_finite() {
                        errors.push(Invalid::new(
                            f("clear_at"),
                            format!(
                                "clear_at {c} must lie on the safe side of {value} for {op:?} (below it for gt/ge, above it for lt/le; none for eq/ne)"
                            ),
                        ));
                    }
                }
            }
            Condition::Band {
                property,
                low,
                high,
                hysteresis,
                for_secs,
            } => {
                check_property(product, &f("property"), property, &NUMERIC, errors);
                if !(low.is_finite() && high.is_finite() && low < high) {
                    errors.push(Invalid::new(
                        f("high"),
                        format!("the band [{low}, {high}] needs low < high"),
                    ));
                } else if !(hysteresis.is_finite()
                    && *hysteresis >= 0.0
                    && *hysteresis * 2.0 < high - low)
                {
                    errors.push(Invalid::new(
                        f("hysteresis"),
                        format!(
                            "hysteresis {hysteresis} must be at least 0 and less than half the band"
                        ),
                    ));
                }
                check_secs(&f("for_secs"), *for_secs, errors);
            }
            Condition::Geofence {
                area,
                trigger,
                for_secs,
            } => {
                if let Err(e) = CompiledArea::compile(area) {
                    errors.push(e.at(f("area")));
                }
                check_secs(&f("for_secs"), *for_secs, errors);
                if *trigger == GeofenceTrigger::Dwell && *for_secs <= 0 {
                    errors.push(Invalid::new(
                        f("for_secs"),
                        "a dwell geofence needs for_secs > 0 (how long inside is too long)",
                    ));
                }
            }
            Condition::Offline { after_secs } => {
                check_secs(&f("after_secs"), *after_secs, errors);
                if *after_secs == 0 {
                    errors.push(Invalid::new(
                        f("after_secs"),
                        "offline needs after_secs > 0",
                    ));
                }
            }
            Condition::AlarmBit { property, bit } => {
                check_property(product, &f("property"), property, &[DataType::Int], errors);
                if *bit > 63 {
                    errors.push(Invalid::new(f("bit"), format!("bit {bit} is not 0..63")));
                }
            }
            Condition::Event { event, params } => match product.event(event) {
                None => errors.push(Invalid::new(
                    f("event"),
                    format!("product {} has no event {event:?}", product.key),
                )),
                Some(def) => {
                    for (k, v) in params {
                        match def.params.iter().find(|p| &p.id == k) {
                            None => errors.push(Invalid::new(
                                f(&format!("params.{k}")),
                                format!("event {event} has no parameter {k:?}"),
                            )),
                            Some(p) => {
                                if let Err(e) = p.check(v) {
                                    errors.push(Invalid::new(f(&format!("params.{k}")), e.message));
                                }
                            }
                        }
                    }
                }
            },
            Condition::PairedDistance {
                max_m,
                for_secs,
                max_fix_age_secs,
            } => {
                check_positive(&f("max_m"), *max_m, errors);
                check_secs(&f("for_secs"), *for_secs, errors);
                check_secs(&f("max_fix_age_secs"), *max_fix_age_secs, errors);
            }
            Condition::Speed {
                property,
                limit_kmh,
                for_secs,
            } => {
                if let Some(p) = property {
                    check_property(product, &f("property"), p, &NUMERIC, errors);
                }
                check_positive(&f("limit_kmh"), *limit_kmh, errors);
                check_secs(&f("for_secs"), *for_secs, errors);
            }
            Condition::MovementWhileArmed {
                max_displacement_m,
                max_speed_kmh,
                speed_property,
            } => {
                check_positive(&f("max_displacement_m"), *max_displacement_m, errors);
                if let Some(v) = max_speed_kmh {
                    check_positive(&f("max_speed_kmh"), *v, errors);
                }
                if let Some(p) = speed_property {
                    check_property(product, &f("speed_property"), p, &NUMERIC, errors);
                }
            }
            Condition::Overload {
                axles,
                gross_mass_t,
                configuration,
                single_drive_axle,
                height_m,
                width_m,
                length_m,
            } => {
                check_property(product, &f("axles"), axles, &[DataType::Int], errors);
                check_property(product, &f("gross_mass_t"), gross_mass_t, &NUMERIC, errors);
                if let Some(c) = configuration {
                    check_property(
                        product,
                        &f("configuration"),
                        c,
                        &[DataType::Enum, DataType::String],
                        errors,
                    );
                }
                if let Some(s) = single_drive_axle {
                    check_property(
                        product,
                        &f("single_drive_axle"),
                        s,
                        &[DataType::Bool],
                        errors,
                    );
                }
                for (name, p) in [
                    ("height_m", height_m),
                    ("width_m", width_m),
                    ("length_m", length_m),
                ] {
                    if let Some(p) = p {
                        check_property(product, &f(name), p, &NUMERIC, errors);
                    }
                }
            }
            Condition::EventCount {
                event,
                count,
                within_secs,
            } => {
                if product.event(event).is_none() {
                    errors.push(Invalid::new(
                        f("event"),
                        format!("product {} has no event {event:?}", product.key),
                    ));
                }
                if *count == 0 {
                    errors.push(Invalid::new(f("count"), "count must be at least 1"));
                }
                check_secs(&f("within_secs"), *within_secs, errors);
                if *within_secs == 0 {
                    errors.push(Invalid::new(
                        f("within_secs"),
                        "the window needs within_secs > 0",
                    ));
                }
            }
        }
    }
}

impl Rule {
    /// Checks the rule against the products it may refer to (its own product
    /// and the targets of its linkage actions); reports every problem.
    pub fn validate(&self, products: &[Product]) -> Result<(), ValidationError> {
        let mut errors = ValidationError::default();
        if let Err(e) = check_identifier(&self.id) {
            errors.push(e.at("id"));
        }
        if self.version == 0 {
            errors.push(Invalid::new("version", "versions start at 1"));
        }
        if self.name.trim().is_empty() {
            errors.push(Invalid::new(
                "name",
                format!("rule {} needs a name", self.id),
            ));
        }
        let find = |key: &str| products.iter().find(|p| p.key == key);
        let Some(product) = find(&self.applies_to.product) else {
            errors.push(Invalid::new(
                "applies_to.product",
                format!("unknown product {:?}", self.applies_to.product),
            ));
            return errors.into_result();
        };
        for (i, d) in self.applies_to.devices.iter().enumerate() {
            if let Err(e) = check_identifier(d) {
                errors.push(e.at(format!("applies_to.devices[{i}]")));
            }
        }
        if let Some(t) = &self.applies_to.tag
            && let Err(e) = check_identifier(t)
        {
            errors.push(e.at("applies_to.tag"));
        }
        self.condition.validate(product, &mut errors, "condition");
        if let Some(s) = &self.subject_property {
            check_property(
                product,
                "subject_property",
                s,
                &[DataType::String, DataType::Enum, DataType::Int],
                &mut errors,
            );
        }
        if self.raise.alarm_type.is_empty()
            || !self
                .raise
                .alarm_type
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            errors.push(Invalid::new(
                "raise.type",
                format!(
                    "alarm type {:?} must be ASCII letters, digits, '_', '.', '-' (e.g. ebike.stolen)",
                    self.raise.alarm_type
                ),
            ));
        }
        match Template::parse(&self.raise.message) {
            Ok(_) if self.raise.message.trim().is_empty() => {
                errors.push(Invalid::new("raise.message", "the alarm needs a message"));
            }
            Ok(_) => {}
            Err(e) => errors.push(e.at("raise.message")),
        }
        match &self.clear {
            ClearPolicy::Auto | ClearPolicy::Manual => {}
            ClearPolicy::Quiet { secs } => {
                check_secs("clear.secs", *secs, &mut errors);
                if *secs == 0 {
                    errors.push(Invalid::new("clear.secs", "a quiet period needs secs > 0"));
                }
            }
            ClearPolicy::When { condition } => {
                if !matches!(
                    **condition,
                    Condition::Threshold { .. }
                        | Condition::Band { .. }
                        | Condition::Geofence { .. }
                        | Condition::AlarmBit { .. }
                        | Condition::Speed {
                            property: Some(_),
                            ..
                        }
                ) {
                    errors.push(Invalid::new(
                        "clear.condition",
                        format!(
                            "a {} condition cannot clear an alarm; use threshold, band, geofence, alarm_bit or speed with a property",
                            condition.kind()
                        ),
                    ));
                }
                condition.validate(product, &mut errors, "clear.condition");
            }
        }
        for (i, action) in self.linkage.iter().enumerate() {
            if let Err(e) = action.validate(products) {
                errors.push(e.at(format!("linkage[{i}]")));
            }
        }
        errors.into_result()
    }
}

// ---------------------------------------------------------------------------
// Templates

#[derive(Debug, Clone)]
enum Segment {
    Text(String),
    Field(usize),
}

#[derive(Debug, Clone)]
struct Template(Vec<Segment>);

impl Template {
    fn parse(text: &str) -> Result<Template, Invalid> {
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                out.push(Segment::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                return Err(Invalid::new(
                    "",
                    format!("a '{{' is not closed in {text:?}"),
                ));
            };
            let name = &after[..close];
            let Some(i) = PLACEHOLDERS.iter().position(|p| *p == name) else {
                return Err(Invalid::new(
                    "",
                    format!("unknown placeholder {{{name}}}; use one of {PLACEHOLDERS:?}"),
                ));
            };
            out.push(Segment::Field(i));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            out.push(Segment::Text(rest.to_string()));
        }
        Ok(Template(out))
    }

    fn render(&self, device: &Device, rule_name: &str, alarm: &Alarm, detail: &str) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        for seg in &self.0 {
            match seg {
                Segment::Text(t) => s.push_str(t),
                Segment::Field(i) => {
                    let _ = match *i {
                        0 => write!(s, "{}", device.id),
                        1 => write!(s, "{}", device.name),
                        2 => match &alarm.value {
                            Some(Value::Float(x)) => write!(s, "{}", (x * 100.0).round() / 100.0),
                            Some(v) => write!(s, "{v}"),
                            None => Ok(()),
                        },
                        3 => write!(s, "{detail}"),
                        4 => write!(s, "{}", alarm.count),
                        5 => write!(s, "{}", alarm.key.subject.as_deref().unwrap_or("")),
                        6 => write!(s, "{rule_name}"),
                        7 => write!(s, "{:.6}", alarm.location.map_or(f64::NAN, |p| p.lon)),
                        _ => write!(s, "{:.6}", alarm.location.map_or(f64::NAN, |p| p.lat)),
                    };
                }
            }
        }
        s
    }
}

// ---------------------------------------------------------------------------
// Geometry

#[derive(Debug, Clone)]
enum CompiledArea {
    Polygons {
        shape: geo::MultiPolygon<f64>,
        bbox: geo::Rect<f64>,
    },
    Circle {
        center: GeoPoint,
        radius_m: f64,
    },
    AroundDevice {
        radius_m: f64,
    },
}

impl CompiledArea {
    fn compile(area: &Area) -> Result<CompiledArea, Invalid> {
        match area {
            Area::Circle { center, radius_m } => {
                center.validate().map_err(|e| e.at("center"))?;
                if !(radius_m.is_finite() && *radius_m > 0.0) {
                    return Err(Invalid::new(
                        "radius_m",
                        format!("circle radius {radius_m} must be a positive number of metres"),
                    ));
                }
                Ok(CompiledArea::Circle {
                    center: *center,
                    radius_m: *radius_m,
                })
            }
            Area::AroundDeviceLocation { radius_m } => {
                if !(radius_m.is_finite() && *radius_m > 0.0) {
                    return Err(Invalid::new(
                        "radius_m",
                        format!("radius {radius_m} must be a positive number of metres"),
                    ));
                }
                Ok(CompiledArea::AroundDevice {
                    radius_m: *radius_m,
                })
            }
            Area::Polygon { geometry } => {
                let g = geo_types::Geometry::<f64>::try_from(&geometry.value).map_err(|e| {
                    Invalid::new("geometry", format!("not a valid GeoJSON geometry: {e}"))
                })?;
                let shape = match g {
                    geo_types::Geometry::Polygon(p) => geo::MultiPolygon(vec![p]),
                    geo_types::Geometry::MultiPolygon(m) => m,
                    other => {
                        return Err(Invalid::new(
                            "geometry",
                            format!(
                                "a geofence needs a Polygon or MultiPolygon, not {}",
                                geometry_name(&other)
                            ),
                        ));
                    }
                };
                for (i, poly) in shape.0.iter().enumerate() {
                    let rings = std::iter::once(poly.exterior()).chain(poly.interiors());
                    for (r, ring) in rings.enumerate() {
                        if ring.0.len() < 4 {
                            return Err(Invalid::new(
                                format!("geometry.polygons[{i}].rings[{r}]"),
                                "a ring needs at least 4 positions (3 corners and the closing one)",
                            ));
                        }
                        for c in &ring.0 {
                            GeoPoint::new(c.x, c.y).validate().map_err(|e| {
                                Invalid::new(
                                    format!("geometry.polygons[{i}].rings[{r}]"),
                                    format!(
                                        "{}; is the geometry in WGS-84 lon/lat order?",
                                        e.message
                                    ),
                                )
                            })?;
                        }
                    }
                    if geo::Area::unsigned_area(poly) <= 0.0 {
                        return Err(Invalid::new(
                            format!("geometry.polygons[{i}]"),
                            "the polygon has no area",
                        ));
                    }
                }
                let bbox = shape
                    .bounding_rect()
                    .ok_or_else(|| Invalid::new("geometry", "the geometry has no coordinates"))?;
                Ok(CompiledArea::Polygons { shape, bbox })
            }
        }
    }

    /// Whether the point is inside; `None` when the area depends on a device
    /// location that is not registered.
    fn contains(&self, p: GeoPoint, device: &Device) -> Option<bool> {
        match self {
            CompiledArea::Polygons { shape, bbox } => {
                let c = geo::Coord { x: p.lon, y: p.lat };
                if c.x < bbox.min().x
                    || c.x > bbox.max().x
                    || c.y < bbox.min().y
                    || c.y > bbox.max().y
                {
                    return Some(false);
                }
                Some(shape.contains(&geo::Point(c)))
            }
            CompiledArea::Circle { center, radius_m } => Some(center.distance_m(&p) <= *radius_m),
            CompiledArea::AroundDevice { radius_m } => {
                device.location.map(|home| home.distance_m(&p) <= *radius_m)
            }
        }
    }
}

fn geometry_name(g: &geo_types::Geometry<f64>) -> &'static str {
    match g {
        geo_types::Geometry::Point(_) => "a Point",
        geo_types::Geometry::Line(_) | geo_types::Geometry::LineString(_) => "a LineString",
        geo_types::Geometry::MultiPoint(_) => "a MultiPoint",
        geo_types::Geometry::MultiLineString(_) => "a MultiLineString",
        geo_types::Geometry::GeometryCollection(_) => "a GeometryCollection",
        _ => "this geometry",
    }
}

// ---------------------------------------------------------------------------
// Alarms

/// Identity of an alarm's lifecycle: one device, one rule, and for rules with
/// a subject property one subject (e.g. one plate).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AlarmKey {
    pub device_id: String,
    pub rule_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// Where an alarm is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmState {
    Active,
    Acknowledged,
    Cleared,
}

/// Why an alarm cleared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum ClearReason {
    /// The rule's clear condition (or the condition stopped holding).
    Condition,
    /// No hit for the quiet period.
    Quiet,
    Person {
        user: String,
    },
    CaseClosed {
        case_id: String,
    },
    /// The rule was removed or disabled.
    RuleRemoved,
}

/// An alarm, as the case loop and the web see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    /// Unique per lifecycle: `device/rule[/subject]@first_at_ms`.
    pub id: String,
    pub key: AlarmKey,
    pub rule_version: u32,
    #[serde(rename = "type")]
    pub alarm_type: String,
    pub level: Level,
    pub state: AlarmState,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    /// Hits since it was raised, the raising one included.
    pub count: u64,
    pub value: Option<Value>,
    pub location: Option<GeoPoint>,
    pub message: String,
    pub component_id: Option<ComponentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear_reason: Option<ClearReason>,
}

/// What happened to an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmChangeKind {
    Raised,
    Updated,
    Acknowledged,
    Cleared,
}

/// One change of one alarm; `linkage` is set on `Raised` only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmChange {
    pub kind: AlarmChangeKind,
    pub alarm: Alarm,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub linkage: Vec<LinkageAction>,
}

/// What the engine needs to know about the device besides its telemetry.
#[derive(Debug, Clone, Copy)]
pub struct DeviceContext<'a> {
    pub device: &'a Device,
    /// The paired device's latest fix, if the caller knows it; otherwise the
    /// engine uses the last fix it saw from the paired device itself.
    pub paired_position: Option<(GeoPoint, DateTime<Utc>)>,
}

impl<'a> DeviceContext<'a> {
    pub fn new(device: &'a Device) -> Self {
        Self {
            device,
            paired_position: None,
        }
    }
}

// ---------------------------------------------------------------------------
// Engine

struct CompiledRule {
    rule: Rule,
    area: Option<CompiledArea>,
    clear_area: Option<CompiledArea>,
    template: Template,
}

#[derive(Debug, Default)]
struct Track {
    /// The condition holds (as of the last sample).
    on: bool,
    since: Option<DateTime<Utc>>,
    /// Cleared by a person while the condition held: wait for it to stop.
    latched: bool,
    alarm: Option<Alarm>,
    last_emitted: Option<DateTime<Utc>>,
    value: Option<Value>,
    detail: String,
    window: VecDeque<DateTime<Utc>>,
    armed_origin: Option<GeoPoint>,
}

struct DeviceState {
    device: Device,
    last_seen: Option<DateTime<Utc>>,
    last_fix: Option<(GeoPoint, DateTime<Utc>)>,
    /// (rule slot, subject, state)
    tracks: Vec<(usize, Option<String>, Track)>,
}

impl DeviceState {
    fn track(&mut self, slot: usize, subject: Option<&str>) -> &mut Track {
        let pos = self
            .tracks
            .iter()
            .position(|(s, sub, _)| *s == slot && sub.as_deref() == subject);
        let i = match pos {
            Some(i) => i,
            None => {
                self.tracks
                    .push((slot, subject.map(str::to_string), Track::default()));
                self.tracks.len() - 1
            }
        };
        &mut self.tracks[i].2
    }
}

/// Evaluates rules over telemetry and time, holding per (device, rule) state.
pub struct RuleEngine {
    products: Vec<Product>,
    rules: Vec<Option<CompiledRule>>,
    by_product: HashMap<String, Vec<usize>>,
    devices: HashMap<String, DeviceState>,
    overload: OverloadTable,
    update_interval: Duration,
}

/// A hit or a non-hit of a condition on one sample.
enum Observation {
    /// The sample does not bear on the condition (property absent, no fix…).
    Nothing,
    Holds(Option<Value>, String),
    Stops,
    /// A momentary hit.
    Hit(Option<Value>, String),
}

impl RuleEngine {
    /// An engine over `products` and `rules`; every rule is validated.
    pub fn new(products: Vec<Product>, rules: Vec<Rule>) -> Result<Self, ValidationError> {
        let mut errors = ValidationError::default();
        for (i, p) in products.iter().enumerate() {
            if let Err(e) = p.validate() {
                for problem in e.problems {
                    errors.push(problem.at(format!("products[{i}]")));
                }
            }
        }
        errors.into_result()?;
        let mut engine = RuleEngine {
            products,
            rules: Vec::new(),
            by_product: HashMap::new(),
            devices: HashMap::new(),
            overload: OverloadTable::national().clone(),
            update_interval: Duration::seconds(60),
        };
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        let mut errors = ValidationError::default();
        for (i, r) in rules.into_iter().enumerate() {
            if engine.rule(&r.id).is_some() {
                errors.push(Invalid::new(
                    format!("rules[{i}].id"),
                    format!("rule id {} appears twice", r.id),
                ));
                continue;
            }
            if let Err(e) = engine.upsert_rule(r, epoch) {
                for problem in e.problems {
                    errors.push(problem.at(format!("rules[{i}]")));
                }
            }
        }
        errors.into_result().map(|()| engine)
    }

    /// How often an `Updated` change is emitted for an alarm that keeps being hit.
    pub fn set_update_interval(&mut self, interval: Duration) {
        self.update_interval = interval;
    }

    /// Uses another overload table (e.g. a province's stricter one).
    pub fn set_overload_table(&mut self, table: OverloadTable) {
        self.overload = table;
    }

    pub fn products(&self) -> &[Product] {
        &self.products
    }

    /// Adds or replaces a product; rules referring to it are not re-checked.
    pub fn upsert_product(&mut self, product: Product) -> Result<(), ValidationError> {
        product.validate()?;
        match self.products.iter_mut().find(|p| p.key == product.key) {
            Some(p) => *p = product,
            None => self.products.push(product),
        }
        Ok(())
    }

    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .flatten()
            .map(|c| &c.rule)
            .find(|r| r.id == id)
    }

    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().flatten().map(|c| &c.rule)
    }

    /// The rules as a versioned JSON export.
    pub fn export(&self) -> RuleSet {
        RuleSet {
            format_version: RULES_FORMAT_VERSION,
            rules: self.rules().cloned().collect(),
        }
    }

    /// Adds a rule, or replaces the rule with the same id by a newer version.
    /// Alarms of a replaced rule stay open and keep their lifecycle; the
    /// condition state restarts. Disabling a rule clears its alarms.
    pub fn upsert_rule(
        &mut self,
        rule: Rule,
        now: DateTime<Utc>,
    ) -> Result<Vec<AlarmChange>, ValidationError> {
        rule.validate(&self.products)?;
        let area = match &rule.condition {
            Condition::Geofence { area, .. } => Some(CompiledArea::compile(area)?),
            _ => None,
        };
        let clear_area = match &rule.clear {
            ClearPolicy::When { condition } => match &**condition {
                Condition::Geofence { area, .. } => Some(CompiledArea::compile(area)?),
                _ => None,
            },
            _ => None,
        };
        let template = Template::parse(&rule.raise.message)?;
        let enabled = rule.enabled;
        let compiled = CompiledRule {
            rule,
            area,
            clear_area,
            template,
        };
        let existing = self
            .rules
            .iter()
            .position(|r| r.as_ref().is_some_and(|c| c.rule.id == compiled.rule.id));
        let slot = match existing {
            Some(slot) => {
                let old = self.rules[slot]
                    .as_ref()
                    .map(|c| c.rule.version)
                    .unwrap_or(0);
                if compiled.rule.version <= old {
                    return Err(Invalid::new(
                        "version",
                        format!(
                            "rule {} is at version {old}; an edit needs a higher version, not {}",
                            compiled.rule.id, compiled.rule.version
                        ),
                    )
                    .into());
                }
                let old_product = self.rules[slot]
                    .as_ref()
                    .map(|c| c.rule.applies_to.product.clone())
                    .unwrap_or_default();
                if let Some(v) = self.by_product.get_mut(&old_product) {
                    v.retain(|s| *s != slot);
                }
                for state in self.devices.values_mut() {
                    for (s, _, t) in state.tracks.iter_mut() {
                        if *s == slot {
                            let alarm = t.alarm.take();
                            let latched = t.latched;
                            *t = Track {
                                alarm,
                                latched,
                                ..Track::default()
                            };
                        }
                    }
                }
                self.rules[slot] = Some(compiled);
                slot
            }
            None => {
                self.rules.push(Some(compiled));
                self.rules.len() - 1
            }
        };
        let product = self.rules[slot]
            .as_ref()
            .map(|c| c.rule.applies_to.product.clone())
            .unwrap_or_default();
        self.by_product.entry(product).or_default().push(slot);
        if enabled {
            Ok(Vec::new())
        } else {
            Ok(self.clear_slot(slot, now))
        }
    }

    /// Removes a rule and clears its open alarms.
    pub fn remove_rule(&mut self, id: &str, now: DateTime<Utc>) -> Vec<AlarmChange> {
        let Some(slot) = self
            .rules
            .iter()
            .position(|r| r.as_ref().is_some_and(|c| c.rule.id == id))
        else {
            return Vec::new();
        };
        let changes = self.clear_slot(slot, now);
        for v in self.by_product.values_mut() {
            v.retain(|s| *s != slot);
        }
        for state in self.devices.values_mut() {
            state.tracks.retain(|(s, _, _)| *s != slot);
        }
        self.rules[slot] = None;
        changes
    }

    fn clear_slot(&mut self, slot: usize, now: DateTime<Utc>) -> Vec<AlarmChange> {
        let mut out = Vec::new();
        for state in self.devices.values_mut() {
            for (s, _, t) in state.tracks.iter_mut() {
                if *s == slot
                    && let Some(mut alarm) = t.alarm.take()
                {
                    finish(&mut alarm, ClearReason::RuleRemoved, now);
                    out.push(change(AlarmChangeKind::Cleared, alarm));
                }
            }
        }
        out
    }

    /// Starts the offline clock of a device that has not reported yet, and
    /// refreshes what the engine knows of it (name, tags, armed flag…).
    pub fn register_device(&mut self, device: &Device, now: DateTime<Utc>) {
        let state = self
            .devices
            .entry(device.id.clone())
            .or_insert_with(|| DeviceState {
                device: device.clone(),
                last_seen: None,
                last_fix: None,
                tracks: Vec::new(),
            });
        if state.device != *device {
            state.device = device.clone();
        }
        if state.last_seen.is_none() {
            state.last_seen = Some(now);
        }
    }

    /// Forgets a device (deleted from the registry); returns its open alarms cleared.
    pub fn forget_device(&mut self, device_id: &str, now: DateTime<Utc>) -> Vec<AlarmChange> {
        let Some(state) = self.devices.remove(device_id) else {
            return Vec::new();
        };
        state
            .tracks
            .into_iter()
            .filter_map(|(_, _, t)| t.alarm)
            .map(|mut a| {
                finish(&mut a, ClearReason::RuleRemoved, now);
                change(AlarmChangeKind::Cleared, a)
            })
            .collect()
    }

    /// The latest fix the engine saw from a device.
    pub fn last_fix(&self, device_id: &str) -> Option<(GeoPoint, DateTime<Utc>)> {
        self.devices.get(device_id).and_then(|s| s.last_fix)
    }

    /// Evaluates one telemetry message. Telemetry is expected to be validated
    /// against the product by the ingest source; a value of the wrong type is
    /// simply not evaluated here.
    pub fn evaluate(
        &mut self,
        telemetry: &Telemetry,
        ctx: &DeviceContext<'_>,
        now: DateTime<Utc>,
    ) -> Vec<AlarmChange> {
        let mut out = Vec::new();
        let device = ctx.device;
        if device.id != telemetry.device_id {
            return out;
        }
        let at = telemetry.at.min(now);
        // The paired device's fix, from the caller or from what the engine saw.
        let paired = ctx.paired_position.or_else(|| {
            device
                .paired_device_id
                .as_deref()
                .and_then(|p| self.devices.get(p))
                .and_then(|s| s.last_fix)
        });
        let Self {
            rules,
            by_product,
            devices,
            overload,
            update_interval,
            ..
        } = self;
        let state = match devices.get_mut(device.id.as_str()) {
            Some(s) => s,
            None => devices
                .entry(device.id.clone())
                .or_insert_with(|| DeviceState {
                    device: device.clone(),
                    last_seen: None,
                    last_fix: None,
                    tracks: Vec::new(),
                }),
        };
        if state.device != *device {
            state.device = device.clone();
        }
        if state.last_seen.is_some_and(|seen| at < seen) {
            // An older message (e.g. a late batch) must not rewind the state.
            return out;
        }
        state.last_seen = Some(at);
        let position = telemetry.location.or_else(|| {
            state
                .last_fix
                .filter(|(_, t)| at - *t <= Duration::seconds(default_fix_age()))
                .map(|(p, _)| p)
        });
        let computed_speed = match (telemetry.location, state.last_fix) {
            (Some(p), Some((q, t))) if at > t && at - t <= Duration::seconds(300) => {
                let secs = (at - t).num_milliseconds() as f64 / 1000.0;
                Some(p.distance_m(&q) / secs * 3.6)
            }
            _ => None,
        };
        let slots = by_product.get(device.product_key.as_str());
        for &slot in slots.into_iter().flatten() {
            let Some(compiled) = rules[slot].as_ref() else {
                continue;
            };
            let rule = &compiled.rule;
            if !rule.enabled || !rule.applies_to.matches(device) {
                continue;
            }
            let subject = rule
                .subject_property
                .as_deref()
                .and_then(|p| telemetry.values.get(p))
                .map(|v| v.to_string());
            let track = state.track(slot, subject.as_deref());
            let input = Input {
                telemetry,
                device,
                at,
                position,
                computed_speed,
                paired,
                overload,
            };
            let obs = observe(&rule.condition, compiled.area.as_ref(), &input, track);
            let env = Env {
                compiled,
                device,
                subject: subject.as_deref(),
                position,
                interval: *update_interval,
            };
            apply(&env, track, obs, at, &mut out);
            // A separate clear condition.
            if let ClearPolicy::When { condition } = &rule.clear
                && track.alarm.is_some()
                && let Observation::Holds(..) = observe(
                    condition,
                    compiled.clear_area.as_ref(),
                    &input,
                    &mut Track::default(),
                )
                && let Some(mut alarm) = track.alarm.take()
            {
                finish(&mut alarm, ClearReason::Condition, at);
                track.on = false;
                track.since = None;
                out.push(change(AlarmChangeKind::Cleared, alarm));
            }
        }
        if let Some(p) = telemetry.location {
            state.last_fix = Some((p, at));
        }
        // Drop idle subject tracks so a busy weigh station does not grow state.
        state
            .tracks
            .retain(|(_, sub, t)| sub.is_none() || t.alarm.is_some() || t.on || t.latched);
        out
    }

    /// Advances time: offline devices, minimum durations and dwell times that
    /// elapsed since the last sample, sliding windows, quiet periods.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<AlarmChange> {
        let mut out = Vec::new();
        let Self {
            rules,
            by_product,
            devices,
            update_interval,
            ..
        } = self;
        for state in devices.values_mut() {
            let Some(slots) = by_product.get(state.device.product_key.as_str()) else {
                continue;
            };
            // Offline tracks are created here, since silence produces no telemetry.
            for &slot in slots {
                if let Some(c) = rules[slot].as_ref()
                    && matches!(c.rule.condition, Condition::Offline { .. })
                    && c.rule.enabled
                    && c.rule.applies_to.matches(&state.device)
                {
                    state.track(slot, None);
                }
            }
            let last_seen = state.last_seen;
            let last_fix = state.last_fix.map(|(p, _)| p);
            let device = &state.device;
            for (slot, subject, track) in state.tracks.iter_mut() {
                let Some(compiled) = rules[*slot].as_ref() else {
                    continue;
                };
                let rule = &compiled.rule;
                if !rule.enabled {
                    continue;
                }
                let env = Env {
                    compiled,
                    device,
                    subject: subject.as_deref(),
                    position: last_fix,
                    interval: *update_interval,
                };
                match &rule.condition {
                    Condition::Offline { after_secs } => {
                        let Some(seen) = last_seen else { continue };
                        if now - seen >= Duration::seconds(*after_secs) && !track.on {
                            track.on = true;
                            track.since = Some(seen);
                            track.value = Some(Value::Int((now - seen).num_seconds()));
                            track.detail =
                                format!("{} s without telemetry", (now - seen).num_seconds());
                            if !track.latched && track.alarm.is_none() {
                                raise(&env, track, now, &mut out);
                            }
                        }
                    }
                    Condition::EventCount {
                        within_secs, count, ..
                    } => {
                        let horizon = now - Duration::seconds(*within_secs);
                        while track.window.front().is_some_and(|t| *t <= horizon) {
                            track.window.pop_front();
                        }
                        if track.on && track.window.len() < *count as usize {
                            track.on = false;
                            track.latched = false;
                            if matches!(rule.clear, ClearPolicy::Auto)
                                && let Some(mut alarm) = track.alarm.take()
                            {
                                finish(&mut alarm, ClearReason::Condition, now);
                                out.push(change(AlarmChangeKind::Cleared, alarm));
                            }
                        }
                    }
                    cond => {
                        // Minimum durations and dwell elapse between samples.
                        if !cond.is_momentary()
                            && track.on
                            && !track.latched
                            && track.alarm.is_none()
                            && track
                                .since
                                .is_some_and(|s| now - s >= Duration::seconds(cond.for_secs()))
                        {
                            raise(&env, track, now, &mut out);
                        }
                    }
                }
                if let ClearPolicy::Quiet { secs } = rule.clear
                    && let Some(alarm) = &track.alarm
                    && now - alarm.last_at >= Duration::seconds(secs)
                    && let Some(mut alarm) = track.alarm.take()
                {
                    finish(&mut alarm, ClearReason::Quiet, now);
                    track.on = false;
                    track.since = None;
                    out.push(change(AlarmChangeKind::Cleared, alarm));
                }
            }
            state
                .tracks
                .retain(|(_, sub, t)| sub.is_none() || t.alarm.is_some() || t.on || t.latched);
        }
        out
    }

    fn find_track(&mut self, key: &AlarmKey) -> Option<&mut Track> {
        let slot = self
            .rules
            .iter()
            .position(|r| r.as_ref().is_some_and(|c| c.rule.id == key.rule_id))?;
        self.devices
            .get_mut(key.device_id.as_str())?
            .tracks
            .iter_mut()
            .find(|(s, sub, _)| *s == slot && *sub == key.subject)
            .map(|(_, _, t)| t)
    }

    /// The open alarm of a key.
    pub fn alarm(&self, key: &AlarmKey) -> Option<&Alarm> {
        self.active_alarms().find(|a| &a.key == key)
    }

    /// Every open (active or acknowledged) alarm.
    pub fn active_alarms(&self) -> impl Iterator<Item = &Alarm> {
        self.devices
            .values()
            .flat_map(|s| s.tracks.iter().filter_map(|(_, _, t)| t.alarm.as_ref()))
    }

    /// A person acknowledges an open alarm; `None` if it is not open.
    pub fn acknowledge(
        &mut self,
        key: &AlarmKey,
        user: &str,
        _now: DateTime<Utc>,
    ) -> Option<AlarmChange> {
        let track = self.find_track(key)?;
        let alarm = track.alarm.as_mut()?;
        if alarm.state == AlarmState::Acknowledged {
            return None;
        }
        alarm.state = AlarmState::Acknowledged;
        alarm.acknowledged_by = Some(user.to_string());
        Some(change(AlarmChangeKind::Acknowledged, alarm.clone()))
    }

    /// A person or the closed case clears an open alarm. If the condition
    /// still holds, the alarm is latched and not raised again until the
    /// condition has stopped holding once.
    pub fn clear(
        &mut self,
        key: &AlarmKey,
        reason: ClearReason,
        now: DateTime<Utc>,
    ) -> Option<AlarmChange> {
        let track = self.find_track(key)?;
        let mut alarm = track.alarm.take()?;
        track.latched = track.on;
        track.window.clear();
        finish(&mut alarm, reason, now);
        Some(change(AlarmChangeKind::Cleared, alarm))
    }
}

struct Input<'a> {
    telemetry: &'a Telemetry,
    device: &'a Device,
    at: DateTime<Utc>,
    position: Option<GeoPoint>,
    computed_speed: Option<f64>,
    paired: Option<(GeoPoint, DateTime<Utc>)>,
    overload: &'a OverloadTable,
}

struct Env<'a> {
    compiled: &'a CompiledRule,
    device: &'a Device,
    subject: Option<&'a str>,
    position: Option<GeoPoint>,
    interval: Duration,
}

fn num(t: &Telemetry, property: &str) -> Option<f64> {
    t.values.get(property).and_then(Value::as_f64)
}

fn observe(
    condition: &Condition,
    area: Option<&CompiledArea>,
    input: &Input<'_>,
    track: &mut Track,
) -> Observation {
    let t = input.telemetry;
    let holds = |b: bool, v: Option<Value>, detail: String| {
        if b {
            Observation::Holds(v, detail)
        } else {
            Observation::Stops
        }
    };
    match condition {
        Condition::Threshold {
            property,
            op,
            value,
            clear_at,
            ..
        } => {
            let Some(x) = num(t, property) else {
                return Observation::Nothing;
            };
            let on = if track.on {
                match clear_at {
                    // Keeps holding until past the clear value.
                    Some(c) => !match op {
                        CmpOp::Gt | CmpOp::Ge => x <= *c,
                        _ => x >= *c,
                    },
                    None => op.test(x, *value),
                }
            } else {
                op.test(x, *value)
            };
            holds(on, Some(Value::Float(x)), format!("{property} = {x}"))
        }
        Condition::Band {
            property,
            low,
            high,
            hysteresis,
            ..
        } => {
            let Some(x) = num(t, property) else {
                return Observation::Nothing;
            };
            let on = if track.on {
                x < low + hysteresis || x > high - hysteresis
            } else {
                x < *low || x > *high
            };
            holds(
                on,
                Some(Value::Float(x)),
                format!("{property} = {x} outside [{low}, {high}]"),
            )
        }
        Condition::Geofence { trigger, .. } => {
            let (Some(p), Some(area)) = (t.location, area) else {
                return Observation::Nothing;
            };
            let Some(inside) = area.contains(p, input.device) else {
                return Observation::Nothing;
            };
            let on = match trigger {
                GeofenceTrigger::Enter | GeofenceTrigger::Dwell => inside,
                GeofenceTrigger::Exit => !inside,
            };
            holds(
                on,
                Some(Value::Point(p)),
                if inside {
                    "inside".into()
                } else {
                    "outside".into()
                },
            )
        }
        // Telemetry ends silence.
        Condition::Offline { .. } => Observation::Stops,
        Condition::AlarmBit { property, bit } => {
            let Some(word) = t.values.get(property).and_then(Value::as_i64) else {
                return Observation::Nothing;
            };
            holds(
                (word >> bit) & 1 == 1,
                Some(Value::Int(word)),
                format!("{property} bit {bit}"),
            )
        }
        Condition::Event { event, params } => {
            let hit = t
                .events
                .iter()
                .find(|e| &e.id == event && params.iter().all(|(k, v)| e.params.get(k) == Some(v)));
            match hit {
                Some(e) => Observation::Hit(
                    Some(Value::Text(e.id.clone())),
                    e.params
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                None => Observation::Nothing,
            }
        }
        Condition::PairedDistance {
            max_m,
            max_fix_age_secs,
            ..
        } => {
            let (Some(me), Some((other, other_at))) = (input.position, input.paired) else {
                return Observation::Nothing;
            };
            if (input.at - other_at).abs() > Duration::seconds(*max_fix_age_secs) {
                return Observation::Nothing;
            }
            let d = me.distance_m(&other);
            holds(
                d > *max_m,
                Some(Value::Float(d)),
                format!("{d:.0} m from the paired device"),
            )
        }
        Condition::Speed {
            property,
            limit_kmh,
            ..
        } => {
            let v = match property.as_deref() {
                Some(p) => num(t, p),
                None => input.computed_speed,
            };
            let Some(v) = v else {
                return Observation::Nothing;
            };
            holds(
                v > *limit_kmh,
                Some(Value::Float(v)),
                format!("{v:.1} km/h > {limit_kmh} km/h"),
            )
        }
        Condition::MovementWhileArmed {
            max_displacement_m,
            max_speed_kmh,
            speed_property,
        } => {
            if !input.device.armed {
                track.armed_origin = None;
                return Observation::Stops;
            }
            let origin = input.device.armed_position.or(track.armed_origin);
            let displacement = match (origin, t.location) {
                (Some(o), Some(p)) => Some(o.distance_m(&p)),
                (None, Some(p)) => {
                    track.armed_origin = Some(p);
                    Some(0.0)
                }
                _ => None,
            };
            // A declared speed property is trusted alone: speeds derived from
            // GPS jitter of a parked e-bike would raise false thefts.
            let speed = match speed_property.as_deref() {
                Some(p) => num(t, p),
                None => input.computed_speed,
            };
            let moved = displacement.is_some_and(|d| d > *max_displacement_m);
            let fast = matches!((speed, max_speed_kmh), (Some(v), Some(limit)) if v > *limit);
            if displacement.is_none() && speed.is_none() {
                return Observation::Nothing;
            }
            holds(
                moved || fast,
                displacement.map(Value::Float),
                format!(
                    "moved {:.0} m while armed{}",
                    displacement.unwrap_or(0.0),
                    speed
                        .map(|v| format!(" at {v:.1} km/h"))
                        .unwrap_or_default()
                ),
            )
        }
        Condition::Overload {
            axles,
            gross_mass_t,
            configuration,
            single_drive_axle,
            height_m,
            width_m,
            length_m,
        } => {
            let (Some(n), Some(gross)) = (
                t.values.get(axles).and_then(Value::as_i64),
                num(t, gross_mass_t),
            ) else {
                return Observation::Nothing;
            };
            let measure = VehicleMeasure {
                axles: u8::try_from(n).unwrap_or(u8::MAX),
                gross_t: gross,
                configuration: configuration
                    .as_deref()
                    .and_then(|p| t.values.get(p))
                    .and_then(Value::as_str)
                    .and_then(|s| match s {
                        "truck" => Some(Configuration::Truck),
                        "combination" => Some(Configuration::Combination),
                        _ => None,
                    }),
                single_drive_axle: single_drive_axle
                    .as_deref()
                    .and_then(|p| t.values.get(p))
                    .and_then(Value::as_bool),
                height_m: height_m.as_deref().and_then(|p| num(t, p)),
                width_m: width_m.as_deref().and_then(|p| num(t, p)),
                length_m: length_m.as_deref().and_then(|p| num(t, p)),
            };
            let violations = input.overload.check(&measure);
            if violations.is_empty() {
                return Observation::Nothing;
            }
            let detail = violations
                .iter()
                .map(|v| format!("{} {} > {}", v.what, v.measured, v.limit))
                .collect::<Vec<_>>()
                .join("; ");
            Observation::Hit(Some(Value::Float(gross)), detail)
        }
        Condition::EventCount {
            event,
            count,
            within_secs,
        } => {
            let hits = t.events.iter().filter(|e| &e.id == event).count();
            let horizon = input.at - Duration::seconds(*within_secs);
            while track.window.front().is_some_and(|x| *x <= horizon) {
                track.window.pop_front();
            }
            if hits == 0 {
                if track.window.len() < *count as usize {
                    return Observation::Stops;
                }
                return Observation::Nothing;
            }
            for _ in 0..hits {
                track.window.push_back(input.at);
            }
            let n = track.window.len();
            holds(
                n >= *count as usize,
                Some(Value::Int(n as i64)),
                format!("{n} × {event} within {within_secs} s"),
            )
        }
    }
}

fn change(kind: AlarmChangeKind, alarm: Alarm) -> AlarmChange {
    AlarmChange {
        kind,
        alarm,
        linkage: Vec::new(),
    }
}

fn finish(alarm: &mut Alarm, reason: ClearReason, now: DateTime<Utc>) {
    alarm.state = AlarmState::Cleared;
    alarm.cleared_at = Some(now);
    alarm.clear_reason = Some(reason);
}

fn raise(env: &Env<'_>, track: &mut Track, at: DateTime<Utc>, out: &mut Vec<AlarmChange>) {
    let rule = &env.compiled.rule;
    let key = AlarmKey {
        device_id: env.device.id.clone(),
        rule_id: rule.id.clone(),
        subject: env.subject.map(str::to_string),
    };
    let id = format!(
        "{}/{}{}@{}",
        key.device_id,
        key.rule_id,
        key.subject
            .as_deref()
            .map(|s| format!("/{s}"))
            .unwrap_or_default(),
        at.timestamp_millis()
    );
    let mut alarm = Alarm {
        id,
        key,
        rule_version: rule.version,
        alarm_type: rule.raise.alarm_type.clone(),
        level: rule.raise.level,
        state: AlarmState::Active,
        first_at: at,
        last_at: at,
        count: 1,
        value: track.value.clone(),
        location: env.position.or(env.device.location),
        message: String::new(),
        component_id: env.device.component_id.clone(),
        acknowledged_by: None,
        cleared_at: None,
        clear_reason: None,
    };
    alarm.message = env
        .compiled
        .template
        .render(env.device, &rule.name, &alarm, &track.detail);
    track.last_emitted = Some(at);
    out.push(AlarmChange {
        kind: AlarmChangeKind::Raised,
        alarm: alarm.clone(),
        linkage: rule.linkage.clone(),
    });
    track.alarm = Some(alarm);
}

/// Applies one observation to a track: raise, update, or clear.
fn apply(
    env: &Env<'_>,
    track: &mut Track,
    obs: Observation,
    at: DateTime<Utc>,
    out: &mut Vec<AlarmChange>,
) {
    let rule = &env.compiled.rule;
    match obs {
        Observation::Nothing => {}
        Observation::Stops => {
            track.on = false;
            track.since = None;
            track.latched = false;
            if matches!(rule.clear, ClearPolicy::Auto)
                && !rule.condition.is_momentary()
                && let Some(mut alarm) = track.alarm.take()
            {
                finish(&mut alarm, ClearReason::Condition, at);
                out.push(change(AlarmChangeKind::Cleared, alarm));
            }
        }
        Observation::Holds(value, detail) | Observation::Hit(value, detail) => {
            if !track.on {
                track.on = true;
                track.since = Some(at);
            }
            track.value = value;
            track.detail = detail;
            if rule.condition.is_momentary() {
                // A momentary hit does not keep "holding" until the next sample.
                track.on = false;
                track.since = None;
                track.latched = false;
            }
            if track.latched {
                return;
            }
            if let Some(alarm) = track.alarm.as_mut() {
                alarm.count += 1;
                alarm.last_at = at;
                alarm.value = track.value.clone();
                if env.position.is_some() {
                    alarm.location = env.position;
                }
                if track.last_emitted.is_none_or(|t| at - t >= env.interval) {
                    alarm.message =
                        env.compiled
                            .template
                            .render(env.device, &rule.name, alarm, &track.detail);
                    track.last_emitted = Some(at);
                    out.push(change(AlarmChangeKind::Updated, alarm.clone()));
                }
            } else if rule.condition.is_momentary()
                || track
                    .since
                    .is_some_and(|s| at - s >= Duration::seconds(rule.condition.for_secs()))
            {
                raise(env, track, at, out);
            }
        }
    }
}
