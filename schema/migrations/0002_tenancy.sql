-- Workspaces own everything. They and their API tokens are access configuration, not business
-- state, so they are plain tables rather than aggregates.
CREATE TABLE workspaces (
    id         uuid PRIMARY KEY,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Tokens are stored only as a SHA-256 hash: they are 256-bit random values, so a fast hash suffices.
CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    workspace_id uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    token_hash   bytea       NOT NULL UNIQUE,
    label        text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_workspace ON api_tokens (workspace_id);
