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
            level: "info,sqlx=warn".into(),
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
        if self.http.session_ttl_hours == 0 {
            bail!("http.session_ttl_hours must be at least 1");
        }
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
}
