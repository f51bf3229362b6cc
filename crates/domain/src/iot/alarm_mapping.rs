//! From an alarm to a case: which matter (GB/T 47678.5 事项) it is, how urgent,
//! whether it is dispatched automatically or goes to a clerk first, and which
//! department should get it; plus the linkage actions a rule triggers
//! (commands to the nearest loudspeaker or camera, calling the family).
//!
//! Everything here is data the services execute: the domain decides *what*
//! should happen, the services send the command or open the case.

use super::model::{Device, GeoPoint, Product, Value, check_identifier};
use super::rules::Alarm;
use crate::case::Urgency;
use crate::codes::ClassCode;
use crate::component::ComponentId;
use crate::standard::{Catalogue, ClassKind};
use crate::{Invalid, ValidationError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which matter class a case opened from the alarm gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MatterTarget {
    /// Always this matter code.
    Code { code: String },
    /// The "`<component>`异常" matter of the watched component's class (matters
    /// 01001–05xxx share the component class code), so a tilt sensor on a
    /// rain-water manhole opens 01003 雨水井盖异常; `fallback` when the device
    /// watches no component or its class has no matter of the same code.
    ComponentClass { fallback: String },
}

/// Whether a case goes straight to the department or through a clerk (受理员).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DispatchPolicy {
    /// The alarm is trusted: the case is registered and dispatched at once.
    Auto,
    /// A clerk confirms the alarm (e.g. looks at the camera) before dispatch.
    Clerk,
}

/// The mapping of one alarm type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmMapping {
    pub alarm_type: String,
    pub matter: MatterTarget,
    #[serde(default)]
    pub urgency: Urgency,
    pub dispatch: DispatchPolicy,
    /// The kind of department that handles it (e.g. `police`, `community`,
    /// `judicial_office`); the services resolve it to a department of the city.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department_hint: Option<String>,
}

/// What the case intake needs to open a case from an alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmCaseDraft {
    pub alarm_id: String,
    pub matter_code: ClassCode,
    pub urgency: Urgency,
    pub dispatch: DispatchPolicy,
    pub department_hint: Option<String>,
    pub device_id: String,
    pub component_id: Option<ComponentId>,
    /// Where the alarm happened: the fix of the alarm, else the device's installation point.
    pub location: Option<GeoPoint>,
    pub description: String,
}

impl AlarmMapping {
    /// Checks the codes exist in `catalogue` (national plus the city's local classes).
    pub fn validate(&self, catalogue: &Catalogue) -> Result<(), ValidationError> {
        let mut errors = ValidationError::default();
        if self.alarm_type.trim().is_empty() {
            errors.push(Invalid::new("alarm_type", "a mapping needs an alarm type"));
        }
        let code = match &self.matter {
            MatterTarget::Code { code } => ("matter.code", code),
            MatterTarget::ComponentClass { fallback } => ("matter.fallback", fallback),
        };
        if let Err(e) = catalogue.require(ClassKind::Matter, code.1) {
            errors.push(Invalid::new(
                code.0,
                format!("alarm type {}: {}", self.alarm_type, e.message),
            ));
        }
        errors.into_result()
    }

    /// The matter code for an alarm of `device`.
    pub fn resolve_matter(
        &self,
        device: &Device,
        catalogue: &Catalogue,
    ) -> Result<ClassCode, Invalid> {
        match &self.matter {
            MatterTarget::Code { code } => {
                Ok(catalogue.require(ClassKind::Matter, code)?.code.clone())
            }
            MatterTarget::ComponentClass { fallback } => {
                if let Some(component) = &device.component_id
                    && let Ok(class) = ClassCode::parse(component.class_digits())
                    && let Some(m) = catalogue.get(ClassKind::Matter, &class)
                {
                    return Ok(m.code.clone());
                }
                Ok(catalogue.require(ClassKind::Matter, fallback)?.code.clone())
            }
        }
    }

    /// The case intake draft for `alarm` raised on `device`.
    pub fn case_draft(
        &self,
        alarm: &Alarm,
        device: &Device,
        catalogue: &Catalogue,
    ) -> Result<AlarmCaseDraft, Invalid> {
        Ok(AlarmCaseDraft {
            alarm_id: alarm.id.clone(),
            matter_code: self.resolve_matter(device, catalogue)?,
            urgency: self.urgency,
            dispatch: self.dispatch,
            department_hint: self.department_hint.clone(),
            device_id: device.id.clone(),
            component_id: device.component_id.clone(),
            location: alarm.location.or(device.location),
            description: alarm.message.clone(),
        })
    }
}

/// The mappings of a city (or a pack), looked up by alarm type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MappingTable {
    pub mappings: Vec<AlarmMapping>,
}

impl MappingTable {
    pub fn for_alarm(&self, alarm_type: &str) -> Option<&AlarmMapping> {
        self.mappings.iter().find(|m| m.alarm_type == alarm_type)
    }

    /// Every mapping valid, and no alarm type mapped twice.
    pub fn validate(&self, catalogue: &Catalogue) -> Result<(), ValidationError> {
        let mut errors = ValidationError::default();
        let mut seen = std::collections::HashSet::new();
        for (i, m) in self.mappings.iter().enumerate() {
            if !seen.insert(m.alarm_type.as_str()) {
                errors.push(Invalid::new(
                    format!("mappings[{i}].alarm_type"),
                    format!("alarm type {} is mapped twice", m.alarm_type),
                ));
            }
            if let Err(e) = m.validate(catalogue) {
                for p in e.problems {
                    errors.push(p.at(format!("mappings[{i}]")));
                }
            }
        }
        errors.into_result()
    }
}

