//! `chengyun bench <scenario> --quick` smoke runs through the real binary, also with
//! `--bus nats` (the real NATS JetStream at 127.0.0.1:4222, `CHENGYUN_BENCH_NATS`).

use std::process::Command;

fn bench(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chengyun"))
        .arg("bench")
        .args(args)
        .output()
        .expect("run chengyun");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The number printed before `unit` on the line containing `label`.
fn number_before(text: &str, label: &str, unit: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("no line with {label:?} in:\n{text}"));
    let at = line
        .find(unit)
        .unwrap_or_else(|| panic!("no {unit:?} in {line:?}"));
    line[..at]
        .split_whitespace()
        .last()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number before {unit:?} in {line:?}"))
}

#[test]
fn every_scenario_runs_quick_and_prints_its_baseline() {
    let (ok, text) = bench(&["intake", "--quick"]);
    assert!(ok, "{text}");
    assert!(
        number_before(&text, "chengyun intake over HTTP", "cases/s") > 1.0,
        "{text}"
    );
    assert!(
        number_before(&text, "baseline plain SQLite", "rows/s") > 10.0,
        "{text}"
    );

    let (ok, text) = bench(&["telemetry", "--quick"]);
    assert!(ok, "{text}");
    assert!(
        number_before(&text, "chengyun JT/T 808 gateway", "msg/s") > 100.0,
        "{text}"
    );
    assert!(text.contains("baseline Mosquitto"), "{text}");

    let (ok, text) = bench(&["connections", "--quick", "--connections", "100"]);
    assert!(ok, "{text}");
    assert!(text.contains("opened 100/100"), "{text}");
    assert!(
        number_before(&text, "chengyun JT/T 808 gateway", "KiB RSS per connection") >= 0.0,
        "{text}"
    );
    assert!(text.contains("baseline bare tokio accept loop"), "{text}");

    let (ok, text) = bench(&["queries", "--quick", "--cases", "3000"]);
    assert!(ok, "{text}");
    assert!(text.contains("loaded 3000 statistics rows"), "{text}");
    assert!(
        text.contains("evaluation: year by department: p50"),
        "{text}"
    );
    assert!(
        text.contains("baseline: year by department summed from the raw rows"),
        "{text}"
    );
}

#[cfg(feature = "nats")]
#[test]
fn intake_runs_on_the_nats_bus() {
    let (ok, text) = bench(&["intake", "--quick", "--bus", "nats", "--seconds", "1"]);
    assert!(ok, "{text}");
    assert!(text.contains("bus: NATS JetStream"), "{text}");
    // "chengyun intake over HTTP: 20/20 created in …"
    let created: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("chengyun intake over HTTP: "))
        .and_then(|rest| rest.split('/').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no intake line in:\n{text}"));
    assert!(created >= 1.0, "{text}");
    // Every case's creation came back through the stream to the server's feed.
    let reached = number_before(&text, "bus nats:", "events reached");
    assert!(reached >= created, "{text}");
}

#[test]
fn bad_flags_are_named() {
    let (ok, text) = bench(&["intake", "--quick", "--bus", "kafka"]);
    assert!(!ok && text.contains("--bus"), "{text}");
    let (ok, text) = bench(&["intake", "--backend", "mysql"]);
    assert!(!ok && text.contains("--backend"), "{text}");
    let (ok, text) = bench(&["warp"]);
    assert!(!ok && text.contains("unknown scenario"), "{text}");
}

#[test]
fn sim_flags_are_checked_before_anything_starts() {
    let out = Command::new(env!("CARGO_BIN_EXE_chengyun"))
        .args([
            "sim",
            "--target",
            "http://127.0.0.1:9",
            "--sim-fleet",
            "ebike=x",
        ])
        .output()
        .expect("run chengyun");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("--sim-fleet") && text.contains("whole number"),
        "{text}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_chengyun"))
        .args([
            "sim",
            "--target",
            "http://127.0.0.1:9",
            "--sim-late-share",
            "1.5",
        ])
        .output()
        .expect("run chengyun");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("--sim-late-share"),
        "{text}"
    );
}

#[test]
fn screen_fills_a_data_dir_and_refuses_a_used_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("screen");
    let data_arg = data.display().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_chengyun"))
        .args([
            "--data-dir",
            &data_arg,
            "bench",
            "screen",
            "--quick",
            "--cases",
            "120",
            "--devices",
            "40",
        ])
        .output()
        .expect("run chengyun");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("intake_many: 120 cases created, 0 refused"),
        "{text}"
    );
    assert!(text.contains("devices: 40 stored"), "{text}");
    assert!(text.contains("40 latest states"), "{text}");
    assert!(text.contains("case states: "), "{text}");
    assert!(data.join("chengyun.db").exists(), "{text}");
    // A second run refuses to pile onto the same database.
    let out = Command::new(env!("CARGO_BIN_EXE_chengyun"))
        .args(["--data-dir", &data_arg, "bench", "screen", "--quick"])
        .output()
        .expect("run chengyun");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already holds a database"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
