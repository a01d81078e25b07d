-- The server: access tokens (hashed) and webhook deliveries.

-- A token belongs to one organisation and one role. Only the SHA-256 of the
-- token is stored; the token itself is shown once, when it is made.
CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY,
    org_id     INTEGER NOT NULL REFERENCES orgs(id),
    role       TEXT NOT NULL,
    name       TEXT NOT NULL,
    hash       BLOB NOT NULL UNIQUE,
    prefix     TEXT NOT NULL, -- the first characters, to tell tokens apart in lists
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- Where an organisation's alerts are POSTed. The signing secret is not
-- stored: it is derived from the server key and the version.
CREATE TABLE webhooks (
    org_id     INTEGER PRIMARY KEY REFERENCES orgs(id),
    url        TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- The outbox of webhook deliveries, written in the transaction that fires
-- the alert: delivered at least once, retried with backoff until a 2xx.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id),
    alert_id        INTEGER NOT NULL REFERENCES alerts(id),
    payload         TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    last_status     TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE delivered_at IS NULL;
