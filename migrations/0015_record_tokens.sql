-- Budgets per token (issue 16): a record keeps the name of the API or
-- gateway token that sent it (NULL for a file, the command line, the demo),
-- a reservation the name of the token that asked for it, and the daily
-- aggregates gain the dimension 6 (argus_domain::analytics::StoredDim::Token)
-- keyed by that name ('' for none), from which a `token:NAME` budget reads
-- its spend. Every record stored so far was sent by no token: its days go
-- to the key '' (each dimension of a day sums to the day's total).
ALTER TABLE records ADD COLUMN token TEXT;
ALTER TABLE reservations ADD COLUMN token TEXT;
INSERT INTO agg_daily (org_id, dim, day, key, requests, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, cost_nanos, unpriced_requests, cost_exa, cache_write_1h_tokens)
SELECT org_id, 6, day, '', requests, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, cost_nanos, unpriced_requests, cost_exa, cache_write_1h_tokens
FROM agg_daily WHERE dim = 0;
