//! An audit record (CONTRACT §9): what happened, who did it, about whom, and, for decisions,
//! the field NAMES released and withheld with reasons — never a value.

use std::fmt::Write as _;

use serde::{Serialize, Serializer};
use serde_json::Value;

use super::primitives::{JcsError, write_canonical, write_canonical_string};
use crate::consent::Withheld;
use crate::time::now_micros;

/// Record kinds of CONTRACT §9.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A bank batch accepted.
    Ingest,
    /// A consent and purpose for which fields were released.
    Release,
    /// A consent and purpose for which nothing was released.
    Withhold,
    /// A consent granted.
    ConsentGranted,
    /// A consent revoked.
    ConsentRevoked,
    /// A consent found expired.
    ConsentExpired,
    /// A webhook delivered.
    DeliverySucceeded,
    /// A webhook attempt failed.
    DeliveryFailed,
    /// An undelivered event cancelled by a revocation.
    DeliveryCancelled,
    /// An event given up after its last attempt.
    DeliveryDeadLettered,
    /// A request refused (authentication, forbidden purpose, unknown bank).
    AccessDenied,
    /// An auditor's query.
    AuditQuery,
    /// A policy set loaded.
    PolicyLoaded,
}

impl Kind {
    /// The kind's name as written in records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Release => "release",
            Self::Withhold => "withhold",
            Self::ConsentGranted => "consent.granted",
            Self::ConsentRevoked => "consent.revoked",
            Self::ConsentExpired => "consent.expired",
            Self::DeliverySucceeded => "delivery.succeeded",
            Self::DeliveryFailed => "delivery.failed",
            Self::DeliveryCancelled => "delivery.cancelled",
            Self::DeliveryDeadLettered => "delivery.dead_lettered",
            Self::AccessDenied => "access.denied",
            Self::AuditQuery => "audit.query",
            Self::PolicyLoaded => "policy.loaded",
        }
    }

    /// Parses a `?kind=` filter.
    pub fn parse(name: &str) -> Option<Self> {
        ALL_KINDS.into_iter().find(|k| k.as_str() == name)
    }
}

/// Serializes as [`Kind::as_str`].
impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Every kind.
pub const ALL_KINDS: [Kind; 13] = [
    Kind::Ingest,
    Kind::Release,
    Kind::Withhold,
    Kind::ConsentGranted,
    Kind::ConsentRevoked,
    Kind::ConsentExpired,
    Kind::DeliverySucceeded,
    Kind::DeliveryFailed,
    Kind::DeliveryCancelled,
    Kind::DeliveryDeadLettered,
    Kind::AccessDenied,
    Kind::AuditQuery,
    Kind::PolicyLoaded,
];

/// A record before it has an index. Members that do not apply stay `None` and are omitted.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u64>,
    ts: String,
    #[serde(skip)]
    ts_micros: i64,
    kind: Kind,
    actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purpose: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bank: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    released: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    withheld: Option<Vec<Withheld>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_version: Option<String>,
    detail: Value,
}

impl AuditRecord {
    /// A record of `kind` by `actor` (`bank:<id>`, `user:<sub>`, `auditor:<sub>`,
    /// `gateway`, `anonymous`), stamped now.
    pub fn new(kind: Kind, actor: impl Into<String>) -> Self {
        let ts_micros = now_micros();
        Self {
            index: None,
            ts: timestamp(ts_micros),
            ts_micros,
            kind,
            actor: actor.into(),
            user_id: None,
            recipient: None,
            purpose: None,
            consent_id: None,
            event_id: None,
            bank: None,
            released: None,
            withheld: None,
            policy_version: None,
            detail: Value::Object(serde_json::Map::new()),
        }
    }

    /// Changes the kind (a decision becomes a release once something is released).
    pub fn kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// The user the record is about.
    pub fn user(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// The recipient involved.
    pub fn recipient(mut self, recipient: impl Into<String>) -> Self {
        self.recipient = Some(recipient.into());
        self
    }

    /// The purpose involved.
    pub fn purpose(mut self, purpose: impl Into<String>) -> Self {
        self.purpose = Some(purpose.into());
        self
    }

    /// The consent involved.
    pub fn consent(mut self, consent_id: impl Into<String>) -> Self {
        self.consent_id = Some(consent_id.into());
        self
    }

    /// The release event involved.
    pub fn event(mut self, event_id: impl Into<String>) -> Self {
        self.event_id = Some(event_id.into());
        self
    }

    /// The bank involved.
    pub fn bank(mut self, bank: impl Into<String>) -> Self {
        self.bank = Some(bank.into());
        self
    }

    /// The fields decided: names released and names withheld with reasons.
    pub fn fields(mut self, released: Vec<String>, withheld: Vec<Withheld>) -> Self {
        self.released = Some(released);
        self.withheld = Some(withheld);
        self
    }

    /// The policy version the decision was made under.
    pub fn policy_version(mut self, version: impl Into<String>) -> Self {
        self.policy_version = Some(version.into());
        self
    }

    /// Free-form detail (counts, codes, routes); never a released value.
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }

    /// The record's kind.
    pub fn record_kind(&self) -> Kind {
        self.kind
    }

    /// The canonical JSON of the record at `index`: the Merkle leaf input and the exported line.
    #[cfg(test)]
    pub(super) fn canonical(self, index: u64) -> Result<String, JcsError> {
        Ok(self.prepare()?.canonical(index))
    }

