-- Today's Moves as data, schema version 8 (see src/today/index.rs).
--
-- Every detected move with its score, its state and the records it is about, so the list, the
-- CLI and the detail read a window of rows instead of detecting over the whole mirror. Moves
-- are maintained by detection unit (`thread:ID`, `deal:ID`, `contact:ID`, `task:ID`,
-- `draft:ID`): a change to the mirror marks what it touched in `move_dirty` in the same
-- transaction (the triggers below), and the next settle re-detects just those units.
CREATE TABLE ranked_moves (
    key        TEXT PRIMARY KEY,
    unit       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    score      REAL NOT NULL,
    -- The effective state (decision applied) as JSON, and whether it belongs on the list.
    state      TEXT NOT NULL,
    actionable INTEGER NOT NULL,
    -- Listed in the Drafts view (carries a draft, or is one).
    in_drafts  INTEGER NOT NULL,
    contact_id TEXT,
    company_id TEXT,
    deal_id    TEXT,
    thread_id  TEXT,
    draft_id   TEXT,
    task_id    TEXT,
    email      TEXT,
    -- When the move's signal happened (UTC RFC 3339): the oldest waiting reply.
    signal_at  TEXT NOT NULL,
    -- Title, who, why, subject, action, times and the score's features (JSON).
    data       TEXT NOT NULL
);
CREATE INDEX ranked_moves_rank ON ranked_moves(actionable, score DESC, key);
-- Every state in rank order (the TUI's window): without it the sort carries each row's data.
CREATE INDEX ranked_moves_all ON ranked_moves(score DESC, key);
-- The header's counts, read from the index alone.
CREATE INDEX ranked_moves_counts ON ranked_moves(actionable, in_drafts, kind, state);
CREATE INDEX ranked_moves_drafts ON ranked_moves(in_drafts, actionable, score DESC, key);
CREATE INDEX ranked_moves_unit ON ranked_moves(unit);
CREATE INDEX ranked_moves_contact ON ranked_moves(contact_id);
CREATE INDEX ranked_moves_company ON ranked_moves(company_id);
CREATE INDEX ranked_moves_deal ON ranked_moves(deal_id);
CREATE INDEX ranked_moves_draft ON ranked_moves(draft_id);
CREATE INDEX ranked_moves_email ON ranked_moves(email);
CREATE INDEX ranked_moves_signal ON ranked_moves(actionable, kind, signal_at);

-- Per detection unit, the next instant at which time alone may change its moves (a follow-up
-- falls due, a deal goes stale, a lead ages out): re-timing the ranking re-detects these only.
CREATE TABLE move_wake (
    unit TEXT PRIMARY KEY,
    at   TEXT NOT NULL
);
CREATE INDEX move_wake_at ON move_wake(at);

-- What changed since the last settle: (kind, id) of a record, an address, a move key, or
-- ('all', '') for a full re-detection (this migration, a config change, a new clock).
-- No unique key on purpose: a constraint here could fail a sync's write (an outer statement's
-- conflict clause overrides a trigger's OR IGNORE); the triggers skip rows already there.
CREATE TABLE move_dirty (
    kind TEXT NOT NULL,
    id   TEXT NOT NULL
);
CREATE INDEX move_dirty_key ON move_dirty(kind, id);
INSERT INTO move_dirty(kind, id) VALUES ('all', '');

CREATE INDEX IF NOT EXISTS drafts_thread ON drafts(thread_id);
CREATE INDEX IF NOT EXISTS drafts_move_key ON drafts(move_key);
CREATE INDEX IF NOT EXISTS associations_from ON associations(from_type, from_id, to_type);

-- Each change marks what it touched, unless already marked, or unless a full re-detection is
-- pending anyway (a fresh mirror's first sync writes every row: no marks needed then).
CREATE TRIGGER dirty_message_ins AFTER INSERT ON messages
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'thread', NEW.thread_id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'thread' AND x.id = NEW.thread_id);
END;

CREATE TRIGGER dirty_message_upd AFTER UPDATE ON messages
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'thread', NEW.thread_id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'thread' AND x.id = NEW.thread_id);
    INSERT INTO move_dirty SELECT 'thread', OLD.thread_id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'thread' AND x.id = OLD.thread_id);
    INSERT INTO move_dirty SELECT DISTINCT 'email', a.email FROM message_addresses a WHERE a.message_id = NEW.id
        AND NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'email' AND x.id = a.email);
