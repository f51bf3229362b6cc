#!/usr/bin/env bash
# The web front end's checks: type check + build, unit tests (vitest), then the
# end-to-end tests (playwright-core driving Debian's Chromium) against the
# debug `chengyun` binary that `cargo test` built. Installs Chromium and CJK
# fonts with apt-get when they are missing (root, Debian).
set -euo pipefail
cd "$(dirname "$0")/.."

# The debug binary `cargo test` built (cargo knows the target dir, wherever config puts it).
if [ -z "${CHENGYUN_BIN:-}" ]; then
  cargo build --locked -p chengyun --quiet
  target="$(cargo metadata --format-version 1 --no-deps --locked |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
  export CHENGYUN_BIN="$target/debug/chengyun"
fi

if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then
  echo "== installing Chromium and CJK fonts (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null
fi

echo "== web: npm ci"
npm --prefix web ci --no-audit --no-fund --loglevel=error
echo "== web: type check and build"
npm --prefix web run build --silent -- --logLevel warn
echo "== web: unit tests"
npm --prefix web test --silent
echo "== web: end-to-end tests (Chromium, real binary)"
# Serve this checkout's build, whichever checkout compiled the binary.
export CHENGYUN_WEB_DIR="$PWD/web/dist"
npm --prefix web run e2e --silent
