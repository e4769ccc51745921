-- The outbox: one job per event that needs Meta, derived from the event log by the `outbox`
-- projection (same transaction as its checkpoint, so exactly one job per event). Rows are never
-- deleted by a rebuild: refolding finds every job already present (ON CONFLICT DO NOTHING), so a
-- rebuild can never send anything twice.

CREATE TABLE outbox_jobs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The event the job comes from.
    aggregate_type   text        NOT NULL,
    aggregate_id     text        NOT NULL,
    sequence         bigint      NOT NULL,
    kind             text        NOT NULL,          -- send_message | mark_read
    conversation_id  uuid        NOT NULL,
    message_id       uuid        NOT NULL,
    phone_number_id  uuid        NOT NULL,          -- ours
    recipient        text        NOT NULL,          -- the customer's wa_id
    body             jsonb       NOT NULL,          -- Meta's request body, less nothing
    state            text        NOT NULL DEFAULT 'pending', -- pending | claimed | done | failed
    attempts         integer     NOT NULL DEFAULT 0,
    not_before       timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    -- A pair-rate slot already reserved for this job (so re-claiming does not book another).
    reserved_slot    timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    UNIQUE (aggregate_type, aggregate_id, sequence)
);
CREATE INDEX outbox_jobs_due ON outbox_jobs (not_before, id) WHERE state = 'pending';
CREATE INDEX outbox_jobs_leased ON outbox_jobs (lease_until) WHERE state = 'claimed';
CREATE INDEX outbox_jobs_message ON outbox_jobs (message_id);

-- Pacing shared by every worker process (GCRA): the theoretical arrival time per key, where a
-- key is a business number (`number:<uuid>`) or a number and a recipient (`pair:<uuid>:<wa_id>`).
CREATE TABLE send_pace (
    key        text PRIMARY KEY,
    tat        timestamptz NOT NULL
);

-- Per-number throughput (messages per second); numbers without a row use the configured default.
CREATE TABLE phone_number_throughput (
    phone_number_id     uuid PRIMARY KEY,
    messages_per_second integer NOT NULL CHECK (messages_per_second > 0)
);
