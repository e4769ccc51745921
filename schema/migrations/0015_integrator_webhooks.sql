-- Integrators' side of the event log: the events they may see (the stream and webhooks read
-- them), the endpoints they register, and one delivery per endpoint and event with its attempts.

-- Derived from the event log by the `integrator_events` projection, in commit order. Never
-- emptied by a rebuild: positions are integrators' cursors and deliveries point at them, so a
-- refold only adds what is missing (`source_key` is unique).
CREATE TABLE integrator_events (
    position     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           uuid        NOT NULL UNIQUE,
    -- `aggregate_type/aggregate_id/sequence/event` of the domain event it came from.
    source_key   text        NOT NULL UNIQUE,
    workspace_id uuid        NOT NULL,
    event_type   text        NOT NULL,
    -- Deliveries with the same key (a conversation, a contact, …) reach an endpoint in order.
    ordering_key text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    payload      jsonb       NOT NULL
);
CREATE INDEX integrator_events_by_workspace ON integrator_events (workspace_id, position);

-- What the projection needs to know about an aggregate beyond its current event: its
-- workspace (only the first event names it) and a little context (the conversation's number,
-- customer, and AI-agent state before a change).
CREATE TABLE integrator_event_subjects (
    aggregate_type text  NOT NULL,
    aggregate_id   text  NOT NULL,
    workspace_id   uuid  NOT NULL,
    context        jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (aggregate_type, aggregate_id)
);

-- Endpoints are a workspace's configuration, like its tokens: plain rows, not an aggregate.
-- Signing secrets are sealed with PARLEY_SECRET_KEY (they must be readable to sign with).
CREATE TABLE webhook_endpoints (
    id                         uuid PRIMARY KEY,
    workspace_id               uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    url                        text        NOT NULL,
    description                text        NOT NULL DEFAULT '',
    -- Empty means every event type.
    event_types                text[]      NOT NULL DEFAULT '{}',
    active                     boolean     NOT NULL DEFAULT true,
    custom_headers             jsonb       NOT NULL DEFAULT '{}',
    secret_sealed              text        NOT NULL,
    -- During a rotation the previous secret signs too, until it expires.
    previous_secret_sealed     text,
    previous_secret_expires_at timestamptz,
    -- Paused endpoints keep their deliveries pending and get no attempts.
    paused_at                  timestamptz,
    paused_reason              text,
    -- Since when every attempt has failed (NULL after a success).
    failing_since              timestamptz,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_by_workspace ON webhook_endpoints (workspace_id);

CREATE TABLE webhook_deliveries (
    -- Sent as the delivery id: the same on every attempt.
    id               uuid PRIMARY KEY,
    endpoint_id      uuid        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_position   bigint      NOT NULL REFERENCES integrator_events (position),
    ordering_key     text        NOT NULL,
    state            text        NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- A worker holds the delivery until then; after a crash another may take it.
    lease_until      timestamptz,
    -- Retries run until this much time has passed since the first attempt (or the last replay).
    retrying_since   timestamptz,
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    delivered_at     timestamptz,
    dead_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, event_position)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_pending_order
    ON webhook_deliveries (endpoint_id, ordering_key, event_position) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at);

CREATE TABLE webhook_delivery_attempts (
    delivery_id  uuid             NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt      integer          NOT NULL,
    attempted_at timestamptz      NOT NULL,
    status_code  integer,
    latency_ms   double precision NOT NULL,
    error        text,
    PRIMARY KEY (delivery_id, attempt)
);
