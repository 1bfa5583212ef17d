-- Gateway-wide values generated once per database (shared by every node that uses it).
CREATE TABLE gateway_settings (
    name TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) WITHOUT ROWID;

-- Idempotency of bank transactions: the key and a keyed hash of the content, nothing else
-- (data minimisation, CONTRACT §5).
CREATE TABLE ingested_transactions (
    bank_id TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    content_hash BLOB NOT NULL,
    PRIMARY KEY (bank_id, txn_id)
) WITHOUT ROWID;

-- Idempotency of balances, keyed by (bank, account_ref, as_of in UTC).
CREATE TABLE ingested_balances (
    bank_id TEXT NOT NULL,
    account_ref TEXT NOT NULL,
    as_of TEXT NOT NULL,
    content_hash BLOB NOT NULL,
    PRIMARY KEY (bank_id, account_ref, as_of)
) WITHOUT ROWID;
