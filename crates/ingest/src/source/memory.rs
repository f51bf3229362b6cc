//! In-memory [`DeviceDirectory`] and a recording [`IngestSink`]: for tests, benchmarks,
//! demos and the compliance suite. The IoT service provides the real ones.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chengyun_domain::iot::Protocol;
use tokio::sync::Notify;

use super::contract::{
    AuthRequest, Credential, DeviceDirectory, DeviceSession, Inbound, IngestSink, Refusal,
    RegisterRefusal, RegisterRefusalKind, Registered, Registration, SinkError,
};

/// One device known to a [`MemoryDirectory`].
#[derive(Debug, Clone)]
pub struct MemoryDevice {
    /// Registry id.
    pub device_id: String,
    /// Product key.
    pub product_key: String,
    /// Protocol.
    pub protocol: Protocol,
    /// Wire identifier.
    pub terminal_id: String,
    /// The secret / auth code / token it must present; `None` = identified by id alone.
    pub secret: Option<String>,
}

/// A fixed table of devices; JT/T 808 registration issues the device's secret as auth code
/// for known terminals and refuses the rest (no auto-registration). A device with a secret
/// must present it, except over MQTT with [`Credential::None`]: the MQTT source sends that
/// only for messages relayed by an external broker, which authenticated the device itself.
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    devices: Mutex<Vec<MemoryDevice>>,
}

impl MemoryDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a device.
    pub fn add(
        &self,
        device_id: &str,
        product_key: &str,
        protocol: Protocol,
        terminal_id: &str,
        secret: Option<&str>,
    ) {
        let mut devices = self.devices.lock().unwrap_or_else(|p| p.into_inner());
        devices.push(MemoryDevice {
            device_id: device_id.to_owned(),
            product_key: product_key.to_owned(),
            protocol,
            terminal_id: terminal_id.to_owned(),
            secret: secret.map(str::to_owned),
        });
    }

    fn find(
        &self,
        protocol: Protocol,
        pred: impl Fn(&MemoryDevice) -> bool,
    ) -> Option<MemoryDevice> {
        let devices = self.devices.lock().unwrap_or_else(|p| p.into_inner());
        devices
            .iter()
            .find(|d| d.protocol == protocol && pred(d))
            .cloned()
    }
}

#[async_trait]
impl DeviceDirectory for MemoryDirectory {
    async fn authenticate(&self, request: AuthRequest) -> Result<DeviceSession, Refusal> {
        let session = |d: &MemoryDevice| {
            DeviceSession::new(&d.device_id, &d.product_key, d.protocol, &d.terminal_id)
        };
        if let Credential::Token(token) = &request.credential {
            return self
                .find(request.protocol, |d| {
                    d.secret.as_deref() == Some(token.as_str())
                })
                .map(|d| session(&d))
                .ok_or_else(|| Refusal::new("unknown device token"));
        }
        let Some(device) = self.find(request.protocol, |d| d.terminal_id == request.terminal_id)
        else {
            return Err(Refusal::new(format!(
                "unknown {} terminal {:?}",
                request.protocol.as_str(),
                request.terminal_id
            )));
        };
        let presented = match &request.credential {
            Credential::None => None,
            Credential::AuthCode(c) | Credential::Secret(c) | Credential::Token(c) => Some(c),
        };
        let broker_vouched = request.protocol == Protocol::Mqtt && presented.is_none();
        match (&device.secret, presented) {
            (None, _) => Ok(session(&device)),
            (Some(_), None) if broker_vouched => Ok(session(&device)),
            (Some(s), Some(p)) if s == p => Ok(session(&device)),
            (Some(_), Some(_)) => Err(Refusal::new(format!(
                "wrong credential for terminal {:?}",
                request.terminal_id
            ))),
            (Some(_), None) => Err(Refusal::new(format!(
                "terminal {:?} must present a credential",
                request.terminal_id
            ))),
        }
    }

    async fn register(&self, request: Registration) -> Result<Registered, RegisterRefusal> {
        match self.find(request.protocol, |d| d.terminal_id == request.terminal_id) {
            Some(d) => Ok(Registered {
                auth_code: d.secret.clone().unwrap_or_else(|| d.terminal_id.clone()),
                device_id: d.device_id,
            }),
            None => Err(RegisterRefusal {
                kind: RegisterRefusalKind::NoSuchTerminal,
                reason: format!(
                    "terminal {:?} is not in the registry and auto-registration is off",
                    request.terminal_id
                ),
            }),
        }
    }
}

/// Records everything delivered (or only counts, for benchmarks), and wakes waiters.
#[derive(Debug, Default)]
pub struct RecordingSink {
    records: Mutex<Vec<(DeviceSession, Inbound)>>,
    count: AtomicU64,
    count_only: bool,
    notify: Notify,
}

impl RecordingSink {
    /// A sink that keeps every message.
    pub fn new() -> Self {
        Self::default()
    }

    /// A sink that only counts (benchmarks).
    pub fn counting() -> Self {
        Self {
            count_only: true,
            ..Self::default()
        }
    }

    /// Messages delivered so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// A copy of what was recorded.
    pub fn records(&self) -> Vec<(DeviceSession, Inbound)> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Wait until `pred` holds for the records or `timeout` passes; returns whether it held.
    pub async fn wait_for(
        &self,
        timeout: std::time::Duration,
        pred: impl Fn(&[(DeviceSession, Inbound)]) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if pred(&self.records.lock().unwrap_or_else(|p| p.into_inner())) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return pred(&self.records.lock().unwrap_or_else(|p| p.into_inner()));
            }
        }
    }
}

#[async_trait]
impl IngestSink for RecordingSink {
    async fn deliver(&self, session: &DeviceSession, inbound: Inbound) -> Result<(), SinkError> {
        self.count.fetch_add(1, Ordering::Relaxed);
        if !self.count_only {
            self.records
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((session.clone(), inbound));
            self.notify.notify_waiters();
        }
        Ok(())
    }
}

/// Per-device counts of what a sink saw, for assertions.
pub fn count_by_device(records: &[(DeviceSession, Inbound)]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for (s, _) in records {
        *m.entry(s.device_id.clone()).or_insert(0) += 1;
    }
    m
}
