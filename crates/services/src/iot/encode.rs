//! Commands of a product's thing model → the device's protocol.
//!
//! JT/T 808: `cut_power`/`restore_power` (and `vehicle_control` with `cut`) →
//! 0x8500; `text` → 0x8300 (display + TTS); `terminal_control` (`command`,
//! `params`) → 0x8105; `set_circle_area` (`lon`, `lat`, `radius_m`, `area_id`)
//! → 0x8600; `query_location` → 0x8201. Watch: `locate` → `CR`, `find` →
//! `FIND`, `power_off` → `POWEROFF`, `upload_interval` → `UPLOAD`, `call` →
//! `CALL,<phone>`, `message` → `MESSAGE,<text>`. MQTT, HTTP and GB/T 28181
//! devices get the JSON command document the gateway publishes to
//! `chengyun/{product}/{device}/command`.

use chengyun_domain::iot::{Product, Protocol, Value};
use chengyun_ingest::jt808::PlatformMessage;
use chengyun_ingest::jt808::command::CircleArea;
use chengyun_ingest::source::contract::OutboundPayload;
use chengyun_ingest::watch::WatchCommand;
use std::collections::BTreeMap;

fn text(params: &BTreeMap<String, Value>, key: &str) -> Result<String, String> {
    params
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("parameter {key:?} (text) is required"))
}

fn int(params: &BTreeMap<String, Value>, key: &str) -> Result<i64, String> {
    params
        .get(key)
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("parameter {key:?} (integer) is required"))
}

fn num(params: &BTreeMap<String, Value>, key: &str) -> Result<f64, String> {
    params
        .get(key)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("parameter {key:?} (number) is required"))
}

fn ranged<T: TryFrom<i64>>(v: i64, key: &str) -> Result<T, String> {
    T::try_from(v).map_err(|_| format!("parameter {key:?} = {v} is out of range"))
}

/// The payload for `command` on a device of `product`, or why it cannot be encoded.
pub(crate) fn encode(
    product: &Product,
    command_id: i64,
    command: &str,
    params: &BTreeMap<String, Value>,
) -> Result<OutboundPayload, String> {
    match product.protocol {
        Protocol::Jt808 => {
            let msg = match command {
                "cut_power" => PlatformMessage::VehicleControl {
                    cut_oil_power: true,
                },
                "restore_power" => PlatformMessage::VehicleControl {
                    cut_oil_power: false,
                },
                "vehicle_control" => PlatformMessage::VehicleControl {
                    cut_oil_power: params
                        .get("cut")
                        .and_then(Value::as_bool)
                        .ok_or("parameter \"cut\" (bool) is required")?,
                },
                "text" => PlatformMessage::Text {
                    // bit 2 display, bit 3 TTS read-out
                    flags: 0x0C,
                    text: text(params, "text")?,
                },
                "terminal_control" => PlatformMessage::TerminalControl {
                    command: ranged(int(params, "command")?, "command")?,
                    params: params
                        .get("params")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                },
                "set_circle_area" => PlatformMessage::SetCircleArea {
                    action: 0,
                    areas: vec![CircleArea {
                        id: ranged(
                            params.get("area_id").and_then(Value::as_i64).unwrap_or(1),
                            "area_id",
                        )?,
                        props: 0,
                        latitude: num(params, "lat")?,
                        longitude: num(params, "lon")?,
                        radius_m: ranged(int(params, "radius_m")?, "radius_m")?,
                        time_range: None,
                        speed_limit: None,
                    }],
                },
                "query_location" => PlatformMessage::QueryLocation,
                other => {
                    return Err(format!(
                        "command {other:?} has no JT/T 808 encoding (supported: cut_power, restore_power, vehicle_control, text, terminal_control, set_circle_area, query_location)"
                    ));
                }
            };
            Ok(OutboundPayload::Jt808(msg))
        }
        Protocol::Watch => {
            let cmd = match command {
                "locate" => WatchCommand::LocateNow,
                "find" => WatchCommand::Find,
                "power_off" => WatchCommand::PowerOff,
                "upload_interval" => WatchCommand::UploadInterval {
                    seconds: ranged(int(params, "seconds")?, "seconds")?,
                },
                "call" => WatchCommand::Raw {
                    content: format!("CALL,{}", text(params, "phone")?),
                },
                "message" => WatchCommand::Raw {
                    content: format!("MESSAGE,{}", text(params, "text")?),
                },
                other => {
                    return Err(format!(
                        "command {other:?} has no watch-protocol encoding (supported: locate, find, power_off, upload_interval, call, message)"
                    ));
                }
            };
            Ok(OutboundPayload::Watch(cmd))
        }
        Protocol::Mqtt | Protocol::Http | Protocol::Gb28181 => {
            Ok(OutboundPayload::Json(serde_json::json!({
                "id": command_id.to_string(),
                "command": command,
                "params": params,
            })))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chengyun_domain::iot::packs;

    fn product(pack: &str, key: &str) -> Product {
        packs::get(pack)
            .and_then(|p| p.products.into_iter().find(|p| p.key == key))
            .expect("shipped product")
    }

    #[test]
    fn jt808_commands() {
        let p = product("ebike_antitheft", "ebike_tracker_jt808");
        assert_eq!(
            encode(&p, 1, "cut_power", &BTreeMap::new()),
            Ok(OutboundPayload::Jt808(PlatformMessage::VehicleControl {
                cut_oil_power: true
            }))
        );
        let params = [("text".to_string(), Value::Text("请归还车辆".into()))].into();
        assert!(matches!(
            encode(&p, 1, "text", &params),
            Ok(OutboundPayload::Jt808(PlatformMessage::Text {
                flags: 0x0C,
                ..
            }))
        ));
        let e = encode(&p, 1, "track", &BTreeMap::new()).unwrap_err();
        assert!(e.contains("no JT/T 808 encoding"), "{e}");
        let area = [
            ("lon".to_string(), Value::Float(117.0)),
            ("lat".to_string(), Value::Float(28.2)),
            ("radius_m".to_string(), Value::Int(500)),
        ]
        .into();
        assert!(matches!(
            encode(&p, 1, "set_circle_area", &area),
            Ok(OutboundPayload::Jt808(
                PlatformMessage::SetCircleArea { .. }
            ))
        ));
    }

    #[test]
    fn watch_and_mqtt_commands() {
        let w = product("elderly_wristband", "elderly_watch");
        assert_eq!(
            encode(&w, 1, "locate", &BTreeMap::new()),
            Ok(OutboundPayload::Watch(WatchCommand::LocateNow))
        );
        let m = product("railway_perimeter", "loudspeaker");
        let params = [("text".to_string(), Value::Text("离开".into()))].into();
        match encode(&m, 7, "broadcast", &params) {
            Ok(OutboundPayload::Json(v)) => {
                assert_eq!(v["id"], "7");
                assert_eq!(v["command"], "broadcast");
                assert_eq!(v["params"]["text"], "离开");
            }
            other => panic!("expected JSON, got {other:?}"),
        }
    }
}
