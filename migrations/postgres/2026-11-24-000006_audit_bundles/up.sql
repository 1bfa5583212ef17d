-- Audit records stored in bundles, as transparency logs store entry bundles: one row per
-- writer commit (at most 1,024 records) instead of one row and one index entry per record.
-- A row holds its records' canonical JSON, one per line ('\n' after each: exactly the
-- lines of `consentgate audit export`), compressed with LZ4 (`encoding` 1) or as is
-- (`encoding` 0, what this migration writes for the records it moves). `ts_min`/`ts_max`
-- and `kinds` (bit i set when a record has the i-th kind of CONTRACT §9's list) let
-- filtered reads skip bundles without opening them; `verify` checks them against the
-- records.
CREATE TABLE audit_bundles (
    first_idx BIGINT PRIMARY KEY NOT NULL,
    count INTEGER NOT NULL CHECK (count > 0),
    ts_min BIGINT NOT NULL,
    ts_max BIGINT NOT NULL,
    kinds BIGINT NOT NULL,
    encoding SMALLINT NOT NULL,
    records BYTEA NOT NULL
);

-- Which records are about which user, for `GET /v1/me/access-log`. Keyed first by
-- `epoch` (= idx / 4096) so one commit's entries land in the few pages of the current
-- epoch, not at one random place per user in an index of the whole log.
CREATE TABLE audit_by_user (
    epoch BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    idx BIGINT NOT NULL,
    PRIMARY KEY (epoch, user_id, idx)
);

INSERT INTO audit_bundles (first_idx, count, ts_min, ts_max, kinds, encoding, records)
SELECT idx, 1, ts, ts,
       CASE kind WHEN 'ingest' THEN 1 WHEN 'release' THEN 2 WHEN 'withhold' THEN 4 WHEN 'consent.granted' THEN 8 WHEN 'consent.revoked' THEN 16 WHEN 'consent.expired' THEN 32 WHEN 'delivery.succeeded' THEN 64 WHEN 'delivery.failed' THEN 128 WHEN 'delivery.cancelled' THEN 256 WHEN 'delivery.dead_lettered' THEN 512 WHEN 'access.denied' THEN 1024 WHEN 'audit.query' THEN 2048 WHEN 'policy.loaded' THEN 4096 END,
       0, convert_to(record || E'\n', 'UTF8')
FROM audit_records ORDER BY idx;
INSERT INTO audit_by_user (epoch, user_id, idx)
SELECT idx / 4096, user_id, idx FROM audit_records WHERE user_id IS NOT NULL;
DROP INDEX audit_records_by_user;
DROP TABLE audit_records;
