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
    -- Title, who, why, subject, action, times and the score's features (JSON).
    data       TEXT NOT NULL
);
CREATE INDEX ranked_moves_rank ON ranked_moves(actionable, score DESC, key);
CREATE INDEX ranked_moves_drafts ON ranked_moves(in_drafts, actionable, score DESC, key);
CREATE INDEX ranked_moves_unit ON ranked_moves(unit);
CREATE INDEX ranked_moves_contact ON ranked_moves(contact_id);
CREATE INDEX ranked_moves_company ON ranked_moves(company_id);
CREATE INDEX ranked_moves_deal ON ranked_moves(deal_id);
CREATE INDEX ranked_moves_draft ON ranked_moves(draft_id);
CREATE INDEX ranked_moves_email ON ranked_moves(email);

-- What changed since the last settle: (kind, id) of a record, an address, a move key, or
-- ('all', '') for a full re-detection (this migration, a config change, a new clock).
CREATE TABLE move_dirty (
    kind TEXT NOT NULL,
    id   TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
INSERT INTO move_dirty(kind, id) VALUES ('all', '');

CREATE INDEX IF NOT EXISTS drafts_thread ON drafts(thread_id);
CREATE INDEX IF NOT EXISTS drafts_move_key ON drafts(move_key);
CREATE INDEX IF NOT EXISTS associations_from ON associations(from_type, from_id, to_type);

CREATE TRIGGER dirty_message_ins AFTER INSERT ON messages
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('thread', NEW.thread_id); END;
CREATE TRIGGER dirty_message_upd AFTER UPDATE ON messages
BEGIN
    INSERT OR IGNORE INTO move_dirty VALUES ('thread', NEW.thread_id);
    INSERT OR IGNORE INTO move_dirty VALUES ('thread', OLD.thread_id);
    INSERT OR IGNORE INTO move_dirty SELECT 'email', email FROM message_addresses WHERE message_id = NEW.id;
END;
CREATE TRIGGER dirty_message_del AFTER DELETE ON messages
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('thread', OLD.thread_id); END;
CREATE TRIGGER dirty_address_ins AFTER INSERT ON message_addresses
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('email', NEW.email); END;
CREATE TRIGGER dirty_address_del AFTER DELETE ON message_addresses
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('email', OLD.email); END;

CREATE TRIGGER dirty_contact_ins AFTER INSERT ON contacts
BEGIN
    INSERT OR IGNORE INTO move_dirty VALUES ('contact', NEW.id);
    INSERT OR IGNORE INTO move_dirty SELECT 'person', NEW.email WHERE NEW.email IS NOT NULL;
END;
CREATE TRIGGER dirty_contact_upd AFTER UPDATE ON contacts
BEGIN
    INSERT OR IGNORE INTO move_dirty VALUES ('contact', NEW.id);
    INSERT OR IGNORE INTO move_dirty SELECT 'person', NEW.email
        WHERE NEW.email IS NOT NULL AND NEW.email IS NOT OLD.email;
    INSERT OR IGNORE INTO move_dirty SELECT 'person', OLD.email
        WHERE OLD.email IS NOT NULL AND NEW.email IS NOT OLD.email;
END;
CREATE TRIGGER dirty_contact_del AFTER DELETE ON contacts
BEGIN
    INSERT OR IGNORE INTO move_dirty VALUES ('contact', OLD.id);
    INSERT OR IGNORE INTO move_dirty SELECT 'person', OLD.email WHERE OLD.email IS NOT NULL;
END;

CREATE TRIGGER dirty_company_ins AFTER INSERT ON companies
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('company', NEW.id); END;
CREATE TRIGGER dirty_company_upd AFTER UPDATE ON companies
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('company', NEW.id); END;
CREATE TRIGGER dirty_company_del AFTER DELETE ON companies
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('company', OLD.id); END;

CREATE TRIGGER dirty_deal_ins AFTER INSERT ON deals
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('deal', NEW.id); END;
CREATE TRIGGER dirty_deal_upd AFTER UPDATE ON deals
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('deal', NEW.id); END;
CREATE TRIGGER dirty_deal_del AFTER DELETE ON deals
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('deal', OLD.id); END;

CREATE TRIGGER dirty_task_ins AFTER INSERT ON tasks
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('task', NEW.id); END;
CREATE TRIGGER dirty_task_upd AFTER UPDATE ON tasks
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('task', NEW.id); END;
CREATE TRIGGER dirty_task_del AFTER DELETE ON tasks
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('task', OLD.id); END;

CREATE TRIGGER dirty_note_ins AFTER INSERT ON notes
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('note', NEW.id); END;
CREATE TRIGGER dirty_note_upd AFTER UPDATE ON notes
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('note', NEW.id); END;
CREATE TRIGGER dirty_note_del AFTER DELETE ON notes
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('note', OLD.id); END;

CREATE TRIGGER dirty_assoc_ins AFTER INSERT ON associations
BEGIN
    INSERT OR IGNORE INTO move_dirty VALUES (CASE NEW.from_type WHEN 'companies' THEN 'company' ELSE substr(NEW.from_type, 1, length(NEW.from_type) - 1) END, NEW.from_id);
    INSERT OR IGNORE INTO move_dirty VALUES (CASE NEW.to_type WHEN 'companies' THEN 'company' ELSE substr(NEW.to_type, 1, length(NEW.to_type) - 1) END, NEW.to_id);
END;
CREATE TRIGGER dirty_assoc_del AFTER DELETE ON associations
BEGIN
    INSERT OR IGNORE INTO move_dirty VALUES (CASE OLD.from_type WHEN 'companies' THEN 'company' ELSE substr(OLD.from_type, 1, length(OLD.from_type) - 1) END, OLD.from_id);
    INSERT OR IGNORE INTO move_dirty VALUES (CASE OLD.to_type WHEN 'companies' THEN 'company' ELSE substr(OLD.to_type, 1, length(OLD.to_type) - 1) END, OLD.to_id);
END;

CREATE TRIGGER dirty_draft_ins AFTER INSERT ON drafts
BEGIN
    INSERT OR IGNORE INTO move_dirty VALUES ('draft', NEW.id);
    INSERT OR IGNORE INTO move_dirty SELECT 'thread', NEW.thread_id WHERE NEW.thread_id IS NOT NULL;
    INSERT OR IGNORE INTO move_dirty SELECT 'key', NEW.move_key WHERE NEW.move_key IS NOT NULL;
END;
CREATE TRIGGER dirty_draft_upd AFTER UPDATE ON drafts
BEGIN
    INSERT OR IGNORE INTO move_dirty VALUES ('draft', NEW.id);
    INSERT OR IGNORE INTO move_dirty SELECT 'thread', NEW.thread_id WHERE NEW.thread_id IS NOT NULL;
    INSERT OR IGNORE INTO move_dirty SELECT 'thread', OLD.thread_id WHERE OLD.thread_id IS NOT NULL;
    INSERT OR IGNORE INTO move_dirty SELECT 'key', NEW.move_key WHERE NEW.move_key IS NOT NULL;
    INSERT OR IGNORE INTO move_dirty SELECT 'key', OLD.move_key WHERE OLD.move_key IS NOT NULL;
END;
CREATE TRIGGER dirty_draft_del AFTER DELETE ON drafts
BEGIN
    INSERT OR IGNORE INTO move_dirty VALUES ('draft', OLD.id);
    INSERT OR IGNORE INTO move_dirty SELECT 'thread', OLD.thread_id WHERE OLD.thread_id IS NOT NULL;
    INSERT OR IGNORE INTO move_dirty SELECT 'key', OLD.move_key WHERE OLD.move_key IS NOT NULL;
END;

CREATE TRIGGER dirty_stage_ins AFTER INSERT ON stages
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('all', ''); END;
CREATE TRIGGER dirty_stage_upd AFTER UPDATE ON stages
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('all', ''); END;
CREATE TRIGGER dirty_stage_del AFTER DELETE ON stages
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('all', ''); END;

CREATE TRIGGER dirty_decision_ins AFTER INSERT ON decisions
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('state', NEW.move_key); END;
CREATE TRIGGER dirty_decision_upd AFTER UPDATE ON decisions
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('state', NEW.move_key); END;

CREATE TRIGGER dirty_outcome_ins AFTER INSERT ON outcomes
BEGIN INSERT OR IGNORE INTO move_dirty VALUES ('evidence', ''); END;
