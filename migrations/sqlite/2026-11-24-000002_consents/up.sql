-- A user's consent: to whom (recipient), for which bank's data, for which purposes and
-- fields, until when. Times are Unix microseconds (UTC). A revocation sets `revoked_at`
-- and bumps `version` (which keys the decision cache); nothing is ever deleted.
CREATE TABLE consents (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    bank_id TEXT NOT NULL,
    purposes TEXT NOT NULL,      -- JSON array of purpose names
    fields TEXT NOT NULL,        -- JSON array of catalog field names
    granted_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoked_by TEXT,
    version BIGINT NOT NULL
);
-- Ingest looks up the consents of a record's user for the pushing bank.
CREATE INDEX consents_by_user_bank ON consents (user_id, bank_id);

-- The full history of every consent (granted, revoked), append-only.
CREATE TABLE consent_history (
    consent_id TEXT NOT NULL,
    event TEXT NOT NULL,         -- granted | revoked
    actor TEXT NOT NULL,         -- user:<sub>
    at BIGINT NOT NULL,
    PRIMARY KEY (consent_id, event)
) WITHOUT ROWID;

-- Release events waiting for delivery (the transactional outbox). The payload holds only
-- released members and is deleted once delivered; its audit record stays.
CREATE TABLE outbox_events (
    event_id TEXT PRIMARY KEY NOT NULL,
    recipient_id TEXT NOT NULL,
    event_type TEXT NOT NULL,    -- transaction.released | balance.released | consent.revoked
    consent_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    bank_id TEXT NOT NULL,
    purpose TEXT,
    created_at BIGINT NOT NULL,
    data TEXT NOT NULL,          -- JSON object of released members
    status TEXT NOT NULL,        -- pending | delivered | cancelled | dead_lettered
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox_events (status, next_attempt_at);
CREATE INDEX outbox_by_consent ON outbox_events (consent_id, status);
