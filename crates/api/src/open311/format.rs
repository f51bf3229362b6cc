//! The resources of Open311 GeoReport v2 (<http://wiki.open311.org/GeoReport_v2>)
//! as Rust types, each rendered as the spec's JSON and XML, plus parsing and
//! validation of what clients send: the form-encoded `POST requests` body and
//! the `GET requests` filter parameters.
//!
//! Pure: no routes, no storage. The route handlers turn cases into these
//! types and call [`render`]; they turn request bodies into
//! [`PostRequest`] / [`RequestsFilter`] and answer [`Errors`] on failure.
//!
//! Written from the v2 specification text as remembered; where the text is
//! not certain a comment says so and the choice made.

use chrono::{DateTime, Duration, FixedOffset, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Requests returned by `GET requests` when no date is given cover the past
/// 90 days (spec: "the default query should return requests submitted
/// within the past 90 days").
pub const DEFAULT_WINDOW_DAYS: i64 = 90;
/// An explicit start/end range may not span more than 90 days.
pub const MAX_WINDOW_DAYS: i64 = 90;
/// At most this many requests in one `GET requests` answer (spec default 1000).
pub const MAX_RESULTS: usize = 1000;
/// `description` of a new request is "free form text limited to 4,000 characters".
pub const MAX_DESCRIPTION_CHARS: usize = 4000;
/// The specification URL advertised in discovery.
pub const SPECIFICATION_URL: &str = "http://wiki.open311.org/GeoReport_v2";

/// The two representations of every resource; chosen by the `.json` /
/// `.xml` suffix of the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// `requests.json` → (`requests`, Json). A path without a known suffix
    /// is `None`: the spec always names the format in the path.
    pub fn split(path_segment: &str) -> Option<(&str, Format)> {
        if let Some(stem) = path_segment.strip_suffix(".json") {
            Some((stem, Format::Json))
        } else {
            path_segment
                .strip_suffix(".xml")
                .map(|stem| (stem, Format::Xml))
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "text/xml; charset=utf-8",
        }
    }
}

/// A resource with both representations.
pub trait Resource: Serialize {
    /// Writes the XML document body below the declaration.
    fn write_xml(&self, w: &mut XmlWriter);
}

/// The body and content type of `value` in `format`.
pub fn render<R: Resource>(value: &R, format: Format) -> (&'static str, String) {
    let body = match format {
        Format::Json => to_json(value),
        Format::Xml => to_xml(value),
    };
    (format.content_type(), body)
}

pub fn to_json<R: Resource>(value: &R) -> String {
    // Every type here serialises to plain strings, numbers, booleans, nulls,
    // arrays and maps, for which serde_json cannot fail.
    serde_json::to_string(value).unwrap_or_else(|e| {
        format!(r#"[{{"code":500,"description":"could not serialise the response: {e}"}}]"#)
    })
}

pub fn to_xml<R: Resource>(value: &R) -> String {
    let mut w = XmlWriter::new();
    value.write_xml(&mut w);
    w.finish()
}

/// W3C date-time with the offset (`2026-03-01T09:30:00+08:00`), seconds
/// precision, as every example of the spec shows.
pub fn w3c(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// A UTC instant in the city's offset (`+08:00` for Yingtan).
pub fn in_city<Z: TimeZone>(t: &DateTime<Utc>, zone: &Z) -> DateTime<FixedOffset> {
    t.with_timezone(zone).fixed_offset()
}

/// Parses a W3C date-time parameter; the spec requires an offset.
pub fn parse_w3c(field: &str, raw: &str) -> Result<DateTime<FixedOffset>, ErrorItem> {
    DateTime::parse_from_rfc3339(raw.trim()).map_err(|_| {
        ErrorItem::bad_request(format!(
            "{field} {raw:?} is not a W3C date-time with offset, e.g. 2026-03-01T09:30:00+08:00"
        ))
    })
}

mod w3c_opt {
    use super::*;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(
        t: &Option<DateTime<FixedOffset>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&w3c(t)),
            None => s.serialize_none(),
        }
    }
}

mod w3c_one {
    use super::*;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(t: &DateTime<FixedOffset>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&w3c(t))
    }
}

// ---------------------------------------------------------------- XML writer

/// A small XML writer: elements and escaped text, nothing else is needed.
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
}

impl XmlWriter {
    pub fn new() -> Self {
        Self {
            out: String::from(r#"<?xml version="1.0" encoding="utf-8"?>"#),
        }
    }

    pub fn open(&mut self, tag: &str) {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
    }

    pub fn close(&mut self, tag: &str) {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    /// `<tag>text</tag>`, the text escaped.
    pub fn leaf(&mut self, tag: &str, text: &str) {
        self.open(tag);
        self.out.push_str(&escape_text(text));
        self.close(tag);
    }

    /// `<tag>text</tag>` or `<tag/>` for a missing value: the spec's examples
    /// keep empty elements rather than omitting them.
    pub fn opt(&mut self, tag: &str, text: Option<&str>) {
        match text {
            Some(t) => self.leaf(tag, t),
            None => {
                self.out.push('<');
                self.out.push_str(tag);
                self.out.push_str("/>");
            }
        }
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Escapes markup characters and replaces characters XML 1.0 cannot carry
/// at all (control characters other than tab, newline, carriage return).
pub fn escape_text(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
            {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect();
    quick_xml::escape::escape(cleaned.as_str()).into_owned()
}

fn num(v: f64) -> String {
    // Shortest representation that reads back to the same f64, like JSON.
    format!("{v}")
}

// ---------------------------------------------------------------- discovery

/// `GET discovery`: where the endpoints are and what they speak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    #[serde(serialize_with = "w3c_one::serialize")]
    pub changeset: DateTime<FixedOffset>,
    pub contact: String,
    pub key_service: String,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub specification: String,
    pub url: String,
    #[serde(serialize_with = "w3c_one::serialize")]
    pub changeset: DateTime<FixedOffset>,
    /// `production`, `test`.
    #[serde(rename = "type")]
    pub kind: String,
    /// MIME types: `text/xml`, `application/json`.
    pub formats: Vec<String>,
}

impl Resource for Discovery {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.open("discovery");
        w.leaf("changeset", &w3c(&self.changeset));
        w.leaf("contact", &self.contact);
        w.leaf("key_service", &self.key_service);
        w.open("endpoints");
        for e in &self.endpoints {
            w.open("endpoint");
            w.leaf("specification", &e.specification);
            w.leaf("url", &e.url);
            w.leaf("changeset", &w3c(&e.changeset));
            w.leaf("type", &e.kind);
            w.open("formats");
            for f in &e.formats {
                w.leaf("format", f);
            }
            w.close("formats");
            w.close("endpoint");
        }
        w.close("endpoints");
        w.close("discovery");
    }
}

// ---------------------------------------------------------------- services

/// How a service's requests are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceType {
    /// The request goes straight into a work system and its status is live.
    Realtime,
    /// Requests are loaded in batches; status lags.
    Batch,
    /// No status comes back.
    Blackbox,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::Realtime => "realtime",
            ServiceType::Batch => "batch",
            ServiceType::Blackbox => "blackbox",
        }
    }
}

