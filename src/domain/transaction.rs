//! A card transaction as a bank pushes it (`POST /v1/transactions`, CONTRACT §5).

use std::fmt;

use chrono::{DateTime, FixedOffset};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::card::CardLast4;
use super::catalog::TransactionField;
use super::content::ContentEncoder;
use super::country::CountryCode;
use super::field_error::{FieldError, JsonPointer, echo};
use super::ids::{TxnId, UserId};
use super::members::{Members, string};
use super::merchant::{Mcc, MerchantCity, MerchantName};
use super::money::{AmountMinor, Currency};
use super::timestamp::{parse_timestamp, to_rfc3339, utc_key};

/// One transaction, every member already valid.
///
/// CAUTION: the derived `PartialEq` compares `occurred_at` as an instant (chrono ignores the
/// offset), while [`Transaction::field_value`] releases the offset too; compare
/// [`Transaction::content_bytes`] to decide idempotency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The bank's id for the transaction; routing data, never released.
    pub txn_id: TxnId,
    /// Whose transaction it is; routing data, never released.
    pub user_id: UserId,
    /// The amount in minor units; negative for refunds.
    pub amount_minor: AmountMinor,
    /// The currency of `amount_minor`.
    pub currency: Currency,
    /// The merchant's name.
    pub merchant_name: MerchantName,
    /// The merchant's ISO 18245 category code.
    pub merchant_category_code: Mcc,
    /// The merchant's city, when the bank sent one.
    pub merchant_city: Option<MerchantCity>,
    /// The merchant's country, when the bank sent one.
    pub merchant_country: Option<CountryCode>,
    /// The last four digits of the card, when the bank sent them.
    pub card_last4: Option<CardLast4>,
    /// How the card was used.
    pub channel: Channel,
    /// Where the transaction is in its life.
    pub status: TxnStatus,
    /// When it happened, with the offset the bank wrote.
    pub occurred_at: DateTime<FixedOffset>,
}

impl Transaction {
    /// Parses one element of the `transactions` array found at `at`.
    ///
    /// Every bad member is reported, not just the first; an absent or `null` optional member
    /// is absent, and a member the contract does not define is an error.
    pub fn from_json(value: &Value, at: &JsonPointer) -> Result<Self, Vec<FieldError>> {
        let mut members = Members::of(value, at, "a transaction").map_err(|e| vec![e])?;
        let txn_id = members.required("txn_id", |v| string(v).and_then(TxnId::parse));
        let user_id = members.required("user_id", |v| string(v).and_then(UserId::parse));
        let amount_minor = members.required("amount_minor", AmountMinor::from_json);
        let currency = members.required("currency", |v| string(v).and_then(Currency::parse));
        let merchant_name =
            members.required("merchant_name", |v| string(v).and_then(MerchantName::parse));
        let merchant_category_code =
            members.required("merchant_category_code", |v| string(v).and_then(Mcc::parse));
        let merchant_city =
            members.optional("merchant_city", |v| string(v).and_then(MerchantCity::parse));
        let merchant_country = members.optional("merchant_country", |v| {
            string(v).and_then(CountryCode::parse)
        });
        let card_last4 = members.optional("card_last4", |v| string(v).and_then(CardLast4::parse));
        let channel = members.required("channel", |v| string(v).and_then(Channel::parse));
        let status = members.required("status", |v| string(v).and_then(TxnStatus::parse));
        let occurred_at = members.required("occurred_at", |v| string(v).and_then(parse_timestamp));
        let errors = members.finish();

        match (
            txn_id,
            user_id,
            amount_minor,
            currency,
            merchant_name,
            merchant_category_code,
            merchant_city,
            merchant_country,
            card_last4,
            channel,
            status,
            occurred_at,
        ) {
            (
                Some(txn_id),
                Some(user_id),
                Some(amount_minor),
                Some(currency),
                Some(merchant_name),
                Some(merchant_category_code),
                Some(merchant_city),
                Some(merchant_country),
                Some(card_last4),
                Some(channel),
                Some(status),
                Some(occurred_at),
            ) if errors.is_empty() => Ok(Self {
                txn_id,
                user_id,
                amount_minor,
                currency,
                merchant_name,
                merchant_category_code,
                merchant_city,
                merchant_country,
                card_last4,
                channel,
                status,
                occurred_at,
            }),
            // INVARIANT: a `None` above always recorded an error (see `Members::finish`), so
            // this list is never empty.
            _ => Err(errors),
        }
    }

