-- The outbox as a worker runs it: an undo window (`not_before`), what the remote side calls
-- the result (`remote_id`), parking for re-confirmation when the world moved, and retries
-- spaced out while offline (`next_attempt_at`). SQLite cannot change a CHECK constraint in
-- place, so the table is rebuilt with its rows.
CREATE TABLE outbox_v4 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    move_key        TEXT,
    action          TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued','running','done','failed','uncertain','cancelled','parked')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    error           TEXT,
    demo            INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    not_before      TEXT,
    next_attempt_at TEXT,
    remote_id       TEXT,
    done_at         TEXT
);
INSERT INTO outbox_v4(id, idempotency_key, move_key, action, payload, state, attempts, error, demo, created_at, updated_at)
    SELECT id, idempotency_key, move_key, action, payload, state, attempts, error, demo, created_at, updated_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v4 RENAME TO outbox;
CREATE INDEX outbox_due ON outbox(state, not_before);