/// One entry of `GET services`: for chengyun, one matter class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub service_code: String,
    pub service_name: String,
    pub description: String,
    /// True when a service definition with attributes exists.
    pub metadata: bool,
    #[serde(rename = "type")]
    pub kind: ServiceType,
    /// Comma-separated words.
    pub keywords: String,
    pub group: String,
}

/// `GET services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServiceList(pub Vec<Service>);

impl Resource for ServiceList {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.open("services");
        for s in &self.0 {
            w.open("service");
            w.leaf("service_code", &s.service_code);
            w.leaf("service_name", &s.service_name);
            w.leaf("description", &s.description);
            w.leaf("metadata", if s.metadata { "true" } else { "false" });
            w.leaf("type", s.kind.as_str());
            w.leaf("keywords", &s.keywords);
            w.leaf("group", &s.group);
            w.close("service");
        }
        w.close("services");
    }
}

/// The datatypes an attribute can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datatype {
    String,
    Number,
    Datetime,
    Text,
    Singlevaluelist,
    Multivaluelist,
}

impl Datatype {
    pub fn as_str(self) -> &'static str {
        match self {
            Datatype::String => "string",
            Datatype::Number => "number",
            Datatype::Datetime => "datetime",
            Datatype::Text => "text",
            Datatype::Singlevaluelist => "singlevaluelist",
            Datatype::Multivaluelist => "multivaluelist",
        }
    }
}

/// One allowed value of a list attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeValue {
    pub key: String,
    pub name: String,
}

/// One question of a service definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    /// False for an informational attribute that takes no answer.
    pub variable: bool,
    pub code: String,
    pub datatype: Datatype,
    pub required: bool,
    pub datatype_description: Option<String>,
    pub order: u32,
    pub description: String,
    /// Only for the list datatypes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<AttributeValue>,
}

/// `GET services/{service_code}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceDefinition {
    pub service_code: String,
    pub attributes: Vec<Attribute>,
}

impl Resource for ServiceDefinition {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.open("service_definition");
        w.leaf("service_code", &self.service_code);
        w.open("attributes");
        for a in &self.attributes {
            w.open("attribute");
            w.leaf("variable", bool_str(a.variable));
            w.leaf("code", &a.code);
            w.leaf("datatype", a.datatype.as_str());
            w.leaf("required", bool_str(a.required));
            w.opt("datatype_description", a.datatype_description.as_deref());
            w.leaf("order", &a.order.to_string());
            w.leaf("description", &a.description);
            if !a.values.is_empty() {
                w.open("values");
                for v in &a.values {
                    w.open("value");
                    w.leaf("key", &v.key);
                    w.leaf("name", &v.name);
                    w.close("value");
                }
                w.close("values");
            }
            w.close("attribute");
        }
        w.close("attributes");
        w.close("service_definition");
    }
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

impl ServiceDefinition {
    /// Checks submitted attribute answers: required ones present, list
    /// answers among the allowed keys, numbers and datetimes parseable,
    /// single-valued attributes not given several values, unknown codes refused.
    pub fn check(&self, answers: &BTreeMap<String, AttributeAnswer>) -> Vec<ErrorItem> {
        let mut errors = Vec::new();
        for a in self.attributes.iter().filter(|a| a.variable) {
            let Some(answer) = answers.get(&a.code) else {
                if a.required {
                    errors.push(ErrorItem::bad_request(format!(
                        "attribute[{}] is required for service {}: {}",
                        a.code, self.service_code, a.description
                    )));
                }
                continue;
            };
            let values = answer.values();
            if a.datatype != Datatype::Multivaluelist && values.len() > 1 {
                errors.push(ErrorItem::bad_request(format!(
                    "attribute[{}] is a {} and takes one value, got {}",
                    a.code,
                    a.datatype.as_str(),
                    values.len()
                )));
                continue;
            }
            for v in values {
                let ok = match a.datatype {
                    Datatype::String | Datatype::Text => true,
                    Datatype::Number => v.trim().parse::<f64>().is_ok_and(f64::is_finite),
                    Datatype::Datetime => DateTime::parse_from_rfc3339(v.trim()).is_ok(),
                    Datatype::Singlevaluelist | Datatype::Multivaluelist => {
                        a.values.iter().any(|allowed| allowed.key == *v)
                    }
                };
                if !ok {
                    let expected = match a.datatype {
                        Datatype::Number => "a number".to_string(),
                        Datatype::Datetime => "a W3C date-time with offset".to_string(),
                        _ => format!(
                            "one of the keys {}",
                            a.values
                                .iter()
                                .map(|x| x.key.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    errors.push(ErrorItem::bad_request(format!(
                        "attribute[{}] value {v:?} is not {expected}",
                        a.code
                    )));
                }
            }
        }
        for code in answers.keys() {
            if !self
                .attributes
                .iter()
                .any(|a| a.variable && &a.code == code)
            {
                errors.push(ErrorItem::bad_request(format!(
                    "attribute[{code}] is not an attribute of service {}",
                    self.service_code
                )));
            }
        }
        errors
    }
}

// ---------------------------------------------------------------- requests

/// The only two statuses the spec knows; chengyun's fine stages are mapped
/// onto them and explained in `status_notes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    Closed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Closed => "closed",
        }
    }
}

