-- An integrator event's id is derived from its source key (UUIDv5), which is unique already, and
-- nothing looks events up by id: its own unique index only cost a random-key insert per event
-- (four per broadcast recipient).
ALTER TABLE integrator_events DROP CONSTRAINT integrator_events_id_key;
