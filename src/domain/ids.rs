//! Identifiers: routing data chosen by banks (`txn_id`, `user_id`, `account_ref`) and ids
//! chosen by operators (banks, recipients).
//!
//! They all share one alphabet, 1-64 characters of `[A-Za-z0-9._:-]` (CONTRACT §5), which
//! keeps them safe to put in logs, URLs, audit records and webhook bodies unescaped.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};

/// The longest id, in characters (and bytes: the alphabet is ASCII).
pub const MAX_ID_CHARS: usize = 64;

/// Defines one id newtype; every id type has the same rule, so they differ only in name,
/// which keeps a `UserId` from being passed where a `TxnId` is expected.
macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses an id; the error is the detail message for the client.
            pub fn parse(s: &str) -> Result<Self, String> {
                check_id(s)?;
                Ok(Self(s.to_owned()))
            }

            /// The id as it was sent.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        /// Lets configuration and stored rows be read straight into the id type, with the
        /// same rule as a request body.
        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                check_id(&s)?;
                Ok(Self(s))
            }
        }
    };
}

id_type! {
    /// A bank's id for one transaction; `(bank, txn_id)` identifies it forever.
    TxnId
}

id_type! {
    /// The gateway's id for a user, as banks and tokens (`sub`) carry it.
    UserId
}

id_type! {
    /// A bank's reference for one account; `(bank, account_ref, as_of)` identifies a balance.
    AccountRef
}

id_type! {
    /// An operator-configured bank id (`[[banks]] id`).
    BankId
}

id_type! {
    /// An operator-configured recipient id (`[[recipients]] id`).
    RecipientId
}

/// Checks the shared id rule and words the failure for the client.
fn check_id(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if !s.bytes().all(is_id_byte) {
        return Err(format!(
            "`{}` may only hold ASCII letters, digits, `.`, `_`, `:` and `-`",
            super::field_error::echo(s)
        ));
    }
    if s.len() > MAX_ID_CHARS {
        return Err(format!(
            "must be at most {MAX_ID_CHARS} characters long, not {}",
            s.len()
        ));
    }
    Ok(())
}

/// Whether `b` is in the id alphabet `[A-Za-z0-9._:-]`.
fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_of_every_allowed_character_is_accepted() {
        let id = TxnId::parse("aZ09._:-").unwrap();
        assert_eq!(id.as_str(), "aZ09._:-");
    }

    #[test]
    fn an_id_of_one_character_is_accepted() {
        assert_eq!(UserId::parse("u").unwrap().as_str(), "u");
    }

    #[test]
    fn an_id_of_64_characters_is_accepted() {
        let s = "a".repeat(64);
        assert_eq!(AccountRef::parse(&s).unwrap().as_str(), s);
    }

    #[test]
    fn an_id_of_65_characters_is_rejected_with_its_length() {
        let s = "a".repeat(65);
        assert_eq!(
            AccountRef::parse(&s).unwrap_err(),
            "must be at most 64 characters long, not 65"
        );
    }

    #[test]
    fn an_empty_id_is_rejected() {
        assert_eq!(TxnId::parse("").unwrap_err(), "must not be empty");
    }

    #[test]
    fn an_id_with_a_space_is_rejected_and_echoed() {
        assert_eq!(
            UserId::parse("u 42").unwrap_err(),
            "`u 42` may only hold ASCII letters, digits, `.`, `_`, `:` and `-`"
        );
    }

    #[test]
    fn an_id_with_a_slash_or_a_non_ascii_letter_is_rejected() {
        assert!(TxnId::parse("t/1").is_err());
        assert!(TxnId::parse("té").is_err());
        assert!(TxnId::parse("t\n").is_err());
    }

    #[test]
    fn a_very_long_bad_id_is_echoed_only_in_part() {
        let s = "x ".repeat(2 * 1024 * 1024);
        let detail = TxnId::parse(&s).unwrap_err();
        assert!(detail.len() < 200, "{} bytes", detail.len());
    }

    #[test]
    fn an_id_serializes_as_a_plain_json_string() {
        let id = BankId::parse("bank-a").unwrap();
        assert_eq!(
            serde_json::to_value(&id).unwrap(),
            serde_json::json!("bank-a")
        );
    }

    #[test]
    fn an_id_deserializes_only_when_it_follows_the_rule() {
        let id: RecipientId = serde_json::from_value(serde_json::json!("messenger")).unwrap();
        assert_eq!(id.to_string(), "messenger");
        assert!(serde_json::from_value::<RecipientId>(serde_json::json!("not ok")).is_err());
    }

    #[test]
    fn an_id_parses_from_str_with_the_same_rule() {
        assert_eq!("u-42".parse::<UserId>().unwrap().as_str(), "u-42");
        assert!("".parse::<UserId>().is_err());
    }

    #[test]
    fn ids_order_by_their_text() {
        let mut ids = [TxnId::parse("b").unwrap(), TxnId::parse("a").unwrap()];
        ids.sort();
        assert_eq!(ids[0].as_str(), "a");
    }
}