/// One service request as `GET requests` and `GET requests/{id}` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRequest {
    pub service_request_id: String,
    pub status: Status,
    pub status_notes: Option<String>,
    pub service_name: Option<String>,
    pub service_code: Option<String>,
    pub description: Option<String>,
    pub agency_responsible: Option<String>,
    pub service_notice: Option<String>,
    #[serde(serialize_with = "w3c_one::serialize")]
    pub requested_datetime: DateTime<FixedOffset>,
    #[serde(serialize_with = "w3c_opt::serialize")]
    pub updated_datetime: Option<DateTime<FixedOffset>>,
    #[serde(serialize_with = "w3c_opt::serialize")]
    pub expected_datetime: Option<DateTime<FixedOffset>>,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub zipcode: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub media_url: Option<String>,
}

/// `GET requests`, `GET requests/{id}` (a list of one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServiceRequests(pub Vec<ServiceRequest>);

impl Resource for ServiceRequests {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.open("service_requests");
        for r in &self.0 {
            w.open("request");
            w.leaf("service_request_id", &r.service_request_id);
            w.leaf("status", r.status.as_str());
            w.opt("status_notes", r.status_notes.as_deref());
            w.opt("service_name", r.service_name.as_deref());
            w.opt("service_code", r.service_code.as_deref());
            w.opt("description", r.description.as_deref());
            w.opt("agency_responsible", r.agency_responsible.as_deref());
            w.opt("service_notice", r.service_notice.as_deref());
            w.leaf("requested_datetime", &w3c(&r.requested_datetime));
            w.opt(
                "updated_datetime",
                r.updated_datetime.as_ref().map(w3c).as_deref(),
            );
            w.opt(
                "expected_datetime",
                r.expected_datetime.as_ref().map(w3c).as_deref(),
            );
            w.opt("address", r.address.as_deref());
            w.opt("address_id", r.address_id.as_deref());
            w.opt("zipcode", r.zipcode.as_deref());
            w.opt("lat", r.lat.map(num).as_deref());
            w.opt("long", r.long.map(num).as_deref());
            w.opt("media_url", r.media_url.as_deref());
            w.close("request");
        }
        w.close("service_requests");
    }
}

/// What `POST requests` answers: the new id, or a token when the id is
/// assigned later (chengyun answers ids; tokens serve idempotent retries
/// and systems that queue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub service_notice: Option<String>,
    pub account_id: Option<String>,
}

/// `POST requests` answer (the spec wraps it in a list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PostResponses(pub Vec<PostResponse>);

impl Resource for PostResponses {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.open("service_requests");
        for r in &self.0 {
            w.open("request");
            if let Some(id) = &r.service_request_id {
                w.leaf("service_request_id", id);
            }
            if let Some(token) = &r.token {
                w.leaf("token", token);
            }
            w.opt("service_notice", r.service_notice.as_deref());
            w.opt("account_id", r.account_id.as_deref());
            w.close("request");
        }
        w.close("service_requests");
    }
}

/// One row of `GET tokens/{token}`: the id the token became (none yet while
/// the request waits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub service_request_id: Option<String>,
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenResponses(pub Vec<TokenResponse>);

impl Resource for TokenResponses {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.open("service_requests");
        for r in &self.0 {
            w.open("request");
            w.opt("service_request_id", r.service_request_id.as_deref());
            w.leaf("token", &r.token);
            w.close("request");
        }
        w.close("service_requests");
    }
}

// ---------------------------------------------------------------- errors

/// One error of the spec's error list; `code` is the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorItem {
    pub code: u16,
    pub description: String,
}

impl ErrorItem {
    pub fn new(code: u16, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(400, description)
    }
}

/// The spec's error document; the response status is the first error's code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Errors(pub Vec<ErrorItem>);

impl Errors {
    pub fn one(code: u16, description: impl Into<String>) -> Self {
        Self(vec![ErrorItem::new(code, description)])
    }

    /// The HTTP status to answer with (400 for an empty list, which should
    /// not happen).
    pub fn status(&self) -> u16 {
        self.0.first().map_or(400, |e| e.code)
    }
}

impl Resource for Errors {
    fn write_xml(&self, w: &mut XmlWriter) {
        w.open("errors");
        for e in &self.0 {
            w.open("error");
            w.leaf("code", &e.code.to_string());
            w.leaf("description", &e.description);
            w.close("error");
        }
        w.close("errors");
    }
}

// ---------------------------------------------------------------- form input

/// Decodes an `application/x-www-form-urlencoded` body (or a query string)
/// into ordered pairs: `+` is a space, `%XX` a byte, the bytes UTF-8.
pub fn parse_form(body: &str) -> Result<Vec<(String, String)>, ErrorItem> {
    let mut out = Vec::new();
    for (i, part) in body.split('&').enumerate() {
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let key = decode_component(k)
            .map_err(|e| ErrorItem::bad_request(format!("form field #{}: {e}", i + 1)))?;
        let value = decode_component(v)
            .map_err(|e| ErrorItem::bad_request(format!("form field {key:?}: {e}")))?;
        out.push((key, value));
    }
    Ok(out)
}

fn decode_component(raw: &str) -> Result<String, String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad percent-escape at byte {i} of {raw:?}"))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("{raw:?} does not decode to UTF-8 text"))
}

/// One attribute answer: `attribute[code]=v` or `attribute[code][]=v1&…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeAnswer {
    Single(String),
    Multi(Vec<String>),
}

impl AttributeAnswer {
    pub fn values(&self) -> Vec<&String> {
        match self {
            AttributeAnswer::Single(v) => vec![v],
            AttributeAnswer::Multi(vs) => vs.iter().collect(),
        }
    }
}