END;

CREATE TRIGGER dirty_message_del AFTER DELETE ON messages
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'thread', OLD.thread_id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'thread' AND x.id = OLD.thread_id);
END;

CREATE TRIGGER dirty_address_ins AFTER INSERT ON message_addresses
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'email', NEW.email WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'email' AND x.id = NEW.email);
END;

CREATE TRIGGER dirty_address_del AFTER DELETE ON message_addresses
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'email', OLD.email WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'email' AND x.id = OLD.email);
END;

CREATE TRIGGER dirty_contact_ins AFTER INSERT ON contacts
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'contact', NEW.id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'contact' AND x.id = NEW.id);
    INSERT INTO move_dirty SELECT 'person', NEW.email WHERE NEW.email IS NOT NULL AND NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'person' AND x.id = NEW.email);
END;

CREATE TRIGGER dirty_contact_upd AFTER UPDATE ON contacts
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'contact', NEW.id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'contact' AND x.id = NEW.id);
    INSERT INTO move_dirty SELECT 'person', NEW.email WHERE NEW.email IS NOT NULL AND NEW.email IS NOT OLD.email AND NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'person' AND x.id = NEW.email);
    INSERT INTO move_dirty SELECT 'person', OLD.email WHERE OLD.email IS NOT NULL AND NEW.email IS NOT OLD.email AND NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'person' AND x.id = OLD.email);
END;

CREATE TRIGGER dirty_contact_del AFTER DELETE ON contacts
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'contact', OLD.id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'contact' AND x.id = OLD.id);
    INSERT INTO move_dirty SELECT 'person', OLD.email WHERE OLD.email IS NOT NULL AND NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'person' AND x.id = OLD.email);
END;

CREATE TRIGGER dirty_company_ins AFTER INSERT ON companies
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'company', NEW.id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'company' AND x.id = NEW.id);
END;

CREATE TRIGGER dirty_company_upd AFTER UPDATE ON companies
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'company', NEW.id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'company' AND x.id = NEW.id);
END;

CREATE TRIGGER dirty_company_del AFTER DELETE ON companies
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'company', OLD.id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'company' AND x.id = OLD.id);
END;

CREATE TRIGGER dirty_deal_ins AFTER INSERT ON deals
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'deal', NEW.id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'deal' AND x.id = NEW.id);
END;

CREATE TRIGGER dirty_deal_upd AFTER UPDATE ON deals
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'deal', NEW.id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'deal' AND x.id = NEW.id);
END;

CREATE TRIGGER dirty_deal_del AFTER DELETE ON deals
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'deal', OLD.id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'deal' AND x.id = OLD.id);
END;

CREATE TRIGGER dirty_task_ins AFTER INSERT ON tasks
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'task', NEW.id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'task' AND x.id = NEW.id);
END;

CREATE TRIGGER dirty_task_upd AFTER UPDATE ON tasks
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'task', NEW.id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'task' AND x.id = NEW.id);
END;

CREATE TRIGGER dirty_task_del AFTER DELETE ON tasks
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'task', OLD.id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'task' AND x.id = OLD.id);
END;

CREATE TRIGGER dirty_note_ins AFTER INSERT ON notes
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'note', NEW.id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'note' AND x.id = NEW.id);
END;

CREATE TRIGGER dirty_note_upd AFTER UPDATE ON notes
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'note', NEW.id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'note' AND x.id = NEW.id);
END;

CREATE TRIGGER dirty_note_del AFTER DELETE ON notes
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'note', OLD.id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'note' AND x.id = OLD.id);
END;

CREATE TRIGGER dirty_assoc_ins AFTER INSERT ON associations
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT (CASE NEW.from_type WHEN 'companies' THEN 'company' ELSE substr(NEW.from_type, 1, length(NEW.from_type) - 1) END), NEW.from_id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = (CASE NEW.from_type WHEN 'companies' THEN 'company' ELSE substr(NEW.from_type, 1, length(NEW.from_type) - 1) END) AND x.id = NEW.from_id);
    INSERT INTO move_dirty SELECT (CASE NEW.to_type WHEN 'companies' THEN 'company' ELSE substr(NEW.to_type, 1, length(NEW.to_type) - 1) END), NEW.to_id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = (CASE NEW.to_type WHEN 'companies' THEN 'company' ELSE substr(NEW.to_type, 1, length(NEW.to_type) - 1) END) AND x.id = NEW.to_id);
