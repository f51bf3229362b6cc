-- The daily roll-up of the statistics rows (postgres flavour; keep
-- semantically identical to migrations/sqlite/0004_case_rollups.sql).
--
-- One row per (UTC day, department, user, area, stage) with every counter
-- summed. The store keeps it in the same transaction as the stat_rows it
-- sums (an UPSERT adding the new counters), so evaluation over a million
-- cases reads tens of thousands of roll-up rows instead of millions of raw
-- ones. Absent attributes are stored as '' / 0 (not NULL) so the primary
-- key treats "no department" as one group; reads turn them back into NULL.
-- stat_rows stays the source of truth (per case, per step) and the roll-up
-- can be rebuilt from it with the INSERT below.

CREATE TABLE stat_daily (
    day             TEXT COLLATE "C" NOT NULL,
    department_code TEXT COLLATE "C" NOT NULL DEFAULT '',
    user_id         BIGINT NOT NULL DEFAULT 0,
    area_code       TEXT COLLATE "C" NOT NULL DEFAULT '',
    stage           TEXT NOT NULL,
    reported                  BIGINT NOT NULL DEFAULT 0,
    valid_reported            BIGINT NOT NULL DEFAULT 0,
    missed                    BIGINT NOT NULL DEFAULT 0,
    needs_verify              BIGINT NOT NULL DEFAULT 0,
    verified                  BIGINT NOT NULL DEFAULT 0,
    verified_in_time          BIGINT NOT NULL DEFAULT 0,
    verify_dispatched         BIGINT NOT NULL DEFAULT 0,
    verify_dispatched_in_time BIGINT NOT NULL DEFAULT 0,
    inspector_registered      BIGINT NOT NULL DEFAULT 0,
    registered                BIGINT NOT NULL DEFAULT 0,
    registered_in_time        BIGINT NOT NULL DEFAULT 0,
    cancelled                 BIGINT NOT NULL DEFAULT 0,
    needs_dispatch            BIGINT NOT NULL DEFAULT 0,
    dispatched                BIGINT NOT NULL DEFAULT 0,
    dispatched_in_time        BIGINT NOT NULL DEFAULT 0,
    needs_disposal            BIGINT NOT NULL DEFAULT 0,
    disposed                  BIGINT NOT NULL DEFAULT 0,
    disposed_in_time          BIGINT NOT NULL DEFAULT 0,
    rework                    BIGINT NOT NULL DEFAULT 0,
    needs_check               BIGINT NOT NULL DEFAULT 0,
    checked                   BIGINT NOT NULL DEFAULT 0,
    checked_in_time           BIGINT NOT NULL DEFAULT 0,
    check_dispatched          BIGINT NOT NULL DEFAULT 0,
    check_dispatched_in_time  BIGINT NOT NULL DEFAULT 0,
    needs_closing             BIGINT NOT NULL DEFAULT 0,
    closed                    BIGINT NOT NULL DEFAULT 0,
    closed_in_time            BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, department_code, user_id, area_code, stage)
);
CREATE INDEX stat_daily_department ON stat_daily (department_code, day);
CREATE INDEX stat_daily_area ON stat_daily (area_code, day);

-- existing statistics rows
INSERT INTO stat_daily (day, department_code, user_id, area_code, stage, reported, valid_reported, missed, needs_verify, verified, verified_in_time, verify_dispatched, verify_dispatched_in_time, inspector_registered, registered, registered_in_time, cancelled, needs_dispatch, dispatched, dispatched_in_time, needs_disposal, disposed, disposed_in_time, rework, needs_check, checked, checked_in_time, check_dispatched, check_dispatched_in_time, needs_closing, closed, closed_in_time)
SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), COALESCE(department_code, ''), COALESCE(user_id, 0), COALESCE(area_code, ''), stage,
       SUM(reported),
       SUM(valid_reported),
       SUM(missed),
       SUM(needs_verify),
       SUM(verified),
       SUM(verified_in_time),
       SUM(verify_dispatched),
       SUM(verify_dispatched_in_time),
       SUM(inspector_registered),
       SUM(registered),
       SUM(registered_in_time),
       SUM(cancelled),
       SUM(needs_dispatch),
       SUM(dispatched),
       SUM(dispatched_in_time),
       SUM(needs_disposal),
       SUM(disposed),
       SUM(disposed_in_time),
       SUM(rework),
       SUM(needs_check),
       SUM(checked),
       SUM(checked_in_time),
       SUM(check_dispatched),
       SUM(check_dispatched_in_time),
       SUM(needs_closing),
       SUM(closed),
       SUM(closed_in_time)
FROM stat_rows
GROUP BY to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), COALESCE(department_code, ''), COALESCE(user_id, 0), COALESCE(area_code, ''), stage;

-- De-duplication looks for open cases of one matter inside a small box
-- around the new point: equality on (matter_code, is_open), then a range on
-- lon that a 50 m box keeps to a handful of entries, lat and reported_at
-- checked in the index. The old index ranged on reported_at instead, which
-- visited every open case of the matter in the last 24 h.
DROP INDEX cases_dedupe;
CREATE INDEX cases_dedupe_box ON cases (matter_code, is_open, lon, lat, reported_at);
