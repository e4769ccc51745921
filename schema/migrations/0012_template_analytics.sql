-- Template analytics: what became of each template message we sent (sends, delivered, read,
-- failed per template) and which buttons customers tapped in reply (seed 003's button-click
-- analytics, per template and button and per customer). Folded by the `template_analytics`
-- projection from the PhoneNumber aggregate (which WABA a number is on, for the template's id)
-- and the Conversation aggregate (template sends, their statuses, customers' button replies).
-- Disposable, like every read model: `parley projections rebuild template_analytics` refolds it.

-- The WABA of each number, so a template send can be named by its Template aggregate id.
CREATE TABLE template_analytics_numbers (
    phone_number_id uuid PRIMARY KEY,   -- ours (the PhoneNumber aggregate's id)
    waba_id         text NOT NULL
);

-- Whose each conversation is: inbound replies carry only the conversation's id.
CREATE TABLE template_analytics_conversations (
    conversation_id uuid PRIMARY KEY,
    workspace_id    uuid NOT NULL,
    phone_number_id uuid NOT NULL,
    customer_wa_id  text NOT NULL
);

-- One row per template message we sent (in a conversation or a broadcast).
CREATE TABLE template_messages (
    message_id        uuid PRIMARY KEY,              -- our id of the message
    workspace_id      uuid        NOT NULL,
    template_id       uuid        NOT NULL,          -- the Template aggregate (workspace, WABA, name, language)
    template_name     text        NOT NULL,
    template_language text        NOT NULL,
    conversation_id   uuid        NOT NULL,
    broadcast_id      uuid,
    customer_wa_id    text        NOT NULL,
    wamid             text,                          -- Meta's id, once accepted
    status            text        NOT NULL,          -- queued | sent | failed | delivered | read
    status_rank       smallint    NOT NULL,          -- 0 queued < 1 sent < 2 failed < 3 delivered < 4 read
    queued_at         timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
-- Not unique: a wamid Meta reported twice must not stop the projection.
CREATE INDEX template_messages_by_wamid ON template_messages (wamid) WHERE wamid IS NOT NULL;
CREATE INDEX template_messages_by_template ON template_messages (template_id, status);

-- One row per button or list reply a customer sent in reply to one of our messages.
CREATE TABLE template_button_clicks (
    message_id          uuid PRIMARY KEY,            -- our id of the customer's reply
    workspace_id        uuid        NOT NULL,
    conversation_id     uuid        NOT NULL,
    phone_number_id     uuid        NOT NULL,
    customer_wa_id      text        NOT NULL,
    context_wamid       text        NOT NULL,        -- the message replied to
    -- The template message replied to; null while (or if never) the replied-to wamid is one of
    -- our template messages.
    template_message_id uuid,
    template_id         uuid,
    template_name       text,
    template_language   text,
    kind                text        NOT NULL,        -- quick_reply | button_reply | list_reply
    button_id           text        NOT NULL,        -- a quick reply's payload, a button's or row's id
    button_text         text        NOT NULL,
    clicked_at          timestamptz NOT NULL
);
CREATE INDEX template_button_clicks_by_template ON template_button_clicks (template_id, button_id)
    WHERE template_id IS NOT NULL;
CREATE INDEX template_button_clicks_recent
    ON template_button_clicks (workspace_id, clicked_at DESC, message_id DESC);
CREATE INDEX template_button_clicks_by_customer
    ON template_button_clicks (workspace_id, customer_wa_id, clicked_at DESC, message_id DESC);
CREATE INDEX template_button_clicks_unattributed ON template_button_clicks (context_wamid)
    WHERE template_id IS NULL;
