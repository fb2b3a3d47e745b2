-- The stored ranking counted by (actionable, in the Drafts view, kind, state): the header's and
-- `casey whats-up`'s counts, read from a few dozen rows instead of grouping every stored move
-- (~7 ms at 100k contacts, after every key). Kept exact by triggers on `ranked_moves`, in the
-- transaction of each change; a group that reaches zero goes.
CREATE TABLE ranked_groups (
    actionable INTEGER NOT NULL,
    in_drafts  INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    state      TEXT NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (actionable, in_drafts, kind, state)
);

INSERT INTO ranked_groups(actionable, in_drafts, kind, state, n)
    SELECT actionable, in_drafts, kind, state, count(*) FROM ranked_moves
    GROUP BY actionable, in_drafts, kind, state;

CREATE TRIGGER ranked_groups_ins AFTER INSERT ON ranked_moves
BEGIN
    INSERT INTO ranked_groups(actionable, in_drafts, kind, state, n)
        VALUES (NEW.actionable, NEW.in_drafts, NEW.kind, NEW.state, 1)
        ON CONFLICT(actionable, in_drafts, kind, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER ranked_groups_del AFTER DELETE ON ranked_moves
BEGIN
    UPDATE ranked_groups SET n = n - 1
        WHERE actionable = OLD.actionable AND in_drafts = OLD.in_drafts AND kind = OLD.kind AND state = OLD.state;
    DELETE FROM ranked_groups
        WHERE actionable = OLD.actionable AND in_drafts = OLD.in_drafts AND kind = OLD.kind AND state = OLD.state
          AND n <= 0;
END;

CREATE TRIGGER ranked_groups_upd AFTER UPDATE OF actionable, in_drafts, kind, state ON ranked_moves
WHEN OLD.actionable IS NOT NEW.actionable OR OLD.in_drafts IS NOT NEW.in_drafts
  OR OLD.kind IS NOT NEW.kind OR OLD.state IS NOT NEW.state
BEGIN
    UPDATE ranked_groups SET n = n - 1
        WHERE actionable = OLD.actionable AND in_drafts = OLD.in_drafts AND kind = OLD.kind AND state = OLD.state;
    DELETE FROM ranked_groups
        WHERE actionable = OLD.actionable AND in_drafts = OLD.in_drafts AND kind = OLD.kind AND state = OLD.state
          AND n <= 0;
    INSERT INTO ranked_groups(actionable, in_drafts, kind, state, n)
        VALUES (NEW.actionable, NEW.in_drafts, NEW.kind, NEW.state, 1)
        ON CONFLICT(actionable, in_drafts, kind, state) DO UPDATE SET n = n + 1;
END;

-- Moves are ranked by their score as shown, to a tenth of a point (`moves::rank_score`), so
-- the passing of a minute rewrites only the few whose shown score moved; the next re-timing
-- brings any last-digit difference of this rounding to the Rust one.
UPDATE ranked_moves SET score = round(score, 1);

-- One index orders the ranking for every filter (all, actionable, the Drafts view: the filter
-- columns ride along, so skipping what does not match reads the index alone). A score that
-- moves then rewrites one index entry instead of three; the counts' index is replaced by
-- `ranked_groups`.
DROP INDEX ranked_moves_rank;
DROP INDEX ranked_moves_all;
DROP INDEX ranked_moves_drafts;
DROP INDEX ranked_moves_counts;
CREATE INDEX ranked_moves_order ON ranked_moves(score DESC, key, actionable, in_drafts);
