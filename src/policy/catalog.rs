//! The field catalog and the purpose taxonomy (CONTRACT §6), read from
//! `policies/catalog.toml` and served as the body of `GET /v1/catalog`.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::json;

use super::diagnostic::PolicyDiagnostic;
use super::purpose::{self, PROHIBITED_FAMILIES, Purpose};

/// The most fields one record kind may have: a decision is a bitmask of this many bits.
pub const MAX_FIELDS_PER_KIND: usize = 32;

/// The catalog's file name inside a policy folder.
pub(super) const CATALOG_FILE: &str = "catalog.toml";

/// The kind of record a bank pushes; each has its own fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// A card transaction (`POST /v1/transactions`).
    Transaction,
    /// An account balance (`POST /v1/balances`).
    Balance,
}

impl RecordKind {
    /// Every kind, in catalog order.
    pub const ALL: [Self; 2] = [Self::Transaction, Self::Balance];

    /// The name used as the prefix of its fields and in the catalog: `transaction`,
    /// `balance`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Transaction => "transaction",
            Self::Balance => "balance",
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serializes as [`RecordKind::as_str`].
impl Serialize for RecordKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The fields each record kind may release and the purposes data may be released for.
///
/// INVARIANT: field names are unique, of the form `<kind>.<member>`, at most
/// [`MAX_FIELDS_PER_KIND`] per kind; no permitted purpose is prohibited; the prohibited
/// families include every one of [`PROHIBITED_FAMILIES`].
#[derive(Debug, Clone)]
pub struct Catalog {
    transaction: KindFields,
    balance: KindFields,
    permitted: Vec<Purpose>,
    permitted_descriptions: Vec<String>,
    prohibited: Vec<String>,
}

#[derive(Debug, Clone, Default)]
struct KindFields {
    names: Vec<String>,
    descriptions: Vec<String>,
}

impl Catalog {
    /// Reads and checks the text of a `catalog.toml`; every problem is reported, each
    /// with its place in the file.
    pub fn parse(text: &str) -> Result<Self, Vec<PolicyDiagnostic>> {
        let file: CatalogFile = toml::from_str(text).map_err(|error| {
            vec![PolicyDiagnostic::at(
                CATALOG_FILE,
                text,
                error.span().map(|span| span.start),
                error.message().trim_end_matches('.').to_string(),
            )]
        })?;
        let mut problems = Vec::new();
        let problem = |needle: &str, message: String| {
            PolicyDiagnostic::near(CATALOG_FILE, text, &format!("\"{needle}\""), message)
        };

        let mut seen_fields = HashSet::new();
        let mut kinds = [KindFields::default(), KindFields::default()];
        for ((kind, entries), fields) in RecordKind::ALL
            .into_iter()
            .zip([file.transaction, file.balance])
            .zip(kinds.iter_mut())
        {
            if entries.len() > MAX_FIELDS_PER_KIND {
                problems.push(PolicyDiagnostic::near(
                    CATALOG_FILE,
                    text,
                    &format!("[[{kind}]]"),
                    format!("more than {MAX_FIELDS_PER_KIND} `{kind}` fields"),
                ));
            }
            for entry in entries {
                let member_ok = entry
                    .name
                    .strip_prefix(kind.as_str())
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(is_identifier);
                if !member_ok {
                    problems.push(problem(
                        &entry.name,
                        format!(
                            "field `{}` must be named `{kind}.<member>`, the member in lowercase letters, digits and `_`",
                            entry.name
                        ),
                    ));
                }
                if entry.description.trim().is_empty() {
                    problems.push(problem(
                        &entry.name,
                        format!("field `{}` has no description", entry.name),
                    ));
                }
                if !seen_fields.insert(entry.name.clone()) {
                    problems.push(problem(
                        &entry.name,
                        format!("field `{}` is listed twice", entry.name),
                    ));
                }
                fields.names.push(entry.name);
                fields.descriptions.push(entry.description);
            }
        }

        let mut seen_families = HashSet::new();
        for family in &file.purposes.prohibited {
            if !is_identifier(family) {
                problems.push(problem(
                    family,
                    format!(
                        "prohibited purpose `{family}` must be lowercase letters, digits and `_`"
                    ),
                ));
            }
            if !seen_families.insert(family.as_str()) {
                problems.push(problem(
                    family,
                    format!("prohibited purpose `{family}` is listed twice"),
                ));
            }
        }
        for family in PROHIBITED_FAMILIES {
            if !seen_families.contains(family) {
                problems.push(PolicyDiagnostic::near(
                    CATALOG_FILE,
                    text,
                    "prohibited",
                    format!(
                        "the prohibited purposes must include `{family}`: the gateway never allows it"
                    ),
                ));
            }
        }

        let mut seen_purposes = HashSet::new();
        let mut permitted = Vec::new();
        let mut permitted_descriptions = Vec::new();
        for entry in file.purposes.permitted {
            if !is_identifier(&entry.name) {
                problems.push(problem(
                    &entry.name,
                    format!(
                        "permitted purpose `{}` must be lowercase letters, digits and `_`",
                        entry.name
                    ),
                ));
            }
            if purpose::is_prohibited_canonical(&entry.name, &file.purposes.prohibited) {
                problems.push(problem(
                    &entry.name,
                    format!(
                        "permitted purpose `{}` is a prohibited purpose or looks like one",
                        entry.name
                    ),
                ));
            }
            if entry.description.trim().is_empty() {
                problems.push(problem(
                    &entry.name,
                    format!("purpose `{}` has no description", entry.name),
                ));
            }
            if !seen_purposes.insert(entry.name.clone()) {
                problems.push(problem(
                    &entry.name,
                    format!("purpose `{}` is listed twice", entry.name),
                ));
            }
            permitted.push(Purpose::from_catalog(entry.name));
            permitted_descriptions.push(entry.description);
        }

        if !problems.is_empty() {
            return Err(problems);
        }
        let [transaction, balance] = kinds;
        Ok(Self {
            transaction,
            balance,
            permitted,
            permitted_descriptions,
            prohibited: file.purposes.prohibited,
        })
    }

