//! An account balance as a bank pushes it (`POST /v1/balances`, CONTRACT §5).

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use super::catalog::BalanceField;
use super::content::ContentEncoder;
use super::field_error::{FieldError, JsonPointer};
use super::ids::{AccountRef, UserId};
use super::members::{Members, string};
use super::money::{AmountMinor, Currency};
use super::timestamp::{parse_timestamp, to_rfc3339, utc_key};

/// One balance, every member already valid; all members are required.
///
/// CAUTION: the derived `PartialEq` compares `as_of` as an instant (chrono ignores the
/// offset); compare [`Balance::content_bytes`] to decide idempotency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// The bank's reference for the account; routing data, never released.
    pub account_ref: AccountRef,
    /// Whose account it is; routing data, never released.
    pub user_id: UserId,
    /// The balance available to spend, in minor units.
    pub available_minor: AmountMinor,
    /// The booked balance, in minor units.
    pub ledger_minor: AmountMinor,
    /// The currency of both amounts.
    pub currency: Currency,
    /// The instant the balance describes, with the offset the bank wrote.
    pub as_of: DateTime<FixedOffset>,
}

impl Balance {
    /// Parses one element of the `balances` array found at `at`, reporting every bad member.
    pub fn from_json(value: &Value, at: &JsonPointer) -> Result<Self, Vec<FieldError>> {
        let mut members = Members::of(value, at, "a balance").map_err(|e| vec![e])?;
        let account_ref =
            members.required("account_ref", |v| string(v).and_then(AccountRef::parse));
        let user_id = members.required("user_id", |v| string(v).and_then(UserId::parse));
        let available_minor = members.required("available_minor", AmountMinor::from_json);
        let ledger_minor = members.required("ledger_minor", AmountMinor::from_json);
        let currency = members.required("currency", |v| string(v).and_then(Currency::parse));
        let as_of = members.required("as_of", |v| string(v).and_then(parse_timestamp));
        let errors = members.finish();

        match (
            account_ref,
            user_id,
            available_minor,
            ledger_minor,
            currency,
            as_of,
        ) {
            (
                Some(account_ref),
                Some(user_id),
                Some(available_minor),
                Some(ledger_minor),
                Some(currency),
                Some(as_of),
            ) if errors.is_empty() => Ok(Self {
                account_ref,
                user_id,
                available_minor,
                ledger_minor,
                currency,
                as_of,
            }),
            // INVARIANT: a `None` above always recorded an error (see `Members::finish`), so
            // this list is never empty.
            _ => Err(errors),
        }
    }

    /// The canonical encoding of every member, for the idempotency content hash; `as_of` is
    /// encoded as its UTC instant, so the offset it was written with does not matter.
    pub fn content_bytes(&self) -> Vec<u8> {
        let mut content = ContentEncoder::new("consentgate/balance/v1");
        content.member("account_ref", Some(self.account_ref.as_str()));
        content.member("user_id", Some(self.user_id.as_str()));
        content.member("available_minor", Some(&self.available_minor.to_string()));
        content.member("ledger_minor", Some(&self.ledger_minor.to_string()));
        content.member("currency", Some(self.currency.as_str()));
        content.member("as_of", Some(&self.as_of_utc_key()));
        content.finish()
    }

    /// `as_of` in UTC with fixed formatting and nanoseconds, such as
    /// `2026-11-24T10:00:00.000000000Z`: the `as_of` part of the idempotency key
    /// `(bank, account_ref, as_of)`, equal for equal instants whatever the offset.
    pub fn as_of_utc_key(&self) -> String {
        utc_key(&self.as_of)
    }

