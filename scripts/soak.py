#!/usr/bin/env python3
"""The long run of issue "demo, simulator, benchmarks": `chengyun demo` with the simulator at a
fixed device message rate and case rate for a given time, its memory sampled all along.

    scripts/soak.py --binary target/release/chengyun --seconds 3600 --rate 5000 --cases-per-min 10

Starts `chengyun demo --fresh` in a temporary data dir on free ports (API, JT/T 808, watch, MQTT),
samples the process's VmRSS every --every seconds together with the simulator's status line
(messages/s, sent, acknowledged, errors, skipped) and the server's own figures (devices online,
open alarms), and at the end asks the server for its cases and IoT counters. It writes

    <out>/soak.csv   one row per sample
    <out>/soak.svg   memory and message rate over time
    <out>/soak.log   the demo's output

and prints a summary: the achieved message rate, cases reported, memory at 10 minutes and at the
end, and the slope of a least-squares line through the memory of the second half of the run
(MiB per hour). The run "holds flat memory" when that slope is small against the memory itself;
the verdict line says what was measured, not more.

Only the standard library: it runs wherever chengyun builds.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import http.cookiejar


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def status_field(pid, key):
    """A number from /proc/<pid>/status (VmRSS in KiB, Threads), or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


STATUS = re.compile(
    r"sim: (?P<rate>\d+) msg/s, sent (?P<sent>\d+) acked (?P<acked>\d+) errors (?P<errors>\d+)"
    r" skipped (?P<skipped>\d+) connected (?P<connected>\d+) \| episodes (?P<episodes>\d+)"
    r" \| reported (?P<reported>\d+) actions (?P<actions>\d+) closed (?P<closed>\d+)"
)


class Api:
    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with self.opener.open(req, timeout=30) as r:
            return json.loads(r.read() or b"null")

    def login(self, user, password):
        self.call("POST", "/api/v1/auth/login", {"username": user, "password": password})


