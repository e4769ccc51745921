-- Per-token rate limits for the REST surfaces: requests per fixed 15-minute window.
-- NULL means the default (1000 per window, adapters/store/src/rate_limits.rs).
ALTER TABLE api_tokens
    ADD COLUMN rate_limit_per_window integer CHECK (rate_limit_per_window > 0);

-- Requests counted per token and window, shared by every `parley serve` on the database: each
-- request is one upsert (`count = count + 1 RETURNING count`), so concurrent servers never lose
-- or double a count. Windows are aligned to the epoch (900 s), so every server agrees on them
-- without coordination. The first request of a token's new window deletes that token's older
-- windows in the same statement, so the table holds at most two rows per token.
--
-- UNLOGGED: the counts only matter for the current quarter hour; after a crash PostgreSQL
-- empties the table, which at worst gives every token a fresh window early, and in exchange the
-- per-request upsert writes no WAL.
CREATE UNLOGGED TABLE rate_limit_windows (
    token_id     uuid        NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    window_start timestamptz NOT NULL,
    count        integer     NOT NULL,
    PRIMARY KEY (token_id, window_start)
);
