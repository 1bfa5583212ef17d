ALTER TABLE outbox_events DROP COLUMN audit_index;
DROP INDEX consents_by_expiry;
DROP TABLE audit_checkpoints;
DROP TABLE audit_tree_head;
DROP TABLE audit_tiles;
DROP TABLE audit_records;
