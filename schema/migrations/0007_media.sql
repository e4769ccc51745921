-- Media files uploaded through the API: the bytes are kept (Meta's copy expires after 30 days)
-- with the id Meta gave them.

CREATE TABLE media (
    id              uuid PRIMARY KEY,
    workspace_id    uuid        NOT NULL,
    phone_number_id uuid        NOT NULL,
    meta_media_id   text        NOT NULL,
    mime_type       text        NOT NULL,
    file_name       text,
    size_bytes      bigint      NOT NULL,
    sha256          bytea       NOT NULL,
    bytes           bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX media_workspace ON media (workspace_id, created_at);
