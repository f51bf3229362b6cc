//! Simulated people: citizens and inspectors who report cases, and the staff who work them,
//! all through the platform's REST API exactly as the web front end does.
//!
//! Staff: the demo city has one user per role; a city's worth of queues needs more, so
//! [`ensure_staff`] creates (as admin) one multi-role user per command center (clerk, shift
//! leader, dispatcher, inspector) and one handler per functional department. Each then runs
//! [`work_queue`]: poll `GET /api/v1/cases?mine=true`, give every case a due time drawn
//! from the handling speed, and when due take the next action the case's `allowed` list
//! offers, by a policy with configurable shares of returned, reworked and late cases — so
//! that every evaluation figure (on-time, returned, reworked, closed) moves.

use crate::runner::Stats;
use chengyun_domain::standard::{ClassKind, national};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A logged-in API session (cookie).
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
    pub username: String,
}

/// An API call that failed: status and the platform's error body, or the transport error.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{method} {path}: HTTP {status}: {body}")]
    Status {
        method: &'static str,
        path: String,
        status: u16,
        body: String,
    },
    #[error("{method} {path}: {error}")]
    Transport {
        method: &'static str,
        path: String,
        error: reqwest::Error,
    },
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            ApiError::Transport { .. } => None,
        }
    }
}

