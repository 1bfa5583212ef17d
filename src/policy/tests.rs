//! The engine end to end: loading and refusing policy sets, the release table, the two
//! lines of defence against prohibited purposes, and the cache against fresh decisions.

use std::path::Path;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tempfile::TempDir;

use super::load::bundled_files;
use super::purpose::tests::PROHIBITED_SPELLINGS;
use super::request::Question;
use super::*;

const RECIPIENT: &str = "messenger";
const BANK: &str = "bank-a";

/// A policy folder holding the bundled files, changed by `edit`.
fn policy_dir(edit: impl FnOnce(&Path)) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in bundled_files() {
        std::fs::write(dir.path().join(&file.name), &file.text).unwrap();
    }
    edit(dir.path());
    dir
}

fn bundled() -> PolicyEngine {
    PolicyEngine::load(None).unwrap()
}

fn problems(dir: &TempDir) -> Vec<PolicyDiagnostic> {
    match PolicyEngine::load(Some(dir.path())) {
        Err(PolicyError::Invalid(problems)) => problems,
        other => panic!("expected an invalid set, got {other:?}"),
    }
}

fn all_fields(engine: &PolicyEngine) -> Vec<String> {
    RecordKind::ALL
        .into_iter()
        .flat_map(|kind| engine.catalog().fields(kind).to_vec())
        .collect()
}

/// Replaces `from` with `to` in the policy file `name` of `dir`, which must contain it;
/// returns the new text.
fn replace_in(dir: &Path, name: &str, from: &str, to: &str) -> String {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = text.replace(from, to);
    assert_ne!(changed, text, "{from:?} is not in {name}");
    std::fs::write(&path, &changed).unwrap();
    changed
}

/// Consent `c1`, version 1, of these fields and purposes.
fn consent<'a>(fields: &'a [String], purposes: &'a [String]) -> ConsentView<'a> {
    ConsentView {
        id: "c1",
        version: 1,
        fields,
        purposes,
    }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| value.to_string()).collect()
}

/// The reasons of every field of `kind`, in catalog order (`None`: released).
fn reasons(
    engine: &PolicyEngine,
    kind: RecordKind,
    mask: FieldMask,
) -> Vec<Option<WithholdReason>> {
    (0..engine.catalog().fields(kind).len())
        .map(|index| mask.reason(index))
        .collect()
}

// Default deny comes first: without a permit, nothing is ever released.
#[test]
fn a_policy_set_without_permits_denies_everything() {
    let dir = policy_dir(|dir| std::fs::remove_file(dir.join("release_table.cedar")).unwrap());
    let engine = PolicyEngine::load(Some(dir.path())).unwrap();
    let fields = all_fields(&engine);
    for purpose in engine.catalog().permitted_purposes() {
        let purposes = vec![purpose.to_string()];
        let consent = consent(&fields, &purposes);
        for kind in RecordKind::ALL {
            let mask = engine.decide_fresh(RECIPIENT, BANK, kind, purpose.as_str(), &consent);
            assert_eq!(mask.released, 0, "{purpose} {kind}");
            assert!(
                reasons(&engine, kind, mask)
                    .iter()
                    .all(|reason| *reason == Some(WithholdReason::NotPermittedByPolicy)),
                "{purpose} {kind}"
            );
        }
    }
}

#[test]
fn the_bundled_set_loads_and_strictly_validates() {
    let engine = bundled();
    assert!(engine.version().starts_with("sha256:"));
    assert_eq!(engine.version().len(), "sha256:".len() + 64);
    assert_eq!(
        engine.summary(),
        format!(
            "5 files, 13 policies (4 permit, 9 forbid), catalog of 14 fields and 3 purposes, version {}",
            engine.version()
        )
    );
    // The same files read from the repository's folder are the same set.
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let from_folder = PolicyEngine::load(Some(&folder)).unwrap();
    assert_eq!(from_folder.version(), engine.version());
}

