-- `idx BIGINT PRIMARY KEY` is not SQLite's rowid alias (only the exact type name
-- `INTEGER PRIMARY KEY` is), so every record cost two B-tree inserts: the hidden rowid and a
-- separate unique index on idx. Rebuild the table with idx as the rowid: one insert, at
-- the end of the tree, per record. Same columns and values, so both backends share
-- `schema.rs`.
CREATE TABLE audit_records_new (
    idx INTEGER PRIMARY KEY NOT NULL,
    ts BIGINT NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT,
    recipient TEXT,
    purpose TEXT,
    bank TEXT,
    record TEXT NOT NULL
);
INSERT INTO audit_records_new (idx, ts, kind, user_id, recipient, purpose, bank, record)
SELECT idx, ts, kind, user_id, recipient, purpose, bank, record FROM audit_records ORDER BY idx;
DROP INDEX audit_records_by_user;
DROP TABLE audit_records;
ALTER TABLE audit_records_new RENAME TO audit_records;
CREATE INDEX audit_records_by_user ON audit_records (user_id, idx);
