-- History that outlives the process: incidents (each alarm's life on an object) with their
-- transitions, vCenter events and tasks, and where each connection's event reading stands.
-- Integers are BIGINT so both backends decode them as i64. Times are microseconds since the
-- Unix epoch (UTC), so both backends order and compare them
-- as integers. Rows are keyed by what vCenter names them by (event key, alarm + entity +
-- start, task key): a batch written twice inserts nothing twice.

CREATE TABLE incidents (
    connection_id    TEXT    NOT NULL,
    -- alarm moId '.' entity moId '@' start.
    id               TEXT    NOT NULL,
    alarm_moid       TEXT    NOT NULL,
    entity_moid      TEXT    NOT NULL,
    resource_id      TEXT    NOT NULL,
    alarm_name       TEXT    NOT NULL,
    summary          TEXT    NOT NULL,
    -- The worst severity reached ('critical' or 'warning'), and the latest.
    severity         TEXT    NOT NULL,
    current_severity TEXT    NOT NULL,
    started_us       BIGINT  NOT NULL,
    ended_us         BIGINT,
    -- 1 when ended_us is vCenter's time (the clearing event), 0 when the collector's.
    ended_exact      BIGINT  NOT NULL,
    acknowledged_us  BIGINT,
    acknowledged_by  TEXT,
    last_event_key   BIGINT,
    PRIMARY KEY (connection_id, id)
);

CREATE INDEX incidents_started ON incidents (started_us);
CREATE INDEX incidents_open ON incidents (connection_id) WHERE ended_us IS NULL;

CREATE TABLE incident_transitions (
    connection_id TEXT    NOT NULL,
    incident_id   TEXT    NOT NULL,
    -- 'opened', 'acknowledged', 'closed' (one each), 'severity@<event key or time>'.
    tkey          TEXT    NOT NULL,
    change        TEXT    NOT NULL,
    at_us         BIGINT  NOT NULL,
    exact         BIGINT  NOT NULL,
    severity      TEXT    NOT NULL,
    event_key     BIGINT,
    user_name     TEXT,
    entity_moid   TEXT    NOT NULL,
    resource_id   TEXT    NOT NULL,
    summary       TEXT    NOT NULL,
    PRIMARY KEY (connection_id, incident_id, tkey)
);

CREATE INDEX incident_transitions_at ON incident_transitions (at_us);

CREATE TABLE events (
    connection_id TEXT    NOT NULL,
    event_key     BIGINT  NOT NULL,
    created_us    BIGINT  NOT NULL,
    event_type    TEXT    NOT NULL,
    message       TEXT    NOT NULL,
    user_name     TEXT,
    -- JSON array of the moIds the event names.
    subjects      TEXT    NOT NULL,
    PRIMARY KEY (connection_id, event_key)
);

CREATE INDEX events_created ON events (created_us);

CREATE TABLE event_subjects (
    connection_id TEXT    NOT NULL,
    moid          TEXT    NOT NULL,
    event_key     BIGINT  NOT NULL,
    PRIMARY KEY (connection_id, moid, event_key)
);

CREATE TABLE tasks (
    connection_id  TEXT    NOT NULL,
    task_key       TEXT    NOT NULL,
    description_id TEXT    NOT NULL,
    entity_moid    TEXT,
    entity_name    TEXT,
    state          TEXT    NOT NULL,
    queued_us      BIGINT  NOT NULL,
    completed_us   BIGINT,
    error          TEXT,
    PRIMARY KEY (connection_id, task_key)
);

CREATE INDEX tasks_queued ON tasks (queued_us);

-- The newest event key read, kept apart from the events so retention never moves it back.
CREATE TABLE history_cursors (
    connection_id  TEXT    NOT NULL PRIMARY KEY,
    last_event_key BIGINT  NOT NULL
);
