//! One typed configuration with defaults, read from a TOML file, then
//! `CHENGYUN_*` environment variables, then command-line flags (later wins).

use anyhow::{Context, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Where the embedded database and uploaded files live.
    pub data_dir: PathBuf,
    /// `postgres://…` for a PostgreSQL server; empty for the embedded SQLite
    /// database `chengyun.db` in the data dir.
    pub database_url: Option<String>,
    pub http: HttpConfig,
    pub log: LogConfig,
    pub ingest: IngestConfig,
    pub mqtt: MqttConfig,
    pub iot: IotSection,
    pub map: MapSection,
    pub bus: BusSection,
}

/// The internal bus that carries events between the parts of a server (live
/// feed, city reloads, webhooks): `inprocess` for one server, `nats` for
/// several servers on one database sharing events through NATS JetStream
/// (see crates/bus/README.md).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BusSection {
    /// `inprocess` (default) or `nats` (`CHENGYUN_BUS_KIND`). `chengyun demo`
    /// always runs in-process.
    pub kind: String,
    /// The NATS server, `nats://host:port` or `tls://…`; several of one
    /// cluster separated by commas (`CHENGYUN_BUS_URL`).
    pub url: String,
    /// The JetStream stream every node uses (`CHENGYUN_BUS_STREAM`).
    pub stream: String,
    /// Subjects are `<subject_prefix>.<event>` (`CHENGYUN_BUS_SUBJECT_PREFIX`).
    pub subject_prefix: String,
    /// Hours an event stays in the stream (`CHENGYUN_BUS_MAX_AGE_HOURS`).
    pub max_age_hours: u64,
    /// The stream's size limit in MiB; the oldest events go first (`CHENGYUN_BUS_MAX_MIB`).
    pub max_mib: u64,
}

impl Default for BusSection {
    fn default() -> Self {
        Self {
            kind: "inprocess".into(),
            url: "nats://127.0.0.1:4222".into(),
            stream: "CHENGYUN".into(),
            subject_prefix: "chengyun".into(),
            max_age_hours: 24,
            max_mib: 1024,
        }
    }
}

impl BusSection {
    /// The NATS bus settings, checked (for `kind = "nats"`).
    #[cfg(feature = "nats")]
    pub fn nats(&self) -> anyhow::Result<chengyun_bus::NatsBusConfig> {
        let c = chengyun_bus::NatsBusConfig {
            url: self.url.clone(),
            stream: self.stream.clone(),
            subject_prefix: self.subject_prefix.clone(),
            max_age: std::time::Duration::from_secs(self.max_age_hours.saturating_mul(3600)),
            max_bytes: self.max_mib.saturating_mul(1024 * 1024),
            ..Default::default()
        };
        if self.max_age_hours == 0 {
            bail!("bus.max_age_hours must be at least 1");
        }
        if self.max_mib == 0 {
            bail!("bus.max_mib must be at least 1");
        }
        c.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(c)
    }
}

/// The IoT brain's city-specific settings.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct IotSection {
    /// The scenario packs' department hints → this city's department codes,
    /// e.g. `police = "YT-GA"`, `fire_department = "YT-XF"`. Enabling a pack
    /// installs a dispatch rule for each mapped alarm whose hint is named here,
    /// so a stolen e-bike goes straight to the police. Hints: `police`,
    /// `community`, `judicial_office`, `railway_patrol`, `traffic_enforcement`,
    /// `market_supervision`, `fire_department`, `sanitation`,
    /// `street_lighting`, `component_owner` (see `GET /api/v1/packs`).
    pub departments: std::collections::BTreeMap<String, String>,
}

