//! Purposes: why a recipient wants data. A [`Purpose`] is always a permitted purpose of
//! the catalog; prohibited ones are refused here, in code, before any policy runs.

use std::fmt;

use serde::{Serialize, Serializer};

use super::catalog::Catalog;

/// The prohibited purpose families of CONTRACT §6. They live in code so that no data file
/// can remove one: the catalog may add families, never drop these.
pub const PROHIBITED_FAMILIES: [&str; 7] = [
    "advertising",
    "ad_targeting",
    "ad_measurement",
    "marketing",
    "profiling",
    "cross_selling",
    "data_sale",
];

/// The longest part of a caller's input echoed back in an error message, in characters.
const ECHO_LIMIT: usize = 40;

/// A permitted purpose of the catalog, such as `fraud_alert`, in canonical form (trimmed,
/// lowercase).
///
/// INVARIANT: never a prohibited purpose. The only ways to get one are [`Purpose::parse`]
/// and the catalog, which refuses to load a permitted purpose that is prohibited.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Purpose(String);

impl Purpose {
    /// Reads a purpose as a caller wrote it: trimmed, lowercased (Unicode), then refused
    /// when prohibited (see [`is_prohibited`]) or not one of the catalog's permitted
    /// purposes.
    pub fn parse(raw: &str, catalog: &Catalog) -> Result<Self, PurposeError> {
        let canonical = canonical(raw);
        if is_prohibited_canonical(&canonical, catalog.prohibited_families()) {
            return Err(PurposeError::Prohibited(echo(raw)));
        }
        catalog
            .permitted_purposes()
            .iter()
            .find(|purpose| purpose.0 == canonical)
            .cloned()
            .ok_or_else(|| PurposeError::Unknown(echo(raw)))
    }

    /// A permitted purpose as the catalog file names it; the catalog checks it first.
    pub(super) fn from_catalog(name: String) -> Self {
        Self(name)
    }

