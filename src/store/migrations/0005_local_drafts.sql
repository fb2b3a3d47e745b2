-- Drafts CaseyOS writes from templates: the move a draft was written for (so it stays with
-- that move), the Message-ID CaseyOS gave it (to find it in Gmail after a crash) and the
-- References chain of the message it answers (to keep a reply in its thread).
ALTER TABLE drafts ADD COLUMN move_key TEXT;
ALTER TABLE drafts ADD COLUMN message_id_header TEXT;
ALTER TABLE drafts ADD COLUMN references_header TEXT;

-- When an outbox entry first became uncertain: a search-based check (HubSpot's search index
-- lags a create by seconds) is trusted only once it had time to see the record.
ALTER TABLE outbox ADD COLUMN uncertain_since TEXT;
