-- Conversations, their messages and each message's status history: read models folded from the
-- Conversation aggregate by the `conversations` projection. Disposable, like every read model:
-- `parley projections rebuild conversations` refolds them from the event log.

CREATE TABLE conversations (
    id                       uuid PRIMARY KEY,
    workspace_id             uuid        NOT NULL,
    phone_number_id          uuid        NOT NULL,           -- ours (the PhoneNumber aggregate's id)
    customer_wa_id           text        NOT NULL,           -- digits, no +
    customer_profile_name    text,                           -- the latest WhatsApp profile name
    started_at               timestamptz NOT NULL,
    -- The latest message by its own time (queued, or sent by the customer); started_at until
    -- the first message is folded. The list's sort key.
    last_message_at          timestamptz NOT NULL,
    last_message_id          uuid,
    last_message_direction   text,                           -- inbound | outbound
    last_message_kind        text,
    last_message_preview     text,                           -- the start of its text, if it has any
    -- The customer's latest message (their clock): free-form messages may go out until +24h.
    last_inbound_at          timestamptz,
    unread_count             integer     NOT NULL DEFAULT 0,
    inbound_count            bigint      NOT NULL DEFAULT 0,
    outbound_count           bigint      NOT NULL DEFAULT 0,
    is_ai_agent_on           boolean     NOT NULL DEFAULT false,
    ai_agent_enabled_at      timestamptz,
    ai_agent_enabled_by      text,                           -- user | api | auto | default
    ai_agent_last_toggled_at timestamptz,
    -- Lead qualification, named as seed 000 names it.
    lead_status              text,
    lead_score               smallint,
    lead_company             text,
    lead_name                text,
    lead_notes               text,
    lead_source              text,
    lead_budget              text,
    lead_timeline            text,
    lead_industry            text,
    lead_job_title           text,
    lead_location            text,
    lead_qualification_date  timestamptz,
    raw_data                 jsonb,
    processed_data           jsonb,
    source_api               text,
    external_id              text,
    lead_last_updated        timestamptz,
    raw_data_stored_at       timestamptz,                    -- leadQualification.stored_at
    updated_at               timestamptz NOT NULL
);
-- The list is always newest first within a workspace; one index per filter it offers.
CREATE INDEX conversations_recent ON conversations (workspace_id, last_message_at DESC, id DESC);
CREATE INDEX conversations_number_recent
    ON conversations (workspace_id, phone_number_id, last_message_at DESC, id DESC);
CREATE INDEX conversations_unread_recent
    ON conversations (workspace_id, last_message_at DESC, id DESC) WHERE unread_count > 0;
CREATE INDEX conversations_ai_agent_recent
    ON conversations (workspace_id, last_message_at DESC, id DESC) WHERE is_ai_agent_on;
CREATE INDEX conversations_lead_status_recent
    ON conversations (workspace_id, lead_status, last_message_at DESC, id DESC);

CREATE TABLE messages (
    message_id          uuid PRIMARY KEY,                    -- ours
    conversation_id     uuid        NOT NULL,
    workspace_id        uuid        NOT NULL,
    direction           text        NOT NULL,                -- inbound | outbound
    wamid               text,                                -- Meta's id; outbound once accepted
    kind                text        NOT NULL,                -- text, image, template, button_reply, …
    content             jsonb       NOT NULL,                -- the event's OutboundContent or InboundContent
    text                text,                                -- the text it carries (body, caption, …)
    reply_to_message_id uuid,                                -- outbound: ours of the quoted message
    context_wamid       text,                                -- the wamid it quotes or replies to
    status              text        NOT NULL,                -- queued | sent | delivered | read | failed | received
    failure_code        bigint,
    failure_title       text,
    failure_message     text,
    failure_details     text,
    created_at          timestamptz NOT NULL,                -- queued, or sent by the customer
    received_at         timestamptz,                         -- inbound: when Parley recorded it
    sent_at             timestamptz,                         -- outbound: when Meta accepted it
    delivered_at        timestamptz,
    read_at             timestamptz,
    failed_at           timestamptz,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX messages_conversation_time ON messages (conversation_id, created_at, message_id);
CREATE UNIQUE INDEX messages_wamid ON messages (wamid) WHERE wamid IS NOT NULL;

-- One row per status event of a message, in the conversation's event order (`sequence`),
-- including reports that did not change the status (a failure after delivery).
CREATE TABLE message_status_history (
    message_id      uuid        NOT NULL,
    sequence        bigint      NOT NULL,                    -- the conversation event's sequence
    conversation_id uuid        NOT NULL,
    workspace_id    uuid        NOT NULL,
    status          text        NOT NULL,                    -- queued | sent | delivered | read | failed | received
    at              timestamptz NOT NULL,
    error_code      bigint,
    error_title     text,
    error_message   text,
    error_details   text,
    PRIMARY KEY (message_id, sequence)
);
