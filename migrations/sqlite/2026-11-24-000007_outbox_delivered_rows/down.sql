-- Deleted delivered rows do not come back; without a row an event reads as delivered.
DROP INDEX outbox_by_consent;
CREATE INDEX outbox_by_consent ON outbox_events (consent_id, status);
