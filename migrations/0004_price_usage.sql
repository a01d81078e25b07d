-- How many records of each local day each price version costed, kept on
-- write like the other aggregates, so that a report lists the price
-- versions of a period without scanning its records.
CREATE TABLE agg_price_days (
    org_id   INTEGER NOT NULL,
    day      INTEGER NOT NULL,
    price_id INTEGER NOT NULL,
    records  INTEGER NOT NULL,
    PRIMARY KEY (org_id, day, price_id)
) WITHOUT ROWID;

INSERT INTO agg_price_days (org_id, day, price_id, records)
SELECT org_id, day, price_id, count(*) FROM records WHERE price_id IS NOT NULL GROUP BY org_id, day, price_id;
