//! GB/T 28181 alarm Notify parsing and the Response.

use chengyun_ingest::gb28181::*;

fn notify(method: u8, alarm_type: u8, extra: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="GB2312"?>
<Notify>
<CmdType>Alarm</CmdType>
<SN>248</SN>
<DeviceID>36060000001320000012</DeviceID>
<AlarmPriority>1</AlarmPriority>
<AlarmMethod>{method}</AlarmMethod>
<AlarmTime>2026-05-01T14:03:27</AlarmTime>
<AlarmDescription>铁路护网 K128+300 周界入侵</AlarmDescription>
<Longitude>117.033841</Longitude>
<Latitude>28.238116</Latitude>
<Info>
<AlarmType>{alarm_type}</AlarmType>
<AlarmTypeParam><EventType>1</EventType></AlarmTypeParam>
</Info>{extra}
</Notify>
"#
    )
}

fn gbk(text: &str) -> Vec<u8> {
    encoding_rs::GBK.encode(text).0.into_owned()
}

#[test]
fn intrusion_in_gb2312() {
    let n = parse_notify(&gbk(&notify(5, 6, ""))).expect("parses");
    assert_eq!(n.sn, 248);
    assert_eq!(n.device_id, "36060000001320000012");
    assert_eq!(n.priority, 1);
    assert_eq!(n.method, AlarmMethod::Video);
    assert_eq!(n.time.to_string(), "2026-05-01 14:03:27");
    assert_eq!(n.description.as_deref(), Some("铁路护网 K128+300 周界入侵"));
    assert_eq!(
        (n.longitude, n.latitude),
        (Some(117.033841), Some(28.238116))
    );
    assert_eq!(n.alarm_type, Some(VideoAlarmType::Intrusion));
    assert_eq!(n.event, Some(EventType::Enter));
    let resp = encode_response(&n, true);
    let text = decode_xml_bytes(&resp).expect("own response decodes");
    assert!(
        text.contains("<Response>")
            && text.contains("<SN>248</SN>")
            && text.contains("<Result>OK</Result>")
    );
    assert!(text.contains("<DeviceID>36060000001320000012</DeviceID>"));
}

#[test]
fn alarm_types_by_method() {
    for (m, t, want) in [
        (5, 2, VideoAlarmType::Motion),
        (5, 5, VideoAlarmType::Tripwire),
        (5, 8, VideoAlarmType::Loitering),
        (2, 1, VideoAlarmType::VideoLoss),
        (2, 2, VideoAlarmType::Tamper),
        (
            6,
            3,
            VideoAlarmType::Other {
                method: 6,
                alarm_type: 3,
            },
        ),
    ] {
        let n = parse_notify(notify(m, t, "").as_bytes())
            .expect("parses (UTF-8 bytes of a GB2312-declared doc are ASCII here)");
        assert_eq!(n.alarm_type, Some(want));
    }
}

#[test]
fn utf8_and_entities() {
    let doc = notify(5, 6, "")
        .replace("GB2312", "UTF-8")
        .replace("周界入侵", "A &amp; B &#x4E2D;");
    let n = parse_notify(doc.as_bytes()).expect("parses");
    assert_eq!(n.description.as_deref(), Some("铁路护网 K128+300 A & B 中"));
}

#[test]
fn rejections_are_precise() {
    let ok = notify(5, 6, "");
    let cases: Vec<(String, NotifyError)> = vec![
        (
            ok.replace("<CmdType>Alarm", "<CmdType>Keepalive"),
            NotifyError::WrongCmdType("Keepalive".into()),
        ),
        (
            ok.replace("<DeviceID>36060000001320000012</DeviceID>", ""),
            NotifyError::Missing("DeviceID"),
        ),
        (
            ok.replace("<Notify>", "<Query>")
                .replace("</Notify>", "</Query>"),
            NotifyError::WrongRoot("Query".into()),
        ),
        (
            ok.replace("117.033841", "217.5"),
            NotifyError::BadField {
                field: "Longitude",
                value: "217.5".into(),
                reason: "outside ±180°",
            },
        ),
        (
            ok.replace("28.238116", "-95"),
            NotifyError::BadField {
                field: "Latitude",
                value: "-95".into(),
                reason: "outside ±90°",
            },
        ),
        (
            ok.replace("<AlarmPriority>1", "<AlarmPriority>9"),
            NotifyError::BadField {
                field: "AlarmPriority",
                value: "9".into(),
                reason: "not 1–4",
            },
        ),
        (
            ok.replace("<AlarmMethod>5", "<AlarmMethod>8"),
            NotifyError::BadField {
                field: "AlarmMethod",
                value: "8".into(),
                reason: "not 1–7",
            },
        ),
        (
            ok.replace("GB2312", "x-no-such"),
            NotifyError::UnknownEncoding("x-no-such".into()),
        ),
    ];
    for (doc, want) in cases {
        assert_eq!(parse_notify(doc.as_bytes()), Err(want));
    }
    for broken in [
        ok.replace("</Info>", ""),
        ok.replace("<SN>248</SN>", "<SN>248</Sn>"),
        "<Notify><CmdType>Al".to_owned(),
        String::new(),
    ] {
        assert!(
            matches!(
                parse_notify(broken.as_bytes()),
                Err(NotifyError::Malformed { .. })
            ),
            "{broken:?}"
        );
    }
    assert_eq!(
        parse_notify(&vec![b' '; 70_000]),
        Err(NotifyError::Oversized(70_000))
    );
}