    /// The canonical encoding of every member, for the idempotency content hash.
    ///
    /// `occurred_at` is encoded as its UTC instant with nanoseconds, so `10:00:00Z` and
    /// `12:00:00+02:00` are the same content; an absent optional member is encoded apart
    /// from an empty one.
    pub fn content_bytes(&self) -> Vec<u8> {
        let mut content = ContentEncoder::new("consentgate/transaction/v1");
        content.member("txn_id", Some(self.txn_id.as_str()));
        content.member("user_id", Some(self.user_id.as_str()));
        content.member("amount_minor", Some(&self.amount_minor.to_string()));
        content.member("currency", Some(self.currency.as_str()));
        content.member("merchant_name", Some(self.merchant_name.as_str()));
        content.member(
            "merchant_category_code",
            Some(self.merchant_category_code.as_str()),
        );
        content.member(
            "merchant_city",
            self.merchant_city.as_ref().map(MerchantCity::as_str),
        );
        content.member(
            "merchant_country",
            self.merchant_country.as_ref().map(CountryCode::as_str),
        );
        content.member(
            "card_last4",
            self.card_last4.as_ref().map(CardLast4::as_str),
        );
        content.member("channel", Some(self.channel.as_str()));
        content.member("status", Some(self.status.as_str()));
        content.member("occurred_at", Some(&utc_key(&self.occurred_at)));
        content.finish()
    }

    /// The JSON value of a catalog field, as a release carries it in `data`; `None` when the
    /// transaction does not carry that optional member (withheld as `field_absent`).
    pub fn field_value(&self, field: TransactionField) -> Option<Value> {
        match field {
            TransactionField::AmountMinor => Some(Value::from(self.amount_minor.get())),
            TransactionField::Currency => Some(Value::from(self.currency.as_str())),
            TransactionField::MerchantName => Some(Value::from(self.merchant_name.as_str())),
            TransactionField::MerchantCategoryCode => {
                Some(Value::from(self.merchant_category_code.as_str()))
            }
            TransactionField::MerchantCity => self
                .merchant_city
                .as_ref()
                .map(|city| Value::from(city.as_str())),
            TransactionField::MerchantCountry => self
                .merchant_country
                .as_ref()
                .map(|country| Value::from(country.as_str())),
            TransactionField::CardLast4 => self
                .card_last4
                .as_ref()
                .map(|last4| Value::from(last4.as_str())),
            TransactionField::Channel => Some(Value::from(self.channel.as_str())),
            TransactionField::Status => Some(Value::from(self.status.as_str())),
            TransactionField::OccurredAt => Some(Value::from(to_rfc3339(&self.occurred_at))),
        }
    }
}

