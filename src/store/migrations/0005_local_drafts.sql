-- Drafts CaseyOS writes from templates: the move a draft was written for (so it stays with
-- that move), the Message-ID CaseyOS gave it (to find it in Gmail after a crash) and the
-- References chain of the message it answers (to keep a reply in its thread).
ALTER TABLE drafts ADD COLUMN move_key TEXT;
ALTER TABLE drafts ADD COLUMN message_id_header TEXT;
ALTER TABLE drafts ADD COLUMN references_header TEXT;