    /// The JSON value of a catalog field, as a release carries it in `data`.
    ///
    /// Every balance member is required, so this is always `Some`; it returns an `Option`
    /// to match [`crate::domain::Transaction::field_value`].
    pub fn field_value(&self, field: BalanceField) -> Option<Value> {
        Some(match field {
            BalanceField::AvailableMinor => Value::from(self.available_minor.get()),
            BalanceField::LedgerMinor => Value::from(self.ledger_minor.get()),
            BalanceField::Currency => Value::from(self.currency.as_str()),
            BalanceField::AsOf => Value::from(to_rfc3339(&self.as_of)),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn full() -> Value {
        json!({
            "account_ref": "acc-9",
            "user_id": "u-42",
            "available_minor": 250000,
            "ledger_minor": 260000,
            "currency": "USD",
            "as_of": "2026-11-24T10:00:00Z"
        })
    }

    fn with(changes: Value) -> Value {
        let mut value = full();
        for (name, change) in changes.as_object().unwrap() {
            value[name] = change.clone();
        }
        value
    }

    fn without(name: &str) -> Value {
        let mut value = full();
        value.as_object_mut().unwrap().remove(name);
        value
    }

    fn parse(value: &Value) -> Result<Balance, Vec<FieldError>> {
        Balance::from_json(value, &JsonPointer::root().member("balances").index(0))
    }

    fn errors(value: &Value) -> Vec<(String, String)> {
        parse(value)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.pointer, e.detail))
            .collect()
    }

    #[test]
    fn a_balance_with_every_member_is_parsed_into_its_values() {
        let b = parse(&full()).unwrap();
        assert_eq!(b.account_ref.as_str(), "acc-9");
        assert_eq!(b.user_id.as_str(), "u-42");
        assert_eq!(b.available_minor.get(), 250_000);
        assert_eq!(b.ledger_minor.get(), 260_000);
        assert_eq!(b.currency.as_str(), "USD");
        assert_eq!(b.as_of_utc_key(), "2026-11-24T10:00:00.000000000Z");
    }

    #[test]
    fn a_negative_balance_is_accepted() {
        let b = parse(&with(
            json!({"available_minor": -100, "ledger_minor": -100}),
        ))
        .unwrap();
        assert_eq!(b.available_minor.get(), -100);
    }

    #[test]
    fn every_member_of_a_balance_is_required() {
        for name in [
            "account_ref",
            "user_id",
            "available_minor",
            "ledger_minor",
            "currency",
            "as_of",
        ] {
            assert_eq!(
                errors(&without(name)),
                [(format!("/balances/0/{name}"), "is required".to_owned())],
                "{name}"
            );
            assert_eq!(
                errors(&with(json!({ name: null }))),
                [(format!("/balances/0/{name}"), "is required".to_owned())],
                "{name}"
            );
        }
    }

    #[test]
    fn an_unknown_member_of_a_balance_is_rejected_with_a_pointer_to_it() {
        assert_eq!(
            errors(&with(json!({"iban": "DE89370400440532013000"}))),
            [(
                "/balances/0/iban".to_owned(),
                "is not a member of a balance".to_owned()
            )]
        );
    }

    #[test]
    fn every_bad_member_of_a_balance_is_reported() {
        let value = with(json!({
            "account_ref": "acc 9",
            "ledger_minor": "260000",
            "currency": "usd",
            "as_of": "2026-11-24"
        }));
        let pointers: Vec<String> = errors(&value).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            pointers,
            [
                "/balances/0/account_ref",
                "/balances/0/ledger_minor",
                "/balances/0/currency",
                "/balances/0/as_of",
            ]
        );
    }

    #[test]
    fn an_as_of_without_an_offset_is_rejected() {
        let errors = errors(&with(json!({"as_of": "2026-11-24T10:00:00"})));
        assert_eq!(errors[0].0, "/balances/0/as_of");
        assert!(errors[0].1.contains("has no UTC offset"));
    }

    #[test]
    fn the_as_of_key_is_the_same_for_the_same_instant_at_different_offsets() {
        let utc = parse(&full()).unwrap();
        let tokyo = parse(&with(json!({"as_of": "2026-11-24T19:00:00+09:00"}))).unwrap();
        assert_eq!(utc.as_of_utc_key(), tokyo.as_of_utc_key());
        assert_eq!(utc.content_bytes(), tokyo.content_bytes());
    }

    #[test]
    fn the_as_of_key_differs_for_different_instants() {
        let a = parse(&full()).unwrap();
        let b = parse(&with(json!({"as_of": "2026-11-24T10:00:00.5Z"}))).unwrap();
        assert_ne!(a.as_of_utc_key(), b.as_of_utc_key());
        assert_eq!(b.as_of_utc_key(), "2026-11-24T10:00:00.500000000Z");
    }

    #[test]
    fn changing_any_member_changes_the_content() {
        let base = parse(&full()).unwrap().content_bytes();
        for change in [
            json!({"account_ref": "acc-10"}),
            json!({"user_id": "u-43"}),
            json!({"available_minor": 250001}),
            json!({"ledger_minor": 260001}),
            json!({"currency": "EUR"}),
            json!({"as_of": "2026-11-24T10:00:01Z"}),
        ] {
            let changed = parse(&with(change.clone())).unwrap().content_bytes();
            assert_ne!(changed, base, "{change}");
        }
    }

    #[test]
    fn swapping_available_and_ledger_changes_the_content() {
        let a = parse(&full()).unwrap();
        let b = parse(&with(
            json!({"available_minor": 260000, "ledger_minor": 250000}),
        ))
        .unwrap();
        assert_ne!(a.content_bytes(), b.content_bytes());
    }

    #[test]
    fn the_balance_content_is_labelled_as_a_balance_so_it_never_equals_a_transaction() {
        let content = parse(&full()).unwrap().content_bytes();
        assert!(content.windows(22).any(|w| w == b"consentgate/balance/v1"));
    }

    #[test]
    fn field_values_are_the_json_a_release_carries() {
        let b = parse(&with(json!({"as_of": "2026-11-24T19:00:00+09:00"}))).unwrap();
        let data: Vec<(&str, Option<Value>)> = BalanceField::ALL
            .into_iter()
            .map(|field| (field.member(), b.field_value(field)))
            .collect();
        assert_eq!(
            data,
            [
                ("available_minor", Some(json!(250000))),
                ("ledger_minor", Some(json!(260000))),
                ("currency", Some(json!("USD"))),
                ("as_of", Some(json!("2026-11-24T19:00:00+09:00"))),
            ]
        );
    }
}
