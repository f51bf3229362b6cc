#!/usr/bin/env bash
# Runs chengyun's whole test suite: unit, integration and the storage
# conformance suite on both SQLite and PostgreSQL.
#
# Needs a PostgreSQL server; by default the local one at 127.0.0.1:5432
# (user postgres, trust auth), Mosquitto and NATS with JetStream (both started
# here when installed but not running). Point CHENGYUN_TEST_DATABASE_URL elsewhere to use
# another. The PostgreSQL tests fail (they never skip) when it is unreachable.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_url="${CHENGYUN_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export CHENGYUN_TEST_DATABASE_URL="$pg_url"

# Start the local PostgreSQL if it is installed here but not running.
if [[ "$pg_url" == *"@127.0.0.1:5432/"* ]] && command -v pg_isready >/dev/null; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
      echo "starting the local PostgreSQL"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
      for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    fi
  fi
fi

# MQTT tests talk to real clients and the local Mosquitto (127.0.0.1:1883).
if ! command -v mosquitto_pub >/dev/null; then
  echo "installing mosquitto-clients (apt-get)"
  (apt-get update -qq && apt-get install -y -qq mosquitto mosquitto-clients) >/dev/null
fi
if command -v mosquitto >/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  echo "starting the local Mosquitto"
  mosquitto -d -c /etc/mosquitto/mosquitto.conf || true
  sleep 1
fi

# The NATS bus tests (crates/bus/tests/nats.rs, the API cluster test, `bench --bus nats`) use a
# local NATS server with JetStream at 127.0.0.1:4222; start one if nothing listens there.
if ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
  if ! command -v nats-server >/dev/null; then
    echo "installing nats-server (apt-get)"
    (apt-get update -qq && apt-get install -y -qq nats-server) >/dev/null
  fi
  echo "starting a local NATS server with JetStream"
  mkdir -p /tmp/chengyun-nats
  nats-server -a 127.0.0.1 -p 4222 -js -sd /tmp/chengyun-nats >/tmp/chengyun-nats.log 2>&1 &
  for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && break; sleep 0.2; done
fi

cargo test --workspace --locked "$@"

# The web front end: unit tests, then the end-to-end tests in a real browser
# against the `chengyun` binary cargo just built. Set CHENGYUN_SKIP_E2E=1 to skip.
if [ -z "${CHENGYUN_SKIP_E2E:-}" ]; then
  scripts/web-test.sh
fi
