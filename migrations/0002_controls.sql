-- Controls: budgets, alerts, provider settings, quota admissions,
-- reservations and provider health. Money in INTEGER nano-units.

-- month is 'YYYY-MM' or 'default'. version grows on every change.
CREATE TABLE budgets (
    org_id       INTEGER NOT NULL REFERENCES orgs(id),
    month        TEXT NOT NULL,
    amount_nanos INTEGER NOT NULL,
    thresholds   TEXT NOT NULL, -- JSON array of whole percents
    hard_limit   INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (org_id, month)
) WITHOUT ROWID;

-- Each threshold fires once per organisation and month: the UNIQUE
-- constraint makes that hold across processes and restarts.
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id),
    month           TEXT NOT NULL,
    threshold       INTEGER NOT NULL,
    fired_at        INTEGER NOT NULL,
    spent_nanos     INTEGER NOT NULL,
    amount_nanos    INTEGER NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    UNIQUE (org_id, month, threshold)
);

CREATE TABLE provider_settings (
    org_id       INTEGER NOT NULL REFERENCES orgs(id),
    provider     TEXT NOT NULL,
    enabled      INTEGER NOT NULL,
    priority     INTEGER NOT NULL,
    hourly_limit INTEGER,
    daily_limit  INTEGER,
    note         TEXT,
    version      INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (org_id, provider)
) WITHOUT ROWID;

-- One row per admitted request, kept 24 hours: the rolling windows count
-- them. n numbers a provider's admissions 1, 2, 3...: the count in a window
-- is the newest n minus the first n in the window, plus one (no scan).
CREATE TABLE admissions (
    org_id   INTEGER NOT NULL,
    provider TEXT NOT NULL,
    n        INTEGER NOT NULL,
    at       INTEGER NOT NULL,
    PRIMARY KEY (org_id, provider, n)
) WITHOUT ROWID;
CREATE INDEX admissions_window ON admissions (org_id, provider, at);

-- Estimated cost held against the budget from admission until the call's
-- record settles it or it expires.
CREATE TABLE reservations (
    id           TEXT PRIMARY KEY,
    org_id       INTEGER NOT NULL REFERENCES orgs(id),
    provider     TEXT NOT NULL,
    month        TEXT NOT NULL,
    amount_nanos INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    settled_at   INTEGER,
    record_seq   INTEGER
) WITHOUT ROWID;
CREATE INDEX reservations_open ON reservations (org_id, expires_at) WHERE settled_at IS NULL;

-- Sum of the open reservations of a month, kept on write, so that the
-- budget check reads one row. Reservations past their expiry still count
-- here until they are closed; readers subtract those (few) themselves.
CREATE TABLE reservation_totals (
    org_id     INTEGER NOT NULL,
    month      TEXT NOT NULL,
    open_nanos INTEGER NOT NULL,
    PRIMARY KEY (org_id, month)
) WITHOUT ROWID;

CREATE TABLE provider_health (
    org_id               INTEGER NOT NULL,
    provider             TEXT NOT NULL,
    consecutive_failures INTEGER NOT NULL,
    cooldown_until       INTEGER,
    last_outcome_at      INTEGER,
    PRIMARY KEY (org_id, provider)
) WITHOUT ROWID;