/// The TCP device gateways. Off unless given: a server should not open
/// device ports nobody asked for. `chengyun demo` opens them on
/// 127.0.0.1:6808 (JT/T 808) and 127.0.0.1:6809 (watch) unless set here.
/// The HTTP telemetry and GB/T 28181 Notify endpoints are always served on
/// the API's own listener under `/ingest/...`.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// JT/T 808 gateway (`CHENGYUN_JT808_LISTEN`), e.g. `0.0.0.0:6808`.
    pub jt808_listen: Option<SocketAddr>,
    /// Watch-protocol gateway (`CHENGYUN_WATCH_LISTEN`), e.g. `0.0.0.0:6809`.
    pub watch_listen: Option<SocketAddr>,
}

/// The MQTT source.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// `off` (default for `serve`), `embedded` (an in-process broker; the
    /// default for `demo`) or `external` (subscribe to `url`).
    /// `CHENGYUN_MQTT_MODE`.
    pub mode: String,
    /// Address of the embedded broker (`CHENGYUN_MQTT_LISTEN`); default
    /// 127.0.0.1:1884 because a system Mosquitto usually holds 1883.
    pub listen: SocketAddr,
    /// The external broker, `mqtt://host:port` (`CHENGYUN_MQTT_URL`).
    pub url: String,
    pub username: Option<String>,
    /// `CHENGYUN_MQTT_PASSWORD`.
    pub password: Option<String>,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            mode: "off".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 1884)),
            url: "mqtt://127.0.0.1:1883".into(),
            username: None,
            password: None,
        }
    }
}

impl MqttConfig {
    /// The external broker's host and port from `url`.
    pub fn external(&self) -> anyhow::Result<(String, u16)> {
        let rest = self
            .url
            .strip_prefix("mqtt://")
            .or_else(|| self.url.strip_prefix("tcp://"))
            .with_context(|| format!("mqtt.url {:?} must start with mqtt://", self.url))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>().with_context(|| {
                    format!("mqtt.url {:?}: port {p:?} is not a port", self.url)
                })?,
            ),
            None => (rest, 1883),
        };
        if host.is_empty() {
            bail!("mqtt.url {:?} names no host", self.url);
        }
        Ok((host.to_string(), port))
    }
}

/// The optional raster tile layer under the maps. The pages draw the city's
/// own GeoJSON boundaries and need no tile server; a city that has one names
/// it here and the big screen and the workbench draw its tiles underneath
/// (Web Mercator, 256 px XYZ tiles). Served at `GET /api/v1/map/config`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MapSection {
    /// The tile URL template (`CHENGYUN_MAP_TILE_URL`; empty turns tiles off):
    /// http or https, with `{z}`, `{x}` and `{y}` (or `{-y}`, TMS rows from
    /// the south) and `{s}` for one of `subdomains`, e.g.
    /// `https://tiles.example.cn/{z}/{x}/{y}.png`.
    pub tile_url: Option<String>,
    /// The characters `{s}` takes, one per host, e.g. `abc`
    /// (`CHENGYUN_MAP_SUBDOMAINS`).
    pub subdomains: String,
    /// The datum the tiles are drawn in: `wgs84` (default) or `gcj02`
    /// (`CHENGYUN_MAP_TILE_CRS`). AutoNavi (高德), Tencent and most providers
    /// in China serve GCJ-02; our data stays WGS-84 and is shifted to match.
    pub tile_crs: String,
    /// The text shown in the map's corner (`CHENGYUN_MAP_ATTRIBUTION`);
    /// required with `tile_url`: providers require their credit, and maps
    /// published in China their approval number (审图号).
    pub attribution: Option<String>,
    /// The lowest zoom the tile server has (`CHENGYUN_MAP_MIN_ZOOM`), default 3.
    pub min_zoom: u8,
    /// The highest zoom the tile server has (`CHENGYUN_MAP_MAX_ZOOM`), default 18.
    pub max_zoom: u8,
}

impl Default for MapSection {
    fn default() -> Self {
        Self {
            tile_url: None,
            subdomains: String::new(),
            tile_crs: "wgs84".into(),
            attribution: None,
            min_zoom: 3,
            max_zoom: 18,
        }
    }
}

