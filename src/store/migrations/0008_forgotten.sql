-- People erased with `casey forget`, by the SHA-256 of their address (never the address), so
-- that a later sync leaves their records out.
CREATE TABLE forgotten (
    hash TEXT PRIMARY KEY,
    at   TEXT NOT NULL
);

-- The audit log stays append-only, with one exception: `casey forget` may redact a line that
-- names the person (its target, action or detail replaced by fixed redaction marks).
DROP TRIGGER audit_log_no_update;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
WHEN NOT (NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.actor = OLD.actor
          AND (NEW.detail = OLD.detail OR NEW.detail = '{"redacted":"a forgotten person"}')
          AND (NEW.target IS OLD.target OR NEW.target = '(forgotten)')
          AND (NEW.action = OLD.action OR NEW.action = 'redacted'))
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