/// Where a new request is: a point, a free address, or the id of a known
/// address (one of the three is required by the spec).
#[derive(Debug, Clone, PartialEq)]
pub enum RequestLocation {
    Point { lat: f64, long: f64 },
    Address(String),
    AddressId(String),
}

/// A validated `POST requests` body.
#[derive(Debug, Clone, PartialEq)]
pub struct PostRequest {
    pub api_key: String,
    pub jurisdiction_id: Option<String>,
    pub service_code: String,
    pub location: RequestLocation,
    /// The free address when a point is also given (both may be sent).
    pub address_string: Option<String>,
    pub email: Option<String>,
    pub device_id: Option<String>,
    pub account_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub description: Option<String>,
    pub media_url: Option<String>,
    pub attributes: BTreeMap<String, AttributeAnswer>,
}

impl PostRequest {
    /// Parses and validates a form-encoded body. Every problem is listed,
    /// each with code 400 (a wrong `api_key` is the route's 403 to give).
    pub fn from_form(body: &str) -> Result<Self, Errors> {
        let pairs = parse_form(body).map_err(|e| Errors(vec![e]))?;
        Self::from_pairs(pairs)
    }

    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, Errors> {
        let mut errors = Vec::new();
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        let mut attributes: BTreeMap<String, AttributeAnswer> = BTreeMap::new();
        for (key, value) in pairs {
            if let Some(rest) = key.strip_prefix("attribute[") {
                let (code, multi) = if let Some(code) = rest.strip_suffix("][]") {
                    (code, true)
                } else if let Some(code) = rest.strip_suffix(']') {
                    (code, false)
                } else {
                    errors.push(ErrorItem::bad_request(format!(
                        "{key:?} is not attribute[code] nor attribute[code][]"
                    )));
                    continue;
                };
                if code.is_empty() || code.contains(['[', ']']) {
                    errors.push(ErrorItem::bad_request(format!(
                        "{key:?} has no usable attribute code"
                    )));
                    continue;
                }
                match (attributes.get_mut(code), multi) {
                    (None, false) => {
                        attributes.insert(code.to_string(), AttributeAnswer::Single(value));
                    }
                    (None, true) => {
                        attributes.insert(code.to_string(), AttributeAnswer::Multi(vec![value]));
                    }
                    (Some(AttributeAnswer::Multi(vs)), true) => vs.push(value),
                    (Some(_), _) => errors.push(ErrorItem::bad_request(format!(
                        "attribute[{code}] is given more than once; use attribute[{code}][] for several values"
                    ))),
                }
                continue;
            }
            if fields.contains_key(&key) {
                errors.push(ErrorItem::bad_request(format!(
                    "{key} is given more than once"
                )));
                continue;
            }
            fields.insert(key, value);
        }
        let mut take = |name: &str| {
            fields
                .remove(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let api_key = take("api_key");
        if api_key.is_none() {
            errors.push(ErrorItem::bad_request(
                "api_key is required to submit a request",
            ));
        }
        let service_code = take("service_code");
        if service_code.is_none() {
            errors.push(ErrorItem::bad_request("service_code is required"));
        }
        let lat = take("lat");
        let long = take("long");
        let address_string = take("address_string");
        let address_id = take("address_id");
        let point = match (&lat, &long) {
            (Some(la), Some(lo)) => match (la.parse::<f64>(), lo.parse::<f64>()) {
                (Ok(la), Ok(lo))
                    if la.is_finite()
                        && lo.is_finite()
                        && la.abs() <= 90.0
                        && lo.abs() <= 180.0 =>
                {
                    Some((la, lo))
                }
                _ => {
                    errors.push(ErrorItem::bad_request(format!(
                        "lat {la:?} and long {lo:?} must be WGS-84 degrees (lat -90..90, long -180..180)"
                    )));
                    None
                }
            },
            (Some(_), None) => {
                errors.push(ErrorItem::bad_request("lat is given without long"));
                None
            }
            (None, Some(_)) => {
                errors.push(ErrorItem::bad_request("long is given without lat"));
                None
            }
            (None, None) => None,
        };
        let location = match (point, &address_string, &address_id) {
            (Some((lat, long)), _, _) => Some(RequestLocation::Point { lat, long }),
            (None, Some(a), _) => Some(RequestLocation::Address(a.clone())),
            (None, None, Some(id)) => Some(RequestLocation::AddressId(id.clone())),
            (None, None, None) => {
                if lat.is_none() && long.is_none() {
                    errors.push(ErrorItem::bad_request(
                        "a location is required: lat and long, or address_string, or address_id",
                    ));
                }
                None
            }
        };
        let description = take("description");
        if let Some(d) = &description
            && d.chars().count() > MAX_DESCRIPTION_CHARS
        {
            errors.push(ErrorItem::bad_request(format!(
                "description has {} characters; the limit is {MAX_DESCRIPTION_CHARS}",
                d.chars().count()
            )));
        }
        let jurisdiction_id = take("jurisdiction_id");
        let email = take("email");
        let device_id = take("device_id");
        let account_id = take("account_id");
        let first_name = take("first_name");
        let last_name = take("last_name");
        let phone = take("phone");
        let media_url = take("media_url");
        match (api_key, service_code, location) {
            (Some(api_key), Some(service_code), Some(location)) if errors.is_empty() => Ok(Self {
                api_key,
                jurisdiction_id,
                service_code,
                location,
                address_string,
                email,
                device_id,
                account_id,
                first_name,
                last_name,
                phone,
                description,
                media_url,
                attributes,
            }),
            _ => Err(Errors(errors)),
        }
    }
}

/// The validated filter of `GET requests`.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestsFilter {
    /// When given, "this overrides all other arguments": only these ids.
    pub service_request_ids: Option<Vec<String>>,
    /// Empty = all services.
    pub service_codes: Vec<String>,
    /// Inclusive range on `requested_datetime`.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Empty = both statuses.
    pub statuses: Vec<Status>,
    pub jurisdiction_id: Option<String>,
    pub limit: usize,
}

impl RequestsFilter {
    /// Reads the query string of `GET requests` at time `now`. Defaults: the
    /// past [`DEFAULT_WINDOW_DAYS`] days, at most [`MAX_RESULTS`] requests.
    /// With only `start_date`, the window runs 90 days from it (capped at now
    /// is not required by the spec; we keep the full 90 days); with only
    /// `end_date`, the 90 days before it.
    pub fn from_query(query: &str, now: DateTime<Utc>) -> Result<Self, Errors> {
        let pairs = parse_form(query).map_err(|e| Errors(vec![e]))?;
        let mut errors = Vec::new();
        let get = |name: &str| -> Option<String> {
            pairs
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_string())
                .rfind(|v| !v.is_empty())
        };
        let list = |name: &str| -> Vec<String> {
            pairs
                .iter()
                .filter(|(k, _)| k == name)
                .flat_map(|(_, v)| v.split(','))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let ids = list("service_request_id");
        let jurisdiction_id = get("jurisdiction_id");
        let window = Duration::days(DEFAULT_WINDOW_DAYS);
        if !ids.is_empty() {
            return Ok(Self {
                service_request_ids: Some(ids),
                service_codes: Vec::new(),
                start: now - window,
                end: now,
                statuses: Vec::new(),
                jurisdiction_id,
                limit: MAX_RESULTS,
            });
        }
        let start = get("start_date").and_then(|raw| match parse_w3c("start_date", &raw) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(e) => {
                errors.push(e);
                None
            }
        });
        let end = get("end_date").and_then(|raw| match parse_w3c("end_date", &raw) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(e) => {
                errors.push(e);
                None
            }
        });
        let mut statuses = Vec::new();
        for s in list("status") {
            match s.to_ascii_lowercase().as_str() {
                "open" => statuses.push(Status::Open),
                "closed" => statuses.push(Status::Closed),
                other => errors.push(ErrorItem::bad_request(format!(
                    "status {other:?} is neither open nor closed"
                ))),
            }
        }
        statuses.sort();
        statuses.dedup();
        let (start, end) = match (start, end) {
            (Some(s), Some(e)) => (s, e),
            (Some(s), None) => (s, s + window),
            (None, Some(e)) => (e - window, e),
            (None, None) => (now - window, now),
        };
        if end < start {
            errors.push(ErrorItem::bad_request("end_date is before start_date"));
        } else if end - start > Duration::days(MAX_WINDOW_DAYS) {
            errors.push(ErrorItem::bad_request(format!(
                "start_date to end_date may not span more than {MAX_WINDOW_DAYS} days"
            )));
        }
        if !errors.is_empty() {
            return Err(Errors(errors));
        }
        Ok(Self {
            service_request_ids: None,
            service_codes: list("service_code"),
            start,
            end,
            statuses,
            jurisdiction_id,
            limit: MAX_RESULTS,
        })
    }
}

