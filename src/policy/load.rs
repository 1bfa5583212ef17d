//! Reading a policy set (the bundled one or a folder) and checking it: every file parses,
//! the policies strictly validate against the schema, they name only catalog fields, and
//! every prohibited family still has its `forbid`.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::str::FromStr;

use cedar_policy::{Effect, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use miette::Diagnostic;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::catalog::{CATALOG_FILE, Catalog, RecordKind};
use super::diagnostic::{PolicyDiagnostic, PolicyError};
use super::request::Asker;

/// The bundled catalog, compiled into the binary.
pub(super) const BUNDLED_CATALOG: &str = include_str!("../../policies/catalog.toml");

/// The bundled policy set, compiled into the binary, by file name.
const BUNDLED: [(&str, &str); 5] = [
    (CATALOG_FILE, BUNDLED_CATALOG),
    (
        "consent.cedar",
        include_str!("../../policies/consent.cedar"),
    ),
    (
        "consentgate.cedarschema",
        include_str!("../../policies/consentgate.cedarschema"),
    ),
    (
        "prohibited.cedar",
        include_str!("../../policies/prohibited.cedar"),
    ),
    (
        "release_table.cedar",
        include_str!("../../policies/release_table.cedar"),
    ),
];

const SCHEMA_EXTENSION: &str = ".cedarschema";
const POLICY_EXTENSION: &str = ".cedar";
/// Where the prohibited-purpose rules live, and where their absence is reported.
const PROHIBITED_FILE: &str = "prohibited.cedar";

/// One file of a policy set.
#[derive(Debug, Clone)]
pub(super) struct SourceFile {
    pub(super) name: String,
    pub(super) text: String,
}

/// A policy set that passed every check.
#[derive(Debug)]
pub(super) struct Compiled {
    pub(super) catalog: Catalog,
    pub(super) policies: PolicySet,
    pub(super) asker: Asker,
    pub(super) version: String,
    pub(super) summary: String,
}

/// The files compiled into the binary.
pub(super) fn bundled_files() -> Vec<SourceFile> {
    BUNDLED
        .into_iter()
        .map(|(name, text)| SourceFile {
            name: name.to_string(),
            text: text.to_string(),
        })
        .collect()
}

/// The policy files of a folder: `catalog.toml`, `*.cedarschema` and `*.cedar`, sorted by
/// name. Other files, folders and hidden files (editor leftovers) are ignored.
pub(super) fn read_dir(dir: &Path) -> Result<Vec<SourceFile>, PolicyError> {
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PolicyError::Read { path, source }
    };
    let mut files = Vec::new();
    let mut not_text = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error(dir))? {
        let entry = entry.map_err(read_error(dir))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let wanted = name == CATALOG_FILE
            || name.ends_with(SCHEMA_EXTENSION)
            || name.ends_with(POLICY_EXTENSION);
        let path = entry.path();
        if name.starts_with('.') || !wanted || !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(read_error(&path))?;
        match String::from_utf8(bytes) {
            Ok(text) => files.push(SourceFile { name, text }),
            Err(_) => not_text.push(PolicyDiagnostic::file(
                &name,
                "is not UTF-8 text".to_string(),
            )),
        }
    }
    if !not_text.is_empty() {
        return Err(PolicyError::Invalid(not_text));
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Parses and checks a policy set; every problem found is reported.
pub(super) fn compile(files: &[SourceFile]) -> Result<Compiled, PolicyError> {
    let mut files = files.to_vec();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let mut problems = Vec::new();

    let catalog = match files.iter().find(|file| file.name == CATALOG_FILE) {
        Some(file) => match Catalog::parse(&file.text) {
            Ok(catalog) => Some(catalog),
            Err(found) => {
                problems.extend(found);
                None
            }
        },
        None => {
            problems.push(PolicyDiagnostic::file(
                CATALOG_FILE,
                "missing: a policy folder needs the field catalog and purpose taxonomy".to_string(),
            ));
            None
        }
    };
    let schema = parse_schema(&files, &mut problems);
    let (policies, origins) = parse_policies(&files, &mut problems);
    let asker = Asker::new().map_err(|message| {
        PolicyError::Invalid(vec![PolicyDiagnostic::file(
            "consentgate.cedarschema",
            message,
        )])
    })?;
    let (Some(catalog), Some((schema_file, schema)), true) = (catalog, schema, problems.is_empty())
    else {
        return Err(PolicyError::Invalid(problems));
    };

    let sample_field = RecordKind::ALL
        .into_iter()
        .find_map(|kind| catalog.fields(kind).first())
        .map_or("transaction.amount_minor", String::as_str);
    if let Err(message) = asker.check_schema(&schema, sample_field) {
        problems.push(PolicyDiagnostic::file(
            &schema_file.name,
            format!("the schema does not describe the request the gateway sends: {message}"),
        ));
    }
    validate(&schema, &policies, &origins, &mut problems);
    check_fields(&catalog, &policies, &origins, &mut problems);
    check_prohibited_forbids(&catalog, &policies, &files, &mut problems);
    if !problems.is_empty() {
        return Err(PolicyError::Invalid(problems));
    }

    let version = version(&files);
    let (permits, forbids) = policies
        .policies()
        .fold((0, 0), |(permits, forbids), policy| match policy.effect() {
            Effect::Permit => (permits + 1, forbids),
            Effect::Forbid => (permits, forbids + 1),
        });
    let summary = format!(
        "{} files, {} policies ({permits} permit, {forbids} forbid), catalog of {} fields and {} purposes, version {version}",
        files.len(),
        permits + forbids,
        catalog.field_count(),
        catalog.permitted_purposes().len(),
    );
    Ok(Compiled {
        catalog,
        policies,
        asker,
        version,
        summary,
    })
}

/// `"sha256:"` and the hex SHA-256 over every file in name order, each as its name's
/// length (8 bytes, big-endian), its name, its content's length and its content: the same
/// files give the same version, whether bundled or read from a folder.
fn version(files: &[SourceFile]) -> String {
    let mut hasher = Sha256::new();
    for file in files {
        for part in [file.name.as_bytes(), file.text.as_bytes()] {
            hasher.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
            hasher.update(part);
        }
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// The one schema of the set, with its file.
fn parse_schema<'a>(
    files: &'a [SourceFile],
    problems: &mut Vec<PolicyDiagnostic>,
) -> Option<(&'a SourceFile, Schema)> {
    let mut schemas = files
        .iter()
        .filter(|file| file.name.ends_with(SCHEMA_EXTENSION));
    let Some(file) = schemas.next() else {
        problems.push(PolicyDiagnostic::file(
            "consentgate.cedarschema",
            "missing: a policy folder needs exactly one `*.cedarschema` file".to_string(),
        ));
        return None;
    };
    let extra: Vec<_> = schemas.collect();
    for other in &extra {
        problems.push(PolicyDiagnostic::file(
            &other.name,
            format!(
                "a second schema: a policy folder needs exactly one `*.cedarschema` file (`{}` is the first)",
                file.name
            ),
        ));
    }
    match Schema::from_cedarschema_str(&file.text) {
        Ok((schema, _warnings)) if extra.is_empty() => Some((file, schema)),
        Ok(_) => None,
        Err(error) => {
            problems.push(diagnostic(&file.name, &file.text, &error));
            None
        }
    }
}

/// Every policy of every `*.cedar` file in one set, each renamed `<file>#<n>` (its
/// position in the file, from 0) so ids are unique across files; with the file each id
/// came from.
fn parse_policies<'a>(
    files: &'a [SourceFile],
    problems: &mut Vec<PolicyDiagnostic>,
) -> (PolicySet, HashMap<PolicyId, &'a SourceFile>) {
    let mut set = PolicySet::new();
    let mut origins = HashMap::new();
    for file in files
        .iter()
        .filter(|file| file.name.ends_with(POLICY_EXTENSION))
    {
        let parsed = match PolicySet::from_str(&file.text) {
            Ok(parsed) => parsed,
            Err(errors) => {
                problems.extend(
                    errors
                        .iter()
                        .map(|error| diagnostic(&file.name, &file.text, error)),
                );
                continue;
            }
        };
        if parsed.templates().next().is_some() {
            let needle = ["?principal", "?resource"]
                .into_iter()
                .find(|slot| file.text.contains(slot))
                .unwrap_or("?");
            problems.push(PolicyDiagnostic::near(
                &file.name,
                &file.text,
                needle,
                "templates (`?principal`, `?resource`) are not supported: write each policy out"
                    .to_string(),
            ));
        }
        // Cedar names a file's policies `policy0`, `policy1`, … in source order.
        let mut policies: Vec<_> = parsed.policies().collect();
        policies.sort_by_key(|policy| {
            policy
                .id()
                .to_string()
                .strip_prefix("policy")
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(usize::MAX)
        });
        for (n, policy) in policies.into_iter().enumerate() {
            let id = PolicyId::new(format!("{}#{n}", file.name));
            if let Err(error) = set.add(policy.new_id(id.clone())) {
                problems.push(PolicyDiagnostic::file(&file.name, error.to_string()));
            }
            origins.insert(id, file);
        }
    }
    (set, origins)
}

/// Strict validation against the schema: every type error, with its place.
fn validate(
    schema: &Schema,
    policies: &PolicySet,
    origins: &HashMap<PolicyId, &SourceFile>,
    problems: &mut Vec<PolicyDiagnostic>,
) {
    let result = Validator::new(schema.clone()).validate(policies, ValidationMode::Strict);
    for error in result.validation_errors() {
        match origins.get(error.policy_id()) {
            Some(file) => problems.push(diagnostic(&file.name, &file.text, error)),
            None => problems.push(PolicyDiagnostic::file(
                error.policy_id().as_ref(),
                error.to_string(),
            )),
        }
    }
}

/// Every `Field::"…"` a policy names must be a catalog field: a misspelt field would
/// silently match nothing.
fn check_fields(
    catalog: &Catalog,
    policies: &PolicySet,
    origins: &HashMap<PolicyId, &SourceFile>,
    problems: &mut Vec<PolicyDiagnostic>,
) {
    let mut policies: Vec<_> = policies.policies().collect();
    policies.sort_by_key(|policy| policy.id().to_string());
    for policy in policies {
        let Some(file) = origins.get(policy.id()) else {
            continue;
        };
        let json = match policy.to_json() {
            Ok(json) => json,
            Err(error) => {
                problems.push(PolicyDiagnostic::file(&file.name, error.to_string()));
                continue;
            }
        };
        let mut named = BTreeSet::new();
        field_literals(&json, &mut named);
        for field in named {
            if catalog.field_kind(field).is_none() {
                let literal = format!("Field::\"{field}\"");
                let needle = if file.text.contains(&literal) {
                    literal
                } else {
                    format!("\"{field}\"")
                };
                problems.push(PolicyDiagnostic::near(
                    &file.name,
                    &file.text,
                    &needle,
                    format!("`{field}` is not a field of the catalog"),
                ));
            }
        }
    }
}

/// Collects the ids of every `Field` entity named in a policy's JSON form, in the scope
/// (`{"type": "Field", "id": …}`) or in an expression (`{"__entity": {…}}`), and every
/// string literal shaped like a field name (`"transaction.…"`, as compared with
/// `context.field`).
fn field_literals<'a>(json: &'a Value, found: &mut BTreeSet<&'a str>) {
    match json {
        Value::Object(members) => {
            if let (Some(Value::String(kind)), Some(Value::String(id))) =
                (members.get("type"), members.get("id"))
                && kind == "Field"
            {
                found.insert(id);
            }
            if let Some(Value::String(literal)) = members.get("Value")
                && literal.split_once('.').is_some_and(|(prefix, _)| {
                    RecordKind::ALL.iter().any(|kind| kind.as_str() == prefix)
                })
            {
                found.insert(literal);
            }
            members
                .values()
                .for_each(|value| field_literals(value, found));
        }
        Value::Array(values) => values.iter().for_each(|value| field_literals(value, found)),
        _ => {}
    }
}

