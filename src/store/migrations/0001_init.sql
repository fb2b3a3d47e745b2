-- CaseyOS mirror, schema version 1.
-- External records keep their vendor JSON in `raw` so later versions can read new properties
-- without a resync; the typed columns are what queries use.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE contacts (
    id                       TEXT PRIMARY KEY,
    email                    TEXT,
    first_name               TEXT,
    last_name                TEXT,
    company_name             TEXT,
    company_id               TEXT,
    job_title                TEXT,
    lifecycle_stage          TEXT,
    created_at               TEXT,
    updated_at               TEXT,
    recent_conversion_at     TEXT,
    recent_conversion_event  TEXT,
    raw                      TEXT NOT NULL
);
CREATE INDEX contacts_email ON contacts(email);

CREATE TABLE companies (
    id              TEXT PRIMARY KEY,
    name            TEXT,
    domain          TEXT,
    industry        TEXT,
    employees       INTEGER,
    annual_revenue  REAL,
    lifecycle_stage TEXT,
    updated_at      TEXT,
    raw             TEXT NOT NULL
);

CREATE TABLE pipelines (
    id            TEXT PRIMARY KEY,
    label         TEXT NOT NULL,
    display_order INTEGER NOT NULL
);

CREATE TABLE stages (
    id            TEXT PRIMARY KEY,
    pipeline_id   TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
    label         TEXT NOT NULL,
    display_order INTEGER NOT NULL,
    probability   REAL NOT NULL,
    is_closed     INTEGER NOT NULL
);

CREATE TABLE deals (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    amount           REAL,
    pipeline_id      TEXT,
    stage_id         TEXT,
    close_date       TEXT,
    created_at       TEXT,
    updated_at       TEXT,
    last_activity_at TEXT,
    stage_entered_at TEXT,
    raw              TEXT NOT NULL
);

-- HubSpot associations, both directions stored as given (from_type/to_type are plural object types).
CREATE TABLE associations (
    from_type TEXT NOT NULL,
    from_id   TEXT NOT NULL,
    to_type   TEXT NOT NULL,
    to_id     TEXT NOT NULL,
    PRIMARY KEY (from_type, from_id, to_type, to_id)
);
CREATE INDEX associations_to ON associations(to_type, to_id);

CREATE TABLE tasks (
    id         TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    body       TEXT,
    status     TEXT NOT NULL,
    priority   TEXT,
    task_type  TEXT,
    due_at     TEXT,
    updated_at TEXT,
    raw        TEXT NOT NULL
);

CREATE TABLE notes (
    id         TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    at         TEXT,
    raw        TEXT NOT NULL
);

CREATE TABLE threads (
    id              TEXT PRIMARY KEY,
    subject         TEXT NOT NULL,
    history_id      TEXT,
    last_message_at TEXT,
    message_count   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE messages (
    id                TEXT PRIMARY KEY,
    thread_id         TEXT NOT NULL,
    at                TEXT NOT NULL,
    from_name         TEXT,
    from_email        TEXT NOT NULL,
    to_json           TEXT NOT NULL,
    cc_json           TEXT NOT NULL,
    subject           TEXT NOT NULL,
    snippet           TEXT NOT NULL,
    body              TEXT NOT NULL,
    labels_json       TEXT NOT NULL,
    message_id_header TEXT,
    in_reply_to       TEXT,
    outbound          INTEGER NOT NULL,
    automated         INTEGER NOT NULL
);
CREATE INDEX messages_thread ON messages(thread_id, at);
CREATE INDEX messages_from ON messages(from_email);

CREATE TABLE drafts (
    id          TEXT PRIMARY KEY,
    thread_id   TEXT,
    to_json     TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    in_reply_to TEXT,
    origin      TEXT NOT NULL DEFAULT 'gmail'
);

-- Moves seen so far: identity and first/last sighting (the moves themselves are recomputed).
CREATE TABLE moves (
    key        TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    title      TEXT NOT NULL,
    aps        REAL NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen  TEXT NOT NULL
);

-- The operator's decisions, append-only; `undone_at` marks a decision taken back with `u`.
CREATE TABLE decisions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    move_key     TEXT NOT NULL,
    state        TEXT NOT NULL,
    reason       TEXT,
    snooze_until TEXT,
    until_reply  INTEGER NOT NULL DEFAULT 0,
    decided_at   TEXT NOT NULL,
    undone_at    TEXT
);
CREATE INDEX decisions_key ON decisions(move_key, id);

CREATE TABLE outcomes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    move_key    TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    evidence    TEXT,
    recorded_at TEXT NOT NULL
);

CREATE TABLE telemetry (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    event    TEXT NOT NULL,
    move_key TEXT,
    payload  TEXT NOT NULL DEFAULT '{}',
    at       TEXT NOT NULL
);
CREATE INDEX telemetry_event ON telemetry(event, at);

-- Outbound actions: written before they are executed, executed once (idempotency_key).
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    move_key        TEXT,
    action          TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued','running','done','failed','uncertain','cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    error           TEXT,
    demo            INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE sync_cursors (
    source      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    cursor      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (source, object_type)
);

-- Append-only record of everything executed or erased.
CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