    /// The canonical name, such as `fraud_alert`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Serializes as the canonical name.
impl Serialize for Purpose {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Why a string is not a [`Purpose`]. Each carries the caller's input, shortened to 40
/// characters, for the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PurposeError {
    /// A prohibited purpose family, or a descendant or look-alike of one.
    #[error("purpose `{0}` is prohibited")]
    Prohibited(String),
    /// Not a permitted purpose of the catalog.
    #[error("purpose `{0}` is not a known purpose")]
    Unknown(String),
}

/// Whether a purpose, as a caller wrote it, is prohibited: after trimming and lowercasing,
/// its first dotted segment is a prohibited family (of [`PROHIBITED_FAMILIES`] or of the
/// catalog), or, ignoring every character that is not a letter or digit, it starts with
/// one. So `Advertising`, ` marketing `, `advertising.targeted`, `advertising..x`,
/// `advertising.`, `ad-targeting`, `ad targeting` and `MARKETING_email` are all
/// prohibited.
///
/// CAUTION: the look-alike rule refuses more than the families themselves (`marketingx`);
/// that is deliberate: being wrong here must mean refusing, never releasing.
pub fn is_prohibited(raw: &str, catalog: &Catalog) -> bool {
    is_prohibited_canonical(&canonical(raw), catalog.prohibited_families())
}

/// The form purposes are compared in: trimmed and lowercased.
pub(super) fn canonical(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// The first dotted segment of a canonical purpose: `advertising` for
/// `advertising.targeted`.
pub(super) fn family(canonical: &str) -> &str {
    canonical.split('.').next().unwrap_or(canonical)
}

/// [`is_prohibited`] for a purpose already in canonical form, with the catalog's families
/// on top of the built-in ones.
pub(super) fn is_prohibited_canonical(canonical: &str, catalog_families: &[String]) -> bool {
    let family = family(canonical);
    let skeleton = skeleton(canonical);
    PROHIBITED_FAMILIES
        .into_iter()
        .chain(catalog_families.iter().map(String::as_str))
        .any(|prohibited| {
            let prohibited_skeleton = self::skeleton(prohibited);
            family == prohibited
                || (!prohibited_skeleton.is_empty() && skeleton.starts_with(&prohibited_skeleton))
        })
}

/// Only the letters and digits, so separators, spaces and invisible characters cannot
/// disguise a family.
fn skeleton(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).collect()
}

/// The caller's input as an error message shows it: at most 40 characters, control
/// characters replaced.
fn echo(raw: &str) -> String {
    let mut shown: String = raw
        .chars()
        .take(ECHO_LIMIT)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    if raw.chars().nth(ECHO_LIMIT).is_some() {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::load::BUNDLED_CATALOG;
    use super::*;

    fn catalog() -> Catalog {
        Catalog::parse(BUNDLED_CATALOG).unwrap()
    }

    #[test]
    fn permitted_purposes_parse_in_canonical_form() {
        let catalog = catalog();
        for (raw, canonical) in [
            ("fraud_alert", "fraud_alert"),
            (" Customer_Service ", "customer_service"),
            ("FINANCE_TRACKING\n", "finance_tracking"),
        ] {
            assert_eq!(Purpose::parse(raw, &catalog).unwrap().as_str(), canonical);
        }
    }

    /// Spellings of prohibited purposes, each of which must be refused (the engine's tests
    /// use them too).
    pub(in crate::policy) const PROHIBITED_SPELLINGS: [&str; 21] = [
        "advertising",
        "Advertising",
        " marketing ",
        "advertising.targeted",
        "MARKETING.email",
        "PROFILING",
        "data_sale.x",
        "cross_selling",
        "ad_targeting",
        "ad_measurement",
        "ad_measurement.conversion",
        "advertising..x",
        "advertising.",
        ".advertising",
        "ad-targeting",
        "ad targeting",
        "adver tising",
        "adver\u{200B}tising",
        "MAR\u{212A}ETING",
        "marketing_email",
        "\tData_Sale\t",
    ];

    #[test]
    fn every_prohibited_spelling_is_refused_as_prohibited() {
        let catalog = catalog();
        for raw in PROHIBITED_SPELLINGS {
            assert_eq!(
                Purpose::parse(raw, &catalog),
                Err(PurposeError::Prohibited(echo(raw))),
                "{raw:?}"
            );
            assert!(is_prohibited(raw, &catalog), "{raw:?}");
        }
    }

    #[test]
    fn a_family_the_catalog_adds_is_prohibited_too() {
        assert!(is_prohibited_canonical(
            "lending.score",
            &["lending".to_string()]
        ));
        assert!(!is_prohibited_canonical("lending.score", &[]));
    }

    #[test]
    fn near_misses_of_permitted_purposes_are_unknown_never_permitted() {
        let catalog = catalog();
        for raw in [
            "",
            "   ",
            "fraud alert",
            "fraud_alert.",
            "fraud_alert.extra",
            "fraud_alert..x",
            "fraud__alert",
            "fraudalert",
            "fraud-alert",
            "frаud_alert", // Cyrillic `а`
            "fraud_alert\u{200B}",
            "x.fraud_alert",
        ] {
            assert_eq!(
                Purpose::parse(raw, &catalog),
                Err(PurposeError::Unknown(echo(raw))),
                "{raw:?}"
            );
            assert!(!is_prohibited(raw, &catalog), "{raw:?}");
        }
    }

    #[test]
    fn an_error_message_is_lowercase_and_echoes_at_most_40_characters() {
        let catalog = catalog();
        let long = format!("advertising.{}", "x".repeat(60));
        let message = Purpose::parse(&long, &catalog).unwrap_err().to_string();
        assert_eq!(
            message,
            format!("purpose `advertising.{}…` is prohibited", "x".repeat(28))
        );
        assert_eq!(
            Purpose::parse("weather\n", &catalog)
                .unwrap_err()
                .to_string(),
            "purpose `weather\u{FFFD}` is not a known purpose"
        );
    }

    #[test]
    fn a_purpose_displays_and_serializes_as_its_name() {
        let purpose = Purpose::parse("Fraud_Alert", &catalog()).unwrap();
        assert_eq!(purpose.to_string(), "fraud_alert");
        assert_eq!(
            serde_json::to_value(&purpose).unwrap(),
            serde_json::json!("fraud_alert")
        );
    }
}
