-- The case closed loop, SQLite flavour. Keep semantically identical to
-- migrations/postgres/0002_cases.sql.

CREATE TABLE case_sequences (
    prefix TEXT NOT NULL,
    date   TEXT NOT NULL,
    last   INTEGER NOT NULL,
    PRIMARY KEY (prefix, date)
);

CREATE TABLE cases (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    number              TEXT NOT NULL UNIQUE,
    title               TEXT NOT NULL,
    description         TEXT NOT NULL,
    matter_code         TEXT,
    condition           TEXT,
    source              TEXT NOT NULL,
    urgency             TEXT NOT NULL,
    lon                 REAL,
    lat                 REAL,
    address             TEXT,
    grid_code           TEXT,
    area_code           TEXT,
    district_code       TEXT,
    component_id        TEXT,
    device_id           TEXT,
    external_id         TEXT,
    reporter_user       INTEGER,
    snapshot            TEXT NOT NULL,
    state               TEXT NOT NULL,
    holder_department   TEXT NOT NULL,
    holder_user         INTEGER,
    center_department   TEXT NOT NULL,
    handling_department TEXT,
    overdue             INTEGER NOT NULL DEFAULT 0 CHECK (overdue IN (0, 1)),
    on_hold             INTEGER NOT NULL DEFAULT 0 CHECK (on_hold IN (0, 1)),
    is_open             INTEGER NOT NULL DEFAULT 1 CHECK (is_open IN (0, 1)),
    duplicate_of        INTEGER REFERENCES cases (id),
    likely_duplicate_of INTEGER REFERENCES cases (id),
    reported_at         TEXT NOT NULL,
    registered_at       TEXT,
    dispatched_at       TEXT,
    disposed_at         TEXT,
    closed_at           TEXT,
    deadline_at         TEXT,
    version             INTEGER NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE UNIQUE INDEX cases_external ON cases (source, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX cases_state ON cases (state, id);
CREATE INDEX cases_holder ON cases (holder_department, id);
CREATE INDEX cases_center ON cases (center_department, id);
CREATE INDEX cases_handling ON cases (handling_department, id);
CREATE INDEX cases_area ON cases (area_code, id);
CREATE INDEX cases_matter ON cases (matter_code, id);
CREATE INDEX cases_source ON cases (source, id);
CREATE INDEX cases_overdue ON cases (overdue, id);
CREATE INDEX cases_reported ON cases (reported_at);
CREATE INDEX cases_dedupe ON cases (matter_code, is_open, reported_at, lon, lat);

CREATE TABLE case_reporters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    name        TEXT,
    phone       TEXT,
    user_id     INTEGER,
    channel     TEXT NOT NULL,
    reported_at TEXT NOT NULL
);
CREATE INDEX case_reporters_case ON case_reporters (case_id, id);

CREATE TABLE flow_records (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id          INTEGER NOT NULL REFERENCES cases (id),
    action           TEXT NOT NULL,
    detail           TEXT NOT NULL,
    from_state       TEXT,
    to_state         TEXT NOT NULL,
    actor_user       INTEGER,
    actor_department TEXT,
    acted_as         TEXT,
    at               TEXT NOT NULL,
    opinion          TEXT,
    attachments      TEXT NOT NULL
);
CREATE INDEX flow_records_case ON flow_records (case_id, id);
CREATE INDEX flow_records_actor ON flow_records (actor_user, at);

CREATE TABLE attachments (
    id           TEXT PRIMARY KEY NOT NULL,
    case_id      INTEGER REFERENCES cases (id),
    file_name    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    storage_key  TEXT NOT NULL,
    uploaded_by  INTEGER,
    created_at   TEXT NOT NULL
);
CREATE INDEX attachments_case ON attachments (case_id, created_at);
CREATE INDEX attachments_sha ON attachments (sha256);

CREATE TABLE case_clocks (
    case_id      INTEGER NOT NULL REFERENCES cases (id),
    clock        TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    time_limit   TEXT NOT NULL,
    extensions   TEXT NOT NULL,
    holds        TEXT NOT NULL,
    deadline_at  TEXT,
    warn_at      TEXT,
    paused_at    TEXT,
    held_seconds INTEGER NOT NULL DEFAULT 0,
    stopped_at   TEXT,
    warned_at    TEXT,
    overdue_at   TEXT,
    PRIMARY KEY (case_id, clock)
);
-- the timer sweep: running clocks by deadline and by warning time
CREATE INDEX case_clocks_deadline ON case_clocks (deadline_at) WHERE stopped_at IS NULL AND overdue_at IS NULL;
CREATE INDEX case_clocks_warn ON case_clocks (warn_at) WHERE stopped_at IS NULL AND warned_at IS NULL;

CREATE TABLE stat_rows (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id                   INTEGER NOT NULL,
    case_number               TEXT NOT NULL,
    stage                     TEXT NOT NULL,
    at                        TEXT NOT NULL,
    department_code           TEXT,
    user_id                   INTEGER,
    area_code                 TEXT,
    reported                  INTEGER NOT NULL DEFAULT 0,
    valid_reported            INTEGER NOT NULL DEFAULT 0,
    missed                    INTEGER NOT NULL DEFAULT 0,
    needs_verify              INTEGER NOT NULL DEFAULT 0,
    verified                  INTEGER NOT NULL DEFAULT 0,
    verified_in_time          INTEGER NOT NULL DEFAULT 0,
    verify_dispatched         INTEGER NOT NULL DEFAULT 0,
    verify_dispatched_in_time INTEGER NOT NULL DEFAULT 0,
    inspector_registered      INTEGER NOT NULL DEFAULT 0,
    registered                INTEGER NOT NULL DEFAULT 0,
    registered_in_time        INTEGER NOT NULL DEFAULT 0,
    cancelled                 INTEGER NOT NULL DEFAULT 0,
    needs_dispatch            INTEGER NOT NULL DEFAULT 0,
    dispatched                INTEGER NOT NULL DEFAULT 0,
    dispatched_in_time        INTEGER NOT NULL DEFAULT 0,
    needs_disposal            INTEGER NOT NULL DEFAULT 0,
    disposed                  INTEGER NOT NULL DEFAULT 0,
    disposed_in_time          INTEGER NOT NULL DEFAULT 0,
    rework                    INTEGER NOT NULL DEFAULT 0,
    needs_check               INTEGER NOT NULL DEFAULT 0,
    checked                   INTEGER NOT NULL DEFAULT 0,
    checked_in_time           INTEGER NOT NULL DEFAULT 0,
    check_dispatched          INTEGER NOT NULL DEFAULT 0,
    check_dispatched_in_time  INTEGER NOT NULL DEFAULT 0,
    needs_closing             INTEGER NOT NULL DEFAULT 0,
    closed                    INTEGER NOT NULL DEFAULT 0,
    closed_in_time            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX stat_rows_at ON stat_rows (at);
CREATE INDEX stat_rows_department ON stat_rows (department_code, at);
CREATE INDEX stat_rows_user ON stat_rows (user_id, at);
CREATE INDEX stat_rows_area ON stat_rows (area_code, at);
CREATE INDEX stat_rows_case ON stat_rows (case_id);

CREATE TABLE dispatch_rules (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    matter_pattern  TEXT NOT NULL,
    area_code       TEXT NOT NULL,
    department_code TEXT NOT NULL REFERENCES departments (code),
    priority        INTEGER NOT NULL DEFAULT 0,
    auto_dispatch   INTEGER NOT NULL DEFAULT 0 CHECK (auto_dispatch IN (0, 1)),
    enabled         INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    note            TEXT
);
CREATE INDEX dispatch_rules_department ON dispatch_rules (department_code);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE idempotency (
    user_id      INTEGER NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_created ON idempotency (created_at);

CREATE TABLE webhooks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    url          TEXT NOT NULL,
    secret       TEXT NOT NULL,
    event_filter TEXT NOT NULL,
    enabled      INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_by   INTEGER
);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    delivered_at    TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE delivered_at IS NULL;
