//! GB/T 28181 alarm notifications (cameras, perimeter sensors): the `Notify` document with
//! `CmdType` `Alarm` carried in a SIP MESSAGE body, and the `Response` the platform returns.
//!
//! Documents are usually declared `GB2312` (sometimes `GBK`, `UTF-8`); the declared encoding is
//! honoured with encoding_rs (GB2312 is decoded as its superset GBK), then the UTF-8 text is
//! parsed with quick-xml.

mod notify;

pub use notify::{
    AlarmMethod, AlarmNotify, EventType, NotifyError, VideoAlarmType, decode_xml_bytes,
    encode_response, parse_notify,
};
