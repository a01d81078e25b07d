-- Pricing as providers bill it.
--
-- A price version may be of a service tier (standard, batch, flex,
-- priority), may be a long-context tier (its rates price every token of a
-- record whose prompt exceeds `above_input_tokens`), may carry a rate for
-- input written to a cache kept an hour, and may say when the provider
-- retires the model. A record says its service tier (NULL: standard) and
-- its 1-hour cache writes, a fifth disjoint token kind, which the daily
-- aggregates total like the other four.
ALTER TABLE price_versions ADD COLUMN cache_write_1h_per_mtok TEXT;
ALTER TABLE price_versions ADD COLUMN service_tier TEXT NOT NULL DEFAULT 'standard';
ALTER TABLE price_versions ADD COLUMN above_input_tokens INTEGER;
ALTER TABLE price_versions ADD COLUMN deprecation_date TEXT;
DROP INDEX price_versions_identity;
CREATE UNIQUE INDEX price_versions_identity ON price_versions (
    ifnull(org_id, 0), provider, model, effective_from, currency, service_tier, ifnull(above_input_tokens, 0),
    input_per_mtok, output_per_mtok, ifnull(cached_input_per_mtok, ''), ifnull(cache_write_per_mtok, ''),
    ifnull(cache_write_1h_per_mtok, ''), ifnull(deprecation_date, '')
);

ALTER TABLE records ADD COLUMN service_tier TEXT;
ALTER TABLE records ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;

ALTER TABLE agg_daily ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
