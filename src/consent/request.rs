//! The body of a grant (and of a preview), parsed into checked values with a pointer at
//! every bad member.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::directory::Directory;
use crate::domain::{FieldError, JsonPointer, echo};
use crate::http::ApiError;
use crate::policy::{Catalog, Purpose, PurposeError};

/// Default lifetime of a consent without `expires_at`.
pub const DEFAULT_LIFETIME_DAYS: i64 = 90;
/// Longest lifetime (CFPB 1033 asks for re-authorisation yearly).
pub const MAX_LIFETIME_DAYS: i64 = 365;

const MEMBERS: [&str; 5] = ["recipient", "bank", "purposes", "fields", "expires_at"];

/// A checked grant.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    /// A configured recipient.
    pub recipient: String,
    /// A configured bank.
    pub bank: String,
    /// Permitted purposes, normalised, without repeats.
    pub purposes: Vec<Purpose>,
    /// Catalog fields, without repeats, in the order given.
    pub fields: Vec<String>,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// The error kinds a grant can have, most serious first: the problem's `code` is the most
/// serious one present, and every error is listed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Severity {
    ForbiddenPurpose,
    UnknownRecipient,
    UnknownBank,
    UnknownPurpose,
    UnknownField,
    InvalidField,
}

impl Severity {
    fn code(self) -> &'static str {
        match self {
            Self::ForbiddenPurpose => "forbidden_purpose",
            Self::UnknownRecipient => "unknown_recipient",
            Self::UnknownBank => "unknown_bank",
            Self::UnknownPurpose => "unknown_purpose",
            Self::UnknownField => "unknown_field",
            Self::InvalidField => "invalid_field",
        }
    }
}

struct Errors(Vec<(Severity, FieldError)>);

impl Errors {
    fn add(&mut self, severity: Severity, pointer: &str, detail: impl Into<String>) {
        self.0.push((
            severity,
            FieldError {
                pointer: pointer.to_string(),
                detail: detail.into(),
            },
        ));
    }
}

impl GrantRequest {
    /// Parses `body` against the catalog and the configured parties, at `now`.
    pub fn parse(
        body: &Value,
        catalog: &Catalog,
        directory: &Directory,
        now: DateTime<Utc>,
    ) -> Result<Self, ApiError> {
        let mut errors = Errors(Vec::new());
        let Some(object) = body.as_object() else {
            return Err(ApiError::Unprocessable {
                code: "invalid_field",
                detail: "the body must be a JSON object".to_string(),
                errors: vec![FieldError {
                    pointer: String::new(),
                    detail: "must be an object".to_string(),
                }],
            });
        };
        for key in object.keys() {
            if !MEMBERS.contains(&key.as_str()) {
                let detail = if key == "user_id" {
                    "is not accepted: the owner is the authenticated user"
                } else {
                    "is not a member of a consent request"
                };
                errors.add(Severity::InvalidField, &pointer(key), detail);
            }
        }
        let recipient = required_string(object, "recipient", &mut errors);
        if let Some(r) = &recipient
            && !directory.has_recipient(r)
        {
            errors.add(
                Severity::UnknownRecipient,
                "/recipient",
                format!("`{}` is not a known recipient", echo(r)),
            );
        }
        let bank = required_string(object, "bank", &mut errors);
        if let Some(b) = &bank
            && !directory.has_bank(b)
        {
            errors.add(
                Severity::UnknownBank,
                "/bank",
                format!("`{}` is not a known bank", echo(b)),
            );
        }
        let purposes = parse_purposes(object.get("purposes"), catalog, &mut errors);
        let fields = parse_fields(object.get("fields"), catalog, &mut errors);
        let expires_at = parse_expiry(object.get("expires_at"), now, &mut errors);
        let most_serious = errors.0.iter().map(|(s, _)| *s).min();
        match (most_serious, recipient, bank, expires_at) {
            (None, Some(recipient), Some(bank), Some(expires_at)) => Ok(Self {
                recipient,
                bank,
                purposes,
                fields,
                expires_at,
            }),
            (severity, ..) => {
                let code = severity.unwrap_or(Severity::InvalidField).code();
                Err(ApiError::Unprocessable {
                    code,
                    detail: "the consent request is invalid (see `errors`); nothing was created"
                        .to_string(),
                    errors: errors.0.into_iter().map(|(_, e)| e).collect(),
                })
            }
        }
    }
}