/// CONTRACT §6: (field, fraud_alert, customer_service, finance_tracking).
const RELEASE_TABLE: [(&str, [bool; 3]); 14] = [
    ("transaction.amount_minor", [true, true, true]),
    ("transaction.currency", [true, true, true]),
    ("transaction.merchant_name", [true, true, true]),
    ("transaction.merchant_category_code", [true, true, true]),
    ("transaction.status", [true, true, true]),
    ("transaction.occurred_at", [true, true, true]),
    ("transaction.merchant_city", [true, true, false]),
    ("transaction.merchant_country", [true, true, false]),
    ("transaction.channel", [true, true, false]),
    ("transaction.card_last4", [true, true, false]),
    ("balance.available_minor", [false, true, true]),
    ("balance.ledger_minor", [false, true, true]),
    ("balance.currency", [false, true, true]),
    ("balance.as_of", [false, true, true]),
];

#[test]
fn every_row_of_the_release_table_holds_for_every_purpose() {
    let engine = bundled();
    let fields = all_fields(&engine);
    assert_eq!(
        fields.len(),
        RELEASE_TABLE.len(),
        "every catalog field has a row"
    );
    for (column, purpose) in ["fraud_alert", "customer_service", "finance_tracking"]
        .into_iter()
        .enumerate()
    {
        let purposes = strings(&[purpose]);
        let consent = consent(&fields, &purposes);
        for (field, allowed) in RELEASE_TABLE {
            let kind = engine.catalog().field_kind(field).unwrap();
            let index = engine.catalog().field_index(kind, field).unwrap();
            let mask = engine.decide_fresh(RECIPIENT, BANK, kind, purpose, &consent);
            let expected = if allowed[column] {
                None
            } else {
                Some(WithholdReason::NotPermittedByPolicy)
            };
            assert_eq!(mask.reason(index), expected, "{field} for {purpose}");
            assert_eq!(
                engine
                    .decide(RECIPIENT, BANK, kind, purpose, &consent)
                    .reason(index),
                expected,
                "{field} for {purpose}, cached"
            );
        }
    }
}

#[test]
fn a_field_not_in_the_consent_is_withheld_as_no_consent() {
    let engine = bundled();
    let fields = strings(&["transaction.amount_minor", "transaction.currency"]);
    let purposes = strings(&["fraud_alert"]);
    let consent = consent(&fields, &purposes);
    let mask = engine.decide_fresh(
        RECIPIENT,
        BANK,
        RecordKind::Transaction,
        "fraud_alert",
        &consent,
    );
    assert_eq!(mask.released, 0b11);
    let catalog = engine.catalog();
    let card = catalog
        .field_index(RecordKind::Transaction, "transaction.card_last4")
        .unwrap();
    assert_eq!(mask.reason(card), Some(WithholdReason::NoConsent));
    assert_eq!(
        reasons(&engine, RecordKind::Transaction, mask)
            .iter()
            .filter(|reason| **reason == Some(WithholdReason::NoConsent))
            .count(),
        8
    );
}

#[test]
fn a_purpose_not_in_the_consent_is_no_consent_for_every_field() {
    let engine = bundled();
    let fields = all_fields(&engine);
    let purposes = strings(&["fraud_alert", "finance_tracking"]);
    let consent = consent(&fields, &purposes);
    for kind in RecordKind::ALL {
        let mask = engine.decide_fresh(RECIPIENT, BANK, kind, "customer_service", &consent);
        assert_eq!(mask, FieldMask::NOTHING);
        assert!(
            reasons(&engine, kind, mask)
                .iter()
                .all(|reason| *reason == Some(WithholdReason::NoConsent))
        );
    }
}

#[test]
fn a_consented_purpose_is_compared_trimmed_and_lowercased() {
    let engine = bundled();
    let fields = all_fields(&engine);
    let purposes = strings(&[" Fraud_Alert "]);
    let consent = consent(&fields, &purposes);
    let mask = engine.decide_fresh(
        RECIPIENT,
        BANK,
        RecordKind::Transaction,
        "FRAUD_ALERT",
        &consent,
    );
    assert_eq!(mask.released, (1 << 10) - 1);
}