/// Every prohibited family (built in, and any the catalog adds) must keep its rule
/// `forbid (principal, action, resource) when { context.purpose_family == "<family>" };`,
/// exactly, so no author can weaken it with a condition.
fn check_prohibited_forbids(
    catalog: &Catalog,
    policies: &PolicySet,
    files: &[SourceFile],
    problems: &mut Vec<PolicyDiagnostic>,
) {
    let covered: BTreeSet<String> = policies
        .policies()
        .filter(|policy| policy.effect() == Effect::Forbid)
        .filter_map(|policy| policy.to_json().ok())
        .filter_map(|json| forbidden_family(&json))
        .collect();
    let prohibited_file = files.iter().find(|file| file.name == PROHIBITED_FILE);
    for family in catalog.prohibited_families() {
        if covered.contains(family) {
            continue;
        }
        let message = format!(
            "the prohibited purpose family `{family}` has no rule `forbid (principal, action, resource) when {{ context.purpose_family == \"{family}\" }};`: it cannot be removed or narrowed"
        );
        problems.push(match prohibited_file {
            Some(file) => {
                PolicyDiagnostic::near(&file.name, &file.text, &format!("\"{family}\""), message)
            }
            None => PolicyDiagnostic::file(PROHIBITED_FILE, message),
        });
    }
}

