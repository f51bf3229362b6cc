//! Thing models (products), devices, sharing grants and telemetry.
//!
//! A product is the device profile of the major IoT platforms: the typed
//! properties a device reports, the events it raises and the commands it
//! accepts. Every ingest source (MQTT, HTTP, JT/T 808, the watch protocol,
//! GB/T 28181) turns what it decodes into one [`Telemetry`] value, which is
//! checked against the product here so that a rule never sees a property the
//! product does not declare, nor a value of the wrong type.

use crate::component::ComponentId;
use crate::{Invalid, ValidationError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

/// How a product's devices talk to chengyun; picks the ingest source and the
/// command encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Mqtt,
    Http,
    /// JT/T 808 over TCP (vehicle and e-bike trackers).
    Jt808,
    /// The `[VENDOR*ID*LEN*CONTENT]` watch text protocol (wristbands, bracelets).
    Watch,
    /// GB/T 28181 alarm notifications (cameras, perimeter sensors).
    Gb28181,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Mqtt => "mqtt",
            Protocol::Http => "http",
            Protocol::Jt808 => "jt808",
            Protocol::Watch => "watch",
            Protocol::Gb28181 => "gb28181",
        }
    }
}

/// The type of a property or parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    Int,
    Float,
    Bool,
    String,
    /// One of the declared `enum_values`.
    Enum,
    /// A WGS-84 point `{ "lon": .., "lat": .. }`.
    GeoPoint,
}

impl DataType {
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Int => "int",
            DataType::Float => "float",
            DataType::Bool => "bool",
            DataType::String => "string",
            DataType::Enum => "enum",
            DataType::GeoPoint => "geo_point",
        }
    }

    fn is_numeric(self) -> bool {
        matches!(self, DataType::Int | DataType::Float)
    }
}

/// A WGS-84 position in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GeoPoint {
    pub lon: f64,
    pub lat: f64,
}

impl GeoPoint {
    pub fn new(lon: f64, lat: f64) -> Self {
        Self { lon, lat }
    }

    /// Checks the point is finite and within the WGS-84 ranges.
    pub fn validate(&self) -> Result<(), Invalid> {
        if !self.lon.is_finite() || !(-180.0..=180.0).contains(&self.lon) {
            return Err(Invalid::new(
                "lon",
                format!(
                    "longitude {} must be within -180..180 (WGS-84 degrees)",
                    self.lon
                ),
            ));
        }
        if !self.lat.is_finite() || !(-90.0..=90.0).contains(&self.lat) {
            return Err(Invalid::new(
                "lat",
                format!(
                    "latitude {} must be within -90..90 (WGS-84 degrees)",
                    self.lat
                ),
            ));
        }
        Ok(())
    }

    /// Great-circle distance in metres (haversine on the GRS80 mean radius).
    pub fn distance_m(&self, other: &GeoPoint) -> f64 {
        use geo::{Distance, Haversine};
        Haversine.distance(
            geo::Point::new(self.lon, self.lat),
            geo::Point::new(other.lon, other.lat),
        )
    }

    pub fn to_geo(self) -> geo::Point<f64> {
        geo::Point::new(self.lon, self.lat)
    }
}

/// A typed value of a property, an event parameter or a command parameter.
///
/// Untagged in JSON: `true`, `42`, `36.6`, `"text"`, `{ "lon": 117.0, "lat": 28.2 }`.
/// An integer is accepted where a float is declared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Point(GeoPoint),
}

impl Value {
    /// The numeric value of an int or float; `None` otherwise.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Text(_) => "string",
            Value::Point(_) => "geo_point",
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => f.write_str(s),
            Value::Point(p) => write!(f, "{:.6},{:.6}", p.lon, p.lat),
        }
    }
}

/// A property of a thing model, also used for event and command parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PropertyDef {
    /// Identifier used in telemetry and rules: ASCII letters, digits, `_`.
    pub id: String,
    pub name: String,
    pub data_type: DataType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Inclusive lower bound of a numeric value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Inclusive upper bound of a numeric value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The allowed values of an `enum` property.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enum_values: Vec<String>,
}

/// A parameter of an event or a command has the same shape as a property.
pub type ParamDef = PropertyDef;

