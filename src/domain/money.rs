//! Money: ISO 4217 currency codes and amounts in integer minor units.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::Value;

use super::field_error::echo;
use super::members::kind_of;

/// An ISO 4217 alphabetic currency code that is in the current list (List One).
///
/// Only listed codes are accepted, so a typo such as `EURO` or `USS` is an error at the bank's
/// door instead of a wrong currency in a recipient's ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(&'static str);

impl Currency {
    /// Parses a code, which must be written exactly as listed (uppercase); the error is the
    /// detail message for the client.
    pub fn parse(code: &str) -> Result<Self, String> {
        match find(code) {
            Some(listed) => Ok(Self(listed)),
            None => Err(not_a_code(code)),
        }
    }

    /// The three-letter code.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

/// An amount in integer minor units of its currency (cents for `USD`); negative for refunds.
///
/// Money is never a float here: a fraction, an exponent or a number outside `i64` is
/// rejected rather than rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AmountMinor(i64);

impl AmountMinor {
    /// Wraps a number of minor units; every `i64` is a valid amount.
    pub const fn new(minor_units: i64) -> Self {
        Self(minor_units)
    }

    /// Reads a JSON integer; the error is the detail message for the client.
    ///
    /// CAUTION: `serde_json` reads `12.0`, `1e3` and `-0` as floats, and integers outside
    /// `i64` as floats or `u64`; all of those are rejected, never converted.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let Value::Number(number) = value else {
            return Err(format!(
                "must be an integer number of minor units, not {}",
                kind_of(value)
            ));
        };
        if let Some(minor_units) = number.as_i64() {
            return Ok(Self(minor_units));
        }
        let shown = echo(&number.to_string());
        match number.as_f64() {
            _ if number.is_u64() => Err(out_of_range(&shown)),
            Some(f) if f.fract() == 0.0 && f.abs() >= I64_LIMIT => Err(out_of_range(&shown)),
            Some(f) if f.fract() == 0.0 => Err(format!(
                "`{shown}` must be written as an integer, without a fraction or an exponent"
            )),
            _ => Err(format!("`{shown}` is not a whole number of minor units")),
        }
    }

    /// The number of minor units.
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for AmountMinor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for AmountMinor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.0)
    }
}

/// 2^63: the smallest magnitude a whole float can have and not fit an `i64` (the float
/// `-2^63` only reaches this branch when the literal was below `i64::MIN`).
const I64_LIMIT: f64 = 9_223_372_036_854_775_808.0;

/// Words an integer that does not fit an `i64`.
fn out_of_range(shown: &str) -> String {
    format!("`{shown}` is outside the range of a 64-bit signed integer")
}

/// Looks `code` up in [`ISO_4217_CODES`], returning the listed string so a `Currency` can hold
/// a `&'static str` and stay `Copy`.
fn find(code: &str) -> Option<&'static str> {
    let index = ISO_4217_CODES.binary_search(&code).ok()?;
    ISO_4217_CODES.get(index).copied()
}

/// Words a rejected code, pointing out the common mistake of lowercase.
fn not_a_code(code: &str) -> String {
    let upper = code.to_ascii_uppercase();
    if code.len() == 3 && find(&upper).is_some() {
        format!("`{code}` is not an ISO 4217 currency code; codes are uppercase, such as `{upper}`")
    } else {
        format!("`{}` is not an ISO 4217 currency code", echo(code))
    }
}

