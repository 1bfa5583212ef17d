-- The by-consent index was keyed by consent alone: every new event went to a random place
-- in an index of the whole outbox (one page written per event once the consents outnumber
-- the events of a commit), about 15% of ingest throughput under load. Now it is keyed by
-- `(epoch, consent_id)` with `epoch = created_at / 1 s`, so a commit's entries land in the
-- few pages of the current second. Only rows a consent lookup must find carry an epoch:
-- undelivered events and cancelled ones with an attempt still in flight. Finished rows
-- (dead-lettered, cancelled) hold NULL, so the epochs to search stay those of the backlog.
-- Every node is stopped while this runs (docs/operations.md), so no attempt is in flight:
-- only undelivered rows get an epoch. Only NULL or not matters for old rows; new ones
-- get `created_at` in whole seconds, as here (`delivery::outbox::EPOCH`).
ALTER TABLE outbox_events ADD COLUMN epoch BIGINT;
UPDATE outbox_events SET epoch = created_at / 1000000 WHERE status IN ('pending', 'sending');
DROP INDEX outbox_by_consent;
CREATE INDEX outbox_by_consent ON outbox_events (epoch, consent_id);