impl PropertyDef {
    /// A property of `data_type` with no unit, range or enum values.
    pub fn new(id: &str, name: &str, data_type: DataType) -> Self {
        Self {
            id: id.to_string(),
            name: name.to_string(),
            data_type,
            unit: None,
            min: None,
            max: None,
            enum_values: Vec::new(),
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = ValidationError::default();
        if let Err(e) = check_identifier(&self.id) {
            errors.push(e.at("id"));
        }
        if self.name.trim().is_empty() {
            errors.push(Invalid::new(
                "name",
                format!("property {} needs a name", self.id),
            ));
        }
        if (self.min.is_some() || self.max.is_some()) && !self.data_type.is_numeric() {
            errors.push(Invalid::new(
                "min",
                format!(
                    "property {}: a range only applies to int and float, not {}",
                    self.id,
                    self.data_type.as_str()
                ),
            ));
        }
        for (field, bound) in [("min", self.min), ("max", self.max)] {
            if let Some(b) = bound
                && !b.is_finite()
            {
                errors.push(Invalid::new(
                    field,
                    format!("property {}: {field} must be a finite number", self.id),
                ));
            }
        }
        if let (Some(lo), Some(hi)) = (self.min, self.max)
            && lo > hi
        {
            errors.push(Invalid::new(
                "max",
                format!("property {}: max {hi} is below min {lo}", self.id),
            ));
        }
        match self.data_type {
            DataType::Enum => {
                if self.enum_values.is_empty() {
                    errors.push(Invalid::new(
                        "enum_values",
                        format!("enum property {} needs at least one value", self.id),
                    ));
                }
                let mut seen = HashSet::new();
                for v in &self.enum_values {
                    if !seen.insert(v.as_str()) {
                        errors.push(Invalid::new(
                            "enum_values",
                            format!("enum property {}: value {v:?} is listed twice", self.id),
                        ));
                    }
                }
            }
            _ if !self.enum_values.is_empty() => errors.push(Invalid::new(
                "enum_values",
                format!(
                    "property {}: enum_values only apply to enum, not {}",
                    self.id,
                    self.data_type.as_str()
                ),
            )),
            _ => {}
        }
        errors.into_result()
    }

    /// Checks one value against the declared type, range and enum values.
    pub fn check(&self, value: &Value) -> Result<(), Invalid> {
        let wrong = || {
            Invalid::new(
                self.id.clone(),
                format!(
                    "{} is declared {} but got {} {value}",
                    self.id,
                    self.data_type.as_str(),
                    value.kind()
                ),
            )
        };
        match (self.data_type, value) {
            (DataType::Int, Value::Int(_)) | (DataType::Float, Value::Int(_) | Value::Float(_)) => {
                let x = value.as_f64().unwrap_or(f64::NAN);
                if !x.is_finite() {
                    return Err(Invalid::new(
                        self.id.clone(),
                        format!("{} must be a finite number", self.id),
                    ));
                }
                if let Some(lo) = self.min
                    && x < lo
                {
                    return Err(Invalid::new(
                        self.id.clone(),
                        format!("{} = {x} is below the minimum {lo}", self.id),
                    ));
                }
                if let Some(hi) = self.max
                    && x > hi
                {
                    return Err(Invalid::new(
                        self.id.clone(),
                        format!("{} = {x} is above the maximum {hi}", self.id),
                    ));
                }
                Ok(())
            }
            (DataType::Bool, Value::Bool(_)) | (DataType::String, Value::Text(_)) => Ok(()),
            (DataType::Enum, Value::Text(s)) => {
                if self.enum_values.iter().any(|v| v == s) {
                    Ok(())
                } else {
                    Err(Invalid::new(
                        self.id.clone(),
                        format!("{} = {s:?} is not one of {:?}", self.id, self.enum_values),
                    ))
                }
            }
            (DataType::GeoPoint, Value::Point(p)) => {
                p.validate().map_err(|e| e.at(self.id.clone()))
            }
            _ => Err(wrong()),
        }
    }
}

/// How serious an event or an alarm is.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Info,
    #[default]
    Minor,
    Major,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Minor => "minor",
            Level::Major => "major",
            Level::Critical => "critical",
        }
    }
}

/// An event of a thing model (e.g. SOS pressed, intrusion detected).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventDef {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub level: Level,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ParamDef>,
}

/// A command a device accepts (e.g. broadcast a text, go to a camera preset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommandDef {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ParamDef>,
}

/// A thing model: what every device of this product reports, raises and accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Product {
    /// Unique key, e.g. `ebike_tracker_jt808`.
    pub key: String,
    pub name: String,
    pub protocol: Protocol,
    #[serde(default)]
    pub properties: Vec<PropertyDef>,
    #[serde(default)]
    pub events: Vec<EventDef>,
    #[serde(default)]
    pub commands: Vec<CommandDef>,
}

