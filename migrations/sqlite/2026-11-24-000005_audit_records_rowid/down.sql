CREATE TABLE audit_records_old (
    idx BIGINT PRIMARY KEY NOT NULL,
    ts BIGINT NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT,
    recipient TEXT,
    purpose TEXT,
    bank TEXT,
    record TEXT NOT NULL
);
INSERT INTO audit_records_old (idx, ts, kind, user_id, recipient, purpose, bank, record)
SELECT idx, ts, kind, user_id, recipient, purpose, bank, record FROM audit_records ORDER BY idx;
DROP INDEX audit_records_by_user;
DROP TABLE audit_records;
ALTER TABLE audit_records_old RENAME TO audit_records;
CREATE INDEX audit_records_by_user ON audit_records (user_id, idx);