/// The family a policy forbids, if it is exactly a prohibited-family rule.
fn forbidden_family(json: &Value) -> Option<String> {
    let all = json!({"op": "All"});
    let unscoped = ["principal", "action", "resource"]
        .into_iter()
        .all(|scope| json.get(scope) == Some(&all));
    let [condition] = json.get("conditions")?.as_array()?.as_slice() else {
        return None;
    };
    if !unscoped || condition.get("kind")? != "when" {
        return None;
    }
    let equals = condition.get("body")?.get("==")?;
    let family_attribute = json!({".": {"left": {"Var": "context"}, "attr": "purpose_family"}});
    if equals.get("left")? != &family_attribute {
        return None;
    }
    Some(equals.get("right")?.get("Value")?.as_str()?.to_string())
}

/// A Cedar error as a problem at its first labelled place in `text`.
fn diagnostic(file: &str, text: &str, error: &dyn Diagnostic) -> PolicyDiagnostic {
    let offset = error
        .labels()
        .and_then(|mut labels| labels.next())
        .or_else(|| {
            error
                .related()
                .into_iter()
                .flatten()
                .find_map(|related| related.labels().and_then(|mut labels| labels.next()))
        })
        .map(|label| label.offset());
    let mut message = error.to_string();
    if let Some(help) = error.help() {
        message = format!("{message} ({help})");
    }
    PolicyDiagnostic::at(file, text, offset, message)
}
