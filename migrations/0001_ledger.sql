-- The usage ledger: organisations, price versions, usage records, the daily
-- aggregates kept on write, the audit log and store metadata.
-- Instants are INTEGER nanoseconds since the Unix epoch (UTC).
-- Money is INTEGER nano-units (10^-9) of the row's currency: exact, summable.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE orgs (
    id         INTEGER PRIMARY KEY,
    slug       TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    currency   TEXT NOT NULL,
    timezone   TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Never edited in place: a change is a new version. org_id NULL is the
-- global catalogue; an organisation's versions take precedence.
CREATE TABLE price_versions (
    id                    INTEGER PRIMARY KEY,
    org_id                INTEGER REFERENCES orgs(id),
    provider              TEXT NOT NULL,
    model                 TEXT NOT NULL,
    effective_from        INTEGER NOT NULL,
    currency              TEXT NOT NULL,
    input_per_mtok        TEXT NOT NULL,
    output_per_mtok       TEXT NOT NULL,
    cached_input_per_mtok TEXT,
    cache_write_per_mtok  TEXT,
    source                TEXT,
    created_at            INTEGER NOT NULL
);
-- Re-importing the same version adds nothing.
CREATE UNIQUE INDEX price_versions_identity ON price_versions (
    ifnull(org_id, 0), provider, model, effective_from, currency,
    input_per_mtok, output_per_mtok, ifnull(cached_input_per_mtok, ''), ifnull(cache_write_per_mtok, '')
);

-- seq is the store's sequence number: rows are never deleted, so it only grows.
CREATE TABLE records (
    seq                 INTEGER PRIMARY KEY,
    org_id              INTEGER NOT NULL REFERENCES orgs(id),
    id                  TEXT NOT NULL,
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    operation           TEXT NOT NULL,
    investigation       TEXT,
    user_id             TEXT,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    status              TEXT NOT NULL,
    latency_ms          INTEGER,
    occurred_at         INTEGER NOT NULL,
    day                 INTEGER NOT NULL, -- organisation-local date, days since 1970-01-01
    cost_nanos          INTEGER,          -- NULL: unpriced
    currency            TEXT NOT NULL,
    price_id            INTEGER REFERENCES price_versions(id),
    recorded_at         INTEGER NOT NULL,
    content_hash        BLOB NOT NULL,
    UNIQUE (org_id, id)
);
CREATE INDEX records_org_time ON records (org_id, occurred_at);

-- Totals per organisation, local day and key of each stored dimension
-- (0 total, 1 provider, 2 model, 3 operation, 4 investigation, 5 user),
-- updated in the same transaction as the records they count.
CREATE TABLE agg_daily (
    org_id              INTEGER NOT NULL,
    dim                 INTEGER NOT NULL,
    day                 INTEGER NOT NULL,
    key                 TEXT NOT NULL,
    requests            INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    cost_nanos          INTEGER NOT NULL,
    unpriced_requests   INTEGER NOT NULL,
    PRIMARY KEY (org_id, dim, day, key)
) WITHOUT ROWID;

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    org_id  INTEGER REFERENCES orgs(id),
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    object  TEXT NOT NULL,
    before  TEXT,
    after   TEXT
);
CREATE INDEX audit_org ON audit (org_id, id);