impl Product {
    pub fn property(&self, id: &str) -> Option<&PropertyDef> {
        self.properties.iter().find(|p| p.id == id)
    }

    pub fn event(&self, id: &str) -> Option<&EventDef> {
        self.events.iter().find(|e| e.id == id)
    }

    pub fn command(&self, id: &str) -> Option<&CommandDef> {
        self.commands.iter().find(|c| c.id == id)
    }

    /// Checks the key, unique ids of properties, events, commands and params,
    /// and every property's range and enum values; reports all problems.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = ValidationError::default();
        if let Err(e) = check_identifier(&self.key) {
            errors.push(e.at("key"));
        }
        if self.name.trim().is_empty() {
            errors.push(Invalid::new(
                "name",
                format!("product {} needs a name", self.key),
            ));
        }
        check_params(&self.properties, "properties", &mut errors);
        let mut seen = HashSet::new();
        for (i, e) in self.events.iter().enumerate() {
            let at = format!("events[{i}]");
            if let Err(err) = check_identifier(&e.id) {
                errors.push(err.at(format!("{at}.id")));
            }
            if !seen.insert(e.id.as_str()) {
                errors.push(Invalid::new(
                    format!("{at}.id"),
                    format!("event id {:?} is declared twice", e.id),
                ));
            }
            if e.name.trim().is_empty() {
                errors.push(Invalid::new(format!("{at}.name"), "an event needs a name"));
            }
            check_params(&e.params, &format!("{at}.params"), &mut errors);
        }
        let mut seen = HashSet::new();
        for (i, c) in self.commands.iter().enumerate() {
            let at = format!("commands[{i}]");
            if let Err(err) = check_identifier(&c.id) {
                errors.push(err.at(format!("{at}.id")));
            }
            if !seen.insert(c.id.as_str()) {
                errors.push(Invalid::new(
                    format!("{at}.id"),
                    format!("command id {:?} is declared twice", c.id),
                ));
            }
            if c.name.trim().is_empty() {
                errors.push(Invalid::new(format!("{at}.name"), "a command needs a name"));
            }
            check_params(&c.params, &format!("{at}.params"), &mut errors);
        }
        errors.into_result()
    }

    /// Checks the parameters of a command before it is encoded for the device.
    pub fn check_command(
        &self,
        command: &str,
        params: &BTreeMap<String, Value>,
    ) -> Result<(), ValidationError> {
        let Some(def) = self.command(command) else {
            return Err(Invalid::new(
                "command",
                format!("product {} has no command {command:?}", self.key),
            )
            .into());
        };
        check_values(&def.params, params, "params", &format!("command {command}"))
    }
}

fn check_params(params: &[PropertyDef], at: &str, errors: &mut ValidationError) {
    let mut seen = HashSet::new();
    for (i, p) in params.iter().enumerate() {
        if !seen.insert(p.id.as_str()) {
            errors.push(Invalid::new(
                format!("{at}[{i}].id"),
                format!("id {:?} is declared twice", p.id),
            ));
        }
        if let Err(e) = p.validate() {
            for problem in e.problems {
                errors.push(problem.at(format!("{at}[{i}]")));
            }
        }
    }
}

fn check_values(
    defs: &[PropertyDef],
    values: &BTreeMap<String, Value>,
    at: &str,
    owner: &str,
) -> Result<(), ValidationError> {
    let mut errors = ValidationError::default();
    for (id, value) in values {
        match defs.iter().find(|d| &d.id == id) {
            None => errors.push(Invalid::new(
                format!("{at}.{id}"),
                format!("{owner} declares no {id:?}"),
            )),
            Some(def) => {
                if let Err(e) = def.check(value) {
                    errors.push(Invalid::new(format!("{at}.{id}"), e.message));
                }
            }
        }
    }
    errors.into_result()
}

/// Identifiers are what rules, topics and templates refer to, so they are kept
/// to ASCII letters, digits, `_`, `-` and `.`.
pub(crate) fn check_identifier(id: &str) -> Result<(), Invalid> {
    if id.is_empty() || id.len() > 64 {
        return Err(Invalid::new(
            "",
            format!("identifier {id:?} must be 1 to 64 characters"),
        ));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(Invalid::new(
            "",
            format!("identifier {id:?} may only use ASCII letters, digits, '_', '-' and '.'"),
        ));
    }
    Ok(())
}