#[test]
fn each_prohibited_spelling_is_refused_even_when_the_consent_lists_it() {
    let engine = bundled();
    let fields = all_fields(&engine);
    for raw in PROHIBITED_SPELLINGS {
        assert!(
            matches!(
                Purpose::parse(raw, engine.catalog()),
                Err(PurposeError::Prohibited(_))
            ),
            "{raw:?}"
        );
        let purposes = vec![raw.to_string(), "fraud_alert".to_string()];
        let consent = consent(&fields, &purposes);
        for kind in RecordKind::ALL {
            let mask = engine.decide_fresh(RECIPIENT, BANK, kind, raw, &consent);
            assert!(mask.prohibited, "{raw:?}");
            assert_eq!(mask.released, 0, "{raw:?}");
            assert!(
                reasons(&engine, kind, mask)
                    .iter()
                    .all(|reason| *reason == Some(WithholdReason::ProhibitedPurpose)),
                "{raw:?}"
            );
            assert_eq!(engine.decide(RECIPIENT, BANK, kind, raw, &consent), mask);
        }
    }
}

#[test]
fn an_unknown_purpose_releases_nothing_as_not_permitted_by_policy() {
    let engine = bundled();
    let fields = all_fields(&engine);
    for raw in ["weather", "fraud_alert.extra", "fraud alert", ""] {
        let purposes = strings(&[raw]);
        let consent = consent(&fields, &purposes);
        let mask = engine.decide_fresh(RECIPIENT, BANK, RecordKind::Transaction, raw, &consent);
        assert!(!mask.prohibited, "{raw:?}");
        assert_eq!(mask.released, 0, "{raw:?}");
        assert!(
            reasons(&engine, RecordKind::Transaction, mask)
                .iter()
                .all(|reason| *reason == Some(WithholdReason::NotPermittedByPolicy)),
            "{raw:?}"
        );
    }
}

#[test]
fn an_authors_permit_for_advertising_is_still_overridden_by_the_forbid() {
    let dir = policy_dir(|dir| {
        std::fs::write(
            dir.join("author.cedar"),
            "permit (principal, action, resource) when { context.purpose == \"advertising\" };\n\
             permit (principal, action, resource);\n",
        )
        .unwrap();
    });
    let engine = PolicyEngine::load(Some(dir.path())).unwrap();
    let fields = all_fields(&engine);
    // Layer one: the code refuses the purpose before Cedar.
    let purposes = strings(&["advertising"]);
    let consent = consent(&fields, &purposes);
    let mask = engine.decide_fresh(
        RECIPIENT,
        BANK,
        RecordKind::Transaction,
        "advertising",
        &consent,
    );
    assert!(mask.prohibited);
    assert_eq!(mask.released, 0);
    // Layer two: Cedar alone, asked directly, forbids every family whatever is permitted.
    for family in PROHIBITED_FAMILIES {
        let purpose = format!("{family}.targeted");
        let consent_purposes = vec![purpose.clone()];
        for kind in RecordKind::ALL {
            for field in engine.catalog().fields(kind) {
                let question = Question {
                    recipient: RECIPIENT,
                    bank: BANK,
                    kind,
                    purpose: &purpose,
                    family,
                    consent_fields: &fields,
                    consent_purposes: &consent_purposes,
                };
                assert!(!engine.cedar_allows(&question, field), "{family} {field}");
            }
        }
    }
    // The permit-everything rule does work where no forbid applies.
    let consent_purposes = strings(&["weather"]);
    let question = Question {
        recipient: RECIPIENT,
        bank: BANK,
        kind: RecordKind::Balance,
        purpose: "weather",
        family: "weather",
        consent_fields: &fields,
        consent_purposes: &consent_purposes,
    };
    assert!(engine.cedar_allows(&question, "balance.as_of"));
}