/// The highest zoom level accepted (tile pyramids stop well before).
const MAX_TILE_ZOOM: u8 = 22;
/// The longest tile URL template and attribution accepted.
const MAX_TILE_URL_LEN: usize = 2048;
const MAX_ATTRIBUTION_LEN: usize = 300;

impl MapSection {
    /// The checked tile layer, or `None` when no tile URL is set.
    pub fn tiles(&self) -> anyhow::Result<Option<chengyun_api::routes::map::TileLayer>> {
        use chengyun_api::routes::map::{TileCrs, TileLayer};
        let Some(url) = self.tile_url.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        if url.len() > MAX_TILE_URL_LEN {
            bail!("map.tile_url is longer than {MAX_TILE_URL_LEN} characters");
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            bail!("map.tile_url {url:?} must not contain spaces or control characters");
        }
        let lower = url.to_ascii_lowercase();
        let Some(rest) = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"))
        else {
            bail!("map.tile_url {url:?} must start with http:// or https://");
        };
        if rest.split(['/', '?', '#']).next().unwrap_or("").is_empty() {
            bail!("map.tile_url {url:?} names no host");
        }
        let mut seen = Vec::new();
        let mut tail = url;
        while let Some(open) = tail.find(['{', '}']) {
            if tail[open..].starts_with('}') {
                bail!("map.tile_url {url:?} has a '}}' without its '{{'");
            }
            let Some(len) = tail[open..].find('}') else {
                bail!("map.tile_url {url:?} has a '{{' without its '}}'");
            };
            let name = &tail[open + 1..open + len];
            if !matches!(name, "z" | "x" | "y" | "-y" | "s") {
                bail!(
                    "map.tile_url has an unknown placeholder {{{name}}}: \
                     use {{z}}, {{x}}, {{y}} (or {{-y}} for TMS rows) and {{s}}"
                );
            }
            seen.push(name);
            tail = &tail[open + len + 1..];
        }
        for need in ["z", "x"] {
            if !seen.contains(&need) {
                bail!("map.tile_url {url:?} must contain {{{need}}}");
            }
        }
        if !seen.contains(&"y") && !seen.contains(&"-y") {
            bail!("map.tile_url {url:?} must contain {{y}} (or {{-y}} for TMS rows)");
        }
        let has_s = seen.contains(&"s");
        if has_s && self.subdomains.is_empty() {
            bail!(
                "map.tile_url has {{s}} but map.subdomains is empty: name the hosts' letters, e.g. \"abc\""
            );
        }
        if !has_s && !self.subdomains.is_empty() {
            bail!("map.subdomains is set but map.tile_url has no {{s}} to put them in");
        }
        if !self.subdomains.chars().all(|c| c.is_ascii_alphanumeric()) {
            bail!(
                "map.subdomains {:?} must be letters or digits, one per host (e.g. \"abc\")",
                self.subdomains
            );
        }
        let crs = match self.tile_crs.as_str() {
            "wgs84" => TileCrs::Wgs84,
            "gcj02" => TileCrs::Gcj02,
            other => bail!(
                "map.tile_crs {other:?} must be wgs84 or gcj02 (Baidu's BD-09 tiles use their own tiling and are not supported)"
            ),
        };
        let attribution = self.attribution.as_deref().unwrap_or("").trim();
        if attribution.is_empty() {
            bail!(
                "map.attribution is required with map.tile_url: the text shown on the map \
                 (the tile provider's credit, the 审图号 for maps published in China)"
            );
        }
        if attribution.chars().count() > MAX_ATTRIBUTION_LEN {
            bail!("map.attribution is longer than {MAX_ATTRIBUTION_LEN} characters");
        }
        if attribution.chars().any(char::is_control) {
            bail!("map.attribution must be one line without control characters");
        }
        if self.max_zoom > MAX_TILE_ZOOM {
            bail!(
                "map.max_zoom {} must be at most {MAX_TILE_ZOOM}",
                self.max_zoom
            );
        }
        if self.min_zoom > self.max_zoom {
            bail!(
                "map.min_zoom {} must not be above map.max_zoom {}",
                self.min_zoom,
                self.max_zoom
            );
        }
        Ok(Some(TileLayer {
            url: url.to_string(),
            subdomains: self.subdomains.clone(),
            crs,
            attribution: attribution.to_string(),
            min_zoom: self.min_zoom,
            max_zoom: self.max_zoom,
        }))
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Mark the session cookie Secure (set when served over HTTPS).
    pub cookie_secure: bool,
    /// How long a login lasts.
    pub session_ttl_hours: u64,
    /// Largest ordinary request body.
    pub max_body_bytes: usize,
    /// Largest import upload.
    pub max_import_bytes: usize,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `pretty` for people, `json` for log collectors.
    pub format: String,
    /// A tracing filter, e.g. `info` or `chengyun=debug,sqlx=warn`.
    pub level: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            data_dir: PathBuf::from("chengyun-data"),
            database_url: None,
            http: HttpConfig::default(),
            log: LogConfig::default(),
            ingest: IngestConfig::default(),
            mqtt: MqttConfig::default(),
            iot: IotSection::default(),
            map: MapSection::default(),
            bus: BusSection::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            cookie_secure: false,
            session_ttl_hours: 12,
            max_body_bytes: 2 * 1024 * 1024,
            max_import_bytes: 256 * 1024 * 1024,
            trust_forwarded_for: false,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "pretty".into(),
            // The embedded broker logs every device connection that drops at ERROR
            // (and our own readiness probe): not actionable, and a flood with many devices.
            level: "info,sqlx=warn,rumqttd::server::broker=off".into(),
        }
    }
}

