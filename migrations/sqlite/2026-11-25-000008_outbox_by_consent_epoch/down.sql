DROP INDEX outbox_by_consent;
CREATE INDEX outbox_by_consent ON outbox_events (consent_id);
ALTER TABLE outbox_events DROP COLUMN epoch;