/// A device registered in chengyun.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Device {
    pub id: String,
    pub product_key: String,
    pub name: String,
    /// The department that owns the device and always may read and command it.
    pub owner_department: String,
    /// The component (部件) the device watches, e.g. the manhole cover under a tilt sensor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_id: Option<ComponentId>,
    /// PHC string of the hashed device secret (e.g. `$argon2id$...`); never the secret itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_hash: Option<String>,
    /// Protocol identity: JT/T 808 phone number, watch IMEI, GB/T 28181 DeviceID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_id: Option<String>,
    /// Set by the owner of an e-bike (设防); movement while armed raises an alarm.
    #[serde(default)]
    pub armed: bool,
    /// Where the device was when it was armed, if known; otherwise the first fix after arming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub armed_position: Option<GeoPoint>,
    /// The other half of a pair (corrections bracelet ↔ phone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired_device_id: Option<String>,
    /// Fixed installation point (camera, loudspeaker, sensor) or home of a wearer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoPoint>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
}

impl Device {
    /// A device with only the required fields set.
    pub fn new(id: &str, product_key: &str, name: &str, owner_department: &str) -> Self {
        Self {
            id: id.to_string(),
            product_key: product_key.to_string(),
            name: name.to_string(),
            owner_department: owner_department.to_string(),
            component_id: None,
            credential_hash: None,
            terminal_id: None,
            armed: false,
            armed_position: None,
            paired_device_id: None,
            location: None,
            tags: BTreeSet::new(),
        }
    }

    /// Checks the fields of a device; the product must be the device's.
    pub fn validate(&self, product: &Product) -> Result<(), ValidationError> {
        let mut errors = ValidationError::default();
        if let Err(e) = check_identifier(&self.id) {
            errors.push(e.at("id"));
        }
        if self.product_key != product.key {
            errors.push(Invalid::new(
                "product_key",
                format!(
                    "device {} names product {} but was checked against {}",
                    self.id, self.product_key, product.key
                ),
            ));
        }
        if self.name.trim().is_empty() {
            errors.push(Invalid::new(
                "name",
                format!("device {} needs a name", self.id),
            ));
        }
        if self.owner_department.trim().is_empty() {
            errors.push(Invalid::new(
                "owner_department",
                format!("device {} needs an owner department", self.id),
            ));
        }
        if let Some(hash) = &self.credential_hash
            && !looks_like_phc(hash)
        {
            errors.push(Invalid::new(
                "credential_hash",
                "must be a PHC hash string such as $argon2id$v=19$...; store the hash, never the secret",
            ));
        }
        if let Some(t) = &self.terminal_id
            && (t.is_empty() || t.len() > 32 || !t.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            errors.push(Invalid::new(
                "terminal_id",
                format!("terminal id {t:?} must be 1 to 32 ASCII letters or digits"),
            ));
        }
        if self.paired_device_id.as_deref() == Some(self.id.as_str()) {
            errors.push(Invalid::new(
                "paired_device_id",
                "a device cannot be paired with itself",
            ));
        }
        for (field, p) in [
            ("location", self.location),
            ("armed_position", self.armed_position),
        ] {
            if let Some(p) = p
                && let Err(e) = p.validate()
            {
                errors.push(e.at(field));
            }
        }
        for tag in &self.tags {
            if let Err(e) = check_identifier(tag) {
                errors.push(e.at("tags"));
            }
        }
        errors.into_result()
    }
}

fn looks_like_phc(s: &str) -> bool {
    let mut parts = s.split('$');
    parts.next() == Some("")
        && parts.next().is_some_and(|alg| {
            !alg.is_empty() && alg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && parts.count() >= 2
}

/// What a grant lets a department do with a device.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// See the device, its telemetry and its alarms.
    Read,
    /// Send commands; implies read, since a command without seeing the result is blind.
    Command,
}

/// What a grant covers: one device, or every device of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantTarget {
    Device(String),
    Product(String),
}

/// A sharing grant: one device (or product) used by another department's platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grant {
    pub target: GrantTarget,
    pub grantee_department: String,
    pub permissions: BTreeSet<Permission>,
}