/// Overrides from the command line (already merged with the environment by clap).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
}

impl Config {
    /// Reads the file (if any), then the environment, then the overrides.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("config file {} is not valid", path.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        if let Some(l) = overrides.listen {
            config.listen = l;
        }
        if let Some(d) = &overrides.data_dir {
            config.data_dir = d.clone();
        }
        if let Some(u) = &overrides.database_url {
            config.database_url = Some(u.clone()).filter(|u| !u.is_empty());
        }
        config.validate()?;
        Ok(config)
    }

    /// Environment variables that have no flag of their own.
    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = var("CHENGYUN_COOKIE_SECURE") {
            self.http.cookie_secure = parse_bool("CHENGYUN_COOKIE_SECURE", &v)?;
        }
        if let Some(v) = var("CHENGYUN_SESSION_TTL_HOURS") {
            self.http.session_ttl_hours = v
                .parse()
                .context("CHENGYUN_SESSION_TTL_HOURS must be a whole number of hours")?;
        }
        if let Some(v) = var("CHENGYUN_LOG_FORMAT") {
            self.log.format = v;
        }
        if let Some(v) = var("CHENGYUN_LOG") {
            self.log.level = v;
        }
        let addr = |name: &str, v: &str| -> anyhow::Result<Option<SocketAddr>> {
            if v.is_empty() || v == "off" {
                return Ok(None);
            }
            v.parse()
                .map(Some)
                .with_context(|| format!("{name}={v:?} must be host:port or off"))
        };
        if let Some(v) = var("CHENGYUN_JT808_LISTEN") {
            self.ingest.jt808_listen = addr("CHENGYUN_JT808_LISTEN", &v)?;
        }
        if let Some(v) = var("CHENGYUN_WATCH_LISTEN") {
            self.ingest.watch_listen = addr("CHENGYUN_WATCH_LISTEN", &v)?;
        }
        if let Some(v) = var("CHENGYUN_MQTT_MODE") {
            self.mqtt.mode = v;
        }
        if let Some(v) = var("CHENGYUN_MQTT_LISTEN") {
            self.mqtt.listen = v
                .parse()
                .with_context(|| format!("CHENGYUN_MQTT_LISTEN={v:?} must be host:port"))?;
        }
        if let Some(v) = var("CHENGYUN_MQTT_URL") {
            self.mqtt.url = v;
        }
        if let Some(v) = var("CHENGYUN_MQTT_PASSWORD") {
            self.mqtt.password = Some(v);
        }
        if let Some(v) = var("CHENGYUN_BUS_KIND") {
            self.bus.kind = v;
        }
        if let Some(v) = var("CHENGYUN_BUS_URL") {
            self.bus.url = v;
        }
        if let Some(v) = var("CHENGYUN_BUS_STREAM") {
            self.bus.stream = v;
        }
        if let Some(v) = var("CHENGYUN_BUS_SUBJECT_PREFIX") {
            self.bus.subject_prefix = v;
        }
        if let Some(v) = var("CHENGYUN_BUS_MAX_AGE_HOURS") {
            self.bus.max_age_hours = v.parse().with_context(|| {
                format!("CHENGYUN_BUS_MAX_AGE_HOURS={v:?} must be a whole number of hours")
            })?;
        }
        if let Some(v) = var("CHENGYUN_BUS_MAX_MIB") {
            self.bus.max_mib = v.parse().with_context(|| {
                format!("CHENGYUN_BUS_MAX_MIB={v:?} must be a whole number of MiB")
            })?;
        }
        if let Some(v) = var("CHENGYUN_MAP_TILE_URL") {
            self.map.tile_url = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = var("CHENGYUN_MAP_SUBDOMAINS") {
            self.map.subdomains = v;
        }
        if let Some(v) = var("CHENGYUN_MAP_TILE_CRS") {
            self.map.tile_crs = v;
        }
        if let Some(v) = var("CHENGYUN_MAP_ATTRIBUTION") {
            self.map.attribution = Some(v).filter(|v| !v.is_empty());
        }
        let zoom = |name: &str, v: &str| -> anyhow::Result<u8> {
            v.parse()
                .with_context(|| format!("{name}={v:?} must be a zoom level 0-{MAX_TILE_ZOOM}"))
        };
        if let Some(v) = var("CHENGYUN_MAP_MIN_ZOOM") {
            self.map.min_zoom = zoom("CHENGYUN_MAP_MIN_ZOOM", &v)?;
        }
        if let Some(v) = var("CHENGYUN_MAP_MAX_ZOOM") {
            self.map.max_zoom = zoom("CHENGYUN_MAP_MAX_ZOOM", &v)?;
        }
        Ok(())
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            bail!("log.format {:?} must be pretty or json", self.log.format);
        }
        if !matches!(self.mqtt.mode.as_str(), "off" | "embedded" | "external") {
            bail!(
                "mqtt.mode {:?} must be off, embedded or external",
                self.mqtt.mode
            );
        }
        if self.mqtt.mode == "external" {
            self.mqtt.external()?;
        }
        match self.bus.kind.as_str() {
            "inprocess" => {}
            #[cfg(feature = "nats")]
            "nats" => {
                self.bus.nats()?;
            }
            #[cfg(not(feature = "nats"))]
            "nats" => bail!(
                "bus.kind \"nats\": this chengyun was built without the nats feature (cargo build --features nats)"
            ),
            other => bail!("bus.kind {other:?} must be inprocess or nats"),
        }
        for (hint, code) in &self.iot.departments {
            if code.trim().is_empty() {
                bail!(
                    "iot.departments.{hint} is empty: name a department code or leave the hint out"
                );
            }
        }
        if self.http.session_ttl_hours == 0 {
            bail!("http.session_ttl_hours must be at least 1");
        }
        self.map.tiles()?;
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
        {
            bail!("database_url {url:?} must start with postgres://, postgresql:// or sqlite:");
        }
        Ok(())
    }

    /// The database to open: the configured URL, or the embedded SQLite file.
    pub fn database(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => self.data_dir.join("chengyun.db").display().to_string(),
        }
    }
}

