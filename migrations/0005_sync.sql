-- Sync: a store may follow one organisation of a central server.

-- The link (at most one per store). cursor is the server's `seq` of the
-- last record stored here: records are pulled after it, page by page, and
-- each page is stored with the cursor in one transaction.
CREATE TABLE sync_link (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    server         TEXT NOT NULL,
    org_id         INTEGER NOT NULL REFERENCES orgs(id),
    remote_org     TEXT NOT NULL,
    cursor         INTEGER NOT NULL DEFAULT 0,
    audit_cursor   INTEGER NOT NULL DEFAULT 0,
    prices_version INTEGER NOT NULL DEFAULT 0, -- the server's price-list version last pulled
    linked_at      INTEGER NOT NULL,
    last_synced_at INTEGER,
    last_error     TEXT,
    server_version TEXT
);

-- The server's price version ids, mapped to this store's.
CREATE TABLE remote_prices (
    org_id    INTEGER NOT NULL,
    remote_id INTEGER NOT NULL,
    local_id  INTEGER NOT NULL REFERENCES price_versions(id),
    PRIMARY KEY (org_id, remote_id)
) WITHOUT ROWID;

-- Local edits of configuration waiting to be pushed, one per object
-- (a second edit of the same object updates the first and keeps its base
-- version). state: pending, conflict (the server changed meanwhile: both
-- values kept until a person chooses) or refused (the server said no, e.g.
-- the token may not change configuration; retried on each sync).
CREATE TABLE sync_outbox (
    id             INTEGER PRIMARY KEY,
    org_id         INTEGER NOT NULL REFERENCES orgs(id),
    object         TEXT NOT NULL,
    payload        TEXT NOT NULL,
    base_version   INTEGER,
    state          TEXT NOT NULL,
    server_value   TEXT,
    server_version INTEGER,
    last_error     TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (org_id, object)
);

-- Entries and alerts pulled from the server keep the server's id.
ALTER TABLE audit ADD COLUMN remote_id INTEGER;
CREATE UNIQUE INDEX audit_remote ON audit (org_id, remote_id) WHERE remote_id IS NOT NULL;
ALTER TABLE alerts ADD COLUMN remote_id INTEGER;