    /// The catalog names of a record kind's fields, in catalog order; a field's position
    /// here is its bit in a [`FieldMask`](super::FieldMask).
    pub fn fields(&self, kind: RecordKind) -> &[String] {
        &self.kind(kind).names
    }

    /// The record kind a catalog name belongs to; `None` for a name not in the catalog.
    pub fn field_kind(&self, name: &str) -> Option<RecordKind> {
        RecordKind::ALL
            .into_iter()
            .find(|kind| self.field_index(*kind, name).is_some())
    }

    /// The position of a field among its kind's fields; `None` when it is not a field of
    /// that kind. Names are case-sensitive.
    pub fn field_index(&self, kind: RecordKind, name: &str) -> Option<usize> {
        self.fields(kind).iter().position(|field| field == name)
    }

    /// Every field of every kind.
    pub fn field_count(&self) -> usize {
        self.transaction.names.len() + self.balance.names.len()
    }

    /// The purposes data may be released for, in catalog order.
    pub fn permitted_purposes(&self) -> &[Purpose] {
        &self.permitted
    }

    /// The prohibited purpose families: the built-in ones and any the catalog adds.
    pub fn prohibited_families(&self) -> &[String] {
        &self.prohibited
    }

    /// The body of `GET /v1/catalog`.
    pub fn to_json(&self) -> serde_json::Value {
        let fields: Vec<_> = RecordKind::ALL
            .into_iter()
            .flat_map(|kind| {
                let fields = self.kind(kind);
                fields
                    .names
                    .iter()
                    .zip(&fields.descriptions)
                    .map(move |(name, description)| {
                        json!({"name": name, "record": kind, "description": description})
                    })
            })
            .collect();
        let permitted: Vec<_> = self
            .permitted
            .iter()
            .zip(&self.permitted_descriptions)
            .map(|(purpose, description)| json!({"name": purpose, "description": description}))
            .collect();
        json!({
            "fields": fields,
            "purposes": {"permitted": permitted, "prohibited": self.prohibited},
        })
    }

    fn kind(&self, kind: RecordKind) -> &KindFields {
        match kind {
            RecordKind::Transaction => &self.transaction,
            RecordKind::Balance => &self.balance,
        }
    }
}

/// `catalog.toml` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    purposes: PurposesFile,
    transaction: Vec<Entry>,
    balance: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurposesFile {
    permitted: Vec<Entry>,
    prohibited: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    description: String,
}

/// Lowercase ASCII letters, digits and `_`, starting with a letter.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::super::load::BUNDLED_CATALOG;
    use super::*;

