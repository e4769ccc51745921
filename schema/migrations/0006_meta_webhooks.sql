-- Every verified delivery of Meta's webhooks, stored raw before Meta gets its 200, so it can be
-- processed after a crash and replayed later. An identical redelivery is stored once.

CREATE TABLE meta_webhook_deliveries (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    body_sha256   bytea       NOT NULL UNIQUE,
    body          bytea       NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    redeliveries  integer     NOT NULL DEFAULT 0,
    processed_at  timestamptz,
    -- What processing found: counts of messages and statuses applied, unknown numbers, errors.
    outcome       jsonb
);
CREATE INDEX meta_webhook_deliveries_unprocessed ON meta_webhook_deliveries (id) WHERE processed_at IS NULL;
