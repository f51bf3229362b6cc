//! One compliance test body, run against every source: it starts on free ports; a known
//! device's telemetry reaches a recording sink; an unknown device is refused and counted;
//! garbage is counted and does not crash the source, and other devices keep working;
//! shutdown is graceful (the run future returns, connected TCP devices see their
//! connection closed after their in-flight message was answered, the listener is closed).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chengyun_ingest::source::memory::MemoryDirectory;
use chengyun_ingest::source::{
    Gb28181Config, HttpConfig, Inbound, Jt808Config, MqttConfig, MqttMode, SourceConfig,
    TcpSettings, WatchConfig,
};
use common::*;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A device client of one source.
trait Client {
    /// Send one telemetry message and wait for the protocol's acknowledgement.
    async fn send(&mut self);
}

/// How the compliance body talks to one source.
trait Driver {
    type C: Client;
    fn config(&self) -> Box<dyn SourceConfig>;
    fn announces_port(&self) -> bool;
    /// Whether stopping the source closes its listener (false for the embedded broker,
    /// which rumqttd cannot stop).
    fn listener_closes(&self) -> bool;
    /// Device ids of the two known devices the clients act as.
    fn devices(&self) -> [&'static str; 2];
    async fn open(&self, r: &Running, which: usize) -> Self::C;
    async fn unknown(&self, r: &Running);
    async fn garbage(&self, r: &Running);
}

fn telemetry_of(r: &Running, device: &str) -> usize {
    r.sink
        .records()
        .iter()
        .filter(|(s, m)| {
            s.device_id == device && matches!(m, Inbound::Telemetry(_) | Inbound::Event(_))
        })
        .count()
}

async fn wait_telemetry(r: &Running, device: &str, n: usize) {
    let ok = r
        .sink
        .wait_for(WAIT, |recs| {
            recs.iter()
                .filter(|(s, m)| {
                    s.device_id == device && matches!(m, Inbound::Telemetry(_) | Inbound::Event(_))
                })
                .count()
                >= n
        })
        .await;
    assert!(
        ok,
        "{device}: expected {n} telemetry/event messages, got {}",
        telemetry_of(r, device)
    );
}

async fn wait_counter(name: &str, f: impl Fn() -> u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while f() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "counter {name} stayed 0"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn compliance<D: Driver>(d: D) {
    let r = start(d.config().as_ref(), directory(), d.announces_port()).await;
    let [a_id, b_id] = d.devices();

    let mut a = d.open(&r, 0).await;
    a.send().await;
    wait_telemetry(&r, a_id, 1).await;

    d.unknown(&r).await;
    wait_counter("refused", || r.counters.refused.load(Ordering::Relaxed)).await;

    d.garbage(&r).await;
    wait_counter("bad_input", || r.counters.bad_input.load(Ordering::Relaxed)).await;

    // The existing device and a new one still work.
    a.send().await;
    wait_telemetry(&r, a_id, 2).await;
    let mut b = d.open(&r, 1).await;
    b.send().await;
    wait_telemetry(&r, b_id, 1).await;
    assert!(
        r.sink
            .records()
            .iter()
            .all(|(s, _)| s.device_id == a_id || s.device_id == b_id),
        "only known devices reach the sink"
    );

    r.trigger.trigger();
    let result = tokio::time::timeout(WAIT, r.handle).await;
    assert!(
        matches!(result, Ok(Ok(Ok(())))),
        "source stops cleanly: {result:?}"
    );
    if d.listener_closes()
        && let Some(addr) = r.addr
    {
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "listener closed after shutdown"
        );
    }
    let snapshot = r.counters.snapshot();
    assert!(snapshot.delivered >= 3, "{snapshot:?}");
}

// ---------------------------------------------------------------- JT/T 808

struct Jt808Driver;
struct Jt808Client {
    stream: TcpStream,
    buf: Vec<u8>,
    phone: &'static str,
    serial: u16,
}

const PHONES: [(&str, &str); 2] = [("013912345678", "code-1"), ("013912345679", "code-2")];

fn tcp_any() -> TcpSettings {
    TcpSettings {
        listen: any_port(),
        drain_timeout_ms: 2000,
        ..TcpSettings::default()
    }
}

impl Client for Jt808Client {
    async fn send(&mut self) {
        self.serial += 1;
        let frame = jt808_location(self.phone, self.serial, 28.24, 117.03, 1);
        self.stream.write_all(&frame).await.expect("write");
        let (id, body) = read_jt808(&mut self.stream, &mut self.buf)
            .await
            .expect("reply");
        assert_eq!(id, 0x8001);
        assert_eq!(general_reply(&body), (self.serial, 0x0200, 0));
    }
}

impl Driver for Jt808Driver {
    type C = Jt808Client;
    fn config(&self) -> Box<dyn SourceConfig> {
        Box::new(Jt808Config {
            tcp: tcp_any(),
            ..Jt808Config::default()
        })
    }
    fn announces_port(&self) -> bool {
        true
    }
    fn listener_closes(&self) -> bool {
        true
    }
    fn devices(&self) -> [&'static str; 2] {
        ["ebike-1", "ebike-2"]
    }
    async fn open(&self, r: &Running, which: usize) -> Jt808Client {
        let (phone, code) = PHONES[which];
        let (stream, buf) = jt808_login(r.addr.expect("port"), phone, code).await;
        Jt808Client {
            stream,
            buf,
            phone,
            serial: 1,
        }
    }
    async fn unknown(&self, r: &Running) {
        let mut s = TcpStream::connect(r.addr.expect("port"))
            .await
            .expect("connect");
        s.write_all(&jt808_auth("013900000000", 7, "whatever"))
            .await
            .expect("write");
        let mut buf = Vec::new();
        let (id, body) = read_jt808(&mut s, &mut buf).await.expect("refusal");
        assert_eq!((id, general_reply(&body)), (0x8001, (7, 0x0102, 1)));
        assert!(closed(&mut s).await, "refused terminal disconnected");
    }
    async fn garbage(&self, r: &Running) {
        let mut s = TcpStream::connect(r.addr.expect("port"))
            .await
            .expect("connect");
        s.write_all(b"\x00\x01GET / HTTP/1.1\r\n\r\n\xff\xfe")
            .await
            .expect("write");
        // A location before authenticating: result 1.
        s.write_all(&jt808_location("013912345678", 3, 28.0, 117.0, 0))
            .await
            .expect("write");
        let mut buf = Vec::new();
        let (_, body) = read_jt808(&mut s, &mut buf).await.expect("fail reply");
        assert_eq!(general_reply(&body), (3, 0x0200, 1));
        // A frame with a wrong checksum: result 2 bad message.
        let mut bad = jt808_location("013912345678", 4, 28.0, 117.0, 0);
        let n = bad.len();
        bad[n - 2] ^= 0x55;
        if bad[n - 2] == 0x7e || bad[n - 2] == 0x7d {
            bad[n - 2] ^= 0x01;
        }
        s.write_all(&bad).await.expect("write");
        let (_, body) = read_jt808(&mut s, &mut buf)
            .await
            .expect("bad-message reply");
        assert_eq!(general_reply(&body), (4, 0x0200, 2));
        // An oversized run without a delimiter.
        s.write_all(&[0x7e]).await.expect("write");
        s.write_all(&vec![0x11; 5000]).await.expect("write");
        drop(s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jt808_gateway_is_compliant() {
    compliance(Jt808Driver).await;
}

// ---------------------------------------------------------------- watch

struct WatchDriver;
struct WatchClient {
    stream: TcpStream,
    buf: Vec<u8>,
    id: &'static str,
}

impl Client for WatchClient {
    async fn send(&mut self) {
        // LK is answered; then UD carries the readings.
        self.stream
            .write_all(&watch_frame(self.id, "LK,100,0,90"))
            .await
            .expect("write");
        assert_eq!(
            read_watch(&mut self.stream, &mut self.buf).await.as_deref(),
            Some("LK")
        );
        self.stream
            .write_all(&watch_frame(self.id, WATCH_UD))
            .await
            .expect("write");
    }
}

impl Driver for WatchDriver {
    type C = WatchClient;
    fn config(&self) -> Box<dyn SourceConfig> {
        Box::new(WatchConfig {
            tcp: tcp_any(),
            ..WatchConfig::default()
        })
    }
    fn announces_port(&self) -> bool {
        true
    }
    fn listener_closes(&self) -> bool {
        true
    }
    fn devices(&self) -> [&'static str; 2] {
        ["watch-1", "watch-2"]
    }
    async fn open(&self, r: &Running, which: usize) -> WatchClient {
        let id = ["8800000001", "8800000002"][which];
        let stream = TcpStream::connect(r.addr.expect("port"))
            .await
            .expect("connect");
        WatchClient {
            stream,
            buf: Vec::new(),
            id,
        }
    }
    async fn unknown(&self, r: &Running) {
        let mut s = TcpStream::connect(r.addr.expect("port"))
            .await
            .expect("connect");
        s.write_all(&watch_frame("9999999999", "LK"))
            .await
            .expect("write");
        assert!(closed(&mut s).await, "unknown watch disconnected");
    }
    async fn garbage(&self, r: &Running) {
        let mut s = TcpStream::connect(r.addr.expect("port"))
            .await
            .expect("connect");
        s.write_all(b"]]]garbage[3G*8800*ZZZZ*LK]\x00\xff")
            .await
            .expect("write");
        s.write_all(&vec![b'x'; 3000]).await.expect("write");
        drop(s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_gateway_is_compliant() {
    compliance(WatchDriver).await;
}

// ---------------------------------------------------------------- GB/T 28181

struct Gb28181Driver;
struct GbClient {
    url: String,
    device: &'static str,
    sn: u32,
}

fn notify_xml(device: &str, sn: u32) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Notify>\n<CmdType>Alarm</CmdType>\n<SN>{sn}</SN>\n<DeviceID>{device}</DeviceID>\n<AlarmPriority>1</AlarmPriority>\n<AlarmMethod>5</AlarmMethod>\n<AlarmTime>2026-11-27T10:30:00</AlarmTime>\n<Longitude>117.03</Longitude>\n<Latitude>28.24</Latitude>\n<Info>\n<AlarmType>6</AlarmType>\n</Info>\n</Notify>\n"
    )
}

impl Client for GbClient {
    async fn send(&mut self) {
        self.sn += 1;
        let res = reqwest::Client::new()
            .post(&self.url)
            .body(notify_xml(self.device, self.sn))
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 200);
        let text = res.text().await.expect("body");
        assert!(
            text.contains("<Result>OK</Result>") && text.contains(&format!("<SN>{}</SN>", self.sn)),
            "{text}"
        );
    }
}

fn url(r: &Running, path: &str) -> String {
    format!("http://{}{path}", r.addr.expect("port"))
}

impl Driver for Gb28181Driver {
    type C = GbClient;
    fn config(&self) -> Box<dyn SourceConfig> {
        Box::new(Gb28181Config { listen: any_port() })
    }
    fn announces_port(&self) -> bool {
        true
    }
    fn listener_closes(&self) -> bool {
        true
    }
    fn devices(&self) -> [&'static str; 2] {
        ["cam-1", "cam-2"]
    }
    async fn open(&self, r: &Running, which: usize) -> GbClient {
        let device = ["34020000001340000001", "34020000001340000002"][which];
        GbClient {
            url: url(r, chengyun_ingest::source::gb28181::NOTIFY_PATH),
            device,
            sn: 0,
        }
    }
    async fn unknown(&self, r: &Running) {
        let res = reqwest::Client::new()
            .post(url(r, chengyun_ingest::source::gb28181::NOTIFY_PATH))
            .body(notify_xml("34020000009999999999", 5))
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 403);
        assert!(
            res.text()
                .await
                .expect("body")
                .contains("<Result>ERROR</Result>")
        );
    }
    async fn garbage(&self, r: &Running) {
        let res = reqwest::Client::new()
            .post(url(r, chengyun_ingest::source::gb28181::NOTIFY_PATH))
            .body("<Notify><CmdType>Alarm</CmdType><SN>1<")
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 400);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gb28181_endpoint_is_compliant() {
    compliance(Gb28181Driver).await;
}

// ---------------------------------------------------------------- HTTP

struct HttpDriver;
struct HttpClient {
    url: String,
    token: &'static str,
}

impl Client for HttpClient {
    async fn send(&mut self) {
        let res = reqwest::Client::new()
            .post(&self.url)
            .bearer_auth(self.token)
            .body(r#"[{"at":"2026-11-27T02:30:00Z","values":{"gross_mass_t":52.3,"axles":6},"location":{"lon":117.03,"lat":28.24}}]"#)
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 200);
        let v: serde_json::Value = res.json().await.expect("json");
        assert_eq!(v["accepted"], 1, "{v}");
    }
}

impl Driver for HttpDriver {
    type C = HttpClient;
    fn config(&self) -> Box<dyn SourceConfig> {
        Box::new(HttpConfig {
            listen: any_port(),
            ..HttpConfig::default()
        })
    }
    fn announces_port(&self) -> bool {
        true
    }
    fn listener_closes(&self) -> bool {
        true
    }
    fn devices(&self) -> [&'static str; 2] {
        ["wim-1", "wim-2"]
    }
    async fn open(&self, r: &Running, which: usize) -> HttpClient {
        HttpClient {
            url: url(r, chengyun_ingest::source::http::TELEMETRY_PATH),
            token: ["token-wim-1", "token-wim-2"][which],
        }
    }
    async fn unknown(&self, r: &Running) {
        let client = reqwest::Client::new();
        let u = url(r, chengyun_ingest::source::http::TELEMETRY_PATH);
        let res = client
            .post(&u)
            .bearer_auth("nope")
            .body("[]")
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 403);
        let res = client.post(&u).body("[]").send().await.expect("post");
        assert_eq!(res.status(), 401);
    }
    async fn garbage(&self, r: &Running) {
        let client = reqwest::Client::new();
        let u = url(r, chengyun_ingest::source::http::TELEMETRY_PATH);
        let res = client
            .post(&u)
            .bearer_auth("token-wim-1")
            .body("[{\"values\":")
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 400);
        assert!(res.text().await.expect("body").contains("line 1"));
        // Per-item errors: one good item, one bad.
        let res = client
            .post(&u)
            .bearer_auth("token-wim-1")
            .body(r#"[{"values":{"axles":5}},{"valuez":1}]"#)
            .send()
            .await
            .expect("post");
        let v: serde_json::Value = res.json().await.expect("json");
        assert_eq!(
            (v["accepted"].as_u64(), v["rejected"].as_u64()),
            (Some(1), Some(1)),
            "{v}"
        );
        assert!(
            v["results"][1]["error"]
                .as_str()
                .unwrap_or_default()
                .contains("valuez"),
            "{v}"
        );
        // Too many items.
        let many = format!("[{}]", vec!["{}"; 1001].join(","));
        let res = client
            .post(&u)
            .bearer_auth("token-wim-1")
            .body(many)
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 413);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoint_is_compliant() {
    compliance(HttpDriver).await;
}

// ---------------------------------------------------------------- MQTT

struct MqttDriver {
    embedded_port: Option<u16>,
    prefix: String,
}

struct MqttClient {
    client: AsyncClient,
    topic: String,
}

/// Connect an MQTT client; returns it once the broker answered CONNACK (or the refusal).
async fn mqtt_connect(
    port: u16,
    id: &str,
    creds: Option<(&str, &str)>,
) -> Result<AsyncClient, String> {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(10));
    if let Some((u, p)) = creds {
        o.set_credentials(u, p);
    }
    let (client, mut el) = AsyncClient::new(o, 64);
    let first = tokio::time::timeout(WAIT, async {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await
    .map_err(|_| "no CONNACK".to_string())?;
    first?;
    tokio::spawn(async move { while el.poll().await.is_ok() {} });
    Ok(client)
}

impl Client for MqttClient {
    async fn send(&mut self) {
        self.client
            .publish(
                &self.topic,
                QoS::AtLeastOnce,
                false,
                r#"{"values":{"fill_pct":81,"battery":77}}"#,
            )
            .await
            .expect("publish");
    }
}

impl MqttDriver {
    fn port(&self) -> u16 {
        self.embedded_port.unwrap_or(1883)
    }
}

impl Driver for MqttDriver {
    type C = MqttClient;
    fn config(&self) -> Box<dyn SourceConfig> {
        let broker = match self.embedded_port {
            Some(p) => MqttMode::Embedded {
                listen: SocketAddr::from(([127, 0, 0, 1], p)),
            },
            None => MqttMode::External {
                host: "127.0.0.1".into(),
                port: 1883,
                username: None,
                password: None,
            },
        };
        Box::new(MqttConfig {
            broker,
            topic_prefix: self.prefix.clone(),
            client_id: format!("{}-ingest", self.prefix),
            ..MqttConfig::default()
        })
    }
    fn announces_port(&self) -> bool {
        self.embedded_port.is_some()
    }
    fn listener_closes(&self) -> bool {
        false
    }
    fn devices(&self) -> [&'static str; 2] {
        ["bin-1", "bin-2"]
    }
    async fn open(&self, _r: &Running, which: usize) -> MqttClient {
        let (dev, secret) = [("bin-1", "secret-bin-1"), ("bin-2", "secret-bin-2")][which];
        let creds = self.embedded_port.map(|_| (dev, secret));
        // External mode: the source subscribes after connecting; give it a moment.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let client = mqtt_connect(self.port(), &format!("{}-{dev}", self.prefix), creds)
            .await
            .expect("device connects");
        MqttClient {
            client,
            topic: format!("{}/bin_fill_sensor/{dev}/telemetry", self.prefix),
        }
    }
    async fn unknown(&self, _r: &Running) {
        if self.embedded_port.is_some() {
            let refused = mqtt_connect(self.port(), "ghost", Some(("ghost", "x"))).await;
            assert!(refused.is_err(), "unknown device login refused");
            let wrong = mqtt_connect(self.port(), "bin-1-wrong", Some(("bin-1", "wrong"))).await;
            assert!(wrong.is_err(), "wrong secret refused");
        } else {
            let c = mqtt_connect(self.port(), &format!("{}-ghost", self.prefix), None)
                .await
                .expect("connect");
            c.publish(
                format!("{}/bin_fill_sensor/ghost/telemetry", self.prefix),
                QoS::AtLeastOnce,
                false,
                r#"{"values":{"fill_pct":1}}"#,
            )
            .await
            .expect("publish");
        }
    }
    async fn garbage(&self, _r: &Running) {
        // Raw garbage on the broker port, then a malformed payload from a known device.
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port())).await {
            let _ = s.write_all(b"\xff\xff\xff\xffgarbage\r\n").await;
        }
        let creds = self.embedded_port.map(|_| ("bin-2", "secret-bin-2"));
        let c = mqtt_connect(self.port(), &format!("{}-bin-2-g", self.prefix), creds)
            .await
            .expect("connect");
        c.publish(
            format!("{}/bin_fill_sensor/bin-2/telemetry", self.prefix),
            QoS::AtLeastOnce,
            false,
            "{not json",
        )
        .await
        .expect("publish");
    }
}

fn unique_prefix(tag: &str) -> String {
    format!("cytest{tag}{}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_embedded_broker_is_compliant() {
    compliance(MqttDriver {
        embedded_port: Some(free_port()),
        prefix: unique_prefix("e"),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_external_broker_is_compliant() {
    compliance(MqttDriver {
        embedded_port: None,
        prefix: unique_prefix("x"),
    })
    .await;
}

#[test]
fn memory_directory_is_a_directory() {
    // The helper itself: a device with a secret needs it.
    let d = MemoryDirectory::new();
    d.add(
        "x",
        "p",
        chengyun_domain::iot::Protocol::Jt808,
        "x",
        Some("s"),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    use chengyun_ingest::source::{AuthRequest, Credential, DeviceDirectory};
    let ask = |c: Credential| AuthRequest {
        protocol: chengyun_domain::iot::Protocol::Jt808,
        terminal_id: "x".into(),
        credential: c,
        peer: None,
    };
    assert!(
        rt.block_on(d.authenticate(ask(Credential::Secret("s".into()))))
            .is_ok()
    );
    assert!(
        rt.block_on(d.authenticate(ask(Credential::Secret("t".into()))))
            .is_err()
    );
    assert!(rt.block_on(d.authenticate(ask(Credential::None))).is_err());
}
