-- What the gateway knows of a call besides its usage: the model the
-- provider says served it, the time to the answer's first byte, whether the
-- token counts are an estimate (the provider's usage never arrived), and
-- which attempt of a failed-over call it was. NULL (0 for `estimated`) for
-- records that did not say.
ALTER TABLE records ADD COLUMN upstream_model TEXT;
ALTER TABLE records ADD COLUMN first_byte_ms INTEGER;
ALTER TABLE records ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN attempt INTEGER;