def svg(samples, path, title):
    """A two-panel line chart (RSS MiB; messages/s) without any plotting library."""
    w, h, pad = 900, 520, 60
    panel = (h - 3 * pad // 2) // 2
    t_max = max(s["t"] for s in samples) or 1

    def poly(key, top, scale_max):
        pts = []
        for s in samples:
            v = s.get(key)
            if v is None:
                continue
            x = pad + (w - 2 * pad) * s["t"] / t_max
            y = top + panel - panel * (v / scale_max if scale_max else 0)
            pts.append(f"{x:.1f},{y:.1f}")
        return " ".join(pts)

    rss_max = max((s["rss_mib"] for s in samples if s["rss_mib"]), default=1) * 1.15
    rate_max = max((s.get("rate") or 0 for s in samples), default=1) * 1.15 or 1
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{pad}" y="20" font-size="14">{title}</text>',
    ]
    for i, (key, label, vmax, colour) in enumerate(
        [("rss_mib", "RSS (MiB)", rss_max, "#c0392b"), ("rate", "device messages/s", rate_max, "#2471a3")]
    ):
        top = pad // 2 + 10 + i * (panel + pad // 2 + 10)
        out.append(f'<rect x="{pad}" y="{top}" width="{w - 2 * pad}" height="{panel}" fill="none" stroke="#999"/>')
        for frac in (0, 0.25, 0.5, 0.75, 1):
            y = top + panel - panel * frac
            out.append(f'<text x="{pad - 6}" y="{y + 4:.0f}" text-anchor="end">{vmax * frac:.0f}</text>')
            out.append(f'<line x1="{pad}" y1="{y:.0f}" x2="{w - pad}" y2="{y:.0f}" stroke="#eee"/>')
        out.append(f'<text x="{pad + 6}" y="{top + 14}" fill="{colour}">{label}</text>')
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{poly(key, top, vmax)}"/>')
        if key == "rss_mib" and any(s.get("anon_mib") for s in samples):
            out.append(f'<text x="{pad + 90}" y="{top + 14}" fill="#7d3c98">of it anonymous (heap)</text>')
            out.append(f'<polyline fill="none" stroke="#7d3c98" stroke-width="1" stroke-dasharray="4 2" points="{poly("anon_mib", top, vmax)}"/>')
    for frac in (0, 0.25, 0.5, 0.75, 1):
        x = pad + (w - 2 * pad) * frac
        out.append(f'<text x="{x:.0f}" y="{h - 8}" text-anchor="middle">{t_max * frac / 60:.0f} min</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))] if v else 0.0


def slope_per_hour(points):
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    if sxx == 0:
        return 0.0
    return sum((t - mx) * (v - my) for t, v in points) / sxx * 3600


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="target/release/chengyun")
    ap.add_argument("--seconds", type=float, default=3600)
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--cases-per-min", type=float, default=10)
    ap.add_argument(
        "--fleet",
        default="ebike=4000,elderly=1200,corrections=300,railway=100,weigh=20,kitchen=300,fire=800,components=1500",
        help="--sim-fleet of the demo: 8,220 devices, 8,100 of them on TCP or MQTT connections (both ends in one process: keep under the open-file limit); trackers report about once a second at 5,000 msg/s",
    )
    ap.add_argument("--episodes", type=float, default=0.00005, help="--sim-episodes (alarms per report)")
    ap.add_argument("--every", type=float, default=10, help="seconds between samples")
    ap.add_argument("--out", default="soak-out")
    ap.add_argument("--components", type=int, default=10000)
    a = ap.parse_args()

    os.makedirs(a.out, exist_ok=True)
    data = tempfile.mkdtemp(prefix="chengyun-soak-")
    api_port, jt808, watch, mqtt = free_port(), free_port(), free_port(), free_port()
    env = dict(
        os.environ,
        CHENGYUN_JT808_LISTEN=f"127.0.0.1:{jt808}",
        CHENGYUN_WATCH_LISTEN=f"127.0.0.1:{watch}",
        CHENGYUN_MQTT_LISTEN=f"127.0.0.1:{mqtt}",
        CHENGYUN_LOG=os.environ.get("CHENGYUN_LOG", "warn"),
    )
    cmd = [
        a.binary, "--data-dir", data, "demo", "--fresh", "--listen", f"127.0.0.1:{api_port}",
        "--components", str(a.components),
        "--sim-rate", str(a.rate), "--sim-cases-per-min", str(a.cases_per_min),
        "--sim-fleet", a.fleet, "--sim-episodes", str(a.episodes),
        "--sim-duration", str(a.seconds + 120),
    ]
    log = open(os.path.join(a.out, "soak.log"), "w")
    print("running:", " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    last_status = {}

    import threading

    def pump():
        for line in proc.stdout:
            log.write(line)
            log.flush()
            m = STATUS.search(line)
            if m:
                last_status.update({k: int(v) for k, v in m.groupdict().items()})
                last_status["at"] = time.time()

    threading.Thread(target=pump, daemon=True).start()
    base = f"http://127.0.0.1:{api_port}"
    api = Api(base)
    deadline = time.time() + 120
    while True:
        try:
            api.login("admin", "chengyun-demo")
            break
        except Exception:
            if time.time() > deadline or proc.poll() is not None:
                print("the demo did not come up; see", os.path.join(a.out, "soak.log"))
                sys.exit(1)
            time.sleep(0.5)
    # The clock starts when the simulator has begun sending.
    while "sent" not in last_status:
        if proc.poll() is not None:
            print("the demo stopped; see", os.path.join(a.out, "soak.log"))
            sys.exit(1)
        time.sleep(0.5)
    t0 = time.time()
    samples = []
    csv = open(os.path.join(a.out, "soak.csv"), "w")
    csv.write("t_s,rss_kib,rss_anon_kib,rss_file_kib,threads,fds,sim_rate,sent,acked,errors,skipped,connected,reported,closed,devices_online,alarms_open,overview_ms\n")
    try:
        while time.time() - t0 < a.seconds:
            time.sleep(a.every)
            if proc.poll() is not None:
                print("the demo exited early with", proc.returncode)
                break
            t = time.time() - t0
            st = dict(last_status)
            # The simulator's own rate over its last status interval (a delta of `sent`
            # between samples would alias against the status lines' timing).
            rate = st.get("rate")
            # The big screen's IoT figures, timed: how the API answers a duty officer under this load.
            asked = time.time()
            try:
                o = api.call("GET", "/api/v1/iot/overview")
            except Exception:
                o = {}
            overview_ms = (time.time() - asked) * 1000
            s = {
                "t": t, "rss_kib": status_field(proc.pid, "VmRSS"),
                "anon_kib": status_field(proc.pid, "RssAnon"), "file_kib": status_field(proc.pid, "RssFile"),
                "threads": status_field(proc.pid, "Threads"), "fds": fds(proc.pid),
                "rate": rate, **{k: st.get(k) for k in ("sent", "acked", "errors", "skipped", "connected", "reported", "closed")},
                "online": o.get("devices_online"), "alarms": o.get("alarms_open"), "overview_ms": overview_ms,
            }
            s["rss_mib"] = (s["rss_kib"] or 0) / 1024
            s["anon_mib"] = (s["anon_kib"] or 0) / 1024
            samples.append(s)
            csv.write(",".join(str(x if x is not None else "") for x in (
                round(t, 1), s["rss_kib"], s["anon_kib"], s["file_kib"], s["threads"], s["fds"], round(rate) if rate else "", s["sent"], s["acked"],
                s["errors"], s["skipped"], s["connected"], s["reported"], s["closed"], s["online"], s["alarms"],
                round(overview_ms))) + "\n")
            csv.flush()
            if len(samples) % max(1, int(60 / a.every)) == 0:
                print(f"{t / 60:5.1f} min  RSS {s['rss_mib']:.0f} MiB (anon {s['anon_mib']:.0f})  {rate or 0:.0f} msg/s  sent {s['sent']}  "
                      f"errors {s['errors']}  skipped {s['skipped']}  reported {s['reported']}  closed {s['closed']}  "
                      f"online {s['online']}  alarms {s['alarms']}", flush=True)
        elapsed = time.time() - t0
        # The server's own account of the run.
        try:
            iot_cases = api.call("GET", "/api/v1/cases?source=iot_alarm&limit=1")
            headline = api.call("GET", "/api/v1/evaluation/headline")
        except Exception as e:
            iot_cases, headline = {}, {"error": str(e)}
    finally:
        # SIGTERM: a background job may have SIGINT ignored (nohup, &); chengyun stops on both.
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        db = os.path.join(data, "chengyun.db")
        db_size = os.path.getsize(db) if os.path.exists(db) else 0
        shutil.rmtree(data, ignore_errors=True)

    if not samples:
        sys.exit(1)
    first = next((s for s in samples if s["t"] >= 600), samples[0])
    last = samples[-1]
    half = [(s["t"], s["rss_mib"]) for s in samples if s["t"] >= samples[-1]["t"] / 2]
    slope = slope_per_hour(half)
    # The slope of each ten minutes: where growth stops (caches full) and whether it comes back.
    windows = []
    for k in range(int(last["t"] // 600)):
        pts = [(s["t"], s["rss_mib"]) for s in samples if 600 * k <= s["t"] <= 600 * (k + 1)]
        windows.append(round(slope_per_hour(pts), 1))
    sent = (last["sent"] or 0) - (samples[0]["sent"] or 0)
    achieved = sent / max(1e-9, last["t"] - samples[0]["t"])
    svg(samples, os.path.join(a.out, "soak.svg"),
        f"chengyun demo: {a.rate:.0f} msg/s offered, {a.cases_per_min:g} cases/min, {elapsed / 60:.0f} min")
    summary = {
        "seconds": round(elapsed),
        "offered_msg_per_s": a.rate,
        "achieved_msg_per_s": round(achieved),
        "sent": last["sent"], "acked": last["acked"], "errors": last["errors"], "skipped": last["skipped"],
        "connected": last["connected"], "cases_reported": last["reported"], "cases_closed": last["closed"],
        "reported_per_min": round((last["reported"] or 0) / (elapsed / 60), 2),
        "rss_mib_at_10_min": round(first["rss_mib"]), "rss_mib_at_end": round(last["rss_mib"]),
        "rss_mib_max": round(max(s["rss_mib"] for s in samples)),
        "rss_slope_mib_per_hour_second_half": round(slope, 1),
        "rss_slope_mib_per_hour_each_10_min": windows,
        "rss_anon_mib_at_10_min": round(first["anon_mib"]), "rss_anon_mib_at_end": round(last["anon_mib"]),
        "threads_end": last["threads"], "fds_end": last["fds"],
        "devices_online_end": last["online"], "alarms_open_end": last["alarms"],
        "overview_ms_p50": round(pct([s["overview_ms"] for s in samples], 0.5)),
        "overview_ms_p95": round(pct([s["overview_ms"] for s in samples], 0.95)),
        "overview_ms_max": round(max(s["overview_ms"] for s in samples)),
        "headline": headline, "iot_alarm_cases_first_page": len((iot_cases or {}).get("items", [])),
        "database_bytes": db_size,
    }
    with open(os.path.join(a.out, "soak.json"), "w") as f:
        json.dump(summary, f, ensure_ascii=False, indent=2)
    print(json.dumps(summary, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
