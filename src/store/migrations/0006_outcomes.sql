-- Outcomes of executed moves, schema version 6.
-- Each outcome row now says which kind of move it was, when the outcome happened (not only when
-- it was recorded) and when the move was executed, so rates per move type need no key parsing.
ALTER TABLE outcomes ADD COLUMN kind TEXT;
ALTER TABLE outcomes ADD COLUMN outcome_at TEXT;
ALTER TABLE outcomes ADD COLUMN executed_at TEXT;
UPDATE outcomes SET kind = substr(move_key, 1, instr(move_key, ':') - 1) WHERE instr(move_key, ':') > 0;
UPDATE outcomes SET outcome_at = coalesce(json_extract(evidence, '$.at'), recorded_at) WHERE json_valid(evidence);
UPDATE outcomes SET outcome_at = recorded_at WHERE outcome_at IS NULL;
CREATE INDEX outcomes_move ON outcomes(move_key, outcome);

-- One row per executed move being watched for an outcome: what it was about and where its deal
-- stood when it was executed (the "from" of a stage change), and the segment it counts in.
CREATE TABLE outcome_watch (
    move_key      TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    executed_at   TEXT NOT NULL,
    thread_id     TEXT,
    deal_id       TEXT,
    contact_id    TEXT,
    from_stage_id TEXT,
    lifecycle     TEXT NOT NULL DEFAULT '',
    industry      TEXT NOT NULL DEFAULT '',
    size_band     TEXT NOT NULL DEFAULT '',
    watched_at    TEXT NOT NULL
);
