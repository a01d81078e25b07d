-- The gateway: where each organisation's calls to a provider go, and model
-- aliases. Provider keys are never stored: `api_key_env` names an
-- environment variable of the serving process.
CREATE TABLE upstreams (
    org_id      INTEGER NOT NULL REFERENCES orgs(id),
    provider    TEXT NOT NULL,
    base_url    TEXT NOT NULL,
    api         TEXT NOT NULL,           -- 'openai' | 'anthropic'
    api_key_env TEXT,
    version     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, provider)
) WITHOUT ROWID;

-- A name callers use as `model`, standing for candidates tried in the
-- organisation's provider priority order.
CREATE TABLE model_aliases (
    org_id     INTEGER NOT NULL REFERENCES orgs(id),
    name       TEXT NOT NULL,
    targets    TEXT NOT NULL,            -- 'provider/model,provider/model'
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, name)
) WITHOUT ROWID;
