-- Money totals that can never overflow nor turn into a REAL.
--
-- SQLite turns an INTEGER sum that passes 2^63 into a REAL, silently; a
-- total of nano-units reaches that at 9.2 billion in the currency. A kept
-- total is therefore two integers: `*_exa` counts 10^18 nano-units (a
-- billion in the currency) and `*_nanos` the rest, kept strictly between
-- -10^18 and 10^18 by every update (so adding one delta, itself split the
-- same way, can never pass 2^63). The value is exa * 10^18 + nanos, read
-- into an i128 (argus_store::wide).
ALTER TABLE agg_daily ADD COLUMN cost_exa INTEGER NOT NULL DEFAULT 0;
UPDATE agg_daily SET cost_exa = cost_nanos / 1000000000000000000, cost_nanos = cost_nanos % 1000000000000000000
    WHERE typeof(cost_nanos) = 'integer' AND abs(cost_nanos) >= 1000000000000000000;

ALTER TABLE reservation_totals ADD COLUMN open_exa INTEGER NOT NULL DEFAULT 0;
UPDATE reservation_totals SET open_exa = open_nanos / 1000000000000000000, open_nanos = open_nanos % 1000000000000000000
    WHERE typeof(open_nanos) = 'integer' AND abs(open_nanos) >= 1000000000000000000;

ALTER TABLE alerts ADD COLUMN spent_exa INTEGER NOT NULL DEFAULT 0;