fn parse_bool(name: &str, v: &str) -> anyhow::Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!("{name}={v:?} must be true or false"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\ndata_dir = \"/srv/cy\"\n[http]\nsession_ttl_hours = 2\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), &Overrides::default()).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.http.session_ttl_hours, 2);
        assert_eq!(c.database(), "/srv/cy/chengyun.db");
        let o = Overrides {
            listen: Some("127.0.0.1:1".parse().unwrap()),
            ..Default::default()
        };
        let c = Config::load(Some(&file), &o).unwrap();
        assert_eq!(c.listen.port(), 1);
        let mut c = Config::default();
        c.apply_env(|k| (k == "CHENGYUN_SESSION_TTL_HOURS").then(|| "5".to_string()))
            .unwrap();
        assert_eq!(c.http.session_ttl_hours, 5);
    }

    #[test]
    fn ingest_and_mqtt_sections() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[ingest]\njt808_listen = \"127.0.0.1:7000\"\n[mqtt]\nmode = \"external\"\nurl = \"mqtt://broker.local:1999\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), &Overrides::default()).unwrap();
        assert_eq!(c.ingest.jt808_listen.unwrap().port(), 7000);
        assert_eq!(c.ingest.watch_listen, None);
        assert_eq!(c.mqtt.external().unwrap(), ("broker.local".into(), 1999));
        let d = Config::default();
        assert_eq!(d.mqtt.mode, "off");
        assert_eq!(d.mqtt.listen.port(), 1884);
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "CHENGYUN_WATCH_LISTEN" => Some("127.0.0.1:7001".into()),
            "CHENGYUN_MQTT_MODE" => Some("embedded".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.ingest.watch_listen.unwrap().port(), 7001);
        assert_eq!(c.mqtt.mode, "embedded");
        assert!(
            c.apply_env(|k| (k == "CHENGYUN_JT808_LISTEN").then(|| "nowhere".into()))
                .is_err()
        );
        std::fs::write(&file, "[mqtt]\nmode = \"sometimes\"\n").unwrap();
        assert!(Config::load(Some(&file), &Overrides::default()).is_err());
        std::fs::write(&file, "[mqtt]\nmode = \"external\"\nurl = \"http://x\"\n").unwrap();
        assert!(Config::load(Some(&file), &Overrides::default()).is_err());
    }

    #[cfg(feature = "nats")]
    #[test]
    fn bus_section() {
        let d = Config::default();
        assert_eq!(d.bus.kind, "inprocess");
        let n = d.bus.nats().unwrap();
        assert_eq!(n.url, "nats://127.0.0.1:4222");
        assert_eq!(n.stream, "CHENGYUN");
        assert_eq!(n.subject_prefix, "chengyun");
        assert_eq!(n.max_age, std::time::Duration::from_secs(24 * 3600));
        assert_eq!(n.max_bytes, 1024 * 1024 * 1024);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[bus]\nkind = \"nats\"\nurl = \"nats://10.1.2.3:4222\"\nstream = \"CY\"\nsubject_prefix = \"yt.cy\"\nmax_age_hours = 2\nmax_mib = 64\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), &Overrides::default()).unwrap();
        let n = c.bus.nats().unwrap();
        assert_eq!(
            (c.bus.kind.as_str(), n.url.as_str()),
            ("nats", "nats://10.1.2.3:4222")
        );
        assert_eq!(
            (n.stream.as_str(), n.subject_prefix.as_str()),
            ("CY", "yt.cy")
        );
        assert_eq!(n.max_age, std::time::Duration::from_secs(7200));
        assert_eq!(n.max_bytes, 64 * 1024 * 1024);
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "CHENGYUN_BUS_KIND" => Some("nats".into()),
            "CHENGYUN_BUS_URL" => Some("nats://a:1,nats://b:2".into()),
            "CHENGYUN_BUS_STREAM" => Some("S2".into()),
            "CHENGYUN_BUS_SUBJECT_PREFIX" => Some("p2".into()),
            "CHENGYUN_BUS_MAX_AGE_HOURS" => Some("3".into()),
            "CHENGYUN_BUS_MAX_MIB" => Some("5".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.bus.kind, "nats");
        assert_eq!(c.bus.url, "nats://a:1,nats://b:2");
        assert_eq!(
            (c.bus.stream.as_str(), c.bus.subject_prefix.as_str()),
            ("S2", "p2")
        );
        assert_eq!((c.bus.max_age_hours, c.bus.max_mib), (3, 5));
        c.validate().unwrap();
        assert!(
            c.apply_env(|k| (k == "CHENGYUN_BUS_MAX_MIB").then(|| "lots".into()))
                .is_err()
        );
        for (toml, expect) in [
            ("[bus]\nkind = \"kafka\"\n", "bus.kind"),
            (
                "[bus]\nkind = \"nats\"\nurl = \"http://x:4222\"\n",
                "nats://",
            ),
            ("[bus]\nkind = \"nats\"\nstream = \"a.b\"\n", "bus stream"),
            (
                "[bus]\nkind = \"nats\"\nsubject_prefix = \"a.>\"\n",
                "subject_prefix",
            ),
            (
                "[bus]\nkind = \"nats\"\nmax_age_hours = 0\n",
                "max_age_hours",
            ),
            ("[bus]\nkind = \"nats\"\nmax_mib = 0\n", "max_mib"),
        ] {
            std::fs::write(&file, toml).unwrap();
            let e = format!(
                "{:#}",
                Config::load(Some(&file), &Overrides::default()).unwrap_err()
            );
            assert!(e.contains(expect), "{toml}: {e}");
        }
        // In-process ignores the NATS fields.
        std::fs::write(&file, "[bus]\nstream = \"a.b\"\n").unwrap();
        assert!(Config::load(Some(&file), &Overrides::default()).is_ok());
    }

    #[test]
    fn iot_department_hints() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[iot.departments]\npolice = \"YT-GA\"\nfire_department = \"YT-XF\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), &Overrides::default()).unwrap();
        assert_eq!(c.iot.departments["police"], "YT-GA");
        assert_eq!(c.iot.departments.len(), 2);
        std::fs::write(&file, "[iot.departments]\npolice = \" \"\n").unwrap();
        let e = format!(
            "{:#}",
            Config::load(Some(&file), &Overrides::default()).unwrap_err()
        );
        assert!(e.contains("iot.departments.police"), "{e}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "listn = \"0.0.0.0:9000\"\n").unwrap();
        let e = format!(
            "{:#}",
            Config::load(Some(&file), &Overrides::default()).unwrap_err()
        );
        assert!(e.contains("listn"), "{e}");
        let o = Overrides {
            database_url: Some("mysql://x".into()),
            ..Default::default()
        };
        assert!(Config::load(None, &o).is_err());
    }

    #[test]
    fn map_tile_layer_from_file_and_env_with_clear_errors() {
        use chengyun_api::routes::map::TileCrs;
        // No tile URL: no layer, whatever else is set.
        assert_eq!(Config::default().map.tiles().unwrap(), None);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[map]\ntile_url = \"https://{s}.tiles.example.cn/{z}/{x}/{y}.png\"\n\
             subdomains = \"abc\"\ntile_crs = \"gcj02\"\nattribution = \"© 示例 GS(2024)1号\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), &Overrides::default()).unwrap();
        let t = c.map.tiles().unwrap().unwrap();
        assert_eq!(t.url, "https://{s}.tiles.example.cn/{z}/{x}/{y}.png");
        assert_eq!(t.subdomains, "abc");
        assert_eq!(t.crs, TileCrs::Gcj02);
        assert_eq!(t.attribution, "© 示例 GS(2024)1号");
        assert_eq!((t.min_zoom, t.max_zoom), (3, 18));

        // The environment sets (and an empty URL clears) the layer.
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "CHENGYUN_MAP_TILE_URL" => Some("http://127.0.0.1:9/t/{z}/{x}/{-y}.png".into()),
            "CHENGYUN_MAP_ATTRIBUTION" => Some("local tiles".into()),
            "CHENGYUN_MAP_MIN_ZOOM" => Some("5".into()),
            "CHENGYUN_MAP_MAX_ZOOM" => Some("16".into()),
            _ => None,
        })
        .unwrap();
        let t = c.map.tiles().unwrap().unwrap();
        assert_eq!(t.crs, TileCrs::Wgs84);
        assert_eq!((t.min_zoom, t.max_zoom), (5, 16));
        c.apply_env(|k| (k == "CHENGYUN_MAP_TILE_URL").then(String::new))
            .unwrap();
        assert_eq!(c.map.tiles().unwrap(), None);
        let e = c
            .apply_env(|k| (k == "CHENGYUN_MAP_MAX_ZOOM").then(|| "high".into()))
            .unwrap_err();
        assert!(format!("{e:#}").contains("CHENGYUN_MAP_MAX_ZOOM"), "{e:#}");

        // Each mistake is refused with the key it concerns.
        let bad = |url: &str, extra: &str| {
            let mut c = Config::default();
            c.map.tile_url = Some(url.into());
            c.map.attribution = Some("credit".into());
            for kv in extra.split(';').filter(|s| !s.is_empty()) {
                let (k, v) = kv.split_once('=').unwrap();
                match k {
                    "subdomains" => c.map.subdomains = v.into(),
                    "tile_crs" => c.map.tile_crs = v.into(),
                    "attribution" => c.map.attribution = Some(v.into()),
                    "min_zoom" => c.map.min_zoom = v.parse().unwrap(),
                    "max_zoom" => c.map.max_zoom = v.parse().unwrap(),
                    _ => unreachable!("{k}"),
                }
            }
            format!("{:#}", c.validate().unwrap_err())
        };
        let ok = "https://t.example.cn/{z}/{x}/{y}.png";
        for (url, extra, expect) in [
            (
                "ftp://t.example.cn/{z}/{x}/{y}.png",
                "",
                "http:// or https://",
            ),
            ("https:///{z}/{x}/{y}.png", "", "names no host"),
            ("https://t.example.cn/{x}/{y}.png", "", "must contain {z}"),
            ("https://t.example.cn/{z}/{y}.png", "", "must contain {x}"),
            ("https://t.example.cn/{z}/{x}.png", "", "must contain {y}"),
            (
                "https://t.example.cn/{z}/{x}/{y}{r}.png",
                "",
                "unknown placeholder {r}",
            ),
            ("https://t.example.cn/{z}/{x}/{y.png", "", "without its '}'"),
            ("https://t.example.cn/{z}/{x}/y}.png", "", "without its '{'"),
            ("https://t.example.cn/{z}/{x}/{y}.png x", "", "spaces"),
            (
                "https://{s}.example.cn/{z}/{x}/{y}.png",
                "",
                "map.subdomains is empty",
            ),
            (ok, "subdomains=abc", "has no {s}"),
            (
                "https://{s}.example.cn/{z}/{x}/{y}.png",
                "subdomains=a.b",
                "letters or digits",
            ),
            (
                ok,
                "tile_crs=bd09",
                "map.tile_crs \"bd09\" must be wgs84 or gcj02",
            ),
            (ok, "attribution= ", "map.attribution is required"),
            (ok, "min_zoom=12;max_zoom=10", "map.min_zoom 12"),
            (ok, "max_zoom=30", "map.max_zoom 30"),
        ] {
            let e = bad(url, extra);
            assert!(e.contains(expect), "{url} {extra}: {e}");
        }
        let mut c = Config::default();
        c.map.tile_url = Some(ok.into());
        let e = format!("{:#}", c.validate().unwrap_err());
        assert!(e.contains("map.attribution is required"), "{e}");
    }
}
