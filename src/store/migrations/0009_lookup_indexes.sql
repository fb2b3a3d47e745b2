-- Associations looked up by their target (every deal of a contact, every task of a deal):
-- `from_type = ? AND to_type = ? AND to_id = ?`. With only (to_type, to_id) indexed, SQLite
-- chose the primary key's `from_type` prefix instead and walked every association of that type
-- (tens of thousands of rows per lookup on a big mirror). This index answers the whole lookup
-- from the index alone and replaces the old one, its prefix.
CREATE INDEX associations_target ON associations(to_type, to_id, from_type, from_id);
DROP INDEX associations_to;

-- The revenue scale (every open deal's amount and stage) read from an index of a few pages
-- instead of every deal row with its vendor JSON.
CREATE INDEX deals_scale ON deals(stage_id, amount);

-- Per-address mail figures (the last exchange, whether the operator wrote to it, whether it
-- wrote back) as two index seeks: each address row says whether it counts (`dir`: 1 our
-- non-automated mail to the address as To or Cc, 2 its non-automated mail to us as From, NULL
-- anything else) and when its message was sent, so an address on tens of thousands of messages
-- (a colleague on copy, a notification sender) is not walked message by message. The index
-- holds only the rows that count. The writers keep both columns in step with `messages`.
ALTER TABLE message_addresses ADD COLUMN dir INTEGER;
ALTER TABLE message_addresses ADD COLUMN at TEXT;
UPDATE message_addresses SET
    at = m.at,
    dir = CASE WHEN m.automated THEN NULL
               WHEN m.outbound AND message_addresses.role <> 'from' THEN 1
               WHEN NOT m.outbound AND message_addresses.role = 'from' THEN 2 END
    FROM messages m WHERE m.id = message_addresses.message_id;
CREATE INDEX message_addresses_dir ON message_addresses(email, dir, at) WHERE dir IS NOT NULL;

-- A message's address rows go with it, whoever deletes it (`casey forget` removes any row that
-- names the person, a message by its sender's display name too): the figures above read the
-- address rows alone, so none may outlive its message.
CREATE TRIGGER message_addresses_follow AFTER DELETE ON messages
BEGIN
    DELETE FROM message_addresses WHERE message_id = OLD.id;
END;
