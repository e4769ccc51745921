-- Read models: disposable, rebuilt from the event log by `parley projections rebuild`.
-- Every row carries its workspace.

CREATE TABLE phone_numbers (
    id                   uuid PRIMARY KEY,
    workspace_id         uuid        NOT NULL,
    phone_number_id      text        NOT NULL,
    waba_id              text        NOT NULL,
    waba_name            text,
    display_phone_number text        NOT NULL,
    display_name         text,
    verified_name        text,
    status               text        NOT NULL,
    has_access_token     boolean     NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);
CREATE INDEX phone_numbers_workspace ON phone_numbers (workspace_id, created_at);
CREATE UNIQUE INDEX phone_numbers_meta_id ON phone_numbers (phone_number_id);

CREATE TABLE contacts (
    id                       uuid PRIMARY KEY,
    workspace_id             uuid        NOT NULL,
    account_id               uuid        NOT NULL,
    phone                    text        NOT NULL,
    wa_id                    text        NOT NULL,
    name                     text        NOT NULL,
    email                    text,
    company                  text,
    tags                     text[]      NOT NULL DEFAULT '{}',
    groups                   text[]      NOT NULL DEFAULT '{}',
    is_opted_in              boolean     NOT NULL,
    opt_in_date              timestamptz,
    opt_out_date             timestamptz,
    is_blocked               boolean     NOT NULL DEFAULT false,
    custom_fields            jsonb       NOT NULL DEFAULT '{}',
    notes                    text,
    last_message_sent_at     timestamptz,
    last_message_received_at timestamptz,
    messages_sent_count      bigint      NOT NULL DEFAULT 0,
    messages_received_count  bigint      NOT NULL DEFAULT 0,
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL
);
CREATE INDEX contacts_account_name ON contacts (workspace_id, account_id, name, id);
CREATE UNIQUE INDEX contacts_account_phone ON contacts (account_id, phone);
CREATE INDEX contacts_tags ON contacts USING gin (tags);
CREATE INDEX contacts_groups ON contacts USING gin (groups);
