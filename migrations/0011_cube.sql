-- Rollups for filtered and two-grouping summaries (issue 13).
--
-- agg_daily answers one grouping of all records. A filter, or a second
-- grouping, needs totals by several attributes at once: agg_cube keeps them
-- per organisation, shape and period (a local day, or the first day of a
-- local month: days since 1970-01-01), keyed by the attributes a summary filters or groups by, updated in the
-- same transaction as the records (argus_store::aggregates::Delta), so the
-- rollups always equal the records.
--   shape 0: a local day's totals by provider, model, operation, status and
--            investigation (user_id is '');
--   shape 1: the same with user instead of investigation (investigation '');
--   shape 3: shape 0 by local month (period: the month's first day);
--   shape 4: shape 1 by local month.
-- A summary reads the rollup that holds what it filters and groups by: the
-- monthly one for the whole months of its range (unless it groups by day
-- or week), the daily one for its other whole days, and the records for
-- the partial days at its edges. A question that involves both an investigation and a user reads
-- the period's records: a rollup by both (or by all six) holds about as
-- many rows as the records of busy days and would halve the speed of
-- ingest (docs/benchmarks.md).
-- A missing investigation or user is ''. Money in two parts as in
-- 0006_wide_sums.sql.
CREATE TABLE agg_cube (
    org_id                INTEGER NOT NULL,
    shape                 INTEGER NOT NULL,
    period                INTEGER NOT NULL,
    provider              TEXT NOT NULL,
    model                 TEXT NOT NULL,
    operation             TEXT NOT NULL,
    status                TEXT NOT NULL,
    investigation         TEXT NOT NULL,
    user_id               TEXT NOT NULL,
    requests              INTEGER NOT NULL,
    input_tokens          INTEGER NOT NULL,
    output_tokens         INTEGER NOT NULL,
    cached_input_tokens   INTEGER NOT NULL,
    cache_write_tokens    INTEGER NOT NULL,
    cache_write_1h_tokens INTEGER NOT NULL,
    cost_exa              INTEGER NOT NULL,
    cost_nanos            INTEGER NOT NULL,
    unpriced_requests     INTEGER NOT NULL,
    PRIMARY KEY (org_id, shape, period, provider, model, operation, status, investigation, user_id)
) WITHOUT ROWID;

-- The records stored before this migration. A record's cost fits 64 bits,
-- so its units (cost / 10^9) and the rest (cost % 10^9) each sum without
-- overflow; they are then split into exa and nanos.
CREATE TEMP TABLE cube_seed AS
SELECT org_id, day,
       CAST(julianday(date(day * 86400, 'unixepoch', 'start of month')) - 2440587.5 AS INTEGER) AS month_day,
       provider, model, operation, status,
       ifnull(investigation, '') AS inv, ifnull(user_id, '') AS usr,
       input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, cache_write_1h_tokens,
       ifnull(cost_nanos, 0) / 1000000000 AS units, ifnull(cost_nanos, 0) % 1000000000 AS rest,
       cost_nanos IS NULL AS unpriced
FROM records;

CREATE TEMP TABLE cube_sums AS
SELECT org_id, 0 AS shape, day AS period, provider, model, operation, status, inv, '' AS usr,
       count(*) AS n, sum(input_tokens) AS i, sum(output_tokens) AS o, sum(cached_input_tokens) AS c,
       sum(cache_write_tokens) AS w, sum(cache_write_1h_tokens) AS w1, sum(units) AS units, sum(rest) AS rest, sum(unpriced) AS u
FROM cube_seed GROUP BY org_id, day, provider, model, operation, status, inv
UNION ALL
SELECT org_id, 1, day, provider, model, operation, status, '', usr,
       count(*), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),
       sum(cache_write_tokens), sum(cache_write_1h_tokens), sum(units), sum(rest), sum(unpriced)
FROM cube_seed GROUP BY org_id, day, provider, model, operation, status, usr
UNION ALL
SELECT org_id, 3, month_day, provider, model, operation, status, inv, '',
       count(*), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),
       sum(cache_write_tokens), sum(cache_write_1h_tokens), sum(units), sum(rest), sum(unpriced)
FROM cube_seed GROUP BY org_id, month_day, provider, model, operation, status, inv
UNION ALL
SELECT org_id, 4, month_day, provider, model, operation, status, '', usr,
       count(*), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),
       sum(cache_write_tokens), sum(cache_write_1h_tokens), sum(units), sum(rest), sum(unpriced)
FROM cube_seed GROUP BY org_id, month_day, provider, model, operation, status, usr;

-- cost = units * 10^9 + rest = (units / 10^9) * 10^18 + x, x = (units % 10^9) * 10^9 + rest.
INSERT INTO agg_cube
SELECT org_id, shape, period, provider, model, operation, status, inv, usr, n, i, o, c, w, w1,
       units / 1000000000 + ((units % 1000000000) * 1000000000 + rest) / 1000000000000000000,
       ((units % 1000000000) * 1000000000 + rest) % 1000000000000000000,
       u
FROM cube_sums;

DROP TABLE cube_sums;
DROP TABLE cube_seed;
