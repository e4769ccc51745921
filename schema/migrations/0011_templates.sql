-- The templates read model: one row per template (name and language on a WABA), its state as
-- the Template aggregate folds it, with the columns lists filter on.
CREATE TABLE templates (
    template_id      uuid PRIMARY KEY,
    workspace_id     uuid        NOT NULL,
    phone_number_id  uuid,
    waba_id          text        NOT NULL,
    name             text        NOT NULL,
    language         text        NOT NULL,
    category         text        NOT NULL,
    status           text        NOT NULL,
    meta_template_id text,
    deleted          boolean     NOT NULL,
    -- The aggregate's state (TemplateState as JSON): components, variables, reasons, scores.
    state            jsonb       NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX templates_workspace_waba ON templates (workspace_id, waba_id, name, language);