/// Defines a closed set of wire words; a word outside the set is an error listing the set.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal, $expected:literal,
        { $( $(#[$vmeta:meta])* $variant:ident => $word:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Parses the wire word, which is case-sensitive; the error is the detail message
            /// for the client.
            pub fn parse(s: &str) -> Result<Self, String> {
                match s {
                    $( $word => Ok(Self::$variant), )+
                    other => Err(format!(
                        concat!("`{}` is not ", $what, "; expected ", $expected),
                        echo(other)
                    )),
                }
            }

            /// The wire word.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $word ),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// How the card was used.
    Channel, "a channel", "`in_store`, `online` or `atm`",
    {
        /// At a terminal in a shop.
        InStore => "in_store",
        /// Card not present, on the web or in an app.
        Online => "online",
        /// At a cash machine.
        Atm => "atm",
    }
}

wire_enum! {
    /// Where a transaction is in its life.
    TxnStatus, "a transaction status", "`authorized`, `settled`, `refunded` or `declined`",
    {
        /// Approved, not yet settled.
        Authorized => "authorized",
        /// Settled.
        Settled => "settled",
        /// Refunded to the card holder.
        Refunded => "refunded",
        /// Refused.
        Declined => "declined",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn full() -> Value {
        json!({
            "txn_id": "t-000123",
            "user_id": "u-42",
            "amount_minor": 1299,
            "currency": "USD",
            "merchant_name": "Blue Bottle Coffee",
            "merchant_category_code": "5814",
            "merchant_city": "Oakland",
            "merchant_country": "US",
            "card_last4": "4242",
            "channel": "in_store",
            "status": "authorized",
            "occurred_at": "2026-11-24T10:00:00Z"
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

    fn at() -> JsonPointer {
        JsonPointer::root().member("transactions").index(3)
    }

    fn parse(value: &Value) -> Result<Transaction, Vec<FieldError>> {
        Transaction::from_json(value, &at())
    }

    fn errors(value: &Value) -> Vec<(String, String)> {
        parse(value)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.pointer, e.detail))
            .collect()
    }

    fn one_error(value: &Value) -> (String, String) {
        let errors = errors(value);
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    #[test]
    fn a_transaction_with_every_member_is_parsed_into_its_values() {
        let t = parse(&full()).unwrap();
        assert_eq!(t.txn_id.as_str(), "t-000123");
        assert_eq!(t.user_id.as_str(), "u-42");
        assert_eq!(t.amount_minor.get(), 1299);
        assert_eq!(t.currency.as_str(), "USD");
        assert_eq!(t.merchant_name.as_str(), "Blue Bottle Coffee");
        assert_eq!(t.merchant_category_code.as_str(), "5814");
        assert_eq!(t.merchant_city.as_ref().unwrap().as_str(), "Oakland");
        assert_eq!(t.merchant_country.unwrap().as_str(), "US");
        assert_eq!(t.card_last4.unwrap().as_str(), "4242");
        assert_eq!(t.channel, Channel::InStore);
        assert_eq!(t.status, TxnStatus::Authorized);
        assert_eq!(t.occurred_at.to_rfc3339(), "2026-11-24T10:00:00+00:00");
    }

    #[test]
    fn a_transaction_without_its_optional_members_is_accepted_with_them_absent() {
        let mut value = full();
        for name in ["merchant_city", "merchant_country", "card_last4"] {
            value.as_object_mut().unwrap().remove(name);
        }
        let t = parse(&value).unwrap();
        assert_eq!(t.merchant_city, None);
        assert_eq!(t.merchant_country, None);
        assert_eq!(t.card_last4, None);
    }

    #[test]
    fn null_optional_members_are_accepted_as_absent() {
        let value =
            with(json!({"merchant_city": null, "merchant_country": null, "card_last4": null}));
        let t = parse(&value).unwrap();
        assert_eq!(t.merchant_city, None);
        assert_eq!(t.merchant_country, None);
        assert_eq!(t.card_last4, None);
    }

    #[test]
    fn an_empty_merchant_city_is_kept_as_empty_not_absent() {
        let t = parse(&with(json!({"merchant_city": ""}))).unwrap();
        assert_eq!(t.merchant_city.unwrap().as_str(), "");
    }

    #[test]
    fn every_missing_required_member_is_reported_at_its_own_pointer() {
        for name in [
            "txn_id",
            "user_id",
            "amount_minor",
            "currency",
            "merchant_name",
            "merchant_category_code",
            "channel",
            "status",
            "occurred_at",
        ] {
            assert_eq!(
                one_error(&without(name)),
                (format!("/transactions/3/{name}"), "is required".to_owned()),
                "{name}"
            );
        }
    }

    #[test]
    fn a_null_required_member_is_reported_as_required() {
        assert_eq!(
            one_error(&with(json!({"txn_id": null}))),
            (
                "/transactions/3/txn_id".to_owned(),
                "is required".to_owned()
            )
        );
    }

    #[test]
    fn a_transaction_with_a_pan_member_is_rejected_with_a_pointer_to_it() {
        let value = with(json!({"pan": "4242424242424242"}));
        assert_eq!(
            one_error(&value),
            (
                "/transactions/3/pan".to_owned(),
                "is not a member of a transaction".to_owned()
            )
        );
    }

    #[test]
    fn an_unknown_member_with_a_slash_and_a_tilde_is_pointed_at_with_escapes() {
        let value = with(json!({"card/number~x": "4242424242424242"}));
        assert_eq!(one_error(&value).0, "/transactions/3/card~1number~0x");
    }

    #[test]
    fn a_member_that_differs_only_in_case_is_unknown() {
        let mut value = without("currency");
        value["Currency"] = json!("USD");
        let errors = errors(&value);
        assert!(errors.contains(&("/transactions/3/currency".into(), "is required".into())));
        assert!(errors.contains(&(
            "/transactions/3/Currency".into(),
            "is not a member of a transaction".into()
        )));
    }

    #[test]
    fn an_unknown_currency_is_reported_with_the_value_in_backticks() {
        assert_eq!(
            one_error(&with(json!({"currency": "EURO"}))),
            (
                "/transactions/3/currency".to_owned(),
                "`EURO` is not an ISO 4217 currency code".to_owned()
            )
        );
    }

    #[test]
    fn a_fractional_amount_is_reported_at_amount_minor() {
        let value = with(json!({"amount_minor": 12.5}));
        assert_eq!(
            one_error(&value),
            (
                "/transactions/3/amount_minor".to_owned(),
                "`12.5` is not a whole number of minor units".to_owned()
            )
        );
    }

    #[test]
    fn an_amount_in_a_string_is_rejected() {
        assert_eq!(
            one_error(&with(json!({"amount_minor": "1299"}))).0,
            "/transactions/3/amount_minor"
        );
    }

    #[test]
    fn a_numeric_mcc_is_rejected_as_not_a_string() {
        assert_eq!(
            one_error(&with(json!({"merchant_category_code": 5814}))),
            (
                "/transactions/3/merchant_category_code".to_owned(),
                "must be a string, not a number".to_owned()
            )
        );
    }

    #[test]
    fn a_bad_optional_member_is_reported_even_though_it_could_be_absent() {
        assert_eq!(
            one_error(&with(json!({"merchant_country": "USA"}))).0,
            "/transactions/3/merchant_country"
        );
        assert_eq!(
            one_error(&with(json!({"card_last4": "4242424242424242"}))).0,
            "/transactions/3/card_last4"
        );
        assert_eq!(
            one_error(&with(json!({"merchant_city": 7}))).0,
            "/transactions/3/merchant_city"
        );
    }

    #[test]
    fn every_channel_is_accepted() {
        for (word, channel) in [
            ("in_store", Channel::InStore),
            ("online", Channel::Online),
            ("atm", Channel::Atm),
        ] {
            assert_eq!(
                parse(&with(json!({"channel": word}))).unwrap().channel,
                channel
            );
        }
    }

    #[test]
    fn an_unknown_channel_is_rejected_with_the_expected_words() {
        assert_eq!(
            one_error(&with(json!({"channel": "IN_STORE"}))),
            (
                "/transactions/3/channel".to_owned(),
                "`IN_STORE` is not a channel; expected `in_store`, `online` or `atm`".to_owned()
            )
        );
    }

    #[test]
    fn every_status_is_accepted() {
        for (word, status) in [
            ("authorized", TxnStatus::Authorized),
            ("settled", TxnStatus::Settled),
            ("refunded", TxnStatus::Refunded),
            ("declined", TxnStatus::Declined),
        ] {
            assert_eq!(
                parse(&with(json!({"status": word}))).unwrap().status,
                status
            );
        }
    }

    #[test]
    fn an_unknown_status_is_rejected_with_the_expected_words() {
        assert_eq!(
            one_error(&with(json!({"status": "authorised"}))).1,
            "`authorised` is not a transaction status; expected `authorized`, `settled`, `refunded` or `declined`"
        );
    }

    #[test]
    fn an_occurred_at_without_an_offset_is_rejected() {
        let (pointer, detail) = one_error(&with(json!({"occurred_at": "2026-11-24T10:00:00"})));
        assert_eq!(pointer, "/transactions/3/occurred_at");
        assert!(detail.contains("has no UTC offset"), "{detail}");
    }

    #[test]
    fn an_occurred_at_with_an_offset_keeps_it() {
        let t = parse(&with(json!({"occurred_at": "2026-11-24T12:00:00+02:00"}))).unwrap();
        assert_eq!(t.occurred_at.offset().local_minus_utc(), 7200);
    }

    #[test]
    fn every_bad_member_of_one_transaction_is_reported_in_one_go() {
        let mut value = with(json!({
            "currency": "EURO",
            "amount_minor": 1.5,
            "channel": "phone",
            "pan": "4242424242424242"
        }));
        value.as_object_mut().unwrap().remove("txn_id");
        let pointers: Vec<String> = errors(&value).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            pointers,
            [
                "/transactions/3/txn_id",
                "/transactions/3/amount_minor",
                "/transactions/3/currency",
                "/transactions/3/channel",
                "/transactions/3/pan",
            ]
        );
    }

    #[test]
    fn a_transaction_that_is_not_an_object_is_reported_at_its_index() {
        assert_eq!(
            one_error(&json!("t-1")),
            (
                "/transactions/3".to_owned(),
                "must be an object, not a string".to_owned()
            )
        );
    }

    #[test]
    fn the_same_instant_at_different_offsets_is_the_same_content() {
        let utc = parse(&full()).unwrap();
        let paris = parse(&with(json!({"occurred_at": "2026-11-24T12:00:00+02:00"}))).unwrap();
        assert_eq!(utc.content_bytes(), paris.content_bytes());
    }

    #[test]
    fn member_order_and_null_optional_members_do_not_change_content() {
        let reordered: Value = serde_json::from_str(
            r#"{"occurred_at": "2026-11-24T10:00:00Z", "status": "authorized", "channel": "in_store",
                "card_last4": "4242", "merchant_country": "US", "merchant_city": "Oakland",
                "merchant_category_code": "5814", "merchant_name": "Blue Bottle Coffee",
                "currency": "USD", "amount_minor": 1299, "user_id": "u-42", "txn_id": "t-000123"}"#,
        )
        .unwrap();
        assert_eq!(
            parse(&reordered).unwrap().content_bytes(),
            parse(&full()).unwrap().content_bytes()
        );
        assert_eq!(
            parse(&with(json!({"card_last4": null})))
                .unwrap()
                .content_bytes(),
            parse(&without("card_last4")).unwrap().content_bytes()
        );
    }

    #[test]
    fn a_different_instant_is_different_content_even_by_a_nanosecond() {
        let a = parse(&full()).unwrap();
        let b = parse(&with(
            json!({"occurred_at": "2026-11-24T10:00:00.000000001Z"}),
        ))
        .unwrap();
        assert_ne!(a.content_bytes(), b.content_bytes());
    }

    #[test]
    fn an_absent_merchant_city_is_different_content_from_an_empty_one() {
        let absent = parse(&without("merchant_city")).unwrap();
        let empty = parse(&with(json!({"merchant_city": ""}))).unwrap();
        assert_ne!(absent.content_bytes(), empty.content_bytes());
    }

    #[test]
    fn an_absent_optional_member_is_different_content_from_a_present_one() {
        let absent = parse(&without("card_last4")).unwrap();
        let present = parse(&full()).unwrap();
        assert_ne!(absent.content_bytes(), present.content_bytes());
    }

    #[test]
    fn changing_any_member_changes_the_content() {
        let base = parse(&full()).unwrap().content_bytes();
        for change in [
            json!({"txn_id": "t-000124"}),
            json!({"user_id": "u-43"}),
            json!({"amount_minor": -1299}),
            json!({"currency": "EUR"}),
            json!({"merchant_name": "Blue Bottle"}),
            json!({"merchant_category_code": "5812"}),
            json!({"merchant_city": "Berkeley"}),
            json!({"merchant_country": "CA"}),
            json!({"card_last4": "4243"}),
            json!({"channel": "online"}),
            json!({"status": "settled"}),
            json!({"occurred_at": "2026-11-24T10:00:01Z"}),
        ] {
            let changed = parse(&with(change.clone())).unwrap().content_bytes();
            assert_ne!(changed, base, "{change}");
        }
    }

    #[test]
    fn field_values_are_the_json_a_release_carries() {
        let t = parse(&with(json!({"occurred_at": "2026-11-24T12:00:00+02:00"}))).unwrap();
        let data: Vec<(&str, Option<Value>)> = TransactionField::ALL
            .into_iter()
            .map(|field| (field.member(), t.field_value(field)))
            .collect();
        assert_eq!(
            data,
            [
                ("amount_minor", Some(json!(1299))),
                ("currency", Some(json!("USD"))),
                ("merchant_name", Some(json!("Blue Bottle Coffee"))),
                ("merchant_category_code", Some(json!("5814"))),
                ("merchant_city", Some(json!("Oakland"))),
                ("merchant_country", Some(json!("US"))),
                ("card_last4", Some(json!("4242"))),
                ("channel", Some(json!("in_store"))),
                ("status", Some(json!("authorized"))),
                ("occurred_at", Some(json!("2026-11-24T12:00:00+02:00"))),
            ]
        );
    }

    #[test]
    fn absent_optional_members_have_no_field_value() {
        let value =
            with(json!({"merchant_city": null, "merchant_country": null, "card_last4": null}));
        let t = parse(&value).unwrap();
        assert_eq!(t.field_value(TransactionField::MerchantCity), None);
        assert_eq!(t.field_value(TransactionField::MerchantCountry), None);
        assert_eq!(t.field_value(TransactionField::CardLast4), None);
        assert_eq!(
            t.field_value(TransactionField::AmountMinor),
            Some(json!(1299))
        );
    }

    #[test]
    fn an_empty_merchant_city_is_released_as_an_empty_string() {
        let t = parse(&with(json!({"merchant_city": ""}))).unwrap();
        assert_eq!(
            t.field_value(TransactionField::MerchantCity),
            Some(json!(""))
        );
    }
}
