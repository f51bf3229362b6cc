#!/usr/bin/env bash
# Sets up and runs chengyun on a fresh machine: builds the web front end
# (web/ → web/dist, embedded into the release binary), then
# `cargo run --release -- demo` (a generated, living demo city), or the
# subcommand given: `scripts/run.sh serve --listen 0.0.0.0:8080`. Needs Rust (stable) and Node.js ≥ 20 with npm.
# Re-runs are fast: npm ci only when package-lock.json changed, the Vite build
# only when a source file is newer than web/dist.
set -euo pipefail
cd "$(dirname "$0")/.."

web_build() {
  if ! command -v npm >/dev/null; then
    echo "run.sh: npm not found; install Node.js 20 or later (e.g. apt-get install nodejs npm)" >&2
    exit 1
  fi
  if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    echo "== installing web dependencies (npm ci)"
    npm --prefix web ci --no-audit --no-fund --loglevel=error
  fi
  local stamp=web/dist/index.html
  if [ ! -f "$stamp" ] || [ -n "$(find web/src web/index.html web/screen.html web/report.html web/vite.config.ts web/package-lock.json -newer "$stamp" -print -quit)" ]; then
    echo "== building the web front end (npm run build)"
    npm --prefix web run build --silent
  fi
}

web_build
if [ $# -eq 0 ]; then
  set -- demo
fi
exec cargo run --release -- "$@"