END;

CREATE TRIGGER dirty_assoc_del AFTER DELETE ON associations
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT (CASE OLD.from_type WHEN 'companies' THEN 'company' ELSE substr(OLD.from_type, 1, length(OLD.from_type) - 1) END), OLD.from_id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = (CASE OLD.from_type WHEN 'companies' THEN 'company' ELSE substr(OLD.from_type, 1, length(OLD.from_type) - 1) END) AND x.id = OLD.from_id);
    INSERT INTO move_dirty SELECT (CASE OLD.to_type WHEN 'companies' THEN 'company' ELSE substr(OLD.to_type, 1, length(OLD.to_type) - 1) END), OLD.to_id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = (CASE OLD.to_type WHEN 'companies' THEN 'company' ELSE substr(OLD.to_type, 1, length(OLD.to_type) - 1) END) AND x.id = OLD.to_id);
END;

CREATE TRIGGER dirty_draft_ins AFTER INSERT ON drafts
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'draft', NEW.id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'draft' AND x.id = NEW.id);
    INSERT INTO move_dirty SELECT 'thread', NEW.thread_id WHERE NEW.thread_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'thread' AND x.id = NEW.thread_id);
    INSERT INTO move_dirty SELECT 'key', NEW.move_key WHERE NEW.move_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'key' AND x.id = NEW.move_key);
END;

CREATE TRIGGER dirty_draft_upd AFTER UPDATE ON drafts
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'draft', NEW.id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'draft' AND x.id = NEW.id);
    INSERT INTO move_dirty SELECT 'thread', NEW.thread_id WHERE NEW.thread_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'thread' AND x.id = NEW.thread_id);
    INSERT INTO move_dirty SELECT 'thread', OLD.thread_id WHERE OLD.thread_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'thread' AND x.id = OLD.thread_id);
    INSERT INTO move_dirty SELECT 'key', NEW.move_key WHERE NEW.move_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'key' AND x.id = NEW.move_key);
    INSERT INTO move_dirty SELECT 'key', OLD.move_key WHERE OLD.move_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'key' AND x.id = OLD.move_key);
END;

CREATE TRIGGER dirty_draft_del AFTER DELETE ON drafts
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'draft', OLD.id WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'draft' AND x.id = OLD.id);
    INSERT INTO move_dirty SELECT 'thread', OLD.thread_id WHERE OLD.thread_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'thread' AND x.id = OLD.thread_id);
    INSERT INTO move_dirty SELECT 'key', OLD.move_key WHERE OLD.move_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'key' AND x.id = OLD.move_key);
END;

CREATE TRIGGER dirty_stage_ins AFTER INSERT ON stages
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'all', '' WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'all' AND x.id = '');
END;

CREATE TRIGGER dirty_stage_upd AFTER UPDATE ON stages
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'all', '' WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'all' AND x.id = '');
END;

CREATE TRIGGER dirty_stage_del AFTER DELETE ON stages
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'all', '' WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'all' AND x.id = '');
END;

CREATE TRIGGER dirty_decision_ins AFTER INSERT ON decisions
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'state', NEW.move_key WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'state' AND x.id = NEW.move_key);
END;

CREATE TRIGGER dirty_decision_upd AFTER UPDATE ON decisions
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'state', NEW.move_key WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'state' AND x.id = NEW.move_key);
END;

CREATE TRIGGER dirty_outcome_ins AFTER INSERT ON outcomes
WHEN NOT EXISTS (SELECT 1 FROM move_dirty WHERE kind = 'all')
BEGIN
    INSERT INTO move_dirty SELECT 'evidence', '' WHERE NOT EXISTS (SELECT 1 FROM move_dirty x WHERE x.kind = 'evidence' AND x.id = '');
END;

-- The score of each first sighting in its own column, so the Stats histogram is counted from
-- the index instead of parsing tens of thousands of payloads.
ALTER TABLE telemetry ADD COLUMN aps REAL;
UPDATE telemetry SET aps = json_extract(payload, '$.aps')
    WHERE event = 'recommendation_generated' AND json_type(payload, '$.aps') IN ('integer', 'real');
DROP INDEX telemetry_event;
CREATE INDEX telemetry_event ON telemetry(event, at, aps);
