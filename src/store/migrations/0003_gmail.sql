-- Gmail sync: threading headers, sync bookkeeping, address links to contacts, draft message ids.

-- `References` as sent (In-Reply-To already has its column): a reply in thread needs both.
ALTER TABLE messages ADD COLUMN references_header TEXT;
-- Gmail's history id of the message's last change.
ALTER TABLE messages ADD COLUMN history_id TEXT;
-- Which full listing (a number counting up) last fetched the message: a listing refreshes every
-- message it lists and, once complete, removes those it did not (deleted in Gmail, or out of the
-- mirrored window). Messages fetched from the history between listings carry the current number.
ALTER TABLE messages ADD COLUMN listing INTEGER;
-- The sender looks automated from the headers alone (no-reply address, List-Unsubscribe), so a
-- label change can recompute `automated` without fetching the message again.
ALTER TABLE messages ADD COLUMN automated_sender INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN size_estimate INTEGER;
CREATE INDEX messages_listing ON messages(listing);

-- Every address on a message, lower-case: links messages to HubSpot contacts by email (a contact
-- mirrored after the message still finds it).
CREATE TABLE message_addresses (
    message_id TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('from', 'to', 'cc')),
    email      TEXT NOT NULL,
    PRIMARY KEY (message_id, role, email)
);
CREATE INDEX message_addresses_email ON message_addresses(email);
INSERT OR IGNORE INTO message_addresses(message_id, role, email)
    SELECT id, 'from', from_email FROM messages;
INSERT OR IGNORE INTO message_addresses(message_id, role, email)
    SELECT m.id, 'to', json_extract(j.value, '$.email') FROM messages m, json_each(m.to_json) j
    WHERE json_extract(j.value, '$.email') IS NOT NULL;
INSERT OR IGNORE INTO message_addresses(message_id, role, email)
    SELECT m.id, 'cc', json_extract(j.value, '$.email') FROM messages m, json_each(m.cc_json) j
    WHERE json_extract(j.value, '$.email') IS NOT NULL;

-- The Gmail message id behind a draft: it changes with every save, so an unchanged id means the
-- draft need not be fetched again.
ALTER TABLE drafts ADD COLUMN message_id TEXT;

-- Messages a Gmail listing found and has yet to fetch: listing ids first (page by page) and
-- fetching them after lets a thread spread over several pages be fetched once, whole, and
-- gives the fetch an exact total. Rows leave in the transaction that stores their thread.
CREATE TABLE gmail_pending (
    message_id TEXT PRIMARY KEY,
    thread_id  TEXT NOT NULL
);
CREATE INDEX gmail_pending_thread ON gmail_pending(thread_id);
