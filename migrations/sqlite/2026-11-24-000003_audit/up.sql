-- The audit log (CONTRACT §9): one row per record, insert-only. `record` is the record's
-- RFC 8785 canonical JSON, the exact leaf input of the Merkle tree; the other columns are
-- copies kept for filtering.
CREATE TABLE audit_records (
    idx BIGINT PRIMARY KEY NOT NULL,
    ts BIGINT NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT,
    recipient TEXT,
    purpose TEXT,
    bank TEXT,
    record TEXT NOT NULL
);
CREATE INDEX audit_records_by_user ON audit_records (user_id, idx);

-- Hash tiles (as in tlog tiles / Tessera): tile (level, idx) holds up to 256 hashes of tree
-- level 8*level, nodes [256*idx, 256*idx + 256). Every complete subtree hash is derivable
-- from them with at most 7 hash levels, so proofs cost O(log n) tile reads.
CREATE TABLE audit_tiles (
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hashes BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- The tree head: the one row whose lock assigns dense indexes. `peaks` are the roots of the
-- complete subtrees of `size` (largest first), enough to keep appending.
CREATE TABLE audit_tree_head (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    size BIGINT NOT NULL,
    root BLOB NOT NULL,
    peaks BLOB NOT NULL
);
INSERT INTO audit_tree_head (id, size, root, peaks)
VALUES (1, 0, X'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', X'');

-- Signed checkpoints (C2SP tlog-checkpoint notes); sizes only grow.
CREATE TABLE audit_checkpoints (
    size BIGINT PRIMARY KEY NOT NULL,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Expired consents are recorded once (`consent.expired`) by a periodic job.
CREATE INDEX consents_by_expiry ON consents (expires_at);

-- The audit index of an outbox event's release record (the webhook's `audit.index`).
ALTER TABLE outbox_events ADD COLUMN audit_index BIGINT;
