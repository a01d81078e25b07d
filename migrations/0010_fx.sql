-- Costs in the organisation's currency.
--
-- Exchange rates: on `day` (days since 1970-01-01), 1 `from_currency` =
-- `rate` `to_currency` (decimal text). Never edited: a correction is a new
-- row of the same day, and the later one applies. org_id NULL: every
-- organisation's; otherwise the organisation's own, which comes first.
CREATE TABLE fx_rates (
    id            INTEGER PRIMARY KEY,
    org_id        INTEGER REFERENCES orgs(id),
    day           INTEGER NOT NULL,
    from_currency TEXT NOT NULL,
    to_currency   TEXT NOT NULL,
    rate          TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX fx_rates_identity ON fx_rates (ifnull(org_id, 0), from_currency, to_currency, day, rate);

-- A record priced in another currency keeps that cost and currency, and the
-- rate and its day that converted it; `cost_nanos` stays the cost in the
-- organisation's currency (what every total sums). A record whose day has
-- no known rate yet is unconverted: cost_nanos NULL (counted as unpriced),
-- source_* set, fx_* NULL, until reprice converts it.
ALTER TABLE records ADD COLUMN source_cost_nanos INTEGER;
ALTER TABLE records ADD COLUMN source_currency TEXT;
ALTER TABLE records ADD COLUMN fx_rate TEXT;
ALTER TABLE records ADD COLUMN fx_day INTEGER;
CREATE INDEX records_unconverted ON records (org_id) WHERE cost_nanos IS NULL AND source_currency IS NOT NULL;

-- How many records of each local day each rate converted, kept on write
-- like agg_price_days, so that a period's rates are known without a scan.
CREATE TABLE agg_fx_days (
    org_id          INTEGER NOT NULL,
    day             INTEGER NOT NULL,
    source_currency TEXT NOT NULL,
    fx_day          INTEGER NOT NULL,
    fx_rate         TEXT NOT NULL,
    records         INTEGER NOT NULL,
    PRIMARY KEY (org_id, day, source_currency, fx_day, fx_rate)
) WITHOUT ROWID;
