//! What a transaction says about the merchant: name, city and category code.

use std::fmt;

use serde::{Serialize, Serializer};

use super::field_error::echo;

/// The merchant's name: 1 to 128 characters, without control characters.
///
/// Control characters are refused because names end up in webhook bodies, notifications and
/// logs, where a newline or an escape sequence could forge lines or garble a display.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MerchantName(String);

impl MerchantName {
    /// The longest name, in Unicode scalar values.
    pub const MAX_CHARS: usize = 128;

    /// Parses a name; the error is the detail message for the client.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("must not be empty".to_owned());
        }
        check_text(s, Self::MAX_CHARS)?;
        Ok(Self(s.to_owned()))
    }

    /// The name as it was sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MerchantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for MerchantName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// The merchant's city: 0 to 64 characters, without control characters.
///
/// Empty is allowed (the contract says 0-64) and stays distinct from an absent city.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MerchantCity(String);

impl MerchantCity {
    /// The longest city, in Unicode scalar values.
    pub const MAX_CHARS: usize = 64;

    /// Parses a city; the error is the detail message for the client.
    pub fn parse(s: &str) -> Result<Self, String> {
        check_text(s, Self::MAX_CHARS)?;
        Ok(Self(s.to_owned()))
    }

    /// The city as it was sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MerchantCity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for MerchantCity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// An ISO 18245 merchant category code: exactly 4 ASCII digits, kept as text so leading
/// zeros (`0742`) survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mcc([u8; 4]);

impl Mcc {
    /// Parses a code; the error is the detail message for the client.
    pub fn parse(s: &str) -> Result<Self, String> {
        match <[u8; 4]>::try_from(s.as_bytes()) {
            Ok(digits) if digits.iter().all(u8::is_ascii_digit) => Ok(Self(digits)),
            _ => Err(format!(
                "`{}` is not a merchant category code: it must be exactly 4 digits",
                echo(s)
            )),
        }
    }

    /// The four digits.
    pub fn as_str(&self) -> &str {
        // INVARIANT: `parse` only keeps ASCII digits, which are valid UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Mcc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Mcc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Checks the rule shared by free-text members: at most `max_chars` characters and no
/// control characters (Unicode category Cc), worded for the client.
fn check_text(s: &str, max_chars: usize) -> Result<(), String> {
    if let Some(control) = s.chars().find(|c| c.is_control()) {
        return Err(format!(
            "must not hold control characters such as U+{:04X}",
            u32::from(control)
        ));
    }
    let chars = s.chars().count();
    if chars > max_chars {
        return Err(format!(
            "must be at most {max_chars} characters long, not {chars}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_merchant_name_is_accepted() {
        let name = MerchantName::parse("Blue Bottle Coffee").unwrap();
        assert_eq!(name.as_str(), "Blue Bottle Coffee");
    }

    #[test]
    fn an_empty_merchant_name_is_rejected() {
        assert_eq!(MerchantName::parse("").unwrap_err(), "must not be empty");
    }

    #[test]
    fn a_merchant_name_of_128_non_ascii_characters_is_accepted() {
        let s = "é".repeat(128);
        assert_eq!(s.len(), 256);
        assert!(MerchantName::parse(&s).is_ok());
    }

    #[test]
    fn a_merchant_name_of_129_characters_is_rejected_with_its_length() {
        assert_eq!(
            MerchantName::parse(&"a".repeat(129)).unwrap_err(),
            "must be at most 128 characters long, not 129"
        );
    }

    #[test]
    fn a_merchant_name_with_a_newline_is_rejected() {
        assert_eq!(
            MerchantName::parse("Cafe\nInjected: line").unwrap_err(),
            "must not hold control characters such as U+000A"
        );
    }

    #[test]
    fn a_merchant_name_with_an_escape_or_a_c1_control_is_rejected() {
        assert!(MerchantName::parse("\u{1b}[31mred").is_err());
        assert!(MerchantName::parse("a\u{85}b").is_err());
        assert!(MerchantName::parse("a\u{7f}").is_err());
    }

    #[test]
    fn a_merchant_name_with_emoji_and_accents_is_accepted() {
        assert!(MerchantName::parse("Café ☕ Zürich").is_ok());
    }

    #[test]
    fn an_empty_merchant_city_is_accepted() {
        assert_eq!(MerchantCity::parse("").unwrap().as_str(), "");
    }

    #[test]
    fn a_merchant_city_of_64_characters_is_accepted_and_of_65_rejected() {
        assert!(MerchantCity::parse(&"ü".repeat(64)).is_ok());
        assert_eq!(
            MerchantCity::parse(&"ü".repeat(65)).unwrap_err(),
            "must be at most 64 characters long, not 65"
        );
    }

    #[test]
    fn a_merchant_city_with_a_tab_is_rejected() {
        assert_eq!(
            MerchantCity::parse("Oak\tland").unwrap_err(),
            "must not hold control characters such as U+0009"
        );
    }

    #[test]
    fn a_four_digit_mcc_is_accepted_with_its_leading_zero() {
        assert_eq!(Mcc::parse("0742").unwrap().as_str(), "0742");
        assert_eq!(Mcc::parse("5814").unwrap().to_string(), "5814");
    }

    #[test]
    fn an_mcc_of_three_or_five_digits_is_rejected() {
        assert_eq!(
            Mcc::parse("581").unwrap_err(),
            "`581` is not a merchant category code: it must be exactly 4 digits"
        );
        assert!(Mcc::parse("58140").is_err());
    }

    #[test]
    fn an_mcc_with_letters_or_non_ascii_digits_is_rejected() {
        assert!(Mcc::parse("58a4").is_err());
        assert!(Mcc::parse("٥٨١٤").is_err());
        assert!(Mcc::parse("+581").is_err());
    }

    #[test]
    fn text_members_serialize_as_strings() {
        assert_eq!(
            serde_json::to_value(Mcc::parse("0742").unwrap()).unwrap(),
            serde_json::json!("0742")
        );
        assert_eq!(
            serde_json::to_value(MerchantCity::parse("Oakland").unwrap()).unwrap(),
            serde_json::json!("Oakland")
        );
    }
}
