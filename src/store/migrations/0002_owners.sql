-- HubSpot owners: the users records belong to (`hubspot_owner_id`).
CREATE TABLE owners (
    id       TEXT PRIMARY KEY,
    email    TEXT,
    name     TEXT NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0
);