#[test]
fn the_consent_rules_in_cedar_forbid_what_the_consent_does_not_list() {
    let engine = bundled();
    let fields = strings(&["transaction.amount_minor"]);
    let purposes = strings(&["fraud_alert"]);
    let question = Question {
        recipient: RECIPIENT,
        bank: BANK,
        kind: RecordKind::Transaction,
        purpose: "fraud_alert",
        family: "fraud_alert",
        consent_fields: &fields,
        consent_purposes: &purposes,
    };
    assert!(engine.cedar_allows(&question, "transaction.amount_minor"));
    assert!(!engine.cedar_allows(&question, "transaction.currency"));
    let other_purpose = strings(&["customer_service"]);
    let question = Question {
        consent_purposes: &other_purpose,
        ..question
    };
    assert!(!engine.cedar_allows(&question, "transaction.amount_minor"));
}

#[test]
fn a_policy_that_fails_to_evaluate_denies() {
    // Overflows for `bank-z` only: Cedar would skip this `forbid` and allow.
    let dir = policy_dir(|dir| {
        std::fs::write(
            dir.join("overflow.cedar"),
            "forbid (principal, action, resource)\n\
             when { 9223372036854775807 + (if context.bank == \"bank-z\" then 1 else 0) < 0 };\n",
        )
        .unwrap();
    });
    let engine = PolicyEngine::load(Some(dir.path())).unwrap();
    let fields = all_fields(&engine);
    let purposes = strings(&["fraud_alert"]);
    let consent = consent(&fields, &purposes);
    let kind = RecordKind::Transaction;
    assert_eq!(
        engine
            .decide_fresh(RECIPIENT, "bank-a", kind, "fraud_alert", &consent)
            .released,
        (1 << 10) - 1
    );
    assert_eq!(
        engine
            .decide_fresh(RECIPIENT, "bank-z", kind, "fraud_alert", &consent)
            .released,
        0
    );
}

#[test]
fn a_syntax_error_is_reported_with_its_file_and_line() {
    let mut expected_line = 0;
    let dir = policy_dir(|dir| {
        // A missing comma: the parser stumbles on the next line.
        let broken = replace_in(
            dir,
            "release_table.cedar",
            "Field::\"transaction.merchant_city\",",
            "Field::\"transaction.merchant_city\"",
        );
        expected_line = 1 + broken
            .lines()
            .position(|line| line.contains("Field::\"transaction.merchant_country\""))
            .unwrap();
    });
    let found = problems(&dir);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].to_string(),
        format!("release_table.cedar:{expected_line}:5: unexpected token `Field`")
    );
}

#[test]
fn a_type_error_is_reported_with_its_file_and_line() {
    let dir = policy_dir(|dir| {
        std::fs::write(
            dir.join("typo.cedar"),
            "// A misspelt context member.\n\
             forbid (principal, action, resource)\n\
             when { context.purpose_famly == \"x\" };\n",
        )
        .unwrap();
    });
    let found = problems(&dir);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].file, "typo.cedar");
    assert_eq!((found[0].line, found[0].column), (3, 8), "{found:?}");
    assert!(found[0].message.contains("purpose_famly"), "{found:?}");
}

#[test]
fn a_policy_naming_an_unknown_field_is_refused_with_its_place() {
    let dir = policy_dir(|dir| {
        std::fs::write(
            dir.join("pan.cedar"),
            "// Field::\"transaction.pan\" in a comment is not a use.\n\
             permit (principal, action, resource == Field::\"transaction.pan\")\n\
             when { context.purpose == \"fraud_alert\" };\n",
        )
        .unwrap();
    });
    let found = problems(&dir);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].to_string(),
        "pan.cedar:2:40: `transaction.pan` is not a field of the catalog"
    );

    let dir = policy_dir(|dir| {
        std::fs::write(
            dir.join("pan.cedar"),
            "permit (principal, action, resource)\n\
             when { context.field == \"balance.overdraft\" };\n",
        )
        .unwrap();
    });
    let found = problems(&dir);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].to_string(),
        "pan.cedar:2:25: `balance.overdraft` is not a field of the catalog"
    );
}

