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

diesel::allow_tables_to_appear_in_same_query!(
    gateway_settings,
    ingested_transactions,
    ingested_balances
);