    /// Serialises the record canonically, except for its `index`, which only the writer can
    /// assign. Done before a record reaches the writer (ingest prepares its records on the
    /// request's thread), so the writer only splices the index in and hashes.
    ///
    /// Written member by member in canonical order (the names are ASCII, so UTF-16 order is
    /// byte order) instead of through a `serde_json::Value`.
    /// `canonical_matches_the_generic_canonicalisation` checks it against [`canonicalize`]
    /// of the serde form.
    ///
    /// [`canonicalize`]: super::primitives::canonicalize
    pub fn prepare(self) -> Result<PreparedRecord, JcsError> {
        // Members before `index`: actor, bank, consent_id, detail, event_id.
        let mut head = String::with_capacity(256);
        head.push('{');
        member(&mut head, "actor", true);
        write_canonical_string(&self.actor, &mut head);
        optional(&mut head, "bank", self.bank.as_deref());
        optional(&mut head, "consent_id", self.consent_id.as_deref());
        member(&mut head, "detail", false);
        write_canonical(&self.detail, &mut head)?;
        optional(&mut head, "event_id", self.event_id.as_deref());
        head.push_str(",\"index\":");
        // Members after it: kind, policy_version, purpose, recipient, released, ts, user_id,
        // withheld.
        let mut tail = String::with_capacity(768);
        member(&mut tail, "kind", false);
        write_canonical_string(self.kind.as_str(), &mut tail);
        optional(&mut tail, "policy_version", self.policy_version.as_deref());
        optional(&mut tail, "purpose", self.purpose.as_deref());
        optional(&mut tail, "recipient", self.recipient.as_deref());
        if let Some(released) = &self.released {
            member(&mut tail, "released", false);
            tail.push('[');
            for (n, field) in released.iter().enumerate() {
                if n > 0 {
                    tail.push(',');
                }
                write_canonical_string(field, &mut tail);
            }
            tail.push(']');
        }
        member(&mut tail, "ts", false);
        write_canonical_string(&self.ts, &mut tail);
        optional(&mut tail, "user_id", self.user_id.as_deref());
        if let Some(withheld) = &self.withheld {
            member(&mut tail, "withheld", false);
            tail.push('[');
            for (n, item) in withheld.iter().enumerate() {
                if n > 0 {
                    tail.push(',');
                }
                tail.push_str("{\"field\":");
                write_canonical_string(&item.field, &mut tail);
                tail.push_str(",\"reason\":");
                write_canonical_string(item.reason.as_str(), &mut tail);
                tail.push('}');
            }
            tail.push(']');
        }
        tail.push('}');
        Ok(PreparedRecord {
            head,
            tail,
            ts_micros: self.ts_micros,
            kind: self.kind,
            user_id: self.user_id,
        })
    }
}

/// A record serialised canonically but for its index, with what its bundle row and the
/// access log's index keep of it.
#[derive(Debug, Clone)]
pub struct PreparedRecord {
    /// The canonical text up to and including `"index":`.
    head: String,
    /// The canonical text after the index value, from `,"kind":` to the closing brace.
    tail: String,
    pub(super) ts_micros: i64,
    pub(super) kind: Kind,
    pub(super) user_id: Option<String>,
}

impl PreparedRecord {
    /// The canonical JSON of the record at `index`.
    pub(super) fn canonical(&self, index: u64) -> String {
        let mut out = String::with_capacity(self.head.len() + 20 + self.tail.len());
        out.push_str(&self.head);
        let _ = write!(out, "{index}"); // writing to a String cannot fail
        out.push_str(&self.tail);
        out
    }
}

/// Writes `"name":`, after a comma unless it is the object's first member.
fn member(out: &mut String, name: &str, first: bool) {
    if !first {
        out.push(',');
    }
    out.push('"');
    out.push_str(name);
    out.push_str("\":");
}

/// Writes a string member if it applies; members that do not apply are omitted.
fn optional(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        member(out, name, false);
        write_canonical_string(value, out);
    }
}

/// `2026-11-24T10:00:00.123456Z`: microseconds always, so records sort as text too.
fn timestamp(micros: i64) -> String {
    use chrono::TimeZone as _;
    chrono::Utc
        .timestamp_micros(micros)
        .single()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::audit::primitives::canonicalize;
    use crate::policy::WithholdReason;

    fn generic(record: &AuditRecord) -> String {
        let value = serde_json::to_value(record).unwrap_or_default();
        canonicalize(&value).unwrap_or_default()
    }

    #[test]
    fn canonical_matches_the_generic_canonicalisation() {
        let awkward = "qu\"ote \\ back\u{1}\u{1f}\n\t\u{7f} é 😀 \u{e000}";
        let records = [
            AuditRecord::new(Kind::AccessDenied, "anonymous"),
            AuditRecord::new(Kind::Release, "bank:bank-a")
                .user(awkward)
                .recipient("messenger")
                .purpose("fraud_alert")
                .consent("c-1")
                .event("e-1")
                .bank("bank-a")
                .fields(
                    vec!["transaction.amount_minor".to_string(), awkward.to_string()],
                    vec![
                        Withheld {
                            field: "transaction.card_last4".to_string(),
                            reason: WithholdReason::NoConsent,
                        },
                        Withheld {
                            field: awkward.to_string(),
                            reason: WithholdReason::FieldAbsent,
                        },
                    ],
                )
                .policy_version("sha256:abc")
                .detail(json!({"z": 1, "a": [true, null, -5, "x"], "é": {"b": 2, "a": 1}})),
            AuditRecord::new(Kind::Withhold, awkward).fields(Vec::new(), Vec::new()),
        ];
        for (n, mut record) in records.into_iter().enumerate() {
            let index = [0, 7, u64::from(u32::MAX) * 4][n];
            let direct = record.clone().canonical(index).unwrap_or_default();
            assert!(!direct.is_empty());
            record.index = Some(index);
            assert_eq!(direct, generic(&record), "record {n}");
        }
    }
}
