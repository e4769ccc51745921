-- Broadcasts and their recipients: read models folded by the `broadcasts` projection from the
-- Broadcast aggregate (lifecycle, audience) and the Conversation aggregate (what happened to each
-- recipient's message). Disposable, like every read model: `parley projections rebuild broadcasts`
-- refolds them from the event log.

CREATE TABLE broadcasts (
    broadcast_id     uuid PRIMARY KEY,
    workspace_id     uuid        NOT NULL,
    phone_number_id  uuid        NOT NULL,            -- ours (the PhoneNumber aggregate's id)
    name             text        NOT NULL,
    description      text,
    template         jsonb       NOT NULL,            -- the BroadcastTemplate: name, language, components
    template_id      uuid,                            -- the Template aggregate sending started with
    status           text        NOT NULL,            -- draft | scheduled | sending | paused | completed | failed | cancelled
    -- Recipients by their current status (maintained incrementally, never recounted). The funnel
    -- is derived: sent in all = sent + delivered + read, delivered in all = delivered + read.
    recipient_count  integer     NOT NULL DEFAULT 0,
    pending_count    integer     NOT NULL DEFAULT 0,
    sent_count       integer     NOT NULL DEFAULT 0,
    delivered_count  integer     NOT NULL DEFAULT 0,
    read_count       integer     NOT NULL DEFAULT 0,
    failed_count     integer     NOT NULL DEFAULT 0,
    skipped_count    integer     NOT NULL DEFAULT 0,
    pause_reason     text,                            -- a sentence for people, while paused
    pause_code       text,                            -- MANUAL | QUALITY_RED | TEMPLATE_UNAVAILABLE
    round            integer     NOT NULL DEFAULT 0,  -- the sending round (one more per retry of the failed)
    scheduled_at     timestamptz,
    started_at       timestamptz,
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,            -- the broadcast's latest event
    last_event_at    timestamptz NOT NULL             -- the latest event of the broadcast or of its messages
);
CREATE INDEX broadcasts_recent ON broadcasts (workspace_id, created_at DESC, broadcast_id DESC);
-- The scheduler (due scheduled broadcasts) and the completion check (sending or paused).
CREATE INDEX broadcasts_by_status ON broadcasts (status, scheduled_at);
CREATE INDEX broadcasts_sending_by_number ON broadcasts (phone_number_id) WHERE status = 'sending';

CREATE TABLE broadcast_recipients (
    broadcast_id uuid        NOT NULL,
    phone        text        NOT NULL,                -- E.164 with +
    position     bigint      NOT NULL,                -- insertion order (a sort key, not contiguous)
    name         text,
    variables    jsonb       NOT NULL DEFAULT '{}',
    status       text        NOT NULL,                -- pending | sent | failed | delivered | read | skipped
    status_rank  smallint    NOT NULL,                -- 0 pending < 1 sent < 2 failed < 3 delivered < 4 read; 5 skipped (final)
    message_id   uuid,                                -- the current round's message (none while draft or if skipped)
    wamid        text,
    error        text,                                -- Meta's code and title, or the skip reason as a sentence
    error_code   bigint,                              -- Meta's code of the first failure of this round's message
    skip_reason  text,                                -- OPTED_OUT | BLOCKED | INVALID_VARIABLES
    sent_at      timestamptz,
    delivered_at timestamptz,
    read_at      timestamptz,
    failed_at    timestamptz,
    round        integer     NOT NULL DEFAULT 0,      -- the round of message_id
    PRIMARY KEY (broadcast_id, phone)
);
-- Every conversation status event probes this index (most find nothing).
CREATE UNIQUE INDEX broadcast_recipients_message ON broadcast_recipients (message_id)
    WHERE message_id IS NOT NULL;
CREATE INDEX broadcast_recipients_by_status ON broadcast_recipients (broadcast_id, status, position);
CREATE INDEX broadcast_recipients_in_order ON broadcast_recipients (broadcast_id, position);