impl Grant {
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.grantee_department.trim().is_empty() {
            return Err(Invalid::new(
                "grantee_department",
                "a grant needs a grantee",
            ));
        }
        if self.permissions.is_empty() {
            return Err(Invalid::new(
                "permissions",
                "a grant needs at least one of read, command",
            ));
        }
        Ok(())
    }

    fn covers(&self, device: &Device) -> bool {
        match &self.target {
            GrantTarget::Device(id) => id == &device.id,
            GrantTarget::Product(key) => key == &device.product_key,
        }
    }

    fn allows(&self, permission: Permission) -> bool {
        match permission {
            Permission::Read => !self.permissions.is_empty(),
            Permission::Command => self.permissions.contains(&Permission::Command),
        }
    }
}

/// Whether `department` may `permission` the device: the owner always may,
/// anyone else only through a grant on the device or its product.
pub fn may(device: &Device, department: &str, permission: Permission, grants: &[Grant]) -> bool {
    device.owner_department == department
        || grants
            .iter()
            .any(|g| g.grantee_department == department && g.covers(device) && g.allows(permission))
}

/// An event occurrence carried by telemetry (an AI camera detection, a GB/T
/// 28181 alarm, a watch `AL` message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventOccurrence {
    pub id: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Value>,
}

/// What every ingest source produces: one device's readings at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Telemetry {
    pub device_id: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub values: BTreeMap<String, Value>,
    /// Events reported with this message; empty for plain readings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventOccurrence>,
    /// WGS-84 fix, when the message carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoPoint>,
}

impl Telemetry {
    pub fn new(device_id: &str, at: DateTime<Utc>) -> Self {
        Self {
            device_id: device_id.to_string(),
            at,
            values: BTreeMap::new(),
            events: Vec::new(),
            location: None,
        }
    }

    /// Adds a reading (builder style, for sources and tests).
    pub fn with(mut self, property: &str, value: Value) -> Self {
        self.values.insert(property.to_string(), value);
        self
    }

    pub fn at_position(mut self, lon: f64, lat: f64) -> Self {
        self.location = Some(GeoPoint::new(lon, lat));
        self
    }

    pub fn with_event(mut self, id: &str) -> Self {
        self.events.push(EventOccurrence {
            id: id.to_string(),
            params: BTreeMap::new(),
        });
        self
    }