impl ApiClient {
    /// Logs `username` in at `base` (`http://host:port`).
    pub async fn login(base: &str, username: &str, password: &str) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4)
            .build()
            .map_err(|error| ApiError::Transport {
                method: "BUILD",
                path: String::new(),
                error,
            })?;
        let me = Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
            username: username.to_owned(),
        };
        me.call(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            Some(&json!({"username": username, "password": password})),
            None,
        )
        .await?;
        Ok(me)
    }

    /// One JSON call; non-2xx is an error carrying the body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, ApiError> {
        let m: &'static str = match method.as_str() {
            "GET" => "GET",
            "POST" => "POST",
            "PUT" => "PUT",
            _ => "CALL",
        };
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        let resp = req.send().await.map_err(|error| ApiError::Transport {
            method: m,
            path: path.to_owned(),
            error,
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|error| ApiError::Transport {
            method: m,
            path: path.to_owned(),
            error,
        })?;
        if !status.is_success() {
            return Err(ApiError::Status {
                method: m,
                path: path.to_owned(),
                status: status.as_u16(),
                body: text.chars().take(400).collect(),
            });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.call(reqwest::Method::GET, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.call(reqwest::Method::POST, path, Some(body), None)
            .await
    }
}

/// Waits until `GET {base}/healthz` answers 2xx, for at most `timeout`.
pub async fn wait_ready(base: &str, timeout: Duration) -> bool {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    let url = format!("{}/healthz", base.trim_end_matches('/'));
    loop {
        if http
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Matters people report most, with what they typically say. Codes are checked against the
/// national catalogue at start ([`matters`]); a code the catalogue lacks is skipped.
const MATTERS: [(&str, &str); 14] = [
    ("01001", "井盖破损，行人路过有危险"),
    ("01002", "污水井盖移位，有异味"),
    ("03001", "公共厕所设施损坏，无法使用"),
    ("06004", "建筑物外立面污损严重"),
    ("06016", "路口交通标线模糊不清"),
    ("06028", "夜间施工噪声扰民，影响休息"),
    ("06041", "小区垃圾未分类投放，堆放在桶外"),
    ("07001", "电线杆上张贴大量非法小广告"),
    ("08006", "施工物料占用人行道乱堆放"),
    ("09002", "夜市摊点占道，油烟扰民"),
    ("09015", "无证餐饮在路边经营"),
    ("02021", "便道桩倒伏，影响通行"),
    ("01013", "消防栓漏水"),
    ("04009", "绿地护栏损坏"),
];

/// The reportable matters: (code, name, what people say).
pub fn matters() -> Vec<(String, String, &'static str)> {
    MATTERS
        .iter()
        .filter_map(|(code, text)| {
            national()
                .iter()
                .find(|c| c.kind == ClassKind::Matter && c.code.as_str() == *code)
                .map(|c| (code.to_string(), c.name.clone(), *text))
        })
        .collect()
}

/// What the people do: reporting rate and how the staff behave.
#[derive(Debug, Clone)]
pub struct PeopleSpec {
    pub seed: u64,
    /// Cases reported per minute by citizens and inspectors together.
    pub cases_per_min: f64,
    /// Mean seconds a member of staff takes per step (accept, feedback …).
    pub handler_speed_s: f64,
    /// Share of cases a department sends back (回退) once.
    pub return_share: f64,
    /// Share of fixes that fail the check (返工).
    pub rework_share: f64,
    /// Share of cases whose handling department is slow (10× the handling time).
    pub late_share: f64,
    /// Share of reports the clerk sends to an inspector to verify first.
    pub verify_share: f64,
    /// Share of reports that are not a real problem (cancelled).
    pub invalid_share: f64,
    /// Password of the users [`ensure_staff`] creates.
    pub staff_password: String,
}

impl Default for PeopleSpec {
    fn default() -> Self {
        Self {
            seed: 2026,
            cases_per_min: 10.0,
            handler_speed_s: 6.0,
            return_share: 0.08,
            rework_share: 0.1,
            late_share: 0.1,
            verify_share: 0.2,
            invalid_share: 0.04,
            staff_password: "chengyun-sim-staff".into(),
        }
    }
}

/// A member of staff the simulator works as.
#[derive(Debug, Clone, PartialEq)]
pub struct StaffAccount {
    pub username: String,
    pub department: String,
    pub roles: Vec<&'static str>,
}

/// Creates (as `admin`) the simulator's staff: every command center gets a user with the
/// center roles, every functional department a handler. Existing users are kept.
pub async fn ensure_staff(
    admin: &ApiClient,
    spec: &PeopleSpec,
) -> Result<Vec<StaffAccount>, ApiError> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/departments?limit=500&cursor={c}"),
            None => "/api/v1/departments?limit=500".to_owned(),
        };
        let page = admin.get(&path).await?;
        items.extend(
            page.get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        );
        cursor = page
            .get("next_cursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    let mut out = Vec::new();
    for d in items {
        let (Some(code), Some(kind)) = (
            d.get("code").and_then(Value::as_str),
            d.get("kind").and_then(Value::as_str),
        ) else {
            continue;
        };
        let roles: Vec<&'static str> = match kind {
            "command_center" | "sub_center" => {
                vec!["clerk", "shift_leader", "dispatcher", "inspector"]
            }
            "functional" => vec!["handler"],
            _ => continue,
        };
        let username = format!("sim.{}", code.to_lowercase());
        let body = json!({
            "username": username,
            "display_name": format!("模拟{}", d.get("name").and_then(Value::as_str).unwrap_or(code)),
            "department_code": code,
            "roles": roles,
            "password": spec.staff_password,
        });
        match admin.post("/api/v1/users", &body).await {
            Ok(_) => {}
            Err(e) if e.status() == Some(409) => {}
            Err(e) => return Err(e),
        }
        out.push(StaffAccount {
            username,
            department: code.to_owned(),
            roles,
        });
    }
    Ok(out)
}

/// A random point within the demo city (lon, lat).
fn somewhere(rng: &mut StdRng) -> (f64, f64) {
    let city = crate::city::CitySpec::default();
    let (mx, my) = (
        111_320.0 * crate::city::CENTRE.1.to_radians().cos(),
        110_540.0,
    );
    let r = city.radius_m * 0.8 * rng.r#gen::<f64>().sqrt();
    let t = rng.gen_range(0.0..std::f64::consts::TAU);
    (
        crate::city::CENTRE.0 + r * t.cos() / mx,
        crate::city::CENTRE.1 + r * t.sin() / my,
    )
}

const SURNAMES: [&str; 12] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙",
];

