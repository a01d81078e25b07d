-- Rollups of investigation with user (issue 13): a question that involves
-- both and nothing of the kind of call (`--by investigation,user`,
-- `--user u3 --by investigation`, both search boxes) reads them instead of
-- the period's records.
--   shape 5: a local day's totals by investigation and user (provider,
--            model, operation and status are '');
--   shape 6: shape 5 by local month (period: the month's first day).
-- Kept on write with the other shapes of agg_cube (0011_cube.sql), in the
-- same transaction as the records.
CREATE TEMP TABLE pair_seed AS
SELECT org_id, day,
       CAST(julianday(date(day * 86400, 'unixepoch', 'start of month')) - 2440587.5 AS INTEGER) AS month_day,
       ifnull(investigation, '') AS inv, ifnull(user_id, '') AS usr,
       input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, cache_write_1h_tokens,
       ifnull(cost_nanos, 0) / 1000000000 AS units, ifnull(cost_nanos, 0) % 1000000000 AS rest,
       cost_nanos IS NULL AS unpriced
FROM records;

CREATE TEMP TABLE pair_sums AS
SELECT org_id, 5 AS shape, day AS period, inv, usr,
       count(*) AS n, sum(input_tokens) AS i, sum(output_tokens) AS o, sum(cached_input_tokens) AS c,
       sum(cache_write_tokens) AS w, sum(cache_write_1h_tokens) AS w1, sum(units) AS units, sum(rest) AS rest, sum(unpriced) AS u
FROM pair_seed GROUP BY org_id, day, inv, usr
UNION ALL
SELECT org_id, 6, month_day, inv, usr,
       count(*), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),
       sum(cache_write_tokens), sum(cache_write_1h_tokens), sum(units), sum(rest), sum(unpriced)
FROM pair_seed GROUP BY org_id, month_day, inv, usr;

-- As in 0011_cube.sql: cost = units * 10^9 + rest, split into exa and nanos.
INSERT INTO agg_cube
SELECT org_id, shape, period, '', '', '', '', inv, usr, n, i, o, c, w, w1,
       units / 1000000000 + ((units % 1000000000) * 1000000000 + rest) / 1000000000000000000,
       ((units % 1000000000) * 1000000000 + rest) % 1000000000000000000,
       u
FROM pair_sums;

DROP TABLE pair_sums;
DROP TABLE pair_seed;
