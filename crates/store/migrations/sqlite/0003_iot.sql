-- The IoT brain, SQLite flavour. Keep semantically identical to
-- migrations/postgres/0003_iot.sql. Products, devices, rule sets and packs keep
-- the whole domain value as JSON (`body`) beside the key columns that queries
-- filter on. Telemetry times are integer microseconds since the epoch
-- (`at_us`) so both backends bucket them with the same arithmetic; alarm and
-- command times that queries compare or order by have a `*_us` twin, since
-- SQLite keeps instants as RFC 3339 text of varying precision.

CREATE TABLE iot_products (
    key        TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    protocol   TEXT NOT NULL,
    body       TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE iot_devices (
    id               TEXT PRIMARY KEY,
    product_key      TEXT NOT NULL REFERENCES iot_products (key),
    protocol         TEXT NOT NULL,
    name             TEXT NOT NULL,
    owner_department TEXT NOT NULL,
    terminal_id      TEXT,
    credential_hash  TEXT,
    component_id     TEXT,
    lon              REAL,
    lat              REAL,
    body             TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE UNIQUE INDEX iot_devices_terminal ON iot_devices (protocol, terminal_id);
CREATE INDEX iot_devices_product ON iot_devices (product_key, id);
CREATE INDEX iot_devices_owner ON iot_devices (owner_department, id);

CREATE TABLE iot_grants (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    target_kind        TEXT NOT NULL CHECK (target_kind IN ('device', 'product')),
    target             TEXT NOT NULL,
    grantee_department TEXT NOT NULL,
    permissions        TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    revoked_at         TEXT
);
CREATE INDEX iot_grants_target ON iot_grants (target_kind, target);

CREATE TABLE iot_latest (
    device_id TEXT PRIMARY KEY,
    vals      TEXT NOT NULL,
    lon       REAL,
    lat       REAL,
    last_seen TEXT NOT NULL,
    online    INTEGER NOT NULL CHECK (online IN (0, 1))
);

CREATE TABLE iot_telemetry (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    at_us     INTEGER NOT NULL,
    vals      TEXT NOT NULL,
    events    TEXT,
    lon       REAL,
    lat       REAL
);
CREATE INDEX iot_telemetry_device_at ON iot_telemetry (device_id, at_us);
CREATE INDEX iot_telemetry_at ON iot_telemetry (at_us);

CREATE TABLE iot_alarms (
    id               TEXT PRIMARY KEY,
    device_id        TEXT NOT NULL,
    rule_id          TEXT NOT NULL,
    subject          TEXT NOT NULL,
    alarm_type       TEXT NOT NULL,
    level            TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('active', 'acknowledged', 'cleared')),
    count            INTEGER NOT NULL,
    first_at         TEXT NOT NULL,
    last_us          INTEGER NOT NULL,
    last_at          TEXT NOT NULL,
    lon              REAL,
    lat              REAL,
    owner_department TEXT NOT NULL,
    case_id          INTEGER,
    body             TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX iot_alarms_key ON iot_alarms (device_id, rule_id, subject);
CREATE INDEX iot_alarms_last ON iot_alarms (last_us, id);
CREATE INDEX iot_alarms_case ON iot_alarms (case_id);

CREATE TABLE iot_commands (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id   TEXT NOT NULL,
    command     TEXT NOT NULL,
    params      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'acknowledged', 'failed', 'timed_out')),
    created_at  TEXT NOT NULL,
    sent_at     TEXT,
    finished_at TEXT,
    deadline_us INTEGER NOT NULL,
    deadline_at TEXT NOT NULL,
    error       TEXT
);
CREATE INDEX iot_commands_device ON iot_commands (device_id, id);
CREATE INDEX iot_commands_open ON iot_commands (status, deadline_us);

CREATE TABLE iot_rule_sets (
    version    INTEGER PRIMARY KEY,
    body       TEXT NOT NULL,
    note       TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE iot_packs (
    key        TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    enabled_at TEXT NOT NULL
);
