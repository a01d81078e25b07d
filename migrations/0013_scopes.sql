-- Budgets per scope (issue 16): a budget covers the organisation ('org') or
-- the calls of one investigation, user, operation, provider or token
-- ('KIND:VALUE'); each scope has its own months and default, thresholds,
-- hard limit and spike factor (a decimal, or NULL: no spike alerts).
-- Alerts name their scope and kind: 'threshold' (threshold is the
-- percent), 'forecast' (once per month: the projection first exceeds the
-- amount; crosses_on is the date the amount is reached at that rate) and
-- 'spike' (once per day, day 'YYYY-MM-DD': the day's spend exceeds the
-- factor times the median of the 14 days before); threshold is 0 and day
-- '' where they do not apply. Each fires once per organisation, scope,
-- kind, month, threshold and day. A reservation keeps the keys of its
-- call, so that it holds its estimate against every scope it matches.
-- (Tables are rebuilt to change their keys; the store runs migrations with
-- foreign keys off and checks them before it commits.)
CREATE TABLE budgets_scoped (
    org_id       INTEGER NOT NULL REFERENCES orgs(id),
    scope        TEXT NOT NULL,
    month        TEXT NOT NULL,
    amount_nanos INTEGER NOT NULL,
    thresholds   TEXT NOT NULL,
    hard_limit   INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    spike_factor TEXT,
    PRIMARY KEY (org_id, scope, month)
) WITHOUT ROWID;
INSERT INTO budgets_scoped
SELECT org_id, 'org', month, amount_nanos, thresholds, hard_limit, version, updated_at, NULL FROM budgets;
DROP TABLE budgets;
ALTER TABLE budgets_scoped RENAME TO budgets;

CREATE TABLE alerts_scoped (
    id              INTEGER PRIMARY KEY,
    org_id          INTEGER NOT NULL REFERENCES orgs(id),
    scope           TEXT NOT NULL DEFAULT 'org',
    kind            TEXT NOT NULL DEFAULT 'threshold',
    month           TEXT NOT NULL,
    threshold       INTEGER NOT NULL,
    day             TEXT NOT NULL DEFAULT '',
    fired_at        INTEGER NOT NULL,
    spent_nanos     INTEGER NOT NULL,
    amount_nanos    INTEGER NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    remote_id       INTEGER,
    spent_exa       INTEGER NOT NULL DEFAULT 0,
    crosses_on      TEXT,
    UNIQUE (org_id, scope, kind, month, threshold, day)
);
INSERT INTO alerts_scoped (id, org_id, month, threshold, fired_at, spent_nanos, amount_nanos, acknowledged_at, acknowledged_by, remote_id, spent_exa)
SELECT id, org_id, month, threshold, fired_at, spent_nanos, amount_nanos, acknowledged_at, acknowledged_by, remote_id, spent_exa FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_scoped RENAME TO alerts;

ALTER TABLE reservations ADD COLUMN operation TEXT;
ALTER TABLE reservations ADD COLUMN investigation TEXT;
ALTER TABLE reservations ADD COLUMN user_id TEXT;