#[test]
fn an_engine_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<PolicyEngine>();
}

#[test]
fn a_set_missing_a_prohibited_family_forbid_is_refused() {
    let dir = policy_dir(|dir| {
        replace_in(
            dir,
            "prohibited.cedar",
            "@id(\"prohibited.profiling\")\nforbid (principal, action, resource)\nwhen { context.purpose_family == \"profiling\" };\n",
            "",
        );
    });
    let found = problems(&dir);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].file, "prohibited.cedar");
    assert!(
        found[0]
            .message
            .starts_with("the prohibited purpose family `profiling` has no rule"),
        "{found:?}"
    );
}

#[test]
fn a_narrowed_prohibited_family_forbid_is_refused() {
    let dir = policy_dir(|dir| {
        replace_in(
            dir,
            "prohibited.cedar",
            "when { context.purpose_family == \"marketing\" };",
            "when { context.purpose_family == \"marketing\" && context.bank == \"bank-x\" };",
        );
    });
    let found = problems(&dir);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].message.contains("`marketing`"), "{found:?}");
}

#[test]
fn a_missing_catalog_or_schema_and_a_second_schema_are_refused() {
    let dir = policy_dir(|dir| {
        std::fs::remove_file(dir.join("catalog.toml")).unwrap();
        std::fs::remove_file(dir.join("consentgate.cedarschema")).unwrap();
    });
    let found: Vec<String> = problems(&dir).iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("catalog.toml:1:1: missing"));
    assert!(found[1].starts_with("consentgate.cedarschema:1:1: missing"));

    let dir = policy_dir(|dir| {
        std::fs::copy(
            dir.join("consentgate.cedarschema"),
            dir.join("second.cedarschema"),
        )
        .unwrap();
    });
    let found = problems(&dir);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].file, "second.cedarschema");
}

#[test]
fn a_schema_that_does_not_match_the_gateways_request_is_refused() {
    let dir = policy_dir(|dir| {
        replace_in(dir, "consentgate.cedarschema", "    bank: String,\n", "");
    });
    let found = problems(&dir);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].file, "consentgate.cedarschema");
    assert!(
        found[0].message.starts_with("the schema does not describe"),
        "{found:?}"
    );
}

#[test]
fn a_template_is_refused() {
    let dir = policy_dir(|dir| {
        std::fs::write(
            dir.join("template.cedar"),
            "permit (principal == ?principal, action, resource);\n",
        )
        .unwrap();
    });
    let found = problems(&dir);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].to_string(),
        "template.cedar:1:22: templates (`?principal`, `?resource`) are not supported: write each policy out"
    );
}

#[test]
fn the_version_changes_when_a_file_changes() {
    let original = policy_dir(|_| {});
    let version = PolicyEngine::load(Some(original.path()))
        .unwrap()
        .version()
        .to_string();
    assert_eq!(version, bundled().version());

    let edited = policy_dir(|dir| {
        let path = dir.join("release_table.cedar");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}\n// reviewed\n")).unwrap();
    });
    let edited_version = PolicyEngine::load(Some(edited.path()))
        .unwrap()
        .version()
        .to_string();
    assert_ne!(edited_version, version);

    let renamed = policy_dir(|dir| {
        std::fs::rename(dir.join("release_table.cedar"), dir.join("release.cedar")).unwrap();
    });
    let renamed_version = PolicyEngine::load(Some(renamed.path()))
        .unwrap()
        .version()
        .to_string();
    assert_ne!(renamed_version, version);
    assert_ne!(renamed_version, edited_version);

    let unrelated = policy_dir(|dir| std::fs::write(dir.join("README.md"), "notes").unwrap());
    assert_eq!(
        PolicyEngine::load(Some(unrelated.path()))
            .unwrap()
            .version(),
        version,
        "files that are not part of the set do not count"
    );
}

