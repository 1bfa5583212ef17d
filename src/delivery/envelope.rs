//! The webhook body (CONTRACT §8): one JSON object per event, the same bytes on every attempt.

use serde::Serialize;
use serde_json::Value;

use super::outbox::OutboxEvent;
use crate::policy::PROHIBITED_FAMILIES;
use crate::time::rfc3339;

/// Why an event cannot be turned into a body.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The stored payload is not a JSON object (written by the gateway, so a corrupt row).
    #[error("the stored payload of event `{0}` is not a JSON object")]
    Payload(String),
}

/// The body as sent. Members follow CONTRACT §8 in order.
#[derive(Serialize)]
struct Envelope<'a> {
    event_id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    created_at: String,
    recipient: &'a str,
    user_id: &'a str,
    bank: &'a str,
    consent_id: &'a str,
    /// `null` for `consent.revoked`.
    purpose: Option<&'a str>,
    /// Exactly the released members (without the record prefix); `{}` for `consent.revoked`.
    data: Value,
    usage: Usage<'a>,
    audit: Audit,
}

/// What the recipient may use the data for, and what never.
#[derive(Serialize)]
struct Usage<'a> {
    purpose: Option<&'a str>,
    prohibited_uses: [&'static str; 7],
}

#[derive(Serialize)]
struct Audit {
    /// The index of the audit record that made the event (`release` or `consent.revoked`).
    index: Option<i64>,
}

/// The body bytes of `event`. Deterministic: a retry sends the same bytes.
pub fn body(event: &OutboxEvent) -> Result<Vec<u8>, EnvelopeError> {
    let data: Value = serde_json::from_str(&event.data)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| EnvelopeError::Payload(event.event_id.clone()))?;
    let envelope = Envelope {
        event_id: &event.event_id,
        event_type: &event.event_type,
        created_at: rfc3339(event.created_at),
        recipient: &event.recipient_id,
        user_id: &event.user_id,
        bank: &event.bank_id,
        consent_id: &event.consent_id,
        purpose: event.purpose.as_deref(),
        data,
        usage: Usage {
            purpose: event.purpose.as_deref(),
            prohibited_uses: PROHIBITED_FAMILIES,
        },
        audit: Audit {
            index: event.audit_index,
        },
    };
    serde_json::to_vec(&envelope).map_err(|_| EnvelopeError::Payload(event.event_id.clone()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(event_type: &str, purpose: Option<&str>, data: &str) -> OutboxEvent {
        OutboxEvent {
            event_id: "0190-e".to_string(),
            recipient_id: "messenger".to_string(),
            event_type: event_type.to_string(),
            consent_id: "0190-c".to_string(),
            user_id: "u-42".to_string(),
            bank_id: "bank-a".to_string(),
            purpose: purpose.map(str::to_string),
            created_at: 1_795_514_400_000_000,
            data: data.to_string(),
            attempts: 0,
            audit_index: Some(1234),
        }
    }

    #[test]
    fn a_release_has_every_member_of_the_contract_in_order() {
        let bytes = body(&event(
            "transaction.released",
            Some("fraud_alert"),
            r#"{"amount_minor":1299,"merchant_name":"Blue Bottle Coffee"}"#,
        ))
        .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"event_id":"0190-e","type":"transaction.released","created_at":"2026-11-24T10:00:00Z","#,
                r#""recipient":"messenger","user_id":"u-42","bank":"bank-a","consent_id":"0190-c","#,
                r#""purpose":"fraud_alert","data":{"amount_minor":1299,"merchant_name":"Blue Bottle Coffee"},"#,
                r#""usage":{"purpose":"fraud_alert","prohibited_uses":["advertising","ad_targeting","#,
                r#""ad_measurement","marketing","profiling","cross_selling","data_sale"]},"#,
                r#""audit":{"index":1234}}"#
            )
        );
    }

    #[test]
    fn consent_revoked_has_a_null_purpose_and_empty_data() {
        let bytes = body(&event("consent.revoked", None, "{}")).unwrap();
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["type"], "consent.revoked");
        assert_eq!(value["purpose"], Value::Null);
        assert_eq!(value["data"], json!({}));
        assert_eq!(value["usage"]["purpose"], Value::Null);
    }

    #[test]
    fn a_payload_that_is_not_an_object_is_refused() {
        for data in ["", "[]", "not json", "1"] {
            assert!(body(&event("transaction.released", Some("fraud_alert"), data)).is_err());
        }
    }
}