    #[test]
    fn the_bundled_catalog_lists_the_contract_fields_in_order() {
        let catalog = Catalog::parse(BUNDLED_CATALOG).unwrap();
        assert_eq!(
            catalog.fields(RecordKind::Transaction),
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
        assert_eq!(
            catalog.fields(RecordKind::Balance),
            [
                "balance.available_minor",
                "balance.ledger_minor",
                "balance.currency",
                "balance.as_of",
            ]
        );
        assert_eq!(catalog.field_count(), 14);
    }

    #[test]
    fn the_bundled_catalog_has_the_contract_purposes() {
        let catalog = Catalog::parse(BUNDLED_CATALOG).unwrap();
        let permitted: Vec<&str> = catalog
            .permitted_purposes()
            .iter()
            .map(Purpose::as_str)
            .collect();
        assert_eq!(
            permitted,
            ["fraud_alert", "customer_service", "finance_tracking"]
        );
        assert_eq!(catalog.prohibited_families(), PROHIBITED_FAMILIES);
    }

    #[test]
    fn fields_are_found_by_exact_name_within_their_kind() {
        let catalog = Catalog::parse(BUNDLED_CATALOG).unwrap();
        assert_eq!(
            catalog.field_kind("balance.currency"),
            Some(RecordKind::Balance)
        );
        assert_eq!(
            catalog.field_index(RecordKind::Transaction, "transaction.card_last4"),
            Some(6)
        );
        assert_eq!(
            catalog.field_index(RecordKind::Balance, "transaction.card_last4"),
            None
        );
        assert_eq!(catalog.field_kind("transaction.txn_id"), None);
        assert_eq!(catalog.field_kind("Transaction.Amount_Minor"), None);
    }

    #[test]
    fn the_catalog_json_has_every_field_and_purpose_with_descriptions() {
        let json = Catalog::parse(BUNDLED_CATALOG).unwrap().to_json();
        let fields = json["fields"].as_array().unwrap();
        assert_eq!(fields.len(), 14);
        assert_eq!(fields[0]["name"], "transaction.amount_minor");
        assert_eq!(fields[0]["record"], "transaction");
        assert_eq!(fields[13]["name"], "balance.as_of");
        assert_eq!(fields[13]["record"], "balance");
        assert!(
            fields
                .iter()
                .all(|f| f["description"].as_str().unwrap().len() > 5)
        );
        assert_eq!(json["purposes"]["permitted"][0]["name"], "fraud_alert");
        assert!(json["purposes"]["permitted"][0]["description"].is_string());
        assert_eq!(
            json["purposes"]["prohibited"],
            serde_json::json!(PROHIBITED_FAMILIES)
        );
    }

    fn problems(text: &str) -> Vec<String> {
        Catalog::parse(text)
            .unwrap_err()
            .into_iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn an_unknown_key_is_refused_with_its_place() {
        let text = BUNDLED_CATALOG.replace("[purposes]\n", "[purposes]\nallow_everything = true\n");
        let found = problems(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("catalog.toml:11:1: unknown field `allow_everything`"));
    }

    #[test]
    fn a_catalog_cannot_drop_a_built_in_prohibited_family() {
        let text = BUNDLED_CATALOG.replace("    \"profiling\",\n", "");
        assert_eq!(
            problems(&text),
            [
                "catalog.toml:11:1: the prohibited purposes must include `profiling`: the gateway never allows it"
            ]
        );
    }

    #[test]
    fn a_permitted_purpose_cannot_be_prohibited() {
        let text = BUNDLED_CATALOG.replace("name = \"fraud_alert\"", "name = \"marketing\"");
        let found = problems(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("permitted purpose `marketing` is a prohibited purpose"));
    }

    #[test]
    fn duplicate_and_misnamed_fields_are_refused() {
        let text = BUNDLED_CATALOG
            .replace("\"transaction.currency\"", "\"transaction.amount_minor\"")
            .replace("\"balance.as_of\"", "\"transaction.as_of\"");
        let found = problems(&text);
        assert!(
            found
                .iter()
                .any(|p| p.contains("field `transaction.amount_minor` is listed twice")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.contains("field `transaction.as_of` must be named `balance.<member>`")),
            "{found:?}"
        );
    }

    #[test]
    fn more_than_32_fields_of_a_kind_are_refused() {
        let mut text = BUNDLED_CATALOG.to_string();
        for n in 0..29 {
            text.push_str(&format!(
                "\n[[balance]]\nname = \"balance.extra_{n}\"\ndescription = \"extra\"\n"
            ));
        }
        let found = problems(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].ends_with("more than 32 `balance` fields"));
    }
}
