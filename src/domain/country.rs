//! Countries: ISO 3166-1 alpha-2 codes.

use std::fmt;

use serde::{Serialize, Serializer};

use super::field_error::echo;

/// An officially assigned ISO 3166-1 alpha-2 country code, such as `US`.
///
/// Only the 249 officially assigned codes are accepted: user-assigned codes such as `XK` and
/// reserved ones such as `UK` or `EU` mean different things to different systems, and a
/// recipient must be able to trust the code it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode(&'static str);

impl CountryCode {
    /// Parses a code, which must be written exactly as assigned (uppercase); the error is the
    /// detail message for the client.
    pub fn parse(code: &str) -> Result<Self, String> {
        if let Some(assigned) = find(code) {
            return Ok(Self(assigned));
        }
        let upper = code.to_ascii_uppercase();
        if code.len() == 2 && find(&upper).is_some() {
            Err(format!(
                "`{code}` is not an ISO 3166-1 alpha-2 country code; codes are uppercase, such as `{upper}`"
            ))
        } else {
            Err(format!(
                "`{}` is not an ISO 3166-1 alpha-2 country code",
                echo(code)
            ))
        }
    }

    /// The two-letter code.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

/// Looks `code` up in [`ISO_3166_1_ALPHA_2`], returning the listed string so a `CountryCode`
/// can hold a `&'static str` and stay `Copy`.
fn find(code: &str) -> Option<&'static str> {
    let index = ISO_3166_1_ALPHA_2.binary_search(&code).ok()?;
    ISO_3166_1_ALPHA_2.get(index).copied()
}

/// The 249 officially assigned ISO 3166-1 alpha-2 codes.
///
/// INVARIANT: sorted and without duplicates, for `binary_search` (a test checks it).
pub const ISO_3166_1_ALPHA_2: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_list_is_sorted_without_duplicates() {
        assert!(ISO_3166_1_ALPHA_2.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn every_listed_code_is_two_uppercase_ascii_letters() {
        assert!(
            ISO_3166_1_ALPHA_2
                .iter()
                .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
    }

    #[test]
    fn every_listed_code_parses() {
        for code in ISO_3166_1_ALPHA_2 {
            assert_eq!(CountryCode::parse(code).unwrap().as_str(), code);
        }
    }

    #[test]
    fn codes_at_both_ends_of_the_list_and_recent_ones_are_accepted() {
        for code in ["AD", "ZW", "US", "GB", "SS", "CW", "SX", "BQ"] {
            assert!(CountryCode::parse(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn user_assigned_and_reserved_codes_are_rejected() {
        for code in ["XK", "UK", "EU", "AN", "ZZ", "AA"] {
            assert_eq!(
                CountryCode::parse(code).unwrap_err(),
                format!("`{code}` is not an ISO 3166-1 alpha-2 country code")
            );
        }
    }

    #[test]
    fn an_alpha_3_code_is_rejected() {
        assert!(CountryCode::parse("USA").is_err());
    }

    #[test]
    fn a_lowercase_code_is_rejected_with_a_hint_to_the_uppercase_one() {
        assert_eq!(
            CountryCode::parse("us").unwrap_err(),
            "`us` is not an ISO 3166-1 alpha-2 country code; codes are uppercase, such as `US`"
        );
    }

    #[test]
    fn an_empty_code_is_rejected() {
        assert!(CountryCode::parse("").is_err());
    }

    #[test]
    fn a_country_serializes_as_its_code() {
        let us = CountryCode::parse("US").unwrap();
        assert_eq!(serde_json::to_value(us).unwrap(), serde_json::json!("US"));
        assert_eq!(us.to_string(), "US");
    }
}
