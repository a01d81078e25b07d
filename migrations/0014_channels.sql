-- Alert channels: where an organisation's alerts go besides its webhook
-- (`alerts channel add`): a signed webhook, a Slack-compatible incoming
-- webhook, or e-mail over SMTP. No secret is stored: an SMTP password is
-- read at send time from the environment variable `password_env` names, and
-- a webhook channel's signing secret is derived from the server key.
-- A removed channel keeps its row (`removed_at`), so that past deliveries
-- still name where they went.
CREATE TABLE alert_channels (
    id           INTEGER PRIMARY KEY,
    org_id       INTEGER NOT NULL REFERENCES orgs(id),
    kind         TEXT NOT NULL CHECK (kind IN ('webhook', 'slack', 'email')),
    url          TEXT,
    email_to     TEXT,
    smtp         TEXT,
    email_from   TEXT,
    smtp_user    TEXT,
    password_env TEXT,
    created_at   INTEGER NOT NULL,
    removed_at   INTEGER
);
CREATE INDEX alert_channels_org ON alert_channels (org_id) WHERE removed_at IS NULL;

-- A delivery goes to the organisation's webhook (channel_id NULL, as
-- before) or to one channel; an alert is queued once a channel.
ALTER TABLE webhook_deliveries ADD COLUMN channel_id INTEGER REFERENCES alert_channels(id);
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (alert_id, channel_id) WHERE channel_id IS NOT NULL;