/// The body of one report; `i` makes the text and the idempotency key unique.
pub fn report_body(rng: &mut StdRng, matters: &[(String, String, &'static str)], i: u64) -> Value {
    let (lon, lat) = somewhere(rng);
    let inspector = rng.gen_bool(0.4);
    let (code, name, text) = &matters[rng
        .gen_range(0..matters.len().max(1))
        .min(matters.len().saturating_sub(1))];
    let mut body = json!({
        "title": name,
        "description": format!("{text}（第{i}号模拟上报）"),
        "matter_code": code,
        "source": if inspector { "inspector" } else { "public" },
        "lon": (lon * 1e6).round() / 1e6,
        "lat": (lat * 1e6).round() / 1e6,
        "channel": if inspector { "app" } else { "web" },
    });
    if !inspector {
        body["reporter_name"] = json!(format!(
            "{}先生",
            SURNAMES[rng.gen_range(0..SURNAMES.len())]
        ));
        body["reporter_phone"] = json!(format!("139{:08}", rng.gen_range(0..100_000_000u64)));
    }
    body
}

/// `n` report bodies, deterministic for `seed` (benchmarks and tests).
pub fn report_bodies(seed: u64, n: usize) -> Vec<Value> {
    let mut rng = StdRng::seed_from_u64(seed);
    let m = matters();
    (0..n as u64)
        .map(|i| report_body(&mut rng, &m, i))
        .collect()
}

/// Reports cases at `spec.cases_per_min` until `stop` is set: a Poisson process on the
/// clock (exponential gaps between report *times*), each report sent on its own task, so
/// a slow answer from the server neither delays the next report nor lowers the rate.
pub async fn report_cases(
    client: ApiClient,
    spec: PeopleSpec,
    stats: Arc<Stats>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let matters = matters();
    if matters.is_empty() || spec.cases_per_min <= 0.0 {
        return;
    }
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0x7e90);
    let mean = 60.0 / spec.cases_per_min;
    let mut next = tokio::time::Instant::now();
    let mut i = 0u64;
    loop {
        if *stop.borrow() {
            return;
        }
        i += 1;
        let body = report_body(&mut rng, &matters, i);
        let key = format!("sim-{}-{i}", spec.seed);
        let (client, stats) = (client.clone(), stats.clone());
        tokio::spawn(async move {
            match client
                .call(
                    reqwest::Method::POST,
                    "/api/v1/cases",
                    Some(&body),
                    Some(&key),
                )
                .await
            {
                Ok(_) => stats.cases_reported.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    tracing::debug!(error = %e, "report failed");
                    stats.errors.fetch_add(1, Ordering::Relaxed)
                }
            };
        });
        // Exponential gaps between arrival times (not after each answer).
        let gap = -mean * (1.0 - rng.r#gen::<f64>()).ln();
        next += Duration::from_secs_f64(gap);
        let wait = next.saturating_duration_since(tokio::time::Instant::now());
        if sleep_or_stop(wait, &stop).await {
            return;
        }
    }
}

async fn sleep_or_stop(d: Duration, stop: &tokio::sync::watch::Receiver<bool>) -> bool {
    let mut s = stop.clone();
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = s.wait_for(|v| *v) => true,
    }
}

