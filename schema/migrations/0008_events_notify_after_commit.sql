-- A NOTIFY inside a transaction makes its commit take PostgreSQL's notification-queue lock while
-- it waits for the disk, so every event commit in the cluster queued behind the previous one's
-- flush. Writers now announce new events after their commit, from a separate short statement
-- (adapters/store: `EventAnnouncer`).
DROP TRIGGER events_notify ON events;
DROP FUNCTION events_notify();
