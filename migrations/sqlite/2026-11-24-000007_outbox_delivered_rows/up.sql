-- A delivered event's row is deleted with its delivery (its audit records stay, and an
-- event without a row reads as delivered), so the outbox holds only what is still to send
-- or must stay visible (cancelled, dead-lettered). Rows already delivered go now.
DELETE FROM outbox_events WHERE status = 'delivered';
-- Revocations look events up by consent; the status is read from the row. Keeping it out of
-- the index spares an index update at every claim and outcome.
DROP INDEX outbox_by_consent;
CREATE INDEX outbox_by_consent ON outbox_events (consent_id);
