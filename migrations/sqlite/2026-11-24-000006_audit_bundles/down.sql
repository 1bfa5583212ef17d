-- Bundles cannot be split back into rows in SQL (LZ4); this drops the log's records.
-- Restore from a backup taken before the upgrade instead of running it on a log you keep.
CREATE TABLE audit_records (
    idx INTEGER PRIMARY KEY NOT NULL,
    ts BIGINT NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT,
    recipient TEXT,
    purpose TEXT,
    bank TEXT,
    record TEXT NOT NULL
);
CREATE INDEX audit_records_by_user ON audit_records (user_id, idx);
DROP TABLE audit_by_user;
DROP TABLE audit_bundles;