    /// Checks every value against the product: an unknown property or event is
    /// an error naming it, as is a wrong type or a value out of range.
    pub fn validate(&self, product: &Product) -> Result<(), ValidationError> {
        let mut errors = ValidationError::default();
        if self.device_id.is_empty() {
            errors.push(Invalid::new("device_id", "telemetry needs a device id"));
        }
        for (id, value) in &self.values {
            match product.property(id) {
                None => errors.push(Invalid::new(
                    format!("values.{id}"),
                    format!("product {} has no property {id:?}", product.key),
                )),
                Some(def) => {
                    if let Err(e) = def.check(value) {
                        errors.push(Invalid::new(format!("values.{id}"), e.message));
                    }
                }
            }
        }
        for (i, ev) in self.events.iter().enumerate() {
            match product.event(&ev.id) {
                None => errors.push(Invalid::new(
                    format!("events[{i}].id"),
                    format!("product {} has no event {:?}", product.key, ev.id),
                )),
                Some(def) => {
                    if let Err(e) = check_values(
                        &def.params,
                        &ev.params,
                        &format!("events[{i}].params"),
                        &format!("event {}", ev.id),
                    ) {
                        for p in e.problems {
                            errors.push(p);
                        }
                    }
                }
            }
        }
        if let Some(p) = &self.location
            && let Err(e) = p.validate()
        {
            errors.push(e.at("location"));
        }
        errors.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> Product {
        let mut speed = PropertyDef::new("speed", "速度", DataType::Float);
        speed.unit = Some("km/h".into());
        speed.min = Some(0.0);
        speed.max = Some(250.0);
        let mut mode = PropertyDef::new("mode", "模式", DataType::Enum);
        mode.enum_values = vec!["walk".into(), "ride".into()];
        Product {
            key: "tracker".into(),
            name: "定位器".into(),
            protocol: Protocol::Jt808,
            properties: vec![
                speed,
                PropertyDef::new("alarm", "报警标志", DataType::Int),
                PropertyDef::new("acc", "ACC", DataType::Bool),
                mode,
            ],
            events: vec![EventDef {
                id: "sos".into(),
                name: "求救".into(),
                level: Level::Critical,
                params: vec![],
            }],
            commands: vec![CommandDef {
                id: "cut_power".into(),
                name: "断电".into(),
                params: vec![PropertyDef::new("on", "on", DataType::Bool)],
            }],
        }
    }

    #[test]
    fn product_validation_finds_duplicates_and_bad_ranges() {
        assert!(tracker().validate().is_ok());
        let mut p = tracker();
        p.properties
            .push(PropertyDef::new("speed", "again", DataType::Int));
        p.properties[0].min = Some(10.0);
        p.properties[0].max = Some(1.0);
        p.properties[2].enum_values = vec!["x".into()];
        let e = p.validate().unwrap_err();
        let fields: Vec<_> = e.problems.iter().map(|p| p.field.as_str()).collect();
        assert!(fields.contains(&"properties[4].id"), "{fields:?}");
        assert!(fields.contains(&"properties[0].max"), "{fields:?}");
        assert!(fields.contains(&"properties[2].enum_values"), "{fields:?}");
    }

    #[test]
    fn telemetry_validation_names_the_property() {
        let p = tracker();
        let at = Utc::now();
        let ok = Telemetry::new("d1", at)
            .with("speed", Value::Int(30))
            .with("mode", Value::Text("ride".into()))
            .with_event("sos")
            .at_position(117.0, 28.2);
        assert!(ok.validate(&p).is_ok());

        let e = Telemetry::new("d1", at)
            .with("spede", Value::Float(1.0))
            .validate(&p)
            .unwrap_err();
        assert_eq!(e.problems[0].field, "values.spede");
        assert!(e.problems[0].message.contains("no property \"spede\""));

        let e = Telemetry::new("d1", at)
            .with("acc", Value::Int(1))
            .validate(&p)
            .unwrap_err();
        assert!(e.problems[0].message.contains("declared bool"), "{e}");

        let e = Telemetry::new("d1", at)
            .with("speed", Value::Float(300.0))
            .validate(&p)
            .unwrap_err();
        assert!(
            e.problems[0].message.contains("above the maximum 250"),
            "{e}"
        );

        let e = Telemetry::new("d1", at)
            .with("mode", Value::Text("fly".into()))
            .with_event("boom")
            .at_position(190.0, 0.0)
            .validate(&p)
            .unwrap_err();
        assert_eq!(e.problems.len(), 3, "{e:?}");
    }

    #[test]
    fn telemetry_json_is_typed() {
        let t: Telemetry = serde_json::from_str(
            r#"{"device_id":"d1","at":"2026-03-01T08:00:00Z","values":{"speed":12.5,"alarm":256,"acc":true},"location":{"lon":117.03,"lat":28.24}}"#,
        )
        .unwrap();
        assert_eq!(t.values["alarm"], Value::Int(256));
        assert_eq!(t.values["speed"], Value::Float(12.5));
        assert!(t.validate(&tracker()).is_ok());
    }

    #[test]
    fn grants_owner_and_grantees() {
        let d = Device::new("d1", "tracker", "车 1", "police");
        let grants = vec![
            Grant {
                target: GrantTarget::Device("d1".into()),
                grantee_department: "community".into(),
                permissions: [Permission::Read].into(),
            },
            Grant {
                target: GrantTarget::Product("tracker".into()),
                grantee_department: "traffic".into(),
                permissions: [Permission::Command].into(),
            },
        ];
        assert!(may(&d, "police", Permission::Command, &[]));
        assert!(may(&d, "community", Permission::Read, &grants));
        assert!(!may(&d, "community", Permission::Command, &grants));
        assert!(may(&d, "traffic", Permission::Read, &grants));
        assert!(may(&d, "traffic", Permission::Command, &grants));
        assert!(!may(&d, "fire", Permission::Read, &grants));
        let other = Device::new("d2", "tracker", "车 2", "police");
        assert!(!may(&other, "community", Permission::Read, &grants));
    }

    #[test]
    fn device_validation_refuses_plain_secrets() {
        let p = tracker();
        let mut d = Device::new("d1", "tracker", "车 1", "police");
        d.credential_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
        assert!(d.validate(&p).is_ok());
        d.credential_hash = Some("hunter2".into());
        d.paired_device_id = Some("d1".into());
        let e = d.validate(&p).unwrap_err();
        assert_eq!(e.problems.len(), 2);
    }

    #[test]
    fn command_params_are_checked() {
        let p = tracker();
        let mut params = BTreeMap::new();
        params.insert("on".to_string(), Value::Bool(true));
        assert!(p.check_command("cut_power", &params).is_ok());
        params.insert("volume".to_string(), Value::Int(3));
        assert!(p.check_command("cut_power", &params).is_err());
        assert!(p.check_command("fly", &BTreeMap::new()).is_err());
    }
}