/// A stable per-case draw in `0..1` (so a case is late or reworked whoever looks at it).
fn draw(seed: u64, case_id: i64, salt: u64) -> f64 {
    let mut x = seed
        ^ (case_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ salt.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// The action to take on `case` given what is `allowed`, by the policy of `spec`. `None`
/// when nothing useful is allowed. Pure, so the policy is tested without a server.
pub fn choose_action(
    spec: &PeopleSpec,
    case: &Value,
    allowed: &[String],
    dispatch_to: Option<&str>,
) -> Option<Value> {
    let id = case.get("id").and_then(Value::as_i64).unwrap_or(0);
    let has = |a: &str| allowed.iter().any(|x| x == a);
    let flow_has = |action: &str| {
        case.get("flow_actions")
            .and_then(Value::as_array)
            .is_some_and(|f| f.iter().any(|x| x.as_str() == Some(action)))
    };
    let d = |salt| draw(spec.seed, id, salt);
    if has("receive") || has("request_verify") {
        if d(1) < spec.invalid_share && has("cancel") {
            return Some(json!({"action": "cancel", "opinion": "经核查非本平台受理范围"}));
        }
        if d(2) < spec.verify_share && has("request_verify") {
            return Some(json!({"action": "request_verify", "inspector": null}));
        }
        if has("receive") {
            return Some(json!({"action": "receive"}));
        }
    }
    if has("verify") {
        return Some(
            json!({"action": "verify", "confirmed": d(3) >= spec.invalid_share, "opinion": "现场核实"}),
        );
    }
    if has("register") {
        return Some(json!({"action": "register"}));
    }
    if has("approve_return") {
        return Some(json!({"action": "approve_return", "opinion": "同意回退，重新派遣"}));
    }
    if has("dispatch") {
        let dept = dispatch_to?;
        return Some(json!({"action": "dispatch", "department": dept, "user": null}));
    }
    if has("accept") {
        if d(4) < spec.return_share && has("return") && !flow_has("return") {
            return Some(json!({"action": "return", "opinion": "不属于本单位职责，申请回退"}));
        }
        return Some(json!({"action": "accept"}));
    }
    if has("feedback") {
        return Some(json!({"action": "feedback", "opinion": "已处置完毕"}));
    }
    if has("request_check") {
        return Some(json!({"action": "request_check", "inspector": null}));
    }
    if has("check_pass") || has("check_fail") {
        if d(5) < spec.rework_share && has("check_fail") && !flow_has("check_fail") {
            return Some(json!({"action": "check_fail", "opinion": "现场复查未整改到位，返工"}));
        }
        return Some(json!({"action": "check_pass", "opinion": "核查通过"}));
    }
    if has("close") {
        return Some(json!({"action": "close"}));
    }
    None
}

/// How long the step waits before it is taken: handling steps of late cases take 10×.
fn delay(spec: &PeopleSpec, rng: &mut StdRng, case_id: i64, handler: bool) -> Duration {
    let mean = spec.handler_speed_s.max(0.05);
    let late = handler && draw(spec.seed, case_id, 6) < spec.late_share;
    let m = if late { mean * 10.0 } else { mean };
    Duration::from_secs_f64((-m * (1.0 - rng.r#gen::<f64>()).ln()).min(m * 6.0))
}

/// Works the queue of `client` until `stop`.
pub async fn work_queue(
    client: ApiClient,
    account: StaffAccount,
    spec: PeopleSpec,
    stats: Arc<Stats>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut rng = StdRng::seed_from_u64(
        spec.seed
            ^ account
                .username
                .bytes()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))),
    );
    let handler = account.roles == ["handler"];
    let mut due: HashMap<(i64, String), Instant> = HashMap::new();
    let poll = Duration::from_secs_f64((spec.handler_speed_s / 3.0).clamp(0.2, 2.0));
    loop {
        if sleep_or_stop(poll, &stop).await {
            return;
        }
        // A dispatched case stays held by its center; the department finds it by `handling`.
        let path = if handler {
            format!(
                "/api/v1/cases?handling={}&state=dispatched,handling&limit=50",
                account.department
            )
        } else {
            "/api/v1/cases?mine=true&limit=50".to_owned()
        };
        let Ok(page) = client.get(&path).await else {
            stats.errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let items = page
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let now = Instant::now();
        let mut seen = std::collections::HashSet::new();
        for item in items {
            let Some(id) = item.get("id").and_then(Value::as_i64) else {
                continue;
            };
            let state = item
                .get("state")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            seen.insert((id, state.clone()));
            let at = *due
                .entry((id, state))
                .or_insert_with(|| now + delay(&spec, &mut rng, id, handler));
            if at > now {
                continue;
            }
            if let Err(e) = act_once(&client, &spec, id, &stats).await {
                tracing::debug!(user = %account.username, case = id, error = %e, "action failed");
                // 409: someone else moved it first, or the policy had nothing; not an error of the platform.
                if e.status() != Some(409) {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        due.retain(|k, _| seen.contains(k));
    }
}

/// Where a dispatcher sends the case: the rules' suggestion when it is a functional
/// department; when the rules only name a command center (no rule matched), the district's
/// 环卫所 for city appearance matters (03, 06, 07, 09), else its 市政所.
pub fn dispatch_target(case: &Value, suggested: Option<String>) -> String {
    if let Some(s) = suggested.filter(|s| !s.ends_with("-CENTER")) {
        return s;
    }
    let area = case
        .get("area_code")
        .and_then(Value::as_str)
        .unwrap_or("369901");
    let district = area.get(..6).unwrap_or("369901");
    let matter = case
        .get("matter_code")
        .and_then(Value::as_str)
        .unwrap_or("01");
    let unit = if ["03", "06", "07", "09"]
        .iter()
        .any(|p| matter.starts_with(p))
    {
        "HW"
    } else {
        "SZ"
    };
    format!("D{district}-{unit}")
}

/// Reads the case, picks the next action and takes it.
async fn act_once(
    client: &ApiClient,
    spec: &PeopleSpec,
    id: i64,
    stats: &Stats,
) -> Result<(), ApiError> {
    let view = client.get(&format!("/api/v1/cases/{id}")).await?;
    let allowed: Vec<String> = view
        .get("allowed")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut case = view.get("case").cloned().unwrap_or(Value::Null);
    // The actions already in the flow, so a case is returned or reworked at most once.
    let flow: Vec<Value> = view
        .get("flow")
        .and_then(Value::as_array)
        .map(|f| f.iter().filter_map(|r| r.get("action").cloned()).collect())
        .unwrap_or_default();
    case["flow_actions"] = Value::Array(flow);
    let dispatch_to = if allowed.iter().any(|a| a == "dispatch") {
        let s = client
            .get(&format!("/api/v1/cases/{id}/dispatch-suggestion"))
            .await
            .ok();
        let suggested = s.and_then(|s| {
            s.get("department_code")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        Some(dispatch_target(&case, suggested))
    } else {
        None
    };
    let Some(action) = choose_action(spec, &case, &allowed, dispatch_to.as_deref()) else {
        return Ok(());
    };
    let name = action
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let after = client
        .post(&format!("/api/v1/cases/{id}/actions"), &action)
        .await?;
    stats.actions.fetch_add(1, Ordering::Relaxed);
    let state = after
        .get("case")
        .and_then(|c| c.get("state"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name == "close" || state == "closed" {
        stats.cases_closed.fetch_add(1, Ordering::Relaxed);
    }
    match name.as_str() {
        "return" => stats.returned.fetch_add(1, Ordering::Relaxed),
        "check_fail" => stats.reworked.fetch_add(1, Ordering::Relaxed),
        _ => 0,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dispatch_goes_to_a_department_that_can_handle() {
        let case = json!({"area_code": "369902003001", "matter_code": "06041"});
        assert_eq!(dispatch_target(&case, Some("DEMO-CGJ".into())), "DEMO-CGJ");
        assert_eq!(
            dispatch_target(&case, Some("S369902003-CENTER".into())),
            "D369902-HW"
        );
        assert_eq!(
            dispatch_target(&json!({"area_code": "369903001"}), None),
            "D369903-SZ"
        );
    }

    #[test]
    fn matters_are_in_the_catalogue() {
        let m = matters();
        assert_eq!(
            m.len(),
            MATTERS.len(),
            "every listed matter is a national code"
        );
    }

    #[test]
    fn the_policy_walks_the_whole_loop() {
        let spec = PeopleSpec {
            invalid_share: 0.0,
            verify_share: 0.0,
            return_share: 0.0,
            rework_share: 0.0,
            ..PeopleSpec::default()
        };
        let case = json!({"id": 5});
        let step = |allowed: &[&str]| {
            choose_action(&spec, &case, &all(allowed), Some("D369901-SZ"))
                .map(|a| a["action"].as_str().unwrap_or_default().to_owned())
        };
        assert_eq!(
            step(&["receive", "request_verify", "cancel"]).as_deref(),
            Some("receive")
        );
        assert_eq!(step(&["register", "cancel"]).as_deref(), Some("register"));
        assert_eq!(step(&["dispatch", "cancel"]).as_deref(), Some("dispatch"));
        assert_eq!(step(&["accept", "return"]).as_deref(), Some("accept"));
        assert_eq!(
            step(&["feedback", "request_extension", "return"]).as_deref(),
            Some("feedback")
        );
        assert_eq!(step(&["request_check"]).as_deref(), Some("request_check"));
        assert_eq!(
            step(&["check_pass", "check_fail"]).as_deref(),
            Some("check_pass")
        );
        assert_eq!(step(&["close"]).as_deref(), Some("close"));
        assert_eq!(step(&["supervise"]), None);
        assert_eq!(choose_action(&spec, &case, &all(&["dispatch"]), None), None);
    }

    #[test]
    fn shares_come_out_near_their_settings() {
        let spec = PeopleSpec {
            rework_share: 0.3,
            return_share: 0.2,
            ..PeopleSpec::default()
        };
        let n = 4000;
        let count = |allowed: &[&str], want: &str| {
            (0..n)
                .filter(|i| {
                    choose_action(&spec, &json!({"id": i}), &all(allowed), Some("X"))
                        .is_some_and(|a| a["action"] == want)
                })
                .count() as f64
                / n as f64
        };
        let rework = count(&["check_pass", "check_fail"], "check_fail");
        assert!((0.27..0.33).contains(&rework), "{rework}");
        let ret = count(&["accept", "return"], "return");
        assert!((0.17..0.23).contains(&ret), "{ret}");
        // Once returned, never again.
        let again = choose_action(
            &spec,
            &json!({"id": 1, "flow_actions": ["return"]}),
            &all(&["accept", "return"]),
            None,
        );
        assert_eq!(again.map(|a| a["action"].clone()), Some(json!("accept")));
    }

    #[test]
    fn reports_are_chinese_and_in_the_city() {
        let mut rng = StdRng::seed_from_u64(1);
        let m = matters();
        for i in 0..50 {
            let b = report_body(&mut rng, &m, i);
            assert!(
                b["description"]
                    .as_str()
                    .is_some_and(|d| d.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)))
            );
            let lon = b["lon"].as_f64().unwrap_or(0.0);
            assert!((116.9..117.2).contains(&lon), "{lon}");
        }
    }
}
