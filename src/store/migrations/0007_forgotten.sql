-- People erased with `casey forget`, by the SHA-256 of their address (never the address), so
-- that a later sync leaves their records out.
CREATE TABLE forgotten (
    hash TEXT PRIMARY KEY,
    at   TEXT NOT NULL
);

-- The audit log stays append-only, with one exception: `casey forget` may redact a line that
-- names the person — its target and detail replaced by fixed marks, while someone is on the
-- forgotten list; when, who and what happened stay.
DROP TRIGGER audit_log_no_update;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
WHEN NOT (NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.actor = OLD.actor AND NEW.action = OLD.action
          AND (NEW.detail = OLD.detail OR NEW.detail = '{"redacted":"a forgotten person"}')
          AND (NEW.target IS OLD.target OR NEW.target = '(forgotten)')
          AND EXISTS (SELECT 1 FROM forgotten))
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
