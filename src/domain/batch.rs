//! Whole ingest bodies: `{"transactions": [...]}` and `{"balances": [...]}` (CONTRACT §5).
//!
//! A batch is atomic, so it is parsed completely before anything is stored: either every
//! item is valid and the caller gets typed records, or the caller gets every error at once.

use std::fmt;

use serde_json::Value;

use super::balance::Balance;
use super::field_error::{FieldError, JsonPointer};
use super::members::kind_of;
use super::transaction::Transaction;

/// The most items one request may carry; more is `422 batch_too_large`.
pub const MAX_BATCH_ITEMS: usize = 1_000;

/// The most errors one answer lists; past it, one last error with the root pointer says so.
///
/// Without a cap a 4 MiB body of tiny unknown members (`"a":0,` is six bytes) would yield
/// hundreds of thousands of errors: a response and an allocation many times the request.
pub const MAX_REPORTED_ERRORS: usize = 1_000;

/// Parses a `POST /v1/transactions` body into its transactions.
pub fn parse_transaction_batch(body: &Value) -> Result<Vec<Transaction>, BatchError> {
    parse_batch(
        body,
        "transactions",
        "a transaction batch",
        Transaction::from_json,
    )
}

/// Parses a `POST /v1/balances` body into its balances.
pub fn parse_balance_batch(body: &Value) -> Result<Vec<Balance>, BatchError> {
    parse_batch(body, "balances", "a balance batch", Balance::from_json)
}

/// Why a batch was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// One entry per bad member, for a `422 invalid_field` problem's `errors`; never empty.
    Invalid(Vec<FieldError>),
    /// More than [`MAX_BATCH_ITEMS`] items, for `422 batch_too_large`; the items were not
    /// examined.
    TooLarge {
        /// How many items the batch held.
        len: usize,
    },
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(errors) if errors.len() == 1 => f.write_str("the batch has 1 error"),
            Self::Invalid(errors) => write!(f, "the batch has {} errors", errors.len()),
            Self::TooLarge { len } => write!(
                f,
                "the batch holds {len} items, more than the limit of {MAX_BATCH_ITEMS}"
            ),
        }
    }
}

impl std::error::Error for BatchError {}

/// Parses a body holding exactly one member, `member`, an array of 1 to
/// [`MAX_BATCH_ITEMS`] items that `parse_item` turns into records.
///
/// A batch that is too large is refused before any item is looked at, and before any other
/// error is reported: the bank has to split it whatever else is wrong.
fn parse_batch<T>(
    body: &Value,
    member: &'static str,
    batch: &'static str,
    parse_item: impl Fn(&Value, &JsonPointer) -> Result<T, Vec<FieldError>>,
) -> Result<Vec<T>, BatchError> {
    let root = JsonPointer::root();
    let Value::Object(object) = body else {
        return Err(BatchError::Invalid(vec![FieldError::new(
            &root,
            format!(
                "must be an object with a `{member}` member, not {}",
                kind_of(body)
            ),
        )]));
    };

    let mut errors = Errors::default();
    for name in object.keys().filter(|name| name.as_str() != member) {
        errors.push(FieldError::new(
            &root.member(name),
            format!("is not a member of {batch}"),
        ));
    }

    let at = root.member(member);
    let items = match object.get(member) {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => {
            errors.push(FieldError::new(&at, "is required"));
            return Err(errors.into_batch_error());
        }
        Some(other) => {
            errors.push(FieldError::new(
                &at,
                format!("must be an array of {member}, not {}", kind_of(other)),
            ));
            return Err(errors.into_batch_error());
        }
    };
    if items.len() > MAX_BATCH_ITEMS {
        return Err(BatchError::TooLarge { len: items.len() });
    }
    if items.is_empty() {
        errors.push(FieldError::new(
            &at,
            format!("must hold 1 to {MAX_BATCH_ITEMS} {member}"),
        ));
    }

    let mut records = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match parse_item(item, &at.index(index)) {
            Ok(record) => records.push(record),
            Err(item_errors) => item_errors.into_iter().for_each(|e| errors.push(e)),
        }
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors.into_batch_error())
    }
}

/// The errors of one batch, capped at [`MAX_REPORTED_ERRORS`].
#[derive(Default)]
struct Errors {
    listed: Vec<FieldError>,
    more: bool,
}

impl Errors {
    fn push(&mut self, error: FieldError) {
        if self.listed.len() < MAX_REPORTED_ERRORS {
            self.listed.push(error);
        } else {
            self.more = true;
        }
    }

    fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }

    fn into_batch_error(mut self) -> BatchError {
        if self.more {
            self.listed.push(FieldError::new(
                &JsonPointer::root(),
                format!("has more errors; only the first {MAX_REPORTED_ERRORS} are listed"),
            ));
        }
        BatchError::Invalid(self.listed)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn transaction(txn_id: &str) -> Value {
        json!({
            "txn_id": txn_id,
            "user_id": "u-42",
            "amount_minor": 1299,
            "currency": "USD",
            "merchant_name": "Blue Bottle Coffee",
            "merchant_category_code": "5814",
            "channel": "in_store",
            "status": "authorized",
            "occurred_at": "2026-11-24T10:00:00Z"
        })
    }

    fn balance(account_ref: &str) -> Value {
        json!({
            "account_ref": account_ref,
            "user_id": "u-42",
            "available_minor": 250000,
            "ledger_minor": 260000,
            "currency": "USD",
            "as_of": "2026-11-24T10:00:00Z"
        })
    }

    fn transactions(count: usize) -> Value {
        let items: Vec<Value> = (0..count).map(|i| transaction(&format!("t-{i}"))).collect();
        json!({ "transactions": items })
    }

    fn invalid(result: Result<Vec<impl fmt::Debug>, BatchError>) -> Vec<(String, String)> {
        match result {
            Err(BatchError::Invalid(errors)) => {
                errors.into_iter().map(|e| (e.pointer, e.detail)).collect()
            }
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    fn pair(pointer: &str, detail: &str) -> (String, String) {
        (pointer.to_owned(), detail.to_owned())
    }

    #[test]
    fn a_batch_of_one_valid_transaction_is_parsed() {
        let parsed = parse_transaction_batch(&transactions(1)).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].txn_id.as_str(), "t-0");
    }

    #[test]
    fn the_transactions_come_back_in_the_order_they_were_sent() {
        let parsed = parse_transaction_batch(&transactions(3)).unwrap();
        let ids: Vec<&str> = parsed.iter().map(|t| t.txn_id.as_str()).collect();
        assert_eq!(ids, ["t-0", "t-1", "t-2"]);
    }

    #[test]
    fn a_batch_of_1000_transactions_is_accepted() {
        assert_eq!(
            parse_transaction_batch(&transactions(1000)).unwrap().len(),
            1000
        );
    }

    #[test]
    fn a_batch_of_1001_transactions_is_too_large() {
        assert_eq!(
            parse_transaction_batch(&transactions(1001)),
            Err(BatchError::TooLarge { len: 1001 })
        );
    }

    #[test]
    fn a_too_large_batch_is_refused_even_when_its_items_are_invalid() {
        let items = vec![json!("not a transaction"); 1001];
        assert_eq!(
            parse_transaction_batch(&json!({ "transactions": items })),
            Err(BatchError::TooLarge { len: 1001 })
        );
    }

    #[test]
    fn an_empty_batch_is_invalid_at_the_array() {
        assert_eq!(
            invalid(parse_transaction_batch(&json!({"transactions": []}))),
            [pair("/transactions", "must hold 1 to 1000 transactions")]
        );
    }

    #[test]
    fn a_body_without_transactions_is_invalid_at_the_missing_member() {
        assert_eq!(
            invalid(parse_transaction_batch(&json!({}))),
            [pair("/transactions", "is required")]
        );
        assert_eq!(
            invalid(parse_transaction_batch(&json!({"transactions": null}))),
            [pair("/transactions", "is required")]
        );
    }

    #[test]
    fn transactions_that_are_not_an_array_are_invalid() {
        assert_eq!(
            invalid(parse_transaction_batch(
                &json!({"transactions": transaction("t-1")})
            )),
            [pair(
                "/transactions",
                "must be an array of transactions, not an object"
            )]
        );
    }

    #[test]
    fn a_body_that_is_not_an_object_is_invalid_at_the_root() {
        assert_eq!(
            invalid(parse_transaction_batch(&json!([transaction("t-1")]))),
            [pair(
                "",
                "must be an object with a `transactions` member, not an array"
            )]
        );
    }

    #[test]
    fn an_extra_top_level_member_is_invalid_at_its_pointer() {
        let mut body = transactions(1);
        body["foo"] = json!(1);
        assert_eq!(
            invalid(parse_transaction_batch(&body)),
            [pair("/foo", "is not a member of a transaction batch")]
        );
    }

    #[test]
    fn an_extra_top_level_member_is_reported_along_with_a_missing_one() {
        assert_eq!(
            invalid(parse_transaction_batch(&json!({"transaction": []}))),
            [
                pair("/transaction", "is not a member of a transaction batch"),
                pair("/transactions", "is required"),
            ]
        );
    }

    #[test]
    fn an_extra_top_level_member_with_a_slash_is_pointed_at_with_escapes() {
        let mut body = transactions(1);
        body["x/y~z"] = json!(1);
        assert_eq!(invalid(parse_transaction_batch(&body))[0].0, "/x~1y~0z");
    }

    #[test]
    fn the_errors_of_every_item_are_collected_with_their_indexes() {
        let mut bad_currency = transaction("t-1");
        bad_currency["currency"] = json!("EURO");
        let mut two_problems = transaction("t-2");
        two_problems.as_object_mut().unwrap().remove("txn_id");
        two_problems["pan"] = json!("4242424242424242");
        let body = json!({"transactions": [
            transaction("t-0"),
            bad_currency,
            two_problems,
            7,
            transaction("t-4"),
        ]});
        assert_eq!(
            invalid(parse_transaction_batch(&body)),
            [
                pair(
                    "/transactions/1/currency",
                    "`EURO` is not an ISO 4217 currency code"
                ),
                pair("/transactions/2/txn_id", "is required"),
                pair("/transactions/2/pan", "is not a member of a transaction"),
                pair("/transactions/3", "must be an object, not a number"),
            ]
        );
    }

    #[test]
    fn one_bad_item_makes_the_whole_batch_invalid() {
        let mut body = transactions(999);
        body["transactions"][998]["status"] = json!("pending");
        let errors = invalid(parse_transaction_batch(&body));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, "/transactions/998/status");
    }

    #[test]
    fn a_huge_bad_value_is_not_echoed_back_in_full() {
        let mut body = transactions(1);
        body["transactions"][0]["currency"] = json!("E".repeat(4 * 1024 * 1024));
        let errors = invalid(parse_transaction_batch(&body));
        assert_eq!(errors[0].0, "/transactions/0/currency");
        assert!(errors[0].1.len() < 120, "{} bytes", errors[0].1.len());
    }

    #[test]
    fn errors_past_the_cap_are_summed_up_in_one_last_error_at_the_root() {
        let items: Vec<Value> = (0..1000).map(|_| json!({})).collect();
        let errors = invalid(parse_transaction_batch(&json!({ "transactions": items })));
        assert_eq!(errors.len(), MAX_REPORTED_ERRORS + 1);
        assert_eq!(errors[0], pair("/transactions/0/txn_id", "is required"));
        assert_eq!(
            errors[MAX_REPORTED_ERRORS],
            pair("", "has more errors; only the first 1000 are listed")
        );
    }

    #[test]
    fn exactly_the_cap_of_errors_has_no_summary() {
        let mut body = transactions(1000);
        for item in body["transactions"].as_array_mut().unwrap() {
            item["currency"] = json!("EURO");
        }
        let errors = invalid(parse_transaction_batch(&body));
        assert_eq!(errors.len(), MAX_REPORTED_ERRORS);
        assert!(
            errors
                .iter()
                .all(|(pointer, _)| pointer.ends_with("/currency"))
        );
    }

    #[test]
    fn an_item_with_thousands_of_unknown_members_is_capped() {
        let mut item = transaction("t-0");
        for i in 0..5000 {
            item[format!("x{i}")] = json!(0);
        }
        let errors = invalid(parse_transaction_batch(&json!({ "transactions": [item] })));
        assert_eq!(errors.len(), MAX_REPORTED_ERRORS + 1);
    }

    #[test]
    fn a_batch_of_one_valid_balance_is_parsed() {
        let parsed = parse_balance_batch(&json!({"balances": [balance("acc-9")]})).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].account_ref.as_str(), "acc-9");
    }

    #[test]
    fn a_batch_of_1000_balances_is_accepted_and_1001_is_too_large() {
        let items: Vec<Value> = (0..1001).map(|i| balance(&format!("acc-{i}"))).collect();
        assert_eq!(
            parse_balance_batch(&json!({ "balances": items[..1000] }))
                .unwrap()
                .len(),
            1000
        );
        assert_eq!(
            parse_balance_batch(&json!({ "balances": items })),
            Err(BatchError::TooLarge { len: 1001 })
        );
    }

    #[test]
    fn a_transactions_member_in_a_balance_body_is_not_a_member() {
        assert_eq!(
            invalid(parse_balance_batch(
                &json!({"transactions": [balance("acc-9")]})
            )),
            [
                pair("/transactions", "is not a member of a balance batch"),
                pair("/balances", "is required"),
            ]
        );
    }

    #[test]
    fn an_empty_balance_batch_is_invalid_at_the_array() {
        assert_eq!(
            invalid(parse_balance_batch(&json!({"balances": []}))),
            [pair("/balances", "must hold 1 to 1000 balances")]
        );
    }

    #[test]
    fn the_errors_of_every_balance_are_collected_with_their_indexes() {
        let mut bad = balance("acc-1");
        bad["ledger_minor"] = json!(2.5);
        let body = json!({"balances": [balance("acc-0"), bad, {"account_ref": "acc-2"}]});
        let pointers: Vec<String> = invalid(parse_balance_batch(&body))
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            pointers,
            [
                "/balances/1/ledger_minor",
                "/balances/2/user_id",
                "/balances/2/available_minor",
                "/balances/2/ledger_minor",
                "/balances/2/currency",
                "/balances/2/as_of",
            ]
        );
    }

    #[test]
    fn batch_errors_describe_themselves_without_internal_names() {
        assert_eq!(
            BatchError::TooLarge { len: 1001 }.to_string(),
            "the batch holds 1001 items, more than the limit of 1000"
        );
        assert_eq!(
            BatchError::Invalid(vec![FieldError::new(&JsonPointer::root(), "x")]).to_string(),
            "the batch has 1 error"
        );
        let two = vec![FieldError::new(&JsonPointer::root(), "x"); 2];
        assert_eq!(
            BatchError::Invalid(two).to_string(),
            "the batch has 2 errors"
        );
    }
}
