//! A consent as stored and as shown to its owner.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::consents;
use crate::time::rfc3339;

/// A consent row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = consents)]
pub struct Consent {
    /// UUIDv7.
    pub id: String,
    /// Owner (the granting token's `sub`).
    pub user_id: String,
    /// Recipient id.
    pub recipient_id: String,
    /// Bank id.
    pub bank_id: String,
    /// JSON array of purpose names.
    pub purposes: String,
    /// JSON array of catalog field names.
    pub fields: String,
    /// Unix microseconds.
    pub granted_at: i64,
    /// Unix microseconds.
    pub expires_at: i64,
    /// Unix microseconds, once revoked.
    pub revoked_at: Option<i64>,
    /// `user:<sub>` of the revoker.
    pub revoked_by: Option<String>,
    /// Bumped on every change.
    pub version: i64,
}

/// A consent's state, derived from its times: expiry needs no job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    /// Neither revoked nor expired.
    Active,
    /// Revoked by its owner.
    Revoked,
    /// Past `expires_at`.
    Expired,
}

impl ConsentStatus {
    /// Parses a `?status=` filter.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "revoked" => Some(Self::Revoked),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

impl Consent {
    /// The status at `now` (Unix microseconds). A revocation wins over expiry.
    pub fn status(&self, now: i64) -> ConsentStatus {
        if self.revoked_at.is_some() {
            ConsentStatus::Revoked
        } else if self.expires_at <= now {
            ConsentStatus::Expired
        } else {
            ConsentStatus::Active
        }
    }

    /// The stored purposes. A row that does not parse yields no purpose (fail closed).
    pub fn purpose_list(&self) -> Vec<String> {
        serde_json::from_str(&self.purposes).unwrap_or_default()
    }

    /// The stored fields. A row that does not parse yields no field (fail closed).
    pub fn field_list(&self) -> Vec<String> {
        serde_json::from_str(&self.fields).unwrap_or_default()
    }

    /// The JSON object of CONTRACT §7.
    pub fn view(&self, now: i64) -> ConsentView {
        ConsentView {
            id: self.id.clone(),
            user_id: self.user_id.clone(),
            recipient: self.recipient_id.clone(),
            bank: self.bank_id.clone(),
            purposes: self.purpose_list(),
            fields: self.field_list(),
            status: self.status(now),
            granted_at: rfc3339(self.granted_at),
            expires_at: rfc3339(self.expires_at),
            revoked_at: self.revoked_at.map(rfc3339),
        }
    }
}

/// A consent as its owner sees it.
#[derive(Debug, Serialize)]
pub struct ConsentView {
    id: String,
    user_id: String,
    recipient: String,
    bank: String,
    purposes: Vec<String>,
    fields: Vec<String>,
    status: ConsentStatus,
    granted_at: String,
    expires_at: String,
    revoked_at: Option<String>,
}