fn required_string(
    object: &serde_json::Map<String, Value>,
    member: &str,
    errors: &mut Errors,
) -> Option<String> {
    match object.get(member) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 64 => Some(s.clone()),
        Some(Value::String(_)) => {
            errors.add(
                Severity::InvalidField,
                &pointer(member),
                "must be 1 to 64 characters",
            );
            None
        }
        Some(_) => {
            errors.add(Severity::InvalidField, &pointer(member), "must be a string");
            None
        }
        None => {
            errors.add(Severity::InvalidField, &pointer(member), "is required");
            None
        }
    }
}

fn string_list<'a>(
    value: Option<&'a Value>,
    member: &str,
    errors: &mut Errors,
) -> Vec<(usize, &'a str)> {
    let Some(value) = value else {
        errors.add(Severity::InvalidField, &pointer(member), "is required");
        return Vec::new();
    };
    let Some(items) = value.as_array() else {
        errors.add(
            Severity::InvalidField,
            &pointer(member),
            "must be an array of strings",
        );
        return Vec::new();
    };
    if items.is_empty() || items.len() > 64 {
        errors.add(
            Severity::InvalidField,
            &pointer(member),
            "must list 1 to 64 items",
        );
        return Vec::new();
    }
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| match item.as_str() {
            Some(s) => Some((i, s)),
            None => {
                errors.add(
                    Severity::InvalidField,
                    &format!("/{member}/{i}"),
                    "must be a string",
                );
                None
            }
        })
        .collect()
}

fn parse_purposes(value: Option<&Value>, catalog: &Catalog, errors: &mut Errors) -> Vec<Purpose> {
    let mut purposes: Vec<Purpose> = Vec::new();
    for (i, raw) in string_list(value, "purposes", errors) {
        match Purpose::parse(raw, catalog) {
            Ok(purpose) => {
                if !purposes.contains(&purpose) {
                    purposes.push(purpose);
                }
            }
            Err(PurposeError::Prohibited(_)) => errors.add(
                Severity::ForbiddenPurpose,
                &format!("/purposes/{i}"),
                format!(
                    "`{}` is a prohibited purpose: no consent can enable it",
                    echo(raw)
                ),
            ),
            Err(PurposeError::Unknown(_)) => errors.add(
                Severity::UnknownPurpose,
                &format!("/purposes/{i}"),
                format!("`{}` is not a known purpose", echo(raw)),
            ),
        }
    }
    purposes
}

fn parse_fields(value: Option<&Value>, catalog: &Catalog, errors: &mut Errors) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    for (i, raw) in string_list(value, "fields", errors) {
        if catalog.field_kind(raw).is_none() {
            errors.add(
                Severity::UnknownField,
                &format!("/fields/{i}"),
                format!("`{}` is not a catalog field", echo(raw)),
            );
        } else if !fields.iter().any(|f| f == raw) {
            fields.push(raw.to_string());
        }
    }
    fields
}

fn parse_expiry(
    value: Option<&Value>,
    now: DateTime<Utc>,
    errors: &mut Errors,
) -> Option<DateTime<Utc>> {
    let latest = now + Duration::days(MAX_LIFETIME_DAYS);
    match value {
        None | Some(Value::Null) => Some(now + Duration::days(DEFAULT_LIFETIME_DAYS)),
        Some(Value::String(text)) => match DateTime::parse_from_rfc3339(text) {
            Ok(at) => {
                let at = at.with_timezone(&Utc);
                if at <= now {
                    errors.add(
                        Severity::InvalidField,
                        "/expires_at",
                        "must be in the future",
                    );
                    None
                } else if at > latest {
                    errors.add(
                        Severity::InvalidField,
                        "/expires_at",
                        format!("must be at most {MAX_LIFETIME_DAYS} days ahead"),
                    );
                    None
                } else {
                    Some(at)
                }
            }
            Err(_) => {
                errors.add(
                    Severity::InvalidField,
                    "/expires_at",
                    "must be an RFC 3339 timestamp with an offset",
                );
                None
            }
        },
        Some(_) => {
            errors.add(Severity::InvalidField, "/expires_at", "must be a string");
            None
        }
    }
}

/// The JSON pointer of a top-level member (RFC 6901 escaping, as for bank bodies).
fn pointer(member: &str) -> String {
    JsonPointer::root().member(member).as_str().to_string()
}
