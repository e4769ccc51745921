-- A scheduled broadcast whose time came but which could not start (its template no longer
-- approved, say) goes back to draft; the read model keeps the reason for people until it is
-- scheduled again. Folded from `BroadcastScheduledStartRefused`.
ALTER TABLE broadcasts ADD COLUMN start_refusal text;
