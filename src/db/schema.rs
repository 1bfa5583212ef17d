//! Table definitions, kept identical for both backends (see `migrations/`).

diesel::table! {
    /// Gateway-wide values generated once per database.
    gateway_settings (name) {
        /// Setting name.
        name -> Text,
        /// Raw value.
        value -> Binary,
    }
}

diesel::table! {
    /// Idempotency keys of ingested transactions and a keyed hash of their content.
    ingested_transactions (bank_id, txn_id) {
        /// The pushing bank (from its certificate, never from the body).
        bank_id -> Text,
        /// The bank's transaction id.
        txn_id -> Text,
        /// HMAC-SHA256 of the canonical content under the gateway's content-hash key.
        content_hash -> Binary,
    }
}

diesel::table! {
    /// Idempotency keys of ingested balances and a keyed hash of their content.
    ingested_balances (bank_id, account_ref, as_of) {
        /// The pushing bank.
        bank_id -> Text,
        /// The bank's account reference.
        account_ref -> Text,
        /// The balance's `as_of`, normalised to UTC.
        as_of -> Text,
        /// HMAC-SHA256 of the canonical content.
        content_hash -> Binary,
    }
}

diesel::table! {
    /// Users' consents; revocation sets `revoked_at` and bumps `version`.
    consents (id) {
        /// UUIDv7.
        id -> Text,
        /// Owner: the token `sub` that granted it.
        user_id -> Text,
        /// Who may receive data.
        recipient_id -> Text,
        /// Whose data (the pushing bank).
        bank_id -> Text,
        /// JSON array of purpose names.
        purposes -> Text,
        /// JSON array of catalog field names.
        fields -> Text,
        /// Unix microseconds.
        granted_at -> BigInt,
        /// Unix microseconds.
        expires_at -> BigInt,
        /// Unix microseconds, once revoked.
        revoked_at -> Nullable<BigInt>,
        /// Who revoked it.
        revoked_by -> Nullable<Text>,
        /// Bumped on every change; keys the decision cache.
        version -> BigInt,
    }
}

diesel::table! {
    /// Append-only history of consents.
    consent_history (consent_id, event) {
        /// The consent.
        consent_id -> Text,
        /// `granted` or `revoked`.
        event -> Text,
        /// `user:<sub>`.
        actor -> Text,
        /// Unix microseconds.
        at -> BigInt,
    }
}

diesel::table! {
    /// Release events awaiting delivery (transactional outbox).
    outbox_events (event_id) {
        /// UUIDv7; the webhook id.
        event_id -> Text,
        /// Recipient id.
        recipient_id -> Text,
        /// `transaction.released`, `balance.released` or `consent.revoked`.
        event_type -> Text,
        /// The consent it was released under.
        consent_id -> Text,
        /// The user the data is about.
        user_id -> Text,
        /// The bank the data came from.
        bank_id -> Text,
        /// The purpose (none for `consent.revoked`).
        purpose -> Nullable<Text>,
        /// Unix microseconds.
        created_at -> BigInt,
        /// JSON object of the released members.
        data -> Text,
        /// `pending`, `sending` (claimed by a delivery worker), `cancelled` or
        /// `dead_lettered`; a delivered event's row is deleted.
        status -> Text,
        /// Delivery attempts made.
        attempts -> Integer,
        /// Unix microseconds of the next attempt.
        next_attempt_at -> BigInt,
        /// Index of the release record in the audit log.
        audit_index -> Nullable<BigInt>,
        /// The delivery claim allowed to record the attempt in flight (see `delivery::outbox`).
        claim_token -> Nullable<Text>,
        /// `created_at` in whole seconds while a consent lookup must find the row (undelivered,
        /// or cancelled with an attempt in flight); NULL once finished (see `delivery::outbox`).
        epoch -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// The audit log: insert-only bundles of consecutive records (see `audit::bundle`).
    audit_bundles (first_idx) {
        /// Dense 0-based leaf index of the bundle's first record.
        first_idx -> BigInt,
        /// Records in the bundle.
        count -> Integer,
        /// Smallest `ts` of its records (Unix microseconds).
        ts_min -> BigInt,
        /// Largest `ts` of its records.
        ts_max -> BigInt,
        /// Bit set of its records' kinds (`audit::bundle::kind_bit`).
        kinds -> BigInt,
        /// 0: NDJSON as is; 1: LZ4 block of NDJSON.
        encoding -> SmallInt,
        /// The records' RFC 8785 canonical JSON, one per line: the leaf inputs.
        records -> Binary,
    }
}

diesel::table! {
    /// Which records are about which user (the access log's index).
    audit_by_user (epoch, user_id, idx) {
        /// `idx / 4096`: keeps one commit's entries together.
        epoch -> BigInt,
        /// The record's `user_id`.
        user_id -> Text,
        /// The record's index.
        idx -> BigInt,
    }
}

diesel::table! {
    /// Merkle hash tiles: up to 256 hashes of tree level `8 * level`.
    audit_tiles (level, idx) {
        /// Tile level.
        level -> Integer,
        /// Tile index within its level.
        idx -> BigInt,
        /// Concatenated 32-byte hashes.
        hashes -> Binary,
    }
}

diesel::table! {
    /// The one tree-head row (its lock assigns indexes).
    audit_tree_head (id) {
        /// Always 1.
        id -> Integer,
        /// Leaves in the tree.
        size -> BigInt,
        /// Root hash of the tree.
        root -> Binary,
        /// Roots of the complete subtrees of `size`, largest first.
        peaks -> Binary,
    }
}

diesel::table! {
    /// Signed checkpoints.
    audit_checkpoints (size) {
        /// Tree size signed.
        size -> BigInt,
        /// Root hash signed.
        root -> Binary,
        /// The C2SP signed note.
        note -> Text,
        /// Unix microseconds.
        created_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    gateway_settings,
    ingested_transactions,
    ingested_balances,
    consents,
    consent_history,
    outbox_events,
    audit_bundles,
    audit_by_user,
    audit_tiles,
    audit_tree_head,
    audit_checkpoints,
);
