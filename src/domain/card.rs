//! The only card data the gateway carries: the last four digits of the card number.

use std::fmt;

use serde::{Serialize, Serializer};

use super::field_error::echo;

/// The last four digits of a card number: exactly 4 ASCII digits.
///
/// Exactly four, never more: a longer value could be a full or partial card number, which
/// nobody agreed to carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CardLast4([u8; 4]);

impl CardLast4 {
    /// Parses the four digits; the error is the detail message for the client.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Ok(digits) = <[u8; 4]>::try_from(s.as_bytes())
            && digits.iter().all(u8::is_ascii_digit)
        {
            return Ok(Self(digits));
        }
        let chars = s.chars().count();
        if chars == 4 {
            Err(format!("`{}` must be exactly 4 digits", echo(s)))
        } else {
            // CAUTION: a wrong value may be a full card number; it is never repeated back,
            // so it cannot reach a response body or a log line through an error.
            Err(format!("must be exactly 4 digits, not {chars} characters"))
        }
    }

    /// The four digits.
    pub fn as_str(&self) -> &str {
        // INVARIANT: `parse` only keeps ASCII digits, which are valid UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for CardLast4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CardLast4 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_digits_are_accepted_with_leading_zeros() {
        assert_eq!(CardLast4::parse("0042").unwrap().as_str(), "0042");
        assert_eq!(CardLast4::parse("4242").unwrap().to_string(), "4242");
    }

    #[test]
    fn a_full_card_number_is_rejected_without_being_repeated() {
        let detail = CardLast4::parse("4242424242424242").unwrap_err();
        assert_eq!(detail, "must be exactly 4 digits, not 16 characters");
        assert!(!detail.contains("4242"));
    }

    #[test]
    fn three_digits_are_rejected() {
        assert_eq!(
            CardLast4::parse("424").unwrap_err(),
            "must be exactly 4 digits, not 3 characters"
        );
    }

    #[test]
    fn four_characters_that_are_not_all_digits_are_rejected_and_echoed() {
        assert_eq!(
            CardLast4::parse("42a2").unwrap_err(),
            "`42a2` must be exactly 4 digits"
        );
        assert!(CardLast4::parse("４２４２").is_err());
    }

    #[test]
    fn the_last_four_serialize_as_a_string() {
        assert_eq!(
            serde_json::to_value(CardLast4::parse("0042").unwrap()).unwrap(),
            serde_json::json!("0042")
        );
    }
}
