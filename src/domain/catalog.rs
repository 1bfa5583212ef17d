//! The field catalog (CONTRACT §6): the members that consents, policies and releases talk
//! about, named `<record>.<member>`.
//!
//! Routing members (`txn_id`, `user_id`, `account_ref`) are deliberately not here: they are
//! never released, and having no catalog name makes that impossible to get wrong.

use std::fmt;

use serde::{Serialize, Serializer};

/// Defines one record kind's field enum; the two kinds differ only in their prefix and members.
macro_rules! catalog_fields {
    (
        $(#[$meta:meta])*
        $name:ident, $record:literal,
        { $( $(#[$vmeta:meta])* $variant:ident => $member:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every field of the record kind, in catalog order.
            pub const ALL: [Self; [$($member),+].len()] = [$(Self::$variant),+];

            /// The full catalog name, such as `transaction.amount_minor`, as used in
            /// consents, policies, `released` and `withheld`.
            pub const fn catalog_name(self) -> &'static str {
                match self {
                    $( Self::$variant => concat!($record, ".", $member) ),+
                }
            }

            /// The member name in the bank's body and in a webhook's `data`, such as
            /// `amount_minor`.
            pub const fn member(self) -> &'static str {
                match self {
                    $( Self::$variant => $member ),+
                }
            }

            /// The field with this exact catalog name, if any; names are case-sensitive.
            pub fn from_catalog_name(name: &str) -> Option<Self> {
                Self::ALL.into_iter().find(|field| field.catalog_name() == name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.catalog_name())
            }
        }

        /// Serializes as the catalog name, the form every response uses.
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.catalog_name())
            }
        }
    };
}

catalog_fields! {
    /// A releasable member of a transaction.
    TransactionField, "transaction",
    {
        /// `transaction.amount_minor`
        AmountMinor => "amount_minor",
        /// `transaction.currency`
        Currency => "currency",
        /// `transaction.merchant_name`
        MerchantName => "merchant_name",
        /// `transaction.merchant_category_code`
        MerchantCategoryCode => "merchant_category_code",
        /// `transaction.merchant_city` (optional in a transaction)
        MerchantCity => "merchant_city",
        /// `transaction.merchant_country` (optional in a transaction)
        MerchantCountry => "merchant_country",
        /// `transaction.card_last4` (optional in a transaction)
        CardLast4 => "card_last4",
        /// `transaction.channel`
        Channel => "channel",
        /// `transaction.status`
        Status => "status",
        /// `transaction.occurred_at`
        OccurredAt => "occurred_at",
    }
}

catalog_fields! {
    /// A releasable member of a balance.
    BalanceField, "balance",
    {
        /// `balance.available_minor`
        AvailableMinor => "available_minor",
        /// `balance.ledger_minor`
        LedgerMinor => "ledger_minor",
        /// `balance.currency`
        Currency => "currency",
        /// `balance.as_of`
        AsOf => "as_of",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transaction_fields_are_exactly_those_of_the_contract_in_order() {
        let names: Vec<&str> = TransactionField::ALL
            .iter()
            .map(|f| f.catalog_name())
            .collect();
        assert_eq!(
            names,
            [
                "transaction.amount_minor",
                "transaction.currency",
                "transaction.merchant_name",
                "transaction.merchant_category_code",
                "transaction.merchant_city",
                "transaction.merchant_country",
                "transaction.card_last4",
                "transaction.channel",
                "transaction.status",
                "transaction.occurred_at",
            ]
        );
    }

    #[test]
    fn the_balance_fields_are_exactly_those_of_the_contract_in_order() {
        let names: Vec<&str> = BalanceField::ALL.iter().map(|f| f.catalog_name()).collect();
        assert_eq!(
            names,
            [
                "balance.available_minor",
                "balance.ledger_minor",
                "balance.currency",
                "balance.as_of",
            ]
        );
    }

    #[test]
    fn the_member_is_the_catalog_name_without_its_record_prefix() {
        for field in TransactionField::ALL {
            assert_eq!(
                format!("transaction.{}", field.member()),
                field.catalog_name()
            );
        }
        for field in BalanceField::ALL {
            assert_eq!(format!("balance.{}", field.member()), field.catalog_name());
        }
    }

    #[test]
    fn every_catalog_name_reads_back_as_its_field() {
        for field in TransactionField::ALL {
            assert_eq!(
                TransactionField::from_catalog_name(field.catalog_name()),
                Some(field)
            );
        }
        for field in BalanceField::ALL {
            assert_eq!(
                BalanceField::from_catalog_name(field.catalog_name()),
                Some(field)
            );
        }
    }

    #[test]
    fn routing_members_have_no_catalog_name() {
        for name in [
            "transaction.txn_id",
            "transaction.user_id",
            "balance.account_ref",
            "balance.user_id",
        ] {
            assert_eq!(TransactionField::from_catalog_name(name), None);
            assert_eq!(BalanceField::from_catalog_name(name), None);
        }
    }

    #[test]
    fn a_bare_member_a_wrong_prefix_or_other_case_is_not_a_catalog_name() {
        assert_eq!(TransactionField::from_catalog_name("amount_minor"), None);
        assert_eq!(
            TransactionField::from_catalog_name("balance.currency"),
            None
        );
        assert_eq!(
            BalanceField::from_catalog_name("transaction.currency"),
            None
        );
        assert_eq!(
            TransactionField::from_catalog_name("Transaction.Amount_Minor"),
            None
        );
    }

    #[test]
    fn a_field_serializes_and_displays_as_its_catalog_name() {
        assert_eq!(
            serde_json::to_value(TransactionField::CardLast4).unwrap(),
            serde_json::json!("transaction.card_last4")
        );
        assert_eq!(BalanceField::AsOf.to_string(), "balance.as_of");
    }
}