#[test]
fn a_repeated_key_is_served_from_the_cache() {
    let engine = bundled();
    let fields = all_fields(&engine);
    let purposes = strings(&["fraud_alert"]);
    let consent = consent(&fields, &purposes);
    let kind = RecordKind::Transaction;
    let first = engine.decide(RECIPIENT, BANK, kind, "fraud_alert", &consent);
    let second = engine.decide(RECIPIENT, BANK, kind, "fraud_alert", &consent);
    assert_eq!(first, second);
    assert_eq!(engine.cached_decisions(), 1);
    engine.decide(RECIPIENT, "bank-b", kind, "fraud_alert", &consent);
    assert_eq!(engine.cached_decisions(), 2);
}

/// Policies that depend on the recipient, the bank and the record kind, so that a cache
/// key missing any of them would serve a wrong decision.
const KEY_SENSITIVE_POLICIES: &str = r#"
forbid (principal == Recipient::"shady", action, resource);
forbid (principal, action, resource)
when { context.bank == "bank-z" && context.record_kind == "balance" };
forbid (principal, action, resource == Field::"transaction.card_last4")
when { context.bank == "bank-b" };
"#;

#[test]
fn cached_and_fresh_decisions_agree_on_random_cases() {
    let seed = std::env::var("CONSENTGATE_TEST_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    let mut rng = StdRng::seed_from_u64(seed);
    let sensitive = policy_dir(|dir| {
        std::fs::write(dir.join("key_sensitive.cedar"), KEY_SENSITIVE_POLICIES).unwrap();
    });
    let engines = [
        bundled(),
        PolicyEngine::load(Some(sensitive.path())).unwrap(),
    ];

    let mut field_pool = all_fields(&engines[0]);
    field_pool.extend(strings(&[
        "transaction.pan",
        "Transaction.amount_minor",
        "",
    ]));
    let purpose_pool = strings(&[
        "fraud_alert",
        "customer_service",
        "finance_tracking",
        " Fraud_Alert",
        "CUSTOMER_SERVICE ",
        "advertising",
        "Marketing.email",
        "profiling.",
        "data_sale",
        "weather",
        "fraud_alert.",
        "",
    ]);
    let recipients = ["messenger", "shady", "other"];
    let banks = ["bank-a", "bank-b", "bank-z"];

    // Consents as stored: each (id, version) always has the same fields and purposes.
    let consents: Vec<(String, i64, Vec<String>, Vec<String>)> = (0..12)
        .map(|n| {
            let fields: Vec<String> = field_pool
                .iter()
                .filter(|_| rng.gen_bool(0.6))
                .cloned()
                .collect();
            let count = rng.gen_range(0..=4);
            let purposes = purpose_pool
                .choose_multiple(&mut rng, count)
                .cloned()
                .collect();
            (format!("c{}", n / 3), i64::from(n % 3), fields, purposes)
        })
        .collect();

    let cases = 12_000;
    for case in 0..cases {
        let engine = &engines[case % 2];
        let (id, version, fields, purposes) = consents.choose(&mut rng).unwrap();
        let consent = ConsentView {
            id,
            version: *version,
            fields,
            purposes,
        };
        let purpose = if rng.gen_bool(0.8) && !purposes.is_empty() {
            purposes.choose(&mut rng).unwrap()
        } else {
            purpose_pool.choose(&mut rng).unwrap()
        };
        let recipient = recipients.choose(&mut rng).unwrap();
        let bank = banks.choose(&mut rng).unwrap();
        let kind = *RecordKind::ALL.choose(&mut rng).unwrap();
        let cached = engine.decide(recipient, bank, kind, purpose, &consent);
        let fresh = engine.decide_fresh(recipient, bank, kind, purpose, &consent);
        assert_eq!(
            cached, fresh,
            "case {case} (seed {seed}): {recipient} {bank} {kind} {purpose:?} {id} v{version}"
        );
    }
    let cached: usize = engines.iter().map(PolicyEngine::cached_decisions).sum();
    assert!(
        cached < cases / 2,
        "keys repeat, so most decisions come from the cache ({cached} stored)"
    );
}
