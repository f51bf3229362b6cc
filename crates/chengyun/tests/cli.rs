//! Drives the real `chengyun` binary as a user would, following the README:
//! load 鹰潭's real boundaries, cut grids, import departments, staff and
//! components, create users, then serve and ask the API.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel)
}

struct Cy {
    data: tempfile::TempDir,
}

impl Cy {
    fn new() -> Self {
        Self {
            data: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_chengyun"));
        c.arg("--data-dir").arg(self.data.path());
        c.env_remove("CHENGYUN_DATABASE_URL")
            .env_remove("CHENGYUN_CONFIG");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "chengyun {args:?} failed:\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.data.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

const DEPARTMENTS: &str = "code,name,kind,tier,area_code,parent_code
YT-CENTER,鹰潭市城市运行管理中心,command_center,city,360600,
YT-CG,市城管指挥中心,sub_center,city,360600,YT-CENTER
YH-CENTER,月湖区城运中心,command_center,district,360602,YT-CENTER
YH-JB,江边街道指挥中心,command_center,street,360602001,YH-CENTER
YH-SZ,月湖区市政公用局,functional,district,360602,YH-CENTER
";

const STAFF: &str = "工号,姓名,部门编码,岗位,电话,账号
S001,李派遣,YH-CENTER,派遣员,0701-6200001,li.dispatch
S002,王网格,YH-JB,网格员,13900000002,
";

#[test]
fn a_city_loaded_from_the_command_line_is_served() {
    let cy = Cy::new();
    let outline = shared("data/yingtan-boundaries/360600_outline.derived.json");
    let districts = shared("data/yingtan-boundaries/360600_full.datav.json");
    let townships = shared("data/yingtan-boundaries/yingtan_admin_codes_to_township.csv");

    assert!(cy.ok(&["migrate"]).contains("up to date"));
    assert!(
        cy.ok(&[
            "import",
            "areas",
            outline.to_str().unwrap(),
            "--crs",
            "gcj02"
        ])
        .contains("imported 1 areas")
    );
    assert!(
        cy.ok(&[
            "import",
            "areas",
            districts.to_str().unwrap(),
            "--crs",
            "gcj02"
        ])
        .contains("imported 3 areas")
    );
    assert!(
        cy.ok(&["import", "areas", townships.to_str().unwrap()])
            .contains("imported 46 areas")
    );

    // A bad file is refused whole, naming the line and the rule.
    let bad = cy.file("bad.csv", "code,name,kind,tier,area_code,parent_code\nX1,好部门,command_center,city,360600,\nX2,坏部门,command_center,street,360602,X1\n");
    let out = cy.run(&["import", "departments", &bad]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 3.tier") && err.contains("nothing was imported"),
        "{err}"
    );

    let deps = cy.file("departments.csv", DEPARTMENTS);
    assert!(
        cy.ok(&["import", "departments", &deps])
            .contains("imported 5 departments")
    );
    let staff = cy.file("staff.csv", STAFF);
    assert!(
        cy.ok(&["import", "staff", &staff])
            .contains("imported 2 staff")
    );

    let grids = cy.ok(&["grid", "generate", "--area", "360602", "--cell", "500m"]);
    let n: u64 = grids.split_whitespace().nth(1).unwrap().parse().unwrap();
    // 月湖区 is about 146 km²: ~580 cells of 0.25 km², plus clipped ones on the edge.
    assert!((500..800).contains(&n), "{grids}");

    let resp = cy.file(
        "resp.geojson",
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"ZR-JB-01","name":"江边责任网格一","department_code":"YH-JB","staff_code":"S002"},"geometry":{"type":"Polygon","coordinates":[[[117.02,28.23],[117.04,28.23],[117.04,28.25],[117.02,28.25],[117.02,28.23]]]}}]}"#,
    );
    assert!(
        cy.ok(&["import", "responsibility-grids", &resp, "--crs", "gcj02"])
            .contains("imported 1 responsibility grids")
    );

    let comps = cy.file(
        "components.csv",
        "OBJID,OBJNAME,DEPTCODE1,DEPTNAME1,OBJSTATE,ORDATE,POINTX,POINTY\n\
         3606020101000001,供水井盖,YH-SZ,月湖区市政公用局,完好,2020-06-01,117.0344,28.2391\n\
         36060201037000001,路灯,YH-SZ,月湖区市政公用局,破损,2021-01-01,117.0400,28.2450\n",
    );
    assert!(
        cy.ok(&["import", "components", &comps, "--crs", "gcj02"])
            .contains("imported 2 components")
    );

    // An administrator created from the command line (the server's first-start
    // admin is not made once users exist).
    let mut chief = cy
        .cmd()
        .args([
            "user",
            "create",
            "chief",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    chief
        .stdin
        .take()
        .unwrap()
        .write_all(b"admin-pass-2026")
        .unwrap();
    assert!(chief.wait_with_output().unwrap().status.success());
    let mut create = cy
        .cmd()
        .args([
            "user",
            "create",
            "li.dispatch",
            "--role",
            "派遣员",
            "--department",
            "YH-CENTER",
            "--name",
            "李派遣",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(b"dispatch-pass-2026\n")
        .unwrap();
    assert!(create.wait_with_output().unwrap().status.success());
    let out = cy.run(&[
        "user",
        "create",
        "weak",
        "--role",
        "clerk",
        "--password-stdin",
    ]);
    assert!(!out.status.success(), "a short password must be refused");
    assert!(cy.ok(&["user", "list"]).contains("li.dispatch"));

    let server = Server::start(&cy);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let base = &server.base;
        let r = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": "chief", "password": "admin-pass-2026"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

        // The district centre DataV gives for 月湖区 (GCJ-02) lies in 月湖区 and in a generated grid.
        let loc: serde_json::Value = http
            .get(format!(
                "{base}/api/v1/locate?lon=117.034112&lat=28.239076&crs=gcj02"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(loc["district"]["code"], "360602", "{loc}");
        assert_eq!(loc["city"]["code"], "360600", "{loc}");
        assert!(
            loc["grid"]["code"].as_str().unwrap().starts_with("360602"),
            "{loc}"
        );

        let areas: serde_json::Value = http
            .get(format!("{base}/api/v1/areas?parent=360602"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let names: Vec<&str> = areas["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"江边街道"), "{areas}");

        // The district dispatcher sees only their district.
        let d = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let r = d
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": "li.dispatch", "password": "dispatch-pass-2026"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = d
            .get(format!("{base}/api/v1/areas/360681"))
            .send()
            .await
            .unwrap();
        assert!(r.status() == 403 || r.status() == 404, "{}", r.status());
        let r = d.get(format!("{base}/api/v1/audit")).send().await.unwrap();
        assert_eq!(r.status(), 403);

        // The audit log holds the command-line imports.
        let audit: serde_json::Value = http
            .get(format!("{base}/api/v1/audit?action=department."))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            audit["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["action"] == "department.import"),
            "{audit}"
        );

        let r = http.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    });
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(cy: &Cy) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = cy
            .cmd()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("CHENGYUN_ADMIN_PASSWORD", "admin-pass-2026")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, base }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_first_start_prints_a_generated_admin_password_once() {
    let cy = Cy::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = cy
        .cmd()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env_remove("CHENGYUN_ADMIN_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
    assert!(
        text.contains("created user admin with password: "),
        "{text}"
    );
    assert!(cy.data.path().join("chengyun.db").exists());
    // A second start creates nothing and prints no password.
    let out = cy.run(&["user", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("admin"));
}

#[test]
fn bad_invocations_explain_themselves() {
    let cy = Cy::new();
    let out = cy.run(&["import", "areas", "/nonexistent.json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent.json"));
    let f = cy.file("a.json", "{}");
    let out = cy.run(&["import", "areas", &f, "--crs", "mars"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("gcj02"));
    let out = cy.run(&["grid", "generate", "--area", "360602", "--cell", "1m"]);
    assert!(!out.status.success());
    let out = cy.run(&["--database-url", "mysql://x", "migrate"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("postgres://"));
}

/// The same binary on PostgreSQL: `--database-url` selects it for every
/// subcommand. Each run uses a fresh database, dropped afterwards.
#[test]
fn the_binary_runs_on_postgresql() {
    let base = std::env::var("CHENGYUN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let db = format!("cy_cli_{}", std::process::id());
    let (server_url, _) = base
        .rsplit_once('/')
        .expect("a database URL ends in /<database>");
    let url = format!("{server_url}/{db}");
    let admin = |sql: &str| {
        let out = Command::new("psql")
            .args([base.as_str(), "-v", "ON_ERROR_STOP=1", "-qtAc", sql])
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!("psql {sql}: {}", String::from_utf8_lossy(&o.stderr)),
            Err(e) => panic!(
                "psql is needed to create the test database ({e}); install postgresql-client"
            ),
        }
    };
    admin(&format!("DROP DATABASE IF EXISTS {db}"));
    admin(&format!("CREATE DATABASE {db}"));
    struct OnDrop(Box<dyn Fn()>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    let (b, d) = (base.clone(), db.clone());
    let _cleanup = OnDrop(Box::new(move || {
        let _ = Command::new("psql")
            .args([
                b.as_str(),
                "-qtAc",
                &format!("DROP DATABASE IF EXISTS {d} WITH (FORCE)"),
            ])
            .output();
    }));

    let cy = Cy::new();
    let run = |args: &[&str]| -> String {
        let out = cy
            .cmd()
            .arg("--database-url")
            .arg(&url)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(run(&["migrate"]).contains("postgres"));
    let districts = shared("data/yingtan-boundaries/360600_full.datav.json");
    assert!(
        run(&[
            "import",
            "areas",
            districts.to_str().unwrap(),
            "--crs",
            "gcj02"
        ])
        .contains("imported 3 areas")
    );
    assert!(run(&["grid", "generate", "--area", "360602", "--cell", "1km"]).contains("unit grids"));
    // Nothing went to the embedded database.
    assert!(!cy.data.path().join("chengyun.db").exists());

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = cy
        .cmd()
        .arg("--database-url")
        .arg(&url)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("CHENGYUN_ADMIN_PASSWORD", "admin-pass-2026")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let r = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": "admin", "password": "admin-pass-2026"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let loc: serde_json::Value = http
            .get(format!(
                "{base}/api/v1/locate?lon=117.034112&lat=28.239076&crs=gcj02"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(loc["district"]["code"], "360602", "{loc}");
        assert!(loc["grid"]["code"].is_string(), "{loc}");
    });
    let _ = child.kill();
    let _ = child.wait();
}

/// `[bus] kind = "nats"`: `serve` joins the NATS JetStream bus at
/// 127.0.0.1:4222 (`CHENGYUN_TEST_NATS_URL`) and says so; an unreachable
/// server or an unknown kind stops it with a message naming the problem.
#[cfg(feature = "nats")]
#[test]
fn serve_on_the_nats_bus_and_bad_bus_settings() {
    let nats =
        std::env::var("CHENGYUN_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let cy = Cy::new();
    let dead = format!("nats://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let out = cy
        .cmd()
        .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
        .env("CHENGYUN_ADMIN_PASSWORD", "admin-pass-2026")
        .env("CHENGYUN_BUS_KIND", "nats")
        .env("CHENGYUN_BUS_URL", &dead)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("cannot reach NATS at {dead}")),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    let out = cy
        .cmd()
        .arg("migrate")
        .env("CHENGYUN_BUS_KIND", "kafka")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("bus.kind \"kafka\" must be inprocess or nats")
    );

    let stream = format!("CYTEST_CLI_{}", std::process::id());
    let port = free_port();
    let mut child = cy
        .cmd()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("CHENGYUN_ADMIN_PASSWORD", "admin-pass-2026")
        .env("CHENGYUN_BUS_KIND", "nats")
        .env("CHENGYUN_BUS_URL", &nats)
        .env("CHENGYUN_BUS_STREAM", &stream)
        .env("CHENGYUN_BUS_SUBJECT_PREFIX", stream.to_lowercase())
        .env("CHENGYUN_BUS_MAX_AGE_HOURS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ready = rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await
                && r.status() == 200
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    });
    let _ = child.kill();
    let _ = child.wait();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut text).unwrap();
    assert!(
        ready,
        "the server on the NATS bus did not get ready: {text}"
    );
    assert!(
        text.contains(&format!("bus: NATS JetStream {nats} stream {stream}")),
        "{text}"
    );
    // The stream the server created is this test's: remove it.
    rt.block_on(async {
        let bus = chengyun_bus::NatsBus::connect(chengyun_bus::NatsBusConfig {
            url: nats.clone(),
            stream: stream.clone(),
            subject_prefix: stream.to_lowercase(),
            max_age: Duration::from_secs(3600),
            ..Default::default()
        })
        .await
        .unwrap();
        bus.delete_stream().await.unwrap();
    });
}
