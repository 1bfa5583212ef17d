DROP TABLE outbox_events;
DROP TABLE consent_history;
DROP TABLE consents;
