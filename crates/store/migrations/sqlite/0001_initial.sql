-- chengyun schema, SQLite flavour. Keep semantically identical to
-- migrations/postgres/0001_initial.sql: same tables, columns, keys, indexes.
-- Timestamps are TEXT in RFC 3339 with a +00:00 offset (bound from Rust as
-- DateTime<Utc>), which sorts correctly as text. JSON is TEXT.

CREATE TABLE areas (
    code        TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    level       TEXT NOT NULL,
    -- deferred: a batch may name a parent that comes later in the same batch
    parent_code TEXT REFERENCES areas (code) DEFERRABLE INITIALLY DEFERRED,
    boundary    TEXT,
    min_lon     REAL,
    min_lat     REAL,
    max_lon     REAL,
    max_lat     REAL
);
CREATE INDEX areas_parent ON areas (parent_code, code);
CREATE INDEX areas_level ON areas (level, code);
CREATE INDEX areas_bbox ON areas (min_lon, max_lon, min_lat, max_lat);

CREATE TABLE unit_grids (
    code      TEXT PRIMARY KEY NOT NULL,
    name      TEXT,
    area_code TEXT NOT NULL REFERENCES areas (code),
    boundary  TEXT NOT NULL,
    area_m2   REAL NOT NULL,
    min_lon   REAL,
    min_lat   REAL,
    max_lon   REAL,
    max_lat   REAL
);
CREATE INDEX unit_grids_area ON unit_grids (area_code, code);
CREATE INDEX unit_grids_bbox ON unit_grids (min_lon, max_lon, min_lat, max_lat);

CREATE TABLE responsibility_grids (
    code            TEXT PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    -- not foreign keys: responsibility maps are often imported before staff lists
    department_code TEXT,
    staff_code      TEXT,
    boundary        TEXT NOT NULL,
    min_lon         REAL,
    min_lat         REAL,
    max_lon         REAL,
    max_lat         REAL
);
CREATE INDEX responsibility_grids_department ON responsibility_grids (department_code, code);

CREATE TABLE departments (
    code        TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    tier        TEXT NOT NULL,
    area_code   TEXT NOT NULL REFERENCES areas (code),
    parent_code TEXT REFERENCES departments (code) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX departments_area ON departments (area_code, code);
CREATE INDEX departments_tier ON departments (tier, code);
CREATE INDEX departments_kind ON departments (kind, code);
CREATE INDEX departments_parent ON departments (parent_code, code);

CREATE TABLE staff (
    code            TEXT PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    department_code TEXT NOT NULL REFERENCES departments (code),
    position        TEXT NOT NULL,
    phone           TEXT,
    username        TEXT
);
CREATE INDEX staff_department ON staff (department_code, code);
CREATE INDEX staff_username ON staff (username);

CREATE TABLE components (
    id              TEXT PRIMARY KEY NOT NULL,
    class_code      TEXT NOT NULL,
    name            TEXT NOT NULL,
    owner_code      TEXT,
    owner_name      TEXT,
    custodian_code  TEXT,
    custodian_name  TEXT,
    maintainer_code TEXT,
    maintainer_name TEXT,
    -- not a foreign key: legacy data may name grids that are not imported yet
    grid_code       TEXT,
    status          TEXT NOT NULL,
    lon             REAL NOT NULL,
    lat             REAL NOT NULL,
    recorded_on     TEXT,
    changed_on      TEXT,
    source          TEXT,
    note            TEXT
);
CREATE INDEX components_class ON components (class_code, id);
CREATE INDEX components_status ON components (status, id);
CREATE INDEX components_grid ON components (grid_code, id);
CREATE INDEX components_position ON components (lon, lat);

CREATE TABLE local_classes (
    kind       TEXT NOT NULL,
    code       TEXT NOT NULL,
    major_code TEXT NOT NULL,
    major_name TEXT NOT NULL,
    name       TEXT NOT NULL,
    PRIMARY KEY (kind, code)
);

CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    username        TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    department_code TEXT REFERENCES departments (code),
    roles           TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    disabled        INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at      TEXT NOT NULL
);
CREATE INDEX users_department ON users (department_code);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, id);

-- user_id is deliberately not a foreign key: the log outlives what it describes.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    user_id     INTEGER,
    actor       TEXT NOT NULL,
    ip          TEXT,
    request_id  TEXT,
    action      TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target      TEXT NOT NULL,
    details     TEXT NOT NULL
);
CREATE INDEX audit_log_user ON audit_log (user_id, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_target_kind ON audit_log (target_kind, id);
CREATE INDEX audit_log_at ON audit_log (at);
