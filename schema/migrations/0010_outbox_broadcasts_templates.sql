-- The outbox grows three job kinds: a broadcast's message to one recipient, and a template's
-- creation, edit or deletion on Meta. One event may now yield many jobs (a broadcast's start
-- yields one per recipient), so a job is keyed by its event and its recipient.

ALTER TABLE outbox_jobs DROP CONSTRAINT outbox_jobs_aggregate_type_aggregate_id_sequence_key;
ALTER TABLE outbox_jobs ADD CONSTRAINT outbox_jobs_event_recipient
    UNIQUE (aggregate_type, aggregate_id, sequence, recipient);
-- Template jobs have no conversation or message.
ALTER TABLE outbox_jobs ALTER COLUMN conversation_id DROP NOT NULL;
ALTER TABLE outbox_jobs ALTER COLUMN message_id DROP NOT NULL;
-- The broadcast a send belongs to (a paused or cancelled broadcast holds its jobs back).
ALTER TABLE outbox_jobs ADD COLUMN broadcast_id uuid;
-- Lower goes first: conversations (0) before templates (1) before broadcasts (2), so a reply
-- never waits behind a broadcast of 100,000.
ALTER TABLE outbox_jobs ADD COLUMN priority smallint NOT NULL DEFAULT 0;
DROP INDEX outbox_jobs_due;
CREATE INDEX outbox_jobs_due ON outbox_jobs (priority, not_before, id) WHERE state = 'pending';
CREATE INDEX outbox_jobs_broadcast ON outbox_jobs (broadcast_id, state) WHERE broadcast_id IS NOT NULL;

-- The outbox projection's own copy of each draft broadcast's recipients, so starting a
-- broadcast can turn its audience into jobs within the projection's transaction.
CREATE TABLE outbox_broadcast_audience (
    broadcast_id uuid   NOT NULL,
    phone        text   NOT NULL,
    position     bigint NOT NULL,
    variables    jsonb  NOT NULL,
    PRIMARY KEY (broadcast_id, phone)
);

-- Broadcasts whose jobs must not be claimed: paused (until resumed) or cancelled.
CREATE TABLE outbox_held_broadcasts (
    broadcast_id uuid PRIMARY KEY,
    reason       text NOT NULL
);

-- Messaging-limit tiers: unique business-initiated recipients per number per rolling 24 h.
-- NULL means unlimited (or not known yet: Parley then assumes the entry tier, 250).
ALTER TABLE phone_number_throughput ALTER COLUMN messages_per_second DROP NOT NULL;
ALTER TABLE phone_number_throughput ADD COLUMN daily_recipients integer;
ALTER TABLE phone_number_throughput ADD COLUMN tier_known boolean NOT NULL DEFAULT false;
-- When each recipient last got a broadcast message from each number.
CREATE TABLE business_initiated_recipients (
    phone_number_id uuid        NOT NULL,
    recipient       text        NOT NULL,
    last_sent_at    timestamptz NOT NULL,
    PRIMARY KEY (phone_number_id, recipient)
);
CREATE INDEX business_initiated_recent ON business_initiated_recipients (phone_number_id, last_sent_at);

-- The outbox projection's record of each broadcast: the number it sends from and the
-- parameters every recipient's message carries.
CREATE TABLE outbox_broadcasts (
    broadcast_id    uuid  PRIMARY KEY,
    phone_number_id uuid  NOT NULL,
    base_components jsonb NOT NULL
);

-- Adaptive pacing: after Meta answers 130429 (throughput exceeded) the number's pace is divided
-- by `slowdown`, which then decays back to 1 as time passes without another 130429.
ALTER TABLE phone_number_throughput ADD COLUMN slowdown real NOT NULL DEFAULT 1.0;
ALTER TABLE phone_number_throughput ADD COLUMN slowed_at timestamptz;