/// The current ISO 4217 alphabetic codes (List One, as published 2026-01-01): national
/// currencies, funds codes (`BOV`, `CHE`, `USN`, …), precious metals (`XAU`, `XAG`, `XPD`,
/// `XPT`) and the special codes (`XDR`, `XTS`, `XXX`, …).
///
/// INVARIANT: sorted and without duplicates, for `binary_search` (a test checks it).
/// Recent changes: `XCG` replaced `ANG` (2025-03-31), `ZWG` replaced `ZWL` (2024), `XAD` was
/// added (2025); `BGN`, `CUC`, `HRK` and `SLL` were withdrawn.
pub const ISO_4217_CODES: [&str; 178] = [
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BHD",
    "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DJF",
    "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP",
    "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR",
    "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT",
    "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP",
    "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR",
    "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB",
    "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN",
    "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH",
    "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAD",
    "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR", "XOF", "XPD", "XPF",
    "XPT", "XSU", "XTS", "XUA", "XXX", "YER", "ZAR", "ZMW", "ZWG",
];

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_code_list_is_sorted_without_duplicates() {
        assert!(ISO_4217_CODES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn every_listed_code_is_three_uppercase_ascii_letters() {
        assert!(
            ISO_4217_CODES
                .iter()
                .all(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
    }

    #[test]
    fn every_listed_code_parses() {
        for code in ISO_4217_CODES {
            assert_eq!(Currency::parse(code).unwrap().as_str(), code);
        }
    }

    #[test]
    fn common_funds_and_precious_metal_codes_are_accepted() {
        for code in [
            "USD", "EUR", "JPY", "XAU", "XAG", "XPT", "XPD", "CHE", "USN", "XDR",
        ] {
            assert!(Currency::parse(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn the_newest_codes_are_accepted() {
        for code in ["XCG", "ZWG", "XAD", "SLE", "VED"] {
            assert!(Currency::parse(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn withdrawn_codes_are_rejected() {
        for code in [
            "ANG", "BGN", "CUC", "HRK", "SLL", "ZWL", "DEM", "FRF", "VEF",
        ] {
            assert!(Currency::parse(code).is_err(), "{code}");
        }
    }

    #[test]
    fn a_four_letter_code_is_rejected_with_it_echoed() {
        assert_eq!(
            Currency::parse("EURO").unwrap_err(),
            "`EURO` is not an ISO 4217 currency code"
        );
    }

    #[test]
    fn three_uppercase_letters_that_are_not_listed_are_rejected() {
        assert!(Currency::parse("ABC").is_err());
        assert!(Currency::parse("USS").is_err());
    }

    #[test]
    fn a_lowercase_code_is_rejected_with_a_hint_to_the_uppercase_one() {
        assert_eq!(
            Currency::parse("usd").unwrap_err(),
            "`usd` is not an ISO 4217 currency code; codes are uppercase, such as `USD`"
        );
    }

    #[test]
    fn an_empty_code_and_a_padded_code_are_rejected() {
        assert!(Currency::parse("").is_err());
        assert!(Currency::parse(" USD").is_err());
        assert!(Currency::parse("USD ").is_err());
    }

    #[test]
    fn a_huge_code_is_echoed_only_in_part() {
        let detail = Currency::parse(&"U".repeat(1_000_000)).unwrap_err();
        assert!(detail.len() < 120, "{detail}");
    }

    #[test]
    fn a_currency_serializes_as_its_code() {
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(serde_json::to_value(usd).unwrap(), json!("USD"));
        assert_eq!(usd.to_string(), "USD");
    }

    #[test]
    fn a_json_integer_is_an_amount() {
        assert_eq!(AmountMinor::from_json(&json!(1299)).unwrap().get(), 1299);
    }

    #[test]
    fn a_negative_integer_is_an_amount_for_a_refund() {
        assert_eq!(AmountMinor::from_json(&json!(-1299)).unwrap().get(), -1299);
    }

    #[test]
    fn zero_is_an_amount() {
        assert_eq!(AmountMinor::from_json(&json!(0)).unwrap().get(), 0);
    }

    #[test]
    fn the_limits_of_i64_are_amounts() {
        assert_eq!(
            AmountMinor::from_json(&json!(i64::MAX)).unwrap().get(),
            i64::MAX
        );
        assert_eq!(
            AmountMinor::from_json(&json!(i64::MIN)).unwrap().get(),
            i64::MIN
        );
    }

    #[test]
    fn a_fraction_is_rejected() {
        let value: Value = serde_json::from_str("12.5").unwrap();
        assert_eq!(
            AmountMinor::from_json(&value).unwrap_err(),
            "`12.5` is not a whole number of minor units"
        );
    }

    #[test]
    fn a_whole_number_written_with_an_exponent_or_a_fraction_is_rejected() {
        for text in ["1e3", "12.0", "-0"] {
            let value: Value = serde_json::from_str(text).unwrap();
            let detail = AmountMinor::from_json(&value).unwrap_err();
            assert!(
                detail
                    .ends_with("must be written as an integer, without a fraction or an exponent"),
                "{text}: {detail}"
            );
        }
    }

    #[test]
    fn an_integer_just_above_i64_is_rejected_as_out_of_range() {
        let value: Value = serde_json::from_str("9223372036854775808").unwrap();
        assert_eq!(
            AmountMinor::from_json(&value).unwrap_err(),
            "`9223372036854775808` is outside the range of a 64-bit signed integer"
        );
    }

    #[test]
    fn an_integer_just_below_i64_is_rejected_as_out_of_range() {
        let value: Value = serde_json::from_str("-9223372036854775809").unwrap();
        let detail = AmountMinor::from_json(&value).unwrap_err();
        assert!(
            detail.ends_with("is outside the range of a 64-bit signed integer"),
            "{detail}"
        );
    }

    #[test]
    fn a_huge_integer_is_rejected_as_out_of_range() {
        let value: Value = serde_json::from_str("100000000000000000000000000000").unwrap();
        let detail = AmountMinor::from_json(&value).unwrap_err();
        assert!(
            detail.ends_with("is outside the range of a 64-bit signed integer"),
            "{detail}"
        );
    }

    #[test]
    fn a_number_in_a_string_is_rejected() {
        assert_eq!(
            AmountMinor::from_json(&json!("1299")).unwrap_err(),
            "must be an integer number of minor units, not a string"
        );
    }

    #[test]
    fn a_boolean_is_rejected() {
        assert!(AmountMinor::from_json(&json!(true)).is_err());
    }

    #[test]
    fn an_amount_serializes_as_a_json_integer() {
        assert_eq!(
            serde_json::to_value(AmountMinor::new(-5)).unwrap(),
            json!(-5)
        );
    }
}