#[cfg(test)]
mod tests {
    //! Golden documents written from the GeoReport v2 examples, with
    //! chengyun values (`+08:00`, matter codes as service codes).
    use super::*;

    fn cst(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    const DECL: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;

    #[test]
    fn discovery_in_both_formats() {
        let d = Discovery {
            changeset: cst("2026-03-01T09:00:00+08:00"),
            contact: "12345 hotline <ops@yingtan.example>".into(),
            key_service: "Ask the city operations centre for a key".into(),
            endpoints: vec![Endpoint {
                specification: SPECIFICATION_URL.into(),
                url: "https://city.example/open311/v2".into(),
                changeset: cst("2026-03-01T09:00:00+08:00"),
                kind: "production".into(),
                formats: vec!["text/xml".into(), "application/json".into()],
            }],
        };
        assert_eq!(
            to_json(&d),
            r#"{"changeset":"2026-03-01T09:00:00+08:00","contact":"12345 hotline <ops@yingtan.example>","key_service":"Ask the city operations centre for a key","endpoints":[{"specification":"http://wiki.open311.org/GeoReport_v2","url":"https://city.example/open311/v2","changeset":"2026-03-01T09:00:00+08:00","type":"production","formats":["text/xml","application/json"]}]}"#
        );
        assert_eq!(
            to_xml(&d),
            format!(
                "{DECL}<discovery><changeset>2026-03-01T09:00:00+08:00</changeset><contact>12345 hotline &lt;ops@yingtan.example&gt;</contact><key_service>Ask the city operations centre for a key</key_service><endpoints><endpoint><specification>http://wiki.open311.org/GeoReport_v2</specification><url>https://city.example/open311/v2</url><changeset>2026-03-01T09:00:00+08:00</changeset><type>production</type><formats><format>text/xml</format><format>application/json</format></formats></endpoint></endpoints></discovery>"
            )
        );
    }

    #[test]
    fn service_list_in_both_formats() {
        let list = ServiceList(vec![Service {
            service_code: "01037".into(),
            service_name: "路灯异常".into(),
            description: "路灯不亮、倒伏、损坏".into(),
            metadata: true,
            kind: ServiceType::Realtime,
            keywords: "路灯, 灯不亮".into(),
            group: "市政公用设施类".into(),
        }]);
        assert_eq!(
            to_json(&list),
            r#"[{"service_code":"01037","service_name":"路灯异常","description":"路灯不亮、倒伏、损坏","metadata":true,"type":"realtime","keywords":"路灯, 灯不亮","group":"市政公用设施类"}]"#
        );
        assert_eq!(
            to_xml(&list),
            format!(
                "{DECL}<services><service><service_code>01037</service_code><service_name>路灯异常</service_name><description>路灯不亮、倒伏、损坏</description><metadata>true</metadata><type>realtime</type><keywords>路灯, 灯不亮</keywords><group>市政公用设施类</group></service></services>"
            )
        );
        let back: ServiceList = serde_json::from_str(&to_json(&list)).unwrap();
        assert_eq!(back, list);
    }

    fn definition() -> ServiceDefinition {
        ServiceDefinition {
            service_code: "09009".into(),
            attributes: vec![
                Attribute {
                    variable: true,
                    code: "PLATE".into(),
                    datatype: Datatype::String,
                    required: true,
                    datatype_description: Some("车牌号, e.g. 赣L12345".into()),
                    order: 1,
                    description: "What is the plate number?".into(),
                    values: vec![],
                },
                Attribute {
                    variable: true,
                    code: "KIND".into(),
                    datatype: Datatype::Singlevaluelist,
                    required: false,
                    datatype_description: None,
                    order: 2,
                    description: "Vehicle kind".into(),
                    values: vec![
                        AttributeValue {
                            key: "car".into(),
                            name: "小汽车".into(),
                        },
                        AttributeValue {
                            key: "truck".into(),
                            name: "货车".into(),
                        },
                    ],
                },
                Attribute {
                    variable: true,
                    code: "BLOCKS".into(),
                    datatype: Datatype::Multivaluelist,
                    required: false,
                    datatype_description: None,
                    order: 3,
                    description: "What does it block?".into(),
                    values: vec![
                        AttributeValue {
                            key: "door".into(),
                            name: "出入口".into(),
                        },
                        AttributeValue {
                            key: "hydrant".into(),
                            name: "消防栓".into(),
                        },
                    ],
                },
                Attribute {
                    variable: true,
                    code: "COUNT".into(),
                    datatype: Datatype::Number,
                    required: false,
                    datatype_description: None,
                    order: 4,
                    description: "How many vehicles?".into(),
                    values: vec![],
                },
                Attribute {
                    variable: false,
                    code: "NOTE".into(),
                    datatype: Datatype::Text,
                    required: false,
                    datatype_description: None,
                    order: 5,
                    description: "Tow trucks come within 2 hours".into(),
                    values: vec![],
                },
            ],
        }
    }

    #[test]
    fn service_definition_in_both_formats() {
        let mut d = definition();
        d.attributes.truncate(2);
        assert_eq!(
            to_json(&d),
            r#"{"service_code":"09009","attributes":[{"variable":true,"code":"PLATE","datatype":"string","required":true,"datatype_description":"车牌号, e.g. 赣L12345","order":1,"description":"What is the plate number?"},{"variable":true,"code":"KIND","datatype":"singlevaluelist","required":false,"datatype_description":null,"order":2,"description":"Vehicle kind","values":[{"key":"car","name":"小汽车"},{"key":"truck","name":"货车"}]}]}"#
        );
        assert_eq!(
            to_xml(&d),
            format!(
                "{DECL}<service_definition><service_code>09009</service_code><attributes><attribute><variable>true</variable><code>PLATE</code><datatype>string</datatype><required>true</required><datatype_description>车牌号, e.g. 赣L12345</datatype_description><order>1</order><description>What is the plate number?</description></attribute><attribute><variable>true</variable><code>KIND</code><datatype>singlevaluelist</datatype><required>false</required><datatype_description/><order>2</order><description>Vehicle kind</description><values><value><key>car</key><name>小汽车</name></value><value><key>truck</key><name>货车</name></value></values></attribute></attributes></service_definition>"
            )
        );
    }

    fn request() -> ServiceRequest {
        ServiceRequest {
            service_request_id: "YT20260301000123".into(),
            status: Status::Open,
            status_notes: Some("已派遣 dispatched to 月湖区城管局".into()),
            service_name: Some("机动车乱停放".into()),
            service_code: Some("09009".into()),
            description: Some("车停在 \"消防通道\" & 出入口 <急>".into()),
            agency_responsible: Some("月湖区城管局".into()),
            service_notice: None,
            requested_datetime: cst("2026-03-01T09:30:00+08:00"),
            updated_datetime: Some(cst("2026-03-01T10:00:00+08:00")),
            expected_datetime: Some(cst("2026-03-01T11:30:00+08:00")),
            address: Some("信江路 1 号".into()),
            address_id: None,
            zipcode: Some("335000".into()),
            lat: Some(28.2391),
            long: Some(117.0339),
            media_url: None,
        }
    }

    #[test]
    fn service_requests_in_both_formats_with_escaping() {
        let list = ServiceRequests(vec![request()]);
        assert_eq!(
            to_json(&list),
            r#"[{"service_request_id":"YT20260301000123","status":"open","status_notes":"已派遣 dispatched to 月湖区城管局","service_name":"机动车乱停放","service_code":"09009","description":"车停在 \"消防通道\" & 出入口 <急>","agency_responsible":"月湖区城管局","service_notice":null,"requested_datetime":"2026-03-01T09:30:00+08:00","updated_datetime":"2026-03-01T10:00:00+08:00","expected_datetime":"2026-03-01T11:30:00+08:00","address":"信江路 1 号","address_id":null,"zipcode":"335000","lat":28.2391,"long":117.0339,"media_url":null}]"#
        );
        assert_eq!(
            to_xml(&list),
            format!(
                "{DECL}<service_requests><request><service_request_id>YT20260301000123</service_request_id><status>open</status><status_notes>已派遣 dispatched to 月湖区城管局</status_notes><service_name>机动车乱停放</service_name><service_code>09009</service_code><description>车停在 &quot;消防通道&quot; &amp; 出入口 &lt;急&gt;</description><agency_responsible>月湖区城管局</agency_responsible><service_notice/><requested_datetime>2026-03-01T09:30:00+08:00</requested_datetime><updated_datetime>2026-03-01T10:00:00+08:00</updated_datetime><expected_datetime>2026-03-01T11:30:00+08:00</expected_datetime><address>信江路 1 号</address><address_id/><zipcode>335000</zipcode><lat>28.2391</lat><long>117.0339</long><media_url/></request></service_requests>"
            )
        );
        assert_eq!(
            to_xml(&ServiceRequests(vec![])),
            format!("{DECL}<service_requests></service_requests>")
        );
    }

    #[test]
    fn xml_output_is_well_formed_and_reads_back_the_text() {
        let mut r = request();
        r.description = Some("a\u{0}b\u{1b}c & <d> 'e' \r\n".into());
        let xml = to_xml(&ServiceRequests(vec![r]));
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut depth = 0i32;
        let mut description = None;
        let mut in_description = false;
        loop {
            match reader.read_event().unwrap() {
                quick_xml::events::Event::Start(e) => {
                    depth += 1;
                    in_description = e.name().as_ref() == "description";
                }
                quick_xml::events::Event::End(_) => {
                    depth -= 1;
                    in_description = false;
                }
                quick_xml::events::Event::Text(t) if in_description => {
                    description
                        .get_or_insert_with(String::new)
                        .push_str(&t.into_inner());
                }
                quick_xml::events::Event::GeneralRef(r) if in_description => {
                    let name = r.into_inner().into_owned();
                    let ch = match name.as_str() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "apos" => "'",
                        "quot" => "\"",
                        "#13" => "\r",
                        other => panic!("unexpected entity {other}"),
                    };
                    description.get_or_insert_with(String::new).push_str(ch);
                }
                quick_xml::events::Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(depth, 0);
        let d = description.unwrap();
        assert!(d.contains("a\u{FFFD}b\u{FFFD}c"), "{d:?}");
    }

    #[test]
    fn post_and_token_responses() {
        let with_id = PostResponses(vec![PostResponse {
            service_request_id: Some("YT20260301000123".into()),
            token: None,
            service_notice: Some("2 小时内处置".into()),
            account_id: None,
        }]);
        assert_eq!(
            to_json(&with_id),
            r#"[{"service_request_id":"YT20260301000123","service_notice":"2 小时内处置","account_id":null}]"#
        );
        assert_eq!(
            to_xml(&with_id),
            format!(
                "{DECL}<service_requests><request><service_request_id>YT20260301000123</service_request_id><service_notice>2 小时内处置</service_notice><account_id/></request></service_requests>"
            )
        );
        let with_token = PostResponses(vec![PostResponse {
            service_request_id: None,
            token: Some("tk-9f2".into()),
            service_notice: None,
            account_id: None,
        }]);
        assert_eq!(
            to_json(&with_token),
            r#"[{"token":"tk-9f2","service_notice":null,"account_id":null}]"#
        );
        let tokens = TokenResponses(vec![TokenResponse {
            service_request_id: Some("YT20260301000123".into()),
            token: "tk-9f2".into(),
        }]);
        assert_eq!(
            to_json(&tokens),
            r#"[{"service_request_id":"YT20260301000123","token":"tk-9f2"}]"#
        );
        assert_eq!(
            to_xml(&tokens),
            format!(
                "{DECL}<service_requests><request><service_request_id>YT20260301000123</service_request_id><token>tk-9f2</token></request></service_requests>"
            )
        );
    }

    #[test]
    fn errors_in_both_formats() {
        let e = Errors(vec![
            ErrorItem::new(
                403,
                "Invalid api_key received -- can't proceed with create_request.",
            ),
            ErrorItem::bad_request("service_code is required"),
        ]);
        assert_eq!(e.status(), 403);
        assert_eq!(
            to_json(&e),
            r#"[{"code":403,"description":"Invalid api_key received -- can't proceed with create_request."},{"code":400,"description":"service_code is required"}]"#
        );
        assert_eq!(
            to_xml(&e),
            format!(
                "{DECL}<errors><error><code>403</code><description>Invalid api_key received -- can&apos;t proceed with create_request.</description></error><error><code>400</code><description>service_code is required</description></error></errors>"
            )
        );
        let (ct, body) = render(&e, Format::Xml);
        assert_eq!(ct, "text/xml; charset=utf-8");
        assert!(body.starts_with(DECL));
    }

    #[test]
    fn format_comes_from_the_path_suffix() {
        assert_eq!(
            Format::split("services.json"),
            Some(("services", Format::Json))
        );
        assert_eq!(Format::split("09009.xml"), Some(("09009", Format::Xml)));
        assert_eq!(Format::split("requests"), None);
        assert_eq!(Format::split("requests.html"), None);
    }

    #[test]
    fn city_time_is_written_with_its_offset() {
        let t = DateTime::parse_from_rfc3339("2026-03-01T01:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let cst = FixedOffset::east_opt(8 * 3600).unwrap();
        assert_eq!(w3c(&in_city(&t, &cst)), "2026-03-01T09:30:00+08:00");
        assert!(parse_w3c("start_date", "2026-03-01 09:30").is_err());
        assert!(
            parse_w3c("start_date", "2026-03-01T09:30:00").is_err(),
            "offset required"
        );
    }

    #[test]
    fn form_bodies_decode_with_attributes() {
        let body = "api_key=k1&service_code=09009&lat=28.2391&long=117.0339&description=%E8%BD%A6%E5%81%9C+%E5%9C%A8%E9%97%A8%E5%8F%A3\
            &attribute%5BPLATE%5D=%E8%B5%A3L12345&attribute[BLOCKS][]=door&attribute[BLOCKS][]=hydrant&first_name=&email=a%40b.cn";
        let r = PostRequest::from_form(body).unwrap();
        assert_eq!(r.api_key, "k1");
        assert_eq!(r.service_code, "09009");
        assert_eq!(
            r.location,
            RequestLocation::Point {
                lat: 28.2391,
                long: 117.0339
            }
        );
        assert_eq!(r.description.as_deref(), Some("车停 在门口"));
        assert_eq!(r.first_name, None, "empty values are absent");
        assert_eq!(r.email.as_deref(), Some("a@b.cn"));
        assert_eq!(
            r.attributes.get("PLATE"),
            Some(&AttributeAnswer::Single("赣L12345".into()))
        );
        assert_eq!(
            r.attributes.get("BLOCKS"),
            Some(&AttributeAnswer::Multi(vec![
                "door".into(),
                "hydrant".into()
            ]))
        );
        assert!(definition().check(&r.attributes).is_empty());
    }

    #[test]
    fn a_location_may_be_an_address_or_an_address_id() {
        let r = PostRequest::from_form(
            "api_key=k&service_code=01037&address_string=%E4%BF%A1%E6%B1%9F%E8%B7%AF",
        )
        .unwrap();
        assert_eq!(r.location, RequestLocation::Address("信江路".into()));
        let r = PostRequest::from_form("api_key=k&service_code=01037&address_id=A-17").unwrap();
        assert_eq!(r.location, RequestLocation::AddressId("A-17".into()));
    }

    #[test]
    fn missing_required_fields_are_all_listed() {
        let e = PostRequest::from_form("description=x").unwrap_err();
        let d: Vec<&str> = e.0.iter().map(|x| x.description.as_str()).collect();
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d[0].contains("api_key"));
        assert!(d[1].contains("service_code"));
        assert!(d[2].contains("lat and long, or address_string, or address_id"));
        assert!(e.0.iter().all(|x| x.code == 400));
    }

    #[test]
    fn bad_values_are_refused_with_reasons() {
        let cases = [
            (
                "api_key=k&service_code=1&lat=28.2",
                "lat is given without long",
            ),
            ("api_key=k&service_code=1&lat=128&long=117", "WGS-84"),
            ("api_key=k&service_code=1&lat=x&long=117", "WGS-84"),
            (
                "api_key=k&service_code=1&address_id=1&service_code=2",
                "more than once",
            ),
            (
                "api_key=k&service_code=1&address_id=1&attribute[A]=1&attribute[A]=2",
                "attribute[A][]",
            ),
            (
                "api_key=k&service_code=1&address_id=1&attribute[A=1",
                "attribute[code]",
            ),
            ("api_key=k&service_code=1&address_id=%ZZ", "percent-escape"),
            ("api_key=k&service_code=1&address_id=%FF", "UTF-8"),
        ];
        for (body, want) in cases {
            let e = PostRequest::from_form(body).unwrap_err();
            assert!(
                e.0.iter().any(|x| x.description.contains(want)),
                "{body}: {:?}",
                e.0
            );
        }
        let long = format!(
            "api_key=k&service_code=1&address_id=1&description={}",
            "字".repeat(MAX_DESCRIPTION_CHARS + 1)
        );
        let e = PostRequest::from_form(&long).unwrap_err();
        assert!(e.0[0].description.contains("4000"));
    }

    #[test]
    fn attribute_answers_are_checked_against_the_definition() {
        let d = definition();
        let mut answers = BTreeMap::new();
        assert!(
            d.check(&answers)[0]
                .description
                .contains("attribute[PLATE] is required")
        );
        answers.insert("PLATE".to_string(), AttributeAnswer::Single("赣L1".into()));
        answers.insert("KIND".to_string(), AttributeAnswer::Single("bus".into()));
        answers.insert(
            "BLOCKS".to_string(),
            AttributeAnswer::Multi(vec!["door".into(), "window".into()]),
        );
        answers.insert("COUNT".to_string(), AttributeAnswer::Single("two".into()));
        answers.insert("NOTE".to_string(), AttributeAnswer::Single("x".into()));
        let errs: Vec<String> = d
            .check(&answers)
            .into_iter()
            .map(|e| e.description)
            .collect();
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(errs[0].contains("KIND") && errs[0].contains("car, truck"));
        assert!(errs[1].contains("\"window\""));
        assert!(errs[2].contains("COUNT") && errs[2].contains("a number"));
        assert!(
            errs[3].contains("NOTE"),
            "informational attributes take no answer"
        );
        let mut two = BTreeMap::new();
        two.insert(
            "PLATE".to_string(),
            AttributeAnswer::Multi(vec!["a".into(), "b".into()]),
        );
        assert!(d.check(&two)[0].description.contains("takes one value"));
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn get_requests_defaults_to_the_last_90_days_and_1000_results() {
        let f = RequestsFilter::from_query("", now()).unwrap();
        assert_eq!(f.end, now());
        assert_eq!(f.start, now() - Duration::days(90));
        assert_eq!(f.limit, 1000);
        assert!(f.service_codes.is_empty() && f.statuses.is_empty());
        assert_eq!(f.service_request_ids, None);
    }

    #[test]
    fn get_requests_reads_every_filter() {
        let f = RequestsFilter::from_query(
            "service_code=01037,09009&status=open,closed,open&start_date=2026-05-01T00:00:00%2B08:00&end_date=2026-05-31T00:00:00%2B08:00&jurisdiction_id=yingtan",
            now(),
        )
        .unwrap();
        assert_eq!(f.service_codes, vec!["01037", "09009"]);
        assert_eq!(f.statuses, vec![Status::Open, Status::Closed]);
        assert_eq!(f.start.to_rfc3339(), "2026-04-30T16:00:00+00:00");
        assert_eq!(f.end.to_rfc3339(), "2026-05-30T16:00:00+00:00");
        assert_eq!(f.jurisdiction_id.as_deref(), Some("yingtan"));
        let only_start =
            RequestsFilter::from_query("start_date=2026-01-01T00:00:00Z", now()).unwrap();
        assert_eq!(only_start.end - only_start.start, Duration::days(90));
        let only_end = RequestsFilter::from_query("end_date=2026-01-01T00:00:00Z", now()).unwrap();
        assert_eq!(only_end.end.to_rfc3339(), "2026-01-01T00:00:00+00:00");
    }

    #[test]
    fn service_request_ids_override_the_other_filters() {
        let f = RequestsFilter::from_query(
            "service_request_id=A1,%20A2&status=bogus&start_date=nonsense",
            now(),
        )
        .unwrap();
        assert_eq!(f.service_request_ids, Some(vec!["A1".into(), "A2".into()]));
        assert!(f.statuses.is_empty());
    }

    #[test]
    fn bad_filters_are_refused() {
        for (q, want) in [
            ("status=pending", "neither open nor closed"),
            ("start_date=yesterday", "W3C"),
            (
                "start_date=2026-05-01T00:00:00Z&end_date=2026-04-01T00:00:00Z",
                "before start_date",
            ),
            (
                "start_date=2026-01-01T00:00:00Z&end_date=2026-05-01T00:00:00Z",
                "90 days",
            ),
        ] {
            let e = RequestsFilter::from_query(q, now()).unwrap_err();
            assert!(e.0[0].description.contains(want), "{q}: {:?}", e.0);
            assert_eq!(e.status(), 400);
        }
    }
}