/// Something a rule makes happen besides the alarm itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LinkageAction {
    /// Send `command` to the nearest device of `product` within `within_m`
    /// metres of the alarm (loudspeaker broadcast, camera preset).
    NearestDeviceCommand {
        product: String,
        within_m: f64,
        command: String,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        params: BTreeMap<String, Value>,
    },
    /// Call or message the device wearer's contacts of `relation` (e.g. family).
    NotifyContacts { relation: String },
}

/// A command the services should send, chosen by a linkage action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedCommand {
    pub device_id: String,
    pub command: String,
    pub params: BTreeMap<String, Value>,
    pub distance_m: f64,
}

impl LinkageAction {
    /// Checks the target product and command exist and the parameters fit.
    pub fn validate(&self, products: &[Product]) -> Result<(), Invalid> {
        match self {
            LinkageAction::NearestDeviceCommand {
                product: key,
                within_m,
                command,
                params,
            } => {
                if !(within_m.is_finite() && *within_m > 0.0) {
                    return Err(Invalid::new(
                        "within_m",
                        format!("search radius {within_m} must be a positive number of metres"),
                    ));
                }
                let Some(p) = products.iter().find(|p| &p.key == key) else {
                    return Err(Invalid::new(
                        "product",
                        format!("linkage targets unknown product {key:?}"),
                    ));
                };
                p.check_command(command, params).map_err(|e| {
                    let first = e.problems.into_iter().next().unwrap_or_else(|| {
                        Invalid::new("command", "command parameters are invalid")
                    });
                    first.at("linkage")
                })
            }
            LinkageAction::NotifyContacts { relation } => {
                check_identifier(relation).map_err(|e| e.at("relation"))
            }
        }
    }

    /// For a command action: the nearest candidate of the product within the
    /// radius of `at`; `None` for other actions or when no device is close enough.
    pub fn plan<'a>(
        &self,
        at: GeoPoint,
        candidates: impl IntoIterator<Item = &'a Device>,
    ) -> Option<PlannedCommand> {
        let LinkageAction::NearestDeviceCommand {
            product,
            within_m,
            command,
            params,
        } = self
        else {
            return None;
        };
        candidates
            .into_iter()
            .filter(|d| &d.product_key == product)
            .filter_map(|d| d.location.map(|loc| (d, loc.distance_m(&at))))
            .filter(|(_, dist)| dist <= within_m)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(d, dist)| PlannedCommand {
                device_id: d.id.clone(),
                command: command.clone(),
                params: params.clone(),
                distance_m: dist,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iot::model::{CommandDef, DataType, PropertyDef, Protocol};

    fn speaker() -> Product {
        Product {
            key: "speaker".into(),
            name: "广播".into(),
            protocol: Protocol::Mqtt,
            properties: vec![],
            events: vec![],
            commands: vec![CommandDef {
                id: "broadcast".into(),
                name: "播报".into(),
                params: vec![PropertyDef::new("text", "文本", DataType::String)],
            }],
        }
    }

    #[test]
    fn nearest_device_within_radius() {
        let mut params = BTreeMap::new();
        params.insert("text".to_string(), Value::Text("请离开铁路".into()));
        let action = LinkageAction::NearestDeviceCommand {
            product: "speaker".into(),
            within_m: 500.0,
            command: "broadcast".into(),
            params,
        };
        let p = speaker();
        assert!(action.validate(std::slice::from_ref(&p)).is_ok());
        let at = GeoPoint::new(117.0, 28.2);
        let mut near = Device::new("s1", "speaker", "近", "rail");
        near.location = Some(GeoPoint::new(117.001, 28.2)); // ~98 m
        let mut nearer = Device::new("s2", "speaker", "更近", "rail");
        nearer.location = Some(GeoPoint::new(117.0005, 28.2));
        let mut far = Device::new("s3", "speaker", "远", "rail");
        far.location = Some(GeoPoint::new(117.02, 28.2));
        let mut camera = Device::new("c1", "camera", "摄像机", "rail");
        camera.location = Some(at);
        let all = [near, nearer.clone(), far.clone(), camera];
        let planned = action.plan(at, all.iter()).unwrap();
        assert_eq!(planned.device_id, "s2");
        assert!(
            planned.distance_m > 40.0 && planned.distance_m < 60.0,
            "{planned:?}"
        );
        assert!(action.plan(at, [&far]).is_none());

        let bad = LinkageAction::NearestDeviceCommand {
            product: "speaker".into(),
            within_m: 500.0,
            command: "explode".into(),
            params: BTreeMap::new(),
        };
        assert!(bad.validate(std::slice::from_ref(&p)).is_err());
    }

    #[test]
    fn component_class_matter() {
        let cat = Catalogue::national();
        let m = AlarmMapping {
            alarm_type: "manhole.tilt".into(),
            matter: MatterTarget::ComponentClass {
                fallback: "01023".into(),
            },
            urgency: Urgency::Urgent,
            dispatch: DispatchPolicy::Auto,
            department_hint: None,
        };
        assert!(m.validate(&cat).is_ok());
        let mut d = Device::new("m1", "tilt", "井盖 1", "water");
        assert_eq!(m.resolve_matter(&d, &cat).unwrap().as_str(), "01023");
        d.component_id = Some(ComponentId::parse("36060201003000001", &cat).unwrap());
        assert_eq!(m.resolve_matter(&d, &cat).unwrap().as_str(), "01003");

        let bad = AlarmMapping {
            matter: MatterTarget::Code {
                code: "06999".into(),
            },
            ..m
        };
        let e = bad.validate(&cat).unwrap_err();
        assert_eq!(e.problems[0].field, "matter.code");
    }
}
